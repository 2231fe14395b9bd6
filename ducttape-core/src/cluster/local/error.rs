//! The one error type of the local cluster.

use std::path::PathBuf;

/// Why the local cluster could not be started, changed or cleaned up.
///
/// Every message says what failed and, where there is something to do about it, what.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum LocalClusterError {
    /// The process is not root, so it cannot create namespaces, bridges and mounts.
    #[error(
        "the local cluster needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) to create network, mount and \
         PID namespaces, but this process runs as uid {euid}; run it as root, or set \
         DUCTTAPE_CLUSTER to a JSON cluster file describing nodes reachable over SSH"
    )]
    NotRoot {
        /// The effective uid of this process.
        euid: u32,
    },
    /// A program the local cluster runs is not installed.
    #[error(
        "`{binary}` not found in PATH nor in {searched}; the local cluster needs it: \
         run ./build.sh to install the dependencies"
    )]
    MissingBinary {
        /// The program's name, e.g. `sshd`.
        binary: &'static str,
        /// The directories searched besides `PATH`.
        searched: String,
    },
    /// An option (or the environment variable it came from) has an unusable value.
    #[error("invalid {name} {value:?}: {reason}")]
    InvalidSetting {
        /// The option or variable, e.g. `DUCTTAPE_LOCAL_NODES`.
        name: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it and what is accepted.
        reason: String,
    },
    /// A command ran but failed.
    #[error("{what} failed: `{command}` exited with {status}{}", show_tail(.output_tail))]
    Command {
        /// What we were doing, e.g. `creating bridge dtb3`.
        what: String,
        /// The command line.
        command: String,
        /// How it ended (exit code or signal).
        status: String,
        /// The last lines of its output.
        output_tail: String,
    },
    /// A command could not be started at all.
    #[error("{what} failed: cannot run `{command}`: {source}")]
    Spawn {
        /// What we were doing.
        what: String,
        /// The command line.
        command: String,
        /// Why it could not be started.
        source: std::io::Error,
    },
    /// A file system operation failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What we tried, e.g. `create directory`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// Every slot (0..=254) is taken by a running cluster or by a bridge of another state root.
    #[error(
        "no free local-cluster slot: slots 0..=254 under {state_root}/slots are all locked by \
         running clusters or their bridges (dtb0..dtb254) are in use; stop some clusters \
         (`ducttape-local down`) or delete stale bridges (`ip link del dtbN`)"
    )]
    NoFreeSlot {
        /// The state root whose slots were tried.
        state_root: PathBuf,
    },
    /// A node did not come up, or did not do what was asked of it in time.
    #[error("node {node}: {problem}{}", show_tail(.log_tail))]
    Node {
        /// The node's name, e.g. `worker2`.
        node: String,
        /// What went wrong and what to look at.
        problem: String,
        /// The last lines of the node's logs (init and sshd).
        log_tail: String,
    },
    /// Shutting down left something behind (its state directory says whose it is).
    #[error(
        "the local cluster in {dir} is stopped but not fully removed: {reason}; the next start, \
         `reap_stale` or `ducttape-local down` retries"
    )]
    Leftover {
        /// The cluster's state directory, still there.
        dir: PathBuf,
        /// What is left and why.
        reason: String,
    },
    /// A node index past the end of [`LocalCluster::nodes`](super::LocalCluster::nodes).
    #[error("no node with index {index}: the cluster has {nodes} nodes (indexes 0..{nodes})")]
    NoSuchNode {
        /// The index asked for.
        index: usize,
        /// How many nodes the cluster has.
        nodes: usize,
    },
    /// The thread that spawns node processes has died (it only ends with the cluster).
    #[error(
        "the local cluster's process-spawning thread is gone (it panicked or the cluster is \
         shutting down); start a new cluster"
    )]
    SpawnerGone,
}

crate::human_debug!(LocalClusterError);

fn show_tail(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!("; last output:\n{}", tail.trim_end())
    }
}
