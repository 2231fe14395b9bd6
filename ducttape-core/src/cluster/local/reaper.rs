//! A slot's reaper: the process that removes what a cluster leaves outside its namespaces (the
//! bridge, the veths, the iptables rule, the state directory) when the process owning the
//! cluster dies without shutting it down — a normal exit with the cluster in a `static` (as
//! `Cluster::global` keeps it), a panic, SIGKILL.
//!
//! The node processes need no help: they die with their owner (see [`super::holder`]). What
//! lives in the root namespace and on disk does not, and no code of a dead process runs. So
//! each cluster starts a small `/bin/sh` (see [`REAPER_SCRIPT`]) that is not tied to its owner's
//! life: its stdin is a pipe whose only writer is the owner, so end of input means the owner
//! is gone, however it went. An orderly shutdown cleans up itself and then tells the reaper
//! `done`. The script is the shell twin of [`super::slot::clean`] with
//! [`NetTools::release`](super::net::NetTools::release), with the same names (given to it as
//! arguments) and the same rule: the bridge goes last, only if it is the slot's own.

use super::cmd::{self, find_binary, NODE_PATH};
use super::net::{self, NetTools};
use super::LocalClusterError;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Arguments: `$1` state root, `$2` slot, `$3` the slot's state directory, `$4` its bridge,
/// `$5` the prefix of its veths, `$6` `ip`, `$7` `flock`, `$8` `iptables` (empty if none),
/// then the iptables FORWARD rule to delete.
const REAPER_SCRIPT: &str = r#"set -u
state_root=$1 slot=$2 dir=$3 bridge=$4 veths=$5 ip=$6 flock=$7 iptables=$8
shift 8
# The owner writes `done` after a clean shutdown; end of input without it: the owner died.
while read -r word; do [ "$word" = done ] && exit 0; done
echo "owner of slot $slot gone: cleaning $dir"
# Hold the slot while cleaning, so no new cluster takes it meanwhile. If another process holds
# it for long, it is a new owner, and a new owner reaps what is left when it starts.
exec 9>>"$state_root/slots/$slot.lock"
"$flock" -w 10 9 || { echo "slot $slot taken by another cluster: left to it"; exit 0; }
[ -d "$dir" ] || exit 0
owned() { [ "$(cat "/sys/class/net/$1/ifalias" 2>/dev/null)" = "$dir" ]; }
if [ -e "/sys/class/net/$bridge" ] && owned "$bridge"; then
    if [ -n "$iptables" ]; then
        for _ in 1 2 3 4; do "$iptables" -w -D "$@" 2>/dev/null || break; done
    fi
    i=0
    while :; do
        left=
        for link in /sys/class/net/"$veths"*; do
            [ -e "$link" ] || continue
            left="$left ${link##*/}"
            "$ip" link del "${link##*/}" 2>/dev/null
        done
        [ -z "$left" ] && break
        i=$((i + 1))
        [ $i -ge 100 ] && { echo "veths would not go:$left; keeping $bridge and $dir"; exit 1; }
        sleep 0.05
    done
    "$ip" link del "$bridge" || exit 1
fi
rm -rf "$dir" && echo "slot $slot clean"
"#;

/// A running reaper; see the module docs.
#[derive(Debug)]
pub(super) struct Reaper {
    child: Child,
}

impl Reaper {
    /// Starts the reaper of `slot`, whose state directory is `dir`. Its output goes to
    /// `<state_root>/slots/<slot>.reaper.log`.
    pub fn start(
        state_root: &Path,
        slot: u8,
        dir: &Path,
        net: &NetTools,
    ) -> Result<Self, LocalClusterError> {
        let log_path = state_root.join("slots").join(format!("{slot}.reaper.log"));
        let log = std::fs::File::create(&log_path).map_err(cmd::io_error("create", &log_path))?;
        let log_err = log.try_clone().map_err(cmd::io_error("open", &log_path))?;
        let bridge = net::bridge_name(slot);
        let mut command = Command::new("/bin/sh");
        command
            .args(["-c", REAPER_SCRIPT, "ducttape-reaper"])
            .arg(state_root)
            .arg(slot.to_string())
            .arg(dir)
            .arg(&bridge)
            .arg(net::veth_prefix(slot))
            .arg(net.ip())
            .arg(find_binary("flock")?)
            .arg(net.iptables().unwrap_or(Path::new("")))
            .args(net::forward_rule(&bridge))
            .env("PATH", NODE_PATH)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(log_err)
            // Its own process group: a Ctrl-C meant for the tests must not stop it.
            .process_group(0);
        let child = command.spawn().map_err(|source| LocalClusterError::Spawn {
            what: format!("starting the reaper of slot {slot}"),
            command: cmd::describe(&command),
            source,
        })?;
        Ok(Self { child })
    }

    /// Tells the reaper the slot is clean, and waits for it to exit.
    pub fn dismiss(mut self) {
        let told = self
            .child
            .stdin
            .take()
            .map(|mut stdin| stdin.write_all(b"done\n"));
        if let Some(Err(error)) = told {
            tracing::warn!(%error, "cannot dismiss the slot's reaper");
        }
        if let Err(error) = self.child.wait() {
            tracing::warn!(%error, "cannot wait for the slot's reaper");
        }
    }
}
