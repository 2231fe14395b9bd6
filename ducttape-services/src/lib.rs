//! # ducttape-services
//!
//! The [`Service`] lifecycle (node-level hooks, fanned out by [`ServiceExt`]) and the
//! batteries: [`ZookeeperService`], [`KafkaService`] (ZooKeeper and KRaft modes), topics,
//! the performance and verification clients, and a REST proxy ([`KafkaPixyService`], behind
//! the [`RestProxy`] notion, with its typed client [`PixyClient`]), and Kafka Connect
//! ([`ConnectDistributedService`] with [`ConnectClient`]). A service's process is declared
//! with [`ProcessSpec`]; `docs/writing-a-service.md` walks through writing one.
//!
//! Every service runs the real systems under test, installed under `/opt` by `build.sh`:
//! the JVM ones with `java -cp '<home>/libs/*' <main class>`, kafka-pixy as its Go binary.
//!
//! ## What is public
//!
//! The service model is at the crate root ([`Service`], [`ServiceExt`], [`ProcessSpec`],
//! [`Install`], [`Readiness`], [`Error`] …), with the main type of each system. Each system
//! and each family of clients is one public module holding its options, clients and parsers:
//! [`kafka`], [`zookeeper`], [`kafka_pixy`], [`connect`], [`perf`], [`verifiable`], and
//! [`faults`]. Every other module is private; the lists below are the whole public API.
//!
//! ## Layout
//!
//! | file or module | holds |
//! |---|---|
//! | `service.rs` | the [`Service`] hooks, the [`ServiceExt`] fan-out, registration with the test context ([`register`]) |
//! | `process.rs` | [`ProcessSpec`]: a service's (or worker's) process declared (install, files, command, log, readiness) |
//! | `install/`, `readiness.rs`, `properties.rs` | where systems live on the nodes ([`Install`]; Kafka's [`KafkaVersion`], any other JVM system's [`JvmInstall`]; [`JavaCommand`] from any install); what "ready" means ([`Readiness`]); `.properties` files ([`Properties`]) |
//! | [`zookeeper`], [`kafka`], [`kafka_pixy`], [`connect`] | one service each (Kafka: its config, topics, control client, security and the service) |
//! | [`perf`] | Kafka's perf tools and our REST perf client (`perf/rest_perf/`) as background workers, one module per tool with its parser |
//! | [`verifiable`] | the verifiable producer/consumer and the delivery checker |
//! | [`faults`] | faults on nodes, one family ([`faults::FaultKind`]): partitions, packet loss, rate limits, delay, process pause, disk full |
//! | `rest_proxy.rs` | the REST-proxy notion ([`RestProxy`]) and its clients' error ([`RestError`]) |
//! | `http_client.rs` | the JSON-over-HTTP client the typed REST clients (kafka-pixy's, Connect's) share |
//! | [`jvm`] | what the JVMs of services carry to be seen: the JMX exporter agent and GC logs ([`jvm::JvmObservation`]), their metrics sampled through the test and queried ([`jvm::Metrics`]), thread dumps on failure |
//! | `tls.rs` | the per-run certificate authority ([`CertificateAuthority`]) |
//! | `error.rs` | [`ServiceError`], and [`Error`]: the one error type for test authors, with its [`Result`] |

pub mod connect;
mod error;
pub mod faults;
mod http_client;
mod install;
pub mod jvm;
pub mod kafka;
pub mod kafka_home;
pub mod kafka_pixy;
pub mod perf;
mod process;
mod properties;
mod readiness;
mod rest_proxy;
mod service;
mod tls;
pub mod verifiable;
pub mod zookeeper;

pub use connect::{ConnectClient, ConnectDistributedService};
pub use ducttape_core::remote::StopOutcome;
pub use error::{Error, Result, ResultExt, ServiceError};
pub use install::{
    Install, JavaCommand, JvmInstall, KafkaVersion, KafkaVersionError, CDS_ARCHIVE, CDS_ENV,
    DEFAULT_RELEASES, JVM_PERFORMANCE_OPTS,
};
pub use kafka::{KafkaService, TopicSpec};
pub use kafka_pixy::{KafkaPixyService, PixyClient};
pub use process::ProcessSpec;
pub use properties::Properties;
pub use readiness::Readiness;
pub use rest_proxy::{error_chain, RestError, RestProxy};
pub use service::{register, run_parallel, LogFile, ProcessFiles, Service, ServiceExt};
pub use tls::{CertificateAuthority, IssuedCertificate, TlsError};
pub use zookeeper::{ZookeeperBuilder, ZookeeperService};
