//! The REST perf client: a Rust program (`rest-perf`, built from `ducttape-tests`) that
//! produces or consumes through a REST proxy, run as a background worker per node like
//! Kafka's own perf tools ([`ToolService`]).
//!
//! The program is not installed on the nodes: the worker copies it into its directory on the
//! node before each start ([`ToolService::with_uploads`]), so it runs the same on the local
//! cluster and on remote machines (of the same architecture and libc). Tests in
//! `ducttape-tests` find it with `env!("CARGO_BIN_EXE_rest-perf")`; elsewhere it is
//! `target/<profile>/rest-perf` after `cargo build -p ducttape-tests --bin rest-perf`. (It is
//! a binary of `ducttape-tests`, not of this crate, so that `cargo test -p ducttape-tests`
//! builds it from the same commit: Cargo builds no binaries of a dependency. See
//! `docs/writing-a-service.md`, "Get the system installed".)
//! Its output format is defined, rendered and parsed in [`parse`](super::parse)
//! ([`RestPerfStats`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ducttape_core::cluster::Node;
use ducttape_core::context::TestContext;
use ducttape_core::remote::quote_all;

mod parse;

use super::worker::{worker_dir, ToolOutput, ToolService};
use crate::error::ServiceError;
use crate::rest_proxy::RestProxy;
pub use parse::{
    aggregate_rest, parse_rest_perf_output, RestPerfOutput, RestPerfStats, REST_PERF_PREFIX,
};

impl ToolOutput for RestPerfOutput {
    fn parse(text: &str) -> Self {
        parse_rest_perf_output(text)
    }

    fn complete(&self) -> bool {
        self.result.is_some()
    }
}

/// REST perf workers (producers or consumers): one `rest-perf` per node.
pub type RestPerfService = ToolService<RestPerfOutput>;

impl ToolService<RestPerfOutput> {
    /// The final result of each worker that finished.
    pub fn results(&self) -> Vec<RestPerfStats> {
        self.outputs()
            .into_values()
            .filter_map(|o| o.result)
            .collect()
    }

    /// Every window of every worker, per worker.
    pub fn stats(&self) -> Vec<Vec<RestPerfStats>> {
        self.outputs().into_values().map(|o| o.windows).collect()
    }

    /// The workers' results together (see [`aggregate_rest`]).
    pub fn aggregate(&self) -> Option<RestPerfStats> {
        aggregate_rest(&self.results())
    }
}

/// Settings both modes share.
#[derive(Debug, Clone)]
struct RestPerfCommon {
    nodes: Vec<Node>,
    /// The proxy's nodes' base URLs; worker `i` talks to URL `i` (round robin).
    urls: Vec<String>,
    binary: PathBuf,
    topic: String,
    records: u64,
    concurrency: u32,
    report_interval: Duration,
    name: String,
    timeout: Duration,
}

impl RestPerfCommon {
    fn new(
        nodes: Vec<Node>,
        urls: Vec<String>,
        binary: PathBuf,
        topic: &str,
        records: u64,
        name: &str,
    ) -> Self {
        Self {
            nodes,
            urls,
            binary,
            topic: topic.into(),
            records,
            concurrency: 16,
            report_interval: Duration::from_secs(5),
            name: name.into(),
            timeout: Duration::from_secs(1800),
        }
    }

    /// The program's path on the node.
    fn remote_binary(&self) -> String {
        let file = self
            .binary
            .file_name()
            .map_or_else(|| "rest-perf".into(), |f| f.to_string_lossy().into_owned());
        format!("{}/{file}", worker_dir(&self.name))
    }

    /// The worker's arguments (the program first): `mode`, the shared flags, then `extra`.
    fn args(&self, mode: &str, url: &str, extra: &[String]) -> Vec<String> {
        let mut args = vec![
            self.remote_binary(),
            mode.into(),
            "--url".into(),
            url.into(),
            "--topic".into(),
            self.topic.clone(),
            "--records".into(),
            self.records.to_string(),
            "--concurrency".into(),
            self.concurrency.to_string(),
            "--report-interval-ms".into(),
            self.report_interval.as_millis().to_string(),
        ];
        args.extend(extra.iter().cloned());
        args
    }

    /// The program exists on the test host (else the error says how to build it).
    fn check_binary(&self) -> Result<(), ServiceError> {
        if self.binary.is_file() {
            return Ok(());
        }
        Err(ServiceError::Usage {
            service: self.name.clone(),
            detail: format!(
                "the REST perf client {} does not exist: build it with `cargo build -p \
                 ducttape-tests --bin rest-perf` (tests of ducttape-tests get it from \
                 env!(\"CARGO_BIN_EXE_rest-perf\"))",
                self.binary.display()
            ),
        })
    }

    /// One worker per node, each talking to the proxy node of its index (round robin).
    fn build(
        mut self,
        ctx: &TestContext,
        mode: &'static str,
        extra: Vec<String>,
    ) -> Result<Arc<RestPerfService>, ServiceError> {
        self.check_binary()?;
        let urls = std::mem::take(&mut self.urls);
        let nodes = std::mem::take(&mut self.nodes);
        let (name, timeout, binary) = (self.name.clone(), self.timeout, self.binary.clone());
        let command = move |_: &Node, index: usize| {
            let url = urls
                .get(index % urls.len().max(1))
                .cloned()
                .unwrap_or_default();
            quote_all(self.args(mode, &url, &extra))
        };
        ToolService::with_uploads(ctx, &name, nodes, Arc::new(command), timeout, vec![binary])
    }
}

/// Builder methods both REST perf modes have.
macro_rules! common_setters {
    () => {
        /// Requests in flight at once (default 16), each on its own connection.
        pub fn concurrency(mut self, connections: u32) -> Self {
            self.common.concurrency = connections.max(1);
            self
        }

        /// How often a window line is printed (default 5 s).
        pub fn report_interval(mut self, every: Duration) -> Self {
            self.common.report_interval = every;
            self
        }

        /// The service's name (results path, `/mnt/<name>` on the nodes).
        pub fn name(mut self, name: &str) -> Self {
            self.common.name = name.into();
            self
        }

        /// How long `wait` waits for the workers (default 30 min).
        pub fn timeout(mut self, timeout: Duration) -> Self {
            self.common.timeout = timeout;
            self
        }
    };
}

/// Produces records of a given size through a REST proxy, as fast as possible or at a target
/// rate; each worker reports records/s, MB/s and request latency (HDR histogram, µs).
///
/// ```no_run
/// # async fn demo(ctx: &ducttape_core::TestContext, pixy: &ducttape_services::KafkaPixyService, nodes: Vec<ducttape_core::cluster::Node>) -> Result<(), ducttape_services::ServiceError> {
/// use ducttape_services::perf::RestProducerPerformance;
/// use ducttape_services::ServiceExt;
/// let producers =
///     RestProducerPerformance::builder(nodes, pixy, "target/debug/rest-perf", "t", 100_000, 100)
///         .concurrency(32)
///         .sync_acks(true)     // wait for Kafka's acknowledgement of every record
///         .rate(5_000)         // records/s per worker; latency from the intended send time
///         .build(ctx)?;
/// producers.run().await?;
/// println!("{:?}", producers.aggregate());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RestProducerPerformance {
    common: RestPerfCommon,
    record_size: u32,
    sync: bool,
    rate: Option<u64>,
}

impl RestProducerPerformance {
    /// A worker on each of `nodes` producing `records` records of `record_size` bytes to
    /// `topic` through `proxy` with the program at `binary`: unlimited rate, 16 connections,
    /// acknowledged by Kafka (`sync`).
    pub fn builder(
        nodes: Vec<Node>,
        proxy: &dyn RestProxy,
        binary: impl Into<PathBuf>,
        topic: &str,
        records: u64,
        record_size: u32,
    ) -> Self {
        let urls = proxy.base_urls();
        Self {
            common: RestPerfCommon::new(
                nodes,
                urls,
                binary.into(),
                topic,
                records,
                "rest-producer",
            ),
            record_size,
            sync: true,
            rate: None,
        }
    }

    common_setters!();

    /// `true` (default): every request waits for Kafka's acknowledgement (`?sync`); `false`:
    /// the proxy answers once it has queued the record.
    pub fn sync_acks(mut self, sync: bool) -> Self {
        self.sync = sync;
        self
    }

    /// A target rate in records per second per worker (default: as fast as possible).
    pub fn rate(mut self, records_per_sec: u64) -> Self {
        self.rate = Some(records_per_sec).filter(|r| *r > 0);
        self
    }

    fn extra_args(&self) -> Vec<String> {
        vec![
            "--record-size".into(),
            self.record_size.to_string(),
            "--acks".into(),
            if self.sync { "sync" } else { "async" }.into(),
            "--rate".into(),
            self.rate.unwrap_or(0).to_string(),
        ]
    }

    /// The worker's arguments (the program first) against the proxy at `url`.
    pub fn args(&self, url: &str) -> Vec<String> {
        self.common.args("produce", url, &self.extra_args())
    }

    /// The workers, registered with `ctx` (no node: an error).
    pub fn build(self, ctx: &TestContext) -> Result<Arc<RestPerfService>, ServiceError> {
        let extra = self.extra_args();
        self.common.build(ctx, "produce", extra)
    }
}

/// Reads records through a REST proxy as a consumer group, whose offsets it first sets to 0
/// on every partition (a new group would start at the newest offset); each worker reports
/// records/s, MB/s and request latency (HDR histogram, µs). It fails if `records` records
/// did not come within the idle timeout of the last one.
#[derive(Debug, Clone)]
pub struct RestConsumerPerformance {
    common: RestPerfCommon,
    group: String,
    idle_timeout: Duration,
}

impl RestConsumerPerformance {
    /// A worker on each of `nodes` reading `records` records of `topic` through `proxy` in
    /// group `group` with the program at `binary`.
    pub fn builder(
        nodes: Vec<Node>,
        proxy: &dyn RestProxy,
        binary: impl Into<PathBuf>,
        topic: &str,
        records: u64,
        group: &str,
    ) -> Self {
        let urls = proxy.base_urls();
        Self {
            common: RestPerfCommon::new(
                nodes,
                urls,
                binary.into(),
                topic,
                records,
                "rest-consumer",
            ),
            group: group.into(),
            idle_timeout: Duration::from_secs(30),
        }
    }

    common_setters!();

    /// Give up (and fail) after this long without a record (default 30 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    fn extra_args(&self) -> Vec<String> {
        vec![
            "--group".into(),
            self.group.clone(),
            "--idle-timeout-ms".into(),
            self.idle_timeout.as_millis().to_string(),
        ]
    }

    /// The worker's arguments (the program first) against the proxy at `url`.
    pub fn args(&self, url: &str) -> Vec<String> {
        self.common.args("consume", url, &self.extra_args())
    }

    /// The workers, registered with `ctx` (no node: an error). Workers share the group, so
    /// they split the records between them.
    pub fn build(self, ctx: &TestContext) -> Result<Arc<RestPerfService>, ServiceError> {
        let extra = self.extra_args();
        self.common.build(ctx, "consume", extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_says_how_to_build_it() {
        let missing = RestPerfCommon::new(
            Vec::new(),
            Vec::new(),
            "/nonexistent/rest-perf".into(),
            "t",
            10,
            "rp",
        );
        let e = missing.check_binary().unwrap_err().to_string();
        assert!(
            e.contains("/nonexistent/rest-perf")
                && e.contains("cargo build -p ducttape-tests --bin rest-perf"),
            "{e}"
        );
        let this_test = std::env::current_exe().unwrap();
        let present = RestPerfCommon::new(Vec::new(), Vec::new(), this_test, "t", 10, "rp");
        present.check_binary().unwrap();
    }

    #[test]
    fn producer_arguments() {
        let common = |binary: &str, name| {
            RestPerfCommon::new(Vec::new(), Vec::new(), binary.into(), "t", 10, name)
        };
        let p = RestProducerPerformance {
            common: common("/x/target/debug/rest-perf", "rest-producer"),
            record_size: 100,
            sync: true,
            rate: None,
        }
        .concurrency(4)
        .rate(500)
        .name("rp");
        let c = RestConsumerPerformance {
            common: common("rest-perf", "rest-consumer"),
            group: "g".into(),
            idle_timeout: Duration::from_secs(30),
        }
        .idle_timeout(Duration::from_secs(5));
        assert_eq!(
            c.args("http://h:19092").join(" "),
            "/mnt/rest-consumer/rest-perf consume --url http://h:19092 --topic t --records 10 \
             --concurrency 16 --report-interval-ms 5000 --group g --idle-timeout-ms 5000"
        );
        assert_eq!(
            p.args("http://h:19092").join(" "),
            "/mnt/rp/rest-perf produce --url http://h:19092 --topic t --records 10 \
             --concurrency 4 --report-interval-ms 5000 --record-size 100 --acks sync --rate 500"
        );
    }
}
