//! Security protocols of a Kafka cluster and of its clients: which listener speaks what
//! (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), the SASL mechanism (PLAIN, SCRAM-SHA-256/512),
//! the users and their passwords, client certificates, the authorizer and its super users.
//!
//! A test picks a [`SecurityConfig`] for the [`KafkaService`](super::KafkaService); the service
//! renders the broker side ([`SecurityConfig::broker_properties`]), writes the certificates
//! (issued by a per-run [`CertificateAuthority`]) to its nodes and creates SCRAM credentials the
//! way the mode needs (KRaft: at storage format; ZooKeeper: through ZooKeeper before the
//! first broker starts). Every client then follows: [`ClientSecurity`] is the client side of
//! the same choices — Java client properties plus the PEM files they name, or the same as a
//! librdkafka key/value map — so no test writes `security.protocol` by hand.
//!
//! ```
//! use ducttape_services::kafka::{SecurityConfig, SecurityProtocol};
//! let security = SecurityConfig::new(SecurityProtocol::SaslSsl)
//!     .mechanism("SCRAM-SHA-512")
//!     .inter_broker(SecurityProtocol::Ssl)
//!     .user("alice", "alice-secret")
//!     .authorizer();
//! assert!(security.validate(false).is_ok());
//! let err = SecurityConfig::new(SecurityProtocol::SaslPlaintext).mechanism("GSSAPI").validate(false);
//! assert!(err.unwrap_err().contains("sasl mechanism"));
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::properties::Properties;
use crate::tls::IssuedCertificate;

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

impl FromStr for SecurityProtocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown security protocol {s:?} (known: PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)")
            })
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
    fn login_module(self) -> &'static str {
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
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            SaslMechanism::Plain,
            SaslMechanism::ScramSha256,
            SaslMechanism::ScramSha512,
        ]
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(s))
        .ok_or_else(|| {
            format!("unknown sasl mechanism {s:?} (known: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)")
        })
    }
}

/// The user the brokers (and controllers) authenticate as, to each other.
pub const BROKER_USER: &str = "broker";
/// The super user the service's own admin commands (topics, ACLs) run as.
pub const ADMIN_USER: &str = "admin";
/// The user clients run as unless a test says otherwise.
pub const CLIENT_USER: &str = "client";

/// The port of the inter-broker listener when it differs from the client listener's protocol.
pub const INTER_BROKER_PORT: u16 = 9094;
/// The inter-broker listener's name when it is separate.
pub const INTER_BROKER_LISTENER: &str = "BROKER";
/// The KRaft controller listener's name.
pub const CONTROLLER_LISTENER: &str = "CONTROLLER";

/// Where a broker keeps its TLS files (removed with `/mnt/kafka` at clean-up).
pub const BROKER_TLS_DIR: &str = "/mnt/kafka/tls";

/// How a Kafka cluster is secured. The default is PLAINTEXT everywhere, no authorizer.
#[derive(Debug, Clone, Default)]
pub struct SecurityConfig {
    client: SecurityProtocol,
    inter_broker: Option<SecurityProtocol>,
    controller: SecurityProtocol,
    mechanism: String,
    client_auth: bool,
    authorizer: bool,
    users: Vec<(String, String)>,
    keystore_override: BTreeMap<usize, PathBuf>,
    certificate_names: BTreeMap<usize, Vec<String>>,
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
    /// (`ssl.client.auth=required`); [`ClientSecurity`] then carries one.
    pub fn require_client_certificates(mut self) -> Self {
        self.client_auth = true;
        self
    }

    /// Turns on the authorizer of the mode (KRaft: `StandardAuthorizer`; ZooKeeper:
    /// `AclAuthorizer`), with the admin and broker users as super users; everyone else needs
    /// ACLs (see [`KafkaService::grant`](super::KafkaService::grant)).
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

    fn parsed_mechanism(&self) -> Result<SaslMechanism, String> {
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
    pub fn validate(&self, kraft: bool) -> Result<(), String> {
        self.parsed_mechanism()
            .map_err(|e| format!("security: sasl mechanism: {e}"))?;
        for (name, password) in self.users() {
            if name.is_empty() {
                return Err("security: user: a SASL user needs a name".into());
            }
            if password.is_empty() {
                return Err(format!(
                    "security: user {name:?}: no password (a SASL listener needs credentials for every user)"
                ));
            }
            let bad = |c: char| c == '"' || c == '\\' || c == ',' || c == '=' || c == ']';
            if name.contains(bad) || password.contains(bad) {
                return Err(format!(
                    "security: user {name:?}: names and passwords may not contain '\"', '\\\\', ',', '=' or ']' (JAAS and SCRAM quoting)"
                ));
            }
        }
        if self.client_auth && !self.client.uses_tls() {
            return Err(format!(
                "security: require_client_certificates: the client listener speaks {}, not TLS",
                self.client
            ));
        }
        for (index, path) in &self.keystore_override {
            if !path.is_file() {
                return Err(format!(
                    "security: keystore_file of node {index}: ssl.keystore.location {} does not exist",
                    path.display()
                ));
            }
            if !self.uses_tls(kraft) {
                return Err(format!(
                    "security: keystore_file of node {index}: no listener speaks TLS"
                ));
            }
        }
        Ok(())
    }

    /// Every listener of the cluster, name and protocol: the client listener, the inter-broker
    /// one when separate, the controller's in KRaft mode.
    pub fn listeners(&self, kraft: bool) -> Vec<(&'static str, SecurityProtocol)> {
        let mut all = vec![(self.client_listener_name(), self.client)];
        if self.inter_broker_listener_name() == INTER_BROKER_LISTENER {
            all.push((INTER_BROKER_LISTENER, self.inter_broker_protocol()));
        }
        if kraft {
            all.push((CONTROLLER_LISTENER, self.controller));
        }
        all
    }

    /// `listener.security.protocol.map`.
    pub fn protocol_map(&self, kraft: bool) -> String {
        self.listeners(kraft)
            .iter()
            .map(|(name, protocol)| format!("{name}:{protocol}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The broker-side properties for a node in a cluster whose listeners are `listeners`
    /// (`listener name → protocol`, see [`listeners`](Self::listeners)), with TLS files under
    /// `/mnt/kafka/tls`. Every node gets the settings of every listener: a broker is a
    /// client of the controller listener, which it does not serve.
    pub fn broker_properties(
        &self,
        listeners: &[(&str, SecurityProtocol)],
        kraft: bool,
    ) -> Properties {
        let mut p = Properties::new();
        let mechanism = self.sasl_mechanism();
        if listeners.iter().any(|(_, proto)| proto.uses_tls()) {
            p.set("ssl.keystore.type", "PEM")
                .set(
                    "ssl.keystore.location",
                    format!("{BROKER_TLS_DIR}/keystore.pem"),
                )
                .set("ssl.truststore.type", "PEM")
                .set(
                    "ssl.truststore.location",
                    format!("{BROKER_TLS_DIR}/ca.pem"),
                )
                // `CN=broker` → principal `broker`, like the SASL user.
                .set(
                    "ssl.principal.mapping.rules",
                    "RULE:^CN=([^,]+)$/$1/,DEFAULT",
                );
        }
        for (listener, protocol) in listeners {
            let prefix = format!("listener.name.{}", listener.to_lowercase());
            if self.client_auth && *listener == self.client_listener_name() {
                p.set(&format!("{prefix}.ssl.client.auth"), "required");
            } else if *protocol == SecurityProtocol::Ssl {
                // Brokers present their certificate to each other (principal `broker`); a
                // client without one is ANONYMOUS.
                p.set(&format!("{prefix}.ssl.client.auth"), "requested");
            }
            if protocol.uses_sasl() {
                let mech = if *listener == CONTROLLER_LISTENER {
                    SaslMechanism::Plain
                } else {
                    mechanism
                };
                p.set(&format!("{prefix}.sasl.enabled.mechanisms"), mech.name());
                p.set(
                    &format!("{prefix}.{}.sasl.jaas.config", mech.name().to_lowercase()),
                    self.broker_jaas(mech),
                );
            }
        }
        if self.inter_broker_protocol().uses_sasl() {
            p.set("sasl.mechanism.inter.broker.protocol", mechanism.name());
        }
        if kraft && self.controller.uses_sasl() {
            p.set(
                "sasl.mechanism.controller.protocol",
                SaslMechanism::Plain.name(),
            );
        }
        if self.authorizer {
            p.set(
                "authorizer.class.name",
                if kraft {
                    "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
                } else {
                    "kafka.security.authorizer.AclAuthorizer"
                },
            )
            .set("super.users", self.super_users(kraft).join(";"));
        }
        p
    }

    /// `User:admin`, `User:broker`, and `User:ANONYMOUS` when brokers or controllers reach
    /// each other without authenticating (a PLAINTEXT inter-broker or controller listener):
    /// they must pass the authorizer too.
    pub fn super_users(&self, kraft: bool) -> Vec<String> {
        let mut users = vec![format!("User:{ADMIN_USER}"), format!("User:{BROKER_USER}")];
        let unauthenticated = self.inter_broker_protocol() == SecurityProtocol::Plaintext
            || (kraft && self.controller == SecurityProtocol::Plaintext);
        if unauthenticated {
            users.push("User:ANONYMOUS".into());
        }
        users
    }

    /// The client listener's name: the protocol's name.
    pub fn client_listener_name(&self) -> &'static str {
        self.client.name()
    }

    /// The inter-broker listener's name: the client listener when the protocols match, else
    /// `BROKER`.
    pub fn inter_broker_listener_name(&self) -> &'static str {
        if self.inter_broker_protocol() == self.client {
            self.client_listener_name()
        } else {
            INTER_BROKER_LISTENER
        }
    }

    fn broker_jaas(&self, mechanism: SaslMechanism) -> String {
        let mut jaas = format!(
            "{} required username=\"{BROKER_USER}\" password=\"{}\"",
            mechanism.login_module(),
            default_password(BROKER_USER)
        );
        if mechanism == SaslMechanism::Plain {
            for (name, password) in self.users() {
                jaas.push_str(&format!(" user_{name}=\"{password}\""));
            }
        }
        jaas.push(';');
        jaas
    }

    /// The `--add-scram` arguments of `kafka-storage format` (KRaft), one per user.
    pub fn storage_scram_args(&self) -> Vec<String> {
        let mechanism = self.sasl_mechanism();
        self.users()
            .into_iter()
            .flat_map(|(name, password)| {
                [
                    "--add-scram".to_string(),
                    format!("{mechanism}=[name={name},password={password}]"),
                ]
            })
            .collect()
    }
}

/// The password a built-in user gets (`<user>-secret`).
pub fn default_password(user: &str) -> String {
    format!("{user}-secret")
}

/// The client side of a cluster's security: what a Java client or librdkafka needs to connect
/// as one principal. Made by [`KafkaService::client_security`](super::KafkaService::client_security)
/// (the cluster's client listener, the `client` user) and varied for refusal tests.
#[derive(Clone, Default)]
pub struct ClientSecurity {
    protocol: SecurityProtocol,
    mechanism: SaslMechanism,
    credentials: Option<(String, String)>,
    ca_pem: Option<String>,
    certificate: Option<IssuedCertificate>,
    hostname_verification: bool,
    hosts: Option<String>,
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

    /// JVM arguments the client needs, naming files under `dir`.
    ///
    /// Kafka's SASL authenticators look up the peer's and their own address in DNS
    /// (`InetAddress.getHostName`) on every connection; where no DNS server answers — the
    /// local cluster's nodes, whose namespaces cannot reach the host's resolver — each lookup
    /// waits ≈ 10 s for the resolver's timeouts, longer than a connection may take to set up,
    /// so no SASL connection ever completes. A JVM reading a hosts file
    /// (`-Djdk.net.hosts.file`, JDK ≥ 9) answers at once from it, and names not in it fail
    /// at once.
    pub fn jvm_args(&self, dir: &str) -> Vec<String> {
        match &self.hosts {
            Some(_) if self.protocol.uses_sasl() => {
                vec![format!("-Djdk.net.hosts.file={dir}/hosts")]
            }
            _ => Vec::new(),
        }
    }

    /// `tool` with [`jvm_args`](Self::jvm_args).
    pub fn apply(
        &self,
        mut tool: crate::install::JavaCommand,
        dir: &str,
    ) -> crate::install::JavaCommand {
        for arg in self.jvm_args(dir) {
            tool = tool.jvm_arg(arg);
        }
        tool
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

    /// The Java client properties, naming files under `dir` (see [`files`](Self::files)).
    ///
    /// ```
    /// use ducttape_services::kafka::{ClientSecurity, SaslMechanism, SecurityProtocol};
    /// let c = ClientSecurity::new(SecurityProtocol::SaslSsl, SaslMechanism::ScramSha256)
    ///     .with_credentials("alice", "pw")
    ///     .trusting("-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----\n");
    /// let p = c.properties("/mnt/p");
    /// assert_eq!(p.get("security.protocol"), Some("SASL_SSL"));
    /// assert_eq!(p.get("sasl.mechanism"), Some("SCRAM-SHA-256"));
    /// assert_eq!(p.get("ssl.truststore.location"), Some("/mnt/p/ca.pem"));
    /// assert!(p.get("sasl.jaas.config").unwrap().contains("username=\"alice\""));
    /// ```
    pub fn properties(&self, dir: &str) -> Properties {
        let mut p = Properties::new();
        if self.is_plaintext() {
            return p;
        }
        p.set("security.protocol", self.protocol.name());
        if self.protocol.uses_tls() {
            if self.ca_pem.is_some() {
                p.set("ssl.truststore.type", "PEM")
                    .set("ssl.truststore.location", format!("{dir}/ca.pem"));
            }
            if self.certificate.is_some() {
                p.set("ssl.keystore.type", "PEM")
                    .set("ssl.keystore.location", format!("{dir}/keystore.pem"));
            }
            if !self.hostname_verification {
                p.set("ssl.endpoint.identification.algorithm", "");
            }
        }
        if self.protocol.uses_sasl() {
            let (user, password) = self.credentials.clone().unwrap_or_default();
            p.set("sasl.mechanism", self.mechanism.name()).set(
                "sasl.jaas.config",
                format!(
                    "{} required username=\"{user}\" password=\"{password}\";",
                    self.mechanism.login_module()
                ),
            );
        }
        p
    }

    /// The PEM files [`properties`](Self::properties) names, under `dir`.
    pub fn files(&self, dir: &str) -> Vec<ClientFile> {
        let mut files = Vec::new();
        if let (Some(hosts), true) = (&self.hosts, self.protocol.uses_sasl()) {
            files.push(ClientFile {
                path: format!("{dir}/hosts"),
                contents: hosts.clone(),
            });
        }
        if !self.protocol.uses_tls() {
            return files;
        }
        if let Some(ca) = &self.ca_pem {
            files.push(ClientFile {
                path: format!("{dir}/ca.pem"),
                contents: ca.clone(),
            });
        }
        if let Some(cert) = &self.certificate {
            files.push(ClientFile {
                path: format!("{dir}/keystore.pem"),
                contents: cert.keystore_pem(),
            });
        }
        files
    }

    /// The same choices as librdkafka configuration (it takes the same `security.protocol`
    /// and `sasl.*` names; certificates inline as PEM, so no file is needed wherever the
    /// client runs). For an rdkafka-based client: `ClientConfig::set(k, v)` for each pair.
    ///
    /// ```
    /// use ducttape_services::kafka::{ClientSecurity, SaslMechanism, SecurityProtocol};
    /// let c = ClientSecurity::new(SecurityProtocol::SaslPlaintext, SaslMechanism::Plain)
    ///     .with_credentials("client", "client-secret");
    /// let m = c.librdkafka();
    /// assert_eq!(m["security.protocol"], "SASL_PLAINTEXT");
    /// assert_eq!(m["sasl.username"], "client");
    /// ```
    pub fn librdkafka(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert(
            "security.protocol".to_string(),
            self.protocol.name().to_string(),
        );
        if self.protocol.uses_tls() {
            if let Some(ca) = &self.ca_pem {
                m.insert("ssl.ca.pem".into(), ca.clone());
            }
            if let Some(cert) = &self.certificate {
                m.insert("ssl.certificate.pem".into(), cert.chain_pem());
                m.insert("ssl.key.pem".into(), cert.key_pem.clone());
            }
            m.insert(
                "ssl.endpoint.identification.algorithm".into(),
                if self.hostname_verification {
                    "https"
                } else {
                    "none"
                }
                .into(),
            );
        }
        if self.protocol.uses_sasl() {
            let (user, password) = self.credentials.clone().unwrap_or_default();
            m.insert("sasl.mechanism".into(), self.mechanism.name().into());
            m.insert("sasl.username".into(), user);
            m.insert("sasl.password".into(), password);
        }
        m
    }

    /// A shell snippet that writes the properties file `file` and the PEM files under `dir`,
    /// readable by the owner only, followed by ` && ` — or nothing for PLAINTEXT without
    /// `extra` properties. `extra` are further client properties (tool options).
    pub fn write_script(&self, dir: &str, file: &str, extra: &Properties) -> String {
        use ducttape_core::remote::quote;
        let mut props = self.properties(dir);
        props.extend(extra);
        if props == Properties::new() {
            return String::new();
        }
        let mut script = format!("umask 077 && mkdir -p {} && ", quote(dir));
        for f in self.files(dir) {
            script.push_str(&format!(
                "printf '%s' {} > {} && ",
                quote(&f.contents),
                quote(&f.path)
            ));
        }
        script.push_str(&format!(
            "printf '%s' {} > {} && ",
            quote(&props.render()),
            quote(file)
        ));
        script
    }
}

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

/// An ACL operation on a topic or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclOperation {
    /// Read (consume; for a group: join it and commit).
    Read,
    /// Write (produce).
    Write,
    /// Create.
    Create,
    /// Describe (metadata, offsets).
    Describe,
    /// Delete.
    Delete,
    /// Alter.
    Alter,
    /// Everything.
    All,
}

impl AclOperation {
    /// `kafka-acls`' name.
    pub fn name(self) -> &'static str {
        match self {
            AclOperation::Read => "Read",
            AclOperation::Write => "Write",
            AclOperation::Create => "Create",
            AclOperation::Describe => "Describe",
            AclOperation::Delete => "Delete",
            AclOperation::Alter => "Alter",
            AclOperation::All => "All",
        }
    }
}

/// What an ACL is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclResource {
    /// A topic (`*` for every topic).
    Topic(String),
    /// A consumer group (`*` for every group).
    Group(String),
}

/// One ACL: allow or deny `principal` an operation on a resource.
///
/// ```
/// use ducttape_services::kafka::{Acl, AclOperation, AclResource};
/// let acl = Acl::allow("alice", AclOperation::Write, AclResource::Topic("t".into()));
/// assert_eq!(
///     acl.args(),
///     ["--allow-principal", "User:alice", "--operation", "Write", "--topic", "t"]
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    allow: bool,
    user: String,
    operation: AclOperation,
    resource: AclResource,
}

impl Acl {
    /// Allows `user` `operation` on `resource`.
    pub fn allow(user: &str, operation: AclOperation, resource: AclResource) -> Self {
        Self {
            allow: true,
            user: user.into(),
            operation,
            resource,
        }
    }

    /// Denies it (a deny wins over any allow).
    pub fn deny(user: &str, operation: AclOperation, resource: AclResource) -> Self {
        Self {
            allow: false,
            ..Self::allow(user, operation, resource)
        }
    }

    /// What a producer of `topic` needs: Write and Describe on it.
    pub fn producer(user: &str, topic: &str) -> Vec<Acl> {
        let t = || AclResource::Topic(topic.into());
        vec![
            Self::allow(user, AclOperation::Write, t()),
            Self::allow(user, AclOperation::Describe, t()),
        ]
    }

    /// What a consumer of `topic` in `group` needs: Read and Describe on the topic, Read on
    /// the group.
    pub fn consumer(user: &str, topic: &str, group: &str) -> Vec<Acl> {
        let t = || AclResource::Topic(topic.into());
        vec![
            Self::allow(user, AclOperation::Read, t()),
            Self::allow(user, AclOperation::Describe, t()),
            Self::allow(user, AclOperation::Read, AclResource::Group(group.into())),
        ]
    }

    /// The `kafka-acls` arguments after `--add` for `acls`: one argument list per principal,
    /// permission and resource, its operations together (one tool run each instead of one
    /// per operation).
    ///
    /// ```
    /// use ducttape_services::kafka::Acl;
    /// let runs = Acl::batched(&Acl::consumer("bob", "t", "g"));
    /// assert_eq!(runs.len(), 2);
    /// assert_eq!(
    ///     runs[0],
    ///     ["--allow-principal", "User:bob", "--topic", "t", "--operation", "Read", "--operation", "Describe"]
    /// );
    /// ```
    pub fn batched(acls: &[Acl]) -> Vec<Vec<String>> {
        let mut runs: Vec<(Vec<String>, Vec<String>)> = Vec::new();
        for acl in acls {
            let args = acl.args();
            let (who, what) = ([&args[0..2], &args[4..6]].concat(), args[2..4].to_vec());
            match runs.iter_mut().find(|(w, _)| *w == who) {
                Some((_, ops)) => ops.extend(what),
                None => runs.push((who, what)),
            }
        }
        runs.into_iter()
            .map(|(mut who, ops)| {
                who.extend(ops);
                who
            })
            .collect()
    }

    /// The `kafka-acls` arguments after `--add`.
    pub fn args(&self) -> Vec<String> {
        let (kind, name) = match &self.resource {
            AclResource::Topic(t) => ("--topic", t),
            AclResource::Group(g) => ("--group", g),
        };
        vec![
            if self.allow {
                "--allow-principal"
            } else {
                "--deny-principal"
            }
            .to_string(),
            format!("User:{}", self.user),
            "--operation".into(),
            self.operation.name().into(),
            kind.into(),
            name.clone(),
        ]
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bad_inputs_name_the_option() {
        let unknown = SecurityConfig::new(SecurityProtocol::SaslSsl)
            .mechanism("SCRAM-SHA-1")
            .validate(true)
            .unwrap_err();
        assert!(
            unknown.contains("sasl mechanism") && unknown.contains("SCRAM-SHA-1"),
            "{unknown}"
        );
        let no_password = SecurityConfig::new(SecurityProtocol::SaslPlaintext)
            .user("alice", "")
            .validate(true)
            .unwrap_err();
        assert!(
            no_password.contains("user \"alice\"") && no_password.contains("no password"),
            "{no_password}"
        );
        let missing = SecurityConfig::new(SecurityProtocol::Ssl)
            .keystore_file(0, "/nonexistent/keystore.pem")
            .validate(true)
            .unwrap_err();
        assert!(
            missing.contains("ssl.keystore.location")
                && missing.contains("/nonexistent/keystore.pem"),
            "{missing}"
        );
        let mtls_without_tls = SecurityConfig::new(SecurityProtocol::SaslPlaintext)
            .require_client_certificates()
            .validate(false)
            .unwrap_err();
        assert!(
            mtls_without_tls.contains("require_client_certificates"),
            "{mtls_without_tls}"
        );
        assert!(SecurityConfig::default().validate(true).is_ok());
    }

    #[test]
    fn sasl_ssl_with_scram_and_an_ssl_inter_broker_listener() {
        let s = SecurityConfig::new(SecurityProtocol::SaslSsl)
            .mechanism("scram-sha-512")
            .inter_broker(SecurityProtocol::Ssl)
            .controller(SecurityProtocol::SaslPlaintext)
            .authorizer();
        s.validate(true).unwrap();
        let listeners = [
            ("SASL_SSL", SecurityProtocol::SaslSsl),
            ("BROKER", SecurityProtocol::Ssl),
            ("CONTROLLER", SecurityProtocol::SaslPlaintext),
        ];
        let p = s.broker_properties(&listeners, true);
        assert_eq!(p.get("ssl.keystore.type"), Some("PEM"));
        assert_eq!(
            p.get("ssl.truststore.location"),
            Some("/mnt/kafka/tls/ca.pem")
        );
        assert_eq!(
            p.get("listener.name.sasl_ssl.sasl.enabled.mechanisms"),
            Some("SCRAM-SHA-512")
        );
        let jaas = p
            .get("listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config")
            .unwrap();
        assert!(jaas.starts_with("org.apache.kafka.common.security.scram.ScramLoginModule required username=\"broker\""), "{jaas}");
        // The controller listener uses PLAIN, with every user's password.
        let controller = p
            .get("listener.name.controller.plain.sasl.jaas.config")
            .unwrap();
        assert!(
            controller.contains("user_client=\"client-secret\""),
            "{controller}"
        );
        assert_eq!(p.get("sasl.mechanism.controller.protocol"), Some("PLAIN"));
        // Brokers talk SSL to each other: no SASL mechanism for that.
        assert_eq!(p.get("sasl.mechanism.inter.broker.protocol"), None);
        assert_eq!(
            p.get("authorizer.class.name"),
            Some("org.apache.kafka.metadata.authorizer.StandardAuthorizer")
        );
        assert_eq!(p.get("super.users"), Some("User:admin;User:broker"));
        assert_eq!(s.inter_broker_listener_name(), "BROKER");
        let scram = s.storage_scram_args();
        assert_eq!(scram[0], "--add-scram");
        assert_eq!(scram[1], "SCRAM-SHA-512=[name=admin,password=admin-secret]");
    }

    #[test]
    fn zookeeper_mode_uses_the_acl_authorizer_and_plaintext_brokers_are_super_users() {
        let s = SecurityConfig::new(SecurityProtocol::SaslPlaintext)
            .inter_broker(SecurityProtocol::Plaintext)
            .authorizer();
        let p = s.broker_properties(
            &[
                ("SASL_PLAINTEXT", SecurityProtocol::SaslPlaintext),
                ("BROKER", SecurityProtocol::Plaintext),
            ],
            false,
        );
        assert_eq!(
            p.get("authorizer.class.name"),
            Some("kafka.security.authorizer.AclAuthorizer")
        );
        assert_eq!(
            p.get("super.users"),
            Some("User:admin;User:broker;User:ANONYMOUS")
        );
        assert_eq!(p.get("ssl.keystore.type"), None);
    }

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
