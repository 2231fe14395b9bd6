#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! Network faults on real nodes: a partition cuts exactly the pairs it names, packet loss and
//! rate limits are in place until healed, and teardown heals whatever a test left.

use std::time::Duration;

use ducttape_core::cluster::Cluster;
use ducttape_services::faults::Faults;
use ducttape_tests::{ctx, Node, TestContext};
use rstest::rstest;
use serial_test::serial;

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
    assert!(!faults.describe(&n[1]).await.unwrap().contains("tbf"));
}

#[rstest]
#[tokio::test]
#[serial(faults)]
async fn teardown_heals_what_a_test_left(ctx: TestContext) {
    let n = ctx.lease(2).await.unwrap();
    let faults = Faults::new(&ctx);
    faults.partition(&n[..1], &n[1..]).await.unwrap();
    faults.rate_limit(&n[0], "500kbit").await.unwrap();
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
    assert!(
        !probe.describe(a).await.unwrap().contains("tbf"),
        "the rate limit was removed"
    );
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
