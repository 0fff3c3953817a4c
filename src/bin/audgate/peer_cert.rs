//! `audgate verify --peer-cert FILE`, `--peer-uri-san` and `--peer-cert-sha256`:
//! the downstream TLS peer the request comes from, as the filter reads it from
//! Envoy (the certificate's first URI SAN, for `caller`; the SHA-256 of its DER,
//! for `cnf.x5t#S256`).

use audgate::policy::caller::KnownPeer;
use sha2::{Digest, Sha256};
use x509_parser::extensions::GeneralName;
use x509_parser::pem::parse_x509_pem;

/// What the options say of the peer.
#[derive(Default)]
pub struct PeerOptions {
    /// `--peer-cert FILE`.
    pub cert: Option<String>,
    /// `--peer-uri-san URI`.
    pub uri_san: Option<String>,
    /// `--peer-cert-sha256 HEX`.
    pub cert_sha256: Option<String>,
}

impl PeerOptions {
    /// Whether any option names a peer.
    pub fn any(&self) -> bool {
        self.cert.is_some() || self.uri_san.is_some() || self.cert_sha256.is_some()
    }

    /// The peer: from the certificate, with `--peer-uri-san` and
    /// `--peer-cert-sha256` in place of what it says; an error in words.
    pub fn peer(&self) -> Result<KnownPeer, String> {
        let mut peer = KnownPeer {
            uri_san: None,
            certificate_sha256_hex: None,
            address: None,
        };
        if let Some(path) = &self.cert {
            let (uri_san, sha256) = read_certificate(path)?;
            peer.uri_san = uri_san;
            peer.certificate_sha256_hex = Some(sha256);
        }
        if let Some(uri) = &self.uri_san {
            peer.uri_san = Some(uri.clone());
        }
        if let Some(hex) = &self.cert_sha256 {
            let hex = hex.to_ascii_lowercase();
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "--peer-cert-sha256 takes the SHA-256 of the certificate's DER as 64 hex digits (as 'openssl x509 -noout -fingerprint -sha256' prints it, without the colons), not {:?}",
                    self.cert_sha256.as_deref().unwrap_or_default()
                ));
            }
            peer.certificate_sha256_hex = Some(hex);
        }
        Ok(peer)
    }
}

/// The first URI SAN and the DER's SHA-256 (hex) of the PEM certificate in `path`.
fn read_certificate(path: &str) -> Result<(Option<String>, String), String> {
    let text = std::fs::read(path).map_err(|e| format!("--peer-cert {path}: {e}"))?;
    let (_, pem) = parse_x509_pem(&text).map_err(|_| {
        format!("--peer-cert {path}: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file")
    })?;
    let certificate = pem
        .parse_x509()
        .map_err(|_| format!("--peer-cert {path}: the PEM block is not an X.509 certificate"))?;
    let uri_san = certificate
        .subject_alternative_name()
        .ok()
        .flatten()
        .and_then(|san| {
            san.value.general_names.iter().find_map(|name| match name {
                GeneralName::URI(uri) => Some((*uri).to_owned()),
                _ => None,
            })
        });
    let digest = Sha256::digest(&pem.contents);
    let hex = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    Ok((uri_san, hex))
}
