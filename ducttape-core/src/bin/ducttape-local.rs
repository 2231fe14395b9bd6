//! `ducttape-local`: a persistent [local cluster](ducttape_core::cluster::local) for debugging.
//!
//! ```text
//! ducttape-local up [--nodes N] [--cluster-file PATH]   start one in the background
//! ducttape-local status [--cluster-file PATH]           does each node answer?
//! ducttape-local down                                   stop it, remove every trace
//! ```
//!
//! `up` starts a detached daemon (`serve`, not for direct use) that owns the cluster, writes the
//! JSON cluster file (default `<state_root>/cluster.json`) with a `known_hosts` beside it and
//! `<state_root>/daemon.pid`, and shuts the cluster down on SIGTERM or SIGINT.

use ducttape_core::cluster::json::{self, ClusterFileError};
use ducttape_core::cluster::local::{
    openssh_command, reap_stale, LocalCluster, LocalClusterError, LocalClusterOptions,
};
use ducttape_core::cluster::NodeSpec;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::unistd::Pid;
use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const USAGE: &str = "\
ducttape-local: a persistent local cluster (namespaces with their own sshd) for debugging

usage:
  ducttape-local up [--nodes N] [--cluster-file PATH]   start it in the background and write
                                                        its JSON cluster file
  ducttape-local status [--cluster-file PATH]           show whether each node answers
  ducttape-local down                                   stop it and remove every trace

environment: DUCTTAPE_LOCAL_NODES (6), DUCTTAPE_LOCAL_SUBNET (10.223),
             DUCTTAPE_LOCAL_STATE_ROOT (/var/lib/ducttape/local)";

/// How long `up` waits for the daemon to write the cluster file.
const UP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `down` waits for the daemon to exit after SIGTERM before SIGKILLing it.
const DOWN_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0}\n\n{USAGE}")]
    Usage(String),
    #[error(transparent)]
    Local(#[from] LocalClusterError),
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    ClusterFile(#[from] ClusterFileError),
    #[error("{problem}; the daemon's log ({log}) ends with:\n{tail}")]
    Daemon {
        problem: String,
        log: PathBuf,
        tail: String,
    },
    #[error("a local cluster is already running (daemon pid {pid}); see `ducttape-local status`, stop it with `ducttape-local down`")]
    AlreadyRunning { pid: i32 },
    #[error("no local cluster: {path} does not exist; start one with `ducttape-local up`")]
    NotRunning { path: PathBuf },
}

fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> CliError + 'a {
    move |source| CliError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// A parsed command line.
#[derive(Debug)]
enum Action {
    Up,
    Serve,
    Status,
    Down,
    Help,
}

#[derive(Debug)]
struct Args {
    action: Action,
    nodes: Option<usize>,
    cluster_file: Option<PathBuf>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, CliError> {
    let action = match args.next().as_deref() {
        Some("up") => Action::Up,
        Some("serve") => Action::Serve,
        Some("status") => Action::Status,
        Some("down") => Action::Down,
        Some("help" | "-h" | "--help") | None => Action::Help,
        Some(other) => return Err(CliError::Usage(format!("unknown command {other:?}"))),
    };
    let mut parsed = Args {
        action,
        nodes: None,
        cluster_file: None,
    };
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| CliError::Usage(format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--nodes" if matches!(parsed.action, Action::Up | Action::Serve) => {
                let n = value()?;
                parsed.nodes =
                    Some(n.parse().map_err(|_| {
                        CliError::Usage(format!("--nodes {n:?}: expected a number"))
                    })?);
            }
            "--cluster-file" if !matches!(parsed.action, Action::Help) => {
                let path = PathBuf::from(value()?);
                parsed.cluster_file =
                    Some(std::path::absolute(&path).map_err(io_error("resolve", &path))?);
            }
            "-h" | "--help" => parsed.action = Action::Help,
            _ => return Err(CliError::Usage(format!("unexpected argument {flag:?}"))),
        }
    }
    Ok(parsed)
}

/// The files of the persistent cluster.
struct Paths {
    root: PathBuf,
    cluster_file: PathBuf,
}

impl Paths {
    fn new(root: &Path, cluster_file: Option<PathBuf>) -> Self {
        let recorded = fs::read_to_string(root.join("daemon.cluster-file"))
            .ok()
            .map(|p| PathBuf::from(p.trim()));
        let cluster_file = cluster_file
            .or(recorded)
            .unwrap_or_else(|| root.join("cluster.json"));
        Self {
            root: root.to_path_buf(),
            cluster_file,
        }
    }
    fn known_hosts(&self) -> PathBuf {
        self.cluster_file.with_file_name("known_hosts")
    }
    fn pid_file(&self) -> PathBuf {
        self.root.join("daemon.pid")
    }
    /// Where `down` finds a custom `--cluster-file` once the daemon is gone.
    fn cluster_file_record(&self) -> PathBuf {
        self.root.join("daemon.cluster-file")
    }
    fn log(&self) -> PathBuf {
        self.root.join("daemon.log")
    }
    /// The files the daemon writes, removed by `down` and by the daemon on exit.
    fn daemon_files(&self) -> [PathBuf; 4] {
        [
            self.cluster_file.clone(),
            self.known_hosts(),
            self.pid_file(),
            self.cluster_file_record(),
        ]
    }
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match parse_args(std::env::args().skip(1)).and_then(run) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ducttape-local: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<ExitCode, CliError> {
    let mut opts = LocalClusterOptions::from_env()?;
    if let Some(nodes) = args.nodes {
        opts.nodes = nodes;
        opts.validate()?;
    }
    let paths = Paths::new(&opts.state_root, args.cluster_file);
    match args.action {
        Action::Help => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Action::Up => up(&opts, &paths),
        Action::Serve => serve(opts, &paths),
        Action::Status => status(&paths),
        Action::Down => down(&paths),
    }
}

/// Starts the daemon and waits until its cluster file appears.
fn up(opts: &LocalClusterOptions, paths: &Paths) -> Result<ExitCode, CliError> {
    let euid = nix::unistd::geteuid();
    if !euid.is_root() {
        return Err(LocalClusterError::NotRoot {
            euid: euid.as_raw(),
        }
        .into());
    }
    if let Some(pid) = running_daemon(paths) {
        return Err(CliError::AlreadyRunning { pid });
    }
    fs::create_dir_all(&paths.root).map_err(io_error("create directory", &paths.root))?;
    remove_files(&paths.daemon_files());
    let log_path = paths.log();
    let log = fs::File::create(&log_path).map_err(io_error("create", &log_path))?;
    let log_err = log.try_clone().map_err(io_error("open", &log_path))?;
    let exe = std::env::current_exe().map_err(io_error("find", Path::new("/proc/self/exe")))?;
    // setsid: no controlling terminal, so the terminal's ^C or hangup does not reach the daemon.
    let mut daemon = Command::new("setsid")
        .arg(&exe)
        .args([
            "serve",
            "--nodes",
            &opts.nodes.to_string(),
            "--cluster-file",
        ])
        .arg(&paths.cluster_file)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(io_error("run setsid with", &exe))?;
    let deadline = Instant::now() + UP_TIMEOUT;
    while !paths.cluster_file.exists() {
        let exited = daemon.try_wait().map_err(io_error("wait for", &exe))?;
        let problem = match exited {
            Some(status) => format!("the daemon exited ({status}) before the cluster was up"),
            None if Instant::now() > deadline => format!("the cluster was not up within {UP_TIMEOUT:?}; it is still starting, see `ducttape-local status`"),
            None => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        return Err(CliError::Daemon {
            problem,
            log: log_path.clone(),
            tail: log_tail(&log_path),
        });
    }
    let nodes = json::load(&paths.cluster_file)?;
    println!(
        "local cluster up: {} nodes (daemon pid {}, log {})",
        nodes.len(),
        daemon.id(),
        log_path.display()
    );
    for node in &nodes {
        println!("  {:<10} {}", node.name(), node.externally_routable_ip);
    }
    if let Some(first) = nodes.first() {
        println!("\nssh into a node:\n  {}", ssh_line(first));
    }
    println!(
        "\nuse it in tests:\n  export DUCTTAPE_CLUSTER={}",
        paths.cluster_file.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The daemon: owns the cluster until SIGTERM, SIGINT or SIGHUP.
fn serve(opts: LocalClusterOptions, paths: &Paths) -> Result<ExitCode, CliError> {
    // Blocked before any thread starts, so every thread inherits the mask and the signals wait
    // for `wait()` below (children get a clean mask: std resets it before exec).
    let mut signals = SigSet::empty();
    for signal in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        signals.add(signal);
    }
    signals
        .thread_block()
        .map_err(|errno| io_error("block signals for", &paths.root)(errno.into()))?;
    fs::create_dir_all(&paths.root).map_err(io_error("create directory", &paths.root))?;
    write_file(&paths.pid_file(), &format!("{}\n", std::process::id()))?;
    write_file(
        &paths.cluster_file_record(),
        &format!("{}\n", paths.cluster_file.display()),
    )?;
    let served = LocalCluster::start(opts)
        .map_err(CliError::from)
        .and_then(|cluster| {
            publish(&cluster, paths)?;
            tracing::info!(cluster_file = %paths.cluster_file.display(), "local cluster ready");
            let signal = signals
                .wait()
                .map_err(|errno| io_error("wait for signals in", &paths.root)(errno.into()))?;
            tracing::info!(?signal, "shutting down");
            remove_files(&paths.daemon_files()[..2]);
            cluster.shutdown().map_err(CliError::from)
        });
    remove_files(&paths.daemon_files());
    served.map(|()| ExitCode::SUCCESS)
}

/// Writes known_hosts beside the cluster file, then the cluster file (atomically: `up` waits
/// for it to appear).
fn publish(cluster: &LocalCluster, paths: &Paths) -> Result<(), CliError> {
    let known_hosts = paths.known_hosts();
    fs::copy(cluster.known_hosts(), &known_hosts).map_err(io_error("write", &known_hosts))?;
    Ok(json::write(&paths.cluster_file, cluster.nodes())?)
}

/// Prints whether each node answers TCP on :22 and `ssh … true`; fails if one does not.
fn status(paths: &Paths) -> Result<ExitCode, CliError> {
    match running_daemon(paths) {
        Some(pid) => println!("daemon: running, pid {pid} (log {})", paths.log().display()),
        None => println!("daemon: not running"),
    }
    if !paths.cluster_file.exists() {
        return Err(CliError::NotRunning {
            path: paths.cluster_file.clone(),
        });
    }
    let nodes = json::load(&paths.cluster_file)?;
    let mut all_ok = true;
    for node in &nodes {
        let ssh = &node.ssh;
        let tcp = ssh
            .hostname
            .parse()
            .map(|ip| {
                TcpStream::connect_timeout(&SocketAddr::new(ip, ssh.port), Duration::from_secs(1))
                    .is_ok()
            })
            .unwrap_or(false);
        let login = tcp && ssh_true(node);
        all_ok &= login;
        println!(
            "  {:<10} {:<15} tcp:{} {:<4} ssh {}",
            ssh.host,
            ssh.hostname,
            ssh.port,
            ok(tcp),
            ok(login)
        );
    }
    if let Some(first) = nodes.first() {
        println!("\nssh into a node:\n  {}", ssh_line(first));
    }
    println!("export DUCTTAPE_CLUSTER={}", paths.cluster_file.display());
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Stops the daemon (SIGTERM, then SIGKILL) and removes whatever is left, also of dead daemons.
fn down(paths: &Paths) -> Result<ExitCode, CliError> {
    if let Some(pid) = running_daemon(paths) {
        let pid = Pid::from_raw(pid);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + DOWN_TIMEOUT;
        while is_daemon(pid.as_raw()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if is_daemon(pid.as_raw()) {
            eprintln!("ducttape-local: daemon {pid} still running {DOWN_TIMEOUT:?} after SIGTERM; killing it");
            let _ = kill(pid, Signal::SIGKILL);
            while is_daemon(pid.as_raw()) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        println!("stopped daemon {pid}");
    }
    let reaped = reap_stale(&paths.root)?;
    if reaped > 0 {
        println!("removed the leftovers of {reaped} dead cluster(s)");
    }
    remove_files(&paths.daemon_files());
    remove_files(&[paths.log()]);
    println!("local cluster down");
    Ok(ExitCode::SUCCESS)
}

/// The daemon's pid, if `daemon.pid` names a live `ducttape-local` process.
fn running_daemon(paths: &Paths) -> Option<i32> {
    let pid = fs::read_to_string(paths.pid_file())
        .ok()?
        .trim()
        .parse()
        .ok()?;
    is_daemon(pid).then_some(pid)
}

/// Whether `pid` is a live (not zombie) `ducttape-local` process: pids get reused.
fn is_daemon(pid: i32) -> bool {
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let zombie = fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(true);
    !zombie && String::from_utf8_lossy(&cmdline).contains("ducttape-local")
}

/// A ready-to-paste ssh command line for a node.
fn ssh_line(node: &NodeSpec) -> String {
    let ssh = &node.ssh;
    let key = ssh
        .identity_file
        .as_ref()
        .map(|key| format!("-i {} ", key.display()))
        .unwrap_or_default();
    let known_hosts = ssh
        .known_hosts
        .as_ref()
        .map(|kh| format!("-o UserKnownHostsFile={} ", kh.display()))
        .unwrap_or_default();
    format!("ssh {key}{known_hosts}{}@{}", ssh.user, ssh.hostname)
}

/// Whether `ssh … true` succeeds with the node's key and pinned host key.
fn ssh_true(node: &NodeSpec) -> bool {
    openssh_command(node)
        .arg("true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn ok(yes: bool) -> &'static str {
    if yes {
        "ok"
    } else {
        "DOWN"
    }
}

fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn write_file(path: &Path, contents: &str) -> Result<(), CliError> {
    fs::write(path, contents).map_err(io_error("write", path))
}

/// Removes files that may not exist.
fn remove_files(paths: &[PathBuf]) {
    for path in paths {
        match fs::remove_file(path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                eprintln!("ducttape-local: cannot remove {}: {error}", path.display())
            }
            _ => {}
        }
    }
}
