//! Signature checks behind one trait, so the decision logic has one path whatever
//! does the crypto: `jsonwebtoken`'s `rust_crypto` everywhere, or the host's own
//! BoringSSL (Envoy's `verify_signature` foreign function) where it is offered.

use jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
use jsonwebtoken::Algorithm;

use crate::der::{ecdsa_der, Curve};
use crate::host_signature;
use crate::jwks::{Key, KeyKind};

/// Checks one signature.
pub trait SignatureBackend {
    /// Whether `signature` (raw bytes, as JWS carries them) is a valid `alg`
    /// signature of `signing_input` by `key`. Any error counts as not valid.
    fn verify(&self, key: &Key, alg: Algorithm, signing_input: &[u8], signature: &[u8]) -> bool;
}

/// `jsonwebtoken` with its `rust_crypto` backend: every algorithm.
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCrypto;

impl SignatureBackend for RustCrypto {
    fn verify(&self, key: &Key, alg: Algorithm, signing_input: &[u8], signature: &[u8]) -> bool {
        if !key.allows(alg) {
            return false;
        }
        match (DEFAULT_PROVIDER.verifier_factory)(&alg, &key.decoding) {
            Ok(verifier) => verifier.verify(signing_input, &signature.to_vec()).is_ok(),
            Err(_) => false,
        }
    }
}

/// The host's `verify_signature` for RS* and ES*, `rust_crypto` for the rest.
/// `call` sends encoded arguments to the host and returns its encoded result, or
/// `None` when the call itself failed (then `rust_crypto` decides).
pub struct HostNative<C: Fn(&[u8]) -> Option<Vec<u8>>> {
    /// The foreign-function call.
    pub call: C,
}

impl<C: Fn(&[u8]) -> Option<Vec<u8>>> SignatureBackend for HostNative<C> {
    fn verify(&self, key: &Key, alg: Algorithm, signing_input: &[u8], signature: &[u8]) -> bool {
        if !key.allows(alg) {
            return false;
        }
        let Some(hash) = host_hash(alg) else {
            return RustCrypto.verify(key, alg, signing_input, signature);
        };
        let Some(spki) = key.spki.as_deref() else {
            return RustCrypto.verify(key, alg, signing_input, signature);
        };
        let der_signature;
        let sent = match key.kind {
            KeyKind::EcP256 | KeyKind::EcP384 => {
                let curve = if key.kind == KeyKind::EcP256 {
                    Curve::P256
                } else {
                    Curve::P384
                };
                // JWS fixes raw r||s; a DER signature in a token is refused here.
                match ecdsa_der(curve, signature) {
                    Some(der) => {
                        der_signature = der;
                        der_signature.as_slice()
                    }
                    None => return false,
                }
            }
            _ => signature,
        };
        let arguments = host_signature::encode_arguments(hash, spki, sent, signing_input);
        match (self.call)(&arguments).and_then(|result| host_signature::decode_result(&result)) {
            Some(valid) => valid,
            None => RustCrypto.verify(key, alg, signing_input, signature),
        }
    }
}

/// The host hash name for algorithms the host verifies (RSA PKCS#1 v1.5, ECDSA).
fn host_hash(alg: Algorithm) -> Option<&'static str> {
    match alg {
        Algorithm::RS256 | Algorithm::ES256 => Some("sha256"),
        Algorithm::RS384 | Algorithm::ES384 => Some("sha384"),
        Algorithm::RS512 => Some("sha512"),
        _ => None,
    }
}
