//! A node whose cleanup fails is quarantined: the test that held it errors, and it is never
//! leased again. Its own test binary: the quarantine lasts as long as the process's cluster.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test

mod common;

use std::time::{Duration, Instant};

use common::{run_as_test, summary, Ran};
use ducttape_core::cluster::{Cluster, LeaseError};

#[tokio::test]
async fn node_that_cannot_be_cleaned_is_quarantined_and_its_test_errors() {
    let ctx = common::ctx();
    let cluster = Cluster::global().unwrap();
    if cluster.local().is_none() {
        ctx.skip("needs the local cluster (DUCTTAPE_CLUSTER is set): it stops a node's sshd");
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let Ran { panic, dir } = run_as_test("quarantine::inner_unclean_node", move |ctx| {
        Box::pin(async move {
            let nodes = ctx.lease(1).await.unwrap();
            let node = &nodes[0];
            node.account()
                .spawn("sleep 6161", "/tmp/q.log", "/tmp/q.pid")
                .await
                .unwrap();
            let cluster = Cluster::global().unwrap();
            let index = cluster.index_of(node.name()).unwrap();
            // Every command fails from now on: the lease's processes cannot be killed.
            cluster.local().unwrap().stop_sshd(index).unwrap();
            tx.send((node.name().to_string(), index)).unwrap();
        })
    });
    let (name, index) = rx.recv().unwrap();
    let panic = panic.expect("a node that cannot be cleaned fails the test");
    assert!(
        panic.contains(&format!("cannot clean node {name}")) && panic.contains("quarantined"),
        "{panic}"
    );
    let s = summary(&dir);
    assert_eq!(s["status"], "error", "{s}");
    assert!(
        s["message"].as_str().unwrap().contains(&name),
        "names the node: {s}"
    );
    assert_eq!(cluster.quarantined(), std::slice::from_ref(&name));

    // A request only the quarantined node could complete fails at once, naming it.
    let all = cluster.specs().len();
    let started = Instant::now();
    let err = cluster.lease(all).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "must not wait");
    assert!(
        matches!(&err, LeaseError::Quarantined { wanted, usable, quarantined, .. }
            if *wanted == all && *usable == all - 1 && *quarantined == [name.clone()]),
        "{err}"
    );
    assert!(err.to_string().contains(&name), "{err}");
    // The others are still served, without it.
    let rest = cluster.lease(all - 1).await.unwrap();
    assert!(rest.nodes().iter().all(|n| n.name() != name));
    rest.release().await.unwrap();

    cluster.local().unwrap().start_sshd(index).unwrap();

    // A request already waiting fails as soon as a quarantine makes it impossible.
    let held = cluster.lease(1).await.unwrap();
    let other = held.nodes()[0].clone();
    let other_index = cluster.index_of(other.name()).unwrap();
    other
        .account()
        .spawn("sleep 6262", "/tmp/q.log", "/tmp/q.pid")
        .await
        .unwrap();
    let waiter = {
        let cluster = cluster.clone();
        tokio::spawn(async move { cluster.lease(all - 1).await.map(drop) })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "waits while the node is held");
    cluster.local().unwrap().stop_sshd(other_index).unwrap();
    let err = held.release().await.unwrap_err();
    assert!(err.to_string().contains(other.name()), "{err}");
    let err = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("a waiting request fails at once when a quarantine makes it impossible")
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, LeaseError::Quarantined { quarantined, .. } if quarantined.len() == 2),
        "{err}"
    );
    cluster.local().unwrap().start_sshd(other_index).unwrap();
}
