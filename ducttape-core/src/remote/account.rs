//! [`RemoteAccount`]: everything a test does to a node.

use std::path::Path;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use tokio::time::Instant;

use super::capture::Capture;
use super::error::{tail, RemoteError};
use super::logmon::LogMonitor;
use super::process::{self, NodeProcess, StopOutcome};
use super::quote::quote;
use super::transport::{Event, ExitStatus, Pool, Running, TransportError, TransportStats};
use crate::cluster::NodeSpec;

/// What a finished command left behind.
#[derive(Debug, Clone)]
pub struct Output {
    /// How it ended.
    pub status: ExitStatus,
    /// Everything it printed on stdout.
    pub stdout: Vec<u8>,
    /// Everything it printed on stderr.
    pub stderr: Vec<u8>,
}

impl Output {
    /// Stdout as text (lossy UTF-8).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Part of a file, read from an offset ([`RemoteAccount::read_file_from`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePart {
    /// The file's inode: another number means another file at the same path.
    pub inode: u64,
    /// The file's size just before it was read (it may have grown since: `bytes` can go
    /// past it).
    pub size: u64,
    /// The bytes read.
    pub bytes: Vec<u8>,
}

/// The default timeout of one remote operation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

struct Inner {
    name: String,
    address: String,
    pool: Arc<Pool>,
    /// Process groups this account spawned; killed when the node goes back to its cluster.
    spawned: StdMutex<Vec<u32>>,
    /// The marker of the lease holding the node, put in every command's environment.
    lease_marker: StdMutex<Option<String>>,
}

/// A login on one node: runs commands over SSH, moves files, controls processes.
///
/// Cheap to clone; clones share the connection pool. Every operation has a timeout (the
/// account's, [`DEFAULT_TIMEOUT`] unless [`with_timeout`](Self::with_timeout) says otherwise)
/// and every error names the node and what was being done.
///
/// ```no_run
/// # async fn demo(node: ducttape_core::cluster::NodeSpec) -> Result<(), ducttape_core::remote::RemoteError> {
/// use ducttape_core::remote::RemoteAccount;
/// let account = RemoteAccount::new(&node);
/// account.ssh("mkdir -p /mnt/demo").await?;
/// let kernel = account.ssh_output("uname -r").await?;
/// let pid = account.spawn("sleep 600", "/mnt/demo/sleep.log", "/mnt/demo/sleep.pid").await?;
/// assert!(account.alive(pid).await?);
/// account.stop("/mnt/demo/sleep.pid", true, std::time::Duration::from_secs(5)).await?;
/// # let _ = kernel; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RemoteAccount {
    inner: Arc<Inner>,
    timeout: Duration,
    /// Every command as an SSH exec of its own (see [`exec_only`](Self::exec_only)).
    exec_only: bool,
}

impl std::fmt::Debug for RemoteAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteAccount")
            .field("node", &self.inner.name)
            .field("address", &self.inner.address)
            .finish()
    }
}

impl RemoteAccount {
    /// An account for `node`. Connects lazily, on the first command.
    pub fn new(node: &NodeSpec) -> Self {
        Self {
            inner: Arc::new(Inner {
                name: node.name().to_string(),
                address: node.externally_routable_ip.clone(),
                pool: Pool::new(node.ssh.clone()),
                spawned: StdMutex::new(Vec::new()),
                lease_marker: StdMutex::new(None),
            }),
            timeout: DEFAULT_TIMEOUT,
            exec_only: false,
        }
    }

    /// The same account with another default timeout for each operation.
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            timeout,
            ..self.clone()
        }
    }

    /// The same account, with every command run as an SSH exec of its own instead of in one
    /// of the node's long-lived shells (see [`transport`](super::transport)). An exec costs a
    /// channel open and a login shell per command (≈ 3× the time of a shell command here);
    /// what it buys is plain `ssh host cmd` semantics: the command is over when its output
    /// closes, so it also waits for background processes that keep the output open. Used
    /// to measure the transport apart from the shells, and where a command must have a
    /// fresh login shell.
    ///
    /// ```no_run
    /// # async fn demo(account: ducttape_core::remote::RemoteAccount) -> Result<(), ducttape_core::remote::RemoteError> {
    /// let exec = account.exec_only();
    /// let before = exec.transport_stats().exec_commands;
    /// exec.ssh("true").await?;
    /// assert_eq!(exec.transport_stats().exec_commands, before + 1);
    /// # Ok(()) }
    /// ```
    pub fn exec_only(&self) -> Self {
        Self {
            exec_only: true,
            ..self.clone()
        }
    }

    /// How this node's commands have run so far (in shells, as execs) and how many shells
    /// were started and retired; shared by every clone of the account.
    pub fn transport_stats(&self) -> TransportStats {
        self.inner.pool.stats()
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The node's externally routable address (what services advertise).
    pub fn address(&self) -> &str {
        &self.inner.address
    }

    /// The default timeout of each operation.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Drops the pooled connections; the next command connects anew.
    pub async fn disconnect(&self) {
        self.inner.pool.reset().await;
    }

    pub(crate) fn transport_error(&self, command: &str, source: TransportError) -> RemoteError {
        RemoteError::Transport {
            node: self.inner.name.clone(),
            command: command.to_string(),
            source,
        }
    }

    pub(crate) fn start(
        &self,
        command: &str,
        stdin: Option<Vec<u8>>,
    ) -> Result<Running, RemoteError> {
        tracing::debug!(node = %self.inner.name, %command, "ssh");
        let lease = self.inner.lease_marker.lock().ok().and_then(|m| m.clone());
        self.inner
            .pool
            .exec(command.to_string(), stdin, self.exec_only, lease)
            .map_err(|e| self.transport_error(command, e))
    }

    /// Runs `command` (a shell command line) and collects its output, whatever its exit
    /// status. Fails only when it cannot be run or does not finish within `timeout`.
    pub async fn run(
        &self,
        command: &str,
        stdin: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Output, RemoteError> {
        let Running {
            events: mut rx,
            finished,
        } = self.start(command, stdin)?;
        let deadline = Instant::now() + timeout;
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Err(_) => {
                    // Closing rx makes the transport kill the remote command; it ends (and
                    // the channel drains) once the kill is done.
                    rx.close();
                    let _ = tokio::time::timeout(Duration::from_secs(15), finished).await;
                    return Err(RemoteError::Timeout {
                        node: self.inner.name.clone(),
                        command: command.to_string(),
                        after: timeout,
                        stdout_tail: tail(&stdout),
                        stderr_tail: tail(&stderr),
                    });
                }
                Ok(None) => {
                    return Err(self.transport_error(
                        command,
                        TransportError::Ssh("connection closed before the command finished".into()),
                    ))
                }
                Ok(Some(Err(e))) => return Err(self.transport_error(command, e)),
                Ok(Some(Ok(Event::Stdout(b)))) => stdout.extend_from_slice(&b),
                Ok(Some(Ok(Event::Stderr(b)))) => stderr.extend_from_slice(&b),
                Ok(Some(Ok(Event::Exit(status)))) => {
                    return Ok(Output {
                        status,
                        stdout,
                        stderr,
                    })
                }
            }
        }
    }

    /// Runs `command`; a non-zero exit is an error carrying the status and output tail.
    pub async fn ssh_with(
        &self,
        command: &str,
        stdin: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Output, RemoteError> {
        let out = self.run(command, stdin, timeout).await?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(RemoteError::Command {
                node: self.inner.name.clone(),
                command: command.to_string(),
                status: out.status,
                stdout_tail: tail(&out.stdout),
                stderr_tail: tail(&out.stderr),
            })
        }
    }

    /// Runs `command`; a non-zero exit is an error naming node, command, status and output.
    pub async fn ssh(&self, command: &str) -> Result<(), RemoteError> {
        self.ssh_with(command, None, self.timeout).await.map(drop)
    }

    /// Runs `command` and returns its exit code (a failing command is not an error; a signal
    /// or a missing status is reported as `None`).
    pub async fn ssh_status(&self, command: &str) -> Result<Option<u32>, RemoteError> {
        let out = self.run(command, None, self.timeout).await?;
        Ok(match out.status {
            ExitStatus::Code(c) => Some(c),
            _ => None,
        })
    }

    /// Runs `command` and returns its stdout; a non-zero exit is an error.
    pub async fn ssh_output(&self, command: &str) -> Result<String, RemoteError> {
        Ok(self
            .ssh_with(command, None, self.timeout)
            .await?
            .stdout_text())
    }

    /// Runs `command` and streams its stdout line by line as it arrives; after the last line
    /// a non-zero exit is reported as an error. Dropping the capture kills the command.
    /// The account's timeout bounds the whole command; see [`ssh_capture_for`](Self::ssh_capture_for).
    pub fn ssh_capture(&self, command: &str) -> Result<Capture, RemoteError> {
        self.ssh_capture_for(command, self.timeout)
    }

    /// [`ssh_capture`](Self::ssh_capture) with its own overall timeout.
    pub fn ssh_capture_for(
        &self,
        command: &str,
        timeout: Duration,
    ) -> Result<Capture, RemoteError> {
        let rx = self.start(command, None)?.events;
        Ok(Capture::new(
            self.inner.name.clone(),
            command.to_string(),
            rx,
            timeout,
        ))
    }

    /// Starts `command` in the background, in its own session (so its whole process group can
    /// be signalled), with stdout and stderr appended to `log` and its pid written to
    /// `pidfile`. Returns the pid: that of the `sh` running `command` (the command itself is
    /// its child), whose process group holds everything `command` starts — signal the group
    /// ([`signal_group`](Self::signal_group)) to reach the command. The process is remembered and killed when the node goes
    /// back to its cluster, if it is still running.
    pub async fn spawn(&self, command: &str, log: &str, pidfile: &str) -> Result<u32, RemoteError> {
        let script = process::spawn_script(command, log, pidfile);
        let out = self.ssh_with(&script, None, self.timeout).await?;
        let text = out.stdout_text();
        let pid = text
            .trim()
            .parse::<u32>()
            .map_err(|_| RemoteError::Unexpected {
                node: self.inner.name.clone(),
                command: script.clone(),
                detail: format!("expected the pid of `{command}`, got {text:?}"),
            })?;
        if let Ok(mut spawned) = self.inner.spawned.lock() {
            spawned.push(pid);
        }
        tracing::debug!(node = %self.inner.name, pid, %command, "spawned");
        Ok(pid)
    }

    /// Sends `signal` (a name such as `TERM`, `KILL`, `STOP`, `CONT` or a number) to `pid`.
    pub async fn signal(&self, pid: u32, signal: &str) -> Result<(), RemoteError> {
        self.ssh(&format!("kill -s {} {pid}", quote(signal))).await
    }

    /// Sends `signal` to the whole process group led by `pid` (what [`spawn`](Self::spawn) starts).
    pub async fn signal_group(&self, pid: u32, signal: &str) -> Result<(), RemoteError> {
        self.ssh(&format!(
            "kill -s {s} -- -{pid} 2>/dev/null || kill -s {s} {pid}",
            s = quote(signal)
        ))
        .await
    }

    /// Whether `pid` is running (zombies count as dead).
    pub async fn alive(&self, pid: u32) -> Result<bool, RemoteError> {
        let script = format!("{}\nalive {pid} && echo yes || echo no", process::ALIVE_FN);
        Ok(self.ssh_output(&script).await?.trim() == "yes")
    }

    /// The pid recorded in `pidfile`, if the file exists and the process is alive.
    pub async fn pid_from_file(&self, pidfile: &str) -> Result<Option<u32>, RemoteError> {
        let script = format!(
            "{}\npid=$(cat {} 2>/dev/null) || exit 0; [ -n \"$pid\" ] && alive \"$pid\" && echo \"$pid\"; exit 0",
            process::ALIVE_FN,
            quote(pidfile)
        );
        let text = self.ssh_output(&script).await?;
        Ok(text.trim().parse().ok())
    }

    /// Stops the process whose pid is in `pidfile`, with its process group: `clean` sends
    /// SIGTERM and waits up to `grace` before SIGKILL; otherwise SIGKILL at once. Returns
    /// what happened; a missing pidfile or dead process is [`StopOutcome::NotRunning`].
    pub async fn stop(
        &self,
        pidfile: &str,
        clean: bool,
        grace: Duration,
    ) -> Result<StopOutcome, RemoteError> {
        let script = process::stop_script(pidfile, clean, grace);
        let text = self
            .ssh_with(&script, None, grace + Duration::from_secs(30))
            .await?
            .stdout_text();
        StopOutcome::parse(text.trim()).ok_or_else(|| RemoteError::Unexpected {
            node: self.inner.name.clone(),
            command: script,
            detail: format!("unknown stop outcome {text:?}"),
        })
    }

    /// Waits until the process whose pid is in `pidfile` has exited (a missing pid file
    /// counts as exited); a [`RemoteError::Timeout`] if it still runs after `timeout`.
    pub async fn wait_exit(&self, pidfile: &str, timeout: Duration) -> Result<(), RemoteError> {
        let script = format!(
            "{}\npid=$(cat {} 2>/dev/null) || exit 0; [ -n \"$pid\" ] || exit 0; while alive $pid; do sleep 0.1; done",
            process::ALIVE_FN,
            quote(pidfile)
        );
        self.ssh_with(&script, None, timeout).await.map(drop)
    }

    /// SIGKILLs every process group this account spawned that is still alive. Called when
    /// the node goes back to its cluster.
    pub async fn kill_spawned(&self) -> Result<usize, RemoteError> {
        let pids: Vec<u32> = match self.inner.spawned.lock() {
            Ok(mut s) => std::mem::take(&mut *s),
            Err(_) => Vec::new(),
        };
        if pids.is_empty() {
            return Ok(0);
        }
        let list = pids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        let script = format!(
            "{}\n{}\nn=0; for p in {list}; do if alive $p || group_alive $p; then kill -s KILL -- -$p 2>/dev/null; kill -s KILL $p 2>/dev/null; n=$((n+1)); fi; done; echo $n",
            process::ALIVE_FN,
            process::GROUP_ALIVE_FN
        );
        let text = self.ssh_output(&script).await?;
        Ok(text.trim().parse().unwrap_or(0))
    }

    /// Marks every command run from now on (and every process it starts) with `marker`, the
    /// lease's, until [`take_lease_marker`](Self::take_lease_marker).
    pub(crate) fn set_lease_marker(&self, marker: String) {
        if let Ok(mut m) = self.inner.lease_marker.lock() {
            *m = Some(marker);
        }
    }

    /// Ends the marking of [`set_lease_marker`](Self::set_lease_marker); returns the marker.
    pub(crate) fn take_lease_marker(&self) -> Option<String> {
        self.inner
            .lease_marker
            .lock()
            .ok()
            .and_then(|mut m| m.take())
    }

    /// SIGKILLs every process on the node that a command of the lease marked `marker` started
    /// (found by the marker in its environment, wherever it went: background, `nohup`,
    /// `setsid`, double forks). Returns how many. Run it once the marking has ended, or it
    /// would find itself.
    pub(crate) async fn kill_lease_processes(&self, marker: &str) -> Result<usize, RemoteError> {
        let script = process::kill_marked_script(super::transport::LEASE_VAR, marker);
        let text = self.ssh_output(&script).await?;
        Ok(text.trim().parse().unwrap_or(0))
    }

    /// The live processes among `pids` and in the process groups they lead, with their
    /// command lines: what is left of what [`spawn`](Self::spawn) started (zombies count as
    /// gone).
    ///
    /// ```no_run
    /// # async fn demo(account: ducttape_core::remote::RemoteAccount) -> Result<(), ducttape_core::remote::RemoteError> {
    /// let pid = account.spawn("sleep 60", "/tmp/sleep.log", "/tmp/sleep.pid").await?;
    /// let running = account.processes_of(&[pid]).await?; // the shell and its `sleep`
    /// assert!(running.iter().any(|p| p.command == "sleep 60"));
    /// # Ok(()) }
    /// ```
    pub async fn processes_of(&self, pids: &[u32]) -> Result<Vec<NodeProcess>, RemoteError> {
        if pids.is_empty() {
            return Ok(Vec::new());
        }
        let text = self.ssh_output(&process::list_groups_script(pids)).await?;
        Ok(process::parse_process_list(&self.inner.name, &text))
    }

    /// The live processes a command of the lease marked `marker` started, as
    /// [`kill_lease_processes`](Self::kill_lease_processes) would find them, untouched. Run it
    /// once the marking has ended, or it would find itself.
    pub(crate) async fn lease_processes(
        &self,
        marker: &str,
    ) -> Result<Vec<NodeProcess>, RemoteError> {
        let script = process::list_marked_script(super::transport::LEASE_VAR, marker);
        let text = self.ssh_output(&script).await?;
        Ok(process::parse_process_list(&self.inner.name, &text))
    }

    /// Writes `bytes` to `path` on the node, creating parent directories.
    pub async fn create_file(
        &self,
        path: &str,
        bytes: impl Into<Vec<u8>>,
    ) -> Result<(), RemoteError> {
        let command = format!("mkdir -p \"$(dirname {p})\" && cat > {p}", p = quote(path));
        self.ssh_with(&command, Some(bytes.into()), self.timeout)
            .await
            .map(drop)
    }

    /// Reads the whole file at `path`.
    pub async fn read_file(&self, path: &str) -> Result<Vec<u8>, RemoteError> {
        Ok(self
            .ssh_with(&format!("cat {}", quote(path)), None, self.timeout)
            .await?
            .stdout)
    }

    /// Reads at most `max` bytes of the file at `path`, from byte `offset` on (`tail -c +N`,
    /// which seeks: the cost is what is read, not where): for following a file that grows
    /// without reading it all again. `None` when there is no such file. The part names the
    /// file read (its inode) and its size just before, so the reader can tell a file
    /// replaced or truncated since its last read from one that grew.
    pub async fn read_file_from(
        &self,
        path: &str,
        offset: u64,
        max: u64,
    ) -> Result<Option<FilePart>, RemoteError> {
        let command = format!(
            "f={}; [ -e \"$f\" ] || exit 0; stat -L -c '%i %s' -- \"$f\" || exit 1; \
             tail -c +{} -- \"$f\" | head -c {max}; exit 0",
            quote(path),
            offset + 1
        );
        let out = self.ssh_with(&command, None, self.timeout).await?;
        if out.stdout.is_empty() {
            return Ok(None);
        }
        let bad = |detail: &str| RemoteError::Command {
            node: self.inner.name.clone(),
            command: command.clone(),
            status: out.status.clone(),
            stdout_tail: format!("{detail}: {}", tail(&out.stdout)),
            stderr_tail: tail(&out.stderr),
        };
        let end = out
            .stdout
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| bad("no stat line"))?;
        let header = String::from_utf8_lossy(&out.stdout[..end]);
        let (inode, size) = header
            .split_once(' ')
            .and_then(|(i, s)| Some((i.parse().ok()?, s.trim().parse().ok()?)))
            .ok_or_else(|| bad("no inode and size in the stat line"))?;
        Ok(Some(FilePart {
            inode,
            size,
            bytes: out.stdout[end + 1..].to_vec(),
        }))
    }

    /// `mkdir -p path`.
    pub async fn mkdirs(&self, path: &str) -> Result<(), RemoteError> {
        self.ssh(&format!("mkdir -p {}", quote(path))).await
    }

    /// Whether `path` exists.
    pub async fn exists(&self, path: &str) -> Result<bool, RemoteError> {
        Ok(self.ssh_status(&format!("test -e {}", quote(path))).await? == Some(0))
    }

    /// `rm -rf path`.
    pub async fn remove(&self, path: &str) -> Result<(), RemoteError> {
        self.ssh(&format!("rm -rf {}", quote(path))).await
    }

    /// Copies a local file or directory to `remote` on the node (a directory's contents land
    /// in `remote`, which is created).
    pub async fn copy_to(&self, local: &Path, remote: &str) -> Result<(), RemoteError> {
        if local.is_dir() {
            let archive = process::local_tar_create(local).await.map_err(|e| {
                self.local_error(format!("archiving {}", local.display()), e.to_string())
            })?;
            let command = format!("mkdir -p {r} && tar -C {r} -xf -", r = quote(remote));
            self.ssh_with(&command, Some(archive), self.timeout)
                .await
                .map(drop)
        } else {
            let bytes = tokio::fs::read(local).await.map_err(|e| {
                self.local_error(format!("reading {}", local.display()), e.to_string())
            })?;
            self.create_file(remote, bytes).await
        }
    }

    /// Copies `remote` (a file or directory) from the node to `local` (a directory's contents
    /// land in `local`, which is created).
    pub async fn copy_from(&self, remote: &str, local: &Path) -> Result<(), RemoteError> {
        let q = quote(remote);
        let command =
            // tar exits 1 when a file changed while it was read (a live log): still a copy.
            format!("if [ -d {q} ]; then echo D; tar -C {q} -cf - .; [ $? -le 1 ]; else echo F; cat {q}; fi");
        let out = self.ssh_with(&command, None, self.timeout).await?;
        let (kind, body) = out.stdout.split_at(out.stdout.len().min(2));
        let result = match kind {
            b"D\n" => process::local_tar_extract(local, body.to_vec())
                .await
                .map_err(|e| e.to_string()),
            _ => write_local_file(local, body)
                .await
                .map_err(|e| e.to_string()),
        };
        result.map_err(|detail| self.local_error(format!("writing {}", local.display()), detail))
    }

    fn local_error(&self, what: String, detail: String) -> RemoteError {
        RemoteError::Local {
            node: self.inner.name.clone(),
            what,
            detail,
        }
    }

    /// Starts watching `path`: only lines written after this call satisfy the monitor.
    pub async fn monitor_log(&self, path: &str) -> Result<LogMonitor, RemoteError> {
        LogMonitor::start(self.clone(), path).await
    }

    /// Waits until `port` on the node's address accepts TCP connections (from the test side).
    pub async fn wait_for_port(&self, port: u16, timeout: Duration) -> Result<(), RemoteError> {
        let address = format!("{}:{port}", self.inner.address);
        process::wait_for_tcp(&address, timeout)
            .await
            .map_err(|e| self.local_error(format!("waiting for {address}"), e.to_string()))
    }

    /// Waits until `url` (plain `http://host:port/path`) answers with any HTTP status; returns
    /// that status.
    pub async fn wait_for_http(&self, url: &str, timeout: Duration) -> Result<u16, RemoteError> {
        process::wait_for_http(url, timeout)
            .await
            .map_err(|e| self.local_error(format!("waiting for {url}"), e.to_string()))
    }
}

async fn write_local_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    tokio::fs::write(path, bytes).await
}
