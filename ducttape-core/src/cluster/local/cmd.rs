//! Finding and running the programs the local cluster drives (`ip`, `ssh-keygen`, …), with
//! errors that carry the command line, its exit status and the tail of its output.

use super::LocalClusterError;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};

/// Directories searched besides `PATH`: sbin directories are often missing from it.
const EXTRA_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// How many lines of a command's output or a log an error carries.
pub(super) const TAIL_LINES: usize = 20;

/// The `PATH` given to node processes, so their shell finds `mount`, `sleep` and `ip`.
pub(super) const NODE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Finds `binary` in `PATH` or the usual system directories.
pub(super) fn find_binary(binary: &'static str) -> Result<PathBuf, LocalClusterError> {
    let path_dirs = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_dirs)
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(binary))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| LocalClusterError::MissingBinary {
            binary,
            searched: EXTRA_DIRS.join(":"),
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The command line of `cmd`, for messages.
pub(super) fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A command started with captured output; [`Running::finish`] waits and checks it.
pub(super) struct Running {
    what: String,
    command: String,
    child: Child,
}

/// Starts `cmd` with stdout and stderr captured and `stdin` written to it (or `/dev/null`).
pub(super) fn start(
    what: impl Into<String>,
    cmd: &mut Command,
    stdin: Option<&[u8]>,
) -> Result<Running, LocalClusterError> {
    let what = what.into();
    let command = describe(cmd);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    tracing::debug!(%command, "{what}");
    let spawn_error = |source| LocalClusterError::Spawn {
        what: what.clone(),
        command: command.clone(),
        source,
    };
    let mut child = cmd.spawn().map_err(spawn_error)?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // Small inputs (ip batches) fit the pipe buffer; a write error shows as a failed exit.
        if let Err(source) = pipe.write_all(input) {
            tracing::debug!(%command, %source, "writing stdin failed");
        }
    }
    Ok(Running {
        what,
        command,
        child,
    })
}

impl Running {
    /// Waits for the command; a non-zero exit becomes [`LocalClusterError::Command`].
    pub(super) fn finish(self) -> Result<Output, LocalClusterError> {
        let Running {
            what,
            command,
            child,
        } = self;
        let output = child
            .wait_with_output()
            .map_err(|source| LocalClusterError::Spawn {
                what: what.clone(),
                command: command.clone(),
                source,
            })?;
        if output.status.success() {
            return Ok(output);
        }
        let combined = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Err(LocalClusterError::Command {
            what,
            command,
            status: describe_status(output.status),
            output_tail: tail(&combined, TAIL_LINES),
        })
    }
}

/// Runs `cmd` to completion; see [`start`].
pub(super) fn run(
    what: impl Into<String>,
    cmd: &mut Command,
    stdin: Option<&[u8]>,
) -> Result<Output, LocalClusterError> {
    start(what, cmd, stdin)?.finish()
}

/// `exit code 1` or `signal 9`.
pub(super) fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// The last `lines` lines of `text`.
pub(super) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The last lines of a log file, or a note saying why there are none.
pub(super) fn file_tail(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) if bytes.is_empty() => format!("({} is empty)", path.display()),
        Ok(bytes) => format!(
            "{}:\n{}",
            path.display(),
            tail(&String::from_utf8_lossy(&bytes), TAIL_LINES)
        ),
        Err(error) => format!("(cannot read {}: {error})", path.display()),
    }
}

/// Wraps an I/O error with what was attempted on which path.
pub(super) fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> LocalClusterError + 'a {
    move |source| LocalClusterError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic on the unexpected
mod tests {
    use super::*;

    #[test]
    fn missing_binary_error_names_it_and_build_sh() {
        let message = find_binary("ducttape-no-such-program")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("`ducttape-no-such-program`") && message.contains("./build.sh"),
            "{message}"
        );
    }

    #[test]
    fn failed_command_error_carries_status_and_output_tail() {
        let error = run(
            "testing",
            Command::new("sh").args(["-c", "echo first; echo last >&2; exit 3"]),
            None,
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(message.starts_with("testing failed: `sh -c"), "{message}");
        assert!(
            message.contains("exit code 3") && message.contains("first\nlast"),
            "{message}"
        );
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
