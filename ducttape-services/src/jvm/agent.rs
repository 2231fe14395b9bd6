//! What a long-running JVM of a service carries to be seen from outside: Prometheus's JMX
//! exporter as a Java agent (its metrics over HTTP) and a GC log rotated in a directory of its
//! own. [`JvmObservation`] is given to a [`ProcessSpec`](crate::ProcessSpec) before its
//! command (`.observe(..)` then `.java(..)`), which adds the JVM arguments and writes the
//! agent's config on the node.

use std::time::Duration;

use crate::install::JvmInstall;

/// The agent's install (`build.sh`: `build_maven_project jmx-exporter 1.0.1
/// io.prometheus.jmx:jmx_prometheus_javaagent`): a JVM system with a version of its own.
pub const AGENT_INSTALL: JvmInstall = JvmInstall::new("jmx-exporter", "1.0.1");

/// The agent's jar in [`AGENT_INSTALL`].
pub const AGENT_JAR: &str = "/opt/jmx-exporter-1.0.1/libs/jmx_prometheus_javaagent-1.0.1.jar";

/// `DUCTTAPE_JVM_METRICS=off` starts every JVM without the metrics agent (and samples
/// nothing); anything else, or unset, leaves it on.
pub const METRICS_ENV: &str = "DUCTTAPE_JVM_METRICS";

/// `DUCTTAPE_METRICS_INTERVAL_SECS`: seconds between two samples of a node (default 5).
pub const INTERVAL_ENV: &str = "DUCTTAPE_METRICS_INTERVAL_SECS";

/// The agent's rules: which MBeans are read and what their series are called.
pub const AGENT_CONFIG: &str = include_str!("jmx-exporter.yaml");

/// The metrics port of a Kafka broker or controller's agent.
pub const KAFKA_METRICS_PORT: u16 = 9404;
/// The metrics port of a ZooKeeper member's agent.
pub const ZOOKEEPER_METRICS_PORT: u16 = 9405;
/// The metrics port of a Kafka Connect worker's agent.
pub const CONNECT_METRICS_PORT: u16 = 9406;

/// Whether the metrics agent is wanted ([`METRICS_ENV`]).
pub fn metrics_wanted() -> bool {
    !matches!(
        std::env::var(METRICS_ENV).as_deref().map(str::trim),
        Ok("off" | "0" | "false" | "no")
    )
}

/// The sampling interval ([`INTERVAL_ENV`], default 5 s; at least 1 s).
pub fn interval() -> Duration {
    let secs = std::env::var(INTERVAL_ENV)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(5)
        .max(1);
    Duration::from_secs(secs)
}

/// How one JVM is observed: its GC log always, the metrics agent on `metrics_port` when set.
///
/// ```
/// use ducttape_services::jvm::JvmObservation;
/// let o = JvmObservation::new(Some(9404));
/// let args = o.jvm_args("/mnt/kafka");
/// assert!(args[0].starts_with("-javaagent:/opt/jmx-exporter-1.0.1/"));
/// assert!(args[0].ends_with("=9404:/mnt/kafka/jvm/jmx-exporter.yaml"));
/// assert!(args[1].starts_with("-Xlog:gc*:file=/mnt/kafka/jvm/gc.log:"));
/// assert_eq!(JvmObservation::new(None).jvm_args("/mnt/kafka").len(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JvmObservation {
    metrics_port: Option<u16>,
}

impl JvmObservation {
    /// GC log, and the agent on `metrics_port` if any.
    pub fn new(metrics_port: Option<u16>) -> Self {
        Self { metrics_port }
    }

    /// The agent's metrics port, when the agent is on.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    /// The directory, under the process's own, that holds the agent's config and the GC logs.
    pub fn dir(process_dir: &str) -> String {
        format!("{process_dir}/jvm")
    }

    /// The agent's config file on the node, when the agent is on.
    pub fn agent_config_path(&self, process_dir: &str) -> Option<String> {
        self.metrics_port
            .map(|_| format!("{}/jmx-exporter.yaml", Self::dir(process_dir)))
    }

    /// The JVM arguments: `-javaagent:<jar>=<port>:<config>` (when on), then the GC log —
    /// `-Xlog:gc*` to `<dir>/jvm/gc.log`, 5 files of 20 MB at most, with wall-clock and uptime
    /// stamps so a pause lines up with the test's time axis.
    pub fn jvm_args(&self, process_dir: &str) -> Vec<String> {
        let dir = Self::dir(process_dir);
        let mut args = Vec::new();
        if let (Some(port), Some(config)) = (self.metrics_port, self.agent_config_path(process_dir))
        {
            args.push(format!("-javaagent:{AGENT_JAR}={port}:{config}"));
        }
        args.push(format!(
            "-Xlog:gc*:file={dir}/gc.log:time,uptime,level,tags:filecount=5,filesize=20m"
        ));
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::ProcessSpec;

    #[test]
    fn the_agent_jar_is_in_its_install_and_an_observed_jvm_requires_it() {
        assert_eq!(
            AGENT_INSTALL.jar("jmx_prometheus_javaagent-1.0.1.jar"),
            AGENT_JAR
        );
        let with = ProcessSpec::new("p", "/mnt/p").observe(JvmObservation::new(Some(9404)));
        assert_eq!(with.installs(), [AGENT_INSTALL.install()]);
        // Without the agent (metrics off) nothing more is required than the process's own.
        let without = ProcessSpec::new("p", "/mnt/p").observe(JvmObservation::new(None));
        assert!(without.installs().is_empty());
    }
}
