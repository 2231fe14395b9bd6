#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! kafkatest's `core/fetch_from_follower_test.py`: rack-aware replica selection (KIP-392).
//!
//! Three brokers in racks `rack-a`, `rack-b`, `rack-c` with
//! `replica.selector.class=RackAwareReplicaSelector`; a topic of one partition on all three
//! (`min.insync.replicas=1`); the verifiable producer (1,000 records/s, kafkatest's rate) and a
//! verifiable consumer whose `client.rack` is the rack of a follower, with kafkatest's
//! `metadata.max.age.ms=3000` (the consumer asks the leader again for its preferred replica
//! every 3 s). Checked:
//! - the consumer was served by the follower in its rack, and by no other broker, over the
//!   whole run: each broker's own count of bytes served to consumers of the topic
//!   (`kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec,topic=…`, which Kafka keeps
//!   apart from replication fetches), scraped from its JMX exporter. kafkatest reads the
//!   consumer's `preferred-read-replica` metric instead (what the leader told it, not where
//!   it fetched); the broker's count is where the records came from;
//! - every acknowledged record consumed, by value.
//!
//! Shown failing (`checks_catch_a_consumer_not_served_by_its_racks_follower`): a consumer
//! without `client.rack`, and one whose rack is the leader's, are both served by the leader,
//! and the check says so with each broker's count.
//!
//! kafkatest's matrix: ZooKeeper and isolated KRaft with the classic coordinator; isolated
//! KRaft with the new coordinator and each group protocol (here Kafka 4.4, where the new
//! coordinator is the only one).

use std::sync::Arc;
use std::time::Duration;

use ducttape_services::perf::ClientBuilder;
use ducttape_services::verifiable::{
    VerifiableConsumer, VerifiableConsumerService, VerifiableProducerService,
};
use ducttape_services::{KafkaService, KafkaVersion, ServiceExt, TopicSpec};
use ducttape_tests::broker_views::{consumer_bytes_out, served_only_by};
use ducttape_tests::{
    ctx, producer_through_faults, read_to_the_end, record_delivery, start_secured_kafka_with,
    wait_for_leader, wait_for_more_acks, ConsumerGroup, KafkaCluster, Mode, Node, TestContext,
    STALL,
};
use rstest::rstest;
use serial_test::serial;

const TOPIC: &str = "test_topic";
/// `broker.rack` of brokers 1, 2 and 3 (kafkatest's).
const RACKS: [&str; 3] = ["rack-a", "rack-b", "rack-c"];
const RACK_AWARE_REPLICA_SELECTOR: &str =
    "org.apache.kafka.common.replica.RackAwareReplicaSelector";
/// kafkatest's: the preferred read replica expires after this, and the consumer asks the
/// leader again.
const METADATA_MAX_AGE_MS: u64 = 3_000;
/// kafkatest's producer rate, records per second.
const THROUGHPUT: i64 = 1_000;
/// How long the clients may take to make the progress waited for.
const PROGRESS: Duration = Duration::from_secs(90);

/// Three brokers in three racks, the rack-aware selector on.
async fn rack_aware_cluster(ctx: &TestContext, mode: Mode, version: KafkaVersion) -> KafkaCluster {
    start_secured_kafka_with(ctx, mode, 3, version, Default::default(), |b| {
        RACKS.iter().enumerate().fold(
            b.config("replica.selector.class", RACK_AWARE_REPLICA_SELECTOR),
            |b, (index, rack)| b.node_config(index, "broker.rack", rack),
        )
    })
    .await
    .unwrap()
}

/// kafkatest's topic (1 partition, RF 3, `min.insync.replicas=1`); returns its leader.
async fn create_topic(kafka: &KafkaService, topic: &str) -> Node {
    kafka
        .create_topic(
            &TopicSpec::new(topic)
                .partitions(1)
                .replication_factor(3)
                .config("min.insync.replicas", 1),
        )
        .await
        .unwrap();
    wait_for_leader(kafka, topic, 0).await.unwrap()
}

/// The `broker.rack` of the broker on `node`.
fn rack_of(kafka: &KafkaService, node: &Node) -> &'static str {
    let id = kafka.id_of(node).unwrap();
    RACKS[usize::try_from(id).unwrap() - 1]
}

/// A verifiable consumer on `nodes` of `topic` in `rack` (`None`: no `client.rack`),
/// refreshing its metadata as kafkatest's does.
fn consumer_in(
    nodes: Vec<Node>,
    kafka: &KafkaService,
    topic: &str,
    rack: Option<&str>,
    group_protocol: Option<&str>,
) -> VerifiableConsumer {
    let mut consumer = VerifiableConsumer::builder(nodes, kafka, topic, &format!("{topic}-group"))
        .prop("metadata.max.age.ms", METADATA_MAX_AGE_MS);
    if let Some(rack) = rack {
        consumer = consumer.prop("client.rack", rack);
    }
    if let Some(protocol) = group_protocol {
        consumer = consumer.group_protocol(protocol);
    }
    consumer
}

/// Starts `consumer` and `producer` and waits until the consumer has read 6,000 records more
/// than it had once the producer got its first 1,000 acknowledged: at 1,000 records/s, at
/// least two of the consumer's preferred-replica expiries, as kafkatest's two sleeps of
/// 2 × `metadata.max.age.ms`.
async fn run_clients(
    topic: &str,
    producer: &VerifiableProducerService,
    consumer: Arc<VerifiableConsumerService>,
) -> ConsumerGroup {
    let group = ConsumerGroup::new(consumer, topic, 1);
    group.start_all().await.unwrap();
    producer.start().await.unwrap();
    wait_for_more_acks(producer, 1_000, PROGRESS).await.unwrap();
    group.wait_consumed_more(6_000, PROGRESS).await.unwrap();
    group
}

#[rstest]
// kafkatest: @matrix(metadata_quorum=isolated KRaft, use_new_coordinator=False): the default
// run's case.
#[case::kraft(Mode::KraftDedicated, KafkaVersion::DEFAULT, None)]
// kafkatest: @matrix(metadata_quorum=zk, use_new_coordinator=False).
#[ignore = "fetch_from_follower matrix, ~1 min each: cargo test --test fetch_from_follower_test -- --ignored"]
#[case::zookeeper(Mode::Zookeeper, KafkaVersion::DEFAULT, None)]
// kafkatest: @matrix(isolated KRaft, use_new_coordinator=True, group_protocol=classic|consumer),
// on Kafka 4 where the new coordinator is the only one.
#[ignore = "fetch_from_follower matrix, ~1 min each: cargo test --test fetch_from_follower_test -- --ignored"]
#[case::kraft_new_coordinator_classic(Mode::KraftDedicated, KafkaVersion::V4, Some("classic"))]
#[ignore = "fetch_from_follower matrix, ~1 min each: cargo test --test fetch_from_follower_test -- --ignored"]
#[case::kraft_new_coordinator_consumer(Mode::KraftDedicated, KafkaVersion::V4, Some("consumer"))]
#[tokio::test]
#[serial(heavy)]
async fn consumer_preferred_read_replica(
    ctx: TestContext,
    #[case] mode: Mode,
    #[case] version: KafkaVersion,
    #[case] group_protocol: Option<&str>,
) {
    let cluster = rack_aware_cluster(&ctx, mode, version).await;
    let kafka = &cluster.kafka;
    let leader = create_topic(kafka, TOPIC).await;
    // kafkatest: the consumer in the rack of a broker that is not the leader.
    let follower = kafka
        .brokers()
        .into_iter()
        .find(|b| b.name() != leader.name())
        .expect("a follower");
    let rack = rack_of(kafka, &follower);
    println!(
        "leader {} ({}); the consumer in {rack}, the rack of follower {}",
        leader.name(),
        rack_of(kafka, &leader),
        follower.name()
    );
    let clients = ctx.lease(2).await.unwrap();
    let producer = producer_through_faults(vec![clients[0].clone()], kafka, TOPIC)
        .throughput(THROUGHPUT)
        .build(&ctx)
        .unwrap();
    let consumer = consumer_in(
        vec![clients[1].clone()],
        kafka,
        TOPIC,
        Some(rack),
        group_protocol,
    )
    .build(&ctx)
    .unwrap();
    let group = run_clients(TOPIC, &producer, consumer).await;

    let report = read_to_the_end(kafka, TOPIC, &[&producer], &group.service, STALL)
        .await
        .unwrap();
    println!("{report}");
    record_delivery(&ctx, &report);
    // Every fetch of the run is done: the brokers' counts are final.
    let served = consumer_bytes_out(kafka, TOPIC).await.unwrap();
    println!("bytes served to consumers of {TOPIC}, per broker: {served:?}");
    ctx.record("consumer_bytes_out", serde_json::to_value(&served).unwrap());
    ctx.record("follower", follower.name());
    ctx.record("leader", leader.name());
    let by_follower = served_only_by(&served, TOPIC, follower.name()).unwrap();
    assert!(by_follower > 0.0);
    assert!(report.is_clean(), "acknowledged records lost: {report}");
}

/// The check can fail: on one cluster, a consumer without `client.rack` (topic
/// `no_rack_topic`) and one in the leader's rack (topic `leader_rack_topic`) are both served
/// by the leader, so "served by a follower alone" fails for each, whichever follower is named.
#[rstest]
#[ignore = "the fetch-from-follower check's broken cases, ~1 min: cargo test --test fetch_from_follower_test -- --ignored checks_catch"]
#[tokio::test]
#[serial(heavy)]
async fn checks_catch_a_consumer_not_served_by_its_racks_follower(ctx: TestContext) {
    let cluster = rack_aware_cluster(&ctx, Mode::KraftDedicated, KafkaVersion::DEFAULT).await;
    let kafka = &cluster.kafka;
    let clients = ctx.lease(2).await.unwrap();
    let mut cases = Vec::new();
    for topic in ["no_rack_topic", "leader_rack_topic"] {
        let leader = create_topic(kafka, topic).await;
        let rack = (topic == "leader_rack_topic").then(|| rack_of(kafka, &leader));
        let producer = producer_through_faults(vec![clients[0].clone()], kafka, topic)
            .name(&format!("producer-{topic}"))
            .throughput(THROUGHPUT)
            .build(&ctx)
            .unwrap();
        let consumer = consumer_in(vec![clients[1].clone()], kafka, topic, rack, None)
            .name(&format!("consumer-{topic}"))
            .build(&ctx)
            .unwrap();
        let group = run_clients(topic, &producer, consumer).await;
        cases.push((topic, leader, producer, group));
    }
    for (topic, leader, producer, group) in &cases {
        let report = read_to_the_end(kafka, topic, &[producer.as_ref()], &group.service, STALL)
            .await
            .unwrap();
        assert!(report.is_clean(), "{topic}: {report}");
        let served = consumer_bytes_out(kafka, topic).await.unwrap();
        println!("{topic}: leader {}; served {served:?}", leader.name());
        assert!(
            served_only_by(&served, topic, leader.name()).is_ok(),
            "{topic}: the leader served it alone: {served:?}"
        );
        for follower in kafka.brokers().iter().filter(|b| b.name() != leader.name()) {
            let err = served_only_by(&served, topic, follower.name()).unwrap_err();
            println!("as it must: {err}");
        }
    }
}
