//! The [`KafkaService`] methods tests call for control operations and tools: each is a
//! delegation to the service's [`KafkaControl`](super::control::KafkaControl) (chosen once
//! at build: librdkafka or the CLI) or to its [`KafkaTools`](super::tools::KafkaTools).

use std::collections::BTreeMap;

use ducttape_core::cluster::Node;
use ducttape_core::remote::StopOutcome;

use super::admin::{BrokerInfo, GroupState};
use super::control::{BrokerAddress, Control};
use super::security::Acl;
use super::topics::{PartitionInfo, TopicSpec};
use super::KafkaService;
use crate::error::ServiceError;
use crate::properties::Properties;

impl KafkaService {
    /// Creates a topic; returns once every partition has a leader (with [`Control::Client`];
    /// `kafka-topics --create` with [`Control::Cli`]).
    pub async fn create_topic(&self, topic: &TopicSpec) -> Result<(), ServiceError> {
        tracing::info!(topic = %topic.name, partitions = topic.partitions, rf = topic.replication_factor, control = ?self.control(), "creating topic");
        self.control
            .create_topics(std::slice::from_ref(topic))
            .await
    }

    /// Creates topics: with [`Control::Client`] in one request, Kafka creating them side by
    /// side, and one check that every broker shows every partition's leader; with
    /// [`Control::Cli`] one `kafka-topics --create` after another.
    pub async fn create_topics(&self, topics: &[TopicSpec]) -> Result<(), ServiceError> {
        let names: Vec<&str> = topics.iter().map(|t| t.name.as_str()).collect();
        tracing::info!(?names, control = ?self.control(), "creating topics");
        self.control.create_topics(topics).await
    }

    /// Describes a topic's partitions (as a broker sees them: any broker with
    /// [`Control::Client`], the first with [`Control::Cli`]).
    pub async fn describe_topic(&self, topic: &str) -> Result<Vec<PartitionInfo>, ServiceError> {
        self.control.describe_topic(topic).await
    }

    /// Describes a topic's partitions as only the brokers on `brokers` (all of them when
    /// empty) answer. Leaving out a broker that is cut off matters: it still answers with its
    /// stale view, and in ZooKeeper mode requests for a controller it wrongly thinks it still
    /// is hang until they time out. With [`Control::Client`] the test process asks (faults
    /// spare its traffic) and takes answers from `brokers` only; with [`Control::Cli`] the
    /// tool runs on `node`, which should be outside the fault.
    pub async fn describe_topic_from(
        &self,
        node: &Node,
        topic: &str,
        brokers: &[Node],
    ) -> Result<Vec<PartitionInfo>, ServiceError> {
        let brokers = if brokers.is_empty() {
            self.brokers()
        } else {
            brokers.to_vec()
        };
        let addresses = brokers
            .iter()
            .map(|b| self.broker_address(b))
            .collect::<Result<Vec<BrokerAddress>, _>>()?;
        self.control
            .describe_topic_from(node, topic, &addresses)
            .await
    }

    /// Whether `topic` exists, as the first broker answers. Only Kafka's own "does not exist"
    /// answer means no; a failing command, a broker that does not answer or describe output
    /// without partition lines is an error, never taken for an absent topic.
    pub async fn topic_exists(&self, topic: &str) -> Result<bool, ServiceError> {
        self.control.topic_exists(topic).await
    }

    /// Deletes a topic (Kafka accepted the deletion; it completes in the background:
    /// [`KafkaService::topic_exists`] tells when it is gone).
    pub async fn delete_topic(&self, topic: &str) -> Result<(), ServiceError> {
        self.control.delete_topic(topic).await
    }

    /// The node leading `partition` of `topic`, if it has a leader.
    pub async fn leader(&self, topic: &str, partition: u32) -> Result<Option<Node>, ServiceError> {
        let parts = self.describe_topic(topic).await?;
        Ok(parts
            .iter()
            .find(|p| p.partition == partition)
            .and_then(|p| p.leader)
            .and_then(|id| self.node_by_id(id).cloned()))
    }

    /// Every topic the broker on `node` alone knows (internal ones included), with its
    /// partition numbers — asked through the control client whatever [`Control`] says: the
    /// CLI has no way to ask one broker its own view.
    pub async fn topics_at(
        &self,
        node: &Node,
    ) -> Result<BTreeMap<String, std::collections::BTreeSet<u32>>, ServiceError> {
        let broker = self.broker_address(node)?;
        Ok(self.admin()?.topics_at(broker.id, &broker.address).await?)
    }

    /// The broker ids registered with the cluster (alive), as its metadata lists them.
    pub async fn registered_brokers(&self) -> Result<Vec<BrokerInfo>, ServiceError> {
        self.control.registered_brokers().await
    }

    /// The controller id the metadata gives (see
    /// [`KafkaAdmin::controller`](super::KafkaAdmin::controller)).
    pub async fn controller(&self) -> Result<Option<i32>, ServiceError> {
        self.control.controller().await
    }

    /// Consumer group `group`'s state and members.
    pub async fn group(&self, group: &str) -> Result<GroupState, ServiceError> {
        self.control.group(group).await
    }

    /// The offsets `group` committed on each partition of `topic` (`None`: no commit).
    pub async fn committed_offsets(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<BTreeMap<u32, Option<i64>>, ServiceError> {
        self.control.committed_offsets(group, topic).await
    }

    /// The end offset (high watermark) of each partition of `topic`, as its leader answers a
    /// consumer: one past the last record a consumer can read
    /// ([`KafkaAdmin::end_offsets`](super::KafkaAdmin::end_offsets)).
    pub async fn end_offsets(&self, topic: &str) -> Result<BTreeMap<u32, i64>, ServiceError> {
        self.control.end_offsets(topic).await
    }

    /// Adds ACLs (as the admin super user); needs the authorizer
    /// ([`SecurityConfig::authorizer`](super::SecurityConfig::authorizer)).
    ///
    /// ```no_run
    /// # async fn demo(kafka: &ducttape_services::KafkaService) -> Result<(), ducttape_services::ServiceError> {
    /// use ducttape_services::kafka::Acl;
    /// kafka.grant(&Acl::producer("client", "t")).await?;
    /// kafka.grant(&Acl::consumer("client", "t", "g")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn grant(&self, acls: &[Acl]) -> Result<(), ServiceError> {
        self.control.grant(acls).await
    }

    /// The ACLs Kafka holds on `resource` (`kafka-acls --list`, through the brokers: what the
    /// authorizer that serves them has), each as [`Acl::listed`](super::Acl::listed) writes
    /// it; needs the authorizer.
    pub async fn acls(&self, resource: &super::AclResource) -> Result<Vec<String>, ServiceError> {
        self.tools().acls(resource).await
    }

    /// Restarts `node`: SIGTERM and a controlled shutdown when `clean`, SIGKILL otherwise.
    /// Returns how the broker ended: [`StopOutcome::Exited`] when it shut down on SIGTERM,
    /// [`StopOutcome::Killed`] when it was SIGKILLed (at once, or after the grace when its
    /// controlled shutdown did not finish) — a clean bounce is clean only when `Exited`.
    pub async fn bounce(&self, node: &Node, clean: bool) -> Result<StopOutcome, ServiceError> {
        crate::service::ServiceExt::restart_node(self, node, clean).await
    }

    /// Runs a Kafka command-line tool (`main_class` from the kafka-tools or core jar) on the
    /// first broker and returns its stdout.
    pub async fn run_tool(
        &self,
        main_class: &str,
        args: &[String],
    ) -> Result<String, ServiceError> {
        let node = self.tools().first_broker()?;
        self.run_tool_on(&node, main_class, args).await
    }

    /// Runs a Kafka command-line tool on `node` (any node with the install: a client node
    /// sees the cluster as clients do, e.g. while a broker is cut off).
    pub async fn run_tool_on(
        &self,
        node: &Node,
        main_class: &str,
        args: &[String],
    ) -> Result<String, ServiceError> {
        self.tools().run_on(node, main_class, args).await
    }

    /// Runs an admin tool that takes `--command-config` (topics, ACLs, configs, offsets) on
    /// `node` as the `admin` super user: on a secured cluster its config and PEM files are
    /// written first (mode 0600) and removed after.
    pub async fn run_admin_tool_on(
        &self,
        node: &Node,
        main_class: &str,
        args: &[String],
        extra: &Properties,
    ) -> Result<String, ServiceError> {
        self.tools()
            .run_admin_on(node, main_class, args, extra)
            .await
    }

    /// [`run_admin_tool_on`](Self::run_admin_tool_on) on the first broker.
    pub async fn run_admin_tool(
        &self,
        main_class: &str,
        args: &[String],
    ) -> Result<String, ServiceError> {
        self.tools().run_admin(main_class, args).await
    }

    /// Runs a Kafka client tool (the console or verifiable producer and consumer, …) on
    /// `node` as the cluster's `client` user ([`client_security`](Self::client_security)):
    /// on a secured cluster its properties and PEM files are written to a directory of its own
    /// (mode 0600), passed with `config_option` (`--producer.config`, `--consumer.config`),
    /// and removed after; PLAINTEXT runs the tool as it is. Returns its stdout.
    ///
    /// ```no_run
    /// # async fn demo(kafka: &ducttape_services::KafkaService) -> Result<(), ducttape_services::ServiceError> {
    /// let node = kafka.brokers()[0].clone();
    /// let args: Vec<String> = ["--topic", "t", "--bootstrap-server", &kafka.bootstrap_servers(),
    ///     "--max-messages", "10"].iter().map(ToString::to_string).collect();
    /// let out = kafka
    ///     .run_client_tool_on(&node, "org.apache.kafka.tools.VerifiableProducer", &args, "--producer.config")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn run_client_tool_on(
        &self,
        node: &Node,
        main_class: &str,
        args: &[String],
        config_option: &str,
    ) -> Result<String, ServiceError> {
        let cmd = self.client_tool_command(main_class, args, config_option);
        super::tools::run_on(node, &cmd).await
    }

    /// [`run_client_tool_on`](Self::run_client_tool_on) as `user` of the cluster's
    /// [`SecurityConfig`](super::SecurityConfig) ([`client_security_as`](Self::client_security_as)),
    /// with `extra` client properties (`client.id`, …) in the tool's config file.
    pub async fn run_client_tool_as(
        &self,
        node: &Node,
        user: &str,
        main_class: &str,
        args: &[String],
        config_option: &str,
        extra: &Properties,
    ) -> Result<String, ServiceError> {
        let cmd = self.tools().client_command_as(
            &self.client_security_as(user),
            main_class,
            args,
            config_option,
            extra,
        );
        super::tools::run_on(node, &cmd).await
    }

    /// The shell command of [`run_client_tool_on`](Self::run_client_tool_on), for callers
    /// that run it their own way (e.g. keeping the output of a tool that exits non-zero).
    pub fn client_tool_command(
        &self,
        main_class: &str,
        args: &[String],
        config_option: &str,
    ) -> String {
        self.tools().client_command(main_class, args, config_option)
    }

    /// Where control operations run.
    pub fn control(&self) -> Control {
        self.control.kind()
    }
}
