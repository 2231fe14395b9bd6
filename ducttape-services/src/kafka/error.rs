//! [`KafkaServiceError`]: what a Kafka service's own steps fail with, beside the general
//! [`ServiceError`](crate::ServiceError) (which holds it as one `#[from]` part).

use std::path::PathBuf;

use super::admin::AdminError;
use crate::error::ServiceError;
use crate::tls::TlsError;

/// A Kafka control operation or a Kafka-only setup step failed.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum KafkaServiceError {
    /// A control operation through librdkafka (topics, metadata, groups) failed: it names the
    /// brokers asked, the topic or group, and Kafka's error code.
    #[error(transparent)]
    Admin(#[from] AdminError),
    /// The cluster's security choices cannot run (found before any broker starts).
    #[error("kafka: {0}")]
    Security(#[from] super::security::SecurityConfigError),
    /// A Kafka command-line tool answered in a form it was not expected to (a changed
    /// output format must not read as an answer).
    #[error("kafka: {0}")]
    ToolOutput(#[from] super::tools::ToolOutputError),
    /// The same, for a tool run on (or a listing read from) one node: names the node.
    #[error("kafka: {node}: {source}")]
    ToolOutputOn {
        /// The node the tool ran on.
        node: String,
        /// What did not fit.
        #[source]
        source: super::tools::ToolOutputError,
    },
    /// The run's CA could not issue a certificate.
    #[error("kafka: {0}")]
    Tls(#[from] TlsError),
    /// A node started, but its server says it runs another version than the one it was
    /// started on (the install at that home holds another release).
    #[error("kafka: {node} was started on Kafka {expected}, but says it runs Kafka {running} (its JVM runs from {home})")]
    NotTheVersionStarted {
        /// The node.
        node: String,
        /// The version it was started on.
        expected: String,
        /// The install its JVM runs from.
        home: String,
        /// The version its server logged.
        running: String,
    },
    /// A key store given with `SecurityConfig::keystore_file` could not be read.
    #[error("kafka: security: keystore_file of node {index}: ssl.keystore.location {}: {source}", .path.display())]
    Keystore {
        /// The node's index in the service.
        index: usize,
        /// The file on the test host.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
}

ducttape_core::human_debug!(KafkaServiceError);

impl KafkaServiceError {
    /// `source`, read from a tool run on `node`.
    pub(crate) fn tool_output_on(
        node: &ducttape_core::cluster::Node,
        source: super::tools::ToolOutputError,
    ) -> Self {
        Self::ToolOutputOn {
            node: node.name().to_string(),
            source,
        }
    }
}

impl From<AdminError> for ServiceError {
    fn from(e: AdminError) -> Self {
        ServiceError::Kafka(e.into())
    }
}

impl From<TlsError> for ServiceError {
    fn from(e: TlsError) -> Self {
        ServiceError::Kafka(e.into())
    }
}
