//! Kafka's performance tools: `ProducerPerformance`, `ConsumerPerformance` and
//! `EndToEndLatency`, and our REST perf client ([`rest`]), each run as a background worker
//! per node ([`worker::ToolService`]).
//!
//! [`parse`] turns what the tools print on stdout into typed results (and adds up the results
//! of several workers); one module per tool builds its command line.

pub mod consumer;
pub mod end_to_end;
pub mod options;
pub mod parse;
pub mod producer;
pub mod rest;
pub mod worker;

pub use consumer::{ConsumerPerformance, ConsumerPerformanceService};
pub use end_to_end::{EndToEndLatency, EndToEndLatencyService};
pub use options::{ClientBuilder, ClientOptions};
pub use producer::{ProducerPerformance, ProducerPerformanceService};
pub use rest::{RestConsumerPerformance, RestPerfService, RestProducerPerformance};
pub use worker::{ToolCommand, ToolOutput, ToolService};
