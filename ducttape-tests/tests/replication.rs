#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! Replication without loss: a partition leader is bounced (cleanly or hard) while the
//! verifiable producer runs, in ZooKeeper and KRaft modes; every acknowledged record must be
//! consumed; likewise when the leader is cut off by a network partition. Also: a consumer that
//! stops early is caught by the checker.

use std::sync::Arc;
use std::time::Duration;

use ducttape_core::wait_until;
use ducttape_services::faults::Faults;
use ducttape_services::perf::ClientBuilder;
use ducttape_services::verifiable::{
    check_delivery, DeliveryReport, VerifiableConsumer, VerifiableConsumerService,
    VerifiableProducer, VerifiableProducerService,
};
use ducttape_services::{KafkaVersion, ServiceError, ServiceExt, TopicSpec};
use ducttape_tests::{
    create_replicated_topic, ctx, start_kafka, wait_for_leader, KafkaCluster, Mode, Node,
    TestContext,
};
use rstest::rstest;
use serial_test::serial;

/// 3 brokers, an RF3 topic, and a verifiable producer (500 records/s, idempotent, retrying)
/// and consumer running on two client nodes.
struct Workload {
    cluster: KafkaCluster,
    clients: Vec<Node>,
    producer: Arc<VerifiableProducerService>,
    consumer: Arc<VerifiableConsumerService>,
}

async fn start_workload(ctx: &TestContext, mode: Mode, topic: &str) -> Workload {
    let cluster = start_kafka(ctx, mode, 3, KafkaVersion::DEFAULT)
        .await
        .unwrap();
    create_replicated_topic(&cluster.kafka, topic)
        .await
        .unwrap();
    let clients = ctx.lease(2).await.unwrap();
    let producer = VerifiableProducer::new(topic)
        .throughput(500)
        .prop("retries", i32::MAX)
        .prop("enable.idempotence", true)
        .prop("delivery.timeout.ms", 120_000)
        .build(ctx, &cluster.kafka, vec![clients[0].clone()]);
    let consumer = VerifiableConsumer::new(topic, "no-loss-check").build(
        ctx,
        &cluster.kafka,
        vec![clients[1].clone()],
    );
    consumer.start().await.unwrap();
    producer.start().await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    Workload {
        cluster,
        clients,
        producer,
        consumer,
    }
}

/// Stops the producer, lets the consumer catch up, and checks that no acknowledged record
/// was lost.
async fn stop_and_check(ctx: &TestContext, w: &Workload, what: &str) -> DeliveryReport {
    tokio::time::sleep(Duration::from_secs(3)).await;
    w.producer.stop().await.unwrap();
    let caught_up = wait_until(
        "the consumer has every acknowledged record",
        Duration::from_secs(120),
        Duration::from_secs(1),
        || async {
            Ok::<_, ServiceError>(
                check_delivery(&w.producer, &w.consumer)
                    .await?
                    .lost
                    .is_empty(),
            )
        },
    )
    .await;
    w.consumer.stop().await.unwrap();
    let report = check_delivery(&w.producer, &w.consumer).await.unwrap();
    println!("{what}: {report}");
    ctx.record("acked", report.acked);
    ctx.record("consumed", report.consumed);
    ctx.record("lost", report.lost.len() as u64);
    ctx.record("duplicates", report.duplicates.len() as u64);
    assert!(report.acked > 1000, "the producer made progress: {report}");
    assert!(
        caught_up.is_ok() && report.is_clean(),
        "acknowledged records lost: {report}"
    );
    report
}

#[rstest]
#[case::zookeeper_clean(Mode::Zookeeper, true)]
#[case::zookeeper_hard(Mode::Zookeeper, false)]
#[case::kraft_clean(Mode::Kraft, true)]
#[case::kraft_hard(Mode::Kraft, false)]
#[tokio::test]
#[serial(heavy)]
async fn replication_survives_leader_bounces(
    ctx: TestContext,
    #[case] mode: Mode,
    #[case] clean: bool,
) {
    let w = start_workload(&ctx, mode, "replicated").await;
    let kafka = &w.cluster.kafka;
    for _ in 0..2 {
        let leader = wait_for_leader(kafka, "replicated", 0).await.unwrap();
        kafka.bounce(&leader, clean).await.unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    stop_and_check(
        &ctx,
        &w,
        &format!("{mode:?} {} bounce", if clean { "clean" } else { "hard" }),
    )
    .await;
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn replication_survives_a_partitioned_leader(ctx: TestContext) {
    let topic = "partitioned";
    let w = start_workload(&ctx, Mode::Kraft, topic).await;
    let kafka = &w.cluster.kafka;
    // Cut the leader of partition 0 off from every other node (brokers and clients).
    let leader = wait_for_leader(kafka, topic, 0).await.unwrap();
    let others: Vec<Node> = kafka
        .brokers()
        .into_iter()
        .chain(w.clients.iter().cloned())
        .filter(|n| n.name() != leader.name())
        .collect();
    let faults = Faults::new(&ctx);
    faults
        .partition(std::slice::from_ref(&leader), &others)
        .await
        .unwrap();
    // Ask from a client node: the isolated broker itself would still call itself leader.
    let observer = &w.clients[0];
    let isolated = kafka.id_of(&leader).unwrap();
    let moved = wait_until(
        "partition 0 leaves the isolated broker",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            let parts = kafka.describe_topic_from(observer, topic).await?;
            let now = parts
                .iter()
                .find(|p| p.partition == 0)
                .and_then(|p| p.leader);
            Ok::<_, ServiceError>(now.is_some_and(|id| id != isolated))
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    faults.heal_all().await.unwrap();
    stop_and_check(&ctx, &w, &format!("partitioned leader {}", leader.name())).await;
    moved.expect("leadership moved away from the isolated broker");
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn a_consumer_that_stops_early_is_reported(ctx: TestContext) {
    let cluster = start_kafka(&ctx, Mode::Kraft, 1, KafkaVersion::DEFAULT)
        .await
        .unwrap();
    let kafka = &cluster.kafka;
    kafka
        .create_topic(&TopicSpec::new("short").partitions(2))
        .await
        .unwrap();
    let clients = ctx.lease(2).await.unwrap();
    let producer = VerifiableProducer::new("short")
        .max_messages(2000)
        .throughput(-1)
        .build(&ctx, kafka, vec![clients[0].clone()]);
    producer.run().await.unwrap();
    // A deliberately broken consumer: it gives up after 1,500 of the 2,000 records.
    let consumer = VerifiableConsumer::new("short", "broken")
        .max_messages(1500)
        .build(&ctx, kafka, vec![clients[1].clone()]);
    consumer.run().await.unwrap();
    let report = check_delivery(&producer, &consumer).await.unwrap();
    println!("{report}");
    assert_eq!(report.acked, 2000);
    assert_eq!(report.lost.len(), 500, "{report}");
    assert!(!report.is_clean());
}
