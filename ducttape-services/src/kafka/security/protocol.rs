//! The security protocols of listeners and the SASL mechanisms, by Kafka's names.

use std::fmt;
use std::str::FromStr;

/// A listener's security protocol (`security.protocol` of its clients).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum SecurityProtocol {
    /// No encryption, no authentication.
    #[default]
    Plaintext,
    /// TLS; clients authenticate with a certificate when the listener requires it.
    Ssl,
    /// SASL authentication, no encryption.
    SaslPlaintext,
    /// SASL authentication over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Every protocol, for matrices.
    pub const ALL: [SecurityProtocol; 4] = [
        SecurityProtocol::Plaintext,
        SecurityProtocol::Ssl,
        SecurityProtocol::SaslPlaintext,
        SecurityProtocol::SaslSsl,
    ];

    /// Kafka's name (`SASL_SSL`).
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Whether it runs over TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether it authenticates with SASL.
    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A security protocol or SASL mechanism name Kafka does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnknownNameError {
    /// Not one of Kafka's security protocols.
    #[error("unknown security protocol {0:?} (known: PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)")]
    Protocol(String),
    /// Not a SASL mechanism Kafka's own login modules serve.
    #[error("unknown sasl mechanism {0:?} (known: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)")]
    Mechanism(String),
}

impl FromStr for SecurityProtocol {
    type Err = UnknownNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownNameError::Protocol(s.to_string()))
    }
}

/// A SASL mechanism Kafka's own login modules serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SaslMechanism {
    /// Passwords checked against the broker's JAAS config.
    #[default]
    Plain,
    /// Salted challenge-response, credentials in the metadata (KRaft) or ZooKeeper.
    ScramSha256,
    /// The same with SHA-512.
    ScramSha512,
}

impl SaslMechanism {
    /// Kafka's name (`SCRAM-SHA-256`).
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }

    /// Whether it is a SCRAM mechanism (credentials must be created before use).
    pub fn is_scram(self) -> bool {
        self != SaslMechanism::Plain
    }

    /// The JAAS login module.
    pub(super) fn login_module(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "org.apache.kafka.common.security.plain.PlainLoginModule",
            _ => "org.apache.kafka.common.security.scram.ScramLoginModule",
        }
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SaslMechanism {
    type Err = UnknownNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            SaslMechanism::Plain,
            SaslMechanism::ScramSha256,
            SaslMechanism::ScramSha512,
        ]
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(s))
        .ok_or_else(|| UnknownNameError::Mechanism(s.to_string()))
    }
}
