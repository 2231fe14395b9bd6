//! Finding the GC logs a failed test's teardown collected, so that `summary.json` lists them
//! under `diagnostics` beside the thread dumps and the test's page links them.

use std::path::Path;

/// The GC logs (`gc.log`, and its rotations `gc.log.0`…) collected under `dir` (a test's
/// directory) as `<service>/<node>/jvm/gc.log*`, relative to `dir`, sorted; empty when there
/// are none (a test that passed, or services without the JVM options).
pub(super) fn collected_gc_logs(dir: &Path) -> Vec<String> {
    let entries = |d: &Path| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(d)
            .map(|r| r.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    let mut found: Vec<String> = entries(dir)
        .iter()
        .filter(|service| service.is_dir())
        .flat_map(|service| entries(service))
        .flat_map(|node| entries(&node.join("jvm")))
        .filter(|f| {
            f.is_file()
                && f.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("gc.log"))
        })
        .filter_map(|f| f.strip_prefix(dir).ok().map(|p| p.display().to_string()))
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn finds_every_rotation_of_every_jvms_gc_log_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let touch = |p: &str| {
            let p = dir.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "gc").unwrap();
        };
        touch("kafka/worker1/jvm/gc.log");
        touch("kafka/worker1/jvm/gc.log.0");
        touch("kafka/worker1/jvm/jmx-exporter.yaml");
        touch("kafka/worker1/threads-12.txt");
        touch("zookeeper/worker4/jvm/gc.log");
        touch("test.log");
        assert_eq!(
            collected_gc_logs(dir.path()),
            [
                "kafka/worker1/jvm/gc.log",
                "kafka/worker1/jvm/gc.log.0",
                "zookeeper/worker4/jvm/gc.log"
            ]
        );
        assert!(collected_gc_logs(&dir.path().join("absent")).is_empty());
    }
}
