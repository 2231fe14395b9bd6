//! Readiness as a value: how a service knows a node is up. Shared by every service; always
//! detected, never slept for. While waiting, the process is watched: if it dies (a broken
//! config), the wait fails at once with the tail of its log instead of running out the clock.

use std::time::Duration;

use ducttape_core::cluster::Node;
use ducttape_core::remote::{LogMonitor, LogWaitError, RemoteError};

use crate::error::{ResultExt, ServiceError};

/// What "ready" means for a process.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Readiness {
    /// A line matching this regular expression appears in the process's log.
    LogLine(String),
    /// A line matching `ready` appears in the process's log; the start timeout is the time
    /// the log may go without a line matching `progress` (from the start, then from each
    /// such line), not the time the whole start may take: a start whose work grows with its
    /// data (a broker loading its logs) or is slowed by a loaded machine goes on while it
    /// shows progress, and one that hangs fails after the timeout as before (see
    /// [`LogMonitor::wait_until_progressing`]).
    LogLineProgressing {
        /// The line that says the process is ready.
        ready: String,
        /// A line that says its start is still moving on.
        progress: String,
    },
    /// The node's address accepts TCP connections on this port.
    Port(u16),
    /// `http://<node address>:<port><path>` answers with any HTTP status.
    Http {
        /// The port.
        port: u16,
        /// The path, starting with `/`.
        path: String,
    },
}

/// A process to watch while waiting: its pid file and its log.
#[derive(Debug, Clone)]
pub struct Watched<'a> {
    /// The service's name, for errors.
    pub service: &'a str,
    /// The node.
    pub node: &'a Node,
    /// The process's pid file.
    pub pidfile: &'a str,
    /// The process's log (monitored from before the start).
    pub log: &'a LogMonitor,
}

impl Readiness {
    /// Waits until `readiness` holds, or the watched process dies, or `timeout` passes.
    pub async fn wait(&self, watched: &Watched<'_>, timeout: Duration) -> Result<(), ServiceError> {
        let ready = self.probe(watched, timeout);
        let died = watch_process(watched);
        tokio::select! {
            r = ready => r,
            d = died => d,
        }
    }

    async fn probe(&self, w: &Watched<'_>, timeout: Duration) -> Result<(), ServiceError> {
        let account = w.node.account();
        match self {
            Readiness::LogLine(pattern) => w
                .log
                .wait_until(pattern, timeout)
                .await
                .map(drop)
                .map_err(|source| not_ready(w.service, source)),
            Readiness::LogLineProgressing { ready, progress } => w
                .log
                .wait_until_progressing(ready, progress, timeout)
                .await
                .map(drop)
                .map_err(|source| not_ready(w.service, source)),
            Readiness::Port(port) => account
                .wait_for_port(*port, timeout)
                .await
                .map_err(|e| timeout_error(w, timeout, e)),
            Readiness::Http { port, path } => {
                let url = format!("http://{}:{port}{path}", w.node.address());
                account
                    .wait_for_http(&url, timeout)
                    .await
                    .map(drop)
                    .map_err(|e| timeout_error(w, timeout, e))
            }
        }
    }
}

fn timeout_error(w: &Watched<'_>, after: Duration, e: RemoteError) -> ServiceError {
    ServiceError::Timeout {
        service: w.service.to_string(),
        node: w.node.name().to_string(),
        after,
        detail: e.to_string(),
    }
}

/// Resolves (with an error carrying the log tail) only if the process exits.
async fn watch_process(w: &Watched<'_>) -> Result<(), ServiceError> {
    let account = w.node.account();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if account
            .pid_from_file(w.pidfile)
            .await
            .ctx(w.service)?
            .is_none()
        {
            // Let the last lines reach the log.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let log_tail = account
                .ssh_output(&format!(
                    "tail -n 30 {} 2>/dev/null; true",
                    ducttape_core::remote::quote(w.log.path())
                ))
                .await
                .unwrap_or_default();
            return Err(ServiceError::Died {
                service: w.service.to_string(),
                node: w.node.name().to_string(),
                log: w.log.path().to_string(),
                log_tail: log_tail.trim_end().to_string(),
            });
        }
    }
}

/// Makes a log-wait error from a pattern failure (used by services' own waits).
pub fn not_ready(service: &str, source: LogWaitError) -> ServiceError {
    ServiceError::NotReady {
        service: service.to_string(),
        source: Box::new(source),
    }
}
