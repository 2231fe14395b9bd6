//! Kafka's wire protocol, for the few admin requests librdkafka does not make
//! (`AlterPartitionReassignments`, `ListPartitionReassignments`): the flexible (KIP-482)
//! encoding those requests use, one request and its answer per PLAINTEXT connection.
//!
//! Only what those requests need is here: request header v2 (`client_id` a classic nullable
//! string, then tagged fields), response header v1, compact strings and arrays (length + 1 as
//! an unsigned varint, 0 for null) and empty tagged-field sections. A tagged field in an
//! answer is skipped, as Kafka's own parsers do.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The client id these requests carry (it shows in the brokers' request logs).
const CLIENT_ID: &str = "ducttape-admin";
/// The largest answer accepted (a corrupt length must not allocate gigabytes).
const MAX_ANSWER: usize = 64 << 20;

/// What went wrong sending one of these requests: the client's settings, the connection, the
/// answer's bytes (a misread must not pass for an answer), or Kafka's refusal.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// These requests go in PLAINTEXT only, and the client is set to another protocol.
    #[error(
        "sent over Kafka's wire protocol in PLAINTEXT only, and this client's \
         security.protocol is {protocol}: use kafka-reassign-partitions"
    )]
    NotPlaintext {
        /// The client's `security.protocol`.
        protocol: String,
    },
    /// The request does not fit Kafka's 4-byte size.
    #[error("request too large")]
    TooLarge,
    /// Connecting, sending or reading failed.
    #[error("{step}: {source}")]
    Io {
        /// What was being done (`connect`, `send`, …).
        step: &'static str,
        /// The socket's error.
        #[source]
        source: std::io::Error,
    },
    /// The broker did not answer in time.
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    /// The answer's size is negative or larger than any answer of these requests.
    #[error("an answer of impossible size ({0} bytes)")]
    ImpossibleSize(i32),
    /// The answer is to another request.
    #[error("an answer to request {got}, not {sent}")]
    WrongCorrelation {
        /// The answer's correlation id.
        got: i32,
        /// The request's.
        sent: i32,
    },
    /// The answer ends before a field.
    #[error("unreadable answer: it ends at byte {len} reading {what} ({need} bytes)")]
    Short {
        /// The field.
        what: &'static str,
        /// Its size.
        need: usize,
        /// The answer's size.
        len: usize,
    },
    /// An unsigned varint longer than 5 bytes.
    #[error("unreadable answer: {what}: a varint longer than 5 bytes")]
    LongVarint {
        /// The field.
        what: &'static str,
    },
    /// A string that is not UTF-8.
    #[error("unreadable answer: {what}: {source}")]
    NotUtf8 {
        /// The field.
        what: &'static str,
        /// Where it stops being UTF-8.
        #[source]
        source: std::str::Utf8Error,
    },
    /// A null where Kafka sends a string.
    #[error("unreadable answer: {what}: null where Kafka sends a string")]
    Null {
        /// The field.
        what: &'static str,
    },
    /// Bytes after the last field (the answer was misread).
    #[error("unreadable answer: {0} bytes left over after reading it")]
    LeftOver(usize),
    /// Kafka refused: its error codes and messages (`CODE (n): message`, or
    /// `t-p: CODE (n): message` for a partition).
    #[error("refused: {}", .0.join("; "))]
    Refused(Vec<String>),
}

ducttape_core::human_debug!(WireError);

/// A request body being written.
#[derive(Debug, Default)]
pub(super) struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    pub(super) fn new() -> Self {
        Self::default()
    }

    pub(super) fn i16(&mut self, v: i16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub(super) fn i32(&mut self, v: i32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub(super) fn uvarint(&mut self, mut v: u32) -> &mut Self {
        while v >= 0x80 {
            self.buf.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
        self
    }

    /// A compact array's (or string's) length, `None` for null.
    pub(super) fn compact_len(&mut self, len: Option<usize>) -> &mut Self {
        let v = len.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX - 1) + 1);
        self.uvarint(v)
    }

    pub(super) fn compact_string(&mut self, s: &str) -> &mut Self {
        self.compact_len(Some(s.len()));
        self.buf.extend_from_slice(s.as_bytes());
        self
    }

    /// A compact nullable array of int32.
    pub(super) fn compact_i32s(&mut self, values: Option<&[i32]>) -> &mut Self {
        self.compact_len(values.map(<[i32]>::len));
        for v in values.unwrap_or_default() {
            self.i32(*v);
        }
        self
    }

    /// An empty tagged-field section.
    pub(super) fn no_tags(&mut self) -> &mut Self {
        self.uvarint(0)
    }

    pub(super) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// An answer being read; each read says what was missing when the answer is short.
#[derive(Debug)]
pub(super) struct Decoder<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Decoder<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Self { buf, at: 0 }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or(WireError::Short {
            what,
            need: n,
            len: self.buf.len(),
        })?;
        let out = &self.buf[self.at..end];
        self.at = end;
        Ok(out)
    }

    pub(super) fn i16(&mut self, what: &'static str) -> Result<i16, WireError> {
        let b = self.take(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    pub(super) fn i32(&mut self, what: &'static str) -> Result<i32, WireError> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(super) fn uvarint(&mut self, what: &'static str) -> Result<u32, WireError> {
        let mut v: u32 = 0;
        for shift in (0..35).step_by(7) {
            let b = self.take(1, what)?[0];
            v |= u32::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(WireError::LongVarint { what })
    }

    /// A compact array's (or string's) length; `None` for null.
    pub(super) fn compact_len(&mut self, what: &'static str) -> Result<Option<usize>, WireError> {
        Ok(match self.uvarint(what)? {
            0 => None,
            n => Some(n as usize - 1),
        })
    }

    pub(super) fn compact_nullable_string(
        &mut self,
        what: &'static str,
    ) -> Result<Option<String>, WireError> {
        match self.compact_len(what)? {
            None => Ok(None),
            Some(n) => {
                let bytes = self.take(n, what)?;
                std::str::from_utf8(bytes)
                    .map(|s| Some(s.to_string()))
                    .map_err(|source| WireError::NotUtf8 { what, source })
            }
        }
    }

    pub(super) fn compact_string(&mut self, what: &'static str) -> Result<String, WireError> {
        self.compact_nullable_string(what)?
            .ok_or(WireError::Null { what })
    }

    pub(super) fn compact_i32s(&mut self, what: &'static str) -> Result<Vec<i32>, WireError> {
        let n = self.compact_len(what)?.unwrap_or(0);
        (0..n).map(|_| self.i32(what)).collect()
    }

    /// Skips a tagged-field section.
    pub(super) fn tags(&mut self, what: &'static str) -> Result<(), WireError> {
        let fields = self.uvarint(what)?;
        for _ in 0..fields {
            self.uvarint(what)?;
            let size = self.uvarint(what)? as usize;
            self.take(size, what)?;
        }
        Ok(())
    }

    /// Whether every byte was read (a longer answer means a misread).
    pub(super) fn finished(&self) -> Result<(), WireError> {
        if self.at == self.buf.len() {
            Ok(())
        } else {
            Err(WireError::LeftOver(self.buf.len() - self.at))
        }
    }
}

/// Sends one request (`api_key` at `version`, header v2, then `body`) to `address` and
/// returns the answer's body (after the v1 response header), all within `timeout`; the
/// caller puts the error in context (operation, broker, address).
pub(super) async fn exchange(
    address: &str,
    api_key: i16,
    version: i16,
    body: Encoder,
    timeout: Duration,
) -> Result<Vec<u8>, WireError> {
    const CORRELATION: i32 = 1;
    let mut request = Encoder::new();
    request.i16(api_key).i16(version).i32(CORRELATION);
    // The header's client id is a classic nullable string (int16 length), even in v2.
    request.i16(CLIENT_ID.len() as i16);
    request.buf.extend_from_slice(CLIENT_ID.as_bytes());
    request.no_tags();
    request.buf.extend_from_slice(&body.into_bytes());
    let request = request.into_bytes();
    let size = i32::try_from(request.len()).map_err(|_| WireError::TooLarge)?;

    let talk = async {
        let mut stream = TcpStream::connect(address)
            .await
            .map_err(|source| WireError::Io {
                step: "connect",
                source,
            })?;
        let _ = stream.set_nodelay(true);
        stream
            .write_all(&size.to_be_bytes())
            .await
            .map_err(|source| WireError::Io {
                step: "send",
                source,
            })?;
        stream
            .write_all(&request)
            .await
            .map_err(|source| WireError::Io {
                step: "send",
                source,
            })?;
        let mut len = [0u8; 4];
        stream
            .read_exact(&mut len)
            .await
            .map_err(|source| WireError::Io {
                step: "read the answer's size (the broker closed the connection?)",
                source,
            })?;
        let len = i32::from_be_bytes(len);
        let len = usize::try_from(len)
            .ok()
            .filter(|&n| n <= MAX_ANSWER)
            .ok_or(WireError::ImpossibleSize(len))?;
        let mut answer = vec![0u8; len];
        stream
            .read_exact(&mut answer)
            .await
            .map_err(|source| WireError::Io {
                step: "read the answer",
                source,
            })?;
        Ok::<_, WireError>(answer)
    };
    let answer = tokio::time::timeout(timeout, talk)
        .await
        .map_err(|_| WireError::TimedOut(timeout))??;
    let mut d = Decoder::new(&answer);
    let correlation = d.i32("the correlation id")?;
    if correlation != CORRELATION {
        return Err(WireError::WrongCorrelation {
            got: correlation,
            sent: CORRELATION,
        });
    }
    d.tags("the response header's tagged fields")?;
    Ok(answer[d.at..].to_vec())
}

/// Kafka's name of an error code the reassignment requests answer with (the number alone for
/// others; the broker's own message goes beside it).
pub(super) fn code_name(code: i16) -> String {
    let name = match code {
        3 => "UNKNOWN_TOPIC_OR_PARTITION",
        7 => "REQUEST_TIMED_OUT",
        29 => "TOPIC_AUTHORIZATION_FAILED",
        31 => "CLUSTER_AUTHORIZATION_FAILED",
        35 => "UNSUPPORTED_VERSION",
        39 => "INVALID_REPLICA_ASSIGNMENT",
        41 => "NOT_CONTROLLER",
        42 => "INVALID_REQUEST",
        60 => "REASSIGNMENT_IN_PROGRESS",
        85 => "NO_REASSIGNMENT_IN_PROGRESS",
        _ => return format!("Kafka error {code}"),
    };
    format!("{name} ({code})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_compact_values_read_back() {
        let mut e = Encoder::new();
        e.uvarint(0)
            .uvarint(127)
            .uvarint(128)
            .uvarint(300_000)
            .compact_string("topic")
            .compact_i32s(Some(&[1, -2]))
            .compact_i32s(None)
            .compact_len(None)
            .no_tags();
        let bytes = e.into_bytes();
        // 128 is two bytes; an empty string's length is 1.
        assert_eq!(&bytes[..4], &[0, 127, 0x80, 0x01]);
        let mut d = Decoder::new(&bytes);
        assert_eq!(d.uvarint("a").unwrap(), 0);
        assert_eq!(d.uvarint("b").unwrap(), 127);
        assert_eq!(d.uvarint("c").unwrap(), 128);
        assert_eq!(d.uvarint("d").unwrap(), 300_000);
        assert_eq!(d.compact_string("e").unwrap(), "topic");
        assert_eq!(d.compact_i32s("f").unwrap(), vec![1, -2]);
        assert_eq!(d.compact_i32s("g").unwrap(), Vec::<i32>::new());
        assert_eq!(d.compact_nullable_string("h").unwrap(), None);
        d.tags("i").unwrap();
        d.finished().unwrap();
    }

    #[test]
    fn a_short_answer_says_what_was_missing() {
        let mut d = Decoder::new(&[0, 1]);
        let e = d.i32("the throttle time").unwrap_err().to_string();
        assert!(e.contains("the throttle time"), "{e}");
        // Tagged fields are skipped, not misread as the next field.
        let mut d = Decoder::new(&[1, 5, 2, 0xaa, 0xbb, 7]);
        d.tags("tags").unwrap();
        assert_eq!(d.uvarint("next").unwrap(), 7);
        assert!(Decoder::new(&[1]).finished().is_err());
    }
}
