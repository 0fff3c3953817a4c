//! audgate beside Istio's own authorization, in real Envoy: followed by Envoy's
//! RBAC filter that allows a route only for a verified identity audgate put in a
//! header (a client's copy is stripped first), and followed by native `jwt_authn`
//! (audgate with `forward: true`), as a workload that keeps its
//! `RequestAuthentication` + `requestPrincipals` policy has it. These are the
//! recipes docs/configuration.md gives as `AuthorizationPolicy` equivalents.

use std::time::Duration;

use crate::support;
use crate::support::keys::{self, now, TestKey};
use crate::support::{envoy_yaml, http, Envoy, Upstream};
use serde_json::{json, Value};

const ISSUER: &str = "https://idp.example.com";
const AUD: &str = "orders.shop.svc";
const ROUTER: &str = "          - name: envoy.filters.http.router\n";

fn provider(extra: Value) -> Value {
    let base = json!({"name": "corp", "issuer": ISSUER, "audiences": [AUD],
                      "local_jwks": keys::jwks(&[TestKey::Rsa1])});
    keys::merged(base, &extra)
}

fn token(extra: Value) -> String {
    let now = now();
    let claims = json!({"iss": ISSUER, "aud": AUD, "sub": "alice", "iat": now, "exp": now + 600});
    keys::sign_default(TestKey::Rsa1, keys::merged(claims, &extra))
}

/// envoy.yaml with `filter` (YAML at the http_filters indentation) after audgate.
fn with_filter_after_audgate(filter: &str) -> String {
    let template = envoy_yaml::template();
    assert_eq!(template.matches(ROUTER).count(), 1);
    template.replace(ROUTER, &format!("{filter}{ROUTER}"))
}

fn send(
    envoy: &Envoy,
    upstream: &Upstream,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Option<support::upstream::Request>) {
    let response = http::get(envoy.port(), path, headers);
    let mut seen = upstream.take();
    assert!(seen.len() <= 1);
    (response.status, seen.pop())
}

const RBAC: &str = r#"          - name: envoy.filters.http.rbac
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC
              rules:
                action: ALLOW
                policies:
                  verified-by-audgate:
                    permissions: [{any: true}]
                    principals:
                    - header: {name: x-verified-sub, present_match: true}
"#;

#[test]
fn rbac_after_audgate_allows_only_identities_audgate_verified() {
    let config = json!({
        "providers": [provider(json!({"claim_to_headers": [{"claim": "sub", "header": "x-verified-sub"}]}))],
        "rules": [
            {"match": {"prefix": "/public"}, "requires": "none"},
            {"match": {"prefix": "/"}, "requires": "corp"},
        ],
    });
    let upstream = Upstream::start();
    let envoy = Envoy::builder(&config, upstream.port())
        .template(&with_filter_after_audgate(RBAC))
        .start();
    let bearer = format!("Bearer {}", token(json!({})));
    let (status, seen) = send(&envoy, &upstream, "/orders", &[("authorization", &bearer)]);
    assert_eq!(status, 200);
    assert_eq!(seen.unwrap().headers_named("x-verified-sub"), vec!["alice"]);
    // audgate lets /public through, but RBAC wants a verified identity there too.
    for headers in [
        vec![],
        vec![("x-verified-sub", "admin")],
        vec![("x_verified_sub", "admin")],
        vec![("authorization", bearer.as_str())],
    ] {
        let (status, seen) = send(&envoy, &upstream, "/public", &headers);
        assert_eq!(status, 403, "{headers:?}: RBAC denies");
        assert!(seen.is_none());
    }
    let other = format!("Bearer {}", token(json!({"aud": "payments.shop.svc"})));
    assert_eq!(
        send(&envoy, &upstream, "/orders", &[("authorization", &other)]).0,
        403
    );
}

fn jwt_authn() -> String {
    let jwks = keys::jwks(&[TestKey::Rsa1]).to_string().replace('\'', "''");
    format!(
        r#"          - name: envoy.filters.http.jwt_authn
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication
              providers:
                corp:
                  issuer: {ISSUER}
                  audiences: [{AUD}]
                  forward: true
                  local_jwks: {{ inline_string: '{jwks}' }}
              rules:
              - match: {{ prefix: / }}
                requires: {{ provider_name: corp }}
"#
    )
}

#[test]
fn jwt_authn_after_audgate_still_sees_the_token() {
    let config = json!({
        "providers": [provider(json!({"forward": true}))],
        "rules": [
            {"match": {"prefix": "/public"}, "requires": "none"},
            {"match": {"prefix": "/"}, "requires": "corp"},
        ],
    });
    let upstream = Upstream::start();
    let envoy = Envoy::builder(&config, upstream.port())
        .template(&with_filter_after_audgate(&jwt_authn()))
        .start();
    let bearer = format!("Bearer {}", token(json!({})));
    let (status, seen) = send(&envoy, &upstream, "/orders", &[("authorization", &bearer)]);
    assert_eq!(status, 200, "both filters verify it");
    assert_eq!(seen.unwrap().header("authorization"), Some(bearer.as_str()));
    let other = format!("Bearer {}", token(json!({"aud": "payments.shop.svc"})));
    let response = http::get(envoy.port(), "/orders", &[("authorization", &other)]);
    assert_eq!(response.status, 403);
    assert!(
        response.body.contains("audience not allowed"),
        "audgate answered: {}",
        response.body
    );
    assert!(upstream.take().is_empty());
    // Where audgate needs nothing, jwt_authn still asks for a token.
    assert_eq!(send(&envoy, &upstream, "/public", &[]).0, 401);
    assert_eq!(
        send(&envoy, &upstream, "/public", &[("authorization", &bearer)]).0,
        200
    );
}

#[test]
fn audit_lines_are_warnings_that_name_the_caller() {
    let config = json!({"providers": [provider(json!({}))], "mode": "audit"});
    let upstream = Upstream::start();
    let envoy = Envoy::start(&config, upstream.port());
    let other = format!(
        "Bearer {}",
        token(json!({"aud": "payments.shop.svc", "azp": "billing"}))
    );
    let (status, _) = send(
        &envoy,
        &upstream,
        "/orders",
        &[("authorization", &other), ("x-request-id", "audit-1")],
    );
    assert_eq!(status, 200);
    assert!(envoy.wait_for_log("audit-1", Duration::from_secs(5)));
    let log = envoy.log();
    let line = log.lines().find(|l| l.contains("audit-1")).unwrap();
    for part in [
        "[warning]",
        "audgate: would reject (corp) 403 [audience]",
        "client=\"billing\"",
        "aud=[\"payments.shop.svc\"]",
        "GET /orders",
    ] {
        assert!(line.contains(part), "{part} not in {line}");
    }
}
