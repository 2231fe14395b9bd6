//! The embedded local cluster: nodes built from kernel primitives, no Docker.
//!
//! Each node is a lightweight container on this machine:
//! - its own **network namespace**, with `eth0` (a veth) on a bridge in the root namespace and
//!   its own address from a private /24 — the bridge has `.1`, nodes `.11`, `.12`, … — so three
//!   ZooKeepers can all listen on `:2181`;
//! - its own **mount namespace**, where `/mnt`, `/tmp` and `/root` (the home, empty: no shell rc
//!   files to slow commands down) are bind-mounted from the node's state directory, and so are
//!   its own `/etc/hosts` (every node's name and address, so names and reverse lookups of any
//!   node answer on every node) and `/etc/resolv.conf` (no DNS server: a name outside the
//!   cluster fails at once instead of waiting on a server the node cannot reach); the host's
//!   files are untouched;
//! - its own **UTS namespace**: its host name is its name (`worker1`);
//! - its own **PID namespace** (with `/proc` remounted), whose init reaps orphans and runs
//!   - its own **sshd** on `<address>:22`, with a generated host key pinned in a known_hosts file,
//!     accepting a generated client key for `root`.
//!
//! `/usr`, `/opt` and the rest are shared, so what `build.sh` installed is on every node.
//!
//! Several clusters can run at once (one per test process): each takes a *slot* (see
//! [`reap_stale`]) that names its bridge (`dtb<slot>`), veths (`dt<slot>n<i>`), subnet
//! (`<base>.<slot>.0/24`) and state directory (`<state_root>/<slot>/`). Nothing outlives the
//! process that started a cluster, however it ends (a normal exit with the cluster never
//! dropped, a panic, SIGKILL): its node processes die with it, and a reaper process removes
//! the links and files (see its `reaper` module). Should even that fail, the next
//! [`LocalCluster::start`] (or [`reap_stale`]) removes them.
//!
//! Root is needed (CAP_NET_ADMIN, CAP_SYS_ADMIN); without it, use a JSON cluster file
//! (`DUCTTAPE_CLUSTER`). The `ducttape-local` binary starts a persistent cluster for debugging.
//!
//! What does not live here: leasing nodes ([`lease`](super::lease)) and talking to them over
//! SSH ([`remote`](crate::remote)).
//!
//! ```no_run
//! use ducttape_core::cluster::local::{LocalCluster, LocalClusterOptions};
//!
//! let cluster = LocalCluster::start(LocalClusterOptions { nodes: 3, ..LocalClusterOptions::from_env()? })?;
//! for node in cluster.nodes() {
//!     println!("{} at {}", node.name(), node.externally_routable_ip);
//! }
//! cluster.shutdown()?; // or just drop it
//! # Ok::<(), ducttape_core::cluster::local::LocalClusterError>(())
//! ```

mod cmd;
mod error;
mod holder;
mod net;
mod options;
mod procs;
mod reaper;
mod slot;
mod sshd;

pub use error::LocalClusterError;
pub use options::LocalClusterOptions;

use crate::cluster::{NodeSpec, SshConfig};
use crate::remote::NodeProcess;
use cmd::{find_binary, io_error};
use holder::{HolderArgs, Spawner};
use net::{Attachment, NetTools};
use reaper::Reaper;
use slot::SlotLock;
use sshd::{KeyGeneration, SshdConfig};
use std::collections::HashSet;
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// How long a node may take from spawn to a listening sshd.
const BOOT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long stopping or starting a node's sshd, or killing its strays, may take.
const NODE_ACTION_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the processes of a node may take to die once it is torn down.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);
/// The port every node's sshd listens on.
const SSH_PORT: u16 = 22;
/// The last octet of the first node's address (worker1 is `.11`).
const FIRST_HOST_OCTET: u8 = 11;
/// The node-private directories, bind-mounted over these paths from `<node dir>/<name>`.
const PRIVATE_DIRS: [(&str, &str, u32); 3] = [
    ("mnt", "/mnt", 0o755),
    ("tmp", "/tmp", 0o1777),
    ("home", "/root", 0o700),
];

/// Every node's `/etc/resolv.conf`. Names outside the cluster are not resolved on nodes: the
/// nodes have no route to the host's DNS server, so a query there waited 5 s per try (10 s for
/// a reverse lookup, 20 s for a name, as ZooKeeper's SASL client did at every connection). The
/// node's own loopback has no DNS server, so a query is refused at once and never leaves the
/// node; every name a test needs is in its `/etc/hosts` (see [`hosts_file`]).
const RESOLV_CONF: &str =
    "# ducttape local node: names come from /etc/hosts; a DNS query to this\n\
# node's own loopback is refused at once (no query leaves the node, none waits on a timeout).\n\
nameserver 127.0.0.1\n\
options timeout:1 attempts:1\n";

/// Every node's `/etc/hosts`: localhost, and each node's name (its host name too) and address,
/// so names and reverse lookups of any node answer from the file on every node.
fn hosts_file<'a>(nodes: impl Iterator<Item = (&'a str, Ipv4Addr)>) -> String {
    let mut hosts = String::from(
        "# ducttape local cluster: every node's name and address\n\
         127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n",
    );
    for (name, address) in nodes {
        hosts.push_str(&format!("{address}\t{name}\n"));
    }
    hosts
}

/// The addresses of a slot: `<base>.<slot>.0/24`.
#[derive(Debug, Clone, Copy)]
struct Subnet {
    base: [u8; 2],
    slot: u8,
}

impl Subnet {
    /// The bridge's address, `.1`.
    fn gateway(self) -> Ipv4Addr {
        Ipv4Addr::new(self.base[0], self.base[1], self.slot, 1)
    }

    /// Node `index`'s address (worker1 is `.11`); `index` < [`LocalClusterOptions::MAX_NODES`].
    fn node(self, index: usize) -> Ipv4Addr {
        let host = usize::from(FIRST_HOST_OCTET) + index;
        Ipv4Addr::new(
            self.base[0],
            self.base[1],
            self.slot,
            u8::try_from(host).unwrap_or(u8::MAX),
        )
    }
}

/// Where a node's things are: names, address and files.
#[derive(Debug)]
struct NodeLayout {
    name: String,
    address: Ipv4Addr,
    dir: PathBuf,
}

impl NodeLayout {
    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    fn host_key(&self) -> PathBuf {
        self.file("ssh_host_ed25519_key")
    }
    fn sshd_config(&self) -> PathBuf {
        self.file("sshd_config")
    }
    fn stop_flag(&self) -> PathBuf {
        self.file("sshd-stopped")
    }
    fn ssh_address(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.address, SSH_PORT)
    }
    /// The last lines of the node's logs, for errors.
    fn log_tail(&self) -> String {
        format!(
            "{}\n{}",
            cmd::file_tail(&self.file("init.log")),
            cmd::file_tail(&self.file("sshd.log"))
        )
    }
    fn error(&self, problem: impl Into<String>) -> LocalClusterError {
        LocalClusterError::Node {
            node: self.name.clone(),
            problem: problem.into(),
            log_tail: self.log_tail(),
        }
    }
}

/// A node and the process holding its namespaces.
#[derive(Debug)]
struct Node {
    layout: NodeLayout,
    holder: Option<Child>,
    /// Identity of the node's PID namespace (`pid:[…]`), once it exists.
    pid_ns: Option<String>,
}

/// The programs a node runs.
struct NodeTools {
    sshd: PathBuf,
    unshare: PathBuf,
    ssh_keygen: PathBuf,
}

impl NodeTools {
    fn find() -> Result<Self, LocalClusterError> {
        Ok(Self {
            sshd: find_binary("sshd")?,
            unshare: find_binary("unshare")?,
            ssh_keygen: find_binary("ssh-keygen")?,
        })
    }
}

/// A running local cluster; see the [module documentation](self).
///
/// Dropping it shuts it down (as [`LocalCluster::shutdown`] does, logging instead of returning
/// errors).
pub struct LocalCluster {
    state_root: PathBuf,
    dir: PathBuf,
    known_hosts: PathBuf,
    net: NetTools,
    specs: Vec<NodeSpec>,
    nodes: Vec<Node>,
    spawner: Spawner,
    subnet: Subnet,
    /// The slot's lock; `None` once torn down.
    lock: Option<SlotLock>,
    /// Cleans the slot up if this process dies without tearing it down.
    reaper: Option<Reaper>,
}

impl std::fmt::Debug for LocalCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCluster")
            .field("slot", &self.subnet.slot)
            .field("dir", &self.dir)
            .field(
                "nodes",
                &self
                    .specs
                    .iter()
                    .map(|s| (s.name(), s.externally_routable_ip.as_str()))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl LocalCluster {
    /// Starts a cluster and returns once every node's sshd accepts connections (about
    /// 0.2 s for 6 nodes). Reaps leftovers of dead runs first (see [`reap_stale`]).
    ///
    /// Blocking: from async code, call it through `tokio::task::spawn_blocking`.
    pub fn start(opts: LocalClusterOptions) -> Result<LocalCluster, LocalClusterError> {
        let started = Instant::now();
        require_root()?;
        opts.validate()?;
        let tools = NodeTools::find()?;
        let net = NetTools::find()?;
        slot::reap(&opts.state_root, &net)?;
        let lock = slot::acquire(&opts.state_root, &net)?;
        let subnet = Subnet {
            base: opts.subnet_base,
            slot: lock.number(),
        };
        let dir = slot::state_dir(&opts.state_root, subnet.slot);
        let nodes = (0..opts.nodes)
            .map(|index| {
                let name = format!("worker{}", index + 1);
                Node {
                    layout: NodeLayout {
                        dir: dir.join(&name),
                        name,
                        address: subnet.node(index),
                    },
                    holder: None,
                    pid_ns: None,
                }
            })
            .collect::<Vec<_>>();
        let specs = nodes
            .iter()
            .map(|node| node_spec(&node.layout, &dir))
            .collect();
        let mut cluster = LocalCluster {
            state_root: opts.state_root,
            known_hosts: dir.join("known_hosts"),
            dir,
            net,
            specs,
            nodes,
            spawner: Spawner::start()?,
            subnet,
            lock: Some(lock),
            reaper: None,
        };
        // On error, dropping `cluster` removes whatever was built.
        cluster.reaper = Some(Reaper::start(
            &cluster.state_root,
            subnet.slot,
            &cluster.dir,
            &cluster.net,
        )?);
        cluster.boot(&tools)?;
        tracing::info!(dir = %cluster.dir.display(), nodes = cluster.nodes.len(), elapsed = ?started.elapsed(), "local cluster up");
        Ok(cluster)
    }

    /// The nodes, `worker1` first. Each logs in as `root` on port 22 with the cluster's key
    /// (`identity_file`) and pins the host key (`known_hosts`).
    pub fn nodes(&self) -> &[NodeSpec] {
        &self.specs
    }

    /// The known_hosts file with every node's host key (`worker1,10.223.0.11 ssh-ed25519 …`).
    pub fn known_hosts(&self) -> &Path {
        &self.known_hosts
    }

    /// The cluster's state directory (`<state_root>/<slot>`): keys, configs, logs, and each
    /// node's private directories under `<name>/{mnt,tmp,home}`.
    pub fn state_dir(&self) -> &Path {
        &self.dir
    }

    /// Every process of node `index` (0 is worker1) as host pids: whatever runs in the node's
    /// PID namespace — its init, sshd and its sessions, the services — zombies included (their
    /// CPU times are still readable until they are reaped). For measuring what the node itself
    /// burns, e.g. summing `/proc/<pid>/stat` (the node's init reaps its orphans, so the CPU of
    /// a process that exited is in its reaper's `cutime`/`cstime`).
    pub fn node_pids(&self, index: usize) -> Result<Vec<u32>, LocalClusterError> {
        let (_, pid_ns) = self.node(index)?;
        Ok(procs::pids_in(pid_ns))
    }

    /// Kills the sshd of node `index` (0 is worker1) — the listener and every session, so open
    /// connections drop too — and keeps it down until [`start_sshd`](Self::start_sshd). The node
    /// itself stays: its namespaces, its init and the processes its sessions started.
    /// Returns once nothing listens on the node's port 22.
    pub fn stop_sshd(&self, index: usize) -> Result<(), LocalClusterError> {
        let (node, pid_ns) = self.node(index)?;
        let flag = node.layout.stop_flag();
        fs::write(&flag, b"").map_err(io_error("create", &flag))?;
        let address = node.layout.ssh_address();
        let stopped = poll(NODE_ACTION_TIMEOUT, || {
            let sshds: Vec<_> = procs::members(pid_ns)
                .into_iter()
                .filter(procs::Member::is_sshd)
                .collect();
            for sshd in &sshds {
                procs::kill_hard(sshd.pid);
            }
            Ok((sshds.is_empty() && !answers_ssh(address)).then_some(()))
        })?;
        tracing::debug!(node = node.layout.name, "sshd stopped");
        stopped.ok_or_else(|| {
            node.layout.error(format!(
                "sshd still running {NODE_ACTION_TIMEOUT:?} after being killed"
            ))
        })
    }

    /// Lets node `index`'s sshd run again after [`stop_sshd`](Self::stop_sshd); returns once it
    /// accepts connections.
    pub fn start_sshd(&self, index: usize) -> Result<(), LocalClusterError> {
        let (node, _) = self.node(index)?;
        let flag = node.layout.stop_flag();
        match fs::remove_file(&flag) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_error("remove", &flag)(error))
            }
            _ => {}
        }
        let address = node.layout.ssh_address();
        let listening = poll(NODE_ACTION_TIMEOUT, || {
            Ok(answers_ssh(address).then_some(()))
        })?;
        tracing::debug!(node = node.layout.name, "sshd started");
        listening.ok_or_else(|| {
            node.layout.error(format!(
                "sshd not accepting connections on {address} within {NODE_ACTION_TIMEOUT:?}"
            ))
        })
    }

    /// The processes running on node `index` that [`kill_strays`](Self::kill_strays) would
    /// kill, untouched — except the transport's own shells, which are the node's plumbing
    /// rather than anything a test started: pid inside the node and command line.
    pub fn processes(&self, index: usize) -> Result<Vec<NodeProcess>, LocalClusterError> {
        let (node, pid_ns) = self.node(index)?;
        Ok(procs::members(pid_ns)
            .into_iter()
            .filter(|m| !m.is_infrastructure())
            .filter_map(|m| {
                let argv = procs::command_line(m.pid);
                // Gone meanwhile, or one of the transport's shells.
                if argv.is_empty() || crate::remote::transport::is_transport_shell(&argv) {
                    return None;
                }
                Some(NodeProcess {
                    node: node.layout.name.clone(),
                    pid: u32::try_from(m.ns_pid).ok()?,
                    command: argv.join(" "),
                })
            })
            .collect())
    }

    /// SIGKILLs every process of node `index` except its init and its sshd processes (command
    /// name starting with `sshd`), so a node comes back clean when a lease ends. Returns how many
    /// processes were killed. Processes forked while it runs are killed too.
    pub fn kill_strays(&self, index: usize) -> Result<usize, LocalClusterError> {
        let (node, pid_ns) = self.node(index)?;
        let mut killed = HashSet::new();
        let done = poll(NODE_ACTION_TIMEOUT, || {
            let strays: Vec<_> = procs::members(pid_ns)
                .into_iter()
                .filter(|m| !m.is_infrastructure())
                .collect();
            for stray in &strays {
                if procs::kill_hard(stray.pid) {
                    tracing::debug!(
                        node = node.layout.name,
                        pid = stray.pid,
                        comm = stray.comm,
                        "killed stray process"
                    );
                    killed.insert(stray.pid);
                }
            }
            Ok(strays.is_empty().then_some(()))
        })?;
        done.ok_or_else(|| {
            node.layout.error(format!(
                "processes still appearing after {NODE_ACTION_TIMEOUT:?} of killing them"
            ))
        })?;
        Ok(killed.len())
    }

    /// Stops every node and removes the bridge, the veths, the state directory and the slot.
    /// Dropping the cluster does the same, but can only log failures.
    pub fn shutdown(mut self) -> Result<(), LocalClusterError> {
        self.teardown()
    }

    fn node(&self, index: usize) -> Result<(&Node, &str), LocalClusterError> {
        let node = self.nodes.get(index).ok_or(LocalClusterError::NoSuchNode {
            index,
            nodes: self.nodes.len(),
        })?;
        let pid_ns = node
            .pid_ns
            .as_deref()
            .ok_or_else(|| node.layout.error("not started"))?;
        Ok((node, pid_ns))
    }

    /// Builds everything: directories and keys, holders, network, then waits for sshd.
    fn boot(&mut self, tools: &NodeTools) -> Result<(), LocalClusterError> {
        self.create_directories()?;
        let client_key = self.dir.join("id_ed25519");
        let mut keys = vec![(
            client_key.clone(),
            format!("ducttape-local-{}", self.subnet.slot),
        )];
        keys.extend(
            self.nodes
                .iter()
                .map(|n| (n.layout.host_key(), n.layout.name.clone())),
        );
        let keygen = KeyGeneration::start(&tools.ssh_keygen, &keys)?;
        self.spawn_holders(tools)?; // while the keys are being generated
        keygen.finish()?;
        self.write_ssh_files(&client_key)?;
        self.attach_network()?;
        wait_for_nodes(&mut self.nodes, "sshd answering", |node| {
            node.layout.file("network-up").exists() && answers_ssh(node.layout.ssh_address())
        })
    }

    /// Starts every node's holder; the init inside waits for [`Self::attach_network`].
    fn spawn_holders(&mut self, tools: &NodeTools) -> Result<(), LocalClusterError> {
        let script = holder::write_init_script(&self.dir)?;
        let gateway = self.subnet.gateway().to_string();
        for node in &mut self.nodes {
            let layout = &node.layout;
            let log = layout.file("init.log");
            let command = holder::holder_command(&HolderArgs {
                script: &script,
                unshare: &tools.unshare,
                ip: self.net.ip(),
                sshd: &tools.sshd,
                node_dir: &layout.dir,
                name: &layout.name,
                address: format!("{}/24", layout.address),
                gateway: gateway.clone(),
                log: &log,
            })?;
            let what = format!("starting node {}", layout.name);
            node.holder = Some(self.spawner.spawn(&what, command)?);
        }
        Ok(())
    }

    /// Once every holder has its namespaces, creates the veths (into them) and the bridge's
    /// address, and lets the inits go on.
    fn attach_network(&mut self) -> Result<(), LocalClusterError> {
        let own_netns = procs::namespace_of(std::process::id(), "net");
        wait_for_nodes(&mut self.nodes, "creating its namespaces", |node| {
            let Some(pid) = node.holder.as_ref().map(Child::id) else {
                return false;
            };
            let netns = procs::namespace_of(pid, "net");
            if netns.is_none() || netns == own_netns {
                return false; // `unshare` has not called unshare(2) yet
            }
            node.pid_ns = procs::namespace_of(pid, "pid_for_children");
            node.pid_ns.is_some()
        })?;
        let slot = self.subnet.slot;
        let attachments: Vec<_> = self
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(index, node)| {
                Some(Attachment {
                    veth: net::veth_name(slot, index),
                    netns_pid: node.holder.as_ref()?.id(),
                })
            })
            .collect();
        self.net
            .create(slot, &self.dir, self.subnet.gateway(), &attachments)?;
        for node in &mut self.nodes {
            if let Some(holder) = node.holder.as_mut() {
                holder::release(holder).map_err(|error| {
                    node.layout
                        .error(format!("cannot tell its init to go on: {error}"))
                })?;
            }
        }
        Ok(())
    }

    fn create_directories(&self) -> Result<(), LocalClusterError> {
        // sshd's privilege separation directory; /run is shared with the host.
        create_dir("/run/sshd".as_ref(), 0o755)?;
        let hosts = hosts_file(
            self.nodes
                .iter()
                .map(|n| (n.layout.name.as_str(), n.layout.address)),
        );
        for node in &self.nodes {
            create_dir(&node.layout.dir, 0o755)?;
            // Bound over the node's /etc/hosts and /etc/resolv.conf by its init; the host's
            // files are never touched. One copy per node, so a test editing one node's file
            // changes no other node.
            write_file(&node.layout.file("hosts"), &hosts)?;
            write_file(&node.layout.file("resolv.conf"), RESOLV_CONF)?;
            for (name, _, mode) in PRIVATE_DIRS {
                let dir = node.layout.file(name);
                create_dir(&dir, mode)?;
                // DirBuilder's mode is masked by the umask; /tmp needs its sticky, world-writable bits.
                fs::set_permissions(&dir, fs::Permissions::from_mode(mode))
                    .map_err(io_error("set permissions of", &dir))?;
            }
        }
        Ok(())
    }

    /// Writes authorized_keys, each node's sshd_config, and known_hosts.
    fn write_ssh_files(&self, client_key: &Path) -> Result<(), LocalClusterError> {
        let authorized_keys = self.dir.join("authorized_keys");
        fs::copy(client_key.with_extension("pub"), &authorized_keys)
            .map_err(io_error("write", &authorized_keys))?;
        let use_pam = sshd::root_password_locked();
        let mut known_hosts = String::new();
        for node in &self.nodes {
            let layout = &node.layout;
            let host_key = layout.host_key();
            let config = SshdConfig {
                listen: layout.ssh_address(),
                host_key: &host_key,
                authorized_keys: &authorized_keys,
                use_pam,
            };
            write_file(&layout.sshd_config(), &config.render())?;
            let public_key_path = host_key.with_extension("pub");
            let public_key =
                fs::read_to_string(&public_key_path).map_err(io_error("read", &public_key_path))?;
            known_hosts.push_str(&sshd::known_hosts_line(
                &layout.name,
                &layout.address.to_string(),
                &public_key,
            ));
        }
        write_file(&self.known_hosts, &known_hosts)
    }

    /// Kills the nodes and removes links, rules and files. Idempotent.
    fn teardown(&mut self) -> Result<(), LocalClusterError> {
        let Some(lock) = self.lock.take() else {
            return Ok(());
        };
        for holder in self
            .nodes
            .iter_mut()
            .filter_map(|node| node.holder.as_mut())
        {
            if let Err(error) = holder.kill().and_then(|()| holder.wait().map(drop)) {
                tracing::warn!(pid = holder.id(), %error, "cannot kill node holder");
            }
        }
        let namespaces: Vec<&str> = self
            .nodes
            .iter()
            .filter_map(|node| node.pid_ns.as_deref())
            .collect();
        let exited = poll(EXIT_TIMEOUT, || {
            Ok(namespaces
                .iter()
                .all(|ns| procs::members(ns).is_empty())
                .then_some(()))
        })?;
        if exited.is_none() {
            tracing::warn!(dir = %self.dir.display(), "node processes still alive {EXIT_TIMEOUT:?} after their holders were killed");
        }
        slot::clean(&self.state_root, self.subnet.slot, &self.net)?;
        if self.dir.exists() {
            return Err(LocalClusterError::Leftover {
                dir: self.dir.clone(),
                reason: format!(
                    "veths of bridge {} would not go away",
                    net::bridge_name(self.subnet.slot)
                ),
            });
        }
        tracing::info!(dir = %self.dir.display(), "local cluster shut down");
        if let Some(reaper) = self.reaper.take() {
            reaper.dismiss();
        }
        drop(lock); // the slot is free only now that nothing of it is left
        Ok(())
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if let Err(error) = self.teardown() {
            tracing::warn!(%error, "shutting down the local cluster");
        }
    }
}

/// Removes the leftovers of local clusters whose processes died without shutting down
/// (bridges, veths, iptables rules, state directories under `state_root`); returns how many
/// clusters' leftovers were removed. Clusters still running are not touched: each holds a lock
/// on its slot. [`LocalCluster::start`] calls it first.
///
/// ```no_run
/// use ducttape_core::cluster::local::{reap_stale, LocalClusterOptions};
/// let removed = reap_stale(&LocalClusterOptions::from_env()?.state_root)?;
/// println!("removed the leftovers of {removed} dead clusters");
/// # Ok::<(), ducttape_core::cluster::local::LocalClusterError>(())
/// ```
pub fn reap_stale(state_root: &Path) -> Result<usize, LocalClusterError> {
    require_root()?;
    slot::reap(state_root, &NetTools::find()?)
}

fn require_root() -> Result<(), LocalClusterError> {
    let euid = nix::unistd::geteuid();
    if euid.is_root() {
        Ok(())
    } else {
        Err(LocalClusterError::NotRoot {
            euid: euid.as_raw(),
        })
    }
}

/// An OpenSSH client command that logs into `node` non-interactively with its key, pinning its
/// host key when `node.ssh.known_hosts` is set, and ignoring the user's ssh configuration.
/// Append the remote command with [`Command::arg`]. For debugging and tests; the framework
/// itself speaks SSH through [`remote`](crate::remote).
///
/// ```no_run
/// use ducttape_core::cluster::local::{openssh_command, LocalCluster, LocalClusterOptions};
/// let cluster = LocalCluster::start(LocalClusterOptions::from_env()?)?;
/// let status = openssh_command(&cluster.nodes()[0]).arg("hostname -I").status();
/// # Ok::<(), ducttape_core::cluster::local::LocalClusterError>(())
/// ```
pub fn openssh_command(node: &NodeSpec) -> Command {
    openssh_command_with(node, &[])
}

/// [`openssh_command`] with extra ssh options (e.g. `["-o", "ControlPath=…"]`) placed before
/// the destination.
pub fn openssh_command_with(node: &NodeSpec, extra: &[&str]) -> Command {
    let ssh = &node.ssh;
    let mut command = Command::new("ssh");
    command.args([
        "-F",
        "/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "LogLevel=ERROR",
    ]);
    command.arg("-o").arg(format!(
        "ConnectTimeout={}",
        ssh.connect_timeout.as_secs().max(1)
    ));
    if let Some(known_hosts) = &ssh.known_hosts {
        command.args([
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
        ]);
        command
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", known_hosts.display()));
    }
    if let Some(identity_file) = &ssh.identity_file {
        command.arg("-i").arg(identity_file);
    }
    command
        .args(extra)
        .arg("-p")
        .arg(ssh.port.to_string())
        .arg(format!("{}@{}", ssh.user, ssh.hostname));
    command
}

fn node_spec(layout: &NodeLayout, dir: &Path) -> NodeSpec {
    NodeSpec {
        ssh: SshConfig {
            host: layout.name.clone(),
            hostname: layout.address.to_string(),
            user: "root".into(),
            port: SSH_PORT,
            identity_file: Some(dir.join("id_ed25519")),
            password: None,
            connect_timeout: SshConfig::DEFAULT_CONNECT_TIMEOUT,
            known_hosts: Some(dir.join("known_hosts")),
        },
        externally_routable_ip: layout.address.to_string(),
        node_type: None,
    }
}

/// Whether an SSH server answers at `address` with its banner. The probe sends its own
/// identification first, so sshd does not log an error about it.
fn answers_ssh(address: SocketAddrV4) -> bool {
    let probe = || -> std::io::Result<bool> {
        let mut stream =
            TcpStream::connect_timeout(&SocketAddr::V4(address), Duration::from_millis(200))?;
        stream.set_read_timeout(Some(Duration::from_secs(1)))?;
        stream.write_all(b"SSH-2.0-ducttape-probe\r\n")?;
        let mut banner = [0u8; 4];
        stream.read_exact(&mut banner)?;
        Ok(&banner == b"SSH-")
    };
    probe().unwrap_or(false)
}

/// Calls `check` with growing pauses (1 ms doubling to 50 ms) until it yields a value or
/// `timeout` has passed (`Ok(None)`).
fn poll<T>(
    timeout: Duration,
    mut check: impl FnMut() -> Result<Option<T>, LocalClusterError>,
) -> Result<Option<T>, LocalClusterError> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(value) = check()? {
            return Ok(Some(value));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Polls every node until `ready` holds for it, failing fast if a node's holder exits and with
/// the first laggard's logs after [`BOOT_TIMEOUT`].
fn wait_for_nodes(
    nodes: &mut [Node],
    what: &str,
    mut ready: impl FnMut(&mut Node) -> bool,
) -> Result<(), LocalClusterError> {
    let mut pending: Vec<usize> = (0..nodes.len()).collect();
    let finished = poll(BOOT_TIMEOUT, || {
        for &index in &pending {
            let node = &mut nodes[index];
            if let Some(status) = node
                .holder
                .as_mut()
                .and_then(|holder| holder.try_wait().ok().flatten())
            {
                return Err(node.layout.error(format!(
                    "its init exited with {} before {what}",
                    cmd::describe_status(status)
                )));
            }
        }
        pending.retain(|&index| !ready(&mut nodes[index]));
        Ok(pending.is_empty().then_some(()))
    })?;
    match (finished, pending.first()) {
        (Some(()), _) | (None, None) => Ok(()),
        (None, Some(&index)) => Err(nodes[index]
            .layout
            .error(format!("no {what} within {BOOT_TIMEOUT:?}"))),
    }
}

fn create_dir(path: &Path, mode: u32) -> Result<(), LocalClusterError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(io_error("create directory", path))
}

fn write_file(path: &Path, contents: &str) -> Result<(), LocalClusterError> {
    fs::write(path, contents).map_err(io_error("write", path))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic on the unexpected
mod tests {
    use super::*;

    #[test]
    fn cluster_can_be_shared_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<LocalCluster>();
    }

    #[test]
    fn hosts_file_names_every_node_and_localhost() {
        let hosts = hosts_file(
            [
                ("worker1", Ipv4Addr::new(10, 223, 0, 11)),
                ("worker2", Ipv4Addr::new(10, 223, 0, 12)),
            ]
            .into_iter(),
        );
        let lines: Vec<&str> = hosts.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "127.0.0.1\tlocalhost",
                "::1\tlocalhost ip6-localhost ip6-loopback",
                "10.223.0.11\tworker1",
                "10.223.0.12\tworker2",
            ]
        );
    }

    #[test]
    fn not_root_error_points_to_a_cluster_file() {
        let message = LocalClusterError::NotRoot { euid: 1000 }.to_string();
        assert!(
            message.contains("CAP_NET_ADMIN") && message.contains("DUCTTAPE_CLUSTER"),
            "{message}"
        );
    }
}
