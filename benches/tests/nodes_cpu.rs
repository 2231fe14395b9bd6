//! The CPU the benches derive their floors from is the nodes' own, measured on a real local
//! cluster: work done on a node shows in [`nodes_cpu`], work done on the host beside the nodes
//! (the load of other tests and builds) does not — while the host's busy CPU sees both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use ducttape_benches::{nodes_cpu, CpuMark};
use ducttape_core::cluster::Cluster;
use ducttape_core::TestContext;

/// A shell loop that burns about half a second of CPU here (more under load).
const BURN: &str = "i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done";

#[tokio::test]
async fn nodes_cpu_counts_the_nodes_work_and_not_the_hosts_other_load() {
    let ctx = TestContext::for_current_test().unwrap();
    let cluster = Cluster::global().unwrap();
    if cluster.local().is_none() {
        assert_eq!(nodes_cpu(&cluster), None, "no floor off the local cluster");
        ctx.skip(
            "needs the local cluster (DUCTTAPE_CLUSTER is set): it reads the nodes' processes",
        );
        return;
    }
    let nodes = ctx.lease(1).await.unwrap();
    let account = nodes[0].account();
    account.ssh("true").await.unwrap();

    // Load beside the nodes: a process of the host, not of any node.
    let mark = CpuMark::now(&cluster);
    let status = std::process::Command::new("sh")
        .args(["-c", BURN])
        .status()
        .unwrap();
    assert!(status.success());
    let beside = mark.spent(&cluster).unwrap();
    assert!(
        beside.host >= Duration::from_millis(200),
        "the host saw the load: {beside:?}"
    );
    assert!(
        beside.nodes < Duration::from_millis(100),
        "the nodes did not burn it: {beside:?}"
    );

    // The same work on the node, through its sshd: a process of the node, reaped there.
    let mark = CpuMark::now(&cluster);
    account.ssh(BURN).await.unwrap();
    let on_node = mark.spent(&cluster).unwrap();
    assert!(
        on_node.nodes >= Duration::from_millis(200),
        "the node's work is counted once it exited: {on_node:?}"
    );
    // Not counted twice (its own time and its reaper's cutime): at most what the host burned.
    assert!(
        on_node.nodes <= on_node.host + Duration::from_millis(50),
        "{on_node:?}"
    );
    ctx.finish().await;
}
