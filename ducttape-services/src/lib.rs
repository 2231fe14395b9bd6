//! # ducttape-services
//!
//! The [`Service`] lifecycle (node-level hooks, fanned out by [`ServiceExt`]) and the
//! batteries: [`ZookeeperService`], [`KafkaService`] (ZooKeeper and KRaft modes), topics,
//! the performance and verification clients, and a REST proxy ([`KafkaPixyService`], behind
//! the [`RestProxy`] notion, with its typed client [`PixyClient`]), and Kafka Connect
//! ([`ConnectDistributedService`] with [`ConnectClient`]). A service's process is declared
//! with [`process::ProcessSpec`]; `docs/writing-a-service.md` walks through writing one.
//!
//! Every service runs the real systems under test, installed under `/opt` by `build.sh`:
//! the JVM ones with `java -cp '<home>/libs/*' <main class>`, kafka-pixy as its Go binary.
//!
//! ## Layout
//!
//! | module | holds |
//! |---|---|
//! | [`service`] | the [`Service`] hooks, the [`ServiceExt`] fan-out, registration with the test context |
//! | [`process`] | [`process::ProcessSpec`]: a service's process declared (install, files, command, log, readiness) |
//! | [`install`], [`readiness`], [`properties`] | where systems live on the nodes; what "ready" means; `.properties` files |
//! | [`zookeeper`], [`kafka`], [`kafka_pixy`], [`connect`] | one service each (Kafka: its config, topics and the service) |
//! | [`perf`] | Kafka's perf tools and our REST perf client as background workers, with their output parsers |
//! | [`verifiable`] | the verifiable producer/consumer and the delivery checker |
//! | [`faults`] | network faults: partitions, packet loss, rate limits |
//! | [`rest`] | the REST-proxy notion and its error |
//! | [`error`] | [`ServiceError`], and [`Error`]: the one error type for test authors |

pub mod connect;
pub mod error;
pub mod faults;
mod http;
pub mod install;
pub mod kafka;
pub mod kafka_pixy;
pub mod perf;
pub mod process;
pub mod properties;
pub mod readiness;
pub mod rest;
pub mod service;
pub mod tls;
pub mod verifiable;
pub mod zookeeper;

pub use connect::{ConnectClient, ConnectDistributedService};
pub use error::{Error, ResultExt, ServiceError};
pub use install::{JavaCommand, KafkaVersion, CDS_ARCHIVE, CDS_ENV};
pub use kafka::{KafkaService, TopicSpec};
pub use kafka_pixy::{KafkaPixyService, PixyClient};
pub use properties::Properties;
pub use readiness::Readiness;
pub use rest::{RestError, RestProxy};
pub use service::{register, run_parallel, LogFile, ProcessFiles, Service, ServiceExt};
pub use zookeeper::{ZookeeperBuilder, ZookeeperService};
