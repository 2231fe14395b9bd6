//! [`ToolService`]: one background run of a Kafka command-line tool per node, its stdout
//! parsed into results. The perf clients and the verifiable clients are all this shape;
//! what differs is the process ([`ToolSpec`]) and the parser ([`ToolOutput`]).
//!
//! A worker's process is declared with the same [`ProcessSpec`] as a service's: the install
//! it requires (missing: [`ServiceError::MissingInstall`] names the system and `./build.sh`,
//! before anything is written), the client config files it reads (mode 0600: they may hold
//! passwords and keys), its JVM command line ([`JavaCommand`](crate::JavaCommand): classpath
//! from the install, heap, JVM options, log4j). What is the worker's own: each start empties
//! its directory, the exit status goes to a file, and the output is parsed when it ends.
//! What a node's earlier runs printed is not lost with the emptied directory: each restart
//! moves the previous output to `<dir>.earlier/<name>-<run>.out` (run 1 the first), which the
//! results keep beside the last run's (`<service>/<node>/<name>.earlier/`), and the
//! service's clean removes.
//!
//! A worker's failure is never silent (ducktape #102): a non-zero exit, or an exit without the
//! result line, is an error from [`wait`](crate::ServiceExt::wait) carrying the output's tail.
//! [`stop`](crate::ServiceExt::stop) checks too: a worker still running when it is stopped
//! ended as we asked, but one that had already ended on its own (a producer that died at the
//! first bounce) must have ended well, or `stop` fails with its output.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use ducttape_core::cluster::Node;
use ducttape_core::context::TestContext;
use ducttape_core::remote::{quote, StopOutcome};

use super::tail::{OutputTail, Taken, READ_CHUNK};
use crate::error::{ResultExt, ServiceError};
use crate::process::ProcessSpec;
use crate::service::{register, LogFile, Service};

/// What a tool's stdout parses into.
pub trait ToolOutput: Clone + Default + serde::Serialize + Send + Sync + 'static {
    /// Parses a whole stdout.
    fn parse(text: &str) -> Self;
    /// Whether the output holds the run's result (a run that exited without one failed).
    fn complete(&self) -> bool;
    /// Parses `lines`, whole lines printed after those already parsed, onto `self` and
    /// returns `true`, for a parser that reads line by line: a worker's output is then read
    /// a piece at a time as it grows ([`ToolService::output_so_far`]), each line parsed
    /// once. The default returns `false` and leaves `self` as it was: the output is then
    /// kept whole and parsed again at each read (fine for a few lines of results).
    fn extend(&mut self, lines: &str) -> bool {
        let _ = lines;
        false
    }
}

/// Renders the tool's command line for node `index` of the service.
pub type ToolCommand = Arc<dyn Fn(&Node, usize) -> String + Send + Sync>;

/// Declares the tool's process on node `index` of the service: given the worker's own spec
/// (its directory, output file, pid file: [`ToolService::base_spec`]), adds the install, the
/// files and the command line.
pub type ToolSpec = Arc<dyn Fn(ProcessSpec, &Node, usize) -> ProcessSpec + Send + Sync>;

/// The directory on each node where the worker of service `name` keeps its files (output,
/// pid, exit status, uploaded programs); emptied at every start.
pub fn worker_dir(name: &str) -> String {
    format!("/mnt/{name}")
}

/// A tool run on each of its nodes, in the background.
pub struct ToolService<O: ToolOutput> {
    name: String,
    nodes: Vec<Node>,
    spec: ToolSpec,
    /// Local programs copied into [`worker_dir`] (executable) before each start.
    uploads: Vec<PathBuf>,
    wait_timeout: Duration,
    outputs: Mutex<BTreeMap<String, O>>,
    /// How far each node's output was read and what it parsed into; one reader at a time
    /// per node (two reading from the same offset would count the same lines twice).
    tails: Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<OutputTail<O>>>>>,
    /// When each node's output file was last written (seconds since the epoch, by the node's
    /// clock): the time of the last line, which places the windows on the test's time axis.
    written_at: Mutex<BTreeMap<String, f64>>,
    /// Nodes whose worker was started and has not been stopped or waited for since.
    running: Mutex<BTreeSet<String>>,
    /// Starts per node so far (the run number of the output kept at the next start).
    starts: Mutex<BTreeMap<String, u32>>,
}

impl<O: ToolOutput> ToolService<O> {
    /// A service named `name` running the process `spec` declares on each of `nodes`,
    /// registered with `ctx`. No node is an error: a worker that runs nowhere would pass
    /// every wait.
    pub fn from_spec(
        ctx: &TestContext,
        name: &str,
        nodes: Vec<Node>,
        spec: ToolSpec,
        wait_timeout: Duration,
    ) -> Result<Arc<Self>, ServiceError> {
        Self::registered(ctx, name, nodes, spec, wait_timeout, Vec::new())
    }

    /// A service named `name` running the shell command `command` on each of `nodes` (no
    /// install or file of its own), registered with `ctx`. No node is an error.
    pub fn new(
        ctx: &TestContext,
        name: &str,
        nodes: Vec<Node>,
        command: ToolCommand,
        wait_timeout: Duration,
    ) -> Result<Arc<Self>, ServiceError> {
        Self::with_uploads(ctx, name, nodes, command, wait_timeout, Vec::new())
    }

    /// Like [`new`](Self::new), and before each start copies every file of `uploads` (a
    /// program built here, say) into [`worker_dir`] on the node, executable, under its own
    /// file name: works the same on local and remote nodes.
    pub fn with_uploads(
        ctx: &TestContext,
        name: &str,
        nodes: Vec<Node>,
        command: ToolCommand,
        wait_timeout: Duration,
        uploads: Vec<PathBuf>,
    ) -> Result<Arc<Self>, ServiceError> {
        let spec: ToolSpec = Arc::new(move |base, node, index| base.command(command(node, index)));
        Self::registered(ctx, name, nodes, spec, wait_timeout, uploads)
    }

    fn registered(
        ctx: &TestContext,
        name: &str,
        nodes: Vec<Node>,
        spec: ToolSpec,
        wait_timeout: Duration,
        uploads: Vec<PathBuf>,
    ) -> Result<Arc<Self>, ServiceError> {
        if nodes.is_empty() {
            return Err(ServiceError::Usage {
                service: name.to_string(),
                detail: "a worker needs at least one node".into(),
            });
        }
        let service = Arc::new(Self {
            name: name.to_string(),
            nodes,
            spec,
            uploads,
            wait_timeout,
            outputs: Mutex::new(BTreeMap::new()),
            tails: Mutex::new(BTreeMap::new()),
            written_at: Mutex::new(BTreeMap::new()),
            running: Mutex::new(BTreeSet::new()),
            starts: Mutex::new(BTreeMap::new()),
        });
        register(ctx, &service);
        Ok(service)
    }

    fn dir(&self) -> String {
        worker_dir(&self.name)
    }

    /// The file a node's stdout (and stderr) goes to.
    pub fn log_path(&self) -> String {
        format!("{}/{}.out", self.dir(), self.name)
    }

    /// Where the outputs of a node's earlier runs are kept: beside [`worker_dir`], which each
    /// start empties.
    fn earlier_dir(&self) -> String {
        format!("{}.earlier", self.dir())
    }

    /// Before a start on `node`: the first start removes what an earlier test's service of the
    /// same name kept; a restart keeps the previous run's output (`<name>-<run>.out`).
    async fn keep_earlier_output(&self, node: &Node) -> Result<(), ServiceError> {
        let previous = {
            let mut starts = self.starts.lock().unwrap_or_else(PoisonError::into_inner);
            let n = starts.entry(node.name().to_string()).or_default();
            *n += 1;
            *n - 1
        };
        let earlier = quote(&self.earlier_dir());
        let script = if previous == 0 {
            format!("rm -rf {earlier}")
        } else {
            format!(
                "if [ -f {log} ]; then mkdir -p {earlier} && mv {log} {earlier}/{run}; fi",
                log = quote(&self.log_path()),
                run = quote(&format!("{}-{previous}.out", self.name)),
            )
        };
        node.account().ssh(&script).await.ctx(&self.name)?;
        Ok(())
    }

    fn pidfile(&self) -> String {
        format!("{}/{}.pid", self.dir(), self.name)
    }

    /// The worker's own part of every node's [`ProcessSpec`]: [`worker_dir`], emptied at
    /// each start, with the output in [`log_path`](Self::log_path); a clean stop waits 10 s
    /// after SIGTERM.
    pub fn base_spec(&self) -> ProcessSpec {
        ProcessSpec::new(&self.name, &self.dir())
            .fresh_dir()
            .log_file(&self.log_path())
            .pid_file(&self.pidfile())
            .stop_grace(Duration::from_secs(10))
    }

    /// The process on `node`, as declared.
    pub fn spec(&self, node: &Node) -> ProcessSpec {
        let index = self
            .nodes
            .iter()
            .position(|n| n.name() == node.name())
            .unwrap_or(0);
        // The worker reads its output and pid where it put them, whatever the declaration said.
        (self.spec)(self.base_spec(), node, index)
            .log_file(&self.log_path())
            .pid_file(&self.pidfile())
    }

    fn exitfile(&self) -> String {
        format!("{}/{}.exit", self.dir(), self.name)
    }

    /// The parsed output of every node that finished (or was stopped), by node name.
    pub fn outputs(&self) -> BTreeMap<String, O> {
        self.outputs.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// What `node`'s worker printed so far, parsed (it may still be running: a last line it
    /// is still writing is left for the next read). Only what was printed since the last
    /// read is read (`perf/tail.rs`).
    pub async fn output_so_far(&self, node: &Node) -> Result<O, ServiceError> {
        self.with_output_so_far(node, O::clone).await
    }

    /// [`output_so_far`](Self::output_so_far) handed to `f` rather than copied: for a poll
    /// that wants one number of a long run's output.
    pub async fn with_output_so_far<R>(
        &self,
        node: &Node,
        f: impl FnOnce(&O) -> R,
    ) -> Result<R, ServiceError> {
        let tail = self.tail(node);
        let mut tail = tail.lock().await;
        self.read_more(node, &mut tail).await?;
        Ok(f(tail.output()))
    }

    /// The reading state of `node`'s output.
    fn tail(&self, node: &Node) -> Arc<tokio::sync::Mutex<OutputTail<O>>> {
        match self.tails.lock() {
            Ok(mut tails) => tails.entry(node.name().to_string()).or_default().clone(),
            // A poisoned map (a panic while it was held): read afresh rather than not at all.
            Err(_) => Arc::default(),
        }
    }

    /// Reads what `node`'s output has beyond what `tail` took, a chunk per command; starts
    /// over when the file was replaced.
    async fn read_more(&self, node: &Node, tail: &mut OutputTail<O>) -> Result<(), ServiceError> {
        loop {
            let part = node
                .account()
                .read_file_from(&self.log_path(), tail.offset(), READ_CHUNK)
                .await
                .ctx(&self.name)?;
            let Some(part) = part else {
                if tail.offset() > 0 {
                    *tail = OutputTail::default();
                }
                return Ok(());
            };
            match tail.take(&part) {
                Taken::Replaced => *tail = OutputTail::default(),
                Taken::Bytes(n) if (n as u64) < READ_CHUNK => return Ok(()),
                Taken::Bytes(_) => {}
            }
        }
    }

    /// Notes whether `node`'s worker runs (started, and not yet stopped or waited for);
    /// returns whether it did.
    fn set_running(&self, node: &Node, running: bool) -> bool {
        let Ok(mut set) = self.running.lock() else {
            return false;
        };
        if running {
            !set.insert(node.name().to_string())
        } else {
            set.remove(node.name())
        }
    }

    /// Fails with [`ServiceError::WorkerFailed`] (node, exit status, log tail) when the worker
    /// has ended on its own on a node where it was started and not stopped since: a wait for
    /// its progress (more acknowledgements, say) ends there instead of at its timeout.
    pub async fn ensure_running(&self) -> Result<(), ServiceError> {
        let running = self
            .running
            .lock()
            .map(|set| set.clone())
            .unwrap_or_default();
        for node in self.nodes.iter().filter(|n| running.contains(n.name())) {
            let script = format!(
                "if [ -f {exit} ]; then cat {exit}; echo ---; tail -n 20 {log} 2>/dev/null; fi; true",
                exit = quote(&self.exitfile()),
                log = quote(&self.log_path())
            );
            let text = node.account().ssh_output(&script).await.ctx(&self.name)?;
            if let Some((status, log_tail)) = text.split_once("---\n") {
                return Err(ServiceError::WorkerFailed {
                    service: self.name.clone(),
                    node: node.name().to_string(),
                    detail: format!(
                        "ended on its own (exit status {}) while it was expected to run",
                        status.trim()
                    ),
                    log: self.log_path(),
                    log_tail: log_tail.trim_end().to_string(),
                });
            }
        }
        Ok(())
    }

    async fn collect(&self, node: &Node, require_result: bool) -> Result<(), ServiceError> {
        let account = node.account();
        let script = format!(
            "date -r {log} +%s.%N 2>/dev/null || echo none; \
             cat {exit} 2>/dev/null || echo none; echo ---; tail -n 20 {log} 2>/dev/null; true",
            exit = quote(&self.exitfile()),
            log = quote(&self.log_path())
        );
        let text = account.ssh_output(&script).await.ctx(&self.name)?;
        let (written, text) = text.split_once('\n').unwrap_or(("none", ""));
        if let (Ok(at), Ok(mut w)) = (written.trim().parse::<f64>(), self.written_at.lock()) {
            w.insert(node.name().to_string(), at);
        }
        let (status, log_tail) = text.split_once("---\n").unwrap_or(("none", ""));
        let status = status.trim();
        // The rest of the output, after what polls read while it ran; its last line counts
        // even without its end, as the tool has ended.
        let output = {
            let tail = self.tail(node);
            let mut tail = tail.lock().await;
            self.read_more(node, &mut tail).await?;
            tail.finish();
            tail.output().clone()
        };
        let complete = output.complete();
        if let Ok(mut outputs) = self.outputs.lock() {
            outputs.insert(node.name().to_string(), output);
        }
        let failure = match (status, complete) {
            ("0", true) => None,
            ("0", false) => Some("exited without printing its result".to_string()),
            ("none", _) if !require_result => None,
            ("none", _) => Some("left no exit status".to_string()),
            (code, _) => Some(format!("exited with status {code}")),
        };
        match failure {
            Some(detail) if require_result => Err(ServiceError::WorkerFailed {
                service: self.name.clone(),
                node: node.name().to_string(),
                detail,
                log: self.log_path(),
                log_tail: log_tail.trim_end().to_string(),
            }),
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl<O: ToolOutput> Service for ToolService<O> {
    fn name(&self) -> &str {
        &self.name
    }

    fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    async fn start_node(&self, node: &Node) -> Result<(), ServiceError> {
        let spec = self.spec(node);
        // The exit status goes to a file: a worker's failure must not pass unnoticed.
        let command = format!(
            "{}; echo $? > {}",
            spec.command_line(),
            quote(&self.exitfile())
        );
        let spec = spec.command(command);
        // The start empties the worker's directory: its output is read from the start again,
        // and a poll waits for the new file rather than read it from the old run's offset.
        let tail = self.tail(node);
        let mut tail = tail.lock().await;
        *tail = OutputTail::default();
        self.keep_earlier_output(node).await?;
        spec.prepare(node).await?;
        let account = node.account();
        for local in &self.uploads {
            let file = local.file_name().map(|f| f.to_string_lossy().into_owned());
            let Some(file) = file else {
                return Err(ServiceError::Usage {
                    service: self.name.clone(),
                    detail: format!("cannot upload {}: not a file", local.display()),
                });
            };
            let remote = format!("{}/{file}", self.dir());
            account.copy_to(local, &remote).await.ctx(&self.name)?;
            account
                .ssh(&format!("chmod +x {}", quote(&remote)))
                .await
                .ctx(&self.name)?;
        }
        spec.launch(node).await?;
        self.set_running(node, true);
        Ok(())
    }

    async fn wait_node(&self, node: &Node, timeout: Duration) -> Result<(), ServiceError> {
        node.account()
            .wait_exit(&self.pidfile(), timeout)
            .await
            .ctx(&self.name)?;
        self.set_running(node, false);
        self.collect(node, true).await
    }

    async fn stop_node(&self, node: &Node, clean: bool) -> Result<StopOutcome, ServiceError> {
        // Only our own stop is an expected end: a worker that ended before it (and after its
        // start) must have exited 0 with its result.
        let ended_on_its_own = self.set_running(node, false) && self.pids(node).await?.is_empty();
        let ended = self.spec(node).stop(node, clean).await?;
        self.collect(node, ended_on_its_own).await.map(|()| ended)
    }

    async fn clean_node(&self, node: &Node) -> Result<(), ServiceError> {
        // Both, whichever fails: the first error is returned.
        let process = self.spec(node).clean(node).await;
        let earlier = node
            .account()
            .remove(&self.earlier_dir())
            .await
            .ctx(&self.name);
        process.and(earlier)
    }

    fn process_spec(&self, node: &Node) -> Option<ProcessSpec> {
        Some(self.spec(node))
    }

    fn logs(&self) -> Vec<LogFile> {
        vec![
            LogFile::always(&format!("{}.out", self.name), &self.log_path()),
            LogFile::always(&format!("{}.earlier", self.name), &self.earlier_dir()),
        ]
    }

    /// Each node's parsed output, with `written_at`: when its last line was written (seconds
    /// since the epoch), which the report uses to place the windows in time. The report reads
    /// it as [`ducttape_core::report::data::WorkerOutput`] (the data contract).
    fn results(&self) -> serde_json::Value {
        let mut results = serde_json::to_value(self.outputs()).unwrap_or_default();
        let written = self
            .written_at
            .lock()
            .map(|w| w.clone())
            .unwrap_or_default();
        if let Some(nodes) = results.as_object_mut() {
            for (node, output) in nodes.iter_mut() {
                if let (Some(o), Some(at)) = (output.as_object_mut(), written.get(node)) {
                    o.insert("written_at".into(), (*at).into());
                }
            }
        }
        results
    }

    fn default_wait_timeout(&self) -> Duration {
        self.wait_timeout
    }

    fn is_workload(&self) -> bool {
        true
    }
}
