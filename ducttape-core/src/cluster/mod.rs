//! Where nodes come from and how tests get them.
//!
//! A cluster *source* describes nodes ([`NodeSpec`]): the embedded [`local`] cluster (network
//! namespaces with their own sshd, started by the framework), a [`json`] cluster file in
//! ducktape's format, or [`vagrant`] (`vagrant ssh-config`, cached as a JSON cluster file).
//! [`Cluster`] wraps a source and hands nodes out through [`lease`]s.
//!
//! The source is chosen by `DUCTTAPE_CLUSTER`: unset → local, `vagrant` → Vagrant, anything
//! else → a path to a JSON cluster file.

pub mod json;
pub mod lease;
pub mod local;
mod node;
pub mod spec;
pub mod vagrant;

pub use lease::{
    CleanupError, Cluster, Lease, LeaseError, LeaseRequest, ReleaseError, DEFAULT_LEASE_TIMEOUT,
};
pub use node::Node;
pub use spec::{NodeSpec, SshConfig};

use std::path::PathBuf;

/// Errors from reading or starting a cluster source.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The JSON cluster file (or the Vagrant cache) is unreadable or malformed.
    #[error(transparent)]
    File(#[from] json::ClusterFileError),
    /// `vagrant ssh-config` failed or printed something we cannot use.
    #[error(transparent)]
    Vagrant(#[from] vagrant::VagrantError),
    /// The embedded local cluster could not be started.
    #[error(transparent)]
    Local(#[from] local::LocalClusterError),
}

crate::human_debug!(ClusterError);

/// Which cluster source `DUCTTAPE_CLUSTER` selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterChoice {
    /// The embedded local cluster (variable unset or empty).
    Local,
    /// `vagrant ssh-config` from the current directory, cached.
    Vagrant,
    /// A JSON cluster file in ducktape's format.
    File(PathBuf),
}

impl ClusterChoice {
    /// Reads `DUCTTAPE_CLUSTER`.
    ///
    /// ```
    /// use ducttape_core::cluster::ClusterChoice;
    /// assert_eq!(ClusterChoice::parse(None), ClusterChoice::Local);
    /// assert_eq!(ClusterChoice::parse(Some("vagrant")), ClusterChoice::Vagrant);
    /// assert_eq!(ClusterChoice::parse(Some("c.json")), ClusterChoice::File("c.json".into()));
    /// ```
    pub fn parse(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            None | Some("") | Some("local") => Self::Local,
            Some("vagrant") => Self::Vagrant,
            Some(path) => Self::File(PathBuf::from(path)),
        }
    }

    /// The choice the environment makes.
    pub fn from_env() -> Self {
        Self::parse(std::env::var("DUCTTAPE_CLUSTER").ok().as_deref())
    }
}
