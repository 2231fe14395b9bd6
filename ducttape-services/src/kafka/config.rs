//! Broker configuration rendered from the cluster's shape: one function per concern, so the
//! rules (listeners on the node's own address, the quorum, replication factors that fit the
//! cluster) live in one place.

use super::security::SecurityConfig;
pub use super::security::{BROKER_PORT, CONTROLLER_PORT};
use crate::properties::Properties;
/// Where a broker keeps its data.
pub const DATA_DIR: &str = "/mnt/kafka/data";

/// How brokers agree on metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quorum {
    /// ZooKeeper mode (Kafka 3.x): `zookeeper.connect`.
    Zookeeper {
        /// `host:2181,…`.
        connect: String,
    },
    /// KRaft with combined nodes: the first `controllers` brokers are also controllers.
    KraftCombined {
        /// How many of the brokers run a controller too.
        controllers: usize,
    },
    /// KRaft with controllers on their own nodes (the last `controllers` nodes of the service).
    KraftDedicated {
        /// How many nodes run only a controller.
        controllers: usize,
    },
}

/// How a KRaft quorum knows its voters (KIP-853).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KraftVoters {
    /// A fixed set: `controller.quorum.voters` lists every controller (`kraft.version=0`).
    #[default]
    Static,
    /// A dynamic quorum (`kraft.version=1`): nodes find it through
    /// `controller.quorum.bootstrap.servers`, the first controller is formatted
    /// `--standalone` (the only voter) and the others `--no-initial-controllers` (observers
    /// until `kafka-metadata-quorum add-controller` makes them voters) — kafkatest's
    /// `dynamicRaftQuorum=True`.
    Dynamic,
}

impl KraftVoters {
    /// `kafka-storage format` arguments for a node playing `role`; `bootstrapped`: whether
    /// the quorum's first voter was already formatted (kafkatest's
    /// `standalone_controller_bootstrapped`: only one node may ever be `--standalone`).
    pub fn format_args(self, role: Role, bootstrapped: bool) -> Vec<String> {
        match self {
            KraftVoters::Static => Vec::new(),
            KraftVoters::Dynamic => {
                let mut args = vec!["--feature".to_string(), "kraft.version=1".to_string()];
                if role.is_controller() {
                    args.push(if bootstrapped {
                        "--no-initial-controllers".into()
                    } else {
                        "--standalone".into()
                    });
                }
                args
            }
        }
    }
}

/// The role one node plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A broker only.
    Broker,
    /// A controller only (KRaft).
    Controller,
    /// Both (KRaft combined).
    Combined,
}

impl Role {
    /// The `process.roles` value.
    pub fn process_roles(self) -> &'static str {
        match self {
            Role::Broker => "broker",
            Role::Controller => "controller",
            Role::Combined => "broker,controller",
        }
    }

    /// Whether the node serves clients.
    pub fn is_broker(self) -> bool {
        self != Role::Controller
    }

    /// Whether the node runs a KRaft controller.
    pub fn is_controller(self) -> bool {
        self != Role::Broker
    }
}

/// One node as the config needs it.
#[derive(Debug, Clone)]
pub struct NodeConfig<'a> {
    /// `broker.id` / `node.id`.
    pub id: u32,
    /// Its externally routable address.
    pub address: &'a str,
    /// What it runs.
    pub role: Role,
}

/// The config of node `me` in a cluster of `all` nodes (brokers and controllers); see the
/// test `a_combined_node_and_a_broker` for an example.
///
/// `security` renders the listeners and their security
/// ([`SecurityConfig::broker_properties`]).
pub fn render(
    me: &NodeConfig<'_>,
    all: &[NodeConfig<'_>],
    quorum: &Quorum,
    voters: KraftVoters,
    security: &SecurityConfig,
) -> Properties {
    let mut p = Properties::new();
    let brokers = all.iter().filter(|n| n.role.is_broker()).count().max(1);
    let rf = brokers.min(3);
    p.set("log.dirs", DATA_DIR)
        .set("num.partitions", 1)
        .set("offsets.topic.replication.factor", rf)
        .set("transaction.state.log.replication.factor", rf)
        .set("transaction.state.log.min.isr", rf.min(2))
        .set("offsets.topic.num.partitions", 10)
        // Tests want consumers to start at once, not after the default 3 s.
        .set("group.initial.rebalance.delay.ms", 0)
        .set("auto.create.topics.enable", true);
    let kraft = !matches!(quorum, Quorum::Zookeeper { .. });
    // Listeners and everything else of security: one place, `security/broker.rs`.
    p.extend(&security.broker_properties(me.address, me.role, kraft));
    match quorum {
        Quorum::Zookeeper { connect } => {
            p.set("broker.id", me.id)
                .set("zookeeper.connect", connect)
                .set("zookeeper.connection.timeout.ms", 30_000);
        }
        Quorum::KraftCombined { .. } | Quorum::KraftDedicated { .. } => {
            let controllers = all.iter().filter(|n| n.role.is_controller());
            p.set("process.roles", me.role.process_roles())
                .set("node.id", me.id);
            match voters {
                KraftVoters::Static => p.set(
                    "controller.quorum.voters",
                    controllers
                        .map(|n| format!("{}@{}:{CONTROLLER_PORT}", n.id, n.address))
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                KraftVoters::Dynamic => p.set(
                    "controller.quorum.bootstrap.servers",
                    controllers
                        .map(|n| format!("{}:{CONTROLLER_PORT}", n.address))
                        .collect::<Vec<_>>()
                        .join(","),
                ),
            };
        }
    }
    p
}

/// Assigns ids and roles to a service's nodes: brokers get ids 1.., dedicated controllers
/// 3001...
pub fn roles(node_count: usize, quorum: &Quorum) -> Vec<(u32, Role)> {
    (0..node_count)
        .map(|i| {
            let id = i as u32 + 1;
            match quorum {
                Quorum::Zookeeper { .. } => (id, Role::Broker),
                Quorum::KraftCombined { controllers } if i < (*controllers).max(1) => {
                    (id, Role::Combined)
                }
                Quorum::KraftCombined { .. } => (id, Role::Broker),
                Quorum::KraftDedicated { controllers }
                    if i >= node_count.saturating_sub(*controllers) =>
                {
                    (3000 + id, Role::Controller)
                }
                Quorum::KraftDedicated { .. } => (id, Role::Broker),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_combined_node_and_a_broker() {
        let nodes = [
            NodeConfig {
                id: 1,
                address: "10.0.0.11",
                role: Role::Combined,
            },
            NodeConfig {
                id: 2,
                address: "10.0.0.12",
                role: Role::Broker,
            },
        ];
        let quorum = Quorum::KraftCombined { controllers: 1 };
        let p = render(
            &nodes[0],
            &nodes,
            &quorum,
            KraftVoters::Static,
            &Default::default(),
        );
        assert_eq!(
            p.get("listeners"),
            Some("PLAINTEXT://10.0.0.11:9092,CONTROLLER://10.0.0.11:9093")
        );
        assert_eq!(p.get("controller.quorum.voters"), Some("1@10.0.0.11:9093"));
        assert_eq!(p.get("offsets.topic.replication.factor"), Some("2"));
    }

    fn cluster(quorum: &Quorum, n: usize) -> Vec<(u32, Role, String)> {
        roles(n, quorum)
            .into_iter()
            .enumerate()
            .map(|(i, (id, role))| (id, role, format!("10.0.0.{}", 11 + i)))
            .collect()
    }

    fn configs(quorum: &Quorum, n: usize) -> Vec<Properties> {
        configs_with(quorum, KraftVoters::Static, n)
    }

    fn configs_with(quorum: &Quorum, voters: KraftVoters, n: usize) -> Vec<Properties> {
        let c = cluster(quorum, n);
        let all: Vec<NodeConfig> = c
            .iter()
            .map(|(id, role, a)| NodeConfig {
                id: *id,
                address: a,
                role: *role,
            })
            .collect();
        all.iter()
            .map(|me| render(me, &all, quorum, voters, &SecurityConfig::default()))
            .collect()
    }

    #[test]
    fn zookeeper_mode_brokers() {
        let q = Quorum::Zookeeper {
            connect: "zk:2181".into(),
        };
        let c = configs(&q, 3);
        assert_eq!(c[2].get("broker.id"), Some("3"));
        assert_eq!(c[2].get("zookeeper.connect"), Some("zk:2181"));
        assert_eq!(c[2].get("listeners"), Some("PLAINTEXT://10.0.0.13:9092"));
        assert_eq!(c[0].get("process.roles"), None);
        assert_eq!(c[0].get("offsets.topic.replication.factor"), Some("3"));
    }

    #[test]
    fn kraft_dedicated_controllers() {
        let q = Quorum::KraftDedicated { controllers: 1 };
        let c = configs(&q, 4);
        assert_eq!(c[3].get("process.roles"), Some("controller"));
        assert_eq!(c[3].get("node.id"), Some("3004"));
        assert_eq!(c[3].get("advertised.listeners"), None);
        assert_eq!(
            c[0].get("controller.quorum.voters"),
            Some("3004@10.0.0.14:9093")
        );
        assert_eq!(c[0].get("listeners"), Some("PLAINTEXT://10.0.0.11:9092"));
        assert_eq!(c[0].get("offsets.topic.replication.factor"), Some("3"));
    }

    #[test]
    fn kraft_combined_voters() {
        let c = configs(&Quorum::KraftCombined { controllers: 3 }, 3);
        assert_eq!(
            c[1].get("controller.quorum.voters"),
            Some("1@10.0.0.11:9093,2@10.0.0.12:9093,3@10.0.0.13:9093")
        );
        assert_eq!(c[1].get("process.roles"), Some("broker,controller"));
    }

    #[test]
    fn a_dynamic_quorum_is_found_through_its_bootstrap_servers() {
        let q = Quorum::KraftDedicated { controllers: 2 };
        let c = configs_with(&q, KraftVoters::Dynamic, 4);
        for p in &c {
            assert_eq!(p.get("controller.quorum.voters"), None);
            assert_eq!(
                p.get("controller.quorum.bootstrap.servers"),
                Some("10.0.0.13:9093,10.0.0.14:9093")
            );
        }
        let dynamic = KraftVoters::Dynamic;
        assert_eq!(
            dynamic.format_args(Role::Controller, false),
            ["--feature", "kraft.version=1", "--standalone"]
        );
        assert_eq!(
            dynamic.format_args(Role::Combined, true),
            ["--feature", "kraft.version=1", "--no-initial-controllers"]
        );
        assert_eq!(
            dynamic.format_args(Role::Broker, false),
            ["--feature", "kraft.version=1"]
        );
        assert!(KraftVoters::Static
            .format_args(Role::Controller, false)
            .is_empty());
    }
}
