//! Vagrant nodes through a stand-in `vagrant` that prints ssh-config for local cluster nodes,
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! with real SSH behind it.

mod common;

use std::os::unix::fs::PermissionsExt;

use ducttape_core::cluster::{vagrant, Cluster};

#[tokio::test]
async fn vagrant_ssh_config_nodes_answer_over_ssh() {
    let local = Cluster::global().unwrap();
    let specs = local.specs();
    let mut config = String::new();
    for s in &specs[..2] {
        config += &format!(
            "Host {}\n  HostName {}\n  User {}\n  Port {}\n  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n  PasswordAuthentication no\n  IdentityFile \"{}\"\n  IdentitiesOnly yes\n  LogLevel FATAL\n\n",
            s.name(),
            s.ssh.hostname,
            s.ssh.user,
            s.ssh.port,
            s.ssh.identity_file.as_ref().unwrap().display()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("vagrant");
    let counter = dir.path().join("calls");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho x >> {}\ncat <<'EOF'\n{config}EOF\n",
            counter.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The stand-in goes first on PATH; only this test binary's process sees the change (this
    // file holds one test).
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::set_var("PATH", format!("{}:{path}", dir.path().display()));
    std::env::remove_var(vagrant::PROGRAM_ENV);

    let cache = vagrant::default_cache(dir.path());
    let nodes = vagrant::load(dir.path(), &cache, false).unwrap();
    assert_eq!(nodes.len(), 2);
    assert!(cache.exists());
    let again = vagrant::load(dir.path(), &cache, false).unwrap();
    assert_eq!(again, nodes);
    assert_eq!(
        std::fs::read_to_string(&counter).unwrap().lines().count(),
        1,
        "cached: vagrant ran once"
    );

    let cluster = std::sync::Arc::new(Cluster::from_nodes(nodes));
    let lease = cluster.lease(2).await.unwrap();
    for node in lease.nodes() {
        let out = node.account().ssh_output("hostname -I").await.unwrap();
        assert!(out.contains(node.address()), "{}: {out}", node.name());
        // Left running by the test: the lease's cleanup must find it on a Vagrant node too.
        node.account()
            .ssh("nohup sleep 4949 > /dev/null 2>&1 &")
            .await
            .unwrap();
    }
    lease.release().await.unwrap();
    let again = cluster.lease(2).await.unwrap();
    for node in again.nodes() {
        let left = common::running(node.account(), "[s]leep 4949").await;
        assert_eq!(left.trim(), "", "left running on {}", node.name());
    }
    again.release().await.unwrap();
}
