//! The cluster's finalized features — `metadata.version` above all — read and moved with
//! Kafka's own `kafka-features` (`org.apache.kafka.tools.FeatureCommand`), as an operator
//! finishes a rolling upgrade. Kafka's refusals come back as [`FeatureError::Refused`] with
//! Kafka's own words ("Could not downgrade metadata.version to 21. …").
//!
//! The tool runs from the newest install any node runs ([`KafkaService::tool_version`]): an
//! older tool does not know a newer release's metadata version by name.

use std::collections::BTreeMap;
use std::time::Duration;

use super::service::KafkaService;
use crate::error::{ResultExt, ServiceError};
use crate::properties::Properties;

const FEATURE_COMMAND: &str = "org.apache.kafka.tools.FeatureCommand";
/// The line the wrapper prints after the tool with its exit status.
const EXIT_MARK: &str = "DUCTTAPE-FEATURES-EXIT";

/// One feature as `kafka-features describe` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feature {
    /// `SupportedMinVersion` (for `metadata.version` a name such as `3.0-IV1`).
    pub supported_min: String,
    /// `SupportedMaxVersion`: the newest level the answering broker's software knows.
    pub supported_max: String,
    /// `FinalizedVersionLevel`: the level in force in the cluster.
    pub finalized: String,
}

/// A `kafka-features upgrade|downgrade` Kafka did not carry out.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    /// Kafka (the controller, or the tool on its behalf) refused the change; `kafka_says` is
    /// its message as printed.
    #[error("Kafka refused to {action} {feature} to {to}: {kafka_says}")]
    Refused {
        /// `upgrade` or `downgrade`.
        action: String,
        /// The feature (`metadata.version`).
        feature: String,
        /// The level asked for, as given.
        to: String,
        /// Kafka's words.
        kafka_says: String,
    },
    /// The tool failed otherwise (no answer, a bad argument): its exit status and output.
    #[error("kafka-features {action} exited with status {status}:\n{output}")]
    Failed {
        /// The tool's subcommand.
        action: String,
        /// Its exit status.
        status: i32,
        /// What it printed.
        output: String,
    },
    /// Running the tool on the node.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl KafkaService {
    /// The features as the cluster describes them (`kafka-features describe`), by name.
    pub async fn describe_features(&self) -> Result<BTreeMap<String, Feature>, FeatureError> {
        let (status, output) = self.features_command(&["describe"]).await?;
        if status != 0 {
            return Err(FeatureError::Failed {
                action: "describe".into(),
                status,
                output,
            });
        }
        let features = parse_describe(&output);
        if features.is_empty() {
            return Err(FeatureError::Failed {
                action: "describe".into(),
                status,
                output: format!("no `Feature:` lines in:\n{output}"),
            });
        }
        Ok(features)
    }

    /// The finalized `metadata.version` (e.g. `3.9-IV0`).
    pub async fn metadata_version(&self) -> Result<String, FeatureError> {
        let features = self.describe_features().await?;
        features
            .get("metadata.version")
            .map(|f| f.finalized.clone())
            .ok_or_else(|| FeatureError::Failed {
                action: "describe".into(),
                status: 0,
                output: format!("no metadata.version among {:?}", features.keys()),
            })
    }

    /// `kafka-features upgrade --metadata <release>` (e.g. `4.4`): the cluster's metadata
    /// version raised once every node runs a release that knows it.
    pub async fn upgrade_metadata(&self, release: &str) -> Result<(), FeatureError> {
        self.change_metadata("upgrade", release).await
    }

    /// `kafka-features downgrade --metadata <release>`: Kafka refuses what would lose
    /// metadata ([`FeatureError::Refused`] with its reason).
    pub async fn downgrade_metadata(&self, release: &str) -> Result<(), FeatureError> {
        self.change_metadata("downgrade", release).await
    }

    async fn change_metadata(&self, action: &str, release: &str) -> Result<(), FeatureError> {
        tracing::info!(
            action,
            release,
            tool = self.tool_version().version(),
            "kafka-features: metadata.version"
        );
        let (status, output) = self
            .features_command(&[action, "--metadata", release])
            .await?;
        read_update(action, release, status, &output)
    }

    /// Runs `kafka-features --bootstrap-server … <args>` on the first broker node as the
    /// admin user; returns its exit status and everything it printed.
    async fn features_command(&self, args: &[&str]) -> Result<(i32, String), ServiceError> {
        let node = self
            .brokers()
            .into_iter()
            .next()
            .ok_or_else(|| ServiceError::Usage {
                service: "kafka".into(),
                detail: "no broker to run kafka-features on".into(),
            })?;
        let mut all = vec!["--bootstrap-server".to_string(), self.bootstrap_servers()];
        all.extend(args.iter().map(ToString::to_string));
        let cmd = self
            .tools()
            .admin_command(FEATURE_COMMAND, &all, &Properties::new());
        let out = node
            .account()
            .with_timeout(Duration::from_secs(180))
            .ssh_output(&format!("( {cmd} ) 2>&1; echo \"{EXIT_MARK} $?\""))
            .await
            .ctx("kafka")?;
        split_exit(&out).ok_or_else(|| ServiceError::Usage {
            service: "kafka".into(),
            detail: format!("kafka-features printed no exit status:\n{out}"),
        })
    }
}

/// The tool's output and the exit status the wrapper printed after it.
fn split_exit(out: &str) -> Option<(i32, String)> {
    let (output, tail) = out.rsplit_once(EXIT_MARK)?;
    Some((tail.trim().parse().ok()?, output.trim_end().to_string()))
}

/// `upgrade`/`downgrade`'s verdict: "metadata.version was upgraded to 27." is success; a
/// "Could not …" line is Kafka's refusal; any other non-zero exit is a failure with output.
fn read_update(action: &str, to: &str, status: i32, output: &str) -> Result<(), FeatureError> {
    let refusal = output
        .lines()
        .find(|l| l.starts_with("Could not ") || l.starts_with("Can not "));
    if let Some(line) = refusal {
        return Err(FeatureError::Refused {
            action: action.into(),
            feature: "metadata.version".into(),
            to: to.into(),
            kafka_says: line.trim().to_string(),
        });
    }
    let done = output
        .lines()
        .any(|l| l.starts_with("metadata.version was ") && l.contains(&format!("{action}d to")));
    if status == 0 && done {
        Ok(())
    } else {
        Err(FeatureError::Failed {
            action: action.into(),
            status,
            output: output.into(),
        })
    }
}

/// `Feature: <name> SupportedMinVersion: … SupportedMaxVersion: … FinalizedVersionLevel: …`
/// lines, by name.
fn parse_describe(output: &str) -> BTreeMap<String, Feature> {
    let mut features = BTreeMap::new();
    for line in output.lines() {
        // `Key: value` pairs, tab-separated (3.x) or padded with spaces (4.x).
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let fields: BTreeMap<&str, &str> = tokens
            .windows(2)
            .filter_map(|w| w[0].strip_suffix(':').map(|k| (k, w[1])))
            .collect();
        let (Some(name), Some(min), Some(max), Some(finalized)) = (
            fields.get("Feature"),
            fields.get("SupportedMinVersion"),
            fields.get("SupportedMaxVersion"),
            fields.get("FinalizedVersionLevel"),
        ) else {
            continue;
        };
        features.insert(
            name.to_string(),
            Feature {
                supported_min: min.to_string(),
                supported_max: max.to_string(),
                finalized: finalized.to_string(),
            },
        );
    }
    features
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_lines_by_feature() {
        let out = "Feature: kraft.version\tSupportedMinVersion: 0\tSupportedMaxVersion: 1\tFinalizedVersionLevel: 0\tEpoch: 5\n\
                   Feature: metadata.version\tSupportedMinVersion: 3.0-IV1\tSupportedMaxVersion: 3.9-IV0\tFinalizedVersionLevel: 3.9-IV0\tEpoch: 5\n";
        let f = parse_describe(out);
        assert_eq!(f.len(), 2);
        // 4.4's tool pads the columns with spaces instead.
        let padded = "Feature: metadata.version                          SupportedMinVersion: 3.3-IV3          SupportedMaxVersion: 4.4-IV2          FinalizedVersionLevel: 3.9-IV0          Epoch: 342\n";
        let p = parse_describe(padded);
        assert_eq!(p["metadata.version"].finalized, "3.9-IV0");
        assert_eq!(p["metadata.version"].supported_min, "3.3-IV3");
        assert_eq!(f["metadata.version"].finalized, "3.9-IV0");
        assert_eq!(f["metadata.version"].supported_max, "3.9-IV0");
    }

    #[test]
    fn refusals_keep_kafkas_words() {
        let out = "Could not downgrade metadata.version to 21. Invalid update version 21 for feature metadata.version. Can't downgrade to a newer version.\n1 out of 1 operation(s) failed.";
        let err = read_update("downgrade", "3.9", 1, out).unwrap_err();
        assert!(
            matches!(&err, FeatureError::Refused { kafka_says, .. } if kafka_says.starts_with("Could not downgrade metadata.version to 21. Invalid")),
            "{err}"
        );
        assert!(read_update("upgrade", "4.4", 0, "metadata.version was upgraded to 27.").is_ok());
        // Success needs Kafka's own line, not just a zero exit.
        assert!(read_update("upgrade", "4.4", 0, "").is_err());
        assert_eq!(
            split_exit("a\nb\nDUCTTAPE-FEATURES-EXIT 1\n"),
            Some((1, "a\nb".to_string()))
        );
    }
}
