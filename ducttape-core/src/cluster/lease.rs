//! Leasing nodes (being written).
/// Placeholder.
pub struct Cluster;
/// Placeholder.
pub struct Lease;
/// Placeholder.
pub struct LeaseRequest;
/// Placeholder.
#[derive(Debug, thiserror::Error)]
#[error("lease")]
pub struct LeaseError;
