//! Parsers for what Kafka's performance tools print on stdout, and the arithmetic that adds up
//! several workers' results.
//!
//! | tool | parser | reads |
//! | --- | --- | --- |
//! | `ProducerPerformance` | [`parse_producer_output`], [`parse_producer_line`] | windows, final line(s) |
//! | `ConsumerPerformance` | [`parse_consumer_output`] | CSV summary or `--show-detailed-stats` rows |
//! | `EndToEndLatency` | [`parse_end_to_end_output`] | samples, `Avg latency`, `Percentiles` |
//!
//! Lines that are not the tool's data (log lines, the deprecation warnings Kafka 4.x prints on
//! stdout) are skipped. Lines that *look like* the tool's data but do not parse are kept verbatim
//! in the output's `unparsed` field, so a format change shows up in a report instead of silently
//! losing numbers (ducktape's parser dropped every `ProducerPerformance` window line).
//!
//! Numbers are read as Java prints them with the default (English) locale: `1234.56`, `NaN`,
//! `Infinity`. Starting the tools is not this module's job.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use once_cell::sync::Lazy;
use regex::{Captures, Regex};
use serde::{Deserialize, Serialize};

/// A number as Java's `%d`, `%f` and `Double.toString` print it, `NaN` and `Infinity` included.
const NUM: &str = r"-?(?:[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|NaN|Infinity)";

/// Compiles one of this module's patterns: they are literals, so one that does not compile is a
/// bug that every test catches, not a runtime condition.
#[allow(clippy::expect_used)] // reason: the invariant above
fn static_regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("static regex")
}

/// `ProducerPerformance` window and final lines (and the REST producer's `records processed`).
/// Kafka 4.x with `--warmup-records` prints a second final line,
/// `N steady state records sent, …`.
static PRODUCER_LINE: Lazy<Regex> = Lazy::new(|| {
    static_regex(&format!(
        r"^(?P<records>[0-9]+)(?P<steady> steady state)? records (?:sent|processed), (?P<rps>{NUM}) records/sec \((?P<mbps>{NUM}) MB/sec\), (?P<avg>{NUM}) ms avg latency, (?P<max>{NUM}) ms max latency(?:, (?P<p50>{NUM}) ms 50th, (?P<p95>{NUM}) ms 95th, (?P<p99>{NUM}) ms 99th, (?P<p999>{NUM}) ms 99\.9th)?\.$"
    ))
});

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

/// The named capture `name` of `caps`, parsed; `None` if it is absent or does not parse.
fn capture<T: FromStr>(caps: &Captures<'_>, name: &str) -> Option<T> {
    caps.name(name)?.as_str().parse().ok()
}

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
/// use ducttape_services::perf::parse::{parse_producer_line, ProducerPerfLine};
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
/// use ducttape_services::perf::parse::parse_producer_output;
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

// ConsumerPerformance CSV column names, as printed in its header.
const COL_TIME: &str = "time";
const COL_THREAD_ID: &str = "threadId";
const COL_MB: &str = "data.consumed.in.MB";
const COL_MB_SEC: &str = "MB.sec";
const COL_RECORDS: &str = "data.consumed.in.nMsg";
const COL_RECORDS_SEC: &str = "nMsg.sec";
const COL_REBALANCE_MS: &str = "rebalance.time.ms";
const COL_FETCH_MS: &str = "fetch.time.ms";
const COL_FETCH_MB_SEC: &str = "fetch.MB.sec";
const COL_FETCH_RECORDS_SEC: &str = "fetch.nMsg.sec";

/// The header `ConsumerPerformance` prints before its summary row.
const SUMMARY_HEADER: &str = "start.time, end.time, data.consumed.in.MB, MB.sec, \
    data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec";
/// The header `ConsumerPerformance --show-detailed-stats` prints before its interval rows.
const INTERVAL_HEADER: &str = "time, threadId, data.consumed.in.MB, MB.sec, \
    data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec";

/// `ConsumerPerformance`'s summary row (printed once at the end, without
/// `--show-detailed-stats`), also the per-interval figures of a [`ConsumerPerfInterval`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsumerPerfResult {
    /// MiB of keys and values consumed (`data.consumed.in.MB`).
    pub mb_consumed: f64,
    /// MiB per second over the elapsed time (`MB.sec`).
    pub mb_per_sec: f64,
    /// Records consumed (`data.consumed.in.nMsg`); may exceed `--messages`, as the tool stops
    /// after a whole batch.
    pub records_consumed: u64,
    /// Records per second over the elapsed time (`nMsg.sec`).
    pub records_per_sec: f64,
    /// Time spent joining the group, in ms (`rebalance.time.ms`).
    pub rebalance_time_ms: f64,
    /// Elapsed time minus rebalance time, in ms (`fetch.time.ms`).
    pub fetch_time_ms: f64,
    /// MiB per second over the fetch time (`fetch.MB.sec`).
    pub fetch_mb_per_sec: f64,
    /// Records per second over the fetch time (`fetch.nMsg.sec`).
    pub fetch_records_per_sec: f64,
}

/// One `ConsumerPerformance --show-detailed-stats` row (every `--reporting-interval` ms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsumerPerfInterval {
    /// End of the interval, as the tool formats it (`--date-format`).
    pub time: String,
    /// `threadId` (always 0 since the consumer became single-threaded).
    pub thread_id: u32,
    /// The figures: `mb_consumed` and `records_consumed` are running totals, the rates and
    /// times are for this interval.
    #[serde(flatten)]
    pub stats: ConsumerPerfResult,
}

/// Everything read from a `ConsumerPerformance` run's stdout.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConsumerPerfOutput {
    /// `--show-detailed-stats` rows, in the order printed.
    pub intervals: Vec<ConsumerPerfInterval>,
    /// The summary row; the tool prints none with `--show-detailed-stats`.
    pub result: Option<ConsumerPerfResult>,
    /// Rows (a line starting with a digit and holding a comma) that did not parse against the
    /// header, or repeat a summary row already read; kept verbatim for the report.
    pub unparsed: Vec<String>,
}

/// Which kind of row a CSV header introduces.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RowKind {
    Summary,
    Interval,
}

/// A `ConsumerPerformance` header: the row kind and where each named column is, so that rows
/// are read by column name and a column added by a later Kafka does not shift the others.
#[derive(Debug, Clone)]
struct CsvLayout {
    kind: RowKind,
    width: usize,
    columns: HashMap<String, usize>,
}

fn split_csv(line: &str) -> Vec<&str> {
    line.split(',').map(str::trim).collect()
}

impl CsvLayout {
    /// The layout `line` declares, if it is a header (first column `start.time` or `time`).
    fn from_header(line: &str) -> Option<Self> {
        let names = split_csv(line);
        let kind = match *names.first()? {
            "start.time" => RowKind::Summary,
            COL_TIME => RowKind::Interval,
            _ => return None,
        };
        let columns = names
            .iter()
            .enumerate()
            .map(|(index, name)| ((*name).to_owned(), index))
            .collect();
        Some(Self {
            kind,
            width: names.len(),
            columns,
        })
    }

    /// The layout of a row seen without a header (`--hide-header`): an interval row has the
    /// integer thread id in its second column, a summary row the end time.
    fn guess(row: &[&str]) -> Option<Self> {
        let interval = row.get(1).is_some_and(|f| f.parse::<u32>().is_ok());
        Self::from_header(if interval {
            INTERVAL_HEADER
        } else {
            SUMMARY_HEADER
        })
    }

    fn number<T: FromStr>(&self, row: &[&str], column: &str) -> Option<T> {
        row.get(*self.columns.get(column)?)?.parse().ok()
    }

    fn stats(&self, row: &[&str]) -> Option<ConsumerPerfResult> {
        Some(ConsumerPerfResult {
            mb_consumed: self.number(row, COL_MB)?,
            mb_per_sec: self.number(row, COL_MB_SEC)?,
            records_consumed: self.number(row, COL_RECORDS)?,
            records_per_sec: self.number(row, COL_RECORDS_SEC)?,
            rebalance_time_ms: self.number(row, COL_REBALANCE_MS)?,
            fetch_time_ms: self.number(row, COL_FETCH_MS)?,
            fetch_mb_per_sec: self.number(row, COL_FETCH_MB_SEC)?,
            fetch_records_per_sec: self.number(row, COL_FETCH_RECORDS_SEC)?,
        })
    }

    /// Adds `row` to `out`; `false` if it does not fit this layout.
    fn read_row(&self, row: &[&str], out: &mut ConsumerPerfOutput) -> bool {
        if row.len() != self.width {
            return false;
        }
        let Some(stats) = self.stats(row) else {
            return false;
        };
        match self.kind {
            RowKind::Summary if out.result.is_none() => out.result = Some(stats),
            RowKind::Summary => return false,
            RowKind::Interval => {
                let time = self
                    .columns
                    .get(COL_TIME)
                    .and_then(|&i| row.get(i))
                    .map(|t| (*t).to_owned());
                let (Some(time), Some(thread_id)) = (time, self.number(row, COL_THREAD_ID)) else {
                    return false;
                };
                out.intervals.push(ConsumerPerfInterval {
                    time,
                    thread_id,
                    stats,
                });
            }
        }
        true
    }
}

/// Parses a whole `ConsumerPerformance` stdout (the CSV header and its rows), reading columns
/// by their header names.
///
/// ```
/// use ducttape_services::perf::parse::parse_consumer_output;
///
/// let out = parse_consumer_output(
///     "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, \
///      rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec\n\
///      2026-11-29 16:36:09:181, 2026-11-29 16:36:10:176, 28.6191, 28.7629, 300093, \
///      301601.0050, 340, 655, 43.6933, 458157.2519\n",
/// );
/// assert_eq!(out.result.map(|r| r.records_consumed), Some(300093));
/// ```
pub fn parse_consumer_output(text: &str) -> ConsumerPerfOutput {
    let mut out = ConsumerPerfOutput::default();
    let mut header: Option<CsvLayout> = None;
    for line in text.lines().map(str::trim) {
        if let Some(layout) = CsvLayout::from_header(line) {
            header = Some(layout);
            continue;
        }
        if !(line.starts_with(|c: char| c.is_ascii_digit()) && line.contains(',')) {
            continue; // a warning or a metric, not a row
        }
        let row = split_csv(line);
        let read = match &header {
            Some(layout) => layout.read_row(&row, &mut out),
            None => CsvLayout::guess(&row).is_some_and(|layout| layout.read_row(&row, &mut out)),
        };
        if !read {
            out.unparsed.push(line.to_owned());
        }
    }
    out
}

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
/// use ducttape_services::perf::parse::parse_end_to_end_output;
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

fn sum_of<T>(items: &[T], field: impl Fn(&T) -> f64) -> f64 {
    items.iter().map(field).sum()
}

fn max_of<T>(items: &[T], field: impl Fn(&T) -> f64) -> f64 {
    items.iter().map(field).fold(f64::NEG_INFINITY, f64::max)
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

/// Adds up the results of consumers that ran at the same time; `None` for no results.
///
/// Data, records and every rate are summed; rebalance and fetch times are the longest, as the
/// workers ran side by side.
pub fn aggregate_consumers(results: &[ConsumerPerfResult]) -> Option<ConsumerPerfResult> {
    if results.is_empty() {
        return None;
    }
    Some(ConsumerPerfResult {
        mb_consumed: sum_of(results, |r| r.mb_consumed),
        mb_per_sec: sum_of(results, |r| r.mb_per_sec),
        records_consumed: results.iter().map(|r| r.records_consumed).sum(),
        records_per_sec: sum_of(results, |r| r.records_per_sec),
        rebalance_time_ms: max_of(results, |r| r.rebalance_time_ms),
        fetch_time_ms: max_of(results, |r| r.fetch_time_ms),
        fetch_mb_per_sec: sum_of(results, |r| r.fetch_mb_per_sec),
        fetch_records_per_sec: sum_of(results, |r| r.fetch_records_per_sec),
    })
}

/// The line prefix of the REST perf client (`rest-perf`, in `ducttape-tests`); its lines are
/// rendered and parsed here so the format lives in one place.
pub const REST_PERF_PREFIX: &str = "rest-perf";

/// What the REST perf client did in one reporting window, or over its whole run.
///
/// Rendered as one line of `key=value` fields after `rest-perf window` or `rest-perf result`:
/// `rest-perf result mode=produce elapsed_ms=1520 records=5000 bytes=500000
/// records_per_sec=3289.5 mb_per_sec=0.314 avg_us=2411 p50_us=2203 p95_us=3871 p99_us=5911
/// p999_us=9151 max_us=11007 errors=0 cpu_ms=830`. Latencies come from an HDR histogram in µs;
/// with a target rate they are measured from each request's *intended* send time, so a proxy
/// that falls behind shows its queueing delay (no coordinated omission).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestPerfStats {
    /// `produce` or `consume`.
    pub mode: String,
    /// Length of the window (or of the run), in ms.
    pub elapsed_ms: u64,
    /// Records acknowledged (produce) or read (consume).
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
            cpu_ms: match fields.get("cpu_ms") {
                Some(v) => Some(v.parse().ok()?),
                None => None,
            },
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

    const PRODUCER: &str = include_str!("../../testdata/producer_performance.txt");
    const PRODUCER_4X: &str = include_str!("../../testdata/producer_performance_4x.txt");
    const PRODUCER_UNTHROTTLED: &str =
        include_str!("../../testdata/producer_performance_unthrottled.txt");
    const CONSUMER: &str = include_str!("../../testdata/consumer_performance.txt");
    const CONSUMER_4X: &str = include_str!("../../testdata/consumer_performance_4x.txt");
    const CONSUMER_DETAILED: &str =
        include_str!("../../testdata/consumer_performance_detailed.txt");
    const CONSUMER_DETAILED_4X: &str =
        include_str!("../../testdata/consumer_performance_detailed_4x.txt");
    const E2E: &str = include_str!("../../testdata/end_to_end_latency.txt");
    const E2E_4X: &str = include_str!("../../testdata/end_to_end_latency_4x.txt");
    // Captured from `rest-perf` runs against kafka-pixy (rest_perf_workers_* and the dead-proxy
    // test in native_vs_rest.rs).
    const REST_PRODUCE: &str = include_str!("../../testdata/rest_perf_produce.txt");
    const REST_CONSUME: &str = include_str!("../../testdata/rest_perf_consume.txt");
    const REST_FAILED: &str = include_str!("../../testdata/rest_perf_failed.txt");

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

    fn consumer_stats(values: [f64; 8]) -> ConsumerPerfResult {
        let [mb, mbps, records, rps, rebalance, fetch, fetch_mbps, fetch_rps] = values;
        ConsumerPerfResult {
            mb_consumed: mb,
            mb_per_sec: mbps,
            records_consumed: records as u64,
            records_per_sec: rps,
            rebalance_time_ms: rebalance,
            fetch_time_ms: fetch,
            fetch_mb_per_sec: fetch_mbps,
            fetch_records_per_sec: fetch_rps,
        }
    }

    #[test]
    fn consumer_summary_3x_and_4x() {
        let out = parse_consumer_output(CONSUMER);
        assert_eq!(
            out,
            ConsumerPerfOutput {
                intervals: vec![],
                result: Some(consumer_stats([
                    28.6191,
                    28.7629,
                    300093.0,
                    301601.0050,
                    340.0,
                    655.0,
                    43.6933,
                    458157.2519
                ])),
                unparsed: vec![],
            }
        );
        assert!(CONSUMER_4X.starts_with("Warning: --messages is deprecated"));
        let out = parse_consumer_output(CONSUMER_4X);
        assert_eq!(
            out.result,
            Some(consumer_stats([
                28.6228,
                23.3656,
                300132.0,
                245005.7143,
                768.0,
                457.0,
                62.6320,
                656743.9825
            ]))
        );
        assert!(out.intervals.is_empty() && out.unparsed.is_empty());
    }

    #[test]
    fn consumer_detailed_stats_3x_and_4x() {
        let out = parse_consumer_output(CONSUMER_DETAILED);
        assert_eq!(
            out.result, None,
            "no summary row with --show-detailed-stats"
        );
        assert!(out.unparsed.is_empty());
        assert_eq!(
            out.intervals,
            vec![
                ConsumerPerfInterval {
                    time: "2026-11-29 16:35:44:934".into(),
                    thread_id: 0,
                    stats: consumer_stats([
                        39.2772,
                        39.2772,
                        411851.0,
                        411851.0,
                        350.0,
                        650.0,
                        60.4264,
                        633616.9231
                    ]),
                },
                ConsumerPerfInterval {
                    time: "2026-11-29 16:35:45:934".into(),
                    thread_id: 0,
                    stats: consumer_stats([
                        303.2571, 263.9799, 3179881.0, 2768030.0, 0.0, 1000.0, 263.9799, 2768030.0
                    ]),
                },
            ]
        );
        let out = parse_consumer_output(CONSUMER_DETAILED_4X);
        assert_eq!(out.intervals.len(), 1);
        assert_eq!(out.intervals[0].time, "2026-11-29 16:37:33:572");
        assert_eq!(
            out.intervals[0].stats,
            consumer_stats([
                84.6793,
                84.6793,
                887927.0,
                887927.0,
                321.0,
                679.0,
                124.7118,
                1307698.0854
            ])
        );
        assert!(out.result.is_none() && out.unparsed.is_empty());
    }

    #[test]
    fn consumer_columns_are_read_by_name() {
        // A later Kafka adding a column in the middle must not shift the others.
        let text = "start.time, end.time, new.column, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, \
                    nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec\n\
                    2026-11-29 16:36:09:181, 2026-11-29 16:36:10:176, 42, 28.6191, 28.7629, 300093, \
                    301601.0050, 340, 655, 43.6933, 458157.2519\n";
        assert_eq!(
            parse_consumer_output(text).result,
            parse_consumer_output(CONSUMER).result
        );
    }

    #[test]
    fn consumer_rows_without_a_header_are_recognised() {
        let summary: String = CONSUMER.lines().skip(1).collect();
        assert_eq!(
            parse_consumer_output(&summary),
            parse_consumer_output(CONSUMER)
        );
        let intervals: Vec<&str> = CONSUMER_DETAILED.lines().skip(1).collect();
        assert_eq!(
            parse_consumer_output(&intervals.join("\n")),
            parse_consumer_output(CONSUMER_DETAILED)
        );
    }

    #[test]
    fn consumer_rows_that_do_not_parse_are_kept() {
        let short = "2026-11-29 16:36:09:181, 2026-11-29 16:36:10:176, 28.6191";
        let bad = "2026-11-29 16:36:09:181, 2026-11-29 16:36:10:176, 28,6191, 28.7629, 300093, 301601.0050, 340, 655, 43.6933, 458157.2519";
        let out = parse_consumer_output(&format!(
            "{CONSUMER}{short}\nWARNING: Exiting before consuming the expected number of messages: \
             timeout (10000 ms) exceeded.\n{bad}\n"
        ));
        assert_eq!(out.result.map(|r| r.records_consumed), Some(300093));
        assert_eq!(out.unparsed, vec![short, bad]);
        // A second summary row is kept aside, not silently dropped.
        let second = CONSUMER_4X.lines().last().unwrap_or_default();
        let out = parse_consumer_output(&format!("{CONSUMER}{second}\n"));
        assert_eq!(out.unparsed, vec![second]);
    }

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
    fn aggregate_consumers_sums_rates_and_takes_longest_times() {
        let a = parse_consumer_output(CONSUMER).result.unwrap();
        let b = parse_consumer_output(CONSUMER_4X).result.unwrap();
        let total = aggregate_consumers(&[a, b]).unwrap();
        assert_eq!(total.records_consumed, 300093 + 300132);
        assert!((total.mb_consumed - (28.6191 + 28.6228)).abs() < 1e-9);
        assert!((total.records_per_sec - (301601.0050 + 245005.7143)).abs() < 1e-6);
        assert!((total.fetch_mb_per_sec - (43.6933 + 62.6320)).abs() < 1e-9);
        assert_eq!(
            (total.rebalance_time_ms, total.fetch_time_ms),
            (768.0, 655.0)
        );
        assert_eq!(aggregate_consumers(&[]), None);
    }

    #[test]
    fn outputs_round_trip_through_json() {
        let out = parse_consumer_output(CONSUMER_DETAILED);
        let json = serde_json::to_value(&out).unwrap();
        assert_eq!(json["intervals"][1]["records_consumed"], 3179881);
        assert_eq!(json["intervals"][1]["thread_id"], 0);
        assert_eq!(
            serde_json::from_value::<ConsumerPerfOutput>(json).unwrap(),
            out
        );
        let out = parse_producer_output(PRODUCER);
        let json = serde_json::to_string(&out).unwrap();
        assert_eq!(
            serde_json::from_str::<ProducerPerfOutput>(&json).unwrap(),
            out
        );
    }

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
            (consumed.mode.as_str(), consumed.records),
            ("consume", 4000)
        );

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
