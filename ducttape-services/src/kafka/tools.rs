//! [`KafkaTools`]: Kafka's command-line tools run on a node, as the admin super user
//! (`--command-config`) or as the cluster's client user (`--producer.config`, …), their
//! security files written first and removed after. Built once with the service; the CLI
//! control ([`CliControl`](super::control::CliControl)) and ACLs go through it.

use std::time::Duration;

use ducttape_core::cluster::Node;
use ducttape_core::remote::quote;

use super::security::{Acl, AclResource, ClientSecurity};
use super::BROKER_PORT;
use crate::error::{ResultExt, ServiceError};
use crate::install::KafkaVersion;
use crate::properties::Properties;

/// A Kafka command-line tool answered, but not in the form expected: a changed output format
/// must not read as an answer.
///
/// ```
/// use ducttape_services::kafka::{parse_verify, ToolOutputError};
/// let e: ToolOutputError = parse_verify("Status of partition reassignment:\n").unwrap_err();
/// assert_eq!(e.tool, "kafka-reassign-partitions --verify");
/// assert!(e.to_string().contains("no partition lines"), "{e}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{tool}: {problem} in:\n{output}")]
pub struct ToolOutputError {
    /// The tool and its action (`kafka-reassign-partitions --verify`).
    pub tool: &'static str,
    /// What does not fit.
    pub problem: String,
    /// What it printed (or the part that was read).
    pub output: String,
}

impl ToolOutputError {
    /// `tool`'s `output` with `problem`.
    pub(crate) fn new(tool: &'static str, problem: impl Into<String>, output: &str) -> Self {
        Self {
            tool,
            problem: problem.into(),
            output: output.to_string(),
        }
    }
}

/// How long a tool may run on a node.
const TOOL_TIMEOUT: Duration = Duration::from_secs(180);

/// Kafka's CLI tools for one cluster.
pub(crate) struct KafkaTools {
    /// The install the tools run from: the newest any node runs (see `upgrade_test.rs`).
    version: std::sync::RwLock<KafkaVersion>,
    brokers: Vec<Node>,
    admin: ClientSecurity,
    client: ClientSecurity,
}

impl KafkaTools {
    /// Tools of `version` for a cluster of `brokers`, run as `admin` (admin tools) or
    /// `client` (client tools).
    pub(crate) fn new(
        version: KafkaVersion,
        brokers: Vec<Node>,
        admin: ClientSecurity,
        client: ClientSecurity,
    ) -> Self {
        Self {
            version: std::sync::RwLock::new(version),
            brokers,
            admin,
            client,
        }
    }

    /// The install the tools run from.
    pub(crate) fn version(&self) -> KafkaVersion {
        match self.version.read() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Runs the tools from `version` from now on (a node was upgraded to a newer install).
    pub(crate) fn set_version(&self, version: KafkaVersion) {
        match self.version.write() {
            Ok(mut v) => *v = version,
            Err(poisoned) => *poisoned.into_inner() = version,
        }
    }

    /// `host:9092,…` of every broker.
    pub(crate) fn bootstrap(&self) -> String {
        bootstrap_of(&self.brokers)
    }

    /// The first broker, where tools run unless told otherwise.
    pub(crate) fn first_broker(&self) -> Result<Node, ServiceError> {
        self.brokers
            .first()
            .cloned()
            .ok_or_else(|| ServiceError::Usage {
                service: "kafka".into(),
                detail: "no broker to run tools on".into(),
            })
    }

    /// Runs `main_class` with `args` on `node` as it is (no security files).
    pub(crate) async fn run_on(
        &self,
        node: &Node,
        main_class: &str,
        args: &[String],
    ) -> Result<String, ServiceError> {
        let cmd = self
            .version()
            .tool(main_class)
            .args(args.iter().cloned())
            .render();
        run_on(node, &cmd).await
    }

    /// Runs an admin tool (`--command-config`) on `node` as the admin user, `extra`
    /// properties added to its config.
    pub(crate) async fn run_admin_on(
        &self,
        node: &Node,
        main_class: &str,
        args: &[String],
        extra: &Properties,
    ) -> Result<String, ServiceError> {
        run_on(node, &self.admin_command(main_class, args, extra)).await
    }

    /// [`run_admin_on`](Self::run_admin_on) on the first broker, no extra properties.
    pub(crate) async fn run_admin(
        &self,
        main_class: &str,
        args: &[String],
    ) -> Result<String, ServiceError> {
        let node = self.first_broker()?;
        self.run_admin_on(&node, main_class, args, &Properties::new())
            .await
    }

    /// The shell command of an admin tool as the admin user.
    pub(crate) fn admin_command(
        &self,
        main_class: &str,
        args: &[String],
        extra: &Properties,
    ) -> String {
        self.secured_command(
            &self.admin,
            "/tmp/ducttape-kafka-admin",
            "--command-config",
            main_class,
            args,
            extra,
        )
    }

    /// The shell command of a client tool as the client user, its config passed with
    /// `config_option`, in a directory of its own.
    pub(crate) fn client_command(
        &self,
        main_class: &str,
        args: &[String],
        config_option: &str,
    ) -> String {
        self.client_command_as(
            &self.client,
            main_class,
            args,
            config_option,
            &Properties::new(),
        )
    }

    /// [`client_command`](Self::client_command) with `security` (another user) and `extra`
    /// properties in the tool's config file (written even on a PLAINTEXT cluster when there
    /// are any).
    pub(crate) fn client_command_as(
        &self,
        security: &ClientSecurity,
        main_class: &str,
        args: &[String],
        config_option: &str,
        extra: &Properties,
    ) -> String {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = format!("/tmp/ducttape-kafka-client-{}-{n}", std::process::id());
        self.secured_command(security, &dir, config_option, main_class, args, extra)
    }

    /// `main_class` with `args` as `security` says: its config written under `dir` and passed
    /// with `config_option`, removed after the tool exits (its exit status kept). The config
    /// option goes before `args`: the tools with subcommands (`kafka-features describe`,
    /// `kafka-metadata-quorum describe`) take their top-level options only before the
    /// subcommand, and the others take options in any order.
    fn secured_command(
        &self,
        security: &ClientSecurity,
        dir: &str,
        config_option: &str,
        main_class: &str,
        args: &[String],
        extra: &Properties,
    ) -> String {
        let file = format!("{dir}/client.properties");
        let write = security.write_script(dir, &file, extra);
        let config = if write.is_empty() {
            Vec::new()
        } else {
            vec![config_option.to_string(), file]
        };
        let tool = security.apply(
            self.version()
                .tool(main_class)
                .args(config.into_iter().chain(args.iter().cloned())),
            dir,
        );
        if write.is_empty() {
            return tool.render();
        }
        format!(
            "{write}{{ {}; }}; rc=$?; rm -rf {}; exit $rc",
            tool.render(),
            quote(dir)
        )
    }

    /// `kafka-acls`' main class in the tools' install.
    fn acl_command(&self) -> &'static str {
        if self.version().supports_zookeeper() {
            "kafka.admin.AclCommand"
        } else {
            "org.apache.kafka.tools.AclCommand"
        }
    }

    /// The ACLs on `resource`, as `kafka-acls --list` gives them through the brokers (see
    /// [`Acl::listed`]).
    pub(crate) async fn acls(&self, resource: &AclResource) -> Result<Vec<String>, ServiceError> {
        let (kind, name) = resource.args();
        let args = [
            "--bootstrap-server".to_string(),
            self.bootstrap(),
            "--list".into(),
            kind.into(),
            name.into(),
        ];
        let out = self.run_admin(self.acl_command(), &args).await?;
        Ok(Acl::parse_listed(&out))
    }

    /// Adds `acls` with `kafka-acls`, one run per principal, permission and resource.
    pub(crate) async fn grant(&self, acls: &[Acl]) -> Result<(), ServiceError> {
        let class = self.acl_command();
        for acl in Acl::batched(acls) {
            tracing::info!(?acl, "adding ACLs");
            let mut args = vec![
                "--bootstrap-server".to_string(),
                self.bootstrap(),
                "--add".into(),
            ];
            args.extend(acl);
            self.run_admin(class, &args).await?;
        }
        Ok(())
    }
}

/// Runs a tool's shell command on `node` (3 minutes at most) and returns its stdout.
pub(crate) async fn run_on(node: &Node, cmd: &str) -> Result<String, ServiceError> {
    node.account()
        .with_timeout(TOOL_TIMEOUT)
        .ssh_output(cmd)
        .await
        .ctx("kafka")
}

/// `host:9092,…` of `brokers`.
pub(crate) fn bootstrap_of(brokers: &[Node]) -> String {
    brokers
        .iter()
        .map(|n| format!("{}:{BROKER_PORT}", n.address()))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::kafka::{SaslMechanism, SecurityProtocol};

    /// `kafka-features` on a SASL_SSL cluster: `--command-config` before the subcommand
    /// (after it, argparse4j refuses it: `unrecognized arguments: '--command-config'`).
    #[test]
    fn the_config_option_precedes_a_subcommand() {
        let admin = ClientSecurity::new(SecurityProtocol::SaslSsl, SaslMechanism::Plain)
            .with_credentials("admin", "secret")
            .trusting("CA PEM");
        let tools = KafkaTools::new(
            KafkaVersion::V4,
            Vec::new(),
            admin,
            ClientSecurity::plaintext(),
        );
        let args = [
            "--bootstrap-server".to_string(),
            "b:9092".into(),
            "describe".into(),
        ];
        let cmd = tools.admin_command(
            "org.apache.kafka.tools.FeatureCommand",
            &args,
            &Properties::new(),
        );
        let config = cmd.find("--command-config").unwrap();
        let describe = cmd.find(" describe").unwrap();
        assert!(config < describe, "{cmd}");
        // Plaintext: no config file, the arguments as given.
        let plain = KafkaTools::new(
            KafkaVersion::V4,
            Vec::new(),
            ClientSecurity::plaintext(),
            ClientSecurity::plaintext(),
        );
        let cmd = plain.admin_command(
            "org.apache.kafka.tools.FeatureCommand",
            &args,
            &Properties::new(),
        );
        assert!(
            !cmd.contains("--command-config") && cmd.ends_with("describe"),
            "{cmd}"
        );
    }
}
