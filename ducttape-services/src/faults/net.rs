//! The network kinds' scripts: partitions and packet loss as iptables rules in our chain, each
//! marked with its kind's comment (`ducttape:partition`), and rate limits as a root `tbf`.

use ducttape_core::remote::quote;

const CHAIN: &str = "DUCTTAPE";

/// Shell that makes our chain, hooks it into INPUT and OUTPUT and exempts the test driver's
/// own traffic (`$CTL`): the test must keep control of the node.
fn chain() -> String {
    format!(
        "iptables -N {CHAIN} 2>/dev/null; \
         iptables -C INPUT -j {CHAIN} 2>/dev/null || iptables -I INPUT -j {CHAIN}; \
         iptables -C OUTPUT -j {CHAIN} 2>/dev/null || iptables -I OUTPUT -j {CHAIN}; \
         iptables -C {CHAIN} -s \"$CTL\" -j RETURN 2>/dev/null || iptables -I {CHAIN} -s \"$CTL\" -j RETURN; \
         iptables -C {CHAIN} -d \"$CTL\" -j RETURN 2>/dev/null || iptables -I {CHAIN} -d \"$CTL\" -j RETURN"
    )
}

/// The iptables match marking a rule as `kind`'s.
fn mark(kind: &str) -> String {
    format!("-m comment --comment ducttape:{kind}")
}

/// Drops all traffic between this node and each of `others`.
pub(super) fn partition(others: &[&str]) -> String {
    let m = mark("partition");
    let rules = others
        .iter()
        .map(|a| {
            format!(
                "iptables -A {CHAIN} -s {a} {m} -j DROP && iptables -A {CHAIN} -d {a} {m} -j DROP",
                a = quote(a)
            )
        })
        .collect::<Vec<_>>()
        .join(" && ");
    format!("{}; {rules}", chain())
}

/// Drops each packet with probability `p`.
pub(super) fn packet_loss(p: f64) -> String {
    format!(
        "{}; iptables -A {CHAIN} -m statistic --mode random --probability {p} {} -j DROP",
        chain(),
        mark("packet_loss")
    )
}

/// Deletes `kind`'s rules from our chain; fails if one is left.
pub(super) fn heal_rules(kind: &str) -> String {
    format!(
        "iptables -n -L {CHAIN} >/dev/null 2>&1 || exit 0; \
         iptables -S {CHAIN} | grep -F 'ducttape:{kind}' | sed 's/^-A/-D/; s/\"//g' | \
           while read -r rule; do iptables $rule; done; \
         left=$(iptables -S {CHAIN} | grep -c -F 'ducttape:{kind}'); \
         [ \"$left\" = 0 ] || {{ echo \"$left {kind} rules left in {CHAIN}\" >&2; exit 1; }}"
    )
}

/// `kind`'s rules in our chain.
pub(super) fn describe_rules(kind: &str) -> String {
    format!("iptables -S {CHAIN} 2>/dev/null | grep -F 'ducttape:{kind}'; true")
}

/// Shell that finds the interface carrying `address` into `$dev`.
fn find_dev(address: &str) -> String {
    format!(
        "dev=$(ip -o -4 addr show | awk '$4 ~ /^{}\\// {{print $2; exit}}'); [ -n \"$dev\" ] || {{ echo 'no interface has {address}' >&2; exit 1; }}",
        address.replace('.', "\\.")
    )
}

/// Limits what leaves the interface carrying `address` to `rate`.
pub(super) fn rate_limit(address: &str, rate: &str) -> String {
    format!(
        "{} && tc qdisc replace dev \"$dev\" root tbf rate {} burst 32kbit latency 400ms",
        find_dev(address),
        quote(rate)
    )
}

/// Removes a root `tbf`; fails if it stays.
pub(super) fn heal_rate(address: &str) -> String {
    format!(
        "{}; if tc qdisc show dev \"$dev\" root | grep -q tbf; then tc qdisc del dev \"$dev\" root; fi; \
         if tc qdisc show dev \"$dev\" root | grep -q tbf; then echo 'rate limit still on' >&2; exit 1; fi",
        find_dev(address)
    )
}

/// The root `tbf`, if there is one.
pub(super) fn describe_rate(address: &str) -> String {
    format!(
        "{}; tc qdisc show dev \"$dev\" root | grep tbf; true",
        find_dev(address)
    )
}
