//! Partition reassignment, two ways: a [`Reassignment`] (the replicas each partition should
//! end with, and optionally the log directory of each replica) is executed with Kafka's own
//! `kafka-reassign-partitions` tool, optionally throttled (`--throttle`, bytes/s), or through
//! the admin API (`AlterPartitionReassignments`, [`KafkaService::alter_reassignment`]); either
//! way it is watched through the cluster's metadata until the partitions carry exactly the
//! requested replicas, all in sync, and verified with the tool (`--verify`, which also clears
//! the throttles it set). The controller's list of moves in progress is
//! [`KafkaService::ongoing_reassignments`].

use std::collections::BTreeMap;
use std::time::Duration;

use ducttape_core::cluster::Node;

use super::admin::OngoingReassignment;
use super::error::KafkaServiceError;
use super::service::KafkaService;
use super::tools::ToolOutputError;
use super::topics::PartitionInfo;
use crate::error::{ResultExt, ServiceError};
use crate::properties::Properties;

/// The tool's main class (kafka-tools, 3.7 and later).
const TOOL: &str = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand";
/// Where the reassignment JSON is written on the node that runs the tool.
const JSON_FILE: &str = "/tmp/ducttape-reassignment.json";

/// The replicas each listed partition should end with, in order (the first is the preferred
/// leader).
///
/// ```
/// use ducttape_services::kafka::Reassignment;
/// let r = Reassignment::new().partition("t", 0, &[2, 3]);
/// let json: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
/// assert_eq!(json, serde_json::json!({"version": 1, "partitions": [{"topic": "t", "partition": 0, "replicas": [2, 3]}]}));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reassignment {
    targets: BTreeMap<(String, u32), Vec<u32>>,
    /// The log directory of each requested replica, where one is asked for (JBOD).
    dirs: BTreeMap<(String, u32), Vec<String>>,
}

impl Reassignment {
    /// An empty reassignment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves `topic`-`partition` to `replicas`.
    pub fn partition(mut self, topic: &str, partition: u32, replicas: &[u32]) -> Self {
        self.targets
            .insert((topic.to_string(), partition), replicas.to_vec());
        self
    }

    /// Moves `topic`-`partition` to `replicas`, each into the log directory at the same place
    /// in `dirs` (`"any"`: wherever the broker likes) — the tool's `log_dirs`, which also
    /// moves a replica between the directories of a broker it stays on (JBOD).
    ///
    /// ```
    /// use ducttape_services::kafka::Reassignment;
    /// let r = Reassignment::new().partition_in_dirs("t", 0, &[2, 3], &["/d2", "any"]);
    /// let json: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
    /// assert_eq!(json["partitions"][0]["log_dirs"], serde_json::json!(["/d2", "any"]));
    /// ```
    pub fn partition_in_dirs(
        mut self,
        topic: &str,
        partition: u32,
        replicas: &[u32],
        dirs: &[&str],
    ) -> Self {
        self.dirs.insert(
            (topic.to_string(), partition),
            dirs.iter().map(ToString::to_string).collect(),
        );
        self.partition(topic, partition, replicas)
    }

    /// The requested log directory of each replica by (topic, partition), where one was
    /// asked for.
    pub fn dirs(&self) -> &BTreeMap<(String, u32), Vec<String>> {
        &self.dirs
    }

    /// The requested replicas by (topic, partition).
    pub fn targets(&self) -> &BTreeMap<(String, u32), Vec<u32>> {
        &self.targets
    }

    /// The tool's `--reassignment-json-file` content.
    pub fn json(&self) -> String {
        let partitions: Vec<serde_json::Value> = self
            .targets
            .iter()
            .map(|(key, replicas)| {
                let (topic, partition) = key;
                let mut p = serde_json::json!({"topic": topic, "partition": partition, "replicas": replicas});
                if let Some(dirs) = self.dirs.get(key) {
                    p["log_dirs"] = serde_json::json!(dirs);
                }
                p
            })
            .collect();
        serde_json::json!({"version": 1, "partitions": partitions}).to_string()
    }

    /// The partitions of `described` (one topic's partitions as Kafka describes them) that do
    /// not yet carry exactly their requested replicas, all in sync, each as
    /// `topic-p: replicas […] isr […], requested […]` and what is wrong, naming the brokers
    /// (`broker 4 not a replica`, `broker 2 not in sync`, `in another order`). Partitions of
    /// the request that Kafka did not describe are listed too.
    pub fn unfinished(&self, described: &[PartitionInfo]) -> Vec<String> {
        self.targets
            .iter()
            .filter_map(|((topic, partition), want)| {
                let found = described
                    .iter()
                    .find(|p| &p.topic == topic && p.partition == *partition);
                match found {
                    Some(p) if &p.replicas == want && want.iter().all(|r| p.isr.contains(r)) => {
                        None
                    }
                    Some(p) => {
                        let mut wrong: Vec<String> = want
                            .iter()
                            .filter(|r| !p.replicas.contains(r))
                            .map(|r| format!("broker {r} not a replica"))
                            .collect();
                        wrong.extend(
                            p.replicas
                                .iter()
                                .filter(|r| !want.contains(r))
                                .map(|r| format!("broker {r} not requested")),
                        );
                        wrong.extend(
                            want.iter()
                                .filter(|r| p.replicas.contains(r) && !p.isr.contains(r))
                                .map(|r| format!("broker {r} not in sync")),
                        );
                        if wrong.is_empty() {
                            wrong.push("in another order".into());
                        }
                        Some(format!(
                            "{topic}-{partition}: replicas {:?} isr {:?}, requested {want:?} ({})",
                            p.replicas,
                            p.isr,
                            wrong.join(", ")
                        ))
                    }
                    None => Some(format!("{topic}-{partition}: not described")),
                }
            })
            .collect()
    }

    fn topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self.targets.keys().map(|(t, _)| t.clone()).collect();
        topics.dedup();
        topics
    }
}

/// What `kafka-reassign-partitions --verify` says of a reassignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReassignmentStatus {
    /// Every partition's reassignment is complete (the tool then clears the throttles).
    Complete,
    /// Some are still moving: their lines.
    InProgress(Vec<String>),
    /// Some failed: their lines.
    Failed(Vec<String>),
}

/// Reads `--verify` output: per-partition lines "Reassignment of partition t-0 is completed."
/// / "… is still in progress." / "… failed …", and per-replica lines of log-directory moves
/// ("Reassignment of replica t-0-2 completed successfully." / "… is still in progress.";
/// "Partition t-0 on broker 2 is being moved to log dir /a instead of /b." and the tool's
/// other "Partition …" lines are failures). Output with no such line at all is an error (a
/// changed format must not read as complete).
pub fn parse_verify(out: &str) -> Result<ReassignmentStatus, ToolOutputError> {
    const TOOL: &str = "kafka-reassign-partitions --verify";
    let lines: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.starts_with("Reassignment of partition")
                || l.starts_with("Reassignment of replica")
                || (l.starts_with("Partition ") && l.contains(" log dir"))
        })
        .collect();
    if lines.is_empty() {
        return Err(ToolOutputError::new(TOOL, "no partition lines", out));
    }
    let failed: Vec<String> = lines
        .iter()
        .filter(|l| l.contains("failed") || l.starts_with("Partition "))
        .map(|l| l.to_string())
        .collect();
    let moving: Vec<String> = lines
        .iter()
        .filter(|l| l.contains("still in progress"))
        .map(|l| l.to_string())
        .collect();
    let unknown: Vec<&&str> = lines
        .iter()
        .filter(|l| !l.contains("is completed") && !l.contains("completed successfully"))
        .filter(|l| !l.contains("failed") && !l.starts_with("Partition "))
        .filter(|l| !l.contains("still in progress"))
        .collect();
    if !unknown.is_empty() {
        return Err(ToolOutputError::new(TOOL, "unknown partition status", out));
    }
    Ok(if !failed.is_empty() {
        ReassignmentStatus::Failed(failed)
    } else if !moving.is_empty() {
        ReassignmentStatus::InProgress(moving)
    } else {
        ReassignmentStatus::Complete
    })
}

impl KafkaService {
    /// Starts `reassignment` with `kafka-reassign-partitions --execute` (run on the first
    /// broker as the admin user), throttled to `throttle` bytes/s of replication per broker
    /// when given. Returns the tool's output; a refusal (e.g. an unknown broker id in KRaft)
    /// is an error.
    pub async fn execute_reassignment(
        &self,
        reassignment: &Reassignment,
        throttle: Option<u64>,
    ) -> Result<String, ServiceError> {
        let mut args = vec!["--execute".to_string()];
        if let Some(rate) = throttle {
            args.extend(["--throttle".to_string(), rate.to_string()]);
        }
        tracing::info!(json = %reassignment.json(), ?throttle, "executing a reassignment");
        self.reassign_tool(reassignment, args).await
    }

    /// Changes the throttle of `reassignment`, already executed and still moving, to
    /// `throttle` bytes/s (`--execute --additional --throttle`, the tool's way).
    pub async fn change_throttle(
        &self,
        reassignment: &Reassignment,
        throttle: u64,
    ) -> Result<String, ServiceError> {
        let args = [
            "--execute",
            "--additional",
            "--throttle",
            &throttle.to_string(),
        ]
        .map(ToString::to_string)
        .to_vec();
        tracing::info!(throttle, "changing a reassignment's throttle");
        self.reassign_tool(reassignment, args).await
    }

    /// Starts `reassignment` through the admin API (`AlterPartitionReassignments`, sent to
    /// the controller from the test process), not the tool: Kafka's own checks only (the tool
    /// also refuses brokers that are not alive; the KRaft controller takes any registered
    /// broker, fenced or not). No throttle (set one with `kafka-configs`), no log directories
    /// (those are the tool's, through `AlterReplicaLogDirs` to each broker).
    pub async fn alter_reassignment(
        &self,
        reassignment: &Reassignment,
    ) -> Result<(), ServiceError> {
        if !reassignment.dirs.is_empty() {
            return Err(ServiceError::Usage {
                service: "kafka".into(),
                detail: "log directories are moved with kafka-reassign-partitions \
                         (execute_reassignment), not the reassignment admin API"
                    .into(),
            });
        }
        tracing::info!(json = %reassignment.json(), "altering partition reassignments");
        let targets = reassignment
            .targets
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        self.control.alter_reassignments(&targets).await
    }

    /// Cancels the ongoing moves of `reassignment`'s partitions through the admin API: each
    /// goes back to the replicas it had.
    pub async fn cancel_reassignment(
        &self,
        reassignment: &Reassignment,
    ) -> Result<(), ServiceError> {
        let targets = reassignment
            .targets
            .keys()
            .map(|k| (k.clone(), None))
            .collect();
        self.control.alter_reassignments(&targets).await
    }

    /// The partition moves in progress, as the controller lists them
    /// (`ListPartitionReassignments`).
    pub async fn ongoing_reassignments(&self) -> Result<Vec<OngoingReassignment>, ServiceError> {
        self.control.ongoing_reassignments().await
    }

    /// Runs `kafka-reassign-partitions --verify` for `reassignment`. When it is complete the
    /// tool also removes the throttles `--execute` set.
    pub async fn verify_reassignment(
        &self,
        reassignment: &Reassignment,
    ) -> Result<ReassignmentStatus, ServiceError> {
        let out = self
            .reassign_tool(reassignment, vec!["--verify".to_string()])
            .await?;
        Ok(parse_verify(&out).map_err(KafkaServiceError::from)?)
    }

    /// Waits until every partition of `reassignment` carries exactly its requested replicas,
    /// all in the ISR, as the cluster's metadata says (asked every 200 ms through
    /// [`describe_topic`](Self::describe_topic)); returns how long that took. A timeout names
    /// the partitions still unfinished and what Kafka last said of them.
    pub async fn wait_reassigned(
        &self,
        reassignment: &Reassignment,
        timeout: Duration,
    ) -> Result<Duration, ServiceError> {
        let started = tokio::time::Instant::now();
        loop {
            let mut described = Vec::new();
            let mut error = None;
            for topic in reassignment.topics() {
                match self.describe_topic(&topic).await {
                    Ok(parts) => described.extend(parts),
                    Err(e) => error = Some(e.to_string()),
                }
            }
            let last = match error {
                Some(e) => vec![e],
                None => reassignment.unfinished(&described),
            };
            if last.is_empty() {
                let took = started.elapsed();
                tracing::info!(?took, "reassignment complete in the metadata");
                return Ok(took);
            }
            if started.elapsed() >= timeout {
                return Err(ServiceError::Usage {
                    service: "kafka".into(),
                    detail: format!(
                        "reassignment unfinished after {timeout:?}: {}",
                        last.join("; ")
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Writes the JSON on the first broker and runs the tool with `args`.
    async fn reassign_tool(
        &self,
        reassignment: &Reassignment,
        mut args: Vec<String>,
    ) -> Result<String, ServiceError> {
        let node: Node = self
            .brokers()
            .into_iter()
            .next()
            .ok_or_else(|| ServiceError::Usage {
                service: "kafka".into(),
                detail: "no broker to run kafka-reassign-partitions on".into(),
            })?;
        node.account()
            .create_file(JSON_FILE, reassignment.json())
            .await
            .ctx("kafka")?;
        let mut all = vec![
            "--bootstrap-server".to_string(),
            self.bootstrap_servers(),
            "--reassignment-json-file".into(),
            JSON_FILE.into(),
        ];
        all.append(&mut args);
        self.run_admin_tool_on(&node, TOOL, &all, &Properties::new())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_output_is_read_per_partition() {
        let done = "Status of partition reassignment:\nReassignment of partition t-0 is completed.\n\nClearing broker-level throttles on brokers 1,2,3\nClearing topic-level throttles on topic t\n";
        assert_eq!(parse_verify(done), Ok(ReassignmentStatus::Complete));
        let moving = "Status of partition reassignment:\nReassignment of partition t-0 is completed.\nReassignment of partition t-1 is still in progress.\n";
        assert_eq!(
            parse_verify(moving),
            Ok(ReassignmentStatus::InProgress(vec![
                "Reassignment of partition t-1 is still in progress.".into()
            ]))
        );
        assert!(matches!(
            parse_verify("Reassignment of partition t-0 failed.\n"),
            Ok(ReassignmentStatus::Failed(_))
        ));
        let dirs = "Reassignment of partition t-0 is completed.\n\
            Reassignment of replica t-0-2 completed successfully.\n";
        assert_eq!(parse_verify(dirs), Ok(ReassignmentStatus::Complete));
        let moving = "Reassignment of partition t-0 is completed.\n\
            Reassignment of replica t-0-2 is still in progress.\n";
        assert!(matches!(
            parse_verify(moving),
            Ok(ReassignmentStatus::InProgress(_))
        ));
        let elsewhere = "Partition t-0 on broker 2 is being moved to log dir /a instead of /b.\n";
        assert!(matches!(
            parse_verify(elsewhere),
            Ok(ReassignmentStatus::Failed(_))
        ));
        assert!(parse_verify("Status of partition reassignment:\n").is_err());
        assert!(parse_verify("Reassignment of partition t-0 is somewhere.\n").is_err());
    }

    #[test]
    fn unfinished_until_exact_replicas_all_in_sync() {
        let r = Reassignment::new().partition("t", 0, &[2, 3]);
        let p = |replicas: Vec<u32>, isr: Vec<u32>| PartitionInfo {
            topic: "t".into(),
            partition: 0,
            leader: Some(2),
            replicas,
            isr,
        };
        assert!(r.unfinished(&[p(vec![2, 3], vec![3, 2])]).is_empty());
        // Moving: old replica 1 still listed; the new one not yet in sync; wrong order.
        let named = |replicas, isr| r.unfinished(&[p(replicas, isr)]).join("");
        assert!(named(vec![2, 3, 1], vec![1, 2, 3]).contains("broker 1 not requested"));
        assert!(named(vec![2, 3], vec![2]).contains("broker 3 not in sync"));
        assert!(named(vec![3, 2], vec![2, 3]).contains("in another order"));
        assert!(named(vec![1, 2], vec![1, 2]).contains("broker 3 not a replica"));
        assert_eq!(r.unfinished(&[]), vec!["t-0: not described".to_string()]);
    }
}
