//! What a cluster source hands over about each node: how to reach it over SSH and the
//! address services should advertise. Sources (local, JSON file, Vagrant) produce these;
//! the lease and the [`RemoteAccount`](crate::remote::RemoteAccount) consume them.

use std::path::PathBuf;
use std::time::Duration;

/// How to open an SSH connection to a node: the fields of ducktape's `ssh_config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshConfig {
    /// The node's name (ducktape's `host`), e.g. `worker1`.
    pub host: String,
    /// Address or DNS name to connect to (ducktape's `hostname`).
    pub hostname: String,
    /// Login user.
    pub user: String,
    /// TCP port of the node's sshd.
    pub port: u16,
    /// Private key file used to authenticate.
    pub identity_file: Option<PathBuf>,
    /// Password, when the node takes one instead of (or besides) a key.
    pub password: Option<String>,
    /// How long to wait for the TCP connect and SSH handshake.
    pub connect_timeout: Duration,
    /// A known_hosts file holding the node's host key. When set, the key is pinned: a
    /// mismatch or a missing entry fails the connection. When unset, any host key is
    /// accepted (as ducktape and `vagrant ssh-config` do) and a warning is logged.
    pub known_hosts: Option<PathBuf>,
}

impl SshConfig {
    /// The default connect timeout when a cluster file names none.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
}

/// One node as a cluster source describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// How to reach the node.
    pub ssh: SshConfig,
    /// The address other nodes use to reach services on this node (put into configs).
    pub externally_routable_ip: String,
    /// Free-form kind label (ducktape's `node_type`), used to lease nodes by kind.
    pub node_type: Option<String>,
}

impl NodeSpec {
    /// The node's name.
    pub fn name(&self) -> &str {
        &self.ssh.host
    }
}
