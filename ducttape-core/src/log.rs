//! Routing `tracing` output into each test's `test.log`.
//!
//! It sits below everything that logs on a test's behalf — the context, node leases
//! ([`crate::cluster`]) and the SSH transport ([`crate::remote`]) — so those can follow the
//! current test without reaching up into the per-test context.
//!
//! One global subscriber (installed by the first [`TestContext`](crate::TestContext)) writes
//! to stderr (filtered by `RUST_LOG`, `warn` by default; libtest captures it) and routes every
//! event to the log file of the test it belongs to: the test named by an enclosing
//! `ducttape_test` span (what [`TestContext::span`](crate::TestContext::span) returns, and what
//! teardown and service tasks run inside), else the test whose context lives on the current
//! thread (a `#[tokio::test]` body runs on its test's thread).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use once_cell::sync::Lazy;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// One test's log file, and its `events.jsonl`.
pub(crate) struct TestLog {
    file: Mutex<File>,
    events: Mutex<Option<File>>,
}

impl TestLog {
    /// Creates `test.log` at `path`; events go to `events` (appended to, when a test goes on
    /// after its teardown).
    pub(crate) fn create(path: &Path, events: &Path) -> std::io::Result<Arc<Self>> {
        let events = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(events)
            .ok();
        Ok(Arc::new(Self {
            file: Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
            events: Mutex::new(events),
        }))
    }

    /// Appends one event (`{"ts": …, "event": kind, …data}`) to `events.jsonl`.
    pub(crate) fn write_event(&self, kind: &str, data: serde_json::Value) {
        let Ok(mut events) = self.events.lock() else {
            return;
        };
        if let Some(file) = events.as_mut() {
            let mut record =
                serde_json::json!({ "ts": chrono::Utc::now().to_rfc3339(), "event": kind });
            if let (Some(r), serde_json::Value::Object(d)) = (record.as_object_mut(), data) {
                r.extend(d);
            }
            let _ = writeln!(file, "{record}");
        }
    }

    pub(crate) fn write_line(&self, line: &str) {
        if let Ok(mut f) = self.file.lock() {
            let _ = writeln!(f, "{line}");
        }
    }
}

static BY_ID: Lazy<Mutex<HashMap<u64, Arc<TestLog>>>> = Lazy::new(|| Mutex::new(HashMap::new()));

thread_local! {
    static CURRENT: RefCell<Option<Arc<TestLog>>> = const { RefCell::new(None) };
}

/// Makes `log` the destination of the current thread's events and of spans carrying `id`.
pub(crate) fn register(id: u64, log: Arc<TestLog>) {
    if let Ok(mut m) = BY_ID.lock() {
        m.insert(id, log.clone());
    }
    CURRENT.with(|c| *c.borrow_mut() = Some(log));
}

/// Forgets test `id` (its span ids stop routing; this thread's events go nowhere).
pub(crate) fn unregister(id: u64) {
    let removed = BY_ID.lock().ok().and_then(|mut m| m.remove(&id));
    CURRENT.with(|c| {
        let mut cur = c.borrow_mut();
        if let (Some(a), Some(b)) = (cur.as_ref(), removed.as_ref()) {
            if Arc::ptr_eq(a, b) {
                *cur = None;
            }
        }
    });
}

/// Installs the global subscriber once; if the program installed its own, leaves it.
pub(crate) fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let stderr = tracing_subscriber::fmt::layer()
            .with_test_writer()
            .with_filter(
                EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
            );
        // Events for `events.jsonl` pass whatever DUCTTAPE_LOG says: reports are made of them.
        let mut filter = EnvFilter::try_from_env("DUCTTAPE_LOG")
            .unwrap_or_else(|_| EnvFilter::new("debug,russh=info"));
        if let Ok(directive) = format!("{EVENT_TARGET}=info").parse() {
            filter = filter.add_directive(directive);
        }
        let files = RouteLayer.with_filter(filter);
        let _ = tracing_subscriber::registry()
            .with(stderr)
            .with(files)
            .try_init();
    });
}

/// The `tracing` target whose events also go to the test's `events.jsonl` (see
/// [`crate::event!`]).
pub const EVENT_TARGET: &str = "ducttape::event";

struct RouteLayer;

struct SpanTest(Arc<TestLog>);

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
    test_id: Option<u64>,
    /// The fields as JSON, for events of [`EVENT_TARGET`].
    json: serde_json::Map<String, serde_json::Value>,
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "ducttape_test_id" {
            self.test_id = Some(value);
        } else {
            let _ = write!(self.rest, " {}={value}", field.name());
            self.json.insert(field.name().into(), value.into());
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        let _ = write!(self.rest, " {}={value}", field.name());
        self.json.insert(field.name().into(), value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        let _ = write!(self.rest, " {}={value}", field.name());
        self.json.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        let _ = write!(self.rest, " {}={value}", field.name());
        self.json.insert(field.name().into(), value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
            self.json.insert(field.name().into(), value.into());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
            self.json
                .insert(field.name().into(), format!("{value:?}").into());
        }
    }
}

impl<S> Layer<S> for RouteLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let Some(test_id) = fields.test_id else {
            return;
        };
        let log = BY_ID.lock().ok().and_then(|m| m.get(&test_id).cloned());
        if let (Some(log), Some(span)) = (log, ctx.span(id)) {
            span.extensions_mut().insert(SpanTest(log));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut log = None;
        let mut spans = String::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(t) = span.extensions().get::<SpanTest>() {
                    log = Some(t.0.clone());
                } else {
                    let _ = write!(spans, "{}:", span.name());
                }
            }
        }
        let log = log.or_else(|| CURRENT.with(|c| c.borrow().clone()));
        let Some(log) = log else { return };
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        if meta.target() == EVENT_TARGET {
            if let Some(serde_json::Value::String(kind)) = fields.json.remove("event") {
                log.write_event(&kind, serde_json::Value::Object(fields.json.clone()));
            }
        }
        log.write_line(&format!(
            "{} {:>5} {}{}: {}{}",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            meta.level(),
            spans,
            meta.target(),
            fields.message,
            fields.rest
        ));
    }
}

/// Wraps `fut` so that, wherever it is polled (another runtime's thread), its events go to
/// the test log of the thread that called this.
pub(crate) fn follow_current_test<F: std::future::Future>(fut: F) -> FollowTest<F> {
    FollowTest {
        log: CURRENT.with(|c| c.borrow().clone()),
        fut: Box::pin(fut),
    }
}

/// See [`follow_current_test`].
pub(crate) struct FollowTest<F> {
    log: Option<Arc<TestLog>>,
    fut: std::pin::Pin<Box<F>>,
}

impl<F: std::future::Future> std::future::Future for FollowTest<F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let Some(log) = self.log.clone() else {
            return self.fut.as_mut().poll(cx);
        };
        let previous = CURRENT.with(|c| c.borrow_mut().replace(log));
        let result = self.fut.as_mut().poll(cx);
        CURRENT.with(|c| *c.borrow_mut() = previous);
        result
    }
}
