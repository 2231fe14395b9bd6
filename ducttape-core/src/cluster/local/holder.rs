//! The process that holds a node's namespaces ("holder") and the thread that spawns it.
//!
//! A holder is `unshare --net --mount --uts --pid --fork --kill-child --mount-proc --propagation
//! private -- /bin/sh <state>/node-init.sh …` (see [`INIT_SCRIPT`]): the shell is PID 1 of the
//! node's PID namespace. Lifetimes chain so that
//! nothing outlives the process owning the cluster, even when it is SIGKILLed:
//! the spawning thread dies → the kernel SIGKILLs `unshare` (`PR_SET_PDEATHSIG`) → `unshare`'s
//! `--kill-child` SIGKILLs the init → the kernel kills the whole PID namespace → the network
//! namespace, its veth and the mounts go with it.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, not the process, so
//! every holder is forked by one [`Spawner`] thread that lives exactly as long as the cluster.

use super::cmd::{self, NODE_PATH};
use super::LocalClusterError;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;

/// PID 1 of a node, run by `/bin/sh` (dash on Debian) from a file, see [`write_init_script`].
///
/// Arguments: `$1` the node's state directory, `$2` its address with prefix, `$3` the gateway,
/// `$4` the `ip` binary, `$5` the `sshd` binary, `$6` the node's name. It waits for the host to
/// move `eth0` into its network namespace (the host then writes `go` to its stdin), configures
/// the network, names itself (its own UTS namespace), binds the private directories and its own
/// `/etc/hosts` and `/etc/resolv.conf` (see `write_name_files` in the module above: every node's
/// name and address, and a resolver that fails at once instead of asking a DNS server the node
/// cannot reach), and runs sshd in the foreground, restarting it unless `sshd-stopped` exists. It creates `network-up` in the state directory once the network is configured.
/// Whenever it waits for a foreground child, the shell reaps any child (`wait3(-1)`),
/// so processes orphaned inside the node do not linger as zombies.
const INIT_SCRIPT: &str = r#"set -eu
node_dir=$1 address=$2 gateway=$3 ip=$4 sshd=$5 name=$6
read -r go || exit 1
[ "$go" = go ] || exit 1
exec </dev/null
"$ip" link set lo up
"$ip" addr add "$address" dev eth0
"$ip" link set eth0 up
"$ip" route add default via "$gateway"
mount --bind "$node_dir/mnt" /mnt
mount --bind "$node_dir/tmp" /tmp
mount --bind "$node_dir/home" /root
mount --bind "$node_dir/hosts" /etc/hosts
mount --bind "$node_dir/resolv.conf" /etc/resolv.conf
hostname "$name"
# The host probes sshd only after this: an ARP request sent before eth0 had its address would
# leave the host waiting a second for the retry.
: >"$node_dir/network-up"
echo "node up: $address"
set +e
while :; do
    if [ ! -e "$node_dir/sshd-stopped" ]; then
        "$sshd" -D -e -f "$node_dir/sshd_config" >>"$node_dir/sshd.log" 2>&1
    fi
    sleep 0.05
done
"#;

/// Writes the nodes' init script into the cluster's state directory (a file rather than
/// `sh -c`, so `ps` inside a node shows one short line for it).
pub(super) fn write_init_script(dir: &Path) -> Result<PathBuf, LocalClusterError> {
    let path = dir.join("node-init.sh");
    std::fs::write(&path, INIT_SCRIPT).map_err(cmd::io_error("write", &path))?;
    Ok(path)
}

/// What a holder needs to know about its node.
pub(super) struct HolderArgs<'a> {
    /// The init script, see [`write_init_script`].
    pub script: &'a Path,
    /// The `unshare` binary.
    pub unshare: &'a Path,
    /// The `ip` binary.
    pub ip: &'a Path,
    /// The `sshd` binary.
    pub sshd: &'a Path,
    /// The node's state directory (holds `mnt`, `tmp`, `home`, `hosts`, `resolv.conf`,
    /// `sshd_config`, logs).
    pub node_dir: &'a Path,
    /// The node's name (`worker1`), its host name inside.
    pub name: &'a str,
    /// `10.223.0.11/24`.
    pub address: String,
    /// `10.223.0.1`.
    pub gateway: String,
    /// Where the holder's own output goes.
    pub log: &'a Path,
}

/// The command line of a holder.
pub(super) fn holder_command(args: &HolderArgs<'_>) -> Result<Command, LocalClusterError> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(args.log)
        .map_err(cmd::io_error("open", args.log))?;
    let log_err = log.try_clone().map_err(cmd::io_error("open", args.log))?;
    let mut command = Command::new(args.unshare);
    command
        .args([
            "--net",
            "--mount",
            "--uts",
            "--pid",
            "--fork",
            "--kill-child",
            "--mount-proc",
            "--propagation",
            "private",
        ])
        .args(["--", "/bin/sh"])
        .arg(args.script)
        .arg(args.node_dir)
        .args([&args.address, &args.gateway])
        .arg(args.ip)
        .arg(args.sshd)
        .arg(args.name)
        .env("PATH", NODE_PATH)
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(log)
        .stderr(log_err);
    Ok(command)
}

/// Tells a holder that its `eth0` is in place, so it may configure it and start sshd.
pub(super) fn release(holder: &mut Child) -> std::io::Result<()> {
    let mut stdin = holder
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("holder already released"))?;
    stdin.write_all(b"go\n")
}

type Request = (Command, mpsc::Sender<std::io::Result<Child>>);

/// A thread that forks node processes and lives as long as the cluster (see the module doc).
pub(super) struct Spawner {
    requests: Option<mpsc::Sender<Request>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Spawner {
    /// Starts the thread.
    pub fn start() -> Result<Self, LocalClusterError> {
        let (requests, incoming) = mpsc::channel::<Request>();
        let thread = thread::Builder::new()
            .name("ducttape-local-spawner".into())
            .spawn(move || {
                for (mut command, reply) in incoming {
                    // The requester waits for the reply; if it has gone, so has the child's use.
                    let _ = reply.send(command.spawn());
                }
            })
            .map_err(|source| LocalClusterError::Spawn {
                what: "starting the local cluster's spawner thread".into(),
                command: "std::thread::spawn".into(),
                source,
            })?;
        Ok(Self {
            requests: Some(requests),
            thread: Some(thread),
        })
    }

    /// Spawns `command` from the spawner thread, to be SIGKILLed when that thread ends.
    pub fn spawn(&self, what: &str, mut command: Command) -> Result<Child, LocalClusterError> {
        let description = cmd::describe(&command);
        die_with_spawner(&mut command);
        let (reply, response) = mpsc::channel();
        let requests = self
            .requests
            .as_ref()
            .ok_or(LocalClusterError::SpawnerGone)?;
        requests
            .send((command, reply))
            .map_err(|_| LocalClusterError::SpawnerGone)?;
        response
            .recv()
            .map_err(|_| LocalClusterError::SpawnerGone)?
            .map_err(|source| LocalClusterError::Spawn {
                what: what.into(),
                command: description,
                source,
            })
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        self.requests = None; // ends the thread's loop
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::warn!("the local cluster's spawner thread panicked");
            }
        }
    }
}

/// Makes the child get SIGKILL when the thread that forks it exits.
#[allow(unsafe_code)]
fn die_with_spawner(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec. It only makes two
    // async-signal-safe system calls (prctl, getppid) and builds errors from raw errnos,
    // which does not allocate, so it is sound even if another thread held a lock at fork.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
            // If the parent died before prctl, the signal will never come: give up now.
            if u32::try_from(nix::unistd::getppid().as_raw()).ok() != Some(parent) {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}
