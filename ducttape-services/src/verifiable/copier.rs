//! [`TransactionalMessageCopier`]: Kafka's exactly-once copier (`org.apache.kafka.tools.
//! TransactionalMessageCopier`, in the `kafka-tools` jar) as a background worker, one node.
//!
//! It consumes an input partition (or, in group mode, its share of the input topic's
//! partitions) with `read_committed` and copies each poll into the output topic — same
//! partition number — in one transaction that also commits the consumed offsets. With random
//! aborts on (the default, as in kafkatest) about a third of the transactions are aborted and
//! copied again, so the output log holds aborted copies that only `read_uncommitted` shows.
//!
//! It prints one JSON status per line (`ProcessLoop`, `RebalanceComplete`, `ShutdownComplete`)
//! with `consumed` (since the last rebalance) and `remaining` (up to the input's end offset at
//! its start); it has finished its copy when it prints `ShutdownComplete` with nothing
//! remaining, which is what its `wait` requires. It reads no client config file: PLAINTEXT
//! clusters only.

use std::sync::Arc;

use ducttape_core::cluster::Node;
use ducttape_core::context::TestContext;

use crate::error::ServiceError;
use crate::kafka::KafkaService;
use crate::perf::{ClientBuilder, ClientOptions, ToolOutput, ToolService};

/// One status line of the copier.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CopierStatus {
    /// `ProcessLoop`, `RebalanceComplete` or `ShutdownComplete`.
    pub stage: String,
    /// Records copied (committed) since the start.
    #[serde(rename = "totalProcessed")]
    pub total_processed: i64,
    /// Records copied since the last rebalance.
    pub consumed: i64,
    /// Records left (`i64::MAX` in group mode before the first assignment).
    pub remaining: i64,
}

/// What one run of the copier printed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CopierOutput {
    /// Every status line, in order.
    #[serde(skip)]
    pub statuses: Vec<CopierStatus>,
    /// The last status, for `summary.json`.
    pub last: Option<CopierStatus>,
    /// Lines that looked like a status (a JSON object) but did not parse, with the reason.
    pub malformed: Vec<String>,
}

impl ToolOutput for CopierOutput {
    fn parse(text: &str) -> Self {
        let mut out = Self::default();
        out.extend(text);
        out
    }

    fn extend(&mut self, lines: &str) -> bool {
        for line in lines.lines().map(str::trim).filter(|l| l.starts_with('{')) {
            match serde_json::from_str::<CopierStatus>(line) {
                Ok(s) => self.statuses.push(s),
                Err(e) => self.malformed.push(format!("{e}: {line}")),
            }
        }
        self.last = self.statuses.last().cloned();
        true
    }

    /// The copy finished: shut down with nothing remaining (a clean stop in the middle also
    /// prints `ShutdownComplete`, with records remaining).
    fn complete(&self) -> bool {
        self.malformed.is_empty()
            && self
                .statuses
                .iter()
                .any(|s| s.stage == "ShutdownComplete" && s.remaining == 0)
    }
}

impl CopierOutput {
    /// Percent of this run's work done: `consumed / (consumed + remaining)` of the last
    /// status; 0 before the copier knows what remains.
    pub fn progress_percent(&self) -> f64 {
        match &self.last {
            Some(s) if s.remaining == 0 => 100.0,
            Some(s) if s.remaining > 0 && s.remaining < i64::MAX => {
                let (c, r) = (s.consumed as f64, s.remaining as f64);
                100.0 * c / (c + r)
            }
            _ => 0.0,
        }
    }
}

/// The copier's worker.
pub type CopierService = ToolService<CopierOutput>;

/// How to run `TransactionalMessageCopier` (kafkatest's `TransactionalMessageCopier` service).
#[derive(Debug, Clone)]
pub struct TransactionalMessageCopier {
    transactional_id: String,
    group: String,
    input_topic: String,
    input_partition: i32,
    output_topic: String,
    transaction_size: u32,
    transaction_timeout_ms: u32,
    random_aborts: bool,
    use_group_metadata: bool,
    group_mode: bool,
    options: ClientOptions,
}

impl ClientBuilder for TransactionalMessageCopier {
    fn options(&mut self) -> &mut ClientOptions {
        &mut self.options
    }
}

impl TransactionalMessageCopier {
    /// A copier on `node` (one: a transactional id is one producer) copying partition 0 of
    /// `input` into `output` of `kafka` as `transactional_id` (also the service's name),
    /// committing offsets for `group`; kafkatest's settings: 750 records per transaction, a
    /// 40 s transaction timeout, random aborts.
    pub fn builder(
        node: Node,
        kafka: &KafkaService,
        transactional_id: &str,
        group: &str,
        input: &str,
        output: &str,
    ) -> Self {
        Self {
            transactional_id: transactional_id.into(),
            group: group.into(),
            input_topic: input.into(),
            input_partition: 0,
            output_topic: output.into(),
            transaction_size: 750,
            transaction_timeout_ms: 40_000,
            random_aborts: true,
            use_group_metadata: false,
            group_mode: false,
            options: ClientOptions::new(transactional_id, vec![node], kafka),
        }
    }

    /// Copies this input partition (standalone mode, assigned by hand).
    pub fn input_partition(mut self, partition: i32) -> Self {
        self.input_partition = partition;
        self
    }

    /// Subscribes to the input topic in the group instead (group mode; implies group metadata).
    pub fn group_mode(mut self) -> Self {
        self.group_mode = true;
        self.use_group_metadata = true;
        self
    }

    /// Commits offsets with the consumer's group metadata (KIP-447) rather than the group id.
    pub fn use_group_metadata(mut self, on: bool) -> Self {
        self.use_group_metadata = on;
        self
    }

    /// Records per transaction (the consumer's `max.poll.records`).
    pub fn transaction_size(mut self, n: u32) -> Self {
        self.transaction_size = n;
        self
    }

    /// The producer's `transaction.timeout.ms` (kafkatest: 40 s, above the 30 s request timeout
    /// a produce may wait through a broker bounce). A copier started after a hard kill waits
    /// for its predecessor's open transaction to end before it reads its committed offsets, up
    /// to this long.
    pub fn transaction_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.transaction_timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        self
    }

    /// Commits every transaction (no random aborts).
    pub fn without_random_aborts(mut self) -> Self {
        self.random_aborts = false;
        self
    }

    /// The copier, registered with `ctx`.
    pub fn build(self, ctx: &TestContext) -> Result<Arc<CopierService>, ServiceError> {
        let mut args = vec![
            "--broker-list".to_string(),
            self.options.bootstrap_servers().to_string(),
            "--transactional-id".into(),
            self.transactional_id.clone(),
            "--consumer-group".into(),
            self.group.clone(),
            "--input-topic".into(),
            self.input_topic.clone(),
            "--output-topic".into(),
            self.output_topic.clone(),
            "--input-partition".into(),
            self.input_partition.to_string(),
            "--transaction-size".into(),
            self.transaction_size.to_string(),
            "--transaction-timeout".into(),
            self.transaction_timeout_ms.to_string(),
        ];
        for (on, flag) in [
            (self.random_aborts, "--enable-random-aborts"),
            (self.use_group_metadata, "--use-group-metadata"),
            (self.group_mode, "--group-mode"),
        ] {
            if on {
                args.push(flag.into());
            }
        }
        let tool = ("org.apache.kafka.tools.TransactionalMessageCopier", "");
        self.options.workers(ctx, tool, move |_| args.clone())
    }
}

/// The progress of `copier`'s current run, in percent (see [`CopierOutput::progress_percent`]).
pub async fn copier_progress(copier: &CopierService) -> Result<f64, ServiceError> {
    use crate::service::Service;
    let mut least = 100.0_f64;
    for node in copier.nodes() {
        least = least.min(copier.output_so_far(node).await?.progress_percent());
    }
    Ok(least)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // As Kafka 3.9's copier prints them (log lines on stdout are skipped).
    const RUN: &str = r#"[2026-12-07 05:00:00,000] INFO some log line
{"transactionalId":"copier-0","stage":"ProcessLoop","time":"2026/12/07 05:00:01:000","totalProcessed":0,"consumed":0,"remaining":1000}
{"transactionalId":"copier-0","stage":"ProcessLoop","time":"2026/12/07 05:00:02:000","totalProcessed":250,"consumed":250,"remaining":750}
{"transactionalId":"copier-0","stage":"ShutdownComplete","time":"2026/12/07 05:00:03:000","totalProcessed":1000,"consumed":1000,"remaining":0}
"#;

    #[test]
    fn a_finished_copy_is_complete_and_a_stopped_one_is_not() {
        let done = CopierOutput::parse(RUN);
        assert!(done.complete());
        assert_eq!(done.progress_percent(), 100.0);
        let cut: String = RUN.lines().take(3).collect::<Vec<_>>().join("\n");
        let half = CopierOutput::parse(&cut);
        assert!(!half.complete());
        assert_eq!(half.progress_percent(), 25.0);
        let stopped = format!(
            "{cut}\n{}",
            r#"{"transactionalId":"copier-0","stage":"ShutdownComplete","time":"x","totalProcessed":250,"consumed":250,"remaining":750}"#
        );
        assert!(!CopierOutput::parse(&stopped).complete());
    }

    #[test]
    fn group_mode_before_its_assignment_has_no_progress_and_bad_lines_are_kept() {
        let waiting = r#"{"transactionalId":"c","stage":"ProcessLoop","time":"x","totalProcessed":0,"consumed":0,"remaining":9223372036854775807}"#;
        assert_eq!(CopierOutput::parse(waiting).progress_percent(), 0.0);
        let bad = CopierOutput::parse(r#"{"stage":"ProcessLoop","consumed":"x"}"#);
        assert_eq!(bad.malformed.len(), 1);
        assert!(!bad.complete());
    }
}
