//! Shell scripts for process control on a node, and the local halves of file copies and
//! readiness probes. Processes are tracked by pid files, never found with `ps | grep` (long
//! Java command lines get truncated, ducktape #125).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::quote::quote;
use crate::wait::{wait_until, WaitError};

/// A shell function `alive PID`: true while the process exists and is not a zombie. A zombie
/// thread-group leader whose other threads still run (a JVM shutting down) is alive: its
/// sockets are still open.
pub(crate) const ALIVE_FN: &str = r#"alive() { kill -0 "$1" 2>/dev/null || return 1; [ "$(sed -n 's/.*) \(.\).*/\1/p' /proc/"$1"/stat 2>/dev/null)" != Z ] && return 0; [ "$(ls /proc/"$1"/task 2>/dev/null | wc -l)" -gt 1 ]; }"#;

/// The script that starts `command` in its own session with output to `log` and prints
/// its pid once the pid file holds it.
pub(crate) fn spawn_script(command: &str, log: &str, pidfile: &str) -> String {
    // `echo $$` runs in the shell that then runs `command`, so the pid is that shell's: sh
    // (dash) does not exec a list's last command, so the command runs as its child. setsid
    // makes the shell a group leader, and stops and kills signal the whole group.
    let inner = format!("echo $$ > {}; {}", quote(pidfile), command);
    format!(
        "mkdir -p \"$(dirname {log})\" \"$(dirname {pf})\" && rm -f {pf} && \
         (setsid sh -c {inner} >> {log} 2>&1 < /dev/null &) && \
         i=0; while [ ! -s {pf} ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; cat {pf}",
        log = quote(log),
        pf = quote(pidfile),
        inner = quote(&inner),
    )
}

/// The script that SIGKILLs every process whose environment holds `var=value` (a marker the
/// transport puts in a command's environment; it survives fork, exec and `setsid`), pass
/// after pass until none is left, as a process may fork while its siblings die. Prints how
/// many distinct processes it killed; fails if they keep appearing.
pub(crate) fn kill_marked_script(var: &str, value: &str) -> String {
    format!(
        "seen=; i=0; while :; do \
         pids=$(grep -lzx {entry} /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); \
         [ -z \"$pids\" ] && break; \
         [ $i -ge 100 ] && {{ echo \"processes marked {var}={value} keep appearing:\" $pids >&2; exit 1; }}; \
         kill -KILL $pids 2>/dev/null; seen=\"$seen $pids\"; i=$((i+1)); sleep 0.02; \
         done; \
         echo $seen | tr ' ' '\\n' | sort -u | grep -c . || true",
        entry = quote(&format!("{var}={value}")),
    )
}

/// A process running on a node: the node, its pid there and its command line. What teardown
/// names when it finds a process that should have been stopped (see
/// [`crate::context`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeProcess {
    /// The node's name.
    pub node: String,
    /// Its pid on the node (as `ps` there shows it).
    pub pid: u32,
    /// Its command line, arguments joined by spaces.
    pub command: String,
}

impl std::fmt::Display for NodeProcess {
    /// `worker1 pid 4242 (java -cp … kafka.Kafka /mnt/kafka/server.properties)`, a long
    /// command line shortened in its middle (a JVM's options), its end (the main class and
    /// its arguments) kept.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const HEAD: usize = 80;
        const TAIL: usize = 160;
        let chars: Vec<char> = self.command.chars().collect();
        let command = if chars.len() > HEAD + TAIL + 3 {
            let head: String = chars[..HEAD].iter().collect();
            let tail: String = chars[chars.len() - TAIL..].iter().collect();
            format!("{head} … {tail}")
        } else {
            self.command.clone()
        };
        write!(f, "{} pid {} ({command})", self.node, self.pid)
    }
}

/// Parses what [`list_marked_script`] and [`list_groups_script`] print: `pid<TAB>command`
/// lines; a line without a command (the process ended while being listed) is left out.
pub(crate) fn parse_process_list(node: &str, text: &str) -> Vec<NodeProcess> {
    text.lines()
        .filter_map(|line| {
            let (pid, command) = line.split_once('\t')?;
            let (pid, command) = (pid.trim().parse().ok()?, command.trim());
            (!command.is_empty()).then(|| NodeProcess {
                node: node.to_string(),
                pid,
                command: command.to_string(),
            })
        })
        .collect()
}

/// Prints `pid<TAB>command line` for each process in `pids` (a shell word list) — the rest of
/// the script decides which — that is alive and not a zombie.
const PRINT_LIVE: &str = r#"for q in $pids; do s=$(sed -n 's/.*) \(.\).*/\1/p' /proc/$q/stat 2>/dev/null); case "$s" in ''|Z|X) continue;; esac; printf '%s\t' "$q"; tr '\0\n\t' '   ' < /proc/$q/cmdline 2>/dev/null; echo; done"#;

/// The script that lists (without touching them) the live processes whose environment holds
/// `var=value`, as [`kill_marked_script`] would find them: `pid<TAB>command` lines.
pub(crate) fn list_marked_script(var: &str, value: &str) -> String {
    format!(
        "pids=$(grep -lzx {entry} /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3)\n{PRINT_LIVE}",
        entry = quote(&format!("{var}={value}")),
    )
}

/// The script that lists the live processes among `pids` and in the process groups they lead
/// (what [`spawn_script`] starts is a group whose leader may be a shell waiting for the real
/// program): `pid<TAB>command` lines.
pub(crate) fn list_groups_script(pids: &[u32]) -> String {
    let set = pids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "pids=$(cat /proc/[0-9]*/stat 2>/dev/null | awk -v set=' {set} ' '{{ pid = $1; sub(/^.*\\) /, \"\"); if (index(set, \" \" pid \" \") || index(set, \" \" $3 \" \")) print pid }}')\n{PRINT_LIVE}"
    )
}

/// What [`RemoteAccount::stop`](super::RemoteAccount::stop) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopOutcome {
    /// Nothing was running.
    NotRunning,
    /// It exited after SIGTERM, within the grace.
    Exited,
    /// It had to be SIGKILLed: at once (a hard stop), or after the grace when it did not exit
    /// on SIGTERM.
    Killed,
}

impl StopOutcome {
    /// `not-running`, `exited` or `killed` (as events and summaries write it).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotRunning => "not-running",
            Self::Exited => "exited",
            Self::Killed => "killed",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "not-running" => Some(Self::NotRunning),
            "exited" => Some(Self::Exited),
            "killed" => Some(Self::Killed),
            _ => None,
        }
    }
}

/// A shell function `group_alive PGID`: true while any process of the process group runs
/// (what [`RemoteAccount::spawn`](super::RemoteAccount::spawn) starts is a group whose leader
/// may be a shell waiting for the real program, e.g. a JVM still shutting down).
pub(crate) const GROUP_ALIVE_FN: &str = r#"group_alive() { cat /proc/[0-9]*/stat 2>/dev/null | awk -v g="$1" '{ pid = $1; sub(/^.*\) /, ""); if ($3 == g) { if ($1 != "Z") live = 1; else z = z " " pid } } END { print (live ? "live" : "z" z) }' | { read r; [ "$r" = live ] && exit 0; for p in ${r#z}; do [ "$(ls /proc/$p/task 2>/dev/null | wc -l)" -gt 1 ] && exit 0; done; exit 1; }; }"#;

/// The script behind [`StopOutcome`]: TERM (if `clean`) to the process and its group, wait up
/// to `grace` until all of them are gone, then KILL (and wait up to 10 s more).
///
/// The waits end after as many 50 ms ticks as the grace holds or, where the shell has a clock
/// (bash's whole-second `$SECONDS`, no fork), once a second more than the grace has passed:
/// on a loaded node each tick's liveness check takes time of its own, and counting ticks alone
/// made a 60 s grace last well past the command's own timeout. Either way the process gets at
/// least its grace.
pub(crate) fn stop_script(pidfile: &str, clean: bool, grace: Duration) -> String {
    let ticks = (grace.as_millis() / 50).max(1);
    let secs = grace.as_secs().max(1);
    let mut s = format!(
        "{ALIVE_FN}\n{GROUP_ALIVE_FN}\nany() {{ alive $pid || group_alive $pid; }}\n\
         sig() {{ kill -s $1 -- -$pid 2>/dev/null; kill -s $1 $pid 2>/dev/null; }}\n\
         waitdead() {{ i=0; end=$((${{SECONDS:-0}} + $2 + 1)); while any && [ $i -lt $1 ]; do sleep 0.05; i=$((i+1)); \
         if [ -n \"${{BASH_VERSION:-}}\" ] && [ $SECONDS -ge $end ]; then break; fi; done; ! any; }}\n\
         pid=$(cat {} 2>/dev/null); if [ -z \"$pid\" ] || ! any; then echo not-running; exit 0; fi\n",
        quote(pidfile)
    );
    if clean {
        s.push_str(&format!(
            "sig TERM; if waitdead {ticks} {secs}; then echo exited; exit 0; fi\n"
        ));
    }
    s.push_str("sig KILL; waitdead 200 10 && echo killed || { echo \"pid $pid survived SIGKILL\" >&2; exit 1; }\n");
    s
}

async fn run_local(
    mut cmd: tokio::process::Command,
    stdin: Option<Vec<u8>>,
) -> Result<Vec<u8>, LocalCommandError> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let command = format!("{cmd:?}");
    let io = |source| LocalCommandError::Io {
        command: command.clone(),
        source,
    };
    let mut child = cmd.spawn().map_err(io)?;
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(&data).await.map_err(io)?;
    }
    let out = child.wait_with_output().await.map_err(io)?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(LocalCommandError::Failed {
            command,
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// A command run on this (the test's) side failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LocalCommandError {
    /// It could not be started, fed or waited for.
    #[error("cannot run {command}: {source}")]
    Io {
        /// The command.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// It exited unsuccessfully.
    #[error("{command} failed with {status}: {stderr}")]
    Failed {
        /// The command.
        command: String,
        /// How it exited.
        status: std::process::ExitStatus,
        /// What it said.
        stderr: String,
    },
    /// Its directory could not be made.
    #[error("cannot create {dir}: {source}")]
    Dir {
        /// The directory.
        dir: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A tar archive of the contents of the local directory `dir`.
pub(crate) async fn local_tar_create(dir: &Path) -> Result<Vec<u8>, LocalCommandError> {
    let mut cmd = tokio::process::Command::new("tar");
    cmd.arg("-C").arg(dir).args(["-cf", "-", "."]);
    run_local(cmd, None).await
}

/// Unpacks `archive` into the local directory `dir` (created).
pub(crate) async fn local_tar_extract(
    dir: &Path,
    archive: Vec<u8>,
) -> Result<(), LocalCommandError> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|source| LocalCommandError::Dir {
            dir: dir.to_path_buf(),
            source,
        })?;
    let mut cmd = tokio::process::Command::new("tar");
    cmd.arg("-C").arg(dir).args(["-xf", "-"]);
    run_local(cmd, Some(archive)).await.map(drop)
}

const PROBE_BACKOFF: Duration = Duration::from_millis(50);

/// Polls a TCP connect to `address` until it succeeds or `timeout` passes.
pub(crate) async fn wait_for_tcp(address: &str, timeout: Duration) -> Result<(), WaitError> {
    let what = format!("{address} accepts connections");
    wait_until(&what, timeout, PROBE_BACKOFF, || async {
        let attempt = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect(address),
        )
        .await;
        match attempt {
            Ok(Ok(_)) => Ok(true),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connect timed out",
            )),
        }
    })
    .await
}

/// An HTTP probe found no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProbeError {
    /// Not a plain `http://` URL.
    #[error("only http:// URLs are supported, got {0:?}")]
    NotHttp(String),
    /// No answer in time.
    #[error(transparent)]
    Wait(#[from] WaitError),
}

/// Splits `http://host:port/path` into (`host:port`, `/path`).
pub(crate) fn split_http_url(url: &str) -> Result<(String, String), ProbeError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| ProbeError::NotHttp(url.to_string()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let authority = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.to_string()))
}

async fn http_status(authority: &str, path: &str) -> std::io::Result<u16> {
    let mut stream = tokio::net::TcpStream::connect(authority).await?;
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut head = vec![0u8; 64];
    let n = stream.read(&mut head).await?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .filter(|_| line.starts_with("HTTP/"))
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "not an HTTP answer: {:?}",
                    line.lines().next().unwrap_or("")
                ),
            )
        })
}

/// Polls `GET url` until any HTTP status comes back.
pub(crate) async fn wait_for_http(url: &str, timeout: Duration) -> Result<u16, ProbeError> {
    let (authority, path) = split_http_url(url)?;
    let what = format!("{url} answers");
    let status = wait_until(&what, timeout, PROBE_BACKOFF, || async {
        match tokio::time::timeout(Duration::from_secs(5), http_status(&authority, &path)).await {
            Ok(Ok(status)) => Ok(Some(status)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no answer within 5s",
            )),
        }
    })
    .await?;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_urls() {
        assert_eq!(
            split_http_url("http://10.0.0.1:8080/topics").unwrap(),
            ("10.0.0.1:8080".into(), "/topics".into())
        );
        assert_eq!(
            split_http_url("http://h").unwrap(),
            ("h:80".into(), "/".into())
        );
        assert!(split_http_url("https://h").is_err());
    }

    #[test]
    fn process_lists_parse_and_shorten_long_command_lines() {
        let text = "12\tsleep 60 \n13\t\nx\tnot a pid\n14\tjava -cp /opt/kafka/libs/* kafka.Kafka /mnt/kafka/server.properties\n";
        let list = parse_process_list("worker1", text);
        assert_eq!(
            list.iter()
                .map(|p| (p.pid, p.command.as_str()))
                .collect::<Vec<_>>(),
            [
                (12, "sleep 60"),
                (
                    14,
                    "java -cp /opt/kafka/libs/* kafka.Kafka /mnt/kafka/server.properties"
                )
            ]
        );
        assert_eq!(list[0].to_string(), "worker1 pid 12 (sleep 60)");
        let long = NodeProcess {
            node: "worker2".into(),
            pid: 7,
            command: format!(
                "java {} kafka.Kafka /mnt/kafka/server.properties",
                "-Dx=y ".repeat(100)
            ),
        };
        let shown = long.to_string();
        assert!(shown.starts_with("worker2 pid 7 (java -Dx=y"), "{shown}");
        assert!(
            shown.ends_with("kafka.Kafka /mnt/kafka/server.properties)") && shown.contains(" … "),
            "{shown}"
        );
        assert!(shown.len() < 300, "{shown}");
    }

    #[test]
    fn the_listing_scripts_find_live_processes_of_a_group_and_by_marker() {
        use std::process::{Command, Stdio};
        // A group led by a shell whose child is the real program, as `spawn` starts it, marked
        // in its environment as a lease's commands are.
        let mut leader = Command::new("setsid")
            .args(["sh", "-c", "sleep 30; true"])
            .env("DT_TEST_MARK", "listing-test")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let pid = leader.id();
        let run = |script: String| {
            let out = Command::new("bash").arg("-c").arg(script).output().unwrap();
            parse_process_list("local", &String::from_utf8_lossy(&out.stdout))
        };
        let found = (0..100)
            .map(|_| {
                std::thread::sleep(Duration::from_millis(20));
                run(list_groups_script(&[pid]))
            })
            .find(|l| l.len() == 2)
            .unwrap();
        assert!(
            found
                .iter()
                .any(|p| p.pid == pid && p.command == "sh -c sleep 30; true"),
            "{found:?}"
        );
        assert!(found.iter().any(|p| p.command == "sleep 30"), "{found:?}");
        let marked = run(list_marked_script("DT_TEST_MARK", "listing-test"));
        assert_eq!(marked.len(), 2, "{marked:?}");
        assert!(run(list_marked_script("DT_TEST_MARK", "another")).is_empty());
        Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .status()
            .unwrap();
        leader.wait().unwrap();
        // Killed and reaped (the `sleep` reparented to init, which reaps it): nothing listed.
        let gone = (0..100)
            .map(|_| {
                std::thread::sleep(Duration::from_millis(20));
                run(list_groups_script(&[pid]))
            })
            .find(Vec::is_empty);
        assert!(gone.is_some());
    }

    #[test]
    fn stop_outcomes_parse() {
        assert_eq!(StopOutcome::parse("killed"), Some(StopOutcome::Killed));
        assert_eq!(StopOutcome::parse("nope"), None);
    }

    #[tokio::test]
    async fn http_probe_reads_a_status_line() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf).await;
            s.write_all(b"HTTP/1.1 404 Not Found\r\n\r\n")
                .await
                .unwrap();
        });
        let status = wait_for_http(&format!("http://{addr}/x"), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(status, 404);
    }

    #[tokio::test]
    async fn tcp_probe_times_out_with_the_last_error() {
        let err = wait_for_tcp("127.0.0.1:1", Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("refused"), "{err}");
    }
}
