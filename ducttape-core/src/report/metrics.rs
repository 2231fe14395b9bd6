//! The numbers of a run, flattened: one name per number (`<test> results.producer.records_per_sec`),
//! with its unit and which way is better, for the report's tables and run-to-run comparison.
//!
//! Units and directions are read from the name's last part, as the tools and tests name
//! them: `records_per_sec` (records/s, higher is better), `mb_per_sec` (MB/s, higher),
//! `*_ms`/`*_us`/`*_secs` (lower), `lost*`/`errors`/`duplicat*` (lower). Anything else is
//! shown and compared but never called a regression. Window lines (arrays) are plotted, not
//! flattened; so are times of day (`written_at`).

use std::collections::BTreeMap;

use serde_json::Value;

/// Which way a number should move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Throughput: a drop is a regression.
    Higher,
    /// Latency, durations, losses: a rise is a regression.
    Lower,
    /// Counts and settings: compared, never a regression.
    Neither,
}

/// The unit and direction of a number called `name` (its last dotted part decides).
///
/// ```
/// use ducttape_core::report::metrics::{unit_of, Better};
/// assert_eq!(unit_of("t results.p.records_per_sec"), ("records/s", Better::Higher));
/// assert_eq!(unit_of("t results.p.p99_ms"), ("ms", Better::Lower));
/// ```
pub fn unit_of(name: &str) -> (&'static str, Better) {
    let last = name.rsplit(['.', ' ']).next().unwrap_or(name);
    match last {
        l if l.ends_with("records_per_sec") || l == "nmsg_sec" => ("records/s", Better::Higher),
        l if l.ends_with("mb_per_sec") || l == "mb_sec" => ("MB/s", Better::Higher),
        l if l.ends_with("_ms") || l.ends_with("latency_ms") => ("ms", Better::Lower),
        l if l.ends_with("_us") => ("µs", Better::Lower),
        l if l.ends_with("_secs") => ("s", Better::Lower),
        l if l.starts_with("lost") || l.starts_with("duplicat") || l == "errors" => {
            ("", Better::Lower)
        }
        l if l == "bytes" || l.ends_with("_bytes") => ("B", Better::Neither),
        l if l.starts_with("mb_") || l.ends_with("_mb") => ("MB", Better::Neither),
        _ => ("", Better::Neither),
    }
}

fn flatten_into(prefix: &str, v: &Value, out: &mut BTreeMap<String, f64>) {
    match v {
        Value::Number(n) => {
            if let Some(x) = n.as_f64().filter(|x| x.is_finite()) {
                out.insert(prefix.to_string(), x);
            }
        }
        Value::Object(m) => {
            for (k, v) in m {
                if k == "written_at" || k == "format" {
                    continue;
                }
                flatten_into(&format!("{prefix}.{k}"), v, out);
            }
        }
        _ => {}
    }
}

/// The numbers of one test's `summary.json`, named `<test> <path>`: its duration, phases,
/// what it recorded, and each service's results (by service name).
pub fn of_summary(summary: &Value) -> BTreeMap<String, f64> {
    let test = summary["test"].as_str().unwrap_or("?");
    let mut out = BTreeMap::new();
    if let Some(d) = summary["duration_secs"].as_f64() {
        out.insert(format!("{test} duration_secs"), d);
    }
    flatten_into(&format!("{test} phases"), &summary["phases"], &mut out);
    flatten_into(&format!("{test} results"), &summary["results"], &mut out);
    for s in summary["services"].as_array().into_iter().flatten() {
        let name = s["name"].as_str().unwrap_or("?");
        flatten_into(&format!("{test} {name}"), &s["results"], &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_are_named_by_test_and_path_and_arrays_are_left_out() {
        let s = json!({"test": "bench", "duration_secs": 3.5,
            "phases": {"bring_up_secs": 1.0},
            "results": {"p": {"records_per_sec": 10.0, "mode": "x"}, "n": 3},
            "services": [{"name": "producer", "results": {"w1": {"windows": [{"records": 1}],
                "result": {"p99_ms": 4.0}, "written_at": 17.0}}}]});
        let m = of_summary(&s);
        let keys: Vec<&str> = m.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            vec![
                "bench duration_secs",
                "bench phases.bring_up_secs",
                "bench producer.w1.result.p99_ms",
                "bench results.n",
                "bench results.p.records_per_sec"
            ]
        );
        assert_eq!(unit_of(keys[2]), ("ms", Better::Lower));
        assert_eq!(unit_of(keys[3]), ("", Better::Neither));
        assert_eq!(unit_of("x results.lost_acknowledged"), ("", Better::Lower));
    }
}
