//! One command's output never reaches another command's result, though commands share
//! long-lived shells (see `ducttape_core::remote::transport`): background processes a command
//! leaves behind, writing on stdout and stderr after it returned, while later commands run on
//! the same node.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test

mod common;

use std::time::Duration;

use common::ctx;
use ducttape_core::remote::{Output, RemoteAccount};

const LIMIT: Duration = Duration::from_secs(30);

/// Runs `command` and checks that it succeeded with exactly this stdout and stderr.
async fn expect_exactly(a: &RemoteAccount, command: &str, stdout: &str, stderr: &str) {
    let out: Output = a.run(command, None, LIMIT).await.unwrap();
    assert!(out.status.success(), "{command}: {out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        stdout,
        "stdout of `{command}`"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        stderr,
        "stderr of `{command}`"
    );
}

/// The pid of the shell a command runs in (`$$` is the long-lived shell's pid).
async fn shell_pid(a: &RemoteAccount) -> String {
    a.ssh_output("echo $$").await.unwrap()
}

/// Command A leaves writers on stdout and stderr that write half a second after A returned;
/// command B, sent at once on the same account, runs through those writes.
#[tokio::test]
async fn late_background_output_never_reaches_the_next_command() {
    let ctx = ctx();
    let nodes = ctx.lease(1).await.unwrap();
    let a = nodes[0].account();
    // Control: commands run one after another on one account take the same shell, so B would
    // meet A's writers in it.
    assert_eq!(shell_pid(a).await, shell_pid(a).await, "shell not reused");
    let retired = a.transport_stats().shells_retired;

    expect_exactly(
        a,
        "(sleep 0.5; echo LATE-OUT; echo LATE-ERR >&2) & echo A; echo A-ERR >&2",
        "A\n",
        "A-ERR\n",
    )
    .await;
    expect_exactly(a, "sleep 1; echo B; echo B-ERR >&2", "B\n", "B-ERR\n").await;
    // How: A's shell saw a process left in A's process group and was not used again.
    assert_eq!(a.transport_stats().shells_retired, retired + 1);
}

/// A writer left behind keeps writing on both streams for two seconds, while dozens of later
/// commands run on the node, one after another and four at a time: none of them sees a byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_left_behind_never_leaks_into_later_commands() {
    let ctx = ctx();
    let nodes = ctx.lease(1).await.unwrap();
    let a = nodes[0].account();
    expect_exactly(
        a,
        // It starts writing once A has returned (A returns within milliseconds).
        "(sleep 0.3; for i in $(seq 100); do echo LEAK-$i; echo LEAK-ERR-$i >&2; sleep 0.02; done) &
         echo A",
        "A\n",
        "",
    )
    .await;
    for i in 0..20 {
        expect_exactly(
            a,
            &format!("echo out-{i}; sleep 0.03; echo err-{i} >&2"),
            &format!("out-{i}\n"),
            &format!("err-{i}\n"),
        )
        .await;
    }
    for round in 0..5 {
        let runs = (0..4).map(|j| {
            let tag = format!("{round}-{j}");
            async move {
                expect_exactly(
                    a,
                    &format!("echo out-{tag}; sleep 0.05; echo err-{tag} >&2"),
                    &format!("out-{tag}\n"),
                    &format!("err-{tag}\n"),
                )
                .await;
            }
        });
        futures::future::join_all(runs).await;
    }
}

/// `spawn` moves its process into a session of its own with output to a log file: nothing of
/// it is left in the command's process group, so the shell is kept for the next command.
#[tokio::test]
async fn spawn_leaves_the_shell_reusable() {
    let ctx = ctx();
    let nodes = ctx.lease(1).await.unwrap();
    let a = nodes[0].account();
    let retired = a.transport_stats().shells_retired;
    let before = shell_pid(a).await;
    a.spawn("sleep 5151", "/mnt/iso/sleep.log", "/mnt/iso/sleep.pid")
        .await
        .unwrap();
    assert_eq!(shell_pid(a).await, before, "spawn retired the shell");
    assert_eq!(a.transport_stats().shells_retired, retired);
    a.stop("/mnt/iso/sleep.pid", false, Duration::from_secs(5))
        .await
        .unwrap();
}

/// `exec_only` runs each command as an SSH exec of its own: a new login shell each time, and
/// plain `ssh host cmd` semantics — the command is over when its output closes, so a
/// background writer's late output is still its own.
#[tokio::test]
async fn exec_only_bypasses_the_shells() {
    let ctx = ctx();
    let nodes = ctx.lease(1).await.unwrap();
    let a = nodes[0].account().exec_only();
    let before = a.transport_stats();
    assert_ne!(
        shell_pid(&a).await,
        shell_pid(&a).await,
        "a shell was reused"
    );
    expect_exactly(
        &a,
        "(sleep 0.3; echo LATE-OUT; echo LATE-ERR >&2) & echo A",
        "A\nLATE-OUT\n",
        "LATE-ERR\n",
    )
    .await;
    let after = a.transport_stats();
    assert_eq!(after.exec_commands - before.exec_commands, 3, "{after:?}");
    assert_eq!(after.shell_commands, before.shell_commands, "{after:?}");
}
