//! Nodes from `vagrant ssh-config`, cached as a JSON cluster file.
//!
//! ducktape ran `vagrant ssh-config` on every run (10–60 s). [`load`] runs it once, writes the
//! nodes to a cache (a [JSON](super::json) cluster file, by default
//! `<project>/.ducttape/vagrant-cluster.json`) and reads the cache after that, until asked to
//! refresh. The cache is an ordinary cluster file: edit it to adjust a node.
//!
//! Reading the output ([`parse_ssh_config`]) follows OpenSSH's `ssh_config` syntax as Vagrant
//! prints it (`templates/commands/ssh_config/config.erb` in Vagrant): a block per machine,
//! starting at its `Host` line; `HostName`, `User`, `Port` and `IdentityFile` are read, every
//! other keyword (`UserKnownHostsFile`, `StrictHostKeyChecking`, `PasswordAuthentication`,
//! `IdentitiesOnly`, `LogLevel`, `ProxyCommand`, …) is ignored. Lines before the first `Host`
//! (Vagrant's own notices, such as a new-version message) are skipped.
//!
//! The externally routable address: ducktape's `VagrantCluster` connects to every machine and
//! reads the address of its first network interface. We do not connect at load time; we use
//! `HostName` when it is a real address (providers such as libvirt or AWS print the machine's
//! own address), and the machine's name (`Host`) when `HostName` is a loopback address
//! (VirtualBox forwards a port on `127.0.0.1`, which other machines cannot use). The name works
//! where machines resolve each other's names, as ducktape's `VagrantCluster` also assumes
//! ("this assumes that the Vagrant VM's name is a routeable hostname on all the hosts"), e.g.
//! with the vagrant-hostmanager plugin. Where it does not, edit the cache.

use std::ffi::OsString;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::cluster::json;
use crate::cluster::{ClusterError, NodeSpec, SshConfig};

/// Environment variable naming the `vagrant` program to run (default: `vagrant`, found on PATH).
pub const PROGRAM_ENV: &str = "DUCTTAPE_VAGRANT";

/// How long `vagrant ssh-config` may take before it is killed.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// How many lines of Vagrant's stderr an error keeps.
const STDERR_LINES: usize = 20;

/// `vagrant ssh-config` failed or printed something unusable.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum VagrantError {
    /// The `vagrant` program is not on PATH.
    #[error(
        "Vagrant is not installed: cannot find `{program}` (on PATH, or as {PROGRAM_ENV} names it). \
         Without Vagrant, set DUCTTAPE_CLUSTER to a JSON cluster file, or leave it unset to use \
         the local cluster"
    )]
    NotInstalled {
        /// The program looked for.
        program: String,
    },
    /// The Vagrant project directory does not exist.
    #[error("Vagrant project directory {}: {source}", dir.display())]
    ProjectDir {
        /// The directory.
        dir: PathBuf,
        /// Why it cannot be used.
        source: io::Error,
    },
    /// The command could not be started or waited for.
    #[error("cannot run `{command}` in {}: {source}", dir.display())]
    Run {
        /// The command line.
        command: String,
        /// Where it was run.
        dir: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The command did not finish in time and was killed.
    #[error("`{command}` in {} did not finish within {timeout:?} and was killed{}",
            dir.display(), stderr_section(stderr_tail))]
    Timeout {
        /// The command line.
        command: String,
        /// Where it was run.
        dir: PathBuf,
        /// The time it had.
        timeout: Duration,
        /// The last lines of its stderr.
        stderr_tail: String,
    },
    /// The command failed.
    #[error("`{command}` in {} failed with {status}{}", dir.display(), stderr_section(stderr_tail))]
    Failed {
        /// The command line.
        command: String,
        /// Where it was run.
        dir: PathBuf,
        /// How it ended.
        status: ExitStatus,
        /// The last lines of its stderr.
        stderr_tail: String,
    },
    /// A machine's block lacks a key we need, or has a value we cannot use.
    #[error("`vagrant ssh-config` output: Host {host:?} (line {line}): {key}: {problem}")]
    Entry {
        /// The machine (`Host`).
        host: String,
        /// The line of the offending key, or of the `Host` line when a key is missing.
        line: usize,
        /// The keyword, e.g. `HostName`.
        key: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// A keyword we read appears before any `Host` line.
    #[error("`vagrant ssh-config` output, line {line}: {key} comes before any Host line")]
    NoHostLine {
        /// The line.
        line: usize,
        /// The keyword.
        key: String,
    },
    /// The output describes no machine.
    #[error("`vagrant ssh-config` printed no Host block: are the machines up (`vagrant up`)?")]
    NoHosts,
    /// Two blocks have the same `Host`.
    #[error(
        "`vagrant ssh-config` output: Host {host:?} appears twice (lines {first} and {second})"
    )]
    DuplicateHost {
        /// The machine.
        host: String,
        /// Line of the first `Host` line.
        first: usize,
        /// Line of the second.
        second: usize,
    },
}

crate::human_debug!(VagrantError);

fn stderr_section(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!("\n--- stderr (last lines) ---\n{}", tail.trim_end())
    }
}

/// The default cache for a Vagrant project: `<project_dir>/.ducttape/vagrant-cluster.json`.
pub fn default_cache(project_dir: &Path) -> PathBuf {
    project_dir.join(".ducttape").join("vagrant-cluster.json")
}

/// The nodes of the Vagrant project in `project_dir`.
///
/// If `cache` exists and `refresh` is false, it is read as a JSON cluster file
/// ([`json::load`]). Otherwise `vagrant ssh-config` is run in `project_dir` (killed after
/// [`TIMEOUT`]; the program is `DUCTTAPE_VAGRANT`, default `vagrant`), its output parsed
/// ([`parse_ssh_config`]) and written to `cache` ([`json::write`]; a cache that cannot be
/// written is logged, not fatal). Host keys are pinned as [`json::load`] does, from a
/// `known_hosts` file beside the cache or `DUCTTAPE_KNOWN_HOSTS`.
pub fn load(
    project_dir: &Path,
    cache: &Path,
    refresh: bool,
) -> Result<Vec<NodeSpec>, ClusterError> {
    let vagrant = Vagrant {
        program: std::env::var_os(PROGRAM_ENV)
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "vagrant".into()),
        path: None,
        timeout: TIMEOUT,
    };
    load_with(&vagrant, project_dir, cache, refresh)
}

/// How to run Vagrant: the program, an optional PATH for it alone, and the time it has.
struct Vagrant {
    program: OsString,
    path: Option<OsString>,
    timeout: Duration,
}

fn load_with(
    vagrant: &Vagrant,
    project_dir: &Path,
    cache: &Path,
    refresh: bool,
) -> Result<Vec<NodeSpec>, ClusterError> {
    if !refresh && cache.exists() {
        tracing::debug!(cache = %cache.display(), "Vagrant nodes from the cache");
        return Ok(json::load(cache)?);
    }
    let output = vagrant.ssh_config(project_dir)?;
    let mut nodes = parse_ssh_config(&output)?;
    match json::write(cache, &nodes) {
        Ok(()) => tracing::info!(cache = %cache.display(), nodes = nodes.len(),
                                 "Vagrant nodes cached; refresh after `vagrant up` changes them"),
        Err(err) => {
            tracing::warn!(%err, "Vagrant nodes not cached; `vagrant ssh-config` will run again next time")
        }
    }
    json::pin_known_hosts(&mut nodes, cache, std::env::var_os(json::KNOWN_HOSTS_ENV))?;
    Ok(nodes)
}

impl Vagrant {
    /// Runs `vagrant ssh-config` in `dir` and returns its stdout.
    fn ssh_config(&self, dir: &Path) -> Result<String, VagrantError> {
        let command = format!("{} ssh-config", self.program.to_string_lossy());
        // Checked first: a missing working directory makes spawn fail with "not found" too.
        match std::fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(VagrantError::ProjectDir {
                    dir: dir.to_path_buf(),
                    source: io::Error::other("not a directory"),
                })
            }
            Err(source) => {
                return Err(VagrantError::ProjectDir {
                    dir: dir.to_path_buf(),
                    source,
                })
            }
        }
        let run_error = |source| VagrantError::Run {
            command: command.clone(),
            dir: dir.to_path_buf(),
            source,
        };
        let mut cmd = Command::new(&self.program);
        cmd.arg("ssh-config")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group, so a timeout kills Vagrant's ruby and whatever it started.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        if let Some(path) = &self.path {
            cmd.env("PATH", path);
        }
        let child = spawn(&mut cmd).map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound {
                VagrantError::NotInstalled {
                    program: self.program.to_string_lossy().into_owned(),
                }
            } else {
                run_error(source)
            }
        })?;
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let output = match rx.recv_timeout(self.timeout) {
            Ok(result) => result.map_err(run_error)?,
            Err(_) => {
                kill_group(pid);
                // Killing the group closes its pipes; what it wrote so far says why it hung.
                let stderr = match rx.recv_timeout(Duration::from_secs(5)) {
                    Ok(Ok(Output { stderr, .. })) => stderr,
                    _ => Vec::new(),
                };
                return Err(VagrantError::Timeout {
                    command,
                    dir: dir.to_path_buf(),
                    timeout: self.timeout,
                    stderr_tail: tail(&stderr),
                });
            }
        };
        if !output.status.success() {
            return Err(VagrantError::Failed {
                command,
                dir: dir.to_path_buf(),
                status: output.status,
                stderr_tail: tail(&output.stderr),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// Spawns `cmd`, retrying briefly while the executable is busy: a program written just now
/// (a fresh install, a stand-in in tests) can be held open for writing by another thread's
/// fork that has not exec'd yet.
fn spawn(cmd: &mut Command) -> io::Result<std::process::Child> {
    let mut attempt = 0;
    loop {
        match cmd.spawn() {
            Err(err) if err.raw_os_error() == Some(libc::ETXTBSY) && attempt < 5 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(20 * attempt));
            }
            result => return result,
        }
    }
}

fn kill_group(pid: u32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    let pgid = nix::unistd::Pid::from_raw(pid);
    if let Err(err) = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL) {
        tracing::debug!(%err, pid, "killing `vagrant ssh-config`'s process group");
    }
}

/// The last [`STDERR_LINES`] lines of `bytes`, as text.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(STDERR_LINES)..].join("\n")
}

/// Reads the output of `vagrant ssh-config` into nodes, one per `Host` block.
///
/// - `HostName` is required; `User` defaults to the local user and `Port` to 22, as for ssh.
/// - `IdentityFile` may be repeated (Vagrant lists the machine's key and its insecure keys);
///   the first that can be read is taken, and it is an error if none can. Quotes around a
///   path with spaces are removed.
/// - `externally_routable_ip` is `HostName`, or the `Host` name when `HostName` is a
///   loopback address (see the [module docs](self)).
/// - Keywords are case-insensitive; `Key Value` and `Key=Value` are both read; colour codes
///   Vagrant may put in front of a line are dropped.
///
/// ```
/// use ducttape_core::cluster::vagrant::parse_ssh_config;
///
/// let output = "\
/// Host worker1
///   HostName 127.0.0.1
///   User vagrant
///   Port 2222
///   UserKnownHostsFile /dev/null
///   StrictHostKeyChecking no
///   LogLevel FATAL
///
/// Host worker2
///   HostName 192.168.121.12
///   User vagrant
///   Port 22
/// ";
/// let nodes = parse_ssh_config(output).unwrap();
/// assert_eq!(nodes[0].name(), "worker1");
/// assert_eq!(nodes[0].ssh.port, 2222);
/// // A port forwarded on loopback cannot be advertised: the machine's name is used.
/// assert_eq!(nodes[0].externally_routable_ip, "worker1");
/// assert_eq!(nodes[1].externally_routable_ip, "192.168.121.12");
///
/// let err = parse_ssh_config("Host worker3\n  User vagrant\n").unwrap_err();
/// assert_eq!(err.to_string(), r#"`vagrant ssh-config` output: Host "worker3" (line 1): HostName: missing"#);
/// ```
pub fn parse_ssh_config(text: &str) -> Result<Vec<NodeSpec>, VagrantError> {
    let mut blocks: Vec<Block> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let cleaned = strip_ansi(raw);
        let Some((key, value)) = split_keyword(cleaned.trim()) else {
            continue;
        };
        let value = unquote(value);
        if key.eq_ignore_ascii_case("Host") {
            if value.is_empty() || value.split_whitespace().count() != 1 {
                return Err(VagrantError::Entry {
                    host: value.to_string(),
                    line,
                    key: "Host",
                    problem: "expected exactly one machine name".to_string(),
                });
            }
            if let Some(first) = blocks.iter().find(|b| b.host == value) {
                return Err(VagrantError::DuplicateHost {
                    host: value.to_string(),
                    first: first.line,
                    second: line,
                });
            }
            blocks.push(Block::new(value, line));
            continue;
        }
        let Some(block) = blocks.last_mut() else {
            if Block::reads(key) {
                return Err(VagrantError::NoHostLine {
                    line,
                    key: key.to_string(),
                });
            }
            tracing::debug!(line = cleaned.trim(), "skipped before the first Host line");
            continue;
        };
        block.read(key, value, line)?;
    }
    if blocks.is_empty() {
        return Err(VagrantError::NoHosts);
    }
    blocks.into_iter().map(Block::into_node).collect()
}

/// One `Host` block being read. As in ssh, the first value of a keyword wins.
struct Block {
    host: String,
    line: usize,
    hostname: Option<String>,
    user: Option<String>,
    port: Option<u16>,
    identity_files: Vec<PathBuf>,
}

impl Block {
    const KEYWORDS: [&'static str; 4] = ["HostName", "User", "Port", "IdentityFile"];

    fn new(host: &str, line: usize) -> Self {
        Self {
            host: host.to_string(),
            line,
            hostname: None,
            user: None,
            port: None,
            identity_files: Vec::new(),
        }
    }

    /// Whether `key` is one of the keywords we read.
    fn reads(key: &str) -> bool {
        Self::KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(key))
    }

    fn error(&self, line: usize, key: &'static str, problem: impl Into<String>) -> VagrantError {
        VagrantError::Entry {
            host: self.host.clone(),
            line,
            key,
            problem: problem.into(),
        }
    }

    fn read(&mut self, key: &str, value: &str, line: usize) -> Result<(), VagrantError> {
        let Some(&keyword) = Self::KEYWORDS.iter().find(|k| k.eq_ignore_ascii_case(key)) else {
            return Ok(());
        };
        if value.is_empty() {
            return Err(self.error(line, keyword, "no value"));
        }
        match keyword {
            "HostName" => {
                self.hostname.get_or_insert_with(|| value.to_string());
            }
            "User" => {
                self.user.get_or_insert_with(|| value.to_string());
            }
            "Port" => {
                let port = json::parse_port(value).ok_or_else(|| {
                    self.error(
                        line,
                        "Port",
                        format!("expected a number from 1 to 65535, found {value:?}"),
                    )
                })?;
                self.port.get_or_insert(port);
            }
            _ => self.identity_files.push(expand_home(value)),
        }
        Ok(())
    }

    fn into_node(self) -> Result<NodeSpec, VagrantError> {
        let hostname = self
            .hostname
            .clone()
            .ok_or_else(|| self.error(self.line, "HostName", "missing"))?;
        let user = match self.user.clone().or_else(json::local_user) {
            Some(user) => user,
            None => {
                return Err(self.error(
                    self.line,
                    "User",
                    "missing, and the local user name (the default) is unknown",
                ))
            }
        };
        let identity_file = match self.identity_files.as_slice() {
            [] => None,
            files => Some(
                files
                    .iter()
                    .find(|f| json::check_readable_file(f).is_ok())
                    .cloned()
                    .ok_or_else(|| {
                        let names: Vec<String> =
                            files.iter().map(|f| f.display().to_string()).collect();
                        self.error(
                            self.line,
                            "IdentityFile",
                            format!("none can be read: {}", names.join(", ")),
                        )
                    })?,
            ),
        };
        let externally_routable_ip = if is_loopback(&hostname) {
            self.host.clone()
        } else {
            hostname.clone()
        };
        Ok(NodeSpec {
            ssh: SshConfig {
                host: self.host,
                hostname,
                user,
                port: self.port.unwrap_or(json::DEFAULT_PORT),
                identity_file,
                password: None,
                connect_timeout: SshConfig::DEFAULT_CONNECT_TIMEOUT,
                known_hosts: None,
            },
            externally_routable_ip,
            node_type: None,
        })
    }
}

/// Splits `Keyword value` or `Keyword=value` (ssh_config's two forms); `None` for blank
/// lines and comments.
fn split_keyword(line: &str) -> Option<(&str, &str)> {
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let (key, rest) = line.split_at(end);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest);
    Some((key, rest.trim()))
}

/// Removes the double quotes Vagrant puts around a value with spaces.
fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// `~/x` → `$HOME/x`, as ssh reads an `IdentityFile`.
fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(path),
    }
}

fn is_loopback(hostname: &str) -> bool {
    hostname.eq_ignore_ascii_case("localhost")
        || hostname.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Drops ANSI escape sequences (`ESC [ … letter`), which old Vagrant versions put in front
/// of `Host` (Vagrant issue #189).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, up to and including the final byte.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::fs;

    /// The output of a three-machine VirtualBox project as Vagrant 2.3 prints it, with the
    /// version notice Vagrant prints first. `@DIR@` is replaced by a directory holding the keys:
    /// worker1's machine key does not exist (not yet generated), so its insecure key is used.
    const SSH_CONFIG: &str = "\
\u{1b}[0m==> vagrant: A new version of Vagrant is available: 2.4.1 (installed version: 2.3.7)!
==> vagrant: To upgrade visit: https://www.vagrantup.com/downloads.html

\u{1b}[0KHost worker1
  HostName 127.0.0.1
  User vagrant
  Port 2222
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile @DIR@/.vagrant/machines/worker1/virtualbox/private_key
  IdentityFile @DIR@/insecure_private_key
  IdentitiesOnly yes
  LogLevel FATAL
  PubkeyAcceptedKeyTypes +ssh-rsa
  HostKeyAlgorithms +ssh-rsa

Host worker2
  HostName 127.0.0.1
  User vagrant
  Port 2200
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile @DIR@/.vagrant/machines/worker2/virtualbox/private_key
  IdentitiesOnly yes
  LogLevel FATAL
  PubkeyAcceptedKeyTypes +ssh-rsa
  HostKeyAlgorithms +ssh-rsa

Host worker3
  HostName 127.0.0.1
  User vagrant
  Port 2201
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile \"@DIR@/my keys/worker3 key\"
  IdentitiesOnly yes
  LogLevel FATAL
  PubkeyAcceptedKeyTypes +ssh-rsa
  HostKeyAlgorithms +ssh-rsa

";

    /// A directory with the keys [`SSH_CONFIG`] names, and that output pointing at it.
    fn project() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for key in [
            "insecure_private_key",
            ".vagrant/machines/worker2/virtualbox/private_key",
            "my keys/worker3 key",
        ] {
            let path = d.join(key);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, "not a real key").unwrap();
        }
        let text = SSH_CONFIG.replace("@DIR@", d.to_str().unwrap());
        (dir, text)
    }

    #[test]
    fn parses_a_multi_machine_project() {
        let (dir, text) = project();
        let d = dir.path();
        let nodes = parse_ssh_config(&text).unwrap();
        let summary: Vec<_> = nodes
            .iter()
            .map(|n| {
                (
                    n.name(),
                    n.ssh.hostname.as_str(),
                    n.ssh.user.as_str(),
                    n.ssh.port,
                    n.externally_routable_ip.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("worker1", "127.0.0.1", "vagrant", 2222, "worker1"),
                ("worker2", "127.0.0.1", "vagrant", 2200, "worker2"),
                ("worker3", "127.0.0.1", "vagrant", 2201, "worker3"),
            ]
        );
        let keys: Vec<_> = nodes.iter().map(|n| n.ssh.identity_file.clone()).collect();
        assert_eq!(
            keys,
            [
                Some(d.join("insecure_private_key")),
                Some(d.join(".vagrant/machines/worker2/virtualbox/private_key")),
                Some(d.join("my keys/worker3 key")),
            ]
        );
        assert!(nodes.iter().all(|n| n.ssh.password.is_none()
            && n.ssh.known_hosts.is_none()
            && n.node_type.is_none()
            && n.ssh.connect_timeout == SshConfig::DEFAULT_CONNECT_TIMEOUT));
    }

    #[test]
    fn real_addresses_are_routable_and_defaults_apply() {
        let text = "Host broker1\n  HostName=192.168.121.45\n\nHost broker2\n  hostname localhost\n  PORT 2200\n";
        let nodes = parse_ssh_config(text).unwrap();
        assert_eq!(nodes[0].externally_routable_ip, "192.168.121.45");
        assert_eq!(nodes[0].ssh.port, 22);
        assert_eq!(Some(nodes[0].ssh.user.clone()), json::local_user());
        assert_eq!(nodes[0].ssh.identity_file, None);
        assert_eq!(nodes[1].externally_routable_ip, "broker2");
        assert_eq!(nodes[1].ssh.port, 2200);
    }

    #[test]
    fn quoted_identity_file_with_spaces() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("Program Files/vagrant key");
        fs::create_dir_all(key.parent().unwrap()).unwrap();
        fs::write(&key, "k").unwrap();
        let text = format!(
            "Host default\n  HostName 127.0.0.1\n  IdentityFile \"{}\"\n",
            key.display()
        );
        let nodes = parse_ssh_config(&text).unwrap();
        assert_eq!(nodes[0].ssh.identity_file.as_deref(), Some(key.as_path()));
    }

    #[test]
    fn missing_hostname_names_the_host() {
        let (_dir, text) = project();
        let text = text.replace("Host worker2\n  HostName 127.0.0.1\n", "Host worker2\n");
        let msg = parse_ssh_config(&text).unwrap_err().to_string();
        assert_eq!(
            msg,
            "`vagrant ssh-config` output: Host \"worker2\" (line 18): HostName: missing"
        );
    }

    #[test]
    fn bad_port_names_host_line_and_key() {
        let msg = parse_ssh_config("Host a\n  HostName h\n\nHost b\n  HostName h\n  Port 22a\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "`vagrant ssh-config` output: Host \"b\" (line 6): Port: expected a number from 1 to 65535, found \"22a\""
        );
    }

    #[test]
    fn identity_files_that_cannot_be_read() {
        let msg = parse_ssh_config(
            "Host w1\n  HostName h\n  IdentityFile /nonexistent/a\n  IdentityFile /nonexistent/b\n",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            msg,
            "`vagrant ssh-config` output: Host \"w1\" (line 1): IdentityFile: none can be read: \
             /nonexistent/a, /nonexistent/b"
        );
    }

    #[test]
    fn malformed_blocks() {
        let err = |text: &str| parse_ssh_config(text).unwrap_err().to_string();
        assert_eq!(
            err("  HostName 127.0.0.1\nHost w1\n"),
            "`vagrant ssh-config` output, line 1: HostName comes before any Host line"
        );
        assert_eq!(
            err(""),
            "`vagrant ssh-config` printed no Host block: are the machines up (`vagrant up`)?"
        );
        assert_eq!(
            err("Host w1\n  HostName a\nHost w1\n  HostName b\n"),
            "`vagrant ssh-config` output: Host \"w1\" appears twice (lines 1 and 3)"
        );
        assert_eq!(
            err("Host w1 w2\n  HostName a\n"),
            "`vagrant ssh-config` output: Host \"w1 w2\" (line 1): Host: expected exactly one machine name"
        );
        assert_eq!(
            err("Host w1\n  HostName\n"),
            "`vagrant ssh-config` output: Host \"w1\" (line 2): HostName: no value"
        );
    }

    #[test]
    fn default_cache_is_in_the_project() {
        assert_eq!(
            default_cache(Path::new("/p")),
            Path::new("/p/.ducttape/vagrant-cluster.json")
        );
    }

    /// A stand-in `vagrant` in `bin/`, first on the PATH its child gets; every run appends a
    /// line to `runs`.
    fn stand_in(dir: &Path, script_body: &str) -> Vagrant {
        use std::os::unix::fs::PermissionsExt as _;
        let bin = dir.join("bin");
        fs::create_dir_all(&bin).unwrap();
        let script = bin.join("vagrant");
        let runs = dir.join("runs");
        fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$@\" >> '{}'\n{script_body}",
                runs.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        let mut path = OsString::from(&bin);
        if let Some(inherited) = std::env::var_os("PATH") {
            path.push(":");
            path.push(inherited);
        }
        Vagrant {
            program: "vagrant".into(),
            path: Some(path),
            timeout: Duration::from_secs(20),
        }
    }

    fn runs(dir: &Path) -> usize {
        fs::read_to_string(dir.join("runs"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    #[test]
    fn load_runs_vagrant_once_and_then_reads_the_cache() {
        let (dir, text) = project();
        let d = dir.path();
        fs::write(d.join("ssh-config.out"), &text).unwrap();
        let vagrant = stand_in(
            d,
            &format!("cat '{}'\n", d.join("ssh-config.out").display()),
        );
        let cache = default_cache(d);

        let first = load_with(&vagrant, d, &cache, false).unwrap();
        assert_eq!(runs(d), 1);
        assert_eq!(fs::read_to_string(d.join("runs")).unwrap(), "ssh-config\n");
        assert_eq!(first, parse_ssh_config(&text).unwrap());
        assert_eq!(json::load(&cache).unwrap(), first);

        let second = load_with(&vagrant, d, &cache, false).unwrap();
        assert_eq!(runs(d), 1, "the cache was not used");
        assert_eq!(second, first);

        let refreshed = load_with(&vagrant, d, &cache, true).unwrap();
        assert_eq!(runs(d), 2, "refresh did not run vagrant");
        assert_eq!(refreshed, first);
    }

    #[test]
    fn load_reports_a_failing_vagrant() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let vagrant = stand_in(
            d,
            "echo 'noise' >&2\necho 'The provider for this Vagrant-managed machine is reporting that it' >&2\n\
             echo 'is not yet ready for SSH.' >&2\nexit 1\n",
        );
        let cache = default_cache(d);
        let msg = load_with(&vagrant, d, &cache, false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            format!(
                "`vagrant ssh-config` in {} failed with exit status: 1\n--- stderr (last lines) ---\n\
                 noise\nThe provider for this Vagrant-managed machine is reporting that it\nis not yet ready for SSH.",
                d.display()
            )
        );
        assert!(!cache.exists());
    }

    #[test]
    fn load_kills_a_hanging_vagrant() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut vagrant = stand_in(d, "echo 'waiting for the machine' >&2\nsleep 30\n");
        vagrant.timeout = Duration::from_millis(300);
        let started = std::time::Instant::now();
        let msg = load_with(&vagrant, d, &default_cache(d), false)
            .unwrap_err()
            .to_string();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            msg,
            format!(
                "`vagrant ssh-config` in {} did not finish within 300ms and was killed\n\
                 --- stderr (last lines) ---\nwaiting for the machine",
                d.display()
            )
        );
    }

    #[test]
    fn load_without_vagrant_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let vagrant = Vagrant {
            program: "vagrant".into(),
            path: Some(dir.path().as_os_str().to_owned()),
            timeout: TIMEOUT,
        };
        let msg = load_with(&vagrant, dir.path(), &default_cache(dir.path()), false)
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("Vagrant is not installed: cannot find `vagrant` (on PATH"),
            "{msg}"
        );
        assert!(msg.contains("JSON cluster file"), "{msg}");
        assert!(msg.contains("local cluster"), "{msg}");
    }

    #[test]
    fn load_with_a_missing_project_dir() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let vagrant = stand_in(dir.path(), "exit 0\n");
        let msg = load_with(&vagrant, &missing, &default_cache(&missing), false)
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with(&format!(
                "Vagrant project directory {}: ",
                missing.display()
            )),
            "{msg}"
        );
    }
}
