//! [`KafkaBuilder`]: how to build a [`KafkaService`], checked before any node is touched;
//! the build issues the cluster's certificates and chooses its control once.

use super::upgrade::Revision;
use crate::jvm;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ducttape_core::cluster::Node;
use ducttape_core::context::TestContext;

use super::config::{self, Quorum};
use super::control::{Control, LazyAdmin};
use super::security::{client_security_as, ClusterTls, SecurityConfig, ADMIN_USER, CLIENT_USER};
use super::service::KafkaService;
use super::tools::{bootstrap_of, KafkaTools};
use crate::error::ServiceError;
use crate::install::KafkaVersion;
use crate::properties::Properties;
use crate::service::register;
use crate::zookeeper::ZookeeperService;

/// How to build a [`KafkaService`].
///
/// ```no_run
/// # async fn demo(ctx: &ducttape_core::TestContext) -> Result<(), Box<dyn std::error::Error>> {
/// use ducttape_services::{KafkaService, KafkaVersion, ServiceExt, TopicSpec};
/// let nodes = ctx.lease(3).await?;
/// let kafka = KafkaService::builder(nodes)
///     .kraft_combined(3)
///     .version(KafkaVersion::V4)
///     .config("num.network.threads", 2)
///     .build(ctx)?;
/// kafka.start().await?;
/// kafka.create_topic(&TopicSpec::new("t").partitions(3).replication_factor(3)).await?;
/// # Ok(()) }
/// ```
pub struct KafkaBuilder {
    nodes: Vec<Node>,
    quorum: Option<Quorum>,
    version: KafkaVersion,
    overrides: Properties,
    node_overrides: BTreeMap<usize, Properties>,
    start_timeout: Duration,
    heap: String,
    zookeeper: Option<Arc<ZookeeperService>>,
    security: SecurityConfig,
    control: Option<Control>,
    client_config: BTreeMap<String, String>,
    jvm_metrics: bool,
    node_versions: BTreeMap<usize, KafkaVersion>,
    migration_cluster_id: Option<String>,
}

impl KafkaBuilder {
    /// Every node a KRaft controller and none a broker, formatted with `cluster_id`: the
    /// quorum a ZooKeeper-mode cluster (another service, whose id this is) migrates to. Its
    /// migration settings are [`config`](Self::config)s (see `zookeeper_migration_test.rs`).
    pub fn migration_controllers(mut self, cluster_id: &str) -> Self {
        self.quorum = Some(Quorum::KraftDedicated {
            controllers: self.nodes.len(),
        });
        self.migration_cluster_id = Some(cluster_id.to_string());
        self
    }

    /// Node `index` (0-based) runs `version` instead of the service's (a mixed-version
    /// cluster; [`KafkaService::upgrade_node`] changes it at run time).
    pub fn node_version(mut self, index: usize, version: KafkaVersion) -> Self {
        self.node_versions.insert(index, version);
        self
    }

    /// Whether the brokers and controllers carry the JMX exporter and are sampled (default:
    /// on, unless `DUCTTAPE_JVM_METRICS=off`; see [`crate::jvm`]).
    pub fn jvm_metrics(mut self, on: bool) -> Self {
        self.jvm_metrics = on;
        self
    }

    /// The security protocols, users and authorizer (default: PLAINTEXT, no authorizer).
    /// Checked by [`build`](Self::build), before any broker starts.
    pub fn security(mut self, security: SecurityConfig) -> Self {
        self.security = security;
        self
    }

    /// Where control operations run (default: [`CONTROL_ENV`](crate::kafka::CONTROL_ENV), else [`Control::Client`]).
    pub fn control(mut self, control: Control) -> Self {
        self.control = Some(control);
        self
    }

    /// A librdkafka setting for the control client, passed through as it is. It needs none for
    /// a secured cluster (it follows [`KafkaService::admin_security`] by itself); a setting
    /// here overrides that one's, e.g. `ssl.endpoint.identification.algorithm=none` for a
    /// cluster whose certificates name other hosts on purpose.
    pub fn client_config(mut self, key: &str, value: impl ToString) -> Self {
        self.client_config
            .insert(key.to_string(), value.to_string());
        self
    }

    /// ZooKeeper mode with this ensemble.
    pub fn zookeeper(mut self, zk: &Arc<ZookeeperService>) -> Self {
        self.quorum = Some(Quorum::Zookeeper {
            connect: zk.connect_string(),
        });
        self.zookeeper = Some(zk.clone());
        self
    }

    /// KRaft, the first `controllers` nodes running broker and controller (the default, with
    /// up to 3 controllers).
    pub fn kraft_combined(mut self, controllers: usize) -> Self {
        self.quorum = Some(Quorum::KraftCombined { controllers });
        self
    }

    /// KRaft, the last `controllers` nodes running only a controller.
    pub fn kraft_dedicated(mut self, controllers: usize) -> Self {
        self.quorum = Some(Quorum::KraftDedicated { controllers });
        self
    }

    /// The Kafka version (install) to run.
    pub fn version(mut self, version: KafkaVersion) -> Self {
        self.version = version;
        self
    }

    /// A config override for every node.
    pub fn config(mut self, key: &str, value: impl ToString) -> Self {
        self.overrides.set(key, value);
        self
    }

    /// A config override for node `index` (0-based) only.
    pub fn node_config(mut self, index: usize, key: &str, value: impl ToString) -> Self {
        self.node_overrides
            .entry(index)
            .or_default()
            .set(key, value);
        self
    }

    /// How long a node's start may go without progress (default 90 s): a start fails when
    /// its log shows no step of the start sequence or of log loading
    /// ([`START_PROGRESS_PATTERN`](super::START_PROGRESS_PATTERN)) for this long, or when its
    /// process dies; a start that keeps moving on may take longer in all (a broker loading
    /// many logs, a loaded machine). Then its broker's registration may take as long again.
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// The JVM heap of each node (default `1g`, all of it from the start: `-Xmx1g -Xms1g`, as
    /// Kafka's `kafka-server-start.sh` and so kafkatest run brokers).
    pub fn heap(mut self, heap: &str) -> Self {
        self.heap = heap.to_string();
        self
    }

    /// Checks the setup and registers the service with `ctx`.
    pub fn build(self, ctx: &TestContext) -> Result<Arc<KafkaService>, ServiceError> {
        let n = self.nodes.len();
        let quorum = self.quorum.unwrap_or(Quorum::KraftCombined {
            controllers: n.min(3),
        });
        let usage = |detail: String| ServiceError::Usage {
            service: "kafka".into(),
            detail,
        };
        if n == 0 {
            return Err(usage("no nodes".into()));
        }
        // A DUCTTAPE_KAFKA_HOME that cannot be used fails here, before any node is touched.
        if let Some(Err(e)) = self.version.user_home() {
            return Err(ServiceError::KafkaHome(e.clone()));
        }
        match &quorum {
            Quorum::Zookeeper { .. } if !self.version.supports_zookeeper() => {
                return Err(usage(format!(
                    "Kafka {} has no ZooKeeper mode; use KRaft or Kafka 3.x",
                    self.version.version()
                )))
            }
            Quorum::KraftCombined { controllers } | Quorum::KraftDedicated { controllers }
                if *controllers == 0 || *controllers > n =>
            {
                return Err(usage(format!(
                    "{controllers} controllers do not fit {n} nodes"
                )))
            }
            Quorum::KraftDedicated { controllers }
                if *controllers == n && self.migration_cluster_id.is_none() =>
            {
                return Err(usage("dedicated controllers leave no broker".into()))
            }
            _ => {}
        }
        let kraft = !matches!(quorum, Quorum::Zookeeper { .. });
        self.security
            .validate(kraft)
            .map_err(super::KafkaServiceError::from)?;
        let tls = if self.security.uses_tls(kraft) {
            Some(ClusterTls::issue(&self.nodes, &self.security)?)
        } else {
            None
        };
        let control = match self.control {
            Some(c) => c,
            None => Control::from_env().map_err(|e| usage(e.to_string()))?,
        };
        let roles = config::roles(n, &quorum);
        let brokers: Vec<Node> = self
            .nodes
            .iter()
            .zip(&roles)
            .filter(|(_, (_, role))| role.is_broker())
            .map(|(n, _)| n.clone())
            .collect();
        // Secured or not: the tools and the control client speak the client listener's
        // protocol, as the admin user (admin tools, control) or the client user (client tools).
        let hosts = hosts_file(&self.nodes);
        let as_user = |user| client_security_as(&self.security, tls.as_ref(), &hosts, user);
        let admin_security = as_user(ADMIN_USER);
        let mut admin_config = admin_security.librdkafka();
        admin_config.extend(self.client_config);
        let admin = Arc::new(LazyAdmin::new(bootstrap_of(&brokers), admin_config));
        let tools = Arc::new(KafkaTools::new(
            self.version.clone(),
            brokers,
            admin_security,
            as_user(CLIENT_USER),
        ));
        let revisions = self
            .node_versions
            .into_iter()
            .map(|(i, v)| (i, Revision::running(v)))
            .collect();
        let port = self.jvm_metrics.then_some(jvm::KAFKA_METRICS_PORT);
        let metrics = jvm::Metrics::new(ctx, "kafka", &self.nodes, port);
        let kafka = Arc::new(KafkaService {
            metrics,
            nodes: self.nodes,
            roles,
            quorum,
            version: self.version,
            overrides: self.overrides,
            node_overrides: self.node_overrides,
            start_timeout: self.start_timeout,
            heap: self.heap,
            cluster_id: self.migration_cluster_id.unwrap_or_else(new_cluster_id),
            zookeeper: self.zookeeper,
            security: self.security,
            tls,
            scram_in_zookeeper: tokio::sync::OnceCell::new(),
            control: control.implementation(admin, tools),
            started: std::sync::Mutex::default(),
            running: std::sync::Mutex::default(),
            revisions: std::sync::Mutex::new(revisions),
        });
        register(ctx, &kafka);
        kafka.metrics.start(ctx);
        // Tools run from the newest install a node runs (a mixed-version cluster).
        kafka.tools().set_version(kafka.tool_version());
        Ok(kafka)
    }
}

/// A hosts file naming every node of `nodes` (see [`ClientSecurity::jvm_args`]: why SASL
/// JVMs read one).
///
/// [`ClientSecurity::jvm_args`]: super::ClientSecurity::jvm_args
pub(super) fn hosts_file(nodes: &[Node]) -> String {
    let mut hosts = String::from("127.0.0.1 localhost\n");
    for node in nodes {
        hosts.push_str(&format!("{} {}\n", node.address(), node.name()));
    }
    hosts
}

/// A random KRaft cluster id: 16 random bytes, base64url without padding (what
/// `kafka-storage random-uuid` prints).
fn new_cluster_id() -> String {
    let mut bytes = [0u8; 16];
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
        ^ u128::from(std::process::id()) << 64;
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .is_err()
    {
        bytes = seed.to_le_bytes();
    }
    encode_cluster_id(bytes)
}

/// 16 bytes as base64url without padding, never starting with `-`: like Kafka's
/// `Uuid.randomUuid`, which draws again in that case, because the tools' argument parser
/// takes `-t -C9UW…` for two options (found by a KRaft scenario failing on such an id).
fn encode_cluster_id(mut bytes: [u8; 16]) -> String {
    if bytes[0] >> 2 == 62 {
        bytes[0] &= 0b0111_1111; // '-' is sextet 62; clearing the top bit makes it 30 ('e')
    }
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

impl KafkaService {
    /// Starts building a service on `nodes`.
    pub fn builder(nodes: Vec<Node>) -> KafkaBuilder {
        KafkaBuilder {
            nodes,
            quorum: None,
            version: KafkaVersion::DEFAULT,
            overrides: Properties::new(),
            node_overrides: BTreeMap::new(),
            start_timeout: Duration::from_secs(90),
            heap: "1g".into(),
            zookeeper: None,
            security: SecurityConfig::default(),
            control: None,
            client_config: BTreeMap::new(),
            jvm_metrics: true,
            node_versions: BTreeMap::new(),
            migration_cluster_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_look_like_kafkas() {
        let id = new_cluster_id();
        assert_eq!(id.len(), 22);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(id, new_cluster_id());
    }

    #[test]
    fn cluster_ids_never_start_with_a_dash() {
        let mut bytes = [0u8; 16];
        bytes[0] = 0xf8; // first sextet 62: '-'
        let id = encode_cluster_id(bytes);
        assert_eq!(id.len(), 22);
        assert!(!id.starts_with('-'), "{id}");
        assert_eq!(encode_cluster_id([0u8; 16]), "AAAAAAAAAAAAAAAAAAAAAA");
    }
}
