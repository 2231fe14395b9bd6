//! JSON cluster files in ducktape's format, so files written for ducktape keep working.
//!
//! ```json
//! {"nodes": [{"ssh_config": {"host": "worker1", "hostname": "192.168.50.151", "user": "vagrant",
//!                            "port": 22, "identityfile": "/path/to/key", "password": null,
//!                            "connecttimeout": 10},
//!             "externally_routable_ip": "192.168.50.151",
//!             "node_type": "broker"}]}
//! ```
//!
//! What we take from ducktape (`ducktape/cluster/json.py`, `JsonCluster.__init__`, and
//! `ducktape/cluster/remoteaccount.py`, `RemoteAccountSSHConfig.__init__`):
//! - `ssh_config` is required on every node; its other keys are passed to
//!   `RemoteAccountSSHConfig(**kwargs)`, which swallows unknown keys. We tolerate unknown keys
//!   too (at every level) and log a warning, so files with extra fields keep loading.
//! - `port` defaults to 22 when missing or null, and goes through `int(port)`, so `"2222"`
//!   (a string of digits) is accepted as ducktape accepts it; `"22a"` is not.
//! - `user` may be missing: paramiko then logs in as the local user, and so do we (resolved
//!   now, like `getpass.getuser()`: `LOGNAME`, `USER`, `LNAME`, `USERNAME`, then the passwd entry).
//! - `password` and `identityfile` may be null; an empty string means "none", as paramiko
//!   treats it.
//! - `connecttimeout` (seconds) may be missing or null: we use
//!   [`SshConfig::DEFAULT_CONNECT_TIMEOUT`] where ducktape waits for the OS TCP timeout.
//!
//! Where we are stricter than ducktape, because its leniency only postpones the failure:
//! - a missing or empty `hostname` is an error (ducktape silently connects to `localhost`);
//! - a missing `externally_routable_ip` is an error (ducktape's `JsonCluster` leaves it `None`
//!   and services then advertise `None`; it does not fall back to the hostname, and for
//!   port-forwarded nodes such as Vagrant's `127.0.0.1` that fallback would be wrong anyway);
//! - an empty `nodes` list, duplicate host names and an `identityfile` that cannot be read
//!   are errors at load time rather than at first use.
//!
//! Host keys: ducktape accepts any host key. When a `known_hosts` file sits beside the cluster
//! file, or `DUCTTAPE_KNOWN_HOSTS` names one, [`load`] puts it in every node's
//! [`SshConfig::known_hosts`] and the keys are pinned.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::cluster::{NodeSpec, SshConfig};

/// Environment variable naming a known_hosts file that pins every node's host key.
pub const KNOWN_HOSTS_ENV: &str = "DUCTTAPE_KNOWN_HOSTS";

/// Name of the known_hosts file [`load`] looks for beside a cluster file.
pub const KNOWN_HOSTS_FILE: &str = "known_hosts";

/// The SSH port when a cluster file names none (ducktape's default).
pub const DEFAULT_PORT: u16 = 22;

const NODE_KEYS: [&str; 3] = ["ssh_config", "externally_routable_ip", "node_type"];
const SSH_KEYS: [&str; 7] = [
    "host",
    "hostname",
    "user",
    "port",
    "identityfile",
    "password",
    "connecttimeout",
];

/// Which node of a cluster file an error is about: its index in `nodes` and, when the
/// node names one, its host name. Displays as `nodes[2] ("worker3")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRef {
    /// Zero-based index in the `nodes` array.
    pub index: usize,
    /// `ssh_config.host`, when it is there and a string.
    pub host: Option<String>,
}

impl fmt::Display for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "nodes[{}]", self.index)?;
        match &self.host {
            Some(host) => write!(f, " ({host:?})"),
            None => Ok(()),
        }
    }
}

/// A defect in a cluster file, naming the file, the node and the field.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum ClusterFileError {
    /// The file could not be read.
    #[error("cannot read cluster file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file is not valid JSON.
    #[error("cluster file {}: invalid JSON: {source}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Line of the defect (1-based).
        line: usize,
        /// Column of the defect (1-based).
        column: usize,
        /// The parser's complaint, which also gives the line and column.
        source: serde_json::Error,
    },
    /// The file as a whole has the wrong shape (no `nodes` array, no nodes).
    #[error("cluster file {}: {problem}", path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// An entry of `nodes` is not a node (not an object).
    #[error("cluster file {}: {node}: {problem}", path.display())]
    Node {
        /// The file.
        path: PathBuf,
        /// The entry.
        node: NodeRef,
        /// What is wrong.
        problem: String,
    },
    /// A field of a node is missing or has a wrong value.
    #[error("cluster file {}: {node}: {field}: {problem}", path.display())]
    Field {
        /// The file.
        path: PathBuf,
        /// The node.
        node: NodeRef,
        /// The field, e.g. `ssh_config.port`.
        field: &'static str,
        /// What is wrong, with the value found.
        problem: String,
    },
    /// `ssh_config.identityfile` names a file that cannot be read.
    #[error(
        "cluster file {}: {node}: ssh_config.identityfile: cannot read {}: {source}",
        path.display(),
        file.display()
    )]
    IdentityFile {
        /// The cluster file.
        path: PathBuf,
        /// The node.
        node: NodeRef,
        /// The key file named.
        file: PathBuf,
        /// Why it cannot be read.
        source: io::Error,
    },
    /// Two nodes have the same `ssh_config.host`.
    #[error(
        "cluster file {}: {second}: ssh_config.host: {first} has the same name; host names must be unique",
        path.display()
    )]
    DuplicateHost {
        /// The file.
        path: PathBuf,
        /// The first node with the name.
        first: NodeRef,
        /// The node repeating it.
        second: NodeRef,
    },
    /// The known_hosts file asked for cannot be read.
    #[error(
        "cluster file {}: cannot read the known_hosts file {} named by {KNOWN_HOSTS_ENV}: {source}",
        path.display(),
        known_hosts.display()
    )]
    KnownHosts {
        /// The cluster file.
        path: PathBuf,
        /// The known_hosts file.
        known_hosts: PathBuf,
        /// Why it cannot be read.
        source: io::Error,
    },
    /// The file could not be written.
    #[error("cannot write cluster file {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

crate::human_debug!(ClusterFileError);

/// Parses the text of a cluster file; `origin` is the file's path, used in error messages.
///
/// Every node is checked, including that its `identityfile` can be read (a relative path is
/// relative to the current directory, as in ducktape). `known_hosts` is left unset: pinning
/// is [`load`]'s business.
///
/// ```
/// use ducttape_core::cluster::json;
/// use std::path::Path;
///
/// let text = r#"{"nodes": [{"ssh_config": {"host": "worker1", "hostname": "10.0.0.1",
///                                          "user": "kafka", "port": 22},
///                           "externally_routable_ip": "10.0.0.1"}]}"#;
/// let nodes = json::parse(text, Path::new("cluster.json")).unwrap();
/// assert_eq!(nodes[0].name(), "worker1");
/// assert_eq!(nodes[0].ssh.port, 22);
///
/// let err = json::parse(&text.replace("22", "\"22a\""), Path::new("cluster.json")).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     r#"cluster file cluster.json: nodes[0] ("worker1"): ssh_config.port: expected a number from 1 to 65535, found "22a""#
/// );
/// ```
pub fn parse(text: &str, origin: &Path) -> Result<Vec<NodeSpec>, ClusterFileError> {
    let root: Value = serde_json::from_str(text).map_err(|source| ClusterFileError::Syntax {
        path: origin.to_path_buf(),
        line: source.line(),
        column: source.column(),
        source,
    })?;
    let shape = |problem: String| ClusterFileError::Shape {
        path: origin.to_path_buf(),
        problem,
    };
    let Value::Object(root) = root else {
        return Err(shape(format!(
            "expected an object with a \"nodes\" array, found {}",
            describe(&root)
        )));
    };
    warn_unknown_keys(origin, None, &root, &["nodes"]);
    let nodes = match root.get("nodes") {
        Some(Value::Array(nodes)) => nodes,
        None => return Err(shape("no \"nodes\" array".to_string())),
        Some(other) => {
            return Err(shape(format!(
                "nodes: expected an array, found {}",
                describe(other)
            )))
        }
    };
    if nodes.is_empty() {
        return Err(shape(
            "\"nodes\" is empty: a cluster needs at least one node".to_string(),
        ));
    }
    let specs = nodes
        .iter()
        .enumerate()
        .map(|(index, value)| parse_node(origin, index, value))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some((first, second)) = first_duplicate(&specs) {
        let node = |index: usize| NodeRef {
            index,
            host: Some(specs[index].ssh.host.clone()),
        };
        return Err(ClusterFileError::DuplicateHost {
            path: origin.to_path_buf(),
            first: node(first),
            second: node(second),
        });
    }
    Ok(specs)
}

/// Reads and checks a cluster file (see [`parse`]), and pins host keys: if `DUCTTAPE_KNOWN_HOSTS`
/// is set, or a file named `known_hosts` sits beside the cluster file, every node's
/// [`SshConfig::known_hosts`] is set to it (the variable wins); otherwise it is `None`.
pub fn load(path: &Path) -> Result<Vec<NodeSpec>, ClusterFileError> {
    load_with(path, std::env::var_os(KNOWN_HOSTS_ENV))
}

/// [`load`] with the value of `DUCTTAPE_KNOWN_HOSTS` given, so tests need not set the variable.
fn load_with(
    path: &Path,
    known_hosts_env: Option<OsString>,
) -> Result<Vec<NodeSpec>, ClusterFileError> {
    let text = fs::read_to_string(path).map_err(|source| ClusterFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut nodes = parse(&text, path)?;
    pin_known_hosts(&mut nodes, path, known_hosts_env)?;
    Ok(nodes)
}

/// Sets every node's `known_hosts` as [`load`] describes, for the cluster file `path`
/// (`known_hosts_env` is the value of `DUCTTAPE_KNOWN_HOSTS`).
pub(crate) fn pin_known_hosts(
    nodes: &mut [NodeSpec],
    path: &Path,
    known_hosts_env: Option<OsString>,
) -> Result<(), ClusterFileError> {
    let known_hosts = match known_hosts_env.filter(|v| !v.is_empty()) {
        Some(named) => {
            let named = PathBuf::from(named);
            // Asked for explicitly: a file we cannot read is an error now, not a failed handshake later.
            if let Err(source) = fs::File::open(&named) {
                return Err(ClusterFileError::KnownHosts {
                    path: path.to_path_buf(),
                    known_hosts: named,
                    source,
                });
            }
            Some(named)
        }
        None => {
            let beside = path
                .parent()
                .unwrap_or(Path::new(""))
                .join(KNOWN_HOSTS_FILE);
            beside.is_file().then_some(beside)
        }
    };
    if known_hosts.is_none() {
        tracing::debug!(cluster_file = %path.display(), "no known_hosts file: host keys are not pinned");
    }
    for node in nodes {
        node.ssh.known_hosts.clone_from(&known_hosts);
    }
    Ok(())
}

/// Writes `nodes` as a cluster file in ducktape's format (keys sorted, as ducktape writes them;
/// only fields ducktape knows, plus `node_type` when set), atomically: a temporary file in the
/// same directory renamed over `path`. Missing parent directories are created. A file holding
/// a password is readable by its owner only.
pub fn write(path: &Path, nodes: &[NodeSpec]) -> Result<(), ClusterFileError> {
    let doc = Value::Object(Map::from_iter([(
        "nodes".to_string(),
        Value::Array(nodes.iter().map(node_json).collect()),
    )]));
    let secret = nodes.iter().any(|n| n.ssh.password.is_some());
    let mut text = serde_json::to_string_pretty(&doc).map_err(|e| ClusterFileError::Write {
        path: path.to_path_buf(),
        source: io::Error::other(e),
    })?;
    text.push('\n');
    crate::files::write_atomically(path, text.as_bytes(), if secret { 0o600 } else { 0o644 })
        .map_err(|source| ClusterFileError::Write {
            path: path.to_path_buf(),
            source,
        })
}

fn node_json(node: &NodeSpec) -> Value {
    let ssh = &node.ssh;
    let optional = |v: Option<String>| v.map_or(Value::Null, Value::String);
    let timeout = ssh.connect_timeout;
    let connecttimeout = if timeout.subsec_nanos() == 0 {
        Value::from(timeout.as_secs())
    } else {
        Value::from(timeout.as_secs_f64())
    };
    let ssh_config = Map::from_iter([
        ("host".to_string(), Value::from(ssh.host.clone())),
        ("hostname".to_string(), Value::from(ssh.hostname.clone())),
        ("user".to_string(), Value::from(ssh.user.clone())),
        ("port".to_string(), Value::from(ssh.port)),
        (
            "identityfile".to_string(),
            optional(
                ssh.identity_file
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned()),
            ),
        ),
        ("password".to_string(), optional(ssh.password.clone())),
        ("connecttimeout".to_string(), connecttimeout),
    ]);
    let mut entry = Map::from_iter([
        ("ssh_config".to_string(), Value::Object(ssh_config)),
        (
            "externally_routable_ip".to_string(),
            Value::from(node.externally_routable_ip.clone()),
        ),
    ]);
    if let Some(kind) = &node.node_type {
        entry.insert("node_type".to_string(), Value::from(kind.clone()));
    }
    Value::Object(entry)
}

/// The first pair of nodes with the same host name, as indices.
pub(crate) fn first_duplicate(nodes: &[NodeSpec]) -> Option<(usize, usize)> {
    let mut seen = HashMap::new();
    nodes
        .iter()
        .enumerate()
        .find_map(|(index, node)| seen.insert(node.name(), index).map(|first| (first, index)))
}

/// Parses a port as ducktape's `int(port)` would, accepting only 1 to 65535.
pub(crate) fn parse_port(text: &str) -> Option<u16> {
    text.trim().parse::<u16>().ok().filter(|&port| port != 0)
}

/// The local user name, found as Python's `getpass.getuser()` finds it (which is what paramiko
/// logs in as when ducktape gives it no user).
pub(crate) fn local_user() -> Option<String> {
    ["LOGNAME", "USER", "LNAME", "USERNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|user| user.name)
        })
}

/// One node being read: where it is, for error messages.
struct NodeReader<'a> {
    path: &'a Path,
    node: NodeRef,
}

impl NodeReader<'_> {
    fn error(&self, field: &'static str, problem: impl Into<String>) -> ClusterFileError {
        ClusterFileError::Field {
            path: self.path.to_path_buf(),
            node: self.node.clone(),
            field,
            problem: problem.into(),
        }
    }

    /// A string field that may be missing, null or (meaning the same) empty. `obj` holds the
    /// field's last part: `ssh_config.user` is `user` in the `ssh_config` object.
    fn optional_string(
        &self,
        obj: &Map<String, Value>,
        field: &'static str,
    ) -> Result<Option<String>, ClusterFileError> {
        let key = field.rsplit('.').next().unwrap_or(field);
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.error(
                field,
                format!("expected a string, found {}", describe(other)),
            )),
        }
    }

    /// A string field that must be there and not empty; `why` explains a missing one.
    fn required_string(
        &self,
        obj: &Map<String, Value>,
        field: &'static str,
        why: &str,
    ) -> Result<String, ClusterFileError> {
        self.optional_string(obj, field)?
            .ok_or_else(|| self.error(field, format!("missing or empty; {why}")))
    }
}

fn parse_node(path: &Path, index: usize, value: &Value) -> Result<NodeSpec, ClusterFileError> {
    let host = value
        .get("ssh_config")
        .and_then(|ssh| ssh.get("host"))
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty())
        .map(str::to_string);
    let reader = NodeReader {
        path,
        node: NodeRef { index, host },
    };
    let Value::Object(node) = value else {
        return Err(ClusterFileError::Node {
            path: path.to_path_buf(),
            node: reader.node,
            problem: format!("expected an object, found {}", describe(value)),
        });
    };
    warn_unknown_keys(path, Some(&reader.node), node, &NODE_KEYS);
    let ssh = match node.get("ssh_config") {
        Some(Value::Object(ssh)) => ssh,
        None | Some(Value::Null) => {
            return Err(reader.error("ssh_config", "missing; every node needs one"))
        }
        Some(other) => {
            return Err(reader.error(
                "ssh_config",
                format!("expected an object, found {}", describe(other)),
            ))
        }
    };
    warn_unknown_keys(path, Some(&reader.node), ssh, &SSH_KEYS);

    let host = reader.required_string(
        ssh,
        "ssh_config.host",
        "it is the node's name (e.g. \"worker1\")",
    )?;
    let hostname = reader.required_string(
        ssh,
        "ssh_config.hostname",
        "it is the address to connect to",
    )?;
    let user = match reader.optional_string(ssh, "ssh_config.user")? {
        Some(user) => user,
        None => local_user().ok_or_else(|| {
            reader.error(
                "ssh_config.user",
                "missing, and the local user name (the default) is unknown",
            )
        })?,
    };
    let port = match ssh.get("port") {
        None | Some(Value::Null) => DEFAULT_PORT,
        Some(value) => value
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .filter(|&n| n != 0)
            .or_else(|| value.as_str().and_then(parse_port))
            .ok_or_else(|| {
                reader.error(
                    "ssh_config.port",
                    format!(
                        "expected a number from 1 to 65535, found {}",
                        describe(value)
                    ),
                )
            })?,
    };
    let identity_file = reader
        .optional_string(ssh, "ssh_config.identityfile")?
        .map(PathBuf::from);
    if let Some(file) = &identity_file {
        check_readable_file(file).map_err(|source| ClusterFileError::IdentityFile {
            path: path.to_path_buf(),
            node: reader.node.clone(),
            file: file.clone(),
            source,
        })?;
    }
    let password = reader.optional_string(ssh, "ssh_config.password")?;
    let connect_timeout = match ssh.get("connecttimeout") {
        None | Some(Value::Null) => SshConfig::DEFAULT_CONNECT_TIMEOUT,
        Some(value) => value
            .as_f64()
            .or_else(|| value.as_str().and_then(|s| s.trim().parse::<f64>().ok()))
            .filter(|&secs| secs > 0.0)
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
            .ok_or_else(|| {
                reader.error(
                    "ssh_config.connecttimeout",
                    format!(
                        "expected a positive number of seconds, found {}",
                        describe(value)
                    ),
                )
            })?,
    };
    let externally_routable_ip = reader.required_string(
        node,
        "externally_routable_ip",
        "give the address other nodes use to reach this one (services put it in their configs)",
    )?;
    let node_type = reader.optional_string(node, "node_type")?;

    Ok(NodeSpec {
        ssh: SshConfig {
            host,
            hostname,
            user,
            port,
            identity_file,
            password,
            connect_timeout,
            known_hosts: None,
        },
        externally_routable_ip,
        node_type,
    })
}

/// Opens `file` for reading, and insists that it is a regular file.
pub(crate) fn check_readable_file(file: &Path) -> io::Result<()> {
    let opened = fs::File::open(file)?;
    if opened.metadata()?.is_file() {
        Ok(())
    } else {
        Err(io::Error::other("not a regular file"))
    }
}

fn warn_unknown_keys(
    path: &Path,
    node: Option<&NodeRef>,
    obj: &Map<String, Value>,
    known: &[&str],
) {
    for key in obj.keys().filter(|k| !known.contains(&k.as_str())) {
        let node = node.map(ToString::to_string).unwrap_or_default();
        tracing::warn!(cluster_file = %path.display(), node, key, "unknown key in cluster file, ignored");
    }
}

/// A JSON value as an error message shows it: strings quoted, long ones shortened, containers
/// by kind.
fn describe(value: &Value) -> String {
    const MAX: usize = 60;
    match value {
        Value::String(s) if s.chars().count() > MAX => {
            let short: String = s.chars().take(MAX).collect();
            format!("{:?}", short + "…")
        }
        Value::Object(_) => "an object".to_string(),
        Value::Array(_) => "an array".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const ORIGIN: &str = "/x/c.json";

    /// A valid three-node file; tests break one thing in it.
    fn valid() -> Value {
        let node = |i: u32| {
            serde_json::json!({
                "ssh_config": {"host": format!("worker{i}"), "hostname": format!("10.0.0.{i}"),
                               "user": "kafka", "port": 22, "identityfile": null,
                               "password": null},
                "externally_routable_ip": format!("10.0.0.{i}"),
            })
        };
        serde_json::json!({"nodes": [node(1), node(2), node(3)]})
    }

    fn parse_value(doc: &Value) -> Result<Vec<NodeSpec>, ClusterFileError> {
        parse(&doc.to_string(), Path::new(ORIGIN))
    }

    /// The message for `doc`, which must be rejected.
    fn error_of(doc: &Value) -> String {
        match parse_value(doc) {
            Ok(nodes) => panic!("accepted: {nodes:?}"),
            Err(err) => err.to_string(),
        }
    }

    /// The message when node 2 (worker3) gets `ssh_config[key] = value`.
    fn ssh_field_error(key: &str, value: Value) -> String {
        let mut doc = valid();
        doc["nodes"][2]["ssh_config"][key] = value;
        error_of(&doc)
    }

    /// The message when the object at `pointer` in a valid file loses `key`.
    fn error_without(pointer: &str, key: &str) -> String {
        let mut doc = valid();
        without(&mut doc, pointer, key);
        error_of(&doc)
    }

    fn assert_starts(msg: &str, prefix: impl AsRef<str>) {
        assert!(msg.starts_with(prefix.as_ref()), "{msg}");
    }

    fn assert_ends(msg: &str, suffix: impl AsRef<str>) {
        assert!(msg.ends_with(suffix.as_ref()), "{msg}");
    }

    fn assert_contains(msg: &str, part: &str) {
        assert!(msg.contains(part), "{msg}");
    }

    fn without(doc: &mut Value, pointer: &str, key: &str) {
        if let Some(Value::Object(obj)) = doc.pointer_mut(pointer) {
            obj.remove(key);
        }
    }

    #[test]
    fn valid_file_parses() {
        let nodes = parse_value(&valid()).unwrap();
        assert_eq!(nodes.len(), 3);
        let n = &nodes[1];
        assert_eq!(n.name(), "worker2");
        assert_eq!(n.ssh.hostname, "10.0.0.2");
        assert_eq!(n.ssh.user, "kafka");
        assert_eq!(n.ssh.port, 22);
        assert_eq!(n.ssh.identity_file, None);
        assert_eq!(n.ssh.password, None);
        assert_eq!(n.ssh.connect_timeout, SshConfig::DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(n.ssh.known_hosts, None);
        assert_eq!(n.externally_routable_ip, "10.0.0.2");
        assert_eq!(n.node_type, None);
    }

    #[test]
    fn unreadable_file_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.json");
        let msg = load_with(&path, None).unwrap_err().to_string();
        assert_starts(
            &msg,
            format!("cannot read cluster file {}: ", path.display()),
        );
    }

    #[test]
    fn invalid_json_gives_line_and_column() {
        let err = parse("{\n  \"nodes\": [\n    {,}\n  ]\n}", Path::new(ORIGIN)).unwrap_err();
        let msg = err.to_string();
        assert_starts(&msg, "cluster file /x/c.json: invalid JSON: ");
        assert_contains(&msg, "line 3 column 6");
        assert!(matches!(
            err,
            ClusterFileError::Syntax {
                line: 3,
                column: 6,
                ..
            }
        ));
    }

    #[test]
    fn root_must_be_an_object() {
        let msg = parse("[]", Path::new(ORIGIN)).unwrap_err().to_string();
        assert_eq!(
            msg,
            "cluster file /x/c.json: expected an object with a \"nodes\" array, found an array"
        );
    }

    #[test]
    fn nodes_array_is_required() {
        let msg = parse(r#"{"node": []}"#, Path::new(ORIGIN))
            .unwrap_err()
            .to_string();
        assert_eq!(msg, "cluster file /x/c.json: no \"nodes\" array");
        let msg = parse(r#"{"nodes": {}}"#, Path::new(ORIGIN))
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "cluster file /x/c.json: nodes: expected an array, found an object"
        );
    }

    #[test]
    fn empty_nodes_is_an_error() {
        let msg = parse(r#"{"nodes": []}"#, Path::new(ORIGIN))
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "cluster file /x/c.json: \"nodes\" is empty: a cluster needs at least one node"
        );
    }

    #[test]
    fn node_must_be_an_object() {
        let mut doc = valid();
        doc["nodes"][1] = Value::from("worker2");
        let msg = error_of(&doc);
        assert_eq!(
            msg,
            "cluster file /x/c.json: nodes[1]: expected an object, found \"worker2\""
        );
    }

    #[test]
    fn missing_ssh_config() {
        let msg = error_without("/nodes/0", "ssh_config");
        assert_eq!(
            msg,
            "cluster file /x/c.json: nodes[0]: ssh_config: missing; every node needs one"
        );
        let mut doc = valid();
        doc["nodes"][0]["ssh_config"] = Value::from(7);
        let msg = error_of(&doc);
        assert_eq!(
            msg,
            "cluster file /x/c.json: nodes[0]: ssh_config: expected an object, found 7"
        );
    }

    #[test]
    fn missing_or_empty_host() {
        let msg = error_without("/nodes/1/ssh_config", "host");
        assert_starts(
            &msg,
            "cluster file /x/c.json: nodes[1]: ssh_config.host: missing or empty; ",
        );
        let msg = ssh_field_error("host", Value::from(""));
        assert_starts(
            &msg,
            "cluster file /x/c.json: nodes[2]: ssh_config.host: missing or empty",
        );
        let msg = ssh_field_error("host", Value::from(3));
        assert_eq!(
            msg,
            "cluster file /x/c.json: nodes[2]: ssh_config.host: expected a string, found 3"
        );
    }

    #[test]
    fn missing_or_empty_hostname() {
        let msg = error_without("/nodes/2/ssh_config", "hostname");
        assert_eq!(
            msg,
            "cluster file /x/c.json: nodes[2] (\"worker3\"): ssh_config.hostname: \
             missing or empty; it is the address to connect to"
        );
        let msg = ssh_field_error("hostname", Value::from(""));
        assert_contains(
            &msg,
            "nodes[2] (\"worker3\"): ssh_config.hostname: missing or empty",
        );
    }

    #[test]
    fn bad_port() {
        assert_eq!(
            ssh_field_error("port", Value::from("22a")),
            "cluster file /x/c.json: nodes[2] (\"worker3\"): ssh_config.port: \
             expected a number from 1 to 65535, found \"22a\""
        );
        for (value, shown) in [
            (Value::from(0), "0"),
            (Value::from(65536), "65536"),
            (Value::from(-1), "-1"),
            (Value::from(22.5), "22.5"),
            (Value::from(true), "true"),
            (serde_json::json!([22]), "an array"),
        ] {
            let msg = ssh_field_error("port", value);
            assert_ends(&msg, format!(
                    "nodes[2] (\"worker3\"): ssh_config.port: expected a number from 1 to 65535, found {shown}"
                ));
        }
    }

    #[test]
    fn port_like_ducktape_reads_it() {
        let mut doc = valid();
        doc["nodes"][0]["ssh_config"]["port"] = Value::from("2222");
        doc["nodes"][1]["ssh_config"]["port"] = Value::Null;
        without(&mut doc, "/nodes/2/ssh_config", "port");
        let nodes = parse_value(&doc).unwrap();
        let ports: Vec<u16> = nodes.iter().map(|n| n.ssh.port).collect();
        assert_eq!(ports, [2222, 22, 22]);
    }

    #[test]
    fn missing_user_is_the_local_user() {
        let mut doc = valid();
        without(&mut doc, "/nodes/0/ssh_config", "user");
        let nodes = parse_value(&doc).unwrap();
        assert_eq!(Some(nodes[0].ssh.user.clone()), local_user());
        assert_eq!(
            ssh_field_error("user", Value::from(false)),
            "cluster file /x/c.json: nodes[2] (\"worker3\"): ssh_config.user: expected a string, found false"
        );
    }

    #[test]
    fn identity_file_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("no such key");
        let msg = ssh_field_error("identityfile", Value::from(key.to_str().unwrap()));
        assert_starts(&msg, format!(
                "cluster file /x/c.json: nodes[2] (\"worker3\"): ssh_config.identityfile: cannot read {}: ",
                key.display()
            ));
        assert_contains(&msg, "No such file");
    }

    #[test]
    fn identity_file_must_be_a_readable_file() {
        let dir = tempfile::tempdir().unwrap();
        let msg = ssh_field_error("identityfile", Value::from(dir.path().to_str().unwrap()));
        assert_ends(
            &msg,
            format!(
                "ssh_config.identityfile: cannot read {}: not a regular file",
                dir.path().display()
            ),
        );
        // Permissions do not stop root, so this half only means something for other users.
        if !nix::unistd::geteuid().is_root() {
            use std::os::unix::fs::PermissionsExt as _;
            let key = dir.path().join("id_rsa");
            fs::write(&key, "key").unwrap();
            fs::set_permissions(&key, fs::Permissions::from_mode(0o000)).unwrap();
            let msg = ssh_field_error("identityfile", Value::from(key.to_str().unwrap()));
            assert_contains(&msg, "Permission denied");
        }
    }

    #[test]
    fn duplicate_host_names() {
        let mut doc = valid();
        doc["nodes"][2]["ssh_config"]["host"] = Value::from("worker1");
        let msg = error_of(&doc);
        assert_eq!(
            msg,
            "cluster file /x/c.json: nodes[2] (\"worker1\"): ssh_config.host: \
             nodes[0] (\"worker1\") has the same name; host names must be unique"
        );
    }

    #[test]
    fn missing_externally_routable_ip() {
        let msg = error_without("/nodes/2", "externally_routable_ip");
        assert_starts(&msg, "cluster file /x/c.json: nodes[2] (\"worker3\"): externally_routable_ip: missing or empty; ");
        let mut doc = valid();
        doc["nodes"][2]["externally_routable_ip"] = serde_json::json!({"ip": "10.0.0.3"});
        let msg = error_of(&doc);
        assert_ends(
            &msg,
            "externally_routable_ip: expected a string, found an object",
        );
    }

    #[test]
    fn bad_connect_timeout() {
        for (value, shown) in [
            (Value::from(0), "0"),
            (Value::from(-5), "-5"),
            (Value::from("soon"), "\"soon\""),
            (Value::from(false), "false"),
        ] {
            let msg = ssh_field_error("connecttimeout", value);
            assert_eq!(
                msg,
                format!(
                    "cluster file /x/c.json: nodes[2] (\"worker3\"): ssh_config.connecttimeout: \
                     expected a positive number of seconds, found {shown}"
                )
            );
        }
        let mut doc = valid();
        doc["nodes"][0]["ssh_config"]["connecttimeout"] = Value::from(2.5);
        doc["nodes"][1]["ssh_config"]["connecttimeout"] = Value::from("30");
        let nodes = parse_value(&doc).unwrap();
        assert_eq!(nodes[0].ssh.connect_timeout, Duration::from_millis(2500));
        assert_eq!(nodes[1].ssh.connect_timeout, Duration::from_secs(30));
    }

    #[test]
    fn wrong_types_of_optional_fields() {
        assert_eq!(
            ssh_field_error("password", Value::from(1234)),
            "cluster file /x/c.json: nodes[2] (\"worker3\"): ssh_config.password: expected a string, found 1234"
        );
        let mut doc = valid();
        doc["nodes"][0]["node_type"] = Value::from(1);
        assert_eq!(
            error_of(&doc),
            "cluster file /x/c.json: nodes[0] (\"worker1\"): node_type: expected a string, found 1"
        );
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let msg = ssh_field_error("port", Value::from("9".repeat(200)));
        assert_ends(&msg, format!("found \"{}…\"", "9".repeat(60)));
    }

    #[tracing_test::traced_test]
    #[test]
    fn unknown_keys_are_tolerated_with_a_warning() {
        let mut doc = valid();
        doc["is_aws"] = Value::from(false);
        doc["nodes"][0]["rack"] = Value::from("r1");
        doc["nodes"][0]["ssh_config"]["forwardagent"] = Value::from("yes");
        let nodes = parse_value(&doc).unwrap();
        assert_eq!(nodes.len(), 3);
        assert!(logs_contain("unknown key in cluster file"));
        assert!(logs_contain("is_aws"));
        assert!(logs_contain("rack"));
        assert!(logs_contain("forwardagent"));
    }

    #[test]
    fn empty_password_and_identityfile_mean_none() {
        let mut doc = valid();
        doc["nodes"][0]["ssh_config"]["password"] = Value::from("");
        doc["nodes"][0]["ssh_config"]["identityfile"] = Value::from("");
        let nodes = parse_value(&doc).unwrap();
        assert_eq!(nodes[0].ssh.password, None);
        assert_eq!(nodes[0].ssh.identity_file, None);
    }

    fn sample_nodes(dir: &Path) -> Vec<NodeSpec> {
        let key = dir.join("id key");
        fs::write(&key, "not a real key").unwrap();
        vec![
            NodeSpec {
                ssh: SshConfig {
                    host: "worker1".into(),
                    hostname: "127.0.0.1".into(),
                    user: "vagrant".into(),
                    port: 2222,
                    identity_file: Some(key),
                    password: None,
                    connect_timeout: Duration::from_secs(10),
                    known_hosts: None,
                },
                externally_routable_ip: "192.168.50.151".into(),
                node_type: Some("broker".into()),
            },
            NodeSpec {
                ssh: SshConfig {
                    host: "worker2".into(),
                    hostname: "10.1.2.3".into(),
                    user: "kafka".into(),
                    port: 22,
                    identity_file: None,
                    password: Some("secret".into()),
                    connect_timeout: Duration::from_millis(1500),
                    known_hosts: None,
                },
                externally_routable_ip: "10.1.2.3".into(),
                node_type: None,
            },
        ]
    }

    /// A temporary directory with [`sample_nodes`] written to `name` in it.
    fn written(name: &str) -> (tempfile::TempDir, PathBuf, Vec<NodeSpec>) {
        let dir = tempfile::tempdir().unwrap();
        let nodes = sample_nodes(dir.path());
        let path = dir.path().join(name);
        write(&path, &nodes).unwrap();
        (dir, path, nodes)
    }

    #[test]
    fn write_then_load_round_trips() {
        use std::os::unix::fs::PermissionsExt as _;
        let (_dir, path, nodes) = written("sub/dir/cluster.json");
        assert_eq!(load_with(&path, None).unwrap(), nodes);
        // Holds a password: owner only.
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // No temporary files left behind.
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["cluster.json"]);
        // Overwriting works too.
        write(&path, &nodes[..1]).unwrap();
        assert_eq!(load_with(&path, None).unwrap(), nodes[..1]);
    }

    #[test]
    fn written_file_has_only_ducktape_fields() {
        let (_dir, path, _) = written("cluster.json");
        let doc: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
        assert_eq!(keys(&doc), ["nodes"]);
        assert_eq!(
            keys(&doc["nodes"][0]),
            ["externally_routable_ip", "node_type", "ssh_config"]
        );
        assert_eq!(
            keys(&doc["nodes"][1]),
            ["externally_routable_ip", "ssh_config"]
        );
        assert_eq!(keys(&doc["nodes"][0]["ssh_config"]), {
            let mut k = SSH_KEYS.map(String::from).to_vec();
            k.sort();
            k
        });
        assert_eq!(doc["nodes"][0]["ssh_config"]["connecttimeout"], 10);
        assert_eq!(doc["nodes"][1]["ssh_config"]["connecttimeout"], 1.5);
        assert_eq!(doc["nodes"][1]["ssh_config"]["identityfile"], Value::Null);
    }

    #[test]
    fn known_hosts_beside_the_file_pins_every_node() {
        let (dir, path, _) = written("cluster.json");
        assert!(load_with(&path, None)
            .unwrap()
            .iter()
            .all(|n| n.ssh.known_hosts.is_none()));

        let beside = dir.path().join(KNOWN_HOSTS_FILE);
        fs::write(&beside, "").unwrap();
        let nodes = load_with(&path, None).unwrap();
        assert!(nodes
            .iter()
            .all(|n| n.ssh.known_hosts.as_deref() == Some(beside.as_path())));

        // The variable wins over the file beside.
        let named = dir.path().join("elsewhere");
        fs::write(&named, "").unwrap();
        let nodes = load_with(&path, Some(named.clone().into())).unwrap();
        assert!(nodes
            .iter()
            .all(|n| n.ssh.known_hosts.as_deref() == Some(named.as_path())));
    }

    #[test]
    fn known_hosts_named_by_the_variable_must_exist() {
        let (dir, path, _) = written("cluster.json");
        let named = dir.path().join("nope");
        let msg = load_with(&path, Some(named.clone().into()))
            .unwrap_err()
            .to_string();
        assert_starts(&msg, format!(
                "cluster file {}: cannot read the known_hosts file {} named by DUCTTAPE_KNOWN_HOSTS: ",
                path.display(),
                named.display()
            ));
    }

    /// Files as ducktape users have them: the example from ducktape's `JsonCluster` docstring
    /// (`null` password, non-default ports, one shared key), and one as ducktape's own
    /// `VagrantCluster` caches it (sorted keys, `connecttimeout: null`, an extra top-level key).
    #[test]
    fn ducktape_files_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/clusters");
        let path = dir.join("ducktape-vagrant.json");
        let text = fs::read_to_string(&path).unwrap();
        // The key path in the file is relative to the package (cargo runs tests there); made
        // absolute so the test does not depend on the current directory.
        let key = dir.join("id_test_key");
        let text = text.replace("testdata/clusters/id_test_key", key.to_str().unwrap());
        let nodes = parse(&text, &path).unwrap();
        let summary: Vec<_> = nodes
            .iter()
            .map(|n| {
                (
                    n.name(),
                    n.ssh.hostname.as_str(),
                    n.ssh.port,
                    n.ssh.user.as_str(),
                    n.externally_routable_ip.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("worker1", "127.0.0.1", 2222, "vagrant", "192.168.50.151"),
                ("worker2", "127.0.0.1", 2200, "vagrant", "192.168.50.152"),
                ("worker3", "127.0.0.1", 2201, "vagrant", "192.168.50.153"),
            ]
        );
        assert!(nodes
            .iter()
            .all(|n| n.ssh.identity_file.as_deref() == Some(key.as_path())
                && n.ssh.password.is_none()
                && n.node_type.is_none()));

        let path = dir.join("ducktape-cached.json");
        let text = fs::read_to_string(&path)
            .unwrap()
            .replace("testdata/clusters/id_test_key", key.to_str().unwrap());
        let nodes = parse(&text, &path).unwrap();
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[1].ssh.host, "ducker03");
        assert_eq!(nodes[1].node_type.as_deref(), Some("client"));
        assert_eq!(
            nodes[1].ssh.connect_timeout,
            SshConfig::DEFAULT_CONNECT_TIMEOUT
        );
    }
}
