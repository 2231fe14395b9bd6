//! Checks on a broker's own view of itself, read from its sampled JMX metrics
//! ([`ducttape_services::jvm::Metrics`]) — what kafkatest reads with `JmxMixin`.

use std::time::SystemTime;

use ducttape_services::jvm::{Metrics, MetricsError};
use ducttape_services::KafkaService;

use crate::Node;

/// Samples every broker now (so a check sees the state the test just brought about, not the
/// last periodic sample) and returns the time right after.
pub async fn sample_brokers_now(kafka: &KafkaService) -> SystemTime {
    let metrics: Metrics = kafka.metrics().clone();
    // The scrape is blocking I/O, on the blocking pool.
    let _ = tokio::task::spawn_blocking(move || metrics.sample_now()).await;
    SystemTime::now()
}

/// Why a broker was not seen with under-replicated partitions.
#[derive(Debug, thiserror::Error)]
pub enum UnderReplicationError {
    /// The metric could not be read.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// Sampled, and never above zero in the window.
    #[error("{node} reported no under-replicated partition in {samples} samples of the window (UnderReplicatedPartitions max {max})")]
    NotSeen {
        /// The broker.
        node: String,
        /// How many samples the window held.
        samples: usize,
        /// The greatest value sampled.
        max: f64,
    },
    /// No sample at all in the window: nothing was seen either way.
    #[error("{node}: no sample of UnderReplicatedPartitions in the window")]
    NoSample {
        /// The broker.
        node: String,
    },
}

/// The most partitions `node` reported under-replicated (`kafka.server:type=ReplicaManager,
/// name=UnderReplicatedPartitions`) in a sample taken from `from` to `to`; an error when it
/// reported none above zero — a follower that was cut off makes its leader report it.
pub fn under_replicated_seen(
    kafka: &KafkaService,
    node: &Node,
    from: SystemTime,
    to: SystemTime,
) -> Result<f64, UnderReplicationError> {
    let window = kafka
        .metrics()
        .series("UnderReplicatedPartitions")?
        .on(node.name())
        .between(from, to);
    let Some(max) = window.max() else {
        return Err(UnderReplicationError::NoSample {
            node: node.name().to_string(),
        });
    };
    if max > 0.0 {
        Ok(max)
    } else {
        Err(UnderReplicationError::NotSeen {
            node: node.name().to_string(),
            samples: window.points().len(),
            max,
        })
    }
}
