//! The embedded local cluster. (Being written: see the helper's task.)

/// The local cluster could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LocalClusterError {
    /// Placeholder until the module is written.
    #[error("local cluster not written yet")]
    NotYet,
}
