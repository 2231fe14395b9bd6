//! Leasing against the real cluster: FIFO waiting, timeout, oversize, and clean nodes after.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ducttape_core::cluster::{Cluster, LeaseError, LeaseRequest};
use serial_test::serial;

fn cluster() -> Arc<Cluster> {
    Cluster::global().expect("cluster")
}

#[tokio::test]
#[serial(lease)]
async fn oversize_requests_fail_at_once() {
    let c = cluster();
    let n = c.specs().len();
    let started = Instant::now();
    let err = c.lease(n + 1).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "an oversize request must not wait"
    );
    assert!(
        matches!(err, LeaseError::TooLarge { wanted, available, .. } if wanted == n + 1 && available == n)
    );
    let err = c
        .lease_with(LeaseRequest::new(1).kind("no-such-kind"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no-such-kind"), "{err}");
}

#[tokio::test]
#[serial(lease)]
async fn waiting_requests_time_out_and_are_served_in_order() {
    let c = cluster();
    let n = c.specs().len();
    let all = c.lease(n).await.unwrap();

    // Nothing free: a request times out with a clear error.
    let err = c
        .lease_with(LeaseRequest::new(1).timeout(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LeaseError::Timeout {
                wanted: 1,
                free: 0,
                ..
            }
        ),
        "{err}"
    );

    // Two waiters: the first asked is the first served, even though the second asks for less.
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (c1, o1) = (c.clone(), order.clone());
    let first = tokio::spawn(async move {
        let l = c1.lease(n).await.unwrap();
        o1.lock().unwrap().push("first");
        tokio::time::sleep(Duration::from_millis(200)).await;
        l.release().await.unwrap();
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (c2, o2) = (c.clone(), order.clone());
    let second = tokio::spawn(async move {
        let l = c2.lease(1).await.unwrap();
        o2.lock().unwrap().push("second");
        l.release().await.unwrap();
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        order.lock().unwrap().is_empty(),
        "nobody served while all nodes are leased"
    );
    all.release().await.unwrap();
    first.await.unwrap();
    second.await.unwrap();
    assert_eq!(*order.lock().unwrap(), ["first", "second"]);
}

#[tokio::test]
#[serial(lease)]
async fn released_nodes_come_back_without_the_leases_processes() {
    let c = cluster();
    let lease = c.lease(2).await.unwrap();
    let names: Vec<String> = lease.nodes().iter().map(|n| n.name().to_string()).collect();
    for node in lease.nodes() {
        node.account()
            .spawn("sleep 4242", "/tmp/l.log", "/tmp/l.pid")
            .await
            .unwrap();
        // Also one the account does not know about: the node sweep catches it.
        node.account()
            .ssh("nohup sleep 4343 > /dev/null 2>&1 &")
            .await
            .unwrap();
    }
    drop(lease); // dropping cleans too, like release()

    let n = c.specs().len();
    let again = c.lease(n).await.unwrap();
    for node in again
        .nodes()
        .iter()
        .filter(|n| names.iter().any(|x| x == n.name()))
    {
        let left = common::running(node.account(), "[s]leep 4[23]4[23]").await;
        assert_eq!(left.trim(), "", "processes left on {}", node.name());
    }
    again.release().await.unwrap();
}

/// Two clusters over the same nodes and lock directory stand for two test processes (nextest,
/// two `cargo test`s): `flock` locks conflict between open files exactly as between processes.
#[tokio::test]
#[serial(lease)]
async fn file_backed_clusters_never_share_a_node() {
    let specs = cluster().specs();
    let locks = tempfile::tempdir().unwrap();
    let one = Arc::new(Cluster::from_nodes_locked_in(
        specs.clone(),
        locks.path().to_path_buf(),
    ));
    let other = Arc::new(Cluster::from_nodes_locked_in(
        specs.clone(),
        locks.path().to_path_buf(),
    ));

    let held = one.lease(specs.len()).await.unwrap();
    let err = other
        .lease_with(LeaseRequest::new(1).timeout(Duration::from_millis(500)))
        .await
        .unwrap_err();
    assert!(matches!(err, LeaseError::Timeout { .. }), "{err}");

    // Released by the one, the nodes become available to the other (which polls the locks).
    let waiter =
        tokio::spawn(async move { other.lease(specs.len()).await.map(|l| l.nodes().len()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    held.release().await.unwrap();
    assert_eq!(waiter.await.unwrap().unwrap(), cluster().specs().len());
}

/// A file-backed cluster (as from a JSON cluster file or Vagrant) has no host-side sweep of
/// its nodes: the lease itself must find what its commands started, however they did.
#[tokio::test]
#[serial(lease)]
async fn file_backed_lease_kills_every_process_its_commands_started() {
    let specs = cluster().specs();
    let locks = tempfile::tempdir().unwrap();
    let files = Arc::new(Cluster::from_nodes_locked_in(
        specs[..1].to_vec(),
        locks.path().to_path_buf(),
    ));
    let pattern = "[s]leep 4[6-8]4[6-8]";
    let lease = files.lease(1).await.unwrap();
    let a = lease.nodes()[0].account();
    a.ssh("nohup sleep 4646 > /dev/null 2>&1 &").await.unwrap();
    a.ssh("setsid sleep 4747 > /dev/null 2>&1 < /dev/null &")
        .await
        .unwrap();
    // A daemon that double-forks away from its parent and session.
    a.ssh("(setsid sh -c 'sleep 4848 & exit' > /dev/null 2>&1 < /dev/null &)")
        .await
        .unwrap();
    let running = common::running(a, pattern).await;
    assert_eq!(running.lines().count(), 3, "{running}");
    lease.release().await.unwrap();

    let again = files.lease(1).await.unwrap();
    let left = common::running(again.nodes()[0].account(), pattern).await;
    assert_eq!(
        left.trim(),
        "",
        "processes the lease started are still running"
    );
    again.release().await.unwrap();
}
