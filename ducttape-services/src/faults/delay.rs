//! The delay kind's scripts. This kernel has no `netem` (nor `fq`, for timed departures), so a
//! delay is a userspace proxy on the node (`delay_proxy.py`, run by the node's `python3`):
//! an iptables `REDIRECT` in the nat table's PREROUTING sends new TCP connections to a port of
//! the node to the proxy, which forwards them to where they were going and holds every chunk
//! of data, both ways, for the delay before passing it on.
//!
//! What it cannot do, unlike netem: it delays TCP only, to one port of the node, and only
//! connections made after it is applied (established ones keep their path), and never the
//! test driver's own connections (as every network fault spares them). It delays the data, not
//! packets: handshakes, ACKs and TCP's own round-trip estimate do not see it, so it models a
//! slow link's latency but not its bandwidth-delay product, and there is no jitter, loss or
//! reordering. The service sees connections coming from its own node's address. Healing
//! removes the redirect and stops the proxy: connections that went through it are cut
//! (clients reconnect, directly).

use super::STATE;

const PROXY: &str = include_str!("delay_proxy.py");

/// Starts a proxy delaying by `ms` each way and redirects connections to `port` (except the
/// driver's, `$CTL`) through it.
pub(super) fn apply(port: u16, ms: u128) -> String {
    format!(
        "command -v python3 >/dev/null || {{ echo 'the delay fault needs python3 on the node' >&2; exit 1; }}\n\
         mkdir -p {STATE} || exit 1\n\
         d={STATE}/delay-{port}\n\
         if [ -f $d.pid ]; then echo 'port {port} is delayed already' >&2; exit 1; fi\n\
         cat > {STATE}/delay_proxy.py <<'DUCTTAPE_PROXY'\n{PROXY}DUCTTAPE_PROXY\n\
         rm -f $d.port\n\
         (setsid python3 {STATE}/delay_proxy.py $d.port {ms} > $d.log 2>&1 < /dev/null & echo $! > $d.pid)\n\
         i=0; while [ ! -s $d.port ] && [ $i -lt 500 ]; do sleep 0.02; i=$((i+1)); done\n\
         [ -s $d.port ] || {{ echo 'the delay proxy did not start:'; cat $d.log; exit 1; }} >&2\n\
         to=$(cat $d.port)\n\
         echo \"port {port}: +{ms} ms each way (proxy pid $(cat $d.pid) on port $to)\" > $d.info\n\
         iptables -t nat -A PREROUTING -p tcp --dport {port} ! -s \"$CTL\" -m comment --comment ducttape:delay -j REDIRECT --to-ports $to"
    )
}

/// Removes the redirects, then stops the proxies; fails if a redirect or a proxy is left.
pub(super) fn heal() -> String {
    format!(
        "iptables -t nat -S PREROUTING 2>/dev/null | grep -F ducttape:delay | sed 's/^-A/-D/; s/\"//g' | \
           while read -r rule; do iptables -t nat $rule; done\n\
         left=$(iptables -t nat -S PREROUTING 2>/dev/null | grep -c -F ducttape:delay)\n\
         [ \"$left\" = 0 ] || {{ echo \"$left delay redirects left\" >&2; exit 1; }}\n\
         live() {{ [ -d /proc/$1 ] && [ \"$(sed -n 's/.*) \\(.\\).*/\\1/p' /proc/$1/stat 2>/dev/null)\" != Z ]; }}\n\
         for f in {STATE}/delay-*.pid; do [ -f \"$f\" ] || continue; pid=$(cat \"$f\"); \
           kill -s KILL $pid 2>/dev/null; i=0; while live $pid && [ $i -lt 250 ]; do sleep 0.02; i=$((i+1)); done; \
           live $pid && {{ echo \"delay proxy $pid survived SIGKILL\" >&2; exit 1; }}; \
           rm -f \"$f\" \"${{f%.pid}}.port\" \"${{f%.pid}}.info\"; done; true"
    )
}

/// One line per delayed port.
pub(super) fn describe() -> String {
    format!("cat {STATE}/delay-*.info 2>/dev/null; true")
}
