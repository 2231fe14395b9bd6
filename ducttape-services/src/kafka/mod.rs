//! Apache Kafka brokers in ZooKeeper or KRaft mode: typed config ([`config`]), the service
//! ([`service`]), topic administration with Kafka's own tools ([`topics`]) and the security
//! protocols, users and ACLs ([`security`]).

pub mod config;
pub mod probe;
pub mod security;
pub mod service;
pub mod topics;

pub use config::{Quorum, BROKER_PORT, CONTROLLER_PORT};
pub use security::{
    Acl, AclOperation, AclResource, ClientSecurity, Refusal, SaslMechanism, SecurityConfig,
    SecurityProtocol,
};
pub use service::{KafkaBuilder, KafkaService};
pub use topics::{PartitionInfo, TopicSpec};
