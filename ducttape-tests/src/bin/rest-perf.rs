//! `rest-perf`: the REST perf client. Produces or consumes records through kafka-pixy with
//! many requests in flight, and prints a window line every report interval and a result
//! line at the end (records/s, MB/s, latency percentiles from an HDR histogram in µs; the
//! format is [`RestPerfStats`], parsed by the library). It runs on a node as a background
//! worker ([`ducttape_services::perf::RestPerfService`]); exits 1 if a request failed or fewer records
//! than asked were acknowledged or read.
//!
//! ```text
//! rest-perf produce --url http://10.223.0.4:19092 --topic t --records 100000 --record-size 100
//!           [--concurrency 16] [--acks sync|async] [--rate RECORDS_PER_SEC] [--report-interval-ms 5000]
//! rest-perf consume --url http://10.223.0.4:19092 --topic t --records 100000 --group g
//!           [--concurrency 16] [--idle-timeout-ms 30000] [--report-interval-ms 5000]
//! ```
//!
//! With a rate, record `i` is due at `start + i / rate` and its latency is measured from that
//! intended time, not from when a free connection sent it: a proxy that falls behind shows
//! its queueing delay (no coordinated omission).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ducttape_services::kafka_pixy::{PixyClient, RestRecord};
use ducttape_services::perf::{RestPerfStats, REST_PERF_PREFIX};
use ducttape_services::RestError;
use hdrhistogram::Histogram;
use tokio::sync::mpsc;

/// How many failed requests are printed (all are counted).
const PRINTED_ERRORS: u64 = 5;
/// Linux reports CPU times in clock ticks of USER_HZ, 100 on every architecture we run on.
const USER_HZ: u64 = 100;

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("usage: {0}")]
    Usage(String),
    #[error("{0}")]
    Rest(#[from] RestError),
    #[error("cannot build a latency histogram: {0}")]
    Histogram(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Produce,
    Consume,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Produce => "produce",
            Mode::Consume => "consume",
        }
    }
}

#[derive(Debug, Clone)]
struct Args {
    mode: Mode,
    url: String,
    topic: String,
    records: u64,
    concurrency: u64,
    report_interval: Duration,
    record_size: usize,
    sync: bool,
    rate: u64,
    group: String,
    idle_timeout: Duration,
}

fn parse_args(argv: &[String]) -> Result<Args, CliError> {
    let usage = |m: String| CliError::Usage(m);
    let mode = match argv.first().map(String::as_str) {
        Some("produce") => Mode::Produce,
        Some("consume") => Mode::Consume,
        other => {
            return Err(usage(format!(
                "first argument produce|consume, not {other:?}"
            )))
        }
    };
    let mut flags = BTreeMap::new();
    let mut rest = argv[1..].iter();
    while let Some(flag) = rest.next() {
        let name = flag
            .strip_prefix("--")
            .ok_or_else(|| usage(format!("expected --flag, got {flag:?}")))?;
        let value = rest
            .next()
            .ok_or_else(|| usage(format!("--{name} needs a value")))?;
        flags.insert(name.to_string(), value.clone());
    }
    let text = |name: &str, default: Option<&str>| -> Result<String, CliError> {
        flags
            .get(name)
            .cloned()
            .or(default.map(String::from))
            .ok_or_else(|| usage(format!("--{name} is required")))
    };
    let num = |name: &str, default: Option<&str>| -> Result<u64, CliError> {
        let v = text(name, default)?;
        v.parse()
            .map_err(|e| usage(format!("--{name} {v:?}: not a number: {e}")))
    };
    let sync = match text("acks", Some("sync"))?.as_str() {
        "sync" => true,
        "async" => false,
        other => return Err(usage(format!("--acks sync|async, not {other:?}"))),
    };
    let args = Args {
        mode,
        url: text("url", None)?,
        topic: text("topic", None)?,
        records: num("records", None)?,
        concurrency: num("concurrency", Some("16"))?.max(1),
        report_interval: Duration::from_millis(num("report-interval-ms", Some("5000"))?.max(1)),
        record_size: usize::try_from(num("record-size", Some("100"))?)
            .map_err(|e| usage(format!("--record-size: {e}")))?,
        sync,
        rate: num("rate", Some("0"))?,
        group: text("group", Some("rest-perf"))?,
        idle_timeout: Duration::from_millis(num("idle-timeout-ms", Some("30000"))?),
    };
    let known = [
        "url",
        "topic",
        "records",
        "concurrency",
        "report-interval-ms",
        "record-size",
        "acks",
        "rate",
        "group",
        "idle-timeout-ms",
    ];
    if let Some(unknown) = flags.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(usage(format!("unknown flag --{unknown}")));
    }
    Ok(args)
}

/// What a request task tells the reporter.
enum Event {
    Done { latency_us: u64, bytes: u64 },
    Failed(String),
}

/// Counts and latencies of a window or of the whole run.
struct Tally {
    histogram: Histogram<u64>,
    records: u64,
    bytes: u64,
    errors: u64,
    since: Instant,
}

impl Tally {
    fn new(now: Instant) -> Result<Self, CliError> {
        // 1 µs to 1 hour, 3 significant digits.
        let histogram = Histogram::new_with_bounds(1, 3_600_000_000, 3)
            .map_err(|e| CliError::Histogram(e.to_string()))?;
        Ok(Self {
            histogram,
            records: 0,
            bytes: 0,
            errors: 0,
            since: now,
        })
    }

    fn add(&mut self, event: &Event) {
        match event {
            Event::Done { latency_us, bytes } => {
                self.histogram.saturating_record((*latency_us).max(1));
                self.records += 1;
                self.bytes += bytes;
            }
            Event::Failed(_) => self.errors += 1,
        }
    }

    fn stats(&self, mode: Mode, now: Instant) -> RestPerfStats {
        let elapsed = now.duration_since(self.since);
        let secs = elapsed.as_secs_f64().max(1e-9);
        let h = &self.histogram;
        let at = |q: f64| {
            if self.records == 0 {
                0
            } else {
                h.value_at_quantile(q)
            }
        };
        RestPerfStats {
            mode: mode.name().into(),
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            records: self.records,
            bytes: self.bytes,
            records_per_sec: self.records as f64 / secs,
            mb_per_sec: self.bytes as f64 / (1024.0 * 1024.0) / secs,
            avg_us: if self.records == 0 { 0.0 } else { h.mean() },
            p50_us: at(0.5),
            p95_us: at(0.95),
            p99_us: at(0.99),
            p999_us: at(0.999),
            max_us: if self.records == 0 { 0 } else { h.max() },
            errors: self.errors,
            cpu_ms: None,
        }
    }
}

/// Receives every request's outcome, prints a window line every interval and returns the
/// whole run's stats once every sender is gone.
async fn report(
    mode: Mode,
    interval: Duration,
    start: Instant,
    mut events: mpsc::UnboundedReceiver<Event>,
) -> Result<RestPerfStats, CliError> {
    let mut total = Tally::new(start)?;
    let mut window = Tally::new(start)?;
    let mut ticks =
        tokio::time::interval_at(tokio::time::Instant::from_std(start) + interval, interval);
    // A reporter held up (a busy machine) prints one late window, not a burst of empty ones.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => {
                    if let Event::Failed(why) = &event {
                        if total.errors < PRINTED_ERRORS {
                            println!("{REST_PERF_PREFIX} error {why}");
                        }
                    }
                    total.add(&event);
                    window.add(&event);
                }
                None => break,
            },
            _ = ticks.tick() => {
                let now = Instant::now();
                println!("{}", window.stats(mode, now).window_line());
                window = Tally::new(now)?;
            }
        }
    }
    Ok(total.stats(mode, Instant::now()))
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// `concurrency` tasks, each taking the next record number and producing it.
async fn produce(
    args: &Args,
    client: &PixyClient,
    events: mpsc::UnboundedSender<Event>,
    start: Instant,
) {
    let next = Arc::new(AtomicU64::new(0));
    let value = vec![b'x'; args.record_size];
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (next, client, events, args, value) = (
            next.clone(),
            client.clone(),
            events.clone(),
            args.clone(),
            value.clone(),
        );
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= args.records {
                    break;
                }
                let intended = (args.rate > 0)
                    .then(|| start + Duration::from_secs_f64(i as f64 / args.rate as f64));
                if let Some(due) = intended {
                    tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
                }
                let from = intended.unwrap_or_else(Instant::now);
                let record = RestRecord::new(value.clone());
                let outcome = if args.sync {
                    client.produce(&args.topic, &record).await.map(drop)
                } else {
                    client.produce_async(&args.topic, &record).await
                };
                let event = match outcome {
                    Ok(()) => Event::Done {
                        latency_us: micros(from.elapsed()),
                        bytes: value.len() as u64,
                    },
                    Err(e) => Event::Failed(e.to_string()),
                };
                if events.send(event).is_err() {
                    break;
                }
            }
        });
    }
    drop(events);
    while tasks.join_next().await.is_some() {}
}

/// Sets the group's offsets to 0, then `concurrency` tasks each claim a record and poll until
/// they get one (or nothing came for the idle timeout).
async fn consume(
    args: &Args,
    client: &PixyClient,
    events: mpsc::UnboundedSender<Event>,
    start: Instant,
) -> Result<(), CliError> {
    let partitions = client.offsets(&args.topic, &args.group).await?;
    let zeros: Vec<(i32, i64)> = partitions.iter().map(|p| (p.partition, 0)).collect();
    client.set_offsets(&args.topic, &args.group, &zeros).await?;
    let claimed = Arc::new(AtomicU64::new(0));
    // Milliseconds since start of the newest record: the idle clock.
    let last_record = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (claimed, last_record, client, events, args) = (
            claimed.clone(),
            last_record.clone(),
            client.clone(),
            events.clone(),
            args.clone(),
        );
        tasks.spawn(async move {
            'records: while claimed.fetch_add(1, Ordering::Relaxed) < args.records {
                loop {
                    let sent = Instant::now();
                    let event = match client.consume(&args.topic, &args.group).await {
                        Ok(Some(record)) => {
                            let now = micros(start.elapsed()) / 1000;
                            last_record.fetch_max(now, Ordering::Relaxed);
                            Event::Done {
                                latency_us: micros(sent.elapsed()),
                                bytes: record.value.map_or(0, |v| v.len() as u64),
                            }
                        }
                        Ok(None) => {
                            let idle = start.elapsed().saturating_sub(Duration::from_millis(
                                last_record.load(Ordering::Relaxed),
                            ));
                            if idle > args.idle_timeout {
                                break 'records;
                            }
                            continue;
                        }
                        Err(e) => Event::Failed(e.to_string()),
                    };
                    let done = matches!(event, Event::Done { .. });
                    if events.send(event).is_err() {
                        break 'records;
                    }
                    if done {
                        break;
                    }
                }
            }
        });
    }
    drop(events);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// CPU time (user + system) this process used so far, in ms, from `/proc/self/stat`.
fn cpu_ms() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at field 3, `state`.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 1000 / USER_HZ)
}

async fn run(args: Args) -> Result<bool, CliError> {
    // Requests are bounded well past pixy's long-poll timeout.
    let client = PixyClient::new(&args.url, Duration::from_secs(60))?;
    let (tx, rx) = mpsc::unbounded_channel();
    let start = Instant::now();
    let reporter = tokio::spawn(report(args.mode, args.report_interval, start, rx));
    let work = match args.mode {
        Mode::Produce => {
            produce(&args, &client, tx, start).await;
            Ok(())
        }
        Mode::Consume => consume(&args, &client, tx, start).await,
    };
    let mut stats = match reporter.await {
        Ok(stats) => stats?,
        Err(e) => return Err(CliError::Usage(format!("the reporter task failed: {e}"))),
    };
    work?;
    stats.cpu_ms = cpu_ms();
    println!("{}", stats.result_line());
    let complete = stats.records == args.records && stats.errors == 0;
    if stats.records != args.records {
        println!(
            "{REST_PERF_PREFIX} error only {} of {} records {}",
            stats.records,
            args.records,
            match args.mode {
                Mode::Produce => "acknowledged".to_string(),
                Mode::Consume => format!("read (none for {:?})", args.idle_timeout),
            }
        );
    }
    Ok(complete)
}

#[tokio::main]
async fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&argv) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{REST_PERF_PREFIX} error {e}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            println!("{REST_PERF_PREFIX} error {e}");
            ExitCode::FAILURE
        }
    }
}
