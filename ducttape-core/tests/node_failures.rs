//! A node whose sshd dies: a clear error naming it, and recovery once sshd is back.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test

mod common;

use ducttape_core::cluster::Cluster;
use ducttape_core::remote::{RemoteError, TransportError};

#[tokio::test]
async fn killed_sshd_gives_a_clear_error_and_recovers_after_restart() {
    let ctx = common::ctx();
    let cluster = Cluster::global().unwrap();
    let Some(local) = cluster.local() else {
        ctx.skip("needs the local cluster (DUCTTAPE_CLUSTER is set): it stops a node's sshd");
        return;
    };
    let nodes = ctx.lease(1).await.unwrap();
    let node = &nodes[0];
    let index = cluster.index_of(node.name()).unwrap();
    node.account().ssh("true").await.unwrap();

    local.stop_sshd(index).unwrap();
    let err = node.account().ssh("echo after").await.unwrap_err();
    let msg = err.to_string();
    assert!(err.is_transport(), "{msg}");
    assert!(
        msg.starts_with(&format!("{}: cannot run `echo after`", node.name())),
        "{msg}"
    );
    // The pooled connection broke; a reconnect was tried and refused.
    assert!(
        matches!(
            &err,
            RemoteError::Transport {
                source: TransportError::Connect { .. },
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains(&format!("{}:22", node.address())), "{msg}");

    local.start_sshd(index).unwrap();
    assert_eq!(
        node.account().ssh_output("echo back").await.unwrap(),
        "back\n"
    );
}
