//! The exactly-once copy scenario of kafkatest's `transactions_test` and
//! `group_mode_transactions_test`, shared by `tests/transactions_test.rs` and
//! `tests/group_mode_transactions_test.rs`.
//!
//! A seeded input topic is copied into an output topic by Kafka's `TransactionalMessageCopier`
//! (random aborts on) while either the copiers or the brokers are bounced, cleanly or hard; a
//! `read_committed` verifiable consumer reads the output all along. Then the output is read
//! whole twice from the test process ([`KafkaService::read_topic`]): `read_committed`, which must
//! hold every input value exactly once in its partition's order, and `read_uncommitted`, which
//! holds the aborted copies too — the checker must name them as duplicates, or it could not
//! tell a broken copy from a good one.

use std::time::{Duration, Instant};

use ducttape_services::kafka::Isolation;
use ducttape_services::perf::ClientBuilder;
use ducttape_services::verifiable::{
    copier_progress, CopierService, ExactlyOnceChecker, ExactlyOnceReport, ReadRecord,
    TransactionalMessageCopier, VerifiableConsumer, VerifiableConsumerService, VerifiableEvent,
    VerifiableProducer,
};
use ducttape_services::{KafkaService, KafkaVersion, Service, ServiceError, ServiceExt, TopicSpec};

use crate::{start_kafka, Mode, Node, TestContext};

const INPUT: &str = "input-topic";
const OUTPUT: &str = "output-topic";
/// kafkatest's progress timeout: a copier must reach 20 % of its run within it.
const PROGRESS: Duration = Duration::from_secs(60);
/// kafkatest's copier timeout in group mode (240 s; standalone 120 s).
const COPY: Duration = Duration::from_secs(240);

/// What is bounced while the copy runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Each broker in turn, once.
    Brokers,
    /// Each copier in turn, three rounds, each after it made 20 % progress.
    Copiers,
}

impl Target {
    /// The copiers' transaction timeout: kafkatest's 40 s when brokers are bounced (a produce
    /// may wait out the 30 s request timeout, and the transaction must outlive it); 15 s when
    /// copiers are, since a copier started after a hard kill waits for its predecessor's open
    /// transaction to time out before it can read its committed offsets (up to 40 s a bounce,
    /// six bounces a case, with kafkatest's value).
    pub fn transaction_timeout(self) -> Duration {
        match self {
            Self::Brokers => Duration::from_secs(40),
            Self::Copiers => Duration::from_secs(15),
        }
    }
}

/// One case of the matrix.
#[derive(Debug, Clone, Copy)]
pub struct CopyCase {
    /// ZooKeeper or KRaft.
    pub mode: Mode,
    /// Subscribing copiers (group mode) instead of one per input partition.
    pub group_mode: bool,
    /// What is bounced.
    pub target: Target,
    /// SIGTERM (and controlled shutdown) rather than SIGKILL.
    pub clean: bool,
    /// Standalone: commit offsets with the consumer's group metadata (KIP-447).
    pub use_group_metadata: bool,
    /// One input and one output partition (kafkatest's `check_order`), else 2 and 3
    /// (standalone) or 9 and 9 (group mode).
    pub single_partition: bool,
    /// Records seeded into the input.
    pub records: u32,
}

/// What a case saw.
#[derive(Debug)]
pub struct CopyOutcome {
    /// The input's records per partition.
    pub input_partitions: std::collections::BTreeMap<i32, usize>,
    /// The output read whole with `read_committed`.
    pub committed: ExactlyOnceReport,
    /// What the `read_committed` consumer read during the bounces.
    pub concurrent: ExactlyOnceReport,
    /// The output read whole with `read_uncommitted` (aborted copies included).
    pub uncommitted: ExactlyOnceReport,
}

impl CopyOutcome {
    /// The verdicts (panics, for tests): both `read_committed` reads exact; the
    /// `read_uncommitted` read holds every record and the checker names aborted copies in it.
    pub fn assert_exactly_once(&self) {
        assert!(
            self.committed.is_exact(),
            "read_committed: {}",
            self.committed
        );
        assert!(
            self.concurrent.is_exact(),
            "concurrent read_committed: {}",
            self.concurrent
        );
        // The broken read: the aborted copies are in the log, and the checker names them.
        assert!(
            !self.uncommitted.duplicated.is_empty() && !self.uncommitted.is_exact(),
            "read_uncommitted showed no aborted copy: {}",
            self.uncommitted
        );
        assert!(
            self.uncommitted.missing.is_empty(),
            "read_uncommitted lacks records read_committed has: {}",
            self.uncommitted
        );
    }
}

fn usage(detail: impl ToString) -> ServiceError {
    ServiceError::Usage {
        service: "exactly-once copy".into(),
        detail: detail.to_string(),
    }
}

/// Runs `case` on a 3-broker cluster plus one client node, and checks all three reads.
pub async fn copy_under_bounces(
    ctx: &TestContext,
    case: CopyCase,
) -> Result<CopyOutcome, ServiceError> {
    let started = Instant::now();
    let cluster = start_kafka(ctx, case.mode, 3, KafkaVersion::DEFAULT)
        .await
        .map_err(usage)?;
    let kafka = cluster.kafka;
    let client = ctx
        .lease(1)
        .await
        .map_err(usage)?
        .pop()
        .ok_or_else(|| usage("no client node"))?;
    let (inputs, outputs, copiers) = match (case.group_mode, case.single_partition) {
        (_, true) => (1, 1, 1),
        (true, false) => (9, 9, 3),
        (false, false) => (2, 3, 2),
    };
    for (topic, partitions) in [(INPUT, inputs), (OUTPUT, outputs)] {
        kafka
            .create_topic(
                &TopicSpec::new(topic)
                    .partitions(partitions)
                    .replication_factor(3)
                    .config("min.insync.replicas", 2),
            )
            .await?;
    }
    let input = seed(ctx, &kafka, &client, case, inputs).await?;
    let checker = ExactlyOnceChecker::new(input);
    tracing::info!(partitions = ?checker.input_partitions(), "input seeded");

    let copiers = (0..copiers)
        .map(|i| {
            let id = format!("copier-{i}");
            let group = if case.group_mode {
                "grouped-transactions-test-consumer-group"
            } else {
                "transactions-test-consumer-group"
            };
            let copier = TransactionalMessageCopier::builder(
                client.clone(),
                &kafka,
                &id,
                group,
                INPUT,
                OUTPUT,
            );
            let copier = if case.group_mode {
                copier.group_mode()
            } else {
                copier
                    .input_partition(i)
                    .use_group_metadata(case.use_group_metadata)
            };
            copier
                .transaction_timeout(case.target.transaction_timeout())
                .timeout(COPY)
                .build(ctx)
        })
        .collect::<Result<Vec<_>, _>>()?;
    for copier in &copiers {
        copier.start().await?;
    }
    let concurrent =
        VerifiableConsumer::builder(vec![client.clone()], &kafka, OUTPUT, "concurrent_consumer")
            .prop("isolation.level", "read_committed")
            .name("concurrent-consumer")
            .build(ctx)?;
    concurrent.start().await?;

    match case.target {
        Target::Copiers => bounce_copiers(&copiers, case.clean).await?,
        Target::Brokers => bounce_brokers(&kafka, case.clean).await?,
    }
    for copier in &copiers {
        copier.wait().await?;
    }
    tracing::info!(after = ?started.elapsed(), "every copier finished its copy");

    let expected = checker.input_partitions().values().sum::<usize>();
    let read = read_concurrently(&concurrent, expected).await?;
    let committed = kafka.read_topic(OUTPUT, Isolation::ReadCommitted).await?;
    let uncommitted = kafka.read_topic(OUTPUT, Isolation::ReadUncommitted).await?;
    let outcome = CopyOutcome {
        input_partitions: checker.input_partitions(),
        committed: checker.report(&committed),
        concurrent: checker.report(&read),
        uncommitted: checker.report(&uncommitted),
    };
    for (what, report) in [
        ("read_committed", &outcome.committed),
        ("concurrent read_committed", &outcome.concurrent),
        ("read_uncommitted", &outcome.uncommitted),
    ] {
        tracing::info!(what, %report, "exactly-once check");
        ctx.record(
            &format!("exactly_once.{}", what.replace(' ', "_")),
            serde_json::to_value(report).unwrap_or_default(),
        );
    }
    Ok(outcome)
}

/// Seeds the input with the verifiable producer (idempotent); returns (partition, value) of
/// every acknowledged record in each partition's offset order.
async fn seed(
    ctx: &TestContext,
    kafka: &KafkaService,
    client: &Node,
    case: CopyCase,
    partitions: u32,
) -> Result<Vec<(i32, String)>, ServiceError> {
    let producer = VerifiableProducer::builder(vec![client.clone()], kafka, INPUT)
        .max_messages(i64::from(case.records))
        .throughput(-1)
        .prop("enable.idempotence", true)
        .prop("retries", i32::MAX)
        .name("seed-producer")
        // Keys 0..n-1, so the records reach the partitions by key hash, not by the sticky
        // partitioner (unkeyed, as kafkatest seeds, a whole seed once landed in one of two
        // partitions and one copier had nothing to copy): keys 0 and 1 hash onto both of two
        // partitions, 0..8 onto 7 of 9.
        .repeating_keys(partitions)
        .build(ctx)?;
    producer.start().await?;
    producer.wait().await?;
    let mut acked: Vec<(i32, i64, String)> = producer
        .outputs()
        .into_values()
        .flat_map(|o| o.events)
        .filter_map(|e| match e {
            VerifiableEvent::ProducerSendSuccess { record, .. } => {
                record.value.map(|v| (record.partition, record.offset, v))
            }
            _ => None,
        })
        .collect();
    acked.sort_by_key(|(p, o, _)| (*p, *o));
    if acked.len() != case.records as usize {
        return Err(usage(format!(
            "the seed producer had {} of {} records acknowledged",
            acked.len(),
            case.records
        )));
    }
    // Standalone, each copier copies its own input partition: one left empty is a copier
    // that copies nothing and a bounce that proves nothing.
    let seeded: std::collections::BTreeSet<i32> = acked.iter().map(|(p, _, _)| *p).collect();
    if !case.group_mode && seeded.len() < partitions as usize {
        return Err(usage(format!(
            "the seed reached input partitions {seeded:?} only, of {partitions}: a copier \
             would have nothing to copy"
        )));
    }
    Ok(acked.into_iter().map(|(p, _, v)| (p, v)).collect())
}

/// kafkatest's copier bounce: three rounds; in each, every copier in turn is bounced once it
/// has done 20 % of its current run (a finished copier is left alone).
async fn bounce_copiers(
    copiers: &[std::sync::Arc<CopierService>],
    clean: bool,
) -> Result<(), ServiceError> {
    for round in 0..3 {
        for copier in copiers {
            let progress = ducttape_core::wait_until(
                &format!("{} made 20 % progress", copier.name()),
                PROGRESS,
                Duration::from_millis(200),
                || async {
                    let p = copier_progress(copier).await?;
                    Ok::<_, ServiceError>((p >= 20.0).then_some(p))
                },
            )
            .await
            .map_err(usage)?;
            if progress >= 100.0 {
                continue;
            }
            tracing::info!(
                copier = copier.name(),
                round,
                progress,
                clean,
                "bouncing the copier"
            );
            for node in copier.nodes() {
                copier.restart_node(node, clean).await?;
            }
        }
    }
    Ok(())
}

/// kafkatest's broker bounce: each broker in turn, then until no partition of the two topics
/// is under-replicated.
async fn bounce_brokers(kafka: &KafkaService, clean: bool) -> Result<(), ServiceError> {
    for node in kafka.brokers() {
        tracing::info!(broker = node.name(), clean, "bouncing the broker");
        kafka.bounce(&node, clean).await?;
        ducttape_core::wait_until(
            "no partition of the input and output is under-replicated",
            Duration::from_secs(120),
            Duration::from_millis(500),
            || async {
                let mut full = true;
                for topic in [INPUT, OUTPUT] {
                    full &= kafka
                        .describe_topic(topic)
                        .await?
                        .iter()
                        .all(|p| p.isr.len() == p.replicas.len());
                }
                Ok::<_, ServiceError>(full)
            },
        )
        .await
        .map_err(usage)?;
    }
    Ok(())
}

/// Waits until the concurrent consumer has read at least `expected` records (kafkatest's
/// drain: more is checked as duplicates, fewer fails here), stops it and returns them.
async fn read_concurrently(
    consumer: &VerifiableConsumerService,
    expected: usize,
) -> Result<Vec<ReadRecord>, ServiceError> {
    let records = |output: ducttape_services::verifiable::VerifiableOutput| -> Vec<ReadRecord> {
        output
            .events
            .into_iter()
            .filter_map(|e| match e {
                VerifiableEvent::RecordData { record, .. } => Some(ReadRecord {
                    partition: record.partition,
                    offset: record.offset,
                    value: record.value.unwrap_or_default(),
                }),
                _ => None,
            })
            .collect()
    };
    let node = consumer
        .nodes()
        .first()
        .cloned()
        .ok_or_else(|| usage("the consumer has no node"))?;
    let waited = ducttape_core::wait_until(
        &format!("the concurrent consumer read {expected} records"),
        Duration::from_secs(120),
        Duration::from_millis(500),
        || async {
            let n = records(consumer.output_so_far(&node).await?).len();
            Ok::<_, ServiceError>(n >= expected)
        },
    )
    .await;
    consumer.stop().await?;
    let read: Vec<ReadRecord> = consumer.outputs().into_values().flat_map(records).collect();
    waited.map_err(|e| usage(format!("{e}: it read {} records", read.len())))?;
    Ok(read)
}
