//! The token table: one request per outcome row of the contract, each token named
//! by its defect, with the decoded claims beside it. The native decision test and
//! the end-to-end test through Envoy both run this same table.

use serde_json::{json, Value};

use super::keys::{self, now, sign, sign_raw, sign_text, Signer, TestKey};

/// Issuer of the table's provider.
pub const ISSUER: &str = "https://issuer.test";
/// This service's audience in the table's provider.
pub const AUDIENCE: &str = "orders.svc";
/// The admin routes' audience in the tests of two providers on one key set.
pub const ADMIN_AUDIENCE: &str = "orders-admin.svc";

/// Two providers of `issuer` on one remote key set: `idp` for [`AUDIENCE`] on
/// every path, `idp-admin` for [`ADMIN_AUDIENCE`] under `/admin`.
pub fn two_providers_on(issuer: &str, remote: Value) -> Value {
    json!({
        "providers": [
            {"name": "idp", "issuer": issuer, "audiences": [AUDIENCE], "remote_jwks": remote},
            {"name": "idp-admin", "issuer": issuer, "audiences": [ADMIN_AUDIENCE], "remote_jwks": remote},
        ],
        "rules": [
            {"match": {"prefix": "/admin"}, "requires": "idp-admin"},
            {"match": {"prefix": "/"}, "requires": "idp"},
        ],
    })
}

/// One row: a token (or none), and the outcome the contract promises.
pub struct Case {
    /// The defect, or what makes the token good.
    pub name: &'static str,
    /// The `Authorization: Bearer` token; `None` sends no token.
    pub token: Option<String>,
    /// Expected status: 200 means it reached the upstream.
    pub status: u16,
    /// Expected `error="…"` of `www-authenticate` (`Some("")`: a bare challenge).
    pub error: Option<&'static str>,
    /// Expected reason of the refusal ([`audgate::rejection::Rejection::code`]: the
    /// log's, the stats' and `x-audgate-would-reject`'s); `None` for a 200. Decided
    /// from the token's defect and the contract's order of checks: a token with
    /// several defects is refused for the first check it fails.
    pub reason: Option<&'static str>,
}

/// The provider configuration the table is written for. The RSA key's JWK pins
/// no `alg`, so it serves every RS* and PS* algorithm.
pub fn config() -> Value {
    let mut jwks = keys::jwks(&[TestKey::Rsa1, TestKey::Ec256, TestKey::Ec384, TestKey::Ed]);
    jwks["keys"][0].as_object_mut().unwrap().remove("alg");
    json!({"providers": [{
        "name": "orders-idp",
        "issuer": ISSUER,
        "audiences": [AUDIENCE, "https://orders.example/"],
        "local_jwks": jwks,
    }]})
}

/// `{"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now+600}` with `extra` merged
/// (a `null` member removes that claim).
pub fn claims(extra: Value) -> Value {
    let now = now();
    let base =
        json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 600});
    keys::merged(base, &extra)
}

fn ok(name: &'static str, token: String) -> Case {
    Case {
        name,
        token: Some(token),
        status: 200,
        error: None,
        reason: None,
    }
}

fn invalid(name: &'static str, reason: &'static str, token: String) -> Case {
    Case {
        name,
        token: Some(token),
        status: 401,
        error: Some("invalid_token"),
        reason: Some(reason),
    }
}

fn audience(name: &'static str, token: String) -> Case {
    Case {
        name,
        token: Some(token),
        status: 403,
        error: Some("invalid_token"),
        reason: Some("audience"),
    }
}

/// Every row.
pub fn cases() -> Vec<Case> {
    let good = claims(json!({}));
    let rsa = |alg: &str| sign(alg, TestKey::Rsa1, json!({}), good.clone());
    let now = now();
    let mut rows = vec![
        ok("valid RS256", rsa("RS256")),
        ok("valid RS384", rsa("RS384")),
        ok("valid RS512", rsa("RS512")),
        ok("valid PS256", rsa("PS256")),
        ok("valid PS384", rsa("PS384")),
        ok("valid PS512", rsa("PS512")),
        ok(
            "valid ES256",
            sign("ES256", TestKey::Ec256, json!({}), good.clone()),
        ),
        ok(
            "valid ES384",
            sign("ES384", TestKey::Ec384, json!({}), good.clone()),
        ),
        ok(
            "valid EdDSA",
            sign("EdDSA", TestKey::Ed, json!({}), good.clone()),
        ),
        // header without kid: tried against every RSA key
        ok(
            "valid without kid",
            sign("RS256", TestKey::Rsa1, json!({"kid": null}), good.clone()),
        ),
        // aud: ["payments.svc", "orders.svc"]
        ok(
            "valid aud array naming ours",
            keys::sign_default(
                TestKey::Rsa1,
                claims(json!({"aud": ["payments.svc", AUDIENCE]})),
            ),
        ),
        // aud: "https://orders.example/" (second configured audience)
        ok(
            "valid second audience",
            keys::sign_default(
                TestKey::Ec256,
                claims(json!({"aud": "https://orders.example/"})),
            ),
        ),
        Case {
            name: "missing token",
            token: None,
            status: 401,
            error: Some(""),
            reason: Some("missing"),
        },
        // aud: "payments.svc"
        audience(
            "token for another audience",
            keys::sign_default(TestKey::Rsa1, claims(json!({"aud": "payments.svc"}))),
        ),
        // aud: ["payments.svc", "billing.svc"]
        audience(
            "aud array naming others",
            keys::sign_default(
                TestKey::Rsa1,
                claims(json!({"aud": ["payments.svc", "billing.svc"]})),
            ),
        ),
        // no aud claim
        audience(
            "no aud",
            keys::sign_default(TestKey::Rsa1, claims(json!({"aud": null}))),
        ),
        // aud: 42
        audience(
            "aud of the wrong type",
            keys::sign_default(TestKey::Rsa1, claims(json!({"aud": 42}))),
        ),
        // aud: []
        audience(
            "empty aud array",
            keys::sign_default(TestKey::Rsa1, claims(json!({"aud": []}))),
        ),
        // aud: "orders.svc/" (no normalisation)
        audience(
            "aud with a trailing slash",
            keys::sign_default(TestKey::Rsa1, claims(json!({"aud": "orders.svc/"}))),
        ),
        // kid rsa-1, signed by rsa-2
        invalid(
            "bad signature",
            "signature",
            sign(
                "RS256",
                TestKey::Rsa2,
                json!({"kid": "rsa-1"}),
                good.clone(),
            ),
        ),
        invalid(
            "payload tampered after signing",
            "signature",
            tamper(&rsa("RS256")),
        ),
        // kid rsa-2 is not in the set
        invalid(
            "unknown kid",
            "signature",
            keys::sign_default(TestKey::Rsa2, good.clone()),
        ),
        // header.payload. with an empty signature part: refused as malformed when
        // the token is split (step 2), before its alg is read (step 3)
        invalid(
            "alg none",
            "malformed",
            sign_raw(
                json!({"alg": "none", "typ": "JWT"}),
                good.clone(),
                Signer::Unsigned,
            ),
        ),
        invalid(
            "alg None with a signature",
            "signature",
            sign_raw(
                json!({"alg": "None"}),
                good.clone(),
                Signer::Literal("c2ln"),
            ),
        ),
        // HS256 keyed with the RSA public key PEM (algorithm confusion)
        invalid(
            "HS256 signed with the RSA public key",
            "signature",
            sign_raw(
                json!({"alg": "HS256", "kid": "rsa-1"}),
                good.clone(),
                Signer::Hmac("HS256", TestKey::Rsa1.public_pem()),
            ),
        ),
        // alg ES256 named on an RSA key
        invalid(
            "alg that does not fit the key",
            "signature",
            sign_raw(
                json!({"alg": "ES256", "kid": "rsa-1"}),
                good.clone(),
                Signer::Key(TestKey::Ec256, "ES256"),
            ),
        ),
        // exp: now - 3600
        invalid(
            "expired",
            "expired",
            keys::sign_default(
                TestKey::Rsa1,
                claims(json!({"exp": now - 3600, "iat": now - 7200})),
            ),
        ),
        // nbf: now + 3600
        invalid(
            "not yet valid",
            "not_yet_valid",
            keys::sign_default(TestKey::Rsa1, claims(json!({"nbf": now + 3600}))),
        ),
        // iss: "https://evil.test"
        invalid(
            "wrong issuer",
            "issuer",
            keys::sign_default(TestKey::Rsa1, claims(json!({"iss": "https://evil.test"}))),
        ),
        // no exp claim (require_exp defaults to true)
        invalid(
            "no exp",
            "expired",
            keys::sign_default(TestKey::Rsa1, claims(json!({"exp": null}))),
        ),
        // exp: "soon"
        invalid(
            "exp not a number",
            "malformed",
            keys::sign_default(TestKey::Rsa1, claims(json!({"exp": "soon"}))),
        ),
        // {"aud": "payments.svc", ..., "aud": "orders.svc"}
        invalid(
            "repeated aud claim",
            "malformed",
            sign_text(
                r#"{"alg":"RS256","kid":"rsa-1"}"#,
                &format!(
                    r#"{{"iss":"{ISSUER}","aud":"payments.svc","exp":{},"aud":"{AUDIENCE}"}}"#,
                    now + 600
                ),
                Signer::Key(TestKey::Rsa1, "RS256"),
            ),
        ),
        // header carries an attacker's own jwk, signed with it
        invalid(
            "embedded jwk header",
            "signature",
            sign_raw(
                json!({"alg": "RS256", "jwk": keys::jwk(TestKey::Rsa2)}),
                good.clone(),
                Signer::Key(TestKey::Rsa2, "RS256"),
            ),
        ),
        invalid("not a JWT", "malformed", "not-a-jwt".to_owned()),
        // header.payload. (empty signature part): malformed (step 2), no key is tried
        invalid(
            "signature stripped",
            "malformed",
            strip_signature(&rsa("RS256")),
        ),
    ];
    rows.push(invalid("oversized token", "malformed", "a".repeat(20_000)));
    rows
}

/// The token with one payload claim changed after signing (`sub` → `admin`).
fn tamper(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let claims = claims(json!({"sub": "admin"}));
    format!(
        "{}.{}.{}",
        parts[0],
        keys::b64(claims.to_string().as_bytes()),
        parts[2]
    )
}

/// `header.payload.` with the signature removed.
fn strip_signature(token: &str) -> String {
    let (message, _) = token.rsplit_once('.').unwrap();
    format!("{message}.")
}
