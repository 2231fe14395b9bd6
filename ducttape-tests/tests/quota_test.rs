#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! kafkatest's `client/quota_test.py`: produce and consume byte-rate quotas are enforced.
//!
//! Quotas are set with Kafka's own `kafka-configs` (`producer_byte_rate`, `consumer_byte_rate`)
//! for a client id, by name or as the default, with a large quota on the other entity as
//! kafkatest sets it. Then `ProducerPerformance` writes 10 MB as that client and
//! `ConsumerPerformance` reads them back, both with `--print-metrics`, and for each:
//! - the run (the tool's own time: the producer's from its first send, the consumer's
//!   fetching) took at least `bytes ÷ quota − 10 s`: the broker measures a client's rate over
//!   its quota window (11 samples of 1 s; a rate is never taken over less than 10 s), so in
//!   `t` seconds it lets through at most `quota × (t + 10 s)` bytes (a lower bound on time,
//!   never an upper one);
//! - the throttle is in the client's own metrics: `produce-throttle-time-max` and
//!   `fetch-throttle-time-max` above zero;
//! - the throttle is in the broker's own metrics: its quota manager's `throttle-time` for the
//!   client (`kafka.server:type=Produce|Fetch,client-id=…`, scraped from its JMX exporter)
//!   above zero while that client ran;
//! - every record produced was consumed.
//!
//! Shown failing: the same workload as a client whose quota is 10× the one asserted runs
//! faster than the bound allows and is never throttled, and the check says both; the broker
//! reports that client's throttle time (so it knew the client) and never above zero.
//!
//! kafkatest's matrix: quota type (client-id, user, (user, client-id)) × overridden or
//! default, plus two consumers and pre-2.0 throttling. Here: client-id overridden (the default
//! run) and client-id default (`#[ignore]`d). Not ported: user and (user, client-id) quotas
//! (they need an authenticated principal: kafkatest's SSL listener), two consumers, and the
//! pre-2.0 throttling of Kafka 1.1.

use std::time::{Duration, Instant, SystemTime};

use ducttape_services::perf::{parse_consumer_output, parse_producer_output};
use ducttape_services::{KafkaService, KafkaVersion, TopicSpec};
use ducttape_tests::broker_views::{sample_brokers_now, throttled, ThrottleError};
use ducttape_tests::{ctx, start_kafka, Mode, TestContext};
use rstest::rstest;
use serial_test::serial;

const TOPIC: &str = "test_topic";
const RECORDS: u64 = 5_000;
const RECORD_SIZE: u64 = 2_000;
/// kafkatest's large quota, set on the entity the case does not test.
const LARGE: u64 = 1_000_000_000;
/// The quota asserted, bytes per second, produce and consume alike.
const QUOTA: u64 = 400_000;
/// Kafka's quota window: `quota.window.num` (11) − 1 samples of `quota.window.size.seconds`.
const WINDOW: Duration = Duration::from_secs(10);

/// Sets `producer_byte_rate` and `consumer_byte_rate` to `rate` for `clients` `name`
/// (`None`: the default client).
async fn set_client_quota(kafka: &KafkaService, name: Option<&str>, rate: u64) {
    let class = if kafka.version().supports_zookeeper() {
        "kafka.admin.ConfigCommand"
    } else {
        "org.apache.kafka.tools.ConfigCommand"
    };
    let mut args = vec![
        "--bootstrap-server".to_string(),
        kafka.bootstrap_servers(),
        "--alter".into(),
        "--add-config".into(),
        format!("producer_byte_rate={rate},consumer_byte_rate={rate}"),
        "--entity-type".into(),
        "clients".into(),
    ];
    match name {
        Some(n) => args.extend(["--entity-name".to_string(), n.to_string()]),
        None => args.push("--entity-default".into()),
    }
    kafka.run_admin_tool(class, &args).await.unwrap();
    // The broker applies quotas from its metadata: wait until it describes this one.
    let mut describe = args.clone();
    describe.retain(|a| a != "--alter" && a != "--add-config" && !a.starts_with("producer_byte"));
    describe.push("--describe".into());
    ducttape_core::wait_until(
        "the broker describes the quota",
        Duration::from_secs(30),
        Duration::from_millis(500),
        || async {
            let out = kafka.run_admin_tool(class, &describe).await?;
            // `… are consumer_byte_rate=500000.0, producer_byte_rate=1.0E9`
            let described = out
                .split("producer_byte_rate=")
                .nth(1)
                .and_then(|v| v.split([',', ' ', '\n']).next())
                .and_then(|v| v.trim().parse::<f64>().ok());
            Ok::<_, ducttape_services::ServiceError>(described == Some(rate as f64))
        },
    )
    .await
    .unwrap();
}

/// A metric's value from a Kafka tool's `--print-metrics` table: the line of
/// `group:name:{client-id=…}` followed by `: value`.
fn metric(output: &str, group_and_name: &str) -> Option<f64> {
    output
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{group_and_name}:")))
        .and_then(|l| l.rsplit(':').next())
        .and_then(|v| v.trim().parse().ok())
}

/// One client's run: how long it took, its throttle metric, what it moved.
#[derive(Debug)]
struct Run {
    /// The tool's own time (the producer's from its first send, the consumer's fetching),
    /// without the JVM's start, which on a loaded machine can exceed an unthrottled run.
    elapsed: Duration,
    /// The whole run, seen from the test.
    wall: Duration,
    throttle_max_ms: f64,
    records: u64,
}

/// The quota check: slower than the bound, and throttled by the broker's own account.
fn check_quota(what: &str, run: &Run, quota: u64) -> Result<(), String> {
    let bytes = run.records * RECORD_SIZE;
    let bound = Duration::from_secs_f64(bytes as f64 / quota as f64).saturating_sub(WINDOW);
    let mut wrong = Vec::new();
    if run.elapsed < bound {
        wrong.push(format!(
            "{what} moved {bytes} bytes in {:?} ({:?} with its JVM's start), faster than a quota of {quota} B/s allows (at least {bound:?})",
            run.elapsed, run.wall
        ));
    }
    if run.throttle_max_ms <= 0.0 {
        wrong.push(format!(
            "{what} was never throttled (throttle-time-max {})",
            run.throttle_max_ms
        ));
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join("; "))
    }
}

async fn produce(kafka: &KafkaService, client_id: &str) -> Run {
    let args: Vec<String> = [
        "--topic",
        TOPIC,
        "--num-records",
        &RECORDS.to_string(),
        "--record-size",
        &RECORD_SIZE.to_string(),
        "--throughput",
        "-1",
        "--print-metrics",
        "--producer-props",
        &format!("bootstrap.servers={}", kafka.bootstrap_servers()),
        &format!("client.id={client_id}"),
        "acks=1",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    let node = kafka.brokers()[0].clone();
    let start = Instant::now();
    let out = kafka
        .run_client_tool_on(
            &node,
            "org.apache.kafka.tools.ProducerPerformance",
            &args,
            "--producer.config",
        )
        .await
        .unwrap();
    let wall = start.elapsed();
    let result = parse_producer_output(&out)
        .result
        .expect("no final ProducerPerformance line");
    Run {
        elapsed: Duration::from_secs_f64(result.records as f64 / result.records_per_sec),
        wall,
        throttle_max_ms: metric(&out, "producer-metrics:produce-throttle-time-max")
            .expect("no produce-throttle-time-max in the metrics"),
        records: result.records,
    }
}

async fn consume(kafka: &KafkaService, client_id: &str, records: u64) -> Run {
    let node = kafka.brokers()[0].clone();
    let config = format!("/tmp/quota-{client_id}.properties");
    node.account()
        .create_file(&config, format!("client.id={client_id}\n").as_bytes())
        .await
        .unwrap();
    let args: Vec<String> = [
        "--bootstrap-server",
        &kafka.bootstrap_servers(),
        "--topic",
        TOPIC,
        "--messages",
        &records.to_string(),
        "--timeout",
        "60000",
        "--group",
        &format!("quota-{client_id}"),
        "--print-metrics",
        "--consumer.config",
        &config,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    let start = Instant::now();
    let out = kafka
        .run_tool_on(&node, "org.apache.kafka.tools.ConsumerPerformance", &args)
        .await
        .unwrap();
    let wall = start.elapsed();
    let result = parse_consumer_output(&out)
        .result
        .expect("no ConsumerPerformance summary row");
    let consumed = metric(
        &out,
        "consumer-fetch-manager-metrics:records-consumed-total",
    )
    .expect("no records-consumed-total in the metrics");
    assert_eq!(
        consumed as u64, result.records_consumed,
        "the metric against the summary row"
    );
    Run {
        elapsed: Duration::from_secs_f64(result.fetch_time_ms / 1000.0),
        wall,
        throttle_max_ms: metric(
            &out,
            "consumer-fetch-manager-metrics:fetch-throttle-time-max",
        )
        .expect("no fetch-throttle-time-max in the metrics"),
        records: consumed as u64,
    }
}

async fn quota_enforced(ctx: TestContext, overridden: bool) {
    let cluster = start_kafka(&ctx, Mode::Kraft, 1, KafkaVersion::DEFAULT)
        .await
        .unwrap();
    let kafka = cluster.kafka;
    kafka
        .create_topic(&TopicSpec::new(TOPIC).partitions(6).replication_factor(1))
        .await
        .unwrap();
    // kafkatest: the case's quota on its entity, the large one on the other.
    let client_id = if overridden {
        set_client_quota(&kafka, Some("overridden_id"), QUOTA).await;
        set_client_quota(&kafka, None, LARGE).await;
        "overridden_id"
    } else {
        set_client_quota(&kafka, None, QUOTA).await;
        set_client_quota(&kafka, Some("overridden_id"), LARGE).await;
        "default_id"
    };
    // The client that shows the check failing: its quota is 10× the one asserted.
    set_client_quota(&kafka, Some("fast_id"), QUOTA * 10).await;

    let t0 = SystemTime::now();
    let produced = produce(&kafka, client_id).await;
    let t1 = sample_brokers_now(&kafka).await;
    tracing::info!(?produced, "produced under the quota");
    assert_eq!(produced.records, RECORDS);
    check_quota("the producer", &produced, QUOTA).unwrap();
    let produce_throttle = throttled(&kafka, "Produce", client_id, t0, t1).unwrap();
    let consumed = consume(&kafka, client_id, RECORDS).await;
    let t2 = sample_brokers_now(&kafka).await;
    tracing::info!(?consumed, "consumed under the quota");
    assert_eq!(
        consumed.records, RECORDS,
        "every record produced is consumed"
    );
    check_quota("the consumer", &consumed, QUOTA).unwrap();
    let fetch_throttle = throttled(&kafka, "Fetch", client_id, t1, t2).unwrap();
    println!(
        "the broker's throttle time for {client_id}: produce {produce_throttle} ms, fetch {fetch_throttle} ms"
    );
    ctx.record("quota.broker_produce_throttle_ms", produce_throttle);
    ctx.record("quota.broker_fetch_throttle_ms", fetch_throttle);

    let fast = produce(&kafka, "fast_id").await;
    let t3 = sample_brokers_now(&kafka).await;
    tracing::info!(?fast, "produced under a quota 10× higher");
    let err = check_quota("the producer", &fast, QUOTA).unwrap_err();
    assert!(err.contains("faster than a quota"), "{err}");
    never_throttled(&kafka, "Produce", t2, t3);
    let fast = consume(&kafka, "fast_id", RECORDS * 2).await;
    let t4 = sample_brokers_now(&kafka).await;
    tracing::info!(?fast, "consumed under a quota 10× higher");
    let err = check_quota("the consumer", &fast, QUOTA).unwrap_err();
    assert!(err.contains("faster than a quota"), "{err}");
    never_throttled(&kafka, "Fetch", t3, t4);
    ctx.record("quota.fast_consumer_refusal", err);
}

/// The broker-side check fails for `fast_id` (its quota 10× what it used): the broker knew the
/// client (a sample of its throttle time, NaN or 0) and never throttled it.
fn never_throttled(kafka: &KafkaService, request: &str, from: SystemTime, to: SystemTime) {
    match throttled(kafka, request, "fast_id", from, to) {
        Err(e @ ThrottleError::NotThrottled { samples, .. }) if samples > 0 => {
            println!("as it must: {e}");
        }
        other => panic!("fast_id's {request} requests: {other:?}"),
    }
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn client_id_quota_is_enforced(ctx: TestContext) {
    quota_enforced(ctx, true).await;
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
#[ignore = "kafkatest's default-quota case, ≈ 3 min under load; run with --ignored default_client_id_quota"]
async fn default_client_id_quota_is_enforced(ctx: TestContext) {
    quota_enforced(ctx, false).await;
}
