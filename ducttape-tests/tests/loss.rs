#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! The loss checker bites: the same workload and the same fault, once on a configuration known
//! to lose acknowledged writes and once on the safe one, in ZooKeeper and KRaft mode; and the
//! unsafe configuration without the fault, which must lose nothing.
//!
//! The fault (Jepsen's classic for Kafka): the leader of the only partition is cut off from the
//! other brokers and from ZooKeeper / the controllers, while the producers and the consumer
//! still reach it. The other replicas stop fetching, the controller moves leadership to one of
//! them, and the old leader, which cannot reach anyone to shrink its ISR, goes on answering the
//! producers. With `acks=1` it acknowledges every record alone; when the partition heals it
//! learns it was deposed and truncates its log to the new leader's: every record it
//! acknowledged alone is gone. With `acks=all` and `min.insync.replicas=2` it cannot
//! acknowledge anything alone: the records wait and are acknowledged by the new leader after
//! the heal, and nothing acknowledged is lost.
//!
//! The workload, the same in every run:
//! - producer-1 (values `1.<n>`) sends 500 records/s from the start until after the heal; the
//!   records it had acknowledged before the fault are on every replica first (the high
//!   watermark is past them), so none of them may be lost;
//! - producer-3 (values `3.<n>`) starts once the leadership has moved, on a node of its own
//!   that the fault puts on the isolated leader's side (it reaches no other broker), and sends
//!   its 500 records at once: records sent during the isolation, by a client that only the
//!   isolated leader can answer;
//! - producer-2 (values `2.<n>`) sends 500 more once the old leader is back in the ISR (a
//!   follower again: until then it may still take records as leader, and lose them);
//! - one verifiable consumer reads throughout, until it has read everything the partition
//!   holds ([`read_to_the_end`]: a consumer that stops reading is a failure of its own, never a
//!   timeout that hides the losses).
//!
//! Verdicts: the unsafe run loses records, and exactly the ones the isolated leader
//! acknowledged alone (producer-1's from the count acknowledged before the fault on, and
//! producer-3's), none from before the fault nor from producer-2; the safe run loses nothing,
//! acknowledged nothing alone, and acknowledged all of producer-3's records after the heal (so
//! "nothing lost" is not "nothing tried"); without the fault the unsafe run loses nothing.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ducttape_services::faults::Faults;
use ducttape_services::kafka::BROKER_PORT;
use ducttape_services::perf::ClientBuilder;
use ducttape_services::verifiable::{
    acknowledged_so_far, check_delivery_of, DeliveryReport, VerifiableConsumer, VerifiableEvent,
    VerifiableProducer, VerifiableProducerService,
};
use ducttape_services::{KafkaService, KafkaVersion, Service, ServiceError, ServiceExt, TopicSpec};
use ducttape_tests::{
    ctx, read_to_the_end, start_kafka, wait_for_leader, wait_for_leader_move, wait_for_more_acks,
    wait_for_rejoin, Mode, Node, TestContext, STALL,
};
use rstest::rstest;
use serial_test::serial;

/// How long the first acknowledgements may take.
const RESUME: Duration = Duration::from_secs(120);
/// Records producer-3 sends during the isolation, and producer-2 after the heal.
const BATCH: i64 = 500;
/// How long the isolated leader is given to acknowledge records alone.
const WINDOW: Duration = Duration::from_secs(20);

/// Producer and topic settings of the runs; everything else is the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// `acks=1`, `min.insync.replicas=1`, unclean leader election on.
    Unsafe,
    /// `acks=all`, `min.insync.replicas=2`, no unclean leader election, idempotence.
    Safe,
}

/// One acknowledgement: when the producer printed it (ms since the epoch), where, what.
#[derive(Debug, Clone)]
struct Ack {
    at_ms: i64,
    offset: i64,
    value: String,
}

/// What a run saw, for the verdicts.
struct Run {
    report: DeliveryReport,
    /// Producer-1's records acknowledged before the fault (all on every replica by then).
    before: u64,
    /// The leader acknowledged 1,000 more of producer-1's records once the leadership had
    /// moved (with the fault: the isolated leader, alone).
    acked_alone: bool,
    /// Acknowledgements printed between the leadership move and the heal (producer-1's and
    /// producer-3's): with the fault, what the isolated leader acknowledged alone.
    acked_while_isolated: Vec<Ack>,
    /// Producer-3's acknowledgements.
    through: Vec<Ack>,
    /// When producer-3 started sending (ms since the epoch).
    through_started_ms: i64,
    /// When the fault was healed (ms since the epoch).
    healed_ms: i64,
    /// The values of the acknowledged records lost (never consumed, or replaced).
    lost: BTreeSet<String>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `<prefix>.<n>` as (prefix, n).
fn sequence(value: &str) -> Option<(u32, u64)> {
    let (prefix, n) = value.split_once('.')?;
    Some((prefix.parse().ok()?, n.parse().ok()?))
}

/// A producer's acknowledgements with an offset, as printed so far.
async fn acks_of(producer: &VerifiableProducerService) -> Vec<Ack> {
    let mut acks = Vec::new();
    for node in producer.nodes() {
        let output = producer.output_so_far(node).await.unwrap();
        acks.extend(output.events.iter().filter_map(|e| match e {
            VerifiableEvent::ProducerSendSuccess { record, timestamp } if record.offset >= 0 => {
                Some(Ack {
                    at_ms: *timestamp,
                    offset: record.offset,
                    value: record.value.clone().unwrap_or_default(),
                })
            }
            _ => None,
        }));
    }
    acks
}

/// Waits until `producer` has had `count` records acknowledged in all (a producer with a
/// fixed number of records, which may have had some before the call).
async fn wait_for_all_acks(
    producer: &VerifiableProducerService,
    count: u64,
    timeout: Duration,
) -> Result<u64, ServiceError> {
    ducttape_core::wait_until(
        &format!("{} has {count} acknowledgements", producer.name()),
        timeout,
        Duration::from_millis(500),
        || async {
            let acked = acknowledged_so_far(producer).await?;
            Ok::<_, ServiceError>((acked >= count).then_some(acked))
        },
    )
    .await
    .map_err(|e| ServiceError::Usage {
        service: producer.name().to_string(),
        detail: e.to_string(),
    })
}

/// When `producer` printed `startup_complete` (it sends right after), once it has.
async fn started_at(producer: &VerifiableProducerService) -> Result<i64, ServiceError> {
    ducttape_core::wait_until(
        &format!("{} has started", producer.name()),
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async {
            let mut at = None;
            for node in producer.nodes() {
                let output = producer.output_so_far(node).await?;
                at = at.or(output.events.iter().find_map(|e| match e {
                    VerifiableEvent::StartupComplete { timestamp } => Some(*timestamp),
                    _ => None,
                }));
            }
            Ok::<_, ServiceError>(at)
        },
    )
    .await
    .map_err(|e| ServiceError::Usage {
        service: producer.name().to_string(),
        detail: e.to_string(),
    })
}

/// Waits until partition 0 of `topic` has its high watermark at `offset` or beyond: every
/// in-sync replica holds the records before it.
async fn wait_for_high_watermark(
    kafka: &KafkaService,
    topic: &str,
    offset: i64,
) -> Result<(), ServiceError> {
    ducttape_core::wait_until(
        &format!("{topic}-0 has its high watermark at {offset}"),
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async {
            let ends = kafka.end_offsets(topic).await?;
            Ok::<_, ServiceError>(ends.get(&0).is_some_and(|&end| end >= offset))
        },
    )
    .await
    .map_err(|e| ServiceError::Usage {
        service: "kafka".into(),
        detail: e.to_string(),
    })
}

/// Runs the workload (see the module docs), through the fault when `fault`, and returns what
/// it saw.
async fn run_the_workload(
    ctx: &TestContext,
    mode: Mode,
    durability: Durability,
    fault: bool,
) -> Run {
    let safe = durability == Durability::Safe;
    let cluster = start_kafka(ctx, mode, 3, KafkaVersion::DEFAULT)
        .await
        .unwrap();
    let kafka = &cluster.kafka;
    let topic = "isolated";
    kafka
        .create_topic(
            &TopicSpec::new(topic)
                .partitions(1)
                .replication_factor(3)
                .config("min.insync.replicas", if safe { 2 } else { 1 })
                .config("unclean.leader.election.enable", !safe),
        )
        .await
        .unwrap();
    let mut clients = ctx.lease(2).await.unwrap();
    // Producer-3's node: with the fault, it reaches the isolated leader only.
    let minority = clients.remove(1);
    let client = clients.remove(0);
    let producer_for = |phase: u32, node: &Node| {
        VerifiableProducer::builder(vec![node.clone()], kafka, topic)
            .value_prefix(phase)
            .acks(if safe { "-1" } else { "1" })
            .prop("enable.idempotence", safe)
            .prop("retries", i32::MAX)
            // A request waits at the isolated leader for as long as the isolation lasts (its
            // default 30 s could end it first and send the producer elsewhere).
            .prop("request.timeout.ms", 60_000)
            .prop("delivery.timeout.ms", 300_000)
            .name(&format!("producer-{phase}"))
    };
    let producer = producer_for(1, &client).throughput(500).build(ctx).unwrap();
    let consumer = VerifiableConsumer::builder(vec![client.clone()], kafka, topic, "loss-check")
        .build(ctx)
        .unwrap();
    consumer.start().await.unwrap();
    producer.start().await.unwrap();
    wait_for_more_acks(&producer, 500, RESUME).await.unwrap();

    // What was acknowledged before the fault is on every replica before the fault.
    let leader = wait_for_leader(kafka, topic, 0).await.unwrap();
    let acked = acks_of(&producer).await;
    let before = acked.len() as u64;
    let last = acked.iter().map(|a| a.offset).max().unwrap();
    wait_for_high_watermark(kafka, topic, last + 1)
        .await
        .unwrap();

    let faults = Faults::new(ctx);
    if fault {
        // Cut the leader off from every other broker and from the metadata quorum, not from
        // the clients.
        let quorum: Vec<Node> = cluster
            .zookeeper
            .as_ref()
            .map(|zk| zk.nodes().to_vec())
            .unwrap_or_default();
        let others: Vec<Node> = kafka
            .brokers()
            .into_iter()
            .chain(quorum)
            .filter(|n| n.name() != leader.name())
            .collect();
        faults
            .partition(std::slice::from_ref(&leader), &others)
            .await
            .unwrap();
        let rules = faults.describe(&leader).await.unwrap();
        assert!(rules.contains("DROP"), "the partition is in place: {rules}");
        wait_for_leader_move(kafka, &client, topic, &leader)
            .await
            .expect("leadership moved away from the isolated broker");
        // Producer-3's node is on the isolated leader's side: it reaches no other broker
        // (else its client may ask them who leads, and go to the new leader).
        let other_brokers: Vec<Node> = kafka
            .brokers()
            .into_iter()
            .filter(|n| n.name() != leader.name())
            .collect();
        faults
            .partition(std::slice::from_ref(&minority), &other_brokers)
            .await
            .unwrap();
    }
    let moved_ms = now_ms();
    // Records sent during the isolation, by a client that reaches the isolated leader only.
    let through = producer_for(3, &minority)
        .bootstrap_servers(&format!("{}:{BROKER_PORT}", leader.address()))
        // Unreachable brokers are given up on quickly, not after the default 10 s.
        .prop("socket.connection.setup.timeout.ms", 1000)
        .prop("socket.connection.setup.timeout.max.ms", 1000)
        .max_messages(BATCH)
        .throughput(-1)
        .build(ctx)
        .unwrap();
    through.start().await.unwrap();
    let through_started_ms = started_at(&through).await.unwrap();
    // A while under the new leader, so the old one acknowledges (or holds) records alone:
    // with acks=1 producer-1's next 1,000 and all of producer-3's come; with acks=all they
    // cannot, and both waits give up after the same 20 s.
    let (acked_alone, _) = tokio::join!(
        wait_for_more_acks(&producer, 1000, WINDOW),
        wait_for_all_acks(&through, BATCH as u64, WINDOW),
    );
    let acked_alone = acked_alone.is_ok();
    let healed_ms = now_ms();
    faults.heal_all().await.unwrap();
    wait_for_rejoin(kafka, &client, topic, &leader)
        .await
        .unwrap();
    // The first producer must still be running: only our stop ends it. The third ends on its
    // own once all its records are acknowledged.
    producer.stop().await.unwrap();
    through.wait_for(Duration::from_secs(180)).await.unwrap();

    // After the heal the partition serves again: a second producer's records are all
    // acknowledged, and none of them may be lost.
    let after = producer_for(2, &client)
        .max_messages(BATCH)
        .throughput(-1)
        .build(ctx)
        .unwrap();
    after.run().await.unwrap();
    assert_eq!(acknowledged_so_far(&after).await.unwrap(), BATCH as u64);

    let report = read_to_the_end(
        kafka,
        topic,
        &[&producer, &through, &after],
        &consumer,
        STALL,
    )
    .await
    .unwrap();
    println!(
        "{mode:?} {durability:?}, fault {fault}, leader {}: {report}",
        leader.name()
    );

    let mut every_ack = acks_of(&producer).await;
    let through_acks = acks_of(&through).await;
    every_ack.extend(through_acks.iter().cloned());
    every_ack.extend(acks_of(&after).await);
    // The values acknowledged at the offsets never consumed, and those replaced.
    let lost_offsets: BTreeSet<i64> = report.lost.iter().map(|r| r.offset).collect();
    let mut lost: BTreeSet<String> = every_ack
        .iter()
        .filter(|a| lost_offsets.contains(&a.offset))
        .map(|a| a.value.clone())
        .collect();
    lost.extend(
        report
            .value_mismatches
            .iter()
            .filter_map(|m| m.acked.clone()),
    );
    let acked_while_isolated: Vec<Ack> = every_ack
        .iter()
        .filter(|a| a.at_ms >= moved_ms && a.at_ms < healed_ms)
        .filter(|a| sequence(&a.value).is_some_and(|(p, _)| p != 2))
        .cloned()
        .collect();

    ctx.record("mode", format!("{mode:?}"));
    ctx.record("durability", format!("{durability:?}"));
    ctx.record("fault", fault);
    ducttape_tests::record_delivery(ctx, &report);
    ctx.record("acked", report.acked);
    ctx.record("acked_before_fault", before);
    ctx.record("acked_alone_by_isolated_leader", acked_alone);
    ctx.record("acked_while_isolated", acked_while_isolated.len() as u64);
    ctx.record("lost_acknowledged", report.lost_acknowledged() as u64);
    ctx.record("never_consumed", report.lost.len() as u64);
    ctx.record("replaced", report.value_mismatches.len() as u64);
    Run {
        report,
        before,
        acked_alone,
        acked_while_isolated,
        through: through_acks,
        through_started_ms,
        healed_ms,
        lost,
    }
}

#[rstest]
#[case::zookeeper(Mode::Zookeeper)]
#[case::kraft(Mode::Kraft)]
#[tokio::test]
#[serial(heavy)]
async fn unsafe_config_loses_acknowledged_records_and_the_checker_says_so(
    ctx: TestContext,
    #[case] mode: Mode,
) {
    let run = run_the_workload(&ctx, mode, Durability::Unsafe, true).await;
    let report = &run.report;
    assert!(
        run.acked_alone,
        "the isolated leader acknowledged records alone: {report}"
    );
    assert!(
        report.lost_acknowledged() > 0,
        "acks=1 through an isolated leader lost nothing? {report}"
    );
    // What was lost is what the isolated leader acknowledged alone: producer-1's records
    // from those acknowledged before the fault on, and producer-3's; nothing from before the
    // fault, nothing of producer-2's.
    let not_alone: Vec<&String> = run
        .lost
        .iter()
        .filter(|v| match sequence(v) {
            Some((1, n)) => n < run.before,
            Some((3, _)) => false,
            _ => true,
        })
        .collect();
    assert!(
        not_alone.is_empty(),
        "lost records the isolated leader did not acknowledge alone (producer-1 had {} \
         acknowledged before the fault): {not_alone:?}\n{report}",
        run.before
    );
    // And all of what it acknowledged alone is gone.
    let kept: Vec<&str> = run
        .acked_while_isolated
        .iter()
        .map(|a| a.value.as_str())
        .filter(|v| !run.lost.contains(*v))
        .collect();
    assert!(
        !run.acked_while_isolated.is_empty() && kept.is_empty(),
        "acknowledged by the isolated leader alone, yet not lost: {kept:?}\n{report}"
    );
    assert!(
        run.through.len() == BATCH as usize && run.through.iter().all(|a| a.at_ms < run.healed_ms),
        "producer-3's records were acknowledged during the isolation: {:?}",
        run.through.iter().map(|a| a.at_ms).max()
    );
}

#[rstest]
#[case::zookeeper(Mode::Zookeeper)]
#[case::kraft(Mode::Kraft)]
#[tokio::test]
#[serial(heavy)]
async fn safe_config_loses_nothing_under_the_same_fault(ctx: TestContext, #[case] mode: Mode) {
    let run = run_the_workload(&ctx, mode, Durability::Safe, true).await;
    let report = &run.report;
    assert!(report.is_clean(), "acknowledged records lost: {report}");
    assert!(
        !run.acked_alone && run.acked_while_isolated.is_empty(),
        "the isolated leader acknowledged records alone: {:?}",
        run.acked_while_isolated
            .iter()
            .map(|a| &a.value)
            .collect::<Vec<_>>()
    );
    // Not "nothing tried": producer-3 sent its records during the isolation, reaching only
    // the isolated leader, and every one of them was acknowledged after the heal.
    let after_heal = run
        .through
        .iter()
        .filter(|a| a.at_ms >= run.healed_ms)
        .count();
    assert!(
        run.through_started_ms < run.healed_ms && after_heal >= BATCH as usize,
        "records sent during the isolation and acknowledged after the heal: {after_heal} of \
         {BATCH} (producer-3 started {} ms before the heal)",
        run.healed_ms - run.through_started_ms
    );
}

/// The control: the unsafe configuration loses nothing when nothing goes wrong.
#[rstest]
#[case::zookeeper(Mode::Zookeeper)]
#[case::kraft(Mode::Kraft)]
#[tokio::test]
#[serial(heavy)]
async fn unsafe_config_loses_nothing_without_the_fault(ctx: TestContext, #[case] mode: Mode) {
    let run = run_the_workload(&ctx, mode, Durability::Unsafe, false).await;
    let report = &run.report;
    assert!(report.is_clean() && report.caught_up, "{report}");
    assert!(run.acked_alone, "acknowledgements went on: {report}");
    assert_eq!(run.through.len(), BATCH as usize, "{report}");
    assert!(
        report.acked >= run.before + 1000 + 2 * BATCH as u64,
        "{report}"
    );
}

/// The verdict always comes: a consumer that stops reading while its partition holds records
/// it has not read is a failure of its own, named with its position and the partition's end
/// offset, and the report so far shows what it missed. The broken case is real: the consumer's
/// JVM frozen with SIGSTOP.
#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn a_consumer_that_stops_reading_is_named_with_its_position(ctx: TestContext) {
    let cluster = start_kafka(&ctx, Mode::Kraft, 1, KafkaVersion::DEFAULT)
        .await
        .unwrap();
    let kafka = &cluster.kafka;
    let topic = "stalled";
    kafka.create_topic(&TopicSpec::new(topic)).await.unwrap();
    let client = ctx.lease(1).await.unwrap().remove(0);
    let producer_for = |phase: u32| {
        VerifiableProducer::builder(vec![client.clone()], kafka, topic)
            .value_prefix(phase)
            .max_messages(200)
            .throughput(-1)
            .name(&format!("producer-{phase}"))
            .build(&ctx)
            .unwrap()
    };
    let consumer = VerifiableConsumer::builder(vec![client.clone()], kafka, topic, "stall-check")
        .build(&ctx)
        .unwrap();
    consumer.start().await.unwrap();
    let first = producer_for(1);
    first.run().await.unwrap();
    ducttape_core::wait_until(
        "the consumer has read the first 200",
        Duration::from_secs(120),
        Duration::from_millis(500),
        || async {
            Ok::<_, ServiceError>(check_delivery_of(&[&first], &[&consumer]).await?.caught_up)
        },
    )
    .await
    .unwrap();

    let pid = consumer.pids(&client).await.unwrap()[0];
    client.account().signal_group(pid, "STOP").await.unwrap();
    let second = producer_for(2);
    second.run().await.unwrap();
    let stalled = read_to_the_end(
        kafka,
        topic,
        &[&first, &second],
        &consumer,
        Duration::from_secs(10),
    )
    .await;
    client.account().signal_group(pid, "CONT").await.unwrap();

    let err = stalled.expect_err("a frozen consumer is not caught up");
    let text = err.to_string();
    println!("{text}");
    assert!(
        matches!(err, ServiceError::ConsumerStalled { .. })
            && text.contains("stalled-0: next offset 200, end offset 400")
            && text.contains("400 acked, 200 consumed: 200 lost"),
        "{text}"
    );
}
