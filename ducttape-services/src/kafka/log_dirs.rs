//! The state of each broker's log directories, as Kafka reports it (`kafka-log-dirs
//! --describe`): a directory that failed (JBOD) carries the error that took it offline.

use std::collections::BTreeMap;

use ducttape_core::cluster::Node;

use super::error::KafkaServiceError;
use super::service::KafkaService;
use super::tools::ToolOutputError;
use crate::error::ServiceError;
use crate::properties::Properties;

/// `kafka-log-dirs`' main class (Kafka 3.7+).
const LOG_DIRS: &str = "org.apache.kafka.tools.LogDirsCommand";

/// One log directory of one broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDirState {
    /// The error class Kafka gives for an offline directory
    /// (`org.apache.kafka.common.errors.KafkaStorageException`); `None`: online.
    pub error: Option<String>,
    /// The partitions it holds (`topic-N`), as far as Kafka can tell (none when offline).
    pub partitions: Vec<String>,
}

impl KafkaService {
    /// The log directories of broker `id` by path, as Kafka describes them; the tool runs on
    /// `observer` as the admin user.
    pub async fn log_dirs(
        &self,
        observer: &Node,
        id: u32,
    ) -> Result<BTreeMap<String, LogDirState>, ServiceError> {
        let args: Vec<String> = [
            "--bootstrap-server",
            &self.bootstrap_servers(),
            "--describe",
            "--broker-list",
            &id.to_string(),
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        let out = self
            .run_admin_tool_on(observer, LOG_DIRS, &args, &Properties::new())
            .await?;
        Ok(parse_log_dirs(&out, id).map_err(|e| KafkaServiceError::tool_output_on(observer, e))?)
    }
}

/// Broker `id`'s directories in the tool's JSON line (the other lines are progress).
fn parse_log_dirs(out: &str, id: u32) -> Result<BTreeMap<String, LogDirState>, ToolOutputError> {
    let bad = |problem: String| ToolOutputError::new("kafka-log-dirs --describe", problem, out);
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| bad("no JSON line".into()))?;
    let json: serde_json::Value =
        serde_json::from_str(line).map_err(|e| bad(format!("{e}: {line}")))?;
    let broker = json["brokers"]
        .as_array()
        .and_then(|b| {
            b.iter()
                .find(|b| b["broker"].as_u64() == Some(u64::from(id)))
        })
        .ok_or_else(|| bad(format!("broker {id} is not in {line}")))?;
    let dirs = broker["logDirs"]
        .as_array()
        .ok_or_else(|| bad(format!("no logDirs for broker {id} in {line}")))?;
    dirs.iter()
        .map(|d| {
            let path = d["logDir"]
                .as_str()
                .ok_or_else(|| bad(format!("a log dir without a path in {line}")))?;
            let partitions = d["partitions"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter_map(|p| p["partition"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let state = LogDirState {
                error: d["error"].as_str().map(str::to_string),
                partitions,
            };
            Ok((path.to_string(), state))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offline_dir_carries_its_error() {
        let out = "Querying brokers for log directories information\n\
            Received log directory information from brokers 2\n\
            {\"brokers\":[{\"broker\":2,\"logDirs\":[\
            {\"partitions\":[{\"partition\":\"t1-0\",\"size\":10,\"offsetLag\":0,\"isFuture\":false}],\"error\":null,\"logDir\":\"/d1\"},\
            {\"partitions\":[],\"error\":\"org.apache.kafka.common.errors.KafkaStorageException\",\"logDir\":\"/d2\"}]}],\"version\":1}\n";
        let dirs = parse_log_dirs(out, 2).unwrap();
        assert_eq!(dirs["/d1"].error, None);
        assert_eq!(dirs["/d1"].partitions, ["t1-0"]);
        assert_eq!(
            dirs["/d2"].error.as_deref(),
            Some("org.apache.kafka.common.errors.KafkaStorageException")
        );
        assert!(parse_log_dirs(out, 3).is_err());
        assert!(parse_log_dirs("nothing\n", 2).is_err());
    }
}
