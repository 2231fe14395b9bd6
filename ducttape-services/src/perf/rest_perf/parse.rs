//! The REST perf client's line format, rendered by `ducttape-tests/src/bin/rest-perf.rs` and
//! parsed here for [`RestPerfService`](super::RestPerfService): one place for both sides.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The line prefix of the REST perf client (`rest-perf`, in `ducttape-tests`); its lines are
/// rendered and parsed here so the format lives in one place.
pub const REST_PERF_PREFIX: &str = "rest-perf";

/// What the REST perf client did in one reporting window, or over its whole run.
///
/// Rendered as one line of `key=value` fields after `rest-perf window` or `rest-perf result`:
/// `rest-perf result mode=produce elapsed_ms=1520 records=5000 bytes=500000
/// records_per_sec=3289.5 mb_per_sec=0.314 avg_us=2411 p50_us=2203 p95_us=3871 p99_us=5911
/// p999_us=9151 max_us=11007 errors=0 cpu_ms=830`; a consumer's lines add `redelivered=N`.
/// Latencies come from an HDR histogram in µs;
/// with a target rate they are measured from each request's *intended* send time, so a proxy
/// that falls behind shows its queueing delay (no coordinated omission).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestPerfStats {
    /// `produce` or `consume`.
    pub mode: String,
    /// Length of the window (or of the run), in ms.
    pub elapsed_ms: u64,
    /// Records acknowledged (produce), or read (consume): distinct (partition, offset) pairs,
    /// so a record pixy hands out twice counts once and cannot make up for one never read.
    pub records: u64,
    /// Their value bytes.
    pub bytes: u64,
    /// Records per second.
    pub records_per_sec: f64,
    /// MiB of values per second.
    pub mb_per_sec: f64,
    /// Mean latency, in µs.
    pub avg_us: f64,
    /// Median latency, in µs.
    pub p50_us: u64,
    /// 95th percentile latency, in µs.
    pub p95_us: u64,
    /// 99th percentile latency, in µs.
    pub p99_us: u64,
    /// 99.9th percentile latency, in µs.
    pub p999_us: u64,
    /// Largest latency, in µs.
    pub max_us: u64,
    /// Requests that failed (HTTP error or transport).
    pub errors: u64,
    /// Consume: answers carrying a (partition, offset) already read, not in
    /// [`records`](Self::records). `None` on a producer's lines, and on a consumer's only from
    /// a client that counted answers rather than records (then `records` may hide a
    /// redelivery).
    pub redelivered: Option<u64>,
    /// CPU time (user + system) the client used over the run, in ms (result line only).
    pub cpu_ms: Option<u64>,
}

impl RestPerfStats {
    /// The window line.
    pub fn window_line(&self) -> String {
        format!("{REST_PERF_PREFIX} window {}", self.fields())
    }

    /// The final result line.
    pub fn result_line(&self) -> String {
        format!("{REST_PERF_PREFIX} result {}", self.fields())
    }

    fn fields(&self) -> String {
        let mut line = format!(
            "mode={} elapsed_ms={} records={} bytes={} records_per_sec={:.1} mb_per_sec={:.3} \
             avg_us={:.0} p50_us={} p95_us={} p99_us={} p999_us={} max_us={} errors={}",
            self.mode,
            self.elapsed_ms,
            self.records,
            self.bytes,
            self.records_per_sec,
            self.mb_per_sec,
            self.avg_us,
            self.p50_us,
            self.p95_us,
            self.p99_us,
            self.p999_us,
            self.max_us,
            self.errors
        );
        if let Some(redelivered) = self.redelivered {
            line.push_str(&format!(" redelivered={redelivered}"));
        }
        if let Some(cpu) = self.cpu_ms {
            line.push_str(&format!(" cpu_ms={cpu}"));
        }
        line
    }

    /// Parses the `key=value` fields of a window or result line (after its two first words).
    fn parse_fields(text: &str) -> Option<Self> {
        let fields: BTreeMap<&str, &str> = text
            .split_whitespace()
            .map(|f| f.split_once('='))
            .collect::<Option<_>>()?;
        let num = |k: &str| fields.get(k)?.parse::<u64>().ok();
        let float = |k: &str| fields.get(k)?.parse::<f64>().ok();
        // Absent: `None`; present and not a number: the line does not parse.
        let optional = |k: &str| match fields.get(k) {
            Some(v) => v.parse::<u64>().ok().map(Some),
            None => Some(None),
        };
        Some(Self {
            mode: fields.get("mode")?.to_string(),
            elapsed_ms: num("elapsed_ms")?,
            records: num("records")?,
            bytes: num("bytes")?,
            records_per_sec: float("records_per_sec")?,
            mb_per_sec: float("mb_per_sec")?,
            avg_us: float("avg_us")?,
            p50_us: num("p50_us")?,
            p95_us: num("p95_us")?,
            p99_us: num("p99_us")?,
            p999_us: num("p999_us")?,
            max_us: num("max_us")?,
            errors: num("errors")?,
            redelivered: optional("redelivered")?,
            cpu_ms: optional("cpu_ms")?,
        })
    }
}

/// Everything read from a REST perf client's output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RestPerfOutput {
    /// The reporting windows, in the order printed.
    pub windows: Vec<RestPerfStats>,
    /// The whole-run result; `None` if the run did not finish.
    pub result: Option<RestPerfStats>,
    /// The client's `rest-perf error …` lines (it prints the first few failed requests).
    pub errors: Vec<String>,
    /// `rest-perf` lines that did not parse, kept verbatim.
    pub unparsed: Vec<String>,
}

/// Parses a REST perf client's whole output; lines not its own are ignored.
pub fn parse_rest_perf_output(text: &str) -> RestPerfOutput {
    let mut out = RestPerfOutput::default();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix(REST_PERF_PREFIX) else {
            continue;
        };
        let (kind, fields) = rest.trim_start().split_once(' ').unwrap_or((rest, ""));
        match (kind, RestPerfStats::parse_fields(fields)) {
            ("window", Some(stats)) => out.windows.push(stats),
            ("result", Some(stats)) if out.result.is_none() => out.result = Some(stats),
            ("error" | "error:", _) => out.errors.push(line.to_string()),
            _ => out.unparsed.push(line.to_string()),
        }
    }
    out
}

/// Several REST workers' results together: throughput summed, latency percentiles the worst
/// worker's (a sum of histograms is not printed), elapsed the longest.
pub fn aggregate_rest(results: &[RestPerfStats]) -> Option<RestPerfStats> {
    let first = results.first()?;
    let mut total = first.clone();
    for r in &results[1..] {
        total.records += r.records;
        total.bytes += r.bytes;
        total.records_per_sec += r.records_per_sec;
        total.mb_per_sec += r.mb_per_sec;
        total.errors += r.errors;
        // One worker that counted answers makes the sum one that may hide a redelivery.
        total.redelivered = match (total.redelivered, r.redelivered) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        total.elapsed_ms = total.elapsed_ms.max(r.elapsed_ms);
        total.p50_us = total.p50_us.max(r.p50_us);
        total.p95_us = total.p95_us.max(r.p95_us);
        total.p99_us = total.p99_us.max(r.p99_us);
        total.p999_us = total.p999_us.max(r.p999_us);
        total.max_us = total.max_us.max(r.max_us);
        total.avg_us = total.avg_us.max(r.avg_us);
        total.cpu_ms = match (total.cpu_ms, r.cpu_ms) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from `rest-perf` runs against kafka-pixy (rest_perf_workers_* and the dead-proxy
    // test in native_vs_rest.rs).
    const REST_PRODUCE: &str = include_str!("../../../testdata/rest_perf_produce.txt");
    const REST_CONSUME: &str = include_str!("../../../testdata/rest_perf_consume.txt");
    const REST_FAILED: &str = include_str!("../../../testdata/rest_perf_failed.txt");
    // A consumer asked for one record more than the topic held (the same test).
    const REST_CONSUME_SHORT: &str = include_str!("../../../testdata/rest_perf_consume_short.txt");

    #[test]
    fn rest_perf_output_parses_windows_result_and_errors() {
        let out = parse_rest_perf_output(REST_PRODUCE);
        assert!(out.unparsed.is_empty() && out.errors.is_empty(), "{out:?}");
        assert_eq!(out.windows.len(), 21);
        assert_eq!(out.windows[0].records, 64);
        assert_eq!(out.windows[0].p99_us, 74431);
        assert_eq!(out.windows[0].cpu_ms, None);
        let r = out.result.unwrap();
        assert_eq!(
            (r.mode.as_str(), r.elapsed_ms, r.records, r.bytes, r.errors),
            ("produce", 4216, 3000, 300000, 0)
        );
        assert_eq!(
            (r.p50_us, r.p95_us, r.p99_us, r.p999_us, r.max_us),
            (10311, 17535, 24607, 72127, 74431)
        );
        assert!((r.records_per_sec - 711.6).abs() < 1e-9 && (r.mb_per_sec - 0.068).abs() < 1e-9);
        assert_eq!((r.avg_us, r.cpu_ms), (11194.0, Some(1110)));
        // What the program renders is what it parses back.
        assert_eq!(REST_PRODUCE.lines().last(), Some(r.result_line().as_str()));
        assert_eq!(
            REST_PRODUCE.lines().next(),
            Some(out.windows[0].window_line().as_str())
        );

        let consumed = parse_rest_perf_output(REST_CONSUME).result.unwrap();
        assert_eq!(
            (
                consumed.mode.as_str(),
                consumed.records,
                consumed.redelivered
            ),
            ("consume", 4000, Some(0))
        );
        let short = parse_rest_perf_output(REST_CONSUME_SHORT);
        assert_eq!(
            short
                .result
                .as_ref()
                .map(|r| (r.records, r.errors, r.redelivered)),
            Some((4000, 0, Some(0)))
        );
        assert_eq!(short.errors.len(), 1, "{short:?}");
        assert!(short.errors[0]
            .ends_with("only 4000 of 4001 records read (distinct partition and offset; 0 redelivered; none new for 3s)"));

        let failed = parse_rest_perf_output(REST_FAILED);
        assert_eq!(
            failed.errors.len(),
            6,
            "five failed requests and the shortfall"
        );
        assert!(failed.errors[0].contains("Connection refused"));
        assert!(failed.errors[5].ends_with("only 0 of 100 records acknowledged"));
        assert_eq!(failed.result.map(|r| (r.records, r.errors)), Some((0, 100)));
    }

    #[test]
    fn a_consumers_redeliveries_are_parsed_and_summed() {
        let line = "rest-perf result mode=consume elapsed_ms=2903 records=3999 bytes=399900 \
                    records_per_sec=1377.5 mb_per_sec=0.131 avg_us=4304 p50_us=2719 p95_us=8599 \
                    p99_us=39967 p999_us=200703 max_us=204415 errors=0 redelivered=2 cpu_ms=1560";
        let r = parse_rest_perf_output(line).result.unwrap();
        assert_eq!(
            (r.records, r.redelivered, r.cpu_ms),
            (3999, Some(2), Some(1560))
        );
        assert_eq!(
            r.result_line(),
            line.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        let mut other = r.clone();
        other.redelivered = Some(3);
        assert_eq!(
            aggregate_rest(&[r.clone(), other]).unwrap().redelivered,
            Some(5)
        );
        // A worker that counted answers (no `redelivered`): the sum cannot claim distinct.
        let mut old = r.clone();
        old.redelivered = None;
        assert_eq!(aggregate_rest(&[r, old]).unwrap().redelivered, None);
        assert_eq!(
            parse_rest_perf_output(&line.replace("redelivered=2", "redelivered=x"))
                .unparsed
                .len(),
            1
        );
    }

    #[test]
    fn rest_perf_lines_that_do_not_parse_are_kept() {
        let out = parse_rest_perf_output(
            "noise\nrest-perf window mode=produce records=x\nrest-perf result mode=produce\n",
        );
        assert_eq!(out.unparsed.len(), 2);
        assert!(out.windows.is_empty() && out.result.is_none());
    }

    #[test]
    fn aggregate_rest_sums_rates_and_takes_worst_latency() {
        let a = parse_rest_perf_output(REST_PRODUCE).result.unwrap();
        let mut b = a.clone();
        b.p99_us = 1;
        b.cpu_ms = Some(90);
        let t = aggregate_rest(&[a.clone(), b]).unwrap();
        assert_eq!(
            (t.records, t.p99_us, t.cpu_ms),
            (6000, a.p99_us, Some(1200))
        );
        assert!((t.records_per_sec - 2.0 * a.records_per_sec).abs() < 1e-9);
        assert!(aggregate_rest(&[]).is_none());
    }
}
