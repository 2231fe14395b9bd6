//! What every client worker (perf or verifiable) is configured with, and the builder methods
//! for it: extra client configs, the Kafka version, the service name and the wait timeout.

use std::sync::Arc;
use std::time::Duration;

use ducttape_core::cluster::Node;
use ducttape_core::context::TestContext;

use super::worker::{worker_dir, ToolOutput, ToolService, ToolSpec};
use crate::install::{JavaCommand, KafkaVersion};
use crate::kafka::{ClientSecurity, KafkaService};
use crate::process::ProcessSpec;
use crate::properties::Properties;

/// Settings shared by every client builder (see [`ClientBuilder`]).
#[derive(Debug, Clone)]
pub struct ClientOptions {
    props: Vec<(String, String)>,
    version: Option<KafkaVersion>,
    name: String,
    timeout: Duration,
    security: Option<ClientSecurity>,
}

impl ClientOptions {
    /// Defaults for a service called `name`: no extra configs, the brokers' version, 30 minutes.
    pub fn new(name: &str) -> Self {
        Self {
            props: Vec::new(),
            version: None,
            name: name.into(),
            timeout: Duration::from_secs(1800),
            security: None,
        }
    }

    /// Takes the cluster's client security ([`KafkaService::client_security`]) unless one was
    /// set with [`ClientBuilder::security`]: every client follows the cluster's protocol.
    pub fn follow(&mut self, kafka: &KafkaService) -> &mut Self {
        if self.security.is_none() {
            self.security = Some(kafka.client_security());
        }
        self
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
    pub fn version_for(&self, kafka: &KafkaService) -> KafkaVersion {
        self.version
            .clone()
            .unwrap_or_else(|| kafka.version().clone())
    }

    /// The worker's process running `tool` from `version`'s install, given the worker's own
    /// spec `base` ([`ToolService::base_spec`]): the install is required, and the security
    /// configs ([`follow`](Self::follow)) and extra configs go through a properties file (with
    /// the PEM files it names), private files written before the start and passed with `flag`
    /// (`--producer.config`, `--consumer.config`; empty: the file as a positional argument).
    pub fn process(
        &self,
        base: ProcessSpec,
        version: &KafkaVersion,
        tool: JavaCommand,
        flag: &str,
    ) -> ProcessSpec {
        let dir = worker_dir(&self.name);
        let file = format!("{dir}/{}.properties", self.name);
        let security = self
            .security
            .clone()
            .unwrap_or_else(ClientSecurity::plaintext);
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

    /// One worker on each of `nodes` against `kafka`, registered with `ctx`: the tool
    /// `main_class` from the client's version ([`version_for`](Self::version_for)), with
    /// `args(index)` for node `index`, following the cluster's security
    /// ([`follow`](Self::follow)); see [`process`](Self::process) for the rest.
    pub(crate) fn workers<O: ToolOutput>(
        mut self,
        ctx: &TestContext,
        kafka: &KafkaService,
        nodes: Vec<Node>,
        (main_class, flag): (&'static str, &'static str),
        args: impl Fn(usize) -> Vec<String> + Send + Sync + 'static,
    ) -> Arc<ToolService<O>> {
        self.follow(kafka);
        let version = self.version_for(kafka);
        let (name, timeout) = (self.name.clone(), self.timeout);
        let spec: ToolSpec = Arc::new(move |base, _, index| {
            let tool = version.tool(main_class).args(args(index));
            self.process(base, &version, tool, flag)
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
        self.options().security = Some(security);
        self
    }

    /// The client's Kafka version (default: the brokers').
    fn version(mut self, version: KafkaVersion) -> Self {
        self.options().version = Some(version);
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

    #[test]
    fn the_install_is_required_and_configs_go_through_a_private_file() {
        let version = KafkaVersion::new("9.9.9");
        let mut o = ClientOptions::new("p");
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
        let mut o = ClientOptions::new("p");
        o.security = Some(
            ClientSecurity::new(SecurityProtocol::SaslSsl, SaslMechanism::Plain)
                .with_credentials("alice", "secret")
                .trusting("CA PEM")
                .with_hosts("10.0.0.1 worker1\n"),
        );
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
