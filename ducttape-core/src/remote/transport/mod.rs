//! The SSH transport: pooled russh connections per node, owned by one background runtime.
//!
//! Why a background runtime: tokio I/O objects belong to the runtime that created them and
//! every `#[tokio::test]` has its own runtime, so connections made on a test's runtime would die
//! with that test. All connections live on [`io_runtime`]; callers on any runtime talk to them
//! through channels, so a pool can be reused by every test of a process.
//!
//! Why russh and not async-ssh2-lite: async-ssh2-lite drives libssh2 by re-polling the socket
//! (its tokio stream never clears readiness), so a command that waits burns a core, and a
//! session cannot be shared by tasks. russh runs each connection in its own task and multiplexes
//! channels over it. See docs/internals.md, "SSH transport", for the measurements.
//!
//! Per connection at most [`CHANNELS_PER_CONNECTION`] channels are open at once (OpenSSH's
//! default `MaxSessions` is 10); more parallelism opens more connections, up to
//! [`CONNECTIONS_PER_NODE`].
//!
//! Commands without stdin run in [`shell`]s: long-running shells, one per channel, kept open
//! between commands, which saves the channel open and the login shell's start-up of an SSH
//! exec per command. Commands with stdin, nodes without bash, and accounts made with
//! [`RemoteAccount::exec_only`](crate::remote::RemoteAccount::exec_only) get an SSH exec each.

mod marker;
mod shell;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use once_cell::sync::OnceCell;
use russh::client;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{ChannelMsg, Sig};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Mutex, Semaphore};

pub(crate) use self::shell::is_transport_shell;
use self::shell::{Outcome, Shell};
use crate::cluster::SshConfig;

/// Channels open at once on one connection.
pub const CHANNELS_PER_CONNECTION: usize = 8;
/// Connections one node's pool opens at most.
pub const CONNECTIONS_PER_NODE: usize = 4;

static NEXT_TOKEN: AtomicUsize = AtomicUsize::new(0);
/// The environment variable that marks the processes of one remote command.
const TOKEN_VAR: &str = "DUCTTAPE_COMMAND";
/// The environment variable that marks every process started by a command of one lease, so
/// that the lease's cleanup finds them all (see [`crate::cluster::Lease`]).
pub(crate) const LEASE_VAR: &str = "DUCTTAPE_LEASE";

/// A marker for the environment of a command and everything it starts (it survives exec),
/// so that a command we give up on can be found and killed (see [`Pool::kill_marked`]).
fn new_token() -> String {
    format!(
        "dt-{}-{}",
        std::process::id(),
        NEXT_TOKEN.fetch_add(1, Ordering::Relaxed)
    )
}

/// What a command is prefixed with: its token and, during a lease, the lease's marker (both
/// made of letters, digits and `-`).
fn marker_exports(token: &str, lease: Option<&str>) -> String {
    match lease {
        Some(lease) => format!("export {TOKEN_VAR}={token} {LEASE_VAR}={lease}; "),
        None => format!("export {TOKEN_VAR}={token}; "),
    }
}

/// A command started by [`Pool::exec`].
pub(crate) struct Running {
    /// Output and the exit status, as they come.
    pub(crate) events: mpsc::Receiver<Result<Event, TransportError>>,
    /// Resolves when the command is over (and killed, if it was abandoned).
    pub(crate) finished: oneshot::Receiver<()>,
}

/// How a remote command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    /// It exited with this code.
    Code(u32),
    /// It was killed by this signal.
    Signal(String),
    /// The server closed the channel without saying.
    Unknown,
}

impl ExitStatus {
    /// True for exit code 0.
    pub fn success(&self) -> bool {
        matches!(self, Self::Code(0))
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Code(c) => write!(f, "exit status {c}"),
            Self::Signal(s) => write!(f, "killed by signal {s}"),
            Self::Unknown => write!(f, "no exit status (channel closed)"),
        }
    }
}

/// What a running command reports.
#[derive(Debug)]
pub(crate) enum Event {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    Exit(ExitStatus),
}

/// What one node's connection pool has done so far: how its commands ran. For checks and
/// benches that must know which path they measured (see
/// [`RemoteAccount::transport_stats`](crate::remote::RemoteAccount::transport_stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Commands that ran to their end in one of the node's long-lived shells.
    pub shell_commands: u64,
    /// Commands sent as an SSH exec of their own (with stdin, forced by
    /// [`RemoteAccount::exec_only`](crate::remote::RemoteAccount::exec_only), or on a node
    /// without bash).
    pub exec_commands: u64,
    /// Shells started.
    pub shells_started: u64,
    /// Shells closed because a command left processes in its process group.
    pub shells_retired: u64,
}

/// The counters behind [`TransportStats`].
#[derive(Default)]
struct Counters {
    shell_commands: AtomicU64,
    exec_commands: AtomicU64,
    shells_started: AtomicU64,
    shells_retired: AtomicU64,
}

/// The transport failed (as opposed to the command failing).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// TCP connect failed or timed out.
    #[error("cannot connect to {address}: {detail}")]
    Connect {
        /// host:port.
        address: String,
        /// Why.
        detail: String,
    },
    /// The server's host key is not the pinned one.
    #[error("host key of {address} rejected: {detail}")]
    HostKey {
        /// host:port.
        address: String,
        /// Why.
        detail: String,
    },
    /// The private key could not be read.
    #[error("cannot load private key {path}: {detail}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// The server refused our key or password.
    #[error("authentication as {user} failed (tried {methods})")]
    Auth {
        /// Login user.
        user: String,
        /// Which methods were tried.
        methods: String,
    },
    /// The SSH protocol layer failed (broken connection, channel refused, …).
    #[error("ssh: {0}")]
    Ssh(String),
    /// The background I/O runtime could not be started.
    #[error("cannot start the ducttape I/O runtime: {0}")]
    Runtime(String),
}

static IO_RUNTIME: OnceCell<tokio::runtime::Runtime> = OnceCell::new();

/// The process-wide runtime that owns every SSH connection (see the module docs).
pub(crate) fn io_runtime() -> Result<&'static tokio::runtime::Runtime, TransportError> {
    IO_RUNTIME.get_or_try_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ducttape-io")
            .enable_all()
            .build()
            .map_err(|e| TransportError::Runtime(e.to_string()))
    })
}

/// Checks the server's host key against the node's known_hosts file, if it has one.
struct HostKeyCheck {
    hostname: String,
    port: u16,
    known_hosts: Option<PathBuf>,
    rejection: Arc<StdMutex<Option<String>>>,
}

impl HostKeyCheck {
    fn reject(&self, why: String) -> bool {
        if let Ok(mut slot) = self.rejection.lock() {
            *slot = Some(why);
        }
        false
    }
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let Some(path) = &self.known_hosts else {
            tracing::debug!(host = %self.hostname, "no known_hosts for node: accepting its host key");
            return Ok(true);
        };
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            return Ok(
                self.reject("server offered a certificate; only pinned keys are supported".into())
            );
        };
        match russh::keys::check_known_hosts_path(&self.hostname, self.port, key, path) {
            Ok(true) => Ok(true),
            Ok(false) => Ok(self.reject(format!(
                "no entry for {} in {}",
                self.hostname,
                path.display()
            ))),
            Err(e) => Ok(self.reject(format!("{e} (known_hosts {})", path.display()))),
        }
    }
}

struct Connection {
    handle: client::Handle<HostKeyCheck>,
    in_use: AtomicUsize,
}

/// A connection with a channel slot reserved on it.
struct Checkout {
    conn: Arc<Connection>,
}

impl Drop for Checkout {
    fn drop(&mut self) {
        self.conn.in_use.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The connections to one node.
pub(crate) struct Pool {
    cfg: SshConfig,
    conns: Mutex<Vec<Arc<Connection>>>,
    /// Commands in flight at once: as many as the connections have channels.
    in_flight: Arc<Semaphore>,
    key: OnceCell<Arc<PrivateKey>>,
    /// Shells waiting for a command, the most recently used last.
    idle: StdMutex<Vec<Shell>>,
    /// Set when the node cannot run a shell (no bash): every command is an exec.
    no_shell: AtomicBool,
    stats: Counters,
}

impl Pool {
    pub(crate) fn new(cfg: SshConfig) -> Arc<Self> {
        Arc::new(Self {
            cfg,
            conns: Mutex::new(Vec::new()),
            in_flight: Arc::new(Semaphore::new(
                CHANNELS_PER_CONNECTION * CONNECTIONS_PER_NODE,
            )),
            key: OnceCell::new(),
            idle: StdMutex::new(Vec::new()),
            no_shell: AtomicBool::new(false),
            stats: Counters::default(),
        })
    }

    fn address(&self) -> String {
        format!("{}:{}", self.cfg.hostname, self.cfg.port)
    }

    /// What this pool has done so far.
    pub(crate) fn stats(&self) -> TransportStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TransportStats {
            shell_commands: get(&self.stats.shell_commands),
            exec_commands: get(&self.stats.exec_commands),
            shells_started: get(&self.stats.shells_started),
            shells_retired: get(&self.stats.shells_retired),
        }
    }

    /// Drops every connection: the next command connects anew.
    pub(crate) async fn reset(&self) {
        self.idle_shells().clear();
        self.conns.lock().await.clear();
    }

    fn idle_shells(&self) -> std::sync::MutexGuard<'_, Vec<Shell>> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn private_key(&self) -> Result<Option<Arc<PrivateKey>>, TransportError> {
        let Some(path) = &self.cfg.identity_file else {
            return Ok(None);
        };
        self.key
            .get_or_try_init(|| {
                russh::keys::load_secret_key(path, None)
                    .map(Arc::new)
                    .map_err(|e| TransportError::Key {
                        path: path.clone(),
                        detail: e.to_string(),
                    })
            })
            .map(|k| Some(k.clone()))
    }

    async fn connect(&self) -> Result<Connection, TransportError> {
        let address = self.address();
        let timeout = self.cfg.connect_timeout;
        let connect_err = |detail: String| TransportError::Connect {
            address: address.clone(),
            detail,
        };
        let stream = tokio::time::timeout(
            timeout,
            TcpStream::connect((self.cfg.hostname.as_str(), self.cfg.port)),
        )
        .await
        .map_err(|_| connect_err(format!("no answer within {timeout:?}")))?
        .map_err(|e| connect_err(e.to_string()))?;
        // Nagle on SSH's small request/response packets costs ~40 ms per command.
        stream
            .set_nodelay(true)
            .map_err(|e| connect_err(e.to_string()))?;

        let config = Arc::new(client::Config {
            keepalive_interval: Some(Duration::from_secs(15)),
            keepalive_max: 3,
            nodelay: true,
            ..Default::default()
        });
        let rejection = Arc::new(StdMutex::new(None));
        let handler = HostKeyCheck {
            hostname: self.cfg.hostname.clone(),
            port: self.cfg.port,
            known_hosts: self.cfg.known_hosts.clone(),
            rejection: rejection.clone(),
        };
        let mut handle =
            tokio::time::timeout(timeout, client::connect_stream(config, stream, handler))
                .await
                .map_err(|_| {
                    connect_err(format!("SSH handshake did not finish within {timeout:?}"))
                })?
                .map_err(|e| match rejection.lock().ok().and_then(|mut r| r.take()) {
                    Some(detail) => TransportError::HostKey {
                        address: address.clone(),
                        detail,
                    },
                    None => connect_err(format!("SSH handshake failed: {e}")),
                })?;
        self.authenticate(&mut handle).await?;
        Ok(Connection {
            handle,
            in_use: AtomicUsize::new(0),
        })
    }

    async fn authenticate(
        &self,
        handle: &mut client::Handle<HostKeyCheck>,
    ) -> Result<(), TransportError> {
        let user = self.cfg.user.clone();
        let ssh_err = |e: russh::Error| TransportError::Ssh(e.to_string());
        let mut tried = Vec::new();
        if let Some(key) = self.private_key()? {
            let hash: Option<HashAlg> = if key.algorithm().is_rsa() {
                handle
                    .best_supported_rsa_hash()
                    .await
                    .map_err(ssh_err)?
                    .flatten()
            } else {
                None
            };
            tried.push("publickey");
            let result = handle
                .authenticate_publickey(&user, PrivateKeyWithHashAlg::new(key, hash))
                .await
                .map_err(ssh_err)?;
            if result.success() {
                return Ok(());
            }
        }
        if let Some(password) = &self.cfg.password {
            tried.push("password");
            let result = handle
                .authenticate_password(&user, password)
                .await
                .map_err(ssh_err)?;
            if result.success() {
                return Ok(());
            }
        }
        Err(TransportError::Auth {
            user,
            methods: if tried.is_empty() {
                "nothing: no identity file or password configured".into()
            } else {
                tried.join(", ")
            },
        })
    }

    /// Reserves a channel slot, on an existing connection or a new one.
    async fn checkout(&self) -> Result<Checkout, TransportError> {
        let mut conns = self.conns.lock().await;
        conns.retain(|c| !c.handle.is_closed());
        let conn = loop {
            let free = conns
                .iter()
                .filter(|c| c.in_use.load(Ordering::SeqCst) < CHANNELS_PER_CONNECTION)
                .min_by_key(|c| c.in_use.load(Ordering::SeqCst))
                .cloned();
            if let Some(c) = free {
                break c;
            }
            // Every channel is taken. At the connection cap an idle shell gives its channel
            // up (with commands in flight capped at the channel count, one always can).
            if conns.len() >= CONNECTIONS_PER_NODE && self.idle_shells().pop().is_some() {
                continue;
            }
            let c = Arc::new(self.connect().await?);
            conns.push(c.clone());
            break c;
        };
        conn.in_use.fetch_add(1, Ordering::SeqCst);
        Ok(Checkout { conn })
    }

    /// Opens a session channel; on a broken connection, reconnects once.
    async fn open_channel(
        &self,
    ) -> Result<(russh::Channel<client::Msg>, Checkout), TransportError> {
        let checkout = self.checkout().await?;
        match checkout.conn.handle.channel_open_session().await {
            Ok(ch) => Ok((ch, checkout)),
            Err(first) => {
                tracing::debug!(node = %self.cfg.host, error = %first, "channel open failed; reconnecting once");
                let broken = checkout.conn.clone();
                drop(checkout);
                self.conns.lock().await.retain(|c| !Arc::ptr_eq(c, &broken));
                let checkout = self.checkout().await?;
                let ch = checkout
                    .conn
                    .handle
                    .channel_open_session()
                    .await
                    .map_err(|e| TransportError::Ssh(format!("cannot open a channel: {e}")))?;
                Ok((ch, checkout))
            }
        }
    }

    /// Runs `command` on the background runtime; events arrive on [`Running::events`].
    /// It runs in a shell unless it has stdin, `exec_only` is set, or the node has no bash.
    /// Closing or dropping the receiver kills the remote command (see `kill_command`);
    /// [`Running::finished`] resolves once the command is over and any kill is done.
    /// `lease` is the marker of the lease it runs under, put in its environment as
    /// [`LEASE_VAR`].
    pub(crate) fn exec(
        self: &Arc<Self>,
        command: String,
        stdin: Option<Vec<u8>>,
        exec_only: bool,
        lease: Option<String>,
    ) -> Result<Running, TransportError> {
        let (tx, events) = mpsc::channel(64);
        let (done, finished) = oneshot::channel();
        let pool = self.clone();
        let in_shell = !exec_only
            && stdin.is_none()
            && !command.contains('\0')
            && !self.no_shell.load(Ordering::Relaxed);
        io_runtime()?.spawn(crate::context::log::follow_current_test(async move {
            let result = async {
                let _permit = pool
                    .in_flight
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|e| TransportError::Ssh(e.to_string()))?;
                if tx.is_closed() {
                    return Ok(()); // given up on while it waited for its turn
                }
                let lease = lease.as_deref();
                if in_shell {
                    pool.run_in_shell(command, lease, &tx).await
                } else {
                    pool.run(command, stdin, lease, &tx).await
                }
            }
            .await;
            if let Err(e) = result {
                let _ = tx.send(Err(e)).await;
            }
            let _ = done.send(());
        }));
        Ok(Running { events, finished })
    }

    /// Runs `command` in an idle shell or a new one (see [`shell`]).
    async fn run_in_shell(
        &self,
        command: String,
        lease: Option<&str>,
        tx: &mpsc::Sender<Result<Event, TransportError>>,
    ) -> Result<(), TransportError> {
        let token = new_token();
        let line = format!("{}{command}", marker_exports(&token, lease));
        loop {
            let mut shell = self.take_shell().await?;
            match shell.run(&line, tx).await {
                Outcome::Done {
                    status,
                    left_behind,
                } => {
                    self.stats.shell_commands.fetch_add(1, Ordering::Relaxed);
                    // Back in the pool (or retired) before the caller hears the command is
                    // over, so that its next command finds this shell idle.
                    if left_behind {
                        self.stats.shells_retired.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(
                            node = %self.cfg.host,
                            "the command left processes in its process group: retiring its shell"
                        );
                        drop(shell);
                    } else {
                        self.idle_shells().push(shell);
                    }
                    let _ = tx.send(Ok(Event::Exit(status))).await;
                    return Ok(());
                }
                Outcome::Ended => return Ok(()),
                Outcome::Lost => {
                    return Err(TransportError::Ssh(
                        "the connection broke after the command was sent and before it was \
                         seen to start; not sent again, as it may have run"
                            .into(),
                    ))
                }
                Outcome::Abandoned { group } => {
                    drop(shell);
                    self.kill_marked(&token, group).await;
                    return Ok(());
                }
                // It died while idle (say, the node's processes were swept): try another.
                Outcome::NotStarted { .. } if shell.used() => continue,
                // A new shell that exits by itself before it starts anything cannot run here
                // (no bash, say): fall back to an exec per command for this node.
                Outcome::NotStarted {
                    exit: Some(code),
                    stderr,
                } => {
                    tracing::warn!(
                        node = %self.cfg.host,
                        exit = code,
                        stderr = %String::from_utf8_lossy(&stderr),
                        "cannot run a command shell (bash) on the node: every command becomes an SSH exec"
                    );
                    self.no_shell.store(true, Ordering::Relaxed);
                    drop(shell);
                    return self.run(command, None, lease, tx).await;
                }
                Outcome::NotStarted { exit, stderr } => {
                    let exit =
                        exit.map_or("no exit status".to_string(), |c| format!("exit status {c}"));
                    return Err(TransportError::Ssh(format!(
                        "the command shell ended before it ran the command ({exit}): {}",
                        String::from_utf8_lossy(&stderr).trim()
                    )));
                }
            }
        }
    }

    /// An idle shell that can still take a command, or a new one.
    async fn take_shell(&self) -> Result<Shell, TransportError> {
        loop {
            let Some(mut shell) = self.idle_shells().pop() else {
                break;
            };
            if shell.reusable() {
                return Ok(shell);
            }
        }
        let (channel, checkout) = self.open_channel().await?;
        let shell = Shell::start(channel, checkout).await?;
        self.stats.shells_started.fetch_add(1, Ordering::Relaxed);
        Ok(shell)
    }

    /// Runs `command` as an SSH exec of its own.
    async fn run(
        &self,
        command: String,
        stdin: Option<Vec<u8>>,
        lease: Option<&str>,
        tx: &mpsc::Sender<Result<Event, TransportError>>,
    ) -> Result<(), TransportError> {
        let ssh_err = |e: russh::Error| TransportError::Ssh(e.to_string());
        let (mut channel, checkout) = self.open_channel().await?;
        let token = new_token();
        channel
            .exec(true, format!("{}{command}", marker_exports(&token, lease)))
            .await
            .map_err(ssh_err)?;
        self.stats.exec_commands.fetch_add(1, Ordering::Relaxed);
        if let Some(data) = stdin {
            channel.data(&data[..]).await.map_err(ssh_err)?;
        }
        channel.eof().await.map_err(ssh_err)?;
        let mut status = ExitStatus::Unknown;
        loop {
            let msg = tokio::select! {
                msg = channel.wait() => msg,
                () = tx.closed() => {
                    // The caller gave up (timeout, dropped stream): stop the remote command.
                    self.kill_command(channel, checkout, &token).await;
                    return Ok(());
                }
            };
            let event = match msg {
                Some(ChannelMsg::Data { data }) => Event::Stdout(data.to_vec()),
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => Event::Stderr(data.to_vec()),
                Some(ChannelMsg::ExitStatus { exit_status }) => {
                    status = ExitStatus::Code(exit_status);
                    continue;
                }
                Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                    status = ExitStatus::Signal(format!("{signal_name:?}"));
                    continue;
                }
                Some(ChannelMsg::Close) | None => break,
                Some(_) => continue,
            };
            if tx.send(Ok(event)).await.is_err() {
                self.kill_command(channel, checkout, &token).await;
                return Ok(());
            }
        }
        let _ = tx.send(Ok(Event::Exit(status))).await;
        Ok(())
    }

    /// Kills an exec'd command we gave up on (see [`Pool::kill_marked`]).
    async fn kill_command(
        &self,
        channel: russh::Channel<client::Msg>,
        checkout: Checkout,
        token: &str,
    ) {
        let _ = channel.signal(Sig::KILL).await;
        let _ = channel.close().await;
        drop(checkout);
        self.kill_marked(token, None).await;
    }

    /// Kills a command we gave up on, with every process it started: its process `group`
    /// if known (first, so a loop in it cannot start more), then every process whose
    /// environment carries its token. A signal on the channel is not enough: OpenSSH
    /// delivers channel signals only in some configurations (and only to the shell's
    /// process group).
    async fn kill_marked(&self, token: &str, group: Option<u32>) {
        let group_kill = group.map_or(String::new(), |g| {
            format!("kill -KILL -- -{g} 2>/dev/null; ")
        });
        let script = format!(
            "{group_kill}{}",
            crate::remote::process::kill_marked_script(TOKEN_VAR, token)
        );
        let cleanup = async {
            let (mut ch, _slot) = self.open_channel().await?;
            ch.exec(true, script)
                .await
                .map_err(|e| TransportError::Ssh(e.to_string()))?;
            while let Some(msg) = ch.wait().await {
                if matches!(msg, ChannelMsg::Close) {
                    break;
                }
            }
            Ok::<_, TransportError>(())
        };
        match tokio::time::timeout(Duration::from_secs(10), cleanup).await {
            Ok(Ok(())) => {
                tracing::debug!(node = %self.cfg.host, %token, "killed abandoned command")
            }
            Ok(Err(e)) => {
                tracing::warn!(node = %self.cfg.host, %token, error = %e, "cannot kill abandoned command")
            }
            Err(_) => {
                tracing::warn!(node = %self.cfg.host, %token, "killing abandoned command timed out")
            }
        }
    }
}
