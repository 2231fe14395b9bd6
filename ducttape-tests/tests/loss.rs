#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! The loss checker bites: the same workload and the same fault, once on a configuration known
//! to lose acknowledged writes and once on the safe one, in ZooKeeper and KRaft mode.
//!
//! The fault (Jepsen's classic for Kafka): the leader of the only partition is cut off from the
//! other brokers and from ZooKeeper / the controllers, while the producer and the consumer still
//! reach it. The other replicas stop fetching, the controller moves leadership to one of them,
//! and the old leader, which cannot reach anyone to shrink its ISR, goes on answering the
//! producer. With `acks=1` it acknowledges every record alone; when the partition heals it learns
//! it was deposed and truncates its log to the new leader's: every record it acknowledged alone
//! is gone, and the new leader has given their offsets to other records. With `acks=all` and
//! `min.insync.replicas=2` it cannot acknowledge anything alone, so nothing acknowledged is lost.
//!
//! The unsafe run must report lost acknowledged records (and name them); the safe one none.

use std::time::Duration;

use ducttape_services::faults::Faults;
use ducttape_services::perf::ClientBuilder;
use ducttape_services::verifiable::{
    acknowledged_so_far, DeliveryReport, VerifiableConsumer, VerifiableProducer,
};
use ducttape_services::{KafkaVersion, Service, ServiceExt, TopicSpec};
use ducttape_tests::{
    ctx, start_kafka, stop_and_report, wait_for_leader, wait_for_leader_move, wait_for_more_acks,
    Mode, Node, TestContext,
};
use rstest::rstest;
use serial_test::serial;

/// How long the first acknowledgements may take.
const RESUME: Duration = Duration::from_secs(120);

/// Producer and topic settings of the two runs; everything else is the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// `acks=1`, `min.insync.replicas=1`, unclean leader election on.
    Unsafe,
    /// `acks=all`, `min.insync.replicas=2`, no unclean leader election, idempotence.
    Safe,
}

/// Runs the workload through the fault and returns the final delivery report.
async fn isolate_the_leader_from_its_replicas(
    ctx: &TestContext,
    mode: Mode,
    durability: Durability,
) -> DeliveryReport {
    let safe = durability == Durability::Safe;
    let cluster = start_kafka(ctx, mode, 3, KafkaVersion::DEFAULT)
        .await
        .unwrap();
    let kafka = &cluster.kafka;
    let topic = "isolated";
    kafka
        .create_topic(
            &TopicSpec::new(topic)
                .partitions(1)
                .replication_factor(3)
                .config("min.insync.replicas", if safe { 2 } else { 1 })
                .config("unclean.leader.election.enable", !safe),
        )
        .await
        .unwrap();
    let client = ctx.lease(1).await.unwrap().remove(0);
    let producer_for = |phase: u32| {
        VerifiableProducer::new(topic)
            .value_prefix(phase)
            .acks(if safe { "-1" } else { "1" })
            .prop("enable.idempotence", safe)
            .prop("retries", i32::MAX)
            .prop("delivery.timeout.ms", 120_000)
            .name(&format!("producer-{phase}"))
    };
    let producer = producer_for(1)
        .throughput(500)
        .build(ctx, kafka, vec![client.clone()]);
    let consumer =
        VerifiableConsumer::new(topic, "loss-check").build(ctx, kafka, vec![client.clone()]);
    consumer.start().await.unwrap();
    producer.start().await.unwrap();
    wait_for_more_acks(&producer, 500, RESUME).await.unwrap();

    // Cut the leader off from every other broker and from the metadata quorum, not from the
    // client.
    let leader = wait_for_leader(kafka, topic, 0).await.unwrap();
    let quorum: Vec<Node> = cluster
        .zookeeper
        .as_ref()
        .map(|zk| zk.nodes().to_vec())
        .unwrap_or_default();
    let others: Vec<Node> = kafka
        .brokers()
        .into_iter()
        .chain(quorum)
        .filter(|n| n.name() != leader.name())
        .collect();
    let faults = Faults::new(ctx);
    faults
        .partition(std::slice::from_ref(&leader), &others)
        .await
        .unwrap();
    let rules = faults.describe(&leader).await.unwrap();
    assert!(rules.contains("DROP"), "the partition is in place: {rules}");
    wait_for_leader_move(kafka, &client, topic, &leader)
        .await
        .expect("leadership moved away from the isolated broker");
    // A while under the new leader, so the old one acknowledges (or holds) records alone:
    // with acks=1 they come; with acks=all they cannot.
    let acked_alone = wait_for_more_acks(&producer, 1000, Duration::from_secs(20))
        .await
        .is_ok();
    faults.heal_all().await.unwrap();
    // The first producer must still be running: only our stop ends it.
    producer.stop().await.unwrap();

    // After the heal the partition serves again: a second producer's records are all
    // acknowledged, and the consumer must read up to its last one.
    let after =
        producer_for(2)
            .max_messages(500)
            .throughput(-1)
            .build(ctx, kafka, vec![client.clone()]);
    after.run().await.unwrap();
    assert_eq!(acknowledged_so_far(&after).await.unwrap(), 500);

    let report = stop_and_report(&[&producer, &after], &consumer, Duration::from_secs(120))
        .await
        .unwrap();
    println!(
        "{mode:?} {durability:?}, leader {} isolated: {report}",
        leader.name()
    );
    ctx.record("mode", format!("{mode:?}"));
    ctx.record("durability", format!("{durability:?}"));
    ducttape_tests::record_delivery(ctx, &report);
    ctx.record("acked", report.acked);
    ctx.record("acked_alone_by_isolated_leader", acked_alone);
    ctx.record("lost_acknowledged", report.lost_acknowledged() as u64);
    ctx.record("never_consumed", report.lost.len() as u64);
    ctx.record("replaced", report.value_mismatches.len() as u64);
    assert!(report.caught_up, "{report}");
    report
}

#[rstest]
#[case::zookeeper(Mode::Zookeeper)]
#[case::kraft(Mode::Kraft)]
#[tokio::test]
#[serial(heavy)]
async fn unsafe_config_loses_acknowledged_records_and_the_checker_says_so(
    ctx: TestContext,
    #[case] mode: Mode,
) {
    let report = isolate_the_leader_from_its_replicas(&ctx, mode, Durability::Unsafe).await;
    assert!(
        report.lost_acknowledged() > 0,
        "acks=1 through an isolated leader lost nothing? {report}"
    );
    // The report names the records: their places, and what took them.
    let text = report.to_string();
    assert!(
        text.contains("isolated-0"),
        "lost records are named: {text}"
    );
}

#[rstest]
#[case::zookeeper(Mode::Zookeeper)]
#[case::kraft(Mode::Kraft)]
#[tokio::test]
#[serial(heavy)]
async fn safe_config_loses_nothing_under_the_same_fault(ctx: TestContext, #[case] mode: Mode) {
    let report = isolate_the_leader_from_its_replicas(&ctx, mode, Durability::Safe).await;
    assert!(report.is_clean(), "acknowledged records lost: {report}");
}
