//! Kafka's performance tools: `ProducerPerformance`, `ConsumerPerformance` and
//! `EndToEndLatency`.
//!
//! [`parse`] turns what the tools print on stdout into typed results (and adds up the results
//! of several workers). Running the tools on nodes lives next to it, one module per tool.

pub mod parse;
