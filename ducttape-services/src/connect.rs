//! [`ConnectDistributedService`]: a Kafka Connect cluster in distributed mode, run from the
//! Kafka install's jars (connect-runtime, and connect-file for the FileStream connectors, both
//! installed by `build.sh`), with [`ConnectClient`], a typed client of Connect's REST API.
//!
//! The workers of one service form one Connect group: they share the group's config, offset
//! and status topics, and Connect spreads connectors and tasks over them. A connector's
//! files (the FileStream connectors read and write files on the worker that runs the task)
//! belong under [`ConnectDistributedService::DATA_DIR`], which is removed with the service.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ducttape_core::cluster::Node;
use ducttape_core::context::TestContext;
use serde::Deserialize;

use crate::error::ServiceError;
use crate::http_client::{decode_json, percent_encode, HttpClient};
use crate::install::KafkaVersion;
use crate::kafka::KafkaService;
use crate::process::ProcessSpec;
use crate::properties::Properties;
use crate::readiness::Readiness;
use crate::rest_proxy::RestError;
use crate::service::{register, LogFile, Service};

const NAME: &str = "connect";
const ROOT: &str = "/mnt/connect";
const CONFIG: &str = "/mnt/connect/worker.properties";
/// The port of the REST API on every worker.
pub const REST_PORT: u16 = 8083;

/// A Kafka Connect cluster, distributed mode.
///
/// ```no_run
/// # async fn demo(ctx: &ducttape_core::TestContext, kafka: &ducttape_services::KafkaService) -> Result<(), Box<dyn std::error::Error>> {
/// use std::collections::BTreeMap;
/// use ducttape_services::{ConnectDistributedService, Service, ServiceExt};
/// let connect = ConnectDistributedService::builder(ctx.lease(2).await?, kafka)
///     .config("offset.flush.interval.ms", 1000)
///     .build(ctx)?;
/// connect.start().await?;
/// let client = connect.client(&connect.nodes()[0])?;
/// let config = BTreeMap::from([
///     ("connector.class".to_string(), "FileStreamSource".to_string()),
///     ("file".to_string(), format!("{}/in.txt", ConnectDistributedService::DATA_DIR)),
///     ("topic".to_string(), "lines".to_string()),
/// ]);
/// client.create("source", &config).await?;
/// # Ok(()) }
/// ```
pub struct ConnectDistributedService {
    nodes: Vec<Node>,
    version: KafkaVersion,
    worker: Properties,
    heap: String,
    start_timeout: Duration,
    /// The workers' JMX metrics, sampled through the test (see [`crate::jvm`]).
    metrics: crate::jvm::Metrics,
}

/// Builds a [`ConnectDistributedService`]: `ConnectDistributedService::builder(nodes, &kafka)`.
#[must_use]
pub struct ConnectBuilder {
    nodes: Vec<Node>,
    version: KafkaVersion,
    bootstrap: String,
    brokers: usize,
    group: String,
    overrides: Properties,
    heap: String,
    start_timeout: Duration,
}

impl ConnectBuilder {
    /// The Kafka install the workers run from (default: the Kafka cluster's).
    pub fn version(mut self, version: KafkaVersion) -> Self {
        self.version = version;
        self
    }

    /// The Connect group (default `connect-cluster`); its internal topics are named after it.
    pub fn group_id(mut self, group: &str) -> Self {
        self.group = group.to_string();
        self
    }

    /// Any worker config (`offset.flush.interval.ms`, converters, …), over the defaults.
    pub fn config(mut self, key: &str, value: impl ToString) -> Self {
        self.overrides.set(key, value);
        self
    }

    /// The workers' maximum heap (default `512m`).
    pub fn heap(mut self, heap: &str) -> Self {
        self.heap = heap.to_string();
        self
    }

    /// How long a worker may take to start and join its group (default 90 s).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// The service, registered with `ctx` (so teardown stops it, collects its logs and
    /// cleans its nodes). Fails on an empty node list.
    pub fn build(self, ctx: &TestContext) -> Result<Arc<ConnectDistributedService>, ServiceError> {
        if self.nodes.is_empty() {
            return Err(ServiceError::Usage {
                service: NAME.into(),
                detail: "a Connect cluster needs at least one node".into(),
            });
        }
        let metrics = crate::jvm::Metrics::new(
            ctx,
            NAME,
            &self.nodes,
            Some(crate::jvm::CONNECT_METRICS_PORT),
        );
        let service = Arc::new(ConnectDistributedService {
            metrics,
            worker: worker_config(&self.bootstrap, &self.group, self.brokers, &self.overrides),
            nodes: self.nodes,
            version: self.version,
            heap: self.heap,
            start_timeout: self.start_timeout,
        });
        register(ctx, &service);
        service.metrics.start(ctx);
        Ok(service)
    }
}

/// The worker config shared by every node (the REST listener is added per node): string
/// keys and values, internal topics named after the group with a replication factor the
/// cluster can give, and failure detection fast enough for tests — a worker that left has its
/// tasks reassigned after 10 s (`scheduled.rebalance.max.delay.ms`; Connect's default, 5
/// minutes, outlasts any test).
///
/// ```
/// use ducttape_services::connect::worker_config;
/// use ducttape_services::Properties;
/// let p = worker_config("b1:9092", "g", 1, &Properties::new());
/// assert_eq!(p.get("config.storage.topic"), Some("g-configs"));
/// assert_eq!(p.get("config.storage.replication.factor"), Some("1"));
/// let mut overrides = Properties::new();
/// overrides.set("group.id", "other");
/// let p = worker_config("b1:9092", "g", 5, &overrides);
/// assert_eq!(p.get("offset.storage.replication.factor"), Some("3"));
/// assert_eq!(p.get("group.id"), Some("other"));
/// ```
pub fn worker_config(
    bootstrap: &str,
    group: &str,
    brokers: usize,
    overrides: &Properties,
) -> Properties {
    let rf = brokers.clamp(1, 3);
    let string = "org.apache.kafka.connect.storage.StringConverter";
    let mut p = Properties::new();
    p.set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("key.converter", string)
        .set("value.converter", string)
        .set("config.storage.topic", format!("{group}-configs"))
        .set("offset.storage.topic", format!("{group}-offsets"))
        .set("status.storage.topic", format!("{group}-status"))
        .set("config.storage.replication.factor", rf)
        .set("offset.storage.replication.factor", rf)
        .set("status.storage.replication.factor", rf)
        .set("offset.storage.partitions", 5)
        .set("status.storage.partitions", 3)
        .set("offset.flush.interval.ms", 1000)
        .set("scheduled.rebalance.max.delay.ms", 10_000)
        .set("session.timeout.ms", 10_000)
        .set("heartbeat.interval.ms", 1000)
        // Plugins from their ServiceLoader manifests only: the reflective scan of the whole
        // classpath that the default (`hybrid_warn`) adds costs ≈ 10 s of every start.
        .set("plugin.discovery", "service_load");
    p.extend(overrides);
    p
}

impl ConnectDistributedService {
    /// Where connectors' files belong on the workers (removed with the service; collected
    /// when a test fails).
    pub const DATA_DIR: &'static str = "/mnt/connect/data";

    /// A builder of workers on `nodes` joining `kafka` (its version and bootstrap servers).
    pub fn builder(nodes: Vec<Node>, kafka: &KafkaService) -> ConnectBuilder {
        ConnectBuilder {
            nodes,
            version: kafka.version().clone(),
            bootstrap: kafka.bootstrap_servers(),
            brokers: kafka.brokers().len(),
            group: "connect-cluster".into(),
            overrides: Properties::new(),
            heap: "512m".into(),
            start_timeout: Duration::from_secs(90),
        }
    }

    /// The worker config of `node` (the shared one plus its REST listener).
    pub fn config(&self, node: &Node) -> Properties {
        let mut p = self.worker.clone();
        p.set(
            "listeners",
            format!("http://{}:{REST_PORT}", node.address()),
        )
        .set("rest.advertised.host.name", node.address())
        .set("rest.advertised.port", REST_PORT);
        p
    }

    /// `http://<address>:8083` of `node`.
    pub fn rest_url(&self, node: &Node) -> String {
        format!("http://{}:{REST_PORT}", node.address())
    }

    /// A client of `node`'s REST API (any worker answers for the whole cluster, forwarding to
    /// the leader what it must).
    pub fn client(&self, node: &Node) -> Result<ConnectClient, RestError> {
        ConnectClient::new(self.rest_url(node), Duration::from_secs(30))
    }

    /// The workers' JMX metrics, sampled through the test (see [`crate::jvm::Metrics`]).
    pub fn metrics(&self) -> &crate::jvm::Metrics {
        &self.metrics
    }

    /// The process of `node`: the worker config, the JVM, and ready once it has started its
    /// REST server (`Kafka Connect started`) and joined the group.
    fn spec(&self, node: &Node) -> ProcessSpec {
        ProcessSpec::new(NAME, ROOT)
            .requires(self.version.install())
            .dir(Self::DATA_DIR)
            .file(CONFIG, self.config(node).render())
            .observe(self.metrics.observation())
            .java(
                self.version
                    .java("org.apache.kafka.connect.cli.ConnectDistributed")
                    .heap(&self.heap)
                    .arg(CONFIG),
            )
            .ready_when(Readiness::LogLine("Kafka Connect started".into()))
            .ready_when(Readiness::LogLine("Joined group at generation".into()))
            .start_timeout(self.start_timeout)
            .stop_grace(Duration::from_secs(30))
    }
}

#[async_trait]
impl Service for ConnectDistributedService {
    fn name(&self) -> &str {
        NAME
    }

    fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    async fn start_node(&self, node: &Node) -> Result<(), ServiceError> {
        self.spec(node).start(node).await?;
        tracing::info!(node = node.name(), url = %self.rest_url(node), "connect worker ready");
        Ok(())
    }

    fn process_spec(&self, node: &Node) -> Option<ProcessSpec> {
        Some(self.spec(node))
    }

    fn logs(&self) -> Vec<LogFile> {
        vec![
            LogFile::always("connect.log", &format!("{ROOT}/{NAME}.log")),
            LogFile::always("worker.properties", CONFIG),
            LogFile::on_failure("data", Self::DATA_DIR),
            LogFile::on_failure("jvm", &crate::jvm::JvmObservation::dir(ROOT)),
        ]
    }
}

/// A connector's or a task's state as Connect reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StateInfo {
    /// `RUNNING`, `PAUSED`, `FAILED`, `UNASSIGNED`, `RESTARTING`, `STOPPED`.
    pub state: String,
    /// The worker that runs it (`host:port`).
    pub worker_id: String,
    /// The stack trace of a failure.
    #[serde(default)]
    pub trace: Option<String>,
}

/// One task's status.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TaskStatus {
    /// The task number.
    pub id: u32,
    /// Its state.
    #[serde(flatten)]
    pub state: StateInfo,
}

/// `GET /connectors/<name>/status`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ConnectorStatus {
    /// The connector's name.
    pub name: String,
    /// The connector's own state.
    pub connector: StateInfo,
    /// Its tasks.
    pub tasks: Vec<TaskStatus>,
}

impl ConnectorStatus {
    /// Whether the connector and at least one task are in `state`, and every task is.
    ///
    /// ```
    /// use ducttape_services::connect::ConnectorStatus;
    /// let s: ConnectorStatus = serde_json::from_str(r#"{"name":"s","connector":{"state":"RUNNING","worker_id":"a:8083"},
    ///     "tasks":[{"id":0,"state":"RUNNING","worker_id":"b:8083"}],"type":"source"}"#).unwrap();
    /// assert!(s.all_in("RUNNING"));
    /// assert!(!s.all_in("PAUSED"));
    /// ```
    pub fn all_in(&self, state: &str) -> bool {
        self.connector.state == state
            && !self.tasks.is_empty()
            && self.tasks.iter().all(|t| t.state.state == state)
    }
}

/// An installed plugin (`GET /connector-plugins`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PluginInfo {
    /// Its class.
    #[serde(rename = "class")]
    pub class_name: String,
    /// `source` or `sink` (more kinds with `connectorsOnly=false`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its version.
    #[serde(default)]
    pub version: Option<String>,
}

/// A typed client of Kafka Connect's REST API (one worker's URL; any worker serves the
/// cluster).
///
/// ```no_run
/// # async fn demo() -> Result<(), ducttape_services::RestError> {
/// use std::time::Duration;
/// use ducttape_services::connect::ConnectClient;
/// let client = ConnectClient::new("http://10.223.0.5:8083", Duration::from_secs(30))?;
/// for name in client.connectors().await? {
///     let status = client.status(&name).await?;
///     println!("{name}: {}", status.connector.state);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ConnectClient {
    client: HttpClient,
}

impl ConnectClient {
    /// A client of the worker at `base_url`; `timeout` bounds each request.
    pub fn new(base_url: impl Into<String>, timeout: Duration) -> Result<Self, RestError> {
        Ok(Self {
            client: HttpClient::new(base_url, timeout)?,
        })
    }

    /// Sends `method path` (with a JSON `body`); the body of a 2xx answer.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<String>,
    ) -> Result<Vec<u8>, RestError> {
        let url = format!("{}{path}", self.client.base());
        let mut request = self.client.http().request(method.clone(), &url);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body);
        }
        self.client.send(method.as_str(), &url, request).await
    }

    /// `GET path`, decoded.
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, RestError> {
        let body = self.call(reqwest::Method::GET, path, None).await?;
        decode_json("GET", &format!("{}{path}", self.client.base()), &body)
    }

    /// `GET /connectors`: the connectors' names.
    pub async fn connectors(&self) -> Result<Vec<String>, RestError> {
        self.get("/connectors").await
    }

    /// `GET /connector-plugins`: the connector plugins the workers found.
    pub async fn plugins(&self) -> Result<Vec<PluginInfo>, RestError> {
        self.get("/connector-plugins").await
    }

    /// `POST /connectors`: creates connector `name` with `config`. An invalid config is
    /// [`RestError::Status`] 400 whose body carries Connect's message (see [`connect_message`]).
    pub async fn create(
        &self,
        name: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<(), RestError> {
        let body = serde_json::json!({ "name": name, "config": config }).to_string();
        self.call(reqwest::Method::POST, "/connectors", Some(body))
            .await
            .map(drop)
    }

    /// `GET /connectors/<name>/status`.
    pub async fn status(&self, name: &str) -> Result<ConnectorStatus, RestError> {
        self.get(&connector_path(name, "/status")).await
    }

    /// `PUT /connectors/<name>/pause`: the connector and its tasks stop processing.
    pub async fn pause(&self, name: &str) -> Result<(), RestError> {
        let path = connector_path(name, "/pause");
        self.call(reqwest::Method::PUT, &path, None).await.map(drop)
    }

    /// `PUT /connectors/<name>/resume`.
    pub async fn resume(&self, name: &str) -> Result<(), RestError> {
        let path = connector_path(name, "/resume");
        self.call(reqwest::Method::PUT, &path, None).await.map(drop)
    }

    /// `POST /connectors/<name>/restart?includeTasks=true`: restarts the connector and its
    /// tasks.
    pub async fn restart(&self, name: &str) -> Result<(), RestError> {
        let path = connector_path(name, "/restart?includeTasks=true&onlyFailed=false");
        self.call(reqwest::Method::POST, &path, None)
            .await
            .map(drop)
    }

    /// `DELETE /connectors/<name>`.
    pub async fn delete(&self, name: &str) -> Result<(), RestError> {
        let path = connector_path(name, "");
        self.call(reqwest::Method::DELETE, &path, None)
            .await
            .map(drop)
    }
}

/// `/connectors/<name><rest>`, the name percent-encoded.
fn connector_path(name: &str, rest: &str) -> String {
    format!("/connectors/{}{rest}", percent_encode(name.as_bytes()))
}

/// Connect's own message in an error answer (`{"error_code":400,"message":"…"}`).
///
/// ```
/// use ducttape_services::{connect::connect_message, RestError};
/// let e = RestError::Status { method: "POST".into(), url: "u".into(), status: 400,
///     body: r#"{"error_code":400,"message":"Connector configuration is invalid"}"#.into() };
/// assert_eq!(connect_message(&e).as_deref(), Some("Connector configuration is invalid"));
/// ```
pub fn connect_message(error: &RestError) -> Option<String> {
    #[derive(Deserialize)]
    struct ErrorBody {
        message: String,
    }
    match error {
        RestError::Status { body, .. } => serde_json::from_str::<ErrorBody>(body)
            .ok()
            .map(|b| b.message),
        _ => None,
    }
}
