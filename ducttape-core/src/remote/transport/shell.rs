//! Command shells: one long-running `bash` per SSH channel that runs the commands sent to it.
//!
//! Why: an SSH exec costs a channel open, a fork of sshd and a fresh login shell per command
//! (bash alone takes ≈ 1 ms to start on these nodes). A shell that stays up takes a command as
//! one write and forks a subshell for it: one round trip and one fork.
//!
//! The protocol. `M` is a marker chosen at random per shell, starting with the byte 0x1e, so
//! a command's output cannot fake it by accident.
//! - We write the command followed by a NUL byte (a shell command cannot contain NUL).
//! - The shell forks a subshell in its own process group (`set -m`), with stdin from
//!   `/dev/null`. The subshell prints the line `{M}S{pid}` on stdout and `{M}S` on stderr, then
//!   `eval`s the command.
//! - When the subshell has exited, the shell prints `{M}E{status}` on stdout and `{M}E` on
//!   stderr.
//!
//! On each stream, what lies between its `S` and `E` lines is the command's output. The
//! shell's own stderr (job notices) goes to `/dev/null`. An abandoned command is killed through
//! its process group (the pid in `S`) and the environment marker of [`super::TOKEN_VAR`].
//!
//! How this differs from an SSH exec: the command is over when its subshell exits. A
//! background process it leaves behind with the channel's output still open does not hold
//! the command open (an exec waits for EOF); if such a process writes while the shell is
//! idle, the shell is not reused. A command killed by a signal reports `128 + signal` as
//! its exit code, as shells do, rather than the signal's name. `$$` is the shell's pid
//! (`$BASHPID` is the subshell's). Commands that need stdin still go through an exec.

use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::FutureExt;
use russh::client::Msg;
use russh::{Channel, ChannelMsg};
use tokio::sync::mpsc;

use super::marker::{Piece, Scanner};
use super::{io_runtime, Checkout, Event, ExitStatus, TransportError};
use crate::remote::quote;

/// How a command sent to a shell ended.
pub(super) enum Outcome {
    /// It ran to its end and its exit status was sent; the shell can take another command.
    Done,
    /// The shell ended before it started the command: nothing ran.
    NotStarted {
        /// The shell's exit status, if the server said.
        exit: Option<u32>,
        /// What the shell wrote on stderr.
        stderr: Vec<u8>,
    },
    /// The shell ended while the command ran; an unknown exit status was sent.
    Ended,
    /// The caller stopped listening; the command may still run in this process group.
    Abandoned {
        /// The command's process group, if it had started.
        group: Option<u32>,
    },
}

/// A running command shell on one channel.
pub(super) struct Shell {
    channel: Option<Channel<Msg>>,
    marker: Vec<u8>,
    used: bool,
    checkout: Checkout,
}

impl Shell {
    /// Starts a shell on a freshly opened channel. The first command can be sent at once.
    pub(super) async fn start(
        channel: Channel<Msg>,
        checkout: Checkout,
    ) -> Result<Self, TransportError> {
        let marker = new_marker();
        channel
            .exec(true, server_command(&marker))
            .await
            .map_err(|e| TransportError::Ssh(format!("cannot start a command shell: {e}")))?;
        Ok(Self {
            channel: Some(channel),
            marker,
            used: false,
            checkout,
        })
    }

    /// True once the shell has run a command to its end (a failure to start a command on such
    /// a shell means it died while idle, and another shell may be tried; on a new one, it
    /// means the shell cannot run here).
    pub(super) fn used(&self) -> bool {
        self.used
    }

    /// True if the shell can take a command: its connection is up and nothing arrived while
    /// it was idle (no end of the channel, no stray output of a process left behind).
    pub(super) fn reusable(&mut self) -> bool {
        if self.checkout.conn.handle.is_closed() {
            return false;
        }
        match self.channel.as_mut() {
            Some(channel) => channel.wait().now_or_never().is_none(),
            None => false,
        }
    }

    /// Sends `command` and relays its output and exit status to `tx`.
    pub(super) async fn run(
        &mut self,
        command: &str,
        tx: &mpsc::Sender<Result<Event, TransportError>>,
    ) -> Outcome {
        let Some(channel) = self.channel.as_mut() else {
            // Closed earlier (such a shell is never put back idle): nothing ran.
            return Outcome::NotStarted {
                exit: None,
                stderr: Vec::new(),
            };
        };
        let mut line = Vec::with_capacity(command.len() + 1);
        line.extend_from_slice(command.as_bytes());
        line.push(0);
        if channel.data(&line[..]).await.is_err() {
            return Outcome::NotStarted {
                exit: None,
                stderr: Vec::new(),
            };
        }
        let mut command_run = CommandRun::new(&self.marker);
        loop {
            let msg = tokio::select! {
                msg = channel.wait() => msg,
                () = tx.closed() => return Outcome::Abandoned { group: command_run.group },
            };
            let events = match msg {
                Some(ChannelMsg::Data { data }) => command_run.stdout(&data),
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => command_run.stderr(&data),
                Some(ChannelMsg::ExitStatus { exit_status }) => {
                    command_run.shell_exit = Some(exit_status);
                    continue;
                }
                Some(ChannelMsg::Close) | None => {
                    self.channel = None;
                    return command_run.shell_ended(tx).await;
                }
                Some(_) => continue,
            };
            for event in events {
                if tx.send(Ok(event)).await.is_err() {
                    return Outcome::Abandoned {
                        group: command_run.group,
                    };
                }
            }
            if let Some(status) = command_run.finished() {
                self.used = true;
                let _ = tx.send(Ok(Event::Exit(status))).await;
                return Outcome::Done;
            }
        }
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        // Closing the channel ends the shell (its stdin reaches EOF, its output a closed pipe).
        if let (Some(channel), Ok(rt)) = (self.channel.take(), io_runtime()) {
            rt.spawn(async move {
                let _ = channel.close().await;
            });
        }
    }
}

/// The state of one command in a shell: both streams split at their markers.
struct CommandRun {
    out: Scanner,
    err: Scanner,
    out_started: bool,
    err_started: bool,
    err_ended: bool,
    status: Option<ExitStatus>,
    group: Option<u32>,
    shell_exit: Option<u32>,
    stray_err: Vec<u8>,
}

impl CommandRun {
    fn new(marker: &[u8]) -> Self {
        Self {
            out: Scanner::new(marker),
            err: Scanner::new(marker),
            out_started: false,
            err_started: false,
            err_ended: false,
            status: None,
            group: None,
            shell_exit: None,
            stray_err: Vec::new(),
        }
    }

    fn stdout(&mut self, data: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        for piece in self.out.push(data) {
            match piece {
                Piece::Data(d) if self.out_started && self.status.is_none() => {
                    events.push(Event::Stdout(d))
                }
                Piece::Data(d) => stray("stdout", &d),
                Piece::Mark {
                    kind: b'S',
                    payload,
                } => {
                    self.out_started = true;
                    self.group = payload.trim().parse().ok();
                }
                Piece::Mark {
                    kind: b'E',
                    payload,
                } => {
                    self.status = Some(
                        payload
                            .trim()
                            .parse()
                            .map_or(ExitStatus::Unknown, ExitStatus::Code),
                    );
                }
                Piece::Mark { .. } => {}
            }
        }
        events
    }

    fn stderr(&mut self, data: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        for piece in self.err.push(data) {
            match piece {
                Piece::Data(d) if self.err_started && !self.err_ended => {
                    events.push(Event::Stderr(d))
                }
                Piece::Data(d) => {
                    stray("stderr", &d);
                    self.stray_err.extend(d);
                }
                Piece::Mark { kind: b'S', .. } => self.err_started = true,
                Piece::Mark { kind: b'E', .. } => self.err_ended = true,
                Piece::Mark { .. } => {}
            }
        }
        events
    }

    /// The exit status, once both streams are complete.
    fn finished(&self) -> Option<ExitStatus> {
        self.status.clone().filter(|_| self.err_ended)
    }

    /// The shell's channel closed before the command's end was seen.
    async fn shell_ended(self, tx: &mpsc::Sender<Result<Event, TransportError>>) -> Outcome {
        if !self.out_started && !self.err_started {
            return Outcome::NotStarted {
                exit: self.shell_exit,
                stderr: self.stray_err,
            };
        }
        let _ = tx.send(Ok(Event::Exit(ExitStatus::Unknown))).await;
        Outcome::Ended
    }
}

fn stray(stream: &str, data: &[u8]) {
    tracing::debug!(
        stream,
        bytes = data.len(),
        text = %String::from_utf8_lossy(data),
        "output outside of a command (a background process left writing?)"
    );
}

/// A marker no output contains by accident: 0x1e and 64 random bits.
fn new_marker() -> Vec<u8> {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    format!("\x1educttape-{:016x}", hasher.finish()).into_bytes()
}

/// The exec request that starts a shell speaking the protocol of the module docs.
fn server_command(marker: &[u8]) -> String {
    // The marker's first byte is 0x1e, spelled `\x1e` inside bash's $'…'.
    let rest = String::from_utf8_lossy(marker.get(1..).unwrap_or_default());
    let script = format!(
        r#"exec 3>&2 2>/dev/null; set -m; __dt_m=$'\x1e{rest}'
while IFS= read -r -d '' __dt_c; do
  ( printf '%sS%d\n' "$__dt_m" "$BASHPID"; printf '%sS\n' "$__dt_m" >&2; eval "$__dt_c" ) </dev/null 2>&3 3>&- &
  wait "$!"; __dt_r=$?
  printf '%sE%d\n' "$__dt_m" "$__dt_r"; printf '%sE\n' "$__dt_m" >&3
done"#
    );
    format!("exec bash --norc --noprofile -c {}", quote(&script))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shell script, run by a local bash, speaks the protocol the scanner expects.
    #[test]
    fn server_script_speaks_the_protocol() {
        use std::io::Write;
        use std::process::{Command, Stdio};

        let marker = new_marker();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(server_command(&marker))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"echo out; printf err >&2; exit 3\0")
            .unwrap();
        drop(stdin);
        let output = child.wait_with_output().unwrap();

        let mut run = CommandRun::new(&marker);
        let out: Vec<Event> = run.stdout(&output.stdout);
        let err: Vec<Event> = run.stderr(&output.stderr);
        assert!(
            run.group.is_some(),
            "the start marker names the process group"
        );
        assert_eq!(run.finished(), Some(ExitStatus::Code(3)));
        assert!(
            matches!(&out[..], [Event::Stdout(d)] if d == b"out\n"),
            "{out:?}"
        );
        assert!(
            matches!(&err[..], [Event::Stderr(d)] if d == b"err"),
            "{err:?}"
        );
    }
}
