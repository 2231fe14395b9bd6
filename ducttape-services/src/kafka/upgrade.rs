//! Mixed versions and rolling changes: which install each node runs and the config changes
//! made to it since the build, and [`KafkaService::upgrade_node`], which restarts one node on
//! another install (kafkatest's `node.version = …; stop_node; start_node`).
//!
//! A node's version is chosen at build ([`KafkaBuilder::node_version`](super::KafkaBuilder::node_version))
//! and changed at run time; each start renders the node's `server.properties` and JVM from its
//! [`Revision`]. The metadata version moves with Kafka's own tool (see `features.rs`).

use std::collections::BTreeSet;

use ducttape_core::cluster::Node;
use ducttape_core::remote::StopOutcome;

use super::service::KafkaService;
use crate::error::ServiceError;
use crate::install::KafkaVersion;
use crate::properties::Properties;
use crate::service::Service;

/// Config changes an upgrade step makes to one node: settings added or changed, settings
/// removed (e.g. `inter.broker.protocol.version` pinned for the roll, then dropped).
///
/// ```
/// use ducttape_services::kafka::ConfigChange;
/// let pin = ConfigChange::new().set("inter.broker.protocol.version", "3.8");
/// let unpin = ConfigChange::new().remove("inter.broker.protocol.version");
/// assert!(!pin.is_empty() && !unpin.is_empty() && ConfigChange::new().is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigChange {
    set: Properties,
    removed: BTreeSet<String>,
}

impl ConfigChange {
    /// No change.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value` (undoing an earlier removal of it).
    #[must_use]
    pub fn set(mut self, key: &str, value: impl ToString) -> Self {
        self.removed.remove(key);
        self.set.set(key, value);
        self
    }

    /// Removes `key` from the node's config, whoever set it (an earlier change, a builder
    /// override, the rendered defaults).
    #[must_use]
    pub fn remove(mut self, key: &str) -> Self {
        self.set.remove(key);
        self.removed.insert(key.to_string());
        self
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.set == Properties::new() && self.removed.is_empty()
    }

    /// Applies `later` on top of this one.
    fn then(&mut self, later: &ConfigChange) {
        for key in &later.removed {
            self.set.remove(key);
            self.removed.insert(key.clone());
        }
        for key in later.set.keys() {
            self.removed.remove(key);
        }
        self.set.extend(&later.set);
    }

    fn apply(&self, p: &mut Properties) {
        for key in &self.removed {
            p.remove(key);
        }
        p.extend(&self.set);
    }
}

/// What one node runs now, when it differs from what the service was built with.
#[derive(Debug, Clone, Default)]
pub(crate) struct Revision {
    version: Option<KafkaVersion>,
    change: ConfigChange,
}

impl Revision {
    /// The node runs `version`.
    pub(crate) fn running(version: KafkaVersion) -> Self {
        Self {
            version: Some(version),
            change: ConfigChange::new(),
        }
    }
}

/// Which step of [`KafkaService::upgrade_node`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeStep {
    /// Stopping the node on its old install.
    Stop,
    /// Starting it on the new install (its process, its readiness, its broker's registration).
    Start,
}

impl std::fmt::Display for UpgradeStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UpgradeStep::Stop => "stopping it",
            UpgradeStep::Start => "starting it again",
        })
    }
}

/// A node that could not be moved to another install: which node, from and to which version,
/// which step, and why.
#[derive(Debug, thiserror::Error)]
#[error("moving {node} from Kafka {from} to Kafka {to} failed {step}: {source}")]
pub struct UpgradeError {
    /// The node.
    pub node: String,
    /// The version it ran.
    pub from: String,
    /// The version it was moved to.
    pub to: String,
    /// The step that failed.
    pub step: UpgradeStep,
    /// Why.
    #[source]
    pub source: ServiceError,
}

impl KafkaService {
    /// The install node `index` runs (the service's, unless built or moved otherwise).
    pub(super) fn version_of(&self, index: usize) -> KafkaVersion {
        self.revisions
            .lock()
            .ok()
            .and_then(|r| r.get(&index).and_then(|r| r.version.clone()))
            .unwrap_or_else(|| self.version().clone())
    }

    /// Applies node `index`'s config changes to its rendered config.
    pub(super) fn apply_revision(&self, index: usize, p: &mut Properties) {
        if let Ok(revisions) = self.revisions.lock() {
            if let Some(r) = revisions.get(&index) {
                r.change.apply(p);
            }
        }
    }

    /// The install `node` runs (it takes effect at the node's next start).
    pub fn version_of_node(&self, node: &Node) -> Result<KafkaVersion, ServiceError> {
        Ok(self.version_of(self.index_of(node)?))
    }

    /// The newest install any node runs: command-line tools run from it (a newer tool knows
    /// the older brokers' requests; an older one does not know a newer metadata version).
    pub fn tool_version(&self) -> KafkaVersion {
        (0..self.nodes().len())
            .map(|i| self.version_of(i))
            .max_by_key(KafkaVersion::release_order)
            .unwrap_or_else(|| self.version().clone())
    }

    fn index_of(&self, node: &Node) -> Result<usize, ServiceError> {
        self.nodes()
            .iter()
            .position(|n| n.name() == node.name())
            .ok_or_else(|| ServiceError::Usage {
                service: "kafka".into(),
                detail: format!("{} is not a node of this service", node.name()),
            })
    }

    /// Restarts `node` on `to` with `change` made to its config: stops it (a controlled
    /// shutdown when `clean`, else SIGKILL), then starts it on the new install, ready when its
    /// broker is registered again (see `start_node`). Returns how the old process ended.
    /// Only this node changes; the others keep running what they run.
    ///
    /// ```no_run
    /// # async fn demo(kafka: &ducttape_services::KafkaService) -> Result<(), Box<dyn std::error::Error>> {
    /// use ducttape_services::kafka::ConfigChange;
    /// use ducttape_services::KafkaVersion;
    /// for node in kafka.nodes_in_roll_order() {
    ///     kafka.upgrade_node(&node, &KafkaVersion::V4, &ConfigChange::new(), true).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn upgrade_node(
        &self,
        node: &Node,
        to: &KafkaVersion,
        change: &ConfigChange,
        clean: bool,
    ) -> Result<StopOutcome, UpgradeError> {
        let from = self
            .version_of_node(node)
            .map(|v| v.version().to_string())
            .unwrap_or_default();
        let failed = |step, source| UpgradeError {
            node: node.name().to_string(),
            from: from.clone(),
            to: to.version().to_string(),
            step,
            source,
        };
        let index = self
            .index_of(node)
            .map_err(|e| failed(UpgradeStep::Stop, e))?;
        tracing::info!(node = node.name(), %from, to = to.version(), ?change, clean, "moving a node to another Kafka");
        ducttape_core::event!(
            "node_upgrading",
            service = "kafka",
            node = node.name(),
            from = from.as_str(),
            to = to.version(),
            clean
        );
        let ended = self
            .stop_node(node, clean)
            .await
            .map_err(|e| failed(UpgradeStep::Stop, e))?;
        if let Ok(mut revisions) = self.revisions.lock() {
            let r = revisions.entry(index).or_default();
            r.version = Some(to.clone());
            r.change.then(change);
        }
        self.tools().set_version(self.tool_version());
        let started = self.start_node(node).await;
        ducttape_core::event!(
            "node_upgraded",
            service = "kafka",
            node = node.name(),
            to = to.version(),
            ok = started.is_ok()
        );
        started.map_err(|e| failed(UpgradeStep::Start, e))?;
        Ok(ended)
    }

    /// The nodes in the order a rolling change takes them, as kafkatest rolls: dedicated
    /// controllers first, then the brokers (combined nodes among them) in id order.
    pub fn nodes_in_roll_order(&self) -> Vec<Node> {
        let brokers = self.brokers();
        let controllers = self
            .nodes()
            .iter()
            .filter(|n| !brokers.iter().any(|b| b.name() == n.name()));
        controllers.chain(brokers.iter()).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_stack_in_order() {
        let mut c = ConfigChange::new().set("inter.broker.protocol.version", "3.8");
        c.then(&ConfigChange::new().remove("inter.broker.protocol.version"));
        let mut p = Properties::new();
        p.set("inter.broker.protocol.version", "3.7").set("a", 1);
        c.apply(&mut p);
        assert_eq!(p.render(), "a=1\n");
        c.then(&ConfigChange::new().set("inter.broker.protocol.version", "3.9"));
        c.apply(&mut p);
        assert_eq!(p.get("inter.broker.protocol.version"), Some("3.9"));
    }

    #[test]
    fn releases_order_by_number_not_text() {
        let order = |v: &str| KafkaVersion::new(v).release_order();
        assert!(order("4.10.0") > order("4.9.1"));
        assert!(order("4.1.0-SNAPSHOT") > order("4.0.2"));
        assert!(order("3.9.2") < order("4.0.0"));
    }
}
