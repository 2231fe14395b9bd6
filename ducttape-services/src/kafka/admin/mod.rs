//! Kafka's control operations from the test process, through librdkafka (`rdkafka`): topics
//! (create, describe, delete, exists), partition leaders and ISR, the registered brokers, the
//! controller id, consumer-group state and committed offsets, partition reassignments.
//! None of them starts a JVM: a
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
//!
//! Files, by job: `error.rs` (what operations fail with), `metadata.rs` (brokers, controller,
//! a topic as one broker sees it), `topics.rs`, `groups.rs` (groups and offsets),
//! `diagnose.rs` (why a secured cluster is silent), `reassignments.rs` (partition moves
//! through the admin API, over `wire.rs`: Kafka's protocol for what librdkafka lacks).

mod diagnose;
mod error;
mod groups;
mod metadata;
mod reassignments;
mod topics;
mod wire;

pub use error::{AdminError, KafkaCode, Rejection};
pub use reassignments::OngoingReassignment;
pub use wire::WireError;

use diagnose::{drain, Witness};
use metadata::Snapshot;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

/// How long one operation may take by default (a dead cluster fails after this, never hangs).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a secured cluster's silence is looked into for a refusal (see the module docs).
const DIAGNOSIS: Duration = Duration::from_secs(5);

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
    fn a_bad_setting_fails_at_once_naming_the_bootstrap() {
        let e = KafkaAdmin::with_config("h:9092", [("no.such.setting", "1")]).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("h:9092") && text.contains("no.such.setting"),
            "{text}"
        );
    }
}
