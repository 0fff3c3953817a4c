//! What a resource tells its clients, decided without Envoy: the metadata
//! document and its URL (RFC 9728), `resource_metadata` on every challenge,
//! `scope` on an unmet scope (RFC 6750 §3), step-up (RFC 9470) with its
//! challenge, and what a browser needs on a refusal.

use audgate::config::Config;
use audgate::decision::onward::Onward;
use audgate::decision::plan::Action;
use audgate::decision::published::metadata_plan;
use audgate::decision::{decide, Decision, LocalKeys, Verifier};
use audgate::keys::verify::RustCrypto;
use audgate::rejection::{Rejection, StepUpFailure};
use audgate::request::Request;
use serde_json::{json, Value};

use crate::support::cases::{self, ISSUER};
use crate::support::keys::{self, now, TestKey};

const RESOURCE: &str = "https://api.example.com/orders";
const METADATA: &str = "https://api.example.com/.well-known/oauth-protected-resource/orders";

/// `cases::config()` with `extra` merged in (the provider is `orders-idp`).
fn config(extra: Value) -> Config {
    let config = keys::merged(cases::config(), &extra);
    Config::from_json_with_node(config.to_string().as_bytes(), &|key| {
        (key == "SERVICE").then(|| "orders".to_owned())
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

fn with_metadata(extra: Value) -> Config {
    let published = json!({"resource_metadata": {"resource": RESOURCE}});
    config(keys::merged(published, &extra))
}

fn request(path: &str, token: Option<&str>, origin: Option<&str>) -> Vec<(String, String)> {
    let mut headers = vec![
        (":method".to_owned(), "GET".to_owned()),
        (":authority".to_owned(), "api.example.com".to_owned()),
        (":path".to_owned(), path.to_owned()),
    ];
    if let Some(token) = token {
        headers.push(("authorization".to_owned(), format!("Bearer {token}")));
    }
    if let Some(origin) = origin {
        headers.push(("origin".to_owned(), origin.to_owned()));
    }
    headers
}

fn decided(config: &Config, headers: &[(String, String)]) -> Decision {
    let keys = LocalKeys(config);
    let verifier = Verifier {
        keys: &keys,
        signatures: &RustCrypto,
        cache: None,
        introspections: &audgate::keys::introspection::vouched::NoIntrospections,
        now: now() as i64,
    };
    decide(config, &Request::from_headers(headers), &verifier)
}

/// The `www-authenticate` values and response headers the filter answers with.
fn answered(config: &Config, headers: &[(String, String)]) -> (Vec<String>, Vec<(String, String)>) {
    let decision = decided(config, headers);
    let onward = Onward::inbound(config, &Request::from_headers(headers), &decision);
    let Action::Respond(reply) = onward.plan.action else {
        panic!("not refused: {decision:?}");
    };
    (reply.challenges, onward.plan.response_headers)
}

fn token(extra: Value) -> String {
    keys::sign_default(TestKey::Rsa1, cases::claims(extra))
}

#[test]
fn the_document_is_answered_at_the_well_known_path_of_resource() {
    let config = config(
        json!({"resource_metadata": {"resource": RESOURCE, "scopes_supported": ["orders:read"]}}),
    );
    let published = config.resource_metadata.as_ref().unwrap();
    assert_eq!(published.url, METADATA);
    let plan = metadata_plan(
        &config,
        "GET",
        "/.well-known/oauth-protected-resource/orders?x=1",
    )
    .expect("the document");
    let Action::Respond(reply) = &plan.action else {
        panic!("{plan:?}");
    };
    assert_eq!(
        (reply.status, reply.content_type),
        (200, "application/json")
    );
    let document: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(
        document,
        json!({"resource": RESOURCE, "authorization_servers": [ISSUER],
               "bearer_methods_supported": ["header"], "scopes_supported": ["orders:read"]})
    );
    assert!(plan
        .response_headers
        .contains(&("access-control-allow-origin".to_owned(), "*".to_owned())));
    let head = metadata_plan(&config, "HEAD", &published.path).unwrap();
    let Action::Respond(head) = head.action else {
        panic!()
    };
    assert!(head.body.is_empty());
    for (method, path) in [
        ("POST", published.path.as_str()),
        ("GET", "/.well-known/oauth-protected-resource"),
        ("GET", "/orders"),
    ] {
        assert_eq!(
            metadata_plan(&config, method, path),
            None,
            "{method} {path}"
        );
    }
    assert_eq!(metadata_plan(&cases_config(), "GET", &published.path), None);
}

#[test]
fn the_document_says_what_the_configuration_implies() {
    let mut providers = cases::config()["providers"].clone();
    providers[0]["from_params"] = json!(["access_token"]);
    providers[0]["dpop"] = json!({"required": true, "algorithms": ["ES256", "EdDSA"]});
    let config = config(json!({
        "providers": providers,
        "resource_metadata": {"resource": "https://${node.SERVICE}.example.com", "resource_name": "Orders"},
    }));
    let published = config.resource_metadata.unwrap();
    assert_eq!(
        published.url,
        "https://orders.example.com/.well-known/oauth-protected-resource"
    );
    let document: Value = serde_json::from_str(&published.document).unwrap();
    assert_eq!(
        document["bearer_methods_supported"],
        json!(["header", "query"])
    );
    assert_eq!(
        document["dpop_signing_alg_values_supported"],
        json!(["ES256", "EdDSA"])
    );
    assert_eq!(document["dpop_bound_access_tokens_required"], json!(true));
    assert_eq!(document["resource_name"], json!("Orders"));
    assert_eq!(
        document.get("tls_client_certificate_bound_access_tokens"),
        None
    );
}

#[test]
fn a_resource_that_is_no_https_url_is_refused_with_its_field() {
    let servers = json!({"resource_metadata": {"resource": RESOURCE, "authorization_servers": ["login.example.com"]}});
    let raw = keys::merged(cases::config(), &servers);
    let error = Config::from_json(raw.to_string().as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("resource_metadata.authorization_servers[0]"),
        "{error}"
    );
    for resource in [
        "http://api.example.com",
        "https://api.example.com/a?b",
        "orders.svc",
    ] {
        let raw = keys::merged(
            cases::config(),
            &json!({"resource_metadata": {"resource": resource}}),
        );
        let error = Config::from_json(raw.to_string().as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("resource_metadata.resource: must be an absolute https URL"),
            "{error}"
        );
    }
    let raw = keys::merged(
        cases::config(),
        &json!({"cors_origins": ["https://a.example/path"]}),
    );
    let error = Config::from_json(raw.to_string().as_bytes())
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("cors_origins[0]"), "{error}");
}

#[test]
fn every_challenge_names_the_metadata_url() {
    let config = with_metadata(json!({}));
    let hint = format!("resource_metadata=\"{METADATA}\"");
    let (missing, _) = answered(&config, &request("/orders/1", None, None));
    assert_eq!(
        missing,
        [format!("Bearer realm=\"api.example.com\", {hint}")]
    );
    let elsewhere = token(json!({"aud": "billing.svc"}));
    let (refused, _) = answered(&config, &request("/orders/1", Some(&elsewhere), None));
    assert!(
        refused[0].contains("error_description=\"audience not allowed\""),
        "{refused:?}"
    );
    assert!(refused[0].ends_with(&hint), "{refused:?}");
    // Without resource_metadata, as in version 2.
    let (plain, _) = answered(&cases_config(), &request("/orders/1", None, None));
    assert_eq!(plain, ["Bearer realm=\"api.example.com\""]);
}

fn cases_config() -> Config {
    config(json!({}))
}

#[test]
fn an_unmet_scope_is_named_with_resource_metadata_only() {
    let rules = json!({"rules": [{"match": {"prefix": "/"}, "requires":
        {"provider": "orders-idp", "claims": {"scope": ["orders:write", "orders:read"], "tenant": "acme"}}}]});
    let config = with_metadata(rules.clone());
    let reader = token(json!({"scope": "orders:read", "tenant": "acme"}));
    let (challenges, _) = answered(&config, &request("/orders/1", Some(&reader), None));
    assert!(
        challenges[0].contains("error=\"insufficient_scope\", scope=\"orders:write orders:read\""),
        "{challenges:?}"
    );
    // The unmet requirement is another claim: no scope named.
    let other_tenant = token(json!({"scope": "orders:read orders:write", "tenant": "globex"}));
    let (challenges, _) = answered(&config, &request("/orders/1", Some(&other_tenant), None));
    assert!(!challenges[0].contains("scope=\""), "{challenges:?}");
    let (plain, _) = answered(
        &config_without_metadata(rules),
        &request("/orders/1", Some(&reader), None),
    );
    assert_eq!(
        plain,
        ["Bearer realm=\"api.example.com\", error=\"insufficient_scope\""]
    );
}

fn config_without_metadata(extra: Value) -> Config {
    config(extra)
}

#[test]
fn step_up_asks_for_acr_and_a_recent_authentication() {
    let config = with_metadata(json!({
        "providers": [keys::merged(cases::config()["providers"][0].clone(), &json!({"max_age_s": 3600}))],
        "rules": [
            {"match": {"prefix": "/admin"}, "requires": {"provider": "orders-idp", "acr_values": ["phrh"], "max_age_s": 300}},
            {"match": {"prefix": "/"}, "requires": "orders-idp"},
        ],
    }));
    let now = now() as i64;
    let strong = token(json!({"acr": "phrh", "auth_time": now - 60}));
    assert_eq!(
        decided(&config, &request("/admin/x", Some(&strong), None)).verdict,
        Ok(())
    );
    let weak = token(json!({"acr": "pwd", "auth_time": now - 60}));
    let decision = decided(&config, &request("/admin/x", Some(&weak), None));
    assert_eq!(decision.verdict, Err(Rejection::StepUp(StepUpFailure::Acr)));
    assert_eq!(decision.verdict.unwrap_err().code(), "step_up");
    let (challenges, _) = answered(&config, &request("/admin/x", Some(&weak), None));
    assert_eq!(
        challenges,
        [format!("Bearer realm=\"api.example.com\", error=\"insufficient_user_authentication\", error_description=\"A different authentication level is required\", acr_values=\"phrh\", max_age=\"300\", resource_metadata=\"{METADATA}\"")]
    );
    let stale = token(json!({"acr": "phrh", "auth_time": now - 1000}));
    let decision = decided(&config, &request("/admin/x", Some(&stale), None));
    assert_eq!(
        decision.verdict,
        Err(Rejection::StepUp(StepUpFailure::MaxAge))
    );
    // The provider's max_age_s (an hour) elsewhere; no acr asked.
    assert_eq!(
        decided(&config, &request("/orders", Some(&stale), None)).verdict,
        Ok(())
    );
    let ancient = token(json!({"auth_time": now - 7200}));
    let decision = decided(&config, &request("/orders", Some(&ancient), None));
    assert_eq!(
        decision.verdict,
        Err(Rejection::StepUp(StepUpFailure::MaxAge))
    );
    let (challenges, _) = answered(&config, &request("/orders", Some(&ancient), None));
    assert!(
        challenges[0].contains("More recent authentication is required\", max_age=\"3600\""),
        "{challenges:?}"
    );
    // Audience and claims are decided first.
    let elsewhere = token(json!({"aud": "billing.svc", "acr": "pwd"}));
    let decision = decided(&config, &request("/admin/x", Some(&elsewhere), None));
    assert_eq!(decision.verdict, Err(Rejection::AudienceNotAllowed));
}

#[test]
fn a_refusal_is_readable_by_the_pages_of_a_listed_origin_only() {
    let config = config(json!({"cors_origins": ["https://app.example.com"]}));
    let (_, listed) = answered(
        &config,
        &request("/orders/1", None, Some("https://APP.example.com:443")),
    );
    assert!(listed.contains(&(
        "access-control-allow-origin".to_owned(),
        "https://app.example.com".to_owned()
    )));
    assert!(listed.contains(&(
        "access-control-expose-headers".to_owned(),
        "WWW-Authenticate, DPoP-Nonce".to_owned()
    )));
    let (_, other) = answered(
        &config,
        &request("/orders/1", None, Some("https://evil.example")),
    );
    assert!(
        !other
            .iter()
            .any(|(name, _)| name == "access-control-allow-origin"),
        "{other:?}"
    );
    assert!(other
        .iter()
        .any(|(name, _)| name == "access-control-expose-headers"));
    let (_, none) = answered(&config, &request("/orders/1", None, None));
    assert!(none.is_empty());
    // A pass carries none of them.
    let pass = request(
        "/orders/1",
        Some(&token(json!({}))),
        Some("https://app.example.com"),
    );
    let decision = decided(&config, &pass);
    let onward = Onward::inbound(&config, &Request::from_headers(&pass), &decision);
    assert!(matches!(onward.plan.action, Action::Continue(_)));
    assert!(onward.plan.response_headers.is_empty());
}

#[test]
fn check_config_prints_the_published_document() {
    let raw = keys::merged(
        cases::config(),
        &json!({"resource_metadata": {"resource": RESOURCE, "resource_name": "Orders"}}),
    );
    let path = crate::support::temp::dir("resource-hints").join("config.json");
    std::fs::write(&path, raw.to_string()).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_audgate"))
        .args(["check-config", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!("resource_metadata: published at {METADATA} (every challenge names it): {{\"resource\":\"{RESOURCE}\"")),
        "{text}"
    );
    assert!(text.contains("\"resource_name\":\"Orders\""), "{text}");
}

#[test]
fn the_dpop_offer_names_the_metadata_url_too() {
    let mut providers = cases::config()["providers"].clone();
    providers[0]["dpop"] = json!({});
    let config = with_metadata(json!({"providers": providers}));
    let (challenges, _) = answered(&config, &request("/orders/1", None, None));
    assert_eq!(challenges.len(), 2, "{challenges:?}");
    for challenge in &challenges {
        assert!(
            challenge.contains(&format!("resource_metadata=\"{METADATA}\"")),
            "{challenge}"
        );
    }
    assert!(challenges[1].starts_with("DPoP realm="), "{challenges:?}");
}

#[test]
fn the_step_up_challenge_is_the_refusing_demands() {
    // Two demands of one provider under `all`: the acr one holds, the max_age
    // one refuses; the challenge must ask for what refused.
    let config = with_metadata(
        json!({"rules": [{"match": {"prefix": "/"}, "requires": {"all": [
            {"provider": "orders-idp", "acr_values": ["phrh"]},
            {"provider": "orders-idp", "max_age_s": 300},
        ]}}]}),
    );
    let stale = token(json!({"acr": "phrh", "auth_time": now() as i64 - 1000}));
    let (challenges, _) = answered(&config, &request("/orders/1", Some(&stale), None));
    assert!(
        challenges[0].contains("More recent authentication is required\", max_age=\"300\""),
        "{challenges:?}"
    );
    assert!(!challenges[0].contains("acr_values"), "{challenges:?}");
}

#[test]
fn a_replayed_proof_is_challenged_with_the_metadata_url() {
    use audgate::rejection::Rejection;
    use audgate::token::dpop::failure::DpopFailure;
    use audgate::token::dpop::replay::NotRemembered;
    // The decision refused after the fact (the replay store's verdict), as the
    // filter does: its challenge must still name the metadata URL.
    let config = with_metadata(json!({}));
    let headers = request("/orders/1", None, None);
    let mut decision = decided(&config, &headers);
    decision.verdict = Err(Rejection::Dpop(DpopFailure::Replay(
        NotRemembered::Replayed,
    )));
    decision.hints = Default::default();
    let onward = Onward::inbound(&config, &Request::from_headers(&headers), &decision);
    let Action::Respond(reply) = onward.plan.action else {
        panic!()
    };
    assert!(
        reply.challenges[0].contains(&format!("resource_metadata=\"{METADATA}\"")),
        "{:?}",
        reply.challenges
    );
}

#[test]
fn a_scope_bound_to_the_request_is_never_named() {
    let config = with_metadata(
        json!({"rules": [{"match": {"template": "/t/{tenant}/**"}, "requires":
        {"provider": "orders-idp", "claims": {"scope": "tenant:${path.tenant}"}}}]}),
    );
    let other = token(json!({"scope": "tenant:globex"}));
    let (challenges, _) = answered(&config, &request("/t/acme/x", Some(&other), None));
    assert_eq!(
        challenges,
        [format!("Bearer realm=\"api.example.com\", error=\"insufficient_scope\", resource_metadata=\"{METADATA}\"")]
    );
    let one_of = with_metadata(json!({"rules": [{"match": {"prefix": "/"}, "requires":
        {"provider": "orders-idp", "claims": {"scope": {"one_of": ["orders:read", "orders:admin"]}}}}]}));
    let (challenges, _) = answered(
        &one_of,
        &request("/x", Some(&token(json!({"scope": "profile"}))), None),
    );
    assert!(
        challenges[0].contains("scope=\"orders:read\","),
        "{challenges:?}"
    );
}

#[test]
fn a_resource_with_a_quote_is_refused_and_a_trailing_slash_kept() {
    let raw = keys::merged(
        cases::config(),
        &json!({"resource_metadata": {"resource": "https://a.example/b\"c"}}),
    );
    let error = Config::from_json(raw.to_string().as_bytes())
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("resource_metadata.resource"), "{error}");
    let config = config(json!({"resource_metadata": {"resource": "https://a.example/mcp/"}}));
    let published = config.resource_metadata.unwrap();
    assert_eq!(
        published.url,
        "https://a.example/.well-known/oauth-protected-resource/mcp/"
    );
    assert!(published
        .document
        .starts_with("{\"resource\":\"https://a.example/mcp/\""));
}

#[test]
fn a_preflight_for_the_document_is_answered() {
    let config = with_metadata(json!({}));
    let plan = metadata_plan(
        &config,
        "OPTIONS",
        "/.well-known/oauth-protected-resource/orders",
    )
    .unwrap();
    let Action::Respond(reply) = &plan.action else {
        panic!()
    };
    assert_eq!(reply.status, 204);
    assert!(plan.response_headers.contains(&(
        "access-control-allow-methods".to_owned(),
        "GET, HEAD".to_owned()
    )));
    assert!(plan
        .response_headers
        .contains(&("access-control-allow-origin".to_owned(), "*".to_owned())));
}

#[test]
fn a_remembered_token_meets_the_step_up_of_each_route_again() {
    use audgate::token::cache::TokenCache;
    use std::cell::RefCell;
    let config = config(json!({"rules": [
        {"match": {"prefix": "/admin"}, "requires": {"provider": "orders-idp", "acr_values": ["phrh"]}},
        {"match": {"prefix": "/"}, "requires": "orders-idp"},
    ]}));
    let weak = token(json!({"acr": "pwd"}));
    let cache = RefCell::new(TokenCache::new(16));
    let keys = LocalKeys(&config);
    let decide_cached = |path: &str| {
        let verifier = Verifier {
            keys: &keys,
            signatures: &RustCrypto,
            cache: Some(&cache),
            introspections: &audgate::keys::introspection::vouched::NoIntrospections,
            now: now() as i64,
        };
        let headers = request(path, Some(&weak), None);
        decide(&config, &Request::from_headers(&headers), &verifier)
    };
    let first = decide_cached("/orders");
    assert_eq!(first.verdict, Ok(()));
    let admin = decide_cached("/admin/users");
    assert!(admin.from_cache || admin.verdict.is_err());
    assert_eq!(
        admin.verdict,
        Err(Rejection::StepUp(StepUpFailure::Acr)),
        "the cache spares no step-up"
    );
}
