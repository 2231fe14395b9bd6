#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! kafkatest's `core/reassign_partitions_test.py`: every partition of an RF3 topic with
//! `min.insync.replicas=3` (kafkatest's stringency: no replica may be skipped) is given
//! another partition's replicas with `kafka-reassign-partitions` while the verifiable producer
//! and consumer run; with `bounce`, every other broker is restarted cleanly during the move.
//! The final assignment read from Kafka is the requested one, `--verify` says complete, and
//! every acknowledged record is consumed with its value.
//!
//! Shown failing: a partition reassigned onto a broker that is stopped does not complete —
//! the tool refuses it (`Unknown broker id N`: it checks the live brokers) and the wait for
//! the requested replicas times out naming the partition; once the broker is back the same
//! move is accepted and completes.
//!
//! Not here: kafkatest's `reassign_from_offset_zero=False` (a log start moved by retention
//! first), ZooKeeper mode, moves between log directories, and the admin API
//! (`AlterPartitionReassignments`; the Rust client has no binding for it): the tool is the
//! only path.

use std::time::Duration;

use ducttape_services::kafka::{Reassignment, ReassignmentStatus};
use ducttape_services::verifiable::VerifiableConsumer;
use ducttape_services::{KafkaVersion, Service, ServiceExt, StopOutcome, TopicSpec};
use ducttape_tests::{
    ctx, read_to_the_end, record_delivery, start_kafka, wait_for_more_acks, Mode, TestContext,
    STALL,
};
use rstest::rstest;
use serial_test::serial;

const TOPIC: &str = "reassigned";
const PARTITIONS: u32 = 6;

// Both cases ignored until they pass here: see the README's table (the default run should
// then get with_bounces).
#[rstest]
#[ignore = "not yet passed in full here (load average 60-140 during the session); run: cargo test -p ducttape-tests --test reassign_partitions_test -- --ignored"]
#[case::with_bounces(true)]
#[ignore = "not yet run; run: cargo test -p ducttape-tests --test reassign_partitions_test -- --ignored"]
#[case::without_bounces(false)]
#[tokio::test]
#[serial(heavy)]
async fn reassign_partitions(ctx: TestContext, #[case] bounce: bool) {
    let cluster = start_kafka(&ctx, Mode::Kraft, 4, KafkaVersion::DEFAULT)
        .await
        .unwrap();
    let kafka = &cluster.kafka;
    kafka
        .create_topic(
            &TopicSpec::new(TOPIC)
                .partitions(PARTITIONS)
                .replication_factor(3)
                .config("min.insync.replicas", 3),
        )
        .await
        .unwrap();
    let clients = ctx.lease(2).await.unwrap();
    let producer = ducttape_tests::producer_through_faults(vec![clients[0].clone()], kafka, TOPIC)
        .throughput(500)
        .build(&ctx)
        .unwrap();
    let consumer = VerifiableConsumer::builder(vec![clients[1].clone()], kafka, TOPIC, "reassign")
        .build(&ctx)
        .unwrap();
    consumer.start().await.unwrap();
    producer.start().await.unwrap();
    let resume = Duration::from_secs(120);
    // Data before the move (kafkatest waits for every partition; one read of the producer's
    // output, not one per partition: each read is the whole file, slow under load).
    wait_for_more_acks(&producer, 300, resume).await.unwrap();

    // Partition i gets the replicas of partition i+1 (kafkatest shuffles; a rotation is sure
    // to move something, which is checked).
    let before = kafka.describe_topic(TOPIC).await.unwrap();
    let mut r = Reassignment::new();
    let mut moved = 0;
    for p in &before {
        let next = before
            .iter()
            .find(|q| q.partition == (p.partition + 1) % PARTITIONS)
            .expect("every partition described");
        let mut old = p.replicas.clone();
        let mut new = next.replicas.clone();
        old.sort_unstable();
        new.sort_unstable();
        moved += usize::from(old != new);
        r = r.partition(TOPIC, p.partition, &next.replicas);
    }
    assert!(moved > 0, "the reassignment moves no replica: {before:?}");
    kafka.execute_reassignment(&r, None).await.unwrap();
    if bounce {
        for node in kafka.brokers().iter().step_by(2) {
            let ended = kafka.bounce(node, true).await.unwrap();
            assert_eq!(ended, StopOutcome::Exited, "bouncing {}", node.name());
        }
    }
    let took = kafka
        .wait_reassigned(&r, Duration::from_secs(180))
        .await
        .unwrap();
    assert_eq!(
        kafka.verify_reassignment(&r).await.unwrap(),
        ReassignmentStatus::Complete
    );
    let after = kafka.describe_topic(TOPIC).await.unwrap();
    assert!(r.unfinished(&after).is_empty(), "{after:?} vs {r:?}");
    println!("{moved} of {PARTITIONS} partitions moved in {took:?} (bounces: {bounce})");
    ctx.record("partitions_moved", moved as u64);
    ctx.record("reassignment_s", took.as_secs_f64());
    wait_for_more_acks(&producer, 200, resume).await.unwrap();

    // A broken move: partition 0 onto a broker that is stopped.
    let p0 = after.iter().find(|p| p.partition == 0).unwrap();
    let down = kafka
        .brokers()
        .into_iter()
        .find(|n| !p0.replicas.contains(&kafka.id_of(n).unwrap()))
        .expect("a broker outside partition 0's replicas");
    let down_id = kafka.id_of(&down).unwrap();
    kafka.stop_node(&down, true).await.unwrap();
    let mut onto: Vec<u32> = p0.replicas.iter().skip(1).copied().collect();
    onto.push(down_id);
    let broken = Reassignment::new().partition(TOPIC, 0, &onto);
    // Kafka's tool refuses it, naming the broker, and nothing moves.
    let refused = kafka
        .execute_reassignment(&broken, None)
        .await
        .expect_err("a move onto a stopped broker was accepted");
    assert!(
        refused
            .to_string()
            .contains(&format!("Unknown broker id {down_id}")),
        "{refused}"
    );
    let never = kafka
        .wait_reassigned(&broken, Duration::from_secs(20))
        .await
        .expect_err("a move onto a stopped broker completed");
    assert!(never.to_string().contains(&format!("{TOPIC}-0")), "{never}");
    println!("onto stopped broker {down_id}: {never}");
    // The broker comes back: the same move is then accepted and completes.
    kafka.start_node(&down).await.unwrap();
    kafka.execute_reassignment(&broken, None).await.unwrap();
    kafka
        .wait_reassigned(&broken, Duration::from_secs(180))
        .await
        .unwrap();

    let report = read_to_the_end(kafka, TOPIC, &[&producer], &consumer, STALL)
        .await
        .unwrap();
    println!("{report}");
    record_delivery(&ctx, &report);
    assert!(report.is_clean(), "acknowledged records lost: {report}");
}
