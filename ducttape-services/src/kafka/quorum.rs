//! The KRaft metadata quorum as Kafka reports it — its leader, voters and observers
//! (`kafka-metadata-quorum describe --status`) — its reconfiguration (KIP-853:
//! `add-controller`, `remove-controller`), and the metadata log's files on a node (segments
//! and snapshots: what kafkatest's `snapshot_test.py` waits for).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ducttape_core::cluster::Node;
use ducttape_core::remote::quote;
use ducttape_core::wait_until;

use super::config::{Quorum, CONTROLLER_PORT};
use super::error::KafkaServiceError;
use super::service::{KafkaService, CONFIG};
use super::tools::ToolOutputError;
use crate::error::{ResultExt, ServiceError};
use crate::properties::Properties;
use crate::service::ServiceExt;

/// `kafka-metadata-quorum`'s main class.
const METADATA_QUORUM: &str = "org.apache.kafka.tools.MetadataQuorumCommand";

/// The metadata log's partition directory under the metadata log dir.
const METADATA_PARTITION: &str = "__cluster_metadata-0";

/// A wait on `node` that ran out after `after`.
fn timed_out(node: &Node, after: Duration, e: &ducttape_core::WaitError) -> ServiceError {
    ServiceError::Timeout {
        service: "kafka".into(),
        node: node.name().to_string(),
        after,
        detail: e.to_string(),
    }
}

/// One member of the quorum as `describe --status` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QuorumMember {
    /// Its `node.id`.
    pub id: u32,
    /// The id of its metadata log directory (KIP-853; `None` before 3.9 and for a static
    /// quorum's voters): `remove-controller` needs it.
    pub directory_id: Option<String>,
}

/// The quorum as `kafka-metadata-quorum describe --status` reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QuorumStatus {
    /// `LeaderId` (`None` for -1: no leader).
    pub leader: Option<u32>,
    /// `CurrentVoters`.
    pub voters: Vec<QuorumMember>,
    /// `CurrentObservers`: brokers, and controllers that are not voters.
    pub observers: Vec<QuorumMember>,
}

impl QuorumStatus {
    /// Parses `describe --status` output; anything missing or malformed is an error quoting
    /// the output.
    pub fn parse(out: &str) -> Result<Self, ToolOutputError> {
        Self::parse_fields(out).map_err(|problem| {
            ToolOutputError::new("kafka-metadata-quorum describe --status", problem, out)
        })
    }

    fn parse_fields(out: &str) -> Result<Self, String> {
        let field = |name: &str| {
            out.lines()
                .find_map(|l| l.trim().strip_prefix(name))
                .map(str::trim)
                .ok_or_else(|| format!("no {name} line in:\n{out}"))
        };
        let leader = field("LeaderId:")?;
        let leader: i64 = leader
            .parse()
            .map_err(|e| format!("LeaderId {leader:?}: {e}"))?;
        Ok(QuorumStatus {
            leader: u32::try_from(leader).ok(),
            voters: members(field("CurrentVoters:")?)?,
            observers: members(field("CurrentObservers:")?)?,
        })
    }

    /// The voters' ids.
    pub fn voter_ids(&self) -> BTreeSet<u32> {
        self.voters.iter().map(|m| m.id).collect()
    }

    /// The observers' ids.
    pub fn observer_ids(&self) -> BTreeSet<u32> {
        self.observers.iter().map(|m| m.id).collect()
    }

    /// Why it is not led by `leader` with exactly `voters` and `observers`, or `None` when
    /// it is (kafkatest's `check_describe_quorum_output`).
    pub fn mismatch(
        &self,
        leader: u32,
        voters: &BTreeSet<u32>,
        observers: &BTreeSet<u32>,
    ) -> Option<String> {
        let seen = (self.leader, self.voter_ids(), self.observer_ids());
        (seen != (Some(leader), voters.clone(), observers.clone())).then(|| {
            format!(
                "expected leader {leader}, voters {voters:?}, observers {observers:?}; \
                 Kafka says leader {:?}, voters {:?}, observers {:?}",
                seen.0, seen.1, seen.2
            )
        })
    }
}

/// `[{"id": 1, "directoryId": "…", …}, …]` (3.9+) or `[1, 2]` (before).
fn members(list: &str) -> Result<Vec<QuorumMember>, String> {
    let value: serde_json::Value =
        serde_json::from_str(list).map_err(|e| format!("{list:?}: {e}"))?;
    let items = value
        .as_array()
        .ok_or_else(|| format!("{list:?} is not a list"))?;
    items
        .iter()
        .map(|item| {
            let id = item.get("id").unwrap_or(item);
            let id = id
                .as_u64()
                .and_then(|id| u32::try_from(id).ok())
                .ok_or_else(|| format!("no node id in {item} of {list:?}"))?;
            let directory_id = item
                .get("directoryId")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string);
            Ok(QuorumMember { id, directory_id })
        })
        .collect()
}

/// A snapshot of the metadata log, named `<end offset>-<epoch>.checkpoint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct SnapshotId {
    /// The offset it covers the log up to (exclusive).
    pub end_offset: u64,
    /// The leader epoch of the record before it.
    pub epoch: u32,
}

/// The files of a node's metadata log (`__cluster_metadata-0`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MetadataLogFiles {
    /// Where they are.
    pub dir: String,
    /// The base offsets of its segments (`<offset>.log`), in order.
    pub segments: Vec<u64>,
    /// Its snapshots, in order. Formatting a dynamic quorum writes one at offset 0 (the
    /// bootstrap voter set); the ones Kafka generates from the log have a higher offset.
    pub snapshots: Vec<SnapshotId>,
}

impl MetadataLogFiles {
    /// Reads a directory listing (one file name a line; other files are left out).
    pub fn parse(dir: &str, listing: &str) -> Result<Self, ToolOutputError> {
        Self::parse_listing(dir, listing)
            .map_err(|problem| ToolOutputError::new("ls of the metadata log", problem, listing))
    }

    fn parse_listing(dir: &str, listing: &str) -> Result<Self, String> {
        let mut files = MetadataLogFiles {
            dir: dir.to_string(),
            ..Default::default()
        };
        for name in listing.lines().map(str::trim) {
            if let Some(offset) = name.strip_suffix(".log") {
                let offset = offset
                    .parse()
                    .map_err(|e| format!("segment {name} in {dir}: {e}"))?;
                files.segments.push(offset);
            } else if let Some(id) = name.strip_suffix(".checkpoint") {
                let (offset, epoch) = id
                    .split_once('-')
                    .ok_or_else(|| format!("snapshot {name} in {dir}: no <offset>-<epoch>"))?;
                let bad = |e: std::num::ParseIntError| format!("snapshot {name} in {dir}: {e}");
                files.snapshots.push(SnapshotId {
                    end_offset: offset.parse().map_err(bad)?,
                    epoch: epoch.parse().map_err(bad)?,
                });
            }
        }
        files.segments.sort_unstable();
        files.snapshots.sort_unstable();
        Ok(files)
    }

    /// The newest snapshot Kafka generated from the log (end offset above 0).
    pub fn generated_snapshot(&self) -> Option<SnapshotId> {
        self.snapshots
            .iter()
            .rev()
            .find(|s| s.end_offset > 0)
            .copied()
    }

    /// Whether the log's first segment (base offset 0) was deleted: a node that joins now
    /// cannot replay the log from its start and must load a snapshot.
    pub fn first_segment_deleted(&self) -> bool {
        !self.segments.contains(&0)
    }

    /// The path of `snapshot`.
    pub fn path(&self, snapshot: SnapshotId) -> String {
        format!(
            "{}/{:020}-{:010}.checkpoint",
            self.dir, snapshot.end_offset, snapshot.epoch
        )
    }
}

impl KafkaService {
    /// The quorum as `kafka-metadata-quorum describe --status`, run on `observer` against
    /// the brokers as the admin user, reports it.
    pub async fn describe_quorum(&self, observer: &Node) -> Result<QuorumStatus, ServiceError> {
        let args = [
            "--bootstrap-server".to_string(),
            self.bootstrap_servers(),
            "describe".into(),
            "--status".into(),
        ];
        let out = self
            .tools()
            .run_admin_on(observer, METADATA_QUORUM, &args, &Properties::new())
            .await?;
        QuorumStatus::parse(&out).map_err(|e| KafkaServiceError::tool_output_on(observer, e).into())
    }

    /// Waits (up to `timeout`) until the quorum, as [`describe_quorum`](Self::describe_quorum)
    /// on `observer` reports it, is led by `leader` with exactly `voters` and `observers`
    /// (node ids); returns it. The error says what Kafka last reported.
    pub async fn wait_for_quorum(
        &self,
        observer: &Node,
        leader: u32,
        voters: &BTreeSet<u32>,
        observers: &BTreeSet<u32>,
        timeout: Duration,
    ) -> Result<QuorumStatus, ServiceError> {
        let what = format!(
            "the quorum is led by {leader} with voters {voters:?} and observers {observers:?}"
        );
        wait_until(&what, timeout, Duration::from_secs(1), || async {
            let status = self
                .describe_quorum(observer)
                .await
                .map_err(|e| e.to_string())?;
            match status.mismatch(leader, voters, observers) {
                None => Ok(Some(status)),
                Some(mismatch) => Err(mismatch),
            }
        })
        .await
        .map_err(|e| timed_out(observer, timeout, &e))
    }

    /// `host:9093,…` of every node with a controller role.
    pub fn bootstrap_controllers(&self) -> String {
        self.nodes
            .iter()
            .zip(&self.roles)
            .filter(|(_, (_, role))| role.is_controller())
            .map(|(n, _)| format!("{}:{CONTROLLER_PORT}", n.address()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Makes the controller on `node` a voter: `kafka-metadata-quorum add-controller`, run on
    /// that node with its own config as `--command-config` (its id, metadata directory and
    /// controller listener come from there, as kafkatest's `add_controller` writes them). The
    /// controller must run and have caught up as an observer. Returns the tool's output.
    pub async fn add_controller(&self, node: &Node) -> Result<String, ServiceError> {
        self.controller_role(node)?;
        let args = [
            "--bootstrap-controller".to_string(),
            self.bootstrap_controllers(),
            "--command-config".into(),
            CONFIG.into(),
            "add-controller".into(),
        ];
        tracing::info!(node = node.name(), "adding a controller to the quorum");
        self.tools().run_on(node, METADATA_QUORUM, &args).await
    }

    /// Removes voter `id` (its metadata directory `directory_id`, as
    /// [`describe_quorum`](Self::describe_quorum) lists it) from the quorum:
    /// `kafka-metadata-quorum remove-controller`, run on `on`. Returns the tool's output.
    pub async fn remove_controller(
        &self,
        on: &Node,
        id: u32,
        directory_id: &str,
    ) -> Result<String, ServiceError> {
        let args = [
            "--bootstrap-controller".to_string(),
            self.bootstrap_controllers(),
            "remove-controller".into(),
            "--controller-id".into(),
            id.to_string(),
            "--controller-directory-id".into(),
            directory_id.to_string(),
        ];
        tracing::info!(id, directory_id, "removing a controller from the quorum");
        self.tools().run_on(on, METADATA_QUORUM, &args).await
    }

    /// A usage error unless `node` runs a KRaft controller.
    fn controller_role(&self, node: &Node) -> Result<(), ServiceError> {
        let index = self.index(node)?;
        if matches!(self.quorum, Quorum::Zookeeper { .. }) || !self.roles[index].1.is_controller() {
            return Err(ServiceError::Usage {
                service: "kafka".into(),
                detail: format!("{} runs no KRaft controller", node.name()),
            });
        }
        Ok(())
    }

    /// The metadata log directory of node `index`: `metadata.log.dir`, else the first of
    /// `log.dirs` (Kafka's own rule).
    pub fn metadata_log_dir(&self, index: usize) -> String {
        let config = self.config(index);
        config
            .get("metadata.log.dir")
            .or_else(|| config.get("log.dirs").and_then(|d| d.split(',').next()))
            .unwrap_or(super::config::DATA_DIR)
            .to_string()
    }

    /// The files of `node`'s metadata log now (none on a node whose log is gone).
    pub async fn metadata_log_files(&self, node: &Node) -> Result<MetadataLogFiles, ServiceError> {
        let dir = format!(
            "{}/{METADATA_PARTITION}",
            self.metadata_log_dir(self.index(node)?)
        );
        let cmd = format!("if [ -d {0} ]; then ls -1 {0}; fi", quote(&dir));
        let listing = node.account().ssh_output(&cmd).await.ctx("kafka")?;
        MetadataLogFiles::parse(&dir, &listing)
            .map_err(|e| KafkaServiceError::tool_output_on(node, e).into())
    }

    /// Waits (up to `timeout`) until `node`'s metadata log has a snapshot Kafka generated and
    /// its first segment is deleted (kafkatest's `wait_for_snapshot` and
    /// `wait_for_log_segment_delete`); returns its files.
    pub async fn wait_for_snapshot(
        &self,
        node: &Node,
        timeout: Duration,
    ) -> Result<MetadataLogFiles, ServiceError> {
        let what = format!(
            "{} has a generated metadata snapshot and its first metadata segment is deleted",
            node.name()
        );
        wait_until(&what, timeout, Duration::from_secs(1), || async {
            let files = self
                .metadata_log_files(node)
                .await
                .map_err(|e| e.to_string())?;
            if files.generated_snapshot().is_some() && files.first_segment_deleted() {
                Ok(Some(files))
            } else {
                Err(format!("its metadata log files: {files:?}"))
            }
        })
        .await
        .map_err(|e| timed_out(node, timeout, &e))
    }
}

/// The topics (name → partition numbers) in a `DumpLogSegments --cluster-metadata-decoder`
/// dump of a metadata snapshot: its `TOPIC_RECORD`s and `PARTITION_RECORD`s (each a JSON
/// `payload: {…}`). A partition of a topic the dump does not name is an error.
pub fn topics_in_dump(dump: &str) -> Result<BTreeMap<String, BTreeSet<u32>>, ToolOutputError> {
    topics_of_dump(dump).map_err(|problem| {
        ToolOutputError::new("kafka-dump-log --cluster-metadata-decoder", problem, dump)
    })
}

fn topics_of_dump(dump: &str) -> Result<BTreeMap<String, BTreeSet<u32>>, String> {
    let mut names = BTreeMap::new();
    let mut partitions: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    for line in dump.lines() {
        let Some((_, payload)) = line.split_once("payload: ") else {
            continue;
        };
        let record: serde_json::Value =
            serde_json::from_str(payload.trim()).map_err(|e| format!("{payload:?}: {e}"))?;
        let data = &record["data"];
        let text = |key: &str| {
            data[key]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("no {key} in {record}"))
        };
        match record["type"].as_str() {
            Some("TOPIC_RECORD") => {
                names.insert(text("topicId")?, text("name")?);
            }
            Some("PARTITION_RECORD") => {
                let id = data["partitionId"]
                    .as_u64()
                    .and_then(|p| u32::try_from(p).ok())
                    .ok_or_else(|| format!("no partitionId in {record}"))?;
                partitions.entry(text("topicId")?).or_default().insert(id);
            }
            _ => {}
        }
    }
    let mut topics: BTreeMap<String, BTreeSet<u32>> = names
        .values()
        .map(|n| (n.clone(), BTreeSet::new()))
        .collect();
    for (topic_id, ids) in partitions {
        let name = names.get(&topic_id).ok_or_else(|| {
            format!("partitions {ids:?} of topic id {topic_id}, which no TOPIC_RECORD names")
        })?;
        topics.insert(name.clone(), ids);
    }
    Ok(topics)
}

impl KafkaService {
    /// The main class of `kafka-dump-log` in the install the tools run from: in core
    /// (`kafka.tools`) until Kafka 4.3 moved it to kafka-tools (KAFKA-14579).
    pub fn dump_log_segments_class(&self) -> &'static str {
        if self.tools().version().at_least(4, 3) {
            "org.apache.kafka.tools.DumpLogSegments"
        } else {
            "kafka.tools.DumpLogSegments"
        }
    }

    /// The topics (name → partition numbers) in metadata snapshot `snapshot` of `files`, on
    /// `node`, as `kafka-dump-log --cluster-metadata-decoder` reads it: what that node's
    /// metadata held at the snapshot's offset.
    pub async fn snapshot_topics(
        &self,
        node: &Node,
        files: &MetadataLogFiles,
        snapshot: SnapshotId,
    ) -> Result<BTreeMap<String, BTreeSet<u32>>, ServiceError> {
        let args = [
            "--cluster-metadata-decoder".to_string(),
            "--files".into(),
            files.path(snapshot),
        ];
        let dump = self
            .tools()
            .run_on(node, self.dump_log_segments_class(), &args)
            .await?;
        topics_in_dump(&dump).map_err(|e| KafkaServiceError::tool_output_on(node, e).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka 4.4's output, captured.
    const STATUS: &str = "ClusterId:              P4sL0vJHTaWc0a4e3bq8Qg
LeaderId:               1
LeaderEpoch:            1
HighWatermark:          262
MaxFollowerLag:         0
MaxFollowerLagTimeMs:   0
CurrentVoters:          [{\"id\": 1, \"directoryId\": \"pJQHBm3fT0G5H3U8TbqG5A\", \"endpoints\": [\"CONTROLLER://10.223.1.11:9093\"]}]
CurrentObservers:       [{\"id\": 3, \"directoryId\": \"2wGkZ5fNRr6r3a8lW6h0Yw\"}, {\"id\": 4, \"directoryId\": \"wZ9b2m0nT0mQh5m1p2cO3g\"}]
";

    #[test]
    fn the_status_is_read() {
        let s = QuorumStatus::parse(STATUS).unwrap();
        assert_eq!(s.leader, Some(1));
        assert_eq!(s.voter_ids(), BTreeSet::from([1]));
        assert_eq!(s.observer_ids(), BTreeSet::from([3, 4]));
        assert_eq!(
            s.voters[0].directory_id.as_deref(),
            Some("pJQHBm3fT0G5H3U8TbqG5A")
        );
        assert_eq!(
            s.mismatch(1, &BTreeSet::from([1]), &BTreeSet::from([3, 4])),
            None
        );
        let wrong = s.mismatch(1, &BTreeSet::from([1, 2]), &BTreeSet::from([3, 4]));
        assert!(wrong.unwrap().contains("voters {1, 2}"));
    }

    #[test]
    fn a_static_quorum_before_3_9_and_broken_output() {
        let old = "LeaderId: 3001\nCurrentVoters: [3001,3002]\nCurrentObservers: [1]\n";
        let s = QuorumStatus::parse(old).unwrap();
        assert_eq!(s.voter_ids(), BTreeSet::from([3001, 3002]));
        assert_eq!(s.voters[0].directory_id, None);
        assert_eq!(
            QuorumStatus::parse("LeaderId: -1\nCurrentVoters: []\nCurrentObservers: []")
                .unwrap()
                .leader,
            None
        );
        assert!(QuorumStatus::parse("ClusterId: abc\n").is_err());
        assert!(
            QuorumStatus::parse("LeaderId: x\nCurrentVoters: []\nCurrentObservers: []").is_err()
        );
        assert!(QuorumStatus::parse(
            "LeaderId: 1\nCurrentVoters: [{\"x\": 1}]\nCurrentObservers: []"
        )
        .is_err());
    }

    #[test]
    fn metadata_log_files_are_read() {
        let listing = "00000000000000000000-0000000000.checkpoint
00000000000000000123.index
00000000000000000123.log
00000000000000000123.snapshot
00000000000000000456-0000000002.checkpoint
leader-epoch-checkpoint
partition.metadata
quorum-state
";
        let files = MetadataLogFiles::parse("/d", listing).unwrap();
        assert_eq!(files.segments, [123]);
        assert!(files.first_segment_deleted());
        let snapshot = files.generated_snapshot().unwrap();
        assert_eq!(
            snapshot,
            SnapshotId {
                end_offset: 456,
                epoch: 2
            }
        );
        assert_eq!(
            files.path(snapshot),
            "/d/00000000000000000456-0000000002.checkpoint"
        );
        let fresh = MetadataLogFiles::parse(
            "/d",
            "00000000000000000000-0000000000.checkpoint\n00000000000000000000.log\n",
        )
        .unwrap();
        assert_eq!(fresh.generated_snapshot(), None);
        assert!(!fresh.first_segment_deleted());
        assert!(MetadataLogFiles::parse("/d", "x.log").is_err());
        assert!(MetadataLogFiles::parse("/d", "12.checkpoint").is_err());
    }
}
