//! The per-test context: results directory, `test.log`, leased nodes, registered services,
//! a timeout, and a teardown that always runs.
//!
//! A [`TestContext`] is made at the start of a test (the `ctx` fixture of `ducttape-tests`
//! does it) and owns everything the test sets up. On the way out — pass, fail, panic or
//! timeout — it stops registered services in reverse order, collects their logs (all of them
//! on failure) into `<test dir>/<service>/`, cleans their nodes, gives the nodes back and
//! writes `summary.json`. What happens is also written as events to `events.jsonl`, which
//! reporters read.
//!
//! Teardown is quick by default: a service's nodes are *killed* (SIGKILL, in parallel), since
//! a test that does not check its services' shutdown has no use for a graceful one (a Kafka
//! broker's controlled shutdown takes seconds), and a service's logs are collected and its
//! nodes cleaned while the services registered before it are being stopped. A test that wants
//! its services' clean shutdown asks for it with [`TestContext::clean_shutdown`]: they are then
//! stopped gracefully (SIGTERM, then SIGKILL after each service's grace), still in reverse
//! order, one service after another. Either way every log is collected and every node cleaned,
//! also when stopping a service failed on some node.
//!
//! A teardown step that fails (a service that will not stop, logs that cannot be collected, a
//! node that cannot be cleaned) is a test error, not a log line: a test that otherwise passed
//! gets status `error` and fails with the teardown's problems; a test that had already failed
//! keeps its own failure, with the problems in `summary.json`.
//!
//! So is a process left running. Right after a service's stop (or kill) returned `Ok`, and
//! before its clean (which kills its process again), teardown asks the service which of its
//! processes still run ([`Teardown::left_running`]): a stop that returned `Ok` without
//! stopping is named with node, pid and command line. Then, when every service is stopped and
//! cleaned, the nodes' cleanup lists whatever it is about to kill ([`Lease::release`]): a
//! process a service started outside its own process group, or one the test itself started
//! (`account.spawn`, `nohup … &`) and did not stop, is a problem too — what a test starts
//! outside services it must stop itself. Only processes that outlive a grace
//! ([`crate::cluster::lease::LEFTOVER_GRACE`]) count, so a JVM finishing its exit or a command
//! the transport is killing does not; the transport's own shells are not counted.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ducttape_core::context::TestContext;
//! let ctx = TestContext::new("docs::example")?;
//! let nodes = ctx.lease(2).await?;
//! nodes[0].account().ssh("echo hello > /mnt/hello").await?;
//! ctx.record("greeting", "hello");
//! ctx.finish().await; // optional: dropping the context does the same
//! # Ok(()) }
//! ```

mod gc_logs;
mod panic_note;

pub use crate::log::EVENT_TARGET;

/// Writes an event to the current test's `events.jsonl` (and its `test.log`), from anywhere
/// inside the test (a service task, a fault injector): `kind`, then `tracing` fields. Reports
/// draw them on the test's time axis (see [`crate::report`]).
///
/// ```
/// ducttape_core::event!("fault_start", fault = "partition", nodes = "worker1|worker2");
/// ```
#[macro_export]
macro_rules! event {
    ($kind:expr $(, $($fields:tt)*)?) => {
        $crate::__tracing::info!(target: "ducttape::event", event = $kind $(, $($fields)*)?)
    };
}

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::{json, Map, Value};
use tracing::Instrument;

use crate::cluster::{Cluster, ClusterError, Lease, LeaseError, LeaseRequest, Node};
use crate::log;
use crate::remote::NodeProcess;
use crate::report::{self, attempts, data, phases};
use crate::results;

/// The default per-test timeout (`DUCTTAPE_TEST_TIMEOUT` in seconds overrides it).
pub const DEFAULT_TEST_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// How long one teardown step (stopping one service, collecting its logs) may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);

/// Something the context must stop, collect logs from and clean when the test ends.
/// Services implement it (through `ducttape-services`); tests rarely do.
pub trait Teardown: Send + Sync + 'static {
    /// A name for results paths and reports, unique within the test (`kafka`, `zookeeper-2`).
    fn name(&self) -> String;
    /// Stops it (gracefully, then forcefully). Teardown calls it when the test asked for
    /// [`TestContext::clean_shutdown`].
    fn stop(self: Arc<Self>) -> BoxFuture<'static, Result<(), TeardownError>>;
    /// Stops it as fast as it can (SIGKILL): teardown calls it unless the test asked for
    /// [`TestContext::clean_shutdown`]. The default is [`stop`](Self::stop), for things whose
    /// stop is quick anyway (healing faults).
    fn kill(self: Arc<Self>) -> BoxFuture<'static, Result<(), TeardownError>> {
        self.stop()
    }
    /// Its processes still running after [`stop`](Self::stop) or [`kill`](Self::kill)
    /// returned `Ok`. Teardown asks right then, before [`clean`](Self::clean) (which may kill
    /// them as well), and makes any a test error: a stop must stop. The default: none, for
    /// things that run no processes of their own (faults).
    fn left_running(
        self: Arc<Self>,
    ) -> BoxFuture<'static, Result<Vec<NodeProcess>, TeardownError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    /// Copies its logs into `dest`; `all` is set when the test failed.
    fn collect_logs(
        self: Arc<Self>,
        dest: PathBuf,
        all: bool,
    ) -> BoxFuture<'static, Result<(), TeardownError>>;
    /// Removes what it left on its nodes.
    fn clean(self: Arc<Self>) -> BoxFuture<'static, Result<(), TeardownError>>;
    /// On a failed or timed-out test, before anything is stopped: writes into `dest` what its
    /// processes can still tell (thread dumps of its JVMs) and returns the files written.
    /// The default: nothing.
    fn diagnose(
        self: Arc<Self>,
        dest: PathBuf,
    ) -> BoxFuture<'static, Result<Vec<PathBuf>, TeardownError>> {
        let _ = dest;
        Box::pin(async { Ok(Vec::new()) })
    }
    /// Numbers it produced, for `summary.json`.
    fn results(&self) -> Value {
        Value::Null
    }
}

/// Why a teardown step (stopping a service, collecting its logs, cleaning its nodes) failed.
/// Teardown makes it a test error; its message goes into `summary.json`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TeardownError {
    /// What the service (or whatever was registered) said.
    #[error(transparent)]
    Failed(Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The step failed on several nodes, each for its own reason.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<TeardownError>),
    /// The step did not finish in time.
    #[error("{what} did not finish within {limit:?}")]
    TimedOut {
        /// The step.
        what: String,
        /// How long it was given.
        limit: Duration,
    },
}

impl TeardownError {
    /// Wraps what a service's operation returned: `.map_err(TeardownError::new)`.
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        TeardownError::Failed(error.into())
    }

    /// `Ok` when `errors` is empty, else all of them (one alone as itself).
    pub fn all(mut errors: Vec<TeardownError>) -> Result<(), TeardownError> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(TeardownError::Several(errors)),
        }
    }
}

/// The context could not be set up.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum ContextError {
    /// The results directory could not be made.
    #[error("cannot create results directory for test {test}: {source}")]
    Results {
        /// The test.
        test: String,
        /// Why.
        source: std::io::Error,
    },
    /// The cluster could not be had.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// Nodes could not be leased.
    #[error(transparent)]
    Lease(#[from] LeaseError),
    /// No test name: the context was made outside a test thread.
    #[error("cannot tell the test's name (thread {0:?}); use TestContext::new(name)")]
    NoName(String),
}

crate::human_debug!(ContextError);

/// How a test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// It returned normally.
    Pass,
    /// It panicked (an assertion or `unwrap` failed).
    Fail,
    /// It ran past its timeout.
    Timeout,
    /// It returned normally, but its teardown failed (a service would not stop, logs could
    /// not be collected, a node could not be cleaned).
    Error,
    /// It cannot run here and said so with [`TestContext::skip`].
    Skipped,
}

impl Status {
    /// The name used in `summary.json` and the reports (`pass`, `fail`, `timeout`, `error`,
    /// `skipped`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Timeout => "timeout",
            Self::Error => "error",
            Self::Skipped => "skipped",
        }
    }
}

#[derive(Default)]
struct Done {
    started: bool,
    finished: bool,
    status: Option<Status>,
    /// Why the test did not pass, when the context knows better than the test's panic.
    message: Option<String>,
}

struct Inner {
    name: String,
    id: u64,
    dir: PathBuf,
    /// The run directory `dir` is in; its report is rewritten after teardown.
    run_dir: PathBuf,
    started: Instant,
    started_at: chrono::DateTime<chrono::Utc>,
    span: tracing::Span,
    leases: Mutex<Vec<Lease>>,
    /// Registered services with their ids (unique within the test), in registration order.
    services: Mutex<Vec<(String, Arc<dyn Teardown>)>>,
    /// Stop services gracefully at teardown (see [`TestContext::clean_shutdown`]).
    clean_shutdown: AtomicBool,
    results: Mutex<Map<String, Value>>,
    /// Why the test cannot run here, if it said so.
    skipped: Mutex<Option<String>>,
    /// Why the test failed: its panic's message and place, when it panicked on its own thread.
    failure: Mutex<Option<String>>,
    /// `test.log` and `events.jsonl`.
    log: Arc<log::TestLog>,
    /// Set for the checks a test makes after its teardown: they go on in the same results
    /// directory and the same row of the report ([`TestContext::finish_for_checks`]).
    continues: bool,
    done: Mutex<Done>,
    done_signal: Condvar,
}

/// See the module docs.
pub struct TestContext {
    inner: Arc<Inner>,
    finished: bool,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl TestContext {
    /// A context for the test running on this thread (libtest names test threads after
    /// their tests).
    pub fn for_current_test() -> Result<Self, ContextError> {
        let thread = std::thread::current();
        match thread.name() {
            Some(name) if name != "main" && !name.starts_with("tokio-runtime") => Self::new(name),
            other => Err(ContextError::NoName(other.unwrap_or("unnamed").to_string())),
        }
    }

    /// A context for test `name` (`module::test`; becomes the results path), with the
    /// default timeout ([`DEFAULT_TEST_TIMEOUT`], or `DUCTTAPE_TEST_TIMEOUT` seconds).
    pub fn new(name: &str) -> Result<Self, ContextError> {
        Self::builder(name).build()
    }

    /// A context for test `name` that times out after `timeout`: teardown runs at once (services
    /// stopped, logs collected, the nodes' connections dropped so pending commands fail) and the
    /// test is reported as timed out; it fails when it ends, whatever it does meanwhile.
    pub fn with_timeout(name: &str, timeout: Duration) -> Result<Self, ContextError> {
        Self::builder(name).timeout(timeout).build()
    }

    /// A context for test `name`, configured step by step.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use ducttape_core::TestContext;
    /// let ctx = TestContext::builder("docs::builder")
    ///     .timeout(Duration::from_secs(60))
    ///     .results_root("/tmp/my-results")
    ///     .build()?;
    /// # Ok::<(), ducttape_core::context::ContextError>(())
    /// ```
    pub fn builder(name: &str) -> ContextBuilder {
        ContextBuilder {
            name: name.to_string(),
            timeout: None,
            results_root: None,
        }
    }

    fn start(name: &str, timeout: Duration, place: Place<'_>) -> Result<Self, ContextError> {
        log::init();
        panic_note::install();
        let results_err = |source| ContextError::Results {
            test: name.to_string(),
            source,
        };
        let (run_dir, dir, continues) = match place {
            Place::Continue { run_dir, dir } => (run_dir.to_path_buf(), dir.to_path_buf(), true),
            Place::Root(root) => {
                let run_dir = match root {
                    Some(root) => results::run_dir_in(root),
                    None => results::run_dir(),
                }
                .map_err(results_err)?;
                let dir = results::test_dir(&run_dir, name).map_err(results_err)?;
                (run_dir, dir, false)
            }
        };
        let id = NEXT_ID.fetch_add(1, Ordering::SeqCst);
        let test_log = log::TestLog::create(&dir.join("test.log"), &dir.join("events.jsonl"))
            .map_err(results_err)?;
        log::register(id, test_log.clone());
        let span = tracing::info_span!("test", ducttape_test_id = id, test = %name);
        let inner = Arc::new(Inner {
            name: name.to_string(),
            id,
            dir,
            run_dir,
            started: Instant::now(),
            started_at: chrono::Utc::now(),
            span,
            leases: Mutex::new(Vec::new()),
            services: Mutex::new(Vec::new()),
            clean_shutdown: AtomicBool::new(false),
            results: Mutex::new(Map::new()),
            skipped: Mutex::new(None),
            failure: Mutex::new(None),
            log: test_log,
            continues,
            done: Mutex::new(Done::default()),
            done_signal: Condvar::new(),
        });
        let ctx = Self {
            inner,
            finished: false,
        };
        let started = if continues {
            "checks_started"
        } else {
            "test_started"
        };
        ctx.event(started, json!({ "dir": ctx.inner.dir }));
        tracing::info!(test = %name, dir = %ctx.inner.dir.display(), "test started");
        ctx.arm_watchdog(timeout);
        Ok(ctx)
    }

    /// The test's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The test's results directory.
    pub fn results_dir(&self) -> &Path {
        &self.inner.dir
    }

    /// A span that routes logs to this test's `test.log` from any thread or task:
    /// `fut.instrument(ctx.span())`.
    pub fn span(&self) -> tracing::Span {
        self.inner.span.clone()
    }

    fn arm_watchdog(&self, timeout: Duration) {
        let inner = Arc::downgrade(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("ducttape-watchdog".into())
            .spawn(move || {
                let deadline = Instant::now() + timeout;
                loop {
                    let Some(inner) = inner.upgrade() else { return };
                    let guard = match inner.done.lock() {
                        Ok(g) => g,
                        Err(_) => return,
                    };
                    if guard.started {
                        return;
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        drop(guard);
                        tracing::error!(parent: &inner.span, ?timeout, "test timed out: tearing down");
                        run_teardown_blocking(&inner, Status::Timeout);
                        return;
                    }
                    // Wake at least every second to notice a finished test without holding
                    // the context alive.
                    let _ = inner.done_signal.wait_timeout(guard, left.min(Duration::from_secs(1)));
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the test watchdog: no timeout for this test");
        }
    }

    /// Leases `count` nodes from the process's cluster; they are released at teardown.
    pub async fn lease(&self, count: usize) -> Result<Vec<Node>, ContextError> {
        self.lease_with(LeaseRequest::new(count)).await
    }

    /// Leases nodes as `request` says; they are released at teardown.
    pub async fn lease_with(&self, request: LeaseRequest) -> Result<Vec<Node>, ContextError> {
        let cluster = Cluster::global()?;
        let lease = cluster.lease_with(request).instrument(self.span()).await?;
        let nodes = lease.nodes().to_vec();
        self.event(
            "nodes_leased",
            json!({ "nodes": nodes.iter().map(|n| json!({"name": n.name(), "address": n.address()})).collect::<Vec<_>>() }),
        );
        if let Ok(mut leases) = self.inner.leases.lock() {
            leases.push(lease);
        }
        Ok(nodes)
    }

    /// Registers something to stop, collect logs from and clean at teardown (in reverse
    /// order of registration).
    ///
    /// Returns the service's id in this test: its name, or `<name>-2`, `<name>-3`… when a
    /// service of the same name was registered before (two Kafka clusters in one test), as
    /// ducktape's `service_id`. Its logs and results go under that id.
    pub fn register(&self, service: Arc<dyn Teardown>) -> String {
        let name = service.name();
        let id = match self.inner.services.lock() {
            Ok(mut services) => {
                let taken = |id: &str| services.iter().any(|(other, _)| other == id);
                let id = (1..)
                    .map(|n| {
                        if n == 1 {
                            name.clone()
                        } else {
                            format!("{name}-{n}")
                        }
                    })
                    .find(|id| !taken(id))
                    .unwrap_or_else(|| name.clone());
                services.push((id.clone(), service));
                id
            }
            Err(_) => name,
        };
        self.event("service_registered", json!({ "service": id }));
        id
    }

    /// Asks teardown to stop every registered service gracefully — SIGTERM, then SIGKILL after
    /// the service's grace — in reverse order of registration, one service after another, as a
    /// test that checks its services' shutdown needs (say, that a broker's controlled shutdown
    /// succeeds). A stop that fails is a teardown error (status `error`). Without it teardown
    /// kills the services (see the [module docs](self)), which is much faster.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let ctx = ducttape_core::TestContext::new("docs::clean_shutdown")?;
    /// ctx.clean_shutdown();
    /// // … start services; teardown stops them with SIGTERM first.
    /// # Ok(()) }
    /// ```
    pub fn clean_shutdown(&self) {
        self.inner.clean_shutdown.store(true, Ordering::SeqCst);
        self.event("clean_shutdown_requested", json!({}));
    }

    /// Records a result under `key` in `summary.json`.
    pub fn record(&self, key: &str, value: impl Into<Value>) {
        if let Ok(mut r) = self.inner.results.lock() {
            r.insert(key.to_string(), value.into());
        }
    }

    /// Marks the test as skipped: it cannot run here (say, it needs the local cluster and
    /// `DUCTTAPE_CLUSTER` names another). Prints `reason`; the test should return right after.
    /// It is reported as `skipped` (JUnit `<skipped/>`), never as passed — unless it then
    /// panics (`fail`) or its teardown fails (`error`).
    ///
    /// ```no_run
    /// # fn demo(ctx: ducttape_core::TestContext) -> Result<(), Box<dyn std::error::Error>> {
    /// let cluster = ducttape_core::cluster::Cluster::global()?;
    /// let Some(local) = cluster.local() else {
    ///     ctx.skip("needs the local cluster (DUCTTAPE_CLUSTER is set)");
    ///     return Ok(());
    /// };
    /// # let _ = local; Ok(()) }
    /// ```
    pub fn skip(&self, reason: impl Into<String>) {
        let reason = reason.into();
        eprintln!("skipped {}: {reason}", self.inner.name);
        tracing::warn!(%reason, "test skipped");
        self.event("test_skipped", json!({ "reason": reason }));
        if let Ok(mut s) = self.inner.skipped.lock() {
            *s = Some(reason);
        }
    }

    /// Marks the end of bring-up: what follows is the test's workload, in the phase timings of
    /// `summary.json` and the report (see [`phases`]). Tests whose workload is a perf or
    /// verifiable client need not call it: starting one marks it.
    ///
    /// ```no_run
    /// # async fn demo(ctx: ducttape_core::TestContext) {
    /// // … start the systems under test …
    /// ctx.workload_started();
    /// // … bounce, partition, check …
    /// # }
    /// ```
    pub fn workload_started(&self) {
        self.event("workload_started", json!({}));
    }

    fn event(&self, kind: &str, data: Value) {
        write_event(&self.inner, kind, data);
    }

    /// `Fail` (keeping the panic's message for the summary) while this thread unwinds, else
    /// `Pass`.
    fn status_now(&self) -> Status {
        if !std::thread::panicking() {
            return Status::Pass;
        }
        if let (Some(message), Ok(mut failure)) = (panic_note::take(), self.inner.failure.lock()) {
            *failure = Some(message);
        }
        Status::Fail
    }

    /// Tears down now (as if the test passed, unless it is panicking) and waits for it.
    pub async fn finish(mut self) {
        self.finished = true;
        let status = self.status_now();
        if claim_teardown(&self.inner) {
            teardown(self.inner.clone(), status).await;
        } else {
            wait_teardown(&self.inner);
        }
        self.check_outcome();
    }

    /// Tears down now, like [`finish`](Self::finish), and returns a context for checks made
    /// after teardown (that the nodes were healed, cleaned, left as they should be). The checks
    /// stay in this test's results directory and its one row of the report: their events are
    /// appended to `events.jsonl`, and their outcome and duration to `summary.json`.
    ///
    /// ```no_run
    /// # async fn demo(ctx: ducttape_core::TestContext) -> Result<(), Box<dyn std::error::Error>> {
    /// let check = ctx.finish_for_checks().await?;
    /// let nodes = check.lease(2).await?; // the same nodes, back from teardown
    /// # let _ = nodes; Ok(()) }
    /// ```
    pub async fn finish_for_checks(self) -> Result<TestContext, ContextError> {
        let name = self.inner.name.clone();
        let (run_dir, dir) = (self.inner.run_dir.clone(), self.inner.dir.clone());
        self.finish().await;
        TestContext::start(
            &name,
            configured_timeout(None),
            Place::Continue {
                run_dir: &run_dir,
                dir: &dir,
            },
        )
    }

    /// Fails the test (panics) if the context found it failed where the test body could not
    /// see it: a timeout or a teardown error. A test that is already panicking keeps its own
    /// failure.
    fn check_outcome(&self) {
        if std::thread::panicking() {
            return;
        }
        let (status, message) = match self.inner.done.lock() {
            Ok(d) => (d.status, d.message.clone().unwrap_or_default()),
            Err(_) => return,
        };
        let dir = self.inner.dir.display();
        match status {
            Some(Status::Timeout) => {
                panic!("test {} ran past its timeout; see {dir}", self.inner.name)
            }
            Some(Status::Error) => panic!("test {}: {message}; see {dir}", self.inner.name),
            _ => {}
        }
    }
}

/// Configures a [`TestContext`]; see [`TestContext::builder`].
#[must_use]
#[derive(Debug, Clone)]
pub struct ContextBuilder {
    name: String,
    timeout: Option<Duration>,
    results_root: Option<PathBuf>,
}

impl ContextBuilder {
    /// Times the test out after `timeout` (see [`TestContext::with_timeout`]); the default is
    /// [`DEFAULT_TEST_TIMEOUT`], or `DUCTTAPE_TEST_TIMEOUT` seconds.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Writes the results under `root/<run-id>/` instead of the run's results root (see
    /// [`crate::results`]), with a run report of their own there.
    pub fn results_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.results_root = Some(root.into());
        self
    }

    /// Makes the context; the test's clock starts now.
    pub fn build(self) -> Result<TestContext, ContextError> {
        TestContext::start(
            &self.name,
            configured_timeout(self.timeout),
            Place::Root(self.results_root.as_deref()),
        )
    }
}

/// `timeout`, else `DUCTTAPE_TEST_TIMEOUT` seconds, else [`DEFAULT_TEST_TIMEOUT`].
fn configured_timeout(timeout: Option<Duration>) -> Duration {
    timeout.unwrap_or_else(|| {
        std::env::var("DUCTTAPE_TEST_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TEST_TIMEOUT)
    })
}

/// Where a context keeps its results.
enum Place<'a> {
    /// A fresh test directory in this run under a results root (the default root if `None`).
    Root(Option<&'a Path>),
    /// The directory of a test that was torn down and goes on with checks.
    Continue { run_dir: &'a Path, dir: &'a Path },
}

impl Drop for TestContext {
    fn drop(&mut self) {
        if !self.finished {
            let status = self.status_now();
            run_teardown_blocking(&self.inner, status);
            self.check_outcome();
        }
        log::unregister(self.inner.id);
    }
}

fn write_event(inner: &Inner, kind: &str, data: Value) {
    inner.log.write_event(kind, data);
}

/// True if the caller is the one to run teardown.
fn claim_teardown(inner: &Inner) -> bool {
    match inner.done.lock() {
        Ok(mut d) if !d.started => {
            d.started = true;
            true
        }
        _ => false,
    }
}

fn wait_teardown(inner: &Inner) {
    let Ok(mut d) = inner.done.lock() else { return };
    while !d.finished {
        d = match inner.done_signal.wait(d) {
            Ok(d) => d,
            Err(_) => return,
        };
    }
}

/// Runs teardown on the I/O runtime and blocks this thread until it is done (for Drop and
/// the watchdog, which cannot await).
fn run_teardown_blocking(inner: &Arc<Inner>, status: Status) {
    if !claim_teardown(inner) {
        wait_teardown(inner);
        return;
    }
    let rt = match crate::remote::transport::io_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ducttape: cannot tear down test {}: {e}", inner.name);
            return;
        }
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let inner2 = inner.clone();
    rt.spawn(async move {
        teardown(inner2, status).await;
        let _ = tx.send(());
    });
    let _ = rx.recv();
}

async fn with_step_timeout<T>(
    what: String,
    fut: BoxFuture<'static, Result<T, TeardownError>>,
) -> Result<T, TeardownError> {
    match tokio::time::timeout(STEP_TIMEOUT, fut).await {
        Ok(r) => r,
        Err(_) => Err(TeardownError::TimedOut {
            what,
            limit: STEP_TIMEOUT,
        }),
    }
}

/// Collects `service`'s logs, then cleans its nodes (both are tried whatever the other gives);
/// returns its summary and the problems met.
async fn collect_and_clean(
    inner: Arc<Inner>,
    name: String,
    service: Arc<dyn Teardown>,
    failed: bool,
) -> (data::ServiceSummary, Vec<String>) {
    let mut problems = Vec::new();
    let dest = inner.dir.join(&name);
    let collected = with_step_timeout(
        format!("collecting logs of {name}"),
        service.clone().collect_logs(dest.clone(), failed),
    )
    .await;
    if let Err(e) = &collected {
        tracing::warn!(service = %name, error = %e, "log collection failed");
        problems.push(format!("logs {name}: {e}"));
    }
    write_event(
        &inner,
        "logs_collected",
        json!({ "service": name, "dir": dest, "ok": collected.is_ok() }),
    );
    let cleaned = with_step_timeout(format!("cleaning {name}"), service.clone().clean()).await;
    if let Err(e) = &cleaned {
        tracing::warn!(service = %name, error = %e, "clean failed");
        problems.push(format!("clean {name}: {e}"));
    }
    (
        data::ServiceSummary {
            name,
            results: service.results(),
        },
        problems,
    )
}

/// Every service's [`Teardown::diagnose`] at once, each into `<test dir>/<service>/`; returns
/// the files written, relative to the test's directory.
async fn diagnose_all(
    inner: &Arc<Inner>,
    services: &[(String, Arc<dyn Teardown>)],
    problems: &mut Vec<String>,
) -> Vec<String> {
    let asked = services.iter().map(|(name, service)| {
        let dest = inner.dir.join(name);
        let name = name.clone();
        let step = with_step_timeout(format!("diagnosing {name}"), service.clone().diagnose(dest));
        async move { (name, step.await) }
    });
    let mut files = Vec::new();
    for (name, answered) in futures::future::join_all(asked).await {
        match answered {
            Ok(written) => files.extend(written.into_iter().map(|f| {
                f.strip_prefix(&inner.dir)
                    .unwrap_or(&f)
                    .display()
                    .to_string()
            })),
            Err(e) => {
                tracing::warn!(service = %name, error = %e, "diagnosis failed");
                problems.push(format!("diagnose {name}: {e}"));
            }
        }
    }
    write_event(inner, "diagnostics_collected", json!({ "files": files }));
    files
}

async fn teardown(inner: Arc<Inner>, status: Status) {
    let span = inner.span.clone();
    teardown_steps(inner, status).instrument(span).await;
}

async fn teardown_steps(inner: Arc<Inner>, status: Status) {
    // The event first: the report's log tail ends where this event's time says teardown began.
    write_event(&inner, "teardown_started", json!({}));
    tracing::info!(status = status.as_str(), "teardown");
    let services: Vec<(String, Arc<dyn Teardown>)> =
        inner.services.lock().map(|s| s.clone()).unwrap_or_default();
    let mut problems = Vec::new();
    let mut service_summaries = Vec::new();
    let failed = status != Status::Pass;

    // A failed test's processes are asked what they were doing before any is stopped.
    let mut diagnostics = if failed {
        diagnose_all(&inner, &services, &mut problems).await
    } else {
        Vec::new()
    };

    let clean = inner.clean_shutdown.load(Ordering::SeqCst);
    // Services stop one after another, the last registered first (it may depend on the earlier
    // ones); as soon as one has stopped, its logs are collected and its nodes cleaned while the
    // next one stops.
    let mut after_stop = Vec::new();
    for (name, service) in services.iter().rev() {
        let name = name.clone();
        let (what, stopping) = if clean {
            ("stopping", service.clone().stop())
        } else {
            ("killing", service.clone().kill())
        };
        let stopped = with_step_timeout(format!("{what} {name}"), stopping).await;
        if let Err(e) = &stopped {
            tracing::warn!(service = %name, error = %e, clean, "stop failed");
            problems.push(format!("stop {name}: {e}"));
        }
        write_event(
            &inner,
            "service_stopped",
            json!({ "service": name, "ok": stopped.is_ok(), "clean": clean }),
        );
        if stopped.is_ok() {
            // What the service's own stop achieved, before its clean kills anything again.
            let checked = with_step_timeout(
                format!("checking what {name} left running"),
                service.clone().left_running(),
            )
            .await;
            match checked {
                Ok(left) if left.is_empty() => {}
                Ok(left) => {
                    let list = left.iter().map(ToString::to_string).collect::<Vec<_>>();
                    tracing::error!(service = %name, left = ?list, "stop returned Ok but left processes running");
                    write_event(
                        &inner,
                        "left_running",
                        json!({ "service": name, "processes": left }),
                    );
                    problems.push(format!(
                        "{what} {name} returned Ok but left running: {}",
                        list.join("; ")
                    ));
                }
                Err(e) => problems.push(format!("checking what {name} left running: {e}")),
            }
        }
        let task = collect_and_clean(inner.clone(), name.clone(), service.clone(), failed)
            .instrument(tracing::Span::current());
        after_stop.push((name, tokio::spawn(task)));
    }
    // Back in registration order for the summary.
    for (name, task) in after_stop.into_iter().rev() {
        match task.await {
            Ok((summary, mut found)) => {
                problems.append(&mut found);
                service_summaries.push(summary);
            }
            Err(e) => {
                problems.push(format!("logs and clean {name}: {e}"));
                service_summaries.push(data::ServiceSummary {
                    name,
                    results: Value::Null,
                });
            }
        }
    }

    // The GC logs came with the failed test's logs, just collected: listed beside the dumps.
    if failed {
        diagnostics.extend(gc_logs::collected_gc_logs(&inner.dir));
    }

    let leases: Vec<Lease> = inner
        .leases
        .lock()
        .map(|mut l| std::mem::take(&mut *l))
        .unwrap_or_default();
    for lease in leases {
        if status == Status::Timeout {
            for node in lease.nodes() {
                node.account().disconnect().await;
            }
        }
        let left = match lease.release().await {
            Ok(left) => left,
            Err(e) => {
                problems.push(format!("release nodes: {e}"));
                e.left_running
            }
        };
        if !left.is_empty() {
            let list = left.iter().map(ToString::to_string).collect::<Vec<_>>();
            write_event(
                &inner,
                "left_running",
                json!({ "service": Value::Null, "processes": left }),
            );
            problems.push(format!(
                "left running when the services were stopped and cleaned (killed by the nodes' cleanup): {}",
                list.join("; ")
            ));
        }
    }

    // A test that otherwise passed fails with its teardown's problems; one that had already
    // failed keeps its own failure (the problems are in the summary either way).
    let skipped = inner.skipped.lock().ok().and_then(|s| s.clone());
    let (status, message) = match (status, skipped) {
        (Status::Pass, _) if !problems.is_empty() => (
            Status::Error,
            Some(format!("teardown failed: {}", problems.join("; "))),
        ),
        (Status::Pass, Some(reason)) => (Status::Skipped, Some(reason)),
        (Status::Fail, _) => (
            Status::Fail,
            inner.failure.lock().ok().and_then(|f| f.clone()),
        ),
        (status, _) => (status, None),
    };
    if let (Status::Error, Some(message)) = (status, &message) {
        tracing::error!(%message, "test error");
    }
    let path = inner.dir.join("summary.json");
    let events = data::read_events(&inner.dir.join("events.jsonl"));
    let mut summary = data::Summary {
        format: data::FORMAT,
        test: inner.name.clone(),
        attempt: attempts::attempt(),
        status: status.as_str().to_string(),
        message: message.clone(),
        started: Some(inner.started_at.to_rfc3339()),
        duration_secs: inner.started.elapsed().as_secs_f64(),
        phases: phases::Phases::of(&events, chrono::Utc::now()),
        services: service_summaries,
        results: inner.results.lock().map(|r| r.clone()).unwrap_or_default(),
        teardown_problems: problems,
        diagnostics,
    };
    if inner.continues {
        match data::Summary::read(&path) {
            Ok(before) => summary = before.merge_checks(summary),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the summary the checks continue")
            }
        }
    }
    let written = serde_json::to_vec_pretty(&summary)
        .map_err(std::io::Error::other)
        .and_then(|bytes| crate::files::write_atomically(&path, &bytes, 0o644));
    if let Err(e) = written {
        tracing::error!(path = %path.display(), error = %e, "cannot write summary");
    }
    write_event(
        &inner,
        "test_finished",
        json!({ "status": status.as_str() }),
    );
    if let Err(e) = report::write_test_page(&inner.run_dir, &inner.dir) {
        tracing::warn!(error = %e, "cannot write the test's report page");
    }
    if let Err(e) = report::write_run_report(&inner.run_dir) {
        tracing::warn!(error = %e, "cannot write the run report");
    }
    tracing::info!(
        status = status.as_str(),
        secs = inner.started.elapsed().as_secs_f64(),
        "test finished"
    );
    if let Ok(mut d) = inner.done.lock() {
        d.finished = true;
        d.status = Some(status);
        d.message = message;
    }
    inner.done_signal.notify_all();
}
