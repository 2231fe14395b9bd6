//! The sampled series, as a test asks for them: [`Series`] (a metric's samples on every node,
//! narrowed by node, label and time) and [`MetricsError`] (a name never sampled is an error
//! that names it, never an empty series that passes).

use std::collections::BTreeMap;
use std::time::SystemTime;

/// One sampled value of one series on one node.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The node's name.
    pub node: String,
    /// When the scrape was taken.
    pub at: SystemTime,
    /// The series' labels (`type`, `request`, …), without the metric name.
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: f64,
}

/// A metric's samples, oldest first (every node, every label set, until narrowed).
///
/// ```
/// use std::collections::BTreeMap;
/// use std::time::SystemTime;
/// use ducttape_services::jvm::{Point, Series};
/// let p = |node: &str, v| Point { node: node.into(), at: SystemTime::now(), labels: BTreeMap::new(), value: v };
/// let s = Series::new("UnderReplicatedPartitions", vec![p("worker1", 0.0), p("worker2", 2.0), p("worker1", 1.0)]);
/// assert_eq!(s.max(), Some(2.0));
/// assert_eq!(s.on("worker1").latest(), Some(1.0));
/// assert_eq!(s.on("worker3").max(), None);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    name: String,
    points: Vec<Point>,
}

impl Series {
    /// The series `name` made of `points` (oldest first).
    pub fn new(name: &str, points: Vec<Point>) -> Self {
        Self {
            name: name.to_string(),
            points,
        }
    }

    /// The metric's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The samples, oldest first.
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// Whether there is no sample (after narrowing).
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    fn filtered(&self, keep: impl Fn(&Point) -> bool) -> Self {
        Self {
            name: self.name.clone(),
            points: self.points.iter().filter(|p| keep(p)).cloned().collect(),
        }
    }

    /// Only the samples of node `node` (its name).
    pub fn on(&self, node: &str) -> Self {
        self.filtered(|p| p.node == node)
    }

    /// Only the samples whose label `label` is `value` (`with("request", "Produce")`).
    pub fn with(&self, label: &str, value: &str) -> Self {
        self.filtered(|p| p.labels.get(label).map(String::as_str) == Some(value))
    }

    /// Only the samples taken from `from` to `to` (both included).
    pub fn between(&self, from: SystemTime, to: SystemTime) -> Self {
        self.filtered(|p| p.at >= from && p.at <= to)
    }

    /// The greatest value, `None` without samples.
    pub fn max(&self) -> Option<f64> {
        self.points.iter().map(|p| p.value).reduce(f64::max)
    }

    /// The least value, `None` without samples.
    pub fn min(&self) -> Option<f64> {
        self.points.iter().map(|p| p.value).reduce(f64::min)
    }

    /// The newest value, `None` without samples.
    pub fn latest(&self) -> Option<f64> {
        self.points.last().map(|p| p.value)
    }

    /// The distinct label sets, each as `{a="1",b="2"}`.
    pub fn label_sets(&self) -> Vec<String> {
        let mut sets: Vec<String> = self
            .points
            .iter()
            .map(|p| {
                let inner: Vec<String> = p
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{v}\""))
                    .collect();
                format!("{{{}}}", inner.join(","))
            })
            .collect();
        sets.sort();
        sets.dedup();
        sets
    }
}

/// A question about metrics that has no honest answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The service runs without the metrics agent.
    #[error("{service}: JVM metrics are off (DUCTTAPE_JVM_METRICS=off, or the service was built without them): no metric can be asked for")]
    Off {
        /// The service.
        service: String,
    },
    /// No scrape ever returned this metric.
    #[error("{service}: no metric named {name:?} was sampled ({known} metric names were, from {scrapes} scrapes){}", similar_note(.similar))]
    Unknown {
        /// The service.
        service: String,
        /// The name asked for.
        name: String,
        /// How many names were sampled.
        known: usize,
        /// How many scrapes succeeded.
        scrapes: usize,
        /// Sampled names that contain what was asked for, or are contained in it (case aside).
        similar: Vec<String>,
    },
    /// The metric was sampled, but never on this node.
    #[error("{service}: metric {name:?} has no sample on node {node}")]
    NoSample {
        /// The service.
        service: String,
        /// The node.
        node: String,
        /// The metric.
        name: String,
    },
    /// The metric has several label sets where one value was asked for.
    #[error("metric {name:?} has {} label sets ({}): narrow it with Metrics::series(..).with(label, value)", .label_sets.len(), .label_sets.join(", "))]
    Ambiguous {
        /// The metric.
        name: String,
        /// Its label sets.
        label_sets: Vec<String>,
    },
}

fn similar_note(similar: &[String]) -> String {
    if similar.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", similar.join(", "))
    }
}
