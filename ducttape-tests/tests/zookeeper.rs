//! A 3-node ZooKeeper ensemble keeps serving a client while each member in turn is bounced:
//! the ensemble has one leader and two followers after every bounce, leadership moves when the
//! leader is bounced, the client is never without service for long (an outage lasting to the
//! end of the run counts), and exactly the znodes whose creation succeeded are there after.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test

use std::collections::BTreeSet;
use std::time::Duration;

use ducttape_core::wait_until;
use ducttape_services::{Service, ServiceError, ServiceExt, StopOutcome, ZookeeperService};
use ducttape_tests::{ctx, TestContext};
use rstest::rstest;
use serial_test::serial;

const CLIENT: &str = include_str!("../java/ZkClient.java");

/// The longest the client may go without a successful operation: a leader election plus a
/// reconnect.
const LONGEST_OUTAGE_MS: u64 = 20_000;

/// What the client printed: its start and end, each successful create (time, path) and the
/// number of failed operations.
#[derive(Debug, Default)]
struct ClientRun {
    start: u64,
    done: Option<u64>,
    ok: Vec<(u64, String)>,
    failed: usize,
}

impl ClientRun {
    fn parse(out: &str) -> Self {
        let mut run = Self::default();
        for line in out.lines() {
            let mut words = line.split_whitespace();
            let (kind, at) = (words.next(), words.next().and_then(|t| t.parse().ok()));
            match (kind, at) {
                (Some("start"), Some(at)) => run.start = at,
                (Some("ok"), Some(at)) => run.ok.push((at, words.next().unwrap_or("").into())),
                (Some("error"), Some(_)) => run.failed += 1,
                (Some("done"), Some(at)) => run.done = Some(at),
                _ => {}
            }
        }
        run
    }

    /// The longest stretch without a successful operation, from the start to the end of the
    /// run: an outage that lasts to the end counts as much as one in the middle.
    fn longest_outage_ms(&self) -> u64 {
        let end = self.done.unwrap_or(self.start);
        std::iter::once(self.start)
            .chain(self.ok.iter().map(|(at, _)| *at))
            .chain(std::iter::once(end))
            .collect::<Vec<_>>()
            .windows(2)
            .map(|w| w[1].saturating_sub(w[0]))
            .max()
            .unwrap_or(0)
    }
}

#[test]
fn an_outage_until_the_end_of_the_run_counts() {
    let run = ClientRun::parse(
        "start 1000\nok 1020 /ducttape/n-0\nok 1040 /ducttape/n-1\nerror 1100 x\ndone 41000 ok=2 failed=1\n",
    );
    assert_eq!((run.ok.len(), run.failed), (2, 1));
    assert_eq!(run.longest_outage_ms(), 41_000 - 1040);
    let healthy = ClientRun::parse("start 0\nok 10 /a\nok 20 /b\ndone 30 ok=2 failed=0\n");
    assert_eq!(healthy.longest_outage_ms(), 10);
}

/// Waits until the ensemble has one leader and two followers; returns the leader's name.
async fn settled_leader(zk: &ZookeeperService) -> String {
    wait_until(
        "the ensemble has one leader and two followers",
        Duration::from_secs(60),
        Duration::from_millis(250),
        || async {
            let mut modes = Vec::new();
            let mut leader = None;
            for node in zk.nodes() {
                let mode = zk.status(node).await?.mode;
                if mode == "leader" {
                    leader = Some(node.name().to_string());
                }
                modes.push(mode);
            }
            modes.sort();
            Ok::<_, ServiceError>(leader.filter(|_| modes == ["follower", "follower", "leader"]))
        },
    )
    .await
    .unwrap()
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn ensemble_serves_a_client_through_rolling_bounces(ctx: TestContext) {
    let mut nodes = ctx.lease(4).await.unwrap();
    let client_node = nodes.pop().unwrap();
    let zk = ZookeeperService::new(&ctx, nodes.clone()).unwrap();
    zk.start().await.unwrap();
    let first_leader = settled_leader(&zk).await;

    // The client runs on its own node for the whole scenario.
    let account = client_node.account();
    account
        .create_file("/mnt/zkclient/ZkClient.java", CLIENT)
        .await
        .unwrap();
    let java = "java -Dlog4j.configuration=file:/opt/kafka/config/tools-log4j.properties \
                -cp '/opt/kafka/libs/*' /mnt/zkclient/ZkClient.java";
    let (log, pidfile) = ("/mnt/zkclient/client.out", "/mnt/zkclient/client.pid");
    let monitor = account.monitor_log(log).await.unwrap();
    account
        .spawn(&format!("{java} {} 40", zk.connect_string()), log, pidfile)
        .await
        .unwrap();
    // Bounce every member in turn once the client is writing.
    monitor
        .wait_until("^ok ", Duration::from_secs(60))
        .await
        .unwrap();
    let mut leaders = vec![first_leader.clone()];
    for node in &nodes {
        let was_leader = leaders.last() == Some(&node.name().to_string());
        let ended = zk.restart_node(node, true).await.unwrap();
        assert_eq!(
            ended,
            StopOutcome::Exited,
            "{} exited on SIGTERM, not killed after the grace",
            node.name()
        );
        let leader = settled_leader(&zk).await;
        if was_leader {
            assert_ne!(
                leader,
                node.name(),
                "leadership moved off the bounced leader"
            );
        }
        leaders.push(leader);
        // A rolling bounce moves on once the client is served again (bouncing the next member
        // while the client still reconnects can cost it its session).
        let served = account.monitor_log(log).await.unwrap();
        served
            .wait_until("^ok ", Duration::from_millis(LONGEST_OUTAGE_MS))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "no successful operation after bouncing {}: {e}",
                    node.name()
                )
            });
    }
    account
        .wait_exit(pidfile, Duration::from_secs(120))
        .await
        .unwrap();
    let out = account.ssh_output(&format!("cat {log}")).await.unwrap();
    let run = ClientRun::parse(&out);
    assert!(run.done.is_some(), "client did not finish cleanly:\n{out}");
    assert!(
        run.ok.len() > 100,
        "only {} successful operations:\n{out}",
        run.ok.len()
    );
    let longest_outage = run.longest_outage_ms();
    assert!(
        longest_outage < LONGEST_OUTAGE_MS,
        "client was without service for {longest_outage} ms:\n{out}"
    );

    // Exactly what was created is there: every successful create, and beyond those only
    // creates whose answer was lost (a failed operation may have created its znode).
    let listed = account
        .with_timeout(Duration::from_secs(120))
        .ssh_output(&format!("{java} {} list", zk.connect_string()))
        .await
        .unwrap();
    let children: BTreeSet<&str> = listed
        .lines()
        .filter_map(|l| l.strip_prefix("child "))
        .collect();
    let created: BTreeSet<&str> = run.ok.iter().map(|(_, p)| p.as_str()).collect();
    let missing: Vec<&&str> = created.difference(&children).take(10).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged creates missing, e.g. {missing:?}",
        created.difference(&children).count()
    );
    let extra = children.difference(&created).count();
    assert!(
        extra <= run.failed,
        "{extra} znodes nobody created ({} failed operations)",
        run.failed
    );

    ctx.record("successful_ops", run.ok.len() as u64);
    ctx.record("failed_ops", run.failed as u64);
    ctx.record("longest_outage_ms", longest_outage);
    ctx.record("leaders", leaders.clone());
    println!(
        "zookeeper rolling bounce: {} ok, {} failed, longest outage {longest_outage} ms, leaders {leaders:?}",
        run.ok.len(),
        run.failed
    );
    // Nothing of ours left running: the context's teardown checks what the stops achieved.
}
