//! A consumer group of verifiable consumers followed across bounces.
//!
//! A worker's output file is emptied at each start, so a bounced consumer would take its
//! past with it: [`ConsumerGroup`] keeps each ended process's output as a member of its own
//! (`<node>#<n>`, the n-th process on that node), and a process killed without its
//! `shutdown_complete` is ended by hand in the checker (it holds nothing once dead).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ducttape_core::cluster::Node;
use ducttape_core::remote::StopOutcome;
use ducttape_services::verifiable::{
    delivery_report, DeliveryReport, GroupChecker, VerifiableConsumerService, VerifiableEvent,
    VerifiableOutput, VerifiableProducerService, WorkerOutput,
};
use ducttape_services::{Service, ServiceError};

/// The verifiable consumers of one group on one topic, their history kept across restarts.
pub struct ConsumerGroup {
    /// The consumers, one per node.
    pub service: Arc<VerifiableConsumerService>,
    topic: String,
    partitions: u32,
    state: Mutex<History>,
}

#[derive(Default)]
struct History {
    /// Outputs of processes that ended, by member name.
    ended: Vec<(String, VerifiableOutput)>,
    /// Processes started per node so far.
    started: BTreeMap<String, u32>,
    /// Nodes whose current process runs.
    running: BTreeMap<String, String>,
}

impl ConsumerGroup {
    /// Follows `service`'s consumers, reading `topic` of `partitions` partitions.
    pub fn new(service: Arc<VerifiableConsumerService>, topic: &str, partitions: u32) -> Self {
        Self {
            service,
            topic: topic.into(),
            partitions,
            state: Mutex::new(History::default()),
        }
    }

    fn history(&self) -> std::sync::MutexGuard<'_, History> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The consumer nodes.
    pub fn nodes(&self) -> Vec<Node> {
        self.service.nodes().to_vec()
    }

    /// The member name of `node`'s current (or last) process.
    pub fn member(&self, node: &Node) -> String {
        let n = self
            .history()
            .started
            .get(node.name())
            .copied()
            .unwrap_or(0);
        format!("{}#{n}", node.name())
    }

    /// Starts a new process on `node`: a new member.
    pub async fn start_node(&self, node: &Node) -> Result<(), ServiceError> {
        let member = {
            let mut h = self.history();
            let n = h.started.entry(node.name().to_string()).or_default();
            *n += 1;
            let member = format!("{}#{n}", node.name());
            h.running.insert(node.name().to_string(), member.clone());
            member
        };
        tracing::info!(%member, "starting consumer");
        self.service.start_node(node).await
    }

    /// Starts every node's process, one after the other.
    pub async fn start_all(&self) -> Result<(), ServiceError> {
        for node in self.nodes() {
            self.start_node(&node).await?;
        }
        Ok(())
    }

    /// Stops `node`'s process (SIGTERM and its own shutdown when `clean`, SIGKILL otherwise)
    /// and keeps its output.
    pub async fn stop_node(&self, node: &Node, clean: bool) -> Result<StopOutcome, ServiceError> {
        let outcome = self.service.stop_node(node, clean).await?;
        let output = self.service.output_so_far(node).await?;
        let mut h = self.history();
        if let Some(member) = h.running.remove(node.name()) {
            tracing::info!(%member, clean, ?outcome, "stopped consumer");
            h.ended.push((member, output));
        }
        Ok(outcome)
    }

    /// Stops every running process.
    pub async fn stop_all(&self, clean: bool) -> Result<(), ServiceError> {
        for node in self.nodes() {
            if self.history().running.contains_key(node.name()) {
                self.stop_node(&node, clean).await?;
            }
        }
        Ok(())
    }

    /// Every member's output so far (ended ones, then the running ones as printed so far),
    /// as [`WorkerOutput`]s named by member; malformed event lines are an error.
    pub async fn outputs(&self) -> Result<Vec<WorkerOutput>, ServiceError> {
        let (mut all, running) = {
            let h = self.history();
            (h.ended.clone(), h.running.clone())
        };
        for node in self.nodes() {
            if let Some(member) = running.get(node.name()) {
                all.push((member.clone(), self.service.output_so_far(&node).await?));
            }
        }
        let name = self.service.name().to_string();
        let outputs: Vec<WorkerOutput> = all
            .into_iter()
            .map(|(member, output)| (name.clone(), member, output))
            .collect();
        if let Some((_, member, output)) = outputs.iter().find(|(_, _, o)| !o.malformed.is_empty())
        {
            return Err(ServiceError::MalformedOutput {
                service: name,
                node: member.clone(),
                lines: output.malformed.clone(),
            });
        }
        Ok(outputs)
    }

    /// The group checker fed with every member's events so far; a member that ended without
    /// its `shutdown_complete` (killed) holds nothing.
    pub async fn checker(&self) -> Result<GroupChecker, ServiceError> {
        let outputs = self.outputs().await?;
        let running: Vec<String> = self.history().running.values().cloned().collect();
        Ok(checker_of(&self.topic, self.partitions, &outputs, &running))
    }

    /// Waits until `members` members are live and joined (each had its assignment after its
    /// last revocation), their assignments partition the topic, and
    /// the group consumed more than it had when called (kafkatest's `await_members` then
    /// `await_consumed_messages`); returns the checker at that moment.
    pub async fn wait_settled(
        &self,
        members: usize,
        timeout: Duration,
    ) -> Result<GroupChecker, ServiceError> {
        let before = self.checker().await?.consumed();
        ducttape_core::wait_until(
            &format!("{members} members holding every partition once, consuming past {before}"),
            timeout,
            Duration::from_secs(1),
            || async {
                let c = self.checker().await?;
                let settled = c.live_members().len() == members
                    && c.joined_members().len() == members
                    && c.assignment().is_clean()
                    && c.consumed() > before;
                Ok::<_, ServiceError>(settled.then_some(c))
            },
        )
        .await
        .map_err(|e| {
            let last = running_members(self);
            ServiceError::Usage {
                service: self.service.name().to_string(),
                detail: format!("{e}; {last}"),
            }
        })
    }

    /// Waits until the group has consumed `more` records beyond what it had when called
    /// (kafkatest's "the others go on" check after a member or broker fails).
    pub async fn wait_consumed_more(
        &self,
        more: u64,
        timeout: Duration,
    ) -> Result<(), ServiceError> {
        let target = self.checker().await?.consumed() + more;
        ducttape_core::wait_until(
            &format!("{more} more records consumed"),
            timeout,
            Duration::from_secs(1),
            || async { Ok::<_, ServiceError>(self.checker().await?.consumed() >= target) },
        )
        .await
        .map_err(|e| ServiceError::Usage {
            service: self.service.name().to_string(),
            detail: e.to_string(),
        })
    }

    /// The delivery report of `producers`' acknowledgements against every member's records.
    pub async fn delivery(
        &self,
        producers: &[&VerifiableProducerService],
    ) -> Result<DeliveryReport, ServiceError> {
        let mut acks = Vec::new();
        for producer in producers {
            for node in producer.nodes() {
                let output = producer.output_so_far(node).await?;
                acks.push((producer.name().to_string(), node.name().to_string(), output));
            }
        }
        delivery_report(&acks, &self.outputs().await?)
    }
}

/// The last assignment known, for an error message (no await: what the history holds).
fn running_members(group: &ConsumerGroup) -> String {
    let h = group.history();
    let members: Vec<&String> = h.running.values().collect();
    format!("running members {members:?}")
}

/// A [`GroupChecker`] for `topic` fed with `outputs` (member-named); members not in
/// `running` that printed no `shutdown_complete` were killed and hold nothing.
pub fn checker_of(
    topic: &str,
    partitions: u32,
    outputs: &[WorkerOutput],
    running: &[String],
) -> GroupChecker {
    let mut checker = GroupChecker::new(topic, partitions);
    checker.observe_all(
        outputs
            .iter()
            .map(|(_, member, o)| (member.as_str(), o.events.as_slice())),
    );
    for (_, member, output) in outputs {
        let shut = output
            .events
            .iter()
            .any(|e| matches!(e, VerifiableEvent::ShutdownComplete { .. }));
        if !shut && !running.contains(member) {
            checker.end(member);
        }
    }
    checker
}
