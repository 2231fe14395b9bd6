//! The disk-full kind's scripts: a size-limited `tmpfs` mounted over a directory (its path
//! written to `<STATE>/disks`), filled with a ballast file; healing deletes the ballast.
//!
//! The mount happens in the mount namespace the node's commands run in: on the local cluster
//! each node has its own (with private propagation), so neither the host nor another node
//! sees it; on machines of a JSON cluster it is a mount of the machine's, in RAM, bounded by
//! its size and unmounted at teardown. Either way no real disk is ever filled.

use ducttape_core::remote::quote;

use super::STATE;

/// The ballast file's name inside a limited disk.
const BALLAST: &str = ".ducttape-ballast";

/// Mounts a `tmpfs` of `bytes` over `path` (made if missing); refuses a mount point or a
/// directory with files in it (the mount would hide them from a service that wrote them).
pub(super) fn limit(path: &str, bytes: u64) -> String {
    format!(
        "p={p}; mkdir -p \"$p\" || exit 1; \
         if mountpoint -q \"$p\"; then echo \"$p is a mount point already\" >&2; exit 1; fi; \
         if [ -n \"$(ls -A \"$p\")\" ]; then echo \"$p holds files: limit a disk before anything is written there\" >&2; exit 1; fi; \
         mount -t tmpfs -o size={bytes} ducttape-disk \"$p\" || exit 1; \
         mkdir -p {STATE} && echo \"$p\" >> {STATE}/disks",
        p = quote(path)
    )
}

/// Writes the ballast until the disk at `path` has no free block left; fails if it is not a
/// disk of ours or keeps free blocks.
pub(super) fn fill(path: &str) -> String {
    format!(
        "p={p}; grep -qxF \"$p\" {STATE}/disks 2>/dev/null && mountpoint -q \"$p\" || \
           {{ echo \"$p is not a limited disk: refusing to fill it\" >&2; exit 1; }}; \
         dd if=/dev/zero of=\"$p/{BALLAST}\" bs=64k conv=notrunc oflag=append 2>/dev/null; \
         free=$(stat -f -c %a \"$p\"); \
         [ \"$free\" = 0 ] || {{ echo \"$p still has $free free blocks\" >&2; exit 1; }}",
        p = quote(path)
    )
}

/// Deletes the ballast of every limited disk; fails if one still has no free block.
pub(super) fn heal() -> String {
    format!(
        "[ -f {STATE}/disks ] || exit 0; full=; \
         for p in $(sort -u {STATE}/disks); do rm -f \"$p/{BALLAST}\"; \
           mountpoint -q \"$p\" && [ \"$(stat -f -c %a \"$p\")\" = 0 ] && full=\"$full $p\"; done; \
         [ -z \"$full\" ] || {{ echo \"still full:$full\" >&2; exit 1; }}"
    )
}

/// One line per filled disk.
pub(super) fn describe() -> String {
    format!(
        "[ -f {STATE}/disks ] || exit 0; \
         for p in $(sort -u {STATE}/disks); do [ -f \"$p/{BALLAST}\" ] && \
           echo \"$p: $(stat -c %s \"$p/{BALLAST}\") bytes of ballast, $(stat -f -c %a \"$p\") blocks free\"; done; true"
    )
}

/// Unmounts every limited disk (lazily: what a process still has open there stays until it
/// exits) and forgets them.
pub(super) fn unmount_all() -> String {
    format!(
        "[ -f {STATE}/disks ] || exit 0; \
         for p in $(sort -u {STATE}/disks); do if mountpoint -q \"$p\"; then umount -l \"$p\" || exit 1; fi; done; \
         rm -f {STATE}/disks"
    )
}
