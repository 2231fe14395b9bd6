//! Nodes from `vagrant ssh-config`. (Being written: see the helper's task.)

/// `vagrant ssh-config` failed or printed something unusable.
#[derive(Debug, thiserror::Error)]
pub enum VagrantError {
    /// Placeholder until the module is written.
    #[error("vagrant support not written yet")]
    NotYet,
}
