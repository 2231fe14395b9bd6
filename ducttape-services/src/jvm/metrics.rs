//! [`Metrics`]: a service's JVM metrics, sampled through the test from each node's JMX exporter
//! agent, kept in memory for the test to query and written as they come to
//! `<test results>/metrics/<node>.jsonl`.
//!
//! The file holds one JSON object a line, one line per scrape of a node:
//! `{"t_ms": <unix ms>, "service": "kafka", "node": "worker1", "up": true, "values":
//! {"UnderReplicatedPartitions{type=\"ReplicaManager\"}": 0.0, …}}` — the keys are the series
//! as Prometheus writes them (name, then labels sorted). A scrape that failed (the JVM not up
//! yet, stopped, paused, cut off) is a line with `"up": false` and its `"error"`: a gap, never
//! a value carried over.
//!
//! Sampling runs on a thread of its own (std I/O, no test runtime), every
//! [`interval`](super::interval) (5 s by default), from the moment the service is built until
//! teardown stops it, just before the service itself. Its cost goes to `summary.json` under
//! the `<service>-metrics` entry: per node the scrapes, failures, the sampler's own CPU (this
//! process, measured per thread) and the agent's time spent reading MBeans
//! (`jmx_scrape_duration_seconds`, as the agent measures it).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ducttape_core::cluster::Node;
use ducttape_core::context::{Teardown, TeardownError, TestContext};
use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::prometheus::parse_exposition;
use super::query::{MetricsError, Point, Series};
use super::scrape::get_metrics;
use super::{interval, metrics_wanted, JvmObservation};

/// How long one scrape may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(3);

/// A service's sampled JVM metrics (cheap to clone: all clones share one sampler).
///
/// ```no_run
/// # async fn demo(kafka: std::sync::Arc<ducttape_services::KafkaService>) -> Result<(), ducttape_services::Error> {
/// let m = kafka.metrics();
/// let urp = m.series("UnderReplicatedPartitions")?;       // every broker, every sample
/// assert_eq!(urp.on("worker1").max(), Some(0.0));
/// let p99 = m.series("TotalTimeMs_99thPercentile")?.with("request", "Produce").max();
/// assert!(m.series("NoSuchMetric").is_err());           // an error naming it
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("service", &self.inner.service)
            .field("port", &self.inner.port)
            .finish()
    }
}

struct Inner {
    service: String,
    /// Node name and `address:port` of its agent.
    targets: Vec<(String, String)>,
    /// `None`: off.
    port: Option<u16>,
    interval: Duration,
    dir: PathBuf,
    state: Mutex<State>,
    wake: Condvar,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

#[derive(Default)]
struct State {
    stopping: bool,
    /// Every sampled value, by metric name, oldest first.
    series: BTreeMap<String, Vec<Point>>,
    nodes: BTreeMap<String, NodeCost>,
}

/// What sampling one node cost.
#[derive(Default, Debug, Clone)]
struct NodeCost {
    scrapes: u64,
    failed: u64,
    /// CPU of this process's sampler thread for the node's scrapes (connect, read, parse, store).
    sampler_cpu_ns: u64,
    /// The agent's own `jmx_scrape_duration_seconds` (wall time reading MBeans), summed.
    agent_jmx_secs: f64,
    bytes: u64,
}

impl Metrics {
    /// Samples `service`'s agents on `nodes` at `port` (`None`, or `DUCTTAPE_JVM_METRICS=off`:
    /// off, nothing sampled, every query an error saying so). Not sampling yet: call
    /// [`start`](Self::start) once the service is registered, so teardown stops the sampler
    /// before the service.
    pub fn new(ctx: &TestContext, service: &str, nodes: &[Node], port: Option<u16>) -> Self {
        let port = port.filter(|_| metrics_wanted());
        let targets = port
            .map(|p| {
                nodes
                    .iter()
                    .map(|n| (n.name().to_string(), format!("{}:{p}", n.address())))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            inner: Arc::new(Inner {
                service: service.to_string(),
                targets,
                port,
                interval: interval(),
                dir: ctx.results_dir().join("metrics"),
                state: Mutex::default(),
                wake: Condvar::new(),
                thread: Mutex::new(None),
            }),
        }
    }

    /// Whether metrics are sampled.
    pub fn enabled(&self) -> bool {
        self.inner.port.is_some()
    }

    /// What the service's JVMs carry: the GC log, and the agent on this port when on.
    pub fn observation(&self) -> JvmObservation {
        JvmObservation::new(self.inner.port)
    }

    /// Registers the sampler with `ctx` (teardown stops it, before the services registered
    /// earlier) and starts sampling. Nothing when off.
    pub fn start(&self, ctx: &TestContext) {
        if !self.enabled() {
            return;
        }
        ctx.register(Arc::new(Sampler(self.clone())));
        let inner = self.inner.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("ducttape-metrics-{}", self.inner.service))
            .spawn(move || run(&inner));
        match spawned {
            Ok(handle) => {
                if let Ok(mut t) = self.inner.thread.lock() {
                    *t = Some(handle);
                }
            }
            Err(e) => {
                tracing::warn!(service = %self.inner.service, error = %e, "cannot start the metrics sampler")
            }
        }
    }

    /// Scrapes every node once, now (blocking: from async code, call it in
    /// `tokio::task::spawn_blocking`): for a check that needs a value newer than the last
    /// sample.
    pub fn sample_now(&self) {
        if self.enabled() {
            sample_all(&self.inner);
        }
    }

    /// The names of every metric sampled so far.
    pub fn names(&self) -> Vec<String> {
        self.inner
            .state
            .lock()
            .map(|s| s.series.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Every sample of metric `name` so far (every node, every label set). A name that was
    /// never sampled is [`MetricsError::Unknown`], naming it.
    pub fn series(&self, name: &str) -> Result<Series, MetricsError> {
        if !self.enabled() {
            return Err(MetricsError::Off {
                service: self.inner.service.clone(),
            });
        }
        let state = self.inner.state.lock().map_err(|_| MetricsError::Off {
            service: self.inner.service.clone(),
        })?;
        if let Some(points) = state.series.get(name) {
            return Ok(Series::new(name, points.clone()));
        }
        let lower = name.to_ascii_lowercase();
        let similar = state
            .series
            .keys()
            .filter(|k| {
                let k = k.to_ascii_lowercase();
                k.contains(&lower) || lower.contains(&k)
            })
            .take(5)
            .cloned()
            .collect();
        Err(MetricsError::Unknown {
            service: self.inner.service.clone(),
            name: name.to_string(),
            known: state.series.len(),
            scrapes: state
                .nodes
                .values()
                .map(|c| usize::try_from(c.scrapes - c.failed).unwrap_or(usize::MAX))
                .sum(),
            similar,
        })
    }

    /// The newest value of `name` on `node`; an error when the metric is unknown, has no
    /// sample there, or has several label sets (narrow it with [`Series::with`]).
    pub fn latest(&self, node: &Node, name: &str) -> Result<f64, MetricsError> {
        let series = self.series(name)?.on(node.name());
        let sets = series.label_sets();
        if sets.len() > 1 {
            return Err(MetricsError::Ambiguous {
                name: name.to_string(),
                label_sets: sets,
            });
        }
        series.latest().ok_or_else(|| MetricsError::NoSample {
            service: self.inner.service.clone(),
            node: node.name().to_string(),
            name: name.to_string(),
        })
    }

    /// The greatest value of `name` over every node and sample so far.
    pub fn max(&self, name: &str) -> Result<f64, MetricsError> {
        let series = self.series(name)?;
        series.max().ok_or_else(|| MetricsError::NoSample {
            service: self.inner.service.clone(),
            node: "any".into(),
            name: name.to_string(),
        })
    }

    fn stop(&self) {
        if let Ok(mut s) = self.inner.state.lock() {
            s.stopping = true;
        }
        self.inner.wake.notify_all();
        let handle = self.inner.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }

    /// Per node: scrapes, failures, the sampler's CPU and the agent's MBean-reading time.
    fn cost(&self) -> Value {
        let nodes = self
            .inner
            .state
            .lock()
            .map(|s| s.nodes.clone())
            .unwrap_or_default();
        let per_node: serde_json::Map<String, Value> = nodes
            .into_iter()
            .map(|(node, c)| {
                let ok = c.scrapes - c.failed;
                #[allow(clippy::cast_precision_loss)]
                let mean = |total: f64| if ok == 0 { 0.0 } else { total / ok as f64 };
                #[allow(clippy::cast_precision_loss)]
                let cpu_ms = c.sampler_cpu_ns as f64 / 1e6;
                (
                    node,
                    json!({
                        "scrapes": c.scrapes,
                        "failed_scrapes": c.failed,
                        "sampler_cpu_ms": cpu_ms,
                        "sampler_cpu_ms_per_scrape": mean(cpu_ms),
                        "agent_jmx_wall_ms_per_scrape": mean(c.agent_jmx_secs * 1e3),
                        "bytes_per_scrape": mean(c.bytes as f64),
                    }),
                )
            })
            .collect();
        json!({
            "interval_secs": self.inner.interval.as_secs_f64(),
            "port": self.inner.port,
            "nodes": per_node,
        })
    }
}

/// The sampler's loop: a round of scrapes, then wait for the interval (or the stop).
fn run(inner: &Arc<Inner>) {
    if let Err(e) = std::fs::create_dir_all(&inner.dir) {
        tracing::warn!(dir = %inner.dir.display(), error = %e, "cannot make the metrics directory");
    }
    loop {
        sample_all(inner);
        let Ok(state) = inner.state.lock() else {
            return;
        };
        if state.stopping {
            return;
        }
        let Ok((state, _)) = inner
            .wake
            .wait_timeout_while(state, inner.interval, |s| !s.stopping)
        else {
            return;
        };
        if state.stopping {
            return;
        }
    }
}

/// This thread's CPU time so far, in ns (`/proc/thread-self/schedstat`, first field).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn sample_all(inner: &Inner) {
    for (node, address) in &inner.targets {
        let cpu_before = thread_cpu_ns();
        let at = SystemTime::now();
        let scraped = get_metrics(address, SCRAPE_TIMEOUT)
            .map_err(|e| e.to_string())
            .and_then(|body| {
                parse_exposition(&body)
                    .map(|samples| (body.len(), samples))
                    .map_err(|e| format!("{address}: unreadable scrape: {e}"))
            });
        let t_ms = at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let line = match &scraped {
            Ok((_, samples)) => {
                let values: serde_json::Map<String, Value> = samples
                    .iter()
                    .map(|s| (s.key(), json!(finite_or_null(s.value))))
                    .collect();
                json!({ "t_ms": t_ms, "service": inner.service, "node": node, "up": true, "values": values })
            }
            Err(e) => {
                json!({ "t_ms": t_ms, "service": inner.service, "node": node, "up": false, "error": e })
            }
        };
        append_line(&inner.dir.join(format!("{node}.jsonl")), &line);
        let Ok(mut state) = inner.state.lock() else {
            return;
        };
        match scraped {
            Ok((bytes, samples)) => {
                let mut jmx_secs = 0.0;
                for s in samples {
                    if s.name == "jmx_scrape_duration_seconds" {
                        jmx_secs = s.value;
                    }
                    state.series.entry(s.name).or_default().push(Point {
                        node: node.clone(),
                        at,
                        labels: s.labels,
                        value: s.value,
                    });
                }
                let cost = state.nodes.entry(node.clone()).or_default();
                cost.scrapes += 1;
                cost.agent_jmx_secs += jmx_secs;
                cost.bytes += bytes as u64;
            }
            Err(_) => {
                let cost = state.nodes.entry(node.clone()).or_default();
                cost.scrapes += 1;
                cost.failed += 1;
            }
        }
        let cost = state.nodes.entry(node.clone()).or_default();
        cost.sampler_cpu_ns += thread_cpu_ns().saturating_sub(cpu_before);
    }
}

/// JSON has no NaN or infinity: those values are written as `null`.
fn finite_or_null(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

fn append_line(path: &std::path::Path, line: &Value) {
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| {
            let mut text = line.to_string();
            text.push('\n');
            f.write_all(text.as_bytes())
        });
    if let Err(e) = written {
        tracing::warn!(path = %path.display(), error = %e, "cannot write a metrics sample");
    }
}

/// The sampler as the test context sees it: stopped at teardown, its cost in the summary.
struct Sampler(Metrics);

impl Teardown for Sampler {
    fn name(&self) -> String {
        format!("{}-metrics", self.0.inner.service)
    }

    fn stop(self: Arc<Self>) -> BoxFuture<'static, Result<(), TeardownError>> {
        Box::pin(async move {
            tokio::task::spawn_blocking(move || self.0.stop())
                .await
                .map_err(TeardownError::new)
        })
    }

    fn collect_logs(
        self: Arc<Self>,
        _dest: PathBuf,
        _all: bool,
    ) -> BoxFuture<'static, Result<(), TeardownError>> {
        // The samples are written to <test>/metrics/ as they come.
        Box::pin(async { Ok(()) })
    }

    fn clean(self: Arc<Self>) -> BoxFuture<'static, Result<(), TeardownError>> {
        Box::pin(async { Ok(()) })
    }

    fn results(&self) -> Value {
        self.0.cost()
    }
}
