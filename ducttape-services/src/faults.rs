//! Network faults on nodes: partitions, random packet loss and bandwidth limits.
//!
//! Faults are applied on the nodes themselves, as root (or with `sudo -n` for another user):
//! iptables rules in a chain of our own (`DUCTTAPE`, hooked into INPUT and OUTPUT), so healing
//! is flushing that chain; traffic with the test driver is exempt, so the test keeps control
//! of a node it cut off. Bandwidth is limited with a `tbf` queueing discipline (`tc netem` is not
//! available on every kernel; `tbf` and iptables' `statistic` match are). A [`Faults`] handle
//! is registered with the test context: whatever way the test ends, every node it touched is
//! healed at teardown.
//!
//! ```no_run
//! # async fn demo(ctx: &ducttape_core::TestContext, nodes: Vec<ducttape_core::cluster::Node>) -> Result<(), ducttape_services::ServiceError> {
//! use ducttape_services::faults::Faults;
//! let faults = Faults::new(ctx);
//! faults.partition(&nodes[..1], &nodes[1..]).await?; // node 0 cannot talk to the others
//! // … check the cluster copes …
//! faults.heal_all().await?;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ducttape_core::cluster::Node;
use ducttape_core::context::{Teardown, TestContext};
use ducttape_core::remote::quote;
use futures::future::{join_all, BoxFuture};

use crate::error::{ResultExt, ServiceError};

const CHAIN: &str = "DUCTTAPE";

/// Injects faults into nodes and heals them; see the module docs.
pub struct Faults {
    touched: Mutex<BTreeMap<String, Node>>,
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

/// Shell that finds the interface carrying `address` into `$dev`.
fn find_dev(address: &str) -> String {
    format!(
        "dev=$(ip -o -4 addr show | awk '$4 ~ /^{}\\// {{print $2; exit}}'); [ -n \"$dev\" ] || {{ echo 'no interface has {address}' >&2; exit 1; }}",
        address.replace('.', "\\.")
    )
}

impl Faults {
    /// A fault injector whose faults are healed at `ctx`'s teardown.
    pub fn new(ctx: &TestContext) -> Arc<Self> {
        let faults = Arc::new(Self {
            touched: Mutex::new(BTreeMap::new()),
        });
        ctx.register(Arc::new(HealOnTeardown(faults.clone())));
        faults
    }

    async fn apply(&self, node: &Node, rules: &str) -> Result<(), ServiceError> {
        if let Ok(mut t) = self.touched.lock() {
            t.insert(node.name().to_string(), node.clone());
        }
        // The driver's own traffic is exempt: the test must keep control of the node.
        let setup = format!(
            "iptables -N {CHAIN} 2>/dev/null; \
             iptables -C INPUT -j {CHAIN} 2>/dev/null || iptables -I INPUT -j {CHAIN}; \
             iptables -C OUTPUT -j {CHAIN} 2>/dev/null || iptables -I OUTPUT -j {CHAIN}; \
             iptables -C {CHAIN} -s \"$CTL\" -j RETURN 2>/dev/null || iptables -I {CHAIN} -s \"$CTL\" -j RETURN; \
             iptables -C {CHAIN} -d \"$CTL\" -j RETURN 2>/dev/null || iptables -I {CHAIN} -d \"$CTL\" -j RETURN; {rules}"
        );
        as_root(node, &setup).await.map(drop)
    }

    /// Drops all traffic between every node of `a` and every node of `b`, both ways.
    pub async fn partition(&self, a: &[Node], b: &[Node]) -> Result<(), ServiceError> {
        let cut = |others: &[Node]| {
            others
                .iter()
                .map(|o| {
                    format!(
                        "iptables -A {CHAIN} -s {a} -j DROP && iptables -A {CHAIN} -d {a} -j DROP",
                        a = quote(o.address())
                    )
                })
                .collect::<Vec<_>>()
                .join(" && ")
        };
        let names = |ns: &[Node]| ns.iter().map(|n| n.name()).collect::<Vec<_>>().join(",");
        ducttape_core::event!(
            "fault_start",
            fault = "partition",
            nodes = format!("{}|{}", names(a), names(b)),
            detail = format!("{} from {}", names(a), names(b))
        );
        let applied = a
            .iter()
            .map(|n| (n, cut(b)))
            .chain(b.iter().map(|n| (n, cut(a))))
            .map(|(n, rules)| async move { self.apply(n, &rules).await });
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
            return Err(ServiceError::Usage {
                service: "faults".into(),
                detail: format!("packet loss probability {p} is not between 0 and 1"),
            });
        }
        ducttape_core::event!(
            "fault_start",
            fault = "packet_loss",
            nodes = node.name(),
            detail = format!("{p} of packets")
        );
        self.apply(
            node,
            &format!("iptables -A {CHAIN} -m statistic --mode random --probability {p} -j DROP"),
        )
        .await
    }

    /// Limits what `node` sends to `rate` (tc syntax: `1mbit`, `500kbit`).
    pub async fn rate_limit(&self, node: &Node, rate: &str) -> Result<(), ServiceError> {
        if let Ok(mut t) = self.touched.lock() {
            t.insert(node.name().to_string(), node.clone());
        }
        ducttape_core::event!(
            "fault_start",
            fault = "rate_limit",
            nodes = node.name(),
            detail = rate
        );
        let script = format!(
            "{} && tc qdisc replace dev \"$dev\" root tbf rate {} burst 32kbit latency 400ms",
            find_dev(node.address()),
            quote(rate)
        );
        as_root(node, &script).await.map(drop)
    }

    /// The fault rules now on `node` (iptables rules of our chain and the root qdisc), for
    /// checks and reports.
    pub async fn describe(&self, node: &Node) -> Result<String, ServiceError> {
        let script = format!(
            "iptables -S {CHAIN} 2>/dev/null; {} && tc qdisc show dev \"$dev\" root",
            find_dev(node.address())
        );
        as_root(node, &script).await
    }

    /// Removes every fault from `node`, and checks that none is left: a failure to heal is an
    /// error naming the node and what stayed, never a line in a log.
    pub async fn heal(&self, node: &Node) -> Result<(), ServiceError> {
        let script = format!(
            "set -e; if iptables -n -L {CHAIN} >/dev/null 2>&1; then iptables -F {CHAIN}; \
               left=$(iptables -S {CHAIN} | grep -c -- '^-A' || true); \
               [ \"$left\" = 0 ] || {{ echo \"$left rules left in {CHAIN}\" >&2; exit 1; }}; fi; \
             {dev}; \
             if tc qdisc show dev \"$dev\" root | grep -q tbf; then tc qdisc del dev \"$dev\" root; fi; \
             if tc qdisc show dev \"$dev\" root | grep -q tbf; then echo 'rate limit still on' >&2; exit 1; fi",
            dev = find_dev(node.address())
        );
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
}

struct HealOnTeardown(Arc<Faults>);

impl Teardown for HealOnTeardown {
    fn name(&self) -> String {
        "faults".into()
    }

    fn stop(self: Arc<Self>) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async move { self.0.heal_all().await.map_err(|e| e.to_string()) })
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
