//! [`Cluster`]: a node source plus the bookkeeping that hands nodes out through [`Lease`]s.
//!
//! Leases are FIFO: a request waits behind earlier ones until enough nodes (of its kind) are
//! free, up to its timeout; a request larger than the cluster fails at once. For file-backed
//! clusters (JSON, Vagrant) every leased node is also `flock`ed in a lock directory, so two
//! test processes (nextest, two `cargo test`s) never share a node. A local cluster belongs to
//! the one process that started it. When a lease ends, every process it started on its
//! nodes is killed before the nodes are free again.

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
use crate::remote::RemoteAccount;

/// The default time a lease request waits for nodes.
pub const DEFAULT_LEASE_TIMEOUT: Duration = Duration::from_secs(600);

/// A lease request could not be met.
#[derive(Debug, thiserror::Error)]
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
    /// A node lock file could not be used.
    #[error("cannot use lock file {path}: {detail}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
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
    Local(LocalCluster),
    Files { lock_dir: PathBuf },
}

struct State {
    free: Vec<bool>,
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
                Ok(Self::new(nodes, Source::Local(local)))
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
        let ticket = self.enqueue();
        let _leave_queue = QueueExit {
            cluster: self,
            ticket,
        };
        let start = Instant::now();
        let deadline = start + request.timeout;
        loop {
            let notified = self.changed.notified();
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
                    locks.extend(lock);
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
        let nodes = taken
            .iter()
            .map(|&i| Node::new(self.nodes[i].0.clone(), self.nodes[i].1.clone()))
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

    /// Kills what a lease left running on node `index`.
    async fn clean_node(&self, index: usize, account: &RemoteAccount) {
        match account.kill_spawned().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                node = account.name(),
                killed = n,
                "killed processes left by the lease"
            ),
            Err(e) => {
                tracing::warn!(node = account.name(), error = %e, "cannot kill processes left by the lease")
            }
        }
        if let Some(local) = self.local() {
            match local.kill_strays(index) {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(node = account.name(), killed = n, "killed stray processes")
                }
                Err(e) => tracing::warn!(node = account.name(), error = %e, "cannot sweep node"),
            }
        }
    }
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
    locks: Vec<Flock<File>>,
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

    /// Cleans the nodes and gives them back.
    pub async fn release(mut self) {
        self.released = true;
        let cluster = self.cluster.clone();
        let indices = std::mem::take(&mut self.indices);
        let nodes = std::mem::take(&mut self.nodes);
        let locks = std::mem::take(&mut self.locks);
        clean_and_free(cluster, indices, nodes, locks).await;
    }
}

/// Cleans the nodes, then frees them; the node locks are held until the end.
async fn clean_and_free(
    cluster: Arc<Cluster>,
    indices: Vec<usize>,
    nodes: Vec<Node>,
    locks: Vec<Flock<File>>,
) {
    let cleanups = indices
        .iter()
        .zip(&nodes)
        .map(|(&i, node)| cluster.clean_node(i, node.account()));
    futures::future::join_all(cleanups).await;
    cluster.free(&indices);
    drop(locks);
    tracing::info!(nodes = ?nodes.iter().map(Node::name).collect::<Vec<_>>(), "released");
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
                rt.spawn(crate::context::log::follow_current_test(clean_and_free(
                    cluster, indices, nodes, locks,
                )));
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot clean leased nodes");
                cluster.free(&indices);
            }
        }
    }
}
