//! The report as a user sees it: a results tree written by real test contexts, opened in
//! headless Chromium (`chromium --headless --dump-dom`), which must render the run table and
//! the test's plots. Chromium comes from Debian and `./build.sh` installs it. A host that
//! cannot have it opts out with `./build.sh --no-chromium` (which leaves [`OPT_OUT_MARKER`])
//! or `DUCTTAPE_CHROMIUM=0`: the test then reports itself `skipped` with the reason, in the
//! run's report. A Chromium missing without an opt-out fails the test, naming `./build.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use ducttape_core::context::{Teardown, TeardownError};
use ducttape_core::TestContext;

/// What `./build.sh --no-chromium` (or `DUCTTAPE_CHROMIUM=0 ./build.sh`) leaves in `/opt`.
const OPT_OUT_MARKER: &str = "/opt/.ducttape-no-chromium";

/// Why the browser test cannot open its pages.
#[derive(Debug, PartialEq)]
enum NoChromium {
    /// The host opted out of Chromium: the test is skipped, with this reason.
    OptedOut(String),
    /// Chromium is missing and nobody said it may be: the test fails with this message.
    Missing(String),
}

/// Where headless Chromium is (`found`), else why not: an opt-out (`marker`, the content of
/// [`OPT_OUT_MARKER`]; `env`, the value of `DUCTTAPE_CHROMIUM`) or a missing install.
fn chromium_or_why(
    found: Option<PathBuf>,
    marker: Option<String>,
    env: Option<String>,
) -> Result<PathBuf, NoChromium> {
    if let Some(path) = found {
        return Ok(path);
    }
    if env.as_deref() == Some("0") {
        return Err(NoChromium::OptedOut(
            "headless Chromium is not installed and DUCTTAPE_CHROMIUM=0 opts out of it: \
             the report is not checked in a browser"
                .into(),
        ));
    }
    if let Some(marker) = marker {
        return Err(NoChromium::OptedOut(format!(
            "headless Chromium is not installed, by choice: {} ({OPT_OUT_MARKER}); \
             the report is not checked in a browser",
            marker.trim()
        )));
    }
    Err(NoChromium::Missing(
        "headless Chromium is not installed: run `./build.sh` (it installs Debian's `chromium`), \
         or opt out with `./build.sh --no-chromium` on a host that cannot have it"
            .into(),
    ))
}

/// This host's Chromium, else why not (see [`chromium_or_why`]).
fn chromium() -> Result<PathBuf, NoChromium> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find_map(|name| {
            let out = Command::new("which").arg(name).output().ok()?;
            out.status
                .success()
                .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        });
    chromium_or_why(
        found,
        std::fs::read_to_string(OPT_OUT_MARKER).ok(),
        std::env::var("DUCTTAPE_CHROMIUM").ok(),
    )
}

#[test]
fn a_missing_chromium_fails_unless_the_host_opted_out() {
    let path = PathBuf::from("/usr/bin/chromium");
    // Installed: it is used, whatever the opt-outs say.
    assert_eq!(
        chromium_or_why(Some(path.clone()), Some("x".into()), Some("0".into())),
        Ok(path)
    );
    // Missing without an opt-out: a failure that says how to install it.
    let Err(NoChromium::Missing(msg)) = chromium_or_why(None, None, None) else {
        panic!("a missing Chromium must fail the test")
    };
    assert!(msg.contains("`./build.sh`"), "{msg}");
    // DUCTTAPE_CHROMIUM=1 (or anything but 0) is no opt-out.
    assert!(matches!(
        chromium_or_why(None, None, Some("1".into())),
        Err(NoChromium::Missing(_))
    ));
    // Opted out: skipped, with the reason.
    let Err(NoChromium::OptedOut(why)) = chromium_or_why(
        None,
        Some("Chromium left out by `./build.sh` (--no-chromium) on 2026-12-07T02:00:00Z\n".into()),
        None,
    ) else {
        panic!("an opt-out must skip the test")
    };
    assert!(
        why.contains("--no-chromium") && why.contains(OPT_OUT_MARKER),
        "{why}"
    );
    assert!(matches!(
        chromium_or_why(None, None, Some("0".into())),
        Err(NoChromium::OptedOut(w)) if w.contains("DUCTTAPE_CHROMIUM=0")
    ));
}

/// The DOM `chromium` builds from `page` (no sandbox: tests run as root).
fn dump_dom(chromium: &Path, page: &Path) -> String {
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--dump-dom",
            &format!("file://{}", page.display()),
        ])
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed on {}: {}",
        page.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A perf worker as the context sees one: two nodes' window lines, with `written_at`.
struct Worker {
    written_at: f64,
}

impl Teardown for Worker {
    fn name(&self) -> String {
        "producer".into()
    }
    fn stop(self: Arc<Self>) -> BoxFuture<'static, Result<(), TeardownError>> {
        Box::pin(async { Ok(()) })
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
    fn results(&self) -> Value {
        let window = |rps: f64| {
            json!({"records": (rps * 0.5) as u64, "records_per_sec": rps, "mb_per_sec": rps / 10_000.0,
                   "avg_latency_ms": 1000.0 / rps, "max_latency_ms": 5000.0 / rps})
        };
        json!({
            "worker1": {"windows": [window(1000.0), window(400.0), window(900.0)], "result": null,
                        "unparsed": [], "written_at": self.written_at},
            "worker2": {"windows": [window(800.0), window(300.0), window(850.0)], "result": null,
                        "unparsed": [], "written_at": self.written_at},
        })
    }
}

#[tokio::test]
async fn a_generated_report_renders_in_chromium_with_its_plots() {
    // This test's own context, in the run's report: where a skip is reported.
    let outer = TestContext::for_current_test().unwrap();
    let chromium = match chromium() {
        Ok(path) => path,
        Err(NoChromium::OptedOut(reason)) => {
            outer.skip(reason);
            return;
        }
        Err(NoChromium::Missing(msg)) => panic!("{msg}"),
    };
    // The report under test: a run of its own, out of this run's report.
    let root = tempfile::tempdir().unwrap();
    let ctx = TestContext::builder("report::with_a_fault")
        .results_root(root.path())
        .build()
        .unwrap();
    let dir = ctx.results_dir().to_path_buf();
    {
        let _in_test = ctx.span().entered();
        ducttape_core::event!("service_starting", service = "kafka", workload = false);
        ducttape_core::event!("service_ready", service = "kafka", workload = false);
        ducttape_core::event!(
            "fault_start",
            fault = "partition",
            nodes = "worker1|worker2",
            detail = "worker1 from worker2"
        );
        ducttape_core::event!("fault_heal", nodes = "worker1", ok = true);
    }
    let now = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
    ctx.register(Arc::new(Worker { written_at: now }));
    ctx.record("producer", json!({"records_per_sec": 700.0, "p99_ms": 3.0}));
    ctx.finish().await;

    let run_dir = dir.parent().unwrap().parent().unwrap();
    let run_page = dump_dom(&chromium, &run_dir.join("report.html"));
    assert!(run_page.contains("report::with_a_fault"), "{run_page}");
    assert!(
        run_page.contains("<th>bring-up s</th>"),
        "phases in the run table: {run_page}"
    );

    let page = dump_dom(&chromium, &dir.join("report.html"));
    let plots = page.matches("<figure class=\"plot\" id=\"plot-").count();
    // records/s, MB/s, latency, and the fault's window.
    assert_eq!(plots, 4, "{page}");
    let windows = page.find("id=\"plot-windows\"").expect("the windows plot");
    assert!(
        page[windows..].contains("partition worker1|worker2"),
        "the fault's window is labelled: {page}"
    );
    // One line per worker in each throughput plot, avg and max per worker in the latency plot,
    // plus the legend's samples.
    assert!(page.matches("<polyline").count() >= 2 + 2 + 4, "{page}");
    assert!(page.contains("fault"), "the partition is drawn: {page}");
    assert!(
        page.contains("records/s") && page.contains("MB/s") && page.contains(">ms<"),
        "units on the axes: {page}"
    );
    assert!(
        page.contains("fault_start") && page.contains("fault=partition"),
        "the events table: {page}"
    );
}
