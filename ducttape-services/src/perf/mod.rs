//! Kafka's performance tools — `ProducerPerformance`, `ConsumerPerformance` and
//! `EndToEndLatency` — and our REST perf client, each run as a background worker per node
//! ([`ToolService`]).
//!
//! One module per tool holds its builder (options and command line), its worker's result
//! accessors, and its output parser with the parser's tests (`producer/`, `consumer/`,
//! `end_to_end/`, and `rest_perf/` for ours: `mod.rs` and `parse.rs`). What they share stays shared: the worker machinery
//! (`worker.rs`, and `tail.rs`, which follows a worker's output as it grows), the client options every builder has (`options.rs`, also used by the
//! verifiable clients) and the parsers' number and pattern helpers (`parse.rs`).
//!
//! | tool | builder | worker | parser |
//! | --- | --- | --- | --- |
//! | `ProducerPerformance` | [`ProducerPerformance`] | [`ProducerPerformanceService`] | [`parse_producer_output`], [`parse_producer_line`] |
//! | `ConsumerPerformance` | [`ConsumerPerformance`] | [`ConsumerPerformanceService`] | [`parse_consumer_output`] |
//! | `EndToEndLatency` | [`EndToEndLatency`] | [`EndToEndLatencyService`] | [`parse_end_to_end_output`] |
//! | `rest-perf` (ours) | [`RestProducerPerformance`], [`RestConsumerPerformance`] | [`RestPerfService`] | [`parse_rest_perf_output`] |

mod consumer;
mod end_to_end;
mod options;
mod parse;
mod producer;
mod rest_perf;
mod tail;
mod worker;

pub use consumer::{
    aggregate_consumers, parse_consumer_output, ConsumerPerfInterval, ConsumerPerfOutput,
    ConsumerPerfResult, ConsumerPerformance, ConsumerPerformanceService,
};
pub use end_to_end::{
    parse_end_to_end_output, EndToEndLatency, EndToEndLatencyOutput, EndToEndLatencyResult,
    EndToEndLatencySample, EndToEndLatencyService,
};
pub use options::{relay_pidfile, ClientBuilder, ClientOptions};
pub use producer::{
    aggregate_producers, parse_producer_line, parse_producer_output, ProducerPerfLine,
    ProducerPerfOutput, ProducerPerfResult, ProducerPerfWindow, ProducerPerformance,
    ProducerPerformanceService,
};
pub use rest_perf::{
    aggregate_rest, parse_rest_perf_output, RestConsumerPerformance, RestPerfOutput,
    RestPerfService, RestPerfStats, RestProducerPerformance, REST_PERF_PREFIX,
};
pub use worker::{worker_dir, ToolCommand, ToolOutput, ToolService};
