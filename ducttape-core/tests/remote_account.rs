//! RemoteAccount against real sshd nodes of the cluster (the local cluster by default).
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test

mod common;

use std::time::{Duration, Instant};

use common::ctx;
use ducttape_core::remote::{ExitStatus, RemoteAccount, RemoteError, StopOutcome};

#[tokio::test]
async fn ssh_output_and_status() {
    let ctx = ctx();
    let nodes = ctx.lease(1).await.unwrap();
    let a = nodes[0].account();
    assert_eq!(a.ssh_output("echo hello").await.unwrap(), "hello\n");
    assert_eq!(a.ssh_status("exit 7").await.unwrap(), Some(7));
    assert_eq!(a.ssh_status("true").await.unwrap(), Some(0));
    a.ssh("true").await.unwrap();
    // The node sees its own address.
    let addrs = a.ssh_output("hostname -I").await.unwrap();
    assert!(
        addrs.split_whitespace().any(|x| x == nodes[0].address()),
        "{addrs}"
    );
}

#[tokio::test]
async fn failing_command_error_names_node_command_status_and_tail() {
    let ctx = ctx();
    let nodes = ctx.lease(1).await.unwrap();
    let err = nodes[0]
        .account()
        .ssh("echo to-stdout; echo to-stderr >&2; exit 3")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(&ExitStatus::Code(3)));
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("{}: `echo to-stdout", nodes[0].name())),
        "{msg}"
    );
    assert!(
        msg.contains("exit status 3") && msg.contains("to-stdout") && msg.contains("to-stderr"),
        "{msg}"
    );
}

#[tokio::test]
async fn timeout_kills_the_command_and_says_so() {
    let ctx = ctx();
    let nodes = ctx.lease(1).await.unwrap();
    let a = nodes[0].account();
    let started = Instant::now();
    let err = a
        .with_timeout(Duration::from_millis(500))
        .ssh("echo started; sleep 30")
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the timeout did not end the wait"
    );
    match &err {
        RemoteError::Timeout {
            node, stdout_tail, ..
        } => {
            assert_eq!(node, nodes[0].name());
            assert_eq!(stdout_tail, "started");
        }
        other => panic!("expected a timeout, got {other}"),
    }
    // The remote sleep was killed with the channel.
    let left = a.ssh_output("pgrep -f '[s]leep 30' || true").await.unwrap();
    assert_eq!(left.trim(), "", "sleep still running");
}

/// Commands run in long-lived shells on the node; an abandoned one is killed whole (its
/// process group first), so a loop cannot go on starting children after the timeout.
#[tokio::test]
async fn timeout_kills_a_looping_command_whole() {
    let ctx = ctx();
    let nodes = ctx.lease(1).await.unwrap();
    let a = nodes[0].account();
    let err = a
        .with_timeout(Duration::from_millis(500))
        .ssh("while true; do sleep 0.0517; done")
        .await
        .unwrap_err();
    assert!(matches!(err, RemoteError::Timeout { .. }), "{err}");
    // Were the loop alive it would have started another sleep within the wait.
    let left = a
        .ssh_output("sleep 0.5; pgrep -f '[s]leep 0.0517' || true")
        .await
        .unwrap();
    assert_eq!(left.trim(), "", "the loop is still running");
}

/// A background process that keeps the command's output open does not hold the command
/// open (an SSH exec waits for it), and the shell keeps giving clean output afterwards.
#[tokio::test]
async fn background_process_does_not_hold_the_command() {
    let ctx = ctx();
    let nodes = ctx.lease(1).await.unwrap();
    let a = nodes[0].account().with_timeout(Duration::from_secs(20));
    assert_eq!(
        a.ssh_output("sleep 4141 & echo started").await.unwrap(),
        "started\n"
    );
    for i in 0..20 {
        assert_eq!(
            a.ssh_output(&format!("echo {i}")).await.unwrap(),
            format!("{i}\n")
        );
    }
    a.ssh("pkill -f '[s]leep 4141'").await.unwrap();
}

/// Shells that die while idle are replaced without the caller noticing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_shells_killed_on_the_node_are_replaced() {
    let ctx = ctx();
    let nodes = ctx.lease(1).await.unwrap();
    let a = nodes[0].account().clone();
    let batch = |tag: &'static str| {
        let a = a.clone();
        async move {
            let runs = (0..16).map(|i| {
                let a = a.clone();
                async move { (i, a.ssh_output(&format!("sleep 0.1; echo {tag}{i}")).await) }
            });
            for (i, out) in futures::future::join_all(runs).await {
                assert_eq!(out.unwrap(), format!("{tag}{i}\n"));
            }
        }
    };
    batch("before").await;
    // Kill every command shell, through an SSH exec of its own (a command with stdin).
    let killed = a
        .run(
            "pkill -KILL -c -f '^bash --norc --noprofile -c [e]xec 3' || true",
            Some(Vec::new()),
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    let count: usize = String::from_utf8_lossy(&killed.stdout)
        .trim()
        .parse()
        .unwrap();
    assert!(count >= 2, "expected several idle shells, killed {count}");
    batch("after").await;
}

#[tokio::test]
async fn unreachable_nodes_fail_fast_with_the_address() {
    let a = RemoteAccount::new(&common::refused_node());
    let err = a.ssh("true").await.unwrap_err();
    assert!(err.is_transport(), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("nobody") && msg.contains("127.0.0.1:1"),
        "{msg}"
    );
}

#[tokio::test]
async fn files_round_trip() {
    let ctx = ctx();
    let nodes = ctx.lease(1).await.unwrap();
    let a = nodes[0].account();
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    a.create_file("/mnt/rt/sub/data.bin", payload.clone())
        .await
        .unwrap();
    assert!(a.exists("/mnt/rt/sub/data.bin").await.unwrap());
    assert_eq!(a.read_file("/mnt/rt/sub/data.bin").await.unwrap(), payload);
    a.mkdirs("/mnt/rt/empty/deeper").await.unwrap();
    assert!(a.exists("/mnt/rt/empty/deeper").await.unwrap());
    a.remove("/mnt/rt").await.unwrap();
    assert!(!a.exists("/mnt/rt").await.unwrap());

    let err = a.read_file("/mnt/does-not-exist").await.unwrap_err();
    assert!(err.to_string().contains("No such file"), "{err}");
}

#[tokio::test]
async fn a_file_is_read_from_an_offset_and_a_replaced_one_is_told_apart() {
    let ctx = ctx();
    let nodes = ctx.lease(1).await.unwrap();
    let a = nodes[0].account();
    let path = "/mnt/part/out.txt";
    assert_eq!(a.read_file_from(path, 0, 10).await.unwrap(), None);
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    a.create_file(path, payload.clone()).await.unwrap();
    let first = a.read_file_from(path, 0, 1000).await.unwrap().unwrap();
    assert_eq!((first.size, &first.bytes[..]), (200_000, &payload[..1000]));
    let later = a
        .read_file_from(path, 150_000, 1 << 20)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(later.bytes, payload[150_000..]);
    assert_eq!(later.inode, first.inode);
    let past = a.read_file_from(path, 300_000, 10).await.unwrap().unwrap();
    assert!(past.bytes.is_empty() && past.size == 200_000);
    // Another file put at the path (made while the old one still existed) has another inode.
    a.ssh(&format!("echo new > {path}.tmp && mv {path}.tmp {path}"))
        .await
        .unwrap();
    let new = a.read_file_from(path, 0, 10).await.unwrap().unwrap();
    assert_eq!((new.size, &new.bytes[..]), (4, &b"new\n"[..]));
    assert_ne!(new.inode, first.inode);
    a.remove("/mnt/part").await.unwrap();
}

#[tokio::test]
async fn copy_directories_both_ways() {
    let ctx = ctx();
    let nodes = ctx.lease(1).await.unwrap();
    let a = nodes[0].account();
    let local = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(local.path().join("src/nested")).unwrap();
    std::fs::write(local.path().join("src/top.txt"), "top").unwrap();
    std::fs::write(local.path().join("src/nested/inner.txt"), "inner").unwrap();

    a.copy_to(&local.path().join("src"), "/mnt/copied")
        .await
        .unwrap();
    assert_eq!(
        a.ssh_output("cat /mnt/copied/nested/inner.txt")
            .await
            .unwrap(),
        "inner"
    );

    a.copy_from("/mnt/copied", &local.path().join("back"))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(local.path().join("back/top.txt")).unwrap(),
        "top"
    );
    assert_eq!(
        std::fs::read_to_string(local.path().join("back/nested/inner.txt")).unwrap(),
        "inner"
    );

    a.copy_to(&local.path().join("src/top.txt"), "/mnt/single/top.txt")
        .await
        .unwrap();
    a.copy_from("/mnt/single/top.txt", &local.path().join("one.txt"))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(local.path().join("one.txt")).unwrap(),
        "top"
    );

    let err = a
        .copy_from("/mnt/nothing-here", &local.path().join("x"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nothing-here"), "{err}");
}

#[tokio::test]
async fn spawn_signal_alive_stop() {
    let ctx = ctx();
    let nodes = ctx.lease(1).await.unwrap();
    let a = nodes[0].account();
    a.remove("/mnt/p").await.unwrap();
    let pid = a
        .spawn("sleep 1000", "/mnt/p/sleep.log", "/mnt/p/sleep.pid")
        .await
        .unwrap();
    assert!(a.alive(pid).await.unwrap());
    assert_eq!(
        a.pid_from_file("/mnt/p/sleep.pid").await.unwrap(),
        Some(pid)
    );
    a.signal(pid, "STOP").await.unwrap();
    assert!(a.alive(pid).await.unwrap(), "a stopped process is alive");
    a.signal(pid, "CONT").await.unwrap();
    assert_eq!(
        a.stop("/mnt/p/sleep.pid", true, Duration::from_secs(5))
            .await
            .unwrap(),
        StopOutcome::Exited
    );
    assert!(!a.alive(pid).await.unwrap());
    assert_eq!(
        a.stop("/mnt/p/sleep.pid", true, Duration::from_secs(5))
            .await
            .unwrap(),
        StopOutcome::NotRunning
    );

    // A process that ignores SIGTERM is killed after the grace period.
    a.spawn(
        "trap '' TERM; echo ready; while :; do sleep 0.1; done",
        "/mnt/p/stub.log",
        "/mnt/p/stub.pid",
    )
    .await
    .unwrap();
    let outcome = a
        .stop("/mnt/p/stub.pid", true, Duration::from_millis(500))
        .await
        .unwrap();
    assert_eq!(outcome, StopOutcome::Killed);
    assert_eq!(
        a.ssh_output("cat /mnt/p/stub.log").await.unwrap(),
        "ready\n"
    );
    assert!(a
        .ssh_output("pgrep -f '[s]leep 0.1' || true")
        .await
        .unwrap()
        .trim()
        .is_empty());
}

#[tokio::test]
async fn stop_waits_for_the_whole_process_group() {
    let ctx = ctx();
    let nodes = ctx.lease(1).await.unwrap();
    let a = nodes[0].account();
    // The pid file names a shell that dies on SIGTERM; its child ignores SIGTERM and lingers,
    // as a JVM still shutting down would. Stopping must wait for it too, then kill it.
    a.spawn(
        "sh -c \"trap '' TERM; exec sleep 6161\"; true",
        "/mnt/g/g.log",
        "/mnt/g/g.pid",
    )
    .await
    .unwrap();
    let outcome = a
        .stop("/mnt/g/g.pid", true, Duration::from_millis(700))
        .await
        .unwrap();
    assert_eq!(outcome, StopOutcome::Killed);
    let left = a
        .ssh_output("pgrep -f '[s]leep 6161' || true")
        .await
        .unwrap();
    assert_eq!(
        left.trim(),
        "",
        "the group's lingering child was left running"
    );
}

#[tokio::test]
async fn capture_streams_lines_in_order_as_they_come() {
    let ctx = ctx();
    let nodes = ctx.lease(1).await.unwrap();
    let a = nodes[0].account();
    // Each line is printed only after the test has seen the one before it (it answers by
    // creating a file): if lines were collected instead of streamed, this could not finish.
    a.remove("/mnt/cap").await.unwrap();
    a.mkdirs("/mnt/cap").await.unwrap();
    let script = "for i in 1 2 3 4; do echo line$i; \
                  while [ ! -e /mnt/cap/ack$i ]; do sleep 0.05; done; done; \
                  echo partial-no-newline | tr -d '\\n'";
    let mut lines = a.ssh_capture_for(script, Duration::from_secs(60)).unwrap();
    let mut seen = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        seen.push(line.clone());
        if let Some(i) = line.strip_prefix("line") {
            a.ssh(&format!("touch /mnt/cap/ack{i}")).await.unwrap();
        }
    }
    assert_eq!(
        seen,
        ["line1", "line2", "line3", "line4", "partial-no-newline"]
    );

    let mut failing = a.ssh_capture("echo a; echo b; exit 4").unwrap();
    assert_eq!(failing.next_line().await.unwrap().as_deref(), Some("a"));
    assert_eq!(failing.next_line().await.unwrap().as_deref(), Some("b"));
    let err = failing.next_line().await.unwrap_err();
    assert_eq!(err.status(), Some(&ExitStatus::Code(4)));
}

#[tokio::test]
async fn log_monitor_ignores_lines_written_before_it() {
    let ctx = ctx();
    let nodes = ctx.lease(1).await.unwrap();
    let a = nodes[0].account();
    a.ssh("mkdir -p /mnt/lm && echo 'server started (old run)' > /mnt/lm/server.log")
        .await
        .unwrap();
    let monitor = a.monitor_log("/mnt/lm/server.log").await.unwrap();
    // Old line only: no match.
    let err = monitor
        .wait_until("started", Duration::from_millis(800))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("server started (old run)"),
        "error carries the log tail: {msg}"
    );
    // A new line written later matches.
    let writer = a.clone();
    let write = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        writer.ssh("echo 'noise' >> /mnt/lm/server.log; echo 'server started (new run)' >> /mnt/lm/server.log").await
    });
    let line = monitor
        .wait_until(r"started \(new", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(line, "server started (new run)");
    write.await.unwrap().unwrap();
    // A monitor on a file that does not exist yet sees it appear.
    a.remove("/mnt/lm/later.log").await.unwrap();
    let fresh = a.monitor_log("/mnt/lm/later.log").await.unwrap();
    a.ssh("sh -c 'sleep 0.3; echo up > /mnt/lm/later.log' > /dev/null 2>&1 &")
        .await
        .unwrap();
    assert_eq!(
        fresh
            .wait_until("up", Duration::from_secs(10))
            .await
            .unwrap(),
        "up"
    );
}

#[tokio::test]
async fn wait_for_port_and_http() {
    let ctx = ctx();
    let nodes = ctx.lease(1).await.unwrap();
    let a = nodes[0].account();
    let err = a
        .wait_for_port(7777, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("{}:7777", nodes[0].address())),
        "{err}"
    );
    a.spawn(
        "python3 -m http.server 7777 --bind 0.0.0.0 --directory /mnt",
        "/mnt/http.log",
        "/mnt/http.pid",
    )
    .await
    .unwrap();
    a.wait_for_port(7777, Duration::from_secs(20))
        .await
        .unwrap();
    let url = format!("http://{}:7777/", nodes[0].address());
    assert_eq!(
        a.wait_for_http(&url, Duration::from_secs(20))
            .await
            .unwrap(),
        200
    );
    // What the test started outside services it stops itself (teardown fails a test that
    // leaves a process running).
    a.stop("/mnt/http.pid", false, Duration::ZERO)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundreds_of_concurrent_commands_over_all_nodes() {
    let ctx = ctx();
    let cluster = ducttape_core::cluster::Cluster::global().unwrap();
    let n = cluster.specs().len().min(6);
    let nodes = ctx.lease(n).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..600 {
        let node = nodes[i % nodes.len()].clone();
        tasks.push(tokio::spawn(async move {
            let out = node.account().ssh_output(&format!("echo {i}")).await?;
            Ok::<_, RemoteError>((i, out))
        }));
    }
    for t in tasks {
        let (i, out) = t.await.unwrap().unwrap();
        assert_eq!(out.trim(), i.to_string());
    }
}
