//! The processes of a node, seen from the host: every process whose PID namespace is the
//! node's. A node's processes are found through `/proc` rather than through the node's own
//! view so that the host can act on them even when the node's sshd is down.

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;

/// One live process of a node.
#[derive(Debug, Clone)]
pub(super) struct Member {
    /// Its pid on the host.
    pub pid: i32,
    /// Its pid inside the node (1 is the node's init).
    pub ns_pid: i32,
    /// Its command name (`/proc/<pid>/comm`, at most 15 characters).
    pub comm: String,
}

impl Member {
    /// The node's init (PID 1 of its namespace) or one of its sshd processes: what
    /// [`LocalCluster::kill_strays`](super::LocalCluster::kill_strays) spares. Newer
    /// OpenSSH splits sessions into `sshd-session`/`sshd-auth`, hence the prefix.
    pub fn is_infrastructure(&self) -> bool {
        self.ns_pid == 1 || self.is_sshd()
    }

    /// One of the node's sshd processes (listener or session).
    pub fn is_sshd(&self) -> bool {
        self.comm.starts_with("sshd")
    }
}

/// The identity (`pid:[4026532…]`) of a namespace of `pid`, e.g. `which = "net"`.
pub(super) fn namespace_of(pid: u32, which: &str) -> Option<String> {
    fs::read_link(format!("/proc/{pid}/ns/{which}"))
        .ok()
        .map(|link| link.to_string_lossy().into_owned())
}

/// The live (not yet exited) processes in the PID namespace `pid_ns`.
pub(super) fn members(pid_ns: &str) -> Vec<Member> {
    pids_in(pid_ns)
        .into_iter()
        .filter_map(read_member)
        .collect()
}

/// Reads a process's status; `None` when it is gone or a zombie (already dead).
fn read_member(pid: u32) -> Option<Member> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(str::trim)
    };
    if field("State:")?.starts_with(['Z', 'X']) {
        return None;
    }
    Some(Member {
        pid: i32::try_from(pid).ok()?,
        ns_pid: field("NSpid:")?.split_whitespace().last()?.parse().ok()?,
        comm: field("Name:")?.to_string(),
    })
}

/// The argument vector of host pid `pid` (`/proc/<pid>/cmdline`); empty for a process that is
/// gone or has none (a kernel thread).
pub(super) fn command_line(pid: i32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|b| *b == 0)
                .filter(|arg| !arg.is_empty())
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// SIGKILLs `pid`; `false` when it was already gone.
pub(super) fn kill_hard(pid: i32) -> bool {
    match kill(Pid::from_raw(pid), Signal::SIGKILL) {
        Ok(()) => true,
        Err(Errno::ESRCH) => false,
        Err(error) => {
            tracing::debug!(pid, %error, "kill failed");
            false
        }
    }
}

/// Every process in the PID namespace `pid_ns`, zombies included, as host pids.
pub(super) fn pids_in(pid_ns: &str) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| namespace_of(pid, "pid").as_deref() == Some(pid_ns))
        .collect()
}
