//! Apache Kafka brokers in ZooKeeper or KRaft mode: the service ([`KafkaService`], built by
//! [`KafkaBuilder`]), topic specs and `kafka-topics` parsing ([`TopicSpec`],
//! [`parse_describe`]), control operations (topics, leaders, brokers, groups) from the test
//! process through librdkafka ([`KafkaAdmin`]), and the security protocols, users and ACLs
//! ([`SecurityConfig`], [`ClientSecurity`], [`Acl`]; refusals read by [`Refusal`]).
//!
//! Files: `config.rs` renders each node's `server.properties`, `service.rs` is the service,
//! `topics.rs`, `admin.rs`, `security.rs`, `probe.rs` (one client run to see whether it
//! is let in), `upgrade_test.rs` (each node's install and config changes: mixed versions, rolling
//! upgrades), `features.rs` (`metadata.version` through `kafka-features`), `quorum.rs` (the KRaft quorum's
//! voters, its reconfiguration and the metadata log's snapshots) and `reassign.rs`
//! (partition reassignment with `kafka-reassign-partitions`). They are private; everything a
//! test uses is re-exported here.

pub(crate) mod admin;
pub(crate) mod builder;
pub(crate) mod config;
pub(crate) mod control;
pub(crate) mod controller;
pub(crate) mod error;
pub(crate) mod features;
pub(crate) mod log_dirs;
pub(crate) mod offsets;
pub(crate) mod operations;
pub(crate) mod probe;
pub(crate) mod quorum;
pub(crate) mod read;
pub(crate) mod reassign;
pub(crate) mod security;
pub(crate) mod service;
pub(crate) mod tools;
pub(crate) mod topics;
pub(crate) mod upgrade;

pub use admin::{
    AdminError, BrokerInfo, GroupState, KafkaAdmin, KafkaCode, OngoingReassignment, Rejection,
    WireError,
};
pub use builder::KafkaBuilder;
pub use config::{KraftVoters, Quorum, BROKER_PORT, CONTROLLER_PORT, DATA_DIR};
pub use control::{Control, ControlEnvError, CONTROL_ENV};
pub use error::KafkaServiceError;
pub use features::{Feature, FeatureError};
pub use log_dirs::LogDirState;
pub use probe::Attempt;
pub use quorum::{topics_in_dump, MetadataLogFiles, QuorumMember, QuorumStatus, SnapshotId};
pub use read::Isolation;
pub use reassign::{parse_verify, Reassignment, ReassignmentStatus};
pub use security::{
    Acl, AclOperation, AclResource, ClientFile, ClientSecurity, Refusal, SaslMechanism,
    SecurityConfig, SecurityConfigError, SecurityProtocol, UnknownNameError, ADMIN_USER,
    BROKER_USER, CLIENT_USER,
};
pub use service::{KafkaService, STARTED_PATTERN, START_PROGRESS_PATTERN};
pub use tools::ToolOutputError;
pub use topics::{parse_describe, PartitionInfo, TopicSpec};
pub use upgrade::{ConfigChange, UpgradeError, UpgradeStep};
