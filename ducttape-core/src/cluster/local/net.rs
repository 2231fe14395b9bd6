//! The host side of a local cluster's network: one bridge per slot (`dtb<slot>`, holding the
//! gateway address `.1`), one veth pair per node (host end `dt<slot>n<i>` on the bridge, the
//! other end `eth0` inside the node), and, where bridged traffic passes through iptables
//! (`br_netfilter`), a FORWARD rule letting the bridge talk to itself.
//!
//! Clusters under different state roots have separate slot locks, so the bridge itself is the
//! token: it is created atomically by [`NetTools::claim_bridge`], labelled with its owner (the
//! slot's state directory) through the interface alias, and deleted last, after every veth of
//! the slot is gone. A cluster never deletes links of a bridge it does not own.

use super::cmd::{self, find_binary};
use super::LocalClusterError;
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the kernel says whether bridged IPv4 goes through iptables.
const BRIDGE_NF_CALL_IPTABLES: &str = "/proc/sys/net/bridge/bridge-nf-call-iptables";
/// How long the veths of dead namespaces may take to vanish (the kernel destroys a network
/// namespace asynchronously, usually within milliseconds).
const VETH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The bridge of a slot.
pub(super) fn bridge_name(slot: u8) -> String {
    format!("dtb{slot}")
}

/// What the host ends of a slot's veths start with (`dt<slot>n`).
pub(super) fn veth_prefix(slot: u8) -> String {
    format!("dt{slot}n")
}

/// The host end of node `index`'s veth pair (`index` 0 is worker1): at most 9 characters.
pub(super) fn veth_name(slot: u8, index: usize) -> String {
    format!("{}{}", veth_prefix(slot), index + 1)
}

/// A node's end to attach: the host-side veth name and a pid inside the node's network namespace.
pub(super) struct Attachment {
    /// Host end, see [`veth_name`].
    pub veth: String,
    /// A process in the node's network namespace.
    pub netns_pid: u32,
}

/// `ip` and, if installed, `iptables`.
#[derive(Debug, Clone)]
pub(super) struct NetTools {
    ip: PathBuf,
    iptables: Option<PathBuf>,
}

impl NetTools {
    /// Finds the programs; `iptables` is optional (without it there are no rules to get past).
    pub fn find() -> Result<Self, LocalClusterError> {
        Ok(Self {
            ip: find_binary("ip")?,
            iptables: find_binary("iptables").ok(),
        })
    }

    /// The `ip` binary, also used inside nodes.
    pub fn ip(&self) -> &Path {
        &self.ip
    }

    /// The `iptables` binary, if installed.
    pub fn iptables(&self) -> Option<&Path> {
        self.iptables.as_deref()
    }

    /// Gives the slot's bridge (see [`NetTools::claim_bridge`]) `gateway/24` and attaches every
    /// node, in one `ip -batch`.
    pub fn create(
        &self,
        slot: u8,
        owner: &Path,
        gateway: Ipv4Addr,
        nodes: &[Attachment],
    ) -> Result<(), LocalClusterError> {
        let bridge = bridge_name(slot);
        let owner = owner.display();
        let mut batch = format!(
            "addr add {gateway}/24 dev {bridge}\n\
             link set {bridge} up\n"
        );
        for node in nodes {
            let (veth, pid) = (&node.veth, node.netns_pid);
            batch.push_str(&format!(
                "link add {veth} type veth peer name eth0 netns {pid}\n\
                 link set {veth} alias {owner} master {bridge} up\n"
            ));
        }
        cmd::run(
            format!("configuring bridge {bridge} and creating its veths"),
            Command::new(&self.ip).args(["-batch", "-"]),
            Some(batch.as_bytes()),
        )?;
        self.allow_bridged_forwarding(&bridge)
    }

    /// Takes down the slot's network if `owner` owns its bridge: the FORWARD rule, the veths,
    /// and — once no veth of the slot is left — the bridge. Returns whether the slot's network
    /// is gone; `false` (logged) when veths would not go, in which case the bridge stays so
    /// that no other cluster takes the slot while they are there.
    ///
    /// The bridge is the slot's token across state roots (see [`NetTools::claim_bridge`]):
    /// whoever owns it owns every `dt<slot>n<i>`, and it goes last.
    pub fn release(&self, slot: u8, owner: &Path) -> bool {
        let bridge = bridge_name(slot);
        if !link_exists(&bridge) {
            return true;
        }
        if !owned_by(&bridge, owner) {
            tracing::debug!(bridge, owner = %owner.display(), "bridge belongs to another cluster; left alone");
            return true;
        }
        self.remove_forward_rules(&bridge);
        // Deleting a veth removes both ends at once; left to its namespace's death it is lazy.
        self.delete_links(&bridge, &slot_veths(slot));
        let veths_gone = super::poll(VETH_TIMEOUT, || {
            Ok(slot_veths(slot).is_empty().then_some(()))
        });
        if !matches!(veths_gone, Ok(Some(()))) {
            tracing::warn!(bridge, veths = ?slot_veths(slot), "veths still there after {VETH_TIMEOUT:?}; keeping the bridge");
            return false;
        }
        self.delete_links(&bridge, std::slice::from_ref(&bridge));
        // Another cluster may have claimed the name the moment it was free.
        !(link_exists(&bridge) && owned_by(&bridge, owner))
    }

    fn delete_links(&self, bridge: &str, links: &[String]) {
        if links.is_empty() {
            return;
        }
        let batch: String = links
            .iter()
            .map(|link| format!("link del {link}\n"))
            .collect();
        // -force: go on past links that vanished meanwhile (a veth dies with its namespace).
        let deleted = cmd::run(
            format!("deleting links of {bridge}"),
            Command::new(&self.ip).args(["-force", "-batch", "-"]),
            Some(batch.as_bytes()),
        );
        if let Err(error) = deleted {
            tracing::debug!(%error, "some links were already gone");
        }
    }

    /// Creates the slot's bridge, labelled with `owner`; `false` when it exists already (another
    /// state root's cluster has the slot). The kernel arbitrates: creating a link is atomic,
    /// checking first and creating then would not be.
    pub fn claim_bridge(&self, slot: u8, owner: &Path) -> Result<bool, LocalClusterError> {
        let bridge = bridge_name(slot);
        let batch = format!(
            "link add {bridge} type bridge\nlink set {bridge} alias {}\n",
            owner.display()
        );
        let what = format!("creating bridge {bridge}");
        match cmd::run(
            what,
            Command::new(&self.ip).args(["-batch", "-"]),
            Some(batch.as_bytes()),
        ) {
            Ok(_) => Ok(true),
            Err(_) if link_exists(&bridge) && !owned_by(&bridge, owner) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// With `br_netfilter` loaded and `bridge-nf-call-iptables = 1`, frames between two ports
    /// of the bridge traverse iptables' FORWARD chain, which Docker and firewalls set to DROP.
    fn allow_bridged_forwarding(&self, bridge: &str) -> Result<(), LocalClusterError> {
        if fs::read_to_string(BRIDGE_NF_CALL_IPTABLES)
            .map(|v| v.trim() != "1")
            .unwrap_or(true)
        {
            return Ok(());
        }
        let Some(iptables) = &self.iptables else {
            tracing::warn!("{BRIDGE_NF_CALL_IPTABLES} is 1 but iptables is not installed: traffic between nodes may be dropped");
            return Ok(());
        };
        cmd::run(
            format!("allowing traffic across {bridge} in iptables FORWARD ({BRIDGE_NF_CALL_IPTABLES} is 1)"),
            Command::new(iptables).args(["-w", "-I"]).args(forward_rule(bridge)),
            None,
        )
        .map(drop)
    }

    fn remove_forward_rules(&self, bridge: &str) {
        let Some(iptables) = &self.iptables else {
            return;
        };
        // One rule per start; a few attempts cover repeated crashes. Each failed -D is a miss.
        for _ in 0..4 {
            let removed = Command::new(iptables)
                .args(["-w", "-D"])
                .args(forward_rule(bridge))
                .output();
            if !matches!(removed, Ok(ref output) if output.status.success()) {
                break;
            }
            tracing::debug!(bridge, "removed iptables FORWARD rule");
        }
    }
}

/// The iptables rule (after `-I`/`-D`) that lets `bridge` forward to itself.
pub(super) fn forward_rule(bridge: &str) -> [&str; 7] {
    ["FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"]
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Whether `link` is labelled with `owner`. An unlabelled bridge (its creator is between
/// `link add` and `link set alias`, or died there) is nobody's: never deleted, never reused.
fn owned_by(link: &str, owner: &Path) -> bool {
    let alias = fs::read_to_string(Path::new("/sys/class/net").join(link).join("ifalias"))
        .unwrap_or_default();
    Path::new(alias.trim()) == owner
}

/// The slot's host-side veths that exist now.
fn slot_veths(slot: u8) -> Vec<String> {
    let veth_prefix = veth_prefix(slot);
    let Ok(entries) = fs::read_dir("/sys/class/net") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| {
            name.strip_prefix(&veth_prefix)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect()
}
