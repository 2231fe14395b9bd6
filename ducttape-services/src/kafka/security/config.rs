//! [`SecurityConfig`]: what a test chooses for a cluster (protocols, mechanism, users,
//! certificates, authorizer) and the checks made before any broker starts. What the brokers
//! make of it is `broker.rs`; what clients make of it is `client/`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::protocol::UnknownNameError;
use super::{
    default_password, SaslMechanism, SecurityProtocol, ADMIN_USER, BROKER_USER, CLIENT_USER,
};

/// A [`SecurityConfig`] that cannot run, found before any broker starts: names the option at
/// fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecurityConfigError {
    /// `mechanism` is not one Kafka's login modules serve.
    #[error("security: sasl mechanism: {0}")]
    Mechanism(#[from] UnknownNameError),
    /// A SASL user without a name.
    #[error("security: user: a SASL user needs a name")]
    UnnamedUser,
    /// A SASL user without a password.
    #[error(
        "security: user {user:?}: no password (a SASL listener needs credentials for every user)"
    )]
    NoPassword {
        /// The user.
        user: String,
    },
    /// A name or password that JAAS and SCRAM configs cannot quote.
    #[error("security: user {user:?}: names and passwords may not contain '\"', '\\\\', ',', '=' or ']' (JAAS and SCRAM quoting)")]
    Unquotable {
        /// The user.
        user: String,
    },
    /// Client certificates asked of a listener that does not speak TLS.
    #[error(
        "security: require_client_certificates: the client listener speaks {protocol}, not TLS"
    )]
    ClientCertificatesWithoutTls {
        /// The client listener's protocol.
        protocol: SecurityProtocol,
    },
    /// A key store file that is not there.
    #[error("security: keystore_file of node {index}: ssl.keystore.location {} does not exist", .path.display())]
    MissingKeystore {
        /// The node's index in the service.
        index: usize,
        /// The file on the test host.
        path: PathBuf,
    },
    /// A key store given while no listener speaks TLS.
    #[error("security: keystore_file of node {index}: no listener speaks TLS")]
    KeystoreWithoutTls {
        /// The node's index in the service.
        index: usize,
    },
}

/// How a Kafka cluster is secured. The default is PLAINTEXT everywhere, no authorizer.
#[derive(Debug, Clone, Default)]
pub struct SecurityConfig {
    pub(super) client: SecurityProtocol,
    pub(super) inter_broker: Option<SecurityProtocol>,
    pub(super) controller: SecurityProtocol,
    pub(super) mechanism: String,
    pub(super) client_auth: bool,
    pub(super) authorizer: bool,
    pub(super) users: Vec<(String, String)>,
    pub(super) keystore_override: BTreeMap<usize, PathBuf>,
    pub(super) certificate_names: BTreeMap<usize, Vec<String>>,
}

impl SecurityConfig {
    /// Clients speak `client` on port 9092; brokers speak it to each other too unless
    /// [`inter_broker`](Self::inter_broker) says otherwise; the KRaft controller listener
    /// stays PLAINTEXT unless [`controller`](Self::controller) says otherwise. SASL uses PLAIN
    /// unless [`mechanism`](Self::mechanism) says otherwise.
    pub fn new(client: SecurityProtocol) -> Self {
        Self {
            client,
            mechanism: SaslMechanism::Plain.name().into(),
            ..Self::default()
        }
    }

    /// The protocol brokers speak to each other (a listener `BROKER` on port 9094 when it
    /// differs from the client protocol).
    pub fn inter_broker(mut self, protocol: SecurityProtocol) -> Self {
        self.inter_broker = Some(protocol);
        self
    }

    /// The protocol of the KRaft controller listener (SASL there uses PLAIN: a controller
    /// cannot check SCRAM credentials before it has read them from the metadata log).
    pub fn controller(mut self, protocol: SecurityProtocol) -> Self {
        self.controller = protocol;
        self
    }

    /// The SASL mechanism of the client and inter-broker listeners, by Kafka's name
    /// (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`); checked when the service is built.
    pub fn mechanism(mut self, mechanism: impl ToString) -> Self {
        self.mechanism = mechanism.to_string();
        self
    }

    /// TLS clients of the client listener must present a certificate issued by the run's CA
    /// (`ssl.client.auth=required`); [`ClientSecurity`](crate::kafka::ClientSecurity) then carries one.
    pub fn require_client_certificates(mut self) -> Self {
        self.client_auth = true;
        self
    }

    /// Turns on the authorizer of the mode (KRaft: `StandardAuthorizer`; ZooKeeper:
    /// `AclAuthorizer`), with the admin and broker users as super users; everyone else needs
    /// ACLs (see [`KafkaService::grant`](crate::kafka::KafkaService::grant)).
    pub fn authorizer(mut self) -> Self {
        self.authorizer = true;
        self
    }

    /// Another SASL user (the admin, broker and client users always exist).
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.users.retain(|(n, _)| n != name);
        self.users.push((name.into(), password.into()));
        self
    }

    /// Node `index` (0-based) uses this PEM key store (key, certificate, CA) from the test
    /// host instead of one issued by the run's CA.
    pub fn keystore_file(mut self, index: usize, path: impl Into<PathBuf>) -> Self {
        self.keystore_override.insert(index, path.into());
        self
    }

    /// Node `index`'s certificate names these hosts instead of its own address and hostname
    /// (to show hostname verification failing).
    pub fn certificate_names(mut self, index: usize, names: &[&str]) -> Self {
        self.certificate_names
            .insert(index, names.iter().map(|n| n.to_string()).collect());
        self
    }

    /// The client listener's protocol.
    pub fn client_protocol(&self) -> SecurityProtocol {
        self.client
    }

    /// The inter-broker protocol.
    pub fn inter_broker_protocol(&self) -> SecurityProtocol {
        self.inter_broker.unwrap_or(self.client)
    }

    /// The KRaft controller listener's protocol.
    pub fn controller_protocol(&self) -> SecurityProtocol {
        self.controller
    }

    /// The SASL mechanism (call [`validate`](Self::validate) first; PLAIN if it does not parse).
    pub fn sasl_mechanism(&self) -> SaslMechanism {
        self.parsed_mechanism().unwrap_or_default()
    }

    fn parsed_mechanism(&self) -> Result<SaslMechanism, UnknownNameError> {
        if self.mechanism.is_empty() {
            return Ok(SaslMechanism::Plain);
        }
        self.mechanism.parse()
    }

    /// Whether the authorizer is on.
    pub fn has_authorizer(&self) -> bool {
        self.authorizer
    }

    /// Whether clients of the client listener must present a certificate.
    pub fn requires_client_certificates(&self) -> bool {
        self.client_auth && self.client.uses_tls()
    }

    /// The key store file given for node `index`, if any.
    pub fn keystore_file_of(&self, index: usize) -> Option<&PathBuf> {
        self.keystore_override.get(&index)
    }

    /// The names node `index`'s certificate is for, if overridden.
    pub fn certificate_names_of(&self, index: usize) -> Option<&[String]> {
        self.certificate_names.get(&index).map(Vec::as_slice)
    }

    /// Whether any listener runs TLS (the run needs a CA).
    pub fn uses_tls(&self, kraft: bool) -> bool {
        self.protocols(kraft).iter().any(|p| p.uses_tls())
    }

    /// Whether SCRAM credentials must be created before the brokers start.
    pub fn needs_scram_credentials(&self) -> bool {
        self.sasl_mechanism().is_scram()
            && [self.client, self.inter_broker_protocol()]
                .iter()
                .any(|p| p.uses_sasl())
    }

    fn protocols(&self, kraft: bool) -> Vec<SecurityProtocol> {
        let mut all = vec![self.client, self.inter_broker_protocol()];
        if kraft {
            all.push(self.controller);
        }
        all
    }

    /// Every SASL user with its password: admin, broker, client, then the test's own.
    pub fn users(&self) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = [ADMIN_USER, BROKER_USER, CLIENT_USER]
            .iter()
            .map(|u| (u.to_string(), default_password(u)))
            .collect();
        for (name, password) in &self.users {
            all.retain(|(n, _)| n != name);
            all.push((name.clone(), password.clone()));
        }
        all
    }

    /// The password of `user`, if it is one.
    pub fn password_of(&self, user: &str) -> Option<String> {
        self.users()
            .into_iter()
            .find(|(n, _)| n == user)
            .map(|(_, p)| p)
    }

    /// Checks the choices before any broker starts; the error names the option at fault.
    /// `kraft`: whether the cluster runs in KRaft mode.
    pub fn validate(&self, kraft: bool) -> Result<(), SecurityConfigError> {
        self.parsed_mechanism()?;
        for (name, password) in self.users() {
            if name.is_empty() {
                return Err(SecurityConfigError::UnnamedUser);
            }
            if password.is_empty() {
                return Err(SecurityConfigError::NoPassword { user: name });
            }
            let bad = |c: char| c == '"' || c == '\\' || c == ',' || c == '=' || c == ']';
            if name.contains(bad) || password.contains(bad) {
                return Err(SecurityConfigError::Unquotable { user: name });
            }
        }
        if self.client_auth && !self.client.uses_tls() {
            return Err(SecurityConfigError::ClientCertificatesWithoutTls {
                protocol: self.client,
            });
        }
        for (&index, path) in &self.keystore_override {
            if !path.is_file() {
                return Err(SecurityConfigError::MissingKeystore {
                    index,
                    path: path.clone(),
                });
            }
            if !self.uses_tls(kraft) {
                return Err(SecurityConfigError::KeystoreWithoutTls { index });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::kafka::security::SecurityProtocol;

    #[test]
    fn bad_inputs_name_the_option() {
        let unknown = SecurityConfig::new(SecurityProtocol::SaslSsl)
            .mechanism("SCRAM-SHA-1")
            .validate(true)
            .unwrap_err()
            .to_string();
        assert!(
            unknown.contains("sasl mechanism") && unknown.contains("SCRAM-SHA-1"),
            "{unknown}"
        );
        let no_password = SecurityConfig::new(SecurityProtocol::SaslPlaintext)
            .user("alice", "")
            .validate(true)
            .unwrap_err()
            .to_string();
        assert!(
            no_password.contains("user \"alice\"") && no_password.contains("no password"),
            "{no_password}"
        );
        let missing = SecurityConfig::new(SecurityProtocol::Ssl)
            .keystore_file(0, "/nonexistent/keystore.pem")
            .validate(true)
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("ssl.keystore.location")
                && missing.contains("/nonexistent/keystore.pem"),
            "{missing}"
        );
        let mtls_without_tls = SecurityConfig::new(SecurityProtocol::SaslPlaintext)
            .require_client_certificates()
            .validate(false)
            .unwrap_err()
            .to_string();
        assert!(
            mtls_without_tls.contains("require_client_certificates"),
            "{mtls_without_tls}"
        );
        assert!(SecurityConfig::default().validate(true).is_ok());
    }
}
