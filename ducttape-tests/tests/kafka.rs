//! Three brokers, in ZooKeeper mode and in KRaft mode: a replicated topic survives a clean and
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! a hard bounce of its partition leader, with leadership moving and every record readable.

use std::collections::BTreeSet;
use std::time::Duration;

use ducttape_core::wait_until;
use ducttape_services::{KafkaService, KafkaVersion, Service, StopOutcome, TopicSpec};
use ducttape_tests::{
    consume_values, create_replicated_topic, ctx, produce_acked, start_kafka, Mode, TestContext,
};
use rstest::rstest;
use serial_test::serial;

async fn leader_other_than(kafka: &KafkaService, topic: &str, old: u32) -> u32 {
    wait_until(
        "partition 0 has a new leader",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            let parts = kafka.describe_topic(topic).await?;
            let leader = parts
                .iter()
                .find(|p| p.partition == 0)
                .and_then(|p| p.leader);
            Ok::<_, ducttape_services::ServiceError>(leader.filter(|&l| l != old))
        },
    )
    .await
    .unwrap()
}

#[rstest]
#[case::zookeeper(Mode::Zookeeper, KafkaVersion::DEFAULT)]
#[case::kraft(Mode::Kraft, KafkaVersion::DEFAULT)]
#[case::kraft_4x(Mode::Kraft, KafkaVersion::V4)]
#[case::kraft_dedicated_controller(Mode::KraftDedicated, KafkaVersion::V4)]
#[tokio::test]
#[serial(heavy)]
async fn replicated_topic_survives_leader_bounces(
    ctx: TestContext,
    #[case] mode: Mode,
    #[case] version: KafkaVersion,
) {
    let cluster = start_kafka(&ctx, mode, 3, version).await.unwrap();
    let kafka = &cluster.kafka;
    let topic = "bounced";
    create_replicated_topic(kafka, topic).await.unwrap();
    let parts = kafka.describe_topic(topic).await.unwrap();
    assert_eq!(parts.len(), 3);
    assert!(parts.iter().all(|p| p.replicas.len() == 3), "{parts:?}");

    let acked = produce_acked(kafka, topic, 3000, 1).await.unwrap();
    assert_eq!(acked.len(), 3000, "every record acknowledged");
    let consumed: BTreeSet<String> = consume_values(kafka, topic, acked.len())
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(
        consumed,
        acked.iter().cloned().collect(),
        "read back what was acknowledged"
    );

    // Clean bounce of the leader of partition 0: leadership moves while it is down.
    let leader = kafka.describe_topic(topic).await.unwrap()[0]
        .leader
        .unwrap();
    let node = kafka.node_by_id(leader).unwrap().clone();
    // Clean: the broker exited on SIGTERM (a kill after the grace would not be clean).
    assert_eq!(
        kafka.stop_node(&node, true).await.unwrap(),
        StopOutcome::Exited
    );
    let after_clean = leader_other_than(kafka, topic, leader).await;
    kafka.start_node(&node).await.unwrap();

    // Hard bounce (SIGKILL) of the new leader.
    let node = kafka.node_by_id(after_clean).unwrap().clone();
    assert_eq!(
        kafka.stop_node(&node, false).await.unwrap(),
        StopOutcome::Killed
    );
    let after_hard = leader_other_than(kafka, topic, after_clean).await;
    kafka.start_node(&node).await.unwrap();

    // More records after the bounces, and every acknowledged record is still readable.
    let more = produce_acked(kafka, topic, 1000, 2).await.unwrap();
    assert_eq!(more.len(), 1000);
    let all: BTreeSet<String> = acked.iter().chain(&more).cloned().collect();
    let read: BTreeSet<String> = consume_values(kafka, topic, acked.len() + more.len())
        .await
        .unwrap()
        .into_iter()
        .collect();
    let missing: Vec<&String> = all.difference(&read).take(10).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged records lost, e.g. {missing:?}",
        all.difference(&read).count()
    );
    assert_eq!(all.len(), 4000);

    // Topics can be deleted too: gone means Kafka says it does not exist (an error from the
    // tool or the node is not "gone").
    kafka
        .create_topic(&TopicSpec::new("scratch"))
        .await
        .unwrap();
    assert!(kafka.topic_exists("scratch").await.unwrap());
    kafka.delete_topic("scratch").await.unwrap();
    wait_until(
        "topic scratch is gone",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async { kafka.topic_exists("scratch").await.map(|exists| !exists) },
    )
    .await
    .unwrap();

    ctx.record("mode", format!("{mode:?}"));
    ctx.record("version", kafka.version().version());
    ctx.record("leaders", vec![leader, after_clean, after_hard]);
    ctx.record("records", all.len() as u64);
    println!("{mode:?} {}: leader {leader} -> {after_clean} (clean) -> {after_hard} (hard), {} records intact", kafka.version().version(), all.len());
    // No JVM left: the context's teardown checks that the brokers' stops stopped them.
}

/// README.md's example test, word for word (`.ci/check-docs` fails when they differ; rustfmt
/// leaves it as the README writes it): the README shows a test that compiles and passes.
#[rustfmt::skip]
mod readme {
    use ducttape_services::{KafkaService, ServiceExt, TopicSpec};
    use ducttape_tests::{ctx, TestContext};
    use rstest::rstest;
    use serial_test::serial;

    #[rstest]
    #[tokio::test]
    #[serial(heavy)]                                          // one Kafka cluster at a time
    async fn topic_on_three_brokers(ctx: TestContext) {
        let nodes = ctx.lease(3).await.unwrap();              // waits FIFO for free nodes
        let kafka = KafkaService::builder(nodes).kraft_combined(3).build(&ctx).unwrap();
        kafka.start().await.unwrap();                          // all brokers in parallel, until ready
        kafka.create_topic(&TopicSpec::new("t").partitions(3).replication_factor(3)).await.unwrap();
        let leader = kafka.leader("t", 0).await.unwrap().unwrap();
        kafka.bounce(&leader, false).await.unwrap();           // SIGKILL and restart
        ctx.record("old_leader", leader.name());
    }   // teardown: services stopped, logs collected, nodes cleaned and released — pass or fail
}
