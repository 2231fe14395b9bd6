//! Offsets by time from the test process ([`KafkaService::offsets_for_time`]): what Kafka's
//! `ListOffsets` answers for a timestamp, through librdkafka — the control client's side of
//! the comparisons with `GetOffsetShell --time`.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::admin::AdminError;
use super::service::KafkaService;
use crate::error::ServiceError;

impl KafkaService {
    /// For each partition of `topic`, the earliest offset whose record's timestamp is at least
    /// `timestamp_ms` (ms since the epoch); a partition with no record that late is left out,
    /// as Kafka answers it no offset (and `GetOffsetShell` prints no line for it).
    pub async fn offsets_for_time(
        &self,
        topic: &str,
        timestamp_ms: i64,
    ) -> Result<BTreeMap<u32, i64>, ServiceError> {
        let admin = self.admin()?;
        let partitions = admin.describe_topic(topic).await?;
        let bootstrap = admin.bootstrap().to_string();
        let client_error = |source| AdminError::Client {
            bootstrap: bootstrap.clone(),
            source,
        };
        let mut config = ClientConfig::new();
        for (k, v) in admin.config() {
            if k != "allow.auto.create.topics" {
                config.set(k, v);
            }
        }
        config.set("group.id", "ducttape-offsets-for-time");
        let consumer: BaseConsumer = config.create().map_err(client_error)?;
        let mut asked = TopicPartitionList::new();
        for p in &partitions {
            let number = i32::try_from(p.partition).unwrap_or(i32::MAX);
            asked
                .add_partition_offset(topic, number, Offset::Offset(timestamp_ms))
                .map_err(client_error)?;
        }
        let timeout = Duration::from_secs(30);
        let answer =
            tokio::task::spawn_blocking(move || consumer.offsets_for_times(asked, timeout))
                .await
                .map_err(|e| no_answer(topic, &bootstrap, e.to_string()))?
                .map_err(|e| no_answer(topic, &bootstrap, e.to_string()))?;
        Ok(answer
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(n) if n >= 0 => {
                    Some((u32::try_from(e.partition()).unwrap_or(u32::MAX), n))
                }
                _ => None,
            })
            .collect())
    }
}

fn no_answer(topic: &str, bootstrap: &str, detail: String) -> ServiceError {
    AdminError::NoAnswer {
        operation: "offsets for time of topic",
        subject: topic.to_string(),
        bootstrap: bootstrap.to_string(),
        after: Duration::from_secs(30),
        detail,
    }
    .into()
}
