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
//! assert!(err.unwrap_err().to_string().contains("sasl mechanism"));
//! ```
//!
//! ## A broker's security config, walked through the code
//!
//! 1. The test builds a [`SecurityConfig`] (`config.rs`: `new`, `mechanism`, `user`, …);
//!    [`KafkaBuilder::build`](super::KafkaBuilder::build) (`kafka/builder.rs`) calls
//!    [`SecurityConfig::validate`], then, when a listener speaks TLS, `ClusterTls::issue`
//!    (`certificates.rs`: a key store per node, a certificate per built-in user), then
//!    `client_security_as` for the admin and client users (the control client's librdkafka
//!    settings via [`ClientSecurity::librdkafka`], the CLI tools' via `client/jvm.rs` and
//!    `client/shell.rs`).
//! 2. At each start, `KafkaService::spec` (`kafka/service.rs`) writes the node's PEM files
//!    under [`BROKER_TLS_DIR`] and its `server.properties` from `KafkaService::config`, which
//!    calls `config::render` (`kafka/config.rs`: quorum, ids, replication factors).
//! 3. `render` makes one call for all of security: [`SecurityConfig::broker_properties`]
//!    (`broker.rs`), which is [`SecurityConfig::listener_properties`] — `listeners`,
//!    `advertised.listeners`, `inter.broker.listener.name`, `controller.listener.names`,
//!    `listener.security.protocol.map`, the only place listeners are rendered — and
//!    [`SecurityConfig::listener_security`] (key stores, `ssl.client.auth`, each listener's
//!    SASL mechanisms and JAAS, the authorizer and its super users).
//! 4. Before the JVM starts, SCRAM credentials: KRaft passes
//!    [`SecurityConfig::storage_scram_args`] to `kafka-storage format`; ZooKeeper mode runs
//!    `kafka-configs --zookeeper` once (`KafkaService::create_scram_credentials_in_zookeeper`).
//!    A SASL listener adds `-Djdk.net.hosts.file` ([`SecurityConfig::uses_sasl`]).
//!
//! Files, by job: `protocol.rs` (protocols and mechanisms), `config.rs` (what a test
//! chooses, checked), `broker.rs` (the broker side: listeners, key stores, JAAS, authorizer),
//! `certificates.rs` (what the run's CA issues for a cluster, and the client side of each
//! user), `client/` (the client side, one file per kind of client), `acl.rs`, `refusal.rs`.

mod acl;
mod broker;
mod certificates;
mod client;
mod config;
mod protocol;
mod refusal;

pub use acl::{Acl, AclOperation, AclResource};
pub use broker::{BROKER_PORT, CONTROLLER_PORT};
pub(crate) use certificates::{client_security_as, ClusterTls};
pub use client::{ClientFile, ClientSecurity};
pub use config::{SecurityConfig, SecurityConfigError};
pub use protocol::{SaslMechanism, SecurityProtocol, UnknownNameError};
pub use refusal::Refusal;

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

/// The password a built-in user gets (`<user>-secret`).
pub fn default_password(user: &str) -> String {
    format!("{user}-secret")
}
