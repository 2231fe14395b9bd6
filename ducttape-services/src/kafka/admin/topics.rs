//! Topics: create (waiting for every partition's leader), delete, describe, exists, leader.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ducttape_core::wait_until;

use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::kafka::topics::{PartitionInfo, TopicSpec};

use super::*;

impl KafkaAdmin {
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
        if specs.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let deadline = tokio::time::Instant::now() + self.timeout;
        let pending: Mutex<Vec<&TopicSpec>> = Mutex::new(specs.iter().collect());
        let settled: Mutex<Vec<(String, RDKafkaErrorCode)>> = Mutex::new(Vec::new());
        // NOT_CONTROLLER is Kafka saying "ask again": the broker asked is not the controller
        // (just after a start, or a controller move). Java's AdminClient retries it; librdkafka
        // does not, so the topics it names are asked for again until the call's timeout, which
        // then decides; every other answer is final. The wait's own timeout only catches a
        // request that hangs: each is bounded well inside it.
        let asked = wait_until(
            &format!("{OP} {}: Kafka's answer", names()),
            self.timeout * 2 + Duration::from_secs(10),
            Duration::from_millis(250),
            || {
                let (pending, settled) = (&pending, &settled);
                async move {
                    let asking = lock(pending).clone();
                    let answer = match self.ask_to_create(OP, &asking).await {
                        Ok(answer) => answer,
                        Err(e) => return Ok::<_, std::convert::Infallible>(Some(Err(e))),
                    };
                    let (again, final_): (Vec<_>, Vec<_>) = answer
                        .into_iter()
                        .partition(|(_, code)| *code == RDKafkaErrorCode::NotController);
                    lock(settled).extend(final_);
                    if again.is_empty() || tokio::time::Instant::now() >= deadline {
                        lock(settled).extend(again);
                        return Ok(Some(Ok(())));
                    }
                    let names: Vec<&str> = again.iter().map(|(t, _)| t.as_str()).collect();
                    tracing::debug!(topics = ?names, "NOT_CONTROLLER: asking again");
                    lock(pending).retain(|s| again.iter().any(|(t, _)| *t == s.name));
                    Ok(None)
                }
            },
        )
        .await;
        let refused = match asked {
            Ok(Ok(())) => Ok(std::mem::take(&mut *lock(&settled))),
            Ok(Err(e)) => Err(e),
            Err(wait) => Err(self.no_answer(OP, &names(), wait.to_string())),
        };
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

    /// One `CreateTopics` request for `pending`: Kafka's refusal of each topic it refused
    /// (`NOT_CONTROLLER` for all of them when the whole request was sent to a non-controller).
    async fn ask_to_create(
        &self,
        operation: &'static str,
        pending: &[&TopicSpec],
    ) -> Result<Vec<(String, RDKafkaErrorCode)>, AdminError> {
        let topics = pending
            .iter()
            .map(|spec| self.new_topic(operation, spec))
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
        .map_err(|_| self.no_answer(operation, &subject, "no result".into()))?;
        match results {
            Ok(results) if results.len() == topics.len() => Ok(results
                .into_iter()
                .filter_map(Result::err)
                .collect::<Vec<_>>()),
            Ok(results) => {
                let detail = format!("{} results for {} topics", results.len(), topics.len());
                Err(self.no_answer(operation, &subject, detail))
            }
            Err(KafkaError::AdminOp(RDKafkaErrorCode::NotController)) => Ok(pending
                .iter()
                .map(|s| (s.name.clone(), RDKafkaErrorCode::NotController))
                .collect()),
            Err(KafkaError::AdminOp(code)) => Err(self.refused(operation, &subject, None, code)),
            Err(e) => Err(self.no_answer(operation, &subject, e.to_string())),
        }
    }

    /// The request's form of `spec` (its numbers checked to fit Kafka's `INT32`).
    pub(super) fn new_topic<'a>(
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

    pub(super) fn one_result(
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
    pub(super) async fn wait_for_leaders(&self, wanted: &[(&str, u32)]) -> Result<(), AdminError> {
        let started = std::time::Instant::now();
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
                let what = format!("broker {} shows the topics' leaders", b.id);
                let left = self.timeout.saturating_sub(started.elapsed());
                let shown = wait_until(&what, left, Duration::from_millis(20), || async {
                    match self.metadata_at("create topic", b.id, &address, None).await {
                        Ok(snapshot) if shows_all(&snapshot) => Ok(Some(Ok(()))),
                        Ok(snapshot) => Err(format!("broker {} shows {:?}", b.id, snapshot.topics)),
                        // Nothing will change that.
                        Err(e @ AdminError::Refused { .. }) => Ok(Some(Err(e))),
                        Err(e) => Err(e.to_string()),
                    }
                })
                .await;
                shown.unwrap_or_else(|wait| {
                    Err(self.no_answer(
                        "create topic (waiting for every broker to show its leaders)",
                        subject,
                        wait.last_error.unwrap_or(wait.what),
                    ))
                })
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

    pub(super) fn partitions(
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
}

/// `mutex`'s guard (a panic elsewhere leaves the data as it was: a list of topics).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
