//! A Java client's side of [`ClientSecurity`]: its properties, the PEM files they name and its
//! JVM arguments.

use super::{ClientFile, ClientSecurity};
use crate::properties::Properties;

impl ClientSecurity {
    /// JVM arguments the client needs, naming files under `dir`.
    ///
    /// Kafka's SASL authenticators look up the peer's and their own address in DNS
    /// (`InetAddress.getHostName`) on every connection; where no DNS server answers — the
    /// local cluster's nodes, whose namespaces cannot reach the host's resolver — each lookup
    /// waits ≈ 10 s for the resolver's timeouts, longer than a connection may take to set up,
    /// so no SASL connection ever completes. A JVM reading a hosts file
    /// (`-Djdk.net.hosts.file`, JDK ≥ 9) answers at once from it, and names not in it fail
    /// at once.
    pub fn jvm_args(&self, dir: &str) -> Vec<String> {
        match &self.hosts {
            Some(_) if self.protocol.uses_sasl() => {
                vec![format!("-Djdk.net.hosts.file={dir}/hosts")]
            }
            _ => Vec::new(),
        }
    }

    /// `tool` with [`jvm_args`](Self::jvm_args).
    pub fn apply(
        &self,
        mut tool: crate::install::JavaCommand,
        dir: &str,
    ) -> crate::install::JavaCommand {
        for arg in self.jvm_args(dir) {
            tool = tool.jvm_arg(arg);
        }
        tool
    }

    /// The Java client properties, naming files under `dir` (see [`files`](Self::files)).
    ///
    /// ```
    /// use ducttape_services::kafka::{ClientSecurity, SaslMechanism, SecurityProtocol};
    /// let c = ClientSecurity::new(SecurityProtocol::SaslSsl, SaslMechanism::ScramSha256)
    ///     .with_credentials("alice", "pw")
    ///     .trusting("-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----\n");
    /// let p = c.properties("/mnt/p");
    /// assert_eq!(p.get("security.protocol"), Some("SASL_SSL"));
    /// assert_eq!(p.get("sasl.mechanism"), Some("SCRAM-SHA-256"));
    /// assert_eq!(p.get("ssl.truststore.location"), Some("/mnt/p/ca.pem"));
    /// assert!(p.get("sasl.jaas.config").unwrap().contains("username=\"alice\""));
    /// ```
    pub fn properties(&self, dir: &str) -> Properties {
        let mut p = Properties::new();
        if self.is_plaintext() {
            return p;
        }
        p.set("security.protocol", self.protocol.name());
        if self.protocol.uses_tls() {
            if self.ca_pem.is_some() {
                p.set("ssl.truststore.type", "PEM")
                    .set("ssl.truststore.location", format!("{dir}/ca.pem"));
            }
            if self.certificate.is_some() {
                p.set("ssl.keystore.type", "PEM")
                    .set("ssl.keystore.location", format!("{dir}/keystore.pem"));
            }
            if !self.hostname_verification {
                p.set("ssl.endpoint.identification.algorithm", "");
            }
        }
        if self.protocol.uses_sasl() {
            let (user, password) = self.credentials.clone().unwrap_or_default();
            p.set("sasl.mechanism", self.mechanism.name()).set(
                "sasl.jaas.config",
                format!(
                    "{} required username=\"{user}\" password=\"{password}\";",
                    self.mechanism.login_module()
                ),
            );
        }
        p
    }

    /// The PEM files [`properties`](Self::properties) names, under `dir`.
    pub fn files(&self, dir: &str) -> Vec<ClientFile> {
        let mut files = Vec::new();
        if let (Some(hosts), true) = (&self.hosts, self.protocol.uses_sasl()) {
            files.push(ClientFile {
                path: format!("{dir}/hosts"),
                contents: hosts.clone(),
            });
        }
        if !self.protocol.uses_tls() {
            return files;
        }
        if let Some(ca) = &self.ca_pem {
            files.push(ClientFile {
                path: format!("{dir}/ca.pem"),
                contents: ca.clone(),
            });
        }
        if let Some(cert) = &self.certificate {
            files.push(ClientFile {
                path: format!("{dir}/keystore.pem"),
                contents: cert.keystore_pem(),
            });
        }
        files
    }
}
