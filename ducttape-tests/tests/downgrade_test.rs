#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! kafkatest's `downgrade_test`, in KRaft terms: a downgrade is supported while the metadata
//! version stays at the old release's (kafkatest keeps `inter.broker.protocol.version` at the
//! old release for the same reason). A 3.9.2 cluster is rolled onto 4.4.0 and back onto 3.9.2
//! under load with its `metadata.version` left at 3.9's: every step healthy, nothing lost, the
//! topic's id unchanged. Once the metadata version is 4.4's, Kafka refuses both ways down, and
//! each refusal is shown with Kafka's words: `kafka-features downgrade --metadata 3.9` (the
//! controller will not drop metadata), and a broker moved back onto 3.9.2 (its software cannot
//! read the finalized version, so it never rejoins) — after which the cluster, that broker back
//! on 4.4.0, still loses nothing.

use ducttape_services::kafka::{ConfigChange, FeatureError, UpgradeStep};
use ducttape_services::KafkaVersion;
use ducttape_tests::rolling::{
    start_workload, topic_id, wait_for_full_isr, RollError, Workload, TOPIC,
};
use ducttape_tests::{ctx, start_kafka, Mode, TestContext};
use rstest::rstest;
use serial_test::serial;

async fn loaded_cluster(ctx: &TestContext, version: &KafkaVersion) -> Workload {
    let cluster = start_kafka(ctx, Mode::Kraft, 3, version.clone())
        .await
        .unwrap();
    start_workload(ctx, cluster, (version, version), 500)
        .await
        .unwrap()
}

/// On 4.4.0 with `metadata.version` 4.4: the metadata downgrade to 3.9 and a 3.9.2 broker
/// are both refused for their reasons; the workload loses nothing.
#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn downgrades_below_the_finalized_metadata_are_refused(ctx: TestContext) {
    let w = loaded_cluster(&ctx, &KafkaVersion::V4).await;
    let kafka = w.kafka();
    let finalized = kafka.metadata_version().await.unwrap();
    assert!(finalized.starts_with("4.4"), "{finalized}");

    // 1. The metadata: the controller refuses, in its own words.
    let err = kafka.downgrade_metadata("3.9").await.unwrap_err();
    println!("{err}");
    match &err {
        FeatureError::Refused {
            action, kafka_says, ..
        } => {
            assert_eq!(action, "downgrade");
            assert!(
                kafka_says.starts_with("Could not downgrade metadata.version to"),
                "{kafka_says}"
            );
        }
        other => panic!("expected Kafka's refusal, got: {other}"),
    }
    ctx.record("metadata_downgrade_refused", err.to_string());
    assert_eq!(kafka.metadata_version().await.unwrap(), finalized);

    // 2. The binaries: a broker moved back onto 3.9.2 cannot join a cluster at 4.4 metadata.
    let node = kafka.brokers()[2].clone();
    let err = w
        .step(
            "binary downgrade",
            &node,
            &KafkaVersion::V3_9,
            &ConfigChange::new(),
            true,
        )
        .await
        .unwrap_err();
    println!("{err}");
    match &err {
        RollError::Move { source, .. } => {
            assert_eq!(source.node, node.name());
            assert_eq!(source.step, UpgradeStep::Start);
            assert_eq!(source.to, "3.9.2");
        }
        other => panic!("expected the 3.9.2 start to fail, got: {other}"),
    }
    // Kafka's words, from the node's log tail: 3.9.2 cannot read 4.4's metadata records.
    let text = err.to_string();
    assert!(text.contains("UnsupportedVersionException"), "{text}");
    ctx.record("binary_downgrade_refused", text);

    // Back onto 4.4.0: it rejoins, and nothing acknowledged was lost meanwhile.
    w.step(
        "back onto 4.4.0",
        &node,
        &KafkaVersion::V4,
        &ConfigChange::new(),
        true,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let report = w.finish(&ctx).await.unwrap();
    println!("{report}");
    assert!(report.is_clean(), "acknowledged records lost: {report}");
}

/// kafkatest's `test_upgrade_and_downgrade`: up onto 4.4.0 and back onto 3.9.2 with the
/// metadata version left at 3.9's.
#[rstest]
#[tokio::test]
#[serial(heavy)]
#[ignore = "two full rolls (≈ 3 min); run: cargo test -p ducttape-tests --test downgrade_test -- --ignored and_back"]
async fn upgrade_to_4_4_and_back_to_3_9_under_load(ctx: TestContext) {
    let (old, new) = (KafkaVersion::V3_9, KafkaVersion::V4);
    let w = loaded_cluster(&ctx, &old).await;
    let kafka = w.kafka();
    let id_before = topic_id(kafka, TOPIC).await.unwrap();
    let mv = kafka.metadata_version().await.unwrap();
    w.roll("rolling upgrade", &new, &ConfigChange::new(), true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kafka.metadata_version().await.unwrap(), mv, "left at 3.9's");
    w.roll("rolling downgrade", &old, &ConfigChange::new(), true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    wait_for_full_isr(kafka, TOPIC).await.unwrap();
    let running = kafka.running_versions();
    assert!(running.values().all(|v| v == "3.9.2"), "{running:?}");
    assert_eq!(topic_id(kafka, TOPIC).await.unwrap(), id_before);
    let report = w.finish(&ctx).await.unwrap();
    println!("{report}");
    assert!(report.is_clean(), "acknowledged records lost: {report}");
}
