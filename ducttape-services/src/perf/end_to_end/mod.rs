//! [`EndToEndLatency`]: Kafka's `EndToEndLatency` on each node, in the background.

mod parse;

pub use parse::{
    parse_end_to_end_output, EndToEndLatencyOutput, EndToEndLatencyResult, EndToEndLatencySample,
};

use std::sync::Arc;

use ducttape_core::cluster::Node;
use ducttape_core::context::TestContext;

use crate::error::ServiceError;
use crate::kafka::KafkaService;
use crate::perf::options::{ClientBuilder, ClientOptions};
use crate::perf::worker::{ToolOutput, ToolService};

impl ToolOutput for EndToEndLatencyOutput {
    fn parse(text: &str) -> Self {
        parse_end_to_end_output(text)
    }

    fn complete(&self) -> bool {
        self.result.is_some()
    }
}

/// End-to-end latency workers: one `EndToEndLatency` per node.
pub type EndToEndLatencyService = ToolService<EndToEndLatencyOutput>;

impl ToolService<EndToEndLatencyOutput> {
    /// The result of each worker that finished.
    pub fn results(&self) -> Vec<EndToEndLatencyResult> {
        self.outputs()
            .into_values()
            .filter_map(|o| o.result)
            .collect()
    }
}

/// How to run `EndToEndLatency` (`<bootstrap> <topic> <n> <acks> <size> [config file]`).
#[derive(Debug, Clone)]
pub struct EndToEndLatency {
    topic: String,
    messages: u64,
    acks: String,
    record_size: u32,
    options: ClientOptions,
}

impl ClientBuilder for EndToEndLatency {
    fn options(&mut self) -> &mut ClientOptions {
        &mut self.options
    }
}

impl EndToEndLatency {
    /// A worker on each of `nodes` timing `messages` round trips of `record_size`-byte records
    /// through `topic` of `kafka`, with `acks=1`.
    pub fn builder(
        nodes: Vec<Node>,
        kafka: &KafkaService,
        topic: &str,
        messages: u64,
        record_size: u32,
    ) -> Self {
        Self {
            topic: topic.into(),
            messages,
            acks: "1".into(),
            record_size,
            options: ClientOptions::new("end-to-end-latency", nodes, kafka),
        }
    }

    /// The producer's acks (`0`, `1`, `all`).
    pub fn acks(mut self, acks: &str) -> Self {
        self.acks = acks.into();
        self
    }

    /// The tool's command line (the config file is added by [`ClientOptions::process`]).
    fn args(&self, bootstrap: &str) -> Vec<String> {
        vec![
            bootstrap.to_string(),
            self.topic.clone(),
            self.messages.to_string(),
            self.acks.clone(),
            self.record_size.to_string(),
        ]
    }

    /// The workers, registered with `ctx` (no node: an error).
    pub fn build(self, ctx: &TestContext) -> Result<Arc<EndToEndLatencyService>, ServiceError> {
        let args = self.args(self.options.bootstrap_servers());
        // The config file is a positional argument, after the others.
        let tool = ("org.apache.kafka.tools.EndToEndLatency", "");
        self.options.workers(ctx, tool, move |_| args.clone())
    }
}
