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
/// What the log says as a node's start moves on, each said once per start (or once per log
/// loaded): the steps of the broker's and controller's start sequence (`Finished waiting for
/// …`, state transitions, the metadata loader caught up) and of log loading (`Loading logs`,
/// `Recovering …`, `Completed load of Log(…)` per partition, `Loaded N logs`). Lines a retry
/// loop repeats ("still catching up", connection warnings) are not progress. The start
/// timeout counts the time without one of these (see [`Readiness::LogLineProgressing`]):
/// a broker with many logs to load, or on a loaded machine, may take longer than the
/// timeout in all and still start (a 4.4.0 broker still loading its logs after 90 s at a
/// load average of ≈ 50 failed a downgrade scenario when the timeout bounded the whole start).
pub const START_PROGRESS_PATTERN: &str = "Finished waiting for|Transitioning from|Transition from|\
     finished catching up|Loading logs|Recovering|Skipping recovery|Producer state recovery took|\
     Completed load of|Loaded [0-9]+ logs";

/// What one node runs, read from it at its last start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Running {
    /// The version its server logged ("Kafka version: …").
    version: String,
    /// The install its JVM runs from (its classpath's `<home>/libs/*`).
    home: String,
}

/// The install a process's command line runs from: the `<home>` of its `-cp <home>/libs/*`
/// (a JVM started as [`KafkaVersion::java`] starts it); `None` for another command.
fn home_of_command(command: &str) -> Option<String> {
    let mut words = command.split_whitespace();
    words.find(|w| *w == "-cp" || *w == "-classpath")?;
    words
        .next()?
        .split(':')
        .find_map(|entry| entry.strip_suffix("/libs/*"))
        .map(str::to_string)
}

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
    /// What each node's broker or controller runs, read from it at its last start, for
    /// `summary.json`.
    pub(super) running: std::sync::Mutex<BTreeMap<String, Running>>,
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
            .ready_when(Readiness::LogLineProgressing {
                ready: STARTED_PATTERN.into(),
                progress: START_PROGRESS_PATTERN.into(),
            })
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
        self.running_map(|r| r.version.clone())
    }

    /// The install each node's JVM runs from since its last start, read from the running
    /// process's classpath (`-cp <home>/libs/*`), not from what the service was built with:
    /// after [`upgrade_node`](Self::upgrade_node) a node runs another install than the rest.
    pub fn running_homes(&self) -> BTreeMap<String, String> {
        self.running_map(|r| r.home.clone())
    }

    fn running_map(&self, f: impl Fn(&Running) -> String) -> BTreeMap<String, String> {
        self.running
            .lock()
            .map(|r| r.iter().map(|(node, r)| (node.clone(), f(r))).collect())
            .unwrap_or_default()
    }

    /// Reads what `node` runs now that it started — the version its server logged, the home
    /// its JVM runs from — and checks it is the version it was started on: a home that holds
    /// another release than it was said to (a `KafkaVersion::at` pointing at the wrong
    /// directory, a stale build) would otherwise test one Kafka under another's name.
    async fn read_running(&self, node: &Node, index: usize) -> Result<(), ServiceError> {
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
        let processes = node
            .account()
            .processes_of(&self.pids(node).await?)
            .await
            .ctx("kafka")?;
        let home = processes
            .iter()
            .find_map(|p| home_of_command(&p.command))
            .ok_or_else(|| ServiceError::Usage {
                service: "kafka".into(),
                detail: format!(
                    "{}: started, but no process of it runs java -cp <home>/libs/*: which install runs is unknown (processes: {:?})",
                    node.name(),
                    processes.iter().map(|p| &p.command).collect::<Vec<_>>()
                ),
            })?;
        let running = Running {
            version: version.to_string(),
            home,
        };
        if let Ok(mut r) = self.running.lock() {
            r.insert(node.name().to_string(), running.clone());
        }
        let expected = self.version_of(index);
        if running.version != expected.version() {
            return Err(super::KafkaServiceError::NotTheVersionStarted {
                node: node.name().to_string(),
                expected: expected.version().to_string(),
                home: running.home,
                running: running.version,
            }
            .into());
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
        spec.launch(node).await?;
        self.read_running(node, index).await?;
        if self.roles[index].1.is_broker() {
            // A server that says it started has registered (KRaft: it was unfenced first;
            // ZooKeeper: `/brokers/ids/<id>` is written before): this waits for the metadata
            // a client reads to show it, with a timeout of its own, as the start's may have
            // been stretched by progress.
            let address = self.broker_address(node)?;
            self.control
                .wait_registered(node, &address, self.start_timeout)
                .await?;
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
    /// `kafka_home` and `kafka_homes` likewise (the installs their JVMs run from), and
    /// `kafka_home_source` when the service started on the user's build
    /// (`DUCTTAPE_KAFKA_HOME`) or a node runs it now (moved onto it by an upgrade).
    fn results(&self) -> serde_json::Value {
        let (versions, homes) = (self.running_versions(), self.running_homes());
        let distinct = |m: &BTreeMap<String, String>| {
            let set: std::collections::BTreeSet<&String> = m.values().collect();
            set.into_iter().cloned().collect::<Vec<_>>().join(", ")
        };
        let mut results = serde_json::json!({
            "kafka_version": distinct(&versions),
            "kafka_versions": versions,
            "kafka_home": distinct(&homes),
            "kafka_homes": homes,
        });
        // The user's build, whether the cluster started on it or a node runs it now (moved
        // onto it by `upgrade_node`).
        let user_build = std::iter::once(self.version.clone())
            .chain(
                self.nodes
                    .iter()
                    .filter_map(|node| self.version_of_node(node).ok()),
            )
            .find_map(|v| v.user_home().and_then(Result::ok));
        if let Some(user) = user_build {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_home_is_read_from_the_jvm_command_line() {
        // As /proc/<pid>/cmdline shows a broker started from its ProcessSpec.
        let java = KafkaVersion::new("4.4.0")
            .java("kafka.Kafka")
            .arg(CONFIG)
            .render()
            .replace('\'', "");
        assert_eq!(home_of_command(&java).as_deref(), Some("/opt/kafka-4.4.0"));
        assert_eq!(
            home_of_command("java -classpath /x/a.jar:/srv/kafka/libs/* kafka.Kafka").as_deref(),
            Some("/srv/kafka")
        );
        // The shell that waits for it, and a JVM run from elsewhere, say nothing.
        assert_eq!(home_of_command("sh -c exec java …"), None);
        assert_eq!(home_of_command("java -cp /opt/app.jar Main"), None);
    }

    #[test]
    fn progress_lines_are_the_start_s_steps_not_a_retry_loop_s() {
        let progress = regex::Regex::new(START_PROGRESS_PATTERN).unwrap_or_else(|e| panic!("{e}"));
        // Lines of a 4.4.0 broker's start (captured here, trimmed).
        for line in [
            "INFO Loading logs from log dirs [/mnt/kafka/data] (org.apache.kafka.storage.internals.log.LogManager)",
            "INFO Skipping recovery of 13 logs from /mnt/kafka/data since clean shutdown file was found",
            "INFO [LogLoader partition=__cluster_metadata-0, dir=/mnt/kafka/data] Recovering unflushed segment 0. 0 recovered for __cluster_metadata-0.",
            "INFO Completed load of Log(dir=/mnt/kafka/data/rolled-2, topicId=ms4iQafVTYqK1ng_LDyqrg, topic=rolled, partition=2) with 1 segments",
            "INFO Loaded 13 logs in 1006ms (org.apache.kafka.storage.internals.log.LogManager)",
            "INFO [BrokerServer id=1] Finished waiting for the broker to be unfenced (kafka.server.BrokerServer)",
            "INFO [BrokerLifecycleManager id=1] The broker has caught up. Transitioning from STARTING to RECOVERY.",
            "INFO [MetadataLoader id=1] maybePublishMetadata(LOG_DELTA): The loader finished catching up to the current high water mark of 224",
        ] {
            assert!(progress.is_match(line), "{line}");
        }
        for line in [
            "INFO [MetadataLoader id=1] initializeNewPublishers: the loader is still catching up because we still don't know the high water mark yet.",
            "WARN [RaftManager id=1] Connection to node 3004 (/10.223.1.14:9093) could not be established. Node may not be available.",
            "INFO [BrokerServer id=1] Waiting for the broker to be unfenced (kafka.server.BrokerServer)",
        ] {
            assert!(!progress.is_match(line), "{line}");
        }
    }
}
