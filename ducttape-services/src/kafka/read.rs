//! Reading a whole topic from the test process ([`KafkaService::read_topic`]), at either
//! isolation level, through librdkafka: a second client implementation beside the JVM tools,
//! and an end that needs no idle timeout — each partition is read until librdkafka reports its
//! end (the high watermark, or with `read_committed` the last stable offset).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::admin::AdminError;
use super::service::KafkaService;
use crate::error::ServiceError;
use crate::verifiable::ReadRecord;

/// Which records a read returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Only committed transactions' records (and non-transactional ones).
    ReadCommitted,
    /// Every record in the log, aborted transactions' included.
    ReadUncommitted,
}

impl Isolation {
    /// Kafka's name for it (`isolation.level`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadCommitted => "read_committed",
            Self::ReadUncommitted => "read_uncommitted",
        }
    }
}

/// How long a read may go without a record or an end before it is called stuck.
const STALL: Duration = Duration::from_secs(60);

impl KafkaService {
    /// Every record of `topic` from the beginning, as `isolation` lets a consumer see them,
    /// each partition in offset order. Reads until every partition reports its end; a read
    /// that gets nothing for 60 s before that is an error naming the partitions not done.
    /// Values are read as UTF-8 text (lossy).
    pub async fn read_topic(
        &self,
        topic: &str,
        isolation: Isolation,
    ) -> Result<Vec<ReadRecord>, ServiceError> {
        let admin = self.admin()?;
        let partitions = admin.describe_topic(topic).await?;
        let bootstrap = admin.bootstrap().to_string();
        let mut config = ClientConfig::new();
        for (k, v) in admin.config() {
            if k != "allow.auto.create.topics" {
                config.set(k, v);
            }
        }
        config
            .set("group.id", format!("ducttape-read-{topic}"))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .set("isolation.level", isolation.as_str());
        let consumer: BaseConsumer = config.create().map_err(|source| AdminError::Client {
            bootstrap: bootstrap.clone(),
            source,
        })?;
        let mut assignment = TopicPartitionList::new();
        for p in &partitions {
            let number = i32::try_from(p.partition).unwrap_or(i32::MAX);
            assignment
                .add_partition_offset(topic, number, Offset::Beginning)
                .map_err(|source| AdminError::Client {
                    bootstrap: bootstrap.clone(),
                    source,
                })?;
        }
        consumer
            .assign(&assignment)
            .map_err(|source| AdminError::Client {
                bootstrap: bootstrap.clone(),
                source,
            })?;
        let wanted: BTreeSet<i32> = partitions
            .iter()
            .map(|p| i32::try_from(p.partition).unwrap_or(i32::MAX))
            .collect();
        let subject = format!("{topic} ({})", isolation.as_str());
        let task = tokio::task::spawn_blocking(move || read_to_eof(&consumer, &wanted));
        let answer = task.await.map_err(|e| AdminError::NoAnswer {
            operation: "read topic",
            subject: subject.clone(),
            bootstrap: bootstrap.clone(),
            after: STALL,
            detail: e.to_string(),
        })?;
        answer.map_err(|stalled| {
            AdminError::NoAnswer {
                operation: "read topic",
                subject,
                bootstrap,
                after: STALL,
                detail: stalled.to_string(),
            }
            .into()
        })
    }
}

/// A read that stopped getting anywhere.
#[derive(Debug, thiserror::Error)]
#[error("nothing read and no end reported for partitions {open:?} ({read} records read)")]
struct Stalled {
    /// The partitions that did not report their end.
    open: Vec<i32>,
    /// How many records were read.
    read: usize,
}

/// Polls until every partition of `wanted` reported its end; `Err` says which did not.
fn read_to_eof(
    consumer: &BaseConsumer,
    wanted: &BTreeSet<i32>,
) -> Result<Vec<ReadRecord>, Stalled> {
    let mut records = Vec::new();
    let mut ended: BTreeMap<i32, bool> = wanted.iter().map(|p| (*p, false)).collect();
    let mut last_progress = Instant::now();
    while ended.values().any(|e| !e) {
        if last_progress.elapsed() > STALL {
            let open: Vec<i32> = ended
                .iter()
                .filter(|(_, e)| !**e)
                .map(|(p, _)| *p)
                .collect();
            return Err(Stalled {
                open,
                read: records.len(),
            });
        }
        match consumer.poll(Duration::from_millis(500)) {
            None => {}
            Some(Ok(m)) => {
                last_progress = Instant::now();
                // A record after an end: the partition grew, read on.
                ended.insert(m.partition(), false);
                records.push(ReadRecord {
                    partition: m.partition(),
                    offset: m.offset(),
                    value: m
                        .payload()
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                        .unwrap_or_default(),
                });
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                last_progress = Instant::now();
                ended.insert(p, true);
            }
            Some(Err(e)) => tracing::debug!(%e, "reading a topic: transient error"),
        }
    }
    Ok(records)
}
