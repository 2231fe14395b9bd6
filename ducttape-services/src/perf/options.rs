//! What every client worker (perf or verifiable) is configured with, and the builder methods
//! for it: extra client configs, the Kafka version, the service name and the wait timeout.

use std::time::Duration;

use crate::install::{JavaCommand, KafkaVersion};
use crate::kafka::{ClientSecurity, KafkaService};
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

    /// The shell command running `tool`; the security configs ([`follow`](Self::follow)) and
    /// extra configs go through a properties file (with the PEM files it names, mode 0600),
    /// written first, passed with `flag` (`--producer.config`, `--consumer.config`; empty: the
    /// file as a positional argument).
    pub fn command(&self, tool: JavaCommand, flag: &str) -> String {
        let dir = format!("/mnt/{}", self.name);
        let file = format!("{dir}/{}.properties", self.name);
        let extra: Properties = self.props.iter().cloned().collect();
        let security = self
            .security
            .clone()
            .unwrap_or_else(ClientSecurity::plaintext);
        let write = security.write_script(&dir, &file, &extra);
        if write.is_empty() {
            return tool.render();
        }
        let tool = security.apply(tool, &dir);
        format!(
            "{write}{}",
            tool.args(
                [flag.to_string(), file.clone()]
                    .into_iter()
                    .filter(|a| !a.is_empty())
            )
            .render()
        )
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
    use super::*;

    #[test]
    fn configs_go_through_a_file() {
        let mut o = ClientOptions::new("p");
        assert_eq!(
            o.command(KafkaVersion::DEFAULT.tool("X"), "--c"),
            KafkaVersion::DEFAULT.tool("X").render()
        );
        o.props.push(("acks".into(), "all".into()));
        let cmd = o.command(KafkaVersion::DEFAULT.tool("X"), "--c");
        assert!(
            cmd.starts_with(
                "umask 077 && mkdir -p /mnt/p && printf '%s' 'acks=all
' > /mnt/p/p.properties && java "
            ),
            "{cmd}"
        );
        assert!(cmd.ends_with("X --c /mnt/p/p.properties"), "{cmd}");
    }
}
