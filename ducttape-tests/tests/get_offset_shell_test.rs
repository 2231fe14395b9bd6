#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! kafkatest's `core/get_offset_shell_test.py`: Kafka's `GetOffsetShell` gives the same
//! offsets as the control client (librdkafka, from the test process), per partition.
//!
//! kafkatest sums the tool's offsets and compares the sum with the records produced, for a
//! topic by name, a topic pattern, `--partitions`, `--topic-partitions` (patterns, ranges,
//! lower and upper bounds) and `--exclude-internal-topics`. Here every answer is compared
//! partition by partition with the control client's: latest offsets with
//! [`KafkaService::end_offsets`], offsets by time (`--time <ms>`) with
//! [`KafkaService::offsets_for_time`] and with the end offsets seen at that time, earliest
//! offsets with 0 (a new topic), and each filter by the exact set of partitions it must
//! select. The comparison is shown failing: the tool's answer for one topic against the
//! control client's for another names the partitions that differ.
//!
//! The default run is KRaft on 3.9; ZooKeeper mode and Kafka 4 are `#[ignore]`d (kafkatest
//! runs every quorum).

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use ducttape_services::{KafkaService, KafkaVersion, TopicSpec};
use ducttape_tests::{ctx, produce_acked, start_kafka, Mode, TestContext};
use rstest::rstest;
use serial_test::serial;

const A: &str = "offset-shell-a";
const B: &str = "offset-shell-b";
const TOOL: &str = "org.apache.kafka.tools.GetOffsetShell";

/// Offsets by (topic, partition).
type Offsets = BTreeMap<(String, u32), i64>;

/// Runs `GetOffsetShell` with `args` and parses its `topic:partition:offset` lines.
async fn shell(kafka: &KafkaService, args: &[&str]) -> Offsets {
    let mut all = vec!["--bootstrap-server".to_string(), kafka.bootstrap_servers()];
    all.extend(args.iter().map(ToString::to_string));
    let out = kafka.run_admin_tool(TOOL, &all).await.unwrap();
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut parts = l.trim().rsplitn(3, ':');
            let offset = parts.next().unwrap().parse().unwrap();
            let partition = parts.next().unwrap().parse().unwrap();
            let topic = parts.next().unwrap().to_string();
            ((topic, partition), offset)
        })
        .collect()
}

/// `topic`'s offsets as the control client gives them, keyed like the tool's.
fn keyed(topic: &str, offsets: BTreeMap<u32, i64>) -> Offsets {
    offsets
        .into_iter()
        .map(|(p, o)| ((topic.to_string(), p), o))
        .collect()
}

/// Where `tool` and `control` disagree: a partition one lacks, or another offset.
fn differences(tool: &Offsets, control: &Offsets) -> Vec<String> {
    let mut keys: Vec<&(String, u32)> = tool.keys().chain(control.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| tool.get(*k) != control.get(*k))
        .map(|(t, p)| {
            format!(
                "{t}:{p}: GetOffsetShell {:?}, control client {:?}",
                tool.get(&(t.clone(), *p)),
                control.get(&(t.clone(), *p))
            )
        })
        .collect()
}

fn assert_same(what: &str, tool: &Offsets, control: &Offsets) {
    assert!(
        !control.is_empty(),
        "{what}: the control client answered nothing"
    );
    let d = differences(tool, control);
    assert!(d.is_empty(), "{what}: {d:#?}");
}

fn only(offsets: &Offsets, keep: &[(&str, u32)]) -> Offsets {
    offsets
        .iter()
        .filter(|((t, p), _)| keep.contains(&(t.as_str(), *p)))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

async fn offsets_agree(ctx: TestContext, mode: Mode, version: KafkaVersion) {
    let cluster = start_kafka(&ctx, mode, 1, version).await.unwrap();
    let kafka = cluster.kafka;
    for (topic, partitions) in [(A, 2), (B, 3)] {
        kafka
            .create_topic(
                &TopicSpec::new(topic)
                    .partitions(partitions)
                    .replication_factor(1),
            )
            .await
            .unwrap();
    }
    assert_eq!(produce_acked(&kafka, A, 100, 1).await.unwrap().len(), 100);
    assert_eq!(produce_acked(&kafka, B, 40, 1).await.unwrap().len(), 40);
    let first = keyed(A, kafka.end_offsets(A).await.unwrap());
    // Every record so far was created before this instant, every later one after it.
    let at = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
        + 1;
    assert_eq!(produce_acked(&kafka, A, 50, 2).await.unwrap().len(), 50);

    // Latest, by topic name: every partition, and 150 records in all.
    let ends_a = keyed(A, kafka.end_offsets(A).await.unwrap());
    let ends_b = keyed(B, kafka.end_offsets(B).await.unwrap());
    let latest_a = shell(&kafka, &["--topic", A]).await;
    assert_same("latest offsets of a", &latest_a, &ends_a);
    assert_eq!(latest_a.values().sum::<i64>(), 150);

    // By time: the first record at or after `at` is where the second batch starts.
    let by_time = shell(&kafka, &["--topic", A, "--time", &at.to_string()]).await;
    let control = keyed(A, kafka.offsets_for_time(A, at).await.unwrap());
    assert_same("offsets of a by time", &by_time, &control);
    // A partition the second batch did not reach has no record that late: no line at all.
    let reached: Offsets = first
        .iter()
        .filter(|(k, end)| ends_a.get(*k) != Some(*end))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_same(
        "offsets of a by time, against the ends before the second batch",
        &by_time,
        &reached,
    );
    let earliest = shell(&kafka, &["--topic", A, "--time", "-2"]).await;
    assert_same(
        "earliest offsets of a",
        &earliest,
        &ends_a.keys().map(|k| (k.clone(), 0)).collect(),
    );

    // Filters: a pattern, --partitions, --topic-partitions with a list and a range.
    let both: Offsets = ends_a
        .iter()
        .chain(&ends_b)
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    let pattern = shell(&kafka, &["--topic", "offset-shell-.*"]).await;
    assert_same("latest offsets of the pattern", &pattern, &both);
    let partition_1 = shell(&kafka, &["--topic", A, "--partitions", "1"]).await;
    assert_same("--partitions 1", &partition_1, &only(&ends_a, &[(A, 1)]));
    let listed = shell(&kafka, &["--topic-partitions", &format!("{A}:0,{B}:2")]).await;
    assert_same(
        "--topic-partitions a:0,b:2",
        &listed,
        &only(&both, &[(A, 0), (B, 2)]),
    );
    let upper = shell(&kafka, &["--topic-partitions", "offset-shell-.*:-1"]).await;
    assert_same(
        "--topic-partitions pattern:-1",
        &upper,
        &only(&both, &[(A, 0), (B, 0)]),
    );
    let lower = shell(&kafka, &["--topic-partitions", "offset-shell-.*:1-"]).await;
    assert_same(
        "--topic-partitions pattern:1-",
        &lower,
        &only(&both, &[(A, 1), (B, 1), (B, 2)]),
    );

    // Internal topics: a group lookup creates __consumer_offsets; the flag leaves it out.
    kafka
        .committed_offsets("offset-shell-group", A)
        .await
        .unwrap();
    let internal = |o: &Offsets| o.keys().any(|(t, _)| t == "__consumer_offsets");
    assert!(
        internal(&shell(&kafka, &[]).await),
        "__consumer_offsets not listed"
    );
    let excluded = shell(&kafka, &["--exclude-internal-topics"]).await;
    assert!(
        !internal(&excluded),
        "__consumer_offsets listed despite the flag"
    );
    assert_same("every topic but the internal ones", &excluded, &both);

    // The comparison bites: the tool's answer for a against the control client's for b.
    let wrong = differences(&latest_a, &ends_b);
    assert_eq!(wrong.len(), 5, "{wrong:#?}");
    assert!(
        wrong[0].starts_with("offset-shell-a:0: GetOffsetShell Some("),
        "{wrong:#?}"
    );
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn get_offset_shell_agrees_with_the_control_client(ctx: TestContext) {
    offsets_agree(ctx, Mode::Kraft, KafkaVersion::DEFAULT).await;
}

#[rstest]
#[case::zookeeper(Mode::Zookeeper, KafkaVersion::V3_9)]
#[case::kafka_4(Mode::Kraft, KafkaVersion::V4)]
#[tokio::test]
#[serial(heavy)]
#[ignore = "the other quorum and Kafka 4, ≈ 40 s each; run with --ignored get_offset_shell_matrix"]
async fn get_offset_shell_matrix(
    ctx: TestContext,
    #[case] mode: Mode,
    #[case] version: KafkaVersion,
) {
    offsets_agree(ctx, mode, version).await;
}
