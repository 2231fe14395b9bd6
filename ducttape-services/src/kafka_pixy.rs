//! [`KafkaPixyService`]: kafka-pixy, Mailgun's HTTP (and gRPC) proxy for Kafka, and
//! [`PixyClient`], a typed client of its HTTP API.
//!
//! kafka-pixy is the REST proxy these machines can install: `build.sh` builds v0.18.0 from the
//! Go module proxy into `/opt/kafka-pixy-0.18.0/bin/kafka-pixy` (Confluent's kafka-rest and
//! Strimzi's bridge are not published where these machines reach). What to know about it:
//! - it keeps its consumer groups in **ZooKeeper** (under a chroot, `/kafka-pixy` here), so it
//!   needs a [`ZookeeperService`] even in front of a KRaft cluster;
//! - its Kafka client (sarama) speaks the protocol up to Kafka 2.3: with Kafka 3.9 (ZooKeeper
//!   and KRaft modes) it produces and consumes; with Kafka 4.x only producing works, because
//!   Kafka 4 removed the old request versions its consumer needs;
//! - a new consumer group starts at the newest offset: [`PixyClient::set_offsets`] to 0 first
//!   to read a topic from its beginning;
//! - it can hang on SIGTERM while it cannot commit offsets, so a clean stop escalates to
//!   SIGKILL after [`KafkaPixyBuilder::stop_timeout`];
//! - towards Kafka it speaks PLAINTEXT, SSL (a CA, a client certificate) and SASL with the
//!   **PLAIN** mechanism only, over either (v0.18.0's `config/config.go`: `kafka.tls`,
//!   `kafka.ca_certificate_file`, `kafka.client_certificate_file`/`client_key_file`,
//!   `kafka.insecure`, and `net.sasl` with `enable`, `handshake`, `user`, `password`, no
//!   mechanism). It follows the cluster's client security by itself
//!   ([`KafkaService::client_security`]); [`build`](KafkaPixyBuilder::build) refuses a SCRAM
//!   listener, which it could never pass. Its own HTTP API stays plain HTTP.
//!
//! ```no_run
//! # async fn demo(ctx: &ducttape_core::TestContext,
//! #     kafka: std::sync::Arc<ducttape_services::KafkaService>,
//! #     zk: std::sync::Arc<ducttape_services::ZookeeperService>) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use ducttape_services::kafka_pixy::{Partitioner, RequiredAcks, RestRecord};
//! use ducttape_services::{KafkaPixyService, Service, ServiceExt};
//! let pixy = KafkaPixyService::builder(ctx.lease(1).await?)
//!     .kafka(&kafka)
//!     .zookeeper(&zk)
//!     .required_acks(RequiredAcks::WaitForAll)
//!     .partitioner(Partitioner::RoundRobin)
//!     .long_polling_timeout(Duration::from_secs(2))
//!     .build(ctx)?;
//! pixy.start().await?;                                   // ready when GET /_ping answers
//! let client = pixy.client(&pixy.nodes()[0])?;
//! let at = client.produce("t", &RestRecord::new("v").key("k").header("Trace-Id", "1")).await?;
//! client.set_offsets("t", "g", &[(at.partition, 0)]).await?;
//! let first = client.consume("t", "g").await?;          // None after the long-poll timeout
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use ducttape_core::cluster::Node;
use ducttape_core::context::TestContext;
use ducttape_core::remote::quote;
use serde::{Deserialize, Serialize, Serializer};

use crate::error::ServiceError;
use crate::http_client::{decode_json, percent_encode, HttpClient};
use crate::install::Install;
use crate::kafka::security::{ClientSecurity, SaslMechanism};
use crate::kafka::KafkaService;
use crate::process::ProcessSpec;
use crate::readiness::Readiness;
use crate::rest_proxy::{RestError, RestProxy};
use crate::service::{register, LogFile, Service};
use crate::zookeeper::ZookeeperService;

/// Where `build.sh` installs kafka-pixy (the binary is `bin/kafka-pixy` inside).
pub const DEFAULT_HOME: &str = "/opt/kafka-pixy-0.18.0";
/// The port of its HTTP API.
pub const HTTP_PORT: u16 = 19092;
/// The port of its gRPC API.
pub const GRPC_PORT: u16 = 19091;

const NAME: &str = "kafka-pixy";
const ROOT: &str = "/mnt/kafka-pixy";
const CONFIG: &str = "/mnt/kafka-pixy/kafka-pixy.yaml";
/// Where the CA certificate and the client's key and chain go when Kafka speaks TLS.
const TLS_DIR: &str = "/mnt/kafka-pixy/tls";
const LOG: &str = "/mnt/kafka-pixy/kafka-pixy.log";
/// What pixy logs once its ZooKeeper session is established.
const ZK_SESSION_PATTERN: &str = r"authenticated: id=\d+.*category=zk";
/// The name of the one cluster in the config; API calls without a cluster use it.
const CLUSTER: &str = "default";

/// How many replicas must acknowledge a produce (`producer.required_acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequiredAcks {
    /// `acks=0`: no answer from the broker.
    NoResponse,
    /// `acks=1`: the leader has it.
    WaitForLocal,
    /// `acks=all`: every in-sync replica has it (pixy's default).
    WaitForAll,
}

/// How pixy picks a partition (`producer.partitioner`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Partitioner {
    /// FNV-1a hash of the key; a random partition without a key (pixy's default).
    Hash,
    /// A random partition.
    Random,
    /// Partitions in turn.
    RoundRobin,
}

/// Compression of produced batches (`producer.compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Compression {
    /// None (the default here; pixy's own default is snappy).
    None,
    /// gzip.
    Gzip,
    /// snappy.
    Snappy,
    /// lz4.
    Lz4,
}

/// The typed options rendered into pixy's YAML config.
#[derive(Debug, Clone)]
struct Options {
    kafka_protocol: String,
    chroot: String,
    zk_session_timeout: Duration,
    required_acks: RequiredAcks,
    partitioner: Partitioner,
    compression: Compression,
    flush_frequency: Duration,
    flush_bytes: u64,
    max_message_bytes: u64,
    retry_max: u32,
    retry_backoff: Duration,
    producer_shutdown_timeout: Duration,
    long_polling_timeout: Duration,
    ack_timeout: Duration,
    offsets_commit_interval: Duration,
    subscription_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            // The newest protocol its client (sarama 1.23) knows.
            kafka_protocol: "2.3.0".into(),
            chroot: "/kafka-pixy".into(),
            zk_session_timeout: Duration::from_secs(15),
            required_acks: RequiredAcks::WaitForAll,
            partitioner: Partitioner::Hash,
            compression: Compression::None,
            flush_frequency: Duration::from_millis(500),
            flush_bytes: 1_048_576,
            max_message_bytes: 1_000_000,
            retry_max: 6,
            retry_backoff: Duration::from_secs(1),
            // Shorter than the stop grace, so a clean stop has time to end by itself.
            producer_shutdown_timeout: Duration::from_secs(5),
            long_polling_timeout: Duration::from_secs(3),
            ack_timeout: Duration::from_secs(300),
            offsets_commit_interval: Duration::from_millis(500),
            subscription_timeout: Duration::from_secs(15),
        }
    }
}

/// How to build a [`KafkaPixyService`]: one pixy per node, all in front of the same Kafka and
/// ZooKeeper. See the [module docs](self) for an example.
#[must_use]
pub struct KafkaPixyBuilder {
    nodes: Vec<Node>,
    kafka: Option<Arc<KafkaService>>,
    zookeeper: Option<Arc<ZookeeperService>>,
    seed_brokers: Option<Vec<String>>,
    security: Option<ClientSecurity>,
    options: Options,
    home: String,
    start_timeout: Duration,
    stop_timeout: Duration,
}

impl KafkaPixyBuilder {
    /// How pixy connects to Kafka (default: the [`kafka`](Self::kafka) cluster's
    /// [`client_security`](KafkaService::client_security), PLAINTEXT without one). SASL must
    /// be PLAIN (see the module docs); hostname verification off becomes pixy's `insecure`,
    /// which in Go's TLS skips the whole certificate check, not only the name.
    pub fn security(mut self, security: ClientSecurity) -> Self {
        self.security = Some(security);
        self
    }

    /// The Kafka cluster to proxy (its brokers are the seed peers).
    pub fn kafka(mut self, kafka: &Arc<KafkaService>) -> Self {
        self.kafka = Some(kafka.clone());
        self
    }

    /// Seed brokers given as `host:port` instead of a [`KafkaService`] (e.g. a broker that
    /// does not run, to see pixy fail).
    pub fn seed_brokers<I: IntoIterator<Item = S>, S: Into<String>>(mut self, brokers: I) -> Self {
        self.seed_brokers = Some(brokers.into_iter().map(Into::into).collect());
        self
    }

    /// The ZooKeeper ensemble that keeps pixy's consumer groups (required; with KRaft, one
    /// started for pixy alone).
    pub fn zookeeper(mut self, zk: &Arc<ZookeeperService>) -> Self {
        self.zookeeper = Some(zk.clone());
        self
    }

    /// The ZooKeeper chroot of its consumer groups (default `/kafka-pixy`).
    pub fn chroot(mut self, chroot: &str) -> Self {
        self.options.chroot = chroot.to_string();
        self
    }

    /// The Kafka protocol version its client speaks (`kafka.version`; default `2.3.0`, the
    /// newest it knows).
    pub fn kafka_protocol(mut self, version: &str) -> Self {
        self.options.kafka_protocol = version.to_string();
        self
    }

    /// Acknowledgements a produce waits for (default [`RequiredAcks::WaitForAll`]).
    pub fn required_acks(mut self, acks: RequiredAcks) -> Self {
        self.options.required_acks = acks;
        self
    }

    /// The partitioner (default [`Partitioner::Hash`]).
    pub fn partitioner(mut self, partitioner: Partitioner) -> Self {
        self.options.partitioner = partitioner;
        self
    }

    /// Batch compression (default [`Compression::None`]).
    pub fn compression(mut self, compression: Compression) -> Self {
        self.options.compression = compression;
        self
    }

    /// How often buffered records are flushed to Kafka (`producer.flush_frequency`, default
    /// 500 ms).
    pub fn flush_frequency(mut self, every: Duration) -> Self {
        self.options.flush_frequency = every;
        self
    }

    /// Bytes that trigger a flush (`producer.flush_bytes`, default 1 MiB).
    pub fn flush_bytes(mut self, bytes: u64) -> Self {
        self.options.flush_bytes = bytes;
        self
    }

    /// The largest record accepted (`producer.max_message_bytes`, default 1,000,000).
    pub fn max_message_bytes(mut self, bytes: u64) -> Self {
        self.options.max_message_bytes = bytes;
        self
    }

    /// Produce retries and the wait between them (defaults 6 and 1 s).
    pub fn producer_retries(mut self, max: u32, backoff: Duration) -> Self {
        self.options.retry_max = max;
        self.options.retry_backoff = backoff;
        self
    }

    /// How long a consume request waits for a record before answering 408
    /// (`consumer.long_polling_timeout`, default 3 s).
    pub fn long_polling_timeout(mut self, timeout: Duration) -> Self {
        self.options.long_polling_timeout = timeout;
        self
    }

    /// How often consumed offsets are committed (`consumer.offsets_commit_interval`, default
    /// 500 ms).
    pub fn offsets_commit_interval(mut self, every: Duration) -> Self {
        self.options.offsets_commit_interval = every;
        self
    }

    /// Where kafka-pixy is installed on the nodes (default [`DEFAULT_HOME`]).
    pub fn home(mut self, home: &str) -> Self {
        self.home = home.to_string();
        self
    }

    /// How long a start may take until `/_ping` answers (default 60 s).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// How long a clean stop waits after SIGTERM before SIGKILL (default 15 s).
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// Checks the setup and registers the service with `ctx` (teardown stops it, collects
    /// its log and config, and cleans its nodes).
    pub fn build(self, ctx: &TestContext) -> Result<Arc<KafkaPixyService>, ServiceError> {
        let usage = |detail: &str| ServiceError::Usage {
            service: NAME.into(),
            detail: detail.into(),
        };
        if self.nodes.is_empty() {
            return Err(usage("no nodes"));
        }
        let seed_brokers = match (self.seed_brokers, &self.kafka) {
            (Some(b), _) => b,
            (None, Some(kafka)) => kafka
                .bootstrap_servers()
                .split(',')
                .map(str::to_string)
                .collect(),
            (None, None) => {
                return Err(usage("no Kafka: call .kafka(&kafka) or .seed_brokers(..)"))
            }
        };
        let zookeeper = self.zookeeper.ok_or_else(|| {
            usage("no ZooKeeper: pixy keeps its consumer groups there; call .zookeeper(&zk)")
        })?;
        let security = match (self.security, &self.kafka) {
            (Some(s), _) => s,
            (None, Some(kafka)) => kafka.client_security(),
            (None, None) => ClientSecurity::plaintext(),
        };
        let protocol = security.protocol();
        if protocol.uses_sasl() && security.mechanism() != SaslMechanism::Plain {
            return Err(usage(&format!(
                "Kafka's client listener is {protocol} with {}: kafka-pixy 0.18.0 speaks SASL \
                 with PLAIN only (its config's net.sasl has a user and a password, no \
                 mechanism), so the brokers would refuse it; give pixy a PLAIN, SSL or \
                 PLAINTEXT listener",
                security.mechanism()
            )));
        }
        let pixy = Arc::new(KafkaPixyService {
            nodes: self.nodes,
            seed_brokers,
            security,
            zk_peers: zookeeper
                .connect_string()
                .split(',')
                .map(str::to_string)
                .collect(),
            options: self.options,
            home: self.home,
            start_timeout: self.start_timeout,
            stop_timeout: self.stop_timeout,
        });
        register(ctx, &pixy);
        Ok(pixy)
    }
}

/// kafka-pixy on leased nodes: one proxy per node, each serving HTTP on [`HTTP_PORT`].
pub struct KafkaPixyService {
    nodes: Vec<Node>,
    seed_brokers: Vec<String>,
    security: ClientSecurity,
    zk_peers: Vec<String>,
    options: Options,
    home: String,
    start_timeout: Duration,
    stop_timeout: Duration,
}

impl KafkaPixyService {
    /// Starts building a service on `nodes`.
    pub fn builder(nodes: Vec<Node>) -> KafkaPixyBuilder {
        KafkaPixyBuilder {
            nodes,
            kafka: None,
            zookeeper: None,
            seed_brokers: None,
            security: None,
            options: Options::default(),
            home: DEFAULT_HOME.into(),
            start_timeout: Duration::from_secs(60),
            stop_timeout: Duration::from_secs(15),
        }
    }

    fn binary(&self) -> String {
        format!("{}/bin/kafka-pixy", self.home)
    }

    /// pixy's YAML config for `node` (every node gets the same one but for its addresses).
    pub fn config_yaml(&self, node: &Node) -> Result<String, ServiceError> {
        self.render_config(node.address())
    }

    fn render_config(&self, address: &str) -> Result<String, ServiceError> {
        let o = &self.options;
        let c = &self.security;
        let tls = c.protocol().uses_tls();
        let proxy = ProxyConfig {
            kafka: KafkaSection {
                seed_peers: self.seed_brokers.clone(),
                version: o.kafka_protocol.clone(),
                tls,
                ca_certificate_file: (tls && c.ca_pem().is_some())
                    .then(|| format!("{TLS_DIR}/ca.pem")),
                // Go's X509KeyPair takes the certificates and the key from the same file.
                client_certificate_file: (tls && c.certificate().is_some())
                    .then(|| format!("{TLS_DIR}/keystore.pem")),
                client_key_file: (tls && c.certificate().is_some())
                    .then(|| format!("{TLS_DIR}/keystore.pem")),
                insecure: tls && !c.verifies_hostnames(),
            },
            net: c.protocol().uses_sasl().then(|| NetSection {
                sasl: SaslSection {
                    enable: true,
                    // Kafka's SaslHandshake first; without it sarama sends bare tokens.
                    handshake: true,
                    user: c.user().unwrap_or_default().to_string(),
                    password: c.password().unwrap_or_default().to_string(),
                },
            }),
            zoo_keeper: ZooKeeperSection {
                seed_peers: self.zk_peers.clone(),
                chroot: o.chroot.clone(),
                session_timeout: GoDuration(o.zk_session_timeout),
            },
            producer: ProducerSection {
                required_acks: o.required_acks,
                partitioner: o.partitioner,
                compression: o.compression,
                flush_frequency: GoDuration(o.flush_frequency),
                flush_bytes: o.flush_bytes,
                max_message_bytes: o.max_message_bytes,
                retry_max: o.retry_max,
                retry_backoff: GoDuration(o.retry_backoff),
                shutdown_timeout: GoDuration(o.producer_shutdown_timeout),
            },
            consumer: ConsumerSection {
                long_polling_timeout: GoDuration(o.long_polling_timeout),
                ack_timeout: GoDuration(o.ack_timeout),
                offsets_commit_interval: GoDuration(o.offsets_commit_interval),
                subscription_timeout: GoDuration(o.subscription_timeout),
            },
        };
        let app = AppConfig {
            tcp_addr: format!("{address}:{HTTP_PORT}"),
            grpc_addr: format!("{address}:{GRPC_PORT}"),
            proxies: BTreeMap::from([(CLUSTER, proxy)]),
            logging: vec![Logger {
                name: "console",
                severity: "info",
            }],
        };
        serde_norway::to_string(&app).map_err(|e| ServiceError::Usage {
            service: NAME.into(),
            detail: format!("cannot render the config: {e}"),
        })
    }

    /// A client of the proxy on `node`; its request timeout allows for the long poll.
    pub fn client(&self, node: &Node) -> Result<PixyClient, RestError> {
        PixyClient::new(
            self.base_url(node),
            self.options.long_polling_timeout + Duration::from_secs(30),
        )
    }

    /// The process on any node, for stopping, cleaning and finding it. pixy can hang on
    /// SIGTERM when it cannot commit offsets: the stop escalates to SIGKILL after the grace.
    fn process(&self) -> ProcessSpec {
        ProcessSpec::new(NAME, ROOT).stop_grace(self.stop_timeout)
    }

    /// pixy on `node`: its config, the binary, and ready once the HTTP API answers and the
    /// ZooKeeper session is up. pixy serves HTTP before it has reached ZooKeeper, and without
    /// ZooKeeper it keeps retrying quietly; its consumer needs that session, so a start
    /// without it is no start.
    fn spec(&self, node: &Node) -> Result<ProcessSpec, ServiceError> {
        let binary = self.binary();
        let mut spec = self
            .process()
            .requires(Install::file("kafka-pixy", &binary));
        if self.security.protocol().uses_tls() {
            if let Some(ca) = self.security.ca_pem() {
                spec = spec.private_file(&format!("{TLS_DIR}/ca.pem"), ca);
            }
            if let Some(cert) = self.security.certificate() {
                spec = spec.private_file(&format!("{TLS_DIR}/keystore.pem"), cert.keystore_pem());
            }
        }
        // A SASL password may be in it.
        Ok(spec
            .private_file(CONFIG, self.config_yaml(node)?)
            .command(format!("{} --config {}", quote(&binary), quote(CONFIG)))
            .ready_when(Readiness::Http {
                port: HTTP_PORT,
                path: "/_ping".into(),
            })
            .ready_when(Readiness::LogLine(ZK_SESSION_PATTERN.into()))
            .start_timeout(self.start_timeout))
    }
}

impl RestProxy for KafkaPixyService {
    fn base_url(&self, node: &Node) -> String {
        format!("http://{}:{HTTP_PORT}", node.address())
    }
}

#[async_trait]
impl Service for KafkaPixyService {
    fn name(&self) -> &str {
        NAME
    }

    fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    async fn start_node(&self, node: &Node) -> Result<(), ServiceError> {
        self.spec(node)?.start(node).await?;
        tracing::info!(node = node.name(), url = %self.base_url(node), "kafka-pixy ready");
        Ok(())
    }

    /// Stop, clean and pids follow from the declared process.
    fn process_spec(&self, _: &Node) -> Option<ProcessSpec> {
        Some(self.process())
    }

    fn logs(&self) -> Vec<LogFile> {
        vec![
            LogFile::always("kafka-pixy.log", LOG),
            LogFile::always("kafka-pixy.yaml", CONFIG),
        ]
    }
}

// ---- pixy's config file (see default.yaml in the install for every key) ----

/// A duration in Go's `time.ParseDuration` syntax (`500ms`, `15s`).
#[derive(Debug, Clone, Copy)]
struct GoDuration(Duration);

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&go_duration(self.0))
    }
}

fn go_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}ns", d.as_nanos())
    }
}

#[derive(Serialize)]
struct AppConfig {
    tcp_addr: String,
    grpc_addr: String,
    proxies: BTreeMap<&'static str, ProxyConfig>,
    logging: Vec<Logger>,
}

#[derive(Serialize)]
struct Logger {
    name: &'static str,
    severity: &'static str,
}

#[derive(Serialize)]
struct ProxyConfig {
    kafka: KafkaSection,
    #[serde(skip_serializing_if = "Option::is_none")]
    net: Option<NetSection>,
    zoo_keeper: ZooKeeperSection,
    producer: ProducerSection,
    consumer: ConsumerSection,
}

#[derive(Serialize)]
struct KafkaSection {
    seed_peers: Vec<String>,
    version: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca_certificate_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_certificate_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_key_file: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    insecure: bool,
}

/// `net`: only its SASL part (the timeouts keep pixy's defaults).
#[derive(Serialize)]
struct NetSection {
    sasl: SaslSection,
}

#[derive(Serialize)]
struct SaslSection {
    enable: bool,
    handshake: bool,
    user: String,
    password: String,
}

#[derive(Serialize)]
struct ZooKeeperSection {
    seed_peers: Vec<String>,
    chroot: String,
    session_timeout: GoDuration,
}

#[derive(Serialize)]
struct ProducerSection {
    required_acks: RequiredAcks,
    partitioner: Partitioner,
    compression: Compression,
    flush_frequency: GoDuration,
    flush_bytes: u64,
    max_message_bytes: u64,
    retry_max: u32,
    retry_backoff: GoDuration,
    shutdown_timeout: GoDuration,
}

#[derive(Serialize)]
struct ConsumerSection {
    long_polling_timeout: GoDuration,
    ack_timeout: GoDuration,
    offsets_commit_interval: GoDuration,
    subscription_timeout: GoDuration,
}

// ---- the HTTP client ----

/// A record to produce through the proxy.
///
/// ```
/// use ducttape_services::kafka_pixy::RestRecord;
/// let r = RestRecord::new(b"\x00value".to_vec()).key("k1").header("Trace-Id", "42");
/// assert_eq!(r.key.as_deref(), Some(&b"k1"[..]));
/// assert_eq!(r.headers, [("Trace-Id".to_string(), b"42".to_vec())]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestRecord {
    /// The key (`None`: no key).
    pub key: Option<Vec<u8>>,
    /// The value.
    pub value: Vec<u8>,
    /// Headers, in order. pixy (Go's HTTP server) canonicalizes their names: `trace-id`
    /// reaches Kafka as `Trace-Id`.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl RestRecord {
    /// A record with this value, no key and no headers.
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        Self {
            key: None,
            value: value.into(),
            headers: Vec::new(),
        }
    }

    /// Sets the key.
    #[must_use]
    pub fn key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// Where a synchronous produce landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Produced {
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
}

/// A record read through the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The key (`None`: no key).
    pub key: Option<Vec<u8>>,
    /// The value (`None`: a null value).
    pub value: Option<Vec<u8>>,
    /// The headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// A consumer group's position in one partition, as pixy reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GroupOffset {
    /// The partition.
    pub partition: i32,
    /// The oldest offset still in the partition.
    pub begin: i64,
    /// The offset the next record will get.
    pub end: i64,
    /// The group's committed offset (`-1`: none yet).
    pub offset: i64,
    /// `end - offset`, when the group has an offset.
    #[serde(default)]
    pub lag: i64,
}

#[derive(Deserialize)]
struct ConsumedJson {
    partition: i32,
    offset: i64,
    key: Option<String>,
    value: Option<String>,
    #[serde(default)]
    headers: Vec<HeaderJson>,
}

#[derive(Deserialize)]
struct HeaderJson {
    key: String,
    value: Option<String>,
}

#[derive(Serialize)]
struct SetOffsetJson {
    partition: i32,
    offset: i64,
}

/// The path and query of pixy's produce request for `topic`: `?sync` waits for Kafka's
/// acknowledgement, `key` is percent-encoded byte for byte. [`PixyClient`] and the REST perf
/// client (which builds its requests once and reuses them) both build it here.
///
/// ```
/// use ducttape_services::kafka_pixy::produce_path;
/// assert_eq!(produce_path("t", true, Some(b"k 1")), "/topics/t/messages?sync&key=k%201");
/// assert_eq!(produce_path("t", false, None), "/topics/t/messages");
/// ```
pub fn produce_path(topic: &str, sync: bool, key: Option<&[u8]>) -> String {
    let mut path = format!("/topics/{}/messages", percent_encode(topic.as_bytes()));
    let mut sep = '?';
    if sync {
        path.push_str("?sync");
        sep = '&';
    }
    if let Some(key) = key {
        path.push(sep);
        path.push_str("key=");
        path.push_str(&percent_encode(key));
    }
    path
}

/// The path and query of pixy's consume request: the next record of `topic` for `group`.
///
/// ```
/// use ducttape_services::kafka_pixy::consume_path;
/// assert_eq!(consume_path("t", "g/1"), "/topics/t/messages?group=g%2F1");
/// ```
pub fn consume_path(topic: &str, group: &str) -> String {
    format!(
        "/topics/{}/messages?group={}",
        percent_encode(topic.as_bytes()),
        percent_encode(group.as_bytes())
    )
}

/// A typed client of kafka-pixy's HTTP API. Make one per test: its connection pool belongs
/// to the tokio runtime it is used on.
///
/// ```no_run
/// # async fn demo() -> Result<(), ducttape_services::RestError> {
/// use std::time::Duration;
/// use ducttape_services::kafka_pixy::{PixyClient, RestRecord};
/// let client = PixyClient::new("http://10.223.0.4:19092", Duration::from_secs(30))?;
/// client.ping().await?;
/// let at = client.produce("t", &RestRecord::new("hello").key("k")).await?;
/// println!("landed at {}-{}@{}", "t", at.partition, at.offset);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PixyClient {
    client: HttpClient,
}

impl PixyClient {
    /// A client of the proxy at `base_url` (`http://host:port`); `timeout` bounds each
    /// request (make it longer than the proxy's long-poll timeout).
    pub fn new(base_url: impl Into<String>, timeout: Duration) -> Result<Self, RestError> {
        Ok(Self {
            client: HttpClient::new(base_url, timeout)?,
        })
    }

    /// The proxy's base URL.
    pub fn base_url(&self) -> &str {
        self.client.base()
    }

    /// `GET /_ping`: the proxy answers.
    pub async fn ping(&self) -> Result<(), RestError> {
        let url = format!("{}/_ping", self.client.base());
        self.client
            .send("GET", &url, self.client.http().get(&url))
            .await
            .map(drop)
    }

    /// `POST /topics/<topic>/messages?key=..&sync`: produces one record and waits for Kafka's
    /// acknowledgement.
    pub async fn produce(&self, topic: &str, record: &RestRecord) -> Result<Produced, RestError> {
        let (url, body) = self.post_record(topic, record, true).await?;
        decode_json("POST", &url, &body)
    }

    /// `POST /topics/<topic>/messages?key=..`: hands one record to the proxy, which answers
    /// once it has queued it, before Kafka acknowledges it (pixy's asynchronous produce).
    pub async fn produce_async(&self, topic: &str, record: &RestRecord) -> Result<(), RestError> {
        self.post_record(topic, record, false).await.map(drop)
    }

    /// Posts `record`; the URL and the answer's body.
    async fn post_record(
        &self,
        topic: &str,
        record: &RestRecord,
        sync: bool,
    ) -> Result<(String, Vec<u8>), RestError> {
        let url = format!(
            "{}{}",
            self.client.base(),
            produce_path(topic, sync, record.key.as_deref())
        );
        let mut request = self
            .client
            .http()
            .post(&url)
            .header("Content-Type", "text/plain")
            .body(record.value.clone());
        for (name, value) in &record.headers {
            request = request.header(
                format!("X-Kafka-{name}"),
                base64::engine::general_purpose::STANDARD.encode(value),
            );
        }
        let body = self.client.send("POST", &url, request).await?;
        Ok((url, body))
    }

    /// `GET /topics/<topic>/messages?group=<group>`: the next record for the group,
    /// acknowledged at once; `None` when none came within the proxy's long-poll timeout
    /// (HTTP 408).
    pub async fn consume(&self, topic: &str, group: &str) -> Result<Option<Consumed>, RestError> {
        let url = format!("{}{}", self.client.base(), consume_path(topic, group));
        let body = match self
            .client
            .send("GET", &url, self.client.http().get(&url))
            .await
        {
            Ok(body) => body,
            Err(e) if e.status() == Some(408) => return Ok(None),
            Err(e) => return Err(e),
        };
        let raw: ConsumedJson = decode_json("GET", &url, &body)?;
        let bytes = |field: &str, v: Option<String>| -> Result<Option<Vec<u8>>, RestError> {
            v.map(|s| {
                base64::engine::general_purpose::STANDARD
                    .decode(s.as_bytes())
                    .map_err(|e| RestError::Decode {
                        method: "GET".into(),
                        url: url.clone(),
                        detail: format!("{field} is not base64: {e}"),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    })
            })
            .transpose()
        };
        let mut headers = Vec::new();
        for h in raw.headers {
            let value = bytes("a header value", h.value)?.unwrap_or_default();
            headers.push((h.key, value));
        }
        Ok(Some(Consumed {
            partition: raw.partition,
            offset: raw.offset,
            key: bytes("the key", raw.key)?,
            value: bytes("the value", raw.value)?,
            headers,
        }))
    }

    /// `POST /topics/<topic>/offsets?group=<group>`: sets the group's offsets, as
    /// `(partition, offset)` pairs. A new group starts at the newest offset; set 0 to read
    /// from the beginning.
    pub async fn set_offsets(
        &self,
        topic: &str,
        group: &str,
        offsets: &[(i32, i64)],
    ) -> Result<(), RestError> {
        let url = self.offsets_url(topic, group);
        let json: Vec<SetOffsetJson> = offsets
            .iter()
            .map(|&(partition, offset)| SetOffsetJson { partition, offset })
            .collect();
        let body = serde_json::to_vec(&json).map_err(|e| RestError::Transport {
            method: "POST".into(),
            url: url.clone(),
            detail: format!("cannot encode the offsets: {e}"),
        })?;
        let request = self
            .client
            .http()
            .post(&url)
            .header("Content-Type", "application/json")
            .body(body);
        self.client.send("POST", &url, request).await.map(drop)
    }

    /// `GET /topics/<topic>/offsets?group=<group>`: the group's offsets, one per partition.
    pub async fn offsets(&self, topic: &str, group: &str) -> Result<Vec<GroupOffset>, RestError> {
        let url = self.offsets_url(topic, group);
        let body = self
            .client
            .send("GET", &url, self.client.http().get(&url))
            .await?;
        decode_json("GET", &url, &body)
    }

    fn offsets_url(&self, topic: &str, group: &str) -> String {
        format!(
            "{}/topics/{}/offsets?group={}",
            self.client.base(),
            percent_encode(topic.as_bytes()),
            percent_encode(group.as_bytes())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_gos_syntax() {
        assert_eq!(go_duration(Duration::from_secs(15)), "15s");
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(go_duration(Duration::from_nanos(1_000_001)), "1000001ns");
    }

    #[test]
    fn keys_are_percent_encoded_byte_for_byte() {
        assert_eq!(percent_encode(b"a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(percent_encode(b"k 1&x=\xff/"), "k%201%26x%3D%FF%2F");
    }

    #[test]
    fn options_reach_the_yaml() {
        let o = Options {
            required_acks: RequiredAcks::WaitForLocal,
            partitioner: Partitioner::RoundRobin,
            flush_frequency: Duration::from_millis(50),
            ..Options::default()
        };
        let pixy = KafkaPixyService {
            nodes: Vec::new(),
            seed_brokers: vec!["10.0.0.2:9092".into(), "10.0.0.3:9092".into()],
            zk_peers: vec!["10.0.0.1:2181".into()],
            security: ClientSecurity::plaintext(),
            options: o,
            home: DEFAULT_HOME.into(),
            start_timeout: Duration::from_secs(1),
            stop_timeout: Duration::from_secs(1),
        };
        let yaml = pixy.render_config("10.0.0.9").unwrap();
        let v: serde_json::Value = serde_norway::from_str(&yaml).unwrap();
        assert_eq!(v["tcp_addr"], "10.0.0.9:19092");
        let p = &v["proxies"]["default"];
        assert_eq!(p["kafka"]["seed_peers"][1], "10.0.0.3:9092");
        assert_eq!(p["kafka"]["version"], "2.3.0");
        assert_eq!(p["zoo_keeper"]["seed_peers"][0], "10.0.0.1:2181");
        assert_eq!(p["zoo_keeper"]["chroot"], "/kafka-pixy");
        assert_eq!(p["producer"]["required_acks"], "wait_for_local");
        assert_eq!(p["producer"]["partitioner"], "roundrobin");
        assert_eq!(p["producer"]["flush_frequency"], "50ms");
        assert_eq!(p["consumer"]["long_polling_timeout"], "3s");
        // PLAINTEXT: no TLS or SASL keys at all.
        assert!(
            p["kafka"].get("tls").is_none() && p.get("net").is_none(),
            "{yaml}"
        );
    }

    #[test]
    fn security_reaches_the_yaml_as_pixy_names_it() {
        use crate::kafka::security::SecurityProtocol;
        let ca = crate::tls::CertificateAuthority::new("test CA").unwrap();
        let security = ClientSecurity::new(SecurityProtocol::SaslSsl, SaslMechanism::Plain)
            .with_credentials("client", "client-secret")
            .trusting(ca.cert_pem())
            .with_certificate(ca.issue("client", &[]).unwrap());
        let pixy = KafkaPixyService {
            nodes: Vec::new(),
            seed_brokers: vec!["10.0.0.2:9092".into()],
            zk_peers: vec!["10.0.0.1:2181".into()],
            security,
            options: Options::default(),
            home: DEFAULT_HOME.into(),
            start_timeout: Duration::from_secs(1),
            stop_timeout: Duration::from_secs(1),
        };
        let yaml = pixy.render_config("10.0.0.9").unwrap();
        let v: serde_json::Value = serde_norway::from_str(&yaml).unwrap();
        let p = &v["proxies"]["default"];
        assert_eq!(p["kafka"]["tls"], true);
        assert_eq!(
            p["kafka"]["ca_certificate_file"],
            "/mnt/kafka-pixy/tls/ca.pem"
        );
        assert_eq!(
            p["kafka"]["client_certificate_file"],
            "/mnt/kafka-pixy/tls/keystore.pem"
        );
        assert_eq!(
            p["kafka"]["client_key_file"],
            "/mnt/kafka-pixy/tls/keystore.pem"
        );
        assert!(p["kafka"].get("insecure").is_none(), "{yaml}");
        let sasl = &p["net"]["sasl"];
        assert_eq!(sasl["enable"], true);
        assert_eq!(sasl["handshake"], true);
        assert_eq!(sasl["user"], "client");
        assert_eq!(sasl["password"], "client-secret");
    }
}
