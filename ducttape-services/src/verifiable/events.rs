//! The events `VerifiableProducer` and `VerifiableConsumer` print: one JSON object per line,
//! named by its `name` field.
//!
//! Every event Kafka's tools print (3.9 and 4.x) has a variant of [`VerifiableEvent`]; an event
//! this crate does not know (a later Kafka, `VerifiableShareConsumer`'s `offsets_acknowledged`)
//! is kept whole as [`VerifiableEvent::Other`] rather than failing the parse. A known event with
//! a missing or mistyped field is an error, as dropping it could hide an acknowledged record.
//! Lines that are not JSON (log output on stdout) are skipped.
//!
//! Field names and types follow the tools' sources (`tools/src/main/java/org/apache/kafka/tools/
//! VerifiableProducer.java` and `VerifiableConsumer.java`).

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A topic and partition, as the consumer's rebalance events list them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
}

impl TopicPartition {
    /// The partition `partition` of `topic`.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

/// `topic-partition`, as Kafka writes it.
impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// What one `poll()` returned from one partition, in a `records_consumed` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRecords {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
    /// Records consumed from the partition in this poll.
    pub count: u64,
    /// Offset of the first of them.
    #[serde(rename = "minOffset")]
    pub min_offset: i64,
    /// Offset of the last of them; `max_offset - min_offset + 1` exceeds `count` where the log
    /// has gaps (transaction markers, compaction).
    #[serde(rename = "maxOffset")]
    pub max_offset: i64,
}

impl PartitionRecords {
    /// The partition these records came from.
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(&self.topic, self.partition)
    }
}

/// A record as both tools describe it: where it is, its key and value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// Key (`VerifiableProducer` sends `null` unless `--repeating-keys`).
    pub key: Option<String>,
    /// Value (`VerifiableProducer` sends its sequence number, `prefix.n` with `--value-prefix`).
    pub value: Option<String>,
}

impl Record {
    /// The partition the record is in.
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(&self.topic, self.partition)
    }
}

/// One partition's committed position, in an `offsets_committed` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedOffset {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
    /// The next offset the group will read (last consumed + 1).
    pub offset: i64,
}

/// One event printed by `VerifiableProducer` or `VerifiableConsumer`.
///
/// `timestamp` is the wall clock in ms since the epoch when the tool printed the event.
/// Serialising gives back the tool's JSON, `name` included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", tag = "name", rename_all = "snake_case")]
pub enum VerifiableEvent {
    /// Both tools: started, before the first send or subscribe.
    StartupComplete {
        /// When printed, ms since the epoch.
        timestamp: i64,
    },
    /// Both tools: the client is closed (the producer flushed first).
    ShutdownComplete {
        /// When printed, ms since the epoch.
        timestamp: i64,
    },
    /// Consumer (Kafka 4.x): the shutdown hook ran, after `shutdown_complete`.
    ShutdownRequested {
        /// When printed, ms since the epoch.
        timestamp: i64,
    },
    /// Producer: a record was acknowledged.
    ProducerSendSuccess {
        /// When printed, ms since the epoch.
        timestamp: i64,
        /// The record; its offset is -1 with `acks=0`.
        #[serde(flatten)]
        record: Record,
    },
    /// Producer: a send failed (the tool sets `retries=0`).
    ProducerSendError {
        /// When printed, ms since the epoch.
        timestamp: i64,
        /// Topic written to.
        topic: String,
        /// Record key.
        key: Option<String>,
        /// Record value.
        value: Option<String>,
        /// The exception's class, as `class org.apache.kafka…`.
        exception: String,
        /// The exception's message.
        message: Option<String>,
    },
    /// Producer: totals, printed by its shutdown hook after `shutdown_complete`.
    ToolData {
        /// When printed, ms since the epoch.
        timestamp: i64,
        /// Records sent (attempted).
        sent: u64,
        /// Records acknowledged.
        acked: u64,
        /// `--throughput` (-1: unthrottled).
        target_throughput: i64,
        /// Acknowledged records per second over the run (Java may print `"NaN"`/`"Infinity"`).
        #[serde(deserialize_with = "java_double")]
        avg_throughput: f64,
    },
    /// Consumer: partitions assigned by a rebalance.
    PartitionsAssigned {
        /// When printed, ms since the epoch.
        timestamp: i64,
        /// The partitions assigned.
        partitions: Vec<TopicPartition>,
    },
    /// Consumer: partitions revoked (or lost) by a rebalance.
    PartitionsRevoked {
        /// When printed, ms since the epoch.
        timestamp: i64,
        /// The partitions revoked.
        partitions: Vec<TopicPartition>,
    },
    /// Consumer: what one `poll()` returned, per partition (after its `record_data` events).
    RecordsConsumed {
        /// When printed, ms since the epoch.
        timestamp: i64,
        /// Records the poll returned (those beyond `--max-messages` are counted here but not
        /// listed in `partitions`).
        count: u64,
        /// Per partition, the records consumed.
        partitions: Vec<PartitionRecords>,
    },
    /// Consumer with `--verbose`: one consumed record.
    RecordData {
        /// When printed, ms since the epoch.
        timestamp: i64,
        /// The record.
        #[serde(flatten)]
        record: Record,
    },
    /// Consumer (without `--enable-autocommit`): the result of an offset commit.
    OffsetsCommitted {
        /// When printed, ms since the epoch.
        timestamp: i64,
        /// The positions committed (or attempted).
        offsets: Vec<CommittedOffset>,
        /// Whether the commit succeeded.
        success: bool,
        /// The failure's message, when it failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// An event this crate does not know, or JSON without a string `name`: kept as printed.
    /// (Skipped by the derives; the trait impls below read and write it.)
    #[serde(skip)]
    Other(Value),
}

/// The `name` of every variant but [`VerifiableEvent::Other`]; an event with one of these names
/// must parse into its variant.
const KNOWN_EVENTS: &[&str] = &[
    "startup_complete",
    "shutdown_complete",
    "shutdown_requested",
    "producer_send_success",
    "producer_send_error",
    "tool_data",
    "partitions_assigned",
    "partitions_revoked",
    "records_consumed",
    "record_data",
    "offsets_committed",
];

impl VerifiableEvent {
    /// The event's `name`, as printed (`""` for JSON without one).
    pub fn name(&self) -> &str {
        match self {
            Self::StartupComplete { .. } => "startup_complete",
            Self::ShutdownComplete { .. } => "shutdown_complete",
            Self::ShutdownRequested { .. } => "shutdown_requested",
            Self::ProducerSendSuccess { .. } => "producer_send_success",
            Self::ProducerSendError { .. } => "producer_send_error",
            Self::ToolData { .. } => "tool_data",
            Self::PartitionsAssigned { .. } => "partitions_assigned",
            Self::PartitionsRevoked { .. } => "partitions_revoked",
            Self::RecordsConsumed { .. } => "records_consumed",
            Self::RecordData { .. } => "record_data",
            Self::OffsetsCommitted { .. } => "offsets_committed",
            Self::Other(value) => value.get("name").and_then(Value::as_str).unwrap_or(""),
        }
    }

    /// The event's `timestamp`, in ms since the epoch (`None` for an `Other` without one).
    pub fn timestamp(&self) -> Option<i64> {
        match self {
            Self::StartupComplete { timestamp }
            | Self::ShutdownComplete { timestamp }
            | Self::ShutdownRequested { timestamp }
            | Self::ProducerSendSuccess { timestamp, .. }
            | Self::ProducerSendError { timestamp, .. }
            | Self::ToolData { timestamp, .. }
            | Self::PartitionsAssigned { timestamp, .. }
            | Self::PartitionsRevoked { timestamp, .. }
            | Self::RecordsConsumed { timestamp, .. }
            | Self::RecordData { timestamp, .. }
            | Self::OffsetsCommitted { timestamp, .. } => Some(*timestamp),
            Self::Other(value) => value.get("timestamp").and_then(Value::as_i64),
        }
    }
}

// `remote = "Self"` above makes the derives inherent functions (`VerifiableEvent::serialize`,
// `VerifiableEvent::deserialize`, which take precedence over the trait methods below), so the
// trait impls can handle `Other` around them, and a known event's errors stay precise.
impl Serialize for VerifiableEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Other(value) => value.serialize(serializer),
            known => VerifiableEvent::serialize(known, serializer),
        }
    }
}

impl<'de> Deserialize<'de> for VerifiableEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let known = value
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|name| KNOWN_EVENTS.contains(&name));
        if known {
            VerifiableEvent::deserialize(value).map_err(D::Error::custom)
        } else {
            Ok(Self::Other(value))
        }
    }
}

/// A Java `double` as Jackson writes it: a number, or `"NaN"`/`"Infinity"`/`"-Infinity"` as a
/// string; `null` (how `serde_json` writes a NaN back) reads as NaN.
fn java_double<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum JavaDouble {
        Number(f64),
        Text(String),
    }
    match Option::<JavaDouble>::deserialize(deserializer)? {
        Some(JavaDouble::Number(n)) => Ok(n),
        Some(JavaDouble::Text(text)) => text
            .parse()
            .map_err(|_| D::Error::custom(format!("{text:?} is not a Java double"))),
        None => Ok(f64::NAN),
    }
}

/// A line that should have been a verifiable-client event but was not.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// Not JSON, or a known event with a missing or mistyped field.
    #[error("malformed VerifiableProducer/VerifiableConsumer event: {source}; line: {line}")]
    Malformed {
        /// The line, trimmed.
        line: String,
        /// What `serde_json` found wrong.
        #[source]
        source: serde_json::Error,
    },
}

ducttape_core::human_debug!(EventError);

/// Parses one line of a verifiable client's stdout: `Ok(None)` for a line that is not JSON
/// (log output), the event otherwise.
///
/// ```
/// use ducttape_services::verifiable::{parse_event_line, VerifiableEvent};
///
/// let line = r#"{"timestamp":1795970162007,"name":"producer_send_success","key":null,"value":"0","offset":0,"topic":"verif","partition":0}"#;
/// let Some(VerifiableEvent::ProducerSendSuccess { record, .. }) = parse_event_line(line)? else { panic!() };
/// assert_eq!((record.offset, record.value.as_deref()), (0, Some("0")));
/// assert!(parse_event_line("[2026-11-29 16:36:02] INFO Kafka version: 3.9.2")?.is_none());
/// # Ok::<(), ducttape_services::verifiable::EventError>(())
/// ```
pub fn parse_event_line(line: &str) -> Result<Option<VerifiableEvent>, EventError> {
    let line = line.trim();
    if !line.starts_with('{') {
        return Ok(None);
    }
    serde_json::from_str(line)
        .map(Some)
        .map_err(|source| EventError::Malformed {
            line: line.to_owned(),
            source,
        })
}

/// Parses a whole stdout with [`parse_event_line`], skipping the lines that are not JSON;
/// the first malformed event is the error.
pub fn parse_events(text: &str) -> Result<Vec<VerifiableEvent>, EventError> {
    text.lines()
        .filter_map(|line| parse_event_line(line).transpose())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PRODUCER: &str = include_str!("../../testdata/verifiable_producer.jsonl");
    const CONSUMER: &str = include_str!("../../testdata/verifiable_consumer.jsonl");
    const CONSUMER_4X: &str = include_str!("../../testdata/verifiable_consumer_4x.jsonl");

    #[test]
    fn producer_output_parses_into_acks_and_totals() {
        let events = parse_events(PRODUCER).unwrap();
        assert_eq!(events.len(), 203);
        assert_eq!(
            events[0],
            VerifiableEvent::StartupComplete {
                timestamp: 1795970161806
            }
        );
        for (i, event) in events[1..201].iter().enumerate() {
            let VerifiableEvent::ProducerSendSuccess { record, .. } = event else {
                panic!("event {i} is {event:?}");
            };
            let expected = Record {
                topic: "verif".into(),
                partition: 0,
                offset: i as i64,
                key: None,
                value: Some(i.to_string()),
            };
            assert_eq!(record, &expected);
        }
        assert_eq!(
            events[201],
            VerifiableEvent::ShutdownComplete {
                timestamp: 1795970162034
            }
        );
        assert_eq!(
            events[202],
            VerifiableEvent::ToolData {
                timestamp: 1795970162035,
                sent: 200,
                acked: 200,
                target_throughput: -1,
                avg_throughput: 865.8008658008658,
            }
        );
    }

    #[test]
    fn consumer_output_parses_3x_and_4x() {
        let all = |p: i32| -> Vec<TopicPartition> {
            (0..p).map(|p| TopicPartition::new("verif", p)).collect()
        };
        let events = parse_events(CONSUMER).unwrap();
        let names: Vec<&str> = events.iter().map(VerifiableEvent::name).collect();
        assert_eq!(
            names,
            [
                "startup_complete",
                "partitions_assigned",
                "records_consumed",
                "offsets_committed",
                "partitions_revoked",
                "shutdown_complete"
            ]
        );
        assert_eq!(
            events[1],
            VerifiableEvent::PartitionsAssigned {
                timestamp: 1795970163154,
                partitions: all(3)
            }
        );
        assert_eq!(
            events[2],
            VerifiableEvent::RecordsConsumed {
                timestamp: 1795970163260,
                count: 200,
                partitions: vec![PartitionRecords {
                    topic: "verif".into(),
                    partition: 0,
                    count: 200,
                    min_offset: 0,
                    max_offset: 199
                }],
            }
        );
        assert_eq!(
            events[3],
            VerifiableEvent::OffsetsCommitted {
                timestamp: 1795970163274,
                offsets: vec![CommittedOffset {
                    topic: "verif".into(),
                    partition: 0,
                    offset: 200
                }],
                success: true,
                error: None,
            }
        );
        assert_eq!(
            events[4],
            VerifiableEvent::PartitionsRevoked {
                timestamp: 1795970163283,
                partitions: all(3)
            }
        );

        let events_4x = parse_events(CONSUMER_4X).unwrap();
        assert_eq!(events_4x.len(), 7);
        assert_eq!(
            events_4x[6],
            VerifiableEvent::ShutdownRequested {
                timestamp: 1795970269599
            }
        );
        assert!(events_4x
            .iter()
            .all(|e| !matches!(e, VerifiableEvent::Other(_))));
    }

    #[test]
    fn events_serialise_back_to_the_tools_json() {
        for line in PRODUCER
            .lines()
            .chain(CONSUMER.lines())
            .chain(CONSUMER_4X.lines())
        {
            let event = parse_event_line(line).unwrap().unwrap();
            let original: Value = serde_json::from_str(line).unwrap();
            assert_eq!(serde_json::to_value(&event).unwrap(), original, "{line}");
        }
    }

    #[test]
    fn unknown_events_are_kept_whole() {
        let line = r#"{"timestamp":1,"name":"offsets_acknowledged","count":3,"partitions":[]}"#;
        let event = parse_event_line(line).unwrap().unwrap();
        let raw =
            json!({"timestamp": 1, "name": "offsets_acknowledged", "count": 3, "partitions": []});
        assert_eq!(event, VerifiableEvent::Other(raw.clone()));
        assert_eq!(
            (event.name(), event.timestamp()),
            ("offsets_acknowledged", Some(1))
        );
        assert_eq!(serde_json::to_value(&event).unwrap(), raw);
        // JSON that is not an event at all is not an error either.
        let nameless = parse_event_line(r#"{"hello": "world"}"#).unwrap().unwrap();
        assert_eq!((nameless.name(), nameless.timestamp()), ("", None));
    }

    #[test]
    fn malformed_known_events_are_errors() {
        let missing_offset = r#"{"timestamp":1,"name":"producer_send_success","key":null,"value":"0","topic":"verif","partition":0}"#;
        let err = parse_event_line(missing_offset).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("offset"), "{message}");
        assert!(message.contains(missing_offset), "{message}");
        let truncated =
            r#"{"timestamp":1795970162009,"name":"producer_send_success","key":null,"va"#;
        assert!(parse_event_line(truncated).is_err());
        let text = format!("{PRODUCER}{truncated}\n");
        assert!(parse_events(&text).is_err());
    }

    #[test]
    fn log_lines_are_skipped() {
        let text = format!(
            "[2026-11-29 16:36:02,123] INFO Kafka version: 3.9.2 (org.apache.kafka.common.utils.AppInfoParser)\n\
             \n{CONSUMER}Bad data can't be written as json: oops\n"
        );
        assert_eq!(
            parse_events(&text).unwrap(),
            parse_events(CONSUMER).unwrap()
        );
    }

    #[test]
    fn tool_data_accepts_java_non_finite_doubles() {
        let line = r#"{"timestamp":1,"name":"tool_data","sent":0,"acked":0,"target_throughput":-1,"avg_throughput":"NaN"}"#;
        let Some(VerifiableEvent::ToolData { avg_throughput, .. }) =
            parse_event_line(line).unwrap()
        else {
            panic!("{line}");
        };
        assert!(avg_throughput.is_nan());
        let line = line.replace("\"NaN\"", "\"Infinity\"");
        assert!(matches!(
            parse_event_line(&line).unwrap(),
            Some(VerifiableEvent::ToolData { avg_throughput, .. }) if avg_throughput == f64::INFINITY
        ));
    }

    #[test]
    fn every_variant_has_its_name_in_the_known_list() {
        let samples = [
            r#"{"timestamp":1,"name":"startup_complete"}"#,
            r#"{"timestamp":1,"name":"shutdown_complete"}"#,
            r#"{"timestamp":1,"name":"shutdown_requested"}"#,
            r#"{"timestamp":1,"name":"producer_send_success","key":null,"value":"0","offset":0,"topic":"t","partition":0}"#,
            r#"{"timestamp":1,"name":"producer_send_error","key":null,"value":"0","topic":"t","exception":"class org.apache.kafka.common.errors.TimeoutException","message":"Expiring 1 record(s)"}"#,
            r#"{"timestamp":1,"name":"tool_data","sent":1,"acked":1,"target_throughput":-1,"avg_throughput":1.0}"#,
            r#"{"timestamp":1,"name":"partitions_assigned","partitions":[{"topic":"t","partition":0}]}"#,
            r#"{"timestamp":1,"name":"partitions_revoked","partitions":[]}"#,
            r#"{"timestamp":1,"name":"records_consumed","count":0,"partitions":[]}"#,
            r#"{"timestamp":1,"name":"record_data","key":null,"value":"0","topic":"t","partition":0,"offset":0}"#,
            r#"{"timestamp":1,"name":"offsets_committed","offsets":[],"success":false,"error":"rebalance in progress"}"#,
        ];
        let names: Vec<String> = samples
            .iter()
            .map(|line| {
                let event = parse_event_line(line).unwrap().unwrap();
                assert!(!matches!(event, VerifiableEvent::Other(_)), "{line}");
                assert_eq!(event.timestamp(), Some(1));
                let json: Value = serde_json::from_str(line).unwrap();
                assert_eq!(serde_json::to_value(&event).unwrap(), json, "{line}");
                event.name().to_owned()
            })
            .collect();
        assert_eq!(names, KNOWN_EVENTS);
    }
}
