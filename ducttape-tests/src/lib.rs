//! Fixtures and scenario helpers shared by the scenarios in `tests/`.
//!
//! Scenarios are ordinary `#[tokio::test]` functions taking the [`ctx`] fixture:
//!
//! ```no_run
//! use ducttape_tests::{ctx, TestContext};
//! use rstest::rstest;
//!
//! #[rstest]
//! #[tokio::test]
//! async fn echo_on_two_nodes(ctx: TestContext) {
//!     let nodes = ctx.lease(2).await.unwrap();
//!     for node in &nodes {
//!         assert_eq!(node.account().ssh_output("echo hi").await.unwrap(), "hi\n");
//!     }
//! }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub mod broker_views;
pub mod builds;
pub mod codecs;

pub use ducttape_core::cluster::Node;
pub use ducttape_core::TestContext;
use ducttape_services::kafka::{KafkaBuilder, PartitionInfo, SecurityConfig};
use ducttape_services::kafka_pixy::KafkaPixyBuilder;
use ducttape_services::perf::ToolOutput;
use ducttape_services::verifiable::{
    acknowledged_on, acknowledged_so_far, check_delivery_of, DeliveryReport,
    VerifiableConsumerService, VerifiableProducerService,
};
use ducttape_services::verifiable::{VerifiableEvent, VerifiableOutput, VerifiableProducer};
/// The one error type of a scenario and its `Result` (`async fn step(..) -> Result<()>`): `?`
/// converts every ducttape error into it. The helpers here return their precise error
/// ([`ServiceError`] mostly), which converts too.
pub use ducttape_services::{Error, Result};
use ducttape_services::{
    KafkaPixyService, KafkaService, KafkaVersion, Service, ServiceError, ServiceExt,
    ZookeeperService,
};
use rstest::fixture;

pub mod group;
pub use group::ConsumerGroup;
pub mod exactly_once;
pub mod rolling;

/// The release `version` installed by `./build.sh` ([`KafkaVersion::release`]), or `None`
/// after reporting the test skipped with the `./build.sh --kafka` line that installs it (a skip
/// says what to run, where `#[ignore]` says nothing). A malformed version is a test bug: it
/// panics.
#[allow(clippy::panic)] // a malformed version in a test's own source
pub fn installed_or_skip(ctx: &TestContext, version: &str) -> Option<KafkaVersion> {
    match KafkaVersion::release(version) {
        Ok(v) => Some(v),
        Err(e @ ducttape_services::KafkaVersionError::NotInstalled { .. }) => {
            ctx.skip(e.to_string());
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// The test context of the running test: results directory, `test.log`, leases, teardown.
#[fixture]
#[allow(clippy::expect_used)] // a fixture has no other way to fail the test
pub fn ctx() -> TestContext {
    TestContext::for_current_test().expect("cannot set up the test context")
}

/// How the Kafka cluster of a scenario agrees on metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One ZooKeeper node plus the brokers (Kafka 3.9).
    Zookeeper,
    /// KRaft, every broker also a controller (up to 3).
    Kraft,
    /// KRaft with one controller on a node of its own.
    KraftDedicated,
}

/// A started Kafka cluster: its ZooKeeper (in ZooKeeper mode) and its brokers.
pub struct KafkaCluster {
    /// The ZooKeeper ensemble, in ZooKeeper mode.
    pub zookeeper: Option<Arc<ZookeeperService>>,
    /// The brokers.
    pub kafka: Arc<KafkaService>,
}

/// Leases nodes and starts `brokers` brokers (plus one ZooKeeper node in ZooKeeper mode, or
/// one controller node with dedicated controllers).
/// Faster failure detection than the defaults, so bounces settle quickly in tests.
pub async fn start_kafka(
    ctx: &TestContext,
    mode: Mode,
    brokers: usize,
    version: KafkaVersion,
) -> Result<KafkaCluster, ducttape_services::Error> {
    start_secured_kafka(ctx, mode, brokers, version, SecurityConfig::default()).await
}

/// [`start_kafka`] with the listeners, users and authorizer of `security`.
pub async fn start_secured_kafka(
    ctx: &TestContext,
    mode: Mode,
    brokers: usize,
    version: KafkaVersion,
    security: SecurityConfig,
) -> Result<KafkaCluster, ducttape_services::Error> {
    start_secured_kafka_with(ctx, mode, brokers, version, security, |b| b).await
}

/// [`start_secured_kafka`] with more builder options (`customize` gets the builder last).
pub async fn start_secured_kafka_with(
    ctx: &TestContext,
    mode: Mode,
    brokers: usize,
    version: KafkaVersion,
    security: SecurityConfig,
    customize: impl FnOnce(KafkaBuilder) -> KafkaBuilder,
) -> Result<KafkaCluster, ducttape_services::Error> {
    let cluster = build_kafka(ctx, mode, brokers, version, security, customize).await?;
    cluster.kafka.start().await?;
    Ok(cluster)
}

/// [`start_secured_kafka_with`] up to the brokers' start: the nodes leased, ZooKeeper (in
/// ZooKeeper mode) started, the Kafka service built but not started — for what must happen
/// on its nodes before (a size-limited disk, say); then `cluster.kafka.start()`.
pub async fn build_kafka(
    ctx: &TestContext,
    mode: Mode,
    brokers: usize,
    version: KafkaVersion,
    security: SecurityConfig,
    customize: impl FnOnce(KafkaBuilder) -> KafkaBuilder,
) -> Result<KafkaCluster, ducttape_services::Error> {
    let extra = usize::from(mode != Mode::Kraft);
    let mut nodes = ctx.lease(brokers + extra).await?;
    let kafka_nodes = if mode == Mode::KraftDedicated {
        std::mem::take(&mut nodes)
    } else {
        nodes.split_off(extra)
    };
    let builder = KafkaService::builder(kafka_nodes)
        .version(version.clone())
        .security(security);
    let kraft_timeouts = |b: KafkaBuilder| {
        b.config("broker.session.timeout.ms", 6000)
            .config("broker.heartbeat.interval.ms", 1000)
    };
    let (zookeeper, builder) = match mode {
        Mode::Zookeeper => {
            // ZooKeeper from the brokers' install: a test pinning a release runs all of it
            // (under DUCTTAPE_KAFKA_HOME too), as kafkatest's ZooKeeper runs its brokers' jars.
            let zk = ZookeeperService::builder(nodes)
                .version(version)
                .build(ctx)?;
            zk.start().await?;
            let b = builder
                .zookeeper(&zk)
                .config("zookeeper.session.timeout.ms", 6000);
            (Some(zk), b)
        }
        Mode::Kraft => (None, kraft_timeouts(builder.kraft_combined(brokers.min(3)))),
        Mode::KraftDedicated => (None, kraft_timeouts(builder.kraft_dedicated(1))),
    };
    let kafka = customize(builder).build(ctx)?;
    Ok(KafkaCluster { zookeeper, kafka })
}

/// Creates `topic` with 3 partitions, replication factor 3 and `min.insync.replicas=2`: the
/// shape every no-loss scenario uses.
pub async fn create_replicated_topic(
    kafka: &KafkaService,
    topic: &str,
) -> Result<(), ServiceError> {
    kafka
        .create_topic(
            &ducttape_services::TopicSpec::new(topic)
                .partitions(3)
                .replication_factor(3)
                .config("min.insync.replicas", 2),
        )
        .await
}

/// Produces `count` records to `topic` with Kafka's VerifiableProducer (acks=all) from the
/// first broker node; returns the values the brokers acknowledged.
/// Values are `<batch>.<n>`, so batches stay distinguishable. On a secured cluster it is the
/// cluster's `client` user ([`KafkaService::client_security`]; with the authorizer on, grant
/// it `Acl::producer` first).
pub async fn produce_acked(
    kafka: &KafkaService,
    topic: &str,
    count: u64,
    batch: u32,
) -> Result<Vec<String>, ServiceError> {
    let args: Vec<String> = [
        "--value-prefix",
        &batch.to_string(),
        "--topic",
        topic,
        "--max-messages",
        &count.to_string(),
        "--bootstrap-server",
        &kafka.bootstrap_servers(),
        "--acks",
        "-1",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    let out = kafka
        .run_client_tool_on(
            &first_broker(kafka)?,
            "org.apache.kafka.tools.VerifiableProducer",
            &args,
            "--producer.config",
        )
        .await?;
    // Malformed events, or fewer acknowledgements read than the tool counted, fail it.
    let output = VerifiableOutput::parse(&out);
    if !output.malformed.is_empty() {
        return Err(ServiceError::MalformedOutput {
            service: "verifiable-producer".into(),
            node: kafka.brokers()[0].name().to_string(),
            lines: output.malformed,
        });
    }
    // Refused sends are logged with Kafka's words, so a test asserting on the count says why.
    Ok(output
        .events
        .into_iter()
        .filter_map(|event| match event {
            VerifiableEvent::ProducerSendSuccess { record, .. } => record.value,
            VerifiableEvent::ProducerSendError {
                value,
                exception,
                message,
                ..
            } => {
                tracing::warn!(topic, ?value, %exception, ?message, "verifiable producer: send refused");
                None
            }
            _ => None,
        })
        .collect())
}

/// Reads `topic` from the beginning with Kafka's console consumer until `count` records came
/// (or 60 s passed without a record); returns the values. On a secured cluster it is the
/// cluster's `client` user, as [`produce_acked`] (its group is the console consumer's own,
/// `console-consumer-<random>`: grant `Acl::consumer(user, topic, "*")`).
pub async fn consume_values(
    kafka: &KafkaService,
    topic: &str,
    count: usize,
) -> Result<Vec<String>, ServiceError> {
    let out = consume_printed(kafka, topic, count, &[]).await?;
    Ok(out.lines().map(str::to_string).collect())
}

/// Like [`consume_values`], with more of each record printed before its value: each of
/// `print` turns on the console consumer's `print.<field>` (`partition`, `offset`, `headers`,
/// `key`, `timestamp`), written in Kafka's order and tab-separated. Returns its stdout.
pub async fn consume_printed(
    kafka: &KafkaService,
    topic: &str,
    count: usize,
    print: &[&str],
) -> Result<String, ServiceError> {
    let mut args: Vec<String> = [
        "--bootstrap-server",
        &kafka.bootstrap_servers(),
        "--topic",
        topic,
        "--from-beginning",
        "--max-messages",
        &count.to_string(),
        "--timeout-ms",
        "60000",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    // Kafka 4 renamed the option (and warns about the old name on stdout).
    let option = if kafka.version().supports_zookeeper() {
        "--property"
    } else {
        "--formatter-property"
    };
    for field in print {
        args.push(option.to_string());
        args.push(format!("print.{field}=true"));
    }
    // The consumer exits non-zero on its timeout; what it printed is still the answer.
    let cmd = kafka.client_tool_command(
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        &args,
        "--consumer.config",
    );
    let out = first_broker(kafka)?
        .account()
        .run(
            &format!("( {cmd} ) 2>/dev/null; true"),
            None,
            Duration::from_secs(180),
        )
        .await
        .map_err(|source| ServiceError::Remote {
            service: "console-consumer".into(),
            source: Box::new(source),
        })?;
    Ok(out.stdout_text())
}

fn first_broker(kafka: &KafkaService) -> Result<Node, ServiceError> {
    kafka
        .brokers()
        .into_iter()
        .next()
        .ok_or_else(|| ServiceError::Usage {
            service: "kafka".into(),
            detail: "no broker to run a client tool on".into(),
        })
}

/// Waits (up to 60 s) until `partition` of `topic` has a leader, and returns its node: right
/// after a bounce a partition can be leaderless for a moment.
pub async fn wait_for_leader(
    kafka: &KafkaService,
    topic: &str,
    partition: u32,
) -> Result<Node, ServiceError> {
    ducttape_core::wait_until(
        &format!("{topic}-{partition} has a leader"),
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async { kafka.leader(topic, partition).await },
    )
    .await
    .map_err(|e| ServiceError::Usage {
        service: "kafka".into(),
        detail: e.to_string(),
    })
}

/// Waits until `producer` has had `more` records acknowledged beyond what it had when called
/// (a producer that stopped making progress fails this), and returns the new total.
pub async fn wait_for_more_acks(
    producer: &VerifiableProducerService,
    more: u64,
    timeout: Duration,
) -> Result<u64, ServiceError> {
    let from = acknowledged_so_far(producer).await?;
    wait_for_acks(
        producer,
        &format!("{more} more acknowledgements after the first {from}"),
        timeout,
        || async {
            let acked = acknowledged_so_far(producer).await?;
            Ok((acked >= from + more).then_some(acked))
        },
    )
    .await
}

/// Polls `enough` until it gives the count reached, failing at once (with the producer's exit
/// status and log tail) when the producer has ended: acknowledgements cannot come from a dead
/// producer.
async fn wait_for_acks<F, Fut>(
    producer: &VerifiableProducerService,
    what: &str,
    timeout: Duration,
    mut enough: F,
) -> Result<u64, ServiceError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<u64>, ServiceError>>,
{
    ducttape_core::wait_until(what, timeout, Duration::from_millis(500), || {
        let check = enough();
        async move {
            if let Some(acked) = check.await? {
                return Ok::<_, ServiceError>(Some(Ok(acked)));
            }
            // A dead producer ends the wait now (as the found value), not at the timeout.
            Ok(producer.ensure_running().await.err().map(Err))
        }
    })
    .await
    .map_err(|e| ServiceError::Usage {
        service: "verifiable-producer".into(),
        detail: e.to_string(),
    })?
}

/// Waits until `producer` has had `more` records of `partition` acknowledged beyond what it had
/// for it when called, and returns the partition's new count: after a fault on that
/// partition's leader, the other partitions' acknowledgements say nothing of it.
pub async fn wait_for_more_acks_on(
    producer: &VerifiableProducerService,
    partition: i32,
    more: u64,
    timeout: Duration,
) -> Result<u64, ServiceError> {
    let from = acknowledged_on(producer, partition).await?;
    wait_for_acks(
        producer,
        &format!("{more} more acknowledgements on partition {partition} after its first {from}"),
        timeout,
        || async {
            let acked = acknowledged_on(producer, partition).await?;
            Ok((acked >= from + more).then_some(acked))
        },
    )
    .await
}

/// Stops `producers` (which fails for one that had died on its own), waits until `consumer`
/// has read as far as they got, stops the consumer and returns the delivery report. Losses are
/// for the caller to judge: this only makes sure the report is final.
pub async fn stop_and_report(
    producers: &[&VerifiableProducerService],
    consumer: &VerifiableConsumerService,
    timeout: Duration,
) -> Result<DeliveryReport, ServiceError> {
    for producer in producers {
        producer.stop().await?;
    }
    let waited = ducttape_core::wait_until(
        "the consumer has read as far as the producers got",
        timeout,
        Duration::from_secs(1),
        || async {
            Ok::<_, ServiceError>(check_delivery_of(producers, &[consumer]).await?.caught_up)
        },
    )
    .await;
    if let Err(e) = waited {
        // The report as far as it got: a timeout must not hide the losses it would show.
        let so_far = match check_delivery_of(producers, &[consumer]).await {
            Ok(report) => report.to_string(),
            Err(e) => format!("(no report: {e})"),
        };
        return Err(ServiceError::Usage {
            service: "verifiable-consumer".into(),
            detail: format!("{e}\ndelivery so far: {so_far}"),
        });
    }
    consumer.stop().await?;
    check_delivery_of(producers, &[consumer]).await
}

/// How long [`read_to_the_end`] lets a consumer read nothing while Kafka holds records it has
/// not read, before it calls the consumer stalled.
pub const STALL: Duration = Duration::from_secs(60);

/// Stops `producers` (which fails for one that had died on its own), waits until `consumer`
/// has read everything `topic` holds, stops it and returns the delivery report.
///
/// "Everything" is what Kafka says the topic holds: each partition read up to its end offset
/// ([`KafkaService::end_offsets`]), or the last acknowledgement consumed. Acknowledgements
/// at offsets a truncated log no longer has are not waited for: they are in the report, lost.
/// The verdict always comes: a consumer that reads nothing for `stall` while a partition holds
/// records past its position is [`ServiceError::ConsumerStalled`], naming its position, the
/// end offset and the report so far.
pub async fn read_to_the_end(
    kafka: &KafkaService,
    topic: &str,
    producers: &[&VerifiableProducerService],
    consumer: &VerifiableConsumerService,
    stall: Duration,
) -> Result<DeliveryReport, ServiceError> {
    for producer in producers {
        producer.stop().await?;
    }
    let mut consumed = None;
    let mut progress = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let report = check_delivery_of(producers, &[consumer]).await?;
        let ends = kafka.end_offsets(topic).await;
        let behind = ends.as_ref().ok().map(|ends| behind(&report, topic, ends));
        if report.caught_up || behind.as_ref().is_some_and(Vec::is_empty) {
            break;
        }
        if consumed != Some(report.consumed) {
            consumed = Some(report.consumed);
            progress = tokio::time::Instant::now();
        } else if progress.elapsed() >= stall {
            let behind = match (behind, ends) {
                (Some(behind), _) => behind.join("; "),
                (None, Err(e)) => format!("end offsets unknown: {e}"),
                (None, Ok(_)) => String::new(),
            };
            return Err(ServiceError::ConsumerStalled {
                service: consumer.name().to_string(),
                stalled_for: progress.elapsed(),
                behind,
                report: report.to_string(),
            });
        }
    }
    consumer.stop().await?;
    check_delivery_of(producers, &[consumer]).await
}

/// The partitions of `topic` that `report`'s consumers have not read to `ends` (end offsets by
/// partition), as `topic-p: next offset N, end offset M`.
fn behind(report: &DeliveryReport, topic: &str, ends: &BTreeMap<u32, i64>) -> Vec<String> {
    ends.iter()
        .filter_map(|(&partition, &end)| {
            let last = report
                .last_consumed
                .iter()
                .find(|(tp, _)| tp.topic == topic && u32::try_from(tp.partition) == Ok(partition))
                .map(|&(_, last)| last);
            let next = last.map_or(0, |last| last + 1);
            (next < end).then(|| match last {
                Some(_) => format!("{topic}-{partition}: next offset {next}, end offset {end}"),
                None => format!("{topic}-{partition}: nothing read, end offset {end}"),
            })
        })
        .collect()
}

/// Records `report` under `delivery` in the test's summary: acknowledged, consumed, lost and
/// duplicated counts, and the acknowledged-vs-consumed timeline the report plots.
pub fn record_delivery(ctx: &TestContext, report: &DeliveryReport) {
    let delivery = ducttape_core::report::data::Delivery {
        acked: report.acked,
        consumed: report.consumed,
        lost_acknowledged: report.lost_acknowledged() as u64,
        duplicated: report.duplicates.len() as u64,
        delivery_timeline: report.timeline.clone(),
    };
    ctx.record(
        "delivery",
        serde_json::to_value(delivery).unwrap_or_default(),
    );
}

/// kafkatest's producer for scenarios with faults: idempotent, retrying without limit, each
/// record given 120 s to be delivered, so a bounce or a cut-off leader delays records and never
/// drops them on the producer's side (a loss the checker reports is then Kafka's). On each of
/// `nodes` against `kafka`, as [`VerifiableProducer::builder`]: add the rate and options, then
/// `build`.
pub fn producer_through_faults(
    nodes: Vec<Node>,
    kafka: &KafkaService,
    topic: &str,
) -> VerifiableProducer {
    use ducttape_services::perf::ClientBuilder;
    VerifiableProducer::builder(nodes, kafka, topic)
        .prop("retries", i32::MAX)
        .prop("enable.idempotence", true)
        .prop("delivery.timeout.ms", 120_000)
}

/// Waits (up to 90 s) until the brokers other than `old`, each asked alone, say partition 0 of
/// `topic` is led by a broker other than `old`. With the CLI control path the tool runs on
/// `observer` (a node outside any fault); the Rust client asks from the test process.
pub async fn wait_for_leader_move(
    kafka: &KafkaService,
    observer: &Node,
    topic: &str,
    old: &Node,
) -> Result<(), ServiceError> {
    let what = format!("{topic}-0 is led by a broker other than {}", old.name());
    until_the_others_see(
        kafka,
        observer,
        topic,
        old,
        &what,
        Duration::from_secs(90),
        |p, old_id| p.leader.is_some_and(|id| id != old_id),
    )
    .await
}

/// Waits (up to 120 s) until the brokers other than `old`, each asked alone, list `old` in the
/// ISR of partition 0 of `topic`: it is a follower again, caught up with the leader.
pub async fn wait_for_rejoin(
    kafka: &KafkaService,
    observer: &Node,
    topic: &str,
    old: &Node,
) -> Result<(), ServiceError> {
    let what = format!("{} is back in the ISR of {topic}-0", old.name());
    until_the_others_see(
        kafka,
        observer,
        topic,
        old,
        &what,
        Duration::from_secs(120),
        |p, old_id| p.isr.contains(&old_id),
    )
    .await
}

/// Waits until partition 0 of `topic`, as the brokers other than `old` describe it (the old
/// one, cut off, still answers with its stale view), satisfies `seen(partition, old's id)`.
async fn until_the_others_see(
    kafka: &KafkaService,
    observer: &Node,
    topic: &str,
    old: &Node,
    what: &str,
    timeout: Duration,
    seen: impl Fn(&PartitionInfo, u32) -> bool,
) -> Result<(), ServiceError> {
    let old_id = kafka.id_of(old)?;
    let others: Vec<Node> = kafka
        .brokers()
        .into_iter()
        .filter(|n| n.name() != old.name())
        .collect();
    ducttape_core::wait_until(what, timeout, Duration::from_millis(500), || async {
        let parts = kafka.describe_topic_from(observer, topic, &others).await?;
        let zero = parts.iter().find(|p| p.partition == 0);
        Ok::<_, ServiceError>(zero.is_some_and(|p| seen(p, old_id)).then_some(()))
    })
    .await
    .map_err(|e| ServiceError::Usage {
        service: "kafka".into(),
        detail: e.to_string(),
    })
}

/// kafka-pixy on `nodes` in front of `kafka`, its groups in `zk`, set up for tests:
/// synchronous produces wait for pixy's flush, so it flushes every 5 ms (not its 500 ms
/// default), and a long poll gives up after 2 s. Add options, then `build(&ctx)`.
pub fn pixy_builder(
    nodes: Vec<Node>,
    kafka: &Arc<KafkaService>,
    zk: &Arc<ZookeeperService>,
) -> KafkaPixyBuilder {
    KafkaPixyService::builder(nodes)
        .kafka(kafka)
        .zookeeper(zk)
        .flush_frequency(Duration::from_millis(5))
        .long_polling_timeout(Duration::from_secs(2))
}

/// Asserts that no JVM runs on `nodes` now, while the test holds them (a build that was
/// refused started nothing). Not for after teardown: the nodes' cleanup kills everything
/// anyway, so a check there could not fail — the test context itself checks what each
/// service's stop achieved, before that cleanup, for every test (see
/// [`ducttape_core::context`]).
pub async fn assert_no_jvm(nodes: &[Node]) {
    for node in nodes {
        let java = node
            .account()
            // Zombies are dead processes waiting to be reaped, not running JVMs.
            .ssh_output("ps -eo stat=,pid=,args= | awk '$1 !~ /^Z/ && $3 ~ /java$/'")
            .await
            .unwrap_or_else(|e| panic!("cannot check {}: {e}", node.name()));
        assert!(
            java.trim().is_empty(),
            "JVM left running on {}: {java}",
            node.name()
        );
    }
}

/// Waits (up to `timeout`) until the ISR of `partition` of `topic`, as the brokers `asked`
/// describe it (each alone: a broker cut off answers with its stale view, so leave it out),
/// is `expected` (broker ids); returns the ISR seen. The tool runs on `observer`, a node
/// outside any fault, with the CLI control path.
pub async fn wait_for_isr(
    kafka: &KafkaService,
    observer: &Node,
    topic: &str,
    partition: u32,
    asked: &[Node],
    expected: &std::collections::BTreeSet<u32>,
    timeout: Duration,
) -> Result<Vec<u32>, ServiceError> {
    let what = format!("the ISR of {topic}-{partition} is {expected:?}");
    ducttape_core::wait_until(&what, timeout, Duration::from_millis(500), || async {
        let parts = kafka.describe_topic_from(observer, topic, asked).await?;
        let isr = parts
            .into_iter()
            .find(|p| p.partition == partition)
            .map(|p| p.isr)
            .unwrap_or_default();
        let seen: std::collections::BTreeSet<u32> = isr.iter().copied().collect();
        Ok::<_, ServiceError>((&seen == expected).then_some(isr))
    })
    .await
    .map_err(|e| ServiceError::Usage {
        service: "kafka".into(),
        detail: e.to_string(),
    })
}

/// The broker ids of `nodes` (for ISR comparisons).
pub fn broker_ids(
    kafka: &KafkaService,
    nodes: &[Node],
) -> Result<std::collections::BTreeSet<u32>, ServiceError> {
    nodes.iter().map(|n| kafka.id_of(n)).collect()
}
