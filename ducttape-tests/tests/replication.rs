#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! Replication without loss: a partition leader is bounced (cleanly or hard) while the
//! verifiable producer runs, in ZooKeeper and KRaft modes; acknowledgements must go on after
//! every fault and every acknowledged record must be consumed with its value; likewise when
//! the leader is cut off by a network partition. Also: a consumer that stops early and a
//! producer that dies are each caught.

use std::sync::Arc;
use std::time::Duration;

use ducttape_services::faults::Faults;
use ducttape_services::perf::ClientBuilder;
use ducttape_services::verifiable::{
    check_delivery, VerifiableConsumer, VerifiableConsumerService, VerifiableProducer,
    VerifiableProducerService,
};
use ducttape_services::{KafkaVersion, Service, ServiceError, ServiceExt, StopOutcome, TopicSpec};
use ducttape_tests::{
    create_replicated_topic, ctx, start_kafka, stop_and_report, wait_for_leader,
    wait_for_leader_move, wait_for_more_acks, wait_for_more_acks_on, KafkaCluster, Mode, Node,
    TestContext,
};
use rstest::rstest;
use serial_test::serial;

/// 3 brokers, an RF3 topic, and a verifiable producer (500 records/s, idempotent, retrying)
/// and consumer (record values checked) running on two client nodes.
struct Workload {
    cluster: KafkaCluster,
    clients: Vec<Node>,
    producer: Arc<VerifiableProducerService>,
    consumer: Arc<VerifiableConsumerService>,
}

/// How long acknowledgements may take to resume after a fault.
const RESUME: Duration = Duration::from_secs(90);

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
    wait_for_more_acks(&producer, 300, RESUME).await.unwrap();
    Workload {
        cluster,
        clients,
        producer,
        consumer,
    }
}

/// Stops the producer (it must still have been running), lets the consumer catch up, and
/// checks that every acknowledged record was consumed with its value. `acked_after_faults` is
/// the faulted partition's acknowledgement count reached after the last fault.
async fn stop_and_check(ctx: &TestContext, w: &Workload, what: &str, acked_after_faults: u64) {
    let report = stop_and_report(&[&w.producer], &w.consumer, Duration::from_secs(120))
        .await
        .unwrap();
    println!("{what}: {report}");
    ducttape_tests::record_delivery(ctx, &report);
    ctx.record("acked", report.acked);
    ctx.record(
        "acked_on_faulted_partition_after_last_fault",
        acked_after_faults,
    );
    ctx.record("consumed", report.consumed);
    ctx.record("lost", report.lost_acknowledged() as u64);
    ctx.record("duplicates", report.duplicates.len() as u64);
    assert!(report.is_clean(), "acknowledged records lost: {report}");
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
    let mut acked = 0;
    for _ in 0..2 {
        let leader = wait_for_leader(kafka, "replicated", 0).await.unwrap();
        let ended = kafka.bounce(&leader, clean).await.unwrap();
        // A clean bounce is a controlled shutdown that ended on SIGTERM, not a kill after
        // the grace.
        let expected = if clean {
            StopOutcome::Exited
        } else {
            StopOutcome::Killed
        };
        assert_eq!(ended, expected, "bouncing {}", leader.name());
        // The producer goes on after every bounce, on the bounced leader's partition itself.
        acked = wait_for_more_acks_on(&w.producer, 0, 100, RESUME)
            .await
            .unwrap();
    }
    let what = format!("{mode:?} {} bounce", if clean { "clean" } else { "hard" });
    stop_and_check(&ctx, &w, &what, acked).await;
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
    let moved = wait_for_leader_move(kafka, &w.clients[0], topic, &leader).await;
    // Acknowledgements go on for the cut-off leader's partition once leadership moved…
    let during = match &moved {
        Ok(_) => wait_for_more_acks_on(&w.producer, 0, 100, RESUME).await,
        Err(e) => Err(ServiceError::Usage {
            service: "kafka".into(),
            detail: format!("leadership never moved: {e}"),
        }),
    };
    faults.heal_all().await.unwrap();
    // …and after it is back.
    let acked = wait_for_more_acks_on(&w.producer, 0, 100, RESUME)
        .await
        .unwrap();
    stop_and_check(
        &ctx,
        &w,
        &format!("partitioned leader {}", leader.name()),
        acked,
    )
    .await;
    moved.expect("leadership moved away from the isolated broker");
    during.expect("acknowledgements went on while the old leader was cut off");
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn checks_catch_a_consumer_that_stops_early_and_a_producer_that_dies(ctx: TestContext) {
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
    assert!(!report.is_clean() && !report.caught_up);

    // A producer that dies mid-run (its JVM killed, as a crash would): progress stops, and
    // stopping it reports how it ended instead of taking the death for our stop.
    let dying = VerifiableProducer::new("short").throughput(200).build(
        &ctx,
        kafka,
        vec![clients[0].clone()],
    );
    dying.start().await.unwrap();
    wait_for_more_acks(&dying, 100, RESUME).await.unwrap();
    // Progress is counted per partition: partition 1 moves, a partition this producer never
    // writes to (the topic has 2) does not, while the total keeps growing.
    wait_for_more_acks_on(&dying, 1, 20, RESUME).await.unwrap();
    let elsewhere = wait_for_more_acks_on(&dying, 7, 1, Duration::from_secs(5)).await;
    assert!(
        elsewhere.is_err(),
        "acks on a partition that does not exist?"
    );
    wait_for_more_acks(&dying, 1, RESUME).await.unwrap();
    let pid = dying.pids(&clients[0]).await.unwrap()[0];
    clients[0]
        .account()
        .ssh(&format!("pkill -KILL -P {pid}"))
        .await
        .unwrap();
    let stalled = wait_for_more_acks(&dying, 100, Duration::from_secs(10)).await;
    assert!(stalled.is_err(), "a dead producer made progress?");
    let err = dying.stop().await.unwrap_err().to_string();
    assert!(err.contains("exited with status 137"), "{err}");
}
