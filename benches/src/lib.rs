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

/// CPU time this process (the bench: test runner and Kafka client) has spent so far, every
/// thread together (`utime + stime` of `/proc/self/stat`); `None` where it cannot be read.
/// Taken from [`host_busy_cpu`] over the same phase it leaves what the cluster burned.
pub fn own_cpu() -> Option<Duration> {
    own_cpu_of(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// `utime + stime` of a `/proc/<pid>/stat` line (the command name may hold spaces and
/// parentheses: fields are counted after its last `)`).
///
/// ```
/// let line = "42 (my (odd) cmd) S 1 42 42 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 9 0";
/// // utime 250 + stime 30 ticks
/// assert_eq!(ducttape_benches::own_cpu_of(line), Some(std::time::Duration::from_millis(2800)));
/// ```
pub fn own_cpu_of(stat: &str) -> Option<Duration> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state is field 3 of the line, utime 14 and stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// CPU burned over a phase: by the whole host and by this process.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSpent {
    /// Busy CPU of the whole host (every core, every process).
    pub host: Duration,
    /// This process's share of it.
    pub own: Duration,
}

/// Reads both CPU counters now, for [`CpuMark::spent`] later.
#[derive(Debug, Clone, Copy)]
pub struct CpuMark {
    host: Option<Duration>,
    own: Option<Duration>,
}

impl CpuMark {
    /// The counters as they are now.
    pub fn now() -> Self {
        CpuMark {
            host: host_busy_cpu(),
            own: own_cpu(),
        }
    }

    /// What was burned since this mark; `None` where a counter could not be read.
    pub fn spent(&self) -> Option<CpuSpent> {
        let now = CpuMark::now();
        Some(CpuSpent {
            host: now.host?.saturating_sub(self.host?),
            own: now.own?.saturating_sub(self.own?),
        })
    }
}

/// The least a phase that follows another can add, as ratios to the first phase's wall time,
/// given the CPU-seconds its work needs (`work`) on `cores` cores: `(after, overlapped)`, where
/// `after` assumes it runs after the first phase (its work spread over every core) and
/// `overlapped` that it could even fill the first phase's idle CPU (`cores × first − first_cpu`).
/// A goal under `overlapped` cannot be met on this host by any scheduling of the same work.
///
/// ```
/// // 1.8 CPU-s of work after a 4 s phase that burned 7 of its 8 CPU-s, on 2 cores:
/// let (after, overlapped) = ducttape_benches::follow_up_floor(1.8, 4.0, 7.0, 2.0);
/// assert!((after - 0.225).abs() < 1e-9);      // 0.9 s ÷ 4 s
/// assert!((overlapped - 0.1).abs() < 1e-9);   // (1.8 − 1.0 idle) ÷ 2 ÷ 4 s
/// // A phase with more idle CPU than the work needs could hide it entirely.
/// assert_eq!(ducttape_benches::follow_up_floor(1.8, 4.0, 5.0, 2.0).1, 0.0);
/// ```
pub fn follow_up_floor(work: f64, first: f64, first_cpu: f64, cores: f64) -> (f64, f64) {
    let idle = (cores * first - first_cpu).max(0.0);
    (work / cores / first, (work - idle).max(0.0) / cores / first)
}
