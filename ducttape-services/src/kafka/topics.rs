//! Topics: what to create, and parsing `kafka-topics --describe`.

use std::collections::BTreeMap;

/// A topic to create.
///
/// ```
/// use ducttape_services::TopicSpec;
/// let t = TopicSpec::new("orders").partitions(6).replication_factor(3).config("min.insync.replicas", 2);
/// assert_eq!(t.create_args(), ["--topic", "orders", "--partitions", "6", "--replication-factor", "3", "--config", "min.insync.replicas=2"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// The name.
    pub name: String,
    /// Partitions.
    pub partitions: u32,
    /// Replication factor.
    pub replication_factor: u32,
    /// Topic configs.
    pub configs: BTreeMap<String, String>,
}

impl TopicSpec {
    /// One partition, one replica.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            partitions: 1,
            replication_factor: 1,
            configs: BTreeMap::new(),
        }
    }

    /// Sets the partition count.
    pub fn partitions(mut self, n: u32) -> Self {
        self.partitions = n;
        self
    }

    /// Sets the replication factor.
    pub fn replication_factor(mut self, n: u32) -> Self {
        self.replication_factor = n;
        self
    }

    /// Adds a topic config.
    pub fn config(mut self, key: &str, value: impl ToString) -> Self {
        self.configs.insert(key.to_string(), value.to_string());
        self
    }

    /// The `kafka-topics --create` arguments (without the bootstrap servers).
    pub fn create_args(&self) -> Vec<String> {
        let mut args = vec![
            "--topic".to_string(),
            self.name.clone(),
            "--partitions".into(),
            self.partitions.to_string(),
            "--replication-factor".into(),
            self.replication_factor.to_string(),
        ];
        for (k, v) in &self.configs {
            args.push("--config".into());
            args.push(format!("{k}={v}"));
        }
        args
    }
}

/// One partition as `--describe` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartitionInfo {
    /// The topic.
    pub topic: String,
    /// The partition number.
    pub partition: u32,
    /// The leader's broker id (`None` when there is none: `-1` or `none`).
    pub leader: Option<u32>,
    /// Replica broker ids.
    pub replicas: Vec<u32>,
    /// In-sync replica broker ids.
    pub isr: Vec<u32>,
}

fn ids(s: &str) -> Vec<u32> {
    s.split(',').filter_map(|x| x.trim().parse().ok()).collect()
}

/// Parses the partition lines of `kafka-topics --describe` (ZooKeeper and KRaft, 3.x and
/// 4.x); other lines are skipped.
pub fn parse_describe(text: &str) -> Vec<PartitionInfo> {
    text.lines()
        .filter_map(|line| {
            let fields: BTreeMap<&str, &str> = line
                .split('\t')
                .filter_map(|f| f.split_once(':'))
                .map(|(k, v)| (k.trim(), v.trim()))
                .collect();
            Some(PartitionInfo {
                topic: fields.get("Topic")?.to_string(),
                partition: fields.get("Partition")?.parse().ok()?,
                leader: fields.get("Leader").and_then(|l| l.parse().ok()),
                replicas: ids(fields.get("Replicas")?),
                isr: ids(fields.get("Isr").copied().unwrap_or("")),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(name: &str) -> String {
        std::fs::read_to_string(format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn parses_real_describe_output() {
        for file in [
            "topic_describe.txt",
            "topic_describe_zk.txt",
            "topic_describe_4x.txt",
        ] {
            let parts = parse_describe(&testdata(file));
            assert!(!parts.is_empty(), "{file}");
            for (i, p) in parts.iter().enumerate() {
                assert_eq!(p.partition as usize, i, "{file}");
                assert!(p.leader.is_some(), "{file}");
                assert!(!p.replicas.is_empty() && !p.isr.is_empty(), "{file}");
            }
        }
        let kraft = parse_describe(&testdata("topic_describe.txt"));
        assert_eq!(kraft.len(), 3);
        assert_eq!(kraft[0].topic, "described");
    }

    #[test]
    fn leaderless_partitions() {
        let p = parse_describe("\tTopic: t\tPartition: 0\tLeader: none\tReplicas: 2,3\tIsr: \n");
        assert_eq!(p[0].leader, None);
        assert_eq!(p[0].replicas, [2, 3]);
        assert!(p[0].isr.is_empty());
    }
}
