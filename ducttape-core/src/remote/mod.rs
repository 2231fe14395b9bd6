//! Driving nodes over SSH: [`RemoteAccount`] and what it returns.
//!
//! Everything a test does to a node goes through a [`RemoteAccount`]: commands (collected,
//! or streamed with [`Capture`]), background processes tracked by pid files, files and
//! directories, log monitors and readiness probes. The SSH transport behind it lives in
//! [`transport`] and nowhere else.

mod account;
mod capture;
mod error;
mod logmon;
mod process;
mod quote;
pub mod transport;

pub use account::{FilePart, Output, RemoteAccount, DEFAULT_TIMEOUT};
pub use capture::Capture;
pub use error::RemoteError;
pub use logmon::{LogMonitor, LogWaitError, Stall};
pub use process::{NodeProcess, StopOutcome};
pub use quote::{quote, quote_all};
pub use transport::{ExitStatus, TransportError, TransportStats};
