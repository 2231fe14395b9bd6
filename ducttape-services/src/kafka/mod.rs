//! Apache Kafka brokers in ZooKeeper or KRaft mode: typed config ([`config`]), the service
//! ([`service`]) and topic administration with Kafka's own tools ([`topics`]).

pub mod config;
pub mod service;
pub mod topics;

pub use config::{Quorum, BROKER_PORT, CONTROLLER_PORT};
pub use service::{KafkaBuilder, KafkaService};
pub use topics::{PartitionInfo, TopicSpec};
