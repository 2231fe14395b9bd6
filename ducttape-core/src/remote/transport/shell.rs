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
//! - When the subshell has exited, the shell checks with the builtin `kill -0 -- -{pid}` (no
//!   fork) whether any process is still in the command's process group, and prints
//!   `{M}E{status}` — or `{M}E{status} left` if one is — on stdout and `{M}E` on stderr.
//!
//! On each stream, what lies between its `S` and `E` lines is the command's output. The
//! shell's own stderr (job notices, `kill`'s complaint about an empty group) goes to
//! `/dev/null`. An abandoned command is killed through its process group (the pid in `S`)
//! and the environment marker of [`super::TOKEN_VAR`].
//!
//! **One command's output never reaches another command's result.** A command is over when
//! its subshell exits, but processes it left in the background may still hold the channel's
//! stdout and stderr and write later. So:
//! - a command that left a process in its group (`E… left`) gets its result, and then its
//!   shell is *retired*: the channel is closed, never given another command; whatever the
//!   leftover writes goes nowhere (it gets EPIPE). The leftover itself is not killed (it may
//!   be meant to run on; the lease's sweep ends it). Output a leftover wrote before the `E`
//!   line belongs to the command that started it, and is in its result;
//! - a shell that receives anything while idle (a stray write, its end) is not reused either.
//!
//! The shell goes back to the pool (or is retired) before the caller hears the exit status,
//! so a caller's next command finds it idle: commands one after another on one account run
//! in one shell.
//!
//! The limit: the check sees the command's process group only. A process that leaves it —
//! `setsid` (as [`RemoteAccount::spawn`](crate::remote::RemoteAccount::spawn) does, with its
//! output sent to a log file, so that is safe), `setpgid` (a `set -m` inside the command,
//! coreutils `timeout` in the background) — *and* keeps the channel's stdout or stderr open
//! escapes it: if it writes while the shell is idle, the shell is dropped, but if it writes
//! while a later command runs in the same shell, those bytes land in that command's result.
//! Closing that hole would take a scan of `/proc` or a relay process per command, several
//! times the cost of the command itself. Commands that start such daemons should redirect
//! their output, or run through [`RemoteAccount::exec_only`](crate::remote::RemoteAccount::exec_only)
//! (an SSH exec waits until every holder of its output has closed it). Likewise a leftover
//! the shell may not signal (a setuid program run by another user) is not seen by `kill -0`.
//!
//! A command never runs twice. It is sent again (on another shell) only if it provably never
//! started: the shell closed its channel — an orderly close, so all its output has arrived —
//! without either `S` line, or the write of the command itself failed (a command without its
//! final NUL is never run). If the connection breaks after the command was sent and before
//! its `S` line, that is an error, not a retry; if it breaks after, the exit status is unknown.
//!
//! How this differs from an SSH exec: the command is over when its subshell exits. A
//! background process it leaves behind with the channel's output still open does not hold
//! the command open (an exec waits for EOF). A command killed by a signal reports
//! `128 + signal` as its exit code, as shells do, rather than the signal's name. `$$` is the
//! shell's pid (`$BASHPID` is the subshell's). Commands that need stdin still go through an
//! exec.

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
    /// It ran to its end; its output was sent, its exit status is for the caller to send
    /// once the shell is back in the pool or retired.
    Done {
        /// How it exited.
        status: ExitStatus,
        /// Processes it started were still in its process group when it exited: the shell
        /// must be retired (see the module docs).
        left_behind: bool,
    },
    /// The shell closed its channel before it started the command: nothing ran.
    NotStarted {
        /// The shell's exit status, if the server said.
        exit: Option<u32>,
        /// What the shell wrote on stderr.
        stderr: Vec<u8>,
    },
    /// The shell ended while the command ran; an unknown exit status was sent.
    Ended,
    /// The connection broke after the command was sent and before it was seen to start:
    /// whether it ran is unknown, so it must not be sent again.
    Lost,
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
                Some(ChannelMsg::Close) => {
                    self.channel = None;
                    return command_run.shell_ended(tx).await;
                }
                // No close from the server: the connection broke, and what was in flight
                // with it (the command, its start marker) may or may not have arrived.
                None => {
                    self.channel = None;
                    return command_run.connection_lost(tx).await;
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
                return Outcome::Done {
                    status,
                    left_behind: command_run.left_behind,
                };
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
    /// The end marker said processes were left in the command's process group.
    left_behind: bool,
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
            left_behind: false,
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
                    // `{status}` or `{status} left` (see `server_command`).
                    let mut words = payload.split_whitespace();
                    self.status = Some(
                        words
                            .next()
                            .and_then(|w| w.parse().ok())
                            .map_or(ExitStatus::Unknown, ExitStatus::Code),
                    );
                    self.left_behind = words.next() == Some(LEFT_BEHIND);
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

    /// The connection broke before the command's end was seen.
    async fn connection_lost(self, tx: &mpsc::Sender<Result<Event, TransportError>>) -> Outcome {
        if !self.out_started && !self.err_started {
            return Outcome::Lost;
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

/// The word after the exit status in an end marker when processes were left behind.
const LEFT_BEHIND: &str = "left";

/// How the script of [`server_command`] begins: what tells one of these shells (and the
/// subshells it forks per command) apart from the processes the commands start.
const SCRIPT_START: &str = "exec 3>&2 2>/dev/null; set -m; __dt_m=";

/// Whether a process with this argument vector is one of the transport's long-lived shells
/// (or a subshell it forked for a command): part of the node's plumbing, not something a
/// test or service left running.
pub(crate) fn is_transport_shell(argv: &[String]) -> bool {
    matches!(argv, [_, norc, noprofile, c, script, ..]
        if norc == "--norc" && noprofile == "--noprofile" && c == "-c" && script.starts_with(SCRIPT_START))
}

/// The exec request that starts a shell speaking the protocol of the module docs.
fn server_command(marker: &[u8]) -> String {
    // The marker's first byte is 0x1e, spelled `\x1e` inside bash's $'…'. `kill -0` on the
    // group is a builtin: the check costs no fork. Its complaint about an empty group goes to
    // the shell's stderr, /dev/null.
    let rest = String::from_utf8_lossy(marker.get(1..).unwrap_or_default());
    let script = format!(
        r#"{SCRIPT_START}$'\x1e{rest}'
while IFS= read -r -d '' __dt_c; do
  ( printf '%sS%d\n' "$__dt_m" "$BASHPID"; printf '%sS\n' "$__dt_m" >&2; eval "$__dt_c" ) </dev/null 2>&3 3>&- &
  wait "$!"; __dt_r=$?
  kill -0 -- -"$!" && __dt_r="$__dt_r {LEFT_BEHIND}"
  printf '%sE%s\n' "$__dt_m" "$__dt_r"; printf '%sE\n' "$__dt_m" >&3
done"#
    );
    format!("exec bash --norc --noprofile -c {}", quote(&script))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_is_told_apart_by_its_arguments() {
        use std::process::{Command, Stdio};
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(server_command(&new_marker()))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // `sh -c 'exec bash …'` becomes the shell under the same pid, as under sshd.
        let argv = (0..200)
            .find_map(|_| {
                let raw = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap();
                let argv: Vec<String> = raw
                    .split(|b| *b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                if argv.first().is_some_and(|a| a == "bash") {
                    return Some(argv);
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
                None
            })
            .unwrap();
        assert!(is_transport_shell(&argv), "{argv:?}");
        drop(child.stdin.take());
        child.wait().unwrap();
        let java = ["java", "-cp", "/opt/kafka/libs/*", "kafka.Kafka"].map(String::from);
        assert!(!is_transport_shell(&java));
        let other_bash = ["bash", "--norc", "--noprofile", "-c", "sleep 60"].map(String::from);
        assert!(!is_transport_shell(&other_bash));
    }

    /// Runs `commands` through the shell script in a local bash; returns the state of each.
    fn run_locally(commands: &[&str]) -> Vec<(Vec<Event>, Vec<Event>, CommandRun)> {
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
        for command in commands {
            stdin.write_all(command.as_bytes()).unwrap();
            stdin.write_all(b"\0").unwrap();
        }
        drop(stdin);
        let output = child.wait_with_output().unwrap();

        // Split each stream at its end markers, one piece per command.
        let split = |stream: &[u8]| -> Vec<Vec<u8>> {
            let mut pieces = Vec::new();
            let mut rest = stream;
            while let Some(at) = rest
                .windows(marker.len() + 1)
                .position(|w| w.starts_with(&marker) && w.last() == Some(&b'E'))
            {
                let end = at + rest[at..].iter().position(|&b| b == b'\n').unwrap() + 1;
                pieces.push(rest[..end].to_vec());
                rest = &rest[end..];
            }
            pieces
        };
        let (outs, errs) = (split(&output.stdout), split(&output.stderr));
        assert_eq!(outs.len(), commands.len(), "{output:?}");
        outs.iter()
            .zip(&errs)
            .map(|(out, err)| {
                let mut run = CommandRun::new(&marker);
                let out = run.stdout(out);
                let err = run.stderr(err);
                (out, err, run)
            })
            .collect()
    }

    /// The shell script, run by a local bash, speaks the protocol the scanner expects.
    #[test]
    fn server_script_speaks_the_protocol() {
        let runs = run_locally(&["echo out; printf err >&2; exit 3"]);
        let (out, err, run) = &runs[0];
        assert!(
            run.group.is_some(),
            "the start marker names the process group"
        );
        assert_eq!(run.finished(), Some(ExitStatus::Code(3)));
        assert!(!run.left_behind);
        assert!(
            matches!(&out[..], [Event::Stdout(d)] if d == b"out\n"),
            "{out:?}"
        );
        assert!(
            matches!(&err[..], [Event::Stderr(d)] if d == b"err"),
            "{err:?}"
        );
    }

    /// The end marker says when a command left a process in its process group, and only then:
    /// not for background processes it waited for, nor for one that left the group (setsid).
    #[test]
    fn end_marker_tells_a_process_left_behind() {
        let runs = run_locally(&[
            "sleep 0.3 & echo bg",
            "sleep 0.05 & wait",
            // As `spawn` does: wait until the process is in its own session.
            "f=$(mktemp); setsid sh -c \"echo > $f; exec sleep 0.3\" >/dev/null 2>&1 &
             until [ -s $f ]; do sleep 0.01; done; rm $f; exit 4",
            "true",
        ]);
        let left: Vec<_> = runs.iter().map(|(_, _, run)| run.left_behind).collect();
        assert_eq!(left, [true, false, false, false]);
        assert_eq!(runs[0].2.finished(), Some(ExitStatus::Code(0)));
        assert_eq!(runs[2].2.finished(), Some(ExitStatus::Code(4)));
    }
}
