//! [`ProducerPerformance`]: Kafka's `ProducerPerformance` on each node, in the background.

mod parse;

pub use parse::{
    aggregate_producers, parse_producer_line, parse_producer_output, ProducerPerfLine,
    ProducerPerfOutput, ProducerPerfResult, ProducerPerfWindow,
};

use std::sync::Arc;

use ducttape_core::cluster::Node;
use ducttape_core::context::TestContext;

use crate::error::ServiceError;
use crate::kafka::KafkaService;
use crate::perf::options::{ClientBuilder, ClientOptions};
use crate::perf::worker::{ToolOutput, ToolService};

impl ToolOutput for ProducerPerfOutput {
    fn parse(text: &str) -> Self {
        parse_producer_output(text)
    }

    fn extend(&mut self, lines: &str) -> bool {
        lines.lines().for_each(|line| self.push_line(line));
        true
    }

    fn complete(&self) -> bool {
        self.result.is_some()
    }
}

/// Producer performance workers: one `ProducerPerformance` per node.
pub type ProducerPerformanceService = ToolService<ProducerPerfOutput>;

impl ToolService<ProducerPerfOutput> {
    /// The final result of each worker that finished.
    pub fn results(&self) -> Vec<ProducerPerfResult> {
        self.outputs()
            .into_values()
            .filter_map(|o| o.result)
            .collect()
    }

    /// Every periodic window of every worker, per worker.
    pub fn stats(&self) -> Vec<Vec<ProducerPerfWindow>> {
        self.outputs().into_values().map(|o| o.windows).collect()
    }

    /// The workers' results together (throughput summed; see [`aggregate_producers`]).
    pub fn aggregate(&self) -> Option<ProducerPerfResult> {
        aggregate_producers(&self.results())
    }
}

/// How to run `ProducerPerformance`; the producer configs are [`ClientBuilder::prop`]s.
///
/// ```no_run
/// # async fn demo(ctx: &ducttape_core::TestContext, kafka: &ducttape_services::KafkaService, nodes: Vec<ducttape_core::cluster::Node>) -> Result<(), ducttape_services::ServiceError> {
/// use ducttape_services::perf::{ClientBuilder, ProducerPerformance};
/// use ducttape_services::ServiceExt;
/// let producers = ProducerPerformance::builder(nodes, kafka, "perf", 100_000, 100)
///     .throughput(-1)
///     .prop("acks", "all")
///     .build(ctx)?;
/// producers.run().await?;
/// println!("{:?}", producers.aggregate());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ProducerPerformance {
    topic: String,
    num_records: u64,
    record_size: u32,
    throughput: i64,
    options: ClientOptions,
}

impl ClientBuilder for ProducerPerformance {
    fn options(&mut self) -> &mut ClientOptions {
        &mut self.options
    }
}

impl ProducerPerformance {
    /// A worker on each of `nodes` producing `num_records` records of `record_size` bytes to
    /// `topic` of `kafka`, as fast as possible.
    pub fn builder(
        nodes: Vec<Node>,
        kafka: &KafkaService,
        topic: &str,
        num_records: u64,
        record_size: u32,
    ) -> Self {
        Self {
            topic: topic.into(),
            num_records,
            record_size,
            throughput: -1,
            options: ClientOptions::new("producer-performance", nodes, kafka),
        }
    }

    /// Records per second per worker (`-1`: unthrottled).
    pub fn throughput(mut self, records_per_sec: i64) -> Self {
        self.throughput = records_per_sec;
        self
    }

    /// The tool's command line for a cluster at `bootstrap` (configs and security are added
    /// by [`ClientOptions::process`]).
    fn args(&self, bootstrap: &str) -> Vec<String> {
        vec![
            "--topic".to_string(),
            self.topic.clone(),
            "--num-records".into(),
            self.num_records.to_string(),
            "--record-size".into(),
            self.record_size.to_string(),
            "--throughput".into(),
            self.throughput.to_string(),
            "--producer-props".into(),
            format!("bootstrap.servers={bootstrap}"),
        ]
    }

    /// The workers, registered with `ctx` (no node: an error).
    pub fn build(self, ctx: &TestContext) -> Result<Arc<ProducerPerformanceService>, ServiceError> {
        let args = self.args(self.options.bootstrap_servers());
        let tool = (
            "org.apache.kafka.tools.ProducerPerformance",
            "--producer.config",
        );
        self.options.workers(ctx, tool, move |_| args.clone())
    }
}
