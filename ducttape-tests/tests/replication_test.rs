#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! kafkatest's `core/replication_test.py`: replication without loss. The partition leader or
//! the controller is shut down or bounced (cleanly or hard) while the verifiable producer
//! runs, in ZooKeeper and KRaft modes (combined and dedicated controllers), with compression
//! and SASL_SSL as kafkatest's matrix has them (`replication_with_broker_failure`);
//! acknowledgements must go on after every fault and every acknowledged record must be
//! consumed with its value; likewise when the leader is cut off by a network partition. Also:
//! a consumer that stops early, a producer that dies, and a controller check aimed at a node
//! that was never stopped are each caught.

use std::sync::Arc;
use std::time::Duration;

use ducttape_services::faults::Faults;
use ducttape_services::kafka::{SecurityConfig, SecurityProtocol};
use ducttape_services::perf::ClientBuilder;
use ducttape_services::verifiable::{
    check_delivery, VerifiableConsumer, VerifiableConsumerService, VerifiableProducer,
    VerifiableProducerService,
};
use ducttape_services::{
    KafkaService, KafkaVersion, Service, ServiceError, ServiceExt, StopOutcome, TopicSpec,
};
use ducttape_tests::{
    create_replicated_topic, ctx, start_kafka, start_secured_kafka, stop_and_report,
    wait_for_leader, wait_for_leader_move, wait_for_more_acks, wait_for_more_acks_on, KafkaCluster,
    Mode, Node, TestContext,
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
    let producer =
        ducttape_tests::producer_through_faults(vec![clients[0].clone()], &cluster.kafka, topic)
            .throughput(500)
            .build(ctx)
            .unwrap();
    let consumer = VerifiableConsumer::builder(
        vec![clients[1].clone()],
        &cluster.kafka,
        topic,
        "no-loss-check",
    )
    .build(ctx)
    .unwrap();
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

/// kafkatest's failure modes: a shutdown leaves the node down for the rest of the run, a
/// bounce restarts it and is repeated 5 times, each time on the node the role has then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// SIGTERM (controlled shutdown), not restarted.
    CleanShutdown,
    /// SIGKILL, not restarted.
    HardShutdown,
    /// SIGTERM then a start, 5 times.
    CleanBounce,
    /// SIGKILL then a start, 5 times.
    HardBounce,
}

impl Failure {
    fn clean(self) -> bool {
        matches!(self, Failure::CleanShutdown | Failure::CleanBounce)
    }

    fn rounds(self) -> usize {
        match self {
            Failure::CleanShutdown | Failure::HardShutdown => 1,
            Failure::CleanBounce | Failure::HardBounce => 5,
        }
    }
}

/// Which node a failure hits (kafkatest's `broker_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The leader of partition 0.
    Leader,
    /// The active controller: ZooKeeper's elected broker, KRaft's quorum leader.
    Controller,
}

/// kafkatest's `security_protocol` (with `client_sasl_mechanism`): PLAINTEXT, or SASL_SSL
/// with one mechanism for clients and brokers alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    Plaintext,
    SaslSsl(&'static str),
}

/// One broker failure while the verifiable producer and consumer run: 3 brokers, the topic
/// of kafkatest's ReplicationTest (3 partitions, RF 3, `min.insync.replicas=2`); the node of
/// `target` (found again before each round) is failed as `failure` says. After each round,
/// leadership or the controller must have moved off the failed node where another can take
/// it, the restarted node must be back, and acknowledgements must go on on partition 0; at the
/// end every acknowledged record must be consumed with its value.
///
/// kafkatest's matrix, case by case (its `enable_idempotence=False` cases run the producer
/// without idempotence and, as Kafka's tool sets, `retries=0`: a send that fails in a fault is
/// an error, never an acknowledgement; its `enable_idempotence=True` ones idempotent and
/// retrying, as `producer_through_faults`; `tls_version` is kafkatest's only with PLAINTEXT, where it
/// changes nothing, so the gzip cases run once per quorum). Not here: an inter-broker SASL
/// mechanism other than the clients' (ours take one mechanism for every listener) and GSSAPI
/// (no Kerberos KDC). Added: the active KRaft controller, combined and dedicated.
#[rstest]
// kafkatest: @matrix(failure_mode=all, broker_type=leader, PLAINTEXT, enable_idempotence=True), ZooKeeper.
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_clean_shutdown_zk_idempotent(
    Mode::Zookeeper,
    Failure::CleanShutdown,
    Target::Leader,
    Security::Plaintext,
    None,
    true
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_hard_shutdown_zk_idempotent(
    Mode::Zookeeper,
    Failure::HardShutdown,
    Target::Leader,
    Security::Plaintext,
    None,
    true
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_clean_bounce_zk_idempotent(
    Mode::Zookeeper,
    Failure::CleanBounce,
    Target::Leader,
    Security::Plaintext,
    None,
    true
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_hard_bounce_zk_idempotent(
    Mode::Zookeeper,
    Failure::HardBounce,
    Target::Leader,
    Security::Plaintext,
    None,
    true
)]
// kafkatest: @matrix(failure_mode=all, broker_type=leader, PLAINTEXT|SASL_SSL, quorum zk|isolated KRaft).
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_clean_shutdown_zk(
    Mode::Zookeeper,
    Failure::CleanShutdown,
    Target::Leader,
    Security::Plaintext,
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_hard_shutdown_zk(
    Mode::Zookeeper,
    Failure::HardShutdown,
    Target::Leader,
    Security::Plaintext,
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_clean_bounce_zk(
    Mode::Zookeeper,
    Failure::CleanBounce,
    Target::Leader,
    Security::Plaintext,
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_hard_bounce_zk(
    Mode::Zookeeper,
    Failure::HardBounce,
    Target::Leader,
    Security::Plaintext,
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_clean_shutdown_zk_sasl_ssl(
    Mode::Zookeeper,
    Failure::CleanShutdown,
    Target::Leader,
    Security::SaslSsl("PLAIN"),
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_hard_shutdown_zk_sasl_ssl(
    Mode::Zookeeper,
    Failure::HardShutdown,
    Target::Leader,
    Security::SaslSsl("PLAIN"),
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_clean_bounce_zk_sasl_ssl(
    Mode::Zookeeper,
    Failure::CleanBounce,
    Target::Leader,
    Security::SaslSsl("PLAIN"),
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_hard_bounce_zk_sasl_ssl(
    Mode::Zookeeper,
    Failure::HardBounce,
    Target::Leader,
    Security::SaslSsl("PLAIN"),
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_clean_shutdown_kraft(
    Mode::KraftDedicated,
    Failure::CleanShutdown,
    Target::Leader,
    Security::Plaintext,
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_hard_shutdown_kraft(
    Mode::KraftDedicated,
    Failure::HardShutdown,
    Target::Leader,
    Security::Plaintext,
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_clean_bounce_kraft(
    Mode::KraftDedicated,
    Failure::CleanBounce,
    Target::Leader,
    Security::Plaintext,
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_hard_bounce_kraft(
    Mode::KraftDedicated,
    Failure::HardBounce,
    Target::Leader,
    Security::Plaintext,
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_clean_shutdown_kraft_sasl_ssl(
    Mode::KraftDedicated,
    Failure::CleanShutdown,
    Target::Leader,
    Security::SaslSsl("PLAIN"),
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_hard_shutdown_kraft_sasl_ssl(
    Mode::KraftDedicated,
    Failure::HardShutdown,
    Target::Leader,
    Security::SaslSsl("PLAIN"),
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_clean_bounce_kraft_sasl_ssl(
    Mode::KraftDedicated,
    Failure::CleanBounce,
    Target::Leader,
    Security::SaslSsl("PLAIN"),
    None,
    false
)]
// kafkatest: @matrix(hard_bounce, leader, SASL_SSL, client PLAIN / inter-broker PLAIN, quorum zk|isolated KRaft) is this case and leader_hard_bounce_zk_sasl_ssl.
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_hard_bounce_kraft_sasl_ssl(
    Mode::KraftDedicated,
    Failure::HardBounce,
    Target::Leader,
    Security::SaslSsl("PLAIN"),
    None,
    false
)]
// kafkatest: @parametrize(hard_bounce, leader, SASL_SSL, client SCRAM-SHA-256, inter-broker SCRAM-SHA-512), ZooKeeper: one mechanism here.
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_hard_bounce_zk_scram(
    Mode::Zookeeper,
    Failure::HardBounce,
    Target::Leader,
    Security::SaslSsl("SCRAM-SHA-512"),
    None,
    false
)]
// kafkatest: @matrix(failure_mode=all, broker_type=controller, PLAINTEXT|SASL_SSL), ZooKeeper.
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::controller_clean_shutdown_zk(
    Mode::Zookeeper,
    Failure::CleanShutdown,
    Target::Controller,
    Security::Plaintext,
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::controller_hard_shutdown_zk(
    Mode::Zookeeper,
    Failure::HardShutdown,
    Target::Controller,
    Security::Plaintext,
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::controller_clean_bounce_zk(
    Mode::Zookeeper,
    Failure::CleanBounce,
    Target::Controller,
    Security::Plaintext,
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::controller_hard_bounce_zk(
    Mode::Zookeeper,
    Failure::HardBounce,
    Target::Controller,
    Security::Plaintext,
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::controller_clean_shutdown_zk_sasl_ssl(
    Mode::Zookeeper,
    Failure::CleanShutdown,
    Target::Controller,
    Security::SaslSsl("PLAIN"),
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::controller_hard_shutdown_zk_sasl_ssl(
    Mode::Zookeeper,
    Failure::HardShutdown,
    Target::Controller,
    Security::SaslSsl("PLAIN"),
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::controller_clean_bounce_zk_sasl_ssl(
    Mode::Zookeeper,
    Failure::CleanBounce,
    Target::Controller,
    Security::SaslSsl("PLAIN"),
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::controller_hard_bounce_zk_sasl_ssl(
    Mode::Zookeeper,
    Failure::HardBounce,
    Target::Controller,
    Security::SaslSsl("PLAIN"),
    None,
    false
)]
// Not kafkatest's (it has no KRaft controller case): the active KRaft controller, combined
// (3 brokers that are also controllers: another takes over) and dedicated (one controller, as
// kafkatest's controller_num_nodes_override=1: none takes over; the brokers go on without it).
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::controller_clean_shutdown_kraft_combined(
    Mode::Kraft,
    Failure::CleanShutdown,
    Target::Controller,
    Security::Plaintext,
    None,
    false
)]
// The default run's case: the controller failover, new here, in the default mode, one round
// (a 5-round bounce case takes ≈ 9 min here).
#[case::controller_hard_shutdown_kraft_combined(
    Mode::Kraft,
    Failure::HardShutdown,
    Target::Controller,
    Security::Plaintext,
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::controller_clean_bounce_kraft_combined(
    Mode::Kraft,
    Failure::CleanBounce,
    Target::Controller,
    Security::Plaintext,
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::controller_hard_bounce_kraft_combined(
    Mode::Kraft,
    Failure::HardBounce,
    Target::Controller,
    Security::Plaintext,
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::controller_clean_shutdown_kraft_dedicated(
    Mode::KraftDedicated,
    Failure::CleanShutdown,
    Target::Controller,
    Security::Plaintext,
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::controller_hard_shutdown_kraft_dedicated(
    Mode::KraftDedicated,
    Failure::HardShutdown,
    Target::Controller,
    Security::Plaintext,
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::controller_clean_bounce_kraft_dedicated(
    Mode::KraftDedicated,
    Failure::CleanBounce,
    Target::Controller,
    Security::Plaintext,
    None,
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::controller_hard_bounce_kraft_dedicated(
    Mode::KraftDedicated,
    Failure::HardBounce,
    Target::Controller,
    Security::Plaintext,
    None,
    false
)]
// kafkatest: @matrix(failure_mode=all, PLAINTEXT, leader, compression gzip, tls_version 1.2|1.3, quorum zk|isolated KRaft).
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_clean_shutdown_zk_gzip(
    Mode::Zookeeper,
    Failure::CleanShutdown,
    Target::Leader,
    Security::Plaintext,
    Some("gzip"),
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_hard_shutdown_zk_gzip(
    Mode::Zookeeper,
    Failure::HardShutdown,
    Target::Leader,
    Security::Plaintext,
    Some("gzip"),
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_clean_bounce_zk_gzip(
    Mode::Zookeeper,
    Failure::CleanBounce,
    Target::Leader,
    Security::Plaintext,
    Some("gzip"),
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_hard_bounce_zk_gzip(
    Mode::Zookeeper,
    Failure::HardBounce,
    Target::Leader,
    Security::Plaintext,
    Some("gzip"),
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_clean_shutdown_kraft_gzip(
    Mode::KraftDedicated,
    Failure::CleanShutdown,
    Target::Leader,
    Security::Plaintext,
    Some("gzip"),
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_hard_shutdown_kraft_gzip(
    Mode::KraftDedicated,
    Failure::HardShutdown,
    Target::Leader,
    Security::Plaintext,
    Some("gzip"),
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_clean_bounce_kraft_gzip(
    Mode::KraftDedicated,
    Failure::CleanBounce,
    Target::Leader,
    Security::Plaintext,
    Some("gzip"),
    false
)]
#[ignore = "replication_test matrix, 2-9 min a case: cargo test --test replication_test -- --ignored replication_with_broker_failure"]
#[case::leader_hard_bounce_kraft_gzip(
    Mode::KraftDedicated,
    Failure::HardBounce,
    Target::Leader,
    Security::Plaintext,
    Some("gzip"),
    false
)]
#[tokio::test]
#[serial(heavy)]
async fn replication_with_broker_failure(
    ctx: TestContext,
    #[case] mode: Mode,
    #[case] failure: Failure,
    #[case] target: Target,
    #[case] security: Security,
    #[case] compression: Option<&'static str>,
    #[case] idempotent: bool,
) {
    let topic = "replicated";
    let config = match security {
        Security::Plaintext => SecurityConfig::default(),
        Security::SaslSsl(mechanism) => {
            SecurityConfig::new(SecurityProtocol::SaslSsl).mechanism(mechanism)
        }
    };
    let cluster = start_secured_kafka(&ctx, mode, 3, KafkaVersion::DEFAULT, config)
        .await
        .unwrap();
    let kafka = &cluster.kafka.clone();
    create_replicated_topic(kafka, topic).await.unwrap();
    let clients = ctx.lease(2).await.unwrap();
    // Kafka's VerifiableProducer sets `retries=0` itself; an idempotent producer must retry
    // (the client refuses to start otherwise), so it is kafkatest's idempotent one, which sets
    // retries as `producer_through_faults` does.
    let producer = if idempotent {
        ducttape_tests::producer_through_faults(vec![clients[0].clone()], kafka, topic)
    } else {
        VerifiableProducer::builder(vec![clients[0].clone()], kafka, topic)
            .prop("delivery.timeout.ms", 120_000)
            .prop("enable.idempotence", false)
    };
    let mut producer = producer.throughput(500);
    if let Some(codec) = compression {
        producer = producer.prop("compression.type", codec);
    }
    let producer = producer.build(&ctx).unwrap();
    let consumer =
        VerifiableConsumer::builder(vec![clients[1].clone()], kafka, topic, "replication-test")
            .build(&ctx)
            .unwrap();
    consumer.start().await.unwrap();
    producer.start().await.unwrap();
    wait_for_more_acks(&producer, 300, RESUME).await.unwrap();
    let w = Workload {
        cluster,
        clients,
        producer,
        consumer,
    };
    let observer = &w.clients[0];
    let mut acked = 0;
    let mut failed = Vec::new();
    for round in 1..=failure.rounds() {
        let node = match target {
            Target::Leader => wait_for_leader(kafka, topic, 0).await.unwrap(),
            Target::Controller => wait_for_controller(kafka, observer, None).await.unwrap(),
        };
        println!(
            "round {round}: {failure:?} of the {target:?}, {}",
            node.name()
        );
        let ended = kafka.stop_alone(&node, failure.clean()).await.unwrap();
        // A clean stop is a controlled shutdown that ended on SIGTERM, not a kill after the
        // grace.
        let expected = if failure.clean() {
            StopOutcome::Exited
        } else {
            StopOutcome::Killed
        };
        assert_eq!(ended, expected, "stopping {}", node.name());
        // While it is down, its role moves to a node that is up.
        match target {
            Target::Leader => wait_for_leader_off(kafka, topic, &node).await.unwrap(),
            Target::Controller if mode == Mode::KraftDedicated => {
                // The only controller: none can take over; the brokers serve on without one.
            }
            Target::Controller => {
                let now = wait_for_controller(kafka, observer, Some(&node))
                    .await
                    .unwrap();
                println!("round {round}: {} took over as controller", now.name());
            }
        }
        if matches!(failure, Failure::CleanBounce | Failure::HardBounce) {
            kafka.start_node(&node).await.unwrap();
            if target == Target::Controller {
                wait_for_controller(kafka, observer, None).await.unwrap();
            }
        }
        failed.push(node.name().to_string());
        // The producer goes on after every round, on partition 0 itself.
        acked = wait_for_more_acks_on(&w.producer, 0, 100, RESUME)
            .await
            .unwrap();
    }
    ctx.record("failed_nodes", failed);
    let what = format!("{mode:?} {failure:?} of the {target:?} ({security:?}, {compression:?})");
    stop_and_check(&ctx, &w, &what, acked).await;
}

/// Waits (up to 90 s) until a controller is active that is not `not` (any, when `None`) and
/// returns it (see [`KafkaService::active_controller`]; asked from `observer`).
async fn wait_for_controller(
    kafka: &KafkaService,
    observer: &Node,
    not: Option<&Node>,
) -> Result<Node, ServiceError> {
    let what = match not {
        Some(old) => format!("a controller other than {} is active", old.name()),
        None => "a controller is active".to_string(),
    };
    ducttape_core::wait_until(&what, RESUME, Duration::from_millis(500), || async {
        // While the controller changes, the quorum tool can fail: not known yet (wait_until
        // polls on, keeping the last error for its report).
        let now = kafka.active_controller(observer).await?;
        Ok::<_, ServiceError>(now.filter(|n| !matches!(not, Some(old) if old.name() == n.name())))
    })
    .await
    .map_err(|e| ServiceError::Usage {
        service: "kafka".into(),
        detail: e.to_string(),
    })
}

/// Waits (up to 90 s) until partition 0 of `topic` is led by a broker other than `old`.
async fn wait_for_leader_off(
    kafka: &KafkaService,
    topic: &str,
    old: &Node,
) -> Result<(), ServiceError> {
    let what = format!("{topic}-0 is led by a broker other than {}", old.name());
    ducttape_core::wait_until(&what, RESUME, Duration::from_millis(500), || async {
        let leader = kafka.leader(topic, 0).await?;
        Ok::<_, ServiceError>(leader.filter(|l| l.name() != old.name()).map(drop))
    })
    .await
    .map_err(|e| ServiceError::Usage {
        service: "kafka".into(),
        detail: e.to_string(),
    })
}

/// The controller check can fail: with nothing stopped, "a controller other than the active
/// one" never comes (ZooKeeper mode, where the answer is the metadata's, and KRaft, where it is
/// the quorum tool's).
#[rstest]
#[ignore = "a check's broken case, ~2 min each: cargo test --test replication_test -- --ignored a_controller_that_was_never_stopped"]
#[case::zookeeper(Mode::Zookeeper)]
#[ignore = "a check's broken case, ~1 min each: cargo test --test replication_test -- --ignored a_controller_that_was_never_stopped"]
#[case::kraft(Mode::Kraft)]
#[tokio::test]
#[serial(heavy)]
async fn a_controller_that_was_never_stopped_is_not_taken_for_a_failover(
    ctx: TestContext,
    #[case] mode: Mode,
) {
    let cluster = start_kafka(&ctx, mode, 3, KafkaVersion::DEFAULT)
        .await
        .unwrap();
    let kafka = &cluster.kafka;
    let observer = ctx.lease(1).await.unwrap().remove(0);
    let active = wait_for_controller(kafka, &observer, None).await.unwrap();
    let moved = wait_for_controller(kafka, &observer, Some(&active)).await;
    assert!(
        moved.is_err(),
        "a new controller with none stopped: {moved:?}"
    );
    println!("as it must: {}", moved.unwrap_err());
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
    let producer = VerifiableProducer::builder(vec![clients[0].clone()], kafka, "short")
        .max_messages(2000)
        .throughput(-1)
        .build(&ctx)
        .unwrap();
    producer.run().await.unwrap();
    // A deliberately broken consumer: it gives up after 1,500 of the 2,000 records.
    let consumer = VerifiableConsumer::builder(vec![clients[1].clone()], kafka, "short", "broken")
        .max_messages(1500)
        .build(&ctx)
        .unwrap();
    consumer.run().await.unwrap();
    let report = check_delivery(&producer, &consumer).await.unwrap();
    println!("{report}");
    assert_eq!(report.acked, 2000);
    assert_eq!(report.lost.len(), 500, "{report}");
    assert!(!report.is_clean() && !report.caught_up);

    // A producer that dies mid-run (its JVM killed, as a crash would): progress stops, and
    // stopping it reports how it ended instead of taking the death for our stop.
    let dying = VerifiableProducer::builder(vec![clients[0].clone()], kafka, "short")
        .throughput(200)
        .build(&ctx)
        .unwrap();
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
