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
//!
//! It is built to cost little per request, so the proxy saturates before it does: one thread
//! (a current-thread tokio runtime), `--concurrency` keep-alive HTTP/1 connections (hyper's
//! connection-level client, each connection driven inside the task that sends on it, so a
//! request wakes no other task), each request built from a template made once (the body a
//! shared [`Bytes`]), answers checked by status alone (a consumed record: its partition,
//! offset and value's length, from the base64 length), and counts kept in two histograms
//! under an uncontended lock. The group's offsets are set once, before, with [`PixyClient`].
//!
//! A consumer counts records by distinct (partition, offset), not by answers: a record pixy
//! hands out again (a redelivery, after a rebalance or a proxy restart) is counted in
//! `redelivered`, not in `records`, and the task asks for another, so a redelivery cannot stand
//! in for a record that never came ([`Seen`]).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ducttape_services::error_chain;
use ducttape_services::kafka_pixy::{consume_path, produce_path, PixyClient};
use ducttape_services::perf::{RestPerfStats, REST_PERF_PREFIX};
use ducttape_services::RestError;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;

/// How many failed requests are printed (all are counted).
const PRINTED_ERRORS: u64 = 5;
/// Each request is bounded well past pixy's long-poll timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
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

/// Counts and latencies of a window or of the whole run.
struct Tally {
    histogram: Histogram<u64>,
    /// Produce: records acknowledged; consume: distinct (partition, offset) read.
    records: u64,
    bytes: u64,
    errors: u64,
    /// Consume: answers carrying a (partition, offset) already read.
    redelivered: u64,
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
            redelivered: 0,
            since: now,
        })
    }

    /// Starts a new window at `now`, keeping the histogram's memory.
    fn reset(&mut self, now: Instant) {
        self.histogram.reset();
        self.records = 0;
        self.bytes = 0;
        self.errors = 0;
        self.redelivered = 0;
        self.since = now;
    }

    fn done(&mut self, latency_us: u64, bytes: u64) {
        self.histogram.saturating_record(latency_us.max(1));
        self.records += 1;
        self.bytes += bytes;
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
            redelivered: (mode == Mode::Consume).then_some(self.redelivered),
            cpu_ms: None,
        }
    }
}

/// The whole run's tally and the current window's, shared by the request tasks (one thread:
/// the lock is never contended), and the records a consumer has read.
struct Tallies {
    total: Tally,
    window: Tally,
    seen: Seen,
}

type Shared = Arc<Mutex<Tallies>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Tallies> {
    // A task that panicked holding the lock left whole counts behind: keep counting.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Tallies {
    fn done(&mut self, latency_us: u64, bytes: u64) {
        self.total.done(latency_us, bytes);
        self.window.done(latency_us, bytes);
    }

    /// A consumed record: counted if its (partition, offset) is new (`true`), else counted as
    /// redelivered.
    fn read(&mut self, record: &Consumed, latency_us: u64) -> bool {
        if self.seen.insert(record.partition, record.offset) {
            self.done(latency_us, record.len);
            true
        } else {
            self.total.redelivered += 1;
            self.window.redelivered += 1;
            false
        }
    }

    /// Counts a failed request, printing the first few.
    fn failed(&mut self, why: &RestError) {
        if self.total.errors < PRINTED_ERRORS {
            println!("{REST_PERF_PREFIX} error {why}");
        }
        self.total.errors += 1;
        self.window.errors += 1;
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The proxy: where to connect, the `Host` header, and the URL prefix errors name.
#[derive(Debug)]
struct Target {
    authority: String,
    host: HeaderValue,
    base: String,
}

impl Target {
    /// From `http://host:port` (a trailing `/` is dropped).
    fn parse(url: &str) -> Result<Self, CliError> {
        let base = url.trim_end_matches('/');
        let authority = base
            .strip_prefix("http://")
            .filter(|a| !a.is_empty() && !a.contains('/'))
            .ok_or_else(|| CliError::Usage(format!("--url http://host:port, not {url:?}")))?;
        let host = HeaderValue::from_str(authority)
            .map_err(|e| CliError::Usage(format!("--url {url:?}: {e}")))?;
        Ok(Self {
            authority: authority.into(),
            host,
            base: base.into(),
        })
    }
}

/// One request, built once and sent again and again.
#[derive(Debug)]
struct Template {
    method: Method,
    uri: Uri,
    body: Bytes,
    content_type: Option<HeaderValue>,
    /// The whole URL, for error messages.
    url: String,
}

impl Template {
    fn new(
        target: &Target,
        method: Method,
        path: &str,
        body: Bytes,
        content_type: Option<&'static str>,
    ) -> Result<Self, CliError> {
        let uri = path
            .parse()
            .map_err(|e| CliError::Usage(format!("cannot make a request for {path:?}: {e}")))?;
        Ok(Self {
            method,
            uri,
            body,
            content_type: content_type.map(HeaderValue::from_static),
            url: format!("{}{path}", target.base),
        })
    }

    fn request(&self, host: &HeaderValue) -> Request<Full<Bytes>> {
        // Clones of shared buffers only: the body, the path and the header values are `Bytes`.
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        headers.insert(HOST, host.clone());
        if let Some(content_type) = &self.content_type {
            headers.insert(CONTENT_TYPE, content_type.clone());
        }
        request
    }

    fn transport_error(&self, detail: String) -> RestError {
        RestError::Transport {
            method: self.method.to_string(),
            url: self.url.clone(),
            detail,
        }
    }

    fn status_error(&self, status: StatusCode, body: &[u8]) -> RestError {
        RestError::Status {
            method: self.method.to_string(),
            url: self.url.clone(),
            status: status.as_u16(),
            body: String::from_utf8_lossy(body).trim_end().to_string(),
        }
    }
}

type Driver = Pin<Box<http1::Connection<TokioIo<TcpStream>, Full<Bytes>>>>;

/// One keep-alive HTTP/1 connection to the proxy, opened on first use and again after a
/// failure. Its driver (hyper's `Connection`) is polled by the task sending on it, alongside
/// the request, rather than by a task of its own.
struct Connection {
    target: Arc<Target>,
    timeout: Duration,
    open: Option<(SendRequest<Full<Bytes>>, Driver)>,
}

/// How one exchange on a connection failed.
enum Exchange {
    /// The request was never written (the connection had ended): safe to send again.
    Unsent(String),
    /// Anything else: the request may have reached the proxy.
    Failed(String),
}

impl Exchange {
    fn into_reason(self) -> String {
        match self {
            Exchange::Unsent(reason) | Exchange::Failed(reason) => reason,
        }
    }
}

impl Connection {
    fn new(target: Arc<Target>, timeout: Duration) -> Self {
        Self {
            target,
            timeout,
            open: None,
        }
    }

    async fn connect(target: &Target) -> Result<(SendRequest<Full<Bytes>>, Driver), String> {
        let stream = TcpStream::connect(&target.authority)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", target.authority))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("cannot set TCP_NODELAY: {e}"))?;
        let (sender, driver) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| error_chain(&e))?;
        Ok((sender, Box::pin(driver)))
    }

    /// The open connection if the proxy has not closed it since the last answer (nothing
    /// was sent on it yet, so a fresh one in its place is safe), else a new one.
    async fn ready(&mut self) -> Result<&mut (SendRequest<Full<Bytes>>, Driver), String> {
        if let Some((sender, driver)) = &mut self.open {
            // The driver first: a close that has arrived is seen before a request is queued.
            let usable = tokio::select! {
                biased;
                _ = driver.as_mut() => false,
                ready = sender.ready() => ready.is_ok(),
            };
            if !usable {
                self.open = None;
            }
        }
        if self.open.is_none() {
            self.open = Some(Self::connect(&self.target).await?);
        }
        self.open
            .as_mut()
            .ok_or_else(|| "no connection (just opened one: a bug)".to_string())
    }

    /// Sends `template`'s request: the answer's status and whole body.
    async fn send(&mut self, template: &Template) -> Result<(StatusCode, Bytes), RestError> {
        let answer = tokio::time::timeout(self.timeout, self.exchange(template))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {:?}", self.timeout)));
        if answer.is_err() {
            self.open = None;
        }
        answer.map_err(|e| template.transport_error(e))
    }

    /// One request; sent once more on a fresh connection only when the proxy closed the old
    /// one before the request was written (so it provably never reached the proxy).
    async fn exchange(&mut self, template: &Template) -> Result<(StatusCode, Bytes), String> {
        match self.exchange_once(template).await {
            Err(Exchange::Unsent(reason)) => {
                tracing::debug!(%reason, "connection closed before the request went out; reconnecting");
                self.open = None;
                self.exchange_once(template)
                    .await
                    .map_err(Exchange::into_reason)
            }
            other => other.map_err(Exchange::into_reason),
        }
    }

    async fn exchange_once(
        &mut self,
        template: &Template,
    ) -> Result<(StatusCode, Bytes), Exchange> {
        let target = self.target.clone();
        let (sender, driver) = self.ready().await.map_err(Exchange::Failed)?;
        // In a block of its own: the exchange borrows the connection until it is dropped.
        let (answer, ended) = {
            let exchange = async {
                let response = sender.send_request(template.request(&target.host)).await?;
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                Ok::<_, hyper::Error>((status, body))
            };
            tokio::pin!(exchange);
            tokio::select! {
                biased;
                answer = &mut exchange => (answer.map_err(|e| Exchange::Failed(error_chain(&e))), false),
                // The connection ended, maybe right after the whole answer came (a server that
                // closes after answering). Polled once more, the exchange has the answer or
                // its error now, or never will: the finished driver still holds the request
                // it did not send, so waiting would hang. Ending cleanly (Ok) with no answer,
                // the driver had no request in flight: this one was never written.
                closed = driver.as_mut() => {
                    let polled = std::future::poll_fn(|cx| {
                        std::task::Poll::Ready(std::future::Future::poll(exchange.as_mut(), cx))
                    })
                    .await;
                    let answer = match (polled, closed) {
                        (std::task::Poll::Ready(Ok(answer)), _) => Ok(answer),
                        (std::task::Poll::Ready(Err(e)), Ok(())) => Err(Exchange::Failed(format!(
                            "the proxy closed the connection before answering: {}",
                            error_chain(&e)
                        ))),
                        (std::task::Poll::Pending, Ok(())) => Err(Exchange::Unsent(
                            "the proxy had closed the connection".into(),
                        )),
                        (_, Err(e)) => Err(Exchange::Failed(error_chain(&e))),
                    };
                    (answer, true)
                }
            }
        };
        // A finished driver must not be polled again: a new connection next time.
        if ended {
            self.open = None;
        }
        answer
    }
}

/// `concurrency` tasks, each with its connection, taking the next record number and
/// producing it.
async fn produce(args: &Args, target: &Arc<Target>, tallies: &Shared, start: Instant) {
    let path = produce_path(&args.topic, args.sync, None);
    let body = Bytes::from(vec![b'x'; args.record_size]);
    let template = match Template::new(target, Method::POST, &path, body, Some("text/plain")) {
        Ok(t) => Arc::new(t),
        Err(e) => {
            println!("{REST_PERF_PREFIX} error {e}");
            return;
        }
    };
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (next, tallies, template) = (next.clone(), tallies.clone(), template.clone());
        let mut connection = Connection::new(target.clone(), REQUEST_TIMEOUT);
        let (records, rate, bytes) = (args.records, args.rate, args.record_size as u64);
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= records {
                    break;
                }
                let intended =
                    (rate > 0).then(|| start + Duration::from_secs_f64(i as f64 / rate as f64));
                if let Some(due) = intended {
                    tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
                }
                let from = intended.unwrap_or_else(Instant::now);
                let outcome = match connection.send(&template).await {
                    Ok((status, _)) if status.is_success() => Ok(micros(from.elapsed())),
                    Ok((status, body)) => Err(template.status_error(status, &body)),
                    Err(e) => Err(e),
                };
                let mut t = lock(&tallies);
                match outcome {
                    Ok(latency_us) => t.done(latency_us, bytes),
                    Err(e) => t.failed(&e),
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// What pixy answers a consume with: the value (its length is looked at) and where the record
/// is.
#[derive(Deserialize)]
struct ConsumedRecord<'a> {
    #[serde(borrow)]
    value: Option<Cow<'a, str>>,
    partition: i32,
    offset: i64,
}

/// A consumed record: where it is and its value's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Consumed {
    partition: i32,
    offset: i64,
    len: u64,
}

/// A consumed record from pixy's answer; the value's length is decoded from its base64 length,
/// not decoded (a null value: 0).
fn consumed(body: &[u8]) -> Result<Consumed, String> {
    let record: ConsumedRecord =
        serde_json::from_slice(body).map_err(|e| format!("not a consumed record: {e}"))?;
    if record.offset < 0 {
        return Err(format!("offset {} is negative", record.offset));
    }
    let len = match record.value {
        None => 0,
        Some(b64) => {
            let b64 = b64.as_bytes();
            if b64.len() % 4 != 0 {
                return Err(format!(
                    "the value is not padded base64 ({} characters)",
                    b64.len()
                ));
            }
            let padding = b64.iter().rev().take(2).take_while(|&&c| c == b'=').count();
            (b64.len() / 4 * 3 - padding) as u64
        }
    };
    Ok(Consumed {
        partition: record.partition,
        offset: record.offset,
        len,
    })
}

/// The (partition, offset) pairs a consumer has read: per partition, the offsets as ranges
/// `start → end` (exclusive), merged as they fill in, so a partition read in order costs one
/// entry however many records it holds.
#[derive(Debug, Default)]
struct Seen {
    partitions: BTreeMap<i32, BTreeMap<i64, i64>>,
}

impl Seen {
    /// Marks `offset` of `partition` read: `true` if it was not read before.
    fn insert(&mut self, partition: i32, offset: i64) -> bool {
        let ranges = self.partitions.entry(partition).or_default();
        let after = offset.saturating_add(1);
        // The range starting at or before the offset: it holds it, or ends right before it.
        let before = ranges.range(..=offset).next_back().map(|(&s, &e)| (s, e));
        if let Some((_, end)) = before {
            if offset < end {
                return false;
            }
        }
        // A range starting right after the offset joins it.
        let end = ranges.remove(&after).unwrap_or(after);
        match before {
            Some((start, e)) if e == offset => ranges.insert(start, end),
            _ => ranges.insert(offset, end),
        };
        true
    }
}

/// Sets the group's offsets to 0, then `concurrency` tasks, each with its connection, claim
/// a record and poll until they get one not read before (or no new one came for the idle
/// timeout).
async fn consume(
    args: &Args,
    target: &Arc<Target>,
    tallies: &Shared,
    start: Instant,
) -> Result<(), CliError> {
    let setup = PixyClient::new(&target.base, REQUEST_TIMEOUT)?;
    let partitions = setup.offsets(&args.topic, &args.group).await?;
    let zeros: Vec<(i32, i64)> = partitions.iter().map(|p| (p.partition, 0)).collect();
    setup.set_offsets(&args.topic, &args.group, &zeros).await?;
    let path = consume_path(&args.topic, &args.group);
    let template = Arc::new(Template::new(
        target,
        Method::GET,
        &path,
        Bytes::new(),
        None,
    )?);
    let claimed = Arc::new(AtomicU64::new(0));
    // Milliseconds since start of the newest record: the idle clock.
    let last_record = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (claimed, last_record, tallies, template) = (
            claimed.clone(),
            last_record.clone(),
            tallies.clone(),
            template.clone(),
        );
        let mut connection = Connection::new(target.clone(), REQUEST_TIMEOUT);
        let (records, idle_timeout) = (args.records, args.idle_timeout);
        tasks.spawn(async move {
            while claimed.fetch_add(1, Ordering::Relaxed) < records {
                loop {
                    let sent = Instant::now();
                    let outcome = match connection.send(&template).await {
                        Ok((StatusCode::OK, body)) => {
                            consumed(&body).map_err(|detail| RestError::Decode {
                                method: "GET".into(),
                                url: template.url.clone(),
                                detail,
                                body: String::from_utf8_lossy(&body).into_owned(),
                            })
                        }
                        // No record within pixy's long-poll timeout: ask again, unless
                        // nothing came for the idle timeout.
                        Ok((StatusCode::REQUEST_TIMEOUT, _)) => {
                            let idle = start.elapsed().saturating_sub(Duration::from_millis(
                                last_record.load(Ordering::Relaxed),
                            ));
                            if idle > idle_timeout {
                                return;
                            }
                            continue;
                        }
                        Ok((status, body)) => Err(template.status_error(status, &body)),
                        Err(e) => Err(e),
                    };
                    let mut t = lock(&tallies);
                    match outcome {
                        Ok(record) => {
                            if t.read(&record, micros(sent.elapsed())) {
                                last_record
                                    .fetch_max(micros(start.elapsed()) / 1000, Ordering::Relaxed);
                                break;
                            }
                            // Read before: not the record this task claimed; ask again.
                        }
                        // A failed request is counted and the record asked for again.
                        Err(e) => t.failed(&e),
                    }
                }
            }
        });
    }
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
    let target = Arc::new(Target::parse(&args.url)?);
    let start = Instant::now();
    let tallies: Shared = Arc::new(Mutex::new(Tallies {
        total: Tally::new(start)?,
        window: Tally::new(start)?,
        seen: Seen::default(),
    }));
    let work = async {
        match args.mode {
            Mode::Produce => {
                produce(&args, &target, &tallies, start).await;
                Ok(())
            }
            Mode::Consume => consume(&args, &target, &tallies, start).await,
        }
    };
    tokio::pin!(work);
    let mut ticks = tokio::time::interval_at(
        tokio::time::Instant::from_std(start) + args.report_interval,
        args.report_interval,
    );
    // A reporter held up (a busy machine) prints one late window, not a burst of empty ones.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let worked = loop {
        tokio::select! {
            worked = &mut work => break worked,
            _ = ticks.tick() => {
                let now = Instant::now();
                let mut t = lock(&tallies);
                println!("{}", t.window.stats(args.mode, now).window_line());
                t.window.reset(now);
            }
        }
    };
    let mut stats = lock(&tallies).total.stats(args.mode, Instant::now());
    worked?;
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
                Mode::Consume => format!(
                    "read (distinct partition and offset; {} redelivered; none new for {:?})",
                    stats.redelivered.unwrap_or(0),
                    args.idle_timeout
                ),
            }
        );
    }
    Ok(complete)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&argv) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{REST_PERF_PREFIX} error {e}");
            return ExitCode::from(2);
        }
    };
    // One thread: the requests wait on the proxy, and a second thread would only add
    // wake-ups across threads.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            println!("{REST_PERF_PREFIX} error cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            println!("{REST_PERF_PREFIX} error {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn a_consumed_record_is_its_place_and_decoded_length() {
        for len in 0..10 {
            let value = vec![b'x'; len];
            let b64 = base64::engine::general_purpose::STANDARD.encode(&value);
            // pixy's answer, as captured (headers and key omitted when empty).
            let body = format!(r#"{{"key":null,"value":"{b64}","partition":3,"offset":17}}"#);
            assert_eq!(
                consumed(body.as_bytes()),
                Ok(Consumed {
                    partition: 3,
                    offset: 17,
                    len: len as u64
                }),
                "{body}"
            );
        }
        assert_eq!(
            consumed(br#"{"value":null,"partition":0,"offset":0}"#).map(|c| c.len),
            Ok(0)
        );
        assert!(consumed(br#"{"value":"eHh","partition":0,"offset":1}"#)
            .unwrap_err()
            .contains("not padded base64"));
        assert!(consumed(b"<html>busy</html>")
            .unwrap_err()
            .contains("not a consumed record"));
        // Without its place a record cannot be counted once.
        assert!(consumed(br#"{"value":"eHh4","partition":0}"#)
            .unwrap_err()
            .contains("missing field `offset`"));
        assert!(consumed(br#"{"value":"eHh4","partition":0,"offset":-1}"#)
            .unwrap_err()
            .contains("negative"));
    }

    #[test]
    fn seen_counts_each_partition_and_offset_once() {
        let mut seen = Seen::default();
        // Out of order, with gaps filled later, on two partitions.
        for (p, o) in [(0, 0), (0, 2), (1, 0), (0, 1), (0, 4), (0, 3), (1, 1)] {
            assert!(seen.insert(p, o), "({p}, {o}) is new");
        }
        for (p, o) in [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (1, 0), (1, 1)] {
            assert!(!seen.insert(p, o), "({p}, {o}) was read");
        }
        assert!(seen.insert(1, 2) && seen.insert(2, 0) && seen.insert(0, 5));
        // Read in order, a partition is one range however long.
        assert_eq!(seen.partitions[&0].iter().collect::<Vec<_>>(), [(&0, &6)]);
        assert_eq!(seen.partitions[&1].iter().collect::<Vec<_>>(), [(&0, &3)]);
        let mut gaps = Seen::default();
        assert!(gaps.insert(0, 10) && gaps.insert(0, 12) && !gaps.insert(0, 12));
        assert_eq!(
            gaps.partitions[&0].iter().collect::<Vec<_>>(),
            [(&10, &11), (&12, &13)]
        );
        assert!(gaps.insert(0, 11) && !gaps.insert(0, 10) && !gaps.insert(0, 11));
        assert_eq!(gaps.partitions[&0].iter().collect::<Vec<_>>(), [(&10, &13)]);
    }

    /// Three records asked for; pixy answers three times, but the third answer is the first
    /// record again and offset 1 never comes: counted by answers, as before, the run was
    /// whole; counted by (partition, offset), two of the three were read and the run fails.
    #[test]
    fn a_redelivery_does_not_stand_in_for_a_missing_record() {
        let now = Instant::now();
        let mut t = Tallies {
            total: Tally::new(now).unwrap(),
            window: Tally::new(now).unwrap(),
            seen: Seen::default(),
        };
        let record = |offset| Consumed {
            partition: 0,
            offset,
            len: 100,
        };
        let answers = [record(0), record(2), record(0)];
        let new: Vec<bool> = answers.iter().map(|r| t.read(r, 1_000)).collect();
        assert_eq!(new, [true, true, false]);
        let stats = t.total.stats(Mode::Consume, Instant::now());
        assert_eq!(answers.len(), 3, "as many answers as records asked for");
        assert_eq!(
            (stats.records, stats.bytes, stats.redelivered),
            (2, 200, Some(1))
        );
        assert!(stats.result_line().contains(" records=2 "));
        assert!(stats.result_line().contains(" redelivered=1"));
        // The window counts the same way.
        let window = t.window.stats(Mode::Consume, Instant::now());
        assert_eq!((window.records, window.redelivered), (2, Some(1)));
        // A producer has no redeliveries to report.
        assert_eq!(
            t.total.stats(Mode::Produce, Instant::now()).redelivered,
            None
        );
    }

    /// The client's own runtime: one thread.
    fn test_runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A server that answers each request and then closes the connection, as an HTTP server
    /// may between requests: every request still succeeds, on a fresh connection. The next
    /// request goes out once the server has closed (a request written into a connection the
    /// same instant the server closes it may have reached the server: that one is an error,
    /// not sent again).
    #[test]
    fn a_connection_closed_between_requests_is_reopened() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (closed_tx, closed_rx) = std::sync::mpsc::channel();
        let server = std::thread::spawn(move || {
            for _ in 0..3 {
                let (mut stream, _) = listener.accept().unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = stream.read(&mut buf).unwrap();
                    request.extend_from_slice(&buf[..n]);
                }
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                    .unwrap();
                // Closed after the answer, without saying so.
                drop(stream);
                closed_tx.send(()).unwrap();
            }
        });
        let target = Arc::new(Target::parse(&format!("http://127.0.0.1:{port}")).unwrap());
        let template = Template::new(&target, Method::GET, "/_ping", Bytes::new(), None).unwrap();
        let runtime = test_runtime();
        runtime.block_on(async {
            let mut connection = Connection::new(target.clone(), Duration::from_secs(10));
            for i in 0..3 {
                let (status, body) = connection.send(&template).await.unwrap_or_else(|e| {
                    panic!("request {i}: {e}");
                });
                assert_eq!((status, &body[..]), (StatusCode::OK, &b"{}"[..]));
                closed_rx.recv().unwrap();
                // Let the runtime's I/O driver see the close (it learns of readiness only when
                // it runs), as it has long done between a proxy's close and the next request.
                tokio::task::yield_now().await;
            }
        });
        server.join().unwrap();
    }

    /// The same server, the next request sent the instant an answer is in, racing the
    /// server's close: each request is answered or fails with a transport error, never waits
    /// out its timeout (a request queued on a connection whose driver has ended used to).
    #[test]
    fn a_request_racing_the_close_never_hangs() {
        use std::io::{Read, Write};
        const ROUNDS: usize = 200;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}");
            }
        });
        let target = Arc::new(Target::parse(&format!("http://127.0.0.1:{port}")).unwrap());
        let template = Template::new(&target, Method::GET, "/_ping", Bytes::new(), None).unwrap();
        let runtime = test_runtime();
        let mut answered = 0;
        runtime.block_on(async {
            let mut connection = Connection::new(target.clone(), Duration::from_secs(5));
            for i in 0..ROUNDS {
                match connection.send(&template).await {
                    Ok(_) => answered += 1,
                    Err(e) => assert!(
                        !e.to_string().contains("no answer within"),
                        "request {i} hung: {e}"
                    ),
                }
            }
        });
        assert!(answered > ROUNDS / 2, "{answered} of {ROUNDS} answered");
    }

    #[test]
    fn the_target_is_http_host_and_port() {
        let t = Target::parse("http://10.0.0.1:19092/").unwrap();
        assert_eq!(
            (t.authority.as_str(), t.base.as_str()),
            ("10.0.0.1:19092", "http://10.0.0.1:19092")
        );
        assert!(Target::parse("https://h:1").is_err());
        assert!(Target::parse("http://h:1/prefix").is_err());
    }
}
