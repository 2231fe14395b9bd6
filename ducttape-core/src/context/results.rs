//! Where results go: `results/<run-id>/<test path>/`, with a `latest` link to the run.
//!
//! The run id is shared by every test binary of one `cargo test` (they are children of the
//! same cargo process): it is made from that parent's start time and pid, unless
//! `DUCTTAPE_RUN_ID` names one. The results root is `DUCTTAPE_RESULTS_DIR`, else `results/`
//! at the top of the cargo workspace; a context can be given another one
//! ([`ContextBuilder::results_root`](super::ContextBuilder::results_root)), as tests of the
//! framework do for the contexts they make fail on purpose, so those stay out of the run's
//! report.

use std::path::{Path, PathBuf};

use once_cell::sync::OnceCell;
use serde_json::Value;

/// The version of the `summary.json` layout, written into each one as `format`. Version 2
/// added `format` and `phases`; summaries without `format` are of version 1.
pub const FORMAT: u64 = 2;

/// The summary of a test that went on with checks after its teardown
/// ([`TestContext::finish_for_checks`](super::TestContext::finish_for_checks)): `before` (the
/// test up to its teardown) with the checks' outcome added. The test fails if either part did;
/// its duration runs to the end of the checks; `phases` stay the test's own, with
/// `checks_after_teardown_secs` added.
pub fn merge_checks(before: Value, checks: Value) -> Value {
    let mut merged = before;
    let checks_status = checks["status"].as_str().unwrap_or("pass");
    if merged["status"] == "pass" || merged["status"] == "skipped" && checks_status != "pass" {
        merged["status"] = checks["status"].clone();
        merged["message"] = checks["message"].clone();
    }
    let started = |v: &Value| {
        v["started"]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
    };
    if let (Some(a), Some(b)) = (started(&merged), started(&checks)) {
        let gap = (b - a).num_microseconds().unwrap_or(0) as f64 / 1e6;
        merged["duration_secs"] = (gap + checks["duration_secs"].as_f64().unwrap_or(0.0)).into();
    }
    if let Some(p) = merged["phases"].as_object_mut() {
        p.insert(
            "checks_after_teardown_secs".into(),
            checks["duration_secs"].clone(),
        );
    }
    for key in ["services", "teardown_problems"] {
        if let (Some(a), Some(b)) = (merged[key].as_array_mut(), checks[key].as_array()) {
            a.extend(b.iter().cloned());
        }
    }
    if let (Some(a), Some(b)) = (
        merged["results"].as_object_mut(),
        checks["results"].as_object(),
    ) {
        a.extend(b.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    merged
}

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
    use serde_json::json;

    #[test]
    fn checks_after_teardown_join_their_tests_row() {
        let before = json!({"test": "t", "status": "pass", "message": null,
            "started": "2026-01-01T00:00:00Z", "duration_secs": 10.0,
            "phases": {"bring_up_secs": 1.0, "workload_secs": 8.0, "teardown_secs": 1.0},
            "services": [{"name": "faults"}], "results": {"a": 1}, "teardown_problems": []});
        let checks = json!({"test": "t", "status": "fail", "message": "not healed",
            "started": "2026-01-01T00:00:11Z", "duration_secs": 2.0,
            "services": [], "results": {"b": 2}, "teardown_problems": ["x"]});
        let m = merge_checks(before.clone(), checks);
        assert_eq!(m["status"], "fail");
        assert_eq!(m["message"], "not healed");
        assert_eq!(m["duration_secs"], 13.0);
        assert_eq!(m["phases"]["checks_after_teardown_secs"], 2.0);
        assert_eq!(m["results"], json!({"a": 1, "b": 2}));
        assert_eq!(m["teardown_problems"], json!(["x"]));
        // Passing checks leave a passing test as it was.
        let ok = json!({"status": "pass", "message": null, "started": "2026-01-01T00:00:11Z",
            "duration_secs": 2.0, "results": {}});
        assert_eq!(merge_checks(before, ok)["status"], "pass");
    }

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
