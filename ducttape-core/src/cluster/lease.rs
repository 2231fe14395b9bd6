//! [`Cluster`]: a node source plus the bookkeeping that hands nodes out through [`Lease`]s.
//!
//! Leases are FIFO: a request waits behind earlier ones until enough nodes (of its kind) are
//! free, up to its timeout; a request larger than the cluster fails at once. For file-backed
//! clusters (JSON, Vagrant) every leased node is also `flock`ed in a lock directory, so two
//! test processes (nextest, two `cargo test`s) never share a node. A local cluster belongs to
//! the one process that started it. When a lease ends, every process it started on its
//! nodes is killed before the nodes are free again: every command run during the lease carries
//! the lease's marker in its environment (`DUCTTAPE_LEASE`), inherited by whatever it starts
//! (background jobs, `nohup`, `setsid`, double forks), and the cleanup kills every process that
//! carries it; a local cluster also sweeps the node's whole PID namespace.
//!
//! Before it kills anything, the cleanup lists what it is about to kill: every process still
//! running on a node when its lease ends was left running by someone (a service whose stop did
//! not stop it, a process the test started and never stopped), and [`Lease::release`] returns
//! them by node, pid and command line, so that the test context can make them a teardown
//! error (see [`crate::context`]). Only processes that outlive a grace of
//! [`LEFTOVER_GRACE`] count: a command abandoned a moment ago is being killed by the
//! transport, a JVM may be finishing its exit. The transport's own shells are not listed.
//!
//! A node whose cleanup fails is *quarantined*: it is never leased again by this process (its
//! node lock, for file-backed clusters, stays held so other processes leave it alone too), the
//! failure is logged and returned by [`Lease::release`] (so the test that held it gets status
//! `error`), and a request that only the quarantined nodes could satisfy fails at once with
//! [`LeaseError::Quarantined`] naming them, instead of waiting for its timeout.

use std::collections::VecDeque;
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::local::LocalCluster;
use super::node::Node;
use super::{json, vagrant, ClusterChoice, ClusterError, NodeSpec};
use crate::remote::{NodeProcess, RemoteAccount, RemoteError};

/// How long a process found running when its lease ends gets to end on its own before it
/// counts as left running (see the module docs).
pub const LEFTOVER_GRACE: Duration = Duration::from_secs(5);

/// The default time a lease request waits for nodes.
pub const DEFAULT_LEASE_TIMEOUT: Duration = Duration::from_secs(600);

/// A lease request could not be met.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum LeaseError {
    /// More nodes than the cluster has (of that kind).
    #[error("asked for {wanted} node(s){}, but the cluster has only {available}", kind_text(.kind))]
    TooLarge {
        /// Nodes asked for.
        wanted: usize,
        /// The kind asked for.
        kind: Option<String>,
        /// Nodes of that kind in the cluster.
        available: usize,
    },
    /// Not enough nodes became free in time.
    #[error("waited {waited:?} for {wanted} free node(s){}; {free} free now", kind_text(.kind))]
    Timeout {
        /// Nodes asked for.
        wanted: usize,
        /// The kind asked for.
        kind: Option<String>,
        /// How long the request waited.
        waited: Duration,
        /// Free nodes at the end.
        free: usize,
    },
    /// Too few nodes (of that kind) are left outside quarantine: the request can never be met.
    #[error("asked for {wanted} node(s){}, but only {usable} can ever be free: {} quarantined after a failed cleanup", kind_text(.kind), .quarantined.join(", "))]
    Quarantined {
        /// Nodes asked for.
        wanted: usize,
        /// The kind asked for.
        kind: Option<String>,
        /// Nodes of that kind not quarantined.
        usable: usize,
        /// The quarantined nodes of that kind, by name.
        quarantined: Vec<String>,
    },
    /// A node lock file could not be used.
    #[error("cannot use lock file {path}: {detail}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
}

crate::human_debug!(LeaseError);

/// Cleaning a node failed when its lease ended; the node is quarantined (see the module docs).
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot clean node {node} ({detail}); quarantined: it will not be leased again")]
pub struct CleanupError {
    /// The node.
    pub node: String,
    /// What failed.
    pub detail: String,
}

/// A lease ended, but some of its nodes could not be cleaned (and are quarantined).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", .failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ReleaseError {
    /// One per node that could not be cleaned.
    pub failures: Vec<CleanupError>,
    /// The processes found running before the cleanup killed them, as
    /// [`Lease::release`] returns them when it succeeds.
    pub left_running: Vec<NodeProcess>,
}

fn kind_text(kind: &Option<String>) -> String {
    kind.as_ref()
        .map(|k| format!(" of kind {k:?}"))
        .unwrap_or_default()
}

/// How many nodes, of which kind, waiting how long.
///
/// ```
/// use std::time::Duration;
/// use ducttape_core::cluster::LeaseRequest;
/// let req = LeaseRequest::new(3).kind("broker").timeout(Duration::from_secs(30));
/// assert_eq!(req.count(), 3);
/// ```
#[derive(Debug, Clone)]
pub struct LeaseRequest {
    count: usize,
    kind: Option<String>,
    timeout: Duration,
}

impl LeaseRequest {
    /// `count` nodes of any kind, waiting up to [`DEFAULT_LEASE_TIMEOUT`].
    pub fn new(count: usize) -> Self {
        Self {
            count,
            kind: None,
            timeout: DEFAULT_LEASE_TIMEOUT,
        }
    }

    /// Only nodes whose `node_type` is `kind`.
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// Wait at most this long for free nodes.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Nodes asked for.
    pub fn count(&self) -> usize {
        self.count
    }
}

enum Source {
    Local(Box<LocalCluster>),
    Files { lock_dir: PathBuf },
}

struct State {
    free: Vec<bool>,
    /// Nodes whose cleanup failed: never free again.
    quarantined: Vec<bool>,
    /// The node locks of quarantined nodes, held while the process lives.
    quarantine_locks: Vec<Flock<File>>,
    queue: VecDeque<u64>,
    next_ticket: u64,
}

/// A set of nodes and who holds which. See the module docs.
pub struct Cluster {
    nodes: Vec<(NodeSpec, RemoteAccount)>,
    source: Source,
    state: StdMutex<State>,
    changed: Notify,
}

static GLOBAL: once_cell::sync::OnceCell<Arc<Cluster>> = once_cell::sync::OnceCell::new();

impl Cluster {
    /// The process's cluster, chosen by `DUCTTAPE_CLUSTER` and made on first use (a local
    /// cluster is started then, and lives as long as the process).
    pub fn global() -> Result<Arc<Cluster>, ClusterError> {
        GLOBAL
            .get_or_try_init(|| Self::from_choice(ClusterChoice::from_env()).map(Arc::new))
            .cloned()
    }

    /// A cluster from an explicit choice.
    pub fn from_choice(choice: ClusterChoice) -> Result<Cluster, ClusterError> {
        match choice {
            ClusterChoice::Local => {
                let local = LocalCluster::start(super::local::LocalClusterOptions::from_env()?)?;
                let nodes = local.nodes().to_vec();
                Ok(Self::new(nodes, Source::Local(Box::new(local))))
            }
            ClusterChoice::File(path) => Ok(Self::from_nodes(json::load(&path)?)),
            ClusterChoice::Vagrant => {
                let dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
                let refresh = std::env::var_os("DUCTTAPE_VAGRANT_REFRESH").is_some();
                Ok(Self::from_nodes(vagrant::load(
                    &dir,
                    &vagrant::default_cache(&dir),
                    refresh,
                )?))
            }
        }
    }

    /// A file-backed cluster of these nodes; node locks in `DUCTTAPE_LOCK_DIR` (default
    /// `/tmp/ducttape-locks`).
    pub fn from_nodes(nodes: Vec<NodeSpec>) -> Cluster {
        let lock_dir = std::env::var_os("DUCTTAPE_LOCK_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp/ducttape-locks"));
        Self::from_nodes_locked_in(nodes, lock_dir)
    }

    /// A file-backed cluster of these nodes with node locks in `lock_dir`.
    pub fn from_nodes_locked_in(nodes: Vec<NodeSpec>, lock_dir: PathBuf) -> Cluster {
        Self::new(nodes, Source::Files { lock_dir })
    }

    fn new(nodes: Vec<NodeSpec>, source: Source) -> Cluster {
        let n = nodes.len();
        Cluster {
            nodes: nodes
                .into_iter()
                .map(|spec| {
                    let account = RemoteAccount::new(&spec);
                    (spec, account)
                })
                .collect(),
            source,
            state: StdMutex::new(State {
                free: vec![true; n],
                quarantined: vec![false; n],
                quarantine_locks: Vec::new(),
                queue: VecDeque::new(),
                next_ticket: 0,
            }),
            changed: Notify::new(),
        }
    }

    /// Every node of the cluster (leased or not).
    pub fn specs(&self) -> Vec<NodeSpec> {
        self.nodes.iter().map(|(s, _)| s.clone()).collect()
    }

    /// The position of node `name` in the cluster (for [`LocalCluster`] controls).
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|(s, _)| s.name() == name)
    }

    /// The embedded local cluster, when that is the source.
    pub fn local(&self) -> Option<&LocalCluster> {
        match &self.source {
            Source::Local(l) => Some(l),
            Source::Files { .. } => None,
        }
    }

    /// How many nodes are free now.
    pub fn free_count(&self) -> usize {
        self.state
            .lock()
            .map(|s| s.free.iter().filter(|f| **f).count())
            .unwrap_or(0)
    }

    /// The quarantined nodes, by name (see the module docs).
    pub fn quarantined(&self) -> Vec<String> {
        let Ok(st) = self.state.lock() else {
            return Vec::new();
        };
        (0..self.nodes.len())
            .filter(|&i| st.quarantined[i])
            .map(|i| self.nodes[i].0.name().to_string())
            .collect()
    }

    /// An error if too few of `candidates` are outside quarantine for `request`.
    fn check_quarantine(
        &self,
        request: &LeaseRequest,
        candidates: &[usize],
    ) -> Result<(), LeaseError> {
        let Ok(st) = self.state.lock() else {
            return Ok(());
        };
        let (quarantined, usable): (Vec<usize>, Vec<usize>) =
            candidates.iter().partition(|&&i| st.quarantined[i]);
        if usable.len() >= request.count {
            return Ok(());
        }
        Err(LeaseError::Quarantined {
            wanted: request.count,
            kind: request.kind.clone(),
            usable: usable.len(),
            quarantined: quarantined
                .iter()
                .map(|&i| self.nodes[i].0.name().to_string())
                .collect(),
        })
    }

    fn matching(&self, kind: &Option<String>) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| kind.is_none() || self.nodes[i].0.node_type == *kind)
            .collect()
    }

    /// Leases `count` nodes of any kind with the default timeout.
    pub async fn lease(self: &Arc<Self>, count: usize) -> Result<Lease, LeaseError> {
        self.lease_with(LeaseRequest::new(count)).await
    }

    /// Leases nodes as `request` says: FIFO behind earlier requests, up to its timeout.
    pub async fn lease_with(self: &Arc<Self>, request: LeaseRequest) -> Result<Lease, LeaseError> {
        let candidates = self.matching(&request.kind);
        if request.count > candidates.len() {
            return Err(LeaseError::TooLarge {
                wanted: request.count,
                kind: request.kind,
                available: candidates.len(),
            });
        }
        self.check_quarantine(&request, &candidates)?;
        let ticket = self.enqueue();
        let _leave_queue = QueueExit {
            cluster: self,
            ticket,
        };
        let start = Instant::now();
        let deadline = start + request.timeout;
        loop {
            let notified = self.changed.notified();
            // A node may have been quarantined while we waited.
            self.check_quarantine(&request, &candidates)?;
            if let Some(lease) = self.try_take(ticket, &candidates, request.count)? {
                tracing::info!(nodes = ?lease.nodes().iter().map(Node::name).collect::<Vec<_>>(), "leased");
                return Ok(lease);
            }
            // File locks held by other processes do not notify us: poll them too.
            let wake = Instant::now() + Duration::from_millis(200);
            if tokio::time::timeout_at(wake.min(deadline), notified)
                .await
                .is_err()
                && Instant::now() >= deadline
            {
                return Err(LeaseError::Timeout {
                    wanted: request.count,
                    kind: request.kind,
                    waited: start.elapsed(),
                    free: self.free_count(),
                });
            }
        }
    }

    fn enqueue(&self) -> u64 {
        let Ok(mut st) = self.state.lock() else {
            return 0;
        };
        let t = st.next_ticket;
        st.next_ticket += 1;
        st.queue.push_back(t);
        t
    }

    fn try_take(
        self: &Arc<Self>,
        ticket: u64,
        candidates: &[usize],
        count: usize,
    ) -> Result<Option<Lease>, LeaseError> {
        let Ok(mut st) = self.state.lock() else {
            return Ok(None);
        };
        if st.queue.front() != Some(&ticket) {
            return Ok(None);
        }
        let mut taken = Vec::new();
        let mut locks = Vec::new();
        for &i in candidates.iter().filter(|&&i| st.free[i]) {
            if taken.len() == count {
                break;
            }
            match self.lock_node(i)? {
                NodeLock::Held(lock) => {
                    locks.push(lock);
                    taken.push(i);
                }
                NodeLock::Busy => {}
            }
        }
        if taken.len() < count {
            return Ok(None); // dropping `locks` releases what we took
        }
        for &i in &taken {
            st.free[i] = false;
        }
        st.queue.pop_front();
        drop(st);
        self.changed.notify_waiters();
        let marker = new_lease_marker();
        let nodes = taken
            .iter()
            .map(|&i| {
                let (spec, account) = &self.nodes[i];
                account.set_lease_marker(marker.clone());
                Node::new(spec.clone(), account.clone())
            })
            .collect();
        Ok(Some(Lease {
            cluster: self.clone(),
            indices: taken,
            nodes,
            locks,
            released: false,
        }))
    }

    fn lock_node(&self, index: usize) -> Result<NodeLock, LeaseError> {
        let Source::Files { lock_dir } = &self.source else {
            return Ok(NodeLock::Held(None));
        };
        let ssh = &self.nodes[index].0.ssh;
        let path = lock_dir.join(format!(
            "{}_{}.lock",
            ssh.hostname.replace('/', "_"),
            ssh.port
        ));
        let lock_err = |detail: String| LeaseError::Lock {
            path: path.clone(),
            detail,
        };
        std::fs::create_dir_all(lock_dir).map_err(|e| lock_err(e.to_string()))?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| lock_err(e.to_string()))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(NodeLock::Held(Some(lock))),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(NodeLock::Busy),
            Err((_, e)) => Err(lock_err(e.to_string())),
        }
    }

    fn free(&self, indices: &[usize]) {
        if let Ok(mut st) = self.state.lock() {
            for &i in indices {
                st.free[i] = true;
            }
        }
        self.changed.notify_waiters();
    }

    /// Takes node `index` out of service for the rest of the process, keeping its lock.
    fn quarantine(&self, index: usize, lock: Option<Flock<File>>) {
        if let Ok(mut st) = self.state.lock() {
            st.quarantined[index] = true;
            st.quarantine_locks.extend(lock);
        }
        // Waiters that can no longer be served must hear it now.
        self.changed.notify_waiters();
    }

    /// Kills what a lease left running on node `index`; returns what that was (see
    /// [`left_running`](Self::left_running)) and an error saying what could not be done.
    async fn clean_node(
        &self,
        index: usize,
        account: &RemoteAccount,
    ) -> (Vec<NodeProcess>, Result<(), Vec<KillError>>) {
        // Unmarked first: the listing and the sweep below must not find their own commands.
        let marker = account.take_lease_marker();
        let left = self.left_running(index, account, marker.as_deref()).await;
        (left, self.kill_all(index, account, marker).await)
    }

    /// The processes still running on node `index` that outlive [`LEFTOVER_GRACE`]: what the
    /// sweep is about to kill. A listing that fails is logged (the sweep then says whether
    /// the node can be cleaned at all).
    async fn left_running(
        &self,
        index: usize,
        account: &RemoteAccount,
        marker: Option<&str>,
    ) -> Vec<NodeProcess> {
        let first = self.running(index, account, marker).await;
        if first.is_empty() {
            return first;
        }
        let left = std::sync::Mutex::new(first);
        let still = &left;
        let poll = Duration::from_millis(100);
        // Whether they all ended is in `left`; a wait that times out leaves the survivors.
        let _ = crate::wait_until(
            "what was running when the lease ended exits",
            LEFTOVER_GRACE + poll,
            poll,
            move || async move {
                let now = self.running(index, account, marker).await;
                let mut left = still.lock().map_err(|_| "a poisoned lock")?;
                // By pid, keeping the newest command line: a process caught between fork and
                // exec (`env -i setsid sleep 1001` a moment before it is `sleep 1001`) is the
                // same process under another name.
                *left = now
                    .into_iter()
                    .filter(|p| left.iter().any(|l| l.node == p.node && l.pid == p.pid))
                    .collect();
                Ok::<_, &str>(left.is_empty())
            },
        )
        .await;
        let left = left.into_inner().unwrap_or_default();
        for process in &left {
            tracing::warn!(%process, "left running when the lease ended");
        }
        left
    }

    /// What runs on node `index` now: the processes the lease's commands started (found by
    /// its marker) and, on a local cluster, every other process of the node but its init,
    /// sshd and the transport's shells.
    async fn running(
        &self,
        index: usize,
        account: &RemoteAccount,
        marker: Option<&str>,
    ) -> Vec<NodeProcess> {
        let mut found = Vec::new();
        if let Some(local) = self.local() {
            match local.processes(index) {
                Ok(processes) => found = processes,
                Err(error) => {
                    tracing::warn!(node = account.name(), %error, "cannot list processes")
                }
            }
        }
        if let Some(marker) = marker {
            match account.lease_processes(marker).await {
                Ok(marked) => {
                    for process in marked {
                        if !found.iter().any(|p| p.pid == process.pid) {
                            found.push(process);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(node = account.name(), error = %brief(&e), "cannot list the lease's processes")
                }
            }
        }
        found
    }

    /// The sweep: kills what the account spawned, what the lease's commands started and, on
    /// a local cluster, every other process of the node's PID namespace.
    async fn kill_all(
        &self,
        index: usize,
        account: &RemoteAccount,
        marker: Option<String>,
    ) -> Result<(), Vec<KillError>> {
        let mut failed = Vec::new();
        let node = account.name();
        let what = "the processes it spawned";
        let spawned = account
            .kill_spawned()
            .await
            .map_err(|source| KillError::Remote { what, source });
        note_kills(node, what, spawned, &mut failed);
        if let Some(marker) = marker {
            let what = "the processes its commands started";
            let started = account
                .kill_lease_processes(&marker)
                .await
                .map_err(|source| KillError::Remote { what, source });
            note_kills(node, what, started, &mut failed);
        }
        if let Some(local) = self.local() {
            let what = "the other processes of its PID namespace";
            let strays = local
                .kill_strays(index)
                .map_err(|source| KillError::Local { what, source });
            note_kills(node, what, strays, &mut failed);
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed)
        }
    }
}

/// One step of a node's cleanup that failed.
#[derive(Debug, thiserror::Error)]
enum KillError {
    /// Over the node's account.
    #[error("cannot kill {what}: {}", brief(source))]
    Remote {
        what: &'static str,
        #[source]
        source: RemoteError,
    },
    /// Through the local cluster's namespaces.
    #[error("cannot kill {what}: {source}")]
    Local {
        what: &'static str,
        #[source]
        source: super::local::LocalClusterError,
    },
}

/// Logs how many processes one cleanup step of `node` killed, or adds its failure to `failed`.
fn note_kills(
    node: &str,
    what: &'static str,
    outcome: Result<usize, KillError>,
    failed: &mut Vec<KillError>,
) {
    match outcome {
        Ok(0) => {}
        Ok(killed) => tracing::info!(node, killed, "killed {what}"),
        Err(e) => failed.push(e),
    }
}

/// A remote error without its command when the command never ran (the cleanup scripts are
/// long and say nothing the reader of a quarantine needs).
fn brief(e: &RemoteError) -> String {
    match e {
        RemoteError::Transport { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

/// A marker unique to one lease (letters, digits and `-`), see [`RemoteAccount`]'s lease
/// marking.
fn new_lease_marker() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("dt-lease-{}-{n}", std::process::id())
}

enum NodeLock {
    Held(Option<Flock<File>>),
    Busy,
}

/// Takes a request out of the queue however its wait ends (success, timeout, cancellation).
struct QueueExit<'a> {
    cluster: &'a Cluster,
    ticket: u64,
}

impl Drop for QueueExit<'_> {
    fn drop(&mut self) {
        if let Ok(mut st) = self.cluster.state.lock() {
            st.queue.retain(|t| *t != self.ticket);
        }
        self.cluster.changed.notify_waiters();
    }
}

/// Nodes held by one holder. On [`release`](Lease::release) (or drop) every process the lease
/// started on them is killed, then the nodes are free again.
pub struct Lease {
    cluster: Arc<Cluster>,
    indices: Vec<usize>,
    nodes: Vec<Node>,
    /// One per node: its lock for file-backed clusters, `None` for a local one.
    locks: Vec<Option<Flock<File>>>,
    released: bool,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.nodes.iter().map(Node::name))
            .finish()
    }
}

impl Lease {
    /// The leased nodes.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Cleans the nodes and gives them back; returns the processes that were still running on
    /// them (and were killed), see the module docs. A node that cannot be cleaned is
    /// quarantined and named in the error.
    pub async fn release(mut self) -> Result<Vec<NodeProcess>, ReleaseError> {
        self.released = true;
        let cluster = self.cluster.clone();
        let indices = std::mem::take(&mut self.indices);
        let nodes = std::mem::take(&mut self.nodes);
        let locks = std::mem::take(&mut self.locks);
        clean_and_free(cluster, indices, nodes, locks).await
    }
}

/// Cleans the nodes, then frees the clean ones and quarantines the others; the node locks
/// are held until the end.
async fn clean_and_free(
    cluster: Arc<Cluster>,
    indices: Vec<usize>,
    nodes: Vec<Node>,
    locks: Vec<Option<Flock<File>>>,
) -> Result<Vec<NodeProcess>, ReleaseError> {
    let cleanups = indices
        .iter()
        .zip(&nodes)
        .map(|(&i, node)| cluster.clean_node(i, node.account()));
    let results = futures::future::join_all(cleanups).await;
    let mut clean = Vec::new();
    let mut failures = Vec::new();
    let mut left_running = Vec::new();
    let mut locks = locks.into_iter();
    for ((&i, node), (mut left, result)) in indices.iter().zip(&nodes).zip(results) {
        left_running.append(&mut left);
        let lock = locks.next().flatten();
        match result {
            Ok(()) => {
                clean.push(i);
                drop(lock);
            }
            Err(steps) => {
                let detail = steps.iter().map(ToString::to_string).collect::<Vec<_>>();
                let failure = CleanupError {
                    node: node.name().to_string(),
                    detail: detail.join("; "),
                };
                tracing::error!(node = node.name(), error = %failure, "node quarantined");
                cluster.quarantine(i, lock);
                failures.push(failure);
            }
        }
    }
    cluster.free(&clean);
    tracing::info!(nodes = ?nodes.iter().map(Node::name).collect::<Vec<_>>(), "released");
    if failures.is_empty() {
        Ok(left_running)
    } else {
        Err(ReleaseError {
            failures,
            left_running,
        })
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.released || self.indices.is_empty() {
            return;
        }
        let cluster = self.cluster.clone();
        let indices = std::mem::take(&mut self.indices);
        let nodes = std::mem::take(&mut self.nodes);
        let locks = std::mem::take(&mut self.locks);
        // A Drop cannot await: the cleanup runs on the I/O runtime.
        match crate::remote::transport::io_runtime() {
            Ok(rt) => {
                // A failure is logged and quarantines the node; there is no caller to tell.
                rt.spawn(crate::log::follow_current_test(async move {
                    let _ = clean_and_free(cluster, indices, nodes, locks).await;
                }));
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot clean leased nodes");
                cluster.free(&indices);
            }
        }
    }
}
