//! [`Node`]: one leased machine as a test sees it.

use super::NodeSpec;
use crate::remote::RemoteAccount;

/// A node: its name, the address services advertise, its kind and the account to drive it.
#[derive(Debug, Clone)]
pub struct Node {
    spec: NodeSpec,
    account: RemoteAccount,
}

impl Node {
    /// A node with an account.
    pub fn new(spec: NodeSpec, account: RemoteAccount) -> Self {
        Self { spec, account }
    }

    /// The node's name (`worker1`, …).
    pub fn name(&self) -> &str {
        self.spec.name()
    }

    /// The externally routable address: what goes into configs and bootstrap lists.
    pub fn address(&self) -> &str {
        &self.spec.externally_routable_ip
    }

    /// The node's kind label, if the cluster gives one.
    pub fn kind(&self) -> Option<&str> {
        self.spec.node_type.as_deref()
    }

    /// The SSH login on the node.
    pub fn account(&self) -> &RemoteAccount {
        &self.account
    }

    /// How the node is described by its cluster.
    pub fn spec(&self) -> &NodeSpec {
        &self.spec
    }
}
