//! The brokers' own view on the test's time axis, read from the sampled JMX metrics in
//! `<test dir>/metrics/<node>.jsonl` (written by `ducttape-services`' `jvm` sampler: one line
//! per scrape of a node, `{"t_ms", "service", "node", "up", "values": {"<series>": value}}`,
//! a failed scrape `"up": false`).
//!
//! Registered in the report's plot list as `under-replicated` ([`under_replicated`]). A gauge
//! is drawn as steps (a value holds until the next sample; nothing is interpolated between
//! samples) and a failed scrape breaks the line: a gap is a gap.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Chart, Line, PlotInput, Shape};

/// One series per node: the values of every series named `name` (any labels) of a node's
/// samples, as steps, split where a scrape failed; x in seconds since `started`.
pub fn metric_lines(test_dir: &Path, started: DateTime<Utc>, name: &str) -> Vec<Line> {
    let Ok(entries) = std::fs::read_dir(test_dir.join("metrics")) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    let start_ms = started.timestamp_millis();
    let mut lines = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let node = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut segment: Vec<(f64, f64)> = Vec::new();
        let mut flush = |segment: &mut Vec<(f64, f64)>| {
            if !segment.is_empty() {
                lines.push(Line {
                    label: node.clone(),
                    points: std::mem::take(segment),
                    shape: Shape::Steps,
                });
            }
        };
        for sample in text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        {
            let Some(t_ms) = sample["t_ms"].as_i64() else {
                continue;
            };
            #[allow(clippy::cast_precision_loss)]
            let x = (t_ms - start_ms) as f64 / 1000.0;
            let value = sample["up"]
                .as_bool()
                .filter(|up| *up)
                .and_then(|_| sample["values"].as_object())
                .and_then(|values| {
                    values
                        .iter()
                        .filter(|(k, _)| k.split('{').next() == Some(name))
                        .filter_map(|(_, v)| v.as_f64())
                        .reduce(f64::max)
                });
            match value {
                Some(v) => segment.push((x, v)),
                None => flush(&mut segment),
            }
        }
        flush(&mut segment);
    }
    lines
}

/// The report's plot of the brokers' under-replicated partitions (per node, the greatest over
/// its label sets), with the test's fault, bounce and teardown windows; `None` when no broker
/// was sampled (no plot without data).
pub fn under_replicated(input: &PlotInput<'_>) -> Option<Chart> {
    let started = input.summary.started_at()?;
    let lines = metric_lines(input.dir, started, "UnderReplicatedPartitions");
    input.over_time(
        "under-replicated partitions (brokers' JMX)".into(),
        "partitions",
        lines,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_gaps() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("metrics")).unwrap();
        let started = DateTime::from_timestamp_millis(1_000_000).unwrap();
        let line = |t: i64, up: bool, v: f64| {
            if up {
                format!("{{\"t_ms\":{t},\"node\":\"worker2\",\"up\":true,\"values\":{{\"UnderReplicatedPartitions{{type=\\\"ReplicaManager\\\"}}\":{v},\"Other\":9}}}}\n")
            } else {
                format!(
                    "{{\"t_ms\":{t},\"node\":\"worker2\",\"up\":false,\"error\":\"refused\"}}\n"
                )
            }
        };
        let text = [
            line(1_001_000, true, 0.0),
            line(1_006_000, true, 1.0),
            line(1_011_000, false, 0.0),
            line(1_016_000, true, 0.0),
        ]
        .concat();
        std::fs::write(dir.path().join("metrics/worker2.jsonl"), text).unwrap();
        let lines = metric_lines(dir.path(), started, "UnderReplicatedPartitions");
        assert_eq!(
            lines.len(),
            2,
            "the failed scrape splits the line: {lines:?}"
        );
        assert_eq!(lines[0].points, vec![(1.0, 0.0), (6.0, 1.0)]);
        assert_eq!(lines[0].shape, Shape::Steps);
        assert_eq!(lines[1].points, vec![(16.0, 0.0)]);
        assert!(metric_lines(dir.path(), started, "NoSuch").is_empty());
    }
}
