//! Parallel start-up against sequential, measured in the same run: ZooKeeper plus 3 brokers
//! started one after another (ZooKeeper, then each broker alone, as a hand-written script would)
//! and all at once (`run_parallel`: brokers start while ZooKeeper comes up and retry their
//! connection). Prints the medians and parallel ÷ sequential (goal ≤ 0.5), and the CPU the
//! nodes' own processes burned over the sequential start (every process in the local cluster's
//! PID namespaces, with their reaped children: no other load of the host is in it), from which
//! the lowest ratio these cores allow follows: the same CPU work spread over every core. The
//! rest of the host's CPU over the same start is printed beside it, and the load average
//! beside every ratio.
//!
//! Also the bring-up of kafkatest's benchmark set-up, ZooKeeper + 3 brokers + 2 topics (6
//! partitions, RF 1 and RF 3), twice in the same run: with control operations through the
//! Rust client (a broker counts as started once it lists itself in its metadata; each topic
//! waits until every broker shows its leaders) and through Kafka's CLI (`kafka-topics`, a JVM
//! per topic; no registration check), and the topics' share of it (goal ≤ 10%).
//!
//! `cargo run --release -p ducttape-benches --bin startup_ratio [-- --rounds N]`

use std::time::{Duration, Instant};

use ducttape_benches::{load_note, median, parallel_floor, rounds_from_args, CpuMark};
use ducttape_core::cluster::Cluster;
use ducttape_core::TestContext;
use ducttape_services::kafka::Control;
use ducttape_services::{
    run_parallel, KafkaService, Service, ServiceExt, TopicSpec, ZookeeperService,
};

/// The goal for parallel ÷ sequential.
const GOAL: f64 = 0.5;
/// The goal for the topics' share of the bring-up.
const TOPICS_GOAL: f64 = 0.10;

/// Stops and cleans `kafka`, then `zk`.
async fn down(
    zk: &ZookeeperService,
    kafka: &KafkaService,
) -> Result<(), Box<dyn std::error::Error>> {
    kafka.stop().await?;
    kafka.clean().await?;
    zk.stop().await?;
    zk.clean().await?;
    Ok(())
}

/// Starts everything at once, then creates kafkatest's two benchmark topics; returns the time
/// to start and the time for the topics.
async fn bring_up(
    zk: &ZookeeperService,
    kafka: &KafkaService,
) -> Result<(Duration, Duration), Box<dyn std::error::Error>> {
    let t = Instant::now();
    run_parallel(&[zk, kafka]).await?;
    let started = t.elapsed();
    let specs = [("test-rf1", 1), ("test-rf3", 3)]
        .map(|(name, rf)| TopicSpec::new(name).partitions(6).replication_factor(rf));
    kafka.create_topics(&specs).await?;
    Ok((started, t.elapsed() - started))
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let rounds = rounds_from_args(&args, 3)?;
    let ctx = TestContext::new("benches::startup_ratio")?;
    let cluster = Cluster::global()?;
    println!("at the start: {}", load_note());
    let mut nodes = ctx.lease(4).await?;
    let brokers = nodes.split_off(1);
    let (mut sequential, mut parallel) = (Vec::new(), Vec::new());
    let (mut sequential_cpu, mut parallel_cpu) = (Vec::new(), Vec::new());
    let (mut client_start, mut client_topics) = (Vec::new(), Vec::new());
    let (mut cli_start, mut cli_topics) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let zk = ZookeeperService::new(&ctx, nodes.clone())?;
        let kafka = KafkaService::builder(brokers.clone())
            .zookeeper(&zk)
            .control(Control::Client)
            .build(&ctx)?;
        let kafka_cli = KafkaService::builder(brokers.clone())
            .zookeeper(&zk)
            .control(Control::Cli)
            .build(&ctx)?;

        let (t, mark) = (Instant::now(), CpuMark::now(&cluster));
        zk.start().await?;
        for broker in kafka.nodes() {
            kafka.start_node(broker).await?;
        }
        sequential.push(t.elapsed());
        sequential_cpu.extend(mark.spent(&cluster));
        down(&zk, &kafka).await?;

        let mark = CpuMark::now(&cluster);
        let (start, topics) = bring_up(&zk, &kafka).await?;
        // The topics' share is small; counted with the start it is only shown, not used.
        parallel_cpu.extend(mark.spent(&cluster));
        parallel.push(start);
        client_start.push(start);
        client_topics.push(topics);
        down(&zk, &kafka).await?;

        let (start, topics) = bring_up(&zk, &kafka_cli).await?;
        cli_start.push(start);
        cli_topics.push(topics);
        down(&zk, &kafka_cli).await?;
        println!(
            "round {}: sequential {:.2} s, parallel {:.2} s (+ topics {:.2} s); \
             CLI: parallel {:.2} s + topics {:.2} s; {}",
            round + 1,
            secs(sequential[round]),
            secs(parallel[round]),
            secs(client_topics[round]),
            secs(cli_start[round]),
            secs(cli_topics[round]),
            load_note(),
        );
    }
    let (seq, par) = (median(&mut sequential), median(&mut parallel));
    let ratio = secs(par) / secs(seq);
    println!(
        "median sequential (zookeeper, then each broker alone): {:.2} s",
        secs(seq)
    );
    println!(
        "median parallel (all at once):                         {:.2} s",
        secs(par)
    );
    println!(
        "ratio parallel/sequential: {ratio:.2}  (goal <= {GOAL}: {}; {})",
        if ratio <= GOAL { "met" } else { "NOT met" },
        load_note()
    );
    // What no parallel start can beat on these cores: the sequential start's own CPU work —
    // what the nodes' processes burned — spread over every core. A sequential start that
    // already keeps the cores busy leaves a parallel one little to gain, whatever the
    // framework does.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let med = |spent: &[ducttape_benches::CpuSpent],
               f: fn(&ducttape_benches::CpuSpent) -> Duration| {
        median(&mut spent.iter().map(f).collect::<Vec<_>>())
    };
    if sequential_cpu.is_empty() {
        println!(
            "no CPU floor: the nodes' processes are not readable here (not the local cluster)"
        );
    } else {
        let seq_nodes = med(&sequential_cpu, |c| c.nodes);
        let busy = secs(seq_nodes) / secs(seq);
        let floor = parallel_floor(secs(seq_nodes), secs(seq), cores as f64);
        println!(
            "CPU of the nodes' own processes (median): sequential start {:.2} s, {busy:.2} of {cores} cores \
             busy on average; parallel start + topics {:.2} s. Meanwhile the bench {:.2} s, the rest \
             of the host {:.2} s",
            secs(seq_nodes),
            secs(med(&parallel_cpu, |c| c.nodes)),
            secs(med(&sequential_cpu, |c| c.own)),
            secs(med(&sequential_cpu, |c| c.others())),
        );
        println!(
            "the nodes' CPU work on {cores} cores takes >= {:.2} s: parallel/sequential >= {floor:.2} here \
             (medians of separate rounds; {})",
            secs(seq_nodes) / cores as f64,
            load_note()
        );
    }
    for (what, start, topics) in [
        ("Rust client", &mut client_start, &mut client_topics),
        ("Kafka CLI  ", &mut cli_start, &mut cli_topics),
    ] {
        let (s, t) = (median(start), median(topics));
        let share = secs(t) / secs(s);
        println!(
            "bring-up, ZooKeeper + 3 brokers + 2 topics, {what}: {:.2} s (start {:.2} s, topics {:.2} s = {:.0}% of the start; goal <= {:.0}%: {}; {})",
            secs(s + t),
            secs(s),
            secs(t),
            share * 100.0,
            TOPICS_GOAL * 100.0,
            if share <= TOPICS_GOAL { "met" } else { "NOT met" },
            load_note()
        );
    }
    ctx.finish().await;
    Ok(())
}
