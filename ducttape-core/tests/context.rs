//! The test context: results layout, summary, and teardown on panic and on timeout.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test

mod common;

use common::{inner_results_root, run_as_test, summary, Ran};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ducttape_core::cluster::{Cluster, Node};
use ducttape_core::context::{Teardown, TeardownError};
use ducttape_core::TestContext;
use futures::future::BoxFuture;
use serial_test::serial;

async fn sleeps_left(pattern: &str) -> String {
    let cluster = Cluster::global().unwrap();
    let lease = cluster.lease(cluster.specs().len()).await.unwrap();
    let mut out = String::new();
    for node in lease.nodes() {
        out += &common::running(node.account(), pattern).await;
    }
    lease.release().await.unwrap();
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
    let Ran { panic, dir } = run_as_test("context::inner_panicking", |ctx| {
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
    assert!(panic.is_some());
    let s = summary(&dir);
    assert_eq!(s["status"], "fail");
    // Why it failed, with the place: the summary (and the report, JUnit) say so.
    let message = s["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("deliberate failure") && message.contains("context.rs"),
        "{s}"
    );
    assert_eq!(sleeps_left("[s]leep 5151").await.trim(), "");
}

#[tokio::test]
#[serial(context)]
async fn timed_out_test_is_torn_down_and_fails() {
    let Ran { panic, dir } = run_as_test("context::inner_timeout", |_| {
        Box::pin(async move {
            let ctx = TestContext::builder("context::inner_timeout_ctx")
                .timeout(Duration::from_secs(2))
                .results_root(inner_results_root())
                .build()
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
    assert!(panic.is_some(), "a test past its timeout fails");
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

/// A service whose teardown runs real commands on a node, which can fail for real.
struct Broken {
    name: &'static str,
    node: Node,
    stop: &'static str,
    logs: &'static str,
    clean: &'static str,
}

/// A stop that fails: the service's pid file is gone.
const PID_FILE_GONE: &str = "kill -0 \"$(cat /mnt/broken/no-such.pid)\"";
/// A log collection that fails: the log is not there.
const LOG_GONE: &str = "cat /mnt/broken/no-such.log";
/// A clean that fails: rmdir refuses a directory that is not empty.
const DIR_NOT_EMPTY: &str = "mkdir -p /mnt/broken/busy && rmdir /mnt/broken";

impl Broken {
    fn ssh(
        self: Arc<Self>,
        command: &'static str,
    ) -> BoxFuture<'static, Result<(), TeardownError>> {
        Box::pin(async move {
            let account = self.node.account();
            account.ssh(command).await.map_err(TeardownError::new)
        })
    }
}

impl Teardown for Broken {
    fn name(&self) -> String {
        self.name.to_string()
    }

    fn stop(self: Arc<Self>) -> BoxFuture<'static, Result<(), TeardownError>> {
        let command = self.stop;
        self.ssh(command)
    }

    fn collect_logs(
        self: Arc<Self>,
        _dest: PathBuf,
        _all: bool,
    ) -> BoxFuture<'static, Result<(), TeardownError>> {
        let command = self.logs;
        self.ssh(command)
    }

    fn clean(self: Arc<Self>) -> BoxFuture<'static, Result<(), TeardownError>> {
        let command = self.clean;
        self.ssh(command)
    }
}

fn junit_of(test_dir: &Path) -> String {
    let run = test_dir.ancestors().nth(2).unwrap(); // <run>/context/<test>
    std::fs::read_to_string(run.join("junit.xml")).unwrap()
}

#[tokio::test]
#[serial(context)]
async fn failed_teardown_fails_a_passing_test_with_status_error() {
    let Ran { panic, dir } = run_as_test("context::inner_teardown_error", |ctx| {
        Box::pin(async move {
            let nodes = ctx.lease(1).await.unwrap();
            for (name, stop, logs, clean) in [
                ("wont-stop", PID_FILE_GONE, "true", "true"),
                ("no-logs", "true", LOG_GONE, "true"),
                ("wont-clean", "true", "true", DIR_NOT_EMPTY),
            ] {
                ctx.register(Arc::new(Broken {
                    name,
                    node: nodes[0].clone(),
                    stop,
                    logs,
                    clean,
                }));
            }
            // The body passes: only the teardown goes wrong.
        })
    });
    let panic = panic.expect("a failed teardown fails the test");
    assert!(
        panic.contains("teardown failed") && panic.contains("stop wont-stop"),
        "{panic}"
    );
    let s = summary(&dir);
    assert_eq!(s["status"], "error", "{s}");
    let message = s["message"].as_str().unwrap();
    assert!(
        message.contains("stop wont-stop") && message.contains("no-such.pid"),
        "{message}"
    );
    assert!(
        message.contains("logs no-logs") && message.contains("no-such.log"),
        "{message}"
    );
    assert!(
        message.contains("clean wont-clean") && message.contains("rmdir"),
        "{message}"
    );
    assert_eq!(s["teardown_problems"].as_array().unwrap().len(), 3, "{s}");
    let junit = junit_of(&dir);
    assert!(
        junit.contains("name=\"inner_teardown_error\"")
            && junit.contains("<error message=\"teardown failed: stop wont-stop"),
        "{junit}"
    );
}

#[tokio::test]
#[serial(context)]
async fn failed_teardown_of_a_failing_test_keeps_the_original_failure() {
    let Ran { panic, dir } = run_as_test("context::inner_fail_and_teardown_error", |ctx| {
        Box::pin(async move {
            let nodes = ctx.lease(1).await.unwrap();
            ctx.register(Arc::new(Broken {
                name: "wont-stop",
                node: nodes[0].clone(),
                stop: PID_FILE_GONE,
                logs: "true",
                clean: "true",
            }));
            panic!("the original failure");
        })
    });
    assert_eq!(panic.as_deref(), Some("the original failure"));
    let s = summary(&dir);
    assert_eq!(s["status"], "fail", "{s}");
    assert!(
        s["teardown_problems"][0]
            .as_str()
            .unwrap()
            .contains("stop wont-stop"),
        "{s}"
    );
    let junit = junit_of(&dir);
    assert!(junit.contains("<failure message=\"fail\""), "{junit}");
}

#[tokio::test]
#[serial(context)]
async fn skipped_test_is_reported_as_skipped_not_passed() {
    let Ran { panic, dir } = run_as_test("context::inner_skipped", |ctx| {
        Box::pin(async move {
            ctx.skip("needs something this cluster lacks");
        })
    });
    assert_eq!(panic, None);
    let s = summary(&dir);
    assert_eq!(s["status"], "skipped", "{s}");
    assert_eq!(s["message"], "needs something this cluster lacks");
    let junit = junit_of(&dir);
    assert!(
        junit.contains("name=\"inner_skipped\"")
            && junit.contains("<skipped message=\"needs something this cluster lacks\"/>"),
        "{junit}"
    );
}

#[tokio::test]
#[serial(context)]
async fn checks_after_teardown_stay_in_their_tests_row_and_can_fail_it() {
    let Ran { panic, dir } = run_as_test("context::inner_checks_after_teardown", |ctx| {
        Box::pin(async move {
            let nodes = ctx.lease(1).await.unwrap();
            let name = nodes[0].name().to_string();
            let check = ctx.finish_for_checks().await.unwrap();
            // The same node, back from teardown: leased again by the checks.
            let again = check.lease(1).await.unwrap();
            assert_eq!(again[0].name(), name);
            panic!("a check after teardown failed");
        })
    });
    assert!(panic.unwrap().contains("a check after teardown failed"));
    let s = summary(&dir);
    assert_eq!(
        s["status"], "fail",
        "the checks' failure is the test's: {s}"
    );
    assert!(
        s["phases"]["checks_after_teardown_secs"].as_f64().is_some(),
        "{s}"
    );
    assert!(s["phases"]["teardown_secs"].as_f64().is_some(), "{s}");
    // One directory, one row: no `-2`.
    let sibling = PathBuf::from(format!("{}-2", dir.display()));
    assert!(!sibling.exists(), "{}", sibling.display());
    let junit = junit_of(&dir);
    assert_eq!(
        junit.matches("name=\"inner_checks_after_teardown").count(),
        1,
        "{junit}"
    );
    assert!(junit.contains("<failure message=\"fail\""), "{junit}");
    let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let kinds: Vec<&str> = events
        .lines()
        .filter_map(|l| l.split("\"event\":\"").nth(1)?.split('"').next())
        .filter(|k| k.starts_with("test_") || k.starts_with("checks_") || *k == "teardown_started")
        .collect();
    assert_eq!(
        kinds,
        vec![
            "test_started",
            "teardown_started",
            "test_finished",
            "checks_started",
            "teardown_started",
            "test_finished"
        ]
    );
}

/// A service that only writes a log file naming itself when its logs are collected.
struct Named(&'static str, &'static str);

impl Teardown for Named {
    fn name(&self) -> String {
        self.0.to_string()
    }

    fn stop(self: Arc<Self>) -> BoxFuture<'static, Result<(), TeardownError>> {
        Box::pin(async { Ok(()) })
    }

    fn collect_logs(
        self: Arc<Self>,
        dest: PathBuf,
        _all: bool,
    ) -> BoxFuture<'static, Result<(), TeardownError>> {
        Box::pin(async move {
            std::fs::create_dir_all(&dest).map_err(TeardownError::new)?;
            std::fs::write(dest.join("log"), self.1).map_err(TeardownError::new)
        })
    }

    fn clean(self: Arc<Self>) -> BoxFuture<'static, Result<(), TeardownError>> {
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test]
#[serial(context)]
async fn services_of_the_same_name_get_ids_of_their_own() {
    let Ran { panic, dir } = run_as_test("context::inner_same_names", |ctx| {
        Box::pin(async move {
            assert_eq!(ctx.register(Arc::new(Named("kafka", "first"))), "kafka");
            assert_eq!(ctx.register(Arc::new(Named("kafka", "second"))), "kafka-2");
            assert_eq!(
                ctx.register(Arc::new(Named("zookeeper", "zk"))),
                "zookeeper"
            );
        })
    });
    assert_eq!(panic, None);
    let log = |id: &str| std::fs::read_to_string(dir.join(id).join("log")).unwrap();
    assert_eq!(log("kafka"), "first");
    assert_eq!(log("kafka-2"), "second");
    assert_eq!(log("zookeeper"), "zk");
    let names: Vec<String> = summary(&dir)["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["kafka", "kafka-2", "zookeeper"]);
}
