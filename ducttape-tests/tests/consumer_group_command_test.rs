#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! kafkatest's `core/consumer_group_command_test.py`: Kafka's `kafka-consumer-groups` lists and
//! describes consumer groups as the control client (librdkafka, from the test process) sees
//! them.
//!
//! kafkatest checks that `--list` names the console consumer's group and that `--describe`
//! mentions its topic. Here a verifiable consumer reads a topic to its end in
//! `test-consumer-group` and stays in the group, and a second group (`other-group`) reads ten
//! records and leaves; then the tool's answers are compared with the control client's, field
//! by field: `--list` holds both groups and not an unknown one (which the control client calls
//! `Dead`); `--describe` gives, per partition, the committed offset
//! ([`KafkaService::committed_offsets`]), the log-end offset ([`KafkaService::end_offsets`]),
//! their difference as the lag, and a consumer id among the group's members; `--describe
//! --state` gives the group's state and member count ([`KafkaService::group`]). The comparison is
//! shown failing: the tool's description of `other-group` against the control client's view
//! of `test-consumer-group` names every field that differs.
//!
//! The default run is KRaft on 3.9 over PLAINTEXT; ZooKeeper mode and Kafka 4 are `#[ignore]`d.
//! Not ported: kafkatest's SSL variant and the new group protocol (KIP-848) on the new
//! coordinator.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ducttape_services::perf::ClientBuilder;
use ducttape_services::verifiable::VerifiableConsumer;
use ducttape_services::{KafkaService, KafkaVersion, ServiceExt, TopicSpec};
use ducttape_tests::group::tool_table as table;
use ducttape_tests::{ctx, produce_acked, start_kafka, Mode, TestContext};
use rstest::rstest;
use serial_test::serial;

const TOPIC: &str = "topic-consumer-group-command";
const GROUP: &str = "test-consumer-group";
const OTHER: &str = "other-group";
const TOOL: &str = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand";

/// A group as one side sees it.
#[derive(Debug, Default, PartialEq, Eq)]
struct GroupView {
    state: String,
    members: BTreeSet<String>,
    /// Per partition: committed offset (`None`: none), log-end offset, lag.
    partitions: BTreeMap<u32, (Option<i64>, i64, Option<i64>)>,
}

async fn tool(kafka: &KafkaService, args: &[&str]) -> String {
    let mut all = vec!["--bootstrap-server".to_string(), kafka.bootstrap_servers()];
    all.extend(args.iter().map(ToString::to_string));
    kafka.run_admin_tool(TOOL, &all).await.unwrap()
}

fn number(cell: Option<&String>) -> Option<i64> {
    cell.and_then(|c| c.parse().ok())
}

/// The tool's view of `group`: `--describe` and `--describe --state`.
async fn tool_view(kafka: &KafkaService, group: &str) -> GroupView {
    let mut view = GroupView::default();
    for row in table(&tool(kafka, &["--describe", "--group", group]).await) {
        let partition: u32 = row["PARTITION"].parse().unwrap();
        let end = number(row.get("LOG-END-OFFSET")).unwrap();
        view.partitions.insert(
            partition,
            (
                number(row.get("CURRENT-OFFSET")),
                end,
                number(row.get("LAG")),
            ),
        );
        match row.get("CONSUMER-ID") {
            Some(id) if id != "-" => {
                view.members.insert(id.clone());
            }
            _ => {}
        }
    }
    let state = tool(kafka, &["--describe", "--group", group, "--state"]).await;
    // The coordinator column holds spaces ("host:9092 (1)"): state and count are the last two.
    let line = state
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{group} ")))
        .unwrap_or_else(|| panic!("no state line for {group} in {state}"));
    let cells: Vec<&str> = line.split_whitespace().collect();
    view.state = cells[cells.len() - 2].to_string();
    let count: usize = cells[cells.len() - 1].parse().unwrap();
    assert_eq!(
        count,
        view.members.len(),
        "--state's member count against --describe's consumer ids: {state}"
    );
    view
}

/// The control client's view of `group` on the topic.
async fn control_view(kafka: &KafkaService, group: &str) -> GroupView {
    let g = kafka.group(group).await.unwrap();
    let committed = kafka.committed_offsets(group, TOPIC).await.unwrap();
    let ends = kafka.end_offsets(TOPIC).await.unwrap();
    // The tool describes the partitions members are assigned, or, in a group without
    // members, those with a committed offset.
    let members: BTreeSet<String> = g.members.into_iter().collect();
    GroupView {
        state: g.state,
        partitions: ends
            .iter()
            .filter_map(|(p, end)| {
                let c = committed.get(p).copied().flatten();
                (c.is_some() || !members.is_empty()).then(|| (*p, (c, *end, c.map(|c| end - c))))
            })
            .collect(),
        members,
    }
}

/// Where the two views differ, field by field.
fn differences(tool: &GroupView, control: &GroupView) -> Vec<String> {
    let mut out = Vec::new();
    if tool.state != control.state {
        out.push(format!(
            "state: tool {}, control {}",
            tool.state, control.state
        ));
    }
    if tool.members != control.members {
        out.push(format!(
            "members: tool {:?}, control {:?}",
            tool.members, control.members
        ));
    }
    let parts: BTreeSet<&u32> = tool
        .partitions
        .keys()
        .chain(control.partitions.keys())
        .collect();
    for p in parts {
        let (t, c) = (tool.partitions.get(p), control.partitions.get(p));
        if t != c {
            out.push(format!(
                "partition {p} (committed, log end, lag): tool {t:?}, control {c:?}"
            ));
        }
    }
    out
}

async fn groups_agree(ctx: TestContext, mode: Mode, version: KafkaVersion) {
    let cluster = start_kafka(&ctx, mode, 1, version).await.unwrap();
    let kafka = cluster.kafka;
    kafka
        .create_topic(&TopicSpec::new(TOPIC).partitions(2).replication_factor(1))
        .await
        .unwrap();
    assert_eq!(
        produce_acked(&kafka, TOPIC, 100, 1).await.unwrap().len(),
        100
    );
    let node = kafka.brokers()[0].clone();
    let other = VerifiableConsumer::builder(vec![node.clone()], &kafka, TOPIC, OTHER)
        .max_messages(10)
        .name("other-consumer")
        .build(&ctx)
        .unwrap();
    other.start().await.unwrap();
    other.wait().await.unwrap();
    other.stop().await.unwrap();
    let consumer = VerifiableConsumer::builder(vec![node], &kafka, TOPIC, GROUP)
        .timeout(Duration::from_secs(120))
        .build(&ctx)
        .unwrap();
    consumer.start().await.unwrap();
    // The group has read everything and committed it: the answers stand still.
    let ends = kafka.end_offsets(TOPIC).await.unwrap();
    ducttape_core::wait_until(
        "test-consumer-group committed the end of every partition",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            let committed = kafka.committed_offsets(GROUP, TOPIC).await?;
            let stable = kafka.group(GROUP).await?.state == "Stable";
            Ok::<_, ducttape_services::ServiceError>(
                // A partition with no record has nothing to commit (the tool shows `-`).
                stable
                    && ends
                        .iter()
                        .all(|(p, e)| committed.get(p).copied().flatten().unwrap_or(0) == *e),
            )
        },
    )
    .await
    .unwrap();

    // --list: both groups, and not one Kafka does not know (the control client: Dead).
    let listed: BTreeSet<String> = tool(&kafka, &["--list"])
        .await
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    assert!(
        listed.contains(GROUP) && listed.contains(OTHER),
        "{listed:?}"
    );
    assert!(!listed.contains("no-such-group"), "{listed:?}");
    assert_eq!(kafka.group("no-such-group").await.unwrap().state, "Dead");

    // --describe and --state, against the control client, for both groups.
    for group in [GROUP, OTHER] {
        let (t, c) = (
            tool_view(&kafka, group).await,
            control_view(&kafka, group).await,
        );
        tracing::info!(group, tool = ?t, control = ?c, "the two views");
        assert!(
            !c.partitions.is_empty(),
            "{group}: the control client saw no partition"
        );
        let d = differences(&t, &c);
        assert!(d.is_empty(), "{group}: {d:#?}");
    }
    let running = control_view(&kafka, GROUP).await;
    assert_eq!(
        (running.state.as_str(), running.members.len()),
        ("Stable", 1)
    );

    // The comparison bites: the tool on the other group against the control client on this one.
    let d = differences(&tool_view(&kafka, OTHER).await, &running);
    tracing::info!(?d, "another group's answer against this one's");
    assert!(
        d.iter()
            .any(|l| l.starts_with("state: tool Empty, control Stable"))
            && d.iter().any(|l| l.starts_with("members:"))
            && d.iter().any(|l| l.starts_with("partition ")),
        "{d:#?}"
    );
    consumer.stop().await.unwrap();
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn consumer_groups_tool_agrees_with_the_control_client(ctx: TestContext) {
    groups_agree(ctx, Mode::Kraft, KafkaVersion::DEFAULT).await;
}

#[rstest]
#[case::zookeeper(Mode::Zookeeper, KafkaVersion::V3_9)]
#[case::kafka_4(Mode::Kraft, KafkaVersion::V4)]
#[tokio::test]
#[serial(heavy)]
#[ignore = "the other quorum and Kafka 4, ≈ 45 s each; run with --ignored consumer_group_command_matrix"]
async fn consumer_group_command_matrix(
    ctx: TestContext,
    #[case] mode: Mode,
    #[case] version: KafkaVersion,
) {
    groups_agree(ctx, mode, version).await;
}
