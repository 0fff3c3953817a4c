//! The providers the policy tests configure, natively and through Envoy: `corp`
//! (issuer `https://corp.test`, RS256 with `Rsa1`) and `partner`
//! (`https://partner.test`, ES256 with `Ec256`, its tokens also in a header of
//! its own, a query parameter and a cookie), both for the audience `orders.svc`;
//! their claims and tokens.

use serde_json::{json, Value};

use super::keys::{self, now, TestKey};

pub const CORP: &str = "https://corp.test";
pub const PARTNER: &str = "https://partner.test";
pub const AUD: &str = "orders.svc";

/// The `corp` provider, with the fields of `extra` set over it.
pub fn corp(extra: Value) -> Value {
    let base = json!({
        "name": "corp", "issuer": CORP, "audiences": [AUD],
        "local_jwks": keys::jwks(&[TestKey::Rsa1]),
    });
    keys::merged(base, &extra)
}

/// The `partner` provider: tokens in `x-partner-token: Token …`, the query
/// parameter `access_token` or the cookie `partner_session`.
pub fn partner() -> Value {
    json!({
        "name": "partner", "issuer": PARTNER, "audiences": [AUD],
        "local_jwks": keys::jwks(&[TestKey::Ec256]),
        "from_headers": [{"name": "x-partner-token", "value_prefix": "Token "}],
        "from_params": ["access_token"],
        "from_cookies": ["partner_session"],
    })
}

/// Both providers with rules for each, for both, for either and for none.
pub fn two_provider_rules() -> Value {
    json!({
        "providers": [corp(json!({})), partner()],
        "rules": [
            {"match": {"path": "/healthz"}, "requires": "none"},
            {"match": {"prefix": "/public"}, "requires": "corp", "allow_missing": true},
            {"match": {"prefix": "/admin", "methods": ["POST"]}, "requires": {"all": ["corp", "partner"]}},
            {"match": {"prefix": "/partner"}, "requires": "partner"},
            {"match": {"prefix": "/either"}, "requires": {"any": ["corp", "partner"]}},
        ],
    })
}

/// Claims of `issuer` for `AUD` (subject `alice`, ten minutes left), with the
/// fields of `extra` set over them (`null` removes one).
pub fn claims(issuer: &str, extra: Value) -> Value {
    let now = now();
    let base = json!({"iss": issuer, "aud": AUD, "sub": "alice", "iat": now, "exp": now + 600});
    keys::merged(base, &extra)
}

/// A `corp` token of `claims(CORP, extra)`.
pub fn corp_token(extra: Value) -> String {
    keys::sign_default(TestKey::Rsa1, claims(CORP, extra))
}

/// A `partner` token of `claims(PARTNER, extra)`.
pub fn partner_token(extra: Value) -> String {
    keys::sign_default(TestKey::Ec256, claims(PARTNER, extra))
}

/// A `corp` token that looks right but whose signature no key made.
pub fn forged(extra: Value) -> String {
    let good = corp_token(extra);
    let (message, _) = good.rsplit_once('.').unwrap();
    format!("{message}.{}", keys::b64(&[7u8; 256]))
}

/// The `authorization` header's value for `token`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}
