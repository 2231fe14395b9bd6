//! The pause kind's scripts: SIGSTOP to whole process groups, their ids written to
//! `<STATE>/paused` so a heal (SIGCONT) needs nothing but the node.
//!
//! A service's pid (its pid file's) is that of the shell `RemoteAccount::spawn` started in a
//! session of its own, with the real program (a JVM) as its child: stopping the pid alone
//! would leave the JVM serving. So the signal goes to the group, and the check reads every
//! process of the group from `/proc`.

use super::STATE;

/// A shell function `states PGID`: one line `pid state` per process of the group (zombies
/// and dead ones left out).
const STATES_FN: &str = r#"states() { cat /proc/[0-9]*/stat 2>/dev/null | awk -v g="$1" '{ pid = $1; sub(/^.*\) /, ""); if ($3 == g && $1 != "Z" && $1 != "X") print pid, $1 }'; }"#;

/// Stops the process groups led by `pids`; fails unless, within 2 s, every process of them is
/// stopped (state `T`).
pub(super) fn stop(pids: &[u32]) -> String {
    let list = pids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "{STATES_FN}\nmkdir -p {STATE} || exit 1\n\
         for g in {list}; do kill -s STOP -- -$g || exit 1; echo $g >> {STATE}/paused; done\n\
         i=0; while :; do running=; for g in {list}; do \
           running=\"$running$(states $g | awk '$2 != \"T\" {{printf \" %s(%s)\", $1, $2}}')\"; done; \
           [ -z \"$running\" ] && exit 0; \
           [ $i -ge 100 ] && {{ echo \"not stopped:$running\" >&2; exit 1; }}; \
           i=$((i+1)); sleep 0.02; done"
    )
}

/// Continues every paused group; fails if a process of one is still stopped after 2 s.
pub(super) fn heal() -> String {
    format!(
        "{STATES_FN}\n[ -f {STATE}/paused ] || exit 0\n\
         groups=$(sort -u {STATE}/paused)\n\
         for g in $groups; do kill -s CONT -- -$g 2>/dev/null; done\n\
         i=0; while :; do stopped=; for g in $groups; do \
           stopped=\"$stopped$(states $g | awk '$2 == \"T\" {{printf \" %s\", $1}}')\"; done; \
           [ -z \"$stopped\" ] && break; \
           [ $i -ge 100 ] && {{ echo \"still stopped:$stopped\" >&2; exit 1; }}; \
           i=$((i+1)); sleep 0.02; done\n\
         rm -f {STATE}/paused"
    )
}

/// One line per paused group: how many of its processes are stopped.
pub(super) fn describe() -> String {
    format!(
        "{STATES_FN}\n[ -f {STATE}/paused ] || exit 0\n\
         for g in $(sort -u {STATE}/paused); do \
           echo \"group $g: $(states $g | awk '$2 == \"T\"' | wc -l) of $(states $g | wc -l) processes stopped\"; done"
    )
}
