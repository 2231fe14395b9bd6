//! The REST-proxy notion: a [`Service`] that speaks HTTP for Kafka on each of its nodes.
//!
//! What lives here is what every proxy shares: where to reach it ([`RestProxy::base_url`]) and
//! the error of its clients ([`RestError`], which carries the request and, for an HTTP error,
//! the status and body). Each proxy's HTTP API is its own (kafka-pixy's is not Confluent's
//! kafka-rest's), so each proxy's file holds its service and its typed client:
//! [`KafkaPixyService`](crate::KafkaPixyService) and [`PixyClient`](crate::kafka_pixy::PixyClient)
//! for kafka-pixy, the one proxy installed here. A second proxy is one more such file.

use ducttape_core::cluster::Node;

use crate::service::Service;

/// A service that serves Kafka over HTTP.
///
/// ```no_run
/// # fn demo(pixy: &ducttape_services::KafkaPixyService) {
/// use ducttape_services::{RestProxy, Service};
/// let url = pixy.base_url(&pixy.nodes()[0]);   // e.g. http://10.223.0.4:19092
/// assert!(url.starts_with("http://"));
/// # }
/// ```
pub trait RestProxy: Service {
    /// `http://<node address>:<port>`, without a trailing slash.
    fn base_url(&self, node: &Node) -> String;

    /// [`base_url`](Self::base_url) of every node.
    fn base_urls(&self) -> Vec<String> {
        self.nodes().iter().map(|n| self.base_url(n)).collect()
    }
}

/// A request to a REST proxy failed.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum RestError {
    /// The proxy answered with an HTTP error status.
    #[error("{method} {url}: HTTP {status}: {body}")]
    Status {
        /// The HTTP method.
        method: String,
        /// The URL asked.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The answer's body (as text, lossy).
        body: String,
    },
    /// No answer: connection refused, timeout, broken connection, a request that could not
    /// be built.
    #[error("{method} {url}: {detail}")]
    Transport {
        /// The HTTP method.
        method: String,
        /// The URL asked.
        url: String,
        /// The error with its causes.
        detail: String,
    },
    /// A success status with a body that is not what the API promises.
    #[error("{method} {url}: unexpected answer ({detail}): {body}")]
    Decode {
        /// The HTTP method.
        method: String,
        /// The URL asked.
        url: String,
        /// What did not fit.
        detail: String,
        /// The answer's body (as text, lossy).
        body: String,
    },
}

ducttape_core::human_debug!(RestError);

impl RestError {
    /// The HTTP status, for [`RestError::Status`].
    ///
    /// ```
    /// use ducttape_services::RestError;
    /// let e = RestError::Status { method: "GET".into(), url: "http://x/t".into(), status: 404, body: "{}".into() };
    /// assert_eq!(e.status(), Some(404));
    /// assert_eq!(e.to_string(), "GET http://x/t: HTTP 404: {}");
    /// ```
    pub fn status(&self) -> Option<u16> {
        match self {
            RestError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// An error and its causes on one line (`a: b: c`): reqwest's and hyper's own messages leave
/// out the cause (`error sending request` without `connection refused`).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
