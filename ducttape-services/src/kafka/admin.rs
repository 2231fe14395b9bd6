//! Kafka's control operations from the test process, through librdkafka (`rdkafka`): topics
//! (create, describe, delete, exists), partition leaders and ISR, the registered brokers, the
//! controller id, consumer-group state and committed offsets. None of them starts a JVM: a
//! Kafka CLI tool costs ≈ 3 s of JVM start-up on 2 cores; a request here takes milliseconds.
//!
//! The client runs where the test runs, so the brokers' addresses must be reachable from it:
//! true of the local cluster (its nodes are network namespaces on a bridge of this host). For
//! remote clusters where it is not, [`KafkaService`](super::KafkaService) can run the same
//! operations with Kafka's CLI on a broker instead (`DUCTTAPE_KAFKA_CONTROL=cli`).
//!
//! Why librdkafka: it is Kafka's reference C client, with the admin API, metadata and the
//! security protocols the brokers may be set up with (built with the `ssl` feature: TLS, SASL
//! PLAIN and SCRAM; not GSSAPI); the client config is a plain key/value map
//! ([`KafkaAdmin::with_config`]) so such settings pass straight through —
//! [`ClientSecurity::librdkafka`](super::security::ClientSecurity::librdkafka) makes them, with
//! certificates inline (`ssl.ca.pem`, …), so nothing is written to disk.
//!
//! A client the brokers will not let in (a wrong password, an unknown user, a certificate they
//! do not trust or that does not name them) never gets an answer: librdkafka reports why only
//! through its error events and retries. An operation that found no answer on a secured
//! cluster therefore asks a short-lived client of the same settings what it is told
//! ([`AdminError::Refused`], within ≈ 5 s more), so the error says "authentication", not only
//! "no answer".
//!
//! ```no_run
//! # async fn demo() -> Result<(), ducttape_services::kafka::AdminError> {
//! use ducttape_services::kafka::KafkaAdmin;
//! use ducttape_services::TopicSpec;
//! let admin = KafkaAdmin::new("10.223.0.2:9092,10.223.0.3:9092")?;
//! admin.create_topic(&TopicSpec::new("t").partitions(3).replication_factor(2)).await?;
//! let parts = admin.describe_topic("t").await?;
//! assert_eq!(parts.len(), 3);
//! let brokers = admin.brokers().await?;               // ids registered with the cluster
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;

use super::topics::{PartitionInfo, TopicSpec};

/// How long one operation may take by default (a dead cluster fails after this, never hangs).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a secured cluster's silence is looked into for a refusal (see the module docs).
const DIAGNOSIS: Duration = Duration::from_secs(5);

/// What the brokers refused a client for, as librdkafka reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Rejection {
    /// SASL authentication failed (`_AUTHENTICATION`, `SASL_AUTHENTICATION_FAILED`): a wrong
    /// password or an unknown user (SCRAM does not tell them apart).
    Authentication,
    /// The TLS handshake failed (`_SSL`): a broker certificate not trusted or not naming the
    /// broker, or a client certificate the broker would not take.
    Tls,
    /// Kafka's authorizer denied the operation (`TOPIC_AUTHORIZATION_FAILED`,
    /// `GROUP_AUTHORIZATION_FAILED`, `CLUSTER_AUTHORIZATION_FAILED`, …): the client was let in
    /// (authenticated), but its user has no ACL allowing this.
    Authorization,
}

impl Rejection {
    fn of(code: RDKafkaErrorCode) -> Option<Self> {
        match code {
            RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed => {
                Some(Rejection::Authentication)
            }
            RDKafkaErrorCode::SSL => Some(Rejection::Tls),
            RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::GroupAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed
            | RDKafkaErrorCode::TransactionalIdAuthorizationFailed
            | RDKafkaErrorCode::DelegationTokenAuthorizationFailed => {
                Some(Rejection::Authorization)
            }
            _ => None,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rejection::Authentication => "SASL authentication failed",
            Rejection::Tls => "TLS handshake failed",
            Rejection::Authorization => "not authorized (no ACL allows it)",
        })
    }
}

/// A Kafka error code, named as Kafka names it (`INVALID_REPLICATION_FACTOR (38)`), with
/// librdkafka's description. Negative codes are librdkafka's own (`_TRANSPORT`, timeouts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KafkaCode(pub RDKafkaErrorCode);

impl KafkaCode {
    /// Kafka's name of the code, e.g. `UNKNOWN_TOPIC_OR_PARTITION`.
    ///
    /// ```
    /// use ducttape_services::kafka::KafkaCode;
    /// use rdkafka::types::RDKafkaErrorCode;
    /// assert_eq!(KafkaCode(RDKafkaErrorCode::InvalidReplicationFactor).name(), "INVALID_REPLICATION_FACTOR");
    /// ```
    pub fn name(&self) -> String {
        // librdkafka's enum is Kafka's protocol names in CamelCase.
        let camel = format!("{:?}", self.0);
        let mut out = String::new();
        for (i, c) in camel.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
        }
        out
    }

    /// The numeric code (Kafka's protocol code for broker errors).
    pub fn number(&self) -> i32 {
        self.0 as i32
    }
}

impl fmt::Display for KafkaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.name(), self.number(), self.0)
    }
}

/// A control operation failed. Each names the bootstrap brokers asked (and the broker that
/// answered, when one did), the topic or group, and Kafka's error code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The client could not be made (a bad config key or value).
    #[error("kafka admin: cannot make a client for {bootstrap}: {source}")]
    Client {
        /// `bootstrap.servers`.
        bootstrap: String,
        /// librdkafka's complaint.
        #[source]
        source: KafkaError,
    },
    /// Kafka refused the operation with an error code.
    #[error("kafka admin: {operation} {subject} via {bootstrap}{}: Kafka error {code}", .broker.map(|b| format!(" (answered by broker {b})")).unwrap_or_default())]
    Kafka {
        /// What was asked (`create topic`, `describe topic`, …).
        operation: &'static str,
        /// The topic or group.
        subject: String,
        /// `bootstrap.servers`.
        bootstrap: String,
        /// The broker that answered, when known.
        broker: Option<i32>,
        /// Kafka's error code.
        code: KafkaCode,
    },
    /// No broker answered in time (a dead cluster, an unreachable address).
    #[error("kafka admin: {operation} {subject}: no broker of {bootstrap} answered within {after:?} ({detail})")]
    NoAnswer {
        /// What was asked.
        operation: &'static str,
        /// The topic or group.
        subject: String,
        /// `bootstrap.servers`.
        bootstrap: String,
        /// How long it waited.
        after: Duration,
        /// librdkafka's last word.
        detail: String,
    },
    /// The brokers would not let the client in, or Kafka's authorizer denied its user the
    /// operation (see [`Rejection`]).
    #[error(
        "kafka admin: {operation} {subject}: {bootstrap} refused the client: {rejection}: {detail}"
    )]
    Refused {
        /// What was asked.
        operation: &'static str,
        /// The topic or group.
        subject: String,
        /// `bootstrap.servers`.
        bootstrap: String,
        /// Why.
        rejection: Rejection,
        /// librdkafka's words (the broker's reason, where it sends one), or Kafka's error
        /// code for an authorization refusal.
        detail: String,
    },
    /// One broker was asked (see [`KafkaAdmin::describe_topic_at`]) and another answered.
    #[error("kafka admin: {operation} {subject}: answered by broker {broker}, not one of {wanted:?}, {attempts} times")]
    WrongBroker {
        /// What was asked.
        operation: &'static str,
        /// The topic.
        subject: String,
        /// The broker that answered.
        broker: i32,
        /// The brokers whose answers count.
        wanted: BTreeSet<i32>,
        /// How many answers came from elsewhere.
        attempts: u32,
    },
}

impl AdminError {
    /// Kafka's error code, when Kafka refused the operation.
    pub fn code(&self) -> Option<RDKafkaErrorCode> {
        match self {
            AdminError::Kafka { code, .. } => Some(code.0),
            _ => None,
        }
    }

    /// Why the brokers refused the client, when they did.
    pub fn rejection(&self) -> Option<Rejection> {
        match self {
            AdminError::Refused { rejection, .. } => Some(*rejection),
            _ => None,
        }
    }
}

/// A consumer's context: keeps what librdkafka reported through its error events (which it
/// sends instead of failing a request when the brokers refuse the connection). Only consumers
/// get one: their events are served by `poll`; the admin client's main queue is served by
/// nobody, so its errors are found by a probe ([`KafkaAdmin::explain`]).
#[derive(Clone, Default)]
struct Witness(Arc<std::sync::Mutex<Seen>>);

#[derive(Default)]
struct Seen {
    rejection: Option<(Rejection, String)>,
    last: Option<String>,
}

impl Witness {
    fn rejection(&self) -> Option<(Rejection, String)> {
        self.0.lock().ok().and_then(|s| s.rejection.clone())
    }

    fn last(&self) -> Option<String> {
        self.0.lock().ok().and_then(|s| s.last.clone())
    }
}

impl ClientContext for Witness {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(target: "librdkafka", "librdkafka: {error}: {reason}");
        if let Ok(mut seen) = self.0.lock() {
            seen.last = Some(reason.to_string());
            if let Some(r) = error.rdkafka_error_code().and_then(Rejection::of) {
                seen.rejection.get_or_insert((r, reason.to_string()));
            }
        }
    }
}

impl ConsumerContext for Witness {}

/// A broker as the cluster's metadata lists it (registered and alive).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BrokerInfo {
    /// `broker.id` / `node.id`.
    pub id: i32,
    /// Its advertised host.
    pub host: String,
    /// Its advertised port.
    pub port: i32,
}

/// A consumer group as its coordinator describes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GroupState {
    /// The group id.
    pub group: String,
    /// Kafka's state name: `Empty`, `Stable`, `PreparingRebalance`, `Dead`, …
    pub state: String,
    /// Member (client) ids.
    pub members: Vec<String>,
}

/// Kafka's control operations through librdkafka; see the module docs.
#[derive(Clone)]
pub struct KafkaAdmin {
    bootstrap: String,
    config: BTreeMap<String, String>,
    client: Arc<AdminClient<DefaultClientContext>>,
    timeout: Duration,
}

impl fmt::Debug for KafkaAdmin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaAdmin")
            .field("bootstrap", &self.bootstrap)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl KafkaAdmin {
    /// A client of the cluster at `bootstrap` (`host:port,…`), PLAINTEXT.
    pub fn new(bootstrap: &str) -> Result<Self, AdminError> {
        Self::with_config(bootstrap, std::iter::empty::<(String, String)>())
    }

    /// A client with extra librdkafka settings (`security.protocol`, `ssl.ca.location`,
    /// `sasl.mechanism`, …), passed through as they are.
    pub fn with_config<K: Into<String>, V: Into<String>>(
        bootstrap: &str,
        config: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, AdminError> {
        let mut all = BTreeMap::new();
        all.insert("bootstrap.servers".to_string(), bootstrap.to_string());
        // Asking for a topic's metadata must never create it (the admin client is a
        // producer to librdkafka, and producers may auto-create).
        all.insert("allow.auto.create.topics".into(), "false".into());
        all.insert("socket.connection.setup.timeout.ms".into(), "5000".into());
        all.insert("reconnect.backoff.max.ms".into(), "1000".into());
        for (k, v) in config {
            all.insert(k.into(), v.into());
        }
        let client = client_config(&all)
            .create::<AdminClient<DefaultClientContext>>()
            .map_err(|source| AdminError::Client {
                bootstrap: bootstrap.to_string(),
                source,
            })?;
        Ok(Self {
            bootstrap: bootstrap.to_string(),
            config: all,
            client: Arc::new(client),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Bounds every operation (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `bootstrap.servers`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The settings the client was made with (bootstrap included).
    pub fn config(&self) -> &BTreeMap<String, String> {
        &self.config
    }

    fn options(&self) -> AdminOptions {
        // The operation timeout makes the broker wait for the change to be applied (every
        // partition has a leader) before it answers; the request timeout bounds the whole.
        AdminOptions::new()
            .request_timeout(Some(self.timeout))
            .operation_timeout(Some(self.timeout))
    }

    /// Whether the client speaks anything but PLAINTEXT (so the brokers may refuse it).
    fn secured(&self) -> bool {
        self.config
            .get("security.protocol")
            .is_some_and(|p| !p.eq_ignore_ascii_case("plaintext"))
    }

    /// `error` as it is, or — a [`AdminError::NoAnswer`] from a secured cluster — why the
    /// brokers refused the client, asked of a short-lived client with the same settings
    /// (librdkafka tells a refusal only through its error events, which the admin client does
    /// not serve). A silence with no refusal seen gets the probe's last error in its detail.
    async fn explain(&self, error: AdminError) -> AdminError {
        let AdminError::NoAnswer {
            operation,
            subject,
            bootstrap,
            after,
            detail,
        } = error
        else {
            return error;
        };
        let unexplained = |extra: Option<String>| AdminError::NoAnswer {
            operation,
            subject: subject.clone(),
            bootstrap: bootstrap.clone(),
            after,
            detail: match &extra {
                Some(e) => format!("{detail}; the client's last error: {e}"),
                None => detail.clone(),
            },
        };
        if !self.secured() {
            return unexplained(None);
        }
        let config = self.config.clone();
        let probe = tokio::task::spawn_blocking(move || probe(&config, DIAGNOSIS));
        match tokio::time::timeout(DIAGNOSIS + Duration::from_secs(5), probe).await {
            Ok(Ok(Probe::Refused(rejection, why))) => AdminError::Refused {
                operation,
                subject: subject.clone(),
                bootstrap: bootstrap.clone(),
                rejection,
                detail: why,
            },
            Ok(Ok(Probe::Silent(last))) => unexplained(last),
            _ => unexplained(None),
        }
    }

    /// `result`, its [`AdminError::NoAnswer`] [explained](Self::explain).
    async fn explained<T>(&self, result: Result<T, AdminError>) -> Result<T, AdminError> {
        match result {
            Err(e @ AdminError::NoAnswer { .. }) => Err(self.explain(e).await),
            other => other,
        }
    }

    fn no_answer(&self, operation: &'static str, subject: &str, detail: String) -> AdminError {
        AdminError::NoAnswer {
            operation,
            subject: subject.to_string(),
            bootstrap: self.bootstrap.clone(),
            after: self.timeout,
            detail,
        }
    }

    fn refused(
        &self,
        operation: &'static str,
        subject: &str,
        broker: Option<i32>,
        code: RDKafkaErrorCode,
    ) -> AdminError {
        // librdkafka's own timeouts and transport failures mean nobody answered.
        match code {
            RDKafkaErrorCode::OperationTimedOut
            | RDKafkaErrorCode::RequestTimedOut
            | RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::Resolve
            | RDKafkaErrorCode::MessageTimedOut => {
                self.no_answer(operation, subject, KafkaCode(code).to_string())
            }
            _ => match Rejection::of(code) {
                // An authorization error is Kafka's answer, typed as the refusal it is.
                Some(rejection) => AdminError::Refused {
                    operation,
                    subject: subject.to_string(),
                    bootstrap: self.bootstrap.clone(),
                    rejection,
                    detail: format!(
                        "Kafka error {}{}",
                        KafkaCode(code),
                        broker
                            .map(|b| format!(" (answered by broker {b})"))
                            .unwrap_or_default()
                    ),
                },
                None => AdminError::Kafka {
                    operation,
                    subject: subject.to_string(),
                    bootstrap: self.bootstrap.clone(),
                    broker,
                    code: KafkaCode(code),
                },
            },
        }
    }

    /// Runs a blocking librdkafka call off the async threads, bounded by the timeout.
    async fn blocking<T: Send + 'static>(
        &self,
        operation: &'static str,
        subject: &str,
        call: impl FnOnce(&AdminClient<DefaultClientContext>, Duration) -> T + Send + 'static,
    ) -> Result<T, AdminError> {
        let client = self.client.clone();
        let timeout = self.timeout;
        let task = tokio::task::spawn_blocking(move || call(&client, timeout));
        // librdkafka honours its timeout; the outer one only guards against a stuck call.
        match tokio::time::timeout(timeout + Duration::from_secs(5), task).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(join)) => Err(self.no_answer(operation, subject, join.to_string())),
            Err(_) => Err(self.no_answer(operation, subject, "the call did not return".into())),
        }
    }

    async fn metadata(
        &self,
        operation: &'static str,
        topic: Option<&str>,
    ) -> Result<Snapshot, AdminError> {
        let subject = topic.unwrap_or("cluster").to_string();
        let t = topic.map(str::to_string);
        let answer = self
            .blocking(operation, &subject, move |c, timeout| {
                c.inner()
                    .fetch_metadata(t.as_deref(), timeout)
                    .map(|m| Snapshot::of(&m))
            })
            .await;
        let answer =
            answer.and_then(|a| a.map_err(|e| self.metadata_error(operation, &subject, e)));
        self.explained(answer).await
    }

    fn metadata_error(&self, operation: &'static str, subject: &str, e: KafkaError) -> AdminError {
        match e {
            KafkaError::MetadataFetch(code) => self.refused(operation, subject, None, code),
            KafkaError::ClientCreation(_) | KafkaError::ClientConfig(..) => AdminError::Client {
                bootstrap: self.bootstrap.clone(),
                source: e,
            },
            e => self.no_answer(operation, subject, e.to_string()),
        }
    }

    /// Asks broker `id` at `address` alone. librdkafka sends a request to whichever broker
    /// it likes (the most recently used it learned of), so each try is a fresh client
    /// bootstrapped from that broker only, whose first request mostly goes there (not always:
    /// the client may learn the other brokers first); an answer from another broker is not
    /// taken, and after a few such answers it is an [`AdminError::WrongBroker`].
    async fn metadata_at(
        &self,
        operation: &'static str,
        id: i32,
        address: &str,
        topic: Option<&str>,
    ) -> Result<Snapshot, AdminError> {
        let view = KafkaAdmin {
            bootstrap: address.to_string(),
            ..self.clone()
        };
        let mut config = self.config.clone();
        config.insert("bootstrap.servers".into(), address.to_string());
        let subject = topic.unwrap_or("cluster").to_string();
        const TRIES: u32 = 10;
        let mut other = -1;
        for _ in 0..TRIES {
            let (config, t) = (config.clone(), topic.map(str::to_string));
            let answer = view
                .blocking(operation, &subject, move |_, timeout| {
                    // Made and dropped on this blocking thread: dropping a client waits for
                    // its threads.
                    let t0 = std::time::Instant::now();
                    let witness = Witness::default();
                    let client: BaseConsumer<Witness> = client_config(&config)
                        .create_with_context(witness.clone())
                        .map_err(|e| (e, None))?;
                    let answer = client
                        .fetch_metadata(t.as_deref(), timeout)
                        .map(|m| Snapshot::of(&m));
                    // Serving its events hands any refusal to the witness.
                    if answer.is_err() {
                        drain(&client);
                    }
                    let asked = t0.elapsed();
                    drop(client);
                    tracing::trace!(?asked, dropped = ?t0.elapsed(), "metadata from one broker");
                    answer.map_err(|e| (e, witness.rejection()))
                })
                .await?
                .map_err(|(e, rejection)| match rejection {
                    Some((rejection, detail)) => AdminError::Refused {
                        operation,
                        subject: subject.clone(),
                        bootstrap: address.to_string(),
                        rejection,
                        detail,
                    },
                    None => view.metadata_error(operation, &subject, e),
                })?;
            let answer = answer.naming_the_bootstrap_broker(address);
            if answer.answered_by == id {
                return Ok(answer);
            }
            other = answer.answered_by;
            tracing::debug!(
                asked = id,
                answered = other,
                "metadata from another broker; asking again"
            );
        }
        Err(AdminError::WrongBroker {
            operation,
            subject,
            broker: other,
            wanted: BTreeSet::from([id]),
            attempts: TRIES,
        })
    }

    /// `topic`'s partitions as broker `id` (at `address`, `host:port`) alone sees them: e.g.
    /// to leave out a broker that is cut off from the cluster but still reachable from here,
    /// whose stale view says it still leads.
    pub async fn describe_topic_at(
        &self,
        id: i32,
        address: &str,
        topic: &str,
    ) -> Result<Vec<PartitionInfo>, AdminError> {
        let metadata = self
            .metadata_at("describe topic", id, address, Some(topic))
            .await?;
        self.partitions("describe topic", topic, metadata)
    }

    /// The broker ids that broker `id` (at `address`) lists as registered. A broker lists
    /// itself once it is registered and (KRaft) unfenced.
    pub async fn broker_ids_at(&self, id: i32, address: &str) -> Result<BTreeSet<i32>, AdminError> {
        let metadata = self
            .metadata_at("list brokers of", id, address, None)
            .await?;
        Ok(metadata.brokers.into_iter().map(|b| b.id).collect())
    }

    /// Creates a topic and returns once every partition has a leader (as the cluster's
    /// metadata says). A topic that exists already is an error (`TOPIC_ALREADY_EXISTS`).
    pub async fn create_topic(&self, spec: &TopicSpec) -> Result<(), AdminError> {
        self.create_topics(std::slice::from_ref(spec)).await
    }

    /// Creates topics in one request and returns once every broker's metadata shows every
    /// partition of each with a leader: Kafka creates them side by side, and one check covers
    /// them all. The first topic Kafka refuses is the error (`TOPIC_ALREADY_EXISTS`, …); the
    /// others it accepted are created.
    ///
    /// ```no_run
    /// # async fn demo(admin: ducttape_services::kafka::KafkaAdmin) -> Result<(), Box<dyn std::error::Error>> {
    /// use ducttape_services::TopicSpec;
    /// admin.create_topics(&[
    ///     TopicSpec::new("test-rf1").partitions(6).replication_factor(1),
    ///     TopicSpec::new("test-rf3").partitions(6).replication_factor(3),
    /// ]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_topics(&self, specs: &[TopicSpec]) -> Result<(), AdminError> {
        const OP: &str = "create topic";
        let names = || {
            specs
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let started = std::time::Instant::now();
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut pending: Vec<&TopicSpec> = specs.iter().collect();
        let mut refused = Ok(Vec::new());
        // NOT_CONTROLLER is Kafka saying "ask again": the broker asked is not the controller
        // (just after a start, or a controller move). Java's AdminClient retries it; librdkafka
        // does not, so the topics it names are asked for again until the call's timeout.
        while !pending.is_empty() {
            let topics = pending
                .iter()
                .map(|spec| self.new_topic(OP, spec))
                .collect::<Result<Vec<_>, _>>()?;
            let subject = pending
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let results = tokio::time::timeout(
                self.timeout + Duration::from_secs(5),
                self.client.create_topics(&topics, &self.options()),
            )
            .await
            .map_err(|_| self.no_answer(OP, &subject, "no result".into()));
            let all_not_controller = |code| {
                pending
                    .iter()
                    .map(|s| (s.name.clone(), code))
                    .collect::<Vec<_>>()
            };
            let answer = results.and_then(|results| match results {
                Ok(results) if results.len() == topics.len() => Ok(results
                    .into_iter()
                    .filter_map(Result::err)
                    .collect::<Vec<_>>()),
                Ok(results) => {
                    let detail = format!("{} results for {} topics", results.len(), topics.len());
                    Err(self.no_answer(OP, &subject, detail))
                }
                Err(KafkaError::AdminOp(RDKafkaErrorCode::NotController)) => {
                    Ok(all_not_controller(RDKafkaErrorCode::NotController))
                }
                Err(KafkaError::AdminOp(code)) => Err(self.refused(OP, &subject, None, code)),
                Err(e) => Err(self.no_answer(OP, &subject, e.to_string())),
            });
            let answer = match answer {
                Ok(answer) => answer,
                Err(e) => {
                    refused = Err(e);
                    break;
                }
            };
            let (again, final_): (Vec<_>, Vec<_>) = answer
                .into_iter()
                .partition(|(_, code)| *code == RDKafkaErrorCode::NotController);
            if let Ok(r) = refused.as_mut() {
                r.extend(final_);
            }
            if again.is_empty() || tokio::time::Instant::now() >= deadline {
                if let Ok(r) = refused.as_mut() {
                    r.extend(again);
                }
                break;
            }
            tracing::debug!(topics = %subject, "NOT_CONTROLLER: asking again");
            pending.retain(|s| again.iter().any(|(t, _)| *t == s.name));
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let refused = self.explained(refused).await?;
        let created = started.elapsed();
        // The ones Kafka accepted are waited for even when another was refused: they exist
        // when this returns, either way.
        let wanted: Vec<(&str, u32)> = specs
            .iter()
            .filter(|s| !refused.iter().any(|(t, _)| *t == s.name))
            .map(|s| (s.name.as_str(), s.partitions))
            .collect();
        let waited = self.wait_for_leaders(&wanted).await;
        // Kafka's refusal is the error, whatever the wait for the others came to.
        if let Some((topic, code)) = refused.into_iter().next() {
            return Err(self.refused(OP, &topic, None, code));
        }
        waited?;
        tracing::debug!(topics = %names(), ?created, every_broker_shows_them = ?started.elapsed(), "topics created");
        Ok(())
    }

    /// The request's form of `spec` (its numbers checked to fit Kafka's `INT32`).
    fn new_topic<'a>(
        &self,
        operation: &'static str,
        spec: &'a TopicSpec,
    ) -> Result<NewTopic<'a>, AdminError> {
        let number = |n: u32, what: &str| {
            i32::try_from(n).map_err(|_| AdminError::Kafka {
                operation,
                subject: format!("{} ({what} {n} is out of range)", spec.name),
                bootstrap: self.bootstrap.clone(),
                broker: None,
                code: KafkaCode(RDKafkaErrorCode::InvalidRequest),
            })
        };
        let mut topic = NewTopic::new(
            &spec.name,
            number(spec.partitions, "partitions")?,
            TopicReplication::Fixed(number(spec.replication_factor, "replication factor")?),
        );
        for (k, v) in &spec.configs {
            topic = topic.set(k, v);
        }
        Ok(topic)
    }

    fn one_result(
        &self,
        operation: &'static str,
        subject: &str,
        results: Result<Vec<rdkafka::admin::TopicResult>, KafkaError>,
    ) -> Result<(), AdminError> {
        match results {
            Ok(results) => match results.into_iter().next() {
                Some(Ok(_)) => Ok(()),
                Some(Err((_, code))) => Err(self.refused(operation, subject, None, code)),
                None => Err(self.no_answer(operation, subject, "an empty result".into())),
            },
            Err(KafkaError::AdminOp(code)) => Err(self.refused(operation, subject, None, code)),
            Err(e) => Err(self.no_answer(operation, subject, e.to_string())),
        }
    }

    /// Waits until every registered broker's metadata shows each `(topic, partitions)` with
    /// that many partitions, each with a leader: then any broker a client asks knows them.
    /// One metadata request per broker and try covers every topic.
    async fn wait_for_leaders(&self, wanted: &[(&str, u32)]) -> Result<(), AdminError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let brokers = self.brokers().await?;
        let subject = wanted.iter().map(|w| w.0).collect::<Vec<_>>().join(", ");
        let shows_all = |snapshot: &Snapshot| {
            wanted.iter().all(|(topic, partitions)| {
                snapshot.topics.iter().any(|(name, error, parts)| {
                    name == topic
                        && error.is_none()
                        && parts.len() == *partitions as usize
                        && parts.iter().all(|p| p.leader.is_some())
                })
            })
        };
        let shown_by = |b: BrokerInfo| {
            let subject = &subject;
            async move {
                let address = format!("{}:{}", b.host, b.port);
                loop {
                    let last = match self.metadata_at("create topic", b.id, &address, None).await {
                        Ok(snapshot) if shows_all(&snapshot) => return Ok(()),
                        Ok(snapshot) => format!("broker {} shows {:?}", b.id, snapshot.topics),
                        // Nothing will change that.
                        Err(e @ AdminError::Refused { .. }) => return Err(e),
                        Err(e) => e.to_string(),
                    };
                    if tokio::time::Instant::now() >= deadline {
                        return Err(self.no_answer(
                            "create topic (waiting for every broker to show its leaders)",
                            subject,
                            last,
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        futures::future::try_join_all(brokers.into_iter().map(shown_by)).await?;
        Ok(())
    }

    /// Deletes a topic (Kafka's answer; the deletion itself completes in the background).
    pub async fn delete_topic(&self, topic: &str) -> Result<(), AdminError> {
        const OP: &str = "delete topic";
        let results = tokio::time::timeout(
            self.timeout + Duration::from_secs(5),
            self.client.delete_topics(&[topic], &self.options()),
        )
        .await
        .map_err(|_| self.no_answer(OP, topic, "no result".into()));
        let deleted = results.and_then(|r| self.one_result(OP, topic, r));
        self.explained(deleted).await
    }

    /// A topic's partitions: leader, replicas and ISR, sorted by partition. A missing topic
    /// is an error with `UNKNOWN_TOPIC_OR_PARTITION`.
    pub async fn describe_topic(&self, topic: &str) -> Result<Vec<PartitionInfo>, AdminError> {
        const OP: &str = "describe topic";
        let metadata = self.metadata(OP, Some(topic)).await?;
        self.partitions(OP, topic, metadata)
    }

    fn partitions(
        &self,
        operation: &'static str,
        topic: &str,
        metadata: Snapshot,
    ) -> Result<Vec<PartitionInfo>, AdminError> {
        let broker = Some(metadata.answered_by);
        let t = metadata
            .topics
            .into_iter()
            .find(|t| t.0 == topic)
            .ok_or_else(|| {
                self.refused(
                    operation,
                    topic,
                    broker,
                    RDKafkaErrorCode::UnknownTopicOrPartition,
                )
            })?;
        match t.1 {
            Some(code) => Err(self.refused(operation, topic, broker, code)),
            None => Ok(t.2),
        }
    }

    /// Whether `topic` exists. Only Kafka's `UNKNOWN_TOPIC_OR_PARTITION` means no; any other
    /// failure is an error, never taken for an absent topic.
    pub async fn topic_exists(&self, topic: &str) -> Result<bool, AdminError> {
        match self.describe_topic(topic).await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some(RDKafkaErrorCode::UnknownTopicOrPartition) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The broker id leading `partition` of `topic`, if it has a leader.
    pub async fn leader(&self, topic: &str, partition: u32) -> Result<Option<u32>, AdminError> {
        let parts = self.describe_topic(topic).await?;
        match parts.iter().find(|p| p.partition == partition) {
            Some(p) => Ok(p.leader),
            None => Err(self.refused(
                "leader of",
                &format!("{topic}-{partition}"),
                None,
                RDKafkaErrorCode::UnknownTopicOrPartition,
            )),
        }
    }

    /// The brokers registered with the cluster (alive), sorted by id.
    pub async fn brokers(&self) -> Result<Vec<BrokerInfo>, AdminError> {
        let metadata = self.metadata("list brokers of", None).await?;
        Ok(metadata.brokers)
    }

    /// The ids of the registered brokers.
    pub async fn broker_ids(&self) -> Result<BTreeSet<i32>, AdminError> {
        Ok(self.brokers().await?.into_iter().map(|b| b.id).collect())
    }

    /// The controller id the cluster's metadata gives (`None` if none is known within the
    /// timeout). In ZooKeeper mode that is the active controller broker; in KRaft mode brokers
    /// give clients a random live broker instead (KIP-590: clients cannot reach the quorum).
    pub async fn controller(&self) -> Result<Option<i32>, AdminError> {
        // A metadata request first, so the answer is fresh and a dead cluster is an error.
        self.metadata("find the controller of", None).await?;
        let id = self
            .blocking("find the controller of", "cluster", |c, timeout| {
                controller_id(c, timeout)
            })
            .await?;
        Ok((id >= 0).then_some(id))
    }

    /// The state of consumer group `group` (`Dead` with no members for a group Kafka does not
    /// know).
    pub async fn group(&self, group: &str) -> Result<GroupState, AdminError> {
        const OP: &str = "describe group";
        let g = group.to_string();
        let answer = self
            .blocking(OP, group, move |c, timeout| {
                c.inner().fetch_group_list(Some(&g), timeout).map(|list| {
                    list.groups()
                        .iter()
                        .map(|i| GroupState {
                            group: i.name().to_string(),
                            state: i.state().to_string(),
                            members: i.members().iter().map(|m| m.id().to_string()).collect(),
                        })
                        .collect::<Vec<_>>()
                })
            })
            .await;
        let list = match answer {
            Ok(Ok(list)) => list,
            Ok(Err(KafkaError::GroupListFetch(code))) => {
                return self
                    .explained(Err(self.refused(OP, group, None, code)))
                    .await
            }
            Ok(Err(e)) => {
                return self
                    .explained(Err(self.no_answer(OP, group, e.to_string())))
                    .await
            }
            Err(e) => return self.explained(Err(e)).await,
        };
        // Kafka's DescribeGroups calls a group it does not know `Dead`; librdkafka leaves it out.
        Ok(list
            .into_iter()
            .find(|i| i.group == group)
            .unwrap_or_else(|| GroupState {
                group: group.to_string(),
                state: "Dead".into(),
                members: Vec::new(),
            }))
    }

    /// The offsets `group` committed on each partition of `topic` (`None`: no commit).
    pub async fn committed_offsets(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<BTreeMap<u32, Option<i64>>, AdminError> {
        const OP: &str = "committed offsets of group";
        let partitions = self.describe_topic(topic).await?;
        let subject = format!("{group} on {topic}");
        let consumer = self.consumer(group, &[])?;
        let mut tpl = TopicPartitionList::new();
        for p in &partitions {
            tpl.add_partition(topic, i32::try_from(p.partition).unwrap_or(i32::MAX));
        }
        let consumer = Arc::new(consumer);
        let deadline = tokio::time::Instant::now() + self.timeout;
        let tpl = loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let (c, asked) = (consumer.clone(), tpl.clone());
            let answer = tokio::time::timeout(
                left + Duration::from_secs(5),
                tokio::task::spawn_blocking(move || c.committed_offsets(asked, left)),
            )
            .await
            .map_err(|_| self.no_answer(OP, &subject, "the call did not return".into()))?
            .map_err(|e| self.no_answer(OP, &subject, e.to_string()))?;
            match answer {
                Ok(tpl) => break tpl,
                // The group's coordinator moves or loads (the first group creates
                // `__consumer_offsets`): Kafka says to ask again.
                Err(e)
                    if e.rdkafka_error_code().is_some_and(coordinator_busy)
                        && tokio::time::Instant::now() < deadline =>
                {
                    tracing::debug!(%e, "asking for committed offsets again");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    let e = match e.rdkafka_error_code() {
                        Some(code) => self.refused(OP, &subject, None, code),
                        None => self.no_answer(OP, &subject, e.to_string()),
                    };
                    return self.explained(Err(e)).await;
                }
            }
        };
        let mut out = BTreeMap::new();
        for e in tpl.elements() {
            if let Err(KafkaError::OffsetFetch(code)) = e.error() {
                return Err(self.refused(OP, &subject, None, code));
            }
            let offset = match e.offset() {
                Offset::Offset(n) => Some(n),
                _ => None,
            };
            out.insert(u32::try_from(e.partition()).unwrap_or(u32::MAX), offset);
        }
        Ok(out)
    }

    /// The end offset of each partition of `topic` as its leader answers a consumer (`ListOffsets`
    /// for the latest offset, read-uncommitted): the high watermark, one past the last record a
    /// consumer can read. What a consumer that has read everything must have reached.
    pub async fn end_offsets(&self, topic: &str) -> Result<BTreeMap<u32, i64>, AdminError> {
        const OP: &str = "end offsets of topic";
        let partitions = self.describe_topic(topic).await?;
        // librdkafka's consumers default to read_committed, which answers the last stable offset.
        let consumer = self.consumer(
            "ducttape-end-offsets",
            &[("isolation.level", "read_uncommitted")],
        )?;
        let consumer = Arc::new(consumer);
        let mut out = BTreeMap::new();
        for p in partitions {
            let (c, t) = (consumer.clone(), topic.to_string());
            let number = i32::try_from(p.partition).unwrap_or(i32::MAX);
            let subject = format!("{topic}-{}", p.partition);
            let answer = self
                .blocking(OP, &subject, move |_, timeout| {
                    c.fetch_watermarks(&t, number, timeout)
                })
                .await?;
            match answer {
                Ok((_, high)) => {
                    out.insert(p.partition, high);
                }
                Err(e) => {
                    let e = match e.rdkafka_error_code() {
                        Some(code) => self.refused(OP, &subject, None, code),
                        None => self.no_answer(OP, &subject, e.to_string()),
                    };
                    return self.explained(Err(e)).await;
                }
            }
        }
        Ok(out)
    }
}

/// librdkafka's `rd_kafka_controllerid`, which `rdkafka` does not wrap.
#[allow(unsafe_code)] // one call of librdkafka's public C API; see SAFETY
fn controller_id(client: &AdminClient<DefaultClientContext>, timeout: Duration) -> i32 {
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: the handle is the live client's (`client` is borrowed for the whole call), and
    // rd_kafka_controllerid only reads the client's broker state under librdkafka's own locks.
    unsafe { rdkafka::bindings::rd_kafka_controllerid(client.inner().native_ptr(), ms) }
}

/// What a metadata answer says, owned (librdkafka's metadata cannot cross threads).
struct Snapshot {
    /// The broker that answered.
    answered_by: i32,
    /// The registered brokers, sorted by id.
    brokers: Vec<BrokerInfo>,
    /// Each topic asked for: name, error, partitions sorted by number.
    topics: Vec<(String, Option<RDKafkaErrorCode>, Vec<PartitionInfo>)>,
}

impl Snapshot {
    /// An answer from the bootstrap connection comes from broker -1 (librdkafka has not yet
    /// matched that connection to a broker id): it is the broker at `address`, so it gets
    /// that broker's id from the answer's own list. (Found as `answered by broker -1` failing
    /// a KRaft run of `kafka_admin.rs` under load.)
    fn naming_the_bootstrap_broker(mut self, address: &str) -> Self {
        if self.answered_by < 0 {
            if let Some(b) = self
                .brokers
                .iter()
                .find(|b| format!("{}:{}", b.host, b.port) == address)
            {
                self.answered_by = b.id;
            }
        }
        self
    }

    fn of(m: &rdkafka::metadata::Metadata) -> Self {
        let mut brokers: Vec<BrokerInfo> = m
            .brokers()
            .iter()
            .map(|b| BrokerInfo {
                id: b.id(),
                host: b.host().to_string(),
                port: b.port(),
            })
            .collect();
        brokers.sort_by_key(|b| b.id);
        let topics = m
            .topics()
            .iter()
            .map(|t| {
                let mut parts: Vec<PartitionInfo> = t
                    .partitions()
                    .iter()
                    .map(|p| PartitionInfo {
                        topic: t.name().to_string(),
                        partition: u32::try_from(p.id()).unwrap_or(u32::MAX),
                        leader: u32::try_from(p.leader()).ok(),
                        replicas: ids(p.replicas()),
                        isr: ids(p.isr()),
                    })
                    .collect();
                parts.sort_by_key(|p| p.partition);
                (t.name().to_string(), t.error().map(Into::into), parts)
            })
            .collect();
        Self {
            answered_by: m.orig_broker_id(),
            brokers,
            topics,
        }
    }
}

/// What a probe of the brokers found (see [`KafkaAdmin::explain`]).
enum Probe {
    /// A refusal and librdkafka's words.
    Refused(Rejection, String),
    /// None within the time; the last error seen, if any.
    Silent(Option<String>),
}

/// Asks the brokers for metadata with a fresh client of `settings` for up to `wait`, serving
/// its events, until it has been refused or the time is up.
fn probe(settings: &BTreeMap<String, String>, wait: Duration) -> Probe {
    let witness = Witness::default();
    let client: BaseConsumer<Witness> =
        match client_config(settings).create_with_context(witness.clone()) {
            Ok(c) => c,
            Err(e) => return Probe::Silent(Some(e.to_string())),
        };
    let deadline = std::time::Instant::now() + wait;
    while std::time::Instant::now() < deadline {
        // A request makes it connect (and authenticate); a refusal arrives as an event.
        if client
            .fetch_metadata(None, Duration::from_millis(500))
            .is_ok()
        {
            break;
        }
        drain(&client);
        if let Some((rejection, why)) = witness.rejection() {
            return Probe::Refused(rejection, why);
        }
    }
    drain(&client);
    match witness.rejection() {
        Some((rejection, why)) => Probe::Refused(rejection, why),
        None => Probe::Silent(witness.last()),
    }
}

/// Serves the events a consumer has queued (errors reach its context's `error`); a consumer
/// with no subscription has no records to return. A poll returns at an error event but goes
/// on past log events only while its timeout lasts: with none it would stop at the first log
/// line, before an error queued behind it.
fn drain(client: &BaseConsumer<Witness>) {
    for _ in 0..100 {
        if client.poll(Duration::from_millis(50)).is_none() {
            break;
        }
    }
}

/// Codes that mean "the group coordinator is not ready; ask again".
fn coordinator_busy(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::NotCoordinator
            | RDKafkaErrorCode::CoordinatorNotAvailable
            | RDKafkaErrorCode::CoordinatorLoadInProgress
    )
}

impl KafkaAdmin {
    /// A consumer of this client's settings in `group`, committing nothing by itself and
    /// creating no topic, with `extra` settings on top: for reading offsets, never records.
    fn consumer(&self, group: &str, extra: &[(&str, &str)]) -> Result<BaseConsumer, AdminError> {
        let mut config = self.config.clone();
        config.remove("allow.auto.create.topics");
        config.insert("group.id".into(), group.to_string());
        config.insert("enable.auto.commit".into(), "false".into());
        for (k, v) in extra {
            config.insert((*k).into(), (*v).into());
        }
        client_config(&config)
            .create()
            .map_err(|source| AdminError::Client {
                bootstrap: self.bootstrap.clone(),
                source,
            })
    }
}

fn client_config(settings: &BTreeMap<String, String>) -> ClientConfig {
    let mut config = ClientConfig::new();
    for (k, v) in settings {
        config.set(k, v);
    }
    config
}

fn ids(list: &[i32]) -> Vec<u32> {
    list.iter().filter_map(|&i| u32::try_from(i).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_named_as_kafka_names_them() {
        let c = KafkaCode(RDKafkaErrorCode::TopicAlreadyExists);
        assert_eq!(c.name(), "TOPIC_ALREADY_EXISTS");
        assert_eq!(c.number(), 36);
        assert_eq!(
            KafkaCode(RDKafkaErrorCode::UnknownTopicOrPartition).name(),
            "UNKNOWN_TOPIC_OR_PARTITION"
        );
        assert!(
            c.to_string().starts_with("TOPIC_ALREADY_EXISTS (36): "),
            "{c}"
        );
    }

    #[test]
    fn an_answer_from_the_bootstrap_connection_is_the_broker_at_its_address() {
        let snapshot = || Snapshot {
            answered_by: -1,
            brokers: vec![
                BrokerInfo {
                    id: 1,
                    host: "10.0.0.2".into(),
                    port: 9092,
                },
                BrokerInfo {
                    id: 2,
                    host: "10.0.0.3".into(),
                    port: 9092,
                },
            ],
            topics: Vec::new(),
        };
        assert_eq!(
            snapshot()
                .naming_the_bootstrap_broker("10.0.0.3:9092")
                .answered_by,
            2
        );
        // An address the answer does not list stays unknown.
        assert_eq!(
            snapshot()
                .naming_the_bootstrap_broker("10.0.0.9:9092")
                .answered_by,
            -1
        );
    }

    #[test]
    fn refusals_are_told_from_other_failures() {
        assert_eq!(
            Rejection::of(RDKafkaErrorCode::Authentication),
            Some(Rejection::Authentication)
        );
        assert_eq!(
            Rejection::of(RDKafkaErrorCode::SaslAuthenticationFailed),
            Some(Rejection::Authentication)
        );
        assert_eq!(Rejection::of(RDKafkaErrorCode::SSL), Some(Rejection::Tls));
        assert_eq!(
            Rejection::of(RDKafkaErrorCode::TopicAuthorizationFailed),
            Some(Rejection::Authorization)
        );
        assert_eq!(
            Rejection::of(RDKafkaErrorCode::ClusterAuthorizationFailed),
            Some(Rejection::Authorization)
        );
        // A dead broker or a slow one is not a refusal.
        assert_eq!(
            Rejection::of(RDKafkaErrorCode::BrokerTransportFailure),
            None
        );
        assert_eq!(Rejection::of(RDKafkaErrorCode::AllBrokersDown), None);
        assert_eq!(Rejection::of(RDKafkaErrorCode::RequestTimedOut), None);
    }

    #[test]
    fn a_bad_setting_fails_at_once_naming_the_bootstrap() {
        let e = KafkaAdmin::with_config("h:9092", [("no.such.setting", "1")]).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("h:9092") && text.contains("no.such.setting"),
            "{text}"
        );
    }
}
