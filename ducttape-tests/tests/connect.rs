//! Kafka Connect in distributed mode, after kafkatest's `connect_distributed_test`: lines
//! written to a file go through a FileStreamSource into a topic and out through a
//! FileStreamSink into files, and every line must arrive, first occurrences in order (one
//! partition). The file connectors are at-least-once: duplicates are counted and reported,
//! never called loss.
//!
//! As in kafkatest, the input is written to the same file on every worker (a source task may
//! run on, and move to, any worker; its offset is a position in that file), and the output is
//! the union of the sink's files on every worker.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ducttape_core::wait_until;
use ducttape_services::connect::{connect_message, ConnectClient, ConnectorStatus};
use ducttape_services::{
    ConnectDistributedService, KafkaService, KafkaVersion, RestError, Service, ServiceExt,
    StopOutcome, TopicSpec,
};
use ducttape_tests::{ctx, start_kafka, Mode, Node, TestContext};
use rstest::rstest;
use serial_test::serial;

const TOPIC: &str = "lines";

fn input_path() -> String {
    format!("{}/input.txt", ConnectDistributedService::DATA_DIR)
}

fn output_path() -> String {
    format!("{}/output.txt", ConnectDistributedService::DATA_DIR)
}

/// Line `n` of the input.
fn line(n: usize) -> String {
    format!("line-{n:06}")
}

/// What arrived at the sink, checked against what was written.
#[derive(Debug, Default, PartialEq, Eq)]
struct LineReport {
    /// Lines written that reached no output file.
    missing: Vec<String>,
    /// Lines in an output file that were never written.
    unexpected: Vec<String>,
    /// Extra copies of lines (at-least-once delivery), over every output file.
    duplicates: usize,
    /// `(file index, line)`: a line whose first occurrence in its file comes after the first
    /// occurrence of a line written later.
    out_of_order: Vec<(usize, String)>,
}

impl LineReport {
    fn is_ok(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.out_of_order.is_empty()
    }
}

/// Checks the sink's output files against the lines written, in order. A sink task that moved
/// between workers writes part of the stream to each file; each file on its own must keep the
/// order of first occurrences (a replay after a restart repeats earlier lines: duplicates).
fn check_lines(written: &[String], outputs: &[Vec<String>]) -> LineReport {
    let position: HashMap<&str, usize> = written
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i))
        .collect();
    let mut report = LineReport::default();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (file, lines) in outputs.iter().enumerate() {
        let mut first_in_file = std::collections::HashSet::new();
        let mut last_first: Option<usize> = None;
        for l in lines {
            *seen.entry(l.as_str()).or_default() += 1;
            let Some(&pos) = position.get(l.as_str()) else {
                report.unexpected.push(l.clone());
                continue;
            };
            if first_in_file.insert(pos) {
                if last_first.is_some_and(|last| pos < last) {
                    report.out_of_order.push((file, l.clone()));
                }
                last_first = Some(last_first.map_or(pos, |last| last.max(pos)));
            }
        }
    }
    for l in written {
        match seen.get(l.as_str()) {
            None => report.missing.push(l.clone()),
            Some(&n) => report.duplicates += n - 1,
        }
    }
    report
}

/// Appends `lines` to the input file on every worker node, all at once.
async fn append_input(nodes: &[Node], lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    let command = format!("cat >> {}", input_path());
    let appends = nodes.iter().map(|n| {
        let bytes = text.clone().into_bytes();
        let command = command.clone();
        async move {
            n.account()
                .ssh_with(&command, Some(bytes), Duration::from_secs(30))
                .await
                .unwrap_or_else(|e| panic!("cannot append input on {}: {e}", n.name()));
        }
    });
    futures::future::join_all(appends).await;
}

/// The sink's output file of every worker node (empty where it has none).
async fn read_outputs(nodes: &[Node]) -> Vec<Vec<String>> {
    let command = format!("cat {} 2>/dev/null; true", output_path());
    let mut outputs = Vec::new();
    for n in nodes {
        let text = n
            .account()
            .ssh_output(&command)
            .await
            .unwrap_or_else(|e| panic!("cannot read the output on {}: {e}", n.name()));
        outputs.push(text.lines().map(str::to_string).collect());
    }
    outputs
}

/// How many distinct written lines have arrived.
async fn arrived(nodes: &[Node], written: &[String]) -> usize {
    let report = check_lines(written, &read_outputs(nodes).await);
    written.len() - report.missing.len()
}

/// Waits until every line of `written` is in some output file; returns the report.
async fn wait_for_all(nodes: &[Node], written: &[String], timeout: Duration) -> LineReport {
    let waited = wait_until(
        "every written line is in a sink file",
        timeout,
        Duration::from_millis(500),
        || async {
            Ok::<_, std::convert::Infallible>(arrived(nodes, written).await == written.len())
        },
    )
    .await;
    let report = check_lines(written, &read_outputs(nodes).await);
    if let Err(e) = waited {
        panic!(
            "{e}: {} of {} lines missing, e.g. {:?}",
            report.missing.len(),
            written.len(),
            report.missing.iter().take(5).collect::<Vec<_>>()
        );
    }
    report
}

fn source_config() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("connector.class".into(), "FileStreamSource".into()),
        ("tasks.max".into(), "1".into()),
        ("file".into(), input_path()),
        ("topic".into(), TOPIC.into()),
    ])
}

fn sink_config() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("connector.class".into(), "FileStreamSink".into()),
        ("tasks.max".into(), "1".into()),
        ("file".into(), output_path()),
        ("topics".into(), TOPIC.into()),
    ])
}

/// Waits until connector `name` and all its tasks report `state` (asking any worker in
/// `clients` that answers); returns the last status.
async fn wait_for_state(
    clients: &[ConnectClient],
    name: &str,
    state: &str,
    timeout: Duration,
) -> ConnectorStatus {
    let what = format!("connector {name} and its tasks are {state}");
    wait_until(&what, timeout, Duration::from_millis(500), || async {
        let mut error = None;
        for client in clients {
            match client.status(name).await {
                Ok(s) if s.all_in(state) => return Ok(Some(s)),
                Ok(s) => error = Some(format!("{s:?}")),
                Err(e) => error = Some(e.to_string()),
            }
        }
        Err(error.unwrap_or_else(|| "no worker to ask".to_string()))
    })
    .await
    .unwrap()
}

/// Creates a connector, retrying while the workers rebalance (Connect answers 409 then).
async fn create(client: &ConnectClient, name: &str, config: &BTreeMap<String, String>) {
    wait_until(
        &format!("connector {name} is created"),
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            match client.create(name, config).await {
                Ok(()) => Ok(true),
                Err(e) if e.status() == Some(409) => Err(e),
                Err(e) => panic!("creating {name}: {e}"),
            }
        },
    )
    .await
    .unwrap();
}

/// One broker, the lines topic (one partition: one order), and `workers` Connect workers.
async fn start_connect(
    ctx: &TestContext,
    mode: Mode,
    version: KafkaVersion,
    workers: usize,
) -> (Arc<KafkaService>, Arc<ConnectDistributedService>) {
    let cluster = start_kafka(ctx, mode, 1, version).await.unwrap();
    let kafka = cluster.kafka;
    kafka
        .create_topic(&TopicSpec::new(TOPIC).partitions(1).replication_factor(1))
        .await
        .unwrap();
    let connect = ConnectDistributedService::builder(ctx.lease(workers).await.unwrap(), &kafka)
        .build(ctx)
        .unwrap();
    connect.start().await.unwrap();
    (kafka, connect)
}

fn clients(connect: &ConnectDistributedService) -> Vec<ConnectClient> {
    connect
        .nodes()
        .iter()
        .map(|n| connect.client(n).unwrap())
        .collect()
}

#[rstest]
#[case::zookeeper_3_9(Mode::Zookeeper, KafkaVersion::V3_9)]
#[case::kraft_3_9(Mode::Kraft, KafkaVersion::V3_9)]
#[case::kraft_4_4(Mode::Kraft, KafkaVersion::V4)]
#[tokio::test]
#[serial(heavy)]
async fn file_lines_flow_from_source_to_sink(
    ctx: TestContext,
    #[case] mode: Mode,
    #[case] version: KafkaVersion,
) {
    let (_kafka, connect) = start_connect(&ctx, mode, version, 2).await;
    let nodes = connect.nodes().to_vec();
    let clients = clients(&connect);

    let plugins = clients[0].plugins().await.unwrap();
    for class in [
        "org.apache.kafka.connect.file.FileStreamSourceConnector",
        "org.apache.kafka.connect.file.FileStreamSinkConnector",
    ] {
        assert!(
            plugins.iter().any(|p| p.class_name == class),
            "{class} not among the plugins: {plugins:?}"
        );
    }

    // Half before the connectors exist, half while they run.
    let written: Vec<String> = (0..400).map(line).collect();
    append_input(&nodes, &written[..200]).await;
    create(&clients[0], "source", &source_config()).await;
    create(&clients[1], "sink", &sink_config()).await;
    wait_for_state(&clients, "source", "RUNNING", Duration::from_secs(60)).await;
    wait_for_state(&clients, "sink", "RUNNING", Duration::from_secs(60)).await;
    append_input(&nodes, &written[200..]).await;

    let report = wait_for_all(&nodes, &written, Duration::from_secs(90)).await;
    assert!(report.is_ok(), "{report:?}");
    ctx.record("duplicates", report.duplicates as u64);
    tracing::info!(duplicates = report.duplicates, "every line arrived");
    // No JVM left: the context's teardown checks that the workers' stops stopped them.
}

/// Three workers; each bounced in turn (clean: SIGTERM; hard: SIGKILL) while lines are
/// appended all along. After every bounce both connectors must be RUNNING again (over REST)
/// and lines must keep arriving; at the end every line has arrived.
#[rstest]
#[case::clean(true)]
#[case::hard(false)]
#[tokio::test]
#[serial(heavy)]
async fn workers_bounced_while_lines_flow_lose_no_line(ctx: TestContext, #[case] clean: bool) {
    let (_kafka, connect) = start_connect(&ctx, Mode::Kraft, KafkaVersion::V3_9, 3).await;
    let nodes = connect.nodes().to_vec();
    let clients = clients(&connect);
    create(&clients[0], "source", &source_config()).await;
    create(&clients[0], "sink", &sink_config()).await;
    wait_for_state(&clients, "source", "RUNNING", Duration::from_secs(60)).await;
    wait_for_state(&clients, "sink", "RUNNING", Duration::from_secs(60)).await;

    // A feeder appends 20 lines to every worker's input every 100 ms until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicUsize::new(0));
    let feeder = {
        let (nodes, stop, count) = (nodes.clone(), stop.clone(), count.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let from = count.load(Ordering::SeqCst);
                let batch: Vec<String> = (from..from + 20).map(line).collect();
                append_input(&nodes, &batch).await;
                count.store(from + 20, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    for node in &nodes {
        let written: Vec<String> = (0..count.load(Ordering::SeqCst)).map(line).collect();
        let before = arrived(&nodes, &written).await;
        let ended = connect.restart_node(node, clean).await.unwrap();
        let expected = if clean {
            StopOutcome::Exited
        } else {
            StopOutcome::Killed
        };
        assert_eq!(ended, expected, "bouncing {}", node.name());
        wait_for_state(&clients, "source", "RUNNING", Duration::from_secs(90)).await;
        wait_for_state(&clients, "sink", "RUNNING", Duration::from_secs(90)).await;
        // Progress after the bounce: lines written after it arrive.
        let mark = count.load(Ordering::SeqCst) + 40;
        wait_until(
            &format!("lines written after bouncing {} arrive", node.name()),
            Duration::from_secs(90),
            Duration::from_millis(500),
            || async {
                let written: Vec<String> = (0..mark).map(line).collect();
                Ok::<_, std::convert::Infallible>(arrived(&nodes, &written).await == mark)
            },
        )
        .await
        .unwrap();
        tracing::info!(
            node = node.name(),
            before,
            mark,
            "flow resumed after the bounce"
        );
    }

    stop.store(true, Ordering::SeqCst);
    feeder.await.unwrap();
    let written: Vec<String> = (0..count.load(Ordering::SeqCst)).map(line).collect();
    let report = wait_for_all(&nodes, &written, Duration::from_secs(120)).await;
    assert!(report.is_ok(), "{report:?}");
    ctx.record("lines", written.len() as u64);
    ctx.record("duplicates", report.duplicates as u64);
    tracing::info!(
        lines = written.len(),
        duplicates = report.duplicates,
        "no line lost"
    );
    if clean {
        // Workers that shut down on SIGTERM committed their source offsets first: nothing
        // is read twice.
        assert_eq!(report.duplicates, 0, "{report:?}");
    }
}

/// Pausing the source stops the flow (lines appended while it is paused do not arrive within
/// a window in which unpaused lines arrived), resuming restarts it; a sink deleted halfway
/// loses the lines after it, and the line check names them (the check failing on a real
/// broken pipeline); bad configs are refused with Connect's own message.
#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn pause_resume_delete_and_bad_configs(ctx: TestContext) {
    let (_kafka, connect) = start_connect(&ctx, Mode::Kraft, KafkaVersion::V3_9, 1).await;
    let nodes = connect.nodes().to_vec();
    let clients = clients(&connect);
    let client = &clients[0];

    // Bad configs: a source without a topic, an unknown class.
    let mut no_topic = source_config();
    no_topic.remove("topic");
    let e = client.create("bad", &no_topic).await.unwrap_err();
    assert_eq!(e.status(), Some(400), "{e}");
    let message = connect_message(&e).unwrap_or_default();
    assert!(
        message.contains("topic") && message.contains("invalid"),
        "Connect's message should name the missing config: {e}"
    );
    let mut unknown = source_config();
    unknown.insert("connector.class".into(), "NoSuchConnector".into());
    let e = client.create("bad", &unknown).await.unwrap_err();
    assert!(matches!(e, RestError::Status { .. }), "{e}");
    let message = connect_message(&e).unwrap_or_default();
    assert!(message.contains("NoSuchConnector"), "{e}");
    assert!(client.connectors().await.unwrap().is_empty());

    create(client, "source", &source_config()).await;
    create(client, "sink", &sink_config()).await;
    wait_for_state(&clients, "source", "RUNNING", Duration::from_secs(60)).await;
    wait_for_state(&clients, "sink", "RUNNING", Duration::from_secs(60)).await;

    // Flowing: 100 lines arrive; time how long that takes, as the window for "nothing came".
    let started = std::time::Instant::now();
    let first: Vec<String> = (0..100).map(line).collect();
    append_input(&nodes, &first).await;
    wait_for_all(&nodes, &first, Duration::from_secs(60)).await;
    let flow_time = started.elapsed();

    // Paused: lines appended now stay out of the sink for a window well beyond the time
    // unpaused lines took to arrive.
    client.pause("source").await.unwrap();
    wait_for_state(&clients, "source", "PAUSED", Duration::from_secs(30)).await;
    let second: Vec<String> = (0..200).map(line).collect();
    append_input(&nodes, &second[100..]).await;
    let window = (flow_time * 3).max(Duration::from_secs(5));
    tokio::time::sleep(window).await; // an observation window, not a readiness wait
    assert_eq!(
        arrived(&nodes, &second).await,
        100,
        "lines arrived while the source was paused ({window:?} window)"
    );

    client.resume("source").await.unwrap();
    wait_for_state(&clients, "source", "RUNNING", Duration::from_secs(30)).await;
    let report = wait_for_all(&nodes, &second, Duration::from_secs(60)).await;
    assert!(report.is_ok(), "{report:?}");

    // Restart over REST: the pipeline still runs afterwards.
    client.restart("sink").await.unwrap();
    wait_for_state(&clients, "sink", "RUNNING", Duration::from_secs(60)).await;

    // A sink deleted halfway: what is written afterwards never arrives, and the check says so.
    client.delete("sink").await.unwrap();
    wait_until(
        "the sink is gone",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            client
                .connectors()
                .await
                .map(|c| !c.contains(&"sink".to_string()))
        },
    )
    .await
    .unwrap();
    let third: Vec<String> = (0..250).map(line).collect();
    append_input(&nodes, &third[200..]).await;
    tokio::time::sleep(window).await; // an observation window, not a readiness wait
    let report = check_lines(&third, &read_outputs(&nodes).await);
    assert!(!report.is_ok(), "the check missed the lost lines");
    assert_eq!(report.missing, third[200..].to_vec());
}

#[test]
fn the_line_check_names_missing_unexpected_and_reordered_lines() {
    let written: Vec<String> = (0..6).map(line).collect();
    let all = vec![written.clone()];
    assert!(check_lines(&written, &all).is_ok());

    // A replay after a restart: duplicates, not loss, order of first occurrences kept.
    let replay = vec![vec![
        line(0),
        line(1),
        line(2),
        line(1),
        line(2),
        line(3),
        line(4),
        line(5),
    ]];
    let r = check_lines(&written, &replay);
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(r.duplicates, 2);

    // Split over two workers' files, each in order.
    let split = vec![
        vec![line(0), line(1), line(2)],
        vec![line(2), line(3), line(4), line(5)],
    ];
    assert!(check_lines(&written, &split).is_ok());

    let lost = vec![vec![line(0), line(1), line(3), line(4), line(5)]];
    assert_eq!(check_lines(&written, &lost).missing, vec![line(2)]);

    let reordered = vec![vec![line(0), line(2), line(1), line(3), line(4), line(5)]];
    assert_eq!(
        check_lines(&written, &reordered).out_of_order,
        vec![(0, line(1))]
    );

    let foreign = vec![vec![
        line(0),
        line(1),
        line(2),
        line(3),
        line(4),
        line(5),
        "x".into(),
    ]];
    assert_eq!(
        check_lines(&written, &foreign).unexpected,
        vec!["x".to_string()]
    );
}
