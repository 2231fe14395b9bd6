//! The run report: `report.json`, `junit.xml` and `report.html` in `results/<run-id>/`, made
//! from every test's `summary.json` of the run. Rewritten after each test's teardown (each
//! file replaced atomically), so it is complete when the last test ends, whichever binary ran
//! it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// Every `summary.json` below `run_dir`, sorted by path.
fn summaries(run_dir: &Path) -> Vec<(PathBuf, Value)> {
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

/// Rewrites the run report of `run_dir`.
pub fn write_run_report(run_dir: &Path) -> std::io::Result<()> {
    let tests = summaries(run_dir);
    let count = |s: &str| tests.iter().filter(|(_, v)| v["status"] == s).count();
    let report = json!({
        "run": run_dir.file_name().map(|n| n.to_string_lossy().into_owned()),
        "passed": count("pass"),
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
    write_atomically(&run_dir.join("report.html"), &html(run_dir, &tests))
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

/// Numbers worth a chart: `records_per_sec` of each recorded result that has one.
fn throughputs(results: &Value) -> Vec<(String, f64)> {
    let Some(map) = results.as_object() else {
        return Vec::new();
    };
    map.iter()
        .filter_map(|(k, v)| Some((k.clone(), v.get("records_per_sec")?.as_f64()?)))
        .collect()
}

fn bar_chart(rows: &[(String, f64)]) -> String {
    let max = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max).max(1.0);
    let height = rows.len() * 22 + 10;
    let mut svg = format!("<svg width=\"720\" height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\" font-family=\"sans-serif\" font-size=\"12\">");
    for (i, (label, value)) in rows.iter().enumerate() {
        let y = i * 22 + 5;
        let w = (value / max * 400.0).max(1.0);
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{}\">{}</text><rect x=\"210\" y=\"{y}\" width=\"{w:.0}\" height=\"16\" fill=\"#4a7ebb\"/><text x=\"{:.0}\" y=\"{}\">{value:.0} rec/s</text>",
            y + 12,
            escape(label),
            215.0 + w,
            y + 12
        );
    }
    svg.push_str("</svg>");
    svg
}

fn html(run_dir: &Path, tests: &[(PathBuf, Value)]) -> String {
    let mut h = format!(
        "<!doctype html><meta charset=\"utf-8\"><title>ducttape {run}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 10px;text-align:left}}\
         .pass{{color:#1a7f37}}.fail,.timeout,.error{{color:#c62828;font-weight:bold}}.skipped{{color:#777}}pre{{background:#f6f8fa;padding:6px}}</style>\
         <h1>ducttape run {run}</h1><table><tr><th>test</th><th>status</th><th>seconds</th><th></th></tr>",
        run = escape(&run_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
    );
    for (_, v) in tests {
        let status = v["status"].as_str().unwrap_or("?");
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"{status}\">{status}</td><td>{:.1}</td><td>{}</td></tr>",
            escape(v["test"].as_str().unwrap_or("?")),
            v["duration_secs"].as_f64().unwrap_or(0.0),
            escape(v["message"].as_str().unwrap_or(""))
        );
    }
    h.push_str("</table>");
    for (path, v) in tests {
        let results = &v["results"];
        if results.as_object().is_none_or(|m| m.is_empty()) {
            continue;
        }
        let dir = path
            .parent()
            .and_then(|p| p.strip_prefix(run_dir).ok())
            .unwrap_or(Path::new(""));
        let _ = write!(
            h,
            "<h2>{}</h2><p><a href=\"{}/test.log\">test.log</a></p>",
            escape(v["test"].as_str().unwrap_or("?")),
            escape(&dir.display().to_string())
        );
        let bars = throughputs(results);
        if !bars.is_empty() {
            h.push_str(&bar_chart(&bars));
        }
        let _ = write!(
            h,
            "<pre>{}</pre>",
            escape(&serde_json::to_string_pretty(results).unwrap_or_default())
        );
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
        write_run_report(dir.path()).unwrap();
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
            html.contains("<svg") && html.contains("1000 rec/s"),
            "{html}"
        );
    }
}
