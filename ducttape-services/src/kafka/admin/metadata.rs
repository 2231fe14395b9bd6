//! Metadata: which brokers are registered, the controller, a topic's partitions as one
//! broker sees them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::kafka::topics::PartitionInfo;

use super::*;

impl KafkaAdmin {
    pub(super) async fn metadata(
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

    pub(super) fn metadata_error(
        &self,
        operation: &'static str,
        subject: &str,
        e: KafkaError,
    ) -> AdminError {
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
    pub(super) async fn metadata_at(
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

    /// Every topic broker `id` (at `address`) alone knows, internal ones included, with its
    /// partition numbers: what that broker's metadata holds (e.g. after it rebuilt it from a
    /// snapshot). A topic it answers with an error for is an error naming it.
    pub async fn topics_at(
        &self,
        id: i32,
        address: &str,
    ) -> Result<BTreeMap<String, BTreeSet<u32>>, AdminError> {
        const OPERATION: &str = "list topics of";
        let metadata = self.metadata_at(OPERATION, id, address, None).await?;
        let broker = Some(metadata.answered_by);
        let mut topics = BTreeMap::new();
        for (name, error, partitions) in metadata.topics {
            if let Some(code) = error {
                return Err(self.refused(OPERATION, &name, broker, code));
            }
            topics.insert(name, partitions.iter().map(|p| p.partition).collect());
        }
        Ok(topics)
    }

    /// The broker ids that broker `id` (at `address`) lists as registered. A broker lists
    /// itself once it is registered and (KRaft) unfenced.
    pub async fn broker_ids_at(&self, id: i32, address: &str) -> Result<BTreeSet<i32>, AdminError> {
        let metadata = self
            .metadata_at("list brokers of", id, address, None)
            .await?;
        Ok(metadata.brokers.into_iter().map(|b| b.id).collect())
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
}

/// librdkafka's `rd_kafka_controllerid`, which `rdkafka` does not wrap.
#[allow(unsafe_code)] // one call of librdkafka's public C API; see SAFETY
pub(super) fn controller_id(client: &AdminClient<DefaultClientContext>, timeout: Duration) -> i32 {
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: the handle is the live client's (`client` is borrowed for the whole call), and
    // rd_kafka_controllerid only reads the client's broker state under librdkafka's own locks.
    unsafe { rdkafka::bindings::rd_kafka_controllerid(client.inner().native_ptr(), ms) }
}

/// What a metadata answer says, owned (librdkafka's metadata cannot cross threads).
pub(super) struct Snapshot {
    /// The broker that answered.
    pub(super) answered_by: i32,
    /// The registered brokers, sorted by id.
    pub(super) brokers: Vec<BrokerInfo>,
    /// Each topic asked for: name, error, partitions sorted by number.
    pub(super) topics: Vec<(String, Option<RDKafkaErrorCode>, Vec<PartitionInfo>)>,
}

impl Snapshot {
    /// An answer from the bootstrap connection comes from broker -1 (librdkafka has not yet
    /// matched that connection to a broker id): it is the broker at `address`, so it gets
    /// that broker's id from the answer's own list. (Found as `answered by broker -1` failing
    /// a KRaft run of `kafka_admin.rs` under load.)
    pub(super) fn naming_the_bootstrap_broker(mut self, address: &str) -> Self {
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

    pub(super) fn of(m: &rdkafka::metadata::Metadata) -> Self {
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
#[cfg(test)]
mod tests {
    use super::*;

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
}
