//! A per-run certificate authority and the certificates it issues, as PEM.
//!
//! Generated here with `rcgen` (pure Rust, on the `ring` that russh already brings) rather than
//! with the JDK's `keytool` on each node: no JVM start per certificate (≈ 1 s each on 2 cores),
//! no keystore passwords to carry around, nothing fetched from outside, and the same PEM files
//! serve Kafka (`ssl.keystore.type=PEM`, Kafka ≥ 2.7) and librdkafka (`ssl.ca.location`).
//! The CA lives only in the test process's memory; what reaches the nodes is its certificate
//! and each node's key and certificate (see [`crate::kafka::security`]).
//!
//! Keys are ECDSA P-256 in PKCS#8 (`BEGIN PRIVATE KEY`), unencrypted: Kafka's file-based PEM
//! key store reads them without `ssl.key.password`, so the files are guarded by their mode
//! (0600) instead.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// Making a certificate failed (a name rcgen cannot encode, say).
#[derive(Debug, thiserror::Error)]
#[error("tls: cannot issue the certificate for {subject}: {source}")]
pub struct TlsError {
    /// The certificate's common name.
    pub subject: String,
    /// rcgen's reason.
    #[source]
    pub source: rcgen::Error,
}

/// A certificate authority made for one run.
///
/// ```
/// use ducttape_services::CertificateAuthority;
/// let ca = CertificateAuthority::new("ducttape test CA").unwrap();
/// let cert = ca.issue("broker", &["10.0.0.11", "worker1"]).unwrap();
/// assert!(cert.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
/// assert!(cert.chain_pem().ends_with(ca.cert_pem()));
/// ```
pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    cert_der: Vec<u8>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

/// A certificate and its private key, as PEM.
#[derive(Clone)]
pub struct IssuedCertificate {
    /// The certificate.
    pub cert_pem: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// Its PKCS#8 private key (unencrypted).
    pub key_pem: String,
    /// The issuing CA's certificate.
    pub ca_pem: String,
}

impl std::fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCertificate")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

impl IssuedCertificate {
    /// The certificate followed by the CA's: the chain a TLS peer presents.
    pub fn chain_pem(&self) -> String {
        format!("{}{}", self.cert_pem, self.ca_pem)
    }

    /// The key then the chain: one file a Kafka PEM key store (`ssl.keystore.location` with
    /// `ssl.keystore.type=PEM`) reads.
    pub fn keystore_pem(&self) -> String {
        format!("{}{}", self.key_pem, self.chain_pem())
    }
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

impl CertificateAuthority {
    /// A new CA whose certificate's common name is `name`.
    pub fn new(name: &str) -> Result<Self, TlsError> {
        let err = |source| TlsError {
            subject: name.to_string(),
            source,
        };
        let key = KeyPair::generate().map_err(err)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params.distinguished_name = distinguished_name(name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).map_err(err)?;
        Ok(Self {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA's certificate: what a peer must trust.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// A certificate for `common_name` valid for `names` (IP addresses become IP SANs, the
    /// rest DNS SANs), for both server and client authentication (brokers are both).
    pub fn issue(&self, common_name: &str, names: &[&str]) -> Result<IssuedCertificate, TlsError> {
        let err = |source| TlsError {
            subject: common_name.to_string(),
            source,
        };
        let mut unique: Vec<String> = Vec::new();
        for n in names {
            if !n.is_empty() && !unique.iter().any(|u| u == n) {
                unique.push(n.to_string());
            }
        }
        let key = KeyPair::generate().map_err(err)?;
        let mut params = CertificateParams::new(unique).map_err(err)?;
        params.distinguished_name = distinguished_name(common_name);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &self.issuer).map_err(err)?;
        Ok(IssuedCertificate {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: key.serialize_pem(),
            ca_pem: self.cert_pem.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
    use webpki::{anchor_from_trusted_cert, EndEntityCert, KeyUsage};

    /// Verifies `cert` as a TLS client would, trusting `ca` only, for `name`.
    fn verify(
        ca: &CertificateAuthority,
        cert: &IssuedCertificate,
        name: &str,
    ) -> Result<(), String> {
        let ca_der = CertificateDer::from(ca.cert_der().to_vec());
        let anchor = anchor_from_trusted_cert(&ca_der).map_err(|e| e.to_string())?;
        let leaf_der = CertificateDer::from(cert.cert_der.clone());
        let leaf = EndEntityCert::try_from(&leaf_der).map_err(|e| e.to_string())?;
        leaf.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &[anchor],
            &[],
            UnixTime::now(),
            KeyUsage::server_auth(),
            None,
            None,
        )
        .map_err(|e| format!("chain: {e}"))?;
        let server_name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
        leaf.verify_is_valid_for_subject_name(&server_name)
            .map_err(|e| format!("name: {e}"))
    }

    #[test]
    fn node_certificates_chain_to_the_ca_and_carry_address_and_hostname() {
        let ca = CertificateAuthority::new("ducttape test CA").unwrap();
        let cert = ca.issue("broker", &["10.0.0.11", "worker1"]).unwrap();
        verify(&ca, &cert, "10.0.0.11").unwrap();
        verify(&ca, &cert, "worker1").unwrap();
        // Another node's address or name is not covered: hostname verification bites.
        let other = verify(&ca, &cert, "10.0.0.12").unwrap_err();
        assert!(other.starts_with("name:"), "{other}");
        assert!(verify(&ca, &cert, "worker2")
            .unwrap_err()
            .starts_with("name:"));
    }

    #[test]
    fn another_runs_ca_is_not_trusted() {
        let ca = CertificateAuthority::new("run 1").unwrap();
        let stranger = CertificateAuthority::new("run 2").unwrap();
        let cert = stranger.issue("broker", &["10.0.0.11"]).unwrap();
        let err = verify(&ca, &cert, "10.0.0.11").unwrap_err();
        assert!(err.starts_with("chain:"), "{err}");
    }

    #[test]
    fn pem_files_are_what_kafka_reads() {
        let ca = CertificateAuthority::new("ca").unwrap();
        let cert = ca.issue("client", &["10.0.0.11", "10.0.0.11", ""]).unwrap();
        let store = cert.keystore_pem();
        assert!(
            store.starts_with("-----BEGIN PRIVATE KEY-----\n"),
            "{store}"
        );
        assert_eq!(store.matches("-----BEGIN CERTIFICATE-----").count(), 2);
        assert!(store.ends_with(ca.cert_pem()));
        // Duplicate and empty names are dropped, not rejected.
        verify(&ca, &cert, "10.0.0.11").unwrap();
    }
}
