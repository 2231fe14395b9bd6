//! One test run several times in one run — nextest's retries (`--retries`, or the `flaky`
//! profile in `.config/nextest.toml`) or repeats (`./repeat.sh N cargo test …`) — is one row
//! of the run report: each run keeps its own directory (`<test>`, `<test>-2`, …), and the row
//! lists them (`attempts`), with the pass rate, and is `flaky` when the runs disagreed and
//! the last one passed (a failure that a retry hid is not a pass).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Value};

/// Which attempt of its test this process is: nextest's `NEXTEST_ATTEMPT` (1-based), else 1.
pub fn attempt() -> u64 {
    std::env::var("NEXTEST_ATTEMPT")
        .ok()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1)
}

/// Folds the summaries of a run (path, summary) so that each test is one row: a test with
/// several summaries gets the newest one's row with `attempts` (each run's directory, status,
/// message and attempt number, oldest first), `pass_rate`, and status `flaky` when some runs
/// failed and the last passed.
///
/// ```
/// use std::path::PathBuf;
/// use serde_json::json;
/// use ducttape_core::report::attempts::fold;
/// let s = |dir: &str, status: &str, started: &str| {
///     (PathBuf::from(format!("run/{dir}/summary.json")),
///      json!({"test": "t", "status": status, "started": started}))
/// };
/// let rows = fold(vec![s("t", "fail", "2026-01-01T00:00:00Z"), s("t-2", "pass", "2026-01-01T00:01:00Z")]);
/// assert_eq!(rows.len(), 1);
/// assert_eq!(rows[0].1["status"], "flaky");
/// assert_eq!(rows[0].1["pass_rate"], 0.5);
/// assert_eq!(rows[0].1["attempts"][0]["status"], "fail");
/// let rows = fold(vec![s("t", "pass", "2026-01-01T00:00:00Z"), s("t-2", "pass", "2026-01-01T00:01:00Z")]);
/// assert_eq!(rows[0].1["status"], "pass");
/// ```
pub fn fold(summaries: Vec<(PathBuf, Value)>) -> Vec<(PathBuf, Value)> {
    let mut by_test: BTreeMap<String, Vec<(PathBuf, Value)>> = BTreeMap::new();
    let mut order = Vec::new();
    for (path, summary) in summaries {
        let name = summary["test"].as_str().unwrap_or_default().to_string();
        if !by_test.contains_key(&name) {
            order.push(name.clone());
        }
        by_test.entry(name).or_default().push((path, summary));
    }
    let mut rows = Vec::new();
    for name in order {
        let Some(mut runs) = by_test.remove(&name) else {
            continue;
        };
        if runs.len() == 1 {
            rows.append(&mut runs);
            continue;
        }
        runs.sort_by(|a, b| {
            let key = |v: &Value| v["started"].as_str().unwrap_or_default().to_string();
            key(&a.1).cmp(&key(&b.1))
        });
        let passed = runs.iter().filter(|(_, v)| v["status"] == "pass").count();
        let attempts: Vec<Value> = runs
            .iter()
            .map(|(path, v)| {
                json!({
                    "dir": path.parent().map(|p| p.display().to_string()),
                    "status": v["status"],
                    "message": v["message"],
                    "attempt": v["attempt"],
                    "duration_secs": v["duration_secs"],
                })
            })
            .collect();
        let Some((path, mut last)) = runs.pop() else {
            continue;
        };
        if last["status"] == "pass" && passed < attempts.len() {
            last["status"] = json!("flaky");
        }
        #[allow(clippy::cast_precision_loss)]
        let rate = passed as f64 / attempts.len() as f64;
        last["pass_rate"] = json!(rate);
        last["attempts"] = json!(attempts);
        rows.push((path, last));
    }
    rows
}
