//! A private key from a PEM file, for the commands that sign (`mint`,
//! `dpop-proof`): PKCS#1 RSA, or PKCS#8 RSA, EC P-256/P-384 and Ed25519, told
//! apart by the algorithm in the key; other files get a message saying what to do.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};

/// What kind of private key, which decides the algorithms it signs with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// RSA.
    Rsa,
    /// EC P-256.
    P256,
    /// EC P-384.
    P384,
    /// Ed25519.
    Ed25519,
}

impl Kind {
    /// The key type in words, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Rsa => "RSA",
            Kind::P256 => "EC P-256",
            Kind::P384 => "EC P-384",
            Kind::Ed25519 => "Ed25519",
        }
    }

    /// The algorithm it signs with unless told otherwise.
    pub fn default_alg(self) -> Algorithm {
        match self {
            Kind::Rsa => Algorithm::RS256,
            Kind::P256 => Algorithm::ES256,
            Kind::P384 => Algorithm::ES384,
            Kind::Ed25519 => Algorithm::EdDSA,
        }
    }

    /// Whether it signs with `alg`.
    pub fn signs(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            Kind::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            Kind::P256 => alg == ES256,
            Kind::P384 => alg == ES384,
            Kind::Ed25519 => alg == EdDSA,
        }
    }

    /// The algorithms it signs with, in words.
    pub fn algs(self) -> &'static str {
        match self {
            Kind::Rsa => "RS256, RS384, RS512, PS256, PS384 or PS512",
            Kind::P256 => "ES256",
            Kind::P384 => "ES384",
            Kind::Ed25519 => "EdDSA",
        }
    }
}

/// A PEM private key and its kind.
pub fn read_key(path: &str) -> Result<(EncodingKey, Kind), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--key {path}: {e}"))?;
    let label = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("-----BEGIN "))
        .and_then(|rest| rest.strip_suffix("-----"))
        .ok_or_else(|| format!("--key {path}: not a PEM file (no -----BEGIN ...----- line)"))?;
    let pem = text.as_bytes();
    let bad = |e: jsonwebtoken::errors::Error| format!("--key {path}: not a usable {label}: {e}");
    match label {
        "RSA PRIVATE KEY" => Ok((EncodingKey::from_rsa_pem(pem).map_err(bad)?, Kind::Rsa)),
        "PRIVATE KEY" => {
            let der = pem_body(&text).ok_or_else(|| format!("--key {path}: its base64 is broken"))?;
            match pkcs8_kind(&der) {
                Some(Kind::Rsa) => Ok((EncodingKey::from_rsa_pem(pem).map_err(bad)?, Kind::Rsa)),
                Some(kind @ (Kind::P256 | Kind::P384)) => {
                    Ok((EncodingKey::from_ec_pem(pem).map_err(bad)?, kind))
                }
                Some(Kind::Ed25519) => {
                    Ok((EncodingKey::from_ed_pem(pem).map_err(bad)?, Kind::Ed25519))
                }
                None => Err(format!(
                    "--key {path}: a key mint does not sign with (RSA, EC P-256 or P-384, and Ed25519 keys are)"
                )),
            }
        }
        "EC PRIVATE KEY" => Err(format!(
            "--key {path}: an EC key in SEC1 form; convert it to PKCS#8: openssl pkcs8 -topk8 -nocrypt -in {path} -out key.pem"
        )),
        "ENCRYPTED PRIVATE KEY" => Err(format!(
            "--key {path}: encrypted; decrypt it first: openssl pkcs8 -in {path} -out key.pem"
        )),
        "PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE" => Err(format!(
            "--key {path}: a {label}, but signing needs the PRIVATE key"
        )),
        other => Err(format!(
            "--key {path}: a PEM {other}, not a private key"
        )),
    }
}

/// The DER bytes of the first PEM block of `text`.
fn pem_body(text: &str) -> Option<Vec<u8>> {
    let body: String = text
        .lines()
        .skip_while(|line| !line.starts_with("-----BEGIN "))
        .skip(1)
        .take_while(|line| !line.starts_with("-----END "))
        .map(str::trim)
        .collect();
    STANDARD.decode(body).ok()
}

/// The kind of a PKCS#8 private key, from the algorithm OID (and curve) in it.
fn pkcs8_kind(der: &[u8]) -> Option<Kind> {
    // DER of the OIDs: rsaEncryption, id-ecPublicKey with prime256v1 or secp384r1, id-Ed25519.
    const RSA: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
    ];
    const EC: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
    const ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
    // The AlgorithmIdentifier comes right after the version, within the first bytes.
    let head = der.get(..der.len().min(32))?;
    let has = |oid: &[u8]| head.windows(oid.len()).any(|w| w == oid);
    if has(RSA) {
        Some(Kind::Rsa)
    } else if has(EC) && has(P256) {
        Some(Kind::P256)
    } else if has(EC) && has(P384) {
        Some(Kind::P384)
    } else if has(ED25519) {
        Some(Kind::Ed25519)
    } else {
        None
    }
}
