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
/// nice, system, irq, softirq, steal from `/proc/stat`, in USER_HZ = 100 ticks a second).
/// Everything is in it — other builds and tests too — so it only says how loaded the host was
/// beside what the nodes burned ([`nodes_cpu`]); no floor is derived from it.
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
pub fn own_cpu() -> Option<Duration> {
    own_cpu_of(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// The fields after the command name of a `/proc/<pid>/stat` line (the name may hold spaces
/// and parentheses: fields are counted after its last `)`); index 0 is field 3 (state).
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    Some(stat[stat.rfind(')')? + 1..].split_whitespace().collect())
}

/// Field `n` (1-based, as `man proc` numbers them) of a stat line's fields, in ticks.
fn stat_ticks(fields: &[&str], n: usize) -> Option<u64> {
    fields.get(n.checked_sub(3)?)?.parse().ok()
}

/// `utime + stime` of a `/proc/<pid>/stat` line.
///
/// ```
/// let line = "42 (my (odd) cmd) S 1 42 42 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 9 0";
/// // utime 250 + stime 30 ticks
/// assert_eq!(ducttape_benches::own_cpu_of(line), Some(std::time::Duration::from_millis(2800)));
/// ```
pub fn own_cpu_of(stat: &str) -> Option<Duration> {
    let fields = stat_fields(stat)?;
    let ticks = stat_ticks(&fields, 14)? + stat_ticks(&fields, 15)?;
    Some(Duration::from_millis(ticks * 10))
}

/// `utime + stime + cutime + cstime` of a `/proc/<pid>/stat` line: what the process burned and
/// what its children burned before it reaped them. Summed over every process of a PID
/// namespace whose init reaps its orphans, it counts every process that ever ran there once,
/// the exited ones through their reapers.
///
/// ```
/// let line = "42 (java) S 1 42 42 0 -1 4194560 100 0 0 0 250 30 7 3 20 0 9 0";
/// // utime 250 + stime 30 + cutime 7 + cstime 3 ticks
/// assert_eq!(
///     ducttape_benches::cpu_with_children_of(line),
///     Some(std::time::Duration::from_millis(2900))
/// );
/// ```
pub fn cpu_with_children_of(stat: &str) -> Option<Duration> {
    let fields = stat_fields(stat)?;
    let ticks = (14..=17)
        .map(|n| stat_ticks(&fields, n))
        .sum::<Option<u64>>()?;
    Some(Duration::from_millis(ticks * 10))
}

/// The CPU the local cluster's nodes have burned so far: every process in the nodes' PID
/// namespaces (init, sshd and its sessions, the services; see
/// [`LocalCluster::node_pids`](ducttape_core::cluster::local::LocalCluster::node_pids)), each
/// with its reaped children ([`cpu_with_children_of`]). Unlike the host's busy CPU it holds
/// none of the other load on the host (other tests, builds), nor the bench's own CPU. `None`
/// for a cluster that is not the local one (its nodes' processes are not ours to read).
///
/// A process that exits between the listing of `/proc` and the reading of its stat, after its
/// reaper was read, is missed by that one reading: the sum can come out a little low, never
/// high.
pub fn nodes_cpu(cluster: &Cluster) -> Option<Duration> {
    let local = cluster.local()?;
    let mut total = Duration::ZERO;
    for index in 0..local.nodes().len() {
        for pid in local.node_pids(index).ok()? {
            if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                total += cpu_with_children_of(&stat).unwrap_or_default();
            }
        }
    }
    Some(total)
}

/// The 1, 5 and 15 minute load averages from a `/proc/loadavg` text.
///
/// ```
/// assert_eq!(
///     ducttape_benches::load_of("2.15 1.40 0.88 3/412 9876\n"),
///     Some([2.15, 1.40, 0.88])
/// );
/// assert_eq!(ducttape_benches::load_of("garbage"), None);
/// ```
pub fn load_of(loadavg: &str) -> Option<[f64; 3]> {
    let mut it = loadavg.split_whitespace().map(str::parse::<f64>);
    Some([it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?])
}

/// The host's load now, as printed beside every ratio: `load 2.15 1.40 0.88 (1/5/15 min) on
/// 2 cores`. A ratio measured with the cores already busy says as much about the neighbours
/// as about the code.
pub fn load_note() -> String {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    match std::fs::read_to_string("/proc/loadavg")
        .ok()
        .as_deref()
        .and_then(load_of)
    {
        Some([a, b, c]) => format!("load {a:.2} {b:.2} {c:.2} (1/5/15 min) on {cores} cores"),
        None => format!("load unknown (no /proc/loadavg) on {cores} cores"),
    }
}

/// CPU burned over a phase: by the cluster's nodes, by this process, and by the whole host.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSpent {
    /// The nodes' own processes ([`nodes_cpu`]): what floors are derived from.
    pub nodes: Duration,
    /// This process (the bench: its SSH transport, Kafka client, test context).
    pub own: Duration,
    /// The whole host's busy CPU: nodes, bench and any other load together.
    pub host: Duration,
}

impl CpuSpent {
    /// What the rest of the host burned meanwhile: neither the nodes nor the bench.
    pub fn others(&self) -> Duration {
        self.host.saturating_sub(self.nodes + self.own)
    }
}

/// Reads the CPU counters now, for [`CpuMark::spent`] later.
#[derive(Debug, Clone, Copy)]
pub struct CpuMark {
    nodes: Option<Duration>,
    own: Option<Duration>,
    host: Option<Duration>,
}

impl CpuMark {
    /// The counters of `cluster`'s nodes, this process and the host as they are now.
    pub fn now(cluster: &Cluster) -> Self {
        CpuMark {
            nodes: nodes_cpu(cluster),
            own: own_cpu(),
            host: host_busy_cpu(),
        }
    }

    /// What was burned since this mark; `None` where a counter could not be read (the nodes'
    /// on a cluster that is not the local one).
    pub fn spent(&self, cluster: &Cluster) -> Option<CpuSpent> {
        let now = CpuMark::now(cluster);
        Some(CpuSpent {
            nodes: now.nodes?.saturating_sub(self.nodes?),
            own: now.own?.saturating_sub(self.own?),
            host: now.host?.saturating_sub(self.host?),
        })
    }
}

/// The lowest `parallel ÷ sequential` a parallel start can reach on `cores` cores, when the
/// sequential start took `sequential` seconds of wall time and its nodes burned `work`
/// CPU-seconds: the same work spread over every core.
///
/// ```
/// // A 20 s sequential start whose nodes burned 16 CPU-s: on 2 cores at least 8 s, 0.4.
/// assert!((ducttape_benches::parallel_floor(16.0, 20.0, 2.0) - 0.4).abs() < 1e-9);
/// ```
pub fn parallel_floor(work: f64, sequential: f64, cores: f64) -> f64 {
    work / cores / sequential
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_floor_comes_from_the_nodes_work_alone() {
        // The nodes burned 16 CPU-s in a 20 s sequential start; others on the host burned 20
        // more meanwhile (so the host was fully busy). The floor is the nodes' work spread over
        // the cores: the neighbours' load raises what we measure, not what we could reach.
        let spent = CpuSpent {
            nodes: Duration::from_secs(16),
            own: Duration::from_secs(1),
            host: Duration::from_secs(37),
        };
        assert_eq!(spent.others(), Duration::from_secs(20));
        let floor = parallel_floor(spent.nodes.as_secs_f64(), 20.0, 2.0);
        assert!((floor - 0.4).abs() < 1e-9, "{floor}");
        // Derived from the host's busy CPU instead, it would say 0.925: a floor nobody beats.
        assert!(parallel_floor(spent.host.as_secs_f64(), 20.0, 2.0) > 0.9);
    }

    #[test]
    fn a_follow_up_phase_can_hide_in_idle_cpu_only_as_far_as_there_is_idle_cpu() {
        // 1.8 CPU-s of topics after a 4 s start whose nodes burned 7 of its 8 CPU-s.
        let (after, overlapped) = follow_up_floor(1.8, 4.0, 7.0, 2.0);
        assert!((after - 0.225).abs() < 1e-9);
        assert!((overlapped - 0.1).abs() < 1e-9);
        // Nothing to hide: all of it after the start.
        let (after, overlapped) = follow_up_floor(1.8, 4.0, 8.0, 2.0);
        assert_eq!(after, overlapped);
        // More idle CPU than work: the work could vanish in it.
        assert_eq!(follow_up_floor(1.8, 4.0, 5.0, 2.0).1, 0.0);
    }

    #[test]
    fn stat_lines_give_their_processes_and_reaped_childrens_cpu() {
        let line = "7 (sh) S 0 7 7 0 -1 4194560 100 0 0 0 5 5 1200 300 20 0 1 0";
        assert_eq!(own_cpu_of(line), Some(Duration::from_millis(100)));
        assert_eq!(
            cpu_with_children_of(line),
            Some(Duration::from_millis(15_100))
        );
        assert_eq!(cpu_with_children_of("7 (sh) S 0 7"), None);
        assert_eq!(cpu_with_children_of("no parenthesis"), None);
    }

    #[test]
    fn a_process_that_exits_moves_its_cpu_to_its_reaper_not_out_of_the_sum() {
        // A real child of this process: its CPU is its own while it runs, this process's
        // cutime/cstime once reaped.
        let before =
            cpu_with_children_of(&std::fs::read_to_string("/proc/self/stat").unwrap()).unwrap();
        let status = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"])
            .status()
            .unwrap();
        assert!(status.success());
        let after =
            cpu_with_children_of(&std::fs::read_to_string("/proc/self/stat").unwrap()).unwrap();
        // The loop takes well over 100 ms of CPU; own_cpu alone would not see it.
        assert!(
            after - before >= Duration::from_millis(100),
            "{before:?} -> {after:?}"
        );
    }
}
