#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! kafkatest's `tests/client/consumer_test.py` (`OffsetValidationTest`,
//! `AssignmentValidationTest`): consumer-group semantics with Kafka's verifiable consumer.
//!
//! Three consumers in one group read a topic while a verifiable producer writes to it
//! (100 records/s; kafkatest: 500), and something happens to the group: consumers bounced one by one or all
//! at once, cleanly or killed; static members (`group.instance.id`) bounced; the owner of a
//! partition stopped; a broker failed or every broker bounced; consumers started and stopped
//! one by one under each assignor (range, roundrobin, sticky, cooperative-sticky; and
//! KIP-848's `group.protocol=consumer` with its server-side assignors on Kafka 4). Between
//! steps the group must settle: three (or the expected number of) live members whose
//! assignments partition the topic's partitions — none held twice, none orphaned — and the
//! group consuming again (kafkatest's `await_all_members` + `await_consumed_messages`).
//!
//! Verdicts, where kafkatest counts `current_position == total_consumed` on one partition:
//! - the group checker ([`GroupChecker`]) over every member's events: no records from a
//!   partition a member did not hold, no commit ahead of what the committer consumed or behind
//!   what the group had committed, no reading from before the committed offset;
//! - Kafka's own answer (the control client) on the committed offsets, sampled every second
//!   while the group runs: never going back, never ahead of what the group had consumed by
//!   then; and at the end equal to where the group stopped reading (synchronous commits), or
//!   present and not ahead of it (auto-commit);
//! - delivery by value: every acknowledged record consumed, and none twice unless a consumer
//!   was killed;
//! - the case's own: no rebalance while brokers fail or bounce; a static member's bounce
//!   revokes nothing from the member kept alive (a dynamic member's does).
//!
//! Deviation: a topic of 6 partitions (kafkatest's `OffsetValidationTest` has one, so two of
//! its three consumers hold nothing and "no partition owned twice" is barely tested), the
//! shape of its `AssignmentValidationTest`. One bounce round (kafkatest: 5) in the matrix.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ducttape_services::perf::ClientBuilder;
use ducttape_services::verifiable::{
    AssignmentProblems, GroupChecker, GroupViolation, VerifiableConsumer, VerifiableEvent,
    VerifiableProducer,
};
use ducttape_services::{KafkaService, KafkaVersion, Service, ServiceExt, TopicSpec};
use ducttape_tests::group::checker_of;
use ducttape_tests::{ctx, start_kafka, wait_for_more_acks, ConsumerGroup, Mode, TestContext};
use rstest::rstest;
use serial_test::serial;

const TOPIC: &str = "test_topic";
const GROUP: &str = "test_group_id";
const PARTITIONS: u32 = 6;
const CONSUMERS: usize = 3;
/// Records per second produced (kafkatest: 500). Every check rereads every member's whole
/// output with each record's value; at 500/s that reading, not Kafka, set the pace here.
const RATE: i64 = 100;
/// How long a group may take to settle after a step (kafkatest: twice the session timeout).
const SETTLE: Duration = Duration::from_secs(120);

/// The group protocol and its assignor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// `group.protocol=classic` with this `partition.assignment.strategy` class.
    Classic(&'static str),
    /// KIP-848 `group.protocol=consumer` with this server-side assignor.
    Consumer(&'static str),
}

const RANGE: Protocol = Protocol::Classic("org.apache.kafka.clients.consumer.RangeAssignor");

/// What happens to the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Each consumer but the first `keep` stopped and restarted in turn (`test_consumer_bounce`
    /// rolling; `test_static_consumer_bounce_with_eager_assignment` rolling with `keep: 1`).
    RollingBounce { clean: bool, keep: usize },
    /// Every consumer but the first `keep` stopped, then all restarted (bounce mode "all").
    BounceAll { clean: bool, keep: usize },
    /// The owner of partition 0 stopped for good (`test_consumer_failure`).
    ConsumerFailure { clean: bool },
    /// The first broker stopped for good (`test_broker_failure`).
    BrokerFailure { clean: bool },
    /// Every broker restarted in turn (`test_broker_rolling_bounce`).
    BrokerRollingBounce,
    /// Consumers started one by one, then stopped one by one (`test_group_consumption`,
    /// `test_valid_assignment`).
    GrowAndShrink,
}

#[derive(Debug, Clone)]
struct Case {
    mode: Mode,
    version: KafkaVersion,
    protocol: Protocol,
    step: Step,
    autocommit: bool,
    static_members: bool,
    /// `session.timeout.ms` (kafkatest: 10 s, 30 s for broker bounces, 60 s for static members).
    session_ms: u64,
    /// A broken group, to show the commit checks fail: the consumers auto-commit once an hour
    /// (so only rebalances commit) and are killed at the end, while the verdict expects the
    /// synchronous commits of a correct run.
    never_commits: bool,
    /// A second group (one member, its own group id) reads the topic for a while, and its
    /// events are fed to the first group's checker with the group's own: two members holding
    /// one partition, which the assignment check must see.
    intruder: bool,
}

impl Case {
    fn new(step: Step) -> Self {
        Self {
            mode: Mode::KraftDedicated,
            version: KafkaVersion::DEFAULT,
            protocol: RANGE,
            step,
            autocommit: false,
            static_members: false,
            session_ms: 10_000,
            never_commits: false,
            intruder: false,
        }
    }
    fn mode(self, mode: Mode) -> Self {
        Self { mode, ..self }
    }
    fn protocol(self, version: KafkaVersion, protocol: Protocol) -> Self {
        Self {
            version,
            protocol,
            ..self
        }
    }
    fn autocommit(self) -> Self {
        Self {
            autocommit: true,
            ..self
        }
    }
    fn static_members(self) -> Self {
        Self {
            static_members: true,
            session_ms: 60_000,
            ..self
        }
    }
    fn session_ms(self, session_ms: u64) -> Self {
        Self { session_ms, ..self }
    }
}

/// One sample of Kafka's committed offsets: when it was answered (ms since the epoch), what.
type Sample = (i64, BTreeMap<u32, Option<i64>>);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Asks Kafka for the group's committed offsets every second until `stop`.
fn sample_commits(
    kafka: Arc<KafkaService>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Sample>> {
    tokio::spawn(async move {
        let mut samples = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            if let Ok(offsets) = kafka.committed_offsets(GROUP, TOPIC).await {
                samples.push((now_ms(), offsets));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        samples
    })
}

/// What a run saw, for the verdicts.
struct Run {
    checker: GroupChecker,
    /// Kafka's committed offsets at the end.
    committed: BTreeMap<u32, Option<i64>>,
    samples: Vec<Sample>,
    /// Where the group stopped reading: last consumed offset + 1, per partition.
    consumed_to: BTreeMap<u32, i64>,
    /// Every partition's consumption by time: (ms, next offset) per records_consumed event.
    consumption: BTreeMap<u32, Vec<(i64, i64)>>,
    lost: usize,
    replaced: usize,
    duplicates: usize,
    acked: u64,
    /// Rebalances (assignments received) during the step, and the revocations the member
    /// kept alive saw during it.
    assignments_during: u64,
    kept_revocations: u64,
    killed: bool,
    /// With an intruder: the assignment check and the violations over both groups' events.
    merged: Option<(AssignmentProblems, Vec<GroupViolation>)>,
}

async fn run(ctx: &TestContext, case: &Case) -> Run {
    println!("case: {case:?}");
    let cluster = start_kafka(ctx, case.mode, 2, case.version.clone())
        .await
        .unwrap();
    let kafka = cluster.kafka.clone();
    kafka
        .create_topic(
            &TopicSpec::new(TOPIC)
                .partitions(PARTITIONS)
                .replication_factor(2),
        )
        .await
        .unwrap();
    // A slot has 6 nodes: 2 brokers and the controller, 3 consumers; the producer shares the
    // first consumer's node (a separate process, untouched by the consumer's bounces).
    let consumer_nodes = ctx.lease(CONSUMERS).await.unwrap();
    let producer = VerifiableProducer::builder(vec![consumer_nodes[0].clone()], &kafka, TOPIC)
        .throughput(RATE)
        .build(ctx)
        .unwrap();
    let mut consumer = VerifiableConsumer::builder(consumer_nodes.clone(), &kafka, TOPIC, GROUP);
    consumer = match case.protocol {
        Protocol::Classic(class) => consumer
            .group_protocol("classic")
            .assignment_strategy(class)
            .session_timeout_ms(case.session_ms),
        Protocol::Consumer(assignor) => consumer
            .group_protocol("consumer")
            .group_remote_assignor(assignor),
    };
    if case.autocommit {
        consumer = consumer.enable_autocommit();
    }
    if case.never_commits {
        consumer = consumer
            .enable_autocommit()
            .prop("auto.commit.interval.ms", 3_600_000);
    }
    if case.static_members {
        consumer = consumer.static_membership();
    }
    let group = ConsumerGroup::new(consumer.build(ctx).unwrap(), TOPIC, PARTITIONS);

    producer.start().await.unwrap();
    wait_for_more_acks(&producer, 200, Duration::from_secs(60))
        .await
        .unwrap();
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = sample_commits(kafka.clone(), stop_sampling.clone());

    let started = Instant::now();
    if matches!(case.step, Step::GrowAndShrink) {
        for (i, node) in consumer_nodes.iter().enumerate() {
            group.start_node(node).await.unwrap();
            group.wait_settled(i + 1, SETTLE).await.unwrap();
        }
    } else {
        group.start_all().await.unwrap();
        group.wait_settled(CONSUMERS, SETTLE).await.unwrap();
    }
    println!("group settled after {:?}", started.elapsed());
    let merged = if case.intruder {
        Some(intrude(ctx, &kafka, &group, &consumer_nodes[1]).await)
    } else {
        None
    };
    let before = group.checker().await.unwrap();
    let kept = group.member(&consumer_nodes[0]);
    let mut killed = false;
    match case.step {
        Step::RollingBounce { clean, keep } => {
            for node in &consumer_nodes[keep..] {
                group.stop_node(node, clean).await.unwrap();
                group.start_node(node).await.unwrap();
                group.wait_settled(CONSUMERS, SETTLE).await.unwrap();
            }
            killed = !clean;
        }
        Step::BounceAll { clean, keep } => {
            for node in &consumer_nodes[keep..] {
                group.stop_node(node, clean).await.unwrap();
            }
            for node in &consumer_nodes[keep..] {
                group.start_node(node).await.unwrap();
            }
            group.wait_settled(CONSUMERS, SETTLE).await.unwrap();
            killed = !clean;
        }
        Step::ConsumerFailure { clean } => {
            let checker = group.checker().await.unwrap();
            let owner = checker
                .assignment()
                .assignments
                .into_iter()
                .find(|(_, parts)| parts.contains(&0))
                .map(|(member, _)| member)
                .expect("partition 0 has an owner");
            let node = consumer_nodes
                .iter()
                .find(|n| group.member(n) == owner)
                .unwrap()
                .clone();
            println!("stopping {owner}, owner of partition 0");
            group.stop_node(&node, clean).await.unwrap();
            group.wait_settled(CONSUMERS - 1, SETTLE).await.unwrap();
            // The others go on: 1,000 more records (kafkatest's check), through the group.
            group.wait_consumed_more(1000, SETTLE).await.unwrap();
            killed = !clean;
        }
        Step::BrokerFailure { clean } => {
            let broker = kafka.brokers()[0].clone();
            kafka.stop_node(&broker, clean).await.unwrap();
            group.wait_consumed_more(1000, SETTLE).await.unwrap();
        }
        Step::BrokerRollingBounce => {
            for broker in kafka.brokers() {
                kafka.bounce(&broker, true).await.unwrap();
                group.wait_settled(CONSUMERS, SETTLE).await.unwrap();
            }
        }
        Step::GrowAndShrink => {
            for (i, node) in consumer_nodes.iter().enumerate() {
                group.stop_node(node, true).await.unwrap();
                if i + 1 < CONSUMERS {
                    group.wait_settled(CONSUMERS - i - 1, SETTLE).await.unwrap();
                }
            }
            // The last one out left nothing reading: a fresh member reads to the end.
            group.start_node(&consumer_nodes[0]).await.unwrap();
            group.wait_settled(1, SETTLE).await.unwrap();
        }
    }
    let during = group.checker().await.unwrap();
    let assignments_during = during.assignments_received() - before.assignments_received();
    let kept_revocations = during.revocations(&kept) - before.revocations(&kept);
    println!("step done after {:?}", started.elapsed());

    // Drain: the producer stops, the group reads everything acknowledged, then stops cleanly.
    producer.stop().await.unwrap();
    ducttape_core::wait_until(
        "the group read every acknowledged record",
        SETTLE,
        Duration::from_secs(1),
        || async {
            Ok::<_, ducttape_services::ServiceError>(group.delivery(&[&producer]).await?.caught_up)
        },
    )
    .await
    .unwrap();
    group.stop_all(!case.never_commits).await.unwrap();
    killed |= case.never_commits;
    stop_sampling.store(true, Ordering::Relaxed);
    let samples = sampler.await.unwrap();
    let committed = kafka.committed_offsets(GROUP, TOPIC).await.unwrap();
    let report = group.delivery(&[&producer]).await.unwrap();
    let outputs = group.outputs().await.unwrap();
    let checker = checker_of(TOPIC, PARTITIONS, &outputs, &[]);
    let mut consumption: BTreeMap<u32, Vec<(i64, i64)>> = BTreeMap::new();
    for (_, _, output) in &outputs {
        for e in &output.events {
            if let VerifiableEvent::RecordsConsumed {
                timestamp,
                partitions,
                ..
            } = e
            {
                for b in partitions {
                    consumption
                        .entry(b.partition as u32)
                        .or_default()
                        .push((*timestamp, b.max_offset + 1));
                }
            }
        }
    }
    let consumed_to = report
        .last_consumed
        .iter()
        .map(|(tp, last)| (tp.partition as u32, last + 1))
        .collect();
    println!(
        "{case:?}: {report}\nrebalances during the step {assignments_during}, kept member's \
         revocations {kept_revocations}, commits {:?}, violations {:?}\ncommitted {committed:?}",
        checker.commits(),
        checker.violations()
    );
    ctx.record("case", format!("{case:?}"));
    ducttape_tests::record_delivery(ctx, &report);
    ctx.record("assignments_during_step", assignments_during);
    ctx.record("kept_member_revocations", kept_revocations);
    Run {
        committed,
        samples,
        consumed_to,
        consumption,
        lost: report.lost.len(),
        replaced: report.value_mismatches.len(),
        duplicates: report.duplicates.len(),
        acked: report.acked,
        assignments_during,
        kept_revocations,
        killed,
        checker,
        merged,
    }
}

/// Runs a second group (`intruder-group`, one member on `node`) until it holds every
/// partition and reads, then checks the two groups' events as if they were one group.
async fn intrude(
    ctx: &TestContext,
    kafka: &KafkaService,
    group: &ConsumerGroup,
    node: &ducttape_tests::Node,
) -> (AssignmentProblems, Vec<GroupViolation>) {
    let intruder = ConsumerGroup::new(
        VerifiableConsumer::builder(vec![node.clone()], kafka, TOPIC, "intruder-group")
            .name("intruder")
            .build(ctx)
            .unwrap(),
        TOPIC,
        PARTITIONS,
    );
    intruder.start_all().await.unwrap();
    intruder.wait_settled(1, SETTLE).await.unwrap();
    let alone = group.checker().await.unwrap().assignment();
    assert!(alone.is_clean(), "the group alone: {alone}");
    let mut outputs = group.outputs().await.unwrap();
    // Its member names (`<node>#<n>`) would collide with the group's on the same node.
    outputs.extend(
        intruder
            .outputs()
            .await
            .unwrap()
            .into_iter()
            .map(|(service, member, output)| (service, format!("intruder/{member}"), output)),
    );
    let running: Vec<String> = outputs.iter().map(|(_, m, _)| m.clone()).collect();
    let merged = checker_of(TOPIC, PARTITIONS, &outputs, &running);
    intruder.stop_all(true).await.unwrap();
    println!(
        "two groups as one: {}; {:?}",
        merged.assignment(),
        merged.violations()
    );
    (merged.assignment(), merged.violations().to_vec())
}

/// What is wrong with `run` for `case` (empty: the group behaved).
fn problems(case: &Case, run: &Run) -> Vec<String> {
    let mut out: Vec<String> = run
        .checker
        .violations()
        .iter()
        .map(ToString::to_string)
        .collect();
    if run.acked == 0 {
        out.push("nothing was acknowledged".into());
    }
    if run.lost + run.replaced > 0 {
        out.push(format!(
            "{} acknowledged records lost, {} replaced",
            run.lost, run.replaced
        ));
    }
    if !run.killed && run.duplicates > 0 {
        out.push(format!(
            "{} records consumed twice with no consumer killed",
            run.duplicates
        ));
    }
    out.extend(commit_problems(case, run));
    match case.step {
        Step::BrokerFailure { .. } | Step::BrokerRollingBounce if run.assignments_during > 0 => {
            out.push(format!(
                "{} assignments (rebalances) while brokers failed",
                run.assignments_during
            ));
        }
        Step::RollingBounce { keep: 1, .. } | Step::BounceAll { keep: 1, .. } => {
            let eager = matches!(case.protocol, Protocol::Classic(c) if !c.contains("Cooperative"));
            if case.static_members && run.kept_revocations > 0 {
                out.push(format!(
                    "the static member kept alive had {} revocations",
                    run.kept_revocations
                ));
            }
            if !case.static_members && eager && run.kept_revocations == 0 {
                out.push(
                    "bouncing dynamic members revoked nothing from the eager member kept alive"
                        .into(),
                );
            }
        }
        _ => {}
    }
    out
}

/// Kafka's committed offsets against what the group consumed.
fn commit_problems(case: &Case, run: &Run) -> Vec<String> {
    let mut out = Vec::new();
    for (&p, &to) in &run.consumed_to {
        match (run.committed.get(&p).copied().flatten(), case.autocommit) {
            (None, _) => out.push(format!(
                "partition {p}: Kafka has no committed offset (consumed to {to})"
            )),
            (Some(c), false) if c != to => out.push(format!(
                "partition {p}: Kafka's committed offset {c}, the group consumed to {to}"
            )),
            (Some(c), true) if c > to => out.push(format!(
                "partition {p}: Kafka's committed offset {c} is ahead of the consumed {to}"
            )),
            _ => {}
        }
    }
    // While the group ran: Kafka's answer never went back, nor ahead of what was consumed by then.
    let mut last: BTreeMap<u32, i64> = BTreeMap::new();
    for (at, offsets) in &run.samples {
        for (&p, &c) in offsets {
            let Some(c) = c else { continue };
            if let Some(&prev) = last.get(&p) {
                if c < prev {
                    out.push(format!(
                        "partition {p}: committed offset went back from {prev} to {c}"
                    ));
                }
            }
            last.insert(p, c);
            let consumed_by_then = run
                .consumption
                .get(&p)
                .into_iter()
                .flatten()
                .filter(|(ts, _)| ts <= at)
                .map(|&(_, next)| next)
                .max();
            // Nothing consumed yet is position 0 (the topic is read from its start): an
            // auto-commit of 0 for an empty partition is not ahead.
            if consumed_by_then.unwrap_or(0) < c {
                out.push(format!(
                    "partition {p}: committed offset {c} at {at} ahead of what was consumed by then ({consumed_by_then:?})"
                ));
            }
        }
    }
    if run
        .samples
        .iter()
        .all(|(_, o)| o.values().all(Option::is_none))
    {
        out.push("no committed offset was ever seen while the group ran".into());
    }
    out
}

async fn scenario(ctx: TestContext, case: Case) {
    let started = Instant::now();
    let run = run(&ctx, &case).await;
    let problems = problems(&case, &run);
    println!(
        "{case:?}: {} problems in {:?}",
        problems.len(),
        started.elapsed()
    );
    assert!(problems.is_empty(), "{case:?}: {problems:#?}");
}

/// The default run's representative case: consumers bounced cleanly one by one.
#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn consumer_rolling_bounce_keeps_the_group_whole(ctx: TestContext) {
    scenario(
        ctx,
        Case::new(Step::RollingBounce {
            clean: true,
            keep: 0,
        }),
    )
    .await;
}

#[rstest]
#[case::rolling_hard(Case::new(Step::RollingBounce { clean: false, keep: 0 }))]
#[case::all_clean(Case::new(Step::BounceAll { clean: true, keep: 0 }))]
#[case::all_hard(Case::new(Step::BounceAll { clean: false, keep: 0 }))]
#[case::rolling_clean_zookeeper(Case::new(Step::RollingBounce { clean: true, keep: 0 }).mode(Mode::Zookeeper))]
#[case::static_rolling(Case::new(Step::RollingBounce { clean: true, keep: 1 }).static_members())]
#[case::static_all(Case::new(Step::BounceAll { clean: true, keep: 1 }).static_members())]
#[case::dynamic_rolling_keep_one(Case::new(Step::RollingBounce { clean: true, keep: 1 }).session_ms(60_000))]
#[case::consumer_failure_clean(Case::new(Step::ConsumerFailure { clean: true }))]
#[case::consumer_failure_hard(Case::new(Step::ConsumerFailure { clean: false }))]
#[case::consumer_failure_autocommit(Case::new(Step::ConsumerFailure { clean: true }).autocommit())]
#[case::broker_failure_clean(Case::new(Step::BrokerFailure { clean: true }))]
#[case::broker_failure_hard(Case::new(Step::BrokerFailure { clean: false }))]
#[case::broker_failure_hard_autocommit(Case::new(Step::BrokerFailure { clean: false }).autocommit())]
#[case::broker_rolling_bounce(Case::new(Step::BrokerRollingBounce).session_ms(30_000))]
#[case::assign_range(Case::new(Step::GrowAndShrink))]
#[case::assign_roundrobin(Case::new(Step::GrowAndShrink).protocol(KafkaVersion::DEFAULT, Protocol::Classic("org.apache.kafka.clients.consumer.RoundRobinAssignor")))]
#[case::assign_sticky(Case::new(Step::GrowAndShrink).protocol(KafkaVersion::DEFAULT, Protocol::Classic("org.apache.kafka.clients.consumer.StickyAssignor")))]
#[case::assign_cooperative_sticky(Case::new(Step::GrowAndShrink).protocol(KafkaVersion::DEFAULT, Protocol::Classic("org.apache.kafka.clients.consumer.CooperativeStickyAssignor")))]
#[case::v4_classic_rolling(Case::new(Step::RollingBounce { clean: true, keep: 0 }).protocol(KafkaVersion::V4, RANGE))]
#[case::v4_consumer_rolling(Case::new(Step::RollingBounce { clean: true, keep: 0 }).protocol(KafkaVersion::V4, Protocol::Consumer("uniform")))]
#[case::v4_consumer_hard(Case::new(Step::RollingBounce { clean: false, keep: 0 }).protocol(KafkaVersion::V4, Protocol::Consumer("uniform")))]
#[case::v4_consumer_static(Case::new(Step::RollingBounce { clean: true, keep: 1 }).protocol(KafkaVersion::V4, Protocol::Consumer("uniform")).static_members())]
#[case::v4_consumer_failure(Case::new(Step::ConsumerFailure { clean: true }).protocol(KafkaVersion::V4, Protocol::Consumer("uniform")))]
#[case::v4_consumer_broker_failure(Case::new(Step::BrokerFailure { clean: false }).protocol(KafkaVersion::V4, Protocol::Consumer("uniform")))]
#[case::v4_consumer_assign_range(Case::new(Step::GrowAndShrink).protocol(KafkaVersion::V4, Protocol::Consumer("range")))]
#[case::v4_consumer_assign_uniform(Case::new(Step::GrowAndShrink).protocol(KafkaVersion::V4, Protocol::Consumer("uniform")))]
#[tokio::test]
#[serial(heavy)]
#[ignore = "matrix, minutes each; cargo test -p ducttape-tests --test consumer_test -- --ignored"]
async fn consumer_group_matrix(ctx: TestContext, #[case] case: Case) {
    scenario(ctx, case).await;
}

/// The checks fail on broken groups: consumers that never commit (auto-commit once an hour,
/// killed at the end) while the verdict expects commits, and a second group's events fed to
/// the checker as if its member were in the group (partitions held twice).
#[rstest]
#[tokio::test]
#[serial(heavy)]
#[ignore = "shows the group checks failing; cargo test -p ducttape-tests --test consumer_test -- --ignored"]
async fn the_checks_fail_on_broken_groups(ctx: TestContext) {
    let case = Case {
        never_commits: true,
        intruder: true,
        ..Case::new(Step::RollingBounce {
            clean: true,
            keep: 0,
        })
    };
    let run = run(&ctx, &case).await;
    let problems = problems(&case, &run);
    println!("{problems:#?}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("Kafka's committed offset") || p.contains("no committed offset")),
        "the commit check must see the missing commits: {problems:#?}"
    );
    assert!(
        run.checker.violations().is_empty(),
        "the group itself behaved: {:?}",
        run.checker.violations()
    );
    let (assignment, _) = run.merged.expect("the intruder ran");
    assert!(
        !assignment.owned_twice.is_empty(),
        "two groups as one must hold partitions twice: {assignment}"
    );
}
