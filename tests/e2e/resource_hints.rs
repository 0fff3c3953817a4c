//! What the resource tells its clients, through real Envoy: the metadata
//! document answered by the filter itself (GET and HEAD, no token, readable
//! from any origin), `resource_metadata` on the challenges, the exposed
//! challenge headers for a page's refusal (its origin allowed only when
//! listed), and the step-up challenge.

use serde_json::{json, Value};

use crate::support::cases::{claims, AUDIENCE, ISSUER};
use crate::support::keys::{self, now, TestKey};
use crate::support::{http, Envoy, Upstream};

const HOST: &str = "api.example.com";
const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

fn config() -> Value {
    json!({
        "providers": [{
            "name": "idp",
            "issuer": ISSUER,
            "audiences": [AUDIENCE, "https://api.example.com"],
            "local_jwks": keys::jwks(&[TestKey::Rsa1]),
        }],
        "rules": [
            {"match": {"prefix": "/admin"}, "requires": {"provider": "idp", "acr_values": ["phrh"], "max_age_s": 300}},
            {"match": {"prefix": "/"}, "requires": "idp"},
        ],
        "resource_metadata": {"resource": "https://api.example.com", "scopes_supported": ["orders:read"]},
        "cors_origins": ["https://app.example.com"],
    })
}

fn get(envoy: &Envoy, path: &str, headers: &[(&str, &str)]) -> http::Response {
    let mut all = vec![("host", HOST)];
    all.extend_from_slice(headers);
    http::get(envoy.port(), path, &all)
}

#[test]
fn the_metadata_document_is_answered_without_a_token_and_named_in_challenges() {
    let upstream = Upstream::start();
    let envoy = Envoy::builder(&config(), upstream.port()).start();
    let document = get(&envoy, METADATA_PATH, &[]);
    assert_eq!(document.status, 200, "{}", document.body);
    assert_eq!(document.header("content-type"), Some("application/json"));
    assert_eq!(document.header("access-control-allow-origin"), Some("*"));
    let body: Value = serde_json::from_str(&document.body).unwrap();
    assert_eq!(body["resource"], "https://api.example.com");
    assert_eq!(body["authorization_servers"], json!([ISSUER]));
    assert_eq!(body["scopes_supported"], json!(["orders:read"]));
    let head = http::request(envoy.port(), "HEAD", METADATA_PATH, &[("host", HOST)], b"");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(upstream.count(), 0, "answered by the filter");
    let missing = get(&envoy, "/orders", &[]);
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.header("www-authenticate"),
        Some("Bearer realm=\"api.example.com\", resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource\"")
    );
}

#[test]
fn a_pages_refusal_exposes_its_challenge_and_allows_a_listed_origin() {
    let upstream = Upstream::start();
    let envoy = Envoy::builder(&config(), upstream.port()).start();
    let listed = get(&envoy, "/orders", &[("origin", "https://app.example.com")]);
    assert_eq!(listed.status, 401);
    assert_eq!(
        listed.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        listed.header("access-control-expose-headers"),
        Some("WWW-Authenticate, DPoP-Nonce")
    );
    let other = get(&envoy, "/orders", &[("origin", "https://evil.example")]);
    assert_eq!(other.header("access-control-allow-origin"), None);
    assert!(other.header("access-control-expose-headers").is_some());
}

#[test]
fn step_up_is_a_401_that_says_what_to_ask_for() {
    let upstream = Upstream::start();
    let envoy = Envoy::builder(&config(), upstream.port()).start();
    let now = now() as i64;
    let weak = keys::sign_default(
        TestKey::Rsa1,
        claims(json!({"acr": "pwd", "auth_time": now - 10})),
    );
    let bearer = format!("Bearer {weak}");
    let refused = get(&envoy, "/admin/users", &[("authorization", &bearer)]);
    assert_eq!(refused.status, 401);
    let challenge = refused.header("www-authenticate").unwrap();
    assert!(
        challenge.starts_with("Bearer realm=\"api.example.com\", error=\"insufficient_user_authentication\", error_description=\"A different authentication level is required\", acr_values=\"phrh\", max_age=\"300\""),
        "{challenge}"
    );
    assert_eq!(
        get(&envoy, "/orders", &[("authorization", &bearer)]).status,
        200
    );
    // Now remembered (the token cache, the fast path): /admin still asks.
    let again = get(&envoy, "/admin/users", &[("authorization", &bearer)]);
    assert_eq!(
        again.status, 401,
        "a remembered token meets the step-up again"
    );
    let strong = keys::sign_default(
        TestKey::Rsa1,
        claims(json!({"acr": "phrh", "auth_time": now - 10})),
    );
    let bearer = format!("Bearer {strong}");
    assert_eq!(
        get(&envoy, "/admin/users", &[("authorization", &bearer)]).status,
        200
    );
    assert!(
        envoy.wait_for_log("[step_up]", std::time::Duration::from_secs(5)),
        "{}",
        envoy.log()
    );
}

#[test]
fn the_refusal_log_names_the_claim_not_met_never_its_value() {
    let mut config = config();
    config["rules"] = json!([
        {"match": {"prefix": "/"}, "requires": {"provider": "idp", "claims": {"scope": "orders:write"}}},
    ]);
    let upstream = Upstream::start();
    let envoy = Envoy::builder(&config, upstream.port()).start();
    let reader = keys::sign_default(
        TestKey::Rsa1,
        claims(json!({"scope": "orders:read-only-x"})),
    );
    let bearer = format!("Bearer {reader}");
    assert_eq!(
        get(&envoy, "/orders", &[("authorization", &bearer)]).status,
        403
    );
    let said = "required claims not met (scope must hold orders:write)";
    assert!(
        envoy.wait_for_log(said, std::time::Duration::from_secs(5)),
        "{}",
        envoy.log()
    );
    assert!(
        !envoy.log().contains("orders:read-only-x"),
        "the token's value is never logged"
    );
}
