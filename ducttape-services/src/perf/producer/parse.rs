//! Parsing what `ProducerPerformance` prints on stdout (window lines and the final line(s)),
//! and adding up several producers' results.
//!
//! Lines that are not the tool's data (log lines, the deprecation warnings Kafka 4.x prints on
//! stdout) are skipped. Lines that *look like* the tool's data but do not parse are kept verbatim
//! in [`ProducerPerfOutput::unparsed`], so a format change shows up in a report instead of
//! silently losing numbers (ducktape's parser dropped every window line).

use once_cell::sync::Lazy;
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::perf::parse::{capture, max_of, static_regex, sum_of, NUM};

/// `ProducerPerformance` window and final lines (and the REST producer's `records processed`).
/// Kafka 4.x with `--warmup-records` prints a second final line,
/// `N steady state records sent, …`.
static PRODUCER_LINE: Lazy<Regex> = Lazy::new(|| {
    static_regex(&format!(
        r"^(?P<records>[0-9]+)(?P<steady> steady state)? records (?:sent|processed), (?P<rps>{NUM}) records/sec \((?P<mbps>{NUM}) MB/sec\), (?P<avg>{NUM}) ms avg latency, (?P<max>{NUM}) ms max latency(?:, (?P<p50>{NUM}) ms 50th, (?P<p95>{NUM}) ms 95th, (?P<p99>{NUM}) ms 99th, (?P<p999>{NUM}) ms 99\.9th)?\.$"
    ))
});

/// One `ProducerPerformance` reporting window (every 5 s by default):
/// `N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency.`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProducerPerfWindow {
    /// Records acknowledged in the window.
    pub records: u64,
    /// Acknowledged records per second over the window.
    pub records_per_sec: f64,
    /// Acknowledged MiB per second over the window.
    pub mb_per_sec: f64,
    /// Mean send-to-acknowledgement latency in the window, in ms.
    pub avg_latency_ms: f64,
    /// Largest send-to-acknowledgement latency in the window, in ms.
    pub max_latency_ms: f64,
}

/// `ProducerPerformance`'s final line: `N records sent, X records/sec (Y MB/sec), A ms avg
/// latency, M ms max latency, P50 ms 50th, P95 ms 95th, P99 ms 99th, P999 ms 99.9th.`
///
/// Latencies are measured from the actual send, so queueing delay before it is hidden
/// (coordinated omission).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProducerPerfResult {
    /// Records acknowledged over the run.
    pub records: u64,
    /// Acknowledged records per second over the run.
    pub records_per_sec: f64,
    /// Acknowledged MiB per second over the run.
    pub mb_per_sec: f64,
    /// Mean send-to-acknowledgement latency, in ms.
    pub avg_latency_ms: f64,
    /// Largest send-to-acknowledgement latency, in ms.
    pub max_latency_ms: f64,
    /// Median latency, in ms.
    pub p50_ms: f64,
    /// 95th percentile latency, in ms.
    pub p95_ms: f64,
    /// 99th percentile latency, in ms.
    pub p99_ms: f64,
    /// 99.9th percentile latency, in ms.
    pub p999_ms: f64,
}

/// One line of `ProducerPerformance` output, as [`parse_producer_line`] recognises it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ProducerPerfLine {
    /// A reporting window.
    Window(ProducerPerfWindow),
    /// The final line, over the whole run.
    Final(ProducerPerfResult),
    /// Kafka 4.x with `--warmup-records`: the final line over the records after the warm-up
    /// (`N steady state records sent, …`), printed after the whole-run one.
    SteadyState(ProducerPerfResult),
}

/// Everything read from a `ProducerPerformance` run's stdout.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProducerPerfOutput {
    /// The reporting windows, in the order printed.
    pub windows: Vec<ProducerPerfWindow>,
    /// The whole-run result; `None` if the run did not finish.
    pub result: Option<ProducerPerfResult>,
    /// The steady-state result (Kafka 4.x with `--warmup-records` only).
    pub steady_state: Option<ProducerPerfResult>,
    /// Lines that look like the tool's data (a number, then `records sent`/`records processed`)
    /// but did not parse, or repeat a final line already read; kept verbatim for the report.
    pub unparsed: Vec<String>,
}

impl ProducerPerfOutput {
    /// Reads one more line of stdout, for callers that follow the tool as it runs.
    pub fn push_line(&mut self, line: &str) {
        let slot = match parse_producer_line(line) {
            Some(ProducerPerfLine::Window(window)) => {
                self.windows.push(window);
                return;
            }
            Some(ProducerPerfLine::Final(result)) => (&mut self.result, result),
            Some(ProducerPerfLine::SteadyState(result)) => (&mut self.steady_state, result),
            None if looks_like_producer_line(line) => {
                self.unparsed.push(line.trim().to_owned());
                return;
            }
            None => return,
        };
        match slot {
            (empty @ None, result) => *empty = Some(result),
            // A second final line (two runs in one file?): keep it visible, keep the first.
            (Some(_), _) => self.unparsed.push(line.trim().to_owned()),
        }
    }
}

/// Whether `line` claims to be `ProducerPerformance` data: starts with a number and says
/// `records sent` (or the REST producer's `records processed`).
fn looks_like_producer_line(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with(|c: char| c.is_ascii_digit())
        && (line.contains("records sent") || line.contains("records processed"))
}

/// Parses one line of `ProducerPerformance` output; `None` for anything else.
///
/// ```
/// use ducttape_services::perf::{parse_producer_line, ProducerPerfLine};
///
/// let line = "250249 records sent, 50049.8 records/sec (4.77 MB/sec), 0.7 ms avg latency, 17.0 ms max latency.";
/// let Some(ProducerPerfLine::Window(window)) = parse_producer_line(line) else { panic!() };
/// assert_eq!(window.records, 250249);
/// assert_eq!(parse_producer_line("[2026-11-29 16:36:09] INFO starting"), None);
/// ```
pub fn parse_producer_line(line: &str) -> Option<ProducerPerfLine> {
    let caps = PRODUCER_LINE.captures(line.trim())?;
    let window = ProducerPerfWindow {
        records: capture(&caps, "records")?,
        records_per_sec: capture(&caps, "rps")?,
        mb_per_sec: capture(&caps, "mbps")?,
        avg_latency_ms: capture(&caps, "avg")?,
        max_latency_ms: capture(&caps, "max")?,
    };
    let steady_state = caps.name("steady").is_some();
    if caps.name("p50").is_none() {
        // Only final lines carry the steady-state marker.
        return (!steady_state).then_some(ProducerPerfLine::Window(window));
    }
    let result = ProducerPerfResult {
        records: window.records,
        records_per_sec: window.records_per_sec,
        mb_per_sec: window.mb_per_sec,
        avg_latency_ms: window.avg_latency_ms,
        max_latency_ms: window.max_latency_ms,
        p50_ms: capture(&caps, "p50")?,
        p95_ms: capture(&caps, "p95")?,
        p99_ms: capture(&caps, "p99")?,
        p999_ms: capture(&caps, "p999")?,
    };
    Some(if steady_state {
        ProducerPerfLine::SteadyState(result)
    } else {
        ProducerPerfLine::Final(result)
    })
}

/// Parses a whole `ProducerPerformance` stdout: windows, final line(s), and the lines that
/// look like data but did not parse.
///
/// ```
/// use ducttape_services::perf::parse_producer_output;
///
/// let out = parse_producer_output(
///     "Option --producer-props has been deprecated and will be removed in a future version.\n\
///      250233 records sent, 50016.6 records/sec (4.77 MB/sec), 2.0 ms avg latency, 13.0 ms max latency.\n\
///      900000 records sent, 49911.268855 records/sec (4.76 MB/sec), 520.14 ms avg latency, \
///      2046.00 ms max latency, 3 ms 50th, 2008 ms 95th, 2038 ms 99th, 2044 ms 99.9th.\n",
/// );
/// assert_eq!(out.windows.len(), 1);
/// assert_eq!(out.result.map(|r| r.p99_ms), Some(2038.0));
/// assert!(out.unparsed.is_empty());
/// ```
pub fn parse_producer_output(text: &str) -> ProducerPerfOutput {
    let mut out = ProducerPerfOutput::default();
    for line in text.lines() {
        out.push_line(line);
    }
    out
}

/// Adds up the results of producers that ran at the same time; `None` for no results.
///
/// Records, records/s and MB/s are summed; the maximum latency is the largest; the average
/// latency is weighted by each worker's records. Each percentile is the largest of the workers'
/// percentiles: conservative (never below the true merged percentile, as at least that share of
/// the slowest worker's records were that slow or slower), not a true merged percentile, which
/// would need the workers' histograms.
pub fn aggregate_producers(results: &[ProducerPerfResult]) -> Option<ProducerPerfResult> {
    if results.is_empty() {
        return None;
    }
    let records: u64 = results.iter().map(|r| r.records).sum();
    let avg_latency_ms = if records == 0 {
        sum_of(results, |r| r.avg_latency_ms) / results.len() as f64
    } else {
        sum_of(results, |r| r.avg_latency_ms * r.records as f64) / records as f64
    };
    Some(ProducerPerfResult {
        records,
        records_per_sec: sum_of(results, |r| r.records_per_sec),
        mb_per_sec: sum_of(results, |r| r.mb_per_sec),
        avg_latency_ms,
        max_latency_ms: max_of(results, |r| r.max_latency_ms),
        p50_ms: max_of(results, |r| r.p50_ms),
        p95_ms: max_of(results, |r| r.p95_ms),
        p99_ms: max_of(results, |r| r.p99_ms),
        p999_ms: max_of(results, |r| r.p999_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRODUCER: &str = include_str!("../../../testdata/producer_performance.txt");
    const PRODUCER_4X: &str = include_str!("../../../testdata/producer_performance_4x.txt");
    const PRODUCER_UNTHROTTLED: &str =
        include_str!("../../../testdata/producer_performance_unthrottled.txt");

    fn window(records: u64, rps: f64, mbps: f64, avg: f64, max: f64) -> ProducerPerfWindow {
        ProducerPerfWindow {
            records,
            records_per_sec: rps,
            mb_per_sec: mbps,
            avg_latency_ms: avg,
            max_latency_ms: max,
        }
    }

    fn result(w: ProducerPerfWindow, [p50, p95, p99, p999]: [f64; 4]) -> ProducerPerfResult {
        ProducerPerfResult {
            records: w.records,
            records_per_sec: w.records_per_sec,
            mb_per_sec: w.mb_per_sec,
            avg_latency_ms: w.avg_latency_ms,
            max_latency_ms: w.max_latency_ms,
            p50_ms: p50,
            p95_ms: p95,
            p99_ms: p99,
            p999_ms: p999,
        }
    }

    /// Every window line is kept and the final line read, in 3.x and in 4.x (whose stdout
    /// starts with a deprecation warning).
    #[rstest::rstest]
    #[case::kafka_3x(PRODUCER, [
        window(249802, 49960.4, 4.76, 3.6, 204.0),
        window(250249, 50049.8, 4.77, 0.7, 17.0),
        window(250051, 50010.2, 4.77, 0.6, 30.0),
    ], result(window(900000, 49969.463106, 4.77, 1.40, 204.00), [0.0, 4.0, 44.0, 51.0]))]
    #[case::kafka_4x(PRODUCER_4X, [
        window(74445, 14862.2, 1.42, 1662.9, 1923.0),
        window(424982, 84979.4, 8.10, 808.3, 2046.0),
        window(250233, 50016.6, 4.77, 2.0, 13.0),
    ], result(window(900000, 49911.268855, 4.76, 520.14, 2046.00), [3.0, 2008.0, 2038.0, 2044.0]))]
    fn producer_output_keeps_windows_and_final_line(
        #[case] text: &str,
        #[case] windows: [ProducerPerfWindow; 3],
        #[case] final_line: ProducerPerfResult,
    ) {
        let out = parse_producer_output(text);
        assert_eq!(
            out,
            ProducerPerfOutput {
                windows: windows.to_vec(),
                result: Some(final_line),
                steady_state: None,
                unparsed: vec![],
            }
        );
    }

    #[test]
    fn kafka_4x_prints_a_warning_first() {
        let first = PRODUCER_4X.lines().next().unwrap_or_default();
        assert!(first.starts_with("Option --producer-props has been deprecated"));
        assert_eq!(parse_producer_line(first), None);
    }

    #[test]
    fn producer_run_shorter_than_a_window_has_only_the_final_line() {
        let out = parse_producer_output(PRODUCER_UNTHROTTLED);
        assert!(out.windows.is_empty());
        assert_eq!(
            out.result,
            Some(result(
                window(300000, 126156.433978, 12.03, 907.53, 1124.00),
                [1072.0, 1117.0, 1120.0, 1122.0]
            ))
        );
        assert!(out.unparsed.is_empty());
    }

    #[test]
    fn rest_producer_records_processed_parses_like_records_sent() {
        let processed = PRODUCER.replace("records sent", "records processed");
        assert_eq!(
            parse_producer_output(&processed),
            parse_producer_output(PRODUCER)
        );
    }

    #[test]
    fn kafka_4x_warmup_prints_a_steady_state_final_line() {
        // Real Kafka 4.4.0 output, `--num-records 300000 --warmup-records 100000`.
        let text = "Warmup first 100000 records. Steady state results will print after the complete test summary.\n\
            300000 records sent, 49891.900881 records/sec (4.76 MB/sec), 8.22 ms avg latency, 345.00 ms max latency, 2 ms 50th, 60 ms 95th, 88 ms 99th, 99 ms 99.9th.\n\
            200000 steady state records sent, 49677.098857 records/sec (4.74 MB/sec), 1.91 ms avg latency, 13.00 ms max latency, 2 ms 50th, 5 ms 95th, 8 ms 99th, 11 ms 99.9th.\n";
        let out = parse_producer_output(text);
        assert_eq!(
            out,
            ProducerPerfOutput {
                windows: vec![],
                result: Some(result(
                    window(300000, 49891.900881, 4.76, 8.22, 345.00),
                    [2.0, 60.0, 88.0, 99.0]
                )),
                steady_state: Some(result(
                    window(200000, 49677.098857, 4.74, 1.91, 13.00),
                    [2.0, 5.0, 8.0, 11.0]
                )),
                unparsed: vec![],
            }
        );
    }

    #[test]
    fn producer_lines_that_look_like_data_but_do_not_parse_are_kept() {
        let garbled = "249802 records sent, 49960,4 records/sec (4,76 MB/sec), 3,6 ms avg latency, 204,0 ms max latency.";
        let truncated = "900000 records sent, 49969.463106 records/sec (4.77 MB/sec), 1.40 ms avg";
        let text = format!("{PRODUCER}{garbled}\n{truncated}\n");
        let out = parse_producer_output(&text);
        assert_eq!(out.windows.len(), 3);
        assert_eq!(out.unparsed, vec![garbled, truncated]);
    }

    #[test]
    fn a_second_final_line_is_reported_not_overwritten() {
        let out = parse_producer_output(&format!("{PRODUCER}{PRODUCER_UNTHROTTLED}"));
        assert_eq!(out.result.map(|r| r.records), Some(900000));
        assert_eq!(out.unparsed, vec![PRODUCER_UNTHROTTLED.trim()]);
    }

    #[test]
    fn producer_line_is_usable_alone_for_streaming() {
        let mut lines = PRODUCER.lines().map(parse_producer_line);
        assert!(matches!(
            lines.next(),
            Some(Some(ProducerPerfLine::Window(w))) if w.records == 249802
        ));
        assert!(matches!(
            lines.nth(2),
            Some(Some(ProducerPerfLine::Final(r))) if r.p999_ms == 51.0
        ));
        assert_eq!(parse_producer_line("In steady state."), None);
        assert_eq!(parse_producer_line(""), None);
        // The steady-state marker belongs to final lines only.
        assert_eq!(
            parse_producer_line("5 steady state records sent, 1.0 records/sec (0.00 MB/sec), 1.0 ms avg latency, 1.0 ms max latency."),
            None
        );
    }

    #[test]
    fn java_nan_and_infinity_parse() {
        let line = "0 records sent, NaN records/sec (Infinity MB/sec), NaN ms avg latency, -Infinity ms max latency.";
        let Some(ProducerPerfLine::Window(w)) = parse_producer_line(line) else {
            panic!("{line} did not parse");
        };
        assert!(w.records_per_sec.is_nan() && w.avg_latency_ms.is_nan());
        assert_eq!(w.mb_per_sec, f64::INFINITY);
        assert_eq!(w.max_latency_ms, f64::NEG_INFINITY);
    }

    #[test]
    fn aggregate_producers_sums_rates_and_takes_conservative_latencies() {
        let a = result(window(100, 10.0, 1.0, 2.0, 50.0), [1.0, 5.0, 9.0, 40.0]);
        let b = result(window(300, 30.0, 3.0, 6.0, 20.0), [2.0, 4.0, 19.0, 20.0]);
        let total = aggregate_producers(&[a.clone(), b]);
        assert_eq!(
            total,
            Some(result(
                // avg weighted by records: (100*2 + 300*6) / 400 = 5
                window(400, 40.0, 4.0, 5.0, 50.0),
                [2.0, 5.0, 19.0, 40.0]
            ))
        );
        assert_eq!(aggregate_producers(std::slice::from_ref(&a)), Some(a));
        assert_eq!(aggregate_producers(&[]), None);
        let idle = result(window(0, 0.0, 0.0, 3.0, 3.0), [0.0; 4]);
        let both_idle = aggregate_producers(&[idle.clone(), idle]);
        assert_eq!(both_idle.map(|r| r.avg_latency_ms), Some(3.0));
    }

    #[test]
    fn aggregate_real_producer_results() {
        let results: Vec<ProducerPerfResult> = [PRODUCER, PRODUCER_4X, PRODUCER_UNTHROTTLED]
            .iter()
            .filter_map(|text| parse_producer_output(text).result)
            .collect();
        let total = aggregate_producers(&results).unwrap();
        assert_eq!(total.records, 2_100_000);
        assert!(
            (total.records_per_sec - (49969.463106 + 49911.268855 + 126156.433978)).abs() < 1e-6
        );
        let weighted = (900000.0 * 1.40 + 900000.0 * 520.14 + 300000.0 * 907.53) / 2_100_000.0;
        assert!((total.avg_latency_ms - weighted).abs() < 1e-9);
        assert_eq!(
            (total.max_latency_ms, total.p50_ms, total.p999_ms),
            (2046.0, 1072.0, 2044.0)
        );
    }

    #[test]
    fn output_round_trips_through_json() {
        let out = parse_producer_output(PRODUCER);
        let json = serde_json::to_string(&out).unwrap();
        assert_eq!(
            serde_json::from_str::<ProducerPerfOutput>(&json).unwrap(),
            out
        );
    }
}
