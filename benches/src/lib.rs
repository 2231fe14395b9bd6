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
