#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! kafkatest's `core/throttling_test.py`: a throttled partition reassignment takes at least
//! the data moved ÷ the throttle; an unthrottled one is faster; the verifiable producer and
//! consumer run on a partition moved in the same reassignments and nothing acknowledged is
//! lost. kafkatest's `bounce_brokers`: the broker copying the bulk partition is restarted
//! cleanly during the throttled move (the move checked to be in progress when it goes down).
//!
//! The bound: Kafka's replication quota measures its rate over `replication.quota.window.num`
//! one-second windows and, while fewer have passed, counts them as passed: a move can burst
//! that many seconds' worth of throttle at once. Kafka's default (11 windows) lets 10 s
//! through unthrottled, which a short test cannot tell from no throttle at all; the brokers
//! here use 2 windows, so the bound is (bytes − 2 s × throttle) ÷ throttle, and like
//! kafkatest we accept 0.9 of it. A restarted broker starts its quota afresh: one more
//! burst per bounce. The clock starts when `--execute` returns (what moved while the tool
//! exited is not counted: the bound only gets stricter) and stops when the metadata shows
//! the requested replicas, all in sync. Load only slows a move down, so the bound holds on a
//! busy machine.
//!
//! Shown failing on the same cluster: the same data moved unthrottled does not meet the
//! bound — the bound is ≈ 26 s and 31.25 MiB moved unthrottled in 15.5 s even at load
//! average 124-143 here, so the margin is wide. (A first version also asserted that a move
//! throttled 10× higher beats the bound; with 2 MiB/s that bound was 12.3 s, and under load
//! the 10× move took 15.8 s: an upper bound on time, which load breaks. It is gone.)

use std::time::Duration;

use ducttape_services::kafka::{PartitionInfo, Reassignment, ReassignmentStatus, SecurityConfig};
use ducttape_services::perf::{ClientBuilder, ProducerPerformance};
use ducttape_services::verifiable::VerifiableConsumer;
use ducttape_services::{KafkaService, KafkaVersion, ServiceExt, StopOutcome, TopicSpec};
use ducttape_tests::{
    ctx, read_to_the_end, record_delivery, start_secured_kafka_with, wait_for_more_acks, Mode,
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
/// The throttle asserted: 1 MiB/s of replication per broker (the bound ≈ 26 s).
const THROTTLE: u64 = 1024 * 1024;
/// `replication.quota.window.num` on the brokers (see the module doc).
const QUOTA_WINDOWS: u64 = 2;

/// The least time moving `bytes` can take at `throttle` bytes/s: what the quota's windows let
/// through at once (`bursts` times: once, and again for each restarted broker), the rest at
/// the throttle, and kafkatest's 10% slack.
fn lower_bound(bytes: u64, throttle: u64, bursts: u64) -> Duration {
    let throttled = bytes.saturating_sub(bursts * QUOTA_WINDOWS * throttle);
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
/// with the broker that copies the bulk partition restarted cleanly during the move when
/// `bounce`, and returns how long the move took; `--verify` then says it is complete (and
/// clears the throttles).
async fn move_once(
    kafka: &KafkaService,
    ids: &[u32],
    throttle: Option<u64>,
    bounce: bool,
) -> Duration {
    let mut r = Reassignment::new();
    for topic in [BULK, VERIFIED] {
        let parts = kafka.describe_topic(topic).await.unwrap();
        r = shifted(r, &parts, ids);
    }
    let bulk = kafka.describe_topic(BULK).await.unwrap().remove(0);
    kafka.execute_reassignment(&r, throttle).await.unwrap();
    let started = tokio::time::Instant::now();
    if bounce {
        let target = &r.targets()[&(BULK.to_string(), 0)];
        let copying = *target
            .iter()
            .find(|b| !bulk.replicas.contains(b))
            .expect("a new replica");
        let ongoing = kafka.ongoing_reassignments().await.unwrap();
        assert!(
            ongoing
                .iter()
                .any(|o| o.topic == BULK && o.adding == [copying]),
            "the move is not going on when broker {copying} is to be bounced: {ongoing:?}"
        );
        let node = kafka.node_by_id(copying).unwrap().clone();
        let ended = kafka.bounce(&node, true).await.unwrap();
        assert_eq!(ended, StopOutcome::Exited, "bouncing broker {copying}");
    }
    kafka
        .wait_reassigned(&r, Duration::from_secs(180))
        .await
        .unwrap();
    let took = started.elapsed();
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
#[case::no_bounce(false)]
#[ignore = "kafkatest's bounce_brokers=True; run: cargo test -p ducttape-tests --test throttling_test -- --ignored"]
#[case::bounce(true)]
#[tokio::test]
#[serial(heavy)]
async fn throttled_reassignment(ctx: TestContext, #[case] bounce: bool) {
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
    let bound = lower_bound(bytes, THROTTLE, 1 + u64::from(bounce));

    let producer =
        ducttape_tests::producer_through_faults(vec![clients[0].clone()], kafka, VERIFIED)
            .throughput(100)
            .build(&ctx)
            .unwrap();
    let consumer =
        VerifiableConsumer::builder(vec![clients[1].clone()], kafka, VERIFIED, "throttling")
            .build(&ctx)
            .unwrap();
    consumer.start().await.unwrap();
    producer.start().await.unwrap();
    let resume = Duration::from_secs(90);
    wait_for_more_acks(&producer, 200, resume).await.unwrap();

    let throttled = move_once(kafka, &ids, Some(THROTTLE), bounce).await;
    wait_for_more_acks(&producer, 100, resume).await.unwrap();
    let unthrottled = move_once(kafka, &ids, None, false).await;
    wait_for_more_acks(&producer, 100, resume).await.unwrap();
    println!(
        "{bytes} bytes moved: throttled to {THROTTLE} B/s in {throttled:?} (bound {bound:?}, \
         bounce: {bounce}), unthrottled in {unthrottled:?}"
    );
    ctx.record("bytes_moved", bytes);
    ctx.record("lower_bound_s", bound.as_secs_f64());
    ctx.record("throttled_s", throttled.as_secs_f64());
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
    // Faster without the throttle, and so the bound check fails where it should: the same
    // data moved unthrottled does not meet it.
    assert!(
        unthrottled < bound,
        "unthrottled {unthrottled:?} (throttled {throttled:?}): the bound {bound:?} cannot \
         tell a throttled move from one that is not"
    );
}

#[test]
fn the_bound_leaves_out_the_quota_windows_burst() {
    // 10 MiB at 1 MiB/s: 2 s may burst, 8 s throttled, 90% of it; two bursts: 6 s.
    let b = lower_bound(10 * 1024 * 1024, 1024 * 1024, 1);
    assert!((b.as_secs_f64() - 7.2).abs() < 1e-9, "{b:?}");
    let b = lower_bound(10 * 1024 * 1024, 1024 * 1024, 2);
    assert!((b.as_secs_f64() - 5.4).abs() < 1e-9, "{b:?}");
    assert_eq!(lower_bound(1024, 1024 * 1024, 1), Duration::ZERO);
}
