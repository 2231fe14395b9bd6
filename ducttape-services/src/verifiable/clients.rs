//! [`VerifiableProducer`] and [`VerifiableConsumer`] as background workers, one per node.

use std::sync::Arc;

use ducttape_core::cluster::Node;
use ducttape_core::context::TestContext;

use super::checker::{DeliveryChecker, DeliveryReport};
use super::events::{parse_event_line, VerifiableEvent};
use crate::error::ServiceError;
use crate::kafka::KafkaService;
use crate::perf::{ClientBuilder, ClientOptions, ToolOutput, ToolService};

/// The events a verifiable client printed, and any line that claimed to be one but did not
/// parse (kept: a dropped acknowledgement would hide a lost record).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VerifiableOutput {
    /// The events, in order.
    #[serde(skip)]
    pub events: Vec<VerifiableEvent>,
    /// Malformed event lines with the reason.
    pub malformed: Vec<String>,
    /// Event counts by name, for `summary.json`.
    pub counts: std::collections::BTreeMap<String, u64>,
    /// The producer's own count of acknowledged records, from the first `tool_data` event.
    #[serde(skip)]
    tool_acked: Option<u64>,
    /// Whether the last entry of `malformed` is the verdict of
    /// [`unread_acknowledgements`](Self::unread_acknowledgements), made again at each read.
    #[serde(skip)]
    count_verdict: bool,
}

impl ToolOutput for VerifiableOutput {
    fn parse(text: &str) -> Self {
        let mut out = Self::default();
        out.extend(text);
        out
    }

    fn extend(&mut self, lines: &str) -> bool {
        // The count check is over everything read: the last read's verdict goes first.
        if std::mem::take(&mut self.count_verdict) {
            self.malformed.pop();
        }
        for line in lines.lines() {
            match parse_event_line(line) {
                Ok(Some(event)) => {
                    *self.counts.entry(event.name().to_string()).or_default() += 1;
                    if let (VerifiableEvent::ToolData { acked, .. }, None) =
                        (&event, self.tool_acked)
                    {
                        self.tool_acked = Some(*acked);
                    }
                    self.events.push(event);
                }
                Ok(None) => {}
                Err(e) => self.malformed.push(e.to_string()),
            }
        }
        if let Some(mismatch) = self.unread_acknowledgements() {
            self.malformed.push(mismatch);
            self.count_verdict = true;
        }
        true
    }

    fn complete(&self) -> bool {
        self.malformed.is_empty()
            && self
                .events
                .iter()
                .any(|e| matches!(e, VerifiableEvent::ShutdownComplete { .. }))
    }
}

impl VerifiableOutput {
    /// The producer's own count of acknowledged records (its `tool_data`, printed when it
    /// ends) against the `producer_send_success` events read: `None` when they agree (or
    /// the producer has not ended), else what is wrong. An acknowledgement that was printed
    /// but not read — an event glued behind other output on one line is no JSON line — would
    /// otherwise be dropped without a word, and the record it acknowledged never checked.
    fn unread_acknowledgements(&self) -> Option<String> {
        let acked = self.tool_acked?;
        let read = self
            .counts
            .get("producer_send_success")
            .copied()
            .unwrap_or(0);
        (read != acked).then(|| {
            format!(
                "the producer's tool_data counts {acked} acknowledged records, but {read} \
                 producer_send_success events were read (an event glued behind other output \
                 on its line is not read)"
            )
        })
    }
}

/// Verifiable producers: one `VerifiableProducer` per node.
pub type VerifiableProducerService = ToolService<VerifiableOutput>;
/// Verifiable consumers: one `VerifiableConsumer` per node.
pub type VerifiableConsumerService = ToolService<VerifiableOutput>;

/// How to run `VerifiableProducer` (values are `<prefix>.<n>` when a prefix is set); producer
/// configs are [`ClientBuilder::prop`]s.
#[derive(Debug, Clone)]
pub struct VerifiableProducer {
    topic: String,
    max_messages: i64,
    throughput: i64,
    acks: String,
    value_prefix: Option<u32>,
    repeating_keys: Option<u32>,
    create_time: Option<i64>,
    bootstrap: Option<String>,
    options: ClientOptions,
}

impl ClientBuilder for VerifiableProducer {
    fn options(&mut self) -> &mut ClientOptions {
        &mut self.options
    }
}

impl VerifiableProducer {
    /// A worker on each of `nodes` producing to `topic` of `kafka` until stopped, 1,000
    /// records/s per worker, `acks=all`.
    pub fn builder(nodes: Vec<Node>, kafka: &KafkaService, topic: &str) -> Self {
        Self {
            topic: topic.into(),
            max_messages: -1,
            throughput: 1000,
            acks: "-1".into(),
            value_prefix: None,
            repeating_keys: None,
            create_time: None,
            bootstrap: None,
            options: ClientOptions::new("verifiable-producer", nodes, kafka),
        }
    }

    /// Stops after this many records.
    pub fn max_messages(mut self, n: i64) -> Self {
        self.max_messages = n;
        self
    }

    /// Records per second per worker (`-1`: unthrottled).
    pub fn throughput(mut self, n: i64) -> Self {
        self.throughput = n;
        self
    }

    /// The producer's acks (`-1`/`all`, `1`, `0`).
    pub fn acks(mut self, acks: &str) -> Self {
        self.acks = acks.into();
        self
    }

    /// Prefixes values with `<prefix>.`, so batches are distinguishable.
    pub fn value_prefix(mut self, prefix: u32) -> Self {
        self.value_prefix = Some(prefix);
        self
    }

    /// Keys records `0..n-1` in turn (`--repeating-keys`), spreading them over the
    /// partitions by key rather than in sticky batches.
    pub fn repeating_keys(mut self, n: u32) -> Self {
        self.repeating_keys = Some(n);
        self
    }

    /// Stamps records with creation times from `ms` since the epoch on (`--message-create-time`):
    /// kafkatest's way (`create_time=1000`) of writing records time-based retention deletes
    /// at once.
    pub fn create_time(mut self, ms: i64) -> Self {
        self.create_time = Some(ms);
        self
    }

    /// Bootstraps from `servers` (`host:port,…`) instead of every broker: a producer that
    /// first asks a broker cut off from the others takes that broker's stale view of who leads.
    pub fn bootstrap_servers(mut self, servers: &str) -> Self {
        self.bootstrap = Some(servers.into());
        self
    }

    /// The workers, registered with `ctx` (no node: an error).
    pub fn build(self, ctx: &TestContext) -> Result<Arc<VerifiableProducerService>, ServiceError> {
        let mut args = vec![
            "--topic".to_string(),
            self.topic.clone(),
            "--bootstrap-server".into(),
            self.bootstrap
                .clone()
                .unwrap_or_else(|| self.options.bootstrap_servers().to_string()),
            "--max-messages".into(),
            self.max_messages.to_string(),
            "--throughput".into(),
            self.throughput.to_string(),
            "--acks".into(),
            self.acks.clone(),
        ];
        if let Some(p) = self.value_prefix {
            args.extend(["--value-prefix".to_string(), p.to_string()]);
        }
        if let Some(n) = self.repeating_keys {
            args.extend(["--repeating-keys".to_string(), n.to_string()]);
        }
        if let Some(ms) = self.create_time {
            args.extend(["--message-create-time".to_string(), ms.to_string()]);
        }
        let tool = (
            "org.apache.kafka.tools.VerifiableProducer",
            "--producer.config",
        );
        self.options.workers(ctx, tool, move |_| args.clone())
    }
}

/// How to run `VerifiableConsumer`; consumer configs are [`ClientBuilder::prop`]s.
///
/// It runs with `--verbose` unless told otherwise: every record is reported with its value, so
/// the delivery checker sees a record replaced at its offset (truncate and overwrite), which
/// offset ranges alone cannot show.
#[derive(Debug, Clone)]
pub struct VerifiableConsumer {
    topic: String,
    group: String,
    max_messages: i64,
    verbose: bool,
    /// Extra tool arguments (group protocol, assignor, session timeout, auto-commit).
    args: Vec<String>,
    /// Each worker its own `group.instance.id` (`<prefix>-instance-<index>`): static members.
    instance_id_prefix: Option<String>,
    options: ClientOptions,
}

impl ClientBuilder for VerifiableConsumer {
    fn options(&mut self) -> &mut ClientOptions {
        &mut self.options
    }
}

impl VerifiableConsumer {
    /// A worker on each of `nodes` consuming `topic` of `kafka` in consumer group `group` until
    /// stopped.
    pub fn builder(nodes: Vec<Node>, kafka: &KafkaService, topic: &str, group: &str) -> Self {
        Self {
            topic: topic.into(),
            group: group.into(),
            max_messages: -1,
            verbose: true,
            args: Vec::new(),
            instance_id_prefix: None,
            options: ClientOptions::new("verifiable-consumer", nodes, kafka),
        }
    }

    /// Stops after this many records.
    pub fn max_messages(mut self, n: i64) -> Self {
        self.max_messages = n;
        self
    }

    /// Reports per-poll offset ranges only, not every record with its value (less output
    /// for long runs; a record replaced at its offset then goes unnoticed).
    pub fn offsets_only(mut self) -> Self {
        self.verbose = false;
        self
    }

    fn arg(mut self, flag: &str, value: impl ToString) -> Self {
        self.args.extend([flag.to_string(), value.to_string()]);
        self
    }

    /// The group protocol (`--group-protocol`: `classic`, or `consumer` for KIP-848; the
    /// tool's default is the client's).
    pub fn group_protocol(self, protocol: &str) -> Self {
        self.arg("--group-protocol", protocol)
    }

    /// The classic protocol's assignor (`--assignment-strategy`, a class name; the tool's
    /// default is `RangeAssignor`).
    pub fn assignment_strategy(self, class: &str) -> Self {
        self.arg("--assignment-strategy", class)
    }

    /// The KIP-848 protocol's server-side assignor (`--group-remote-assignor`: `range`,
    /// `uniform`).
    pub fn group_remote_assignor(self, assignor: &str) -> Self {
        self.arg("--group-remote-assignor", assignor)
    }

    /// `session.timeout.ms` (`--session-timeout`; the tool's default is 30 s).
    pub fn session_timeout_ms(self, ms: u64) -> Self {
        self.arg("--session-timeout", ms)
    }

    /// Commits with `enable.auto.commit` instead of a synchronous commit after each poll
    /// (the tool then prints no `offsets_committed` events).
    pub fn enable_autocommit(mut self) -> Self {
        self.args.push("--enable-autocommit".into());
        self
    }

    /// Sends each worker's stdout through a relay process whose pid is in
    /// [`relay_pidfile`](crate::perf::relay_pidfile): stopping the relay (`SIGSTOP`) blocks the
    /// consumer's poll loop in its next print once the pipe is full, while its heartbeats go
    /// on (`consumer_test.rs`: `max.poll.interval.ms` exceeded). Needs output: keep `--verbose`.
    pub fn stdout_relay(mut self) -> Self {
        self.options.stdout_relay();
        self
    }

    /// Where a member without a committed offset starts (`--reset-policy`, default `earliest`).
    pub fn reset_policy(self, policy: &str) -> Self {
        self.arg("--reset-policy", policy)
    }

    /// Static membership: each worker gets `group.instance.id` `<group>-instance-<index>`
    /// (kafkatest's naming), kept across its restarts.
    pub fn static_membership(self) -> Self {
        let group = self.group.clone();
        self.instance_ids(&group)
    }

    /// Static membership under other names: `group.instance.id` `<prefix>-instance-<index>`
    /// (a second service of the group's own prefix claims the first service's ids).
    pub fn instance_ids(mut self, prefix: &str) -> Self {
        self.instance_id_prefix = Some(prefix.into());
        self
    }

    /// The workers, registered with `ctx` (no node: an error).
    pub fn build(self, ctx: &TestContext) -> Result<Arc<VerifiableConsumerService>, ServiceError> {
        let has_reset = self.args.iter().any(|a| a == "--reset-policy");
        let mut args = vec![
            "--topic".to_string(),
            self.topic.clone(),
            "--group-id".into(),
            self.group.clone(),
            "--bootstrap-server".into(),
            self.options.bootstrap_servers().to_string(),
            "--max-messages".into(),
            self.max_messages.to_string(),
        ];
        if !has_reset {
            args.extend(["--reset-policy".to_string(), "earliest".into()]);
        }
        if self.verbose {
            args.push("--verbose".into());
        }
        args.extend(self.args.iter().cloned());
        let tool = (
            "org.apache.kafka.tools.VerifiableConsumer",
            "--consumer.config",
        );
        let prefix = self.instance_id_prefix.clone();
        self.options.workers(ctx, tool, move |index| {
            let mut args = args.clone();
            if let Some(prefix) = &prefix {
                args.extend([
                    "--group-instance-id".to_string(),
                    format!("{prefix}-instance-{index}"),
                ]);
            }
            args
        })
    }
}

/// How many records `producers` have had acknowledged so far (with an offset), all workers
/// together: a measure of progress while they run.
pub async fn acknowledged_so_far(
    producers: &VerifiableProducerService,
) -> Result<u64, ServiceError> {
    acknowledged_where(producers, None).await
}

/// Acknowledgements `producers` have had so far for records in `partition` (a fault on one
/// partition's leader is seen there, not in a total the other partitions keep growing).
pub async fn acknowledged_on(
    producers: &VerifiableProducerService,
    partition: i32,
) -> Result<u64, ServiceError> {
    acknowledged_where(producers, Some(partition)).await
}

async fn acknowledged_where(
    producers: &VerifiableProducerService,
    partition: Option<i32>,
) -> Result<u64, ServiceError> {
    use crate::service::Service;
    let mut acked = 0;
    for node in producers.nodes() {
        acked += producers
            .with_output_so_far(node, |output| {
                output
                    .events
                    .iter()
                    .filter(|e| {
                        matches!(e, VerifiableEvent::ProducerSendSuccess { record, .. }
                        if record.offset >= 0
                            && !matches!(partition, Some(p) if p != record.partition))
                    })
                    .count() as u64
            })
            .await?;
    }
    Ok(acked)
}

/// One worker's output: the service, the node, what it printed.
pub type WorkerOutput = (String, String, VerifiableOutput);

/// Checks what `producers` acknowledged against what `consumers` consumed, reading their
/// output as it is now (they may still run). A line that looks like an event but does not
/// parse is an error, not a line skipped: a dropped acknowledgement would hide a lost record.
pub async fn check_delivery(
    producers: &VerifiableProducerService,
    consumers: &VerifiableConsumerService,
) -> Result<DeliveryReport, ServiceError> {
    check_delivery_of(&[producers], &[consumers]).await
}

/// [`check_delivery`] over several producer and consumer services (phases of a scenario);
/// each service's acknowledgements count in the order given.
pub async fn check_delivery_of(
    producers: &[&VerifiableProducerService],
    consumers: &[&VerifiableConsumerService],
) -> Result<DeliveryReport, ServiceError> {
    let (mut acks, mut reads) = (Vec::new(), Vec::new());
    for service in producers {
        acks.extend(outputs_so_far(service).await?);
    }
    for service in consumers {
        reads.extend(outputs_so_far(service).await?);
    }
    delivery_report(&acks, &reads)
}

async fn outputs_so_far(
    service: &ToolService<VerifiableOutput>,
) -> Result<Vec<WorkerOutput>, ServiceError> {
    use crate::service::Service;
    let mut outputs = Vec::new();
    for node in service.nodes() {
        let output = service.output_so_far(node).await?;
        outputs.push((service.name().to_string(), node.name().to_string(), output));
    }
    Ok(outputs)
}

/// The delivery report of these producer and consumer outputs (consumers are told apart by
/// node); an error naming the worker if any output has malformed event lines.
pub fn delivery_report(
    producers: &[WorkerOutput],
    consumers: &[WorkerOutput],
) -> Result<DeliveryReport, ServiceError> {
    let malformed: Vec<ServiceError> = producers
        .iter()
        .chain(consumers)
        .filter(|(_, _, output)| !output.malformed.is_empty())
        .map(|(service, node, output)| ServiceError::MalformedOutput {
            service: service.clone(),
            node: node.clone(),
            lines: output.malformed.clone(),
        })
        .collect();
    ServiceError::from_all(malformed)?;
    let mut checker = DeliveryChecker::new();
    for (_, _, output) in producers {
        output
            .events
            .iter()
            .for_each(|e| checker.observe_producer(e));
    }
    for (_, node, output) in consumers {
        output
            .events
            .iter()
            .for_each(|e| checker.observe_consumer(node, e));
    }
    Ok(checker.report())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const PRODUCER: &str = include_str!("../../testdata/verifiable_producer.jsonl");
    const CONSUMER: &str = include_str!("../../testdata/verifiable_consumer.jsonl");

    fn worker(text: &str) -> WorkerOutput {
        (
            "verifiable".into(),
            "worker1".into(),
            VerifiableOutput::parse(text),
        )
    }

    #[test]
    fn an_acknowledgement_glued_behind_other_output_fails_the_check() {
        let clean = VerifiableOutput::parse(PRODUCER);
        assert!(clean.malformed.is_empty(), "{:?}", clean.malformed);
        // The captured run, with one acknowledgement printed right behind a log line of the
        // same JVM (no newline between them, as two threads writing stdout can leave it).
        let log = "[2026-11-29 16:36:02,011] WARN [Producer clientId=producer-1] \
                   Got error produce response with correlation id 5 on topic-partition verif-0, \
                   retrying (2147483646 attempts left). Error: NOT_LEADER_OR_FOLLOWER \
                   (org.apache.kafka.clients.producer.internals.Sender)";
        let mut lines: Vec<String> = PRODUCER.lines().map(str::to_string).collect();
        let ack = lines
            .iter()
            .rposition(|l| l.contains("producer_send_success"))
            .unwrap();
        lines[ack] = format!("{log}{}", lines[ack]);
        let glued = lines.join("\n");
        let output = VerifiableOutput::parse(&glued);
        assert_eq!(output.malformed.len(), 1, "{:?}", output.malformed);
        assert!(
            output.malformed[0].contains("counts 200 acknowledged records, but 199"),
            "{:?}",
            output.malformed
        );
        let err = delivery_report(&[worker(&glued)], &[worker(CONSUMER)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("worker1") && err.contains("tool_data"),
            "{err}"
        );
        // The glued line itself is no event: only the count tells it was there.
        let read = output
            .events
            .iter()
            .filter(|e| matches!(e, VerifiableEvent::ProducerSendSuccess { .. }))
            .count();
        assert_eq!(read, 199);
    }

    #[test]
    fn a_malformed_acknowledgement_fails_the_check() {
        let clean = delivery_report(&[worker(PRODUCER)], &[worker(CONSUMER)]).unwrap();
        assert!(clean.is_clean() && clean.acked == 200);
        // One acknowledgement cut off mid-line (as a full disk or a killed tool leaves it).
        let mut lines: Vec<&str> = PRODUCER.lines().collect();
        let ack = lines
            .iter()
            .position(|l| l.contains("producer_send_success"))
            .unwrap();
        let cut = &lines[ack][..lines[ack].len() / 2];
        lines[ack] = cut;
        let err = delivery_report(&[worker(&lines.join("\n"))], &[worker(CONSUMER)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("worker1") && err.contains("malformed"),
            "{err}"
        );
    }
}
