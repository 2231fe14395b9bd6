//! Control operations of a Kafka cluster — topics, leaders, registered brokers, the
//! controller, groups and offsets, ACLs — behind one trait, [`KafkaControl`], with two
//! implementations chosen once when the service is built ([`Control`]):
//!
//! | operation | [`ClientControl`] (librdkafka) | [`CliControl`] (Kafka's CLI on a broker) |
//! |---|---|---|
//! | create / describe / delete topics, topic exists | admin API, metadata | `kafka-topics` |
//! | describe a topic as some brokers answer | metadata from each broker alone | `kafka-topics` on a node outside the fault |
//! | wait until a started broker is registered | its own metadata lists it | — (the tools retry by themselves) |
//! | registered brokers, controller, group, committed / end offsets | librdkafka | librdkafka too: no CLI reader of them is written |
//! | partition reassignments (start, cancel, list) | the admin API over Kafka's wire protocol (librdkafka lacks it), PLAINTEXT | the same: `kafka-reassign-partitions` is the other path, reached as such ([`KafkaService::execute_reassignment`](super::KafkaService::execute_reassignment)) |
//! | ACLs | `kafka-acls` too: the `rdkafka` crate does not wrap librdkafka's ACL API | `kafka-acls` |
//!
//! The last two rows are the trait's provided methods: one way each, shared, never written
//! twice.

mod cli;
mod client;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use ducttape_core::cluster::Node;

pub(crate) use cli::CliControl;
pub(crate) use client::ClientControl;

use super::admin::{AdminError, BrokerInfo, GroupState, KafkaAdmin, OngoingReassignment};
use super::security::Acl;
use super::tools::KafkaTools;
use super::topics::{PartitionInfo, TopicSpec};
use crate::error::ServiceError;

/// Chooses how control operations run: `client` (default) or `cli`; see [`Control`].
pub const CONTROL_ENV: &str = "DUCTTAPE_KAFKA_CONTROL";

/// Where a [`KafkaService`](super::KafkaService)'s control operations (topic
/// create/describe/delete/exists, leader lookups) run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// librdkafka in the test process ([`KafkaAdmin`]): milliseconds per operation. Needs the
    /// brokers' addresses reachable from the test process (true of the local cluster).
    Client,
    /// Kafka's CLI (`kafka-topics`) on a broker node: a JVM start (≈ 3 s on 2 cores) per
    /// operation, but it works wherever the nodes can reach each other, e.g. remote clusters
    /// whose addresses the test host cannot reach.
    Cli,
}

/// [`CONTROL_ENV`] holds neither `client` nor `cli`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{CONTROL_ENV}={value}: expected `client` or `cli`")]
pub struct ControlEnvError {
    /// What the variable held.
    pub value: String,
}

impl Control {
    /// From [`CONTROL_ENV`]: `cli` → [`Control::Cli`], unset or `client` → [`Control::Client`].
    pub fn from_env() -> Result<Self, ControlEnvError> {
        match std::env::var(CONTROL_ENV).as_deref() {
            Err(_) | Ok("") | Ok("client") => Ok(Control::Client),
            Ok("cli") => Ok(Control::Cli),
            Ok(other) => Err(ControlEnvError {
                value: other.to_string(),
            }),
        }
    }

    /// The implementation this choice names, over the cluster's `admin` client and `tools`.
    pub(crate) fn implementation(
        self,
        admin: Arc<LazyAdmin>,
        tools: Arc<KafkaTools>,
    ) -> Arc<dyn KafkaControl> {
        match self {
            Control::Client => Arc::new(ClientControl::new(admin, tools)),
            Control::Cli => Arc::new(CliControl::new(admin, tools)),
        }
    }
}

/// A broker as control operations address it: its id and `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BrokerAddress {
    /// `broker.id` / `node.id`.
    pub id: i32,
    /// `host:9092`.
    pub address: String,
}

/// The librdkafka control client of a cluster, made on first use (it connects lazily), then
/// shared by every operation.
pub(crate) struct LazyAdmin {
    bootstrap: String,
    config: BTreeMap<String, String>,
    admin: OnceLock<KafkaAdmin>,
}

impl LazyAdmin {
    /// A client of `bootstrap` with these librdkafka settings, not made yet.
    pub(crate) fn new(bootstrap: String, config: BTreeMap<String, String>) -> Self {
        Self {
            bootstrap,
            config,
            admin: OnceLock::new(),
        }
    }

    /// The client (made now if it was not).
    pub(crate) fn get(&self) -> Result<KafkaAdmin, AdminError> {
        if let Some(admin) = self.admin.get() {
            return Ok(admin.clone());
        }
        let admin = KafkaAdmin::with_config(&self.bootstrap, self.config.clone())?;
        Ok(self.admin.get_or_init(|| admin).clone())
    }
}

/// A cluster's control operations; see the module docs for which implementation does what.
#[async_trait]
pub(crate) trait KafkaControl: Send + Sync {
    /// Which implementation this is.
    fn kind(&self) -> Control;

    /// The librdkafka client (what the one-way operations below use).
    fn admin(&self) -> &LazyAdmin;

    /// The CLI tools (what ACLs use).
    fn tools(&self) -> &KafkaTools;

    /// Creates topics; returns once Kafka accepted them (the client: once every partition
    /// has a leader).
    async fn create_topics(&self, topics: &[TopicSpec]) -> Result<(), ServiceError>;

    /// A topic's partitions as the cluster answers.
    async fn describe_topic(&self, topic: &str) -> Result<Vec<PartitionInfo>, ServiceError>;

    /// A topic's partitions as only `brokers` answer (the client asks each alone; the CLI
    /// runs on `node`, which should be outside any fault).
    async fn describe_topic_from(
        &self,
        node: &Node,
        topic: &str,
        brokers: &[BrokerAddress],
    ) -> Result<Vec<PartitionInfo>, ServiceError>;

    /// Whether `topic` exists; only Kafka's own "does not exist" means no.
    async fn topic_exists(&self, topic: &str) -> Result<bool, ServiceError>;

    /// Deletes a topic (Kafka accepted the deletion).
    async fn delete_topic(&self, topic: &str) -> Result<(), ServiceError>;

    /// Waits until a broker that just started is registered and usable by this control.
    async fn wait_registered(
        &self,
        node: &Node,
        broker: &BrokerAddress,
        timeout: Duration,
    ) -> Result<(), ServiceError>;

    /// The brokers registered with the cluster (alive).
    async fn registered_brokers(&self) -> Result<Vec<BrokerInfo>, ServiceError> {
        Ok(self.admin().get()?.brokers().await?)
    }

    /// The controller id the metadata gives.
    async fn controller(&self) -> Result<Option<i32>, ServiceError> {
        Ok(self.admin().get()?.controller().await?)
    }

    /// Consumer group `group`'s state and members.
    async fn group(&self, group: &str) -> Result<GroupState, ServiceError> {
        Ok(self.admin().get()?.group(group).await?)
    }

    /// The offsets `group` committed on each partition of `topic`.
    async fn committed_offsets(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<BTreeMap<u32, Option<i64>>, ServiceError> {
        Ok(self.admin().get()?.committed_offsets(group, topic).await?)
    }

    /// The end offset (high watermark) of each partition of `topic`.
    async fn end_offsets(&self, topic: &str) -> Result<BTreeMap<u32, i64>, ServiceError> {
        Ok(self.admin().get()?.end_offsets(topic).await?)
    }

    /// Starts (`Some` replicas) or cancels (`None`) partition moves through the admin API.
    async fn alter_reassignments(
        &self,
        targets: &BTreeMap<(String, u32), Option<Vec<u32>>>,
    ) -> Result<(), ServiceError> {
        Ok(self
            .admin()
            .get()?
            .alter_partition_reassignments(targets)
            .await?)
    }

    /// The partition moves in progress, as the controller lists them.
    async fn ongoing_reassignments(&self) -> Result<Vec<OngoingReassignment>, ServiceError> {
        Ok(self.admin().get()?.list_partition_reassignments().await?)
    }

    /// Adds ACLs as the admin super user.
    async fn grant(&self, acls: &[Acl]) -> Result<(), ServiceError> {
        self.tools().grant(acls).await
    }
}
