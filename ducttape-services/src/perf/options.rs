//! What every client worker (perf or verifiable) is configured with, and the builder methods
//! for it: extra client configs, the Kafka version, the service name and the wait timeout.
//!
//! Workers are built the way services are: `X::builder(nodes, &kafka, what…)` takes where they
//! run and the cluster they talk to (its bootstrap servers, client security and version are
//! read then), setters follow, and `build(&ctx)` registers the worker with the test context and
//! returns it, or an error for a setup that cannot run (no node).

use std::sync::Arc;
use std::time::Duration;

use ducttape_core::cluster::Node;
use ducttape_core::context::TestContext;

use super::worker::{worker_dir, ToolOutput, ToolService, ToolSpec};
use crate::error::ServiceError;
use crate::install::{JavaCommand, KafkaVersion};
use crate::kafka::{ClientSecurity, KafkaService};
use crate::process::ProcessSpec;
use crate::properties::Properties;

/// Settings shared by every client builder (see [`ClientBuilder`]): where the workers run,
/// the cluster they talk to, and the settings every client has.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    nodes: Vec<Node>,
    bootstrap: String,
    props: Vec<(String, String)>,
    version: KafkaVersion,
    name: String,
    timeout: Duration,
    security: ClientSecurity,
    /// Whether the tool's stdout goes through a relay process ([`relay_pidfile`]).
    stdout_relay: bool,
}

/// Where a worker of service `name` whose stdout goes through a relay (see
/// `VerifiableConsumer::stdout_relay`) records the relay's pid.
///
/// Stopping the relay (`SIGSTOP`) stalls the tool's thread that prints once the pipe is full
/// (64 KiB), and only that thread: the JVM's other threads go on.
pub fn relay_pidfile(name: &str) -> String {
    format!("{}/stdout-relay.pid", worker_dir(name))
}

/// The relay: a `cat` that records its pid and ignores `SIGTERM`, so a clean stop of the
/// worker's process group does not cut the tool's last lines (it ends at the tool's end of
/// output; `SIGKILL` still ends it).
fn relay_command(name: &str) -> String {
    format!(
        "sh -c {}",
        ducttape_core::remote::quote(&format!(
            "trap '' TERM; echo $$ > {}; exec cat",
            ducttape_core::remote::quote(&relay_pidfile(name))
        ))
    )
}

impl ClientOptions {
    /// Defaults for a service called `name` on `nodes` against `kafka`: no extra configs, the
    /// brokers' version and client security ([`KafkaService::client_security`]: every client
    /// follows the cluster's protocol), 30 minutes.
    pub fn new(name: &str, nodes: Vec<Node>, kafka: &KafkaService) -> Self {
        Self {
            nodes,
            bootstrap: kafka.bootstrap_servers(),
            props: Vec::new(),
            version: kafka.version().clone(),
            name: name.into(),
            timeout: Duration::from_secs(1800),
            security: kafka.client_security(),
            stdout_relay: false,
        }
    }

    /// Sends the tool's stdout through a relay process (see [`relay_pidfile`]). The worker's
    /// exit status is then the relay's, not the tool's.
    pub(crate) fn stdout_relay(&mut self) {
        self.stdout_relay = true;
    }

    /// The service name (results path, files on the nodes under `/mnt/<name>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How long `wait` waits.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The client's version: the one set, else the brokers'.
    pub fn version(&self) -> &KafkaVersion {
        &self.version
    }

    /// The cluster's bootstrap servers (`host:port,…`).
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// The worker's process running `tool` from `version`'s install, given the worker's own
    /// spec `base` ([`ToolService::base_spec`]): the install is required, and the security
    /// configs (the cluster's, or [`ClientBuilder::security`]) and extra configs go through a
    /// properties file (with the PEM files it names), private files written before the start
    /// and passed with `flag` (`--producer.config`, `--consumer.config`; empty: the file as a
    /// positional argument).
    pub fn process(
        &self,
        base: ProcessSpec,
        version: &KafkaVersion,
        tool: JavaCommand,
        flag: &str,
    ) -> ProcessSpec {
        let dir = worker_dir(&self.name);
        let file = format!("{dir}/{}.properties", self.name);
        let security = &self.security;
        let mut props = security.properties(&dir);
        props.extend(&self.props.iter().cloned().collect());
        let spec = base.requires(version.install());
        if props == Properties::new() {
            return spec.java(tool);
        }
        let spec = security
            .files(&dir)
            .into_iter()
            .fold(spec, |spec, f| spec.private_file(&f.path, f.contents))
            .private_file(&file, props.render());
        let tool = security.apply(tool, &dir).args(
            [flag.to_string(), file]
                .into_iter()
                .filter(|a| !a.is_empty()),
        );
        spec.java(tool)
    }

    /// One worker on each of the nodes, registered with `ctx`: the tool `main_class` from the
    /// client's [`version`](Self::version), with `args(index)` for node `index`; see
    /// [`process`](Self::process) for the rest. No node is an error.
    pub(crate) fn workers<O: ToolOutput>(
        mut self,
        ctx: &TestContext,
        (main_class, flag): (&'static str, &'static str),
        args: impl Fn(usize) -> Vec<String> + Send + Sync + 'static,
    ) -> Result<Arc<ToolService<O>>, ServiceError> {
        let nodes = std::mem::take(&mut self.nodes);
        let (name, timeout, version) = (self.name.clone(), self.timeout, self.version.clone());
        let spec: ToolSpec = Arc::new(move |base, _, index| {
            let tool = version.tool(main_class).args(args(index));
            let spec = self.process(base, &version, tool, flag);
            if self.stdout_relay {
                let piped = format!("{} | {}", spec.command_line(), relay_command(&self.name));
                spec.command(piped)
            } else {
                spec
            }
        });
        ToolService::from_spec(ctx, &name, nodes, spec, timeout)
    }
}

/// Builder methods every client has. Bring it into scope to use them:
/// `use ducttape_services::perf::ClientBuilder;`.
pub trait ClientBuilder: Sized {
    /// The builder's shared settings.
    fn options(&mut self) -> &mut ClientOptions;

    /// An extra client config (`acks`, `linger.ms`, `enable.idempotence`, …).
    fn prop(mut self, key: &str, value: impl ToString) -> Self {
        self.options().props.push((key.into(), value.to_string()));
        self
    }

    /// The client's security (default: the cluster's client listener as the `client` user,
    /// [`KafkaService::client_security`]); set it to connect as someone else, or wrongly.
    fn security(mut self, security: ClientSecurity) -> Self {
        self.options().security = security;
        self
    }

    /// The client's Kafka version (default: the brokers').
    fn version(mut self, version: KafkaVersion) -> Self {
        self.options().version = version;
        self
    }

    /// The service's name (results path), when a test runs several of a kind.
    fn name(mut self, name: &str) -> Self {
        self.options().name = name.into();
        self
    }

    /// How long `wait` waits for the workers.
    fn timeout(mut self, timeout: Duration) -> Self {
        self.options().timeout = timeout;
        self
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::kafka::{SaslMechanism, SecurityProtocol};

    fn base() -> ProcessSpec {
        ProcessSpec::new("p", "/mnt/p")
    }

    /// Options of a worker called `p` on no node, plaintext, at `version`.
    fn options(version: &KafkaVersion) -> ClientOptions {
        ClientOptions {
            nodes: Vec::new(),
            bootstrap: "b:9092".into(),
            props: Vec::new(),
            version: version.clone(),
            name: "p".into(),
            timeout: Duration::from_secs(1),
            security: ClientSecurity::plaintext(),
            stdout_relay: false,
        }
    }

    #[test]
    fn the_relay_records_its_pid_where_the_test_reads_it_and_ignores_sigterm() {
        let relay = relay_command("verifiable-consumer");
        assert_eq!(
            relay,
            r#"sh -c 'trap '"'"''"'"' TERM; echo $$ > /mnt/verifiable-consumer/stdout-relay.pid; exec cat'"#
        );
        assert_eq!(
            relay_pidfile("verifiable-consumer"),
            "/mnt/verifiable-consumer/stdout-relay.pid"
        );
    }

    #[test]
    fn the_install_is_required_and_configs_go_through_a_private_file() {
        let version = KafkaVersion::new("9.9.9");
        let mut o = options(&version);
        let plain = o.process(base(), &version, version.tool("X"), "--c");
        assert_eq!(plain.command_line(), version.tool("X").render());
        assert_eq!(plain.installs(), [version.install()]);
        assert_eq!(plain.file_at("/mnt/p/p.properties"), None);

        o.props.push(("acks".into(), "all".into()));
        let spec = o.process(base(), &version, version.tool("X"), "--c");
        assert_eq!(spec.installs(), [version.install()]);
        assert_eq!(
            spec.file_at("/mnt/p/p.properties"),
            Some(("acks=all\n", true))
        );
        assert!(
            spec.command_line()
                .starts_with(&format!("{}java ", crate::faults::JVM_CLOCK_PREFIX))
                && spec.command_line().contains(" -Xmx256m "),
            "{}",
            spec.command_line()
        );
        assert!(
            spec.command_line().ends_with("X --c /mnt/p/p.properties"),
            "{}",
            spec.command_line()
        );
        let positional = o.process(base(), &version, version.tool("X"), "");
        assert!(positional.command_line().ends_with("X /mnt/p/p.properties"));
    }

    #[test]
    fn security_files_are_private_and_the_jvm_reads_the_hosts_file() {
        let version = KafkaVersion::DEFAULT;
        let mut o = options(&version);
        o.security = ClientSecurity::new(SecurityProtocol::SaslSsl, SaslMechanism::Plain)
            .with_credentials("alice", "secret")
            .trusting("CA PEM")
            .with_hosts("10.0.0.1 worker1\n");
        let spec = o.process(base(), &version, version.tool("X"), "--c");
        let (props, private) = spec.file_at("/mnt/p/p.properties").unwrap();
        assert!(private && props.contains("password=\"secret\""), "{props}");
        assert_eq!(spec.file_at("/mnt/p/ca.pem"), Some(("CA PEM", true)));
        assert_eq!(
            spec.file_at("/mnt/p/hosts"),
            Some(("10.0.0.1 worker1\n", true))
        );
        assert!(spec
            .command_line()
            .contains("-Djdk.net.hosts.file=/mnt/p/hosts"));
        // Nothing secret on the command line, which `ps` shows to everyone.
        assert!(!spec.command_line().contains("secret"));
    }
}
