//! The run report: `report.json`, `junit.xml` and `report.html` of a run directory.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::html::{escape, rel_dir, secs, STYLE};
use super::{compare, data, write_atomically};

/// Rewrites the run report of `run_dir` (test pages are written as each test ends, by
/// [`write_test_page`](super::write_test_page)). When `DUCTTAPE_BASELINE` names a saved
/// baseline (see [`compare`](super::compare)), the report compares the run with it.
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
    let tests = super::attempts::fold(data::summaries(run_dir));
    let count = |s: &str| tests.iter().filter(|(_, v)| v["status"] == s).count();
    let report = json!({
        "run": run_dir.file_name().map(|n| n.to_string_lossy().into_owned()),
        "passed": count("pass"),
        "flaky": count("flaky"),
        "failed": count("fail"),
        "timed_out": count("timeout"),
        "errors": count("error"),
        "skipped": count("skipped"),
        "kafka_under_test": kafka_of_run(&tests),
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

/// Which Kafka the run's tests ran, as the servers reported it (each `kafka` service's
/// `kafka_version`, and `kafka_home_source` for the user's own build): each version or build
/// with how many tests ran it, most first. Empty when no test started Kafka.
fn kafka_of_run(tests: &[(PathBuf, Value)]) -> Vec<(String, usize)> {
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    for (_, summary) in tests {
        let mut in_test = std::collections::BTreeSet::new();
        for service in summary["services"].as_array().into_iter().flatten() {
            let results = &service["results"];
            // A cluster that never started (refused at build, a missing release) reports none.
            let Some(version) = results["kafka_version"].as_str().filter(|v| !v.is_empty()) else {
                continue;
            };
            let name = match results["kafka_home_source"].as_str() {
                Some(source) => format!("{version} (from {source})"),
                None => version.to_string(),
            };
            in_test.insert(name);
        }
        for name in in_test {
            *seen.entry(name).or_default() += 1;
        }
    }
    let mut out: Vec<(String, usize)> = seen.into_iter().collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
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

/// What a test's row says after its numbers: for a test that did not pass, why (the reason
/// and the source place it names), else its message (a skip's reason).
fn row_message(v: &Value) -> String {
    let failed = matches!(v["status"].as_str(), Some("fail" | "timeout" | "error"));
    let reason = serde_json::from_value::<data::Summary>(v.clone())
        .ok()
        .and_then(|s| s.reason());
    match (failed, reason) {
        (true, Some((reason, Some(place)))) => format!("{reason} (at {place})"),
        (true, Some((reason, None))) => reason,
        _ => v["message"].as_str().unwrap_or("").to_string(),
    }
}

fn html(run_dir: &Path, tests: &[(PathBuf, Value)], baseline: Option<Baseline<'_>>) -> String {
    let run = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let count = |s: &str| tests.iter().filter(|(_, v)| v["status"] == s).count();
    let kafka = kafka_of_run(tests)
        .iter()
        .map(|(name, n)| {
            format!(
                "{} ({n} test{})",
                escape(name),
                if *n == 1 { "" } else { "s" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let kafka = if kafka.is_empty() {
        String::new()
    } else {
        format!("<p id=\"kafka\">Kafka under test, as its servers report it: {kafka}</p>")
    };
    let mut h = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>ducttape {run}</title>\
         <style>{STYLE}</style><h1>ducttape run {run}</h1>{kafka}\
         <p id=\"totals\">{} tests: {} passed, {} failed, {} timed out, {} errors, {} skipped</p>\
         <table id=\"tests\"><tr><th>test</th><th>status</th><th>seconds</th><th>bring-up s</th>\
         <th>workload s</th><th>teardown s</th><th>Kafka</th><th></th></tr>",
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
             <td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            escape(&dir.display().to_string()),
            escape(v["test"].as_str().unwrap_or("?")),
            secs(&v["duration_secs"]),
            secs(&v["phases"]["bring_up_secs"]),
            secs(&v["phases"]["workload_secs"]),
            secs(&v["phases"]["teardown_secs"]),
            escape(&data::kafka_under_test(v).unwrap_or_default()),
            escape(&row_message(v))
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
            let services = match status {
                "pass" => json!([{"name": "kafka", "results": {"kafka_version": "4.0.2"}},
                    {"name": "kafka2", "results": {"kafka_version": "4.0.2"}}]),
                "fail" => json!([{"name": "kafka", "results": {"kafka_version": "4.1.0-SNAPSHOT",
                    "kafka_home_source": "/src/kafka"}}]),
                // A cluster refused before it started reports no version: not a Kafka.
                "error" => json!([{"name": "kafka", "results": {"kafka_version": "",
                    "kafka_home_source": "/src/kafka"}}]),
                _ => json!([]),
            };
            let s = json!({"test": name, "status": status, "message": message,
                "duration_secs": 1.5, "results": results, "services": services});
            std::fs::write(d.join("summary.json"), s.to_string()).unwrap();
        }
        super::super::write_all(dir.path(), None).unwrap();
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
        assert_eq!(
            report["kafka_under_test"],
            json!([["4.0.2", 1], ["4.1.0-SNAPSHOT (from /src/kafka)", 1]])
        );
        let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
        assert!(
            html.contains("<a href=\"a/passes/report.html\">a::passes</a>"),
            "{html}"
        );
        assert!(
            html.contains("Kafka under test, as its servers report it: 4.0.2 (1 test), 4.1.0-SNAPSHOT (from /src/kafka) (1 test)"),
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
