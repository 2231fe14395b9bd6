//! The embedded local cluster, for real: namespaces, bridge, sshd. Needs root; as another user
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup fails the test
//! every test prints why it is skipped and passes.

use ducttape_core::cluster::local::{
    openssh_command, reap_stale, LocalCluster, LocalClusterOptions,
};
use ducttape_core::cluster::NodeSpec;
use std::fs;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const CLI: &str = env!("CARGO_BIN_EXE_ducttape-local");

fn skip_unless_root(test: &str) -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        eprintln!("skipping {test}: the local cluster needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN)");
    }
    !root
}

/// A cluster started in a state root of its own, or `None` (after saying why) when not root.
/// Its own root keeps its paths and links apart from those of other tests running at the
/// same time (other test binaries, nextest), so "nothing left" checks can't see theirs.
fn start_as_root(test: &str, nodes: usize) -> Option<(tempfile::TempDir, LocalCluster)> {
    if skip_unless_root(test) {
        return None;
    }
    let root = temp_state_root();
    let cluster = start_in(root.path(), nodes);
    Some((root, cluster))
}

fn start_in(state_root: &Path, nodes: usize) -> LocalCluster {
    // RUST_LOG=ducttape_core=debug shows what the cluster does.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let opts = LocalClusterOptions {
        nodes,
        state_root: state_root.to_path_buf(),
        ..LocalClusterOptions::from_env().unwrap()
    };
    let started = Instant::now();
    let cluster = LocalCluster::start(opts).unwrap();
    eprintln!("{nodes} nodes up in {:?}", started.elapsed());
    cluster
}

/// OpenSSH with the cluster's key and known_hosts only: a wrong host key fails.
fn ssh(node: &NodeSpec, command: &str) -> Output {
    openssh_command(node)
        .arg(command)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ssh_ok(node: &NodeSpec, command: &str) -> String {
    let output = ssh(node, command);
    assert!(
        output.status.success(),
        "`{command}` on {}: {output:?}",
        node.name()
    );
    String::from_utf8(output.stdout).unwrap()
}

fn ssh_address(node: &NodeSpec) -> SocketAddr {
    SocketAddr::new(node.externally_routable_ip.parse().unwrap(), node.ssh.port)
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Live processes whose command line mentions `needle` (zombies are dead and skipped).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let dir = entry.path();
        let Ok(cmdline) = fs::read(dir.join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let stat = fs::read_to_string(dir.join("stat")).unwrap_or_default();
        let zombie = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z');
        if !zombie
            && cmdline.contains(needle)
            && entry.file_name() != std::process::id().to_string().as_str()
        {
            found.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    found
}

/// The links (bridge, veths) labelled as belonging to the cluster in `state_dir`.
fn links_of(state_dir: &Path) -> Vec<String> {
    let owner = state_dir.display().to_string();
    fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .filter(|e| {
            fs::read_to_string(e.path().join("ifalias"))
                .unwrap_or_default()
                .trim()
                == owner
        })
        .map(|e| e.file_name().into_string().unwrap())
        .collect()
}

fn assert_no_trace(state_dir: &Path) {
    let needle = state_dir.display().to_string();
    wait_for("node processes to exit", Duration::from_secs(5), || {
        processes_mentioning(&needle).is_empty()
    });
    assert_eq!(links_of(state_dir), Vec::<String>::new(), "links left");
    assert!(!state_dir.exists(), "{needle} left");
}

#[test]
#[serial_test::serial(local_cluster)]
fn nodes_are_separate_hosts_reachable_over_pinned_ssh() {
    let Some((_root, cluster)) =
        start_as_root("nodes_are_separate_hosts_reachable_over_pinned_ssh", 3)
    else {
        return;
    };
    let nodes = cluster.nodes();
    let names: Vec<&str> = nodes.iter().map(NodeSpec::name).collect();
    assert_eq!(names, ["worker1", "worker2", "worker3"]);
    let mut addresses: Vec<&str> = nodes
        .iter()
        .map(|n| n.externally_routable_ip.as_str())
        .collect();
    addresses.dedup();
    assert_eq!(addresses.len(), 3, "{addresses:?}");
    let known_hosts = fs::read_to_string(cluster.known_hosts()).unwrap();
    for node in nodes {
        let address = &node.externally_routable_ip;
        assert!(
            known_hosts.contains(&format!("{},{address} ssh-ed25519 ", node.name())),
            "{known_hosts}"
        );
        assert_eq!(node.ssh.user, "root");
        assert_eq!(node.ssh.port, 22);
        assert_eq!(
            ssh_ok(node, "hostname -I")
                .split_whitespace()
                .collect::<Vec<_>>(),
            [address.as_str()]
        );
        assert!(ssh_ok(node, "ip -o -4 addr show eth0").contains(&format!("{address}/24")));
        // An empty home: no rc files to slow every command down.
        assert_eq!(ssh_ok(node, "echo $HOME; ls -A ~"), "/root\n");
    }
    // Private /mnt and /tmp (and home).
    ssh_ok(
        &nodes[0],
        "echo one > /tmp/dt-probe && echo one > /mnt/dt-probe && echo one > ~/dt-probe",
    );
    assert_eq!(
        ssh_ok(&nodes[0], "cat /tmp/dt-probe /mnt/dt-probe ~/dt-probe"),
        "one\none\none\n"
    );
    for path in ["/tmp/dt-probe", "/mnt/dt-probe", "/root/dt-probe"] {
        assert!(
            !ssh(&nodes[1], &format!("test -e {path}")).status.success(),
            "{path} visible on worker2"
        );
        assert!(!Path::new(path).exists(), "{path} visible on the host");
    }
    // Nodes reach each other over the bridge.
    let banner = ssh_ok(
        &nodes[0],
        &format!(
            "bash -c 'exec 3<>/dev/tcp/{}/22; head -c 4 <&3'",
            nodes[2].externally_routable_ip
        ),
    );
    assert_eq!(banner, "SSH-");
    cluster.shutdown().unwrap();
}

/// How long a lookup may run on a node before `timeout` ends it (exit status 124): far more than
/// an answer from `/etc/hosts` takes, far less than one DNS try against an unreachable server
/// (5 s). A bound that tells "answered" from "waited", not a timing assertion.
const LOOKUP_BOUND: &str = "timeout 3";

#[test]
#[serial_test::serial(local_cluster)]
fn nodes_resolve_every_node_sudo_works_and_the_hosts_file_is_untouched() {
    let host_hosts = fs::read("/etc/hosts").unwrap();
    let host_resolv = fs::read("/etc/resolv.conf").unwrap();
    let Some((_root, cluster)) = start_as_root(
        "nodes_resolve_every_node_sudo_works_and_the_hosts_file_is_untouched",
        3,
    ) else {
        return;
    };
    let nodes = cluster.nodes();
    for node in nodes {
        // Its own name, as ducktape suites expect of a host.
        assert_eq!(ssh_ok(node, "hostname"), format!("{}\n", node.name()));
        for other in nodes {
            let (name, address) = (other.name(), &other.externally_routable_ip);
            // By name and by address (a reverse lookup), from the node's own /etc/hosts.
            for (query, answer) in [(name, address.as_str()), (address.as_str(), name)] {
                let out = ssh(node, &format!("{LOOKUP_BOUND} getent hosts {query}"));
                let text = String::from_utf8_lossy(&out.stdout);
                assert!(
                    out.status.success(),
                    "`getent hosts {query}` on {} failed (124: it waited past the bound): {out:?}",
                    node.name()
                );
                let words: Vec<&str> = text.split_whitespace().collect();
                assert_eq!(
                    words,
                    [address.as_str(), name],
                    "`getent hosts {query}` on {} (wanted {answer})",
                    node.name()
                );
            }
        }
        // A name no node has fails, and at once: exit status 2 ("not found") from getent,
        // not 124 from the bound (which a DNS query waiting on an unreachable server gives).
        for unknown in ["no-such-node", "no-such-host.example.com", "10.9.8.7"] {
            let out = ssh(node, &format!("{LOOKUP_BOUND} getent hosts {unknown}"));
            assert_eq!(
                out.status.code(),
                Some(2),
                "`getent hosts {unknown}` on {}: {out:?}",
                node.name()
            );
        }
        // sudo works without a password or a terminal (ducktape services call it).
        assert_eq!(ssh_ok(node, "sudo -n id -u"), "0\n");
    }
    // The host's own files are what they were: the nodes' are bind mounts in their own
    // mount namespaces.
    assert_eq!(fs::read("/etc/hosts").unwrap(), host_hosts);
    assert_eq!(fs::read("/etc/resolv.conf").unwrap(), host_resolv);
    cluster.shutdown().unwrap();
    assert_eq!(fs::read("/etc/hosts").unwrap(), host_hosts);
}

#[test]
#[serial_test::serial(local_cluster)]
fn nodes_can_all_listen_on_the_same_port() {
    let Some((_root, cluster)) = start_as_root("nodes_can_all_listen_on_the_same_port", 3) else {
        return;
    };
    let listen = "nohup perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(LocalPort => 9092, Listen => 5, ReuseAddr => 1) or die $!; sleep 1000' >/dev/null 2>&1 &";
    for node in cluster.nodes() {
        ssh_ok(node, listen);
    }
    for (index, node) in cluster.nodes().iter().enumerate() {
        let address = SocketAddr::new(node.externally_routable_ip.parse().unwrap(), 9092);
        wait_for(
            &format!("{} listening on 9092", node.name()),
            Duration::from_secs(5),
            || TcpStream::connect(address).is_ok(),
        );
        assert_eq!(cluster.kill_strays(index).unwrap(), 1);
    }
    cluster.shutdown().unwrap();
}

#[test]
#[serial_test::serial(local_cluster)]
fn stopped_sshd_refuses_connections_until_started() {
    let Some((_root, cluster)) = start_as_root("stopped_sshd_refuses_connections_until_started", 2)
    else {
        return;
    };
    let node = &cluster.nodes()[1];
    ssh_ok(node, "nohup sleep 1000 >/dev/null 2>&1 &");
    cluster.stop_sshd(1).unwrap();
    let refused =
        TcpStream::connect_timeout(&ssh_address(node), Duration::from_secs(2)).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    assert!(!ssh(node, "true").status.success());
    ssh_ok(&cluster.nodes()[0], "true"); // the other node is unaffected
    std::thread::sleep(Duration::from_millis(300)); // sshd stays down
    assert!(TcpStream::connect(ssh_address(node)).is_err());
    cluster.start_sshd(1).unwrap();
    // The node itself stayed up: what ran before is still running.
    assert_eq!(ssh_ok(node, "pgrep -x sleep | wc -l").trim(), "1");
    cluster.start_sshd(1).unwrap(); // already running: returns at once
    cluster.shutdown().unwrap();
}

#[test]
#[serial_test::serial(local_cluster)]
fn kill_strays_kills_what_sessions_left_behind_and_keeps_sshd() {
    let Some((_root, cluster)) = start_as_root(
        "kill_strays_kills_what_sessions_left_behind_and_keeps_sshd",
        2,
    ) else {
        return;
    };
    let node = &cluster.nodes()[0];
    assert_eq!(cluster.kill_strays(0).unwrap(), 0);
    // One orphan (reparented to the node's init) and one child of a shell that is left running.
    ssh_ok(
        node,
        "nohup sleep 1000 >/dev/null 2>&1 & nohup sh -c 'sleep 1001; true' >/dev/null 2>&1 &",
    );
    assert_eq!(ssh_ok(node, "pgrep -x sleep | wc -l").trim(), "2");
    assert_eq!(cluster.kill_strays(0).unwrap(), 3);
    // Killed processes are reaped by the node's init: no zombies.
    wait_for("zombies reaped", Duration::from_secs(2), || {
        ssh_ok(node, "ps -eo stat=,comm=")
            .lines()
            .all(|l| !l.starts_with('Z'))
    });
    assert_eq!(ssh_ok(node, "pgrep -x sleep | wc -l").trim(), "0");
    // The other node's processes are not touched.
    ssh_ok(&cluster.nodes()[1], "nohup sleep 1000 >/dev/null 2>&1 &");
    assert_eq!(cluster.kill_strays(0).unwrap(), 0);
    assert_eq!(
        ssh_ok(&cluster.nodes()[1], "pgrep -x sleep | wc -l").trim(),
        "1"
    );
    assert!(cluster.kill_strays(7).is_err());
    cluster.shutdown().unwrap();
}

#[test]
#[serial_test::serial(local_cluster)]
fn two_clusters_at_once_do_not_collide() {
    if skip_unless_root("two_clusters_at_once_do_not_collide") {
        return;
    }
    // One state root: the slot locks keep the two apart.
    let root = temp_state_root();
    let (first, second) = (start_in(root.path(), 2), start_in(root.path(), 2));
    assert_ne!(first.state_dir(), second.state_dir());
    assert_ne!(
        first.nodes()[0].externally_routable_ip,
        second.nodes()[0].externally_routable_ip
    );
    for node in first.nodes().iter().chain(second.nodes()) {
        ssh_ok(node, "true");
    }
    let second_dir = second.state_dir().to_path_buf();
    drop(second); // Drop shuts down like shutdown()
    assert_no_trace(&second_dir);
    ssh_ok(&first.nodes()[1], "true");
    first.shutdown().unwrap();
}

#[test]
#[serial_test::serial(local_cluster)]
fn shutdown_leaves_no_trace() {
    let Some((_root, cluster)) = start_as_root("shutdown_leaves_no_trace", 3) else {
        return;
    };
    let state_dir = cluster.state_dir().to_path_buf();
    ssh_ok(&cluster.nodes()[0], "nohup sleep 1000 >/dev/null 2>&1 &");
    assert_eq!(links_of(&state_dir).len(), 4);
    assert!(!processes_mentioning(&state_dir.display().to_string()).is_empty());
    cluster.shutdown().unwrap();
    assert_no_trace(&state_dir);
}

#[test]
#[serial_test::serial(local_cluster)]
fn cluster_outlives_the_thread_that_started_it() {
    if skip_unless_root("cluster_outlives_the_thread_that_started_it") {
        return;
    }
    // Node processes die with the thread that forked them (PR_SET_PDEATHSIG): the cluster must
    // fork them from a thread of its own, not from the caller's (a tokio worker, say).
    let root = temp_state_root();
    let state_root = root.path().to_path_buf();
    let cluster = std::thread::spawn(move || start_in(&state_root, 2))
        .join()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for node in cluster.nodes() {
        ssh_ok(node, "true");
    }
    cluster.shutdown().unwrap();
}

/// A temporary state root: the CLI's daemon files must not touch a real persistent cluster.
fn temp_state_root() -> tempfile::TempDir {
    fs::create_dir_all("/var/lib/ducttape").unwrap();
    tempfile::Builder::new()
        .prefix("test-")
        .tempdir_in("/var/lib/ducttape")
        .unwrap()
}

fn cli(root: &Path, args: &[&str]) -> Output {
    let output = Command::new(CLI)
        .args(args)
        .env("DUCTTAPE_LOCAL_STATE_ROOT", root)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    eprintln!(
        "ducttape-local {args:?}: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn slot_dirs(root: &Path) -> Vec<PathBuf> {
    fs::read_dir(root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .parse::<u8>()
                .is_ok()
        })
        .collect()
}

#[test]
#[serial_test::serial(local_cluster)]
fn cli_up_status_down() {
    if skip_unless_root("cli_up_status_down") {
        return;
    }
    let root = temp_state_root();
    let up = cli(root.path(), &["up", "--nodes", "2"]);
    assert!(up.status.success());
    let cluster_file = root.path().join("cluster.json");
    let stdout = String::from_utf8_lossy(&up.stdout);
    assert!(
        stdout.contains(&format!(
            "export DUCTTAPE_CLUSTER={}",
            cluster_file.display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("ssh -i "), "{stdout}");
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&cluster_file).unwrap()).unwrap();
    assert_eq!(json["nodes"][1]["ssh_config"]["host"], "worker2");
    assert_eq!(json["nodes"][1]["ssh_config"]["user"], "root");
    assert!(root.path().join("known_hosts").exists());
    assert!(
        !cli(root.path(), &["up"]).status.success(),
        "a second up must refuse"
    );
    let status = cli(root.path(), &["status"]);
    assert!(status.status.success());
    assert_eq!(
        String::from_utf8_lossy(&status.stdout)
            .matches("ssh ok")
            .count(),
        2
    );
    let state_dir = slot_dirs(root.path()).pop().unwrap();
    assert!(cli(root.path(), &["down"]).status.success());
    assert_no_trace(&state_dir);
    for file in ["cluster.json", "known_hosts", "daemon.pid", "daemon.log"] {
        assert!(!root.path().join(file).exists(), "{file} left");
    }
    assert!(!cli(root.path(), &["status"]).status.success());
}

/// How the child process run by [`owner_death_leaves_no_trace`] ends: `exit`, `panic`, or
/// `hang` until it is SIGKILLed.
const OWNER_MODE: &str = "DUCTTAPE_TEST_OWNER_MODE";
/// Where that child writes its cluster's state directory once the cluster is up.
const OWNER_READY: &str = "DUCTTAPE_TEST_OWNER_READY";

/// Not a test of its own: the process that owns a cluster in [`owner_death_leaves_no_trace`].
#[test]
#[ignore = "the child process of owner_death_leaves_no_trace"]
fn cluster_owner() {
    let Ok(mode) = std::env::var(OWNER_MODE) else {
        return;
    };
    // As every test binary holds it: in a static, never dropped.
    let cluster = ducttape_core::cluster::Cluster::global().unwrap();
    let dir = cluster.local().unwrap().state_dir().display().to_string();
    let ready = PathBuf::from(std::env::var(OWNER_READY).unwrap());
    fs::write(ready.with_extension("tmp"), dir).unwrap();
    fs::rename(ready.with_extension("tmp"), &ready).unwrap();
    match mode.as_str() {
        "panic" => panic!("the owner of a local cluster panics"),
        "hang" => std::thread::sleep(Duration::from_secs(600)),
        _ => {}
    }
}

/// Starts this test binary's [`cluster_owner`] in a child process; returns it with its
/// cluster's state directory, once the cluster is up.
fn start_owner(root: &Path, mode: &str) -> (std::process::Child, PathBuf) {
    let ready = root.join("owner-ready");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "cluster_owner", "--ignored", "--test-threads=1"])
        .env(OWNER_MODE, mode)
        .env(OWNER_READY, &ready)
        .env("DUCTTAPE_LOCAL_STATE_ROOT", root)
        .env("DUCTTAPE_LOCAL_NODES", "2")
        .env_remove("DUCTTAPE_CLUSTER")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(
        "the owner's cluster to be up",
        Duration::from_secs(60),
        || ready.exists() || child.try_wait().unwrap().is_some(),
    );
    let dir = PathBuf::from(fs::read_to_string(&ready).unwrap());
    (child, dir)
}

/// A process that started a local cluster and never shut it down leaves nothing behind
/// when it ends — normally, by a panic, or SIGKILLed: no process, no bridge or veth, no state
/// directory (and so no private key of the cluster's client).
#[test]
#[serial_test::serial(local_cluster)]
fn owner_death_leaves_no_trace() {
    if skip_unless_root("owner_death_leaves_no_trace") {
        return;
    }
    for mode in ["exit", "panic", "hang"] {
        let root = temp_state_root();
        let (mut owner, state_dir) = start_owner(root.path(), mode);
        assert!(state_dir.join("id_ed25519").exists(), "{mode}: cluster up");
        assert!(
            links_of(&state_dir).iter().any(|l| l.starts_with("dtb")),
            "{mode}: bridge up"
        );
        if mode == "hang" {
            owner.kill().unwrap(); // SIGKILL
        }
        let status = owner.wait().unwrap();
        assert_eq!(status.success(), mode == "exit", "{mode}: {status}");
        wait_for(
            &format!("{mode}: the owner's bridge, veths and state directory to go"),
            Duration::from_secs(15),
            || !state_dir.exists() && links_of(&state_dir).is_empty(),
        );
        assert_no_trace(&state_dir);
    }
}

/// The cleanup of last resort: if even the reaper is killed with the owner, the next start
/// (or reap_stale, or `ducttape-local down`) removes what is left.
#[test]
#[serial_test::serial(local_cluster)]
fn sigkilled_owner_and_reaper_leave_no_process_and_reap_stale_removes_the_rest() {
    if skip_unless_root(
        "sigkilled_owner_and_reaper_leave_no_process_and_reap_stale_removes_the_rest",
    ) {
        return;
    }
    let root = temp_state_root();
    assert!(cli(root.path(), &["up", "--nodes", "2"]).status.success());
    let state_dir = slot_dirs(root.path()).pop().unwrap();
    let needle = state_dir.display().to_string();
    let pid: i32 = fs::read_to_string(root.path().join("daemon.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let reapers: Vec<i32> = processes_mentioning(&needle)
        .iter()
        .filter(|p| p.contains("ducttape-reaper"))
        .map(|p| p.split(':').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(reapers.len(), 1, "{:?}", processes_mentioning(&needle));
    assert!(
        processes_mentioning(&needle).len() >= 5,
        "reaper, holders, inits and sshds"
    );
    for pid in [reapers[0], pid] {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
    }
    // The kernel kills every node process with the daemon…
    wait_for(
        "node processes to die with their owner",
        Duration::from_secs(5),
        || processes_mentioning(&needle).is_empty(),
    );
    // …and without a reaper what it cannot clean up is reaped by the next start (or
    // reap_stale, or `down`).
    assert!(state_dir.exists());
    assert!(
        links_of(&state_dir)
            .iter()
            .any(|link| link.starts_with("dtb")),
        "the bridge outlives its owner"
    );
    assert_eq!(reap_stale(root.path()).unwrap(), 1);
    assert_no_trace(&state_dir);
    assert_eq!(reap_stale(root.path()).unwrap(), 0);
    assert!(cli(root.path(), &["down"]).status.success());
    assert!(!root.path().join("cluster.json").exists());
}

#[test]
#[serial_test::serial(local_cluster)]
fn cli_refuses_without_root() {
    if skip_unless_root("cli_refuses_without_root") {
        return;
    }
    let root = temp_state_root();
    let output = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            CLI,
            "up",
        ])
        .env("DUCTTAPE_LOCAL_STATE_ROOT", root.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("needs root") && stderr.contains("DUCTTAPE_CLUSTER"),
        "{stderr}"
    );
}
