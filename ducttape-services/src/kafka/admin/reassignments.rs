//! Partition reassignment through the admin API (KIP-455): `AlterPartitionReassignments`
//! starts or cancels moves, `ListPartitionReassignments` lists the ongoing ones. librdkafka
//! has neither, so they go over Kafka's wire protocol ([`super::wire`]) to the controller
//! the metadata names (in ZooKeeper mode it must answer itself; a KRaft broker forwards to the
//! active controller). PLAINTEXT only: a secured cluster's client settings are refused with
//! an error saying so (`kafka-reassign-partitions` serves those clusters).

use std::collections::BTreeMap;
use std::time::Duration;

use super::wire::{code_name, exchange, Decoder, Encoder, WireError};
use super::*;

const ALTER: i16 = 45;
const LIST: i16 = 46;
/// `NOT_CONTROLLER`: ask again once the metadata names the new controller.
const NOT_CONTROLLER: i16 = 41;

/// A partition and its requested replicas (`None`: cancel its move), as the request has them.
type PartitionTarget = (u32, Option<Vec<i32>>);

/// A partition being moved, as `ListPartitionReassignments` tells it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OngoingReassignment {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// Every replica it has now, old and new.
    pub replicas: Vec<u32>,
    /// Replicas being added (not yet in sync).
    pub adding: Vec<u32>,
    /// Replicas to be removed once the added ones are in sync.
    pub removing: Vec<u32>,
}

impl KafkaAdmin {
    /// Starts moving each `(topic, partition)` of `targets` to its replicas (`None` cancels
    /// the partition's ongoing move). Returns once the controller accepted every partition;
    /// a partition it refused is an error naming it with Kafka's code and message (e.g.
    /// `INVALID_REPLICA_ASSIGNMENT (39): … includes broker 5, but no such broker is
    /// registered.`).
    pub async fn alter_partition_reassignments(
        &self,
        targets: &BTreeMap<(String, u32), Option<Vec<u32>>>,
    ) -> Result<(), AdminError> {
        const OP: &str = "alter partition reassignments of";
        let subject = subjects(targets.keys());
        let mut by_topic: BTreeMap<&str, Vec<PartitionTarget>> = BTreeMap::new();
        for ((topic, partition), replicas) in targets {
            let replicas = replicas.as_ref().map(|r| {
                r.iter()
                    .map(|&id| i32::try_from(id).unwrap_or(i32::MAX))
                    .collect()
            });
            by_topic
                .entry(topic)
                .or_default()
                .push((*partition, replicas));
        }
        let body = || {
            let mut e = Encoder::new();
            e.i32(self.timeout_ms()).compact_len(Some(by_topic.len()));
            for (topic, partitions) in &by_topic {
                e.compact_string(topic).compact_len(Some(partitions.len()));
                for (partition, replicas) in partitions {
                    e.i32(i32::try_from(*partition).unwrap_or(i32::MAX))
                        .compact_i32s(replicas.as_deref())
                        .no_tags();
                }
                e.no_tags();
            }
            e.no_tags();
            e
        };
        let (broker, address, answer) = self.to_controller(OP, &subject, ALTER, body).await?;
        parse_alter(&answer).map_err(|source| AdminError::Request {
            operation: OP,
            subject: subject.clone(),
            broker,
            address: address.clone(),
            source,
        })
    }

    /// The partitions being moved now (every topic's).
    pub async fn list_partition_reassignments(
        &self,
    ) -> Result<Vec<OngoingReassignment>, AdminError> {
        const OP: &str = "list partition reassignments of";
        let body = || {
            let mut e = Encoder::new();
            e.i32(self.timeout_ms()).compact_len(None).no_tags();
            e
        };
        let (broker, address, answer) = self.to_controller(OP, "the cluster", LIST, body).await?;
        parse_list(&answer).map_err(|source| AdminError::Request {
            operation: OP,
            subject: "the cluster".into(),
            broker,
            address,
            source,
        })
    }

    fn timeout_ms(&self) -> i32 {
        i32::try_from(self.timeout.as_millis()).unwrap_or(i32::MAX)
    }

    /// Sends the request `body()` makes to the controller the metadata names, again to the
    /// next one named while the answer is `NOT_CONTROLLER` (until the timeout); returns who
    /// answered and the answer's body.
    async fn to_controller(
        &self,
        operation: &'static str,
        subject: &str,
        api_key: i16,
        body: impl Fn() -> Encoder,
    ) -> Result<(i32, String, Vec<u8>), AdminError> {
        let protocol = self
            .config
            .get("security.protocol")
            .map(|p| p.to_ascii_uppercase());
        if protocol.as_deref().is_some_and(|p| p != "PLAINTEXT") {
            return Err(AdminError::Request {
                operation,
                subject: subject.to_string(),
                broker: -1,
                address: self.bootstrap.clone(),
                source: WireError::NotPlaintext {
                    protocol: protocol.unwrap_or_default(),
                },
            });
        }
        let started = tokio::time::Instant::now();
        loop {
            let controller = self.controller().await?.ok_or_else(|| {
                self.no_answer(
                    operation,
                    subject,
                    "the metadata names no controller".into(),
                )
            })?;
            let address = self
                .brokers()
                .await?
                .into_iter()
                .find(|b| b.id == controller)
                .map(|b| format!("{}:{}", b.host, b.port))
                .ok_or_else(|| {
                    self.no_answer(
                        operation,
                        subject,
                        format!("controller {controller} is not among the registered brokers"),
                    )
                })?;
            let request = |source: WireError| AdminError::Request {
                operation,
                subject: subject.to_string(),
                broker: controller,
                address: address.clone(),
                source,
            };
            let answer = exchange(&address, api_key, 0, body(), self.timeout)
                .await
                .map_err(request)?;
            // Both answers start with the throttle time and the top-level error code.
            let mut d = Decoder::new(&answer);
            let code = d
                .i32("throttle time")
                .and_then(|_| d.i16("error code"))
                .map_err(request)?;
            if code == NOT_CONTROLLER && started.elapsed() < self.timeout {
                tracing::debug!(controller, "not the controller (any more); asking again");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            return Ok((controller, address, answer));
        }
    }
}

/// `t-0, t-1, …` (the first few) for error messages.
fn subjects<'a>(keys: impl Iterator<Item = &'a (String, u32)>) -> String {
    let all: Vec<String> = keys.map(|(t, p)| format!("{t}-{p}")).collect();
    match all.len() {
        0..=4 => all.join(", "),
        n => format!("{} and {} more", all[..3].join(", "), n - 3),
    }
}

/// An `AlterPartitionReassignments` v0 answer: `Ok` when Kafka accepted every move, else
/// what it refused (the top-level error and each partition's), as `CODE (n): message` /
/// `t-p: CODE (n): message`.
fn parse_alter(answer: &[u8]) -> Result<(), WireError> {
    let mut d = Decoder::new(answer);
    d.i32("throttle time")?;
    let code = d.i16("error code")?;
    let message = d.compact_nullable_string("error message")?;
    let mut failed = Vec::new();
    if code != 0 {
        failed.push(format!(
            "{}: {}",
            code_name(code),
            message.unwrap_or_default()
        ));
    }
    for _ in 0..d.compact_len("topics")?.unwrap_or(0) {
        let topic = d.compact_string("topic name")?;
        for _ in 0..d.compact_len("partitions")?.unwrap_or(0) {
            let partition = d.i32("partition index")?;
            let code = d.i16("partition error code")?;
            let message = d.compact_nullable_string("partition error message")?;
            d.tags("partition tags")?;
            if code != 0 {
                failed.push(format!(
                    "{topic}-{partition}: {}: {}",
                    code_name(code),
                    message.unwrap_or_default()
                ));
            }
        }
        d.tags("topic tags")?;
    }
    d.tags("tags")?;
    d.finished()?;
    if failed.is_empty() {
        Ok(())
    } else {
        Err(WireError::Refused(failed))
    }
}

/// A `ListPartitionReassignments` v0 answer: the moves in progress, or Kafka's error.
fn parse_list(answer: &[u8]) -> Result<Vec<OngoingReassignment>, WireError> {
    let mut d = Decoder::new(answer);
    d.i32("throttle time")?;
    let code = d.i16("error code")?;
    let message = d.compact_nullable_string("error message")?;
    if code != 0 {
        return Err(WireError::Refused(vec![format!(
            "{}: {}",
            code_name(code),
            message.unwrap_or_default()
        )]));
    }
    let mut out = Vec::new();
    for _ in 0..d.compact_len("topics")?.unwrap_or(0) {
        let topic = d.compact_string("topic name")?;
        for _ in 0..d.compact_len("partitions")?.unwrap_or(0) {
            let partition = d.i32("partition index")?;
            let replicas = ids(&d.compact_i32s("replicas")?);
            let adding = ids(&d.compact_i32s("adding replicas")?);
            let removing = ids(&d.compact_i32s("removing replicas")?);
            d.tags("partition tags")?;
            out.push(OngoingReassignment {
                topic: topic.clone(),
                partition: u32::try_from(partition).unwrap_or(u32::MAX),
                replicas,
                adding,
                removing,
            });
        }
        d.tags("topic tags")?;
    }
    d.tags("tags")?;
    d.finished()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers as Kafka's serializers write them (the field order of the message specs).
    fn alter_answer(partition_code: i16, message: Option<&str>) -> Vec<u8> {
        let mut e = Encoder::new();
        e.i32(0).i16(0).compact_len(None).compact_len(Some(1));
        e.compact_string("t").compact_len(Some(2));
        e.i32(0).i16(0).compact_len(None).no_tags();
        e.i32(1).i16(partition_code);
        match message {
            Some(m) => e.compact_string(m),
            None => e.compact_len(None),
        };
        e.no_tags().no_tags().no_tags();
        e.into_bytes()
    }

    #[test]
    fn an_alter_answer_names_each_refused_partition() {
        parse_alter(&alter_answer(0, None)).unwrap();
        let refused = parse_alter(&alter_answer(39, Some("no such broker 5"))).unwrap_err();
        assert!(
            matches!(&refused, WireError::Refused(r)
                if r == &["t-1: INVALID_REPLICA_ASSIGNMENT (39): no such broker 5"]),
            "{refused}"
        );
        // A short or longer answer is an error, never "accepted".
        let whole = alter_answer(0, None);
        assert!(parse_alter(&whole[..whole.len() - 1]).is_err());
        let mut longer = whole.clone();
        longer.push(0);
        assert!(parse_alter(&longer).is_err());
    }

    #[test]
    fn a_list_answer_reads_each_move() {
        let mut e = Encoder::new();
        e.i32(0).i16(0).compact_len(None).compact_len(Some(1));
        e.compact_string("t").compact_len(Some(1));
        e.i32(0)
            .compact_i32s(Some(&[3, 4, 1, 2]))
            .compact_i32s(Some(&[1]))
            .compact_i32s(Some(&[2]))
            .no_tags();
        e.no_tags().no_tags();
        let moves = parse_list(&e.into_bytes()).unwrap();
        assert_eq!(
            moves,
            vec![OngoingReassignment {
                topic: "t".into(),
                partition: 0,
                replicas: vec![3, 4, 1, 2],
                adding: vec![1],
                removing: vec![2],
            }]
        );
        let mut e = Encoder::new();
        e.i32(0).i16(41).compact_string("not the controller");
        let err = parse_list(&e.into_bytes()).unwrap_err().to_string();
        assert!(err.starts_with("refused: NOT_CONTROLLER (41)"), "{err}");
    }
}
