//! JWKS JSON → the keys audgate can use. Each key is converted on its own: one
//! unusable key is skipped (with its reason) and the rest of the set still serves.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::keys::der::{self, Curve};

/// Most keys read from one set; the rest are skipped.
pub const MAX_KEYS: usize = 64;
/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (the verifier's own limit).
pub const MAX_RSA_BITS: usize = 4096;
/// Most keys one token is tried against. A token names its key by `kid`; one
/// without (or a `kid` that several keys share) is tried against at most this
/// many keys that fit its `alg`, and only while their checks cost no more than
/// `verify::CHECK_BUDGET` (`verify::affordable`), so a forgery cannot make the
/// filter run every key's (pure-Rust, milliseconds in V8) signature check.
pub const MAX_CANDIDATES: usize = 2;

/// The JWS algorithm called `name`: the names of RFC 7518, and `Ed25519` (RFC
/// 9864's fully specified name) as the same as `EdDSA` over an Ed25519 key.
pub fn algorithm_named(name: &str) -> Option<Algorithm> {
    match name {
        "Ed25519" => Some(Algorithm::EdDSA),
        other => other.parse().ok(),
    }
}

/// The type of a usable key, which fixes the algorithms it can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA: RS256/384/512 and PS256/384/512.
    Rsa,
    /// EC P-256: ES256.
    EcP256,
    /// EC P-384: ES384.
    EcP384,
    /// OKP Ed25519: EdDSA.
    Ed25519,
    /// Shared secret: HS256/384/512 (only from `local_jwks`).
    Hmac,
}

impl KeyKind {
    /// Whether a key of this kind can verify `alg`.
    pub fn allows(self, alg: Algorithm) -> bool {
        matches!(
            (self, alg),
            (
                KeyKind::Rsa,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ) | (KeyKind::EcP256, Algorithm::ES256)
                | (KeyKind::EcP384, Algorithm::ES384)
                | (KeyKind::Ed25519, Algorithm::EdDSA)
                | (
                    KeyKind::Hmac,
                    Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
                )
        )
    }
}

/// One usable verification key.
#[derive(Clone)]
pub struct Key {
    /// The key's `kid`, if it has one.
    pub kid: Option<String>,
    /// Its type.
    pub kind: KeyKind,
    /// The key's own `alg`, when the JWK pins one.
    pub alg: Option<Algorithm>,
    /// The key material, for the signature check.
    pub material: Material,
    /// SubjectPublicKeyInfo DER of RSA and EC keys, for host-native verification.
    pub spki: Option<Vec<u8>>,
    /// Length of an HMAC secret in bytes (0 for other kinds): an algorithm whose
    /// hash is longer than the secret is not allowed (RFC 7518 3.2).
    pub secret_bytes: usize,
}

/// A key's material as the signature check reads it.
#[derive(Clone)]
pub enum Material {
    /// RSA modulus and public exponent, big-endian, without leading zeros.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
    },
    /// An EC public point, SEC1 uncompressed (`04 || x || y`).
    Ec(Vec<u8>),
    /// An Ed25519 public key.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// A shared secret.
    Secret(Vec<u8>),
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("kind", &self.kind)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// Whether this key may verify a token signed with `alg`.
    pub fn allows(&self, alg: Algorithm) -> bool {
        self.kind.allows(alg)
            && self.alg.is_none_or(|own| own == alg)
            && self.secret_bytes >= min_secret_bytes(alg)
    }
}

/// The shortest HMAC secret `alg` may use: its hash's output (RFC 7518 3.2).
fn min_secret_bytes(alg: Algorithm) -> usize {
    match alg {
        Algorithm::HS256 => 32,
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 0,
    }
}

/// The usable keys of one JWKS.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<Key>,
}

/// What key lookup found for a token.
#[derive(Debug)]
pub enum Selection<'a> {
    /// Keys to try, in order (at least one).
    Keys(Vec<&'a Key>),
    /// The token's `kid` is in no key of the set.
    UnknownKid,
    /// Keys exist, but none may verify this algorithm.
    NoKeyForAlgorithm,
}

impl KeySet {
    /// Every usable key.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Whether the set holds no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys a token with this `kid` and `alg` is tried against: those with the
    /// same `kid` (every key when the token has none) that allow `alg`, keys whose
    /// own `alg` is the token's first, then in set order, at most
    /// [`MAX_CANDIDATES`].
    pub fn select(&self, kid: Option<&str>, alg: Algorithm) -> Selection<'_> {
        let named: Vec<&Key> = match kid {
            Some(kid) => self
                .keys
                .iter()
                .filter(|key| key.kid.as_deref() == Some(kid))
                .collect(),
            None => self.keys.iter().collect(),
        };
        if named.is_empty() && kid.is_some() {
            return Selection::UnknownKid;
        }
        let mut usable: Vec<&Key> = named.into_iter().filter(|key| key.allows(alg)).collect();
        // Stable: pinned keys first, each group in set order.
        usable.sort_by_key(|key| key.alg != Some(alg));
        usable.truncate(MAX_CANDIDATES);
        if usable.is_empty() {
            Selection::NoKeyForAlgorithm
        } else {
            Selection::Keys(usable)
        }
    }
}

/// Where a JWKS came from, which decides whether shared secrets are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `local_jwks`; `allow_hmac` when the provider's `algorithms` names an HS alg.
    Local {
        /// Whether `oct` keys may be used.
        allow_hmac: bool,
    },
    /// Fetched from `remote_jwks`: `oct` keys are always skipped.
    Remote,
}

/// A JWKS that cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksError {
    /// Not valid JSON.
    NotJson,
    /// Not a JSON object.
    NotAnObject,
    /// No `keys` array.
    NoKeysArray,
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JwksError::NotJson => "not valid JSON",
            JwksError::NotAnObject => "not a JSON object",
            JwksError::NoKeysArray => "has no \"keys\" array",
        })
    }
}

/// Why one key of a set was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The entry is not a JSON object.
    NotAnObject,
    /// `kty` missing or not RSA, EC, OKP or oct.
    UnsupportedKeyType,
    /// `crv` missing or not P-256, P-384 or Ed25519.
    UnsupportedCurve,
    /// `use` is present and not `sig`.
    NotForSignatures,
    /// `key_ops` is present and lacks `verify`.
    NotForVerification,
    /// An HMAC secret shorter than the hash of every algorithm it could serve.
    SecretTooShort,
    /// `alg` is unknown, `none`, or does not fit the key type.
    UnsupportedAlgorithm,
    /// A shared secret where none is allowed.
    SecretNotAllowed,
    /// RSA modulus under 2048 bits.
    RsaTooSmall,
    /// RSA modulus over 4096 bits.
    RsaTooLarge,
    /// A key parameter is missing or not base64url of the right length.
    BadParameter,
    /// `kid` is present but not a string.
    BadKid,
    /// An Ed25519 key of small order, which would verify forged signatures.
    WeakKey,
    /// Beyond the most keys read from one set.
    TooManyKeys,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SkipReason::NotAnObject => "not a JSON object",
            SkipReason::UnsupportedKeyType => "unsupported kty",
            SkipReason::UnsupportedCurve => "unsupported crv",
            SkipReason::NotForSignatures => "use is not sig",
            SkipReason::NotForVerification => "key_ops lacks verify",
            SkipReason::SecretTooShort => "oct secret shorter than its hash (RFC 7518 3.2)",
            SkipReason::UnsupportedAlgorithm => "alg unsupported or does not fit the key",
            SkipReason::SecretNotAllowed => "oct key not allowed here",
            SkipReason::RsaTooSmall => "RSA modulus under 2048 bits",
            SkipReason::RsaTooLarge => "RSA modulus over 4096 bits",
            SkipReason::BadParameter => "key parameter missing or malformed",
            SkipReason::BadKid => "kid is not a string",
            SkipReason::WeakKey => "weak (small-order) key",
            SkipReason::TooManyKeys => "too many keys in the set",
        })
    }
}

/// A key that was skipped: its position, `kid` if readable, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Position in `keys`.
    pub index: usize,
    /// Its `kid`, if it has a string one.
    pub kid: Option<String>,
    /// Why it was skipped.
    pub reason: SkipReason,
}

/// The result of reading a JWKS: usable keys and what was skipped.
#[derive(Debug, Clone)]
pub struct ParsedJwks {
    /// The usable keys.
    pub set: KeySet,
    /// The keys left out, with reasons (for logs).
    pub skipped: Vec<Skipped>,
}

/// Reads a JWKS from raw bytes.
pub fn parse_jwks_bytes(body: &[u8], origin: Origin) -> Result<ParsedJwks, JwksError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| JwksError::NotJson)?;
    parse_jwks(&value, origin)
}

/// Reads a JWKS from parsed JSON.
pub fn parse_jwks(value: &Value, origin: Origin) -> Result<ParsedJwks, JwksError> {
    let object = value.as_object().ok_or(JwksError::NotAnObject)?;
    let entries = object
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(JwksError::NoKeysArray)?;
    let mut keys = Vec::new();
    let mut skipped = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let kid = entry.get("kid").and_then(Value::as_str).map(str::to_owned);
        let result = if index >= MAX_KEYS {
            Err(SkipReason::TooManyKeys)
        } else {
            convert_key(entry, origin)
        };
        match result {
            Ok(key) => keys.push(key),
            Err(reason) => skipped.push(Skipped { index, kid, reason }),
        }
    }
    Ok(ParsedJwks {
        set: KeySet { keys },
        skipped,
    })
}

/// Members only a private or a symmetric key has (RFC 7518 §6).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The public key a JWK carried in a message describes (a DPoP proof's `jwk`):
/// RSA of 2048..4096 bits, EC P-256 or P-384, or Ed25519, converted as a key
/// set's keys are; `None` for a private or symmetric key, another type, or
/// members that do not make a key.
pub fn public_key(jwk: &Map<String, Value>) -> Option<Key> {
    if PRIVATE_MEMBERS
        .iter()
        .any(|member| jwk.contains_key(*member))
    {
        return None;
    }
    if !matches!(text(jwk, "kty"), Some("RSA" | "EC" | "OKP")) {
        return None;
    }
    convert_jwk(jwk, Origin::Remote).ok()
}

fn convert_key(entry: &Value, origin: Origin) -> Result<Key, SkipReason> {
    let jwk = entry.as_object().ok_or(SkipReason::NotAnObject)?;
    convert_jwk(jwk, origin)
}

fn convert_jwk(jwk: &Map<String, Value>, origin: Origin) -> Result<Key, SkipReason> {
    let kid = match jwk.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(SkipReason::BadKid),
    };
    match jwk.get("use") {
        None => {}
        Some(Value::String(usage)) if usage == "sig" => {}
        Some(_) => return Err(SkipReason::NotForSignatures),
    }
    match jwk.get("key_ops") {
        None => {}
        Some(Value::Array(ops)) if ops.iter().any(|op| op.as_str() == Some("verify")) => {}
        Some(_) => return Err(SkipReason::NotForVerification),
    }
    let mut secret_bytes = 0;
    let (kind, material, spki) = match text(jwk, "kty") {
        Some("RSA") => rsa_key(jwk)?,
        Some("EC") => ec_key(jwk)?,
        Some("OKP") => okp_key(jwk)?,
        Some("oct") => {
            let (converted, length) = secret_key(jwk, origin)?;
            secret_bytes = length;
            converted
        }
        _ => return Err(SkipReason::UnsupportedKeyType),
    };
    let alg = match jwk.get("alg") {
        None => None,
        Some(Value::String(name)) => {
            let alg = algorithm_named(name).ok_or(SkipReason::UnsupportedAlgorithm)?;
            if !kind.allows(alg) {
                return Err(SkipReason::UnsupportedAlgorithm);
            }
            Some(alg)
        }
        Some(_) => return Err(SkipReason::UnsupportedAlgorithm),
    };
    if kind == KeyKind::Hmac {
        let shortest = alg.map_or(min_secret_bytes(Algorithm::HS256), min_secret_bytes);
        if secret_bytes < shortest {
            return Err(SkipReason::SecretTooShort);
        }
    }
    Ok(Key {
        kid,
        kind,
        alg,
        material,
        spki,
        secret_bytes,
    })
}

fn text<'a>(jwk: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    jwk.get(name).and_then(Value::as_str)
}

fn bytes(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, SkipReason> {
    let encoded = text(jwk, name).ok_or(SkipReason::BadParameter)?;
    URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| SkipReason::BadParameter)
}

/// A converted key: its kind, material and SPKI DER (RSA and EC only).
type Converted = (KeyKind, Material, Option<Vec<u8>>);

fn rsa_key(jwk: &Map<String, Value>) -> Result<Converted, SkipReason> {
    let modulus = bytes(jwk, "n")?;
    let exponent = bytes(jwk, "e")?;
    let significant = modulus
        .iter()
        .position(|byte| *byte != 0)
        .map_or(&[][..], |first| modulus.get(first..).unwrap_or_default());
    let bits = significant_bits(significant);
    if bits < MIN_RSA_BITS {
        return Err(SkipReason::RsaTooSmall);
    }
    if bits > MAX_RSA_BITS {
        return Err(SkipReason::RsaTooLarge);
    }
    if exponent.is_empty() || exponent.len() > 8 {
        return Err(SkipReason::BadParameter);
    }
    Ok((
        KeyKind::Rsa,
        Material::Rsa {
            n: significant.to_vec(),
            e: exponent.clone(),
        },
        Some(der::rsa_spki(significant, &exponent)),
    ))
}

/// Bit length of a big-endian unsigned integer without leading zero bytes.
fn significant_bits(magnitude: &[u8]) -> usize {
    match magnitude.first() {
        None => 0,
        Some(first) => {
            let leading = usize::try_from(first.leading_zeros()).unwrap_or(8);
            magnitude.len().saturating_mul(8).saturating_sub(leading)
        }
    }
}

fn ec_key(jwk: &Map<String, Value>) -> Result<Converted, SkipReason> {
    let (kind, curve) = match text(jwk, "crv") {
        Some("P-256") => (KeyKind::EcP256, Curve::P256),
        Some("P-384") => (KeyKind::EcP384, Curve::P384),
        _ => return Err(SkipReason::UnsupportedCurve),
    };
    let size = curve.size();
    let x = bytes(jwk, "x")?;
    let y = bytes(jwk, "y")?;
    if x.len() != size || y.len() != size {
        return Err(SkipReason::BadParameter);
    }
    let mut point = Vec::with_capacity(size.saturating_mul(2).saturating_add(1));
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    Ok((kind, Material::Ec(point), Some(der::ec_spki(curve, &x, &y))))
}

fn okp_key(jwk: &Map<String, Value>) -> Result<Converted, SkipReason> {
    if text(jwk, "crv") != Some("Ed25519") {
        return Err(SkipReason::UnsupportedCurve);
    }
    let x = bytes(jwk, "x")?;
    let point: [u8; 32] = x
        .as_slice()
        .try_into()
        .map_err(|_| SkipReason::BadParameter)?;
    let key =
        ed25519_dalek::VerifyingKey::from_bytes(&point).map_err(|_| SkipReason::BadParameter)?;
    if key.is_weak() {
        return Err(SkipReason::WeakKey);
    }
    Ok((KeyKind::Ed25519, Material::Ed25519(key), None))
}

fn secret_key(jwk: &Map<String, Value>, origin: Origin) -> Result<(Converted, usize), SkipReason> {
    if origin != (Origin::Local { allow_hmac: true }) {
        return Err(SkipReason::SecretNotAllowed);
    }
    let secret = bytes(jwk, "k")?;
    if secret.is_empty() {
        return Err(SkipReason::BadParameter);
    }
    let length = secret.len();
    let converted = (KeyKind::Hmac, Material::Secret(secret), None);
    Ok((converted, length))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// An RSA JWK with a modulus of `bits` bits (not a real key: parsing only).
    fn rsa(bits: usize, kid: &str) -> Value {
        let mut modulus = vec![0xffu8; bits / 8];
        modulus[0] = 0x80;
        json!({"kty": "RSA", "kid": kid, "n": b64(&modulus), "e": "AQAB"})
    }

    fn ec(crv: &str, size: usize, kid: &str) -> Value {
        json!({"kty": "EC", "crv": crv, "kid": kid, "x": b64(&vec![1; size]), "y": b64(&vec![2; size])})
    }

    fn read(keys: Vec<Value>, origin: Origin) -> ParsedJwks {
        parse_jwks(&json!({ "keys": keys }), origin).unwrap()
    }

    fn reasons(parsed: &ParsedJwks) -> Vec<SkipReason> {
        parsed.skipped.iter().map(|s| s.reason).collect()
    }

    #[test]
    fn each_unusable_key_is_skipped_and_the_rest_serve() {
        let parsed = read(
            vec![
                rsa(2048, "good-rsa"),
                rsa(1024, "small"),
                rsa(8192, "huge"),
                json!({"kty": "XYZ", "kid": "odd"}),
                json!({"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}),
                ec("P-521", 66, "p521"),
                ec("P-256", 31, "short"),
                ec("P-256", 32, "good-ec"),
                json!({"kty": "OKP", "crv": "X25519", "x": b64(&[1; 32])}),
                json!({"kty": "oct", "k": b64(b"secret-secret-secret-secret-1234")}),
                json!({"kty": "EC", "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[2; 32]), "alg": "RS256"}),
                json!({"kty": "RSA", "kid": 7, "n": "AQAB", "e": "AQAB"}),
                json!("not an object"),
                json!({"kty": "RSA", "n": "not base64!", "e": "AQAB"}),
            ],
            Origin::Remote,
        );
        let kids: Vec<_> = parsed.set.keys().iter().map(|k| k.kid.clone()).collect();
        assert_eq!(kids, vec![Some("good-rsa".into()), Some("good-ec".into())]);
        assert_eq!(
            reasons(&parsed),
            vec![
                SkipReason::RsaTooSmall,
                SkipReason::RsaTooLarge,
                SkipReason::UnsupportedKeyType,
                SkipReason::NotForSignatures,
                SkipReason::UnsupportedCurve,
                SkipReason::BadParameter,
                SkipReason::UnsupportedCurve,
                SkipReason::SecretNotAllowed,
                SkipReason::UnsupportedAlgorithm,
                SkipReason::BadKid,
                SkipReason::NotAnObject,
                SkipReason::BadParameter,
            ]
        );
        assert!(parsed.set.keys().iter().all(|k| k.spki.is_some()));
    }

    #[test]
    fn small_order_ed25519_keys_are_skipped() {
        let identity = {
            let mut x = [0u8; 32];
            x[0] = 1;
            x
        };
        for x in [[0u8; 32], identity] {
            let parsed = read(
                vec![json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&x)})],
                Origin::Remote,
            );
            assert_eq!(reasons(&parsed), vec![SkipReason::WeakKey]);
        }
        let real = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        let parsed = read(
            vec![json!({"kty": "OKP", "crv": "Ed25519", "x": real})],
            Origin::Remote,
        );
        assert_eq!(parsed.set.keys().len(), 1);
    }

    #[test]
    fn secrets_only_where_allowed() {
        let secret =
            json!({"kty": "oct", "kid": "s", "k": b64(b"secret-secret-secret-secret-1234")});
        assert!(
            read(vec![secret.clone()], Origin::Local { allow_hmac: false })
                .set
                .is_empty()
        );
        assert!(read(vec![secret.clone()], Origin::Remote).set.is_empty());
        let local = read(vec![secret], Origin::Local { allow_hmac: true });
        assert_eq!(local.set.keys()[0].kind, KeyKind::Hmac);
    }

    #[test]
    fn keys_past_the_bound_are_skipped() {
        let keys: Vec<Value> = (0..MAX_KEYS + 3)
            .map(|n| ec("P-256", 32, &format!("k{n}")))
            .collect();
        let parsed = read(keys, Origin::Remote);
        assert_eq!(parsed.set.keys().len(), MAX_KEYS);
        assert_eq!(reasons(&parsed), vec![SkipReason::TooManyKeys; 3]);
    }

    #[test]
    fn unreadable_sets_are_errors() {
        assert_eq!(
            parse_jwks_bytes(b"nope", Origin::Remote).unwrap_err(),
            JwksError::NotJson
        );
        assert_eq!(
            parse_jwks(&json!([]), Origin::Remote).unwrap_err(),
            JwksError::NotAnObject
        );
        assert_eq!(
            parse_jwks(&json!({"keys": {}}), Origin::Remote).unwrap_err(),
            JwksError::NoKeysArray
        );
    }

    #[test]
    fn selection_by_kid_and_algorithm() {
        let mut pinned = rsa(2048, "pinned");
        pinned["alg"] = json!("PS256");
        let set = read(
            vec![
                rsa(2048, "r1"),
                rsa(2048, "r2"),
                pinned,
                ec("P-256", 32, "e1"),
            ],
            Origin::Remote,
        )
        .set;
        let chosen = |kid: Option<&str>, alg| match set.select(kid, alg) {
            Selection::Keys(keys) => keys
                .iter()
                .map(|k| k.kid.clone().unwrap())
                .collect::<Vec<_>>(),
            Selection::UnknownKid => vec!["unknown".into()],
            Selection::NoKeyForAlgorithm => vec!["none".into()],
        };
        assert_eq!(chosen(Some("r2"), Algorithm::RS256), vec!["r2"]);
        assert_eq!(
            chosen(None, Algorithm::RS256),
            vec!["r1", "r2"],
            "a pinned key serves only its alg"
        );
        assert_eq!(
            chosen(None, Algorithm::PS256),
            vec!["pinned", "r1"],
            "pinned first, at most MAX_CANDIDATES"
        );
        assert_eq!(chosen(Some("pinned"), Algorithm::RS256), vec!["none"]);
        assert_eq!(chosen(Some("e1"), Algorithm::ES384), vec!["none"]);
        assert_eq!(chosen(Some("gone"), Algorithm::RS256), vec!["unknown"]);
        assert_eq!(chosen(None, Algorithm::EdDSA), vec!["none"]);
    }

    #[test]
    fn keys_whose_key_ops_lack_verify_are_skipped() {
        let mut sign_only = rsa(2048, "sign-only");
        sign_only["key_ops"] = json!(["sign"]);
        let mut verify = rsa(2048, "verify");
        verify["key_ops"] = json!(["verify", "sign"]);
        let mut odd = rsa(2048, "odd");
        odd["key_ops"] = json!("verify");
        let parsed = read(vec![sign_only, verify, odd], Origin::Remote);
        assert_eq!(
            reasons(&parsed),
            vec![
                SkipReason::NotForVerification,
                SkipReason::NotForVerification
            ]
        );
        assert_eq!(parsed.set.keys().len(), 1);
    }

    #[test]
    fn hmac_secrets_shorter_than_the_hash_are_not_used() {
        let local = Origin::Local { allow_hmac: true };
        let secret = |len: usize, alg: Option<&str>| {
            let mut key = json!({"kty": "oct", "kid": "s", "k": b64(&vec![7; len])});
            if let Some(alg) = alg {
                key["alg"] = json!(alg);
            }
            key
        };
        let parsed = read(vec![secret(31, None), secret(32, Some("HS384"))], local);
        assert_eq!(
            reasons(&parsed),
            vec![SkipReason::SecretTooShort, SkipReason::SecretTooShort]
        );
        let set = read(vec![secret(48, None)], local).set;
        let allows = |alg| matches!(set.select(None, alg), Selection::Keys(_));
        assert!(allows(Algorithm::HS256));
        assert!(allows(Algorithm::HS384));
        assert!(
            !allows(Algorithm::HS512),
            "a 48-byte secret is too short for HS512"
        );
    }
}
