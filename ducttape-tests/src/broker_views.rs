//! Checks on a broker's own view of itself, read from its sampled JMX metrics
//! ([`ducttape_services::jvm::Metrics`]) — what kafkatest reads with `JmxMixin`.

use std::collections::BTreeMap;
use std::time::SystemTime;

use ducttape_services::jvm::{Metrics, MetricsError, Series};
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
    let node = node.name().to_string();
    above_zero(&window).map_err(|seen| match seen {
        None => UnderReplicationError::NoSample { node },
        Some((samples, max)) => UnderReplicationError::NotSeen { node, samples, max },
    })
}

/// The greatest value of `window` when it is above zero; otherwise `None` without a sample,
/// or how many samples there were and their greatest value.
fn above_zero(window: &Series) -> Result<f64, Option<(usize, f64)>> {
    match window.max() {
        Some(max) if max > 0.0 => Ok(max),
        Some(max) => Err(Some((window.points().len(), max))),
        None => Err(None),
    }
}

/// Why the brokers' own counts do not show a consumer served by the replica expected.
#[derive(Debug, thiserror::Error)]
pub enum ServedByError {
    /// The metric could not be read.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// A broker gave no scrape when asked: what it served is unknown.
    #[error(
        "{node}: no scrape of BytesOutPerSec_Count now, so what it served to consumers is unknown"
    )]
    NoSample {
        /// The broker.
        node: String,
    },
    /// The replica expected served nothing, or another broker served some.
    #[error("consumers of {topic} were expected to be served by {expected} alone; bytes served per broker (BytesOutPerSec_Count{{topic=\"{topic}\"}}): {served}")]
    NotOnlyBy {
        /// The topic.
        topic: String,
        /// The broker expected to serve them.
        expected: String,
        /// What each broker served, `node: bytes`.
        served: String,
    },
}

/// The bytes each broker (by node name) has served to consumers of `topic` so far, from a scrape
/// taken now: its `kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec,topic=<topic>`
/// count. Kafka counts there only fetches from consumers (a follower's replication fetches
/// count in `ReplicationBytesOutPerSec`), and makes a topic's meter on its first consumer
/// fetch, so a broker that answered the scrape without it has served none. A broker that did
/// not answer is an error, never a zero.
pub async fn consumer_bytes_out(
    kafka: &KafkaService,
    topic: &str,
) -> Result<BTreeMap<String, f64>, ServedByError> {
    let before = SystemTime::now();
    let after = sample_brokers_now(kafka).await;
    // The all-topics meter is made at the broker's start: its sample says the scrape came.
    let now = kafka
        .metrics()
        .series("BytesOutPerSec_Count")?
        .between(before, after);
    kafka
        .brokers()
        .iter()
        .map(|node| {
            let scraped = now.on(node.name());
            if scraped.is_empty() {
                return Err(ServedByError::NoSample {
                    node: node.name().to_string(),
                });
            }
            let served = scraped.with("topic", topic).latest().unwrap_or(0.0);
            Ok((node.name().to_string(), served))
        })
        .collect()
}

/// Checks that of `served` (bytes served to consumers of `topic` per broker, as
/// [`consumer_bytes_out`] reads them) the broker on node `expected` served some and every
/// other broker none; returns what `expected` served.
pub fn served_only_by(
    served: &BTreeMap<String, f64>,
    topic: &str,
    expected: &str,
) -> Result<f64, ServedByError> {
    let by_expected = served.get(expected).copied().unwrap_or(0.0);
    let by_others = served
        .iter()
        .filter(|(node, _)| node.as_str() != expected)
        .any(|(_, &bytes)| bytes != 0.0);
    if by_expected > 0.0 && !by_others {
        return Ok(by_expected);
    }
    let served = served
        .iter()
        .map(|(node, bytes)| format!("{node}: {bytes}"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(ServedByError::NotOnlyBy {
        topic: topic.to_string(),
        expected: expected.to_string(),
        served,
    })
}

/// Why the broker's own quota metrics do not show a client throttled.
#[derive(Debug, thiserror::Error)]
pub enum ThrottleError {
    /// The metric could not be read.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// No broker reported a throttle time for the entity in the window (it never sent such a
    /// request, or no scrape came).
    #[error("no broker reported {request}_throttle_time for {entity} in the window")]
    NoSample {
        /// `Produce` or `Fetch`.
        request: String,
        /// The quota entity, as [`QuotaEntity`] prints it.
        entity: String,
    },
    /// Reported, and never above zero.
    #[error("the brokers never throttled {entity}'s {request} requests: {request}_throttle_time max {max} ms in {samples} samples (NaN: no request of it was throttled in the broker's quota window)")]
    NotThrottled {
        /// `Produce` or `Fetch`.
        request: String,
        /// The quota entity, as [`QuotaEntity`] prints it.
        entity: String,
        /// How many samples the window held.
        samples: usize,
        /// The greatest value sampled.
        max: f64,
    },
}

/// Whose throttle time: the entity of the quota that applies, as the broker's quota manager
/// tags its metrics (`user=…`, `client-id=…`, or both for a (user, client-id) quota).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaEntity<'a> {
    /// A client-id quota (`kafka.server:type=Produce,client-id=<id>`).
    Client(&'a str),
    /// A user quota (`…,user=<principal>`).
    User(&'a str),
    /// A (user, client-id) quota (`…,user=<principal>,client-id=<id>`).
    UserClient(&'a str, &'a str),
}

impl std::fmt::Display for QuotaEntity<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Client(c) => write!(f, "client {c:?}"),
            Self::User(u) => write!(f, "user {u:?}"),
            Self::UserClient(u, c) => write!(f, "user {u:?} with client {c:?}"),
        }
    }
}

/// The longest throttle (ms) the brokers report having imposed on `entity`'s `request`
/// requests (`Produce` or `Fetch`) in a sample from `from` to `to`: the quota manager's
/// `throttle-time` of `kafka.server:type=<request>,<entity's tags>` (its average over the
/// quota window; NaN when nothing was throttled in it). An error when it never was above zero.
pub fn throttled(
    kafka: &KafkaService,
    request: &str,
    entity: QuotaEntity<'_>,
    from: SystemTime,
    to: SystemTime,
) -> Result<f64, ThrottleError> {
    let series = kafka
        .metrics()
        .series(&format!("{request}_throttle_time"))?;
    let series = match entity {
        QuotaEntity::Client(c) => series.with("client", c),
        QuotaEntity::User(u) => series.with("user", u),
        QuotaEntity::UserClient(u, c) => series.with("user", u).with("client", c),
    };
    let window = series.between(from, to);
    let (request, entity) = (request.to_string(), entity.to_string());
    above_zero(&window).map_err(|seen| match seen {
        None => ThrottleError::NoSample { request, entity },
        Some((samples, max)) => ThrottleError::NotThrottled {
            request,
            entity,
            samples,
            max,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(of: &[(&str, f64)]) -> BTreeMap<String, f64> {
        of.iter().map(|&(n, b)| (n.to_string(), b)).collect()
    }

    #[test]
    fn served_by_the_follower_alone_passes_and_anything_else_fails() {
        let only = served(&[("worker1", 0.0), ("worker2", 5_000.0), ("worker3", 0.0)]);
        assert_eq!(served_only_by(&only, "t", "worker2").unwrap(), 5_000.0);
        // The leader served too, or alone, or nobody served: each fails, naming the counts.
        for wrong in [
            served(&[("worker1", 10.0), ("worker2", 5_000.0), ("worker3", 0.0)]),
            served(&[("worker1", 5_000.0), ("worker2", 0.0), ("worker3", 0.0)]),
            served(&[("worker1", 0.0), ("worker2", 0.0), ("worker3", 0.0)]),
        ] {
            let err = served_only_by(&wrong, "t", "worker2")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("served by worker2 alone") && err.contains("worker1: "),
                "{err}"
            );
        }
    }
}
