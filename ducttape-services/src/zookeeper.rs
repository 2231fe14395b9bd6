//! [`ZookeeperService`]: a ZooKeeper ensemble of 1..N nodes, run from the Kafka install's jars.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ducttape_core::cluster::Node;
use ducttape_core::context::TestContext;
use ducttape_core::wait_until;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::ServiceError;
use crate::install::KafkaVersion;
use crate::process::ProcessSpec;
use crate::properties::Properties;
use crate::readiness::Readiness;
use crate::service::{register, LogFile, Service, ServiceExt};

const ROOT: &str = "/mnt/zookeeper";
const CONFIG: &str = "/mnt/zookeeper/zookeeper.properties";
const LOG: &str = "/mnt/zookeeper/zookeeper.log";
/// The client port.
pub const CLIENT_PORT: u16 = 2181;

/// A ZooKeeper ensemble.
///
/// ```no_run
/// # async fn demo(ctx: &ducttape_core::TestContext) -> Result<(), Box<dyn std::error::Error>> {
/// use ducttape_services::{ServiceExt, ZookeeperService};
/// let nodes = ctx.lease(3).await?;
/// let zk = ZookeeperService::new(ctx, nodes)?;
/// zk.start().await?;
/// let leader = zk.leader().await?;
/// println!("{} leads; connect with {}", leader.name(), zk.connect_string());
/// # Ok(()) }
/// ```
pub struct ZookeeperService {
    nodes: Vec<Node>,
    version: KafkaVersion,
    overrides: Properties,
    start_timeout: Duration,
    /// The members' JMX metrics, sampled through the test (see [`crate::jvm`]).
    metrics: crate::jvm::Metrics,
}

/// Builds a [`ZookeeperService`]: `ZookeeperService::builder(nodes)…build(&ctx)`.
#[must_use]
pub struct ZookeeperBuilder {
    nodes: Vec<Node>,
    version: KafkaVersion,
    overrides: Properties,
    start_timeout: Duration,
}

impl ZookeeperBuilder {
    /// The Kafka install whose ZooKeeper jars run the ensemble (default: `/opt/kafka`; a 3.x:
    /// 4.x has none). ZooKeeper has no install of its own here; a JVM system that has one is a
    /// [`JvmInstall`](crate::JvmInstall).
    pub fn version(mut self, version: KafkaVersion) -> Self {
        self.version = version;
        self
    }

    /// A config key over the defaults (`tickTime`, `maxSessionTimeout`, …).
    pub fn config(mut self, key: &str, value: impl ToString) -> Self {
        self.overrides.set(key, value);
        self
    }

    /// How long a member may take to start and answer `srvr` (default 60 s).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// The ensemble, registered with `ctx` (teardown stops it, collects its logs, cleans).
    pub fn build(self, ctx: &TestContext) -> Result<Arc<ZookeeperService>, ServiceError> {
        if self.nodes.is_empty() {
            return Err(ServiceError::Usage {
                service: "zookeeper".into(),
                detail: "no nodes".into(),
            });
        }
        let metrics = crate::jvm::Metrics::new(
            ctx,
            "zookeeper",
            &self.nodes,
            Some(crate::jvm::ZOOKEEPER_METRICS_PORT),
        );
        let zk = Arc::new(ZookeeperService {
            metrics,
            nodes: self.nodes,
            version: self.version,
            overrides: self.overrides,
            start_timeout: self.start_timeout,
        });
        register(ctx, &zk);
        zk.metrics.start(ctx);
        Ok(zk)
    }
}

/// What `srvr` says about a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkStatus {
    /// `leader`, `follower` or `standalone`.
    pub mode: String,
    /// The last zxid, as printed (`0x…`).
    pub zxid: String,
    /// The number of znodes.
    pub node_count: Option<u64>,
}

impl ZkStatus {
    /// Parses the answer to `srvr`.
    ///
    /// ```
    /// let s = ducttape_services::zookeeper::ZkStatus::parse("Zxid: 0x28\nMode: standalone\nNode count: 37\n").unwrap();
    /// assert_eq!(s.mode, "standalone");
    /// assert_eq!(s.node_count, Some(37));
    /// ```
    pub fn parse(text: &str) -> Option<Self> {
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
        };
        Some(Self {
            mode: field("Mode:")?,
            zxid: field("Zxid:").unwrap_or_default(),
            node_count: field("Node count:").and_then(|c| c.parse().ok()),
        })
    }
}

impl ZookeeperService {
    /// An ensemble on `nodes`, from the default Kafka install, registered with `ctx`: the
    /// shorthand of `ZookeeperService::builder(nodes).build(ctx)`.
    pub fn new(ctx: &TestContext, nodes: Vec<Node>) -> Result<Arc<Self>, ServiceError> {
        Self::builder(nodes).build(ctx)
    }

    /// A builder of an ensemble on `nodes`.
    ///
    /// ```no_run
    /// # async fn demo(ctx: &ducttape_core::TestContext) -> Result<(), ducttape_services::Error> {
    /// use ducttape_services::{KafkaVersion, ServiceExt, ZookeeperService};
    /// let zk = ZookeeperService::builder(ctx.lease(3).await?)
    ///     .version(KafkaVersion::V3_9)
    ///     .config("tickTime", 500)
    ///     .build(ctx)?;
    /// zk.start().await?;
    /// # Ok(()) }
    /// ```
    pub fn builder(nodes: Vec<Node>) -> ZookeeperBuilder {
        ZookeeperBuilder {
            nodes,
            version: KafkaVersion::DEFAULT,
            overrides: Properties::new(),
            start_timeout: Duration::from_secs(60),
        }
    }

    /// The process on any node, for stopping, cleaning and finding it.
    fn process(&self) -> ProcessSpec {
        ProcessSpec::new("zookeeper", ROOT).stop_grace(Duration::from_secs(30))
    }

    /// The process of member `index`: its id, its config, the JVM, and ready once the client
    /// port accepts connections.
    fn spec(&self, index: usize) -> ProcessSpec {
        self.process()
            .requires(self.version.install())
            .file(&format!("{ROOT}/data/myid"), format!("{}\n", index + 1))
            .file(CONFIG, self.config(index).render())
            .observe(self.metrics.observation())
            .java(
                self.version
                    .java("org.apache.zookeeper.server.quorum.QuorumPeerMain")
                    // zookeeper-server-start.sh: -Xmx512M -Xms512M.
                    .fixed_heap()
                    .arg(CONFIG),
            )
            .ready_when(Readiness::Port(CLIENT_PORT))
            .start_timeout(self.start_timeout)
    }

    /// The members' JMX metrics, sampled through the test (see [`crate::jvm::Metrics`]).
    pub fn metrics(&self) -> &crate::jvm::Metrics {
        &self.metrics
    }

    /// `host:2181,…` for clients.
    pub fn connect_string(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("{}:{CLIENT_PORT}", n.address()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The config file of member `index` (0-based).
    pub fn config(&self, index: usize) -> Properties {
        let mut p = Properties::new();
        p.set("dataDir", format!("{ROOT}/data"))
            .set("clientPort", CLIENT_PORT)
            .set("tickTime", 2000)
            .set("initLimit", 5)
            .set("syncLimit", 2)
            .set("maxClientCnxns", 0)
            .set("admin.enableServer", false)
            .set("4lw.commands.whitelist", "*")
            .set("clientPortAddress", self.nodes[index].address());
        if self.nodes.len() > 1 {
            for (i, n) in self.nodes.iter().enumerate() {
                p.set(
                    &format!("server.{}", i + 1),
                    format!("{}:2888:3888", n.address()),
                );
            }
            p.set("quorumListenOnAllIPs", true);
        }
        p.extend(&self.overrides);
        p
    }

    /// Asks a member `srvr` (the four-letter word) over its client port.
    pub async fn status(&self, node: &Node) -> Result<ZkStatus, ServiceError> {
        let answer = four_letter_word(node.address(), "srvr").await;
        answer
            .as_deref()
            .ok()
            .and_then(ZkStatus::parse)
            .ok_or_else(|| ServiceError::Probe {
                service: "zookeeper".into(),
                node: node.name().to_string(),
                what: "srvr".into(),
                detail: answer.unwrap_or_else(|e| e.to_string()),
            })
    }

    /// The paths of every ephemeral znode (`dump` on the leader), e.g. `/brokers/ids/1`.
    pub async fn ephemeral_paths(&self) -> Result<Vec<String>, ServiceError> {
        let leader = self.leader().await?;
        let dump = four_letter_word(leader.address(), "dump")
            .await
            .map_err(|e| ServiceError::Probe {
                service: "zookeeper".into(),
                node: leader.name().to_string(),
                what: "dump".into(),
                detail: e.to_string(),
            })?;
        Ok(parse_ephemerals(&dump))
    }

    /// The current leader (a standalone server leads itself).
    pub async fn leader(&self) -> Result<Node, ServiceError> {
        for node in &self.nodes {
            if let Ok(s) = self.status(node).await {
                if s.mode == "leader" || s.mode == "standalone" {
                    return Ok(node.clone());
                }
            }
        }
        Err(ServiceError::Usage {
            service: "zookeeper".into(),
            detail: "no member says it leads".into(),
        })
    }
}

/// The ephemeral znode paths in a `dump` answer: the indented paths after
/// `Sessions with Ephemerals`.
///
/// ```
/// let dump = "SessionTracker dump:\nSession Sets (1)/(1):\n0x0\nephemeral nodes dump:\nSessions with Ephemerals (1):\n0x100002f1c6e0000:\n\t/controller\n\t/brokers/ids/1\nConnections with Ephemerals (1):\n";
/// assert_eq!(ducttape_services::zookeeper::parse_ephemerals(dump), ["/controller", "/brokers/ids/1"]);
/// ```
pub fn parse_ephemerals(dump: &str) -> Vec<String> {
    dump.lines()
        .skip_while(|l| !l.starts_with("Sessions with Ephemerals"))
        .take_while(|l| !l.starts_with("Connections with Ephemerals"))
        .filter_map(|l| l.trim().strip_prefix('/').map(|p| format!("/{p}")))
        .collect()
}

/// A four-letter word got no answer.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum FourLetterWordError {
    /// Connecting, sending or reading failed.
    #[error("{word} to {host}:{CLIENT_PORT}: {source}")]
    Io {
        /// The word sent (`srvr`, `dump`).
        word: String,
        /// The member asked.
        host: String,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The member did not answer in time.
    #[error("{word} to {host}:{CLIENT_PORT}: no answer within {after:?}")]
    Timeout {
        /// The word sent.
        word: String,
        /// The member asked.
        host: String,
        /// How long it was given.
        after: Duration,
    },
}

ducttape_core::human_debug!(FourLetterWordError);

/// Sends a four-letter word to `host:2181` and returns the answer.
pub async fn four_letter_word(host: &str, word: &str) -> Result<String, FourLetterWordError> {
    const WAIT: Duration = Duration::from_secs(5);
    let io = |source| FourLetterWordError::Io {
        word: word.to_string(),
        host: host.to_string(),
        source,
    };
    let talk = async {
        let mut s = tokio::net::TcpStream::connect((host, CLIENT_PORT))
            .await
            .map_err(io)?;
        s.write_all(word.as_bytes()).await.map_err(io)?;
        let mut out = String::new();
        s.read_to_string(&mut out).await.map_err(io)?;
        Ok(out)
    };
    tokio::time::timeout(WAIT, talk).await.unwrap_or_else(|_| {
        Err(FourLetterWordError::Timeout {
            word: word.to_string(),
            host: host.to_string(),
            after: WAIT,
        })
    })
}

#[async_trait]
impl Service for ZookeeperService {
    fn name(&self) -> &str {
        "zookeeper"
    }

    fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    async fn start_node(&self, node: &Node) -> Result<(), ServiceError> {
        let index = self.index(node)?;
        // ZooKeeper's jars come with Kafka 3.x only: a 4.x install (say, DUCTTAPE_KAFKA_HOME's)
        // has none, and its JVM would fail to find QuorumPeerMain.
        if !self.version.supports_zookeeper() {
            return Err(ServiceError::Usage {
                service: "zookeeper".into(),
                detail: format!(
                    "Kafka {} (at {}) has no ZooKeeper: ZooKeeper mode needs Kafka 3.x",
                    self.version.version(),
                    self.version.home()
                ),
            });
        }
        self.spec(index).start(node).await?;
        // The port opens before the member has joined a quorum: wait until srvr answers.
        let what = format!("{} answers srvr", node.name());
        let status = wait_until(
            &what,
            self.start_timeout,
            Duration::from_millis(100),
            || async { self.status(node).await.map(Some) },
        )
        .await
        .map_err(|e| ServiceError::Timeout {
            service: "zookeeper".into(),
            node: node.name().to_string(),
            after: self.start_timeout,
            detail: e.to_string(),
        })?;
        tracing::info!(node = node.name(), mode = %status.mode, "zookeeper ready");
        Ok(())
    }

    fn process_spec(&self, _: &Node) -> Option<ProcessSpec> {
        Some(self.process())
    }

    fn logs(&self) -> Vec<LogFile> {
        vec![
            LogFile::always("zookeeper.log", LOG),
            LogFile::always("zookeeper.properties", CONFIG),
            LogFile::on_failure("jvm", &crate::jvm::JvmObservation::dir(ROOT)),
        ]
    }
}
