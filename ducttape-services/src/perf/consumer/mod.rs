//! [`ConsumerPerformance`]: Kafka's `ConsumerPerformance` on each node, in the background.

mod parse;

pub use parse::{
    aggregate_consumers, parse_consumer_output, ConsumerPerfInterval, ConsumerPerfOutput,
    ConsumerPerfResult,
};

use std::sync::Arc;

use ducttape_core::cluster::Node;
use ducttape_core::context::TestContext;

use crate::error::ServiceError;
use crate::kafka::KafkaService;
use crate::perf::options::{ClientBuilder, ClientOptions};
use crate::perf::worker::{ToolOutput, ToolService};

impl ToolOutput for ConsumerPerfOutput {
    fn parse(text: &str) -> Self {
        parse_consumer_output(text)
    }

    fn complete(&self) -> bool {
        self.result.is_some() || !self.intervals.is_empty()
    }
}

/// Consumer performance workers: one `ConsumerPerformance` per node.
pub type ConsumerPerformanceService = ToolService<ConsumerPerfOutput>;

impl ToolService<ConsumerPerfOutput> {
    /// The summary of each worker that finished.
    pub fn results(&self) -> Vec<ConsumerPerfResult> {
        self.outputs()
            .into_values()
            .filter_map(|o| o.result)
            .collect()
    }

    /// The periodic rows (with `--show-detailed-stats`) of each worker.
    pub fn stats(&self) -> Vec<Vec<ConsumerPerfInterval>> {
        self.outputs().into_values().map(|o| o.intervals).collect()
    }

    /// The workers' results together (throughput summed).
    pub fn aggregate(&self) -> Option<ConsumerPerfResult> {
        aggregate_consumers(&self.results())
    }
}

/// How to run `ConsumerPerformance`; consumer configs are [`ClientBuilder::prop`]s.
#[derive(Debug, Clone)]
pub struct ConsumerPerformance {
    topic: String,
    messages: u64,
    group: Option<String>,
    fetch_timeout_ms: u64,
    options: ClientOptions,
}

impl ClientBuilder for ConsumerPerformance {
    fn options(&mut self) -> &mut ClientOptions {
        &mut self.options
    }
}

impl ConsumerPerformance {
    /// A worker on each of `nodes` consuming `messages` records from `topic` of `kafka`, each
    /// in its own group unless [`group`](Self::group) says otherwise.
    pub fn builder(nodes: Vec<Node>, kafka: &KafkaService, topic: &str, messages: u64) -> Self {
        Self {
            topic: topic.into(),
            messages,
            group: None,
            fetch_timeout_ms: 60_000,
            options: ClientOptions::new("consumer-performance", nodes, kafka),
        }
    }

    /// Every worker in this consumer group (they then share the partitions).
    pub fn group(mut self, group: &str) -> Self {
        self.group = Some(group.into());
        self
    }

    /// The tool's command line for node `index` (configs and security are added by
    /// [`ClientOptions::process`]).
    fn args(&self, bootstrap: &str, index: usize) -> Vec<String> {
        let group = self
            .group
            .clone()
            .unwrap_or_else(|| format!("{}-{index}", self.options.name()));
        vec![
            "--bootstrap-server".to_string(),
            bootstrap.into(),
            "--topic".into(),
            self.topic.clone(),
            "--messages".into(),
            self.messages.to_string(),
            "--group".into(),
            group,
            "--timeout".into(),
            self.fetch_timeout_ms.to_string(),
        ]
    }

    /// The workers, registered with `ctx` (no node: an error).
    pub fn build(self, ctx: &TestContext) -> Result<Arc<ConsumerPerformanceService>, ServiceError> {
        let bootstrap = self.options.bootstrap_servers().to_string();
        let tool = (
            "org.apache.kafka.tools.ConsumerPerformance",
            "--consumer.config",
        );
        let options = self.options.clone();
        options.workers(ctx, tool, move |index| self.args(&bootstrap, index))
    }
}
