//! Where results go: `results/<run-id>/<test path>/`, with a `latest` link to the run.
//!
//! The run id is shared by every test binary of one `cargo test` (they are children of the
//! same cargo process): it is made from that parent's start time and pid, unless
//! `DUCTTAPE_RUN_ID` names one. The results root is `DUCTTAPE_RESULTS_DIR`, else `results/`
//! at the top of the cargo workspace; a context can be given another one
//! ([`ContextBuilder::results_root`](crate::context::ContextBuilder::results_root)), as tests of the
//! framework do for the contexts they make fail on purpose, so those stay out of the run's
//! report. Both the context (which writes there) and the report (which reads there) use it.

use std::path::{Path, PathBuf};

use once_cell::sync::OnceCell;

/// The run id of this process (see the module docs).
pub fn run_id() -> &'static str {
    static ID: OnceCell<String> = OnceCell::new();
    ID.get_or_init(|| {
        std::env::var("DUCTTAPE_RUN_ID")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(make_run_id)
    })
}

fn make_run_id() -> String {
    let ppid = nix::unistd::getppid().as_raw();
    let started = process_start_secs(ppid).unwrap_or_else(|| chrono::Utc::now().timestamp());
    let when = chrono::DateTime::from_timestamp(started, 0).unwrap_or_default();
    format!("{}-{ppid}", when.format("%Y-%m-%d--%H%M%S"))
}

/// Seconds since the epoch at which process `pid` started (Linux /proc).
fn process_start_secs(pid: i32) -> Option<i64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = stat.rsplit_once(") ")?.1;
    // Field 22 of stat; after the comm we are at field 3.
    let ticks: i64 = after_comm.split_whitespace().nth(19)?.parse().ok()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()??;
    let btime: i64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(btime + ticks / hz)
}

/// The results root (see the module docs).
pub fn results_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("DUCTTAPE_RESULTS_DIR") {
        return PathBuf::from(dir);
    }
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    workspace_root(&start).unwrap_or(start).join("results")
}

fn workspace_root(from: &Path) -> Option<PathBuf> {
    from.ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .map(|t| t.contains("[workspace]"))
                .unwrap_or(false)
        })
        .map(Path::to_path_buf)
}

/// Creates this run's directory under the default results root and points `latest` at it
/// (once per process); returns the run directory.
pub(crate) fn run_dir() -> std::io::Result<PathBuf> {
    static DIR: OnceCell<PathBuf> = OnceCell::new();
    DIR.get_or_try_init(|| run_dir_in(&results_root())).cloned()
}

/// Creates this run's directory under `root` and points `root/latest` at it; returns it.
pub(crate) fn run_dir_in(root: &Path) -> std::io::Result<PathBuf> {
    let dir = root.join(run_id());
    std::fs::create_dir_all(&dir)?;
    let latest = root.join("latest");
    if std::fs::read_link(&latest).ok().as_deref() != Some(Path::new(run_id())) {
        let tmp = root.join(format!(".latest-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(run_id(), &tmp)?;
        std::fs::rename(&tmp, &latest)?;
    }
    Ok(dir)
}

/// A fresh directory for test `name` in the run directory `run_dir` (`a::b` → `a/b`; a repeat
/// gets `-2`, `-3`…).
pub(crate) fn test_dir(run_dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    let base = run_dir.join(name.replace("::", "/"));
    if let Some(parent) = base.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut candidate = base.clone();
    for n in 2.. {
        match std::fs::create_dir(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                candidate = PathBuf::from(format!("{}-{n}", base.display()));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_workspace_root() {
        let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let root = workspace_root(&here).unwrap();
        assert!(root.join("ducttape-core").is_dir());
    }

    #[test]
    fn parent_start_time_is_plausible() {
        let now = chrono::Utc::now().timestamp();
        let started = process_start_secs(std::process::id() as i32).unwrap();
        assert!(started <= now && started > now - 3600, "{started} vs {now}");
    }
}
