//! [`KafkaService`]: N Kafka nodes in ZooKeeper or KRaft mode.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ducttape_core::cluster::Node;
use ducttape_core::context::TestContext;
use ducttape_core::remote::{quote, StopOutcome};

use super::admin::{BrokerInfo, GroupState, KafkaAdmin};
use super::config::{self, NodeConfig, Quorum, Role, BROKER_PORT};
use super::security::{
    Acl, ClientSecurity, SecurityConfig, ADMIN_USER, BROKER_TLS_DIR, CLIENT_USER,
};
use super::topics::{parse_describe, PartitionInfo, TopicSpec};
use super::upgrade::Revision;
use crate::error::{ResultExt, ServiceError};
use crate::install::KafkaVersion;
use crate::process::ProcessSpec;
use crate::properties::Properties;
use crate::readiness::Readiness;
use crate::service::{register, LogFile, Service};
use crate::tls::{CertificateAuthority, IssuedCertificate};
use crate::zookeeper::ZookeeperService;

const ROOT: &str = "/mnt/kafka";
const CONFIG: &str = "/mnt/kafka/server.properties";
const LOG: &str = "/mnt/kafka/server.log";
const PIDFILE: &str = "/mnt/kafka/kafka.pid";
/// The hosts file a broker's JVM resolves names from when a listener uses SASL.
const HOSTS: &str = "/mnt/kafka/hosts";
/// How long a node may take to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(60);
/// Chooses how control operations run: `client` (default) or `cli`; see [`Control`].
pub const CONTROL_ENV: &str = "DUCTTAPE_KAFKA_CONTROL";

/// Where a [`KafkaService`]'s control operations (topic create/describe/delete/exists, leader
/// lookups) run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// librdkafka in the test process ([`KafkaAdmin`]): milliseconds per operation. Needs the
    /// brokers' addresses reachable from the test process (true of the local cluster).
    Client,
    /// Kafka's CLI (`kafka-topics`) on a broker node: a JVM start (≈ 3 s on 2 cores) per
    /// operation, but it works wherever the nodes can reach each other, e.g. remote clusters
    /// whose addresses the test host cannot reach.
    Cli,
}

impl Control {
    /// From [`CONTROL_ENV`]: `cli` → [`Control::Cli`], unset or `client` → [`Control::Client`].
    pub fn from_env() -> Result<Self, String> {
        match std::env::var(CONTROL_ENV).as_deref() {
            Err(_) | Ok("") | Ok("client") => Ok(Control::Client),
            Ok("cli") => Ok(Control::Cli),
            Ok(other) => Err(format!("{CONTROL_ENV}={other}: expected `client` or `cli`")),
        }
    }
}
/// What the broker log says when it is up (ZooKeeper mode: `[KafkaServer id=1] started`;
/// KRaft: `[KafkaRaftServer nodeId=1] Kafka Server started`).
pub const STARTED_PATTERN: &str = r"Kafka\s*Server.*started";

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
    node_versions: BTreeMap<usize, KafkaVersion>,
    migration_cluster_id: Option<String>,
}

impl KafkaBuilder {
    /// Every node a KRaft controller and none a broker, formatted with `cluster_id`: the
    /// quorum a ZooKeeper-mode cluster (another service, whose id this is) migrates to. Its
    /// migration settings are [`config`](Self::config)s (see `zookeeper_migration.rs`).
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

    /// The security protocols, users and authorizer (default: PLAINTEXT, no authorizer).
    /// Checked by [`build`](Self::build), before any broker starts.
    pub fn security(mut self, security: SecurityConfig) -> Self {
        self.security = security;
        self
    }

    /// Where control operations run (default: [`CONTROL_ENV`], else [`Control::Client`]).
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

    /// How long a node may take to start.
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
        self.security.validate(kraft).map_err(usage)?;
        let tls = if self.security.uses_tls(kraft) {
            Some(Tls::issue(&self.nodes, &self.security).map_err(usage)?)
        } else {
            None
        };
        // Secured or not: the control client speaks the client listener's protocol as the
        // admin user (see `admin`).
        let control = match self.control {
            Some(c) => c,
            None => Control::from_env().map_err(usage)?,
        };
        let roles = config::roles(n, &quorum);
        let revisions = self
            .node_versions
            .into_iter()
            .map(|(i, v)| (i, Revision::running(v)))
            .collect();
        let kafka = Arc::new(KafkaService {
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
            control,
            client_config: self.client_config,
            admin: std::sync::OnceLock::new(),
            started: std::sync::Mutex::default(),
            running: std::sync::Mutex::default(),
            revisions: std::sync::Mutex::new(revisions),
        });
        register(ctx, &kafka);
        Ok(kafka)
    }
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

/// The run's CA and what it issued for a cluster: a key store per node, a certificate per
/// built-in client user.
struct Tls {
    ca: CertificateAuthority,
    keystores: Vec<String>,
    clients: BTreeMap<String, IssuedCertificate>,
}

impl Tls {
    fn issue(nodes: &[Node], security: &SecurityConfig) -> Result<Self, String> {
        let ca = CertificateAuthority::new("ducttape per-run CA").map_err(|e| e.to_string())?;
        let mut keystores = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            if let Some(path) = security.keystore_file_of(i) {
                let pem = std::fs::read_to_string(path).map_err(|e| {
                    format!(
                        "security: keystore_file of node {i}: ssl.keystore.location {}: {e}",
                        path.display()
                    )
                })?;
                keystores.push(pem);
                continue;
            }
            let own = [node.address(), node.name()];
            let names: Vec<&str> = match security.certificate_names_of(i) {
                Some(names) => names.iter().map(String::as_str).collect(),
                None => own.to_vec(),
            };
            let cert = ca
                .issue(super::security::BROKER_USER, &names)
                .map_err(|e| e.to_string())?;
            keystores.push(cert.keystore_pem());
        }
        let mut clients = BTreeMap::new();
        for user in [ADMIN_USER, CLIENT_USER] {
            clients.insert(
                user.to_string(),
                ca.issue(user, &[]).map_err(|e| e.to_string())?,
            );
        }
        Ok(Self {
            ca,
            keystores,
            clients,
        })
    }
}

/// Kafka nodes (brokers and, in KRaft mode, controllers) on leased nodes.
pub struct KafkaService {
    nodes: Vec<Node>,
    roles: Vec<(u32, Role)>,
    quorum: Quorum,
    version: KafkaVersion,
    overrides: Properties,
    node_overrides: BTreeMap<usize, Properties>,
    start_timeout: Duration,
    heap: String,
    cluster_id: String,
    zookeeper: Option<Arc<ZookeeperService>>,
    security: SecurityConfig,
    tls: Option<Tls>,
    scram_in_zookeeper: tokio::sync::OnceCell<()>,
    control: Control,
    client_config: BTreeMap<String, String>,
    /// Made on first use (it connects lazily), then shared by every control operation.
    admin: std::sync::OnceLock<KafkaAdmin>,
    /// Nodes whose broker this service started and that did not since shut down on SIGTERM:
    /// only those can have left a stale ZooKeeper registration (a SIGKILL, a crash).
    started: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// The version each node's broker or controller says it runs ("Kafka version: …" in its
    /// log at its last start), for `summary.json`.
    running: std::sync::Mutex<BTreeMap<String, String>>,
    /// Per node index: the install and config changes since the build (mixed versions,
    /// upgrades; see `upgrade.rs`). Each start renders the node from it.
    pub(super) revisions: std::sync::Mutex<BTreeMap<usize, Revision>>,
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
            node_versions: BTreeMap::new(),
            migration_cluster_id: None,
        }
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
        let protocol = self.security.client_protocol();
        let mut c = ClientSecurity::new(protocol, self.security.sasl_mechanism())
            .with_hosts(&self.hosts_file());
        if protocol.uses_sasl() {
            c = c.with_credentials(user, &self.security.password_of(user).unwrap_or_default());
        }
        if let Some(tls) = &self.tls {
            c = c.trusting(tls.ca.cert_pem());
            // On an SSL listener the certificate is the only identity (the listener asks for
            // one): without it the client would be ANONYMOUS, which ACLs do not know.
            if self.security.requires_client_certificates()
                || protocol == super::security::SecurityProtocol::Ssl
            {
                let cert = match tls.clients.get(user) {
                    Some(cert) => Some(cert.clone()),
                    None => tls.ca.issue(user, &[]).ok(),
                };
                if let Some(cert) = cert {
                    c = c.with_certificate(cert);
                }
            }
        }
        c
    }

    /// A hosts file naming every node of the service (see [`ClientSecurity::jvm_args`]: why
    /// SASL JVMs read one).
    pub fn hosts_file(&self) -> String {
        let mut hosts = String::from("127.0.0.1 localhost\n");
        for node in &self.nodes {
            hosts.push_str(&format!("{} {}\n", node.address(), node.name()));
        }
        hosts
    }

    /// Whether any listener uses SASL (the JVMs then read [`hosts_file`](Self::hosts_file)).
    fn uses_sasl(&self) -> bool {
        let kraft = !matches!(self.quorum, Quorum::Zookeeper { .. });
        self.security
            .listeners(kraft)
            .iter()
            .any(|(_, p)| p.uses_sasl())
    }

    /// The run's CA certificate (PEM), when a listener speaks TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|t| t.ca.cert_pem())
    }

    /// A certificate for `user` issued by the run's CA (for a client of a listener that
    /// requires one), when a listener speaks TLS.
    pub fn issue_client_certificate(&self, user: &str) -> Option<IssuedCertificate> {
        self.tls.as_ref().and_then(|t| t.ca.issue(user, &[]).ok())
    }

    /// Where control operations run.
    pub fn control(&self) -> Control {
        self.control
    }

    /// The control client of every broker, made on first use ([`KafkaAdmin`]). It works
    /// whatever [`Control`] says; the service's own operations use it under [`Control::Client`].
    /// On a secured cluster it is the `admin` super user of the client listener
    /// ([`admin_security`](Self::admin_security) as librdkafka settings, certificates inline),
    /// then the builder's [`client_config`](KafkaBuilder::client_config) on top.
    pub fn admin(&self) -> Result<KafkaAdmin, ServiceError> {
        if let Some(admin) = self.admin.get() {
            return Ok(admin.clone());
        }
        let mut config = self.admin_security().librdkafka();
        config.extend(self.client_config.clone());
        let admin = KafkaAdmin::with_config(&self.bootstrap_servers(), config)?;
        Ok(self.admin.get_or_init(|| admin).clone())
    }

    /// `node`'s broker id for the control client, and its `host:port`.
    fn broker_address(&self, node: &Node) -> Result<(i32, String), ServiceError> {
        let id = i32::try_from(self.id_of(node)?).unwrap_or(i32::MAX);
        Ok((id, format!("{}:{BROKER_PORT}", node.address())))
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
                .private_file(&format!("{BROKER_TLS_DIR}/ca.pem"), tls.ca.cert_pem())
                .private_file(
                    &format!("{BROKER_TLS_DIR}/keystore.pem"),
                    tls.keystores[index].clone(),
                );
        }
        spec = spec.private_file(CONFIG, self.config(index).render());
        let mut java = version
            .java("kafka.Kafka")
            .heap(&self.heap)
            .fixed_heap()
            .arg(CONFIG);
        if self.uses_sasl() {
            spec = spec.private_file(HOSTS, self.hosts_file());
            java = java.jvm_arg(format!("-Djdk.net.hosts.file={HOSTS}"));
        }
        spec.java(java)
            .ready_when(Readiness::LogLine(STARTED_PATTERN.into()))
            .start_timeout(self.start_timeout)
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
        let line = run_on(node, &cmd).await?;
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

    fn index(&self, node: &Node) -> Result<usize, ServiceError> {
        self.nodes
            .iter()
            .position(|n| n.name() == node.name())
            .ok_or_else(|| ServiceError::Usage {
                service: "kafka".into(),
                detail: format!("{} is not a node of this service", node.name()),
            })
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
        bootstrap_of(&self.brokers())
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
        let mut p = config::render(&all[index], &all, &self.quorum, &self.security);
        p.extend(&self.overrides);
        if let Some(o) = self.node_overrides.get(&index) {
            p.extend(o);
        }
        self.apply_revision(index, &mut p);
        p
    }

    /// Runs a Kafka command-line tool (`main_class` from the kafka-tools or core jar) on the
    /// first broker and returns its stdout.
    pub async fn run_tool(
        &self,
        main_class: &str,
        args: &[String],
    ) -> Result<String, ServiceError> {
        let node = self.first_broker()?;
        self.run_tool_on(&node, main_class, args).await
    }

    /// Runs a Kafka command-line tool on `node` (any node with the install: a client node
    /// sees the cluster as clients do, e.g. while a broker is cut off).
    pub async fn run_tool_on(
        &self,
        node: &Node,
        main_class: &str,
        args: &[String],
    ) -> Result<String, ServiceError> {
        let cmd = self
            .tool_version()
            .tool(main_class)
            .args(args.iter().cloned())
            .render();
        run_on(node, &cmd).await
    }

    /// Runs an admin tool that takes `--command-config` (topics, ACLs, configs, offsets) on
    /// `node` as the `admin` super user: on a secured cluster its config and PEM files are
    /// written first (mode 0600) and removed after.
    pub async fn run_admin_tool_on(
        &self,
        node: &Node,
        main_class: &str,
        args: &[String],
        extra: &Properties,
    ) -> Result<String, ServiceError> {
        run_on(node, &self.admin_tool_command(main_class, args, extra)).await
    }

    /// [`run_admin_tool_on`](Self::run_admin_tool_on) on the first broker.
    pub async fn run_admin_tool(
        &self,
        main_class: &str,
        args: &[String],
    ) -> Result<String, ServiceError> {
        let node = self.first_broker()?;
        self.run_admin_tool_on(&node, main_class, args, &Properties::new())
            .await
    }

    fn first_broker(&self) -> Result<Node, ServiceError> {
        self.brokers()
            .into_iter()
            .next()
            .ok_or_else(|| ServiceError::Usage {
                service: "kafka".into(),
                detail: "no broker to run tools on".into(),
            })
    }

    /// The shell command of an admin tool as the admin user (see
    /// [`run_admin_tool_on`](Self::run_admin_tool_on)).
    pub(super) fn admin_tool_command(
        &self,
        main_class: &str,
        args: &[String],
        extra: &Properties,
    ) -> String {
        self.secured_tool_command(
            &self.admin_security(),
            "/tmp/ducttape-kafka-admin",
            "--command-config",
            main_class,
            args,
            extra,
        )
    }

    /// Runs a Kafka client tool (the console or verifiable producer and consumer, …) on
    /// `node` as the cluster's `client` user ([`client_security`](Self::client_security)):
    /// on a secured cluster its properties and PEM files are written to a directory of its own
    /// (mode 0600), passed with `config_option` (`--producer.config`, `--consumer.config`),
    /// and removed after; PLAINTEXT runs the tool as it is. Returns its stdout.
    ///
    /// ```no_run
    /// # async fn demo(kafka: &ducttape_services::KafkaService) -> Result<(), ducttape_services::ServiceError> {
    /// let node = kafka.brokers()[0].clone();
    /// let args: Vec<String> = ["--topic", "t", "--bootstrap-server", &kafka.bootstrap_servers(),
    ///     "--max-messages", "10"].iter().map(ToString::to_string).collect();
    /// let out = kafka
    ///     .run_client_tool_on(&node, "org.apache.kafka.tools.VerifiableProducer", &args, "--producer.config")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn run_client_tool_on(
        &self,
        node: &Node,
        main_class: &str,
        args: &[String],
        config_option: &str,
    ) -> Result<String, ServiceError> {
        run_on(
            node,
            &self.client_tool_command(main_class, args, config_option),
        )
        .await
    }

    /// The shell command of [`run_client_tool_on`](Self::run_client_tool_on), for callers
    /// that run it their own way (e.g. keeping the output of a tool that exits non-zero).
    pub fn client_tool_command(
        &self,
        main_class: &str,
        args: &[String],
        config_option: &str,
    ) -> String {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = format!("/tmp/ducttape-kafka-client-{}-{n}", std::process::id());
        self.secured_tool_command(
            &self.client_security(),
            &dir,
            config_option,
            main_class,
            args,
            &Properties::new(),
        )
    }

    /// `main_class` with `args` as `security` says: its config written under `dir` and passed
    /// with `config_option`, removed after the tool exits (its exit status kept).
    fn secured_tool_command(
        &self,
        security: &ClientSecurity,
        dir: &str,
        config_option: &str,
        main_class: &str,
        args: &[String],
        extra: &Properties,
    ) -> String {
        let file = format!("{dir}/client.properties");
        let write = security.write_script(dir, &file, extra);
        let mut tool = security.apply(
            self.tool_version()
                .tool(main_class)
                .args(args.iter().cloned()),
            dir,
        );
        if write.is_empty() {
            return tool.render();
        }
        tool = tool.args([config_option.to_string(), file]);
        format!(
            "{write}{{ {}; }}; rc=$?; rm -rf {}; exit $rc",
            tool.render(),
            quote(dir)
        )
    }

    /// Adds ACLs (as the admin super user); needs the authorizer
    /// ([`SecurityConfig::authorizer`]).
    ///
    /// ```no_run
    /// # async fn demo(kafka: &ducttape_services::KafkaService) -> Result<(), ducttape_services::ServiceError> {
    /// use ducttape_services::kafka::Acl;
    /// kafka.grant(&Acl::producer("client", "t")).await?;
    /// kafka.grant(&Acl::consumer("client", "t", "g")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn grant(&self, acls: &[Acl]) -> Result<(), ServiceError> {
        let class = if self.version.supports_zookeeper() {
            "kafka.admin.AclCommand"
        } else {
            "org.apache.kafka.tools.AclCommand"
        };
        for acl in Acl::batched(acls) {
            tracing::info!(?acl, "adding ACLs");
            let mut args = vec![
                "--bootstrap-server".to_string(),
                self.bootstrap_servers(),
                "--add".into(),
            ];
            args.extend(acl);
            self.run_admin_tool(class, &args).await?;
        }
        Ok(())
    }

    fn topic_command(&self, action: &str, args: Vec<String>) -> Vec<String> {
        topic_command_via(self.bootstrap_servers(), action, args)
    }

    /// Creates a topic; returns once every partition has a leader (with [`Control::Client`];
    /// `kafka-topics --create` with [`Control::Cli`]).
    pub async fn create_topic(&self, topic: &TopicSpec) -> Result<(), ServiceError> {
        tracing::info!(topic = %topic.name, partitions = topic.partitions, rf = topic.replication_factor, control = ?self.control, "creating topic");
        if self.control == Control::Client {
            return Ok(self.admin()?.create_topic(topic).await?);
        }
        let args = self.topic_command("--create", topic.create_args());
        self.run_admin_tool("org.apache.kafka.tools.TopicCommand", &args)
            .await
            .map(drop)
    }

    /// Creates topics: with [`Control::Client`] in one request, Kafka creating them side by
    /// side, and one check that every broker shows every partition's leader; with
    /// [`Control::Cli`] one `kafka-topics --create` after another.
    pub async fn create_topics(&self, topics: &[TopicSpec]) -> Result<(), ServiceError> {
        if self.control == Control::Client {
            let names: Vec<&str> = topics.iter().map(|t| t.name.as_str()).collect();
            tracing::info!(?names, "creating topics");
            return Ok(self.admin()?.create_topics(topics).await?);
        }
        for topic in topics {
            self.create_topic(topic).await?;
        }
        Ok(())
    }

    /// Describes a topic's partitions (as a broker sees them: any broker with
    /// [`Control::Client`], the first with [`Control::Cli`]).
    pub async fn describe_topic(&self, topic: &str) -> Result<Vec<PartitionInfo>, ServiceError> {
        if self.control == Control::Client {
            return Ok(self.admin()?.describe_topic(topic).await?);
        }
        let args = self.topic_command("--describe", vec!["--topic".into(), topic.into()]);
        let out = self
            .run_admin_tool("org.apache.kafka.tools.TopicCommand", &args)
            .await?;
        Ok(parse_describe(&out))
    }

    /// Describes a topic's partitions as only the brokers on `brokers` (all of them when
    /// empty) answer. Leaving out a broker that is cut off matters: it still answers with its
    /// stale view, and in ZooKeeper mode requests for a controller it wrongly thinks it still
    /// is hang until they time out. With [`Control::Client`] the test process asks (faults
    /// spare its traffic) and takes answers from `brokers` only; with [`Control::Cli`] the
    /// tool runs on `node`, which should be outside the fault.
    pub async fn describe_topic_from(
        &self,
        node: &Node,
        topic: &str,
        brokers: &[Node],
    ) -> Result<Vec<PartitionInfo>, ServiceError> {
        if self.control == Control::Client {
            let brokers = if brokers.is_empty() {
                self.brokers()
            } else {
                brokers.to_vec()
            };
            // The first of them that answers; each is asked alone.
            let admin = self.admin()?.timeout(Duration::from_secs(8));
            let mut last = None;
            for broker in &brokers {
                let (id, address) = self.broker_address(broker)?;
                match admin.describe_topic_at(id, &address, topic).await {
                    Ok(parts) => return Ok(parts),
                    Err(e) => last = Some(e),
                }
            }
            return Err(match last {
                Some(e) => e.into(),
                None => ServiceError::Usage {
                    service: "kafka".into(),
                    detail: "no broker to describe the topic".into(),
                },
            });
        }
        let bootstrap = if brokers.is_empty() {
            self.bootstrap_servers()
        } else {
            bootstrap_of(brokers)
        };
        let timeouts: Properties = [
            ("request.timeout.ms", "3000"),
            ("default.api.timeout.ms", "8000"),
        ]
        .into_iter()
        .collect();
        let args = topic_command_via(
            bootstrap,
            "--describe",
            vec!["--topic".into(), topic.into()],
        );
        let out = self
            .run_admin_tool_on(
                node,
                "org.apache.kafka.tools.TopicCommand",
                &args,
                &timeouts,
            )
            .await?;
        Ok(parse_describe(&out))
    }

    /// Whether `topic` exists, as the first broker answers. Only Kafka's own "does not exist"
    /// answer means no; a failing command, a broker that does not answer or describe output
    /// without partition lines is an error, never taken for an absent topic.
    pub async fn topic_exists(&self, topic: &str) -> Result<bool, ServiceError> {
        if self.control == Control::Client {
            return Ok(self.admin()?.topic_exists(topic).await?);
        }
        let node = self.first_broker()?;
        let args = self.topic_command("--describe", vec!["--topic".into(), topic.into()]);
        let describe = self.admin_tool_command(
            "org.apache.kafka.tools.TopicCommand",
            &args,
            &Properties::new(),
        );
        // The tool's refusal is told apart on the node; any other failure stays a failure,
        // with its output. 3.9's tool names the topic as `'Optional[<topic>]'`.
        let script = format!(
            "out=$({describe} 2>&1); rc=$?; \
             if [ $rc -eq 0 ]; then printf '%s\\n' \"$out\"; \
             elif printf '%s' \"$out\" | grep -qF -e {absent} -e {absent_39}; then echo {ABSENT}; \
             else printf '%s\\n' \"$out\" >&2; exit $rc; fi",
            absent = quote(&format!("Topic '{topic}' does not exist")),
            absent_39 = quote(&format!("Topic 'Optional[{topic}]' does not exist")),
        );
        let out = node
            .account()
            .with_timeout(Duration::from_secs(180))
            .ssh_output(&script)
            .await
            .ctx("kafka")?;
        topic_presence(&out).map_err(|detail| ServiceError::Usage {
            service: "kafka".into(),
            detail: format!("cannot tell whether topic {topic} exists: {detail}"),
        })
    }

    /// Deletes a topic (Kafka accepted the deletion; it completes in the background:
    /// [`KafkaService::topic_exists`] tells when it is gone).
    pub async fn delete_topic(&self, topic: &str) -> Result<(), ServiceError> {
        if self.control == Control::Client {
            return Ok(self.admin()?.delete_topic(topic).await?);
        }
        let args = self.topic_command("--delete", vec!["--topic".into(), topic.into()]);
        self.run_admin_tool("org.apache.kafka.tools.TopicCommand", &args)
            .await
            .map(drop)
    }

    /// The node leading `partition` of `topic`, if it has a leader.
    pub async fn leader(&self, topic: &str, partition: u32) -> Result<Option<Node>, ServiceError> {
        let parts = self.describe_topic(topic).await?;
        Ok(parts
            .iter()
            .find(|p| p.partition == partition)
            .and_then(|p| p.leader)
            .and_then(|id| self.node_by_id(id).cloned()))
    }

    /// The broker ids registered with the cluster (alive), as its metadata lists them.
    pub async fn registered_brokers(&self) -> Result<Vec<BrokerInfo>, ServiceError> {
        Ok(self.admin()?.brokers().await?)
    }

    /// The controller id the metadata gives (see [`KafkaAdmin::controller`]).
    pub async fn controller(&self) -> Result<Option<i32>, ServiceError> {
        Ok(self.admin()?.controller().await?)
    }

    /// Consumer group `group`'s state and members.
    pub async fn group(&self, group: &str) -> Result<GroupState, ServiceError> {
        Ok(self.admin()?.group(group).await?)
    }

    /// The offsets `group` committed on each partition of `topic` (`None`: no commit).
    pub async fn committed_offsets(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<BTreeMap<u32, Option<i64>>, ServiceError> {
        Ok(self.admin()?.committed_offsets(group, topic).await?)
    }

    /// The end offset (high watermark) of each partition of `topic`, as its leader answers a
    /// consumer: one past the last record a consumer can read ([`KafkaAdmin::end_offsets`]).
    pub async fn end_offsets(&self, topic: &str) -> Result<BTreeMap<u32, i64>, ServiceError> {
        Ok(self.admin()?.end_offsets(topic).await?)
    }

    /// Restarts `node`: SIGTERM and a controlled shutdown when `clean`, SIGKILL otherwise.
    /// Returns how the broker ended: [`StopOutcome::Exited`] when it shut down on SIGTERM,
    /// [`StopOutcome::Killed`] when it was SIGKILLed (at once, or after the grace when its
    /// controlled shutdown did not finish) — a clean bounce is clean only when `Exited`.
    pub async fn bounce(&self, node: &Node, clean: bool) -> Result<StopOutcome, ServiceError> {
        crate::service::ServiceExt::restart_node(self, node, clean).await
    }

    /// In ZooKeeper mode, before a restart, waits until `node`'s old registration
    /// (`/brokers/ids/<id>`) is gone: after a SIGKILL it lives until its ZooKeeper session
    /// expires, and a broker started meanwhile exits with `NodeExistsException`.
    async fn wait_unregistered(&self, node: &Node) -> Result<(), ServiceError> {
        let Some(zk) = &self.zookeeper else {
            return Ok(());
        };
        let path = format!("/brokers/ids/{}", self.id_of(node)?);
        let deadline = tokio::time::Instant::now() + self.start_timeout;
        loop {
            // ZooKeeper may itself be starting (run_parallel): errors mean "not known yet".
            let last = match zk.ephemeral_paths().await {
                Ok(paths) if !paths.contains(&path) => return Ok(()),
                Ok(_) => format!("{path} is still registered in ZooKeeper"),
                Err(e) => e.to_string(),
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(ServiceError::Timeout {
                    service: "kafka".into(),
                    node: node.name().to_string(),
                    after: self.start_timeout,
                    detail: last,
                });
            }
            tracing::debug!(node = node.name(), %path, %last, "waiting before starting the broker");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
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

    /// Waits until `node`'s broker lists itself in its own metadata: registered and (KRaft)
    /// unfenced, so clients can use it. "Kafka Server started" comes before that.
    async fn wait_registered(&self, node: &Node, timeout: Duration) -> Result<(), ServiceError> {
        let (id, address) = self.broker_address(node)?;
        let admin = self.admin()?.timeout(Duration::from_secs(5));
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let last = match admin.broker_ids_at(id, &address).await {
                Ok(ids) if ids.contains(&id) => return Ok(()),
                Ok(ids) => format!("its metadata lists brokers {ids:?}"),
                Err(e) => e.to_string(),
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(ServiceError::Timeout {
                    service: "kafka".into(),
                    node: node.name().to_string(),
                    after: timeout,
                    detail: format!("broker {id} is not registered: {last}"),
                });
            }
            tracing::debug!(node = node.name(), id, %last, "waiting for the broker's registration");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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
        if self.security.needs_scram_credentials()
            && self.roles[self.index(node)?].1.is_controller()
        {
            args.extend(self.security.storage_scram_args());
        }
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
        if self.roles[index].1.is_broker() && self.control == Control::Client {
            let left = self.start_timeout.saturating_sub(started.elapsed());
            self.wait_registered(node, left).await?;
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
        ]
    }
}

/// Runs a tool's shell command on `node` (3 minutes at most) and returns its stdout.
async fn run_on(node: &Node, cmd: &str) -> Result<String, ServiceError> {
    node.account()
        .with_timeout(Duration::from_secs(180))
        .ssh_output(cmd)
        .await
        .ctx("kafka")
}

/// `host:9092,…` of `brokers`.
fn bootstrap_of(brokers: &[Node]) -> String {
    brokers
        .iter()
        .map(|n| format!("{}:{BROKER_PORT}", n.address()))
        .collect::<Vec<_>>()
        .join(",")
}

/// `kafka-topics` arguments: `--bootstrap-server <bootstrap> <action> <args…>`.
fn topic_command_via(bootstrap: String, action: &str, mut args: Vec<String>) -> Vec<String> {
    let mut all = vec![
        "--bootstrap-server".to_string(),
        bootstrap,
        action.to_string(),
    ];
    all.append(&mut args);
    all
}

/// What [`KafkaService::topic_exists`]'s script prints for an absent topic.
const ABSENT: &str = "DUCTTAPE-TOPIC-ABSENT";

/// Reads [`KafkaService::topic_exists`]'s output: the absent marker, or describe output with
/// at least one partition line.
fn topic_presence(out: &str) -> Result<bool, String> {
    if out.trim() == ABSENT {
        Ok(false)
    } else if parse_describe(out).is_empty() {
        Err(format!("no partition lines in the describe output:\n{out}"))
    } else {
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_kafkas_answer_makes_a_topic_absent() {
        assert_eq!(topic_presence("DUCTTAPE-TOPIC-ABSENT\n"), Ok(false));
        let described = "Topic: t\tTopicId: x\tPartitionCount: 1\n\tTopic: t\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\n";
        assert_eq!(topic_presence(described), Ok(true));
        // A changed output format is an error, not an absent topic.
        assert!(topic_presence("Topic: t\tPartitionCount: 1\n").is_err());
        assert!(topic_presence("").is_err());
    }

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
