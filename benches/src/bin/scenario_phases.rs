//! The phases of a Kafka scenario, measured in one run and printed as ratios: bring-up of
//! ZooKeeper + 3 brokers + 2 topics (6 partitions, RF 1 and RF 3, as kafkatest's producer
//! throughput benchmark) and its teardown.
//!
//! Each round runs the scenario twice, each time in a test context of its own:
//! - **sequential** start (ZooKeeper, then each broker alone, as a hand-written script would),
//!   topics and checks, and a teardown with [`TestContext::clean_shutdown`] (graceful stops:
//!   what every teardown did before it killed by default);
//! - **parallel** start (`run_parallel`: brokers start while ZooKeeper comes up), topics and
//!   checks, and the default teardown (services killed, logs collected and nodes cleaned while
//!   earlier services stop).
//!
//! "Topics and checks" creates both topics (one request: Kafka creates them side by side, and
//! one check covers both on every broker) and waits until every partition has a leader and its
//! full ISR. Teardown is everything `TestContext::finish` does: stop, collect logs, clean,
//! release the nodes, write the summary and report. Printed (medians over rounds):
//! - topics and checks ÷ the brokers' own start (goal ≤ 0.10),
//! - teardown ÷ bring-up (goal ≤ 0.3), for the default teardown and the clean one,
//! - parallel ÷ sequential start (goal ≤ 0.5).
//!
//! It also reads the CPU each phase burned by the nodes' own processes (every process in the
//! local cluster's PID namespaces, from `/proc/<pid>/stat`, with their reaped children: no other
//! load of the host is in it), the bench's own (`/proc/self/stat`) and the rest of the host's,
//! and prints the lowest topics ratio the nodes' CPU allows on this many cores: the cluster's
//! work for the topics spread over every core, after the start and even squeezed into the
//! start's idle CPU. A ratio over its goal with a floor over it too is the cores' limit, not
//! ours. The load average is printed beside every ratio.
//!
//! `cargo run --release -p ducttape-benches --bin scenario_phases [-- --rounds N]` (default 2)

use std::time::{Duration, Instant};

use ducttape_benches::{follow_up_floor, load_note, median, rounds_from_args, CpuMark, CpuSpent};
use ducttape_core::cluster::Cluster;
use ducttape_core::TestContext;
use ducttape_services::{
    run_parallel, KafkaService, Service, ServiceError, ServiceExt, TopicSpec, ZookeeperService,
};

/// Goal for topics and checks ÷ the brokers' own start.
const TOPICS_GOAL: f64 = 0.10;
/// Goal for teardown ÷ bring-up.
const TEARDOWN_GOAL: f64 = 0.3;
/// Goal for parallel ÷ sequential start.
const PARALLEL_GOAL: f64 = 0.5;

/// How a round starts and stops its cluster.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Way {
    /// Sequential start, clean-shutdown teardown.
    Sequential,
    /// Parallel start, default (killing) teardown.
    Parallel,
}

/// One scenario's phase durations.
struct Phases {
    start: Duration,
    topics: Duration,
    teardown: Duration,
    /// CPU burned during the start and during topics and checks (`None`: not readable).
    start_cpu: Option<CpuSpent>,
    topics_cpu: Option<CpuSpent>,
}

/// Creates the two topics and waits until every partition has a leader and its full ISR.
async fn topics_and_checks(kafka: &KafkaService) -> Result<(), Box<dyn std::error::Error>> {
    let topics = [("test-rf1", 1), ("test-rf3", 3)];
    let specs = topics.map(|(name, rf)| TopicSpec::new(name).partitions(6).replication_factor(rf));
    kafka.create_topics(&specs).await?;
    for (name, _) in topics {
        ducttape_core::wait_until(
            &format!("every partition of {name} led, with its full ISR"),
            Duration::from_secs(60),
            Duration::from_millis(200),
            || async {
                let parts = kafka.describe_topic(name).await?;
                Ok::<_, ServiceError>(
                    parts.len() == 6
                        && parts
                            .iter()
                            .all(|p| p.leader.is_some() && p.isr.len() == p.replicas.len()),
                )
            },
        )
        .await?;
    }
    Ok(())
}

async fn scenario(round: usize, way: Way) -> Result<Phases, Box<dyn std::error::Error>> {
    let label = match way {
        Way::Sequential => "sequential_clean",
        Way::Parallel => "parallel_default",
    };
    let ctx = TestContext::new(&format!("benches::scenario_phases::{label}_{round}"))?;
    if way == Way::Sequential {
        ctx.clean_shutdown();
    }
    let cluster = Cluster::global()?;
    let mut nodes = ctx.lease(4).await?;
    let brokers = nodes.split_off(1);
    let zk = ZookeeperService::new(&ctx, nodes)?;
    let kafka = KafkaService::builder(brokers).zookeeper(&zk).build(&ctx)?;

    let (t, mark) = (Instant::now(), CpuMark::now(&cluster));
    match way {
        Way::Sequential => {
            zk.start().await?;
            for broker in kafka.nodes() {
                kafka.start_node(broker).await?;
            }
        }
        Way::Parallel => run_parallel(&[zk.as_ref(), kafka.as_ref()]).await?,
    }
    let (start, start_cpu) = (t.elapsed(), mark.spent(&cluster));
    let (t, mark) = (Instant::now(), CpuMark::now(&cluster));
    topics_and_checks(&kafka).await?;
    let (topics, topics_cpu) = (t.elapsed(), mark.spent(&cluster));
    let t = Instant::now();
    ctx.finish().await;
    let teardown = t.elapsed();
    println!(
        "round {round} {label:<17} start {:6.2} s  topics+checks {:6.2} s  teardown {:6.2} s",
        start.as_secs_f64(),
        topics.as_secs_f64(),
        teardown.as_secs_f64()
    );
    if let (Some(s), Some(t)) = (start_cpu, topics_cpu) {
        println!(
            "        CPU of the nodes: start {:.2} s, topics+checks {:.2} s; meanwhile the bench {:.2} s \
             and {:.2} s, the rest of the host {:.2} s and {:.2} s",
            s.nodes.as_secs_f64(),
            t.nodes.as_secs_f64(),
            s.own.as_secs_f64(),
            t.own.as_secs_f64(),
            s.others().as_secs_f64(),
            t.others().as_secs_f64(),
        );
    }
    Ok(Phases {
        start,
        topics,
        teardown,
        start_cpu,
        topics_cpu,
    })
}

/// What the topics' ratio cannot go below on these cores, from the CPU the nodes' own
/// processes burned in the parallel rounds: the cluster's work for topics and checks spread
/// over every core, first as the phase runs (after the start), then as if all of it could fill
/// the start's idle CPU (the cores less what the nodes burned in the start) — a bound no
/// scheduling of the same work can beat. Other load on the host is in neither number.
fn cpu_floor(par: &[Phases], par_start: f64) {
    let spent: Vec<(CpuSpent, CpuSpent)> = par
        .iter()
        .filter_map(|p| Some((p.start_cpu?, p.topics_cpu?)))
        .collect();
    if spent.is_empty() {
        println!(
            "  no CPU floor: the nodes' processes are not readable here (not the local cluster)"
        );
        return;
    }
    let med = |f: &dyn Fn(&(CpuSpent, CpuSpent)) -> Duration| {
        median(&mut spent.iter().map(f).collect::<Vec<_>>()).as_secs_f64()
    };
    let start_nodes = med(&|s| s.0.nodes);
    let cluster = med(&|s| s.1.nodes);
    let (topics_own, topics_others) = (med(&|s| s.1.own), med(&|s| s.1.others()));
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    let idle = (cores * par_start - start_nodes).max(0.0);
    let (after, overlapped) = follow_up_floor(cluster, par_start, start_nodes, cores);
    println!(
        "  CPU of the nodes (medians): start {start_nodes:.2} s of {:.2} s on {cores} cores ({idle:.2} s \
         left idle by them); topics and checks {cluster:.2} s (meanwhile the bench {topics_own:.2} s, \
         the rest of the host {topics_others:.2} s)",
        cores * par_start
    );
    println!(
        "  the nodes' {cluster:.2} CPU-s for the topics take >= {:.2} s on {cores} cores: \
         topics+checks / start >= {after:.2} after the start, >= {overlapped:.2} even \
         overlapped with its idle CPU ({})",
        cluster / cores,
        load_note()
    );
}

fn verdict(ratio: f64, goal: f64) -> &'static str {
    if ratio <= goal {
        "met"
    } else {
        "NOT met"
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let rounds = rounds_from_args(&args, 2)?;
    let (mut seq, mut par) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        seq.push(scenario(round, Way::Sequential).await?);
        par.push(scenario(round, Way::Parallel).await?);
    }
    let med = |phases: &[Phases], f: fn(&Phases) -> Duration| {
        median(&mut phases.iter().map(f).collect::<Vec<_>>()).as_secs_f64()
    };
    let (seq_start, par_start) = (med(&seq, |p| p.start), med(&par, |p| p.start));
    let topics = med(&par, |p| p.topics);
    let bring_up = med(&par, |p| p.start + p.topics);
    let (fast_td, clean_td) = (med(&par, |p| p.teardown), med(&seq, |p| p.teardown));

    println!(
        "\nmedians over {rounds} round(s), ZooKeeper + 3 brokers + 2 topics ({}):",
        load_note()
    );
    println!("  brokers' own start (parallel):  {par_start:6.2} s");
    println!("  topics and checks:              {topics:6.2} s");
    println!("  bring-up:                       {bring_up:6.2} s");
    println!("  teardown (default: kill):       {fast_td:6.2} s");
    println!("  teardown (clean shutdown):      {clean_td:6.2} s");
    println!("  sequential start:               {seq_start:6.2} s");
    let r = topics / par_start;
    println!(
        "ratio topics+checks / brokers' start: {r:.2}  (goal <= {TOPICS_GOAL}: {}; {})",
        verdict(r, TOPICS_GOAL),
        load_note()
    );
    cpu_floor(&par, par_start);
    let r = fast_td / bring_up;
    println!(
        "ratio teardown / bring-up:            {r:.2}  (goal <= {TEARDOWN_GOAL}: {}; {})",
        verdict(r, TEARDOWN_GOAL),
        load_note()
    );
    let r = clean_td / bring_up;
    println!(
        "ratio clean teardown / bring-up:      {r:.2}  (for comparison: graceful stops; {})",
        load_note()
    );
    let r = par_start / seq_start;
    println!(
        "ratio parallel / sequential start:    {r:.2}  (goal <= {PARALLEL_GOAL}: {}; {})",
        verdict(r, PARALLEL_GOAL),
        load_note()
    );
    Ok(())
}
