#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! kafkatest's `tests/client/truncation_test.py`: a consumer detects log truncation after an
//! unclean leader election (KIP-320), and we name the records truncated.
//!
//! Three brokers, a topic of one partition on two of them (replication factor 2), a verifiable
//! producer at 10 records/s, one verifiable consumer (group `truncation-test`). The ISR is cut
//! to one replica (the first ISR member stopped); the consumer reads at least 10 records only
//! that replica holds; the last ISR member is stopped too (no leader) and the consumer reads
//! to the end. The out-of-sync replica is started and elected by an *unclean* election
//! (`kafka-leader-election --election-type unclean`): its log lacks the records the other took
//! alone, and the producer's next records take their offsets. The old replica is started and
//! truncated to the new leader's log. The consumer, positioned past the new leader's end in an
//! old leader epoch, must detect the divergence and go back to it — not to the beginning.
//! A second consumer (a new group, from the earliest offset) then reads the whole log.
//!
//! Verdicts:
//! - the first consumer went back in the partition exactly once, and not before the offset
//!   where the final log starts to differ from what it had read (the divergence; going back
//!   before it would re-read records). It may go back to *after* it: the new leader answers
//!   the consumer's leader epoch with the end offset of an older epoch, and a record the old
//!   leader had at that offset in a newer epoch is not seen as diverged — KIP-320 cannot
//!   detect every truncation after an unclean election. The records of the final log the
//!   consumer skipped that way are counted (`skipped`) and printed, not failed on: seen here
//!   on 3.9 (went back to 81, divergence at 80: one record of the new leader never read);
//! - the records truncated — read by the first consumer, acknowledged, not in the final log
//!   (the delivery checker's lost and replaced records, producer against the second consumer)
//!   — are there (kafkatest: "fewer records with the new consumer"), name every value the
//!   first consumer read at or after the divergence before it went back, and otherwise only
//!   acknowledged values it never read (taken by the last replica just before its stop);
//! - the first consumer read no value twice (kafkatest: it did not reset to the beginning).
//!
//! Shown able to fail: the same run where the last ISR member is restarted instead of an
//! unclean election (a clean recovery: nothing truncated) fails the truncation verdicts.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ducttape_services::perf::ClientBuilder;
use ducttape_services::verifiable::{
    check_delivery_of, VerifiableConsumer, VerifiableConsumerService, VerifiableEvent,
    VerifiableProducer,
};
use ducttape_services::{KafkaService, KafkaVersion, Service, ServiceError, ServiceExt, TopicSpec};
use ducttape_tests::{ctx, start_kafka, wait_for_leader, Mode, TestContext};
use rstest::rstest;
use serial_test::serial;

const TOPIC: &str = "test_topic";
const WAIT: Duration = Duration::from_secs(120);

/// Every (offset, value) a consumer read in partition 0, in order.
async fn reads(consumer: &VerifiableConsumerService) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for node in consumer.nodes() {
        let output = consumer.output_so_far(node).await.unwrap();
        for e in output.events {
            if let VerifiableEvent::RecordData { record, .. } = e {
                out.push((record.offset, record.value.unwrap_or_default()));
            }
        }
    }
    out
}

/// Waits until `consumer` read `more` records beyond what it had when called.
async fn wait_for_reads(consumer: &VerifiableConsumerService, more: usize) {
    let from = reads(consumer).await.len();
    ducttape_core::wait_until(
        &format!("{more} more records read"),
        WAIT,
        Duration::from_millis(500),
        || async { Ok::<_, ServiceError>(reads(consumer).await.len() >= from + more) },
    )
    .await
    .unwrap();
}

/// Waits until `consumer` read nothing new for 5 s (it reached the end of what it can read).
async fn wait_for_quiet(consumer: &VerifiableConsumerService) {
    let mut last = reads(consumer).await.len();
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let now = reads(consumer).await.len();
        if now == last {
            return;
        }
        last = now;
    }
}

/// Elects a leader of partition 0 among the live replicas, in sync or not.
async fn unclean_election(kafka: &KafkaService, on: &ducttape_tests::Node) {
    let args: Vec<String> = [
        "--bootstrap-server",
        &kafka.bootstrap_servers(),
        "--election-type",
        "unclean",
        "--topic",
        TOPIC,
        "--partition",
        "0",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    let out = kafka
        .run_tool_on(on, "org.apache.kafka.tools.LeaderElectionCommand", &args)
        .await
        .unwrap();
    println!("unclean election: {out}");
}

/// What a run saw.
struct Run {
    /// Offsets the first consumer went back to (one per going back).
    went_back_to: Vec<i64>,
    /// The first offset where the final log differs from what the first consumer read.
    divergence: Option<i64>,
    /// Offsets of the final log the first consumer never read (between the divergence and
    /// where it went back to).
    skipped: Vec<i64>,
    /// Values the first consumer read at or after the divergence before going back.
    read_then_truncated: BTreeSet<String>,
    /// Acknowledged values not in the final log, by the delivery checker.
    truncated: BTreeSet<String>,
    /// Values the first consumer read more than once.
    read_twice: usize,
    /// Every value the first consumer read.
    first_read: BTreeSet<String>,
    first_total: usize,
    second_total: usize,
}

async fn run(ctx: &TestContext, mode: Mode, version: KafkaVersion, unclean: bool) -> Run {
    let started = Instant::now();
    let cluster = start_kafka(ctx, mode, 3, version).await.unwrap();
    let kafka = &cluster.kafka;
    kafka
        .create_topic(&TopicSpec::new(TOPIC).partitions(1).replication_factor(2))
        .await
        .unwrap();
    let client = ctx.lease(1).await.unwrap();
    let producer = VerifiableProducer::builder(client.clone(), kafka, TOPIC)
        .throughput(10)
        .build(ctx)
        .unwrap();
    producer.start().await.unwrap();
    ducttape_tests::wait_for_more_acks(&producer, 10, WAIT)
        .await
        .unwrap();
    let consumer = VerifiableConsumer::builder(client.clone(), kafka, TOPIC, "truncation-test")
        .build(ctx)
        .unwrap();
    consumer.start().await.unwrap();
    wait_for_reads(&consumer, 10).await;

    let isr = kafka.describe_topic(TOPIC).await.unwrap()[0].isr.clone();
    assert_eq!(isr.len(), 2, "both replicas in sync: {isr:?}");
    let first = kafka.node_by_id(isr[0]).unwrap();
    let second = kafka.node_by_id(isr[1]).unwrap();
    let other = kafka
        .brokers()
        .into_iter()
        .find(|n| n.name() != first.name() && n.name() != second.name())
        .unwrap();
    // The ISR down to one: the next records are on `second` only.
    kafka.stop_node(first, true).await.unwrap();
    wait_for_reads(&consumer, 10).await;
    // No replica left: the consumer reads to the end of what was there.
    kafka.stop_node(second, true).await.unwrap();
    wait_for_quiet(&consumer).await;
    kafka.start_node(first).await.unwrap();
    if unclean {
        unclean_election(kafka, &other).await;
        wait_for_leader(kafka, TOPIC, 0).await.unwrap();
        kafka.start_node(second).await.unwrap();
    } else {
        // The broken case: the last in-sync replica comes back and leads; nothing is lost.
        kafka.start_node(second).await.unwrap();
        wait_for_leader(kafka, TOPIC, 0).await.unwrap();
    }
    // The consumer goes on with the producer's new records.
    wait_for_reads(&consumer, 20).await;
    consumer.stop().await.unwrap();
    producer.stop().await.unwrap();

    // A new group reads the whole log.
    let second_consumer = VerifiableConsumer::builder(client.clone(), kafka, TOPIC, "group2")
        .name("second-consumer")
        .build(ctx)
        .unwrap();
    second_consumer.start().await.unwrap();
    let end = kafka.end_offsets(TOPIC).await.unwrap()[&0];
    ducttape_core::wait_until(
        "the second consumer read the whole log",
        WAIT,
        Duration::from_secs(1),
        || async {
            Ok::<_, ServiceError>(
                reads(&second_consumer)
                    .await
                    .last()
                    .is_some_and(|(o, _)| *o + 1 >= end),
            )
        },
    )
    .await
    .unwrap();
    second_consumer.stop().await.unwrap();

    let first_reads = reads(&consumer).await;
    let final_log: BTreeMap<i64, String> = reads(&second_consumer).await.into_iter().collect();
    let mut went_back_to = Vec::new();
    for pair in first_reads.windows(2) {
        if pair[1].0 <= pair[0].0 {
            went_back_to.push(pair[1].0);
        }
    }
    let divergence = first_reads
        .iter()
        .find(|(o, v)| final_log.get(o) != Some(v))
        .map(|(o, _)| *o);
    let back_at = first_reads
        .windows(2)
        .position(|p| p[1].0 <= p[0].0)
        .map_or(first_reads.len(), |i| i + 1);
    let read_then_truncated: BTreeSet<String> = first_reads[..back_at]
        .iter()
        .filter(|(o, _)| divergence.is_some_and(|d| *o >= d))
        .map(|(_, v)| v.clone())
        .collect();
    let report = check_delivery_of(&[&producer], &[&second_consumer])
        .await
        .unwrap();
    let acked: BTreeMap<i64, Vec<String>> = {
        let mut m: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for output in producer.outputs().values() {
            for e in &output.events {
                if let VerifiableEvent::ProducerSendSuccess { record, .. } = e {
                    m.entry(record.offset)
                        .or_default()
                        .extend(record.value.clone());
                }
            }
        }
        m
    };
    let mut truncated: BTreeSet<String> = report
        .value_mismatches
        .iter()
        .filter_map(|m| m.acked.clone())
        .collect();
    for lost in &report.lost {
        truncated.extend(acked.get(&lost.offset).into_iter().flatten().cloned());
    }
    let distinct: BTreeSet<&String> = first_reads.iter().map(|(_, v)| v).collect();
    let read_pairs: BTreeSet<(i64, &String)> = first_reads.iter().map(|(o, v)| (*o, v)).collect();
    let skipped: Vec<i64> = final_log
        .iter()
        .filter(|(o, v)| divergence.is_some_and(|d| **o >= d) && !read_pairs.contains(&(**o, *v)))
        .filter(|(o, _)| went_back_to.first().is_some_and(|t| *o < t))
        .map(|(o, _)| *o)
        .collect();
    let run = Run {
        went_back_to,
        divergence,
        skipped,
        read_then_truncated,
        truncated,
        read_twice: first_reads.len() - distinct.len(),
        first_read: distinct.iter().map(|v| (*v).clone()).collect(),
        first_total: distinct.len(),
        second_total: final_log.len(),
    };
    println!(
        "{mode:?} unclean {unclean}: went back to {:?}, divergence {:?}, skipped {:?}, truncated {} values ({} read \
         then truncated), read twice {}, first read {} distinct, the final log holds {}; {report} in {:?}",
        run.went_back_to,
        run.divergence,
        run.skipped,
        run.truncated.len(),
        run.read_then_truncated.len(),
        run.read_twice,
        run.first_total,
        run.second_total,
        started.elapsed()
    );
    ducttape_tests::record_delivery(ctx, &report);
    ctx.record("truncated", run.truncated.len() as u64);
    ctx.record("skipped_after_truncation", run.skipped.len() as u64);
    run
}

/// What is wrong with a run that should have truncated (empty: detected and named).
fn problems(run: &Run) -> Vec<String> {
    let mut out = Vec::new();
    match (run.went_back_to.as_slice(), run.divergence) {
        ([to], Some(d)) if *to >= d => {}
        (back, d) => out.push(format!(
            "the consumer should go back once, not before the divergence {d:?}; it went back to {back:?}"
        )),
    }
    if run.truncated.is_empty() {
        out.push("no acknowledged record was truncated".into());
    }
    // Every value read past the divergence (and not re-read) is named truncated; the others
    // named are acknowledgements the first consumer never read at all (the last replica was
    // stopped before it fetched them).
    let missing: Vec<_> = run
        .read_then_truncated
        .difference(&run.truncated)
        .take(5)
        .collect();
    let extra: Vec<_> = run
        .truncated
        .difference(&run.read_then_truncated)
        .filter(|v| run.first_read.contains(*v))
        .take(5)
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        out.push(format!(
            "truncated values differ from those read past the divergence: read but not named {missing:?}, \
             named but read before it {extra:?}"
        ));
    }
    if run.read_twice > 0 {
        out.push(format!(
            "the consumer read {} values twice (reset to the beginning?)",
            run.read_twice
        ));
    }
    if run.second_total >= run.first_total {
        out.push(format!(
            "the final log holds {} records, the first consumer read {}: nothing truncated",
            run.second_total, run.first_total
        ));
    }
    out
}

/// The default run's representative case: KRaft, 3.9.
#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn unclean_election_truncation_is_detected_and_named(ctx: TestContext) {
    let run = run(&ctx, Mode::KraftDedicated, KafkaVersion::DEFAULT, true).await;
    let problems = problems(&run);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[rstest]
#[case::zookeeper(Mode::Zookeeper, KafkaVersion::V3_9)]
#[case::v4_kraft(Mode::KraftDedicated, KafkaVersion::V4)]
#[tokio::test]
#[serial(heavy)]
#[ignore = "matrix; cargo test -p ducttape-tests --test truncation_test -- --ignored"]
async fn truncation_in_other_modes(
    ctx: TestContext,
    #[case] mode: Mode,
    #[case] version: KafkaVersion,
) {
    let run = run(&ctx, mode, version, true).await;
    let problems = problems(&run);
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The broken case: no unclean election (the last in-sync replica comes back), so nothing is
/// truncated; the verdicts must say so.
#[rstest]
#[tokio::test]
#[serial(heavy)]
#[ignore = "shows the truncation checks failing; cargo test -p ducttape-tests --test truncation_test -- --ignored"]
async fn without_an_unclean_election_the_truncation_checks_fail(ctx: TestContext) {
    let run = run(&ctx, Mode::KraftDedicated, KafkaVersion::DEFAULT, false).await;
    let problems = problems(&run);
    assert!(
        run.truncated.is_empty() && run.went_back_to.is_empty(),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("no acknowledged record was truncated"))
            && problems.iter().any(|p| p.contains("should go back once"))
            && problems.iter().any(|p| p.contains("nothing truncated")),
        "{problems:#?}"
    );
}
