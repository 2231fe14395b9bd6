//! [`ClientControl`]: control operations through librdkafka in the test process.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ducttape_core::cluster::Node;
use ducttape_core::wait_until;

use super::{BrokerAddress, Control, KafkaControl, LazyAdmin};
use crate::error::ServiceError;
use crate::kafka::tools::KafkaTools;
use crate::kafka::topics::{PartitionInfo, TopicSpec};

/// Control operations through librdkafka ([`KafkaAdmin`](crate::kafka::KafkaAdmin)):
/// milliseconds each, from the test process.
pub(crate) struct ClientControl {
    admin: Arc<LazyAdmin>,
    tools: Arc<KafkaTools>,
}

impl ClientControl {
    pub(crate) fn new(admin: Arc<LazyAdmin>, tools: Arc<KafkaTools>) -> Self {
        Self { admin, tools }
    }
}

#[async_trait]
impl KafkaControl for ClientControl {
    fn kind(&self) -> Control {
        Control::Client
    }

    fn admin(&self) -> &LazyAdmin {
        &self.admin
    }

    fn tools(&self) -> &KafkaTools {
        &self.tools
    }

    /// In one request, Kafka creating them side by side, and one check that every broker
    /// shows every partition's leader.
    async fn create_topics(&self, topics: &[TopicSpec]) -> Result<(), ServiceError> {
        Ok(self.admin.get()?.create_topics(topics).await?)
    }

    async fn describe_topic(&self, topic: &str) -> Result<Vec<PartitionInfo>, ServiceError> {
        Ok(self.admin.get()?.describe_topic(topic).await?)
    }

    /// The first of `brokers` that answers; each is asked alone (faults spare the test
    /// process's traffic, so only the brokers' own views differ).
    async fn describe_topic_from(
        &self,
        _node: &Node,
        topic: &str,
        brokers: &[BrokerAddress],
    ) -> Result<Vec<PartitionInfo>, ServiceError> {
        let admin = self.admin.get()?.timeout(Duration::from_secs(8));
        let mut last = None;
        for broker in brokers {
            match admin
                .describe_topic_at(broker.id, &broker.address, topic)
                .await
            {
                Ok(parts) => return Ok(parts),
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) => e.into(),
            None => ServiceError::Usage {
                service: "kafka".into(),
                detail: "no broker to describe the topic".into(),
            },
        })
    }

    async fn topic_exists(&self, topic: &str) -> Result<bool, ServiceError> {
        Ok(self.admin.get()?.topic_exists(topic).await?)
    }

    async fn delete_topic(&self, topic: &str) -> Result<(), ServiceError> {
        Ok(self.admin.get()?.delete_topic(topic).await?)
    }

    /// Until the broker lists itself in its own metadata: registered and (KRaft) unfenced,
    /// so clients can use it. "Kafka Server started" comes before that.
    async fn wait_registered(
        &self,
        node: &Node,
        broker: &BrokerAddress,
        timeout: Duration,
    ) -> Result<(), ServiceError> {
        let admin = self.admin.get()?.timeout(Duration::from_secs(5));
        let id = broker.id;
        let what = format!("broker {id} is registered");
        wait_until(&what, timeout, Duration::from_millis(100), || {
            let admin = admin.clone();
            async move {
                match admin.broker_ids_at(id, &broker.address).await {
                    Ok(ids) if ids.contains(&id) => Ok(true),
                    Ok(ids) => Err(format!("its metadata lists brokers {ids:?}")),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await
        .map_err(|e| ServiceError::Timeout {
            service: "kafka".into(),
            node: node.name().to_string(),
            after: timeout,
            detail: format!(
                "broker {id} is not registered: {}",
                e.last_error.unwrap_or_default()
            ),
        })
    }
}
