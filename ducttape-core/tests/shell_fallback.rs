//! A node that cannot run our command shell (no bash) still runs every command, one SSH
//! exec each. Its own test binary: the fallback is remembered per node for the process.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test

mod common;

use std::time::Duration;

use ducttape_core::cluster::Cluster;
use ducttape_core::remote::RemoteAccount;

/// Runs `command` as an SSH exec of its own (a command with stdin never goes to a shell).
async fn exec(a: &RemoteAccount, command: &str) -> String {
    let out = a
        .run(command, Some(Vec::new()), Duration::from_secs(20))
        .await
        .unwrap();
    assert!(out.status.success(), "{command}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn node_without_bash_falls_back_to_an_exec_per_command() {
    let ctx = common::ctx();
    let cluster = Cluster::global().unwrap();
    if cluster.local().is_none() {
        // It hides bash with a bind mount: only ever inside a local node's mount namespace.
        ctx.skip("needs the local cluster (DUCTTAPE_CLUSTER is set): it hides bash in a node's mount namespace");
        return;
    }
    let nodes = ctx.lease(1).await.unwrap();
    let a = nodes[0].account();
    // In a shell, $BASHPID is the subshell's pid.
    let in_shell = a.ssh_output("echo \"[$BASHPID]\"").await.unwrap();
    assert_ne!(in_shell.trim(), "[]", "{in_shell}");

    // dash in place of bash, in this node's private mount namespace only: the login shell
    // still starts (as dash), `bash --norc …` fails with a usage error.
    exec(
        a,
        "mount --bind \"$(readlink -f /bin/sh)\" \"$(readlink -f /bin/bash)\"",
    )
    .await;
    a.disconnect().await; // the running shells are real bash: start afresh

    let out = a.ssh_output("echo \"[$BASHPID]\"; exit 0").await.unwrap();
    assert_eq!(out, "[]\n", "ran under dash, through an exec");
    let err = a.ssh("echo to-stderr >&2; exit 4").await.unwrap_err();
    assert!(err.to_string().contains("exit status 4"), "{err}");
    assert!(err.to_string().contains("to-stderr"), "{err}");

    exec(a, "umount -l \"$(readlink -f /bin/bash)\"").await; // lazily: this shell runs from it
}
