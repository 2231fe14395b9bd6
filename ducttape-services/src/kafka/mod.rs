//! Apache Kafka brokers in ZooKeeper or KRaft mode: typed config ([`config`]), the service
//! ([`service`]), topic specs and `kafka-topics` parsing ([`topics`]), control operations
//! (topics, leaders, brokers, groups) from the test process through librdkafka ([`admin`]),
//! and the security protocols, users and ACLs ([`security`]).

pub mod admin;
pub mod config;
pub mod probe;
pub mod security;
pub mod service;
pub mod topics;

pub use admin::{AdminError, KafkaAdmin};
pub use config::{Quorum, BROKER_PORT, CONTROLLER_PORT};
pub use security::{
    Acl, AclOperation, AclResource, ClientSecurity, Refusal, SaslMechanism, SecurityConfig,
    SecurityProtocol,
};
pub use service::{Control, KafkaBuilder, KafkaService, CONTROL_ENV};
pub use topics::{PartitionInfo, TopicSpec};
