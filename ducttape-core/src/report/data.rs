//! The data contract between what runs a test (the context, services, workers, the test itself)
//! and the report that reads it afterwards: what a test's results directory holds, which keys,
//! in which units, and what a window means. The report reads only these files, never the
//! running test.
//!
//! A test's directory (`results/<run-id>/<test path>/`) holds:
//!
//! | file | what | type |
//! |---|---|---|
//! | `summary.json` | how the test ended, its phases, each service's results, what the test recorded | [`Summary`] |
//! | `events.jsonl` | one event a line (`ts`, RFC 3339; `event`, its kind; then its fields) | [`read_events`] |
//! | `test.log` | the test's log (what a failure's reason points at) | text |
//! | `<service>/…` | each service's logs, collected at teardown | text |
//!
//! Keys the report reads inside the free-form parts of [`Summary`] (`services[].results` and
//! `results`) are typed here too: a perf worker's output per node ([`WorkerOutput`]: its
//! [`Window`]s and `written_at`) and a delivery check ([`Delivery`]: `delivery_timeline`).
//! Everything else numeric in them is flattened into named numbers for tables and comparison
//! ([`super::metrics`]); its unit is read from its name's last part.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::phases::Phases;

/// The version of the `summary.json` layout, written into each one as `format`. Version 2
/// added `format` and `phases`; summaries without `format` are of version 1.
/// `ducttape-report compare` refuses runs of another version, naming both.
pub const FORMAT: u64 = 2;

/// A test's `summary.json`: written by the test's context when its teardown ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// [`FORMAT`] when written (1 when absent: written before versions were kept).
    #[serde(default = "format_1")]
    pub format: u64,
    /// The test's name (`module::test`).
    pub test: String,
    /// Which attempt of the test this was (nextest's `NEXTEST_ATTEMPT`, 1-based; 1 otherwise).
    #[serde(default = "attempt_1")]
    pub attempt: u64,
    /// `pass`, `fail`, `timeout`, `error` or `skipped`.
    pub status: String,
    /// Why it did not pass: a failed test's panic message with its place (`panicked at
    /// src/x.rs:10:5:\n<message>`), a teardown's problems, a skip's reason. `None` for a pass,
    /// or a failure whose panic was on another thread.
    #[serde(default)]
    pub message: Option<String>,
    /// When the test's context was made (RFC 3339).
    #[serde(default)]
    pub started: Option<String>,
    /// From the context's start to the summary, in seconds.
    #[serde(default)]
    pub duration_secs: f64,
    /// Where the time went; `None` without events.
    #[serde(default)]
    pub phases: Option<Phases>,
    /// Each registered service, in registration order.
    #[serde(default)]
    pub services: Vec<ServiceSummary>,
    /// What the test recorded (`ctx.record(key, value)`), by key.
    #[serde(default)]
    pub results: Map<String, Value>,
    /// Teardown steps that failed.
    #[serde(default)]
    pub teardown_problems: Vec<String>,
    /// Files a failed test's services left to explain it (thread dumps, GC logs), relative to
    /// the test's directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<String>,
}

/// The Kafka a test ran, as its Kafka services' results say it (what the brokers logged and
/// the installs their JVMs run from: `kafka_version`, `kafka_versions`, `kafka_home`,
/// `kafka_homes`): `3.9.2 (/opt/kafka-3.9.2)`, or node by node when the nodes differ (a mixed
/// cluster, a roll cut short): `3.9.2, 4.4.0 (worker1 4.4.0 /opt/kafka-4.4.0; worker2 3.9.2
/// /opt/kafka-3.9.2)`. Several clusters are joined with ` · `; `None` without any.
pub fn kafka_under_test(summary: &Value) -> Option<String> {
    let clusters: Vec<String> = summary["services"]
        .as_array()?
        .iter()
        .map(|s| &s["results"])
        .filter_map(|r| {
            let version = r["kafka_version"].as_str().filter(|v| !v.is_empty())?;
            let home = r["kafka_home"].as_str().unwrap_or_default();
            if !version.contains(", ") && !home.contains(", ") {
                return Some(format!("{version} ({home})"));
            }
            let nodes = r["kafka_versions"].as_object()?;
            let each: Vec<String> = nodes
                .iter()
                .map(|(node, v)| {
                    let home = r["kafka_homes"][node].as_str().unwrap_or_default();
                    format!("{node} {} {home}", v.as_str().unwrap_or("?"))
                })
                .collect();
            Some(format!("{version} ({})", each.join("; ").trim_end()))
        })
        .collect();
    (!clusters.is_empty()).then(|| clusters.join(" · "))
}

fn attempt_1() -> u64 {
    1
}

fn format_1() -> u64 {
    1
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn summary(v: Value) -> Summary {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_kafka_under_test_is_what_its_nodes_run() {
        let one = json!({"services": [{"name": "zookeeper", "results": null}, {"name": "kafka",
            "results": {"kafka_version": "3.9.2", "kafka_home": "/opt/kafka-3.9.2",
                        "kafka_versions": {"worker1": "3.9.2"},
                        "kafka_homes": {"worker1": "/opt/kafka-3.9.2"}}}]});
        assert_eq!(
            kafka_under_test(&one).as_deref(),
            Some("3.9.2 (/opt/kafka-3.9.2)")
        );
        // Halfway through a roll: node by node.
        let mixed = json!({"services": [{"name": "kafka",
            "results": {"kafka_version": "3.9.2, 4.4.0",
                        "kafka_home": "/opt/kafka-3.9.2, /opt/kafka-4.4.0",
                        "kafka_versions": {"worker1": "4.4.0", "worker2": "3.9.2"},
                        "kafka_homes": {"worker1": "/opt/kafka-4.4.0", "worker2": "/opt/kafka-3.9.2"}}}]});
        assert_eq!(
            kafka_under_test(&mixed).as_deref(),
            Some("3.9.2, 4.4.0 (worker1 4.4.0 /opt/kafka-4.4.0; worker2 3.9.2 /opt/kafka-3.9.2)")
        );
        // No Kafka, or one that never started.
        assert_eq!(kafka_under_test(&json!({"services": []})), None);
        let unstarted = json!({"services": [{"name": "kafka", "results": {"kafka_version": ""}}]});
        assert_eq!(kafka_under_test(&unstarted), None);
    }

    #[test]
    fn checks_after_teardown_join_their_tests_row() {
        let before = summary(
            json!({"format": 2, "test": "t", "status": "pass", "message": null,
            "started": "2026-01-01T00:00:00Z", "duration_secs": 10.0,
            "phases": {"bring_up_secs": 1.0, "workload_secs": 8.0, "teardown_secs": 1.0},
            "services": [{"name": "faults", "results": null}], "results": {"a": 1},
            "teardown_problems": []}),
        );
        let checks = summary(
            json!({"test": "t", "status": "fail", "message": "not healed",
            "started": "2026-01-01T00:00:11Z", "duration_secs": 2.0,
            "services": [], "results": {"b": 2}, "teardown_problems": ["x"]}),
        );
        let m = serde_json::to_value(before.clone().merge_checks(checks)).unwrap();
        assert_eq!(m["status"], "fail");
        assert_eq!(m["message"], "not healed");
        assert_eq!(m["duration_secs"], 13.0);
        assert_eq!(m["phases"]["checks_after_teardown_secs"], 2.0);
        assert_eq!(m["results"], json!({"a": 1, "b": 2}));
        assert_eq!(m["teardown_problems"], json!(["x"]));
        // Passing checks leave a passing test as it was.
        let ok = summary(json!({"test": "t", "status": "pass", "message": null,
            "started": "2026-01-01T00:00:11Z", "duration_secs": 2.0, "results": {}}));
        assert_eq!(before.merge_checks(ok).status, "pass");
    }

    #[test]
    fn the_reason_is_the_panics_message_and_its_place() {
        let s = summary(json!({"test": "t", "status": "fail",
            "message": "panicked at ducttape-tests/tests/loss.rs:405:66:\ntimed out after 119 s waiting until x\nmore"}));
        assert_eq!(
            s.reason(),
            Some((
                "timed out after 119 s waiting until x".to_string(),
                Some("ducttape-tests/tests/loss.rs:405:66".to_string())
            ))
        );
        let e = summary(
            json!({"test": "t", "status": "error", "message": "teardown failed: stop kafka"}),
        );
        assert_eq!(
            e.reason(),
            Some(("teardown failed: stop kafka".to_string(), None))
        );
    }
}

/// A service in a [`Summary`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSummary {
    /// Its id in the test (`kafka`, `producer-2`).
    pub name: String,
    /// What its `Teardown::results` gave: for perf workers an object of [`WorkerOutput`] by
    /// node name; `null` for services without results.
    #[serde(default)]
    pub results: Value,
}

impl Summary {
    /// Reads `path`.
    pub fn read(path: &Path) -> std::io::Result<Summary> {
        let text = std::fs::read_to_string(path)?;
        serde_json::from_str(&text)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    /// [`started`](Self::started), parsed.
    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(self.started.as_deref()?)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The summary of a test that went on with checks after its teardown
    /// (`TestContext::finish_for_checks`): `self` (the test up to its teardown) with the
    /// checks' outcome added. The test fails if either part did; its duration runs to the end
    /// of the checks; `phases` stay the test's own, with `checks_after_teardown_secs` added.
    pub fn merge_checks(mut self, checks: Summary) -> Summary {
        if self.status == "pass" || self.status == "skipped" && checks.status != "pass" {
            self.status = checks.status.clone();
            self.message = checks.message.clone();
        }
        if let (Some(a), Some(b)) = (self.started_at(), checks.started_at()) {
            let gap = (b - a).num_microseconds().unwrap_or(0) as f64 / 1e6;
            self.duration_secs = gap + checks.duration_secs;
        }
        if let Some(p) = self.phases.as_mut() {
            p.checks_after_teardown_secs = Some(checks.duration_secs);
        }
        self.services.extend(checks.services);
        self.teardown_problems.extend(checks.teardown_problems);
        self.results.extend(checks.results);
        self
    }

    /// The perf workers' outputs, as `(service/node, output)`, those whose output is not a
    /// [`WorkerOutput`] left out.
    pub fn worker_outputs(&self) -> Vec<(String, WorkerOutput)> {
        let mut out = Vec::new();
        for s in &self.services {
            for (node, v) in s.results.as_object().into_iter().flatten() {
                if let Ok(w) = serde_json::from_value::<WorkerOutput>(v.clone()) {
                    out.push((format!("{}/{node}", s.name), w));
                }
            }
        }
        out
    }

    /// The delivery checks the test recorded, by key.
    pub fn deliveries(&self) -> Vec<(String, Delivery)> {
        self.results
            .iter()
            .filter(|(_, v)| v.get("delivery_timeline").is_some())
            .filter_map(|(k, v)| Some((k.clone(), serde_json::from_value(v.clone()).ok()?)))
            .collect()
    }

    /// The first line of [`message`](Self::message) that says what went wrong, and the source
    /// place it names (`src/x.rs:10:5`), if any: Rust's panic note is `panicked at <place>:`
    /// on its first line and the message after it.
    pub fn reason(&self) -> Option<(String, Option<String>)> {
        let m = self.message.as_deref()?.trim();
        if m.is_empty() {
            return None;
        }
        let (place, rest) = match m.split_once('\n') {
            Some((first, rest)) if first.contains("panicked at ") => {
                let place = first
                    .split_once("panicked at ")
                    .map(|(_, p)| p.trim_end_matches(':').to_string());
                (place, rest)
            }
            _ => (None, m),
        };
        let line = rest.lines().find(|l| !l.trim().is_empty()).unwrap_or(rest);
        Some((line.trim().to_string(), place))
    }
}

/// One perf worker's output on one node: `services[].results.<node>` for workers.
///
/// The tool prints a line per reporting window and a final line; each is kept as printed
/// (parsed). `written_at` is when its output file was last written (seconds since the epoch,
/// from the node's clock), the only absolute time a window line has: windows say how long they
/// lasted, not when. The report lays them end to end back from `written_at`
/// ([`super::plots::window_ends`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerOutput {
    /// One per reporting window, in order.
    pub windows: Vec<Window>,
    /// The final line, if the tool printed it (it did not when stopped early).
    #[serde(default)]
    pub result: Option<Window>,
    /// When its output was last written, seconds since the epoch.
    pub written_at: f64,
}

/// A window line (or the final line) of a perf tool. Which fields are there depends on the
/// tool; latencies come in ms or µs and are read in ms by [`Window::latency_ms`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Records in the window.
    #[serde(default)]
    pub records: Option<f64>,
    /// Records per second over the window.
    #[serde(default)]
    pub records_per_sec: Option<f64>,
    /// MB (10⁶ bytes… as the tool counts) per second over the window.
    #[serde(default)]
    pub mb_per_sec: Option<f64>,
    /// How long the window lasted, ms (the REST perf client says; Kafka's tools do not: their
    /// window lasted `records / records_per_sec`).
    #[serde(default)]
    pub elapsed_ms: Option<f64>,
    /// Every other field, as printed (`avg_latency_ms`, `p99_us`, …).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Window {
    /// How long it lasted, in seconds: `elapsed_ms`, else `records / records_per_sec`.
    pub fn covers_secs(&self) -> Option<f64> {
        if let Some(ms) = self.elapsed_ms {
            return Some(ms / 1000.0);
        }
        let (records, rate) = (self.records?, self.records_per_sec?);
        (rate > 0.0).then(|| records / rate)
    }

    /// A latency in ms: `<name>_ms` or `<name>_latency_ms` as is, `<name>_us` / 1000.
    pub fn latency_ms(&self, name: &str) -> Option<f64> {
        let f = |k: String| self.other.get(&k).and_then(Value::as_f64);
        f(format!("{name}_ms"))
            .or_else(|| f(format!("{name}_latency_ms")))
            .or_else(|| f(format!("{name}_us")).map(|us| us / 1000.0))
    }
}

/// A delivery check a test recorded (`ctx.record(key, delivery)`, see
/// `ducttape_tests::record_delivery`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Records the producers had acknowledged.
    pub acked: u64,
    /// Records the consumers got.
    pub consumed: u64,
    /// Acknowledged records no consumer got.
    pub lost_acknowledged: u64,
    /// Records consumed more than once.
    pub duplicated: u64,
    /// Cumulative counts over time: a point at the end of every second in which either count
    /// changed (by the tools' own timestamps), none for a second without change. Between two
    /// points the counts held still: it is drawn as steps.
    pub delivery_timeline: Vec<DeliveryPoint>,
}

/// Acknowledged and consumed records up to a moment (see [`Delivery::delivery_timeline`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryPoint {
    /// The end of the second, in ms since the epoch.
    pub ts_ms: i64,
    /// Acknowledgements up to then.
    pub acked: u64,
    /// Deliveries to consumers up to then.
    pub consumed: u64,
}

/// Every `summary.json` below `run_dir` as JSON, sorted by path (those that do not parse are
/// left out).
pub fn summaries(run_dir: &Path) -> Vec<(PathBuf, Value)> {
    let mut found = Vec::new();
    let mut stack = vec![run_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "summary.json") {
                if let Some(v) = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok())
                {
                    found.push((path, v));
                }
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// Every event of an `events.jsonl` (lines that do not parse are skipped).
pub fn read_events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The time of an event (`ts`, RFC 3339).
pub fn event_time(event: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(event["ts"].as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
