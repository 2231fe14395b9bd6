//! # ducttape-core
//!
//! The foundation of ducttape: where test nodes come from ([`cluster`]), how a test gets
//! them exclusively ([`cluster::Lease`]), how it drives them over SSH ([`remote::RemoteAccount`]),
//! how it waits for things ([`wait_until`]) and the per-test context that owns results, logs
//! and teardown ([`context`]). Services (ZooKeeper, Kafka, …) live in `ducttape-services`.

pub mod cluster;
pub mod context;
pub mod errors;
pub mod remote;
pub mod wait;

pub use context::TestContext;

/// For [`event!`]: callers need not depend on `tracing` themselves.
#[doc(hidden)]
pub use tracing as __tracing;
pub use wait::{wait_until, Found, WaitError};
