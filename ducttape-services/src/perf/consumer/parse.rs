//! Parsing what `ConsumerPerformance` prints on stdout (its CSV summary, or the
//! `--show-detailed-stats` rows), reading columns by their header names, and adding up several
//! consumers' results.
//!
//! Rows that *look like* the tool's data but do not parse are kept verbatim in
//! [`ConsumerPerfOutput::unparsed`], so a format change shows up in a report instead of
//! silently losing numbers.

use std::collections::HashMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::perf::parse::{max_of, sum_of};

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
/// use ducttape_services::perf::parse_consumer_output;
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

#[cfg(test)]
mod tests {
    use super::*;

    const CONSUMER: &str = include_str!("../../../testdata/consumer_performance.txt");
    const CONSUMER_4X: &str = include_str!("../../../testdata/consumer_performance_4x.txt");
    const CONSUMER_DETAILED: &str =
        include_str!("../../../testdata/consumer_performance_detailed.txt");
    const CONSUMER_DETAILED_4X: &str =
        include_str!("../../../testdata/consumer_performance_detailed_4x.txt");

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
    fn output_round_trips_through_json() {
        let out = parse_consumer_output(CONSUMER_DETAILED);
        let json = serde_json::to_value(&out).unwrap();
        assert_eq!(json["intervals"][1]["records_consumed"], 3179881);
        assert_eq!(json["intervals"][1]["thread_id"], 0);
        assert_eq!(
            serde_json::from_value::<ConsumerPerfOutput>(json).unwrap(),
            out
        );
    }
}
