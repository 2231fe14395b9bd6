//! Rolling changes under load, shared by the upgrade, downgrade, migration and compatibility
//! scenarios (kafkatest's `ProduceConsumeValidateTest` with `wait_until_rejoin`): a cluster,
//! an RF3 topic with `min.insync.replicas=2`, the verifiable producer and consumer running
//! throughout, and a roll that moves one node at a time, checking after every step that each
//! partition has a leader and its full ISR and that acknowledgements go on. At the end every
//! acknowledged record must be consumed with its value.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ducttape_services::kafka::{ConfigChange, UpgradeError, UpgradeStep};
use ducttape_services::perf::ClientBuilder;
use ducttape_services::verifiable::{
    DeliveryReport, VerifiableConsumer, VerifiableConsumerService, VerifiableProducer,
    VerifiableProducerService,
};
use ducttape_services::{KafkaService, KafkaVersion, ServiceError, ServiceExt};

use crate::{
    create_replicated_topic, read_to_the_end, record_delivery, wait_for_more_acks, KafkaCluster,
    Node, TestContext, STALL,
};

/// The topic every rolling scenario writes.
pub const TOPIC: &str = "rolled";
/// The consumer group of the workload's verifiable consumer.
pub const GROUP: &str = "rolling";
/// Its replication factor: a healthy partition has this many replicas in sync.
pub const REPLICAS: usize = 3;
/// How long a step may take to become healthy (leaders, full ISR) and for acknowledgements to
/// go on after it.
pub const SETTLE: Duration = Duration::from_secs(120);

/// A cluster under load: the producer and consumer run on a client node of their own (one
/// node for both, so that a migration's controller still fits the local cluster's 6 nodes).
pub struct Workload {
    /// The cluster.
    pub cluster: KafkaCluster,
    /// The verifiable producer (idempotent, retrying).
    pub producer: Arc<VerifiableProducerService>,
    /// The verifiable consumer (record values checked).
    pub consumer: Arc<VerifiableConsumerService>,
    /// The steps taken, for `summary.json`.
    steps: std::sync::Mutex<Vec<serde_json::Value>>,
}

/// A roll that did not go through: which pass, which node and what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum RollError {
    /// The node could not be moved (stopped, started, registered).
    #[error("{pass}: {source}")]
    Move {
        /// The pass (e.g. "rolling upgrade to 4.4.0").
        pass: String,
        /// Why.
        #[source]
        source: UpgradeError,
    },
    /// The node was moved, but the cluster did not become healthy or the producer made no
    /// progress after it.
    #[error("{pass}: after moving {node}: {source}")]
    Unhealthy {
        /// The pass.
        pass: String,
        /// The node just moved.
        node: String,
        /// What did not come true.
        #[source]
        source: ServiceError,
    },
}

impl RollError {
    /// The move of `node` in `pass` that failed at its start — what a roll onto an install or
    /// a config that cannot start must report — or, when the error is something else, what it
    /// is instead.
    pub fn failed_start(&self, pass: &str, node: &Node) -> Result<&UpgradeError, String> {
        match self {
            Self::Move { pass: p, source }
                if p == pass
                    && source.node == node.name()
                    && source.step == UpgradeStep::Start
                    && self.to_string().contains("starting it again") =>
            {
                Ok(source)
            }
            other => Err(format!(
                "expected {pass} to fail starting {} again, got: {other}",
                node.name()
            )),
        }
    }
}

/// Starts the producer (`rate` records/s) and consumer of `clients` (each its own version) on
/// a leased node against `cluster`, with [`TOPIC`] created; returns once 200 records were
/// acknowledged.
pub async fn start_workload(
    ctx: &TestContext,
    cluster: KafkaCluster,
    clients: (&KafkaVersion, &KafkaVersion),
    rate: i64,
) -> Result<Workload, ServiceError> {
    start_workload_with(ctx, cluster, clients, rate, |p| p, |c| c).await
}

/// [`start_workload`] with more client settings: `producer` and `consumer` get their builders
/// last (a compression codec, static membership).
pub async fn start_workload_with(
    ctx: &TestContext,
    cluster: KafkaCluster,
    clients: (&KafkaVersion, &KafkaVersion),
    rate: i64,
    producer: impl FnOnce(VerifiableProducer) -> VerifiableProducer,
    consumer: impl FnOnce(VerifiableConsumer) -> VerifiableConsumer,
) -> Result<Workload, ServiceError> {
    create_replicated_topic(&cluster.kafka, TOPIC).await?;
    let nodes = ctx.lease(1).await.map_err(|e| ServiceError::Usage {
        service: "workload".into(),
        detail: e.to_string(),
    })?;
    let producer = producer(
        crate::producer_through_faults(vec![nodes[0].clone()], &cluster.kafka, TOPIC)
            .throughput(rate)
            .version(clients.0.clone()),
    )
    .build(ctx)?;
    let consumer = consumer(
        VerifiableConsumer::builder(vec![nodes[0].clone()], &cluster.kafka, TOPIC, GROUP)
            .version(clients.1.clone()),
    )
    .build(ctx)?;
    consumer.start().await?;
    producer.start().await?;
    wait_for_more_acks(&producer, 200, SETTLE).await?;
    Ok(Workload {
        cluster,
        producer,
        consumer,
        steps: std::sync::Mutex::default(),
    })
}

impl Workload {
    /// The brokers and controllers.
    pub fn kafka(&self) -> &Arc<KafkaService> {
        &self.cluster.kafka
    }

    /// Moves every node, one at a time in roll order, to `to` with `change` (see
    /// [`KafkaService::upgrade_node`]); after each, waits until every partition of [`TOPIC`]
    /// has a leader and all its replicas in sync, and the producer had 100 more records
    /// acknowledged.
    pub async fn roll(
        &self,
        pass: &str,
        to: &KafkaVersion,
        change: &ConfigChange,
        clean: bool,
    ) -> Result<(), RollError> {
        for node in self.kafka().nodes_in_roll_order() {
            self.step(pass, &node, to, change, clean).await?;
        }
        Ok(())
    }

    /// One step of a roll: `node` moved, then the health and progress checks.
    pub async fn step(
        &self,
        pass: &str,
        node: &Node,
        to: &KafkaVersion,
        change: &ConfigChange,
        clean: bool,
    ) -> Result<(), RollError> {
        let began = Instant::now();
        let kafka = self.kafka();
        kafka
            .upgrade_node(node, to, change, clean)
            .await
            .map_err(|source| RollError::Move {
                pass: pass.into(),
                source,
            })?;
        let unhealthy = |source| RollError::Unhealthy {
            pass: pass.into(),
            node: node.name().to_string(),
            source,
        };
        wait_for_full_isr(kafka, TOPIC).await.map_err(unhealthy)?;
        wait_for_more_acks(&self.producer, 100, SETTLE)
            .await
            .map_err(unhealthy)?;
        tracing::info!(pass, node = node.name(), to = to.version(), "step done");
        if let Ok(mut steps) = self.steps.lock() {
            steps.push(serde_json::json!({
                "pass": pass,
                "node": node.name(),
                "to": to.version(),
                "clean": clean,
                "seconds": began.elapsed().as_secs_f64(),
            }));
        }
        Ok(())
    }

    /// Stops the producer, reads the topic to its end, records the delivery report and the
    /// steps in `summary.json`, and returns the report (the caller asserts it clean).
    pub async fn finish(&self, ctx: &TestContext) -> Result<DeliveryReport, ServiceError> {
        if let Ok(steps) = self.steps.lock() {
            ctx.record("roll_steps", serde_json::Value::from(steps.clone()));
        }
        let report = read_to_the_end(
            self.kafka(),
            TOPIC,
            &[&self.producer],
            &self.consumer,
            STALL,
        )
        .await?;
        record_delivery(ctx, &report);
        Ok(report)
    }
}

/// Waits (up to [`SETTLE`]) until every partition of `topic` has a leader and [`REPLICAS`]
/// replicas in sync (kafkatest's `wait_until_rejoin`).
pub async fn wait_for_full_isr(kafka: &KafkaService, topic: &str) -> Result<(), ServiceError> {
    ducttape_core::wait_until(
        &format!("every partition of {topic} has a leader and {REPLICAS} replicas in sync"),
        SETTLE,
        Duration::from_millis(500),
        || async {
            let parts = kafka.describe_topic(topic).await?;
            let healthy = !parts.is_empty()
                && parts
                    .iter()
                    .all(|p| p.leader.is_some() && p.isr.len() == REPLICAS);
            Ok::<_, ServiceError>(healthy.then_some(()))
        },
    )
    .await
    .map_err(|e| ServiceError::Usage {
        service: "kafka".into(),
        detail: e.to_string(),
    })
}

/// `topic`'s id as `kafka-topics --describe` prints it (`TopicId: …`): kafkatest checks it
/// survives every upgrade and downgrade.
pub async fn topic_id(kafka: &KafkaService, topic: &str) -> Result<String, ServiceError> {
    let args: Vec<String> = [
        "--bootstrap-server",
        &kafka.bootstrap_servers(),
        "--describe",
        "--topic",
        topic,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    let out = kafka
        .run_admin_tool("org.apache.kafka.tools.TopicCommand", &args)
        .await?;
    out.split_whitespace()
        .skip_while(|t| *t != "TopicId:")
        .nth(1)
        .map(str::to_string)
        .ok_or_else(|| ServiceError::Usage {
            service: "kafka".into(),
            detail: format!("no TopicId in kafka-topics --describe:\n{out}"),
        })
}
