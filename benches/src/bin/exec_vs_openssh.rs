//! Our commands against OpenSSH through a ControlMaster socket, on the same node, in one run.
//!
//! `cargo run --release -p ducttape-benches --bin exec_vs_openssh -- [--cluster-file F] [--iterations N]`
//!
//! Prints the medians of running `true` three ways — A: OpenSSH with ControlMaster, B: our
//! transport with an SSH exec per command ([`RemoteAccount::exec_only`]: the transport alone),
//! C: our transport with the long-lived shells (the design) — the ratios of ours to OpenSSH
//! (goal for the shells: ≤ 1/4), and our fan-out throughput over all nodes (goal: ≥ 1,000
//! commands/s), each with the host's load average beside it. The three ways take turns, one
//! command each (A B C A B C …), so a change of load during the run weighs on all three alike
//! instead of on whichever ran last. It fails if a measurement did not take the path it claims
//! (see [`RemoteAccount::transport_stats`]).

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ducttape_benches::{cluster_from_args, load_note, median};
use ducttape_core::cluster::local::openssh_command_with;
use ducttape_core::cluster::NodeSpec;
use ducttape_core::remote::{RemoteAccount, TransportStats};

/// OpenSSH to `node` through the ControlMaster socket `socket`; host keys are checked when
/// the cluster pins them, accepted otherwise (as our transport does).
fn openssh(node: &NodeSpec, socket: &str) -> Command {
    let control = format!("ControlPath={socket}");
    let mut extra = vec!["-o", control.as_str()];
    if node.ssh.known_hosts.is_none() {
        extra.extend([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ]);
    }
    openssh_command_with(node, &extra)
}

/// Fails unless the accounts ran exactly `shell` commands in shells and `exec` as SSH execs
/// since `before` (one sample per account).
fn check_path(
    what: &str,
    accounts: &[RemoteAccount],
    before: &[TransportStats],
    shell: usize,
    exec: usize,
) -> Result<(), String> {
    let (mut shell_ran, mut exec_ran) = (0, 0);
    for (account, before) in accounts.iter().zip(before) {
        let after = account.transport_stats();
        shell_ran += after.shell_commands - before.shell_commands;
        exec_ran += after.exec_commands - before.exec_commands;
    }
    if (shell_ran, exec_ran) == (shell as u64, exec as u64) {
        Ok(())
    } else {
        Err(format!(
            "{what}: expected {shell} commands in shells and {exec} SSH execs, \
             the transport ran {shell_ran} in shells and {exec_ran} as execs: \
             the numbers would not measure what they claim"
        ))
    }
}

/// Times one command: `f` once.
async fn time_one<F, T, E>(f: F) -> Result<Duration, E>
where
    F: std::future::Future<Output = Result<T, E>>,
{
    let start = Instant::now();
    f.await?;
    Ok(start.elapsed())
}

fn arg_value(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let iterations: usize = arg_value(&args, "--iterations").map_or(Ok(200), |v| v.parse())?;
    let cluster = Arc::new(cluster_from_args(&args)?);
    let lease = cluster.lease(cluster.specs().len()).await?;
    let nodes = lease.nodes().to_vec();
    let node = &nodes[0];

    // OpenSSH with a master connection, as ducktape users speed it up.
    let socket = format!("/tmp/ducttape-bench-cm-{}", std::process::id());
    let master = openssh(node.spec(), &socket)
        .args(["-M", "-N", "-f", "-o", "ControlPersist=120"])
        .status()?;
    if !master.success() {
        return Err(format!(
            "cannot start an OpenSSH master connection to {}",
            node.name()
        )
        .into());
    }
    let run_openssh = || -> Result<Duration, Box<dyn std::error::Error>> {
        let start = Instant::now();
        let status = openssh(node.spec(), &socket).arg("true").status()?;
        let took = start.elapsed();
        if !status.success() {
            return Err(format!("ssh true failed on {}: {status}", node.name()).into());
        }
        Ok(took)
    };

    // A: OpenSSH through the master; B: the transport alone (an SSH exec per command over a
    // pooled russh connection); C: the design (commands in long-lived shells). One of each in
    // turn, after one of each to warm up.
    let account = node.account();
    let exec = account.exec_only();
    run_openssh()?;
    exec.ssh("true").await?;
    account.ssh("true").await?;
    let before = [account.transport_stats()];
    let mut theirs = Vec::with_capacity(iterations);
    let mut ours_exec = Vec::with_capacity(iterations);
    let mut ours_shell = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        theirs.push(run_openssh()?);
        ours_exec.push(time_one(exec.ssh("true")).await?);
        ours_shell.push(time_one(account.ssh("true")).await?);
    }
    let _ = openssh(node.spec(), &socket).args(["-O", "exit"]).output();
    // B's commands as SSH execs, C's in shells: anything else would not measure what it claims
    // (both share the account's counters).
    check_path(
        "exec (B) and shell (C), interleaved",
        std::slice::from_ref(account),
        &before,
        iterations,
        iterations,
    )?;

    let fan_out = 3000;
    let accounts: Vec<RemoteAccount> = nodes.iter().map(|n| n.account().clone()).collect();
    let before: Vec<TransportStats> = accounts.iter().map(|a| a.transport_stats()).collect();
    let start = Instant::now();
    let runs = (0..fan_out).map(|i| accounts[i % accounts.len()].ssh("true"));
    for r in futures::future::join_all(runs).await {
        r?;
    }
    let rate = fan_out as f64 / start.elapsed().as_secs_f64();
    check_path("fan-out", &accounts, &before, fan_out, 0)?;

    let theirs_med = median(&mut theirs);
    let (exec_med, shell_med) = (median(&mut ours_exec), median(&mut ours_shell));
    let ratio = |d: Duration| d.as_secs_f64() / theirs_med.as_secs_f64();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "node {} ({} iterations each, interleaved A B C A B C …)",
        node.name(),
        iterations
    );
    println!("openssh+controlmaster median: {:8.3} ms", ms(theirs_med));
    println!(
        "ducttape exec median:         {:8.3} ms  (ratio to openssh {:.3}: the transport alone; {})",
        ms(exec_med),
        ratio(exec_med),
        load_note()
    );
    println!(
        "ducttape shell median:        {:8.3} ms  (ratio to openssh {:.3}: the design; {})",
        ms(shell_med),
        ratio(shell_med),
        load_note()
    );
    let ratio = ratio(shell_med);
    println!(
        "ratio shell/openssh:          {ratio:8.3}  (goal <= 0.25: {}; {})",
        if ratio <= 0.25 { "met" } else { "NOT met" },
        load_note()
    );
    println!(
        "fan-out over {} nodes:         {rate:8.0} commands/s  (goal >= 1000: {}; {})",
        nodes.len(),
        if rate >= 1000.0 { "met" } else { "NOT met" },
        load_note()
    );
    lease.release().await?;
    Ok(())
}
