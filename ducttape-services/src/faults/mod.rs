//! Faults on nodes, one family: network partitions, random packet loss, bandwidth limits,
//! network delay, process pauses, full disks and clock skew.
//!
//! Every kind of fault is a [`FaultKind`]: it is applied by a method of [`Faults`], and it
//! knows how to heal and describe itself on a node (one shell script each, in this folder's
//! file for the kind: `net.rs`, `delay.rs`, `pause.rs`, `disk.rs`, `clock.rs`). Healing a node heals
//! *every* kind — the list is [`FaultKind::ALL`], declared with the enum from one list, and the
//! scripts are chosen by an exhaustive `match`, so a new kind cannot be added without its heal,
//! and cannot survive a heal. Whatever a fault needs to be undone (the process groups it
//! stopped, the disks it filled, the proxy it started) is written down on the node itself under
//! `/tmp/ducttape-faults/`, so a heal needs no memory of the test's.
//!
//! Faults are applied on the nodes themselves, as root (or with `sudo -n` for another user):
//! - network kinds: iptables rules in a chain of our own (`DUCTTAPE`, hooked into INPUT and
//!   OUTPUT), each rule marked with its kind's comment, so healing a kind deletes its rules;
//!   traffic with the test driver is exempt, so the test keeps control of a node it cut off.
//!   Bandwidth is limited with a `tbf` queueing discipline (`tc netem` is not available on
//!   every kernel — not on this one; `tbf` and iptables' `statistic` match are).
//! - [`delay`](Faults::delay): without netem, a userspace proxy on the node that new TCP
//!   connections to a port are redirected through (iptables `REDIRECT`); it holds data, not
//!   packets — what it cannot do is listed in `delay.rs`.
//! - [`pause`](Faults::pause): SIGSTOP to the whole process group of a service on a node (the
//!   group [`RemoteAccount::spawn`](ducttape_core::remote::RemoteAccount::spawn) starts: the
//!   wrapping shell *and* the JVM), SIGCONT to heal.
//! - [`fill_disk`](Faults::fill_disk): fills a size-limited filesystem (a `tmpfs` mounted by
//!   [`limit_disk`](Faults::limit_disk) over a service's data directory, inside the node's mount
//!   namespace) with a ballast file; healing deletes the ballast. A node's real disk is never
//!   filled: `fill_disk` refuses any path `limit_disk` did not mount.
//!
//! - [`skew_clock`](Faults::skew_clock): moves the wall clock of the JVMs on a node that
//!   [`fake_clock`](Faults::fake_clock) prepared before they started (libfaketime preloaded
//!   into every JVM started there, reading its offset from a file on the node); healing sets
//!   the offset back to `+0`. Not the node's own clock, nor its other processes': what it
//!   cannot do is listed in `clock.rs`.
//!
//! A [`Faults`] handle is registered with the test context: whatever way the test ends, every
//! node it touched is healed at teardown (and the limited disks unmounted). Make it *after* the
//! services it acts on are built, so teardown heals before it stops them. Every fault opens a
//! window in the report (`fault_start`), which healing its node closes (`fault_heal`).
//!
//! ```no_run
//! # async fn demo(ctx: &ducttape_core::TestContext, nodes: Vec<ducttape_core::cluster::Node>) -> Result<(), ducttape_services::ServiceError> {
//! use ducttape_services::faults::Faults;
//! let faults = Faults::new(ctx);
//! faults.partition(&nodes[..1], &nodes[1..]).await?; // node 0 cannot talk to the others
//! // … check the cluster copes …
//! faults.heal_all().await?;
//! assert!(faults.describe(&nodes[0]).await?.is_empty()); // no fault of any kind is left
//! # Ok(()) }
//! ```

mod clock;
mod delay;
mod disk;
mod net;
mod pause;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ducttape_core::cluster::Node;
use ducttape_core::context::{Teardown, TestContext};
use ducttape_core::remote::quote;
use futures::future::{join_all, BoxFuture};

pub(crate) use clock::JVM_PREFIX as JVM_CLOCK_PREFIX;

use crate::error::{ResultExt, ServiceError};
use crate::service::Service;

/// Where faults keep, on the node, what they need to be healed.
const STATE: &str = "/tmp/ducttape-faults";

/// Declares [`FaultKind`] with [`FaultKind::ALL`] and [`FaultKind::name`] from one list, so a
/// kind cannot be added without being in `ALL` — the list every heal goes through.
macro_rules! fault_kinds {
    ($($(#[$doc:meta])* $kind:ident => $name:literal,)*) => {
        /// A kind of fault. Each kind heals and describes itself on a node; [`Faults`] applies it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum FaultKind {
            $($(#[$doc])* $kind,)*
        }

        impl FaultKind {
            /// Every kind: what a heal heals.
            pub const ALL: &'static [FaultKind] = &[$(FaultKind::$kind),*];

            /// The kind's name, as in `fault_start` events and [`Faults::describe`].
            pub fn name(self) -> &'static str {
                match self {
                    $(FaultKind::$kind => $name,)*
                }
            }
        }
    };
}

fault_kinds! {
    /// Traffic between two sets of nodes dropped ([`Faults::partition`]).
    Partition => "partition",
    /// A share of a node's packets dropped at random ([`Faults::packet_loss`]).
    PacketLoss => "packet_loss",
    /// A node's outgoing bandwidth limited ([`Faults::rate_limit`]).
    RateLimit => "rate_limit",
    /// TCP connections to a port of a node delayed ([`Faults::delay`]).
    Delay => "delay",
    /// A service's processes on a node stopped ([`Faults::pause`]).
    Pause => "pause",
    /// A node's limited disk filled ([`Faults::fill_disk`]).
    DiskFull => "disk_full",
    /// The wall clock of a node's JVMs moved ([`Faults::skew_clock`]).
    ClockSkew => "clock_skew",
}

impl FaultKind {
    /// Shell (run as root on `node`) that removes every fault of this kind and fails, saying
    /// what stayed, if one is left.
    fn heal_script(self, node: &Node) -> String {
        match self {
            FaultKind::Partition | FaultKind::PacketLoss => net::heal_rules(self.name()),
            FaultKind::RateLimit => net::heal_rate(node.address()),
            FaultKind::Delay => delay::heal(),
            FaultKind::Pause => pause::heal(),
            FaultKind::DiskFull => disk::heal(),
            FaultKind::ClockSkew => clock::heal(),
        }
    }

    /// Shell (run as root on `node`) that prints one line per fault of this kind in place,
    /// nothing when there is none.
    fn describe_script(self, node: &Node) -> String {
        match self {
            FaultKind::Partition | FaultKind::PacketLoss => net::describe_rules(self.name()),
            FaultKind::RateLimit => net::describe_rate(node.address()),
            FaultKind::Delay => delay::describe(),
            FaultKind::Pause => pause::describe(),
            FaultKind::DiskFull => disk::describe(),
            FaultKind::ClockSkew => clock::describe(),
        }
    }
}

/// Injects faults into nodes and heals them; see the module docs.
pub struct Faults {
    touched: Mutex<BTreeMap<String, Node>>,
    /// (node name, path) of every disk [`limit_disk`](Self::limit_disk) mounted.
    disks: Mutex<BTreeSet<(String, String)>>,
}

/// Runs `script` as root on `node` (through `sudo -n` when the login is not root), with
/// `$CTL` set to the address the test driver connects from (so faults can spare it).
async fn as_root(node: &Node, script: &str) -> Result<String, ServiceError> {
    let command = format!(
        "ctl=${{SSH_CLIENT%% *}}; if [ \"$(id -u)\" = 0 ]; then CTL=$ctl sh -c {s}; else sudo -n env CTL=$ctl sh -c {s}; fi",
        s = quote(script)
    );
    node.account().ssh_output(&command).await.ctx("faults")
}

/// Marks the start of a fault's window in the report.
fn window_opens(kind: FaultKind, nodes: &str, detail: &str) {
    ducttape_core::event!(
        "fault_start",
        fault = kind.name(),
        nodes = nodes,
        detail = detail
    );
}

fn usage(detail: String) -> ServiceError {
    ServiceError::Usage {
        service: "faults".into(),
        detail,
    }
}

impl Faults {
    /// A fault injector whose faults are healed at `ctx`'s teardown.
    pub fn new(ctx: &TestContext) -> Arc<Self> {
        let faults = Arc::new(Self {
            touched: Mutex::new(BTreeMap::new()),
            disks: Mutex::new(BTreeSet::new()),
        });
        ctx.register(Arc::new(HealOnTeardown(faults.clone())));
        faults
    }

    /// Remembers `node` for [`heal_all`](Self::heal_all) and teardown.
    fn touch(&self, node: &Node) {
        if let Ok(mut t) = self.touched.lock() {
            t.insert(node.name().to_string(), node.clone());
        }
    }

    /// Drops all traffic between every node of `a` and every node of `b`, both ways.
    pub async fn partition(&self, a: &[Node], b: &[Node]) -> Result<(), ServiceError> {
        let names = |ns: &[Node]| ns.iter().map(|n| n.name()).collect::<Vec<_>>().join(",");
        window_opens(
            FaultKind::Partition,
            &format!("{}|{}", names(a), names(b)),
            &format!("{} from {}", names(a), names(b)),
        );
        let applied = a
            .iter()
            .map(|n| (n, b))
            .chain(b.iter().map(|n| (n, a)))
            .map(|(n, others)| async move {
                self.touch(n);
                let addresses: Vec<&str> = others.iter().map(Node::address).collect();
                as_root(n, &net::partition(&addresses)).await.map(drop)
            });
        ServiceError::from_all(
            join_all(applied)
                .await
                .into_iter()
                .filter_map(Result::err)
                .collect(),
        )
    }

    /// Drops each packet to and from `node` with probability `p` (0.0–1.0).
    pub async fn packet_loss(&self, node: &Node, p: f64) -> Result<(), ServiceError> {
        if !(0.0..=1.0).contains(&p) {
            return Err(usage(format!(
                "packet loss probability {p} is not between 0 and 1"
            )));
        }
        window_opens(
            FaultKind::PacketLoss,
            node.name(),
            &format!("{p} of packets"),
        );
        self.touch(node);
        as_root(node, &net::packet_loss(p)).await.map(drop)
    }

    /// Limits what `node` sends to `rate` (tc syntax: `1mbit`, `500kbit`).
    pub async fn rate_limit(&self, node: &Node, rate: &str) -> Result<(), ServiceError> {
        window_opens(FaultKind::RateLimit, node.name(), rate);
        self.touch(node);
        as_root(node, &net::rate_limit(node.address(), rate))
            .await
            .map(drop)
    }

    /// Delays TCP connections made from now on to `port` of `node` by `delay` each way: every
    /// chunk of data either side sends reaches the other `delay` later, so a request and its
    /// answer take at least twice `delay`. A userspace proxy does it (this kernel has no
    /// netem); what that cannot do — other protocols, established connections, packet-level
    /// effects — is in `delay.rs`'s docs. The test driver's own connections are not delayed.
    pub async fn delay(&self, node: &Node, port: u16, delay: Duration) -> Result<(), ServiceError> {
        let ms = delay.as_millis();
        if ms == 0 || ms > 60_000 {
            return Err(usage(format!(
                "a delay of {delay:?} is not between 1 ms and 60 s"
            )));
        }
        window_opens(
            FaultKind::Delay,
            node.name(),
            &format!("port {port} +{ms} ms each way"),
        );
        self.touch(node);
        as_root(node, &delay::apply(port, ms)).await.map(drop)
    }

    /// Stops (SIGSTOP) every process of `service` on `node`: the whole process group of each
    /// of its [`pids`](Service::pids) — the shell that started it and the JVM under it — and
    /// checks that all of them are stopped. Until healed the service keeps its sockets open
    /// and answers nothing: connections are accepted by the kernel and never served. A stopped
    /// process acts on SIGTERM only once continued: heal before a clean stop or bounce, or it
    /// ends in SIGKILL after the service's grace.
    pub async fn pause<S: Service + ?Sized>(
        &self,
        service: &S,
        node: &Node,
    ) -> Result<(), ServiceError> {
        let pids = service.pids(node).await?;
        if pids.is_empty() {
            return Err(usage(format!(
                "{} runs nothing on {} to pause",
                service.name(),
                node.name()
            )));
        }
        let list = pids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        window_opens(
            FaultKind::Pause,
            node.name(),
            &format!("{} (process groups {list})", service.name()),
        );
        self.touch(node);
        as_root(node, &pause::stop(&pids)).await.map(drop)
    }

    /// Gives `node` a disk of `bytes` at `path`: a size-limited filesystem (`tmpfs`) mounted
    /// over the (empty or missing) directory, in the node's own mount namespace — never the
    /// host's disk. Do it after the service that writes there is built and before it starts
    /// (it refuses a directory that holds files); [`fill_disk`](Self::fill_disk) then fills
    /// it. Unmounted at teardown.
    pub async fn limit_disk(
        &self,
        node: &Node,
        path: &str,
        bytes: u64,
    ) -> Result<(), ServiceError> {
        if !path.starts_with('/') || path.len() < 2 {
            return Err(usage(format!(
                "a limited disk needs an absolute path below /, not {path:?}"
            )));
        }
        self.touch(node);
        as_root(node, &disk::limit(path, bytes)).await?;
        if let Ok(mut d) = self.disks.lock() {
            d.insert((node.name().to_string(), path.to_string()));
        }
        Ok(())
    }

    /// Fills the disk [`limit_disk`](Self::limit_disk) gave `node` at `path` with a ballast
    /// file, until no block is free: from then on writes there fail with ENOSPC (`No space
    /// left on device`). Healing deletes the ballast. Refuses any other path: a node's real
    /// disk is never filled.
    pub async fn fill_disk(&self, node: &Node, path: &str) -> Result<(), ServiceError> {
        let limited = self
            .disks
            .lock()
            .map(|d| d.contains(&(node.name().to_string(), path.to_string())))
            .unwrap_or(false);
        if !limited {
            return Err(usage(format!(
                "{path} on {} is not a disk of Faults::limit_disk: only those are filled, \
                 never a node's real disk",
                node.name()
            )));
        }
        window_opens(FaultKind::DiskFull, node.name(), path);
        self.touch(node);
        as_root(node, &disk::fill(path)).await.map(drop)
    }

    /// Gives `node` a wall clock [`skew_clock`](Self::skew_clock) can move: every JVM started
    /// on it from now on through [`JavaCommand`](crate::JavaCommand) (brokers, ZooKeeper,
    /// Connect, Kafka's tools) runs under libfaketime, at an offset of `+0` until skewed. Do it
    /// after the services are built and before they start; JVMs already running keep the real
    /// clock. Fails when libfaketime is not installed on the node. Undone at teardown.
    pub async fn fake_clock(&self, node: &Node) -> Result<(), ServiceError> {
        self.touch(node);
        as_root(node, &clock::prepare()).await.map(drop)
    }

    /// Moves the wall clock of the JVMs on `node` (those started after
    /// [`fake_clock`](Self::fake_clock)) by `seconds` — ahead when positive, behind when
    /// negative — at once, as a jump; `System.nanoTime` keeps running as it did. Returns once
    /// every such JVM reads the new time (libfaketime reads the offset again within 2 s; see
    /// `clock.rs`). Healing moves it back.
    pub async fn skew_clock(&self, node: &Node, seconds: i64) -> Result<(), ServiceError> {
        if seconds == 0 {
            return Err(usage("a clock skew of 0 s moves nothing".into()));
        }
        // Refused before its window opens: a node not prepared has no clock to move.
        as_root(node, &clock::prepared()).await?;
        window_opens(FaultKind::ClockSkew, node.name(), &format!("{seconds:+} s"));
        self.touch(node);
        as_root(node, &clock::skew(seconds)).await.map(drop)
    }

    /// The faults now on `node`, one line each, prefixed by their kind's name
    /// (`rate_limit: qdisc tbf …`, `pause: group 812: 2 processes stopped`); empty when the node
    /// has none.
    pub async fn describe(&self, node: &Node) -> Result<String, ServiceError> {
        let script = FaultKind::ALL
            .iter()
            .map(|k| {
                format!(
                    "( {} ) | sed 's/^/{}: /'",
                    k.describe_script(node),
                    k.name()
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        as_root(node, &script).await
    }

    /// Removes every fault of every kind from `node`, and checks that none is left: a failure
    /// to heal is an error naming the node and what stayed, never a line in a log. A limited
    /// disk stays mounted (emptied of its ballast) until teardown.
    pub async fn heal(&self, node: &Node) -> Result<(), ServiceError> {
        let mut script = String::from("failed=\n");
        for &kind in FaultKind::ALL {
            script.push_str(&format!(
                "( {} ) || failed=\"$failed {}\"\n",
                kind.heal_script(node),
                kind.name()
            ));
        }
        script.push_str("[ -z \"$failed\" ] || { echo \"not healed:$failed\" >&2; exit 1; }\n");
        let healed = as_root(node, &script).await.map(drop);
        ducttape_core::event!("fault_heal", nodes = node.name(), ok = healed.is_ok());
        healed
    }

    /// Removes every fault from every node touched.
    pub async fn heal_all(&self) -> Result<(), ServiceError> {
        let nodes: Vec<Node> = self
            .touched
            .lock()
            .map(|t| t.values().cloned().collect())
            .unwrap_or_default();
        let healed = join_all(nodes.iter().map(|n| self.heal(n))).await;
        ServiceError::from_all(healed.into_iter().filter_map(Result::err).collect())
    }

    /// Heals every node, unmounts the limited disks and forgets the faked clocks (lazily: a process still writing there
    /// keeps its files until it exits, and the directory below is free to be cleaned).
    async fn restore(&self) -> Result<(), ServiceError> {
        let healed = self.heal_all().await;
        let nodes: Vec<Node> = self
            .touched
            .lock()
            .map(|t| t.values().cloned().collect())
            .unwrap_or_default();
        let unmount = format!("( {} ) && {}", disk::unmount_all(), clock::forget());
        let unmounted = join_all(nodes.iter().map(|n| as_root(n, &unmount))).await;
        if let Ok(mut d) = self.disks.lock() {
            d.clear();
        }
        let mut errors: Vec<ServiceError> = healed.err().into_iter().collect();
        errors.extend(unmounted.into_iter().filter_map(Result::err));
        ServiceError::from_all(errors)
    }
}

struct HealOnTeardown(Arc<Faults>);

impl Teardown for HealOnTeardown {
    fn name(&self) -> String {
        "faults".into()
    }

    fn stop(self: Arc<Self>) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async move { self.0.restore().await.map_err(|e| e.to_string()) })
    }

    fn collect_logs(
        self: Arc<Self>,
        _dest: PathBuf,
        _all: bool,
    ) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    fn clean(self: Arc<Self>) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::FaultKind;

    #[test]
    fn every_kind_has_a_name_of_its_own() {
        let names: std::collections::BTreeSet<&str> =
            FaultKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), FaultKind::ALL.len(), "{names:?}");
        assert!(names.contains("pause") && names.contains("disk_full"));
    }
}
