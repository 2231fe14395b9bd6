//! The JVMs of services, seen from outside: their metrics through Prometheus's JMX exporter
//! (a Java agent in every broker, controller, ZooKeeper member and Connect worker, on by
//! default, off with `DUCTTAPE_JVM_METRICS=off`), sampled through the test and queried from it
//! ([`Metrics`], [`Series`]); a GC log per JVM ([`JvmObservation`]); thread dumps when a test
//! fails (see `dump.rs`, called by teardown).
//!
//! Why the JMX exporter, measured on this 2-core machine against a Kafka 3.9.2 broker (see
//! README "JVM metrics"): a scrape of the curated MBeans (`jmx-exporter.yaml`, ≈ 200 series,
//! 36 kB) costs the broker ≈ 20 ms of CPU, in-process, over HTTP; Kafka's `JmxTool` (what
//! kafkatest's `JmxMixin` runs) is one more JVM per node (≈ 1.1 s of CPU to start, 85 MB
//! resident) and costs the broker ≈ 80 ms of CPU per RMI poll of three MBean patterns.
//! Jolokia was not measured: it is not among the packages this machine's Maven mirror was
//! checked to serve.
//!
//! Files: `agent.rs` (the agent's arguments, ports, settings), `scrape.rs` (one HTTP scrape),
//! `prometheus.rs` (the text format), `metrics.rs` (the sampler and the store), `query.rs`
//! (series and errors), `dump.rs` (thread dumps).

mod agent;
pub(crate) mod dump;
mod metrics;
mod prometheus;
mod query;
mod scrape;

pub use agent::{
    interval, metrics_wanted, JvmObservation, AGENT_CONFIG, AGENT_INSTALL, AGENT_JAR,
    CONNECT_METRICS_PORT, INTERVAL_ENV, KAFKA_METRICS_PORT, METRICS_ENV, ZOOKEEPER_METRICS_PORT,
};
pub use metrics::Metrics;
pub use prometheus::{parse_exposition, ParseError, PromSample};
pub use query::{MetricsError, Point, Series};
pub use scrape::ScrapeError;
