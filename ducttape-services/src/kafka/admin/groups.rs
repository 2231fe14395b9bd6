//! Consumer groups and offsets: a group's state, its committed offsets, a topic's end
//! offsets (through a consumer of the client's settings that reads no records).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ducttape_core::wait_until;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;

use super::*;

impl KafkaAdmin {
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
        // Kafka's answer, asked again while the group's coordinator moves or loads (the first
        // group creates `__consumer_offsets`: Kafka says to ask again) until the call's
        // timeout, which then decides. The wait's own timeout only catches a call that hangs:
        // each call is bounded well inside it. A call that breaks is final (`Err(detail)`).
        let answer = wait_until(
            &format!("{OP} {subject}: an answer"),
            self.timeout + Duration::from_secs(10),
            Duration::from_millis(100),
            || {
                let (c, asked) = (consumer.clone(), tpl.clone());
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                async move {
                    let called = tokio::time::timeout(
                        left + Duration::from_secs(5),
                        tokio::task::spawn_blocking(move || c.committed_offsets(asked, left)),
                    )
                    .await;
                    let answer = match called {
                        Err(_) => return Ok(Some(Err("the call did not return".to_string()))),
                        Ok(Err(e)) => return Ok(Some(Err(e.to_string()))),
                        Ok(Ok(answer)) => answer,
                    };
                    match answer {
                        Err(e)
                            if e.rdkafka_error_code().is_some_and(coordinator_busy)
                                && tokio::time::Instant::now() < deadline =>
                        {
                            tracing::debug!(%e, "asking for committed offsets again");
                            Err(e.to_string())
                        }
                        answer => Ok(Some(Ok(answer))),
                    }
                }
            },
        )
        .await;
        let tpl = match answer {
            Ok(Ok(Ok(tpl))) => tpl,
            Ok(Ok(Err(e))) => {
                let e = match e.rdkafka_error_code() {
                    Some(code) => self.refused(OP, &subject, None, code),
                    None => self.no_answer(OP, &subject, e.to_string()),
                };
                return self.explained(Err(e)).await;
            }
            Ok(Err(detail)) => return Err(self.no_answer(OP, &subject, detail)),
            Err(wait) => return Err(self.no_answer(OP, &subject, wait.to_string())),
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
        let marks = self.watermarks("end offsets of topic", topic).await?;
        Ok(marks.into_iter().map(|(p, (_, high))| (p, high)).collect())
    }

    /// The log start offset of each partition of `topic` as its leader answers (`ListOffsets`
    /// for the earliest offset): 0 until retention or a deletion removed the first records.
    pub async fn start_offsets(&self, topic: &str) -> Result<BTreeMap<u32, i64>, AdminError> {
        let marks = self.watermarks("start offsets of topic", topic).await?;
        Ok(marks.into_iter().map(|(p, (low, _))| (p, low)).collect())
    }

    /// Each partition's (log start offset, high watermark).
    async fn watermarks(
        &self,
        op: &'static str,
        topic: &str,
    ) -> Result<BTreeMap<u32, (i64, i64)>, AdminError> {
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
                .blocking(op, &subject, move |_, timeout| {
                    c.fetch_watermarks(&t, number, timeout)
                })
                .await?;
            match answer {
                Ok(marks) => {
                    out.insert(p.partition, marks);
                }
                Err(e) => {
                    let e = match e.rdkafka_error_code() {
                        Some(code) => self.refused(op, &subject, None, code),
                        None => self.no_answer(op, &subject, e.to_string()),
                    };
                    return self.explained(Err(e)).await;
                }
            }
        }
        Ok(out)
    }
}

/// Codes that mean "the group coordinator is not ready; ask again".
pub(super) fn coordinator_busy(code: RDKafkaErrorCode) -> bool {
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
    pub(super) fn consumer(
        &self,
        group: &str,
        extra: &[(&str, &str)],
    ) -> Result<BaseConsumer, AdminError> {
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
