//! Checks delivery: matches what `VerifiableProducer`s acknowledged against what
//! `VerifiableConsumer`s received, and reports lost, duplicated and reordered records.
//!
//! Records are identified by topic, partition and offset. Consumers are followed in either
//! mode of the tool:
//! - with `--verbose`, each `record_data` event is one record (and carries its value, so an
//!   acknowledged record replaced at its offset, as after an unclean leader election, is caught);
//! - without, a `records_consumed` event's `minOffset..=maxOffset` per partition counts as
//!   every offset in the range consumed (so transaction markers inside a range count as consumed
//!   records that nobody acknowledged).
//!
//! The tool prints a poll's `record_data` events before its `records_consumed` summary; a
//! partition already reported record by record is not counted again from the summary.
//!
//! Every acknowledgement counts, even two at one offset: after a leader that acknowledged
//! records alone is truncated, the new leader hands the same offsets to other records, and the
//! producer sees both acknowledged. At most one of them can be in the log; the other is lost.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::events::{TopicPartition, VerifiableEvent};

/// How many offset ranges per partition, or entries per list, [`DeliveryReport`]'s `Display` shows.
const SHOWN_AT_MOST: usize = 20;

/// A record's place in Kafka: topic, partition, offset.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecordId {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
}

impl RecordId {
    fn new(tp: &TopicPartition, offset: i64) -> Self {
        Self {
            topic: tp.topic.clone(),
            partition: tp.partition,
            offset,
        }
    }
}

/// `topic-partition@offset`
impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}@{}", self.topic, self.partition, self.offset)
    }
}

/// A consumer went back in a partition: it consumed `offset` after `previous_offset`
/// (`offset <= previous_offset`) with no rebalance or restart in between.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderViolation {
    /// The consumer, as named to [`DeliveryChecker::observe_consumer`].
    pub consumer: String,
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
    /// The last offset consumed before.
    pub previous_offset: i64,
    /// The offset consumed next (the first of a `records_consumed` range).
    pub offset: i64,
}

/// An acknowledged record whose offset was consumed (with `--verbose`) only with other values:
/// the acknowledged record is gone, another took its offset. Without values from the consumers,
/// an offset acknowledged with two different values shows the same way (`consumed` empty): all
/// but the last of them are gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueMismatch {
    /// Where.
    pub record: RecordId,
    /// The value the producer had acknowledged there.
    pub acked: Option<String>,
    /// The values consumed there, once per delivery.
    pub consumed: Vec<Option<String>>,
}

/// What [`DeliveryChecker::report`] found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeliveryReport {
    /// Acknowledgements with an offset (two at one offset count twice).
    pub acked: u64,
    /// Acknowledgements without an offset (`acks=0` gives -1), which cannot be checked.
    pub acked_without_offset: u64,
    /// Deliveries to consumers, each delivery of a duplicated record counted.
    pub consumed: u64,
    /// Acknowledged records never consumed, in topic, partition, offset order.
    pub lost: Vec<RecordId>,
    /// Acknowledged records whose offset was consumed with other values only.
    pub value_mismatches: Vec<ValueMismatch>,
    /// Records consumed more than once (by one consumer or across a group), once each.
    pub duplicates: Vec<RecordId>,
    /// Places where a consumer went back in a partition without a rebalance.
    pub out_of_order: Vec<OrderViolation>,
    /// Distinct offsets consumed that no acknowledgement covers (sends whose acknowledgement
    /// was not seen, transaction markers inside a consumed range, another producer's records).
    pub unacked_but_consumed: u64,
    /// The consumers have read as far as the producers got: in every partition, the offset of
    /// the most recent acknowledgement was consumed. Wait for this before judging losses.
    pub caught_up: bool,
    /// Acknowledged and consumed so far, second by second (by the tools' own timestamps), for
    /// the report's acknowledged-vs-consumed plot.
    #[serde(default)]
    pub timeline: Vec<DeliveryPoint>,
    /// The highest offset consumed in each partition consumed from: how far the consumers
    /// got, to compare with the partition's end offset in Kafka (acknowledgements can name
    /// offsets a truncated log no longer has).
    #[serde(default)]
    pub last_consumed: Vec<(TopicPartition, i64)>,
}

/// Acknowledged and consumed records up to a moment (see [`DeliveryReport::timeline`]): the
/// report's data contract ([`ducttape_core::report::data::DeliveryPoint`]).
pub use ducttape_core::report::data::DeliveryPoint;

impl DeliveryReport {
    /// No acknowledged record lost or replaced: at-least-once delivery held. Duplicates and
    /// reordering are allowed; see [`Self::is_exactly_once`] and [`Self::is_in_order`].
    pub fn is_clean(&self) -> bool {
        self.lost_acknowledged() == 0
    }

    /// Acknowledged records that are gone: never consumed, or replaced at their offset.
    pub fn lost_acknowledged(&self) -> usize {
        self.lost.len() + self.value_mismatches.len()
    }

    /// Clean and without duplicates.
    pub fn is_exactly_once(&self) -> bool {
        self.is_clean() && self.duplicates.is_empty()
    }

    /// No consumer went back in a partition outside a rebalance.
    pub fn is_in_order(&self) -> bool {
        self.out_of_order.is_empty()
    }
}

/// Writes `records` under `title`, per partition as runs of consecutive offsets
/// (`verif-0: offsets 100..=149 (50 records)`), at most [`SHOWN_AT_MOST`] runs each.
fn write_offset_runs(f: &mut fmt::Formatter<'_>, title: &str, records: &[RecordId]) -> fmt::Result {
    if records.is_empty() {
        return Ok(());
    }
    writeln!(f, "{title}:")?;
    for partition in records.chunk_by(|a, b| a.topic == b.topic && a.partition == b.partition) {
        let tp = format!("{}-{}", partition[0].topic, partition[0].partition);
        let runs: Vec<&[RecordId]> = partition
            .chunk_by(|a, b| a.offset.checked_add(1) == Some(b.offset))
            .collect();
        for run in runs.iter().take(SHOWN_AT_MOST) {
            let (first, last) = (run[0].offset, run[run.len() - 1].offset);
            if run.len() == 1 {
                writeln!(f, "  {tp}: offset {first} (1 record)")?;
            } else {
                writeln!(
                    f,
                    "  {tp}: offsets {first}..={last} ({} records)",
                    run.len()
                )?;
            }
        }
        if let Some(rest) = runs.get(SHOWN_AT_MOST..).filter(|rest| !rest.is_empty()) {
            let records: usize = rest.iter().map(|run| run.len()).sum();
            writeln!(
                f,
                "  {tp}: … and {} more ranges ({records} records)",
                rest.len()
            )?;
        }
    }
    Ok(())
}

/// Writes the first [`SHOWN_AT_MOST`] of `items` under `title`, one a line.
fn write_first<T>(
    f: &mut fmt::Formatter<'_>,
    title: &str,
    items: &[T],
    line: impl Fn(&mut fmt::Formatter<'_>, &T) -> fmt::Result,
) -> fmt::Result {
    if items.is_empty() {
        return Ok(());
    }
    writeln!(f, "{title}:")?;
    for item in items.iter().take(SHOWN_AT_MOST) {
        f.write_str("  ")?;
        line(f, item)?;
        writeln!(f)?;
    }
    if items.len() > SHOWN_AT_MOST {
        writeln!(f, "  … and {} more", items.len() - SHOWN_AT_MOST)?;
    }
    Ok(())
}

/// A summary line of counts, then the lost, replaced, duplicated and reordered records.
impl fmt::Display for DeliveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} acked, {} consumed: {} lost, {} replaced, {} duplicated, {} out of order, \
             {} consumed but not acked, {} acked without offset{}",
            self.acked,
            self.consumed,
            self.lost.len(),
            self.value_mismatches.len(),
            self.duplicates.len(),
            self.out_of_order.len(),
            self.unacked_but_consumed,
            self.acked_without_offset,
            if self.caught_up {
                ""
            } else {
                " (consumers not caught up)"
            },
        )?;
        write_offset_runs(f, "lost (acknowledged, never consumed)", &self.lost)?;
        write_first(
            f,
            "replaced (consumed with another value)",
            &self.value_mismatches,
            |f, m| {
                write!(
                    f,
                    "{}: acked {:?}, consumed {:?}",
                    m.record, m.acked, m.consumed
                )
            },
        )?;
        write_offset_runs(f, "duplicated (consumed more than once)", &self.duplicates)?;
        write_first(f, "out of order", &self.out_of_order, |f, v| {
            write!(
                f,
                "{} on {}-{}: offset {} after {}",
                v.consumer, v.topic, v.partition, v.offset, v.previous_offset
            )
        })
    }
}

/// What is known about one partition.
#[derive(Debug, Default)]
struct PartitionLog {
    /// Acknowledged offsets and the values acknowledged there, in the order acknowledged.
    acked: BTreeMap<i64, Vec<Option<String>>>,
    /// The offset of the most recent acknowledgement.
    last_acked: Option<i64>,
    /// Consumed offsets as inclusive ranges, in arrival order (consecutive ones merged).
    consumed: Vec<(i64, i64)>,
    /// Values seen by `--verbose` consumers, one per delivery.
    consumed_values: BTreeMap<i64, Vec<Option<String>>>,
}

impl PartitionLog {
    fn consume(&mut self, first: i64, last: i64) {
        match self.consumed.last_mut() {
            Some((_, end)) if end.checked_add(1) == Some(first) => *end = last,
            _ => self.consumed.push((first, last)),
        }
    }
}

/// One consumer process's position in each partition it reads.
#[derive(Debug, Default)]
struct ConsumerState {
    /// Last offset consumed per partition since it was (re)assigned.
    position: HashMap<TopicPartition, i64>,
    /// Partitions reported by `record_data` since the last `records_consumed`.
    reported_per_record: HashSet<TopicPartition>,
}

impl ConsumerState {
    /// Moves to `last`, having consumed `first..=last`; the violation if that went back.
    fn advance(
        &mut self,
        consumer: &str,
        tp: &TopicPartition,
        first: i64,
        last: i64,
    ) -> Option<OrderViolation> {
        let previous = self.position.insert(tp.clone(), last)?;
        (first <= previous).then(|| OrderViolation {
            consumer: consumer.to_owned(),
            topic: tp.topic.clone(),
            partition: tp.partition,
            previous_offset: previous,
            offset: first,
        })
    }
}

/// A run of offsets consumed the same number of times.
struct Coverage {
    first: i64,
    last: i64,
    times: u32,
}

/// The offsets `ranges` cover, as disjoint runs in offset order with how often each was
/// consumed.
fn coverage(ranges: &[(i64, i64)]) -> Vec<Coverage> {
    let mut edges: Vec<(i64, i32)> = ranges
        .iter()
        .flat_map(|&(first, last)| [(first, 1), (last.saturating_add(1), -1)])
        .collect();
    edges.sort_unstable();
    let mut runs = Vec::new();
    let (mut depth, mut start) = (0_i32, i64::MIN);
    for (at, delta) in edges {
        if depth > 0 && at > start {
            runs.push(Coverage {
                first: start,
                last: at - 1,
                times: depth.unsigned_abs(),
            });
        }
        depth += delta;
        start = at;
    }
    runs
}

fn span(first: i64, last: i64) -> u64 {
    u64::try_from(last - first + 1).unwrap_or(0)
}

/// Follows producer and consumer events and reports on delivery.
///
/// Feed it every producer's events and every consumer's (each consumer process under its own
/// name, so order is tracked per process), in the order each printed them, then ask for the
/// [`report`](Self::report).
///
/// ```
/// use ducttape_services::verifiable::DeliveryChecker;
/// use ducttape_services::verifiable::parse_events;
///
/// let producer = parse_events(
///     r#"{"timestamp":1,"name":"producer_send_success","key":null,"value":"0","offset":0,"topic":"verif","partition":0}
/// {"timestamp":1,"name":"producer_send_success","key":null,"value":"1","offset":1,"topic":"verif","partition":0}"#,
/// )?;
/// let consumer = parse_events(
///     r#"{"timestamp":2,"name":"records_consumed","count":1,"partitions":[{"topic":"verif","partition":0,"count":1,"minOffset":0,"maxOffset":0}]}"#,
/// )?;
/// let mut checker = DeliveryChecker::new();
/// producer.iter().for_each(|e| checker.observe_producer(e));
/// consumer.iter().for_each(|e| checker.observe_consumer("consumer-1", e));
/// let report = checker.report();
/// assert!(!report.is_clean());
/// assert!(report.to_string().contains("verif-0: offset 1 (1 record)"));
/// # Ok::<(), ducttape_services::verifiable::EventError>(())
/// ```
#[derive(Debug, Default)]
pub struct DeliveryChecker {
    partitions: BTreeMap<TopicPartition, PartitionLog>,
    consumers: HashMap<String, ConsumerState>,
    acked_without_offset: u64,
    out_of_order: Vec<OrderViolation>,
    /// Per second (ms since the epoch / 1000): acknowledged, consumed.
    per_second: BTreeMap<i64, (u64, u64)>,
}

impl DeliveryChecker {
    /// A checker that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes note of a producer event: `producer_send_success` is an acknowledgement, the
    /// rest is ignored.
    pub fn observe_producer(&mut self, event: &VerifiableEvent) {
        let VerifiableEvent::ProducerSendSuccess { record, timestamp } = event else {
            return;
        };
        self.per_second
            .entry(timestamp.div_euclid(1000))
            .or_default()
            .0 += 1;
        if record.offset < 0 {
            self.acked_without_offset += 1;
            return;
        }
        let log = self.partitions.entry(record.topic_partition()).or_default();
        log.acked
            .entry(record.offset)
            .or_default()
            .push(record.value.clone());
        log.last_acked = Some(record.offset);
    }

    /// Takes note of an event printed by the consumer process `consumer`.
    ///
    /// Rebalances (`partitions_assigned`, `partitions_revoked`) and restarts
    /// (`startup_complete`, `shutdown_complete`) reset order tracking for the partitions
    /// concerned: a consumer may legitimately go back to its last committed offset then.
    pub fn observe_consumer(&mut self, consumer: &str, event: &VerifiableEvent) {
        let state = self.consumers.entry(consumer.to_owned()).or_default();
        match event {
            VerifiableEvent::StartupComplete { .. } | VerifiableEvent::ShutdownComplete { .. } => {
                *state = ConsumerState::default();
            }
            VerifiableEvent::PartitionsAssigned { partitions, .. }
            | VerifiableEvent::PartitionsRevoked { partitions, .. } => {
                for tp in partitions {
                    state.position.remove(tp);
                }
            }
            VerifiableEvent::RecordData { record, timestamp } => {
                self.per_second
                    .entry(timestamp.div_euclid(1000))
                    .or_default()
                    .1 += 1;
                let (tp, offset) = (record.topic_partition(), record.offset);
                self.out_of_order
                    .extend(state.advance(consumer, &tp, offset, offset));
                state.reported_per_record.insert(tp.clone());
                let log = self.partitions.entry(tp).or_default();
                log.consume(offset, offset);
                log.consumed_values
                    .entry(offset)
                    .or_default()
                    .push(record.value.clone());
            }
            VerifiableEvent::RecordsConsumed {
                partitions,
                timestamp,
                ..
            } => {
                for records in partitions {
                    let tp = records.topic_partition();
                    let (first, last) = (records.min_offset, records.max_offset);
                    if state.reported_per_record.remove(&tp) || records.count == 0 || first > last {
                        continue;
                    }
                    self.per_second
                        .entry(timestamp.div_euclid(1000))
                        .or_default()
                        .1 += records.count;
                    self.out_of_order
                        .extend(state.advance(consumer, &tp, first, last));
                    self.partitions.entry(tp).or_default().consume(first, last);
                }
                state.reported_per_record.clear();
            }
            _ => {}
        }
    }

    fn timeline(&self) -> Vec<DeliveryPoint> {
        let (mut acked, mut consumed) = (0, 0);
        self.per_second
            .iter()
            .map(|(sec, (a, c))| {
                acked += a;
                consumed += c;
                DeliveryPoint {
                    ts_ms: (sec + 1) * 1000,
                    acked,
                    consumed,
                }
            })
            .collect()
    }

    /// What the events seen so far say about delivery.
    pub fn report(&self) -> DeliveryReport {
        let mut report = DeliveryReport {
            acked_without_offset: self.acked_without_offset,
            out_of_order: self.out_of_order.clone(),
            caught_up: true,
            timeline: self.timeline(),
            ..DeliveryReport::default()
        };
        for (tp, log) in &self.partitions {
            let runs = coverage(&log.consumed);
            if let Some(run) = runs.last() {
                report.last_consumed.push((tp.clone(), run.last));
            }
            report.acked += log.acked.values().map(|v| v.len() as u64).sum::<u64>();
            if let Some(last) = log.last_acked {
                report.caught_up &= runs.iter().any(|r| r.first <= last && last <= r.last);
            }
            report.consumed += log.consumed.iter().map(|&(a, b)| span(a, b)).sum::<u64>();
            let mut distinct_consumed = 0;
            for run in &runs {
                distinct_consumed += span(run.first, run.last);
                if run.times > 1 {
                    report
                        .duplicates
                        .extend((run.first..=run.last).map(|offset| RecordId::new(tp, offset)));
                }
            }
            let mut acked_consumed = 0;
            let mut runs = runs.iter().peekable();
            for (&offset, acks) in &log.acked {
                while runs.next_if(|run| run.last < offset).is_some() {}
                let times = runs
                    .peek()
                    .filter(|run| run.first <= offset)
                    .map_or(0, |run| run.times);
                if times == 0 {
                    report
                        .lost
                        .extend(acks.iter().map(|_| RecordId::new(tp, offset)));
                    continue;
                }
                acked_consumed += 1;
                let mismatch =
                    |acked: &Option<String>, consumed: &[Option<String>]| ValueMismatch {
                        record: RecordId::new(tp, offset),
                        acked: acked.clone(),
                        consumed: consumed.to_vec(),
                    };
                // Only when every delivery there carried a value can a mismatch be sure.
                let values = log.consumed_values.get(&offset);
                if let Some(values) = values.filter(|v| v.len() == times as usize) {
                    report.value_mismatches.extend(
                        acks.iter()
                            .filter(|acked| !values.contains(acked))
                            .map(|acked| mismatch(acked, values)),
                    );
                } else if let Some((last, earlier)) = acks.split_last() {
                    // Two values acknowledged at one offset: only one can be in the log.
                    report.value_mismatches.extend(
                        earlier
                            .iter()
                            .filter(|acked| *acked != last)
                            .map(|acked| mismatch(acked, &[])),
                    );
                }
            }
            report.unacked_but_consumed += distinct_consumed - acked_consumed;
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verifiable::events::{parse_events, PartitionRecords};

    const PRODUCER: &str = include_str!("../../testdata/verifiable_producer.jsonl");
    const CONSUMER: &str = include_str!("../../testdata/verifiable_consumer.jsonl");
    const CONSUMER_4X: &str = include_str!("../../testdata/verifiable_consumer_4x.jsonl");

    fn events(text: &str) -> Vec<VerifiableEvent> {
        parse_events(text).unwrap()
    }

    fn check(
        producer: &[VerifiableEvent],
        consumers: &[(&str, &[VerifiableEvent])],
    ) -> DeliveryReport {
        let mut checker = DeliveryChecker::new();
        producer.iter().for_each(|e| checker.observe_producer(e));
        for (name, events) in consumers {
            events
                .iter()
                .for_each(|e| checker.observe_consumer(name, e));
        }
        checker.report()
    }

    /// The real consumer output with its one poll (`records_consumed` of offsets 0..=199)
    /// replaced by what `polls` makes of the real producer and consumer events.
    fn consumer_with(
        polls: impl FnOnce(&[VerifiableEvent], &[VerifiableEvent]) -> Vec<VerifiableEvent>,
    ) -> Vec<VerifiableEvent> {
        let real = events(CONSUMER);
        let at = real
            .iter()
            .position(|e| e.name() == "records_consumed")
            .unwrap();
        let mut out = real[..at].to_vec();
        out.extend(polls(&events(PRODUCER), &real));
        out.extend_from_slice(&real[at + 1..]);
        out
    }

    /// The real producer's acknowledgements checked against the real consumer output, its
    /// poll replaced by `polls`.
    fn report_with(
        polls: impl FnOnce(&[VerifiableEvent], &[VerifiableEvent]) -> Vec<VerifiableEvent>,
    ) -> DeliveryReport {
        check(&events(PRODUCER), &[("c1", &consumer_with(polls))])
    }

    fn ids(offsets: impl IntoIterator<Item = i64>) -> Vec<RecordId> {
        offsets
            .into_iter()
            .map(|offset| RecordId {
                topic: "verif".into(),
                partition: 0,
                offset,
            })
            .collect()
    }

    /// The real `records_consumed` event, narrowed to offsets `first..=last`.
    fn consumed(real: &[VerifiableEvent], first: i64, last: i64) -> VerifiableEvent {
        let mut event = real
            .iter()
            .find(|e| e.name() == "records_consumed")
            .cloned()
            .unwrap();
        let VerifiableEvent::RecordsConsumed {
            count, partitions, ..
        } = &mut event
        else {
            unreachable!()
        };
        *count = (last - first + 1) as u64;
        partitions[0] = PartitionRecords {
            count: *count,
            min_offset: first,
            max_offset: last,
            ..partitions[0].clone()
        };
        event
    }

    /// The real event named `name`.
    fn real_event(real: &[VerifiableEvent], name: &str) -> VerifiableEvent {
        real.iter().find(|e| e.name() == name).cloned().unwrap()
    }

    /// What `VerifiableConsumer --verbose` prints for the acknowledged records, those whose
    /// offset `keep` accepts.
    fn record_data(
        producer: &[VerifiableEvent],
        keep: impl Fn(i64) -> bool,
    ) -> Vec<VerifiableEvent> {
        producer
            .iter()
            .filter_map(|e| match e {
                VerifiableEvent::ProducerSendSuccess { timestamp, record }
                    if keep(record.offset) =>
                {
                    Some(VerifiableEvent::RecordData {
                        timestamp: *timestamp,
                        record: record.clone(),
                    })
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn real_run_is_clean() {
        let producer = events(PRODUCER);
        for consumer in [CONSUMER, CONSUMER_4X] {
            let report = check(&producer, &[("c1", &events(consumer))]);
            assert_eq!(
                report,
                DeliveryReport {
                    acked: 200,
                    consumed: 200,
                    caught_up: true,
                    timeline: report.timeline.clone(),
                    last_consumed: vec![(TopicPartition::new("verif", 0), 199)],
                    ..DeliveryReport::default()
                }
            );
            // The timeline counts the same records, second by second, by the tools' clocks.
            let last = report.timeline.last().unwrap();
            assert_eq!((last.acked, last.consumed), (200, 200));
            assert!(report
                .timeline
                .windows(2)
                .all(|w| w[0].ts_ms < w[1].ts_ms && w[0].acked <= w[1].acked));
            let first_ack = producer
                .iter()
                .find_map(|e| match e {
                    VerifiableEvent::ProducerSendSuccess { timestamp, .. } => Some(*timestamp),
                    _ => None,
                })
                .unwrap();
            assert_eq!(report.timeline[0].ts_ms, (first_ack / 1000 + 1) * 1000);
            assert!(report.is_clean() && report.is_exactly_once() && report.is_in_order());
            assert_eq!(
                report.to_string(),
                "200 acked, 200 consumed: 0 lost, 0 replaced, 0 duplicated, 0 out of order, \
                 0 consumed but not acked, 0 acked without offset\n"
            );
        }
    }

    #[test]
    fn a_dropped_poll_is_reported_as_exactly_those_lost_records() {
        let report = report_with(|_, real| vec![consumed(real, 0, 99), consumed(real, 150, 199)]);
        assert_eq!(report.lost, ids(100..=149));
        assert_eq!((report.acked, report.consumed), (200, 150));
        let last = report.timeline.last().unwrap();
        assert_eq!(
            (last.acked, last.consumed),
            (200, 150),
            "the drop shows in the timeline"
        );
        assert!(!report.is_clean());
        assert!(report.duplicates.is_empty() && report.is_in_order());
        let text = report.to_string();
        assert!(
            text.contains(
                "lost (acknowledged, never consumed):\n  verif-0: offsets 100..=149 (50 records)\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn verbose_record_data_is_checked_record_by_record() {
        // The tool prints a poll's record_data before its summary; drop some records but keep
        // the summary claiming 0..=199: the per-record events are the truth.
        let report = report_with(|producer, real| {
            let mut poll = record_data(producer, |o| !(10..=19).contains(&o) && o != 42);
            poll.push(consumed(real, 0, 199));
            poll
        });
        assert_eq!(report.lost, ids((10..=19).chain([42])));
        assert_eq!(report.consumed, 189);
        assert!(report.value_mismatches.is_empty() && report.duplicates.is_empty());
        let text = report.to_string();
        assert!(
            text.contains("  verif-0: offsets 10..=19 (10 records)\n"),
            "{text}"
        );
        assert!(text.contains("  verif-0: offset 42 (1 record)\n"), "{text}");
    }

    #[test]
    fn a_record_replaced_at_its_offset_is_not_delivered() {
        let report = report_with(|producer, real| {
            let mut poll = record_data(producer, |_| true);
            if let VerifiableEvent::RecordData { record, .. } = &mut poll[7] {
                record.value = Some("truncated-and-rewritten".into());
            }
            poll.push(consumed(real, 0, 199));
            poll
        });
        assert!(report.lost.is_empty());
        assert_eq!(
            report.value_mismatches,
            vec![ValueMismatch {
                record: ids([7]).remove(0),
                acked: Some("7".into()),
                consumed: vec![Some("truncated-and-rewritten".into())],
            }]
        );
        assert!(!report.is_clean());
    }

    /// The producer's acknowledgements, then `count` more from a new leader that took over
    /// at offset `from` after the old one was truncated: the same offsets, other values.
    fn acks_with_overwrite(from: i64, count: i64) -> Vec<VerifiableEvent> {
        let mut producer = events(PRODUCER);
        let again: Vec<VerifiableEvent> = producer
            .iter()
            .filter_map(|e| match e {
                VerifiableEvent::ProducerSendSuccess { timestamp, record }
                    if (from..from + count).contains(&record.offset) =>
                {
                    let mut record = record.clone();
                    record.value = Some(format!("new-{}", record.offset));
                    Some(VerifiableEvent::ProducerSendSuccess {
                        timestamp: *timestamp,
                        record,
                    })
                }
                _ => None,
            })
            .collect();
        producer.extend(again);
        producer
    }

    #[test]
    fn an_offset_acknowledged_twice_loses_the_record_that_is_not_there() {
        // Offsets 190..=199 were acknowledged by a leader that was then truncated, and again
        // (other values) by its successor; the consumer reads the successor's log.
        let producer = acks_with_overwrite(190, 10);
        let log: Vec<VerifiableEvent> = record_data(&producer, |_| true)
            .into_iter()
            .filter(|e| match e {
                VerifiableEvent::RecordData { record, .. } => {
                    record.offset < 190
                        || record
                            .value
                            .as_deref()
                            .is_some_and(|v| v.starts_with("new-"))
                }
                _ => true,
            })
            .collect();
        let consumer = consumer_with(|_, real| {
            let mut poll = log.clone();
            poll.push(consumed(real, 0, 199));
            poll
        });
        let report = check(&producer, &[("c1", &consumer)]);
        assert_eq!(report.acked, 210);
        assert_eq!(report.lost_acknowledged(), 10, "{report}");
        assert!(report
            .value_mismatches
            .iter()
            .all(|m| m.acked.as_deref() == Some(&m.record.offset.to_string())
                && m.consumed == [Some(format!("new-{}", m.record.offset))]));
        assert!(!report.is_clean() && report.caught_up);

        // Without values from the consumer the double acknowledgement still gives it away.
        let report = check(&producer, &[("c1", &events(CONSUMER))]);
        assert_eq!(report.lost_acknowledged(), 10, "{report}");
        assert!(report
            .value_mismatches
            .iter()
            .all(|m| m.consumed.is_empty()));
    }

    #[test]
    fn caught_up_once_the_last_acknowledgement_is_consumed() {
        let behind = report_with(|_, real| vec![consumed(real, 0, 150)]);
        assert!(!behind.caught_up);
        assert!(behind.to_string().contains("(consumers not caught up)"));
        let gap_but_caught_up =
            report_with(|_, real| vec![consumed(real, 0, 99), consumed(real, 150, 199)]);
        assert!(gap_but_caught_up.caught_up && !gap_but_caught_up.is_clean());
        // How far the consumer got, whatever was acknowledged.
        assert_eq!(
            behind.last_consumed,
            [(TopicPartition::new("verif", 0), 150)]
        );
        assert_eq!(
            gap_but_caught_up.last_consumed,
            [(TopicPartition::new("verif", 0), 199)]
        );
    }

    #[test]
    fn redelivery_after_a_rebalance_is_a_duplicate_not_a_reordering() {
        let report = report_with(|_, real| {
            vec![
                consumed(real, 0, 199),
                real_event(real, "partitions_revoked"),
                real_event(real, "partitions_assigned"),
                consumed(real, 150, 199),
            ]
        });
        assert_eq!(report.duplicates, ids(150..=199));
        assert_eq!(report.consumed, 250);
        assert!(report.is_in_order(), "{report}");
        assert!(report.is_clean() && !report.is_exactly_once());
        assert!(report.to_string().contains(
            "duplicated (consumed more than once):\n  verif-0: offsets 150..=199 (50 records)\n"
        ));
    }

    #[test]
    fn going_back_without_a_rebalance_is_out_of_order() {
        let report = report_with(|_, real| {
            vec![
                consumed(real, 0, 99),
                consumed(real, 150, 199),
                consumed(real, 100, 149),
            ]
        });
        assert_eq!(
            report.out_of_order,
            vec![OrderViolation {
                consumer: "c1".into(),
                topic: "verif".into(),
                partition: 0,
                previous_offset: 199,
                offset: 100,
            }]
        );
        // Every record arrived exactly once, just not in order.
        assert!(report.is_exactly_once() && !report.is_in_order());
        assert!(report
            .to_string()
            .contains("out of order:\n  c1 on verif-0: offset 100 after 199\n"));
    }

    #[test]
    fn a_consumer_restart_resets_order_tracking() {
        let report = report_with(|_, real| {
            vec![
                consumed(real, 0, 199),
                real_event(real, "startup_complete"),
                consumed(real, 100, 199),
            ]
        });
        assert!(report.is_in_order());
        assert_eq!(report.duplicates, ids(100..=199));
    }

    #[test]
    fn order_is_tracked_per_consumer_and_duplicates_across_the_group() {
        let first = consumer_with(|_, real| vec![consumed(real, 100, 199)]);
        let second = consumer_with(|_, real| vec![consumed(real, 0, 119)]);
        let report = check(&events(PRODUCER), &[("c1", &first), ("c2", &second)]);
        assert!(report.is_in_order() && report.is_clean());
        assert_eq!(report.duplicates, ids(100..=119));
        assert_eq!(report.consumed, 220);
    }

    #[test]
    fn consumed_records_nobody_acknowledged_are_counted() {
        // Only the first 150 acknowledgements were seen (the producer's stdout was cut short).
        let producer = events(PRODUCER);
        let report = check(&producer[..151], &[("c1", &events(CONSUMER))]);
        assert_eq!((report.acked, report.unacked_but_consumed), (150, 50));
        assert!(report.is_exactly_once());
    }

    #[test]
    fn acks_without_offsets_are_counted_apart() {
        let acks = events(
            r#"{"timestamp":1,"name":"producer_send_success","key":null,"value":"0","offset":-1,"topic":"verif","partition":0}"#,
        );
        let report = check(&acks, &[]);
        assert_eq!((report.acked, report.acked_without_offset), (0, 1));
        assert!(report.is_clean());
    }

    #[test]
    fn display_caps_the_ranges_per_partition() {
        let report = DeliveryReport {
            lost: ids((0..30).map(|i| i * 10)),
            ..DeliveryReport::default()
        };
        let text = report.to_string();
        assert!(
            text.contains("  verif-0: offset 190 (1 record)\n"),
            "{text}"
        );
        assert!(!text.contains("offset 200 "), "{text}");
        assert!(
            text.contains("  verif-0: … and 10 more ranges (10 records)\n"),
            "{text}"
        );
    }

    #[test]
    fn report_round_trips_through_json() {
        let report = report_with(|_, real| vec![consumed(real, 0, 99)]);
        assert_eq!(report.lost.len(), 100);
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(
            serde_json::from_str::<DeliveryReport>(&json).unwrap(),
            report
        );
    }
}
