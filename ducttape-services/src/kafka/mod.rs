//! Apache Kafka brokers in ZooKeeper or KRaft mode: the service ([`KafkaService`], built by
//! [`KafkaBuilder`]), topic specs and `kafka-topics` parsing ([`TopicSpec`],
//! [`parse_describe`]), control operations (topics, leaders, brokers, groups) from the test
//! process through librdkafka ([`KafkaAdmin`]), and the security protocols, users and ACLs
//! ([`SecurityConfig`], [`ClientSecurity`], [`Acl`]; refusals read by [`Refusal`]).
//!
//! Files: `config.rs` renders each node's `server.properties`, `service.rs` is the service,
//! `topics.rs`, `admin.rs`, `security.rs`, `probe.rs` (one client run to see whether it
//! is let in), and `reassign.rs` (partition reassignment with `kafka-reassign-partitions`).
//! They are private; everything a test uses is re-exported here.

pub(crate) mod admin;
pub(crate) mod config;
pub(crate) mod probe;
pub(crate) mod reassign;
pub(crate) mod security;
pub(crate) mod service;
pub(crate) mod topics;

pub use admin::{AdminError, BrokerInfo, GroupState, KafkaAdmin, KafkaCode, Rejection};
pub use config::{Quorum, BROKER_PORT, CONTROLLER_PORT};
pub use probe::Attempt;
pub use reassign::{parse_verify, Reassignment, ReassignmentStatus};
pub use security::{
    Acl, AclOperation, AclResource, ClientFile, ClientSecurity, Refusal, SaslMechanism,
    SecurityConfig, SecurityProtocol, ADMIN_USER, BROKER_USER, CLIENT_USER,
};
pub use service::{Control, KafkaBuilder, KafkaService, CONTROL_ENV};
pub use topics::{parse_describe, PartitionInfo, TopicSpec};
