#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! Kafka's control operations from the test process (librdkafka, no JVM), on real brokers in
//! ZooKeeper and KRaft mode: topic create/describe/delete/exists agreeing with Kafka's own
//! `kafka-topics --describe`, the registered brokers and the controller, a consumer group's
//! state and committed offsets; and the refusals named with Kafka's error codes (topic exists,
//! replication factor above the broker count, unknown topic), a stopped broker leaving the
//! registered set, a dead cluster and a dead bootstrap address failing with a clear error.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ducttape_core::wait_until;
use ducttape_services::kafka::parse_describe;
use ducttape_services::kafka::{AdminError, KafkaAdmin, KafkaServiceError};
use ducttape_services::{KafkaVersion, Service, ServiceError, ServiceExt, TopicSpec};
use ducttape_tests::{ctx, produce_acked, start_kafka, Mode, TestContext};
use rstest::rstest;
use serial_test::serial;

/// Kafka's name of the error code `e` carries, or a panic showing what `e` was.
fn code_name(e: &ServiceError) -> String {
    match e {
        ServiceError::Kafka(KafkaServiceError::Admin(AdminError::Kafka { code, .. })) => {
            code.name()
        }
        other => panic!("expected a Kafka error code, got: {other}"),
    }
}

#[rstest]
#[case::zookeeper(Mode::Zookeeper)]
#[case::kraft(Mode::Kraft)]
#[tokio::test]
#[serial(heavy)]
async fn control_operations_on_real_brokers(ctx: TestContext, #[case] mode: Mode) {
    let cluster = start_kafka(&ctx, mode, 3, KafkaVersion::DEFAULT)
        .await
        .unwrap();
    let kafka = &cluster.kafka;
    // The client, whatever DUCTTAPE_KAFKA_CONTROL says for the service's own operations.
    let admin = kafka.admin().unwrap();
    let ids: BTreeSet<i32> = kafka
        .brokers()
        .iter()
        .map(|b| i32::try_from(kafka.id_of(b).unwrap()).unwrap())
        .collect();

    // Registration and controller. Each broker listed itself before its start returned; the
    // broker that answers here may apply the others' registrations a moment later.
    wait_until(
        "every broker is registered",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async { admin.broker_ids().await.map(|now| now == ids) },
    )
    .await
    .unwrap();
    let controller = admin.controller().await.unwrap();
    assert!(
        controller.is_some_and(|c| ids.contains(&c)),
        "controller {controller:?} is one of {ids:?}"
    );

    // Create and describe; the answer agrees with Kafka's own tool.
    let topic = "ops";
    admin
        .create_topic(
            &TopicSpec::new(topic)
                .partitions(3)
                .replication_factor(3)
                .config("min.insync.replicas", 2),
        )
        .await
        .unwrap();
    let parts = admin.describe_topic(topic).await.unwrap();
    assert_eq!(parts.len(), 3, "{parts:?}");
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p.partition as usize, i);
        let replicas: BTreeSet<i32> = p.replicas.iter().map(|&r| r as i32).collect();
        assert_eq!(replicas, ids, "{p:?}");
        assert_eq!(p.isr.len(), 3, "{p:?}");
        assert!(p.leader.is_some_and(|l| p.replicas.contains(&l)), "{p:?}");
    }
    let described = kafka
        .run_tool(
            "org.apache.kafka.tools.TopicCommand",
            &[
                "--bootstrap-server".into(),
                kafka.bootstrap_servers(),
                "--describe".into(),
                "--topic".into(),
                topic.into(),
            ],
        )
        .await
        .unwrap();
    let cli = parse_describe(&described);
    let again = admin.describe_topic(topic).await.unwrap();
    let sorted = |v: &[u32]| v.iter().copied().collect::<BTreeSet<u32>>();
    assert_eq!(cli.len(), again.len(), "{described}");
    for (c, a) in cli.iter().zip(&again) {
        assert_eq!(
            (c.partition, c.leader, &c.replicas),
            (a.partition, a.leader, &a.replicas),
            "client and kafka-topics agree on leader and replicas:\n{described}"
        );
        assert_eq!(sorted(&c.isr), sorted(&a.isr), "and on the ISR");
    }
    assert!(admin.topic_exists(topic).await.unwrap());
    // Asking one broker alone takes only its answer: asked at broker 1's address for a broker
    // id no broker has, every answer is refused, whichever broker librdkafka sent it to.
    let first = &kafka.brokers()[0];
    let (first_id, first_address) = (
        i32::try_from(kafka.id_of(first).unwrap()).unwrap(),
        format!("{}:9092", first.address()),
    );
    let shape = |parts: &[ducttape_services::kafka::PartitionInfo]| {
        parts
            .iter()
            .map(|p| (p.partition, p.leader, p.replicas.clone()))
            .collect::<Vec<_>>()
    };
    let alone = admin
        .describe_topic_at(first_id, &first_address, topic)
        .await
        .unwrap();
    assert_eq!(shape(&alone), shape(&again));
    let wrong = admin
        .describe_topic_at(99, &first_address, topic)
        .await
        .unwrap_err();
    assert!(
        matches!(&wrong, AdminError::WrongBroker { broker, .. } if ids.contains(broker)),
        "{wrong}"
    );
    assert_eq!(
        admin.leader(topic, 0).await.unwrap(),
        again[0].leader,
        "leader lookup"
    );

    // Refusals carry Kafka's error code and name the topic.
    let exists = kafka
        .create_topic(&TopicSpec::new(topic))
        .await
        .unwrap_err();
    assert_eq!(code_name(&exists), "TOPIC_ALREADY_EXISTS", "{exists}");
    assert!(exists.to_string().contains("ops"), "{exists}");
    let too_many = kafka
        .create_topic(&TopicSpec::new("wide").replication_factor(4))
        .await
        .unwrap_err();
    assert_eq!(
        code_name(&too_many),
        "INVALID_REPLICATION_FACTOR",
        "{too_many}"
    );
    assert!(too_many.to_string().contains("wide"), "{too_many}");
    // Several topics in one request: each checked on every broker; one Kafka refuses is the
    // error, named, and the others are created all the same.
    kafka
        .create_topics(&[
            TopicSpec::new("pair-a").partitions(6).replication_factor(1),
            TopicSpec::new("pair-b").partitions(6).replication_factor(3),
        ])
        .await
        .unwrap();
    for (name, rf) in [("pair-a", 1), ("pair-b", 3)] {
        let parts = admin.describe_topic(name).await.unwrap();
        assert_eq!(parts.len(), 6, "{name}: {parts:?}");
        assert!(
            parts
                .iter()
                .all(|p| p.leader.is_some() && p.replicas.len() == rf),
            "{name}: {parts:?}"
        );
    }
    let one_exists = kafka
        .create_topics(&[TopicSpec::new("pair-c"), TopicSpec::new("pair-a")])
        .await
        .unwrap_err();
    assert_eq!(
        code_name(&one_exists),
        "TOPIC_ALREADY_EXISTS",
        "{one_exists}"
    );
    assert!(one_exists.to_string().contains("pair-a"), "{one_exists}");
    assert!(admin.topic_exists("pair-c").await.unwrap());
    let missing = kafka.describe_topic("missing").await.unwrap_err();
    assert_eq!(
        code_name(&missing),
        "UNKNOWN_TOPIC_OR_PARTITION",
        "{missing}"
    );
    assert!(missing.to_string().contains("missing"), "{missing}");
    // Asking did not create it (brokers auto-create topics by default).
    assert!(!admin.topic_exists("missing").await.unwrap());
    assert!(!admin.topic_exists("wide").await.unwrap());

    // Consumer groups: Kafka's console consumer reads 30 records in group `g` and commits.
    let grouped = "grouped";
    kafka
        .create_topic(&TopicSpec::new(grouped).partitions(3))
        .await
        .unwrap();
    assert_eq!(
        produce_acked(kafka, grouped, 30, 1).await.unwrap().len(),
        30
    );
    let none = kafka.committed_offsets("g", grouped).await.unwrap();
    assert_eq!(none, BTreeMap::from([(0, None), (1, None), (2, None)]));
    kafka
        .run_tool(
            "org.apache.kafka.tools.consumer.ConsoleConsumer",
            &[
                "--bootstrap-server",
                &kafka.bootstrap_servers(),
                "--topic",
                grouped,
                "--group",
                "g",
                "--from-beginning",
                "--max-messages",
                "30",
                "--timeout-ms",
                "60000",
            ]
            .map(String::from),
        )
        .await
        .unwrap();
    let committed = kafka.committed_offsets("g", grouped).await.unwrap();
    let total: i64 = committed.values().map(|o| o.unwrap_or(0)).sum();
    assert_eq!(total, 30, "committed offsets {committed:?}");
    let state = kafka.group("g").await.unwrap();
    assert_eq!(state.state, "Empty", "{state:?}");
    assert!(state.members.is_empty(), "{state:?}");
    assert_eq!(kafka.group("nobody").await.unwrap().state, "Dead");

    // Delete: gone once Kafka says the topic does not exist.
    kafka.delete_topic(topic).await.unwrap();
    wait_until(
        "topic ops is gone",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async { kafka.topic_exists(topic).await.map(|e| !e) },
    )
    .await
    .unwrap();
    let deleted_twice = kafka.delete_topic(topic).await.unwrap_err();
    assert_eq!(code_name(&deleted_twice), "UNKNOWN_TOPIC_OR_PARTITION");

    // A stopped broker leaves the registered set.
    let last = kafka.brokers().last().unwrap().clone();
    let last_id = i32::try_from(kafka.id_of(&last).unwrap()).unwrap();
    kafka.stop_node(&last, false).await.unwrap();
    wait_until(
        "the stopped broker is no longer registered",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async {
            admin
                .broker_ids()
                .await
                .map(|now| !now.contains(&last_id) && now.len() == ids.len() - 1)
        },
    )
    .await
    .unwrap();
    let gone = admin
        .clone()
        .timeout(Duration::from_secs(3))
        .broker_ids_at(last_id, &format!("{}:9092", last.address()))
        .await
        .unwrap_err();
    assert!(matches!(gone, AdminError::NoAnswer { .. }), "{gone}");

    // A dead cluster: a clear error naming the brokers asked, not a hang.
    kafka.stop().await.unwrap();
    let dead = admin
        .clone()
        .timeout(Duration::from_secs(3))
        .describe_topic(grouped)
        .await
        .unwrap_err();
    assert!(matches!(dead, AdminError::NoAnswer { .. }), "{dead}");
    assert!(
        dead.to_string().contains(&kafka.bootstrap_servers()),
        "{dead}"
    );
    println!("{mode:?}: controller {controller:?}; dead cluster: {dead}");
}

/// Nothing listens on the bootstrap address: a clear error naming it, within the timeout.
#[tokio::test]
async fn a_dead_bootstrap_fails_with_a_clear_error() {
    let admin = KafkaAdmin::new("127.0.0.1:9")
        .unwrap()
        .timeout(Duration::from_secs(2));
    let started = std::time::Instant::now();
    let e = admin.describe_topic("t").await.unwrap_err();
    assert!(matches!(e, AdminError::NoAnswer { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("127.0.0.1:9") && text.contains("topic t"),
        "{text}"
    );
    // It waited for an answer (a lower bound; no upper bound is asserted on a busy machine).
    assert!(started.elapsed() >= Duration::from_secs(1), "{e}");
    let e = admin.create_topic(&TopicSpec::new("t")).await.unwrap_err();
    assert!(matches!(e, AdminError::NoAnswer { .. }), "{e}");
}
