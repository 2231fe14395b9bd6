//! The clock-skew kind's scripts: libfaketime preloaded into the JVMs started on a node, their
//! wall clock offset by what a file on the node says.
//!
//! [`Faults::fake_clock`](super::Faults::fake_clock) writes two files under `<STATE>`: the
//! offset (`+0`) and the `env …` words that [`JavaCommand::render`](crate::JavaCommand::render)
//! puts before `java` when the file is there (the command reads it on the node, as it reads
//! the class-data sharing archive). Every JVM started on the node from then on — brokers,
//! ZooKeeper, Connect, Kafka's tools — runs with `LD_PRELOAD=libfaketime.so.1` and
//! `FAKETIME_TIMESTAMP_FILE` naming the offset file; a skew rewrites the file (`+3600`), a heal
//! writes `+0`. Measured here: a JVM started under it prints the host's time plus the offset
//! (`faults.rs`), and a Kafka broker stamps `LogAppendTime` records with it and deletes
//! segments by it.
//!
//! What it cannot do:
//! - only JVMs started through `JavaCommand` *after* `fake_clock` have it: a process already
//!   running, a process that is not a JVM of ours (a shell, `date`, sshd), and the kernel
//!   (file times, iptables, cron) keep the node's real clock. The node's clock is not moved:
//!   a time namespace (`unshare --time`) shifts only the monotonic and boot clocks, not the
//!   wall clock Kafka stamps records and rolls logs with.
//! - only the wall clock (`CLOCK_REALTIME`: `System.currentTimeMillis`, `Instant.now`) moves:
//!   `FAKETIME_DONT_FAKE_MONOTONIC=1` leaves `System.nanoTime` and the JVM's timed waits on
//!   the real monotonic clock, so a jump does not make every timeout a JVM measures on
//!   `nanoTime` (Kafka's request and session timeouts among them) fire at once. Without that
//!   setting, tried here: `nanoTime` jumped by the same hour as the wall clock, and even at
//!   `+0` it read the wall clock's value instead of the monotonic clock's. With it alone, JVMs
//!   ran 10–20× slower in wall time, not CPU (a Kafka tool's start 17.6 s instead of 1.6 s,
//!   2.1 s of CPU; a broker did not start within 90 s): libfaketime's "monotonic fix" for
//!   `pthread_cond_timedwait` converts the JVM's timed waits on its monotonic condition
//!   variables with the *faked* monotonic clock, so they wait far too long.
//!   `FAKETIME_FORCE_MONOTONIC_FIX=0` turns that off: the same start took 2.0 s, and the wall
//!   clock still jumped while `nanoTime` and `Thread.sleep` kept real time. A wall-clock jump
//!   is a jump: no slewing, no drift.
//! - a new offset is in effect within 2 s, not at once: with `FAKETIME_CACHE_DURATION=1`
//!   libfaketime re-reads the file on the first clock read at least 2 whole seconds (of the
//!   real clock) after its last read (`libfaketime.c`: `now.tv_sec - last_data_fetch >
//!   cache_duration`). Without the cache (`FAKETIME_NO_CACHE=1`) it reads the file on every
//!   clock read: 161 µs a `currentTimeMillis` here, against 1.5 µs with the cache and 61 ns
//!   without libfaketime. So a skew and a heal wait [`IN_EFFECT`] after writing the file.
//! - libfaketime must be installed on the node (Debian's `libfaketime`; `build.sh` installs it
//!   on the host, which the local cluster's nodes share).

use super::STATE;

/// The offset file libfaketime reads (`FAKETIME_TIMESTAMP_FILE`): `+0`, `+3600`, `-120`.
const OFFSET: &str = "/tmp/ducttape-faults/clock-offset";

/// The `env …` words a prepared node's JVMs start with.
const ENV: &str = "/tmp/ducttape-faults/clock-env";

/// What [`JavaCommand::render`](crate::JavaCommand::render) puts before `java`: the `env …`
/// words on a node whose clock [`Faults::fake_clock`](super::Faults::fake_clock) faked, nothing
/// elsewhere. Read on the node when the command runs.
pub(crate) const JVM_PREFIX: &str = "$(cat /tmp/ducttape-faults/clock-env 2>/dev/null) ";

/// Seconds (for `sleep`) after which every process reading the offset file has read the new
/// offset: libfaketime re-reads it at most 2 s after it changed (see the module docs), plus a
/// margin for `sleep`'s own start.
const IN_EFFECT: &str = "2.1";

/// Writes `offset` to the offset file atomically (a reader never sees it half written: an
/// empty file would read as no offset).
fn write_offset(offset: &str) -> String {
    format!("printf '%s\\n' {offset} > {OFFSET}.new && mv -f {OFFSET}.new {OFFSET}")
}

/// Prepares the node: the offset `+0`, and the `env` words naming libfaketime; fails when
/// libfaketime is not installed.
pub(super) fn prepare() -> String {
    format!(
        "lib=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n 1); \
         [ -n \"$lib\" ] || {{ echo 'libfaketime is not installed on this node: /usr/lib/*/faketime/libfaketime.so.1 is missing (Debian: apt-get install libfaketime; ./build.sh installs it)' >&2; exit 1; }}; \
         mkdir -p {STATE} && {write} && \
         echo \"env LD_PRELOAD=$lib FAKETIME_TIMESTAMP_FILE={OFFSET} FAKETIME_DONT_FAKE_MONOTONIC=1 FAKETIME_FORCE_MONOTONIC_FIX=0 FAKETIME_CACHE_DURATION=1\" > {ENV}",
        write = write_offset("+0")
    )
}

/// Fails unless [`prepare`] ran on the node.
pub(super) fn prepared() -> String {
    format!(
        "[ -f {ENV} ] || {{ echo 'the clock is not faked on this node: call Faults::fake_clock before the services start' >&2; exit 1; }}"
    )
}

/// Sets the offset of the prepared node's JVMs to `seconds` and waits until it is in effect.
pub(super) fn skew(seconds: i64) -> String {
    format!(
        "{prepared} && {write} && sleep {IN_EFFECT}",
        prepared = prepared(),
        write = write_offset(&format!("{seconds:+}"))
    )
}

/// Sets the offset back to `+0` (and waits until it is in effect) where it was not; fails if
/// it stayed.
pub(super) fn heal() -> String {
    format!(
        "[ -f {OFFSET} ] || exit 0; [ \"$(cat {OFFSET})\" = +0 ] && exit 0; \
         {write} && sleep {IN_EFFECT}; \
         [ \"$(cat {OFFSET})\" = +0 ] || {{ echo \"clock offset still $(cat {OFFSET})\" >&2; exit 1; }}",
        write = write_offset("+0")
    )
}

/// One line when the offset is not `+0`: the offset and the processes running with it.
pub(super) fn describe() -> String {
    format!(
        "[ -f {OFFSET} ] || exit 0; o=$(cat {OFFSET}); [ \"$o\" = +0 ] && exit 0; \
         pids=$(grep -l libfaketime /proc/[0-9]*/maps 2>/dev/null | cut -d/ -f3 | sort -n | tr '\\n' ' '); \
         echo \"offset $o s for JVMs started after fake_clock; running with it: ${{pids:-none}}\""
    )
}

/// Forgets the prepared clock: JVMs started from now on run on the node's clock (one still
/// running reads no file, which libfaketime takes as `+0`).
pub(super) fn forget() -> String {
    format!("rm -f {ENV} {OFFSET} {OFFSET}.new")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_prefix_reads_the_file_prepare_writes() {
        assert!(super::JVM_PREFIX.contains(super::ENV));
        assert!(super::prepare().contains(&format!("> {}", super::ENV)));
        assert!(super::skew(-120).contains("printf '%s\\n' -120 >"));
        assert!(super::skew(3600).contains("printf '%s\\n' +3600 >"));
    }
}
