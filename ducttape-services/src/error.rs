//! Errors of services: each names the service, the node and what failed.

use std::time::Duration;

use ducttape_core::cluster::ClusterError;
use ducttape_core::context::ContextError;
use ducttape_core::remote::{LogWaitError, RemoteError};
use ducttape_core::WaitError;

use crate::rest_proxy::RestError;

/// Any error a scenario meets, for test authors and helpers: `?` converts every ducttape error
/// into it, and a test that fails on it prints the message and its causes.
///
/// ```no_run
/// # async fn demo(ctx: &ducttape_core::TestContext) -> Result<(), ducttape_services::Error> {
/// use ducttape_services::{ServiceExt, ZookeeperService};
/// let nodes = ctx.lease(1).await?;              // ContextError
/// let zk = ZookeeperService::new(ctx, nodes)?;   // ServiceError
/// zk.start().await?;                            // ServiceError
/// # Ok(()) }
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Setting up the test: results, the cluster, leases.
    #[error(transparent)]
    Context(#[from] ContextError),
    /// The cluster source.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A service operation.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// A request to a service's HTTP API.
    #[error(transparent)]
    Rest(#[from] RestError),
    /// A command on a node.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// A condition that did not come true in time.
    #[error(transparent)]
    Wait(#[from] WaitError),
    /// A question about a service's sampled JVM metrics.
    #[error(transparent)]
    Metrics(#[from] crate::jvm::MetricsError),
    /// Any other error of ducttape-core (a lease's cleanup, a log wait, a teardown step…).
    #[error(transparent)]
    Core(#[from] ducttape_core::Error),
}

ducttape_core::human_debug!(Error);

/// `Result` with [`Error`] by default (`ducttape_services::Result<()>` for a helper that meets
/// several kinds of error); `Result<T, ServiceError>` names another. The crate's own functions
/// return their precise error ([`ServiceError`], [`RestError`], …).
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A service operation failed.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// A remote command failed.
    #[error("{service}: {source}")]
    Remote {
        /// The service.
        service: String,
        /// What went wrong on the node.
        #[source]
        source: Box<RemoteError>,
    },
    /// The service did not become ready.
    #[error("{service}: {source}")]
    NotReady {
        /// The service.
        service: String,
        /// The readiness wait that failed (it carries the log tail).
        #[source]
        source: Box<LogWaitError>,
    },
    /// The process exited while we waited for it to become ready.
    #[error("{service}: the process on {node} exited before it was ready\n--- {log} (last lines) ---\n{log_tail}")]
    Died {
        /// The service.
        service: String,
        /// The node.
        node: String,
        /// The log file.
        log: String,
        /// Its last lines.
        log_tail: String,
    },
    /// A background worker (a perf or verification client) failed or left no result.
    #[error("{service}: the worker on {node} {detail}\n--- {log} (last lines) ---\n{log_tail}")]
    WorkerFailed {
        /// The service.
        service: String,
        /// The node.
        node: String,
        /// What went wrong (`exited with status 1`, `printed no result`).
        detail: String,
        /// The worker's output file.
        log: String,
        /// Its last lines.
        log_tail: String,
    },
    /// A worker printed lines that claim to be events of its tool but do not parse.
    #[error("{service}: the worker on {node} printed {} malformed event line(s), e.g. {}", .lines.len(), .lines.first().map_or("", String::as_str))]
    MalformedOutput {
        /// The service.
        service: String,
        /// The node.
        node: String,
        /// The malformed lines with the reason.
        lines: Vec<String>,
    },
    /// A readiness probe (port, HTTP, custom) did not pass in time.
    #[error("{service}: {node} not ready after {after:?}: {detail}")]
    Timeout {
        /// The service.
        service: String,
        /// The node.
        node: String,
        /// How long we waited.
        after: Duration,
        /// What was awaited and the last answer.
        detail: String,
    },
    /// A question to a running service got no usable answer (a refused connection, an
    /// answer that does not parse).
    #[error("{service}: {node}: {what}: {detail}")]
    Probe {
        /// The service.
        service: String,
        /// The node asked.
        node: String,
        /// What was asked (`srvr`, `dump`).
        what: String,
        /// The error or the answer.
        detail: String,
    },
    /// The system under test is not installed on the node.
    #[error(
        "{service}: {what} is not installed on {node}: {path} is missing; {}",
        crate::install::install_fix(what, path)
    )]
    MissingInstall {
        /// The service.
        service: String,
        /// The node.
        node: String,
        /// What is missing.
        what: String,
        /// The path looked for.
        path: String,
    },
    /// `DUCTTAPE_KAFKA_HOME` names a Kafka that cannot be used.
    #[error(transparent)]
    KafkaHome(#[from] crate::kafka_home::KafkaHomeError),
    /// The service was asked something that contradicts its setup.
    #[error("{service}: {detail}")]
    Usage {
        /// The service.
        service: String,
        /// What is wrong.
        detail: String,
    },
    /// A consumer stopped reading while its partitions held records it had not read: its own
    /// failure, not a timeout, named with where it stands against Kafka's end offsets and the
    /// delivery report as far as it got (the losses are not hidden behind the stall).
    #[error("{service}: read nothing for {stalled_for:?} while Kafka holds more: {behind}\ndelivery so far: {report}")]
    ConsumerStalled {
        /// The consumer service.
        service: String,
        /// How long it had read nothing.
        stalled_for: Duration,
        /// Each partition it is behind in: `topic-partition: next offset N, end offset M`.
        behind: String,
        /// The delivery report when it was given up on.
        report: String,
    },
    /// A Kafka control operation or Kafka-only setup step failed (see
    /// [`KafkaServiceError`](crate::kafka::KafkaServiceError)).
    #[error(transparent)]
    Kafka(#[from] crate::kafka::KafkaServiceError),
    /// Several nodes failed (from a fan-out).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Many(Vec<ServiceError>),
}

ducttape_core::human_debug!(ServiceError);

impl ServiceError {
    /// Folds errors from a fan-out: none → Ok, one → itself, more → [`ServiceError::Many`].
    pub fn from_all(mut errors: Vec<ServiceError>) -> Result<(), ServiceError> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(ServiceError::Many(errors)),
        }
    }
}

/// Attaches a service name to remote errors: `account.ssh(..).await.ctx(name)?`.
pub trait ResultExt<T> {
    /// Wraps the error with the service's name.
    fn ctx(self, service: &str) -> Result<T, ServiceError>;
}

impl<T> ResultExt<T> for Result<T, RemoteError> {
    fn ctx(self, service: &str) -> Result<T, ServiceError> {
        self.map_err(|source| ServiceError::Remote {
            service: service.to_string(),
            source: Box::new(source),
        })
    }
}
