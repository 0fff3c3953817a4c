//! The STS over HTTPS with client certificates (RFC 8705 `tls_client_auth`):
//! its server certificate, the CA a client certificate must chain to (rustls
//! checks the chain and the signature of the handshake), and which client each
//! certificate of the test PKI was issued to (its URI SAN).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use sha2::{Digest, Sha256};

use crate::support::tls::Pki;

/// What an HTTPS STS serves with and whom its client certificates name.
#[derive(Clone)]
pub struct StsTls {
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
    /// (SHA-256 of a client certificate's DER, the client id it was issued to).
    issued_to: Vec<(Vec<u8>, String)>,
}

impl StsTls {
    /// The test PKI's server certificate, its CA, and its client certificates
    /// (each issued to its SPIFFE ID).
    pub fn of(pki: &Pki) -> StsTls {
        StsTls {
            cert: pki.server_cert.clone(),
            key: pki.server_key.clone(),
            ca: pki.ca.clone(),
            issued_to: pki
                .clients
                .iter()
                .map(|client| (client.sha256.clone(), client.id.clone()))
                .collect(),
        }
    }

    /// The rustls server: this certificate; a client certificate optional (a
    /// connection without one is served, and its `tls_client_auth` refused),
    /// but one that is sent must chain to the CA.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(&self.ca).unwrap() {
            roots.add(ca.unwrap()).unwrap();
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .allow_unauthenticated()
                .build()
                .unwrap();
        let certs = CertificateDer::pem_file_iter(&self.cert)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(&self.key).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)
            .unwrap();
        Arc::new(config)
    }

    /// The client a verified certificate (DER) was issued to.
    pub fn client_of(&self, certificate: &[u8]) -> Option<&str> {
        let digest = Sha256::digest(certificate);
        self.issued_to
            .iter()
            .find(|(sha256, _)| sha256[..] == digest[..])
            .map(|(_, id)| id.as_str())
    }
}
