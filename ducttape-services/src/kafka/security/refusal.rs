//! [`Refusal`]: why a client was refused, classified from what it printed.

/// Why a client was refused, read from its output (and, for a plaintext client dialling a TLS
/// listener, from what it says when the broker drops it).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// TLS handshake failed: the peer's certificate is not trusted (`PKIX path building
    /// failed`, `unable to find valid certification path`).
    UntrustedCertificate(String),
    /// TLS handshake failed: the certificate does not name the host (`No subject alternative
    /// names matching`, `No name matching`).
    HostnameMismatch(String),
    /// SASL authentication failed (wrong password, unknown user).
    Authentication(String),
    /// Authenticated, but the authorizer said no (`Not authorized to access topics`, …).
    Authorization(String),
    /// The broker dropped the connection before any answer, as a TLS listener does with a
    /// plaintext client; the client times out (`Timed out waiting for a node assignment`,
    /// `disconnected`).
    Disconnected(String),
}

impl Refusal {
    /// The reason in `output` (a tool's stdout and stderr), most specific first; `None` when
    /// the output names none of them.
    ///
    /// ```
    /// use ducttape_services::kafka::Refusal;
    /// let out = "ERROR Error when sending message to topic t: org.apache.kafka.common.errors.TopicAuthorizationException: Not authorized to access topics: [t]";
    /// assert!(matches!(Refusal::find(out), Some(Refusal::Authorization(_))));
    /// assert_eq!(Refusal::find("1 records sent"), None);
    /// ```
    pub fn find(output: &str) -> Option<Refusal> {
        let line_with = |needles: &[&str]| {
            output
                .lines()
                .find(|l| needles.iter().any(|n| l.contains(n)))
                .map(|l| l.trim().to_string())
        };
        if let Some(l) = line_with(&[
            "No subject alternative names matching",
            "No subject alternative DNS name matching",
            "No name matching",
        ]) {
            return Some(Refusal::HostnameMismatch(l));
        }
        if let Some(l) = line_with(&[
            "PKIX path building failed",
            "unable to find valid certification path",
        ]) {
            return Some(Refusal::UntrustedCertificate(l));
        }
        if let Some(l) = line_with(&[
            "SaslAuthenticationException",
            "Authentication failed",
            "Invalid username or password",
        ]) {
            return Some(Refusal::Authentication(l));
        }
        if let Some(l) = line_with(&["AuthorizationException", "Not authorized to access"]) {
            return Some(Refusal::Authorization(l));
        }
        line_with(&[
            "Timed out waiting for a node assignment",
            "not present in metadata after",
            "disconnected",
        ])
        .map(Refusal::Disconnected)
    }

    /// A short name of the kind (`authentication`, …) for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::UntrustedCertificate(_) => "untrusted certificate",
            Refusal::HostnameMismatch(_) => "hostname mismatch",
            Refusal::Authentication(_) => "authentication",
            Refusal::Authorization(_) => "authorization",
            Refusal::Disconnected(_) => "disconnected",
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Lines captured from Kafka 3.9 and 4.4 tools refused by a broker.
    #[test]
    fn refusals_are_told_apart() {
        let cases = [
            ("org.apache.kafka.common.errors.SslAuthenticationException: SSL handshake failed\nCaused by: javax.net.ssl.SSLHandshakeException: PKIX path building failed: sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path to requested target", "untrusted certificate"),
            ("Caused by: java.security.cert.CertificateException: No subject alternative names matching IP address 10.223.0.2 found", "hostname mismatch"),
            ("ERROR [Producer clientId=console-producer] Connection to node -1 (/10.223.0.2:9092) failed authentication due to: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256", "authentication"),
            ("org.apache.kafka.common.errors.TopicAuthorizationException: Not authorized to access topics: [t]", "authorization"),
            ("org.apache.kafka.common.errors.TimeoutException: Topic t not present in metadata after 10000 ms.", "disconnected"),
        ];
        for (output, kind) in cases {
            assert_eq!(Refusal::find(output).unwrap().kind(), kind, "{output}");
        }
        assert_eq!(Refusal::find("all good\n"), None);
    }
}
