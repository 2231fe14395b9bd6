//! Shared helpers of the ducttape benches: timing and the cluster to run against.

use std::time::{Duration, Instant};

use ducttape_core::cluster::{json, Cluster, ClusterChoice, ClusterError};

/// The median of `samples` (sorted in place); zero for none.
pub fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

/// The number after `--rounds` in `args`, else `default`.
///
/// ```
/// let args = ["bench", "--rounds", "5"].map(String::from);
/// assert_eq!(ducttape_benches::rounds_from_args(&args, 3).unwrap(), 5);
/// assert_eq!(ducttape_benches::rounds_from_args(&[], 3).unwrap(), 3);
/// ```
pub fn rounds_from_args(args: &[String], default: usize) -> Result<usize, std::num::ParseIntError> {
    args.iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .map_or(Ok(default), |v| v.parse())
}

/// Runs `f` `n` times and returns each run's duration.
pub async fn time_each<F, Fut, T, E>(n: usize, mut f: F) -> Result<Vec<Duration>, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        f().await?;
        out.push(start.elapsed());
    }
    Ok(out)
}

/// The cluster named by `--cluster-file PATH` in `args`, else the one `DUCTTAPE_CLUSTER`
/// chooses (the local cluster by default).
pub fn cluster_from_args(args: &[String]) -> Result<Cluster, ClusterError> {
    match args.iter().position(|a| a == "--cluster-file") {
        Some(i) => {
            let path = args.get(i + 1).map(String::as_str).unwrap_or_default();
            Ok(Cluster::from_nodes(json::load(std::path::Path::new(path))?))
        }
        None => Cluster::from_choice(ClusterChoice::from_env()),
    }
}

/// CPU time this host has spent busy so far, all cores and every process together (user,
/// nice, system, irq, softirq, steal from `/proc/stat`, in USER_HZ = 100 ticks a second). The
/// local cluster's nodes are processes of this host, so the difference over a phase is what the
/// whole cluster burned in it; `None` where `/proc/stat` cannot be read.
pub fn host_busy_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    busy_of(stat.lines().next()?)
}

/// The busy time of `/proc/stat`'s first (`cpu`) line.
///
/// ```
/// let line = "cpu  100 5 50 1000 7 3 2 1 0 0";
/// // user + nice + system + irq + softirq + steal = 161 ticks
/// assert_eq!(ducttape_benches::busy_of(line), Some(std::time::Duration::from_millis(1610)));
/// ```
pub fn busy_of(line: &str) -> Option<Duration> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let n: Vec<u64> = fields
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let [user, nice, system, _idle, _iowait, irq, softirq, steal] = n[..] else {
        return None;
    };
    let ticks = user + nice + system + irq + softirq + steal;
    Some(Duration::from_millis(ticks * 10))
}
