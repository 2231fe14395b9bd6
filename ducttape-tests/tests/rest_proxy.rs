//! kafka-pixy, the REST proxy, against real Kafka clusters: every record produced through the
//! proxy (value, key and a header) is read back byte for byte by Kafka's own console consumer,
//! at the partition and offset the proxy reported, and every record produced by Kafka's
//! console producer is read back through the proxy — in ZooKeeper mode and in KRaft mode
//! (Kafka 3.9, with a ZooKeeper node for pixy alone). On Kafka 4.4 producing works and
//! consuming is shown failing the way pixy fails there. Plus pixy's bad inputs.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ducttape_services::kafka_pixy::{Partitioner, PixyClient, RestRecord};
use ducttape_services::{
    KafkaPixyService, KafkaService, KafkaVersion, RestError, Service, ServiceError, ServiceExt,
    StopOutcome, TopicSpec, ZookeeperService,
};
use ducttape_tests::{consume_printed, ctx, pixy_builder, start_kafka, Mode, TestContext};
use futures::StreamExt;
use rstest::rstest;
use serial_test::serial;

/// Records each way: CI-sized.
const RECORDS: usize = 300;
const PARTITIONS: i32 = 3;
/// How long a clean stop of pixy waits after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A record as Kafka's console consumer printed it (or as we expect it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Rec {
    key: Vec<u8>,
    value: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
}

impl Rec {
    fn numbered(prefix: &str, i: usize) -> Self {
        // Multi-byte UTF-8, punctuation that needs escaping in a URL, and varying lengths.
        Rec {
            key: format!("{prefix}-key {i}/&=ü").into_bytes(),
            value: format!("{prefix}-value-{i}-€ß\u{1F980}-{}", "x".repeat(i % 97)).into_bytes(),
            headers: vec![(
                "Trace-Id".to_string(),
                format!("{prefix}-trace-{i}").into_bytes(),
            )],
        }
    }

    fn as_rest(&self) -> RestRecord {
        let mut r = RestRecord::new(self.value.clone()).key(self.key.clone());
        for (name, value) in &self.headers {
            r = r.header(name, value.clone());
        }
        r
    }

    /// A line for the console producer with `parse.key` and `parse.headers`.
    fn producer_line(&self) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(k, v)| format!("{k}:{}", String::from_utf8_lossy(v)))
            .collect();
        format!(
            "{}\t{}\t{}",
            headers.join(","),
            String::from_utf8_lossy(&self.key),
            String::from_utf8_lossy(&self.value)
        )
    }
}

/// Parses a console consumer line printed with `print.partition`, `print.offset`,
/// `print.headers` and `print.key` (in the order Kafka's DefaultMessageFormatter writes them):
/// `Partition:P\tOffset:O\tname:value,…\tkey\tvalue`.
fn parse_console_line(line: &str) -> Result<((i32, i64), Rec), String> {
    let f: Vec<&str> = line.splitn(5, '\t').collect();
    let [p, o, h, k, v] = f[..] else {
        return Err(format!("not 5 tab-separated fields: {line:?}"));
    };
    let partition = p
        .strip_prefix("Partition:")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("no partition in {line:?}"))?;
    let offset = o
        .strip_prefix("Offset:")
        .and_then(|o| o.parse().ok())
        .ok_or_else(|| format!("no offset in {line:?}"))?;
    let headers = if h == "NO_HEADERS" {
        Vec::new()
    } else {
        h.split(',')
            .map(|kv| {
                kv.split_once(':')
                    .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                    .ok_or_else(|| format!("bad header {kv:?} in {line:?}"))
            })
            .collect::<Result<_, _>>()?
    };
    Ok((
        (partition, offset),
        Rec {
            key: k.as_bytes().to_vec(),
            value: v.as_bytes().to_vec(),
            headers,
        },
    ))
}

/// What differs between the records the proxy acknowledged (at their partition and offset)
/// and what Kafka's consumer read: each problem names the place.
fn compare_at_offsets(
    acked: &BTreeMap<(i32, i64), Rec>,
    read: &BTreeMap<(i32, i64), Rec>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (at, want) in acked {
        match read.get(at) {
            None => problems.push(format!("{at:?}: acknowledged but not read: {want:?}")),
            Some(got) if got != want => {
                problems.push(format!("{at:?}: wrote {want:?}, read {got:?}"));
            }
            Some(_) => {}
        }
    }
    for (at, got) in read {
        if !acked.contains_key(at) {
            problems.push(format!("{at:?}: read but never acknowledged: {got:?}"));
        }
    }
    problems
}

/// What differs between two multisets of records (order across partitions is not kept).
fn compare_unordered(wrote: &[Rec], read: &[Rec]) -> Vec<String> {
    let (mut w, mut r) = (wrote.to_vec(), read.to_vec());
    w.sort();
    r.sort();
    let mut problems = Vec::new();
    for x in &w {
        if let Ok(i) = r.binary_search(x) {
            r.remove(i);
        } else {
            problems.push(format!("written, not read: {x:?}"));
        }
    }
    problems.extend(r.iter().map(|x| format!("read, never written: {x:?}")));
    problems
}

/// Reads `count` records of `topic` from the beginning with Kafka's console consumer, keyed by
/// partition and offset.
async fn consume_natively(
    kafka: &KafkaService,
    topic: &str,
    count: usize,
) -> BTreeMap<(i32, i64), Rec> {
    let fields = ["partition", "offset", "headers", "key"];
    let text = consume_printed(kafka, topic, count, &fields).await.unwrap();
    text.lines()
        .map(|l| parse_console_line(l).unwrap())
        .collect()
}

/// Every record pixy acknowledged is what Kafka's console consumer reads at that partition and
/// offset, and nothing else is there.
async fn assert_read_natively(
    kafka: &KafkaService,
    topic: &str,
    acked: &BTreeMap<(i32, i64), Rec>,
) {
    let read = consume_natively(kafka, topic, acked.len()).await;
    let problems = compare_at_offsets(acked, &read);
    assert!(
        problems.is_empty(),
        "{} problems: {problems:#?}",
        problems.len()
    );
}

/// Produces `records` with Kafka's console producer (acks=all, keys and headers parsed).
async fn produce_natively(kafka: &KafkaService, topic: &str, records: &[Rec]) {
    // The console producer moved from core to the tools jar in Kafka 4.
    let class = if kafka.version().supports_zookeeper() {
        "kafka.tools.ConsoleProducer"
    } else {
        "org.apache.kafka.tools.ConsoleProducer"
    };
    let input: String = records.iter().map(|r| r.producer_line() + "\n").collect();
    let node = &kafka.brokers()[0];
    let path = format!("/tmp/{topic}.input");
    node.account().create_file(&path, input).await.unwrap();
    let cmd = kafka
        .version()
        .tool(class)
        .args([
            "--bootstrap-server",
            &kafka.bootstrap_servers(),
            "--topic",
            topic,
            "--producer-property",
            "acks=all",
            "--property",
            "parse.key=true",
            "--property",
            "parse.headers=true",
        ])
        .render();
    node.account()
        .with_timeout(Duration::from_secs(180))
        .ssh(&format!("{cmd} < {path}"))
        .await
        .unwrap();
}

/// Produces every record through pixy (synchronously, 16 requests at a time); returns them
/// keyed by the partition and offset pixy reported.
async fn produce_through(
    client: &PixyClient,
    topic: &str,
    records: &[Rec],
) -> BTreeMap<(i32, i64), Rec> {
    let answers: Vec<_> = futures::stream::iter(records.iter().cloned())
        .map(|r| async move {
            let at = client.produce(topic, &r.as_rest()).await?;
            Ok::<_, RestError>(((at.partition, at.offset), r))
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let acked: BTreeMap<_, _> = answers.into_iter().map(Result::unwrap).collect();
    assert_eq!(acked.len(), records.len(), "one offset per record");
    acked
}

/// Reads `count` records of `topic` through pixy with a new group set to offset 0 first;
/// stops early after 3 long polls in a row without a record.
async fn consume_through(client: &PixyClient, topic: &str, group: &str, count: usize) -> Vec<Rec> {
    let zeros: Vec<(i32, i64)> = (0..PARTITIONS).map(|p| (p, 0)).collect();
    client.set_offsets(topic, group, &zeros).await.unwrap();
    let mut read = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut empty_polls = 0;
    while read.len() < count && empty_polls < 3 {
        match client.consume(topic, group).await.unwrap() {
            Some(c) => {
                empty_polls = 0;
                assert!(
                    seen.insert((c.partition, c.offset)),
                    "{topic}-{}@{} delivered twice",
                    c.partition,
                    c.offset
                );
                read.push(Rec {
                    key: c.key.unwrap_or_default(),
                    value: c.value.unwrap_or_default(),
                    headers: c.headers,
                });
            }
            None => empty_polls += 1,
        }
    }
    read
}

/// Whether pixy delivers to `group` records produced while the group polls: six rounds of one
/// record produced through pixy (`late-<i>`), then one long poll. A new group starts at the
/// newest offset once it has joined, so a record produced after that must come. `Ok` with the
/// first late record read; `Err` with what every poll answered.
async fn read_while_polling(
    client: &PixyClient,
    topic: &str,
    group: &str,
) -> Result<Rec, Vec<String>> {
    let late: Vec<Rec> = (0..6).map(|i| Rec::numbered("late", i)).collect();
    let mut answers = Vec::new();
    for record in &late {
        produce_through(client, topic, std::slice::from_ref(record)).await;
        match client.consume(topic, group).await {
            Ok(Some(c)) => {
                let read = Rec {
                    key: c.key.unwrap_or_default(),
                    value: c.value.unwrap_or_default(),
                    headers: c.headers,
                };
                if late.contains(&read) {
                    return Ok(read);
                }
                answers.push(format!(
                    "{topic}-{}@{}: not a late record",
                    c.partition, c.offset
                ));
            }
            Ok(None) => answers.push("no record within the long poll (408)".into()),
            Err(e) => answers.push(e.to_string()),
        }
    }
    Err(answers)
}

/// Starts a ZooKeeper node, a 1-broker cluster (in ZooKeeper mode on that ZooKeeper, else
/// KRaft with the ZooKeeper for pixy alone) and one pixy on a node of its own. Brokers do not
/// create topics on first use, so a missing topic stays missing.
async fn start_with_pixy(
    ctx: &TestContext,
    mode: Mode,
    version: KafkaVersion,
) -> (Arc<KafkaService>, Arc<KafkaPixyService>) {
    let mut nodes = ctx.lease(3).await.unwrap();
    let zk = ZookeeperService::new(ctx, vec![nodes.remove(0)]);
    zk.start().await.unwrap();
    let kafka = KafkaService::builder(vec![nodes.remove(0)])
        .version(version)
        .config("auto.create.topics.enable", false);
    let kafka = match mode {
        Mode::Zookeeper => kafka.zookeeper(&zk),
        _ => kafka.kraft_combined(1),
    }
    .build(ctx)
    .unwrap();
    kafka.start().await.unwrap();
    let pixy = pixy_builder(nodes, &kafka, &zk)
        .partitioner(Partitioner::Hash)
        .stop_timeout(STOP_GRACE)
        .build(ctx)
        .unwrap();
    pixy.start().await.unwrap();
    (kafka, pixy)
}

async fn create_topic(kafka: &KafkaService, topic: &str) {
    kafka
        .create_topic(&TopicSpec::new(topic).partitions(PARTITIONS as u32))
        .await
        .unwrap();
}

#[rstest]
#[case::zookeeper(Mode::Zookeeper)]
#[case::kraft(Mode::Kraft)]
#[tokio::test]
#[serial(heavy)]
async fn records_cross_the_proxy_both_ways_byte_for_byte(ctx: TestContext, #[case] mode: Mode) {
    let (kafka, pixy) = start_with_pixy(&ctx, mode, KafkaVersion::V3_9).await;
    let node = pixy.nodes()[0].clone();
    let client = pixy.client(&node).unwrap();
    client.ping().await.unwrap();

    // Through pixy, read natively: same bytes at the partition and offset pixy reported. A
    // bounce of pixy halfway through (clean in ZooKeeper mode, hard in KRaft mode).
    create_topic(&kafka, "via-pixy").await;
    let records: Vec<Rec> = (0..RECORDS).map(|i| Rec::numbered("pixy", i)).collect();
    let (first, second) = records.split_at(RECORDS / 2);
    let mut acked = produce_through(&client, "via-pixy", first).await;
    let clean = mode == Mode::Zookeeper;
    let ended = pixy.restart_node(&node, clean).await.unwrap();
    // A clean bounce ended on SIGTERM, not in a kill after the grace.
    let expected = if clean {
        StopOutcome::Exited
    } else {
        StopOutcome::Killed
    };
    assert_eq!(ended, expected, "bouncing pixy on {}", node.name());
    acked.extend(produce_through(&client, "via-pixy", second).await);
    assert_eq!(acked.len(), RECORDS);
    assert_read_natively(&kafka, "via-pixy", &acked).await;

    // Natively produced, read through pixy.
    create_topic(&kafka, "native").await;
    let native: Vec<Rec> = (0..RECORDS).map(|i| Rec::numbered("native", i)).collect();
    produce_natively(&kafka, "native", &native).await;
    let through = consume_through(&client, "native", "g1", RECORDS).await;
    let problems = compare_unordered(&native, &through);
    assert!(
        problems.is_empty(),
        "{} problems: {problems:#?}",
        problems.len()
    );
    // Everything was read: nothing more for the group.
    assert_eq!(client.consume("native", "g1").await.unwrap(), None);
    // Records produced while the group polls come through: the check that Kafka 4.4's
    // "cannot consume" case relies on passes here.
    let late = read_while_polling(&client, "native", "g1").await;
    assert!(late.is_ok(), "pixy delivered no late record: {late:?}");
    // pixy commits what it delivered to Kafka (the check Kafka 4.4's case finds refused).
    ducttape_core::wait_until(
        "g1's offsets committed in Kafka",
        Duration::from_secs(30),
        Duration::from_millis(500),
        || async {
            let committed = kafka.committed_offsets("g1", "native").await?;
            Ok::<_, ServiceError>(
                committed
                    .values()
                    .any(|o| o.is_some_and(|o| o > 0))
                    .then_some(()),
            )
        },
    )
    .await
    .unwrap();

    // A topic that does not exist (the broker does not create topics on first use): the
    // errors carry the HTTP status, the request and pixy's body.
    let err = client
        .produce("no-such-topic", &RestRecord::new("v"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("POST http://") && msg.contains("/topics/no-such-topic/messages?sync"),
        "{msg}"
    );
    assert!(
        msg.contains("topic or partition that does not exist"),
        "{msg}"
    );
    let err = client.offsets("no-such-topic", "g1").await.unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
    assert!(err.to_string().contains("Unknown topic"), "{err}");

    // A clean stop that SIGTERM cannot finish (the process is frozen) escalates to SIGKILL.
    let pid = pixy.pids(&node).await.unwrap()[0];
    node.account()
        .ssh(&format!("kill -STOP {pid}"))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    pixy.stop_node(&node, true).await.unwrap();
    assert!(
        pixy.pids(&node).await.unwrap().is_empty(),
        "pixy still runs"
    );
    assert!(
        started.elapsed() >= STOP_GRACE,
        "SIGTERM first, SIGKILL after the grace"
    );
    println!(
        "{mode:?}: {RECORDS} records each way intact; a frozen pixy stopped in {:?}",
        started.elapsed()
    );
    ctx.record("records_each_way", RECORDS as u64);
    // No pixy nor JVM left: the context's teardown checks what the stops achieved.
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn on_kafka_4_pixy_reads_new_records_but_cannot_set_or_commit_offsets(ctx: TestContext) {
    let (kafka, pixy) = start_with_pixy(&ctx, Mode::Kraft, KafkaVersion::V4).await;
    let client = pixy.client(&pixy.nodes()[0]).unwrap();
    create_topic(&kafka, "via-pixy").await;
    let records: Vec<Rec> = (0..RECORDS).map(|i| Rec::numbered("pixy", i)).collect();
    let acked = produce_through(&client, "via-pixy", &records).await;
    assert_read_natively(&kafka, "via-pixy", &acked).await;

    // pixy's client sets and commits offsets with OffsetCommit v1, which Kafka 4 removed:
    // setting them fails, the broker saying why.
    let zeros: Vec<(i32, i64)> = (0..PARTITIONS).map(|p| (p, 0)).collect();
    let err = client
        .set_offsets("via-pixy", "g1", &zeros)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(500), "{err}");
    assert!(
        err.to_string().contains("EOF"),
        "the broker hangs up: {err}"
    );
    // Fetching still works: records produced while the group polls are delivered (from
    // the newest offset, where a group without offsets starts)…
    let broker_log = kafka.nodes()[0]
        .account()
        .monitor_log(&server_log(&kafka))
        .await
        .unwrap();
    let read = read_while_polling(&client, "via-pixy", "g1").await;
    let read = read.unwrap_or_else(|answers| panic!("pixy delivered nothing: {answers:?}"));
    println!(
        "pixy on Kafka 4.4 delivered {:?}",
        String::from_utf8_lossy(&read.value)
    );
    // …but their commit is refused (pixy commits every 500 ms): the broker logs the
    // unsupported OffsetCommit version after the read, and Kafka holds no offset for g1.
    broker_log
        .wait_until(
            r"OffsetCommit\) and unsupported version",
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    let committed = kafka.committed_offsets("g1", "via-pixy").await.unwrap();
    assert!(
        committed.values().all(Option::is_none),
        "pixy committed offsets on Kafka 4: {committed:?}; update docs/rest-proxy.md's Kafka 4.x paragraph and this test"
    );
    println!("Kafka 4.4: {RECORDS} records produced through pixy intact; offsets refused: {err}");
    ctx.record("set_offsets_on_kafka_4", err.to_string());
    // No pixy nor JVM left: the context's teardown checks what the stops achieved.
}

/// The broker's `server.log` path, as the service declares it.
fn server_log(kafka: &KafkaService) -> String {
    kafka
        .logs()
        .into_iter()
        .find(|l| l.name == "server.log")
        .map(|l| l.path)
        .unwrap()
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn pixy_missing_install_names_the_path_and_build_sh(ctx: TestContext) {
    let nodes = ctx.lease(1).await.unwrap();
    let zk = ZookeeperService::new(&ctx, nodes.clone()); // never started: not needed
    let pixy = KafkaPixyService::builder(nodes)
        .seed_brokers(["127.0.0.1:9092"])
        .zookeeper(&zk)
        .home("/opt/kafka-pixy-absent")
        .build(&ctx)
        .unwrap();
    let err = pixy.start().await.unwrap_err();
    assert!(matches!(err, ServiceError::MissingInstall { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("/opt/kafka-pixy-absent/bin/kafka-pixy"),
        "{msg}"
    );
    assert!(msg.contains("./build.sh"), "{msg}");
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn pixy_with_a_dead_broker_fails_start_with_its_log_tail(ctx: TestContext) {
    let mut nodes = ctx.lease(2).await.unwrap();
    let zk = ZookeeperService::new(&ctx, vec![nodes.remove(0)]);
    zk.start().await.unwrap();
    // Nothing listens on :9092 of the ZooKeeper node.
    let dead = format!("{}:9092", zk.nodes()[0].address());
    let pixy = KafkaPixyService::builder(nodes)
        .seed_brokers([dead.clone()])
        .zookeeper(&zk)
        .start_timeout(Duration::from_secs(60))
        .build(&ctx)
        .unwrap();
    let started = std::time::Instant::now();
    let err = pixy.start().await.unwrap_err();
    // Reported as dead with its log at once, not after the 60 s start timeout.
    assert!(started.elapsed() < Duration::from_secs(30), "{err}");
    assert!(matches!(err, ServiceError::Died { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("kafka-pixy.log (last lines)"), "{msg}");
    assert!(
        msg.contains(&format!("{dead}: connect: connection refused")),
        "{msg}"
    );
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn pixy_without_zookeeper_fails_start_with_its_log_tail(ctx: TestContext) {
    let cluster = start_kafka(&ctx, Mode::Kraft, 1, KafkaVersion::V3_9)
        .await
        .unwrap();
    let mut nodes = ctx.lease(2).await.unwrap();
    let zk = ZookeeperService::new(&ctx, vec![nodes.remove(0)]); // never started
    let pixy = KafkaPixyService::builder(nodes)
        .kafka(&cluster.kafka)
        .zookeeper(&zk)
        .start_timeout(Duration::from_secs(10))
        .build(&ctx)
        .unwrap();
    // pixy serves HTTP without ZooKeeper and retries quietly: the start waits for the session
    // and fails with the log tail that says why.
    let err = pixy.start().await.unwrap_err();
    assert!(matches!(err, ServiceError::NotReady { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("kafka-pixy.log (last lines)"), "{msg}");
    let zk_address = format!("{}:2181", zk.nodes()[0].address());
    assert!(
        msg.contains(&format!("Failed to connect to {zk_address}")),
        "{msg}"
    );
}

/// The checks above bite: a changed byte, a lost record, a record in the wrong place and an
/// extra record are each reported.
#[test]
fn the_byte_for_byte_checks_catch_broken_records() {
    let a = Rec::numbered("t", 1);
    let b = Rec::numbered("t", 2);
    let acked = BTreeMap::from([((0, 0), a.clone()), ((1, 0), b.clone())]);
    assert!(compare_at_offsets(&acked, &acked).is_empty());

    let mut flipped = b.clone();
    flipped.value[3] ^= 1;
    let read = BTreeMap::from([((0, 0), a.clone()), ((1, 0), flipped)]);
    let p = compare_at_offsets(&acked, &read);
    assert!(p.len() == 1 && p[0].starts_with("(1, 0): wrote"), "{p:?}");

    let mut header = b.clone();
    header.headers[0].0 = "trace-id".into();
    let read = BTreeMap::from([((0, 0), a.clone()), ((1, 0), header)]);
    assert_eq!(compare_at_offsets(&acked, &read).len(), 1);

    let read = BTreeMap::from([((0, 0), a.clone()), ((1, 1), b.clone())]);
    let p = compare_at_offsets(&acked, &read);
    assert_eq!(p.len(), 2, "lost at (1, 0) and extra at (1, 1): {p:?}");

    assert!(compare_unordered(&[a.clone(), b.clone()], &[b.clone(), a.clone()]).is_empty());
    let p = compare_unordered(&[a.clone(), b.clone()], &[a.clone(), a.clone()]);
    assert_eq!(p.len(), 2, "{p:?}");
}

#[test]
fn console_lines_parse_into_records() {
    let r = Rec::numbered("t", 7);
    let line = format!("Partition:2\tOffset:41\t{}", r.producer_line());
    assert_eq!(parse_console_line(&line).unwrap(), ((2, 41), r));
    let (_, bare) = parse_console_line("Partition:0\tOffset:0\tNO_HEADERS\tk\tv").unwrap();
    assert!(bare.headers.is_empty());
    assert!(parse_console_line("k\tv").is_err());
}
