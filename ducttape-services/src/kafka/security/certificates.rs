//! [`ClusterTls`]: what the run's CA issued for one cluster (a key store per node, a
//! certificate per built-in client user), and the client side of the client listener for any
//! user ([`ClusterTls::client_security_as`]).

use std::collections::BTreeMap;

use ducttape_core::cluster::Node;

use super::{
    ClientSecurity, SecurityConfig, SecurityProtocol, ADMIN_USER, BROKER_USER, CLIENT_USER,
};
use crate::kafka::error::KafkaServiceError;
use crate::tls::{CertificateAuthority, IssuedCertificate};

/// The run's CA and what it issued for a cluster: a key store per node, a certificate per
/// built-in client user.
pub(crate) struct ClusterTls {
    ca: CertificateAuthority,
    keystores: Vec<String>,
    clients: BTreeMap<String, IssuedCertificate>,
}

impl ClusterTls {
    /// Issues every node's key store (or reads the one `security` names for it) and the
    /// admin and client users' certificates.
    pub(crate) fn issue(
        nodes: &[Node],
        security: &SecurityConfig,
    ) -> Result<Self, KafkaServiceError> {
        let ca = CertificateAuthority::new("ducttape per-run CA")?;
        let mut keystores = Vec::new();
        for (index, node) in nodes.iter().enumerate() {
            if let Some(path) = security.keystore_file_of(index) {
                let pem = std::fs::read_to_string(path).map_err(|source| {
                    KafkaServiceError::Keystore {
                        index,
                        path: path.clone(),
                        source,
                    }
                })?;
                keystores.push(pem);
                continue;
            }
            let own = [node.address(), node.name()];
            let names: Vec<&str> = match security.certificate_names_of(index) {
                Some(names) => names.iter().map(String::as_str).collect(),
                None => own.to_vec(),
            };
            keystores.push(ca.issue(BROKER_USER, &names)?.keystore_pem());
        }
        let mut clients = BTreeMap::new();
        for user in [ADMIN_USER, CLIENT_USER] {
            clients.insert(user.to_string(), ca.issue(user, &[])?);
        }
        Ok(Self {
            ca,
            keystores,
            clients,
        })
    }

    /// The CA certificate (PEM).
    pub(crate) fn ca_pem(&self) -> &str {
        self.ca.cert_pem()
    }

    /// Node `index`'s key store (PEM: key, certificate, CA).
    pub(crate) fn keystore(&self, index: usize) -> &str {
        &self.keystores[index]
    }

    /// A certificate for `user` issued by the CA.
    pub(crate) fn issue_client(&self, user: &str) -> Option<IssuedCertificate> {
        match self.clients.get(user) {
            Some(cert) => Some(cert.clone()),
            None => self.ca.issue(user, &[]).ok(),
        }
    }
}

/// The client side of the cluster's client listener as `user` (a user of `security`; an
/// unknown one gets no password, so it is refused), reading `hosts` in SASL JVMs. On an SSL
/// listener, or one requiring client certificates, it presents a certificate for `user`.
pub(crate) fn client_security_as(
    security: &SecurityConfig,
    tls: Option<&ClusterTls>,
    hosts: &str,
    user: &str,
) -> ClientSecurity {
    let protocol = security.client_protocol();
    let mut c = ClientSecurity::new(protocol, security.sasl_mechanism()).with_hosts(hosts);
    if protocol.uses_sasl() {
        c = c.with_credentials(user, &security.password_of(user).unwrap_or_default());
    }
    if let Some(tls) = tls {
        c = c.trusting(tls.ca_pem());
        // On an SSL listener the certificate is the only identity (the listener asks for
        // one): without it the client would be ANONYMOUS, which ACLs do not know.
        if security.requires_client_certificates() || protocol == SecurityProtocol::Ssl {
            if let Some(cert) = tls.issue_client(user) {
                c = c.with_certificate(cert);
            }
        }
    }
    c
}
