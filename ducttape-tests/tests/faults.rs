#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! Network faults on real nodes: a partition cuts exactly the pairs it names, packet loss and
//! rate limits are in place until healed, and teardown heals whatever a test left.

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
    ctx.finish().await; // as if the test ended here, healed or not

    let check = ducttape_tests::ctx();
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
