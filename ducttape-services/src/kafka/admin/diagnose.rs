//! Why a secured cluster does not answer: librdkafka reports a refusal only through its
//! error events, so a short-lived client of the same settings is asked (see the module docs of
//! `admin`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use super::*;

/// A consumer's context: keeps what librdkafka reported through its error events (which it
/// sends instead of failing a request when the brokers refuse the connection). Only consumers
/// get one: their events are served by `poll`; the admin client's main queue is served by
/// nobody, so its errors are found by a probe ([`KafkaAdmin::explain`]).
#[derive(Clone, Default)]
pub(super) struct Witness(Arc<std::sync::Mutex<Seen>>);

#[derive(Default)]
pub(super) struct Seen {
    rejection: Option<(Rejection, String)>,
    last: Option<String>,
}

impl Witness {
    pub(super) fn rejection(&self) -> Option<(Rejection, String)> {
        self.0.lock().ok().and_then(|s| s.rejection.clone())
    }

    pub(super) fn last(&self) -> Option<String> {
        self.0.lock().ok().and_then(|s| s.last.clone())
    }
}

impl ClientContext for Witness {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(target: "librdkafka", "librdkafka: {error}: {reason}");
        if let Ok(mut seen) = self.0.lock() {
            seen.last = Some(reason.to_string());
            if let Some(r) = error.rdkafka_error_code().and_then(Rejection::of) {
                seen.rejection.get_or_insert((r, reason.to_string()));
            }
        }
    }
}

impl ConsumerContext for Witness {}

impl KafkaAdmin {
    /// Whether the client speaks anything but PLAINTEXT (so the brokers may refuse it).
    pub(super) fn secured(&self) -> bool {
        self.config
            .get("security.protocol")
            .is_some_and(|p| !p.eq_ignore_ascii_case("plaintext"))
    }

    /// `error` as it is, or — a [`AdminError::NoAnswer`] from a secured cluster — why the
    /// brokers refused the client, asked of a short-lived client with the same settings
    /// (librdkafka tells a refusal only through its error events, which the admin client does
    /// not serve). A silence with no refusal seen gets the probe's last error in its detail.
    pub(super) async fn explain(&self, error: AdminError) -> AdminError {
        let AdminError::NoAnswer {
            operation,
            subject,
            bootstrap,
            after,
            detail,
        } = error
        else {
            return error;
        };
        let unexplained = |extra: Option<String>| AdminError::NoAnswer {
            operation,
            subject: subject.clone(),
            bootstrap: bootstrap.clone(),
            after,
            detail: match &extra {
                Some(e) => format!("{detail}; the client's last error: {e}"),
                None => detail.clone(),
            },
        };
        if !self.secured() {
            return unexplained(None);
        }
        let config = self.config.clone();
        let probe = tokio::task::spawn_blocking(move || probe(&config, DIAGNOSIS));
        match tokio::time::timeout(DIAGNOSIS + Duration::from_secs(5), probe).await {
            Ok(Ok(Probe::Refused(rejection, why))) => AdminError::Refused {
                operation,
                subject: subject.clone(),
                bootstrap: bootstrap.clone(),
                rejection,
                detail: why,
            },
            Ok(Ok(Probe::Silent(last))) => unexplained(last),
            _ => unexplained(None),
        }
    }

    /// `result`, its [`AdminError::NoAnswer`] [explained](Self::explain).
    pub(super) async fn explained<T>(
        &self,
        result: Result<T, AdminError>,
    ) -> Result<T, AdminError> {
        match result {
            Err(e @ AdminError::NoAnswer { .. }) => Err(self.explain(e).await),
            other => other,
        }
    }

    pub(super) fn no_answer(
        &self,
        operation: &'static str,
        subject: &str,
        detail: String,
    ) -> AdminError {
        AdminError::NoAnswer {
            operation,
            subject: subject.to_string(),
            bootstrap: self.bootstrap.clone(),
            after: self.timeout,
            detail,
        }
    }

    pub(super) fn refused(
        &self,
        operation: &'static str,
        subject: &str,
        broker: Option<i32>,
        code: RDKafkaErrorCode,
    ) -> AdminError {
        // librdkafka's own timeouts and transport failures mean nobody answered.
        match code {
            RDKafkaErrorCode::OperationTimedOut
            | RDKafkaErrorCode::RequestTimedOut
            | RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::Resolve
            | RDKafkaErrorCode::MessageTimedOut => {
                self.no_answer(operation, subject, KafkaCode(code).to_string())
            }
            _ => match Rejection::of(code) {
                // An authorization error is Kafka's answer, typed as the refusal it is.
                Some(rejection) => AdminError::Refused {
                    operation,
                    subject: subject.to_string(),
                    bootstrap: self.bootstrap.clone(),
                    rejection,
                    detail: format!(
                        "Kafka error {}{}",
                        KafkaCode(code),
                        broker
                            .map(|b| format!(" (answered by broker {b})"))
                            .unwrap_or_default()
                    ),
                },
                None => AdminError::Kafka {
                    operation,
                    subject: subject.to_string(),
                    bootstrap: self.bootstrap.clone(),
                    broker,
                    code: KafkaCode(code),
                },
            },
        }
    }
}

/// What a probe of the brokers found (see [`KafkaAdmin::explain`]).
pub(super) enum Probe {
    /// A refusal and librdkafka's words.
    Refused(Rejection, String),
    /// None within the time; the last error seen, if any.
    Silent(Option<String>),
}

/// Asks the brokers for metadata with a fresh client of `settings` for up to `wait`, serving
/// its events, until it has been refused or the time is up.
pub(super) fn probe(settings: &BTreeMap<String, String>, wait: Duration) -> Probe {
    let witness = Witness::default();
    let client: BaseConsumer<Witness> =
        match client_config(settings).create_with_context(witness.clone()) {
            Ok(c) => c,
            Err(e) => return Probe::Silent(Some(e.to_string())),
        };
    let deadline = std::time::Instant::now() + wait;
    while std::time::Instant::now() < deadline {
        // A request makes it connect (and authenticate); a refusal arrives as an event.
        if client
            .fetch_metadata(None, Duration::from_millis(500))
            .is_ok()
        {
            break;
        }
        drain(&client);
        if let Some((rejection, why)) = witness.rejection() {
            return Probe::Refused(rejection, why);
        }
    }
    drain(&client);
    match witness.rejection() {
        Some((rejection, why)) => Probe::Refused(rejection, why),
        None => Probe::Silent(witness.last()),
    }
}

/// Serves the events a consumer has queued (errors reach its context's `error`); a consumer
/// with no subscription has no records to return. A poll returns at an error event but goes
/// on past log events only while its timeout lasts: with none it would stop at the first log
/// line, before an error queued behind it.
pub(super) fn drain(client: &BaseConsumer<Witness>) {
    for _ in 0..100 {
        if client.poll(Duration::from_millis(50)).is_none() {
            break;
        }
    }
}
