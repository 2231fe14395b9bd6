//! Parallel start-up against sequential, measured in the same run: ZooKeeper plus 3 brokers
//! started one after another (ZooKeeper, then each broker alone, as a hand-written script would)
//! and all at once (`run_parallel`: brokers start while ZooKeeper comes up and retry their
//! connection). Prints the medians and parallel ÷ sequential (goal ≤ 0.5).
//!
//! `cargo run --release -p ducttape-benches --bin startup_ratio [-- --rounds N]`

use std::time::{Duration, Instant};

use ducttape_benches::{median, rounds_from_args};
use ducttape_core::TestContext;
use ducttape_services::{run_parallel, KafkaService, Service, ServiceExt, ZookeeperService};

/// The goal for parallel ÷ sequential.
const GOAL: f64 = 0.5;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let rounds = rounds_from_args(&args, 3)?;
    let ctx = TestContext::new("benches::startup_ratio")?;
    let mut nodes = ctx.lease(4).await?;
    let brokers = nodes.split_off(1);
    let (mut sequential, mut parallel) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let zk = ZookeeperService::new(&ctx, nodes.clone());
        let kafka = KafkaService::builder(brokers.clone())
            .zookeeper(&zk)
            .build(&ctx)?;

        let t = Instant::now();
        zk.start().await?;
        for broker in kafka.nodes() {
            kafka.start_node(broker).await?;
        }
        sequential.push(t.elapsed());
        kafka.stop().await?;
        kafka.clean().await?;
        zk.stop().await?;
        zk.clean().await?;

        let t = Instant::now();
        run_parallel(&[zk.as_ref(), kafka.as_ref()]).await?;
        parallel.push(t.elapsed());
        kafka.stop().await?;
        kafka.clean().await?;
        zk.stop().await?;
        zk.clean().await?;
        println!(
            "round {}: sequential {:.2} s, parallel {:.2} s",
            round + 1,
            sequential[round].as_secs_f64(),
            parallel[round].as_secs_f64()
        );
    }
    let (seq, par): (Duration, Duration) = (median(&mut sequential), median(&mut parallel));
    let ratio = par.as_secs_f64() / seq.as_secs_f64();
    println!(
        "median sequential (zookeeper, then each broker alone): {:.2} s",
        seq.as_secs_f64()
    );
    println!(
        "median parallel (all at once):                         {:.2} s",
        par.as_secs_f64()
    );
    println!(
        "ratio parallel/sequential: {ratio:.2}  (goal <= {GOAL}: {})",
        if ratio <= GOAL { "met" } else { "NOT met" }
    );
    ctx.finish().await;
    Ok(())
}
