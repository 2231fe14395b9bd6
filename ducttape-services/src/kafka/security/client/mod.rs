//! [`ClientSecurity`]: the client side of a cluster's security, one principal. What each kind
//! of client makes of it is a file of its own: `jvm.rs` (Java client properties, PEM files,
//! JVM arguments), `librdkafka.rs` (a key/value map, certificates inline), `shell.rs` (a
//! script writing the JVM client's files on a node).

use std::fmt;

use super::{SaslMechanism, SecurityProtocol};
use crate::tls::IssuedCertificate;

mod jvm;
mod librdkafka;
mod shell;

/// The client side of a cluster's security: what a Java client or librdkafka needs to connect
/// as one principal. Made by [`KafkaService::client_security`](crate::kafka::KafkaService::client_security)
/// (the cluster's client listener, the `client` user) and varied for refusal tests.
#[derive(Clone, Default)]
pub struct ClientSecurity {
    pub(super) protocol: SecurityProtocol,
    pub(super) mechanism: SaslMechanism,
    pub(super) credentials: Option<(String, String)>,
    pub(super) ca_pem: Option<String>,
    pub(super) certificate: Option<IssuedCertificate>,
    pub(super) hostname_verification: bool,
    pub(super) hosts: Option<String>,
}

impl fmt::Debug for ClientSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSecurity")
            .field("protocol", &self.protocol)
            .field("mechanism", &self.mechanism)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field("certificate", &self.certificate.is_some())
            .field("hostname_verification", &self.hostname_verification)
            .finish()
    }
}

/// A file a client needs on its node: path and content (written with mode 0600).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFile {
    /// Where on the node.
    pub path: String,
    /// What it holds.
    pub contents: String,
}

impl ClientSecurity {
    /// PLAINTEXT: no properties at all.
    pub fn plaintext() -> Self {
        Self {
            hostname_verification: true,
            ..Self::default()
        }
    }

    /// A client of a listener speaking `protocol`.
    pub fn new(protocol: SecurityProtocol, mechanism: SaslMechanism) -> Self {
        Self {
            protocol,
            mechanism,
            hostname_verification: true,
            ..Self::default()
        }
    }

    /// The protocol it speaks.
    pub fn protocol(&self) -> SecurityProtocol {
        self.protocol
    }

    /// Speaks `protocol` instead (e.g. PLAINTEXT against a TLS listener, to be refused).
    pub fn with_protocol(mut self, protocol: SecurityProtocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Authenticates (SASL) as `user` with `password`.
    pub fn with_credentials(mut self, user: &str, password: &str) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }

    /// Trusts the CA whose certificate this is (PEM), and no other.
    pub fn trusting(mut self, ca_pem: &str) -> Self {
        self.ca_pem = Some(ca_pem.into());
        self
    }

    /// Presents this certificate (TLS client authentication).
    pub fn with_certificate(mut self, certificate: IssuedCertificate) -> Self {
        self.certificate = Some(certificate);
        self
    }

    /// Whether the client checks that the broker's certificate names the host it dialled
    /// (on by default, as in Kafka's clients since 2.0).
    pub fn hostname_verification(mut self, on: bool) -> Self {
        self.hostname_verification = on;
        self
    }

    /// Resolves names from this hosts file (`<address> <name>` lines) in SASL clients'
    /// JVMs (`-Djdk.net.hosts.file`; see [`jvm_args`](Self::jvm_args)).
    pub fn with_hosts(mut self, hosts: &str) -> Self {
        self.hosts = Some(hosts.into());
        self
    }

    /// The SASL user, if any.
    pub fn user(&self) -> Option<&str> {
        self.credentials.as_ref().map(|(u, _)| u.as_str())
    }

    /// The SASL password, if any.
    pub fn password(&self) -> Option<&str> {
        self.credentials.as_ref().map(|(_, p)| p.as_str())
    }

    /// The SASL mechanism (meaningful when the protocol uses SASL).
    pub fn mechanism(&self) -> SaslMechanism {
        self.mechanism
    }

    /// The CA certificate it trusts (PEM), if one was given.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The certificate it presents, if any.
    pub fn certificate(&self) -> Option<&IssuedCertificate> {
        self.certificate.as_ref()
    }

    /// Whether it checks that the broker's certificate names the broker.
    pub fn verifies_hostnames(&self) -> bool {
        self.hostname_verification
    }

    /// Whether the client needs a properties file at all.
    pub fn is_plaintext(&self) -> bool {
        self.protocol == SecurityProtocol::Plaintext
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::properties::Properties;

    #[test]
    fn client_properties_follow_the_protocol() {
        assert_eq!(
            ClientSecurity::plaintext().properties("/d"),
            Properties::new()
        );
        let ca = crate::tls::CertificateAuthority::new("ca").unwrap();
        let cert = ca.issue("client", &[]).unwrap();
        let c = ClientSecurity::new(SecurityProtocol::Ssl, SaslMechanism::Plain)
            .trusting(ca.cert_pem())
            .with_certificate(cert)
            .hostname_verification(false);
        let p = c.properties("/d");
        assert_eq!(p.get("security.protocol"), Some("SSL"));
        assert_eq!(p.get("ssl.keystore.location"), Some("/d/keystore.pem"));
        assert_eq!(p.get("ssl.endpoint.identification.algorithm"), Some(""));
        assert_eq!(p.get("sasl.mechanism"), None);
        let files = c.files("/d");
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].contents, ca.cert_pem());
        let script = c.write_script("/d", "/d/c.properties", &Properties::new());
        assert!(script.starts_with("umask 077 && "), "{script}");
        assert!(script.ends_with("> /d/c.properties && "), "{script}");
        let rd = c.librdkafka();
        assert_eq!(rd["ssl.endpoint.identification.algorithm"], "none");
        assert!(rd["ssl.key.pem"].starts_with("-----BEGIN PRIVATE KEY-----"));
    }
}
