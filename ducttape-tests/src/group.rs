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
use ducttape_core::remote::{quote, StopOutcome};
use ducttape_services::verifiable::{
    delivery_report, DeliveryReport, GroupChecker, VerifiableConsumerService, VerifiableEvent,
    VerifiableOutput, VerifiableProducerService, WorkerOutput,
};
use ducttape_services::{KafkaService, Service, ServiceError};

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

    /// The nodes whose process was started and not yet stopped (it may have ended on its
    /// own: [`dead_nodes`](Self::dead_nodes)).
    pub fn running_nodes(&self) -> Vec<Node> {
        let h = self.history();
        self.nodes()
            .into_iter()
            .filter(|n| h.running.contains_key(n.name()))
            .collect()
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
    /// last revocation), their assignments partition the topic, balanced (no member empty
    /// while another holds several: a KIP-848 rebalance still moving partitions), and
    /// the group consumed more than it had when called (kafkatest's `await_members` then
    /// `await_consumed_messages`); returns the checker at that moment.
    pub async fn wait_settled(
        &self,
        members: usize,
        timeout: Duration,
    ) -> Result<GroupChecker, ServiceError> {
        wait_settled_together(&[self], members, timeout).await
    }

    /// The nodes whose process this group started and has not stopped, yet runs no more: it
    /// ended on its own (kafkatest's `dead_nodes`), as a fenced static member does.
    pub async fn dead_nodes(&self) -> Result<Vec<Node>, ServiceError> {
        let running: Vec<String> = self.history().running.keys().cloned().collect();
        let mut dead = Vec::new();
        for node in self.nodes() {
            if running.contains(&node.name().to_string())
                && self.service.pids(&node).await?.is_empty()
            {
                dead.push(node);
            }
        }
        Ok(dead)
    }

    /// The lines of `node`'s current (or last) process output holding `needle`: its log as
    /// printed, errors and stack traces included, not only the events.
    pub async fn output_lines_with(
        &self,
        node: &Node,
        needle: &str,
    ) -> Result<Vec<String>, ServiceError> {
        let text = node
            .account()
            .ssh_output(&format!(
                "grep -F -e {} {} 2>/dev/null; true",
                quote(needle),
                quote(&self.service.log_path())
            ))
            .await
            .map_err(|e| ServiceError::Usage {
                service: self.service.name().to_string(),
                detail: format!(
                    "reading {} on {}: {e}",
                    self.service.log_path(),
                    node.name()
                ),
            })?;
        Ok(text.lines().map(str::to_string).collect())
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

/// The checker over several groups' members as if they were one group (the same group id
/// under two services, say: the second claiming the first's static instance ids). Members are
/// named `<service>/<node>#<n>` when there is more than one group, `<node>#<n>` otherwise.
pub async fn merged_checker(groups: &[&ConsumerGroup]) -> Result<GroupChecker, ServiceError> {
    let Some(first) = groups.first() else {
        return Err(ServiceError::Usage {
            service: "consumer groups".into(),
            detail: "a checker over no group".into(),
        });
    };
    let mut outputs = Vec::new();
    let mut running = Vec::new();
    for group in groups {
        let rename = |member: &str| {
            if groups.len() > 1 {
                format!("{}/{member}", group.service.name())
            } else {
                member.to_string()
            }
        };
        outputs.extend(
            group
                .outputs()
                .await?
                .into_iter()
                .map(|(service, member, output)| (service, rename(&member), output)),
        );
        running.extend(group.history().running.values().map(|m| rename(m)));
    }
    Ok(checker_of(
        &first.topic,
        first.partitions,
        &outputs,
        &running,
    ))
}

/// [`ConsumerGroup::wait_settled`] over several groups' members together
/// ([`merged_checker`]).
pub async fn wait_settled_together(
    groups: &[&ConsumerGroup],
    members: usize,
    timeout: Duration,
) -> Result<GroupChecker, ServiceError> {
    let before = merged_checker(groups).await?.consumed();
    ducttape_core::wait_until(
        &format!(
            "{members} members holding every partition once, balanced, consuming past {before}"
        ),
        timeout,
        Duration::from_secs(1),
        || async {
            let c = merged_checker(groups).await?;
            let assignment = c.assignment();
            let settled = c.live_members().len() == members
                && c.joined_members().len() == members
                && assignment.is_clean()
                && assignment.is_balanced()
                && c.consumed() > before;
            Ok::<_, ServiceError>(settled.then_some(c))
        },
    )
    .await
    .map_err(|e| {
        let last: Vec<String> = groups.iter().map(|g| running_members(g)).collect();
        ServiceError::Usage {
            service: groups
                .iter()
                .map(|g| g.service.name().to_string())
                .collect::<Vec<_>>()
                .join("+"),
            detail: format!("{e}; {}", last.join("; ")),
        }
    })
}

/// A member of a consumer group as Kafka lists it (`kafka-consumer-groups --describe
/// --members --verbose`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaMember {
    /// `member.id` (the tool's `CONSUMER-ID`).
    pub member_id: String,
    /// `group.instance.id` (`None` for a dynamic member).
    pub instance_id: Option<String>,
    /// The client's address as the coordinator saw it, without the leading `/`.
    pub host: String,
    /// `client.id`.
    pub client_id: String,
    /// The partitions Kafka assigned the member, of one topic: the tool's `ASSIGNMENT` column
    /// (3.9: `(0,1)`; 4.x: `topic:0,1`), or `CURRENT-ASSIGNMENT` for a KIP-848 group (what the
    /// member owns now, not its target); `None` when the column is missing or does not read as
    /// its `#PARTITIONS` partitions.
    pub assignment: Option<Vec<u32>>,
}

/// The partitions of an assignment cell of one topic (`(0,1)`, `topic(0,1)`, `topic:0,1`, or
/// `-` for none), when they are `count` as the `#PARTITIONS` cell says.
fn assignment_cell(cell: &str, count: &str) -> Option<Vec<u32>> {
    let count: usize = count.parse().ok()?;
    let partitions: Vec<u32> = if cell == "-" {
        Vec::new()
    } else {
        let inner = match cell.split_once('(') {
            Some((_, rest)) => rest.strip_suffix(')')?,
            None => cell.split_once(':')?.1,
        };
        inner
            .split(',')
            .map(|p| p.trim().parse().ok())
            .collect::<Option<_>>()?
    };
    (partitions.len() == count).then_some(partitions)
}

const GROUP_COMMAND: &str = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand";

/// `group`'s members as Kafka lists them, by its own tool run on the first broker (it
/// describes classic groups and KIP-848 ones alike; empty while the group rebalances or has
/// no member).
pub async fn kafka_members(
    kafka: &KafkaService,
    group: &str,
) -> Result<Vec<KafkaMember>, ServiceError> {
    let args: Vec<String> = [
        "--bootstrap-server",
        &kafka.bootstrap_servers(),
        "--describe",
        "--group",
        group,
        "--members",
        "--verbose",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    let text = kafka.run_admin_tool(GROUP_COMMAND, &args).await?;
    let cell =
        |row: &BTreeMap<String, String>, column: &str| row.get(column).cloned().unwrap_or_default();
    Ok(tool_table(&text)
        .iter()
        .map(|row| KafkaMember {
            member_id: cell(row, "CONSUMER-ID"),
            instance_id: Some(cell(row, "GROUP-INSTANCE-ID")).filter(|i| !i.is_empty() && i != "-"),
            host: cell(row, "HOST").trim_start_matches('/').to_string(),
            client_id: cell(row, "CLIENT-ID"),
            assignment: row
                .get("ASSIGNMENT")
                .or_else(|| row.get("CURRENT-ASSIGNMENT"))
                .and_then(|a| assignment_cell(a, &cell(row, "#PARTITIONS"))),
        })
        .collect())
}

/// The rows of a `kafka-consumer-groups` table: the lines under the header line that starts
/// with `GROUP`, split on whitespace, keyed by the header's column names.
pub fn tool_table(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("GROUP "));
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let columns: Vec<&str> = header.split_whitespace().collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            columns
                .iter()
                .zip(l.split_whitespace())
                .map(|(c, v)| ((*c).to_string(), v.to_string()))
                .collect()
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_cells_read_as_their_partition_count() {
        assert_eq!(assignment_cell("(0,1,5)", "3"), Some(vec![0, 1, 5]));
        assert_eq!(assignment_cell("test_topic(2)", "1"), Some(vec![2]));
        assert_eq!(assignment_cell("test_topic:0,1", "2"), Some(vec![0, 1]));
        assert_eq!(assignment_cell("-", "0"), Some(vec![]));
        // A cell that disagrees with its count, or does not read, is no assignment.
        assert_eq!(assignment_cell("(0,1)", "3"), None);
        assert_eq!(assignment_cell("test_topic:0;other:1", "2"), None);
        assert_eq!(assignment_cell("(0,1)", "two"), None);
    }
}
