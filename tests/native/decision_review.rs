//! Regressions from a security review of the decision logic: each test is a way a
//! request once got past a rule, leaked a token or forged an output header.

use crate::support::cases::{claims, ISSUER};
use crate::support::keys::{self, now, TestKey};
use audgate::config::{Config, Problem};
use audgate::decision::{decide, Decision, LocalKeys, Verifier};
use audgate::keys::verify::RustCrypto;
use audgate::rejection::Rejection;
use audgate::request::Request;
use serde_json::{json, Value};

fn provider(name: &str, extra: Value) -> Value {
    let mut p = json!({"name": name, "issuer": ISSUER, "audiences": ["orders.svc"],
        "local_jwks": keys::jwks(&[TestKey::Rsa1])});
    for (key, value) in extra.as_object().unwrap() {
        p[key] = value.clone();
    }
    p
}

fn config(value: Value) -> Config {
    Config::from_json(value.to_string().as_bytes()).unwrap()
}

fn run(config: &Config, method: &str, path: &str, headers: &[(&str, &str)]) -> Decision {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let request = Request {
        method,
        path,
        authority: "svc",
        headers: &headers,
    };
    let verifier = Verifier {
        keys: &LocalKeys(config),
        signatures: &RustCrypto,
        cache: None,
        introspections: &audgate::keys::introspection::vouched::NoIntrospections,
        now: now() as i64,
    };
    decide(config, &request, &verifier)
}

fn token() -> String {
    keys::sign_default(TestKey::Rsa1, claims(json!({"aud": "orders.svc"})))
}

#[test]
fn the_upstream_gets_the_path_the_rules_matched() {
    let c = config(json!({"providers": [provider("a", json!({}))], "rules": [
        {"match": {"prefix": "/public"}, "requires": "none"},
        {"match": {"prefix": "/admin"}, "requires": "a"},
    ]}));
    let d = run(&c, "GET", "/admin/../public/x?q=1", &[]);
    assert_eq!(d.verdict, Ok(()));
    assert_eq!(d.mutations.path.as_deref(), Some("/public/x?q=1"));
    let d = run(&c, "GET", "/public/../admin/x", &[]);
    assert_eq!(d.verdict, Err(Rejection::Missing));
    let d = run(&c, "GET", "/public/x", &[]);
    assert_eq!(d.mutations.path, None, "a normal path is left alone");
}

#[test]
fn output_headers_spelt_with_underscores_are_removed_too() {
    let c = config(json!({"providers": [provider("a", json!({
        "claim_to_headers": [{"claim": "sub", "header": "x-user"}]}))],
        "rules": [{"match": {"prefix": "/"}, "requires": "none"}]}));
    let d = run(
        &c,
        "GET",
        "/",
        &[("x_user", "admin"), ("x-user", "root"), ("x_other", "kept")],
    );
    assert_eq!(d.verdict, Ok(()));
    assert_eq!(
        d.mutations.remove_headers,
        vec!["x_user".to_owned(), "x-user".to_owned()]
    );
}

#[test]
fn one_token_in_two_providers_places_is_removed_from_both() {
    let c = config(json!({"providers": [
        provider("a", json!({})),
        provider("b", json!({"from_headers": [], "from_params": ["access_token"]})),
    ]}));
    let t = token();
    let d = run(
        &c,
        "GET",
        &format!("/x?access_token={t}&y=1"),
        &[("authorization", &format!("Bearer {t}"))],
    );
    assert_eq!(d.verdict, Ok(()));
    assert!(d
        .mutations
        .remove_headers
        .contains(&"authorization".to_owned()));
    assert_eq!(d.mutations.path.as_deref(), Some("/x?y=1"));
}

#[test]
fn an_encoded_parameter_name_is_the_same_parameter() {
    let c = config(
        json!({"providers": [provider("a", json!({"from_headers": [], "from_params": ["access_token"]}))]}),
    );
    let t = token();
    let d = run(
        &c,
        "GET",
        &format!("/x?access_token={t}&access%5Ftoken=evil.evil.evil"),
        &[],
    );
    assert_eq!(d.verdict, Err(Rejection::MultipleTokens));
    let d = run(&c, "GET", &format!("/x?access%5Ftoken={t}&y=2"), &[]);
    assert_eq!(d.verdict, Ok(()));
    assert_eq!(
        d.mutations.path.as_deref(),
        Some("/x?y=2"),
        "removed under its encoded name"
    );
}

#[test]
fn all_with_allow_missing_needs_every_token_once_any_is_sent() {
    let c = config(json!({"providers": [
        provider("a", json!({})),
        provider("b", json!({"from_headers": [{"name": "x-b-token"}]})),
    ], "rules": [{"match": {"prefix": "/"}, "requires": {"all": ["a", "b"]}, "allow_missing": true}]}));
    let t = token();
    let bearer = format!("Bearer {t}");
    assert_eq!(run(&c, "GET", "/", &[]).verdict, Ok(()));
    assert_eq!(
        run(&c, "GET", "/", &[("authorization", &bearer)]).verdict,
        Err(Rejection::Missing)
    );
    assert_eq!(
        run(
            &c,
            "GET",
            "/",
            &[("authorization", &bearer), ("x-b-token", &t)]
        )
        .verdict,
        Ok(())
    );
}

#[test]
fn methods_match_whatever_their_case() {
    let c = config(json!({"providers": [provider("a", json!({}))], "rules": [
        {"match": {"prefix": "/", "methods": ["POST"]}, "requires": "a"},
        {"match": {"prefix": "/"}, "requires": "none"},
    ]}));
    assert_eq!(
        run(&c, "post", "/orders", &[]).verdict,
        Err(Rejection::Missing)
    );
    assert_eq!(run(&c, "GET", "/orders", &[]).verdict, Ok(()));
}

#[test]
fn an_empty_required_value_is_refused() {
    let bad = json!({"providers": [provider("a", json!({"required_claims": {"scope": ""}}))]});
    let error = Config::from_json(bad.to_string().as_bytes()).unwrap_err();
    assert_eq!(
        (error.field.as_str(), error.problem),
        ("providers[0].required_claims.scope", Problem::Empty)
    );
}
