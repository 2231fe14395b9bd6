//! `ducttape-report compare` on result trees written by real test contexts: a real regression
//! is flagged (exit 1), noise within the band is not (exit 0), baselines keep repeats and take
//! their spread as the band, and bad inputs get a message and exit 2 — never a panic or an
//! empty table. What got worse beyond numbers is flagged too, and listed first: a test that
//! passed and now fails, errs or is skipped (its early end's shorter duration not counted as
//! better), a number the new run no longer has, a test the new run lacks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use ducttape_core::context::{Teardown, TeardownError};
use ducttape_core::TestContext;
use futures::future::BoxFuture;
use serde_json::{json, Value};

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

/// How a test of [`run_of`] ends.
#[derive(Clone, Copy)]
enum Ending {
    /// It passes, after this long.
    Pass(Duration),
    /// It panics (status `fail`) at once, after recording its numbers.
    Fail,
    /// Its teardown fails (status `error`; `finish` then panics, as it does in a test).
    Error,
    /// It calls `ctx.skip` (status `skipped`).
    Skip,
}

/// A service whose stop fails: the test's teardown fails with it.
struct WontStop;

impl Teardown for WontStop {
    fn name(&self) -> String {
        "wont-stop".into()
    }
    fn stop(self: Arc<Self>) -> BoxFuture<'static, Result<(), TeardownError>> {
        Box::pin(async { Err(TeardownError::new("still running")) })
    }
    fn collect_logs(
        self: Arc<Self>,
        _: PathBuf,
        _: bool,
    ) -> BoxFuture<'static, Result<(), TeardownError>> {
        Box::pin(async { Ok(()) })
    }
    fn clean(self: Arc<Self>) -> BoxFuture<'static, Result<(), TeardownError>> {
        Box::pin(async { Ok(()) })
    }
}

/// Writes one run under a fresh results root, each test `(name, ending, recorded producer
/// numbers)` run by a real context on a thread of its own, as libtest runs it; returns (root,
/// run dir).
fn run_of(tests: &[(&'static str, Ending, Value)]) -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let mut run = None;
    for (name, ending, numbers) in tests.iter().cloned() {
        let root = root.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let ctx = TestContext::builder(name)
                .results_root(&root)
                .build()
                .unwrap();
            tx.send(ctx.results_dir().to_path_buf()).unwrap();
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    ctx.record("producer", numbers);
                    match ending {
                        Ending::Pass(d) => tokio::time::sleep(d).await,
                        Ending::Fail => panic!("{name} fails on purpose"),
                        Ending::Error => {
                            ctx.register(Arc::new(WontStop));
                        }
                        Ending::Skip => ctx.skip("cannot run here"),
                    }
                    ctx.finish().await;
                });
        });
        // A test fails by panicking; a failed teardown panics when the context finishes.
        let panicked = thread.join().is_err();
        assert_eq!(
            panicked,
            matches!(ending, Ending::Fail | Ending::Error),
            "{name}"
        );
        let dir = rx.recv().unwrap();
        let status = serde_json::from_str::<Value>(
            &std::fs::read_to_string(dir.join("summary.json")).unwrap(),
        )
        .unwrap()["status"]
            .clone();
        let want = match ending {
            Ending::Pass(_) => "pass",
            Ending::Fail => "fail",
            Ending::Error => "error",
            Ending::Skip => "skipped",
        };
        assert_eq!(status, want, "{name}");
        run = Some(dir.ancestors().nth(2).unwrap().to_path_buf());
    }
    (root, run.unwrap())
}

/// The lines of `compare` between its `new:` header and the first table of numbers.
fn head_of(t: &str) -> Vec<&str> {
    t.lines()
        .skip_while(|l| !l.starts_with("new:"))
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .collect()
}

#[tokio::test]
async fn a_test_that_passed_and_now_does_not_is_a_regression_listed_first() {
    let produce = json!({"records_per_sec": 1000.0, "p99_ms": 5.0});
    // The old run passed after 1.2 s; a failure at once is 1.2 s shorter, beyond the 1 s and
    // 10 % a duration must move, and its latency "better".
    let (_a, old) = run_of(&[(
        "bench::produce",
        Ending::Pass(Duration::from_millis(1200)),
        produce.clone(),
    )]);
    let store = tempfile::tempdir().unwrap();
    let out = report(
        &["compare", "--save-baseline", "main", old.to_str().unwrap()],
        store.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("1 test statuses"), "{}", text(&out));

    let early = json!({"records_per_sec": 1000.0, "p99_ms": 1.0});
    for (ending, status) in [
        (Ending::Fail, "fail"),
        (Ending::Error, "error"),
        (Ending::Skip, "skipped"),
    ] {
        let (_b, new) = run_of(&[("bench::produce", ending, early.clone())]);
        for args in [
            vec!["compare", old.to_str().unwrap(), new.to_str().unwrap()],
            vec!["compare", "--baseline", "main", new.to_str().unwrap()],
        ] {
            let out = report(&args, store.path());
            let t = text(&out);
            assert_eq!(out.status.code(), Some(1), "pass -> {status}: {t}");
            let head = head_of(&t);
            let first = head[1];
            assert!(
                first.starts_with("bench::produce")
                    && first.contains(" pass ")
                    && first.contains(&format!(" {status} "))
                    && first.ends_with("REGRESSION"),
                "the status first: {t}"
            );
            // Its numbers are shown but not judged: shorter is not faster when it failed.
            let duration = t
                .lines()
                .find(|l| l.starts_with("bench::produce duration_secs"))
                .unwrap_or_else(|| panic!("{t}"));
            assert!(duration.ends_with("not judged"), "{duration}");
            assert!(
                !t.lines().any(|l| l.ends_with("better")),
                "nothing of a failed test is better: {t}"
            );
            assert!(t.contains("tests: 1 got worse"), "{t}");
        }
    }
    // The same test passing again: no regression.
    let (_c, again) = run_of(&[(
        "bench::produce",
        Ending::Pass(Duration::from_millis(1200)),
        produce,
    )]);
    let out = report(
        &["compare", old.to_str().unwrap(), again.to_str().unwrap()],
        store.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("tests: 0 got worse"), "{}", text(&out));
}

#[tokio::test]
async fn a_number_the_new_run_lacks_is_a_regression() {
    let pass = Ending::Pass(Duration::ZERO);
    let (_a, old) = run_of(&[(
        "bench::produce",
        pass,
        json!({"records_per_sec": 1000.0, "p99_ms": 5.0}),
    )]);
    // The same test, passing, with the same throughput: its p99 no longer recorded.
    let (_b, new) = run_of(&[("bench::produce", pass, json!({"records_per_sec": 1000.0}))]);
    let out = report(
        &["compare", old.to_str().unwrap(), new.to_str().unwrap()],
        Path::new("/nonexistent"),
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    let head = head_of(&t);
    assert!(
        head[0].starts_with("number missing from the new run"),
        "listed first: {t}"
    );
    assert!(
        head[1].starts_with("bench::produce results.producer.p99_ms")
            && head[1].contains(" 5 ")
            && head[1].ends_with("REGRESSION"),
        "{t}"
    );
    assert!(t.contains("1 numbers missing"), "{t}");
    // The other way round a new number is just new, not a regression.
    let out = report(
        &["compare", new.to_str().unwrap(), old.to_str().unwrap()],
        Path::new("/nonexistent"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[tokio::test]
async fn a_test_the_new_run_lacks_is_reported() {
    let pass = Ending::Pass(Duration::ZERO);
    let rate = json!({"records_per_sec": 1000.0});
    let (_a, old) = run_of(&[
        ("suite::kept", pass, rate.clone()),
        ("suite::gone", pass, rate.clone()),
    ]);
    let (_b, new) = run_of(&[("suite::kept", pass, rate)]);
    let (old_s, new_s) = (old.to_str().unwrap(), new.to_str().unwrap());
    let out = report(&["compare", old_s, new_s], Path::new("/nonexistent"));
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    let head = head_of(&t);
    assert!(
        head[1].starts_with("suite::gone")
            && head[1].contains(" pass ")
            && head[1].ends_with("MISSING from the new run"),
        "{t}"
    );
    assert!(t.contains("1 missing from the new run"), "{t}");
    // A run of some tests on purpose: still listed, no regression.
    let out = report(
        &["compare", "--subset", old_s, new_s],
        Path::new("/nonexistent"),
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.lines()
            .any(|l| l.starts_with("suite::gone") && l.ends_with("not in this run")),
        "{t}"
    );
}
