//! How to size and place a local cluster: [`LocalClusterOptions`], from the environment.

use super::{LocalClusterError, PRIVATE_DIRS};
use std::path::PathBuf;

/// How to size and place a local cluster.
///
/// ```
/// use ducttape_core::cluster::local::LocalClusterOptions;
/// let opts = LocalClusterOptions { nodes: 3, ..LocalClusterOptions::default() };
/// assert_eq!(opts.subnet_base, [10, 223]);
/// assert_eq!(opts.state_root, std::path::Path::new("/var/lib/ducttape/local"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalClusterOptions {
    /// How many nodes (`worker1..workerN`), 1 to [`Self::MAX_NODES`].
    /// From `DUCTTAPE_LOCAL_NODES`, else 6.
    pub nodes: usize,
    /// The first two octets of the nodes' addresses; the third is the cluster's slot.
    /// From `DUCTTAPE_LOCAL_SUBNET` (`"10.223"`), else `10.223`.
    pub subnet_base: [u8; 2],
    /// Where slots, locks, keys, configs and the nodes' private directories live. Must be
    /// outside `/tmp`, `/mnt` and `/root`, which nodes replace with their own. All clusters on a
    /// machine should share one root (slots are allocated per root). From
    /// `DUCTTAPE_LOCAL_STATE_ROOT`, else `/var/lib/ducttape/local`.
    pub state_root: PathBuf,
}

impl LocalClusterOptions {
    /// The node count when `DUCTTAPE_LOCAL_NODES` is unset.
    pub const DEFAULT_NODES: usize = 6;
    /// The most nodes a cluster may have (addresses `.11` to `.210`).
    pub const MAX_NODES: usize = 200;
    /// The subnet base when `DUCTTAPE_LOCAL_SUBNET` is unset.
    pub const DEFAULT_SUBNET_BASE: [u8; 2] = [10, 223];
    /// The state root when `DUCTTAPE_LOCAL_STATE_ROOT` is unset.
    pub const DEFAULT_STATE_ROOT: &'static str = "/var/lib/ducttape/local";

    /// The defaults, overridden by `DUCTTAPE_LOCAL_NODES`, `DUCTTAPE_LOCAL_SUBNET` and
    /// `DUCTTAPE_LOCAL_STATE_ROOT` where set; an unusable value is an error naming the variable.
    pub fn from_env() -> Result<Self, LocalClusterError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, LocalClusterError> {
        let mut opts = Self::default();
        let set = |name: &str| {
            var(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        if let Some(value) = set("DUCTTAPE_LOCAL_NODES") {
            opts.nodes = value.parse().map_err(|_| {
                invalid(
                    "DUCTTAPE_LOCAL_NODES",
                    &value,
                    "expected a number of nodes, e.g. 6",
                )
            })?;
        }
        if let Some(value) = set("DUCTTAPE_LOCAL_SUBNET") {
            opts.subnet_base = parse_subnet_base(&value).ok_or_else(|| {
                invalid(
                    "DUCTTAPE_LOCAL_SUBNET",
                    &value,
                    "expected the first two octets of a private subnet, e.g. 10.223",
                )
            })?;
        }
        if let Some(value) = set("DUCTTAPE_LOCAL_STATE_ROOT") {
            opts.state_root = PathBuf::from(value);
        }
        opts.validate()?;
        Ok(opts)
    }

    /// Checks the node count and the state root.
    pub fn validate(&self) -> Result<(), LocalClusterError> {
        if !(1..=Self::MAX_NODES).contains(&self.nodes) {
            return Err(invalid(
                "node count",
                &self.nodes.to_string(),
                &format!("a local cluster has 1 to {} nodes", Self::MAX_NODES),
            ));
        }
        let root = &self.state_root;
        let shown = root.display().to_string();
        if !root.is_absolute() || shown.chars().any(char::is_whitespace) {
            return Err(invalid(
                "state root",
                &shown,
                "expected an absolute path without spaces",
            ));
        }
        if let Some((_, hidden, _)) = PRIVATE_DIRS
            .iter()
            .find(|(_, path, _)| root.starts_with(path))
        {
            return Err(invalid("state root", &shown, &format!("nodes replace {hidden} with their own; pick a directory outside /tmp, /mnt and /root")));
        }
        Ok(())
    }
}

impl Default for LocalClusterOptions {
    fn default() -> Self {
        Self {
            nodes: Self::DEFAULT_NODES,
            subnet_base: Self::DEFAULT_SUBNET_BASE,
            state_root: PathBuf::from(Self::DEFAULT_STATE_ROOT),
        }
    }
}

fn invalid(name: &'static str, value: &str, reason: &str) -> LocalClusterError {
    LocalClusterError::InvalidSetting {
        name,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn parse_subnet_base(value: &str) -> Option<[u8; 2]> {
    let (a, b) = value.split_once('.')?;
    Some([a.parse().ok()?, b.parse().ok()?])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic on the unexpected
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<LocalClusterOptions, LocalClusterError> {
        LocalClusterOptions::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn options_default_without_variables() {
        assert_eq!(from(&[]).unwrap(), LocalClusterOptions::default());
    }

    #[test]
    fn options_read_variables() {
        let opts = from(&[
            ("DUCTTAPE_LOCAL_NODES", "3"),
            ("DUCTTAPE_LOCAL_SUBNET", "10.77"),
            ("DUCTTAPE_LOCAL_STATE_ROOT", "/srv/dt"),
        ])
        .unwrap();
        assert_eq!(
            opts,
            LocalClusterOptions {
                nodes: 3,
                subnet_base: [10, 77],
                state_root: "/srv/dt".into()
            }
        );
    }

    #[test]
    fn options_reject_bad_values_naming_the_variable() {
        for (name, value) in [
            ("DUCTTAPE_LOCAL_NODES", "many"),
            ("DUCTTAPE_LOCAL_NODES", "0"),
            ("DUCTTAPE_LOCAL_SUBNET", "10.300"),
        ] {
            let error = from(&[(name, value)]).unwrap_err().to_string();
            assert!(error.contains(value), "{error}");
        }
        let error = from(&[("DUCTTAPE_LOCAL_STATE_ROOT", "/tmp/dt")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("outside /tmp"), "{error}");
    }
}
