//! The cluster's active controller (the node a controller failure is aimed at), and stopping
//! a dedicated KRaft controller while its brokers go on running.

use ducttape_core::cluster::Node;
use ducttape_core::remote::StopOutcome;

use super::config::Quorum;
use super::service::KafkaService;
use crate::error::ServiceError;
use crate::service::Service;

impl KafkaService {
    /// The node acting as the cluster's controller now, or `None` while there is none.
    ///
    /// ZooKeeper mode: the broker ZooKeeper elected (the metadata's controller id). KRaft: the
    /// metadata quorum's leader, as `kafka-metadata-quorum describe --status` run on
    /// `observer` gives it (`LeaderId`) — the metadata's controller id is a random broker there
    /// (KIP-590), not the active controller.
    pub async fn active_controller(&self, observer: &Node) -> Result<Option<Node>, ServiceError> {
        let id = match self.quorum() {
            Quorum::Zookeeper { .. } => self
                .controller()
                .await?
                .and_then(|id| u32::try_from(id).ok()),
            Quorum::KraftCombined { .. } | Quorum::KraftDedicated { .. } => {
                self.describe_quorum(observer).await?.leader
            }
        };
        Ok(id.and_then(|id| self.node_by_id(id).cloned()))
    }

    /// Stops `node` (SIGTERM when `clean`, else SIGKILL) without waiting for anything else:
    /// [`Service::stop_node`] stops a dedicated controller cleanly only after every broker
    /// (the order of a whole cluster's shutdown), which a controller failure while the
    /// brokers go on running must not wait for. A broker goes through `stop_node` as ever.
    pub async fn stop_alone(&self, node: &Node, clean: bool) -> Result<StopOutcome, ServiceError> {
        let dedicated_controller = !self.brokers().iter().any(|b| b.name() == node.name());
        match self.process_spec(node) {
            Some(process) if dedicated_controller => process.stop(node, clean).await,
            _ => self.stop_node(node, clean).await,
        }
    }

    /// [`stop_alone`](Self::stop_alone), then starts `node` again; returns how it ended.
    pub async fn bounce_alone(
        &self,
        node: &Node,
        clean: bool,
    ) -> Result<StopOutcome, ServiceError> {
        let ended = self.stop_alone(node, clean).await?;
        self.start_node(node).await?;
        Ok(ended)
    }
}
