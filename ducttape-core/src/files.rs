//! Writing files so that a reader never sees half of one.

use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Replaces `path` with `bytes` atomically: written to a temporary file of a name no other
/// writer uses (this process's id and a sequence number) in the same directory, synced to
/// disk, then renamed over `path`, and the directory synced so the rename survives a crash.
/// A reader sees the old file or the new one, never a part; two writers at once each write
/// their own temporary file and the last rename wins. Missing parent directories are created;
/// the new file gets permissions `mode` (before the umask). On failure the temporary file is
/// removed and `path` is left as it was.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("report.json");
/// ducttape_core::files::write_atomically(&path, b"{}", 0o644)?;
/// assert_eq!(std::fs::read(&path)?, b"{}");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"))?;
    let dir = path.parent().unwrap_or(Path::new(""));
    if !dir.as_os_str().is_empty() {
        fs::create_dir_all(dir)?;
    }
    let tmp = dir.join(format!(
        ".{}.{}-{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    // The rename is in the directory: sync it too (best effort: some filesystems refuse).
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_writers_never_leave_a_torn_file_or_a_temporary_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/report.html");
        let texts: Vec<String> = (0..8).map(|i| format!("{i}").repeat(100_000)).collect();
        std::thread::scope(|s| {
            for t in &texts {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..5 {
                        write_atomically(path, t.as_bytes(), 0o644).unwrap();
                    }
                });
            }
        });
        let got = std::fs::read_to_string(&path).unwrap();
        assert!(texts.contains(&got), "a torn file of {} bytes", got.len());
        let left: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 1, "temporary files left: {left:?}");
    }
}
