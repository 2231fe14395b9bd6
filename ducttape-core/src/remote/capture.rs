//! [`Capture`]: a remote command's stdout, line by line, as it arrives.

use std::time::Duration;

use futures::Stream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::error::{tail, RemoteError};
use super::transport::{Event, TransportError};

/// Stderr kept for the error message, at most.
const STDERR_KEEP: usize = 64 * 1024;

/// The stdout of a running command, line by line. Dropping it kills the command.
///
/// ```no_run
/// # async fn demo(account: ducttape_core::remote::RemoteAccount) -> Result<(), ducttape_core::remote::RemoteError> {
/// let mut lines = account.ssh_capture("for i in 1 2 3; do echo $i; sleep 1; done")?;
/// while let Some(line) = lines.next_line().await? {
///     println!("got {line}");
/// }
/// # Ok(()) }
/// ```
pub struct Capture {
    node: String,
    command: String,
    rx: mpsc::Receiver<Result<Event, TransportError>>,
    buf: Vec<u8>,
    stdout_seen: Vec<u8>,
    stderr: Vec<u8>,
    finished: bool,
    error: Option<RemoteError>,
    deadline: Instant,
    timeout: Duration,
}

impl Capture {
    pub(crate) fn new(
        node: String,
        command: String,
        rx: mpsc::Receiver<Result<Event, TransportError>>,
        timeout: Duration,
    ) -> Self {
        Self {
            node,
            command,
            rx,
            buf: Vec::new(),
            stdout_seen: Vec::new(),
            stderr: Vec::new(),
            finished: false,
            error: None,
            deadline: Instant::now() + timeout,
            timeout,
        }
    }

    fn take_line(&mut self) -> Option<String> {
        let i = self.buf.iter().position(|&b| b == b'\n')?;
        let mut line: Vec<u8> = self.buf.drain(..=i).collect();
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Some(String::from_utf8_lossy(&line).into_owned())
    }

    fn remember(&mut self, bytes: &[u8]) {
        self.stdout_seen.extend_from_slice(bytes);
        let excess = self.stdout_seen.len().saturating_sub(STDERR_KEEP);
        self.stdout_seen.drain(..excess);
    }

    /// The next line; `Ok(None)` once the command exited successfully and every line was
    /// read; an error if it failed, timed out or the connection broke (after its last lines).
    pub async fn next_line(&mut self) -> Result<Option<String>, RemoteError> {
        loop {
            if let Some(line) = self.take_line() {
                return Ok(Some(line));
            }
            if self.finished {
                if !self.buf.is_empty() {
                    let rest = std::mem::take(&mut self.buf);
                    return Ok(Some(String::from_utf8_lossy(&rest).into_owned()));
                }
                return match self.error.take() {
                    Some(e) => Err(e),
                    None => Ok(None),
                };
            }
            let event = match tokio::time::timeout_at(self.deadline, self.rx.recv()).await {
                Ok(ev) => ev,
                Err(_) => {
                    self.finished = true;
                    self.rx.close();
                    self.error = Some(RemoteError::Timeout {
                        node: self.node.clone(),
                        command: self.command.clone(),
                        after: self.timeout,
                        stdout_tail: tail(&self.stdout_seen),
                        stderr_tail: tail(&self.stderr),
                    });
                    continue;
                }
            };
            match event {
                Some(Ok(Event::Stdout(b))) => {
                    self.remember(&b);
                    self.buf.extend_from_slice(&b);
                }
                Some(Ok(Event::Stderr(b))) => {
                    self.stderr.extend_from_slice(&b);
                    let excess = self.stderr.len().saturating_sub(STDERR_KEEP);
                    self.stderr.drain(..excess);
                }
                Some(Ok(Event::Exit(status))) => {
                    self.finished = true;
                    if !status.success() {
                        self.error = Some(RemoteError::Command {
                            node: self.node.clone(),
                            command: self.command.clone(),
                            status,
                            stdout_tail: tail(&self.stdout_seen),
                            stderr_tail: tail(&self.stderr),
                        });
                    }
                }
                Some(Err(e)) => {
                    self.finished = true;
                    self.error = Some(RemoteError::Transport {
                        node: self.node.clone(),
                        command: self.command.clone(),
                        source: e,
                    });
                }
                None => {
                    self.finished = true;
                    self.error = Some(RemoteError::Transport {
                        node: self.node.clone(),
                        command: self.command.clone(),
                        source: TransportError::Ssh(
                            "connection closed before the command finished".into(),
                        ),
                    });
                }
            }
        }
    }

    /// The lines as a [`Stream`]; the stream ends after the first error.
    pub fn into_stream(self) -> impl Stream<Item = Result<String, RemoteError>> {
        futures::stream::unfold(Some(self), |state| async move {
            let mut cap = state?;
            match cap.next_line().await {
                Ok(Some(line)) => Some((Ok(line), Some(cap))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        })
    }
}
