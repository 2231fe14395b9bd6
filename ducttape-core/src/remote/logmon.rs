//! [`LogMonitor`]: wait for a line to appear in a node's log, counting only lines written
//! after the monitor was created. It streams the file (`tail -F` from the remembered offset);
//! it does not poll.

use std::time::Duration;

use regex::Regex;
use tokio::time::Instant;

use super::account::RemoteAccount;
use super::capture::Capture;
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
    /// No line matched, and the log stopped showing progress: no line matching the progress
    /// pattern for the quiet time allowed (see [`LogMonitor::wait_until_progressing`]).
    #[error(transparent)]
    Stalled(Box<Stall>),
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

/// A progressing wait that ran out ([`LogWaitError::Stalled`]): what was waited for, how much
/// progress came, and the log's last lines.
#[derive(Debug, thiserror::Error)]
#[error("{node}: no line matching /{pattern}/ in {path}: {quiet:?} without progress (lines matching /{progress}/: {progress_lines} in {after:?}){}", if log_tail.is_empty() { String::new() } else { format!("\n--- {path} (last lines) ---\n{log_tail}") })]
pub struct Stall {
    /// The node's name.
    pub node: String,
    /// The log file.
    pub path: String,
    /// The regular expression of the line waited for.
    pub pattern: String,
    /// The regular expression of a progress line.
    pub progress: String,
    /// How many progress lines came.
    pub progress_lines: u64,
    /// How long the log went without one (the allowance that ran out).
    pub quiet: Duration,
    /// How long we waited in all.
    pub after: Duration,
    /// The last lines of the log.
    pub log_tail: String,
}

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
        let re = compile(pattern)?;
        // `timeout` on the node too, so a quiet file never leaves a tail behind.
        let mut lines = self.follow(timeout)?;
        let deadline = Instant::now() + timeout;
        while let Some(line) = next_line(&mut lines, deadline).await? {
            if re.is_match(&line) {
                return Ok(line);
            }
        }
        Err(LogWaitError::Timeout {
            node: self.account.name().to_string(),
            path: self.path.clone(),
            pattern: pattern.to_string(),
            after: timeout,
            log_tail: self.tail().await,
        })
    }

    /// Like [`wait_until`](Self::wait_until) for a process whose start takes as long as its
    /// work (a broker loading its logs): waits for `pattern` as long as lines matching
    /// `progress` keep coming, and fails only once `quiet` passes without one (counted from
    /// the call, then from each progress line) — [`LogWaitError::Stalled`]. A start that is
    /// slow because the machine is loaded goes on; one that hangs fails as soon as it has
    /// been quiet for `quiet`. The wait is as long as the progress: `progress` should match
    /// the steps of a start, which are finitely many (each log loaded), not a retry loop's
    /// lines.
    ///
    /// ```no_run
    /// # async fn demo(monitor: ducttape_core::remote::LogMonitor) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// let loading = r"Completed load of|Loaded \d+ logs";
    /// monitor
    ///     .wait_until_progressing(r"Kafka\s*Server.*started", loading, Duration::from_secs(90))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_until_progressing(
        &self,
        pattern: &str,
        progress: &str,
        quiet: Duration,
    ) -> Result<String, LogWaitError> {
        let (re, progress_re) = (compile(pattern)?, compile(progress)?);
        let started = Instant::now();
        // The node's own `timeout` is only a backstop here (the wait ends when progress
        // does); dropping the capture ends the tail.
        let mut lines = self.follow(FOLLOW_LIMIT)?;
        let mut deadline = started + quiet;
        let mut progress_lines = 0;
        while let Some(line) = next_line(&mut lines, deadline).await? {
            if re.is_match(&line) {
                return Ok(line);
            }
            if progress_re.is_match(&line) {
                progress_lines += 1;
                deadline = Instant::now() + quiet;
            }
        }
        Err(LogWaitError::Stalled(Box::new(Stall {
            node: self.account.name().to_string(),
            path: self.path.clone(),
            pattern: pattern.to_string(),
            progress: progress.to_string(),
            progress_lines,
            quiet,
            after: started.elapsed(),
            log_tail: self.tail().await,
        })))
    }

    /// The log's lines from the monitor's offset on, as they are written, for at most `limit`.
    fn follow(&self, limit: Duration) -> Result<Capture, RemoteError> {
        let command = format!(
            "exec timeout {} tail -c +{} -F {} 2>/dev/null",
            limit.as_secs() + 2,
            self.offset + 1,
            quote(&self.path)
        );
        self.account.ssh_capture_for(&command, limit)
    }

    /// The log's last lines, for an error.
    async fn tail(&self) -> String {
        self.account
            .ssh_output(&format!(
                "tail -n 20 {} 2>/dev/null; true",
                quote(&self.path)
            ))
            .await
            .unwrap_or_default()
            .trim_end()
            .to_string()
    }
}

/// How long a progressing wait may follow a log at most: a backstop far beyond any start.
const FOLLOW_LIMIT: Duration = Duration::from_secs(3600);

fn compile(pattern: &str) -> Result<Regex, LogWaitError> {
    Regex::new(pattern).map_err(|e| LogWaitError::Pattern {
        pattern: pattern.to_string(),
        detail: e.to_string(),
    })
}

/// The next line before `deadline`; `None` when the deadline passed or the follow ended.
async fn next_line(lines: &mut Capture, deadline: Instant) -> Result<Option<String>, LogWaitError> {
    match tokio::time::timeout_at(deadline, lines.next_line()).await {
        Err(_) => Ok(None),
        Ok(Ok(line)) => Ok(line),
        Ok(Err(RemoteError::Timeout { .. } | RemoteError::Command { .. })) => Ok(None),
        Ok(Err(e)) => Err(e.into()),
    }
}
