//! [`CliControl`]: control operations with Kafka's CLI tools on a broker node.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ducttape_core::cluster::Node;
use ducttape_core::remote::quote;

use super::{BrokerAddress, Control, KafkaControl, LazyAdmin};
use crate::error::{ResultExt, ServiceError};
use crate::kafka::tools::{KafkaTools, ToolOutputError};
use crate::kafka::topics::{parse_describe, PartitionInfo, TopicSpec};
use crate::kafka::KafkaServiceError;
use crate::properties::Properties;

/// `kafka-topics`' main class.
const TOPIC_COMMAND: &str = "org.apache.kafka.tools.TopicCommand";
/// What [`CliControl::topic_exists`]'s script prints for an absent topic.
const ABSENT: &str = "DUCTTAPE-TOPIC-ABSENT";

/// Control operations with Kafka's CLI on a broker: a JVM start (≈ 3 s on 2 cores) each, but
/// they work wherever the nodes reach each other.
pub(crate) struct CliControl {
    admin: Arc<LazyAdmin>,
    tools: Arc<KafkaTools>,
}

impl CliControl {
    pub(crate) fn new(admin: Arc<LazyAdmin>, tools: Arc<KafkaTools>) -> Self {
        Self { admin, tools }
    }

    /// `kafka-topics --bootstrap-server <every broker> <action> <args…>`.
    fn topic_command(&self, action: &str, args: Vec<String>) -> Vec<String> {
        topic_command_via(self.tools.bootstrap(), action, args)
    }

    /// `--describe --topic <topic>` on every broker.
    fn describe_args(&self, topic: &str) -> Vec<String> {
        self.topic_command("--describe", vec!["--topic".into(), topic.into()])
    }
}

#[async_trait]
impl KafkaControl for CliControl {
    fn kind(&self) -> Control {
        Control::Cli
    }

    fn admin(&self) -> &LazyAdmin {
        &self.admin
    }

    fn tools(&self) -> &KafkaTools {
        &self.tools
    }

    /// One `kafka-topics --create` after another.
    async fn create_topics(&self, topics: &[TopicSpec]) -> Result<(), ServiceError> {
        for topic in topics {
            let args = self.topic_command("--create", topic.create_args());
            self.tools.run_admin(TOPIC_COMMAND, &args).await?;
        }
        Ok(())
    }

    /// As the first broker answers.
    async fn describe_topic(&self, topic: &str) -> Result<Vec<PartitionInfo>, ServiceError> {
        let out = self
            .tools
            .run_admin(TOPIC_COMMAND, &self.describe_args(topic))
            .await?;
        Ok(parse_describe(&out))
    }

    /// The tool runs on `node`, bootstrapped from `brokers` only, with short timeouts.
    async fn describe_topic_from(
        &self,
        node: &Node,
        topic: &str,
        brokers: &[BrokerAddress],
    ) -> Result<Vec<PartitionInfo>, ServiceError> {
        let bootstrap = brokers
            .iter()
            .map(|b| b.address.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let timeouts: Properties = [
            ("request.timeout.ms", "3000"),
            ("default.api.timeout.ms", "8000"),
        ]
        .into_iter()
        .collect();
        let args = topic_command_via(
            bootstrap,
            "--describe",
            vec!["--topic".into(), topic.into()],
        );
        let out = self
            .tools
            .run_admin_on(node, TOPIC_COMMAND, &args, &timeouts)
            .await?;
        Ok(parse_describe(&out))
    }

    /// The tool's refusal is told apart on the node; any other failure stays a failure, with
    /// its output. 3.9's tool names the topic as `'Optional[<topic>]'`.
    async fn topic_exists(&self, topic: &str) -> Result<bool, ServiceError> {
        let node = self.tools.first_broker()?;
        let describe = self.tools.admin_command(
            TOPIC_COMMAND,
            &self.describe_args(topic),
            &Properties::new(),
        );
        let script = format!(
            "out=$({describe} 2>&1); rc=$?; \
             if [ $rc -eq 0 ]; then printf '%s\\n' \"$out\"; \
             elif printf '%s' \"$out\" | grep -qF -e {absent} -e {absent_39}; then echo {ABSENT}; \
             else printf '%s\\n' \"$out\" >&2; exit $rc; fi",
            absent = quote(&format!("Topic '{topic}' does not exist")),
            absent_39 = quote(&format!("Topic 'Optional[{topic}]' does not exist")),
        );
        let out = node
            .account()
            .with_timeout(Duration::from_secs(180))
            .ssh_output(&script)
            .await
            .ctx("kafka")?;
        Ok(topic_presence(&out).map_err(|mut e| {
            e.problem = format!("cannot tell whether topic {topic} exists: {}", e.problem);
            KafkaServiceError::tool_output_on(&node, e)
        })?)
    }

    async fn delete_topic(&self, topic: &str) -> Result<(), ServiceError> {
        let args = self.topic_command("--delete", vec!["--topic".into(), topic.into()]);
        self.tools.run_admin(TOPIC_COMMAND, &args).await.map(drop)
    }

    /// Nothing to wait for: each tool run retries until its brokers answer.
    async fn wait_registered(
        &self,
        _node: &Node,
        _broker: &BrokerAddress,
        _timeout: Duration,
    ) -> Result<(), ServiceError> {
        Ok(())
    }
}

/// `kafka-topics` arguments: `--bootstrap-server <bootstrap> <action> <args…>`.
fn topic_command_via(bootstrap: String, action: &str, mut args: Vec<String>) -> Vec<String> {
    let mut all = vec![
        "--bootstrap-server".to_string(),
        bootstrap,
        action.to_string(),
    ];
    all.append(&mut args);
    all
}

/// Reads [`CliControl::topic_exists`]'s output: the absent marker, or describe output with
/// at least one partition line.
fn topic_presence(out: &str) -> Result<bool, ToolOutputError> {
    if out.trim() == ABSENT {
        Ok(false)
    } else if parse_describe(out).is_empty() {
        Err(ToolOutputError::new(
            "kafka-topics --describe",
            "no partition lines",
            out,
        ))
    } else {
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_kafkas_answer_makes_a_topic_absent() {
        assert_eq!(topic_presence("DUCTTAPE-TOPIC-ABSENT\n"), Ok(false));
        let described = "Topic: t\tTopicId: x\tPartitionCount: 1\n\tTopic: t\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\n";
        assert_eq!(topic_presence(described), Ok(true));
        // A changed output format is an error, not an absent topic.
        assert!(topic_presence("Topic: t\tPartitionCount: 1\n").is_err());
        assert!(topic_presence("").is_err());
    }
}
