//! The test context: results layout, summary, and teardown on panic and on timeout.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test

mod common;

use std::path::PathBuf;
use std::time::Duration;

use ducttape_core::cluster::Cluster;
use ducttape_core::TestContext;
use serial_test::serial;

fn summary(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

/// Runs `body` as a test would: on a thread of its own with its own runtime; returns whether
/// it panicked and its results directory.
fn run_as_test<F>(name: &'static str, body: F) -> (bool, PathBuf)
where
    F: FnOnce(TestContext) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>
        + Send
        + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let ctx = TestContext::for_current_test().unwrap();
            tx.send(ctx.results_dir().to_path_buf()).unwrap();
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(body(ctx));
        })
        .unwrap();
    let panicked = handle.join().is_err();
    (panicked, rx.recv().unwrap())
}

async fn sleeps_left(pattern: &str) -> String {
    let cluster = Cluster::global().unwrap();
    let lease = cluster.lease(cluster.specs().len()).await.unwrap();
    let mut out = String::new();
    for node in lease.nodes() {
        out += &node
            .account()
            .ssh_output(&format!("pgrep -af '{pattern}' || true"))
            .await
            .unwrap();
    }
    lease.release().await;
    out
}

#[tokio::test]
#[serial(context)]
async fn passing_test_writes_results() {
    let ctx = common::ctx();
    let dir = ctx.results_dir().to_path_buf();
    assert!(
        dir.ends_with("passing_test_writes_results"),
        "{}",
        dir.display()
    );
    let nodes = ctx.lease(1).await.unwrap();
    tracing::info!(node = nodes[0].name(), "hello from the test body");
    ctx.record("answer", 42);
    ctx.finish().await;

    let s = summary(&dir);
    assert_eq!(s["status"], "pass");
    assert_eq!(s["results"]["answer"], 42);
    let log = std::fs::read_to_string(dir.join("test.log")).unwrap();
    assert!(log.contains("hello from the test body"), "{log}");
    assert!(log.contains("leased"), "{log}");
    let latest = dir.parent().unwrap().parent().unwrap().join("latest");
    assert_eq!(
        std::fs::canonicalize(latest).unwrap(),
        std::fs::canonicalize(dir.parent().unwrap()).unwrap()
    );
}

#[tokio::test]
#[serial(context)]
async fn panicking_test_leaves_no_process_behind() {
    let (panicked, dir) = run_as_test("context::inner_panicking", |ctx| {
        Box::pin(async move {
            let nodes = ctx.lease(2).await.unwrap();
            for n in &nodes {
                n.account()
                    .spawn("sleep 5151", "/tmp/p.log", "/tmp/p.pid")
                    .await
                    .unwrap();
            }
            panic!("deliberate failure");
        })
    });
    assert!(panicked);
    assert_eq!(summary(&dir)["status"], "fail");
    assert_eq!(sleeps_left("[s]leep 5151").await.trim(), "");
}

#[tokio::test]
#[serial(context)]
async fn timed_out_test_is_torn_down_and_fails() {
    let (panicked, dir) = run_as_test("context::inner_timeout", |_| {
        Box::pin(async move {
            let ctx =
                TestContext::with_timeout("context::inner_timeout_ctx", Duration::from_secs(2))
                    .unwrap();
            let nodes = ctx.lease(1).await.unwrap();
            nodes[0]
                .account()
                .spawn("sleep 5252", "/tmp/t.log", "/tmp/t.pid")
                .await
                .unwrap();
            // Runs past the timeout; teardown happens meanwhile.
            tokio::time::sleep(Duration::from_secs(5)).await;
            let _ = dir_of(&ctx);
        })
    });
    assert!(panicked, "a test past its timeout fails");
    let timeout_dir = dir.parent().unwrap().join("inner_timeout_ctx");
    assert_eq!(summary(&timeout_dir)["status"], "timeout");
    assert_eq!(sleeps_left("[s]leep 5252").await.trim(), "");
}

fn dir_of(ctx: &TestContext) -> PathBuf {
    ctx.results_dir().to_path_buf()
}

#[tokio::test]
#[serial(context)]
async fn the_run_report_lists_finished_tests() {
    let ctx = common::ctx();
    let dir = ctx.results_dir().to_path_buf();
    ctx.record("answer", 7);
    ctx.finish().await;
    let run = dir.parent().unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap()).unwrap();
    let tests = report["tests"].as_array().unwrap();
    assert!(
        tests
            .iter()
            .any(|t| t["test"] == "the_run_report_lists_finished_tests" && t["status"] == "pass"),
        "{report}"
    );
    let junit = std::fs::read_to_string(run.join("junit.xml")).unwrap();
    assert!(
        junit.contains("name=\"the_run_report_lists_finished_tests\""),
        "{junit}"
    );
    assert!(run.join("report.html").exists());
}
