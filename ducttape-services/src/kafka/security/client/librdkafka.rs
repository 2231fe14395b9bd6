//! A librdkafka client's side of [`ClientSecurity`]: a key/value map, certificates inline.

use std::collections::BTreeMap;

use super::ClientSecurity;

impl ClientSecurity {
    /// The same choices as librdkafka configuration (it takes the same `security.protocol`
    /// and `sasl.*` names; certificates inline as PEM, so no file is needed wherever the
    /// client runs). For an rdkafka-based client: `ClientConfig::set(k, v)` for each pair.
    ///
    /// ```
    /// use ducttape_services::kafka::{ClientSecurity, SaslMechanism, SecurityProtocol};
    /// let c = ClientSecurity::new(SecurityProtocol::SaslPlaintext, SaslMechanism::Plain)
    ///     .with_credentials("client", "client-secret");
    /// let m = c.librdkafka();
    /// assert_eq!(m["security.protocol"], "SASL_PLAINTEXT");
    /// assert_eq!(m["sasl.username"], "client");
    /// ```
    pub fn librdkafka(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert(
            "security.protocol".to_string(),
            self.protocol.name().to_string(),
        );
        if self.protocol.uses_tls() {
            if let Some(ca) = &self.ca_pem {
                m.insert("ssl.ca.pem".into(), ca.clone());
            }
            if let Some(cert) = &self.certificate {
                m.insert("ssl.certificate.pem".into(), cert.chain_pem());
                m.insert("ssl.key.pem".into(), cert.key_pem.clone());
            }
            m.insert(
                "ssl.endpoint.identification.algorithm".into(),
                if self.hostname_verification {
                    "https"
                } else {
                    "none"
                }
                .into(),
            );
        }
        if self.protocol.uses_sasl() {
            let (user, password) = self.credentials.clone().unwrap_or_default();
            m.insert("sasl.mechanism".into(), self.mechanism.name().into());
            m.insert("sasl.username".into(), user);
            m.insert("sasl.password".into(), password);
        }
        m
    }
}
