//! # ducttape-services
//!
//! The [`Service`] lifecycle (node-level hooks, fanned out by [`ServiceExt`]) and the
//! batteries: [`ZookeeperService`], [`KafkaService`] (ZooKeeper and KRaft modes), topics,
//! and the performance and verification clients.
//!
//! Every service runs the real systems under test, installed under `/opt` by `build.sh`,
//! with `java -cp '<home>/libs/*' <main class>`.

pub mod error;
pub mod faults;
pub mod install;
pub mod kafka;
pub mod perf;
pub mod properties;
pub mod readiness;
pub mod service;
pub mod verifiable;
pub mod zookeeper;

pub use error::{ResultExt, ServiceError};
pub use install::{JavaCommand, KafkaVersion};
pub use kafka::{KafkaService, TopicSpec};
pub use properties::Properties;
pub use readiness::Readiness;
pub use service::{register, run_parallel, LogFile, ProcessFiles, Service, ServiceExt};
pub use zookeeper::ZookeeperService;
