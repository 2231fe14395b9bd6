//! The report as a user sees it: a results tree written by real test contexts, opened in
//! headless Chromium (`chromium --headless --dump-dom`), which must render the run table and
//! the test's plots. Chromium comes from Debian: `DUCTTAPE_CHROMIUM=1 ./build.sh` installs it
//! (CI does); without it this test fails and says so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use ducttape_core::context::Teardown;
use ducttape_core::TestContext;

fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("which").arg(name).output() {
            if out.status.success() {
                return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            }
        }
    }
    panic!(
        "headless Chromium is not installed: run `DUCTTAPE_CHROMIUM=1 ./build.sh` \
         (or `apt-get install -y chromium`); CI installs it"
    );
}

/// The DOM Chromium builds from `page` (no sandbox: tests run as root).
fn dump_dom(page: &Path) -> String {
    let out = Command::new(chromium())
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
    fn stop(self: Arc<Self>) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
    fn collect_logs(
        self: Arc<Self>,
        _: PathBuf,
        _: bool,
    ) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
    fn clean(self: Arc<Self>) -> BoxFuture<'static, Result<(), String>> {
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
    let run_page = dump_dom(&run_dir.join("report.html"));
    assert!(run_page.contains("report::with_a_fault"), "{run_page}");
    assert!(
        run_page.contains("<th>bring-up s</th>"),
        "phases in the run table: {run_page}"
    );

    let page = dump_dom(&dir.join("report.html"));
    let plots = page.matches("<figure class=\"plot\"><svg").count();
    // records/s, MB/s, latency.
    assert_eq!(plots, 3, "{page}");
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
