//! Placing what happened on the test's time axis: seconds since the test started.
//!
//! A window line of a perf worker says how long its window lasted (`records / records_per_sec`
//! for Kafka's `ProducerPerformance`, `elapsed_ms` for the REST perf client) but not when it
//! was printed. The windows are laid end to end back from the end of the run: the run began
//! its whole elapsed time (from the final line) before `written_at`; a worker stopped before
//! its final line ended its last window at `written_at`. The plot point of a window is its end.
//!
//! Faults, bounces and teardown come from `events.jsonl` as windows ([`Span`]); services
//! becoming ready or stopping while the test runs as marks ([`Mark`]).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::super::data::{event_time, Summary, Window};
use super::{Line, Shape};

/// What a shaded window on the time axis stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// A fault (partition, packet loss, rate limit) from its start to its heal.
    Fault,
    /// A node being restarted (a bounce), from stop to ready again.
    Bounce,
    /// Teardown.
    Teardown,
}

/// A shaded window on the time axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// What, on which nodes.
    pub label: String,
    /// Which kind.
    pub kind: SpanKind,
    /// Its start, in seconds since the test started.
    pub from: f64,
    /// Its end.
    pub to: f64,
}

/// A moment on the time axis (a service ready, stopping, killed).
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// What happened.
    pub label: String,
    /// When, in seconds since the test started.
    pub at: f64,
}

/// One worker's windows, placed in time.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerSeries {
    /// `service/node`.
    pub worker: String,
    /// Per window: `(end, records/s, MB/s, avg ms, max ms, p99 ms if the tool gives it)`, the
    /// end in seconds since the test started.
    pub windows: Vec<WindowPoint>,
}

/// One window of a worker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowPoint {
    /// Its end, in seconds since the test started.
    pub at: f64,
    /// Records per second.
    pub records_per_sec: f64,
    /// MB per second.
    pub mb_per_sec: f64,
    /// Mean latency, ms.
    pub avg_ms: Option<f64>,
    /// Largest latency, ms.
    pub max_ms: Option<f64>,
    /// 99th percentile latency, ms.
    pub p99_ms: Option<f64>,
}

fn secs_between(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_microseconds().unwrap_or(0) as f64 / 1e6
}

/// The end of each of `windows`, in seconds since the epoch (see the module docs); `None`
/// when a window's length cannot be told.
pub fn window_ends(
    windows: &[Window],
    result: Option<&Window>,
    written_at: f64,
) -> Option<Vec<f64>> {
    let lengths: Vec<f64> = windows
        .iter()
        .map(Window::covers_secs)
        .collect::<Option<_>>()?;
    let start = match result.and_then(Window::covers_secs) {
        Some(total) => written_at - total,
        None => written_at - lengths.iter().sum::<f64>(),
    };
    let mut end = start;
    Some(
        lengths
            .iter()
            .map(|l| {
                end += l;
                end
            })
            .collect(),
    )
}

/// Every worker's windows in `summary`, placed in time against the test's start.
pub fn worker_series(summary: &Summary) -> Vec<WorkerSeries> {
    let Some(t0) = summary.started_at() else {
        return Vec::new();
    };
    let t0 = t0.timestamp_micros() as f64 / 1e6;
    let mut out = Vec::new();
    for (worker, output) in summary.worker_outputs() {
        let Some(ends) = window_ends(&output.windows, output.result.as_ref(), output.written_at)
        else {
            continue;
        };
        let points = output
            .windows
            .iter()
            .zip(ends)
            .filter_map(|(w, end)| {
                Some(WindowPoint {
                    at: end - t0,
                    records_per_sec: w.records_per_sec?,
                    mb_per_sec: w.mb_per_sec.unwrap_or(f64::NAN),
                    avg_ms: w.latency_ms("avg"),
                    max_ms: w.latency_ms("max"),
                    p99_ms: w.latency_ms("p99"),
                })
            })
            .collect::<Vec<_>>();
        if !points.is_empty() {
            out.push(WorkerSeries {
                worker,
                windows: points,
            });
        }
    }
    out
}

/// The fault, bounce and teardown windows and the lifecycle marks of `events`, against the
/// test's start; windows still open at the end of the events close there.
pub fn spans_and_marks(events: &[Value]) -> (Vec<Span>, Vec<Mark>) {
    let mut spans = Vec::new();
    let mut marks = Vec::new();
    let Some(t0) = events
        .iter()
        .find(|e| e["event"] == "test_started")
        .and_then(event_time)
    else {
        return (spans, marks);
    };
    let end = events
        .iter()
        .filter_map(event_time)
        .map(|t| secs_between(t0, t))
        .fold(0.0, f64::max);
    // Open windows: (key, label, kind, from).
    let mut open: Vec<(String, String, SpanKind, f64)> = Vec::new();
    let mut in_teardown = false;
    let close = |open: &mut Vec<(String, String, SpanKind, f64)>,
                 spans: &mut Vec<Span>,
                 pred: &dyn Fn(&str) -> bool,
                 at: f64| {
        open.retain(|(key, label, kind, from)| {
            if pred(key) {
                spans.push(Span {
                    label: label.clone(),
                    kind: *kind,
                    from: *from,
                    to: at,
                });
                false
            } else {
                true
            }
        });
    };
    for e in events {
        let Some(t) = event_time(e) else { continue };
        let at = secs_between(t0, t);
        let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
        match e["event"].as_str().unwrap_or("") {
            "fault_start" => {
                // One window per fault; healing any of its nodes ends it.
                let label = format!("{} {} ({})", s("fault"), s("nodes"), s("detail"));
                let key = format!("fault:{}", s("nodes").replace('|', ","));
                open.push((key, label, SpanKind::Fault, at));
            }
            "fault_heal" => {
                let node = s("nodes");
                close(
                    &mut open,
                    &mut spans,
                    &|k: &str| {
                        k.strip_prefix("fault:")
                            .is_some_and(|ns| ns.split(',').any(|n| n == node))
                    },
                    at,
                );
            }
            "node_restarting" => open.push((
                format!("bounce:{}:{}", s("service"), s("node")),
                format!(
                    "{} {} of {}",
                    if e["clean"] == false {
                        "kill+restart"
                    } else {
                        "bounce"
                    },
                    s("node"),
                    s("service")
                ),
                SpanKind::Bounce,
                at,
            )),
            "node_restarted" => {
                let key = format!("bounce:{}:{}", s("service"), s("node"));
                close(&mut open, &mut spans, &|k: &str| k == key, at);
            }
            "teardown_started" => {
                in_teardown = true;
                open.push(("teardown".into(), "teardown".into(), SpanKind::Teardown, at));
            }
            "test_finished" => {
                in_teardown = false;
                close(&mut open, &mut spans, &|k: &str| k == "teardown", at);
            }
            // Workers show as their lines, and teardown as its window: marks are for the
            // systems under test changing state while the test runs.
            "service_ready" | "service_stopping" | "service_killed"
                if e["workload"] != true && !in_teardown =>
            {
                let what = match e["event"].as_str() {
                    Some("service_ready") => "ready",
                    Some("service_stopping") => "stop",
                    _ => "killed",
                };
                marks.push(Mark {
                    label: format!("{} {what}", s("service")),
                    at,
                });
            }
            _ => {}
        }
    }
    for (_, label, kind, from) in open {
        spans.push(Span {
            label,
            kind,
            from,
            to: end,
        });
    }
    (spans, marks)
}

/// Lines of one metric of every worker (`pick` chooses the value of a window).
pub fn lines_of(
    series: &[WorkerSeries],
    suffix: &str,
    pick: impl Fn(&WindowPoint) -> Option<f64>,
) -> Vec<Line> {
    series
        .iter()
        .map(|s| Line {
            shape: Shape::Joined,
            label: if suffix.is_empty() {
                s.worker.clone()
            } else {
                format!("{} {suffix}", s.worker)
            },
            points: s
                .windows
                .iter()
                .filter_map(|w| Some((w.at, pick(w).filter(|v| v.is_finite())?)))
                .collect(),
        })
        .filter(|l| !l.points.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn windows_of(v: Vec<Value>) -> Vec<Window> {
        v.into_iter()
            .map(|w| serde_json::from_value(w).unwrap())
            .collect()
    }
    fn window(v: Value) -> Window {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn producer_windows_are_laid_back_from_the_final_line() {
        // Three 5 s windows of 100 records/s, then a 1 s remainder: 16 s in all, the last
        // line written at t = 1000.
        let windows = windows_of(vec![
            json!({"records": 500, "records_per_sec": 100.0}),
            json!({"records": 500, "records_per_sec": 100.0}),
            json!({"records": 500, "records_per_sec": 100.0}),
        ]);
        let result = window(json!({"records": 1600, "records_per_sec": 100.0}));
        let ends = window_ends(&windows, Some(&result), 1000.0).unwrap();
        assert_eq!(ends, vec![989.0, 994.0, 999.0]);
        // Stopped before its final line: the last window ends at written_at.
        let ends = window_ends(&windows, None, 1000.0).unwrap();
        assert_eq!(ends, vec![990.0, 995.0, 1000.0]);
        // REST windows say their length.
        let rest = windows_of(vec![json!({"elapsed_ms": 200}), json!({"elapsed_ms": 300})]);
        let ends = window_ends(&rest, Some(&window(json!({"elapsed_ms": 500}))), 10.0).unwrap();
        assert_eq!(ends, vec![9.7, 10.0]);
    }

    #[test]
    fn every_worker_gets_its_own_line_from_its_own_windows() {
        let summary: Summary = serde_json::from_value(json!({
            "test": "t", "status": "pass",
            "started": "1970-01-01T00:16:00Z", // 960 s
            "services": [
                {"name": "zookeeper", "results": null},
                {"name": "producer", "results": {
                    "worker3": {"windows": [
                        {"records": 500, "records_per_sec": 100.0, "mb_per_sec": 0.01,
                         "avg_latency_ms": 2.0, "max_latency_ms": 9.0},
                        {"records": 1000, "records_per_sec": 200.0, "mb_per_sec": 0.02,
                         "avg_latency_ms": 3.0, "max_latency_ms": 7.0}],
                        "result": null, "written_at": 1000.0},
                    "worker4": {"windows": [
                        {"elapsed_ms": 1000, "records": 50, "records_per_sec": 50.0,
                         "mb_per_sec": 0.005, "avg_us": 1500.0, "max_us": 4000, "p99_us": 3000}],
                        "result": {"elapsed_ms": 2000}, "written_at": 990.0},
                    "worker5": {"windows": [], "written_at": 990.0}
                }}
            ]
        }))
        .unwrap();
        let series = worker_series(&summary);
        assert_eq!(series.len(), 2, "{series:?}");
        assert_eq!(series[0].worker, "producer/worker3");
        let w3: Vec<(f64, f64)> = series[0]
            .windows
            .iter()
            .map(|w| (w.at, w.records_per_sec))
            .collect();
        assert_eq!(w3, vec![(35.0, 100.0), (40.0, 200.0)]);
        let w4 = &series[1].windows[0];
        assert_eq!(
            (w4.at, w4.avg_ms, w4.max_ms, w4.p99_ms),
            (29.0, Some(1.5), Some(4.0), Some(3.0))
        );
        let max = lines_of(&series, "max", |w| w.max_ms);
        assert_eq!(max[0].points, vec![(35.0, 9.0), (40.0, 7.0)]);
        assert_eq!(max[1].label, "producer/worker4 max");
    }

    #[test]
    fn faults_and_bounces_become_windows_and_lifecycle_marks() {
        let ev = |s: u32, e: Value| {
            let mut e = e;
            e["ts"] = format!("2026-01-01T00:00:{s:02}Z").into();
            e
        };
        let events = vec![
            ev(0, json!({"event": "test_started"})),
            ev(3, json!({"event": "service_ready", "service": "kafka"})),
            ev(
                5,
                json!({"event": "fault_start", "fault": "partition", "nodes": "w1|w2,w3", "detail": "w1 from w2,w3"}),
            ),
            ev(
                6,
                json!({"event": "fault_start", "fault": "rate_limit", "nodes": "w4", "detail": "1mbit"}),
            ),
            ev(
                8,
                json!({"event": "node_restarting", "service": "kafka", "node": "w2", "clean": false}),
            ),
            ev(9, json!({"event": "fault_heal", "nodes": "w3"})),
            ev(
                11,
                json!({"event": "node_restarted", "service": "kafka", "node": "w2"}),
            ),
            ev(12, json!({"event": "teardown_started"})),
            ev(14, json!({"event": "test_finished"})),
        ];
        let (spans, marks) = spans_and_marks(&events);
        let mut got: Vec<(SpanKind, f64, f64)> =
            spans.iter().map(|s| (s.kind, s.from, s.to)).collect();
        got.sort_by(|a, b| a.1.total_cmp(&b.1));
        assert_eq!(
            got,
            vec![
                (SpanKind::Fault, 5.0, 9.0),
                // Never healed: open to the end.
                (SpanKind::Fault, 6.0, 14.0),
                (SpanKind::Bounce, 8.0, 11.0),
                (SpanKind::Teardown, 12.0, 14.0),
            ]
        );
        assert!(spans.iter().any(|s| s.label == "kill+restart w2 of kafka"));
        assert_eq!(
            marks,
            vec![Mark {
                label: "kafka ready".into(),
                at: 3.0
            }]
        );
    }
}
