#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! kafkatest's `upgrade_test` (ZooKeeper mode): 3 brokers on 3.8.1 under load from 3.8.1's
//! verifiable producer and consumer; a first pass bounces each broker on its own release and a
//! second topic is created; a second pass moves each broker onto 3.9.2 with
//! `inter.broker.protocol.version` pinned at 3.8; a third pass removes the pin. After every
//! step each partition has a leader and its full ISR and acknowledgements go on; at the end
//! every acknowledged record is consumed with its value, every broker says it runs 3.9.2, and
//! the topic's id is the one it had before. (ZooKeeper itself stays on 3.9.2's ZooKeeper: the
//! two releases ship the same ZooKeeper 3.8.4, so kafkatest's ZooKeeper roll changes nothing.)
//! Needs 3.8.1 (`./build.sh --kafka 3.8.1`); without it the test reports itself skipped.

use ducttape_services::kafka::ConfigChange;
use ducttape_services::{KafkaVersion, TopicSpec};
use ducttape_tests::rolling::{start_workload, topic_id, TOPIC};
use ducttape_tests::{ctx, installed_or_skip, start_kafka, Mode, TestContext};
use rstest::rstest;
use serial_test::serial;

const FROM: &str = "3.8.1";

#[rstest]
#[ignore = "needs 3.8.1, which CI's build.sh does not install (≈ 6 min); run: ./build.sh --kafka 3.8.1; cargo test -p ducttape-tests --test upgrade_test -- --ignored"]
#[tokio::test]
#[serial(heavy)]
async fn zookeeper_mode_rolling_upgrade_3_8_to_3_9(ctx: TestContext) {
    let Some(from) = installed_or_skip(&ctx, FROM) else {
        return;
    };
    let to = KafkaVersion::V3_9;
    let cluster = start_kafka(&ctx, Mode::Zookeeper, 3, from.clone())
        .await
        .unwrap();
    let w = start_workload(&ctx, cluster, (&from, &from), 500)
        .await
        .unwrap();
    let kafka = w.kafka();
    let id_before = topic_id(kafka, TOPIC).await.unwrap();

    let none = ConfigChange::new();
    w.roll("first pass: bounce on 3.8.1", &from, &none, true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    kafka
        .create_topic(
            &TopicSpec::new("another_topic")
                .partitions(3)
                .replication_factor(3)
                .config("min.insync.replicas", 2),
        )
        .await
        .unwrap();
    let pin = ConfigChange::new().set("inter.broker.protocol.version", "3.8");
    w.roll("second pass: onto 3.9.2, IBP 3.8", &to, &pin, true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let unpin = ConfigChange::new().remove("inter.broker.protocol.version");
    w.roll("third pass: IBP pin removed", &to, &unpin, true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let running = kafka.running_versions();
    assert!(
        running.len() == 3 && running.values().all(|v| v == "3.9.2"),
        "{running:?}"
    );
    assert_eq!(topic_id(kafka, TOPIC).await.unwrap(), id_before);
    assert!(kafka.topic_exists("another_topic").await.unwrap());
    let report = w.finish(&ctx).await.unwrap();
    println!("ZooKeeper-mode upgrade 3.8.1 → 3.9.2: {report}");
    assert!(report.is_clean(), "acknowledged records lost: {report}");
}
