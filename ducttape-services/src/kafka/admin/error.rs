//! What a control operation through librdkafka fails with: [`AdminError`], Kafka's codes
//! named as Kafka names them ([`KafkaCode`]) and refusals ([`Rejection`]).

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

/// What the brokers refused a client for, as librdkafka reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Rejection {
    /// SASL authentication failed (`_AUTHENTICATION`, `SASL_AUTHENTICATION_FAILED`): a wrong
    /// password or an unknown user (SCRAM does not tell them apart).
    Authentication,
    /// The TLS handshake failed (`_SSL`): a broker certificate not trusted or not naming the
    /// broker, or a client certificate the broker would not take.
    Tls,
    /// Kafka's authorizer denied the operation (`TOPIC_AUTHORIZATION_FAILED`,
    /// `GROUP_AUTHORIZATION_FAILED`, `CLUSTER_AUTHORIZATION_FAILED`, …): the client was let in
    /// (authenticated), but its user has no ACL allowing this.
    Authorization,
}

impl Rejection {
    pub(super) fn of(code: RDKafkaErrorCode) -> Option<Self> {
        match code {
            RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed => {
                Some(Rejection::Authentication)
            }
            RDKafkaErrorCode::SSL => Some(Rejection::Tls),
            RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::GroupAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed
            | RDKafkaErrorCode::TransactionalIdAuthorizationFailed
            | RDKafkaErrorCode::DelegationTokenAuthorizationFailed => {
                Some(Rejection::Authorization)
            }
            _ => None,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rejection::Authentication => "SASL authentication failed",
            Rejection::Tls => "TLS handshake failed",
            Rejection::Authorization => "not authorized (no ACL allows it)",
        })
    }
}

/// A Kafka error code, named as Kafka names it (`INVALID_REPLICATION_FACTOR (38)`), with
/// librdkafka's description. Negative codes are librdkafka's own (`_TRANSPORT`, timeouts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KafkaCode(pub RDKafkaErrorCode);

impl KafkaCode {
    /// Kafka's name of the code, e.g. `UNKNOWN_TOPIC_OR_PARTITION`.
    ///
    /// ```
    /// use ducttape_services::kafka::KafkaCode;
    /// use rdkafka::types::RDKafkaErrorCode;
    /// assert_eq!(KafkaCode(RDKafkaErrorCode::InvalidReplicationFactor).name(), "INVALID_REPLICATION_FACTOR");
    /// ```
    pub fn name(&self) -> String {
        // librdkafka's enum is Kafka's protocol names in CamelCase.
        let camel = format!("{:?}", self.0);
        let mut out = String::new();
        for (i, c) in camel.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
        }
        out
    }

    /// The numeric code (Kafka's protocol code for broker errors).
    pub fn number(&self) -> i32 {
        self.0 as i32
    }
}

impl fmt::Display for KafkaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.name(), self.number(), self.0)
    }
}

/// A control operation failed. Each names the bootstrap brokers asked (and the broker that
/// answered, when one did), the topic or group, and Kafka's error code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The client could not be made (a bad config key or value).
    #[error("kafka admin: cannot make a client for {bootstrap}: {source}")]
    Client {
        /// `bootstrap.servers`.
        bootstrap: String,
        /// librdkafka's complaint.
        #[source]
        source: KafkaError,
    },
    /// Kafka refused the operation with an error code.
    #[error("kafka admin: {operation} {subject} via {bootstrap}{}: Kafka error {code}", .broker.map(|b| format!(" (answered by broker {b})")).unwrap_or_default())]
    Kafka {
        /// What was asked (`create topic`, `describe topic`, …).
        operation: &'static str,
        /// The topic or group.
        subject: String,
        /// `bootstrap.servers`.
        bootstrap: String,
        /// The broker that answered, when known.
        broker: Option<i32>,
        /// Kafka's error code.
        code: KafkaCode,
    },
    /// No broker answered in time (a dead cluster, an unreachable address).
    #[error("kafka admin: {operation} {subject}: no broker of {bootstrap} answered within {after:?} ({detail})")]
    NoAnswer {
        /// What was asked.
        operation: &'static str,
        /// The topic or group.
        subject: String,
        /// `bootstrap.servers`.
        bootstrap: String,
        /// How long it waited.
        after: Duration,
        /// librdkafka's last word.
        detail: String,
    },
    /// The brokers would not let the client in, or Kafka's authorizer denied its user the
    /// operation (see [`Rejection`]).
    #[error(
        "kafka admin: {operation} {subject}: {bootstrap} refused the client: {rejection}: {detail}"
    )]
    Refused {
        /// What was asked.
        operation: &'static str,
        /// The topic or group.
        subject: String,
        /// `bootstrap.servers`.
        bootstrap: String,
        /// Why.
        rejection: Rejection,
        /// librdkafka's words (the broker's reason, where it sends one), or Kafka's error
        /// code for an authorization refusal.
        detail: String,
    },
    /// A request sent over Kafka's wire protocol (the admin requests librdkafka lacks, e.g.
    /// partition reassignments) failed, or Kafka refused it: `source` has Kafka's codes and
    /// messages, or what went wrong on the connection or in the answer.
    #[error("kafka admin: {operation} {subject}: broker {broker} at {address}: {source}")]
    Request {
        /// What was asked.
        operation: &'static str,
        /// The partitions or cluster.
        subject: String,
        /// The broker asked (-1: none was).
        broker: i32,
        /// Its address (the bootstrap list when none was asked).
        address: String,
        /// Kafka's refusal, or what went wrong.
        #[source]
        source: super::wire::WireError,
    },
    /// One broker was asked (see [`KafkaAdmin::describe_topic_at`](crate::kafka::KafkaAdmin::describe_topic_at)) and another answered.
    #[error("kafka admin: {operation} {subject}: answered by broker {broker}, not one of {wanted:?}, {attempts} times")]
    WrongBroker {
        /// What was asked.
        operation: &'static str,
        /// The topic.
        subject: String,
        /// The broker that answered.
        broker: i32,
        /// The brokers whose answers count.
        wanted: BTreeSet<i32>,
        /// How many answers came from elsewhere.
        attempts: u32,
    },
}

impl AdminError {
    /// Kafka's error code, when Kafka refused the operation.
    pub fn code(&self) -> Option<RDKafkaErrorCode> {
        match self {
            AdminError::Kafka { code, .. } => Some(code.0),
            _ => None,
        }
    }

    /// Why the brokers refused the client, when they did.
    pub fn rejection(&self) -> Option<Rejection> {
        match self {
            AdminError::Refused { rejection, .. } => Some(*rejection),
            _ => None,
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_named_as_kafka_names_them() {
        let c = KafkaCode(RDKafkaErrorCode::TopicAlreadyExists);
        assert_eq!(c.name(), "TOPIC_ALREADY_EXISTS");
        assert_eq!(c.number(), 36);
        assert_eq!(
            KafkaCode(RDKafkaErrorCode::UnknownTopicOrPartition).name(),
            "UNKNOWN_TOPIC_OR_PARTITION"
        );
        assert!(
            c.to_string().starts_with("TOPIC_ALREADY_EXISTS (36): "),
            "{c}"
        );
    }

    #[test]
    fn refusals_are_told_from_other_failures() {
        assert_eq!(
            Rejection::of(RDKafkaErrorCode::Authentication),
            Some(Rejection::Authentication)
        );
        assert_eq!(
            Rejection::of(RDKafkaErrorCode::SaslAuthenticationFailed),
            Some(Rejection::Authentication)
        );
        assert_eq!(Rejection::of(RDKafkaErrorCode::SSL), Some(Rejection::Tls));
        assert_eq!(
            Rejection::of(RDKafkaErrorCode::TopicAuthorizationFailed),
            Some(Rejection::Authorization)
        );
        assert_eq!(
            Rejection::of(RDKafkaErrorCode::ClusterAuthorizationFailed),
            Some(Rejection::Authorization)
        );
        // A dead broker or a slow one is not a refusal.
        assert_eq!(
            Rejection::of(RDKafkaErrorCode::BrokerTransportFailure),
            None
        );
        assert_eq!(Rejection::of(RDKafkaErrorCode::AllBrokersDown), None);
        assert_eq!(Rejection::of(RDKafkaErrorCode::RequestTimedOut), None);
    }
}
