//! Signature checks behind one trait, so the decision logic has one path whatever
//! does the crypto: the RustCrypto verifiers (`rsa`, `p256`, `p384`,
//! `ed25519-dalek`, `hmac`) everywhere, or the host's own BoringSSL (Envoy's
//! `verify_signature` foreign function) where it is offered. The module links
//! verifiers only: no signer, no random number generator.

use hmac::{Hmac, Mac};
use jsonwebtoken::Algorithm;
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::keys::der::{ecdsa_der, Curve};
use crate::keys::host_signature;
use crate::keys::jwks::{Key, KeyKind, Material};

/// Checks one signature.
pub trait SignatureBackend {
    /// Whether `signature` (raw bytes, as JWS carries them) is a valid `alg`
    /// signature of `signing_input` by `key`. Any error counts as not valid.
    fn verify(&self, key: &Key, alg: Algorithm, signing_input: &[u8], signature: &[u8]) -> bool;

    /// What one such check costs, in hundredths of a pure-Rust RSA-2048 check
    /// ([`RSA_2048_COST`]): by default what the RustCrypto verifiers cost
    /// ([`rust_cost`]).
    fn cost(&self, key: &Key, _alg: Algorithm) -> u32 {
        rust_cost(key)
    }
}

/// What one RSA-2048 check costs in pure Rust (about 1 ms of V8 in Envoy 1.40):
/// signature work is counted in hundredths of it.
pub const RSA_2048_COST: u32 = 100;

/// What a check by `key` costs the RustCrypto verifiers in V8, measured through
/// Envoy 1.40 (forged tokens, CPU per request over a malformed token's):
/// RSA grows with the square of the modulus (2048 bits 100, 3072 225, 4096
/// 400; measured 0.85-1.1, 1.75-1.85 and 3.5 ms), Ed25519 15 (0.1-0.15 ms);
/// P-256 200 and P-384 600 scale RSA-2048's by native ratios (the host checks
/// them where it exports `verify_signature`); HMAC 1.
pub fn rust_cost(key: &Key) -> u32 {
    match &key.material {
        Material::Rsa { n, .. } => rsa_cost(n.len(), RSA_2048_COST),
        Material::Ec(_) if key.kind == KeyKind::EcP256 => 200,
        Material::Ec(_) => 600,
        Material::Ed25519(_) => 15,
        Material::Secret(_) => 1,
    }
}

/// `at_2048` scaled by the square of the modulus length: `modulus_bytes` of 256
/// (2048 bits) cost `at_2048`, 512 four times that.
fn rsa_cost(modulus_bytes: usize, at_2048: u32) -> u32 {
    let bytes = u64::try_from(modulus_bytes).unwrap_or(u64::MAX);
    let cost = bytes
        .saturating_mul(bytes)
        .saturating_mul(u64::from(at_2048))
        / (256 * 256);
    u32::try_from(cost).unwrap_or(u32::MAX).max(1)
}

/// What a check costs when the host's BoringSSL does it, in V8 through Envoy
/// 1.40 (arguments encoded, the foreign call, the check): RSA 3 at 2048 bits
/// (about 25 µs) to 12 at 4096 (about 100 µs), P-256 5, P-384 45 (about 0.45
/// ms: BoringSSL's P-384 is not the fast one).
fn host_cost(key: &Key) -> u32 {
    match (&key.material, key.kind) {
        (Material::Rsa { n, .. }, _) => rsa_cost(n.len(), 3),
        (_, KeyKind::EcP256) => 5,
        _ => 45,
    }
}

/// Most that the checks of one token may cost together, in the units of
/// [`SignatureBackend::cost`]: two pure-Rust RSA-2048 checks. Its first check
/// is made whatever it costs ([`affordable`]).
///
pub const CHECK_BUDGET: u32 = 2 * RSA_2048_COST;

/// The candidates a token is tried against, in order: the first always (a token
/// that names its key costs that one check anyway), then each next one while the
/// total `cost` of the checks stays within [`CHECK_BUDGET`]. A `kid`-less
/// forgery thus costs at most the budget or one check of the first key, whichever
/// is more: one pure-Rust check against RSA-4096 keys, two against RSA-2048.
pub fn affordable(candidates: Vec<&Key>, cost: impl Fn(&Key) -> u32) -> Vec<&Key> {
    let mut spent: Option<u32> = None;
    candidates
        .into_iter()
        .take_while(|key| {
            let total = spent.unwrap_or(0).saturating_add(cost(key));
            let within = spent.is_none() || total <= CHECK_BUDGET;
            if within {
                spent = Some(total);
            }
            within
        })
        .collect()
}

/// The RustCrypto verifiers, in the VM: every algorithm.
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCrypto;

impl SignatureBackend for RustCrypto {
    fn verify(&self, key: &Key, alg: Algorithm, signing_input: &[u8], signature: &[u8]) -> bool {
        if !key.allows(alg) {
            return false;
        }
        match (&key.material, alg) {
            (Material::Rsa { n, e }, _) => rsa_verify(n, e, alg, signing_input, signature),
            (Material::Ec(point), Algorithm::ES256) => {
                use p256::ecdsa::signature::Verifier;
                let (Ok(key), Ok(sig)) = (
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(point),
                    p256::ecdsa::Signature::from_slice(signature),
                ) else {
                    return false;
                };
                key.verify(signing_input, &sig).is_ok()
            }
            (Material::Ec(point), Algorithm::ES384) => {
                use p384::ecdsa::signature::Verifier;
                let (Ok(key), Ok(sig)) = (
                    p384::ecdsa::VerifyingKey::from_sec1_bytes(point),
                    p384::ecdsa::Signature::from_slice(signature),
                ) else {
                    return false;
                };
                key.verify(signing_input, &sig).is_ok()
            }
            (Material::Ed25519(key), Algorithm::EdDSA) => {
                use ed25519_dalek::Verifier;
                ed25519_dalek::Signature::from_slice(signature)
                    .is_ok_and(|sig| key.verify(signing_input, &sig).is_ok())
            }
            (Material::Secret(secret), _) => hmac_verify(secret, alg, signing_input, signature),
            _ => false,
        }
    }
}

/// RSA PKCS#1 v1.5 (RS*) or PSS (PS*, any salt length as RFC 7518 allows the
/// hash's) over the digest of `message`.
fn rsa_verify(n: &[u8], e: &[u8], alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
    let Ok(key) = RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e)) else {
        return false;
    };
    let result = match alg {
        Algorithm::RS256 => key.verify(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(message),
            signature,
        ),
        Algorithm::RS384 => key.verify(
            Pkcs1v15Sign::new::<Sha384>(),
            &Sha384::digest(message),
            signature,
        ),
        Algorithm::RS512 => key.verify(
            Pkcs1v15Sign::new::<Sha512>(),
            &Sha512::digest(message),
            signature,
        ),
        Algorithm::PS256 => key.verify(Pss::new::<Sha256>(), &Sha256::digest(message), signature),
        Algorithm::PS384 => key.verify(Pss::new::<Sha384>(), &Sha384::digest(message), signature),
        Algorithm::PS512 => key.verify(Pss::new::<Sha512>(), &Sha512::digest(message), signature),
        _ => return false,
    };
    result.is_ok()
}

/// HMAC in constant time.
fn hmac_verify(secret: &[u8], alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
    fn check<M: Mac + hmac::digest::KeyInit>(
        secret: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(secret) else {
            return false;
        };
        mac.update(message);
        mac.verify_slice(signature).is_ok()
    }
    match alg {
        Algorithm::HS256 => check::<Hmac<Sha256>>(secret, message, signature),
        Algorithm::HS384 => check::<Hmac<Sha384>>(secret, message, signature),
        Algorithm::HS512 => check::<Hmac<Sha512>>(secret, message, signature),
        _ => false,
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

    fn cost(&self, key: &Key, alg: Algorithm) -> u32 {
        if host_hash(alg).is_some() && key.spki.is_some() {
            host_cost(key)
        } else {
            rust_cost(key)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::jwks::{parse_jwks, Origin};
    use serde_json::{json, Value};

    fn rsa_jwk(bits: usize, kid: &str) -> Value {
        use base64::Engine;
        let mut modulus = vec![0xffu8; bits / 8];
        modulus[0] = 0x80;
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&modulus);
        json!({"kty": "RSA", "kid": kid, "n": n, "e": "AQAB"})
    }

    fn rsa_key(bits: usize) -> Key {
        let jwks = json!({"keys": [rsa_jwk(bits, "k")]});
        parse_jwks(&jwks, Origin::Remote).unwrap().set.keys()[0].clone()
    }

    #[test]
    fn candidates_are_tried_within_the_budget_the_first_always() {
        let keys: Vec<Value> = [
            (2048, "a"),
            (2048, "b"),
            (4096, "c"),
            (4096, "d"),
            (3072, "e"),
        ]
        .iter()
        .map(|(bits, kid)| rsa_jwk(*bits, kid))
        .collect();
        let set = parse_jwks(&json!({ "keys": keys }), Origin::Remote)
            .unwrap()
            .set;
        let [a, b, c, d, e] = [0, 1, 2, 3, 4].map(|i| &set.keys()[i]);
        let tried = |candidates: Vec<&Key>, cost: &dyn Fn(&Key) -> u32| {
            affordable(candidates, cost)
                .iter()
                .map(|k| k.kid.clone().unwrap())
                .collect::<Vec<_>>()
        };
        let rust = |key: &Key| rust_cost(key);
        assert_eq!(tried(vec![a, b], &rust), ["a", "b"], "two RSA-2048 checks");
        assert_eq!(tried(vec![c, d], &rust), ["c"], "one RSA-4096 check");
        assert_eq!(tried(vec![a, c], &rust), ["a"]);
        assert_eq!(tried(vec![e, a], &rust), ["e"], "RSA-3072 costs 2.25");
        assert_eq!(
            tried(vec![c, d], &|_| 12),
            ["c", "d"],
            "checked by the host"
        );
        assert!(tried(Vec::new(), &rust).is_empty());
    }

    #[test]
    fn costs_grow_with_the_modulus_and_the_host_makes_rs_cheap() {
        let host = HostNative {
            call: |_: &[u8]| None,
        };
        let (small, large) = (rsa_key(2048), rsa_key(4096));
        assert_eq!(RustCrypto.cost(&small, Algorithm::PS512), RSA_2048_COST);
        assert_eq!(rust_cost(&rsa_key(3072)), 225);
        assert_eq!(RustCrypto.cost(&large, Algorithm::RS256), 400);
        assert_eq!(
            host.cost(&large, Algorithm::PS512),
            400,
            "PSS stays in the VM"
        );
        assert_eq!(host.cost(&large, Algorithm::RS512), 12);
        assert_eq!(host.cost(&small, Algorithm::RS256), 3);
    }
}
