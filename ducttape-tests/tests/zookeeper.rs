//! A 3-node ZooKeeper ensemble keeps serving a client while each member in turn is bounced.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test

use std::time::Duration;

use ducttape_core::cluster::Cluster;
use ducttape_services::{ServiceExt, ZookeeperService};
use ducttape_tests::{assert_no_jvm, ctx, TestContext};
use rstest::rstest;
use serial_test::serial;

const CLIENT: &str = include_str!("../java/ZkClient.java");

#[rstest]
#[tokio::test]
#[serial(heavy)]
async fn ensemble_serves_a_client_through_rolling_bounces(ctx: TestContext) {
    let mut nodes = ctx.lease(4).await.unwrap();
    let client_node = nodes.pop().unwrap();
    let zk = ZookeeperService::new(&ctx, nodes.clone());
    zk.start().await.unwrap();
    let first_leader = zk.leader().await.unwrap();

    // The client runs on its own node for the whole scenario.
    let account = client_node.account();
    account
        .create_file("/mnt/zkclient/ZkClient.java", CLIENT)
        .await
        .unwrap();
    let run = format!(
        "cd /mnt/zkclient && java -Dlog4j.configuration=file:/opt/kafka/config/tools-log4j.properties \
         -cp '/opt/kafka/libs/*' ZkClient.java {} 40",
        zk.connect_string()
    );
    let client = account.with_timeout(Duration::from_secs(180));
    let client_run = tokio::spawn(async move { client.ssh_output(&run).await });

    // Bounce every member in turn once the client is writing.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let mut modes = Vec::new();
    for node in &nodes {
        zk.restart_node(node, true).await.unwrap();
        modes.push(zk.status(node).await.unwrap().mode);
    }
    let out = client_run.await.unwrap().unwrap();

    let ok: Vec<u64> = out
        .lines()
        .filter_map(|l| l.strip_prefix("ok "))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    let errors = out.lines().filter(|l| l.starts_with("error ")).count();
    let last = out.lines().last().unwrap_or_default().to_string();
    assert!(
        last.starts_with("done ok="),
        "client did not finish cleanly:\n{out}"
    );
    assert!(
        ok.len() > 100,
        "only {} successful operations:\n{out}",
        ok.len()
    );
    // Serving throughout: no gap between successful operations longer than a leader
    // election plus a reconnect.
    let longest_gap = ok.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    assert!(
        longest_gap < 20_000,
        "client was stuck for {longest_gap} ms:\n{out}"
    );

    // Every znode the client created is still there after the bounces.
    let count = zk
        .status(&zk.leader().await.unwrap())
        .await
        .unwrap()
        .node_count
        .unwrap();
    assert!(
        count as usize >= ok.len(),
        "{count} znodes for {} creates",
        ok.len()
    );

    ctx.record("successful_ops", ok.len() as u64);
    ctx.record("failed_ops", errors as u64);
    ctx.record("longest_gap_ms", longest_gap);
    ctx.record("first_leader", first_leader.name());
    ctx.record("modes_after_bounce", modes);
    println!(
        "zookeeper rolling bounce: {} ok, {errors} failed, longest gap {longest_gap} ms",
        ok.len()
    );

    let all = Cluster::global().unwrap().specs().len();
    ctx.finish().await;
    // Teardown stopped everything: nothing of ours runs on any node.
    let check = ducttape_tests::ctx();
    let every = check.lease(all).await.unwrap();
    assert_no_jvm(&every).await;
}
