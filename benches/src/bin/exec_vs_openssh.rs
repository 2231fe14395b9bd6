//! Our exec against OpenSSH through a ControlMaster socket, on the same node, in one run.
//!
//! `cargo run --release -p ducttape-benches --bin exec_vs_openssh -- [--cluster-file F] [--iterations N]`
//!
//! Prints both medians of running `true`, their ratio (goal: ours ≤ 1/4 of OpenSSH with
//! ControlMaster), and our fan-out throughput over all nodes (goal: ≥ 1,000 commands/s).

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ducttape_benches::{cluster_from_args, median, time_each};
use ducttape_core::cluster::local::openssh_command_with;
use ducttape_core::cluster::NodeSpec;

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
    let mut theirs = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        let status = openssh(node.spec(), &socket).arg("true").status()?;
        theirs.push(start.elapsed());
        if !status.success() {
            return Err(format!("ssh true failed on {}: {status}", node.name()).into());
        }
    }
    let _ = openssh(node.spec(), &socket).args(["-O", "exit"]).output();

    let account = node.account().clone();
    account.ssh("true").await?;
    let mut ours = time_each(iterations, || account.ssh("true")).await?;

    let fan_out = 3000;
    let start = Instant::now();
    let runs = (0..fan_out).map(|i| nodes[i % nodes.len()].account().ssh("true"));
    for r in futures::future::join_all(runs).await {
        r?;
    }
    let rate = fan_out as f64 / start.elapsed().as_secs_f64();

    let (ours_med, theirs_med) = (median(&mut ours), median(&mut theirs));
    let ratio = ours_med.as_secs_f64() / theirs_med.as_secs_f64();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("node {} ({} iterations each)", node.name(), iterations);
    println!("openssh+controlmaster median: {:8.3} ms", ms(theirs_med));
    println!("ducttape exec median:         {:8.3} ms", ms(ours_med));
    println!(
        "ratio ours/openssh:           {ratio:8.3}  (goal <= 0.25: {})",
        if ratio <= 0.25 { "met" } else { "NOT met" }
    );
    println!(
        "fan-out over {} nodes:         {rate:8.0} commands/s  (goal >= 1000: {})",
        nodes.len(),
        if rate >= 1000.0 { "met" } else { "NOT met" }
    );
    lease.release().await?;
    Ok(())
}
