//! A test's own page: why it failed, status and phases, plots over time, events, numbers with
//! their units.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, SubsecRound as _, Utc};
use serde_json::Value;

use super::html::{escape, rel_dir, secs, STYLE};
use super::plots::{PlotInput, PLOTS};
use super::{data, fmt_num, metrics};

/// How many entries of `test.log` a failed test's page shows.
const LOG_TAIL_LINES: usize = 40;

/// The end of a failed test's `test.log`: its last entries at `INFO` or above (an entry is a
/// line starting with its time, and the lines after it that do not) from before its teardown
/// began at `teardown` (what the test was doing when it failed, not its services being
/// stopped), each cut to a readable length.
fn log_tail(dir: &Path, teardown: Option<DateTime<Utc>>) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("test.log")).ok()?;
    let mut entries: Vec<(Option<DateTime<Utc>>, String)> = Vec::new();
    for line in text.lines() {
        let ts = line
            .split_whitespace()
            .next()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        match (ts, entries.last_mut()) {
            (None, Some((_, entry))) => {
                entry.push('\n');
                entry.push_str(line);
            }
            _ => entries.push((ts, line.to_string())),
        }
    }
    let before = |ts: &Option<DateTime<Utc>>| match (ts, teardown) {
        // The log's times are in ms: the line of teardown's start has its ms, not its µs.
        (Some(ts), Some(teardown)) => *ts < teardown.trunc_subsecs(3),
        _ => true,
    };
    let quiet = |e: &str| matches!(e.split_whitespace().nth(1), Some("DEBUG" | "TRACE"));
    let kept: Vec<String> = entries
        .iter()
        .take_while(|(ts, _)| before(ts))
        .filter(|(_, e)| !quiet(e))
        .map(|(_, e)| match e.char_indices().nth(400) {
            Some((cut, _)) => format!("{}…", &e[..cut]),
            None => e.clone(),
        })
        .collect();
    let tail = &kept[kept.len().saturating_sub(LOG_TAIL_LINES)..];
    (!tail.is_empty()).then(|| tail.join("\n"))
}

/// The first section of a page of a test that did not pass: why, where, and the log it points
/// at.
fn why(summary: &data::Summary, dir: &Path, events: &[Value]) -> String {
    let heading = match summary.status.as_str() {
        "fail" => "Why it failed",
        "timeout" => "Why it timed out",
        "error" => "Why it is an error",
        _ => return String::new(),
    };
    let mut h = format!("<section id=\"why\"><h2>{heading}</h2>");
    match summary.reason() {
        Some((reason, place)) => {
            let _ = write!(h, "<p class=\"reason\"><b>{}</b></p>", escape(&reason));
            if let Some(place) = place {
                let _ = write!(
                    h,
                    "<p class=\"place\">at <code>{}</code></p>",
                    escape(&place)
                );
            }
            if let Some(m) = &summary.message {
                if m.trim() != reason {
                    let _ = write!(h, "<pre class=\"message\">{}</pre>", escape(m));
                }
            }
        }
        None if summary.status == "timeout" => {
            h.push_str("<p class=\"reason\"><b>it ran past its timeout and was torn down by the watchdog</b></p>");
        }
        None => h.push_str(
            "<p class=\"reason\"><b>no panic message was caught on the test's thread</b> \
             (a panic in another thread or task); the log below ends where it failed</p>",
        ),
    }
    let teardown = events
        .iter()
        .find(|e| e["event"] == "teardown_started")
        .and_then(data::event_time);
    if let Some(tail) = log_tail(dir, teardown) {
        let _ = write!(
            h,
            "<h3>the end of <a href=\"test.log\">test.log</a> before teardown</h3>\
             <pre class=\"log-tail\">{}</pre>",
            escape(&tail)
        );
    }
    h.push_str("</section>");
    h
}

/// Links to what a failed test's services left to explain it (`summary.json`'s
/// `diagnostics`: each JVM's thread dump, its GC logs), each named by what it is; nothing
/// without them.
fn diagnostics(summary: &data::Summary) -> String {
    if summary.diagnostics.is_empty() {
        return String::new();
    }
    let mut h = String::from("<section id=\"diagnostics\"><h2>JVM diagnostics</h2><ul>");
    for file in &summary.diagnostics {
        let name = file.rsplit('/').next().unwrap_or(file);
        let kind = if name.starts_with("threads-") {
            "thread dump"
        } else if name.starts_with("gc.log") {
            "GC log"
        } else {
            "file"
        };
        let _ = write!(
            h,
            "<li>{kind}: <a href=\"{f}\">{f}</a></li>",
            f = escape(file)
        );
    }
    h.push_str("</ul></section>");
    h
}

/// A test's own page (see the module docs), from its `summary.json` at `summary_path`.
pub fn test_page(run_dir: &Path, summary_path: &Path, summary: &Value) -> String {
    let dir = summary_path.parent().unwrap_or(run_dir);
    let depth = rel_dir(run_dir, summary_path).components().count();
    let up = "../".repeat(depth);
    let name = summary["test"].as_str().unwrap_or("?");
    let status = summary["status"].as_str().unwrap_or("?");
    let events = data::read_events(&dir.join("events.jsonl"));
    let mut h = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>{n}</title><style>{STYLE}</style>\
         <p><a href=\"{up}report.html\">run report</a> · <a href=\"test.log\">test.log</a> · \
         <a href=\"events.jsonl\">events.jsonl</a> · <a href=\"summary.json\">summary.json</a></p>\
         <h1>{n}</h1>",
        n = escape(name),
    );
    if let Some(kafka) = data::kafka_under_test(summary) {
        let _ = write!(
            h,
            "<p id=\"kafka\">Kafka under test: {}</p>",
            escape(&kafka)
        );
    }
    let typed = serde_json::from_value::<data::Summary>(summary.clone());
    if let Ok(s) = &typed {
        h.push_str(&why(s, dir, &events));
        h.push_str(&diagnostics(s));
    }
    let _ = write!(
        h,
        "<p>status <b class=\"{status}\">{status}</b> in {} s: bring-up {} s, workload {} s, teardown {} s</p>",
        secs(&summary["duration_secs"]),
        secs(&summary["phases"]["bring_up_secs"]),
        secs(&summary["phases"]["workload_secs"]),
        secs(&summary["phases"]["teardown_secs"]),
    );
    match &typed {
        Ok(s) if matches!(s.status.as_str(), "fail" | "timeout" | "error") => {}
        _ => {
            if let Some(m) = summary["message"].as_str() {
                let _ = write!(h, "<pre>{}</pre>", escape(m));
            }
        }
    }
    match &typed {
        Ok(s) => {
            let input = PlotInput::new(s, &events, dir);
            for plot in PLOTS {
                let Some(chart) = (plot.chart)(&input) else {
                    continue;
                };
                match input.draw(&chart) {
                    Ok(svg) => {
                        let _ = write!(
                            h,
                            "<figure class=\"plot\" id=\"plot-{}\">{svg}</figure>",
                            plot.name
                        );
                    }
                    Err(e) => {
                        let _ = write!(h, "<p class=\"error\">{}</p>", escape(&e.to_string()));
                    }
                }
            }
        }
        Err(e) => {
            let _ = write!(
                h,
                "<p class=\"error\">summary.json does not follow the data contract, no plots: {}</p>",
                escape(&e.to_string())
            );
        }
    }
    h.push_str(
        "<h2>Events</h2><table id=\"events\"><tr><th>s</th><th>event</th><th>detail</th></tr>",
    );
    let t0 = events.first().and_then(data::event_time);
    for e in &events {
        let (Some(t0), Some(t)) = (t0, data::event_time(e)) else {
            continue;
        };
        let kind = e["event"].as_str().unwrap_or("?");
        let detail: Vec<String> = e
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !["ts", "event", "dir", "nodes_json"].contains(&k.as_str()))
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                v => format!("{k}={v}"),
            })
            .collect();
        let _ = write!(
            h,
            "<tr><td class=\"num\">{:.2}</td><td>{}</td><td>{}</td></tr>",
            (t - t0).num_milliseconds() as f64 / 1000.0,
            escape(kind),
            escape(&detail.join(" "))
        );
    }
    h.push_str("</table>");
    let numbers = metrics::of_summary(summary);
    if !numbers.is_empty() {
        h.push_str("<h2>Numbers</h2><table id=\"numbers\"><tr><th>number</th><th>value</th><th>unit</th></tr>");
        for (k, v) in &numbers {
            let short = k.split_once(' ').map_or(k.as_str(), |(_, rest)| rest);
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                escape(short),
                fmt_num(*v),
                metrics::unit_of(k).0
            );
        }
        h.push_str("</table>");
    }
    let problems = summary["teardown_problems"]
        .as_array()
        .filter(|p| !p.is_empty());
    if let Some(problems) = problems {
        h.push_str("<h2>Teardown problems</h2><ul>");
        for p in problems {
            let _ = write!(h, "<li>{}</li>", escape(p.as_str().unwrap_or("?")));
        }
        h.push_str("</ul>");
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A run directory with one test `t` of `summary`, `events` and `log` lines; returns the
    /// test's page and the run report.
    fn pages(summary: Value, events: &[Value], log: &str) -> (String, String) {
        let run = tempfile::tempdir().unwrap();
        let dir = run.path().join("t");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("summary.json"), summary.to_string()).unwrap();
        let lines: Vec<String> = events.iter().map(Value::to_string).collect();
        std::fs::write(dir.join("events.jsonl"), lines.join("\n")).unwrap();
        std::fs::write(dir.join("test.log"), log).unwrap();
        crate::report::write_all(run.path(), None).unwrap();
        (
            std::fs::read_to_string(dir.join("report.html")).unwrap(),
            std::fs::read_to_string(run.path().join("report.html")).unwrap(),
        )
    }

    fn ev(secs: u32, e: Value) -> Value {
        let mut e = e;
        e["ts"] = format!("2026-01-01T00:00:{secs:02}Z").into();
        e
    }

    /// The points of every data line in `svg`: `<polyline>`s drawn 2 wide (axes and ticks
    /// are 1 wide), of three points or more (the legend's sample has two).
    fn polylines(svg: &str) -> Vec<Vec<(f64, f64)>> {
        svg.split("<polyline")
            .skip(1)
            .filter(|p| {
                p.split("/>")
                    .next()
                    .is_some_and(|p| p.contains("stroke-width=\"2\""))
            })
            .filter_map(|p| {
                let pts = p.split("points=\"").nth(1)?.split('"').next()?;
                Some(
                    pts.split_whitespace()
                        .filter_map(|xy| {
                            let (x, y) = xy.split_once(',')?;
                            Some((x.parse().ok()?, y.parse().ok()?))
                        })
                        .collect::<Vec<(f64, f64)>>(),
                )
            })
            .filter(|l| l.len() > 2)
            .collect()
    }

    fn figure<'a>(page: &'a str, name: &str) -> &'a str {
        let start = page
            .find(&format!("id=\"plot-{name}\""))
            .unwrap_or_else(|| panic!("no plot {name}: {page}"));
        let end = page[start..].find("</figure>").unwrap() + start;
        &page[start..end]
    }

    #[test]
    fn a_stall_in_the_delivery_counts_draws_flat_then_a_jump_never_a_slope() {
        // Acknowledgements stall for 26 s (no change, so no point), then arrive in a burst.
        let t0 = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .timestamp_millis();
        let point = |s: i64, acked: u64, consumed: u64| json!({"ts_ms": t0 + s * 1000, "acked": acked, "consumed": consumed});
        let summary = json!({"format": 2, "test": "t", "status": "pass", "message": null,
            "started": "2026-01-01T00:00:00Z", "duration_secs": 50.0, "services": [],
            "results": {"delivery": {"acked": 1000, "consumed": 1000, "lost_acknowledged": 0,
                "duplicated": 0, "delivery_timeline": [
                    point(9, 90, 80), point(10, 100, 100), point(36, 1000, 1000)]}}});
        let (page, _) = pages(summary, &[ev(0, json!({"event": "test_started"}))], "");
        let lines = polylines(figure(&page, "delivery"));
        assert_eq!(lines.len(), 2, "acked and consumed: {lines:?}");
        for line in &lines {
            let slopes: Vec<_> = line
                .windows(2)
                .filter(|w| w[0].0 != w[1].0 && w[0].1 != w[1].1)
                .collect();
            assert!(
                slopes.is_empty(),
                "a count drawn as a slope: {slopes:?} in {line:?}"
            );
            // Flat across the stall: the longest horizontal run is the 26 s, not 1 s.
            let widest = line
                .windows(2)
                .filter(|w| w[0].1 == w[1].1)
                .map(|w| w[1].0 - w[0].0)
                .fold(0.0, f64::max);
            let first_second = line[2].0 - line[0].0;
            assert!(widest > 20.0 * first_second, "{line:?}");
        }
    }

    #[test]
    fn a_failed_tests_page_opens_with_why_and_the_log_before_teardown() {
        let summary = json!({"format": 2, "test": "t", "status": "fail",
            "message": "panicked at ducttape-tests/tests/loss.rs:405:66:\ntimed out after 119 s waiting until the consumer has read as far as the producers got",
            "started": "2026-01-01T00:00:00Z", "duration_secs": 130.0, "services": [],
            "results": {}});
        let log = "2026-01-01T00:00:01Z INFO producer started\n\
                   2026-01-01T00:01:58Z DEBUG ssh node=w1 command=while :; do\n  sleep 1\ndone\n\
                   2026-01-01T00:01:59Z WARN consumer stuck at offset 17\n\
                   2026-01-01T00:02:00Z INFO ducttape_core::context: teardown\n\
                   2026-01-01T00:02:05Z INFO stopping kafka\n";
        let events = [
            ev(0, json!({"event": "test_started"})),
            ev(
                5,
                json!({"event": "fault_start", "fault": "partition", "nodes": "w1", "detail": "w1 from w2"}),
            ),
            ev(31, json!({"event": "fault_heal", "nodes": "w1"})),
            json!({"ts": "2026-01-01T00:02:00.000300Z", "event": "teardown_started"}),
        ];
        let (page, run) = pages(summary, &events, log);
        let why = page.find("id=\"why\"").expect("a why section");
        let first_plot = page.find("<figure").unwrap_or(page.len());
        let status = page.find("status <b").unwrap();
        assert!(why < first_plot && why < status, "why comes first: {page}");
        let section = &page[why..page[why..].find("</section>").unwrap() + why];
        assert!(
            section.contains("timed out after 119 s waiting until the consumer"),
            "{section}"
        );
        assert!(
            section.contains("<code>ducttape-tests/tests/loss.rs:405:66</code>"),
            "{section}"
        );
        assert!(section.contains("consumer stuck at offset 17"), "{section}");
        assert!(
            !section.contains("stopping kafka"),
            "teardown is not why: {section}"
        );
        assert!(
            run.contains("timed out after 119 s waiting until the consumer has read as far as the producers got (at ducttape-tests/tests/loss.rs:405:66)"),
            "{run}"
        );
        // The fault is drawn as what it is, a window; no empty plot beside it.
        assert!(figure(&page, "windows").contains("partition w1"), "{page}");
        assert_eq!(page.matches("<figure").count(), 1, "{page}");
    }

    #[test]
    fn a_failed_tests_page_links_its_thread_dumps_and_gc_logs() {
        let summary = json!({"format": 2, "test": "t", "status": "timeout", "message": null,
            "started": "2026-01-01T00:00:00Z", "duration_secs": 30.0, "services": [],
            "results": {}, "diagnostics": [
                "kafka/worker1/threads-4242.txt",
                "kafka/worker1/jvm/gc.log",
                "kafka/worker1/jvm/gc.log.0"]});
        let (page, _) = pages(summary, &[ev(0, json!({"event": "test_started"}))], "");
        let start = page
            .find("id=\"diagnostics\"")
            .expect("a diagnostics section");
        assert!(
            page.find("id=\"why\"").unwrap() < start,
            "why first: {page}"
        );
        let section = &page[start..page[start..].find("</section>").unwrap() + start];
        for (kind, file) in [
            ("thread dump", "kafka/worker1/threads-4242.txt"),
            ("GC log", "kafka/worker1/jvm/gc.log"),
            ("GC log", "kafka/worker1/jvm/gc.log.0"),
        ] {
            assert!(
                section.contains(&format!("<li>{kind}: <a href=\"{file}\">{file}</a></li>")),
                "{section}"
            );
        }
        // A test without diagnostics has no such section.
        let passed = json!({"format": 2, "test": "t", "status": "pass", "message": null,
            "started": "2026-01-01T00:00:00Z", "duration_secs": 3.0, "services": [],
            "results": {}});
        let (page, _) = pages(passed, &[ev(0, json!({"event": "test_started"}))], "");
        assert!(!page.contains("diagnostics"), "{page}");
    }

    #[test]
    fn no_plot_is_drawn_without_data() {
        let summary = json!({"format": 2, "test": "t", "status": "fail", "message": null,
            "started": "2026-01-01T00:00:00Z", "duration_secs": 12.0,
            "services": [{"name": "kafka", "results": null}], "results": {}});
        let events = [
            ev(0, json!({"event": "test_started"})),
            ev(3, json!({"event": "service_ready", "service": "kafka"})),
            ev(10, json!({"event": "teardown_started"})),
            ev(12, json!({"event": "test_finished"})),
        ];
        let (page, _) = pages(summary, &events, "no log worth showing\n");
        assert!(!page.contains("<figure"), "a plot without data: {page}");
        assert!(!page.contains("<svg"), "{page}");
        assert!(page.contains("no panic message was caught"), "{page}");
    }
}
