//! The broker side of a [`SecurityConfig`]: its listeners (named, given ports and rendered
//! here and only here), their TLS key stores, SASL JAAS, the authorizer and its super users,
//! and the SCRAM arguments of storage formatting. `kafka/config.rs` takes all of it as one
//! [`SecurityConfig::broker_properties`] call.

use super::{
    default_password, SaslMechanism, SecurityConfig, SecurityProtocol, ADMIN_USER, BROKER_TLS_DIR,
    BROKER_USER, CONTROLLER_LISTENER, INTER_BROKER_LISTENER, INTER_BROKER_PORT,
};
use crate::kafka::config::Role;
use crate::properties::Properties;

/// The client listener's port on every broker.
pub const BROKER_PORT: u16 = 9092;
/// The KRaft controller listener's port.
pub const CONTROLLER_PORT: u16 = 9093;

impl SecurityConfig {
    /// Every listener of the cluster, name and protocol: the client listener, the inter-broker
    /// one when separate, the controller's in KRaft mode.
    pub fn listeners(&self, kraft: bool) -> Vec<(&'static str, SecurityProtocol)> {
        let mut all = vec![(self.client_listener_name(), self.client)];
        if self.inter_broker_listener_name() == INTER_BROKER_LISTENER {
            all.push((INTER_BROKER_LISTENER, self.inter_broker_protocol()));
        }
        if kraft {
            all.push((CONTROLLER_LISTENER, self.controller));
        }
        all
    }

    /// `listener.security.protocol.map`.
    pub fn protocol_map(&self, kraft: bool) -> String {
        self.listeners(kraft)
            .iter()
            .map(|(name, protocol)| format!("{name}:{protocol}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Whether any listener uses SASL (the brokers' JVMs then read a hosts file; see
    /// [`ClientSecurity::jvm_args`](super::ClientSecurity::jvm_args) for why).
    pub fn uses_sasl(&self, kraft: bool) -> bool {
        self.listeners(kraft).iter().any(|(_, p)| p.uses_sasl())
    }

    /// The broker-side security of a node at `address` playing `role`: its listeners
    /// ([`listener_properties`](Self::listener_properties)) and the settings of every
    /// listener of the cluster ([`listener_security`](Self::listener_security)).
    pub fn broker_properties(&self, address: &str, role: Role, kraft: bool) -> Properties {
        let mut p = self.listener_properties(address, role, kraft);
        p.extend(&self.listener_security(kraft));
        p
    }

    /// The listeners of a node at `address` playing `role`: the client listener on port 9092
    /// is named after its protocol (`SASL_SSL://…:9092`), a separate inter-broker listener is
    /// `BROKER://…:9094`, the KRaft controller's `CONTROLLER://…:9093`. A broker advertises
    /// its broker listeners and names the inter-broker one; a controller only listens.
    pub fn listener_properties(&self, address: &str, role: Role, kraft: bool) -> Properties {
        let mut p = Properties::new();
        let mut broker = vec![format!(
            "{}://{address}:{BROKER_PORT}",
            self.client_listener_name()
        )];
        if self.inter_broker_listener_name() == INTER_BROKER_LISTENER {
            broker.push(format!(
                "{INTER_BROKER_LISTENER}://{address}:{INTER_BROKER_PORT}"
            ));
        }
        let mut listeners = Vec::new();
        if role.is_broker() {
            listeners.extend(broker.iter().cloned());
        }
        if kraft && role.is_controller() {
            listeners.push(format!(
                "{CONTROLLER_LISTENER}://{address}:{CONTROLLER_PORT}"
            ));
        }
        p.set("listener.security.protocol.map", self.protocol_map(kraft))
            .set("listeners", listeners.join(","));
        if role.is_broker() {
            p.set("advertised.listeners", broker.join(",")).set(
                "inter.broker.listener.name",
                self.inter_broker_listener_name(),
            );
        }
        if kraft {
            p.set("controller.listener.names", CONTROLLER_LISTENER);
        }
        p
    }

    /// The security settings of every listener of the cluster, with TLS files under
    /// `/mnt/kafka/tls`. Every node gets the settings of every listener: a broker is a
    /// client of the controller listener, which it does not serve.
    pub fn listener_security(&self, kraft: bool) -> Properties {
        let listeners = self.listeners(kraft);
        let mut p = Properties::new();
        let mechanism = self.sasl_mechanism();
        if listeners.iter().any(|(_, proto)| proto.uses_tls()) {
            p.set("ssl.keystore.type", "PEM")
                .set(
                    "ssl.keystore.location",
                    format!("{BROKER_TLS_DIR}/keystore.pem"),
                )
                .set("ssl.truststore.type", "PEM")
                .set(
                    "ssl.truststore.location",
                    format!("{BROKER_TLS_DIR}/ca.pem"),
                )
                // `CN=broker` → principal `broker`, like the SASL user.
                .set(
                    "ssl.principal.mapping.rules",
                    "RULE:^CN=([^,]+)$/$1/,DEFAULT",
                );
        }
        for (listener, protocol) in &listeners {
            let prefix = format!("listener.name.{}", listener.to_lowercase());
            if self.client_auth && *listener == self.client_listener_name() {
                p.set(&format!("{prefix}.ssl.client.auth"), "required");
            } else if *protocol == SecurityProtocol::Ssl {
                // Brokers present their certificate to each other (principal `broker`); a
                // client without one is ANONYMOUS.
                p.set(&format!("{prefix}.ssl.client.auth"), "requested");
            }
            if protocol.uses_sasl() {
                let mech = if *listener == CONTROLLER_LISTENER {
                    SaslMechanism::Plain
                } else {
                    mechanism
                };
                p.set(&format!("{prefix}.sasl.enabled.mechanisms"), mech.name());
                p.set(
                    &format!("{prefix}.{}.sasl.jaas.config", mech.name().to_lowercase()),
                    self.broker_jaas(mech),
                );
            }
        }
        if self.inter_broker_protocol().uses_sasl() {
            p.set("sasl.mechanism.inter.broker.protocol", mechanism.name());
        }
        if kraft && self.controller.uses_sasl() {
            p.set(
                "sasl.mechanism.controller.protocol",
                SaslMechanism::Plain.name(),
            );
        }
        if self.authorizer {
            p.set(
                "authorizer.class.name",
                if kraft {
                    "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
                } else {
                    "kafka.security.authorizer.AclAuthorizer"
                },
            )
            .set("super.users", self.super_users(kraft).join(";"));
        }
        p
    }

    /// `User:admin`, `User:broker`, and `User:ANONYMOUS` when brokers or controllers reach
    /// each other without authenticating (a PLAINTEXT inter-broker or controller listener):
    /// they must pass the authorizer too.
    pub fn super_users(&self, kraft: bool) -> Vec<String> {
        let mut users = vec![format!("User:{ADMIN_USER}"), format!("User:{BROKER_USER}")];
        let unauthenticated = self.inter_broker_protocol() == SecurityProtocol::Plaintext
            || (kraft && self.controller == SecurityProtocol::Plaintext);
        if unauthenticated {
            users.push("User:ANONYMOUS".into());
        }
        users
    }

    /// The client listener's name: the protocol's name.
    pub fn client_listener_name(&self) -> &'static str {
        self.client.name()
    }

    /// The inter-broker listener's name: the client listener when the protocols match, else
    /// `BROKER`.
    pub fn inter_broker_listener_name(&self) -> &'static str {
        if self.inter_broker_protocol() == self.client {
            self.client_listener_name()
        } else {
            INTER_BROKER_LISTENER
        }
    }

    fn broker_jaas(&self, mechanism: SaslMechanism) -> String {
        let mut jaas = format!(
            "{} required username=\"{BROKER_USER}\" password=\"{}\"",
            mechanism.login_module(),
            default_password(BROKER_USER)
        );
        if mechanism == SaslMechanism::Plain {
            for (name, password) in self.users() {
                jaas.push_str(&format!(" user_{name}=\"{password}\""));
            }
        }
        jaas.push(';');
        jaas
    }

    /// The `--add-scram` arguments of `kafka-storage format` (KRaft), one per user.
    pub fn storage_scram_args(&self) -> Vec<String> {
        let mechanism = self.sasl_mechanism();
        self.users()
            .into_iter()
            .flat_map(|(name, password)| {
                [
                    "--add-scram".to_string(),
                    format!("{mechanism}=[name={name},password={password}]"),
                ]
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sasl_ssl_with_scram_and_an_ssl_inter_broker_listener() {
        let s = SecurityConfig::new(SecurityProtocol::SaslSsl)
            .mechanism("scram-sha-512")
            .inter_broker(SecurityProtocol::Ssl)
            .controller(SecurityProtocol::SaslPlaintext)
            .authorizer();
        s.validate(true).unwrap();
        let p = s.broker_properties("10.0.0.1", Role::Combined, true);
        assert_eq!(p.get("ssl.keystore.type"), Some("PEM"));
        assert_eq!(
            p.get("ssl.truststore.location"),
            Some("/mnt/kafka/tls/ca.pem")
        );
        assert_eq!(
            p.get("listener.name.sasl_ssl.sasl.enabled.mechanisms"),
            Some("SCRAM-SHA-512")
        );
        let jaas = p
            .get("listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config")
            .unwrap();
        assert!(jaas.starts_with("org.apache.kafka.common.security.scram.ScramLoginModule required username=\"broker\""), "{jaas}");
        // The controller listener uses PLAIN, with every user's password.
        let controller = p
            .get("listener.name.controller.plain.sasl.jaas.config")
            .unwrap();
        assert!(
            controller.contains("user_client=\"client-secret\""),
            "{controller}"
        );
        assert_eq!(p.get("sasl.mechanism.controller.protocol"), Some("PLAIN"));
        // Brokers talk SSL to each other: no SASL mechanism for that.
        assert_eq!(p.get("sasl.mechanism.inter.broker.protocol"), None);
        assert_eq!(
            p.get("authorizer.class.name"),
            Some("org.apache.kafka.metadata.authorizer.StandardAuthorizer")
        );
        assert_eq!(p.get("super.users"), Some("User:admin;User:broker"));
        assert_eq!(s.inter_broker_listener_name(), "BROKER");
        let scram = s.storage_scram_args();
        assert_eq!(scram[0], "--add-scram");
        assert_eq!(scram[1], "SCRAM-SHA-512=[name=admin,password=admin-secret]");
    }

    #[test]
    fn zookeeper_mode_uses_the_acl_authorizer_and_plaintext_brokers_are_super_users() {
        let s = SecurityConfig::new(SecurityProtocol::SaslPlaintext)
            .inter_broker(SecurityProtocol::Plaintext)
            .authorizer();
        let p = s.broker_properties("10.0.0.1", Role::Broker, false);
        assert_eq!(
            p.get("authorizer.class.name"),
            Some("kafka.security.authorizer.AclAuthorizer")
        );
        assert_eq!(
            p.get("super.users"),
            Some("User:admin;User:broker;User:ANONYMOUS")
        );
        assert_eq!(p.get("ssl.keystore.type"), None);
    }
}
