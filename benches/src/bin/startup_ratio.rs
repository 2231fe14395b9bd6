//! Parallel start-up: ZooKeeper plus 3 brokers brought up at once, against the slowest single
//! service's own start time. Prints the medians and their ratio (goal: under 1.3; sequential
//! start would be about 2).
//!
//! `cargo run --release -p ducttape-benches --bin startup_ratio [-- --rounds N]`

use std::time::{Duration, Instant};

use ducttape_benches::median;
use ducttape_core::TestContext;
use ducttape_services::{run_parallel, KafkaService, ServiceExt, ZookeeperService};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .map_or(Ok(3), |v| v.parse())?;
    let ctx = TestContext::new("benches::startup_ratio")?;
    let mut nodes = ctx.lease(4).await?;
    let brokers = nodes.split_off(1);
    let (mut zk_alone, mut kafka_alone, mut together) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let zk = ZookeeperService::new(&ctx, nodes.clone());
        let kafka = KafkaService::builder(brokers.clone())
            .zookeeper(&zk)
            .build(&ctx)?;

        let t = Instant::now();
        zk.start().await?;
        zk_alone.push(t.elapsed());
        let t = Instant::now();
        kafka.start().await?;
        kafka_alone.push(t.elapsed());
        kafka.stop().await?;
        kafka.clean().await?;
        zk.stop().await?;
        zk.clean().await?;

        let t = Instant::now();
        run_parallel(&[zk.as_ref(), kafka.as_ref()]).await?;
        together.push(t.elapsed());
        kafka.stop().await?;
        kafka.clean().await?;
        zk.stop().await?;
        zk.clean().await?;
        println!(
            "round {}: zookeeper {:.2} s, kafka {:.2} s, together {:.2} s",
            round + 1,
            zk_alone[round].as_secs_f64(),
            kafka_alone[round].as_secs_f64(),
            together[round].as_secs_f64()
        );
    }
    let (z, k, both) = (
        median(&mut zk_alone),
        median(&mut kafka_alone),
        median(&mut together),
    );
    let slowest: Duration = z.max(k);
    let ratio = both.as_secs_f64() / slowest.as_secs_f64();
    println!("median zookeeper alone: {:.2} s", z.as_secs_f64());
    println!("median 3 brokers alone: {:.2} s", k.as_secs_f64());
    println!("median all in parallel: {:.2} s", both.as_secs_f64());
    println!(
        "ratio parallel/slowest:  {ratio:.2}  (goal < 1.3: {})",
        if ratio < 1.3 { "met" } else { "NOT met" }
    );
    ctx.finish().await;
    Ok(())
}
