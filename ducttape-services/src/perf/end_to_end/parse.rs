//! Parsing what `EndToEndLatency` prints on stdout: a sample every 1000 messages,
//! `Avg latency: X ms` and `Percentiles: 50th = A, 99th = B, 99.9th = C`.
//!
//! Lines that *look like* the tool's data but do not parse are kept verbatim in
//! [`EndToEndLatencyOutput::unparsed`].

use once_cell::sync::Lazy;
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::perf::parse::{capture, static_regex, NUM};

/// `EndToEndLatency` prints `<message index>\t<latency ms>` every 1000 messages.
static E2E_SAMPLE: Lazy<Regex> =
    Lazy::new(|| static_regex(&format!(r"^(?P<index>[0-9]+)\t(?P<ms>{NUM})$")));

/// `Avg latency: 1.2909 ms`
static E2E_AVG: Lazy<Regex> =
    Lazy::new(|| static_regex(&format!(r"^Avg latency: (?P<avg>{NUM}) ms$")));

/// `Percentiles: 50th = 0, 99th = 8, 99.9th = 21`
static E2E_PERCENTILES: Lazy<Regex> = Lazy::new(|| {
    static_regex(&format!(
        r"^Percentiles: 50th = (?P<p50>{NUM}), 99th = (?P<p99>{NUM}), 99\.9th = (?P<p999>{NUM})$"
    ))
});

/// One `EndToEndLatency` sample: the latency of message `index` (printed every 1000 messages).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndToEndLatencySample {
    /// Index of the message in the run.
    pub index: u64,
    /// Its produce-to-consume latency, in ms.
    pub latency_ms: f64,
}

/// `EndToEndLatency`'s result: `Avg latency: X ms` and
/// `Percentiles: 50th = A, 99th = B, 99.9th = C`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndToEndLatencyResult {
    /// Mean produce-to-consume latency, in ms.
    pub avg_ms: f64,
    /// Median latency, in ms.
    pub p50_ms: f64,
    /// 99th percentile latency, in ms.
    pub p99_ms: f64,
    /// 99.9th percentile latency, in ms.
    pub p999_ms: f64,
}

/// Everything read from an `EndToEndLatency` run's stdout.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EndToEndLatencyOutput {
    /// The periodic samples, in the order printed.
    pub samples: Vec<EndToEndLatencySample>,
    /// The result; `None` unless both the `Avg latency` and the `Percentiles` line parsed.
    pub result: Option<EndToEndLatencyResult>,
    /// `Avg latency`/`Percentiles`/sample lines that did not parse, repeat one already read,
    /// or lack their partner line; kept verbatim for the report.
    pub unparsed: Vec<String>,
}

/// Parses a whole `EndToEndLatency` stdout.
///
/// ```
/// use ducttape_services::perf::parse_end_to_end_output;
///
/// let out = parse_end_to_end_output("0\t59.646237\nAvg latency: 1.2909 ms\nPercentiles: 50th = 0, 99th = 8, 99.9th = 21\n");
/// let result = out.result.unwrap();
/// assert_eq!((result.avg_ms, result.p999_ms), (1.2909, 21.0));
/// ```
pub fn parse_end_to_end_output(text: &str) -> EndToEndLatencyOutput {
    let mut out = EndToEndLatencyOutput::default();
    let mut avg: Option<(f64, &str)> = None;
    let mut percentiles: Option<([f64; 3], &str)> = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with("Avg latency") {
            let value = E2E_AVG
                .captures(line)
                .and_then(|caps| capture(&caps, "avg"));
            match (value, avg) {
                (Some(value), None) => avg = Some((value, line)),
                _ => out.unparsed.push(line.to_owned()),
            }
        } else if line.starts_with("Percentiles") {
            let values = E2E_PERCENTILES.captures(line).and_then(|caps| {
                Some([
                    capture(&caps, "p50")?,
                    capture(&caps, "p99")?,
                    capture(&caps, "p999")?,
                ])
            });
            match (values, percentiles) {
                (Some(values), None) => percentiles = Some((values, line)),
                _ => out.unparsed.push(line.to_owned()),
            }
        } else if line.starts_with(|c: char| c.is_ascii_digit()) && line.contains('\t') {
            let sample = E2E_SAMPLE.captures(line).and_then(|caps| {
                Some(EndToEndLatencySample {
                    index: capture(&caps, "index")?,
                    latency_ms: capture(&caps, "ms")?,
                })
            });
            match sample {
                Some(sample) => out.samples.push(sample),
                None => out.unparsed.push(line.to_owned()),
            }
        }
    }
    match (avg, percentiles) {
        (Some((avg_ms, _)), Some(([p50_ms, p99_ms, p999_ms], _))) => {
            out.result = Some(EndToEndLatencyResult {
                avg_ms,
                p50_ms,
                p99_ms,
                p999_ms,
            });
        }
        (avg, percentiles) => out.unparsed.extend(
            avg.map(|(_, line)| line)
                .into_iter()
                .chain(percentiles.map(|(_, line)| line))
                .map(str::to_owned),
        ),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const E2E: &str = include_str!("../../../testdata/end_to_end_latency.txt");
    const E2E_4X: &str = include_str!("../../../testdata/end_to_end_latency_4x.txt");

    #[test]
    fn end_to_end_latency_3x_and_4x() {
        let out = parse_end_to_end_output(E2E);
        assert_eq!(
            out,
            EndToEndLatencyOutput {
                samples: vec![
                    EndToEndLatencySample {
                        index: 0,
                        latency_ms: 59.646237
                    },
                    EndToEndLatencySample {
                        index: 1000,
                        latency_ms: 0.772993
                    },
                ],
                result: Some(EndToEndLatencyResult {
                    avg_ms: 1.2909,
                    p50_ms: 0.0,
                    p99_ms: 8.0,
                    p999_ms: 21.0
                }),
                unparsed: vec![],
            }
        );
        assert!(E2E_4X.starts_with("WARNING: Positional argument usage is deprecated"));
        let out = parse_end_to_end_output(E2E_4X);
        assert_eq!(
            out.samples,
            vec![
                EndToEndLatencySample {
                    index: 0,
                    latency_ms: 57.699186999999995
                },
                EndToEndLatencySample {
                    index: 1000,
                    latency_ms: 0.7835890000000001
                },
            ]
        );
        assert_eq!(
            out.result,
            Some(EndToEndLatencyResult {
                avg_ms: 1.5729,
                p50_ms: 0.0,
                p99_ms: 9.0,
                p999_ms: 13.0
            })
        );
        assert!(out.unparsed.is_empty());
    }

    #[test]
    fn end_to_end_incomplete_or_garbled_lines_are_kept() {
        let out = parse_end_to_end_output("0\t59.6\nAvg latency: 1.2909 ms\n1000\tslow\n");
        assert_eq!(out.result, None);
        assert_eq!(out.unparsed, vec!["1000\tslow", "Avg latency: 1.2909 ms"]);
        let out = parse_end_to_end_output(&format!("{E2E}Percentiles: 50th = 0, 99th = 8\n"));
        assert!(out.result.is_some());
        assert_eq!(out.unparsed, vec!["Percentiles: 50th = 0, 99th = 8"]);
    }
}
