//! Kafka's native perf tools against the same workload through a REST proxy (kafka-pixy),
//! ported from the seed's `native_vs_rest`: 1 ZooKeeper, 1 broker, 1 pixy and a client node;
//! a 6-partition RF1 topic; N × 100 B produced by `ProducerPerformance`, then through pixy by
//! our REST producer (`rest-perf`); consumed by `ConsumerPerformance`, then through pixy.
//! One side-by-side table, recorded in summary.json, with pixy's CPU and the REST client's
//! so it shows which of them saturates first.
//!
//! `native_vs_rest` is `#[ignore]`d (`cargo test native_vs_rest -- --ignored`; N from
//! `DUCTTAPE_NATIVE_VS_REST_RECORDS`, the seed's 50,000,000 included). The CI-sized tests here
//! run the REST workers for a few thousand records and check them against a native count, and
//! show a failing REST worker failing `wait()` with its output.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ducttape_services::perf::RestPerfStats;
use ducttape_services::perf::{
    ConsumerPerformance, ProducerPerformance, RestConsumerPerformance, RestProducerPerformance,
};
use ducttape_services::{
    KafkaPixyService, KafkaService, Service, ServiceError, ServiceExt, TopicSpec, ZookeeperService,
};
use ducttape_tests::{ctx, pixy_builder, Node, TestContext};
use rstest::rstest;
use serde_json::json;
use serial_test::serial;

const PARTITIONS: u32 = 6;
const RECORD_SIZE: u32 = 100;
/// Requests the REST producer keeps in flight: synchronous produces wait for pixy's flush,
/// so throughput is bound by requests in flight (64 gave ≈ 7,000 records/s here, 256 twice that).
const PRODUCE_CONCURRENCY: u32 = 256;
/// Long polls the REST consumer keeps in flight: pixy answers HTTP 429 beyond its
/// `consumer.channel_buffer_size` per group (256 got thousands of them; 64 none).
const CONSUME_CONCURRENCY: u32 = 64;
/// The default N of `native_vs_rest`: a few minutes here.
const DEFAULT_RECORDS: u64 = 500_000;
/// Linux's USER_HZ: `/proc/<pid>/stat` counts CPU time in 1/100 s.
const USER_HZ: u64 = 100;

/// The REST perf client, copied to the nodes: `DUCTTAPE_REST_PERF` if set (e.g. the release
/// build, `target/release/rest-perf`, for measurements), else the one cargo built with this
/// package's tests.
fn rest_perf() -> PathBuf {
    std::env::var_os("DUCTTAPE_REST_PERF").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_rest-perf")),
        PathBuf::from,
    )
}

struct Setup {
    kafka: Arc<KafkaService>,
    pixy: Arc<KafkaPixyService>,
    client: Node,
}

/// ZooKeeper, one broker on it, one pixy and a client node, each on a node of its own.
async fn start(ctx: &TestContext) -> Setup {
    let mut nodes = ctx.lease(4).await.unwrap();
    let client = nodes.pop().unwrap();
    let zk = ZookeeperService::new(ctx, vec![nodes.remove(0)]).unwrap();
    zk.start().await.unwrap();
    let kafka = KafkaService::builder(vec![nodes.remove(0)])
        .zookeeper(&zk)
        .config("auto.create.topics.enable", false)
        .build(ctx)
        .unwrap();
    kafka.start().await.unwrap();
    let pixy = pixy_builder(nodes, &kafka, &zk).build(ctx).unwrap();
    pixy.start().await.unwrap();
    Setup {
        kafka,
        pixy,
        client,
    }
}

async fn create_topic(kafka: &KafkaService, topic: &str) {
    kafka
        .create_topic(&TopicSpec::new(topic).partitions(PARTITIONS))
        .await
        .unwrap();
}

/// How many records `topic` holds, by Kafka's own count: the sum of its partitions' end
/// offsets (nothing was deleted, so every log starts at 0).
async fn native_count(kafka: &KafkaService, topic: &str) -> u64 {
    let args: Vec<String> = [
        "--bootstrap-server",
        &kafka.bootstrap_servers(),
        "--topic",
        topic,
        "--time",
        "-1",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    let out = kafka
        .run_tool("org.apache.kafka.tools.GetOffsetShell", &args)
        .await
        .unwrap();
    out.lines()
        .map(|l| {
            l.rsplit(':')
                .next()
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or_else(|| panic!("not a GetOffsetShell line: {l:?}"))
        })
        .sum()
}

/// CPU seconds (user + system) of `pid` and every process below it on `node` so far: the
/// pid file may name the shell that started pixy rather than pixy itself.
async fn cpu_seconds(node: &Node, pid: u32) -> f64 {
    let stats = node
        .account()
        .ssh_output("cat /proc/[0-9]*/stat 2>/dev/null; true")
        .await
        .unwrap();
    // pid → (ppid, utime + stime in ticks); the command name may hold spaces.
    let procs: std::collections::BTreeMap<u32, (u32, u64)> = stats
        .lines()
        .filter_map(|l| {
            let (head, tail) = l.rsplit_once(')')?;
            let pid = head.split_whitespace().next()?.parse().ok()?;
            let f: Vec<&str> = tail.split_whitespace().collect();
            let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
            Some((pid, (f.get(1)?.parse().ok()?, ticks)))
        })
        .collect();
    assert!(
        procs.contains_key(&pid),
        "no process {pid} on {}",
        node.name()
    );
    let mut tree = vec![pid];
    let mut ticks = 0;
    while let Some(p) = tree.pop() {
        ticks += procs[&p].1;
        tree.extend(procs.iter().filter(|(_, v)| v.0 == p).map(|(k, _)| *k));
    }
    ticks as f64 / USER_HZ as f64
}

/// pixy's process on its node.
async fn pixy_pid(pixy: &KafkaPixyService) -> (Node, u32) {
    let node = pixy.nodes()[0].clone();
    let pids = pixy.pids(&node).await.unwrap();
    (node, pids[0])
}

/// A REST result is whole and self-consistent. A consumer's `records` must be its count of
/// distinct (partition, offset) read (`redelivered` present), not of answers, which a
/// redelivered record would pad.
fn assert_sane(stats: &RestPerfStats, windows: &[RestPerfStats], records: u64, mode: &str) {
    assert_eq!(stats.mode, mode, "{stats:?}");
    assert_eq!(stats.records, records, "{stats:?}");
    if mode == "consume" {
        assert!(
            stats.redelivered.is_some(),
            "a consumer counting answers, not distinct records: {stats:?}"
        );
    }
    assert_eq!(stats.bytes, records * u64::from(RECORD_SIZE), "{stats:?}");
    assert_eq!(stats.errors, 0, "{stats:?}");
    assert!(
        stats.records_per_sec > 0.0 && stats.mb_per_sec > 0.0,
        "{stats:?}"
    );
    assert!(
        0 < stats.p50_us
            && stats.p50_us <= stats.p95_us
            && stats.p95_us <= stats.p99_us
            && stats.p99_us <= stats.p999_us
            && stats.p999_us <= stats.max_us,
        "{stats:?}"
    );
    let expected = (stats.records as f64 / stats.elapsed_ms.max(1) as f64 * 1000.0).round();
    assert!(
        (stats.records_per_sec - expected).abs() <= expected * 0.01 + 1.0,
        "{stats:?}"
    );
    assert!(stats.cpu_ms.is_some(), "{stats:?}");
    let in_windows: u64 = windows.iter().map(|w| w.records).sum();
    assert!(in_windows <= records, "{windows:?}");
    // Windows every 200 ms: a run this long printed some.
    if stats.elapsed_ms > 1000 {
        assert!(
            !windows.is_empty(),
            "no window lines in {} ms",
            stats.elapsed_ms
        );
    }
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn rest_perf_workers_produce_and_consume_every_record(ctx: TestContext) {
    let s = start(&ctx).await;
    create_topic(&s.kafka, "rest-perf").await;
    let records = 3_000;
    let producer = RestProducerPerformance::builder(
        vec![s.client.clone()],
        &*s.pixy,
        rest_perf(),
        "rest-perf",
        records,
        RECORD_SIZE,
    )
    .concurrency(8)
    .report_interval(Duration::from_millis(200))
    .build(&ctx)
    .unwrap();
    producer.run().await.unwrap();
    let produced = producer.aggregate().unwrap();
    assert_sane(&produced, &producer.stats()[0], records, "produce");
    assert_eq!(native_count(&s.kafka, "rest-perf").await, records);

    // At a target rate and with asynchronous acks: latency from the intended send times.
    let paced = RestProducerPerformance::builder(
        vec![s.client.clone()],
        &*s.pixy,
        rest_perf(),
        "rest-perf",
        1_000,
        RECORD_SIZE,
    )
    .sync_acks(false)
    .rate(2_000)
    .report_interval(Duration::from_millis(200))
    .name("rest-producer-paced")
    .build(&ctx)
    .unwrap();
    paced.run().await.unwrap();
    let p = paced.aggregate().unwrap();
    assert_sane(&p, &paced.stats()[0], 1_000, "produce");
    assert!(
        p.elapsed_ms >= 450,
        "1,000 records at 2,000/s took {} ms",
        p.elapsed_ms
    );
    // pixy acknowledged them before Kafka did: wait for them to land.
    let total = records + 1_000;
    let landed = ducttape_core::wait_until(
        "every record pixy queued is in Kafka",
        Duration::from_secs(30),
        Duration::from_millis(500),
        || async {
            Ok::<_, std::convert::Infallible>(native_count(&s.kafka, "rest-perf").await >= total)
        },
    )
    .await;
    let count = native_count(&s.kafka, "rest-perf").await;
    assert!(landed.is_ok(), "{count} of {total} records in Kafka");
    assert_eq!(count, total);

    let consumer = RestConsumerPerformance::builder(
        vec![s.client.clone()],
        &*s.pixy,
        rest_perf(),
        "rest-perf",
        total,
        "g",
    )
    .concurrency(8)
    .report_interval(Duration::from_millis(200))
    .build(&ctx)
    .unwrap();
    consumer.run().await.unwrap();
    let consumed = consumer.aggregate().unwrap();
    assert_sane(&consumed, &consumer.stats()[0], total, "consume");

    // A record asked for that the topic does not hold: the consumer reads every record there
    // is, each once, and fails naming the shortfall in distinct records.
    let short = RestConsumerPerformance::builder(
        vec![s.client.clone()],
        &*s.pixy,
        rest_perf(),
        "rest-perf",
        total + 1,
        "g-short",
    )
    .concurrency(8)
    .idle_timeout(Duration::from_secs(3))
    .report_interval(Duration::from_millis(200))
    .name("rest-consumer-short")
    .build(&ctx)
    .unwrap();
    short.start().await.unwrap();
    let err = short.wait().await.unwrap_err();
    match &err {
        ServiceError::WorkerFailed { log_tail, .. } => assert!(
            log_tail.contains(&format!(
                "only {total} of {} records read (distinct",
                total + 1
            )),
            "{err}"
        ),
        other => panic!("expected WorkerFailed, got {other}"),
    }
    let r = short.aggregate().unwrap();
    assert_eq!((r.records, r.errors), (total, 0), "{r:?}");
    assert!(r.redelivered.is_some(), "{r:?}");
    ctx.record(
        "rest_perf",
        json!({ "produce": produced, "paced_async": p, "consume": consumed, "short": r }),
    );
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn a_rest_worker_against_a_dead_proxy_fails_wait_with_its_output(ctx: TestContext) {
    // pixy is built, never started: its port refuses connections.
    let mut nodes = ctx.lease(3).await.unwrap();
    let client = nodes.pop().unwrap();
    let zk = ZookeeperService::new(&ctx, vec![nodes.remove(0)]).unwrap();
    let pixy = KafkaPixyService::builder(nodes)
        .seed_brokers(["127.0.0.1:9092"])
        .zookeeper(&zk)
        .build(&ctx)
        .unwrap();
    let producer =
        RestProducerPerformance::builder(vec![client], &*pixy, rest_perf(), "t", 100, RECORD_SIZE)
            .concurrency(2)
            .build(&ctx)
            .unwrap();
    producer.start().await.unwrap();
    let err = producer.wait().await.unwrap_err();
    let text = err.to_string();
    match &err {
        ServiceError::WorkerFailed {
            detail, log_tail, ..
        } => {
            assert_eq!(detail, "exited with status 1", "{text}");
            assert!(log_tail.contains("rest-perf error POST http://"), "{text}");
            assert!(
                log_tail.contains("only 0 of 100 records acknowledged"),
                "{text}"
            );
        }
        other => panic!("expected WorkerFailed, got {other}"),
    }
    // Its result line was still read: every request failed.
    let result = producer.aggregate().unwrap();
    assert_eq!((result.records, result.errors), (0, 100), "{result:?}");
}

/// CPU over one REST phase, as cores busy over the client's run (CPU seconds ÷ its wall
/// seconds): pixy's process tree, read from `/proc` on its node before and after the phase,
/// and the client's own, which it reports at its end. `client_over_pixy` is the benchmark's
/// goal in one number: well below 1, the proxy saturates before the client does.
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct PhaseCpu {
    wall_s: f64,
    pixy_cpu_s: f64,
    client_cpu_s: f64,
    pixy_cores: f64,
    client_cores: f64,
    client_over_pixy: f64,
    pixy_us_per_record: f64,
    client_us_per_record: f64,
}

impl PhaseCpu {
    fn new(pixy_cpu_s: f64, rest: &RestPerfStats) -> Self {
        let wall_s = rest.elapsed_ms.max(1) as f64 / 1000.0;
        let client_cpu_s = rest.cpu_ms.unwrap_or(0) as f64 / 1000.0;
        let per_record = |cpu_s: f64| cpu_s * 1e6 / rest.records.max(1) as f64;
        Self {
            wall_s,
            pixy_cpu_s,
            client_cpu_s,
            pixy_cores: pixy_cpu_s / wall_s,
            client_cores: client_cpu_s / wall_s,
            client_over_pixy: if pixy_cpu_s > 0.0 {
                client_cpu_s / pixy_cpu_s
            } else {
                f64::NAN
            },
            pixy_us_per_record: per_record(pixy_cpu_s),
            client_us_per_record: per_record(client_cpu_s),
        }
    }
}

/// One row of the table.
struct Row {
    what: &'static str,
    records_per_sec: f64,
    mb_per_sec: f64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
}

fn ratio(rest: Option<f64>, native: Option<f64>) -> String {
    match (rest, native) {
        (Some(r), Some(n)) if n > 0.0 => format!("{:.3}", r / n),
        _ => "-".into(),
    }
}

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

/// The side-by-side table: native, REST and REST ÷ native per direction, then the CPU of
/// pixy and of our client over the REST phase.
fn table(rows: &[(Row, Row, PhaseCpu)]) -> String {
    let mut out = format!(
        "{:<8} {:>12} {:>12} {:>8} | {:>12} {:>8} {:>8} {:>8} | {:>9} {:>9} {:>9} {:>9} | {:>10} {:>12} {:>13}\n",
        "",
        "native r/s",
        "native MB/s",
        "p50/p99",
        "REST r/s",
        "MB/s",
        "p50 ms",
        "p99 ms",
        "r/s ÷",
        "MB/s ÷",
        "p50 ÷",
        "p99 ÷",
        "pixy cores",
        "client cores",
        "client ÷ pixy"
    );
    for (native, rest, cpu) in rows {
        out.push_str(&format!(
            "{:<8} {:>12.0} {:>12.2} {:>8} | {:>12.0} {:>8.2} {:>8} {:>8} | {:>9} {:>9} {:>9} {:>9} | {:>10.2} {:>12.2} {:>13.2}\n",
            native.what,
            native.records_per_sec,
            native.mb_per_sec,
            format!("{}/{}", cell(native.p50_ms), cell(native.p99_ms)),
            rest.records_per_sec,
            rest.mb_per_sec,
            cell(rest.p50_ms),
            cell(rest.p99_ms),
            ratio(Some(rest.records_per_sec), Some(native.records_per_sec)),
            ratio(Some(rest.mb_per_sec), Some(native.mb_per_sec)),
            ratio(rest.p50_ms, native.p50_ms),
            ratio(rest.p99_ms, native.p99_ms),
            cpu.pixy_cores,
            cpu.client_cores,
            cpu.client_over_pixy,
        ));
    }
    out
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
#[ignore = "minutes long: cargo test native_vs_rest -- --ignored"]
async fn native_vs_rest(ctx: TestContext) {
    if std::env::var_os("DUCTTAPE_REST_PERF").is_none() {
        eprintln!(
            "native_vs_rest: rest-perf is the debug build, ≈ 5× the CPU per request of the release one and \
             likely the bottleneck; for numbers: cargo build --release -p ducttape-tests --bin \
             rest-perf and DUCTTAPE_REST_PERF=target/release/rest-perf"
        );
    }
    let records: u64 = std::env::var("DUCTTAPE_NATIVE_VS_REST_RECORDS")
        .ok()
        .map(|v| {
            v.parse()
                .expect("DUCTTAPE_NATIVE_VS_REST_RECORDS: a number")
        })
        .unwrap_or(DEFAULT_RECORDS);
    let s = start(&ctx).await;
    create_topic(&s.kafka, "native").await;
    create_topic(&s.kafka, "rest").await;
    let clients = vec![s.client.clone()];
    let (pixy_node, pid) = pixy_pid(&s.pixy).await;

    let native_producer =
        ProducerPerformance::builder(clients.clone(), &s.kafka, "native", records, RECORD_SIZE)
            .build(&ctx)
            .unwrap();
    native_producer.run().await.unwrap();
    let np = native_producer.aggregate().unwrap();

    let before = cpu_seconds(&pixy_node, pid).await;
    let rest_producer = RestProducerPerformance::builder(
        clients.clone(),
        &*s.pixy,
        rest_perf(),
        "rest",
        records,
        RECORD_SIZE,
    )
    .concurrency(PRODUCE_CONCURRENCY)
    .build(&ctx)
    .unwrap();
    rest_producer.run().await.unwrap();
    let pixy_produce_cpu = cpu_seconds(&pixy_node, pid).await - before;
    let rp = rest_producer.aggregate().unwrap();
    assert_eq!(rp.records, records);
    assert_eq!(native_count(&s.kafka, "rest").await, records);

    let native_consumer =
        ConsumerPerformance::builder(clients.clone(), &s.kafka, "native", records)
            .build(&ctx)
            .unwrap();
    native_consumer.run().await.unwrap();
    let nc = native_consumer.aggregate().unwrap();

    let before = cpu_seconds(&pixy_node, pid).await;
    let rest_consumer = RestConsumerPerformance::builder(
        clients,
        &*s.pixy,
        rest_perf(),
        "rest",
        records,
        "rest-perf",
    )
    .concurrency(CONSUME_CONCURRENCY)
    .build(&ctx)
    .unwrap();
    rest_consumer.run().await.unwrap();
    let pixy_consume_cpu = cpu_seconds(&pixy_node, pid).await - before;
    let rc = rest_consumer.aggregate().unwrap();
    // Distinct (partition, offset) read, and the topic holds `records` (above): every record.
    assert_eq!(rc.records, records, "{rc:?}");
    assert!(rc.redelivered.is_some(), "{rc:?}");

    let ms = |us: u64| Some(us as f64 / 1000.0);
    let produce_cpu = PhaseCpu::new(pixy_produce_cpu, &rp);
    let consume_cpu = PhaseCpu::new(pixy_consume_cpu, &rc);
    let rows = [
        (
            Row {
                what: "produce",
                records_per_sec: np.records_per_sec,
                mb_per_sec: np.mb_per_sec,
                p50_ms: Some(np.p50_ms),
                p99_ms: Some(np.p99_ms),
            },
            Row {
                what: "produce",
                records_per_sec: rp.records_per_sec,
                mb_per_sec: rp.mb_per_sec,
                p50_ms: ms(rp.p50_us),
                p99_ms: ms(rp.p99_us),
            },
            produce_cpu,
        ),
        (
            Row {
                what: "consume",
                records_per_sec: nc.records_per_sec,
                mb_per_sec: nc.mb_per_sec,
                p50_ms: None,
                p99_ms: None,
            },
            Row {
                what: "consume",
                records_per_sec: rc.records_per_sec,
                mb_per_sec: rc.mb_per_sec,
                p50_ms: ms(rc.p50_us),
                p99_ms: ms(rc.p99_us),
            },
            consume_cpu,
        ),
    ];
    let cpu = json!({ "produce": produce_cpu, "consume": consume_cpu });
    let printed = table(&rows);
    println!(
        "native_vs_rest: {records} records of {RECORD_SIZE} B, {PARTITIONS} partitions, RF 1, \
         REST producer with {PRODUCE_CONCURRENCY} connections (sync acks), REST consumer with \
         {CONSUME_CONCURRENCY}; rest-perf: {}\n{printed}CPU over the REST phases: {cpu}",
        rest_perf().display()
    );
    ctx.record("records", records);
    ctx.record("rest_perf_binary", rest_perf().display().to_string());
    ctx.record("table", printed);
    ctx.record("native", json!({ "produce": np, "consume": nc }));
    ctx.record("rest", json!({ "produce": rp, "consume": rc }));
    ctx.record(
        "rest_over_native",
        json!({
            "produce_records_per_sec": rp.records_per_sec / np.records_per_sec,
            "produce_p50": rp.p50_us as f64 / 1000.0 / np.p50_ms,
            "produce_p99": rp.p99_us as f64 / 1000.0 / np.p99_ms,
            "consume_records_per_sec": rc.records_per_sec / nc.records_per_sec,
        }),
    );
    ctx.record("cpu", cpu);
}
