//! Errors of remote operations: every one names the node and what was being done.

use std::time::Duration;

use super::transport::{ExitStatus, TransportError};

/// How many lines of output an error keeps.
pub(crate) const TAIL_LINES: usize = 20;

/// A remote operation failed.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The command ran and failed.
    #[error(
        "{node}: `{command}` failed with {status}{}",
        tail_text(stdout_tail, stderr_tail)
    )]
    Command {
        /// The node's name.
        node: String,
        /// The command line.
        command: String,
        /// How it ended.
        status: ExitStatus,
        /// The last lines of its stdout.
        stdout_tail: String,
        /// The last lines of its stderr.
        stderr_tail: String,
    },
    /// The command did not finish in time (it was killed).
    #[error(
        "{node}: `{command}` did not finish within {after:?}{}",
        tail_text(stdout_tail, stderr_tail)
    )]
    Timeout {
        /// The node's name.
        node: String,
        /// The command line.
        command: String,
        /// The timeout.
        after: Duration,
        /// The last lines of its stdout so far.
        stdout_tail: String,
        /// The last lines of its stderr so far.
        stderr_tail: String,
    },
    /// The command could not be run: the node is unreachable, refused us, or the
    /// connection broke.
    #[error("{node}: cannot run `{command}`: {source}")]
    Transport {
        /// The node's name.
        node: String,
        /// The command line.
        command: String,
        /// What went wrong underneath.
        #[source]
        source: TransportError,
    },
    /// Something on this (the test's) side failed: a local file, a local `tar`.
    #[error("{node}: {what}: {detail}")]
    Local {
        /// The node's name.
        node: String,
        /// What we were doing.
        what: String,
        /// Why it failed.
        detail: String,
    },
    /// Output that should have had a given form did not.
    #[error("{node}: `{command}` printed something unexpected: {detail}")]
    Unexpected {
        /// The node's name.
        node: String,
        /// The command line.
        command: String,
        /// What was wrong.
        detail: String,
    },
}

crate::human_debug!(RemoteError);

impl RemoteError {
    /// The exit status, when the command ran and failed.
    pub fn status(&self) -> Option<&ExitStatus> {
        match self {
            Self::Command { status, .. } => Some(status),
            _ => None,
        }
    }

    /// True when the node could not be reached or the connection broke.
    pub fn is_transport(&self) -> bool {
        matches!(self, Self::Transport { .. })
    }
}

fn tail_text(stdout: &str, stderr: &str) -> String {
    let mut s = String::new();
    for (name, text) in [("stdout", stdout), ("stderr", stderr)] {
        if !text.trim().is_empty() {
            s.push_str(&format!(
                "\n--- {name} (last lines) ---\n{}",
                text.trim_end()
            ));
        }
    }
    s
}

/// At most this many bytes of an output's end are kept in an error: a command's output can
/// be hundreds of megabytes with no line break (a `tar` stream that timed out).
const TAIL_BYTES: usize = 4096;

/// The last [`TAIL_LINES`] lines of `bytes`, as text, from at most its last [`TAIL_BYTES`]
/// bytes; binary output (a NUL in that end) is named by its size, not copied.
pub(crate) fn tail(bytes: &[u8]) -> String {
    let from = bytes.len().saturating_sub(TAIL_BYTES);
    let end = &bytes[from..];
    if end.contains(&0) {
        return format!("({} bytes of binary output)", bytes.len());
    }
    let text = String::from_utf8_lossy(end);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(TAIL_LINES);
    let kept = lines[start..].join("\n");
    if from > 0 && start == 0 {
        format!("…{kept}")
    } else {
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_is_bounded_for_long_lines_and_binary_output() {
        let long = "x".repeat(10 * TAIL_BYTES);
        let kept = tail(long.as_bytes());
        assert!(kept.len() <= TAIL_BYTES + 4, "{} bytes kept", kept.len());
        assert!(kept.starts_with('…'), "{kept}");
        let mut binary = vec![b'a'; 100_000];
        binary.extend_from_slice(&[0, 1, 2, 0xff]);
        assert_eq!(tail(&binary), "(100004 bytes of binary output)");
        assert_eq!(tail(b"one\ntwo\n"), "one\ntwo");
    }

    #[test]
    fn command_error_names_node_command_status_and_tail() {
        let out: Vec<String> = (1..=30).map(|i| format!("line {i}")).collect();
        let err = RemoteError::Command {
            node: "worker1".into(),
            command: "false".into(),
            status: ExitStatus::Code(3),
            stdout_tail: tail(out.join("\n").as_bytes()),
            stderr_tail: "boom".into(),
        };
        let msg = err.to_string();
        assert!(
            msg.starts_with("worker1: `false` failed with exit status 3"),
            "{msg}"
        );
        assert!(
            msg.contains("line 30") && !msg.contains("line 10\n"),
            "{msg}"
        );
        assert!(msg.contains("--- stderr (last lines) ---\nboom"), "{msg}");
    }
}
