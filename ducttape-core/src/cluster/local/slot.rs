//! Slots keep concurrent local clusters apart. Slot `s` (0..=254) owns the bridge `dtb<s>`,
//! the veths `dt<s>n<i>`, the subnet `<base>.<s>.0/24` and the state directory
//! `<state_root>/<s>/`. A cluster holds `flock` on `<state_root>/slots/<s>.lock` for its whole
//! life; the kernel drops the lock when its process dies, however it dies, so a slot whose lock
//! can be taken but whose state directory exists is the leftover of a dead run.

use super::cmd::io_error;
use super::net::NetTools;
use super::LocalClusterError;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{self, File};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// The highest slot number: the third octet of the subnet, and ≤ 3 digits in link names.
const LAST_SLOT: u8 = 254;

/// A slot held by this process until dropped.
#[derive(Debug)]
pub(super) struct SlotLock {
    number: u8,
    _lock: Flock<File>,
}

impl SlotLock {
    /// The slot's number.
    pub fn number(&self) -> u8 {
        self.number
    }
}

/// `<state_root>/<slot>`: everything of the slot's cluster on disk.
pub(super) fn state_dir(state_root: &Path, slot: u8) -> PathBuf {
    state_root.join(slot.to_string())
}

fn slots_dir(state_root: &Path) -> PathBuf {
    state_root.join("slots")
}

/// Takes the first free slot, cleaning up a dead run's leftovers in it first, and creates its
/// state directory and bridge. Slots whose bridge exists anyway (another state root's cluster)
/// are skipped.
pub(super) fn acquire(state_root: &Path, net: &NetTools) -> Result<SlotLock, LocalClusterError> {
    let slots = slots_dir(state_root);
    fs::create_dir_all(&slots).map_err(io_error("create directory", &slots))?;
    for number in 0..=LAST_SLOT {
        let Some(lock) = try_lock(state_root, number)? else {
            continue;
        };
        clean(state_root, number, net)?;
        // The directory first: while any trace of a slot exists, so does its directory.
        let dir = state_dir(state_root, number);
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            // Leftovers that would not go (logged by `clean`): the slot stays unusable for now.
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            result => result.map_err(io_error("create directory", &dir))?,
        }
        if !net.claim_bridge(number, &dir)? {
            tracing::debug!(
                slot = number,
                "bridge taken by a cluster of another state root; skipping"
            );
            fs::remove_dir(&dir).map_err(io_error("remove directory", &dir))?;
            continue;
        }
        tracing::debug!(slot = number, "acquired slot");
        return Ok(SlotLock {
            number,
            _lock: lock,
        });
    }
    Err(LocalClusterError::NoFreeSlot {
        state_root: state_root.to_path_buf(),
    })
}

/// Removes the leftovers of every dead run under `state_root`; returns how many runs.
pub(super) fn reap(state_root: &Path, net: &NetTools) -> Result<usize, LocalClusterError> {
    let Ok(entries) = fs::read_dir(state_root) else {
        return Ok(0); // nothing was ever started here
    };
    let slots = slots_dir(state_root);
    fs::create_dir_all(&slots).map_err(io_error("create directory", &slots))?;
    let mut reaped = 0;
    for slot in entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u8>().ok())
    {
        if slot > LAST_SLOT {
            continue;
        }
        if let Some(_lock) = try_lock(state_root, slot)? {
            if clean(state_root, slot, net)? {
                tracing::info!(slot, state_root = %state_root.display(), "reaped the leftovers of a dead local cluster");
                reaped += 1;
            }
        }
    }
    Ok(reaped)
}

/// Deletes the slot's network (see [`NetTools::release`]) and state directory, if its state
/// directory exists (the caller holds the slot's lock). Returns whether there was anything.
/// The directory goes last, so that while any trace is left, the directory is there to say
/// whose it is; if the network would not go, the directory stays for the next reaping.
pub(super) fn clean(
    state_root: &Path,
    slot: u8,
    net: &NetTools,
) -> Result<bool, LocalClusterError> {
    let dir = state_dir(state_root, slot);
    if !dir.exists() {
        return Ok(false);
    }
    if net.release(slot, &dir) {
        fs::remove_dir_all(&dir).map_err(io_error("remove state directory", &dir))?;
    }
    Ok(true)
}
/// Locks `<state_root>/slots/<slot>.lock` without waiting; `None` when someone holds it.
fn try_lock(state_root: &Path, slot: u8) -> Result<Option<Flock<File>>, LocalClusterError> {
    let path = slots_dir(state_root).join(format!("{slot}.lock"));
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_error("open lock file", &path))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, errno)) => Err(LocalClusterError::Io {
            action: "lock",
            path,
            source: errno.into(),
        }),
    }
}
