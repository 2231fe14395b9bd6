//! [`LogMonitor`]: wait for a line to appear in a node's log, counting only lines written
//! after the monitor was created. It streams the file (`tail -F` from the remembered offset);
//! it does not poll.

use std::time::Duration;

use regex::Regex;

use super::account::RemoteAccount;
use super::error::RemoteError;
use super::quote::quote;

/// A waiting-for-a-line failed: the line never came, or the pattern is invalid.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum LogWaitError {
    /// No line matched in time. Carries the log's last lines.
    #[error("{node}: no line matching /{pattern}/ in {path} within {after:?}{}", if log_tail.is_empty() { String::new() } else { format!("\n--- {path} (last lines) ---\n{log_tail}") })]
    Timeout {
        /// The node's name.
        node: String,
        /// The log file.
        path: String,
        /// The regular expression.
        pattern: String,
        /// How long we waited.
        after: Duration,
        /// The last lines of the log.
        log_tail: String,
    },
    /// The regular expression does not compile.
    #[error("invalid pattern /{pattern}/: {detail}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// Why.
        detail: String,
    },
    /// Reading the log failed.
    #[error(transparent)]
    Remote(#[from] RemoteError),
}

crate::human_debug!(LogWaitError);

/// Watches one log file on one node.
///
/// ```no_run
/// # async fn demo(account: ducttape_core::remote::RemoteAccount) -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// let monitor = account.monitor_log("/mnt/kafka/server.log").await?;
/// // … start the broker …
/// let line = monitor.wait_until(r"Kafka\s*Server.*started", Duration::from_secs(60)).await?;
/// # let _ = line; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct LogMonitor {
    account: RemoteAccount,
    path: String,
    offset: u64,
}

impl LogMonitor {
    pub(crate) async fn start(account: RemoteAccount, path: &str) -> Result<Self, RemoteError> {
        let text = account
            .ssh_output(&format!("stat -c %s {} 2>/dev/null || echo 0", quote(path)))
            .await?;
        Ok(Self {
            account,
            path: path.to_string(),
            offset: text.trim().parse().unwrap_or(0),
        })
    }

    /// The byte offset from which lines count.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The file watched.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Waits until a line written after the monitor's creation matches `pattern` (a regular
    /// expression); returns that line. On timeout, the error carries the log's last lines.
    pub async fn wait_until(
        &self,
        pattern: &str,
        timeout: Duration,
    ) -> Result<String, LogWaitError> {
        let re = Regex::new(pattern).map_err(|e| LogWaitError::Pattern {
            pattern: pattern.to_string(),
            detail: e.to_string(),
        })?;
        // `timeout` on the node too, so a quiet file never leaves a tail behind.
        let secs = timeout.as_secs() + 2;
        let command = format!(
            "exec timeout {secs} tail -c +{} -F {} 2>/dev/null",
            self.offset + 1,
            quote(&self.path)
        );
        let mut lines = self.account.ssh_capture_for(&command, timeout)?;
        loop {
            match lines.next_line().await {
                Ok(Some(line)) if re.is_match(&line) => return Ok(line),
                Ok(Some(_)) => {}
                Ok(None) | Err(RemoteError::Timeout { .. }) | Err(RemoteError::Command { .. }) => {
                    break
                }
                Err(e) => return Err(e.into()),
            }
        }
        let log_tail = self
            .account
            .ssh_output(&format!(
                "tail -n 20 {} 2>/dev/null; true",
                quote(&self.path)
            ))
            .await
            .unwrap_or_default();
        Err(LogWaitError::Timeout {
            node: self.account.name().to_string(),
            path: self.path.clone(),
            pattern: pattern.to_string(),
            after: timeout,
            log_tail: log_tail.trim_end().to_string(),
        })
    }
}
