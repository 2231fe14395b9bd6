//! The service lifecycle: a service implements node-level hooks, the framework fans them out.
//!
//! A [`Service`] owns its nodes and says how to start, wait for, stop and clean *one* node,
//! which processes it runs there and which logs it writes. [`ServiceExt`] provides the rest
//! for every service: [`start`](ServiceExt::start), [`wait`](ServiceExt::wait),
//! [`stop`](ServiceExt::stop), [`clean`](ServiceExt::clean), [`run`](ServiceExt::run) and
//! [`restart_node`](ServiceExt::restart_node), in parallel across nodes; [`run_parallel`]
//! starts several services at once. [`register`] hands a service to the test context, which
//! then stops it (kills it, unless the test asked for a clean shutdown), collects its logs
//! and cleans its nodes however the test ends.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ducttape_core::cluster::Node;
use ducttape_core::context::{Teardown, TeardownError, TestContext};
use ducttape_core::remote::{NodeProcess, StopOutcome};
use futures::future::{join_all, BoxFuture};
use tracing::Instrument;

use crate::error::{ResultExt, ServiceError};
use crate::process::ProcessSpec;

/// A log file a service writes on each of its nodes.
#[derive(Debug, Clone)]
pub struct LogFile {
    /// Short name; the file lands in `<results>/<service>/<node>/<name>`.
    pub name: String,
    /// Path on the node.
    pub path: String,
    /// Collected on every run (true) or only when the test failed (false).
    pub always: bool,
}

impl LogFile {
    /// A log collected on every run.
    pub fn always(name: &str, path: &str) -> Self {
        Self {
            name: name.into(),
            path: path.into(),
            always: true,
        }
    }

    /// A log collected only when the test failed.
    pub fn on_failure(name: &str, path: &str) -> Self {
        Self {
            always: false,
            ..Self::always(name, path)
        }
    }
}

/// Where a service keeps one process on a node: a directory of its own and a pid file. The
/// process hooks most services need (stop, clean, pids) are the same for all of them.
#[derive(Debug, Clone)]
pub struct ProcessFiles {
    service: String,
    dir: String,
    pidfile: String,
}

impl ProcessFiles {
    /// The process of `service` living in `dir` with its pid in `pidfile`.
    pub fn new(service: &str, dir: impl Into<String>, pidfile: impl Into<String>) -> Self {
        Self {
            service: service.to_string(),
            dir: dir.into(),
            pidfile: pidfile.into(),
        }
    }

    /// The pid file.
    pub fn pidfile(&self) -> &str {
        &self.pidfile
    }

    /// Stops the process on `node`: SIGTERM and up to `grace` when `clean`, else SIGKILL.
    /// Returns how it ended.
    pub async fn stop(
        &self,
        node: &Node,
        clean: bool,
        grace: Duration,
    ) -> Result<StopOutcome, ServiceError> {
        node.account()
            .stop(&self.pidfile, clean, grace)
            .await
            .ctx(&self.service)
    }

    /// Kills the process on `node` and removes its directory.
    pub async fn clean(&self, node: &Node) -> Result<(), ServiceError> {
        self.stop(node, false, Duration::ZERO).await?;
        node.account().remove(&self.dir).await.ctx(&self.service)
    }

    /// The process's pid on `node`, if it runs.
    pub async fn pids(&self, node: &Node) -> Result<Vec<u32>, ServiceError> {
        let pid = node
            .account()
            .pid_from_file(&self.pidfile)
            .await
            .ctx(&self.service)?;
        Ok(pid.into_iter().collect())
    }
}

/// The process `service` declares on `node`, or the error of a service that declares none and
/// did not write the hook that needs it.
fn declared<S: Service + ?Sized>(service: &S, node: &Node) -> Result<ProcessSpec, ServiceError> {
    service
        .process_spec(node)
        .ok_or_else(|| ServiceError::Usage {
            service: service.name().to_string(),
            detail: "declares no process (Service::process_spec) and does not write \
                     stop_node, clean_node and pids itself"
                .into(),
        })
}

/// Node-level hooks of a service. Implement these; use the fan-out of [`ServiceExt`].
#[async_trait]
pub trait Service: Send + Sync + 'static {
    /// The service's name (`zookeeper`, `kafka`, …): for logs and results paths.
    fn name(&self) -> &str;

    /// The nodes the service runs on.
    fn nodes(&self) -> &[Node];

    /// Starts the service on `node` and returns once it is ready (readiness is detected:
    /// a log line, a port, an HTTP answer — never a sleep).
    async fn start_node(&self, node: &Node) -> Result<(), ServiceError>;

    /// For services with a fixed amount of work: waits until `node`'s work is done. The
    /// default waits until [`pids`](Self::pids) is empty.
    async fn wait_node(&self, node: &Node, timeout: Duration) -> Result<(), ServiceError> {
        let what = format!("{}'s processes on {} ended", self.name(), node.name());
        ducttape_core::wait_until(&what, timeout, Duration::from_millis(200), || async {
            self.pids(node).await.map(|pids| pids.is_empty())
        })
        .await
        .map_err(|e| ServiceError::Timeout {
            service: self.name().to_string(),
            node: node.name().to_string(),
            after: timeout,
            detail: match e.last_error {
                Some(last) => format!("its processes are still running (last error: {last})"),
                None => "its processes are still running".into(),
            },
        })
    }

    /// The service's process on `node`, declared: a service that gives it gets
    /// [`stop_node`](Self::stop_node), [`clean_node`](Self::clean_node) and
    /// [`pids`](Self::pids) from it (its pid file, directory and stop grace), and writes them
    /// only when its own differ. `None` (the default): the service writes all three.
    fn process_spec(&self, node: &Node) -> Option<ProcessSpec> {
        let _ = node;
        None
    }

    /// Stops the service on `node`: gracefully (SIGTERM, then SIGKILL after a grace period)
    /// when `clean`, else SIGKILL at once. Returns how its process ended: [`StopOutcome::Exited`]
    /// on SIGTERM within the grace, [`StopOutcome::Killed`] by SIGKILL (at once when not
    /// `clean`, after the grace when it ignored SIGTERM), [`StopOutcome::NotRunning`].
    /// Default: the declared process's ([`ProcessSpec::stop`]).
    async fn stop_node(&self, node: &Node, clean: bool) -> Result<StopOutcome, ServiceError> {
        declared(self, node)?.stop(node, clean).await
    }

    /// Removes what the service left on `node` (data, configs, logs). Default: kills the
    /// declared process and removes its directory ([`ProcessSpec::clean`]).
    async fn clean_node(&self, node: &Node) -> Result<(), ServiceError> {
        declared(self, node)?.clean(node).await
    }

    /// The service's running processes on `node`. Default: the declared process's pid.
    async fn pids(&self, node: &Node) -> Result<Vec<u32>, ServiceError> {
        declared(self, node)?.pids(node).await
    }

    /// The logs it writes on each node.
    fn logs(&self) -> Vec<LogFile>;

    /// Results to put in `summary.json` (perf numbers, …).
    fn results(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// How long [`ServiceExt::wait`] waits by default.
    fn default_wait_timeout(&self) -> Duration {
        Duration::from_secs(600)
    }

    /// Whether the service is the test's workload (a perf or verifiable client) rather than
    /// a system under test: its start ends the test's bring-up phase (see
    /// [`ducttape_core::report::phases`]).
    fn is_workload(&self) -> bool {
        false
    }
}

async fn fan_out<'a, S, F>(service: &'a S, what: &str, op: F) -> Result<(), ServiceError>
where
    S: Service + ?Sized,
    F: Fn(&'a Node) -> BoxFuture<'a, Result<(), ServiceError>>,
{
    let span = tracing::info_span!("service", name = service.name(), op = what);
    let results = join_all(service.nodes().iter().map(|n| {
        let node_span = tracing::info_span!(parent: &span, "node", name = n.name());
        op(n).instrument(node_span)
    }))
    .instrument(span.clone())
    .await;
    ServiceError::from_all(results.into_iter().filter_map(Result::err).collect())
}

/// The lifecycle every [`Service`] gets: node hooks fanned out in parallel.
///
/// ```no_run
/// # async fn demo(zk: std::sync::Arc<ducttape_services::ZookeeperService>) -> Result<(), ducttape_services::ServiceError> {
/// use ducttape_services::{Service, ServiceExt};
/// zk.start().await?;                         // every node, in parallel, until ready
/// zk.restart_node(&zk.nodes()[0], true).await?; // a clean bounce of one node
/// zk.stop().await?;
/// # Ok(()) }
/// ```
#[async_trait]
pub trait ServiceExt: Service {
    /// `node`'s place among [`nodes`](Service::nodes) (0-based), or a usage error naming it.
    fn index(&self, node: &Node) -> Result<usize, ServiceError> {
        self.nodes()
            .iter()
            .position(|n| n.name() == node.name())
            .ok_or_else(|| ServiceError::Usage {
                service: self.name().to_string(),
                detail: format!("{} is not a node of this service", node.name()),
            })
    }

    /// Starts every node in parallel; returns when all are ready.
    async fn start(&self) -> Result<(), ServiceError> {
        tracing::info!(service = self.name(), "starting");
        let workload = self.is_workload();
        ducttape_core::event!("service_starting", service = self.name(), workload);
        let started = fan_out(self, "start", |n| Box::pin(self.start_node(n))).await;
        ducttape_core::event!(
            "service_ready",
            service = self.name(),
            workload,
            ok = started.is_ok()
        );
        started
    }

    /// Waits until every node's work is done (for clients with a fixed amount of work).
    async fn wait(&self) -> Result<(), ServiceError> {
        self.wait_for(self.default_wait_timeout()).await
    }

    /// [`wait`](Self::wait) with an explicit timeout.
    async fn wait_for(&self, timeout: Duration) -> Result<(), ServiceError> {
        fan_out(self, "wait", |n| Box::pin(self.wait_node(n, timeout))).await
    }

    /// Stops every node gracefully (then forcefully), in parallel.
    async fn stop(&self) -> Result<(), ServiceError> {
        ducttape_core::event!(
            "service_stopping",
            service = self.name(),
            workload = self.is_workload()
        );
        fan_out(self, "stop", |n| {
            Box::pin(async move { self.stop_node(n, true).await.map(drop) })
        })
        .await
    }

    /// Kills every node's processes at once.
    async fn kill(&self) -> Result<(), ServiceError> {
        ducttape_core::event!(
            "service_killed",
            service = self.name(),
            workload = self.is_workload()
        );
        fan_out(self, "kill", |n| {
            Box::pin(async move { self.stop_node(n, false).await.map(drop) })
        })
        .await
    }

    /// Cleans every node, in parallel.
    async fn clean(&self) -> Result<(), ServiceError> {
        fan_out(self, "clean", |n| Box::pin(self.clean_node(n))).await
    }

    /// Start, wait, stop.
    async fn run(&self) -> Result<(), ServiceError> {
        self.start().await?;
        let waited = self.wait().await;
        let stopped = self.stop().await;
        waited.and(stopped)
    }

    /// Stops one node (`clean`: SIGTERM first; else SIGKILL) and starts it again. Returns how
    /// the process ended (see [`Service::stop_node`]): a clean bounce whose process ignored
    /// SIGTERM and was killed after its grace returns [`StopOutcome::Killed`], not
    /// [`StopOutcome::Exited`] — a scenario about clean bounces asserts `Exited`.
    async fn restart_node(&self, node: &Node, clean: bool) -> Result<StopOutcome, ServiceError> {
        tracing::info!(
            service = self.name(),
            node = node.name(),
            clean,
            "restarting node"
        );
        ducttape_core::event!(
            "node_restarting",
            service = self.name(),
            node = node.name(),
            clean
        );
        let restarted = match self.stop_node(node, clean).await {
            Ok(ended) => self.start_node(node).await.map(|()| ended),
            Err(e) => Err(e),
        };
        ducttape_core::event!(
            "node_restarted",
            service = self.name(),
            node = node.name(),
            ok = restarted.is_ok(),
            ended = restarted.as_ref().map_or("", |ended| ended.as_str())
        );
        restarted
    }

    /// Whether any process of the service runs on `node`.
    async fn alive(&self, node: &Node) -> Result<bool, ServiceError> {
        Ok(!self.pids(node).await?.is_empty())
    }
}

impl<S: Service + ?Sized> ServiceExt for S {}

/// Starts several services at once; returns when all are ready.
///
/// ```no_run
/// # async fn demo(a: std::sync::Arc<ducttape_services::ZookeeperService>, b: std::sync::Arc<ducttape_services::ZookeeperService>) -> Result<(), ducttape_services::ServiceError> {
/// ducttape_services::run_parallel(&[a.as_ref() as &dyn ducttape_services::Service, b.as_ref()]).await?;
/// # Ok(()) }
/// ```
pub async fn run_parallel(services: &[&dyn Service]) -> Result<(), ServiceError> {
    let results = join_all(services.iter().map(|s| s.start())).await;
    ServiceError::from_all(results.into_iter().filter_map(Result::err).collect())
}

/// Hands `service` to the test context: at teardown it is killed on all its nodes at once
/// (stopped gracefully if the test asked for
/// [`TestContext::clean_shutdown`]), after services registered later; then its logs are
/// collected and its nodes cleaned, while services registered earlier stop.
pub fn register<S: Service>(ctx: &TestContext, service: &Arc<S>) {
    ctx.register(Arc::new(Registered(service.clone())));
}

struct Registered<S>(Arc<S>);

impl<S: Service> Teardown for Registered<S> {
    fn name(&self) -> String {
        self.0.name().to_string()
    }

    fn stop(self: Arc<Self>) -> BoxFuture<'static, Result<(), TeardownError>> {
        Box::pin(async move { self.0.stop().await.map_err(TeardownError::new) })
    }

    fn kill(self: Arc<Self>) -> BoxFuture<'static, Result<(), TeardownError>> {
        Box::pin(async move { self.0.kill().await.map_err(TeardownError::new) })
    }

    /// What [`Service::pids`] still reports on each node, with the rest of each process's
    /// group (a JVM under the shell that started it).
    fn left_running(
        self: Arc<Self>,
    ) -> BoxFuture<'static, Result<Vec<NodeProcess>, TeardownError>> {
        Box::pin(async move {
            let checks = self.0.nodes().iter().map(|node| async {
                let pids = self.0.pids(node).await.map_err(TeardownError::new)?;
                node.account()
                    .processes_of(&pids)
                    .await
                    .map_err(TeardownError::new)
            });
            let mut left = Vec::new();
            let mut errors = Vec::new();
            for checked in join_all(checks).await {
                match checked {
                    Ok(mut processes) => left.append(&mut processes),
                    Err(e) => errors.push(e),
                }
            }
            TeardownError::all(errors).map(|()| left)
        })
    }

    fn collect_logs(
        self: Arc<Self>,
        dest: PathBuf,
        all: bool,
    ) -> BoxFuture<'static, Result<(), TeardownError>> {
        Box::pin(async move {
            let logs: Vec<LogFile> = self
                .0
                .logs()
                .into_iter()
                .filter(|l| all || l.always)
                .collect();
            let copies = self.0.nodes().iter().flat_map(|node| {
                let dest = dest.join(node.name());
                logs.iter().map(move |log| {
                    let dest = dest.join(&log.name);
                    async move {
                        match node.account().exists(&log.path).await {
                            Ok(true) => node
                                .account()
                                .copy_from(&log.path, &dest)
                                .await
                                .map_err(TeardownError::new),
                            Ok(false) => Ok(()),
                            Err(e) => Err(TeardownError::new(e)),
                        }
                    }
                })
            });
            let errors: Vec<TeardownError> = join_all(copies)
                .await
                .into_iter()
                .filter_map(Result::err)
                .collect();
            TeardownError::all(errors)
        })
    }

    fn clean(self: Arc<Self>) -> BoxFuture<'static, Result<(), TeardownError>> {
        Box::pin(async move { self.0.clean().await.map_err(TeardownError::new) })
    }

    /// Thread dumps of its JVMs (see `jvm/dump.rs`).
    fn diagnose(
        self: Arc<Self>,
        dest: PathBuf,
    ) -> BoxFuture<'static, Result<Vec<PathBuf>, TeardownError>> {
        Box::pin(async move {
            crate::jvm::dump::thread_dumps(self.0.as_ref(), &dest)
                .await
                .map_err(TeardownError::new)
        })
    }

    fn results(&self) -> serde_json::Value {
        self.0.results()
    }
}
