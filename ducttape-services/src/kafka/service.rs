//! [`KafkaService`]: N Kafka nodes in ZooKeeper or KRaft mode.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ducttape_core::cluster::Node;
use ducttape_core::remote::StopOutcome;
use ducttape_core::wait_until;

use super::admin::KafkaAdmin;
use super::config::{self, KraftVoters, NodeConfig, Quorum, Role, BROKER_PORT};
use super::control::{BrokerAddress, KafkaControl};
use super::security::{
    client_security_as, ClientSecurity, ClusterTls, SecurityConfig, ADMIN_USER, BROKER_TLS_DIR,
    CLIENT_USER,
};
use super::tools::KafkaTools;
use super::upgrade::Revision;
use crate::error::{ResultExt, ServiceError};
use crate::install::KafkaVersion;
use crate::jvm;
use crate::process::ProcessSpec;
use crate::properties::Properties;
use crate::readiness::Readiness;
use crate::service::{LogFile, Service, ServiceExt};
use crate::tls::IssuedCertificate;
use crate::zookeeper::ZookeeperService;

const ROOT: &str = "/mnt/kafka";
/// Where a node's config is.
pub(super) const CONFIG: &str = "/mnt/kafka/server.properties";
const LOG: &str = "/mnt/kafka/server.log";
const PIDFILE: &str = "/mnt/kafka/kafka.pid";
/// The hosts file a broker's JVM resolves names from when a listener uses SASL.
const HOSTS: &str = "/mnt/kafka/hosts";
/// How long a node may take to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(60);
/// What the broker log says when it is up (ZooKeeper mode: `[KafkaServer id=1] started`;
/// KRaft: `[KafkaRaftServer nodeId=1] Kafka Server started`).
pub const STARTED_PATTERN: &str = r"Kafka\s*Server.*started";

/// Kafka nodes (brokers and, in KRaft mode, controllers) on leased nodes.
pub struct KafkaService {
    pub(super) nodes: Vec<Node>,
    pub(super) roles: Vec<(u32, Role)>,
    pub(super) quorum: Quorum,
    /// How the KRaft quorum knows its voters.
    pub(super) voters: KraftVoters,
    /// Whether a controller was formatted `--standalone` (a dynamic quorum's first voter):
    /// only one ever is, the first to start.
    pub(super) standalone_formatted: std::sync::atomic::AtomicBool,
    pub(super) version: KafkaVersion,
    pub(super) overrides: Properties,
    pub(super) node_overrides: BTreeMap<usize, Properties>,
    pub(super) start_timeout: Duration,
    pub(super) heap: String,
    pub(super) cluster_id: String,
    pub(super) zookeeper: Option<Arc<ZookeeperService>>,
    pub(super) security: SecurityConfig,
    pub(super) tls: Option<ClusterTls>,
    pub(super) scram_in_zookeeper: tokio::sync::OnceCell<()>,
    /// The control operations, chosen once at build: librdkafka or the CLI.
    pub(super) control: Arc<dyn KafkaControl>,
    /// Nodes whose broker this service started and that did not since shut down on SIGTERM:
    /// only those can have left a stale ZooKeeper registration (a SIGKILL, a crash).
    pub(super) started: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// The version each node's broker or controller says it runs ("Kafka version: …" in its
    /// log at its last start), for `summary.json`.
    pub(super) running: std::sync::Mutex<BTreeMap<String, String>>,
    /// Per node index: the install and config changes since the build (mixed versions,
    /// upgrades; see `upgrade_test.rs`). Each start renders the node from it.
    pub(super) revisions: std::sync::Mutex<BTreeMap<usize, Revision>>,
    /// The JVMs' metrics, sampled through the test (see [`crate::jvm`]).
    pub(super) metrics: jvm::Metrics,
}

impl KafkaService {
    /// The brokers' and controllers' JMX metrics, sampled every few seconds through the test:
    /// `kafka.metrics().series("UnderReplicatedPartitions")?` (see [`jvm::Metrics`]).
    pub fn metrics(&self) -> &jvm::Metrics {
        &self.metrics
    }

    /// How the cluster is secured.
    pub fn security(&self) -> &SecurityConfig {
        &self.security
    }

    /// The client side of the cluster's client listener, as the `client` user (SASL password,
    /// and a certificate when the listener requires one): what every client service uses
    /// unless told otherwise.
    pub fn client_security(&self) -> ClientSecurity {
        self.client_security_as(CLIENT_USER)
    }

    /// The same as the `admin` super user (what the service's own topic and ACL commands use).
    pub fn admin_security(&self) -> ClientSecurity {
        self.client_security_as(ADMIN_USER)
    }

    /// The client side of the client listener as `user` (a user of the
    /// [`SecurityConfig`]; an unknown one gets no password, so it is refused). On an SSL
    /// listener, or one requiring client certificates, it presents a certificate for `user`.
    pub fn client_security_as(&self, user: &str) -> ClientSecurity {
        client_security_as(&self.security, self.tls.as_ref(), &self.hosts_file(), user)
    }

    /// A hosts file naming every node of the service (see [`ClientSecurity::jvm_args`]: why
    /// SASL JVMs read one).
    pub fn hosts_file(&self) -> String {
        super::builder::hosts_file(&self.nodes)
    }

    /// The run's CA certificate (PEM), when a listener speaks TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(ClusterTls::ca_pem)
    }

    /// A certificate for `user` issued by the run's CA (for a client of a listener that
    /// requires one), when a listener speaks TLS.
    pub fn issue_client_certificate(&self, user: &str) -> Option<IssuedCertificate> {
        self.tls.as_ref().and_then(|t| t.issue_client(user))
    }

    /// The control client of every broker, made on first use ([`KafkaAdmin`]). It works
    /// whatever [`Control`](super::Control) says; the service's own operations use it under
    /// [`Control::Client`](super::Control::Client). On a secured cluster it is the `admin`
    /// super user of the client listener ([`admin_security`](Self::admin_security) as
    /// librdkafka settings, certificates inline), then the builder's
    /// [`client_config`](super::KafkaBuilder::client_config) on top.
    pub fn admin(&self) -> Result<KafkaAdmin, ServiceError> {
        Ok(self.control.admin().get()?)
    }

    /// The CLI tools of the cluster.
    pub(super) fn tools(&self) -> &KafkaTools {
        self.control.tools()
    }

    /// `node`'s broker id for the control client, and its `host:port`.
    pub(super) fn broker_address(&self, node: &Node) -> Result<BrokerAddress, ServiceError> {
        let id = i32::try_from(self.id_of(node)?).unwrap_or(i32::MAX);
        Ok(BrokerAddress {
            id,
            address: format!("{}:{BROKER_PORT}", node.address()),
        })
    }

    /// The process on any node, for stopping, cleaning and finding it.
    fn process(&self) -> ProcessSpec {
        ProcessSpec::new("kafka", ROOT)
            .log_file(LOG)
            .pid_file(PIDFILE)
            .stop_grace(STOP_GRACE)
    }

    /// The broker or controller `index`: its TLS files and config (owner only: they may hold
    /// keys and passwords), the hosts file SASL JVMs read, the JVM, and ready at
    /// "Kafka Server started". Storage formatting, SCRAM users and the registration checks are
    /// Kafka's own steps around it (see `start_node`).
    fn spec(&self, index: usize) -> ProcessSpec {
        let version = self.version_of(index);
        let mut spec = self
            .process()
            .requires(version.install())
            .dir(config::DATA_DIR);
        if let Some(tls) = &self.tls {
            spec = spec
                .private_file(&format!("{BROKER_TLS_DIR}/ca.pem"), tls.ca_pem())
                .private_file(
                    &format!("{BROKER_TLS_DIR}/keystore.pem"),
                    tls.keystore(index).to_string(),
                );
        }
        spec = spec.private_file(CONFIG, self.config(index).render());
        let mut java = version
            .java("kafka.Kafka")
            .heap(&self.heap)
            .fixed_heap()
            .arg(CONFIG);
        if self.security.uses_sasl(self.kraft()) {
            spec = spec.private_file(HOSTS, self.hosts_file());
            java = java.jvm_arg(format!("-Djdk.net.hosts.file={HOSTS}"));
        }
        spec.observe(self.metrics.observation())
            .java(java)
            .ready_when(Readiness::LogLine(STARTED_PATTERN.into()))
            .start_timeout(self.start_timeout)
    }

    /// Starts `nodes` of the service in parallel, each until it is ready, and leaves the
    /// others as they are: kafkatest's `start(nodes_to_skip=…)`, e.g. for a dynamic quorum
    /// whose second controller starts later (then [`add_controller`](Self::add_controller)).
    pub async fn start_nodes(&self, nodes: &[Node]) -> Result<(), ServiceError> {
        ducttape_core::event!("service_starting", service = "kafka", workload = false);
        let started = futures::future::join_all(nodes.iter().map(|n| self.start_node(n))).await;
        let started = ServiceError::from_all(started.into_iter().filter_map(Result::err).collect());
        ducttape_core::event!(
            "service_ready",
            service = "kafka",
            workload = false,
            ok = started.is_ok()
        );
        started
    }

    /// The version it runs.
    pub fn version(&self) -> &KafkaVersion {
        &self.version
    }

    /// The Kafka version each node said it runs at its last start (its own log line
    /// "Kafka version: …", written by Kafka's `AppInfoParser` as the server starts): the
    /// version under test as it is, whatever the install's path or jar names say.
    pub fn running_versions(&self) -> BTreeMap<String, String> {
        self.running.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Reads the version `node`'s server logged at its start (see [`Self::running_versions`]).
    async fn read_running_version(&self, node: &Node) -> Result<(), ServiceError> {
        let cmd = format!("grep -o 'Kafka version: [^ ]*' {LOG} | tail -n 1");
        let line = super::tools::run_on(node, &cmd).await?;
        let Some(version) = line.trim().strip_prefix("Kafka version: ") else {
            return Err(ServiceError::Usage {
                service: "kafka".into(),
                detail: format!(
                    "{}: started, but its log {LOG} has no \"Kafka version: …\" line: which Kafka runs is unknown",
                    node.name()
                ),
            });
        };
        if let Ok(mut r) = self.running.lock() {
            r.insert(node.name().to_string(), version.to_string());
        }
        Ok(())
    }

    /// The quorum mode.
    pub fn quorum(&self) -> &Quorum {
        &self.quorum
    }

    /// Whether it runs in KRaft mode.
    fn kraft(&self) -> bool {
        !matches!(self.quorum, Quorum::Zookeeper { .. })
    }

    /// The nodes that serve clients (all but dedicated controllers).
    pub fn brokers(&self) -> Vec<Node> {
        self.nodes
            .iter()
            .zip(&self.roles)
            .filter(|(_, (_, role))| role.is_broker())
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// The `node.id`/`broker.id` of `node`.
    pub fn id_of(&self, node: &Node) -> Result<u32, ServiceError> {
        Ok(self.roles[self.index(node)?].0)
    }

    /// The node with broker id `id`.
    pub fn node_by_id(&self, id: u32) -> Option<&Node> {
        self.roles
            .iter()
            .position(|(i, _)| *i == id)
            .map(|i| &self.nodes[i])
    }

    /// `host:9092,…` of every broker.
    pub fn bootstrap_servers(&self) -> String {
        self.tools().bootstrap()
    }

    /// The config file of node `index`.
    pub fn config(&self, index: usize) -> Properties {
        let all: Vec<NodeConfig> = self
            .nodes
            .iter()
            .zip(&self.roles)
            .map(|(n, (id, role))| NodeConfig {
                id: *id,
                address: n.address(),
                role: *role,
            })
            .collect();
        let mut p = config::render(&all[index], &all, &self.quorum, self.voters, &self.security);
        p.extend(&self.overrides);
        if let Some(o) = self.node_overrides.get(&index) {
            p.extend(o);
        }
        self.apply_revision(index, &mut p);
        p
    }

    /// In ZooKeeper mode, before a restart, waits until `node`'s old registration
    /// (`/brokers/ids/<id>`) is gone: after a SIGKILL it lives until its ZooKeeper session
    /// expires, and a broker started meanwhile exits with `NodeExistsException`.
    async fn wait_unregistered(&self, node: &Node) -> Result<(), ServiceError> {
        let Some(zk) = &self.zookeeper else {
            return Ok(());
        };
        let path = format!("/brokers/ids/{}", self.id_of(node)?);
        // ZooKeeper may itself be starting (run_parallel): errors mean "not known yet".
        let what = format!("{path} is gone from ZooKeeper");
        wait_until(&what, self.start_timeout, Duration::from_millis(200), || async {
            let paths = zk.ephemeral_paths().await?;
            if paths.contains(&path) {
                tracing::debug!(node = node.name(), %path, "waiting before starting the broker");
            }
            Ok::<_, ServiceError>(!paths.contains(&path))
        })
        .await
        .map_err(|e| ServiceError::Timeout {
            service: "kafka".into(),
            node: node.name().to_string(),
            after: self.start_timeout,
            detail: e.to_string(),
        })
    }

    /// ZooKeeper mode: creates every user's SCRAM credentials in ZooKeeper (the only way
    /// before a broker runs), once per service, before the first broker starts.
    async fn create_scram_credentials_in_zookeeper(&self, node: &Node) -> Result<(), ServiceError> {
        let Quorum::Zookeeper { connect } = &self.quorum else {
            return Ok(());
        };
        if !self.security.needs_scram_credentials() {
            return Ok(());
        }
        self.scram_in_zookeeper
            .get_or_try_init(|| async {
                let mechanism = self.security.sasl_mechanism();
                let mut script = Vec::new();
                for (user, password) in self.security.users() {
                    let cmd = self
                        .version
                        .tool("kafka.admin.ConfigCommand")
                        .args([
                            "--zookeeper".to_string(),
                            connect.clone(),
                            "--alter".into(),
                            "--add-config".into(),
                            format!("{mechanism}=[password={password}]"),
                            "--entity-type".into(),
                            "users".into(),
                            "--entity-name".into(),
                            user,
                        ])
                        .render();
                    script.push(cmd);
                }
                tracing::info!(%mechanism, "creating SCRAM credentials in ZooKeeper");
                node.account()
                    .with_timeout(Duration::from_secs(300))
                    .ssh(&script.join(" && "))
                    .await
                    .ctx("kafka")
            })
            .await
            .map(drop)
    }

    async fn format_storage(&self, node: &Node) -> Result<(), ServiceError> {
        let mut args = vec![
            "format".to_string(),
            "-t".into(),
            self.cluster_id.clone(),
            "-c".into(),
            CONFIG.into(),
            "--ignore-formatted".into(),
        ];
        // KRaft reads SCRAM credentials from its metadata: the controllers' bootstrap
        // records carry them from the first start (KIP-900).
        let role = self.roles[self.index(node)?].1;
        if self.security.needs_scram_credentials() && role.is_controller() {
            args.extend(self.security.storage_scram_args());
        }
        // A dynamic quorum: the first controller to start claims the `--standalone` format.
        let bootstrapped = role.is_controller()
            && self.voters == KraftVoters::Dynamic
            && self
                .standalone_formatted
                .swap(true, std::sync::atomic::Ordering::SeqCst);
        args.extend(self.voters.format_args(role, bootstrapped));
        let cmd = self
            .version_of(self.index(node)?)
            .tool("kafka.tools.StorageTool")
            .args(args)
            .render();
        node.account()
            .with_timeout(Duration::from_secs(120))
            .ssh(&cmd)
            .await
            .ctx("kafka")
    }
}

#[async_trait]
impl Service for KafkaService {
    fn name(&self) -> &str {
        "kafka"
    }

    fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    async fn start_node(&self, node: &Node) -> Result<(), ServiceError> {
        let index = self.index(node)?;
        let spec = self.spec(index);
        spec.prepare(node).await?;
        if matches!(self.quorum, Quorum::Zookeeper { .. }) {
            self.create_scram_credentials_in_zookeeper(node).await?;
            // Only a restart waits: the first start runs while ZooKeeper itself may still be
            // starting (the broker retries its connection), which waiting would serialize.
            let restart = self
                .started
                .lock()
                .map(|s| s.contains(node.name()))
                .unwrap_or(true);
            if restart {
                self.wait_unregistered(node).await?;
            }
        } else {
            self.format_storage(node).await?;
        }
        if let Ok(mut s) = self.started.lock() {
            s.insert(node.name().to_string());
        }
        let started = tokio::time::Instant::now();
        spec.launch(node).await?;
        self.read_running_version(node).await?;
        if self.roles[index].1.is_broker() {
            let left = self.start_timeout.saturating_sub(started.elapsed());
            let address = self.broker_address(node)?;
            self.control.wait_registered(node, &address, left).await?;
        }
        tracing::info!(node = node.name(), id = self.roles[index].0, "kafka ready");
        Ok(())
    }

    async fn stop_node(&self, node: &Node, clean: bool) -> Result<StopOutcome, ServiceError> {
        let index = self.index(node)?;
        if clean && self.roles[index].1 == Role::Controller {
            // A broker's controlled shutdown goes through the controller: stopping both at
            // once (as the fan-out does) leaves the brokers waiting for a controller that is
            // gone until their grace runs out. A dedicated controller goes once no broker runs.
            let brokers = self.brokers();
            let waits = brokers.iter().map(|b| self.wait_node(b, STOP_GRACE));
            for waited in futures::future::join_all(waits).await {
                if let Err(e) = waited {
                    tracing::warn!(node = node.name(), error = %e, "stopping a controller while a broker still runs");
                }
            }
        }
        let outcome = self.process().stop(node, clean).await?;
        if outcome == StopOutcome::Exited {
            // A broker that shut down on SIGTERM closed its ZooKeeper session: nothing stale.
            if let Ok(mut s) = self.started.lock() {
                s.remove(node.name());
            }
        }
        Ok(outcome)
    }

    fn process_spec(&self, _: &Node) -> Option<ProcessSpec> {
        Some(self.process())
    }

    /// The version under test as the servers report it: `kafka_version` (the versions the
    /// nodes logged at start, joined with ", " when they differ), `kafka_versions` by node,
    /// the install's `kafka_home`, and `kafka_home_source` when it came from
    /// `DUCTTAPE_KAFKA_HOME`.
    fn results(&self) -> serde_json::Value {
        let running = self.running_versions();
        let distinct: std::collections::BTreeSet<&String> = running.values().collect();
        let mut results = serde_json::json!({
            "kafka_version": distinct.into_iter().cloned().collect::<Vec<_>>().join(", "),
            "kafka_versions": running,
            "kafka_home": self.version.home(),
        });
        if let Some(Ok(user)) = self.version.user_home() {
            results["kafka_home_source"] = user.source.display().to_string().into();
        }
        results
    }

    fn logs(&self) -> Vec<LogFile> {
        vec![
            LogFile::always("server.log", LOG),
            LogFile::always("server.properties", CONFIG),
            LogFile::on_failure("data", config::DATA_DIR),
            LogFile::on_failure("jvm", &jvm::JvmObservation::dir(ROOT)),
        ]
    }
}
