#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! Teardown, fast and safe: services are killed at once on all their nodes (or stopped
//! gracefully when the test asks for a clean shutdown), their logs collected while earlier
//! services stop; nothing is lost — every node's log is collected, every node cleaned — and a
//! stop that fails on one node still fails the test (status `error`) while the other nodes are
//! stopped and cleaned.
//!
//! The services here are real processes on real nodes (a shell loop with a TERM trap and a
//! stop script of its own, as services like kafka-pixy have), so their stops can fail for real.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ducttape_core::cluster::Cluster;
use ducttape_services::{register, LogFile, ProcessFiles, ResultExt, Service, ServiceError};
use ducttape_tests::{Node, TestContext};
use futures::FutureExt;
use serial_test::serial;

/// A loop that says where it runs, and says so again when SIGTERM ends it.
const PROGRAM: &str = "trap 'echo \"stopped by TERM on $(hostname)\"; exit 0' TERM; \
                       echo \"up on $(hostname)\"; while :; do sleep 0.1; done";

/// Several nodes each running [`PROGRAM`], stopped by a script the service puts beside it.
struct Loops {
    name: String,
    nodes: Vec<Node>,
    files: ProcessFiles,
}

impl Loops {
    fn new(ctx: &TestContext, name: &str, nodes: Vec<Node>) -> Arc<Self> {
        let dir = format!("/mnt/{name}");
        let service = Arc::new(Self {
            files: ProcessFiles::new(name, dir.clone(), format!("{dir}/pid")),
            name: name.to_string(),
            nodes,
        });
        register(ctx, &service);
        service
    }

    fn dir(&self) -> String {
        format!("/mnt/{}", self.name)
    }

    fn stop_script(&self) -> String {
        format!("{}/stop.sh", self.dir())
    }
}

#[async_trait]
impl Service for Loops {
    fn name(&self) -> &str {
        &self.name
    }

    fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    async fn start_node(&self, node: &Node) -> Result<(), ServiceError> {
        let account = node.account();
        let script = format!("kill -s \"$1\" -- \"-$(cat {})\"\n", self.files.pidfile());
        account
            .create_file(&self.stop_script(), script.as_bytes())
            .await
            .ctx(&self.name)?;
        let log = format!("{}/out.log", self.dir());
        account.create_file(&log, b"").await.ctx(&self.name)?;
        let monitor = account.monitor_log(&log).await.ctx(&self.name)?;
        account
            .spawn(PROGRAM, &log, self.files.pidfile())
            .await
            .ctx(&self.name)?;
        monitor
            .wait_until("^up on ", Duration::from_secs(30))
            .await
            .map(drop)
            .map_err(|source| ServiceError::NotReady {
                service: self.name.clone(),
                source: Box::new(source),
            })
    }

    async fn stop_node(&self, node: &Node, clean: bool) -> Result<(), ServiceError> {
        let signal = if clean { "TERM" } else { "KILL" };
        let account = node.account();
        account
            .ssh(&format!("bash {} {signal}", self.stop_script()))
            .await
            .ctx(&self.name)?;
        account
            .wait_exit(self.files.pidfile(), Duration::from_secs(10))
            .await
            .ctx(&self.name)
    }

    async fn clean_node(&self, node: &Node) -> Result<(), ServiceError> {
        self.files.clean(node).await
    }

    async fn pids(&self, node: &Node) -> Result<Vec<u32>, ServiceError> {
        self.files.pids(node).await
    }

    fn logs(&self) -> Vec<LogFile> {
        vec![LogFile::always(
            "out.log",
            &format!("{}/out.log", self.dir()),
        )]
    }
}

/// A context of its own (results out of the run's report), so that its teardown may fail.
fn inner_ctx(name: &str) -> TestContext {
    TestContext::builder(&format!("teardown::{name}"))
        .results_root(std::env::temp_dir().join("ducttape-inner-results"))
        .build()
        .unwrap()
}

/// Tears `ctx` down; returns its results directory and the panic that reported a failed
/// teardown, if any.
async fn finish(ctx: TestContext) -> (PathBuf, Option<String>) {
    let dir = ctx.results_dir().to_path_buf();
    let panic = AssertUnwindSafe(ctx.finish())
        .catch_unwind()
        .await
        .err()
        .map(|p| {
            p.downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "non-string panic".into())
        });
    (dir, panic)
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

fn collected(dir: &Path, service: &str, node: &Node) -> String {
    let path = dir.join(service).join(node.name()).join("out.log");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `log` is a whole log of [`PROGRAM`] on `node` ended by SIGTERM (bash may report the killed
/// `sleep` in between).
fn assert_stopped_by_term(log: &str, node: &Node) {
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&&*format!("up on {}", node.name())),
        "{log}"
    );
    assert_eq!(
        lines.last(),
        Some(&&*format!("stopped by TERM on {}", node.name())),
        "{log}"
    );
}

/// Leases `nodes` again (by name, from the process's cluster) and returns, per node, what of
/// `dir` and of the loops is left there.
async fn leftovers(nodes: &[Node], dir: &str) -> Vec<String> {
    let cluster = Cluster::global().unwrap();
    let lease = cluster.lease(cluster.specs().len()).await.unwrap();
    let mut left = Vec::new();
    for node in lease.nodes() {
        if nodes.iter().any(|n| n.name() == node.name()) {
            let out = node
                .account()
                .ssh_output(&format!(
                    "ls -A {dir} 2>/dev/null; ps -eo args= | grep -c '[s]topped by TERM' || true"
                ))
                .await
                .unwrap();
            left.push(format!("{}: {}", node.name(), out.trim()));
        }
    }
    lease.release().await.unwrap();
    left
}

#[tokio::test]
#[serial(context)]
async fn default_teardown_kills_collects_every_nodes_log_and_cleans() {
    let ctx = inner_ctx("kills");
    let nodes = ctx.lease(4).await.unwrap();
    let first = Loops::new(&ctx, "first", nodes[..1].to_vec());
    let second = Loops::new(&ctx, "second", nodes[1..].to_vec());
    ducttape_services::run_parallel(&[first.as_ref(), second.as_ref()])
        .await
        .unwrap();

    let (dir, panic) = finish(ctx).await;
    assert_eq!(panic, None);
    let s = summary(&dir);
    assert_eq!(s["status"], "pass", "{s}");
    for (service, on) in [("first", &nodes[..1]), ("second", &nodes[1..])] {
        for node in on {
            let log = collected(&dir, service, node);
            // Killed, not stopped: the TERM trap never ran.
            assert_eq!(log, format!("up on {}\n", node.name()), "{service}");
        }
    }
    let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let stopped: Vec<&str> = events
        .lines()
        .filter(|l| l.contains("\"service_stopped\""))
        .collect();
    assert_eq!(stopped.len(), 2, "{events}");
    // The last registered goes first.
    assert!(stopped[0].contains("\"second\"") && stopped[1].contains("\"first\""));
    assert!(stopped.iter().all(|l| l.contains("\"clean\":false")));
    for left in leftovers(&nodes, "/mnt/first /mnt/second").await {
        assert!(left.ends_with(": 0"), "left on a node: {left}");
    }
}

#[tokio::test]
#[serial(context)]
async fn a_stop_failing_on_one_node_fails_the_test_and_the_rest_is_still_done() {
    let ctx = inner_ctx("stop_fails");
    ctx.clean_shutdown();
    let nodes = ctx.lease(4).await.unwrap();
    let first = Loops::new(&ctx, "first", nodes[..1].to_vec());
    let loops = Loops::new(&ctx, "loops", nodes[1..].to_vec());
    ducttape_services::run_parallel(&[first.as_ref(), loops.as_ref()])
        .await
        .unwrap();
    // One node's stop script is gone: stopping there fails for real (bash: no such file).
    let broken = &nodes[2];
    broken.account().remove(&loops.stop_script()).await.unwrap();

    let (dir, panic) = finish(ctx).await;
    let panic = panic.expect("a failed stop fails a passing test");
    assert!(panic.contains("stop loops"), "{panic}");
    let s = summary(&dir);
    assert_eq!(s["status"], "error", "{s}");
    let message = s["message"].as_str().unwrap();
    assert!(
        message.contains("stop loops")
            && message.contains(broken.name())
            && message.contains("stop.sh"),
        "{message}"
    );
    assert_eq!(
        s["teardown_problems"].as_array().unwrap().len(),
        1,
        "only the stop failed: {s}"
    );
    // The other nodes of the failing service were stopped cleanly all the same, and so was the
    // service registered before it; every node's log was collected.
    for node in nodes[1..].iter().filter(|n| n.name() != broken.name()) {
        assert_stopped_by_term(&collected(&dir, "loops", node), node);
    }
    assert_stopped_by_term(&collected(&dir, "first", &nodes[0]), &nodes[0]);
    assert_eq!(
        collected(&dir, "loops", broken),
        format!("up on {}\n", broken.name()),
        "the node whose stop failed was not stopped, but its log was collected"
    );
    // Every node cleaned, the broken one too: nothing of the services is left.
    for left in leftovers(&nodes, "/mnt/first /mnt/loops").await {
        assert!(left.ends_with(": 0"), "left on a node: {left}");
    }
}
