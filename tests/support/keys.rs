//! Test keys (committed fixtures in `tests/fixtures/keys/`), their public JWKS,
//! and token minting, including deliberately odd tokens.
//!
//! ```ignore
//! let jwks = keys::jwks(&[TestKey::Rsa1, TestKey::Ec256]);
//! let claims = json!({"iss": "https://i", "aud": "a", "exp": keys::now() + 600});
//! let good = keys::sign("RS256", TestKey::Rsa1, json!({}), claims.clone());
//! let no_kid = keys::sign("RS256", TestKey::Rsa1, json!({"kid": null}), claims.clone());
//! let none = keys::sign_raw(json!({"alg": "none"}), claims.clone(), Signer::Unsigned);
//! let confused = keys::sign_raw(json!({"alg": "HS256", "kid": "rsa-1"}), claims,
//!     Signer::Hmac("HS256", TestKey::Rsa1.public_pem()));
//! ```

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

macro_rules! fixture {
    ($file:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/keys/",
            $file
        ))
    };
}

/// The committed test keys; each one's `kid` is its fixture file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestKey {
    /// RSA 2048, `rsa-1`.
    Rsa1,
    /// RSA 2048, `rsa-2`.
    Rsa2,
    /// EC P-256, `ec256-1`.
    Ec256,
    /// EC P-384, `ec384-1`.
    Ec384,
    /// Ed25519, `ed-1`.
    Ed,
    /// RSA 2048, `demo-1`: the key of `envoy/envoy.yaml` and `make run`.
    Demo,
}

impl TestKey {
    pub const ALL: [TestKey; 6] = [
        TestKey::Rsa1,
        TestKey::Rsa2,
        TestKey::Ec256,
        TestKey::Ec384,
        TestKey::Ed,
        TestKey::Demo,
    ];

    pub fn kid(self) -> &'static str {
        match self {
            TestKey::Rsa1 => "rsa-1",
            TestKey::Rsa2 => "rsa-2",
            TestKey::Ec256 => "ec256-1",
            TestKey::Ec384 => "ec384-1",
            TestKey::Ed => "ed-1",
            TestKey::Demo => "demo-1",
        }
    }

    /// The alg written into the key's JWK and used by `sign_default`.
    pub fn default_alg(self) -> &'static str {
        match self {
            TestKey::Rsa1 | TestKey::Rsa2 | TestKey::Demo => "RS256",
            TestKey::Ec256 => "ES256",
            TestKey::Ec384 => "ES384",
            TestKey::Ed => "EdDSA",
        }
    }

    /// The private key, as jsonwebtoken takes it (RSA PKCS#1, EC and Ed PKCS#8 DER).
    pub fn encoding_key(self) -> EncodingKey {
        match self {
            TestKey::Rsa1 => EncodingKey::from_rsa_der(fixture!("rsa-1.der")),
            TestKey::Rsa2 => EncodingKey::from_rsa_der(fixture!("rsa-2.der")),
            TestKey::Demo => EncodingKey::from_rsa_der(fixture!("demo-1.der")),
            TestKey::Ec256 => EncodingKey::from_ec_der(fixture!("ec256-1.der")),
            TestKey::Ec384 => EncodingKey::from_ec_der(fixture!("ec384-1.der")),
            TestKey::Ed => EncodingKey::from_ed_der(fixture!("ed-1.der")),
        }
    }

    /// The public key as SPKI PEM text bytes (`-----BEGIN PUBLIC KEY-----`).
    pub fn public_pem(self) -> &'static [u8] {
        match self {
            TestKey::Rsa1 => fixture!("rsa-1.pub.pem"),
            TestKey::Rsa2 => fixture!("rsa-2.pub.pem"),
            TestKey::Demo => fixture!("demo-1.pub.pem"),
            TestKey::Ec256 => fixture!("ec256-1.pub.pem"),
            TestKey::Ec384 => fixture!("ec384-1.pub.pem"),
            TestKey::Ed => fixture!("ed-1.pub.pem"),
        }
    }

    /// The public key as SPKI DER.
    pub fn public_der(self) -> &'static [u8] {
        match self {
            TestKey::Rsa1 => fixture!("rsa-1.pub.der"),
            TestKey::Rsa2 => fixture!("rsa-2.pub.der"),
            TestKey::Demo => fixture!("demo-1.pub.der"),
            TestKey::Ec256 => fixture!("ec256-1.pub.der"),
            TestKey::Ec384 => fixture!("ec384-1.pub.der"),
            TestKey::Ed => fixture!("ed-1.pub.der"),
        }
    }
}

/// The public JWK of `key` with `kid`, `use: "sig"` and `alg` (its default alg).
pub fn jwk(key: TestKey) -> Value {
    let alg = Algorithm::from_str(key.default_alg()).unwrap();
    let jwk = Jwk::from_encoding_key(&key.encoding_key(), alg).unwrap();
    let mut jwk = serde_json::to_value(jwk).unwrap();
    jwk["kid"] = json!(key.kid());
    jwk["use"] = json!("sig");
    jwk
}

/// `{"keys": [...]}` with the public JWK of each key, in order.
pub fn jwks(keys: &[TestKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| jwk(*k)).collect::<Vec<_>>() })
}

/// Seconds since the Unix epoch, for `iat`, `nbf` and `exp`.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token signed with `key` under `alg`. The header is
/// `{"alg": alg, "typ": "JWT", "kid": key.kid()}` merged with `header_extra`
/// (an object; a `null` member removes that field, e.g. `{"kid": null}`).
pub fn sign(alg: &str, key: TestKey, header_extra: Value, claims: Value) -> String {
    let header = merged(
        json!({ "alg": alg, "typ": "JWT", "kid": key.kid() }),
        &header_extra,
    );
    sign_raw(header, claims, Signer::Key(key, alg))
}

/// `base` with the members of the object `extra` set, a `null` member removing
/// that field (e.g. `{"kid": null}`).
pub fn merged(mut base: Value, extra: &Value) -> Value {
    let object = base.as_object_mut().expect("base: an object");
    for (name, value) in extra.as_object().expect("extra: an object") {
        match value {
            Value::Null => object.remove(name),
            _ => object.insert(name.clone(), value.clone()),
        };
    }
    base
}

/// `sign` with the key's default alg and no extra header fields.
pub fn sign_default(key: TestKey, claims: Value) -> String {
    sign(key.default_alg(), key, json!({}), claims)
}

/// How `sign_raw` makes the third segment.
pub enum Signer<'a> {
    /// An empty signature (`header.payload.`), as `alg: none` tokens have.
    Unsigned,
    /// The key's signature under the named alg (whatever the header says).
    Key(TestKey, &'a str),
    /// An HMAC under the named alg (`HS256`/`HS384`/`HS512`) keyed with these bytes.
    Hmac(&'a str, &'a [u8]),
    /// This exact third segment.
    Literal(&'a str),
}

/// A token with exactly this header and payload JSON (serialized compactly).
pub fn sign_raw(header: Value, claims: Value, signer: Signer) -> String {
    sign_text(&header.to_string(), &claims.to_string(), signer)
}

/// A token from header and payload JSON text taken verbatim (for duplicate keys,
/// odd whitespace, invalid JSON...).
pub fn sign_text(header_json: &str, claims_json: &str, signer: Signer) -> String {
    let message = format!(
        "{}.{}",
        b64(header_json.as_bytes()),
        b64(claims_json.as_bytes())
    );
    let signature = match signer {
        Signer::Unsigned => String::new(),
        Signer::Key(key, alg) => crypto_sign(&message, &key.encoding_key(), alg),
        Signer::Hmac(alg, secret) => crypto_sign(&message, &EncodingKey::from_secret(secret), alg),
        Signer::Literal(text) => text.to_string(),
    };
    format!("{message}.{signature}")
}

/// Base64url without padding, as JWS segments are.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn crypto_sign(message: &str, key: &EncodingKey, alg: &str) -> String {
    let alg = Algorithm::from_str(alg).unwrap_or_else(|_| panic!("unknown alg {alg}"));
    jsonwebtoken::crypto::sign(message.as_bytes(), key, alg)
        .unwrap_or_else(|e| panic!("signing with {alg:?}: {e}"))
}

/// Decodes base64url without padding (panics on bad input: tests only).
pub fn b64_decode(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

/// A test key's private key as PEM: PKCS#1 (`RSA PRIVATE KEY`) for RSA, PKCS#8
/// (`PRIVATE KEY`) for the others, as the fixtures hold them.
pub fn private_pem(key: TestKey) -> String {
    use base64::Engine;
    let (file, label) = match key {
        TestKey::Rsa1 => ("rsa-1.der", "RSA PRIVATE KEY"),
        TestKey::Ec256 => ("ec256-1.der", "PRIVATE KEY"),
        TestKey::Ec384 => ("ec384-1.der", "PRIVATE KEY"),
        TestKey::Ed => ("ed-1.der", "PRIVATE KEY"),
        other => panic!("no PEM for {other:?}"),
    };
    let der = std::fs::read(format!(
        "{}/tests/fixtures/keys/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// `key`'s public JWK with only the members of its key type (no `kid`, `use`
/// or `alg`): what a DPoP proof's header carries.
pub fn bare_jwk(key: TestKey) -> Value {
    let mut jwk = jwks(&[key])["keys"][0].clone();
    for member in ["kid", "use", "alg"] {
        jwk.as_object_mut().unwrap().remove(member);
    }
    jwk
}
