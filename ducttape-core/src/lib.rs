//! # ducttape-core
//!
//! The foundation of ducttape: where test nodes come from ([`cluster`]), how a test gets
//! them exclusively ([`cluster::Lease`]), how it drives them over SSH ([`remote::RemoteAccount`]),
//! how it waits for things ([`wait_until`]) and the per-test context that owns results, logs
//! and teardown ([`context`]). Services (ZooKeeper, Kafka, …) live in `ducttape-services`.
//!
//! ## Layout
//!
//! | module | holds |
//! |---|---|
//! | [`cluster`] | node sources (`local/`: namespaces with sshd; `json`: ducktape's cluster file; `vagrant`), [`cluster::Lease`] |
//! | [`remote`] | [`remote::RemoteAccount`]: commands over SSH (long-lived shells), files, processes, log monitors |
//! | [`context`] | [`TestContext`]: results directory, `test.log`, events, teardown; the run report, plots, run comparison |
//! | [`wait`] | [`wait_until`], returning what it found |
//! | [`errors`] | how errors read when a test fails on them ([`human_debug!`]); [`Error`], any error of this crate, and its [`Result`] |
//!
//! Binaries: `ducttape-local` (the local cluster as a daemon), `ducttape-report` (compare runs,
//! baselines, rewrite reports).

pub mod cluster;
pub mod context;
pub mod errors;
pub mod files;
pub(crate) mod log;
pub mod remote;
pub mod report;
pub mod results;
pub mod wait;

pub use context::TestContext;
pub use errors::{Error, Result};

/// For [`event!`]: callers need not depend on `tracing` themselves.
#[doc(hidden)]
pub use tracing as __tracing;
pub use wait::{wait_until, Found, WaitError};
