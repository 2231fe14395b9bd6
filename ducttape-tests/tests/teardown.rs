#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! Teardown, fast and safe: services are killed at once on all their nodes (or stopped
//! gracefully when the test asks for a clean shutdown), their logs collected while earlier
//! services stop; nothing is lost — every node's log is collected, every node cleaned — and a
//! stop that fails on one node still fails the test (status `error`) while the other nodes are
//! stopped and cleaned.
//!
//! What a stop achieved is checked, not taken on its word: a service whose stop returns `Ok`
//! and leaves its JVM running makes the test an `error` naming node, pid and command line, and
//! so does a process the test itself started and left running — the nodes' own cleanup, which
//! kills everything anyway, is not allowed to hide either. And a clean bounce says how it
//! ended: a process that ignores SIGTERM is killed after its grace, and the bounce says so.
//!
//! The services here are real processes on real nodes (a shell loop with a TERM trap and a
//! stop script of its own, as services like kafka-pixy have; a ZooKeeper JVM), so their stops
//! can fail for real.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ducttape_core::cluster::Cluster;
use ducttape_services::{
    register, KafkaVersion, LogFile, ProcessFiles, ProcessSpec, Readiness, ResultExt, Service,
    ServiceError, ServiceExt, StopOutcome,
};
use ducttape_tests::{ctx, Node, TestContext};
use futures::FutureExt;
use rstest::rstest;
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

    async fn stop_node(&self, node: &Node, clean: bool) -> Result<StopOutcome, ServiceError> {
        let signal = if clean { "TERM" } else { "KILL" };
        let account = node.account();
        account
            .ssh(&format!("bash {} {signal}", self.stop_script()))
            .await
            .ctx(&self.name)?;
        account
            .wait_exit(self.files.pidfile(), Duration::from_secs(10))
            .await
            .ctx(&self.name)?;
        Ok(if clean {
            StopOutcome::Exited
        } else {
            StopOutcome::Killed
        })
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

/// A worker restarted on a node keeps what its earlier runs printed: each start empties the
/// worker's directory, and the results still hold every run's output (a bounced verifiable
/// consumer's events were lost from the results before); the clean removes both, and the
/// first start what an earlier test left.
#[tokio::test]
#[serial(context)]
async fn a_restarted_workers_earlier_outputs_are_collected_and_cleaned() {
    let ctx = inner_ctx("earlier_outputs");
    let nodes = ctx.lease(1).await.unwrap();
    let command: ducttape_services::perf::ToolCommand =
        Arc::new(|_, _| "echo \"run started $(date +%s%N)\"; sleep 60".into());
    let worker = ducttape_services::perf::ToolService::<
        ducttape_services::verifiable::VerifiableOutput,
    >::new(
        &ctx,
        "rerun",
        nodes.clone(),
        command,
        Duration::from_secs(60),
    )
    .unwrap();
    let node = &nodes[0];
    // What an earlier test's service of the same name left (its clean failed): the first
    // start removes it, so it is neither collected nor kept.
    node.account()
        .ssh("mkdir -p /mnt/rerun.earlier && echo stale > /mnt/rerun.earlier/rerun-9.out")
        .await
        .unwrap();
    let mut printed = Vec::new();
    for _ in 0..3 {
        worker.start_node(node).await.unwrap();
        let line = ducttape_core::wait_until(
            "the run's line",
            Duration::from_secs(10),
            Duration::from_millis(50),
            || async {
                let text = node
                    .account()
                    .ssh_output(&format!("cat {} 2>/dev/null; true", worker.log_path()))
                    .await?;
                Ok::<_, ducttape_core::remote::RemoteError>(
                    (!text.is_empty()).then(|| text.trim().to_string()),
                )
            },
        )
        .await
        .unwrap();
        printed.push(line);
        worker.stop_node(node, false).await.unwrap();
    }
    let (dir, panic) = finish(ctx).await;
    assert_eq!(panic, None);
    let on_node = dir.join("rerun").join(node.name());
    let read = |path: PathBuf| {
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .trim()
            .to_string()
    };
    assert_eq!(read(on_node.join("rerun.out")), printed[2]);
    for run in 1..=2 {
        assert_eq!(
            read(
                on_node
                    .join("rerun.earlier")
                    .join(format!("rerun-{run}.out"))
            ),
            printed[run - 1],
            "run {run}"
        );
    }
    assert_ne!(printed[0], printed[1], "three distinct runs: {printed:?}");
    assert!(
        !on_node.join("rerun.earlier").join("rerun-9.out").exists(),
        "an earlier test's leftover was collected"
    );
    for left in leftovers(&nodes, "/mnt/rerun /mnt/rerun.earlier").await {
        assert!(left.ends_with(": 0"), "left on a node: {left}");
    }
}

/// One process on one node, declared ([`ProcessSpec`]): the hooks are the framework's own,
/// except a stop that can be made a no-op returning `Ok`.
struct Declared {
    name: String,
    nodes: Vec<Node>,
    spec: ProcessSpec,
    stop_does_nothing: bool,
}

impl Declared {
    fn new(
        ctx: &TestContext,
        name: &str,
        node: Node,
        spec: ProcessSpec,
        stop_does_nothing: bool,
    ) -> Arc<Self> {
        let service = Arc::new(Self {
            name: name.into(),
            nodes: vec![node],
            spec,
            stop_does_nothing,
        });
        register(ctx, &service);
        service
    }
}

#[async_trait]
impl Service for Declared {
    fn name(&self) -> &str {
        &self.name
    }

    fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    async fn start_node(&self, node: &Node) -> Result<(), ServiceError> {
        self.spec.start(node).await
    }

    async fn stop_node(&self, node: &Node, clean: bool) -> Result<StopOutcome, ServiceError> {
        if self.stop_does_nothing {
            // The bug this file shows caught: "stopped", and nothing was done.
            return Ok(StopOutcome::Exited);
        }
        self.spec.stop(node, clean).await
    }

    fn process_spec(&self, _: &Node) -> Option<ProcessSpec> {
        Some(self.spec.clone())
    }

    fn logs(&self) -> Vec<LogFile> {
        vec![LogFile::always("out.log", self.spec.log())]
    }
}

/// A ZooKeeper JVM on its own, in `/mnt/declared`.
fn zookeeper_jvm() -> ProcessSpec {
    let version = KafkaVersion::DEFAULT;
    ProcessSpec::new("declared", "/mnt/declared")
        .requires(version.install())
        .dir("/mnt/declared/data")
        .file(
            "/mnt/declared/zoo.cfg",
            "dataDir=/mnt/declared/data\nclientPort=2181\nadmin.enableServer=false\n",
        )
        .java(
            version
                .java("org.apache.zookeeper.server.quorum.QuorumPeerMain")
                .arg("/mnt/declared/zoo.cfg"),
        )
        .ready_when(Readiness::Port(2181))
        .start_timeout(Duration::from_secs(90))
}

/// The JVMs running on `node` (zombies are not running), as `pid args` lines.
async fn jvms_on(node: &Node) -> String {
    let cluster = Cluster::global().unwrap();
    let lease = cluster.lease(cluster.specs().len()).await.unwrap();
    let same = lease
        .nodes()
        .iter()
        .find(|n| n.name() == node.name())
        .unwrap();
    let out = same
        .account()
        .ssh_output(
            "ps -eo stat=,pid=,args= | awk '$1 !~ /^Z/ && $3 ~ /java$/ { $1 = \"\"; print }'",
        )
        .await
        .unwrap();
    let left = lease.release().await.unwrap();
    assert!(left.is_empty(), "the check itself left {left:?}");
    out.trim().to_string()
}

#[tokio::test]
#[serial(context)]
async fn a_stop_that_returns_ok_and_leaves_its_jvm_running_is_a_teardown_error() {
    // The real stop: the JVM is gone when it returns, and the test passes.
    let ctx = inner_ctx("jvm_stopped");
    let node = ctx.lease(1).await.unwrap().remove(0);
    let service = Declared::new(&ctx, "declared", node.clone(), zookeeper_jvm(), false);
    service.start().await.unwrap();
    let (dir, panic) = finish(ctx).await;
    assert_eq!(panic, None);
    assert_eq!(summary(&dir)["status"], "pass", "{}", summary(&dir));

    // A stop that does nothing and says Ok: the JVM it leaves running is named, and the test
    // is an error — though the test body passed and the nodes' cleanup kills the JVM anyway.
    let ctx = inner_ctx("jvm_left_running");
    let node = ctx.lease(1).await.unwrap().remove(0);
    let service = Declared::new(&ctx, "declared", node.clone(), zookeeper_jvm(), true);
    service.start().await.unwrap();
    let shell = service.pids(&node).await.unwrap()[0];
    let (dir, panic) = finish(ctx).await;
    let panic = panic.expect("a stop that left its JVM running fails a passing test");
    let s = summary(&dir);
    assert_eq!(s["status"], "error", "{s}");
    let message = s["message"].as_str().unwrap();
    assert!(panic.contains(message), "{panic}");
    assert!(
        message.contains("killing declared returned Ok but left running")
            && message.contains(&format!("{} pid {shell} (sh -c ", node.name()))
            && message.contains(" (java ")
            && message.contains("QuorumPeerMain /mnt/declared/zoo.cfg)"),
        "names the node, the pids and the command lines: {message}"
    );
    // Its clean then killed it, so the nodes' cleanup found nothing more to report.
    assert_eq!(s["teardown_problems"].as_array().unwrap().len(), 1, "{s}");
    assert_eq!(jvms_on(&node).await, "", "no JVM left on {}", node.name());
}

#[tokio::test]
#[serial(context)]
async fn a_process_the_test_left_running_is_a_teardown_error_one_ending_within_the_grace_is_not() {
    let ctx = inner_ctx("test_left_running");
    let node = ctx.lease(1).await.unwrap().remove(0);
    let account = node.account();
    // Started by the test itself, outside any service, and never stopped: one marked as the
    // lease's (found by the marker), one whose environment was wiped (found by the local
    // cluster's look at the node's PID namespace), and one that ends on its own a moment
    // after the test (not counted: it was ending).
    account
        .ssh("nohup sleep 1000 >/dev/null 2>&1 & env -i setsid sleep 1001 >/dev/null 2>&1 < /dev/null & nohup sleep 1 >/dev/null 2>&1 &")
        .await
        .unwrap();
    let (dir, panic) = finish(ctx).await;
    let panic = panic.expect("a process left running fails a passing test");
    let s = summary(&dir);
    assert_eq!(s["status"], "error", "{s}");
    let message = s["message"].as_str().unwrap();
    assert!(panic.contains(message), "{panic}");
    assert!(
        message.contains("left running when the services were stopped and cleaned")
            && message.contains(&format!("{} pid ", node.name()))
            && message.contains("(sleep 1000)"),
        "{message}"
    );
    let on_local = Cluster::global().unwrap().local().is_some();
    assert_eq!(message.contains("(sleep 1001)"), on_local, "{message}");
    assert!(
        !message.contains("(sleep 1)"),
        "ended within the grace: {message}"
    );
    let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    assert!(events.contains("\"left_running\""), "{events}");
}

/// A loop that ignores SIGTERM altogether.
const DEAF: &str = "trap '' TERM; echo up; while :; do sleep 0.1; done";
/// A loop that exits on SIGTERM.
const HEARING: &str = "trap 'exit 0' TERM; echo up; while :; do sleep 0.1; done";

fn looping(name: &str, program: &str) -> ProcessSpec {
    ProcessSpec::new(name, &format!("/mnt/{name}"))
        .command(format!("bash -c {}", ducttape_core::remote::quote(program)))
        .ready_when(Readiness::LogLine("^up$".into()))
        .stop_grace(Duration::from_secs(2))
}

#[rstest]
#[tokio::test]
#[serial(context)]
async fn a_clean_bounce_says_whether_the_process_exited_on_sigterm_or_was_killed(ctx: TestContext) {
    let node = ctx.lease(1).await.unwrap().remove(0);
    let hearing = Declared::new(
        &ctx,
        "hearing",
        node.clone(),
        looping("hearing", HEARING),
        false,
    );
    hearing.start().await.unwrap();
    assert_eq!(
        hearing.restart_node(&node, true).await.unwrap(),
        StopOutcome::Exited
    );
    assert_eq!(
        hearing.restart_node(&node, false).await.unwrap(),
        StopOutcome::Killed
    );
    hearing.stop().await.unwrap();
    // A "clean" bounce of a process that ignores SIGTERM: it ran out its grace and was
    // SIGKILLed, and the bounce says so instead of passing for clean.
    let deaf = Declared::new(&ctx, "deaf", node.clone(), looping("deaf", DEAF), false);
    deaf.start().await.unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        deaf.restart_node(&node, true).await.unwrap(),
        StopOutcome::Killed
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the grace was given"
    );
    assert!(
        deaf.alive(&node).await.unwrap(),
        "started again after the bounce"
    );
}

/// The JVM (not its shell) of `service` on `node`.
async fn jvm_pid<S: Service>(service: &S, node: &Node) -> u32 {
    let pids = service.pids(node).await.unwrap();
    let processes = node.account().processes_of(&pids).await.unwrap();
    processes
        .iter()
        .find(|p| p.command.starts_with("java "))
        .unwrap_or_else(|| panic!("no JVM among {processes:?}"))
        .pid
}

/// A ZooKeeper started on a node leased by `ctx`, its JVM then stopped by SIGSTOP (hung);
/// returns the node and the JVM's pid.
async fn stopped_zookeeper(ctx: &TestContext) -> (Node, u32) {
    let nodes = ctx.lease(1).await.unwrap();
    let node = nodes[0].clone();
    let zk = ducttape_services::ZookeeperService::new(ctx, nodes).unwrap();
    zk.start().await.unwrap();
    let java = jvm_pid(zk.as_ref(), &node).await;
    node.account()
        .ssh(&format!("kill -STOP {java}"))
        .await
        .unwrap();
    (node, java)
}

#[tokio::test]
#[serial(context)]
async fn a_failed_test_has_the_thread_dump_of_its_stopped_jvm_and_its_gc_log() {
    // A passing test: no thread dump, no GC log collected.
    let ctx = inner_ctx("jvm_passed");
    let nodes = ctx.lease(1).await.unwrap();
    let zk = ducttape_services::ZookeeperService::new(&ctx, nodes.clone()).unwrap();
    zk.start().await.unwrap();
    let (dir, panic) = finish(ctx).await;
    assert_eq!(panic, None);
    let s = summary(&dir);
    assert_eq!(s["status"], "pass", "{s}");
    assert!(s.get("diagnostics").is_none(), "{s}");
    assert!(!dir
        .join("zookeeper")
        .join(nodes[0].name())
        .join("jvm")
        .exists());

    // A test that fails while its JVM hangs, stopped by SIGSTOP.
    let ctx = inner_ctx("jvm_stopped_then_failed");
    let (node, java) = stopped_zookeeper(&ctx).await;
    let dir = ctx.results_dir().to_path_buf();
    // The context is dropped while its thread panics, as a failing test's is.
    let failing = std::thread::spawn(move || {
        let _ctx = ctx;
        panic!("deliberate failure while a JVM is stopped");
    });
    assert!(failing.join().is_err());
    let s = summary(&dir);
    assert_eq!(s["status"], "fail", "{s}");
    let want = format!("zookeeper/{}/threads-{java}.txt", node.name());
    let gc_log = format!("zookeeper/{}/jvm/gc.log", node.name());
    assert_eq!(s["diagnostics"], serde_json::json!([want, gc_log]), "{s}");
    let dump = std::fs::read_to_string(dir.join(&want)).unwrap();
    assert!(
        dump.contains("process state T")
            && dump.contains("was STOPPED")
            && dump.contains("Full thread dump")
            && dump.contains("QuorumPeer"),
        "the stopped JVM's threads, then its Java stacks: {dump}"
    );
    let gc = dir
        .join("zookeeper")
        .join(node.name())
        .join("jvm")
        .join("gc.log");
    let gc = std::fs::read_to_string(&gc).unwrap_or_else(|e| panic!("{}: {e}", gc.display()));
    assert!(gc.contains("Using G1") || gc.contains("gc"), "{gc}");
}

/// The watchdog's path: a test that hangs past its timeout (here waiting on a ZooKeeper JVM
/// stopped by SIGSTOP) is torn down by the watchdog thread, and that teardown too takes the
/// stopped JVM's thread dump and its GC log before anything is stopped, listed in
/// `summary.json` and linked from the test's page.
#[tokio::test]
#[serial(context)]
async fn a_test_the_watchdog_tears_down_has_the_thread_dump_of_its_hung_jvm() {
    // Long enough for ZooKeeper to start on a loaded machine; the test then hangs past it.
    let limit = Duration::from_secs(60);
    let ctx = TestContext::builder("teardown::jvm_hung_past_its_timeout")
        .results_root(std::env::temp_dir().join("ducttape-inner-results"))
        .timeout(limit)
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let (node, java) = stopped_zookeeper(&ctx).await;
    assert!(
        started.elapsed() < limit,
        "ZooKeeper took the whole limit to start: the watchdog path is not what is tested"
    );
    // The hang: nothing but the watchdog can end this wait (the summary is written by the
    // teardown it runs).
    let dir = ctx.results_dir().to_path_buf();
    let path = dir.join("summary.json");
    ducttape_core::wait_until(
        "the watchdog's teardown wrote the summary",
        limit + Duration::from_secs(180),
        Duration::from_secs(1),
        || async { Ok::<_, std::io::Error>(path.exists()) },
    )
    .await
    .unwrap();
    let (_, panic) = finish(ctx).await;
    assert!(
        panic
            .as_deref()
            .is_some_and(|p| p.contains("ran past its timeout")),
        "{panic:?}"
    );
    let s = summary(&dir);
    assert_eq!(s["status"], "timeout", "{s}");
    let dump = format!("zookeeper/{}/threads-{java}.txt", node.name());
    let gc = format!("zookeeper/{}/jvm/gc.log", node.name());
    let listed: Vec<&str> = s["diagnostics"]
        .as_array()
        .map(|d| d.iter().filter_map(|f| f.as_str()).collect())
        .unwrap_or_default();
    assert!(
        listed.contains(&dump.as_str()) && listed.contains(&gc.as_str()),
        "{s}"
    );
    let text = std::fs::read_to_string(dir.join(&dump)).unwrap();
    assert!(
        text.contains("was STOPPED") && text.contains("QuorumPeer"),
        "the stopped JVM's threads and stacks: {text}"
    );
    assert!(dir.join(&gc).is_file());
    // The test's page, written by the same teardown, links them.
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        page.contains(&format!("<a href=\"{dump}\">"))
            && page.contains(&format!("<a href=\"{gc}\">")),
        "{page}"
    );
}
