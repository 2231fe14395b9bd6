#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! kafkatest's `core/snapshot_test.py`: KRaft metadata snapshots generated and loaded. With
//! kafkatest's settings (a metadata segment rolled every 10 s, 2048 bytes of records between
//! snapshots, 2048 bytes of retention) every controller generates a snapshot and deletes its
//! metadata log's first segment, so a node that joins with an empty log must load a snapshot.
//! Then nodes are killed, their data deleted, and started again — a broker (`test_broker`) or
//! every controller one after another (`test_controller`), the second time with topics
//! created while they were down — and each must rejoin with every topic:
//! - that it loaded a snapshot: its new metadata log holds a snapshot Kafka generated
//!   (`<offset>-<epoch>.checkpoint`, offset above 0) and no segment at offset 0;
//! - a broker, asked alone, lists exactly the topics created, by name and partition numbers;
//! - a controller's newest snapshot (`kafka-dump-log --cluster-metadata-decoder`) holds
//!   exactly those topics;
//! - the verifiable producer and consumer go through the cluster with nothing acknowledged
//!   lost, by value; in `test_broker` on a topic the restarted broker leads a partition of.
//!
//! Where kafkatest creates topics with replication factor 3 while one of 3 brokers is down
//! (which works only until the dead broker is fenced), ours use 2. The broken cases: the topic
//! checks, given a topic that was never created, fail naming it; a cluster with Kafka's
//! default snapshot settings has no generated snapshot, and the snapshot check fails.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ducttape_services::verifiable::VerifiableConsumer;
use ducttape_services::{KafkaService, KafkaVersion, Service, ServiceExt, TopicSpec};
use ducttape_tests::{
    ctx, producer_through_faults, read_to_the_end, record_delivery, wait_for_more_acks, Node,
    TestContext, STALL,
};
use rstest::rstest;
use serial_test::serial;
use std::sync::Arc;

const TOPIC: &str = "test_topic";
const PREFIX: &str = "test_topic_";
/// kafkatest's `KafkaService.METADATA_LOG_DIR`.
const METADATA_DIR: &str = "/mnt/kafka/kafka-metadata-logs";
/// How long a snapshot and the first segment's deletion may take (kafkatest: 100 s).
const SNAPSHOT_WAIT: Duration = Duration::from_secs(100);
/// How long a restarted node's view may take to show every topic.
const CATCH_UP: Duration = Duration::from_secs(120);

type Topics = BTreeMap<String, BTreeSet<u32>>;

/// Where the controllers run (kafkatest's `metadata_quorum`).
#[derive(Debug, Clone, Copy)]
enum Layout {
    /// `COMBINED_KRAFT`: 3 nodes, each broker and controller.
    Combined,
    /// `ISOLATED_KRAFT`: 3 brokers and 3 controllers of their own.
    Dedicated,
}

/// A running cluster with a snapshot on every controller, and the topics created so far.
struct Setup {
    kafka: Arc<KafkaService>,
    client: Node,
    controllers: Vec<Node>,
    expected: Topics,
}

impl Setup {
    /// kafkatest's `setUp`: the cluster with its snapshot settings, `test_topic` and 10 more
    /// topics, then a generated snapshot and a deleted first segment on every controller.
    async fn new(ctx: &TestContext, layout: Layout, version: KafkaVersion) -> Self {
        let (count, spare) = match layout {
            Layout::Combined => (3, 1),
            Layout::Dedicated => (6, 0),
        };
        let mut nodes = ctx.lease(count + spare).await.unwrap();
        let spare = (spare > 0).then(|| nodes.pop().unwrap());
        let builder = KafkaService::builder(nodes.clone());
        let builder = match layout {
            Layout::Combined => builder.kraft_combined(3),
            Layout::Dedicated => builder.kraft_dedicated(3),
        };
        let kafka = builder
            .version(version)
            .config("metadata.log.dir", METADATA_DIR)
            .config("metadata.log.segment.ms", 10_000)
            .config("metadata.max.retention.bytes", 2048)
            .config("metadata.log.max.record.bytes.between.snapshots", 2048)
            .config("broker.session.timeout.ms", 6000)
            .config("broker.heartbeat.interval.ms", 1000)
            .build(ctx)
            .unwrap();
        kafka.start().await.unwrap();
        let controllers: Vec<Node> = match layout {
            Layout::Combined => nodes.clone(),
            Layout::Dedicated => nodes[3..].to_vec(),
        };
        // The clients run only at the end; without a spare node, on a broker.
        let client = spare.unwrap_or_else(|| nodes[0].clone());
        let mut setup = Setup {
            kafka,
            client,
            controllers,
            expected: Topics::new(),
        };
        setup.create(&[TOPIC.to_string()], 3).await;
        setup.create_numbered(10, 3).await;
        for node in &setup.controllers {
            let files = setup
                .kafka
                .wait_for_snapshot(node, SNAPSHOT_WAIT)
                .await
                .unwrap();
            println!("{}: {files:?}", node.name());
        }
        setup
    }

    /// Creates `names` (3 partitions, `min.insync.replicas=2`, replication factor `rf`).
    async fn create(&mut self, names: &[String], rf: u32) {
        let specs: Vec<TopicSpec> = names
            .iter()
            .map(|name| {
                TopicSpec::new(name)
                    .partitions(3)
                    .replication_factor(rf)
                    .config("min.insync.replicas", 2)
            })
            .collect();
        self.kafka.create_topics(&specs).await.unwrap();
        for name in names {
            self.expected.insert(name.clone(), (0..3).collect());
        }
    }

    /// Creates the next `n` of `test_topic_<i>`.
    async fn create_numbered(&mut self, n: usize, rf: u32) -> Vec<String> {
        let first = self
            .expected
            .keys()
            .filter(|t| t.starts_with(PREFIX))
            .count();
        let names: Vec<String> = (first..first + n).map(|i| format!("{PREFIX}{i}")).collect();
        self.create(&names, rf).await;
        names
    }

    /// Kills `node` and deletes all it had (kafkatest's `clean_node`); a broker, until the
    /// cluster no longer lists it (its session expired: it is fenced, and topics created
    /// now are placed on the others).
    async fn kill_and_clean(&self, node: &Node) {
        println!("killing {} and deleting its data", node.name());
        self.kafka.clean_node(node).await.unwrap();
        if !self.kafka.brokers().iter().any(|b| b.name() == node.name()) {
            return;
        }
        let id = i32::try_from(self.kafka.id_of(node).unwrap()).unwrap();
        let what = format!("broker {id} is no longer registered");
        ducttape_core::wait_until(
            &what,
            Duration::from_secs(60),
            Duration::from_millis(500),
            || async {
                let brokers = self.kafka.registered_brokers().await?;
                Ok::<_, ducttape_services::ServiceError>(!brokers.iter().any(|b| b.id == id))
            },
        )
        .await
        .unwrap();
    }

    /// Starts `node` again and waits until it loaded a snapshot: its new metadata log holds
    /// a generated snapshot and no segment at offset 0 (none is left to replay from).
    async fn start_from_snapshot(&self, node: &Node) {
        self.kafka.start_node(node).await.unwrap();
        let files = self
            .kafka
            .wait_for_snapshot(node, SNAPSHOT_WAIT)
            .await
            .unwrap();
        println!("{} restarted from a snapshot: {files:?}", node.name());
    }

    /// kafkatest's `validate_success`: the verifiable producer and consumer through `topic`;
    /// every acknowledged record consumed, by value.
    async fn validate(&self, ctx: &TestContext, topic: &str, group_protocol: Option<&str>) {
        let producer = producer_through_faults(vec![self.client.clone()], &self.kafka, topic)
            .throughput(1000)
            .build(ctx)
            .unwrap();
        let mut consumer = VerifiableConsumer::builder(
            vec![self.client.clone()],
            &self.kafka,
            topic,
            "snapshot-test",
        );
        if let Some(protocol) = group_protocol {
            consumer = consumer.group_protocol(protocol);
        }
        let consumer = consumer.build(ctx).unwrap();
        consumer.start().await.unwrap();
        producer.start().await.unwrap();
        wait_for_more_acks(&producer, 2000, Duration::from_secs(90))
            .await
            .unwrap();
        let report = read_to_the_end(&self.kafka, topic, &[&producer], &consumer, STALL)
            .await
            .unwrap();
        println!("{report}");
        record_delivery(ctx, &report);
        assert!(report.is_clean(), "acknowledged records lost: {report}");
    }
}

/// How `seen` differs from `expected` (internal topics left out), or `None`.
fn topic_diff(expected: &Topics, seen: &Topics) -> Option<String> {
    let seen: Topics = seen
        .iter()
        .filter(|(t, _)| !t.starts_with("__"))
        .map(|(t, p)| (t.clone(), p.clone()))
        .collect();
    if &seen == expected {
        return None;
    }
    let missing: Vec<&String> = expected.keys().filter(|t| !seen.contains_key(*t)).collect();
    let unexpected: Vec<&String> = seen.keys().filter(|t| !expected.contains_key(*t)).collect();
    let partitions: Vec<String> = expected
        .iter()
        .filter_map(|(t, want)| {
            let got = seen.get(t)?;
            (got != want).then(|| format!("{t}: partitions {got:?}, not {want:?}"))
        })
        .collect();
    Some(format!(
        "missing topics {missing:?}, unexpected topics {unexpected:?}, {partitions:?}"
    ))
}

/// One look: how the topics the broker on `node`, asked alone, lists differ from
/// `expected` (`None`: not at all).
async fn topics_at_differ(
    kafka: &KafkaService,
    node: &Node,
    expected: &Topics,
) -> Result<Option<String>, String> {
    let seen = kafka.topics_at(node).await.map_err(|e| e.to_string())?;
    Ok(topic_diff(expected, &seen))
}

/// One look: how the topics of the newest snapshot `node` generated differ from `expected`
/// (`None`: not at all).
async fn snapshot_topics_differ(
    kafka: &KafkaService,
    node: &Node,
    expected: &Topics,
) -> Result<Option<String>, String> {
    let files = kafka
        .metadata_log_files(node)
        .await
        .map_err(|e| e.to_string())?;
    let snapshot = files
        .generated_snapshot()
        .ok_or_else(|| format!("no generated snapshot: {files:?}"))?;
    let seen = kafka
        .snapshot_topics(node, &files, snapshot)
        .await
        .map_err(|e| e.to_string())?;
    Ok(topic_diff(expected, &seen).map(|diff| format!("snapshot {snapshot:?}: {diff}")))
}

/// Waits until `look` finds no difference (it answers `Some(difference)` until then).
async fn wait_until_same<F, Fut>(what: &str, mut look: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<String>, String>>,
{
    ducttape_core::wait_until(what, CATCH_UP, Duration::from_secs(1), || {
        let answer = look();
        async move { answer.await?.map_or(Ok(true), Err) }
    })
    .await
    .unwrap();
}

/// Waits until the broker on `node`, asked alone, lists exactly `expected`.
async fn wait_for_topics_at(kafka: &KafkaService, node: &Node, expected: &Topics) {
    let what = format!(
        "{} lists exactly the {} topics created",
        node.name(),
        expected.len()
    );
    wait_until_same(&what, || topics_at_differ(kafka, node, expected)).await;
}

/// Waits until the newest snapshot `node` generated holds exactly `expected`.
async fn wait_for_snapshot_topics(kafka: &KafkaService, node: &Node, expected: &Topics) {
    let what = format!(
        "the newest metadata snapshot on {} holds exactly the {} topics created",
        node.name(),
        expected.len()
    );
    wait_until_same(&what, || snapshot_topics_differ(kafka, node, expected)).await;
}

/// The topic checks fail on a topic that was never created, naming it: each look (what the
/// waits above repeat until it finds no difference) finds one.
async fn checks_catch_a_topic_never_created(s: &Setup, broker: &Node, controller: &Node) {
    let mut ghost = s.expected.clone();
    ghost.insert("never_created".into(), BTreeSet::from([0]));
    let missing = "missing topics [\"never_created\"], unexpected topics [], []";
    let at = topics_at_differ(&s.kafka, broker, &ghost).await.unwrap();
    let at = at.expect("a broker lists a topic never created");
    assert!(at.contains(missing), "{at}");
    let snap = snapshot_topics_differ(&s.kafka, controller, &ghost)
        .await
        .unwrap();
    let snap = snap.expect("a snapshot holds a topic never created");
    assert!(snap.contains(missing), "{snap}");
    println!("as they must: {at}\n{snap}");
}

/// kafkatest's `test_broker`: a broker killed, its data deleted and restarted three times
/// (the second time with 10 topics created meanwhile); each time it lists every topic; then
/// a topic it leads a partition of carries the verifiable producer and consumer.
#[rstest]
#[case::combined(Layout::Combined, KafkaVersion::DEFAULT, None)]
#[ignore = "snapshot_test matrix, ~4-8 min each under load: cargo test --test snapshot_test -- --ignored"]
#[case::dedicated(Layout::Dedicated, KafkaVersion::DEFAULT, None)]
#[ignore = "snapshot_test matrix, ~4-8 min each under load: cargo test --test snapshot_test -- --ignored"]
#[case::combined_consumer_protocol(Layout::Combined, KafkaVersion::V4, Some("consumer"))]
#[ignore = "snapshot_test matrix, ~4-8 min each under load: cargo test --test snapshot_test -- --ignored"]
#[case::dedicated_consumer_protocol(Layout::Dedicated, KafkaVersion::V4, Some("consumer"))]
#[ignore = "snapshot_test matrix, ~4-8 min each under load: cargo test --test snapshot_test -- --ignored"]
#[case::combined_classic_protocol(Layout::Combined, KafkaVersion::V4, Some("classic"))]
#[ignore = "snapshot_test matrix, ~4-8 min each under load: cargo test --test snapshot_test -- --ignored"]
#[case::dedicated_classic_protocol(Layout::Dedicated, KafkaVersion::V4, Some("classic"))]
#[tokio::test]
#[serial(heavy)]
async fn test_broker(
    ctx: TestContext,
    #[case] layout: Layout,
    #[case] version: KafkaVersion,
    #[case] group_protocol: Option<&str>,
) {
    let mut s = Setup::new(&ctx, layout, version).await;
    let brokers = s.kafka.brokers();
    checks_catch_a_topic_never_created(&s, &brokers[0], &s.controllers[0].clone()).await;

    // Kill, clean, start.
    s.kill_and_clean(&brokers[0]).await;
    s.start_from_snapshot(&brokers[0]).await;
    wait_for_topics_at(&s.kafka, &brokers[0], &s.expected).await;
    // Kill, clean, create 10 topics, start.
    s.kill_and_clean(&brokers[1]).await;
    s.create_numbered(10, 2).await;
    s.start_from_snapshot(&brokers[1]).await;
    wait_for_topics_at(&s.kafka, &brokers[1], &s.expected).await;
    // Kill, clean, start, then a topic it leads a partition of carries records.
    let node = &brokers[2];
    s.kill_and_clean(node).await;
    s.start_from_snapshot(node).await;
    wait_for_topics_at(&s.kafka, node, &s.expected).await;
    let topic = s.create_numbered(1, 3).await.remove(0);
    let id = s.kafka.id_of(node).unwrap();
    let led: Vec<u32> = s
        .kafka
        .describe_topic(&topic)
        .await
        .unwrap()
        .iter()
        .filter(|p| p.leader == Some(id))
        .map(|p| p.partition)
        .collect();
    assert!(
        !led.is_empty(),
        "the restarted broker {id} leads no partition of {topic}"
    );
    println!("the restarted broker {id} leads partitions {led:?} of {topic}");
    s.validate(&ctx, &topic, group_protocol).await;
    ctx.record("topics", s.expected.len());
}

/// kafkatest's `test_controller`: every controller killed, its data deleted and restarted
/// one after another, twice (the second time with 5 topics created while each is down); each
/// time its snapshot holds every topic; then a new topic carries the verifiable producer and
/// consumer.
#[rstest]
#[ignore = "snapshot_test matrix, ~4-8 min each under load: cargo test --test snapshot_test -- --ignored"]
#[case::combined(Layout::Combined, KafkaVersion::DEFAULT, None)]
#[ignore = "snapshot_test matrix, ~4-8 min each under load: cargo test --test snapshot_test -- --ignored"]
#[case::dedicated(Layout::Dedicated, KafkaVersion::DEFAULT, None)]
#[ignore = "snapshot_test matrix, ~4-8 min each under load: cargo test --test snapshot_test -- --ignored"]
#[case::dedicated_consumer_protocol(Layout::Dedicated, KafkaVersion::V4, Some("consumer"))]
#[ignore = "snapshot_test matrix, ~4-8 min each under load: cargo test --test snapshot_test -- --ignored"]
#[case::combined_consumer_protocol(Layout::Combined, KafkaVersion::V4, Some("consumer"))]
#[ignore = "snapshot_test matrix, ~4-8 min each under load: cargo test --test snapshot_test -- --ignored"]
#[case::combined_classic_protocol(Layout::Combined, KafkaVersion::V4, Some("classic"))]
#[ignore = "snapshot_test matrix, ~4-8 min each under load: cargo test --test snapshot_test -- --ignored"]
#[case::dedicated_classic_protocol(Layout::Dedicated, KafkaVersion::V4, Some("classic"))]
#[tokio::test]
#[serial(heavy)]
async fn test_controller(
    ctx: TestContext,
    #[case] layout: Layout,
    #[case] version: KafkaVersion,
    #[case] group_protocol: Option<&str>,
) {
    let mut s = Setup::new(&ctx, layout, version).await;
    // A broker is down while topics are created only when controllers are brokers too.
    let rf_meanwhile = match layout {
        Layout::Combined => 2,
        Layout::Dedicated => 3,
    };
    for node in s.controllers.clone() {
        s.kill_and_clean(&node).await;
        s.start_from_snapshot(&node).await;
        wait_for_snapshot_topics(&s.kafka, &node, &s.expected).await;
    }
    for node in s.controllers.clone() {
        s.kill_and_clean(&node).await;
        s.create_numbered(5, rf_meanwhile).await;
        s.start_from_snapshot(&node).await;
        wait_for_snapshot_topics(&s.kafka, &node, &s.expected).await;
    }
    let topic = s.create_numbered(1, 3).await.remove(0);
    for broker in s.kafka.brokers() {
        wait_for_topics_at(&s.kafka, &broker, &s.expected).await;
    }
    s.validate(&ctx, &topic, group_protocol).await;
    ctx.record("topics", s.expected.len());
}

/// The snapshot check fails where there is no snapshot: with Kafka's default settings
/// (20 MiB of records or an hour between snapshots) a cluster with kafkatest's 11 topics has
/// generated none, and its first metadata segment is still there.
#[rstest]
#[ignore = "the snapshot check's broken case, ~1 min: cargo test --test snapshot_test -- --ignored checks_catch"]
#[tokio::test]
#[serial(heavy)]
async fn checks_catch_a_cluster_without_snapshots(ctx: TestContext) {
    let nodes = ctx.lease(3).await.unwrap();
    let kafka = KafkaService::builder(nodes.clone())
        .kraft_combined(3)
        .build(&ctx)
        .unwrap();
    kafka.start().await.unwrap();
    let specs: Vec<TopicSpec> = (0..11)
        .map(|i| {
            TopicSpec::new(&format!("{PREFIX}{i}"))
                .partitions(3)
                .replication_factor(3)
        })
        .collect();
    kafka.create_topics(&specs).await.unwrap();
    let none = kafka
        .wait_for_snapshot(&nodes[0], Duration::from_secs(30))
        .await;
    let none = none
        .expect_err("a snapshot with default settings")
        .to_string();
    // It failed on the node's files, not on a command that did not answer.
    assert!(
        none.contains("its metadata log files: MetadataLogFiles"),
        "{none}"
    );
    println!("as it must: {none}");
}
