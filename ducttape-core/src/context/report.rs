//! The run report: `report.json`, `junit.xml` and `report.html` in `results/<run-id>/`, made
//! from every test's `summary.json` of the run, and each test's own page
//! (`<test dir>/report.html`: phases, plots over time, events, numbers with their units). Rewritten after each test's teardown (each
//! file replaced atomically), so it is complete when the last test ends, whichever binary ran
//! it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::plots::{self, Line};
use super::{compare, metrics};

use serde_json::{json, Value};

/// Every `summary.json` below `run_dir`, sorted by path.
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

fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    let tmp = path.with_extension(format!(
        "tmp-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}

/// Writes the page of the test whose results are in `test_dir` (from its `summary.json`).
pub fn write_test_page(run_dir: &Path, test_dir: &Path) -> std::io::Result<()> {
    let path = test_dir.join("summary.json");
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    write_atomically(
        &test_dir.join("report.html"),
        &test_page(run_dir, &path, &summary),
    )
}

/// Rewrites every test page of `run_dir` and its run report (see [`write_run_report_with`]).
pub fn write_all(run_dir: &Path, baseline: Option<Baseline<'_>>) -> std::io::Result<()> {
    for (path, summary) in summaries(run_dir) {
        if let Some(dir) = path.parent() {
            write_atomically(
                &dir.join("report.html"),
                &test_page(run_dir, &path, &summary),
            )?;
        }
    }
    write_run_report_with(run_dir, baseline)
}

/// Rewrites the run report of `run_dir` (test pages are written as each test ends, by
/// [`write_test_page`]). When `DUCTTAPE_BASELINE` names
/// a saved baseline (see [`compare`](super::compare)), the report compares the run with it.
pub fn write_run_report(run_dir: &Path) -> std::io::Result<()> {
    let name = std::env::var("DUCTTAPE_BASELINE")
        .ok()
        .filter(|s| !s.is_empty());
    let root = run_dir.parent().unwrap_or(run_dir);
    let samples = name.as_deref().map(|n| compare::load_baseline(root, n));
    match (&name, samples) {
        (Some(n), Some(Ok(s))) => write_run_report_with(run_dir, Some((n, &s))),
        (Some(n), Some(Err(e))) => {
            tracing::warn!(baseline = %n, error = %e, "cannot compare the run with its baseline");
            write_run_report_with(run_dir, None)
        }
        _ => write_run_report_with(run_dir, None),
    }
}

/// [`write_run_report`] comparing with `baseline`, if given.
pub fn write_run_report_with(
    run_dir: &Path,
    baseline: Option<Baseline<'_>>,
) -> std::io::Result<()> {
    let tests = super::attempts::fold(summaries(run_dir));
    let count = |s: &str| tests.iter().filter(|(_, v)| v["status"] == s).count();
    let report = json!({
        "run": run_dir.file_name().map(|n| n.to_string_lossy().into_owned()),
        "passed": count("pass"),
        "flaky": count("flaky"),
        "failed": count("fail"),
        "timed_out": count("timeout"),
        "errors": count("error"),
        "skipped": count("skipped"),
        "tests": tests.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
    });
    write_atomically(
        &run_dir.join("report.json"),
        &serde_json::to_string_pretty(&report).unwrap_or_default(),
    )?;
    write_atomically(&run_dir.join("junit.xml"), &junit(&tests))?;
    write_atomically(
        &run_dir.join("report.html"),
        &html(run_dir, &tests, baseline),
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML: a failed or timed-out test gets a `<failure>`, a test whose teardown failed an
/// `<error>` (as JUnit tells a broken assertion from a broken fixture), a skipped one
/// `<skipped/>` with its reason.
fn junit(tests: &[(PathBuf, Value)]) -> String {
    let count = |s: &[&str]| {
        tests
            .iter()
            .filter(|(_, v)| s.iter().any(|s| v["status"] == *s))
            .count()
    };
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"ducttape\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">\n",
        tests.len(),
        count(&["fail", "timeout"]),
        count(&["error"]),
        count(&["skipped"]),
    );
    for (path, v) in tests {
        let name = v["test"].as_str().unwrap_or("?");
        let (class, short) = name.rsplit_once("::").unwrap_or(("ducttape", name));
        let _ = write!(
            x,
            "  <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
            escape(class),
            escape(short),
            v["duration_secs"].as_f64().unwrap_or(0.0)
        );
        let dir = escape(&path.parent().unwrap_or(path).display().to_string());
        match v["status"].as_str() {
            Some("pass") | None => {}
            Some("skipped") => {
                let _ = write!(
                    x,
                    "<skipped message=\"{}\"/>",
                    escape(v["message"].as_str().unwrap_or("skipped"))
                );
            }
            Some("error") => {
                let _ = write!(
                    x,
                    "<error message=\"{}\">see {dir}</error>",
                    escape(v["message"].as_str().unwrap_or("error"))
                );
            }
            Some(status) => {
                let _ = write!(
                    x,
                    "<failure message=\"{}\">see {dir}</failure>",
                    escape(status)
                );
            }
        }
        x.push_str("</testcase>\n");
    }
    x.push_str("</testsuite>\n");
    x
}

/// The baseline a report compares with: its name and samples (see [`compare`](super::compare)).
pub type Baseline<'a> = (&'a str, &'a [compare::Sample]);

fn rel_dir(run_dir: &Path, summary_path: &Path) -> PathBuf {
    summary_path
        .parent()
        .and_then(|p| p.strip_prefix(run_dir).ok())
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn secs(v: &Value) -> String {
    v.as_f64().map(|x| format!("{x:.1}")).unwrap_or_default()
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:1100px}\
td,th{padding:2px 10px;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}\
.pass{color:#1a7f37}.fail,.timeout,.error,.Worse{color:#c62828;font-weight:bold}.skipped{color:#777}\
.Better{color:#1a7f37}pre{background:#f6f8fa;padding:6px}figure{margin:1em 0}";

fn html(run_dir: &Path, tests: &[(PathBuf, Value)], baseline: Option<Baseline<'_>>) -> String {
    let run = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let count = |s: &str| tests.iter().filter(|(_, v)| v["status"] == s).count();
    let mut h = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>ducttape {run}</title>\
         <style>{STYLE}</style><h1>ducttape run {run}</h1>\
         <p id=\"totals\">{} tests: {} passed, {} failed, {} timed out, {} errors, {} skipped</p>\
         <table id=\"tests\"><tr><th>test</th><th>status</th><th>seconds</th><th>bring-up s</th>\
         <th>workload s</th><th>teardown s</th><th></th></tr>",
        tests.len(),
        count("pass"),
        count("fail"),
        count("timeout"),
        count("error"),
        count("skipped"),
        run = escape(&run)
    );
    for (path, v) in tests {
        let status = v["status"].as_str().unwrap_or("?");
        let dir = rel_dir(run_dir, path);
        let _ = write!(
            h,
            "<tr><td><a href=\"{}/report.html\">{}</a></td><td class=\"{status}\">{status}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td>{}</td></tr>",
            escape(&dir.display().to_string()),
            escape(v["test"].as_str().unwrap_or("?")),
            secs(&v["duration_secs"]),
            secs(&v["phases"]["bring_up_secs"]),
            secs(&v["phases"]["workload_secs"]),
            secs(&v["phases"]["teardown_secs"]),
            escape(v["message"].as_str().unwrap_or(""))
        );
    }
    h.push_str("</table>");
    if let Some((name, samples)) = baseline {
        let new = compare::Sample::of_summaries(tests.iter().map(|(_, s)| s));
        let _ = write!(
            h,
            "<h2 id=\"comparison\">Compared with baseline {}</h2>",
            escape(name)
        );
        // The report is rewritten as tests end: tests still to come are not regressions here
        // (`ducttape-report compare` is the gate, and says which are missing).
        match compare::compare(samples, &new, compare::Noise::default(), (name, &run)) {
            Ok(c) => h.push_str(&comparison_tables(&c.of_subset())),
            Err(e) => {
                let _ = write!(h, "<p class=\"error\">{}</p>", escape(&e.to_string()));
            }
        }
    }
    h
}

fn comparison_tables(c: &compare::Comparison) -> String {
    let mut h = format!("<p id=\"comparison-summary\">{}</p>", escape(&c.summary()));
    if !c.tests.is_empty() {
        h.push_str(
            "<table class=\"comparison-tests\"><tr><th>test</th><th>baseline</th>\
             <th>this run</th><th></th></tr>",
        );
        for t in &c.tests {
            let class = if t.verdict.regressed() { "Worse" } else { "" };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td></tr>",
                escape(&t.test),
                escape(t.old.as_deref().unwrap_or("-")),
                escape(t.new.as_deref().unwrap_or("-")),
                t.verdict.as_str()
            );
        }
        h.push_str("</table>");
    }
    if !c.missing.is_empty() {
        h.push_str(
            "<table class=\"comparison-missing\"><tr><th>number missing from this run</th>\
             <th>baseline</th><th>unit</th><th></th></tr>",
        );
        for m in &c.missing {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"Worse\">REGRESSION</td></tr>",
                escape(&m.name),
                compare::fmt_num(m.old),
                m.unit
            );
        }
        h.push_str("</table>");
    }
    h.push_str(&comparison_table(&c.rows));
    h
}

fn comparison_table(rows: &[compare::Row]) -> String {
    let mut h = String::from(
        "<table class=\"comparison\"><tr><th>number</th><th>baseline</th><th>this run</th>\
         <th>unit</th><th>change</th><th>noise band</th><th></th></tr>",
    );
    for r in rows {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{:.1}%</td><td class=\"{:?}\">{}</td></tr>",
            escape(&r.name),
            compare::fmt_num(r.old),
            compare::fmt_num(r.new),
            r.unit,
            compare::fmt_change(r.change),
            r.band * 100.0,
            r.verdict,
            r.verdict.as_str()
        );
    }
    h.push_str("</table>");
    h
}

/// The acknowledged-vs-consumed lines of every delivery timeline a test recorded
/// (`results.<key>.delivery_timeline`: `{"ts_ms", "acked", "consumed"}` points).
pub fn delivery_lines(summary: &Value) -> Vec<Line> {
    let t0 = summary["started"]
        .as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.timestamp_millis() as f64);
    let (Some(t0), Some(results)) = (t0, summary["results"].as_object()) else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    for (key, v) in results {
        let Some(points) = v["delivery_timeline"].as_array() else {
            continue;
        };
        for field in ["acked", "consumed"] {
            let pts: Vec<(f64, f64)> = points
                .iter()
                .filter_map(|p| Some(((p["ts_ms"].as_f64()? - t0) / 1000.0, p[field].as_f64()?)))
                .collect();
            if !pts.is_empty() {
                lines.push(Line {
                    label: format!("{key} {field}"),
                    points: pts,
                });
            }
        }
    }
    lines
}

/// The delivery plot's title, with the lost and duplicated counts of every delivery check.
fn delivery_title(summary: &Value) -> String {
    let counts: Vec<String> = summary["results"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| v.get("delivery_timeline").is_some())
        .map(|(k, v)| {
            format!(
                "{k}: {} lost, {} duplicated",
                v["lost_acknowledged"].as_u64().unwrap_or(0),
                v["duplicated"].as_u64().unwrap_or(0)
            )
        })
        .collect();
    format!("acknowledged vs consumed — {}", counts.join("; "))
}

/// A test's own page: status, phases, plots over time, events, numbers with units.
pub fn test_page(run_dir: &Path, summary_path: &Path, summary: &Value) -> String {
    let dir = summary_path.parent().unwrap_or(run_dir);
    let depth = rel_dir(run_dir, summary_path).components().count();
    let up = "../".repeat(depth);
    let name = summary["test"].as_str().unwrap_or("?");
    let status = summary["status"].as_str().unwrap_or("?");
    let events = super::phases::read_events(&dir.join("events.jsonl"));
    let mut h = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>{n}</title><style>{STYLE}</style>\
         <p><a href=\"{up}report.html\">run report</a> · <a href=\"test.log\">test.log</a> · \
         <a href=\"events.jsonl\">events.jsonl</a> · <a href=\"summary.json\">summary.json</a></p>\
         <h1>{n}</h1><p>status <b class=\"{status}\">{status}</b> in {} s: bring-up {} s, workload {} s, teardown {} s</p>",
        secs(&summary["duration_secs"]),
        secs(&summary["phases"]["bring_up_secs"]),
        secs(&summary["phases"]["workload_secs"]),
        secs(&summary["phases"]["teardown_secs"]),
        n = escape(name),
    );
    if let Some(m) = summary["message"].as_str() {
        let _ = write!(h, "<pre>{}</pre>", escape(m));
    }
    let (spans, marks) = plots::spans_and_marks(&events);
    let series = plots::worker_series(summary);
    let x_max = summary["duration_secs"].as_f64().unwrap_or(1.0);
    let mut latency = plots::lines_of(&series, "avg", |w| w.avg_ms);
    latency.extend(plots::lines_of(&series, "p99", |w| w.p99_ms));
    latency.extend(plots::lines_of(&series, "max", |w| w.max_ms));
    let delivery = delivery_title(summary);
    let charts = [
        (
            "throughput",
            "records/s",
            plots::lines_of(&series, "", |w| Some(w.records_per_sec)),
        ),
        (
            "throughput",
            "MB/s",
            plots::lines_of(&series, "", |w| Some(w.mb_per_sec)),
        ),
        ("latency", "ms", latency),
        (delivery.as_str(), "records", delivery_lines(summary)),
    ];
    let mut drew = false;
    for (title, unit, lines) in charts {
        if lines.is_empty() {
            continue;
        }
        match plots::svg_plot(
            &format!("{title} ({unit})"),
            unit,
            &lines,
            &spans,
            &marks,
            x_max,
        ) {
            Ok(svg) => {
                drew = true;
                let _ = write!(h, "<figure class=\"plot\">{svg}</figure>");
            }
            Err(e) => {
                let _ = write!(h, "<p class=\"error\">{}</p>", escape(&e));
            }
        }
    }
    if !drew && !spans.is_empty() {
        // No worker windows: still show what happened when.
        if let Ok(svg) = plots::svg_plot("events", "", &[], &spans, &marks, x_max) {
            let _ = write!(h, "<figure class=\"plot\">{svg}</figure>");
        }
    }
    h.push_str(
        "<h2>Events</h2><table id=\"events\"><tr><th>s</th><th>event</th><th>detail</th></tr>",
    );
    let t0 = events.first().and_then(super::phases::event_time);
    for e in &events {
        let (Some(t0), Some(t)) = (t0, super::phases::event_time(e)) else {
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
                compare::fmt_num(*v),
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

    #[test]
    fn report_of_two_tests() {
        let dir = tempfile::tempdir().unwrap();
        for (name, status, results) in [
            (
                "a::passes",
                "pass",
                json!({"producer": {"records_per_sec": 1000.0}}),
            ),
            ("a::fails", "fail", json!({})),
            ("a::errs", "error", json!({})),
            ("a::skips", "skipped", json!({})),
        ] {
            let d = dir.path().join(name.replace("::", "/"));
            std::fs::create_dir_all(&d).unwrap();
            let message = match status {
                "error" => Some("teardown failed: stop <svc>: stuck"),
                "skipped" => Some("needs the local cluster"),
                _ => None,
            };
            let s = json!({"test": name, "status": status, "message": message,
                "duration_secs": 1.5, "results": results});
            std::fs::write(d.join("summary.json"), s.to_string()).unwrap();
        }
        write_all(dir.path(), None).unwrap();
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
                .unwrap();
        assert_eq!(
            (
                report["passed"].as_u64(),
                report["failed"].as_u64(),
                report["errors"].as_u64()
            ),
            (Some(1), Some(1), Some(1))
        );
        let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
        assert!(
            junit.contains("tests=\"4\" failures=\"1\" errors=\"1\" skipped=\"1\""),
            "{junit}"
        );
        assert!(
            junit.contains("<testcase classname=\"a\" name=\"fails\""),
            "{junit}"
        );
        assert!(
            junit.contains(
                "name=\"errs\" time=\"1.500\"><error message=\"teardown failed: stop &lt;svc&gt;: stuck\">"
            ),
            "an error, not a failure: {junit}"
        );
        assert!(!junit.contains("<failure message=\"error\""), "{junit}");
        assert!(
            junit.contains(
                "name=\"skips\" time=\"1.500\"><skipped message=\"needs the local cluster\"/>"
            ),
            "{junit}"
        );
        assert_eq!(report["skipped"].as_u64(), Some(1));
        let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
        assert!(
            html.contains("<a href=\"a/passes/report.html\">a::passes</a>"),
            "{html}"
        );
        let page = std::fs::read_to_string(dir.path().join("a/passes/report.html")).unwrap();
        assert!(
            page.contains(
                "producer.records_per_sec</td><td class=\"num\">1000</td><td>records/s</td>"
            ),
            "{page}"
        );
    }
}
