//! The HTTP client shared by the services' typed REST clients (kafka-pixy's, Kafka Connect's):
//! a base URL, a per-request timeout, and answers turned into [`RestError`]s that name the
//! method, the URL, the status and the body.

use std::time::Duration;

use crate::rest_proxy::{error_chain, RestError};

/// A JSON-over-HTTP client of one server.
#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    base: String,
    http: reqwest::Client,
}

impl HttpClient {
    /// A client of `base_url` (`http://host:port`, a trailing `/` is dropped); `timeout`
    /// bounds each request.
    pub(crate) fn new(base_url: impl Into<String>, timeout: Duration) -> Result<Self, RestError> {
        let base = base_url.into().trim_end_matches('/').to_string();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| RestError::Transport {
                method: "-".into(),
                url: base.clone(),
                detail: format!("cannot build the HTTP client: {}", error_chain(&e)),
            })?;
        Ok(Self { base, http })
    }

    /// The base URL.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// The underlying client, to build requests.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends `request`; the body of a 2xx answer, else [`RestError::Status`] with the body.
    pub(crate) async fn send(
        &self,
        method: &str,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Vec<u8>, RestError> {
        let transport = |e: reqwest::Error| RestError::Transport {
            method: method.into(),
            url: url.into(),
            detail: error_chain(&e),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let body = response.bytes().await.map_err(transport)?.to_vec();
        if status.is_success() {
            Ok(body)
        } else {
            Err(RestError::Status {
                method: method.into(),
                url: url.into(),
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body).trim_end().to_string(),
            })
        }
    }
}

/// Decodes a JSON answer; a body that does not fit is [`RestError::Decode`] with the body.
pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(
    method: &str,
    url: &str,
    body: &[u8],
) -> Result<T, RestError> {
    serde_json::from_slice(body).map_err(|e| RestError::Decode {
        method: method.into(),
        url: url.into(),
        detail: e.to_string(),
        body: String::from_utf8_lossy(body).into_owned(),
    })
}

/// Percent-encodes bytes for a URL path segment or query value (RFC 3986 unreserved kept).
pub(crate) fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
