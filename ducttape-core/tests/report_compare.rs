//! `ducttape-report compare` on result trees written by real test contexts: a real regression
//! is flagged (exit 1), noise within the band is not (exit 0), baselines keep repeats and take
//! their spread as the band, and bad inputs get a message and exit 2 — never a panic or an
//! empty table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ducttape_core::TestContext;
use serde_json::json;

/// Writes a run under a fresh results root whose test `name` recorded `rate` records/s and a
/// p99 of `p99` ms; returns (root, run dir).
async fn run_with(name: &str, rate: f64, p99: f64) -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let ctx = TestContext::builder(name)
        .results_root(root.path())
        .build()
        .unwrap();
    // `<root>/<run-id>/<a>/<b>` for test `a::b`.
    let run = ctx.results_dir().ancestors().nth(2).unwrap().to_path_buf();
    assert_eq!(run.parent(), Some(root.path()));
    ctx.record(
        "producer",
        json!({"records_per_sec": rate, "p99_ms": p99, "records": 1000}),
    );
    ctx.finish().await;
    (root, run)
}

fn report(args: &[&str], results: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ducttape-report"))
        .args(args)
        .arg("--results")
        .arg(results)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test]
async fn a_real_regression_is_flagged_and_noise_is_not() {
    let (_a, old) = run_with("bench::produce", 1000.0, 5.0).await;
    let (_b, slow) = run_with("bench::produce", 400.0, 5.0).await;
    let (_c, noisy) = run_with("bench::produce", 960.0, 5.2).await;
    let old_s = old.to_str().unwrap();

    let out = report(
        &["compare", old_s, slow.to_str().unwrap()],
        Path::new("/nonexistent"),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    let line = t
        .lines()
        .find(|l| l.contains("results.producer.records_per_sec"))
        .unwrap_or_else(|| panic!("{t}"));
    assert!(
        line.contains("1000")
            && line.contains("400")
            && line.contains("-60.0%")
            && line.contains("REGRESSION"),
        "{line}"
    );
    assert!(t.contains("1 regressed"), "{t}");
    // Latency unchanged, records a count: never a regression.
    assert!(
        !t.lines()
            .any(|l| l.contains("p99_ms") && l.contains("REGRESSION")),
        "{t}"
    );

    let out = report(
        &["compare", old_s, noisy.to_str().unwrap()],
        Path::new("/nonexistent"),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "-4 % and +4 % are within 10 %: {}",
        text(&out)
    );
    assert!(text(&out).contains("0 regressed"), "{}", text(&out));
    // A tighter band given on the command line makes the same change a regression.
    let out = report(
        &["compare", "--noise", "2", old_s, noisy.to_str().unwrap()],
        Path::new("/nonexistent"),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

#[tokio::test]
async fn a_baseline_keeps_repeats_and_takes_their_spread_as_the_band() {
    let store = tempfile::tempdir().unwrap();
    let mut keep = Vec::new();
    for rate in [900.0, 1000.0, 1100.0] {
        let (root, run) = run_with("bench::produce", rate, 5.0).await;
        let out = report(
            &["compare", "--save-baseline", "main", run.to_str().unwrap()],
            store.path(),
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        keep.push(root);
    }
    // Spread: sd 100 on 1000, band 30 %. -25 % is noise for this number, -35 % is not.
    let (_d, within) = run_with("bench::produce", 750.0, 5.0).await;
    let out = report(
        &["compare", "--baseline", "main", within.to_str().unwrap()],
        store.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("30.0%"), "{}", text(&out));
    let (_e, beyond) = run_with("bench::produce", 650.0, 5.0).await;
    let out = report(
        &["compare", "--baseline", "main", beyond.to_str().unwrap()],
        store.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // The HTML report shows the comparison.
    let out = report(
        &["html", beyond.to_str().unwrap(), "--baseline", "main"],
        store.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let html = std::fs::read_to_string(beyond.join("report.html")).unwrap();
    assert!(
        html.contains("Compared with baseline main") && html.contains("REGRESSION"),
        "{html}"
    );
}

#[tokio::test]
async fn bad_inputs_get_a_message_and_exit_2() {
    let (root, run) = run_with("bench::produce", 1000.0, 5.0).await;
    let (_o, other) = run_with("other::test", 1000.0, 5.0).await;
    let run_s = run.to_str().unwrap();

    let out = report(&["compare", "no-such-run", run_s], root.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no run \"no-such-run\""),
        "{}",
        text(&out)
    );

    let out = report(&["compare", run_s, other.to_str().unwrap()], root.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no number in common"), "{}", text(&out));

    let out = report(
        &["compare", "--baseline", "never-saved", run_s],
        root.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--save-baseline never-saved"),
        "{}",
        text(&out)
    );

    let empty = tempfile::tempdir().unwrap();
    let out = report(
        &["compare", run_s, empty.path().to_str().unwrap()],
        root.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("holds no summary.json"),
        "{}",
        text(&out)
    );

    // A tree from an older ducttape: its summaries have no `format`.
    let summary = run.join("bench/produce/summary.json");
    let mut s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    s.as_object_mut().unwrap().remove("format");
    std::fs::write(&summary, s.to_string()).unwrap();
    let out = report(&["compare", run_s, run_s], root.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("results format 1"), "{}", text(&out));
}
