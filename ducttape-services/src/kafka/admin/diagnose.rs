//! Why a secured cluster does not answer: librdkafka reports a refusal only through its
//! error events, so a short-lived client of the same settings is asked (see the module docs of
//! `admin`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ducttape_core::wait_until;
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
        let probe = probe(&self.config, DIAGNOSIS);
        match tokio::time::timeout(DIAGNOSIS + Duration::from_secs(5), probe).await {
            Ok(Probe::Refused(rejection, why)) => AdminError::Refused {
                operation,
                subject: subject.clone(),
                bootstrap: bootstrap.clone(),
                rejection,
                detail: why,
            },
            Ok(Probe::Silent(last)) => unexplained(last),
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
/// its events, until they answer, refuse, or the time is up (then `Silent`, not an error: the
/// caller has an error already and looks for its cause).
pub(super) async fn probe(settings: &BTreeMap<String, String>, wait: Duration) -> Probe {
    let witness = Witness::default();
    let client: Arc<BaseConsumer<Witness>> =
        match client_config(settings).create_with_context(witness.clone()) {
            Ok(c) => Arc::new(c),
            Err(e) => return Probe::Silent(Some(e.to_string())),
        };
    // A request makes it connect (and authenticate); a refusal arrives as an event. The
    // client's calls block, so each try runs on a blocking thread.
    let answered_or_refused = wait_until(
        "the brokers answer or refuse",
        wait,
        Duration::from_millis(50),
        || {
            let (client, witness) = (client.clone(), witness.clone());
            async move {
                let answered = tokio::task::spawn_blocking(move || {
                    let answered = client
                        .fetch_metadata(None, Duration::from_millis(500))
                        .is_ok();
                    if !answered {
                        drain(&client);
                    }
                    answered
                })
                .await
                .map_err(|e| e.to_string())?;
                Ok::<_, String>(answered || witness.rejection().is_some())
            }
        },
    )
    .await;
    if let Err(silent) = answered_or_refused {
        tracing::debug!(%silent, "probe");
    }
    // The last events served, and the client dropped (which blocks) off the async threads.
    let _ = tokio::task::spawn_blocking(move || drain(&client)).await;
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
