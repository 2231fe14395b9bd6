//! One scrape of an agent: `GET /metrics` over a plain TCP connection, blocking, under a
//! timeout. The sampler runs on a thread of its own (not on a test's runtime, whose I/O dies
//! with the test's `#[tokio::test]`), so this is std I/O; HTTP/1.1 with `Connection: close`,
//! and chunked bodies decoded (the JDK's server chunks a body of unknown length).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Why a scrape gave nothing.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// No connection, a timeout, a reset.
    #[error("{address}: {source}")]
    Io {
        /// `host:port`.
        address: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An answer that is not `200` with a body.
    #[error("{address}: {detail}")]
    Http {
        /// `host:port`.
        address: String,
        /// What was wrong.
        detail: String,
    },
}

/// The body of `http://<address>/metrics`.
pub fn get_metrics(address: &str, timeout: Duration) -> Result<String, ScrapeError> {
    let io = |source| ScrapeError::Io {
        address: address.to_string(),
        source,
    };
    let addr = address
        .to_socket_addrs()
        .map_err(io)?
        .next()
        .ok_or_else(|| ScrapeError::Http {
            address: address.to_string(),
            detail: "resolves to no address".into(),
        })?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    stream
        .write_all(
            format!("GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .map_err(io)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(io)?;
    parse_response(address, &raw)
}

/// The body of a raw HTTP/1.1 response from `address` with status 200.
fn parse_response(address: &str, raw: &[u8]) -> Result<String, ScrapeError> {
    let http = |detail: String| ScrapeError::Http {
        address: address.to_string(),
        detail,
    };
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| http("no end of headers".into()))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let body = &raw[split + 4..];
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(http(format!("answered {status:?}")));
    }
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked {
        dechunk(body).map_err(|problem| http(problem.into()))?
    } else {
        body.to_vec()
    };
    String::from_utf8(body).map_err(|_| http("a body that is not UTF-8".into()))
}

/// A chunked body decoded; what is wrong with it, else (the caller adds the address).
fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a chunk without its size line")?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "a bad chunk size")?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size {
            return Err("a truncated chunk");
        }
        out.extend_from_slice(&body[..size]);
        body = body.get(size + 2..).ok_or("a truncated chunk")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_chunked_bodies() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nup 1";
        assert_eq!(parse_response("a:1", plain).unwrap(), "up 1");
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nup \r\n1\r\n1\r\n0\r\n\r\n";
        assert_eq!(parse_response("a:1", chunked).unwrap(), "up 1");
        assert!(parse_response("a:1", b"HTTP/1.1 404 Not Found\r\n\r\n").is_err());
        let truncated = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nup";
        assert!(parse_response("a:1", truncated).is_err());
    }
}
