#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! Faults on real nodes, each kind's effect measured: a partition cuts exactly the pairs it
//! names, packet loss and rate limits hold on real traffic until healed, a paused ZooKeeper
//! accepts connections but answers nothing until healed, a full disk refuses writes until
//! healed, a skewed clock moves the wall clock of a node's JVMs (and a broker's record
//! timestamps and time-based retention) until healed; teardown heals whatever a test left, of
//! every kind, and each fault is a window in the report's events.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use ducttape_core::cluster::Cluster;
use ducttape_services::faults::{FaultKind, Faults};
use ducttape_services::{
    register, KafkaService, KafkaVersion, LogFile, ProcessSpec, Service, ServiceError, ServiceExt,
    TopicSpec, ZookeeperService,
};
use ducttape_tests::broker_views::{
    sample_brokers_now, under_replicated_seen, UnderReplicationError,
};
use ducttape_tests::{
    consume_printed, ctx, produce_acked, wait_for_leader, wait_for_leader_move, wait_for_rejoin,
    Node, TestContext,
};
use rstest::rstest;
use serial_test::serial;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Whether `from` can open a TCP connection to `to`'s sshd (2 s limit).
async fn reaches(from: &Node, to: &Node) -> bool {
    let probe = format!(
        "timeout 2 bash -c '</dev/tcp/{}/22' 2>/dev/null",
        to.address()
    );
    from.account().ssh_status(&probe).await.unwrap() == Some(0)
}

#[rstest]
#[tokio::test]
#[serial(faults)]
async fn partition_loss_and_rate_limit_until_healed(ctx: TestContext) {
    let n = ctx.lease(3).await.unwrap();
    let faults = Faults::new(&ctx);
    assert!(reaches(&n[0], &n[1]).await);

    faults.partition(&n[..1], &n[1..2]).await.unwrap();
    assert!(!reaches(&n[0], &n[1]).await, "partitioned one way");
    assert!(!reaches(&n[1], &n[0]).await, "partitioned the other way");
    assert!(
        reaches(&n[0], &n[2]).await,
        "outside the partition traffic flows"
    );
    assert!(reaches(&n[2], &n[1]).await);

    faults.packet_loss(&n[2], 1.0).await.unwrap();
    assert!(!reaches(&n[0], &n[2]).await, "all packets lost");
    assert!(faults.describe(&n[2]).await.unwrap().contains("statistic"));
    assert!(faults.packet_loss(&n[2], 1.5).await.is_err());

    faults.rate_limit(&n[1], "1mbit").await.unwrap();
    let rules = faults.describe(&n[1]).await.unwrap();
    assert!(rules.contains("tbf") && rules.contains("1Mbit"), "{rules}");

    faults.heal_all().await.unwrap();
    assert!(
        reaches(&n[0], &n[1]).await && reaches(&n[1], &n[0]).await && reaches(&n[0], &n[2]).await
    );
    for node in &n[..] {
        let left = faults.describe(node).await.unwrap();
        assert!(left.is_empty(), "left on {}: {left}", node.name());
    }
}

#[rstest]
#[tokio::test]
#[serial(faults)]
async fn teardown_heals_what_a_test_left(ctx: TestContext) {
    let n = ctx.lease(2).await.unwrap();
    let sleeper = Sleeper::new(&ctx, n[..1].to_vec());
    sleeper.start().await.unwrap();
    let faults = Faults::new(&ctx);
    faults.partition(&n[..1], &n[1..]).await.unwrap();
    faults.rate_limit(&n[0], "500kbit").await.unwrap();
    faults.pause(sleeper.as_ref(), &n[0]).await.unwrap();
    assert!(faults
        .describe(&n[0])
        .await
        .unwrap()
        .contains("pause: group"));
    faults.packet_loss(&n[1], 0.1).await.unwrap();
    faults
        .delay(&n[1], 7008, Duration::from_millis(50))
        .await
        .unwrap();
    faults.limit_disk(&n[1], DISK, 1 << 20).await.unwrap();
    faults.fill_disk(&n[1], DISK).await.unwrap();
    faults.fake_clock(&n[1]).await.unwrap();
    faults.skew_clock(&n[1], -120).await.unwrap();
    let applied = faults.describe(&n[1]).await.unwrap();
    for kind in [
        "partition",
        "packet_loss",
        "delay",
        "disk_full",
        "clock_skew",
    ] {
        assert!(
            applied.contains(&format!("{kind}: ")),
            "{kind} not in {applied}"
        );
    }
    // As if the test ended here, healed or not; the checks stay in this test's report row.
    let check = ctx.finish_for_checks().await.unwrap();
    let all = check
        .lease(Cluster::global().unwrap().specs().len())
        .await
        .unwrap();
    let (a, b) = (
        all.iter().find(|x| x.name() == n[0].name()).unwrap(),
        all.iter().find(|x| x.name() == n[1].name()).unwrap(),
    );
    assert!(reaches(a, b).await, "the partition was healed at teardown");
    let probe = Faults::new(&check);
    for node in [a, b] {
        let left = probe.describe(node).await.unwrap();
        assert!(
            left.is_empty(),
            "left on {} after teardown: {left}",
            node.name()
        );
    }
    let mounts = format!("grep -c ' {DISK} ' /proc/self/mountinfo; true");
    assert_eq!(
        b.account().ssh_output(&mounts).await.unwrap().trim(),
        "0",
        "the limited disk was unmounted"
    );
    let faked = "ls /tmp/ducttape-faults/ | grep clock; true";
    assert_eq!(
        b.account().ssh_output(faked).await.unwrap().trim(),
        "",
        "the faked clock was forgotten: JVMs started from now on run on the node's clock"
    );
}

/// The cheapest service to pause: a `sleep` on each of its nodes.
struct Sleeper {
    nodes: Vec<Node>,
}

impl Sleeper {
    fn new(ctx: &TestContext, nodes: Vec<Node>) -> Arc<Self> {
        let service = Arc::new(Self { nodes });
        register(ctx, &service);
        service
    }

    fn spec() -> ProcessSpec {
        ProcessSpec::new("sleeper", "/mnt/sleeper").command("sleep 600")
    }
}

#[async_trait]
impl Service for Sleeper {
    fn name(&self) -> &str {
        "sleeper"
    }

    fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    fn process_spec(&self, _node: &Node) -> Option<ProcessSpec> {
        Some(Self::spec())
    }

    async fn start_node(&self, node: &Node) -> Result<(), ServiceError> {
        Self::spec().start(node).await
    }

    fn logs(&self) -> Vec<LogFile> {
        Vec::new()
    }
}

/// Sends `bytes` from `from` to `to` over TCP and returns how long the receiver took from the
/// first byte to the last, in ms (timed on the receiving node, so the sender's socket buffer
/// does not hide the link's rate).
async fn transfer_ms(from: &Node, to: &Node, bytes: u64, port: u16) -> u64 {
    let receiver = to.account().with_timeout(Duration::from_secs(60));
    let receive = tokio::spawn(async move {
        receiver
            .ssh_output(&format!(
                "timeout 50 nc -l {port} | {{ head -c 1 >/dev/null; s=$(date +%s%N); n=$(wc -c); \
                 e=$(date +%s%N); echo $((n + 1)) $(( (e - s) / 1000000 )); }}"
            ))
            .await
    });
    // The receiver may not listen yet: a refused connection is tried again.
    let send = format!(
        "for i in $(seq 100); do head -c {bytes} /dev/zero | nc -N {} {port} 2>/dev/null && exit 0; \
         sleep 0.1; done; exit 1",
        to.address()
    );
    from.account()
        .with_timeout(Duration::from_secs(60))
        .ssh(&send)
        .await
        .unwrap();
    let out = receive.await.unwrap().unwrap();
    let (received, ms) = out.trim().split_once(' ').unwrap();
    assert_eq!(
        received.parse::<u64>().unwrap(),
        bytes,
        "every byte arrived"
    );
    ms.parse().unwrap()
}

/// Sends `count` UDP datagrams from `from` to `to` (one socket, paced) and returns how many
/// arrived.
async fn datagrams_arriving(from: &Node, to: &Node, count: u32, port: u16) -> u32 {
    let receiver = to.account().with_timeout(Duration::from_secs(30));
    let receive = tokio::spawn(async move {
        receiver
            .ssh_output(&format!("timeout 8 nc -u -l {port} | wc -l"))
            .await
    });
    let bound = format!("ss -Huln 'sport = :{port}' | grep -q .");
    ducttape_core::wait_until(
        "the receiver listens",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || async { to.account().ssh_status(&bound).await.map(|s| s == Some(0)) },
    )
    .await
    .unwrap();
    let send = format!(
        "exec 3>/dev/udp/{}/{port}; for i in $(seq {count}); do echo $i >&3; \
         [ $((i % 100)) -eq 0 ] && sleep 0.02; done; true",
        to.address()
    );
    from.account().ssh(&send).await.unwrap();
    receive.await.unwrap().unwrap().trim().parse().unwrap()
}

#[rstest]
#[tokio::test]
#[serial(faults)]
async fn rate_limits_and_packet_loss_hold_on_real_traffic(ctx: TestContext) {
    let n = ctx.lease(2).await.unwrap();
    let faults = Faults::new(&ctx);

    // A rate limit makes a transfer take at least as long as the rate implies (a lower bound:
    // robust to a busy machine). Without the limit the same transfer is far quicker, so the
    // check tells the two apart.
    let bytes = 500_000;
    let (rate, bits_per_sec) = ("2mbit", 2_000_000);
    let at_least_ms = bytes * 8 * 1000 / bits_per_sec * 9 / 10;
    let free = transfer_ms(&n[0], &n[1], bytes, 5001).await;
    assert!(free < at_least_ms, "unlimited transfer took {free} ms");
    faults.rate_limit(&n[0], rate).await.unwrap();
    let limited = transfer_ms(&n[0], &n[1], bytes, 5001).await;
    assert!(
        limited >= at_least_ms,
        "{bytes} B at {rate} took {limited} ms, less than {at_least_ms} ms"
    );
    faults.heal_all().await.unwrap();

    // Random loss at p = 0.4: what arrives is within 6 standard deviations of 60 %; with no
    // loss (nearly) everything arrives, far outside that band.
    let (count, p) = (1000_u32, 0.4);
    let expected = f64::from(count) * (1.0 - p);
    let band = 6.0 * (f64::from(count) * p * (1.0 - p)).sqrt();
    let all = datagrams_arriving(&n[0], &n[1], count, 5002).await;
    assert!(
        f64::from(all) > expected + band,
        "without loss only {all} of {count} arrived"
    );
    faults.packet_loss(&n[0], p).await.unwrap();
    let some = datagrams_arriving(&n[0], &n[1], count, 5002).await;
    assert!(
        (f64::from(some) - expected).abs() <= band,
        "{some} of {count} arrived at loss {p}: outside {expected} ± {band:.0}"
    );
    faults.heal_all().await.unwrap();
    ctx.record("transfer_free_ms", free);
    ctx.record("transfer_limited_ms", limited);
    ctx.record("datagrams_without_loss", all);
    ctx.record("datagrams_with_loss", some);
    println!(
        "rate limit: {free} ms free, {limited} ms at {rate}; loss: {all} then {some} of {count}"
    );
}

/// Where tests give a node a small disk (below the node's own `/mnt`).
const DISK: &str = "/mnt/faults-disk";

/// Whether `node`'s ZooKeeper answers `ruok` with `imok`, and if not, how it failed:
/// `Err("refused…")` when nothing listens, `Err("accepted, no answer…")` when the connection is
/// accepted but nothing comes back within `wait`.
async fn zk_answers(node: &Node, wait: Duration) -> Result<(), String> {
    let mut s = tokio::net::TcpStream::connect((node.address(), 2181))
        .await
        .map_err(|e| format!("refused: {e}"))?;
    s.write_all(b"ruok").await.map_err(|e| e.to_string())?;
    let mut answer = String::new();
    match tokio::time::timeout(wait, s.read_to_string(&mut answer)).await {
        Ok(Ok(_)) if answer == "imok" => Ok(()),
        Ok(r) => Err(format!("answered {answer:?} ({r:?})")),
        Err(_) => Err(format!("accepted, no answer within {wait:?}")),
    }
}

/// The fault kinds whose `fault_start` events are in the test's `events.jsonl`, each followed
/// by a `fault_heal` (the windows the report shades).
fn windows(ctx: &TestContext) -> Vec<String> {
    let events = std::fs::read_to_string(ctx.results_dir().join("events.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = events
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    lines
        .iter()
        .enumerate()
        .filter(|(_, e)| e["event"] == "fault_start")
        .filter(|(i, _)| lines[*i..].iter().any(|e| e["event"] == "fault_heal"))
        .map(|(_, e)| e["fault"].as_str().unwrap_or("").to_string())
        .collect()
}

#[rstest]
#[tokio::test]
#[serial(faults)]
async fn a_paused_zookeeper_accepts_but_never_answers_until_healed(ctx: TestContext) {
    let n = ctx.lease(1).await.unwrap();
    let zk = ZookeeperService::new(&ctx, n.clone()).unwrap();
    zk.start().await.unwrap();
    let faults = Faults::new(&ctx);
    // No answer within this long counts as none; a running ZooKeeper answers in milliseconds.
    let patience = Duration::from_secs(3);
    zk_answers(&n[0], patience).await.unwrap();

    // The broken case: stopping the pid alone (the shell that started the JVM) pauses nothing.
    let pid = zk.pids(&n[0]).await.unwrap()[0];
    n[0].account().signal(pid, "STOP").await.unwrap();
    let wrapper_only = zk_answers(&n[0], patience).await;
    n[0].account().signal(pid, "CONT").await.unwrap();
    wrapper_only.expect("a ZooKeeper whose wrapping shell alone is stopped still answers");

    faults.pause(zk.as_ref(), &n[0]).await.unwrap();
    let paused = faults.describe(&n[0]).await.unwrap();
    let (stopped, of) = paused
        .lines()
        .find_map(|l| l.strip_prefix(&format!("pause: group {pid}: ")))
        .and_then(|l| l.strip_suffix(" processes stopped"))
        .and_then(|l| l.split_once(" of "))
        .unwrap_or_else(|| panic!("no paused group {pid} in {paused:?}"));
    assert!(stopped == of && of.parse::<u32>().unwrap() >= 2, "{paused}");
    let answer = zk_answers(&n[0], patience).await;
    assert!(
        answer
            .as_ref()
            .is_err_and(|e| e.starts_with("accepted, no answer")),
        "a paused ZooKeeper: {answer:?}"
    );

    faults.heal_all().await.unwrap();
    ducttape_core::wait_until(
        "ZooKeeper answers again",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async { Ok::<_, String>(zk_answers(&n[0], patience).await.is_ok()) },
    )
    .await
    .unwrap();
    assert_eq!(faults.describe(&n[0]).await.unwrap(), "");
    assert_eq!(windows(&ctx), [FaultKind::Pause.name()]);
}

#[rstest]
#[tokio::test]
#[serial(faults)]
async fn a_full_disk_refuses_writes_until_healed(ctx: TestContext) {
    let n = ctx.lease(2).await.unwrap();
    let faults = Faults::new(&ctx);
    // A new file each time: rewriting one would first free its own blocks.
    let write = format!("head -c 8192 /dev/zero 2>&1 > {DISK}/probe-$(date +%s%N); echo rc=$?");
    // A node's real disk is never filled.
    assert!(faults.fill_disk(&n[0], "/mnt").await.is_err());
    assert!(
        faults.fill_disk(&n[0], DISK).await.is_err(),
        "not limited yet"
    );
    n[0].account()
        .ssh(&format!("mkdir -p {DISK} && touch {DISK}/x"))
        .await
        .unwrap();
    assert!(
        faults.limit_disk(&n[0], DISK, 1 << 20).await.is_err(),
        "a directory with files is not hidden under a mount"
    );
    n[0].account().remove(&format!("{DISK}/x")).await.unwrap();

    faults.limit_disk(&n[0], DISK, 1 << 20).await.unwrap();
    let before = n[0].account().ssh_output(&write).await.unwrap();
    assert_eq!(before.trim(), "rc=0", "an empty limited disk takes writes");
    faults.fill_disk(&n[0], DISK).await.unwrap();
    let full = n[0].account().ssh_output(&write).await.unwrap();
    assert!(
        full.contains("No space left on device") && full.trim().ends_with("rc=1"),
        "{full}"
    );
    // The limited disk is the node's own: neither another node nor the host sees it.
    let mounted = format!("mountpoint -q {DISK}");
    assert_eq!(n[1].account().ssh_status(&mounted).await.unwrap(), Some(1));
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!host.contains("ducttape-disk"), "{host}");
    assert!(faults
        .describe(&n[0])
        .await
        .unwrap()
        .starts_with("disk_full: "));

    faults.heal_all().await.unwrap();
    let after = n[0].account().ssh_output(&write).await.unwrap();
    assert_eq!(after.trim(), "rc=0", "writes succeed once healed");
    assert_eq!(faults.describe(&n[0]).await.unwrap(), "");
    assert_eq!(windows(&ctx), [FaultKind::DiskFull.name()]);
}

/// A one-byte request and its answer from `from` to the echo server on `to:port`, on a new
/// connection, in ms (timed on `from`, from the request's send to the answer's arrival).
async fn round_trip_ms(from: &Node, to: &Node, port: u16) -> u64 {
    let client = format!(
        "python3 -c 'import socket, time\n\
         s = socket.create_connection((\"{}\", {port}), timeout=30)\n\
         t = time.monotonic(); s.sendall(b\"x\"); assert s.recv(1) == b\"x\"\n\
         print(int((time.monotonic() - t) * 1000))'",
        to.address()
    );
    let out = from.account().ssh_output(&client).await.unwrap();
    out.trim().parse().unwrap()
}

#[rstest]
#[tokio::test]
#[serial(faults)]
async fn a_delay_holds_each_way_until_healed(ctx: TestContext) {
    let n = ctx.lease(2).await.unwrap();
    let port = 7007;
    let echo = format!(
        "python3 -c 'import socketserver\n\
         class Echo(socketserver.BaseRequestHandler):\n    \
           def handle(self):\n        \
             while (b := self.request.recv(4096)): self.request.sendall(b)\n\
         socketserver.ThreadingTCPServer((\"0.0.0.0\", {port}), Echo).serve_forever()'"
    );
    n[0].account()
        .spawn(&echo, "/mnt/echo.log", "/mnt/echo.pid")
        .await
        .unwrap();
    n[0].account()
        .wait_for_port(port, Duration::from_secs(30))
        .await
        .unwrap();
    let faults = Faults::new(&ctx);

    // A request and its answer are each held for the delay: the round trip takes at least
    // twice as long (a lower bound, robust to a busy machine); without the delay it is far
    // quicker, so the check tells the two apart.
    let delay = Duration::from_millis(300);
    let at_least_ms = 2 * 300;
    let free = round_trip_ms(&n[1], &n[0], port).await;
    assert!(free < at_least_ms, "an undelayed round trip took {free} ms");
    faults.delay(&n[0], port, delay).await.unwrap();
    let described = faults.describe(&n[0]).await.unwrap();
    assert!(
        described.starts_with("delay: port 7007: +300 ms"),
        "{described}"
    );
    let delayed = round_trip_ms(&n[1], &n[0], port).await;
    assert!(
        delayed >= at_least_ms,
        "a round trip delayed {delay:?} each way took {delayed} ms"
    );
    assert!(faults.delay(&n[0], port, Duration::ZERO).await.is_err());

    faults.heal_all().await.unwrap();
    let healed = round_trip_ms(&n[1], &n[0], port).await;
    assert!(
        healed < at_least_ms,
        "after healing a round trip took {healed} ms"
    );
    assert_eq!(faults.describe(&n[0]).await.unwrap(), "");
    assert_eq!(windows(&ctx), [FaultKind::Delay.name()]);
    ctx.record("round_trip_free_ms", free);
    ctx.record("round_trip_delayed_ms", delayed);
    println!(
        "round trip: {free} ms free, {delayed} ms delayed {delay:?} each way, {healed} ms healed"
    );
    // What the test started outside services it stops itself (teardown fails a test that
    // leaves a process running).
    n[0].account()
        .stop("/mnt/echo.pid", false, Duration::ZERO)
        .await
        .unwrap();
}

/// Kafka's `log.dirs` (`kafka/config.rs`).
const KAFKA_DATA: &str = "/mnt/kafka/data";

/// The cheapest Kafka cluster where leadership can move: a started ZooKeeper node and two
/// brokers (3.9, ZooKeeper mode, a 6 s ZooKeeper session), built but not started, so a test
/// can prepare their nodes first. Returns the ZooKeeper node (outside every fault: an
/// observer) and the brokers.
async fn two_brokers_built(ctx: &TestContext) -> (Node, Arc<KafkaService>) {
    let mut n = ctx.lease(3).await.unwrap();
    let brokers = n.split_off(1);
    let zk = ZookeeperService::new(ctx, n.clone()).unwrap();
    zk.start().await.unwrap();
    let kafka = KafkaService::builder(brokers)
        .version(KafkaVersion::V3_9)
        .zookeeper(&zk)
        .config("zookeeper.session.timeout.ms", 6000)
        .build(ctx)
        .unwrap();
    (n.remove(0), kafka)
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn a_paused_leader_loses_leadership_and_rejoins_once_healed(ctx: TestContext) {
    let (zk_node, kafka) = two_brokers_built(&ctx).await;
    kafka.start().await.unwrap();
    let faults = Faults::new(&ctx);
    let topic = "paused";
    kafka
        .create_topic(&TopicSpec::new(topic).partitions(1).replication_factor(2))
        .await
        .unwrap();
    let leader = wait_for_leader(&kafka, topic, 0).await.unwrap();
    let in_sync = |want: usize| {
        let kafka = kafka.clone();
        async move {
            ducttape_core::wait_until(
                &format!("{want} replicas of {topic}-0 in sync"),
                Duration::from_secs(60),
                Duration::from_millis(500),
                || async {
                    let parts = kafka.describe_topic(topic).await?;
                    Ok::<_, ServiceError>(parts.iter().any(|p| p.isr.len() == want))
                },
            )
            .await
        }
    };
    in_sync(2).await.unwrap();
    let survivor = kafka
        .brokers()
        .into_iter()
        .find(|b| b.name() != leader.name())
        .unwrap();
    // The brokers' own view, from their JMX metrics: with both replicas in sync, the check
    // that a broker saw under-replicated partitions fails (nothing was cut off)…
    let calm_from = std::time::SystemTime::now();
    let calm_to = sample_brokers_now(&kafka).await;
    let calm = under_replicated_seen(&kafka, &survivor, calm_from, calm_to);
    assert!(
        matches!(calm, Err(UnderReplicationError::NotSeen { .. })),
        "nothing cut off, yet: {calm:?}"
    );
    // …and a metric that does not exist is an error naming it, not an empty series.
    let typo = kafka
        .metrics()
        .series("UnderReplicatedPartition")
        .unwrap_err()
        .to_string();
    assert!(
        typo.contains("\"UnderReplicatedPartition\"") && typo.contains("did you mean"),
        "{typo}"
    );

    // A stopped JVM keeps its sockets and its ZooKeeper session until the session times out:
    // then the controller moves leadership to the other replica.
    let paused_from = std::time::SystemTime::now();
    faults.pause(kafka.as_ref(), &leader).await.unwrap();
    wait_for_leader_move(&kafka, &zk_node, topic, &leader)
        .await
        .unwrap();
    // The survivor leads alone: it reports its partition under-replicated.
    let paused_to = sample_brokers_now(&kafka).await;
    let seen = under_replicated_seen(&kafka, &survivor, paused_from, paused_to).expect(
        "the surviving broker reports under-replicated partitions while its follower is paused",
    );
    println!(
        "{} reported {seen} under-replicated partition(s) while {} was paused",
        survivor.name(),
        leader.name()
    );
    faults.heal_all().await.unwrap();
    // Continued, the old leader finds its session gone, registers again and catches up. Asked
    // of the other broker: the old leader's own view is the stale one from before the pause
    // (itself leading, both in sync), so asking it would pass at once.
    wait_for_rejoin(&kafka, &zk_node, topic, &leader)
        .await
        .unwrap();
    assert_eq!(produce_acked(&kafka, topic, 10, 1).await.unwrap().len(), 10);
    assert_eq!(windows(&ctx), [FaultKind::Pause.name()]);
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn a_broker_whose_disk_fills_takes_its_log_dir_offline_and_leadership_moves(
    ctx: TestContext,
) {
    let (zk_node, kafka) = two_brokers_built(&ctx).await;
    let brokers = kafka.brokers();
    // After the services are built, so teardown unmounts the disks before cleaning them.
    let faults = Faults::new(&ctx);
    for b in &brokers {
        faults.limit_disk(b, KAFKA_DATA, 64 << 20).await.unwrap();
    }
    kafka.start().await.unwrap();
    let topic = "full";
    kafka
        .create_topic(&TopicSpec::new(topic).partitions(1).replication_factor(2))
        .await
        .unwrap();
    let leader = wait_for_leader(&kafka, topic, 0).await.unwrap();
    assert_eq!(produce_acked(&kafka, topic, 10, 1).await.unwrap().len(), 10);

    faults.fill_disk(&leader, KAFKA_DATA).await.unwrap();
    // The leader's next write fails with ENOSPC: its only log dir goes offline, it stops, and
    // the other replica takes over; records are acknowledged again, by the new leader.
    let acked = produce_acked(&kafka, topic, 10, 2).await.unwrap();
    wait_for_leader_move(&kafka, &zk_node, topic, &leader)
        .await
        .unwrap();
    assert_eq!(
        acked.len(),
        10,
        "acknowledged after the disk filled: {acked:?}"
    );
    let said = leader
        .account()
        .ssh_output(&format!(
            "grep -h -e 'Stopping serving logs in dir {KAFKA_DATA}' -e 'all log dirs' \
             -e 'No space left on device' /mnt/kafka/server.log | head -n 5; true"
        ))
        .await
        .unwrap();
    assert!(
        said.contains("Stopping serving logs in dir") && said.contains("No space left"),
        "the leader's log: {said}"
    );
    println!("the leader with the full disk said:\n{said}");
}

/// Now by the test host's clock, in ms since the epoch.
fn host_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(now.as_millis()).unwrap()
}

/// What a JVM started on a node said the time was, and the host's clock before and after it
/// ran (ms since the epoch).
#[derive(Debug)]
struct ClockReading {
    before: i64,
    jvm: i64,
    after: i64,
}

impl ClockReading {
    /// Whether the JVM's clock read `seconds` ahead of the host's (behind when negative):
    /// its time less the offset falls within the host's before and after, bounds included.
    fn off_by(&self, seconds: i64) -> bool {
        (self.before..=self.after).contains(&(self.jvm - seconds * 1000))
    }
}

/// Starts a JVM on `node` the way every service and tool starts one (`JavaCommand`) and reads
/// its wall clock: the JVM's unified logging stamps its first line with
/// `System.currentTimeMillis()` (the `timemillis` decoration), and `-version` ends it there.
async fn jvm_clock(node: &Node) -> ClockReading {
    let java = KafkaVersion::DEFAULT
        .tool("kafka.Kafka")
        .jvm_arg("-Xlog:gc+init:stdout:timemillis")
        .jvm_arg("-version")
        .render();
    let before = host_ms();
    let out = node
        .account()
        .ssh_output(&format!("{java} 2>/dev/null"))
        .await
        .unwrap();
    let after = host_ms();
    let jvm = out
        .lines()
        .find_map(|l| l.strip_prefix('[')?.split_once("ms]"))
        .and_then(|(ms, _)| ms.parse().ok())
        .unwrap_or_else(|| panic!("no [<ms>ms] line from the JVM on {}: {out:?}", node.name()));
    ClockReading { before, jvm, after }
}

#[rstest]
#[tokio::test]
#[serial(faults)]
async fn a_skewed_clock_moves_a_jvm_s_wall_clock_until_healed(ctx: TestContext) {
    let n = ctx.lease(2).await.unwrap();
    let faults = Faults::new(&ctx);
    let hour = 3600;
    // A node whose clock was not faked cannot be skewed: the fault says so, and opens no window.
    let refused = faults.skew_clock(&n[0], hour).await.unwrap_err();
    assert!(refused.to_string().contains("fake_clock"), "{refused}");
    faults.fake_clock(&n[0]).await.unwrap();
    faults.fake_clock(&n[1]).await.unwrap();

    // The check cannot pass on an unskewed JVM: prepared, at +0, it reads the host's time.
    let unskewed = jvm_clock(&n[0]).await;
    assert!(unskewed.off_by(0) && !unskewed.off_by(hour), "{unskewed:?}");

    faults.skew_clock(&n[0], hour).await.unwrap();
    let skewed = jvm_clock(&n[0]).await;
    assert!(skewed.off_by(hour) && !skewed.off_by(0), "{skewed:?}");
    // Per node: the other node's JVMs keep the host's time.
    let other = jvm_clock(&n[1]).await;
    assert!(other.off_by(0), "{other:?}");
    let described = faults.describe(&n[0]).await.unwrap();
    assert!(
        described.starts_with("clock_skew: offset +3600 s"),
        "{described}"
    );
    println!("skewed {skewed:?}, other node {other:?}: {described}");

    faults.heal_all().await.unwrap();
    let healed = jvm_clock(&n[0]).await;
    assert!(healed.off_by(0), "{healed:?}");
    assert_eq!(faults.describe(&n[0]).await.unwrap(), "");
    assert_eq!(windows(&ctx), [FaultKind::ClockSkew.name()]);
}

/// The segment files of partition 0 of `topic` in the broker's data directory, by base offset.
async fn segments(broker: &Node, topic: &str) -> Vec<u64> {
    let out = broker
        .account()
        .ssh_output(&format!("ls {KAFKA_DATA}/{topic}-0/"))
        .await
        .unwrap();
    out.lines()
        .filter_map(|f| f.strip_suffix(".log")?.parse().ok())
        .collect()
}

/// The broker's `LogAppendTime` of each record of `topic` read from the beginning (`count`
/// records), with its value.
async fn append_times(kafka: &KafkaService, topic: &str, count: usize) -> Vec<(i64, String)> {
    let out = consume_printed(kafka, topic, count, &["timestamp"])
        .await
        .unwrap();
    out.lines()
        .map(|l| {
            let (ts, value) = l.split_once('\t').unwrap_or((l, ""));
            let ms = ts
                .strip_prefix("LogAppendTime:")
                .and_then(|ms| ms.parse().ok())
                .unwrap_or_else(|| panic!("not a LogAppendTime record: {l:?}"));
            (ms, value.to_string())
        })
        .collect()
}

/// Whether every record was stamped `seconds` off the host's clock between `before` and `after`.
fn stamped_off_by(records: &[(i64, String)], before: i64, after: i64, seconds: i64) -> bool {
    !records.is_empty()
        && records
            .iter()
            .all(|(ms, _)| (before..=after).contains(&(ms - seconds * 1000)))
}

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn a_broker_whose_clock_jumps_stamps_records_ahead_and_deletes_by_it(ctx: TestContext) {
    let nodes = ctx.lease(1).await.unwrap();
    let broker = nodes[0].clone();
    let check_ms = 1000;
    let kafka = KafkaService::builder(nodes)
        .kraft_combined(1)
        .config("log.retention.check.interval.ms", check_ms)
        .build(&ctx)
        .unwrap();
    // After the service is built, so teardown heals before it stops it; before it starts, so
    // the broker's JVM runs under the faked clock.
    let faults = Faults::new(&ctx);
    faults.fake_clock(&broker).await.unwrap();
    kafka.start().await.unwrap();
    let topic = "clock";
    let retention_ms = 600_000;
    kafka
        .create_topic(
            &TopicSpec::new(topic)
                .partitions(1)
                .replication_factor(1)
                .config("message.timestamp.type", "LogAppendTime")
                .config("retention.ms", retention_ms)
                .config("segment.ms", retention_ms),
        )
        .await
        .unwrap();
    let hour = 3600;

    // Unskewed: the broker stamps records with the host's time, rolls no segment and deletes
    // nothing, through many retention checks — the checks below cannot pass without the jump.
    let before = host_ms();
    assert_eq!(
        produce_acked(&kafka, topic, 100, 1).await.unwrap().len(),
        100
    );
    let first = append_times(&kafka, topic, 100).await;
    let after = host_ms();
    assert!(
        stamped_off_by(&first, before, after, 0) && !stamped_off_by(&first, before, after, hour),
        "{first:?}"
    );
    // The control needs time for retention checks to run and delete nothing: at least three
    // check intervals since the first record (on a quiet machine producing and reading back
    // takes less). Absence can only be watched for a while; the wait is that while, not a
    // stand-in for readiness.
    let short = 3 * check_ms - (host_ms() - before);
    if short > 0 {
        tokio::time::sleep(Duration::from_millis(short.unsigned_abs())).await;
    }
    assert_eq!(segments(&broker, topic).await, [0]);

    // The broker's clock jumps an hour ahead while it runs.
    faults.skew_clock(&broker, hour).await.unwrap();
    let before = host_ms();
    assert_eq!(
        produce_acked(&kafka, topic, 100, 2).await.unwrap().len(),
        100
    );
    // The new records are an hour newer than the segment's first: the broker rolls a segment
    // (segment.ms is 10 min of record time), and by its clock the first segment's newest record
    // is now an hour old — past retention.ms — so it deletes it, acknowledged records and all.
    ducttape_core::wait_until(
        "the broker deletes the first segment by retention time",
        Duration::from_secs(60),
        Duration::from_millis(250),
        || async { Ok::<_, String>(segments(&broker, topic).await == [100]) },
    )
    .await
    .unwrap();
    let second = append_times(&kafka, topic, 100).await;
    let after = host_ms();
    assert!(
        second.iter().all(|(_, v)| v.starts_with("2.")),
        "only the records produced after the jump are left: {second:?}"
    );
    assert!(
        stamped_off_by(&second, before, after, hour) && !stamped_off_by(&second, before, after, 0),
        "{second:?}"
    );
    let said = broker
        .account()
        .ssh_output(&format!(
            "grep -h 'due to log retention time {retention_ms}ms breach' /mnt/kafka/server.log | head -n 1; true"
        ))
        .await
        .unwrap();
    assert!(said.contains("baseOffset=0"), "the broker's log: {said}");
    println!("the broker whose clock jumped said:\n{said}");
    faults.heal_all().await.unwrap();
    assert_eq!(windows(&ctx), [FaultKind::ClockSkew.name()]);
}
