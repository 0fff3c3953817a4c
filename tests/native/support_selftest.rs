//! Checks the test support itself, without Envoy: the upstream and client talk,
//! envoy.yaml renders, and the keys sign what their JWKS describes.

use crate::support;
use crate::support::{envoy_yaml, http, keys, Reply, Signer, Substitutions, TestKey, Upstream};
use serde_json::json;

#[test]
fn upstream_records_requests_and_client_reads_replies() {
    let upstream = Upstream::start();
    let headers = [("x-a", "1"), ("x-a", "2"), ("Authorization", "Bearer t")];
    let response = http::request(upstream.port(), "POST", "/p?q=1", &headers, b"body");
    assert_eq!((response.status, response.body.as_str()), (200, "ok"));
    let requests = upstream.take();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/p?q=1");
    assert_eq!(requests[0].headers_named("x-a"), ["1", "2"]);
    assert_eq!(requests[0].header("authorization"), Some("Bearer t"));
    assert_eq!(requests[0].body, b"body");
    assert_eq!(upstream.count(), 0);
}

#[test]
fn upstream_serves_a_handler() {
    let jwks = keys::jwks(&[TestKey::Ec256]);
    let served = jwks.clone();
    let server = Upstream::serve(0, move |_| Reply::json(&served));
    let response = http::get(server.port(), "/.well-known/jwks.json", &[]);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&response.body).unwrap(),
        jwks
    );
}

fn substitutions(plugin_config: &str) -> Substitutions {
    Substitutions {
        listener_port: 0,
        admin_port: 0,
        upstream_port: 4711,
        jwks_port: 4712,
        wasm_path: "/abs/audgate.wasm".into(),
        plugin_config: plugin_config.to_string(),
    }
}

#[test]
fn render_replaces_each_marker() {
    let config = serde_json::to_string_pretty(&json!({"providers": [{"name": "x"}]})).unwrap();
    let yaml = envoy_yaml::render(&envoy_yaml::template(), &substitutions(&config));
    for marker in [
        "port_value: 10000",
        "port_value: 9901",
        "audgate.local",
        "target/",
    ] {
        assert!(!yaml.contains(marker), "{marker} left in:\n{yaml}");
    }
    assert!(yaml.contains("port_value: 4711") && yaml.contains("port_value: 4712"));
    assert!(yaml.contains("filename: \"/abs/audgate.wasm\""));
    assert_eq!(envoy_yaml::plugin_config(&yaml).trim_end(), config);
}

#[test]
fn render_keeps_odd_configs_exact() {
    for odd in ["", "  {}", "not json\n", "{\"a\":\"\u{85}é\"}\t"] {
        let yaml = envoy_yaml::render(&envoy_yaml::template(), &substitutions(odd));
        let line = yaml
            .lines()
            .find(|l| l.trim_start().starts_with("value: "))
            .unwrap();
        let quoted = line.trim_start().trim_start_matches("value: ");
        assert_eq!(serde_json::from_str::<String>(quoted).unwrap(), odd);
    }
}

#[test]
#[should_panic(expected = "exactly once")]
fn render_fails_loudly_on_a_missing_marker() {
    let template = envoy_yaml::template().replace("port_value: 10001", "port_value: 10009");
    envoy_yaml::render(&template, &substitutions("{}"));
}

#[test]
fn every_key_signs_and_has_a_jwk() {
    let claims = json!({"sub": "s"});
    for key in TestKey::ALL {
        let jwk = keys::jwk(key);
        assert_eq!(
            (jwk["kid"].as_str(), jwk["use"].as_str()),
            (Some(key.kid()), Some("sig"))
        );
        assert_eq!(jwk["alg"].as_str(), Some(key.default_alg()));
        assert_eq!(
            keys::sign_default(key, claims.clone()).split('.').count(),
            3
        );
    }
}

#[test]
fn odd_tokens_have_the_asked_for_shape() {
    let claims = json!({"sub": "s"});
    let none = keys::sign_raw(json!({"alg": "none"}), claims.clone(), Signer::Unsigned);
    assert!(none.ends_with('.'));
    let hmac = Signer::Hmac("HS256", TestKey::Rsa1.public_pem());
    let confused = keys::sign_raw(
        json!({"alg": "HS256", "kid": "rsa-1"}),
        claims.clone(),
        hmac,
    );
    assert_eq!(confused.split('.').nth(2).unwrap().len(), 43);
    let no_kid = keys::sign("RS256", TestKey::Rsa1, json!({"kid": null, "x": 1}), claims);
    let header = no_kid.split('.').next().unwrap();
    assert_eq!(header, keys::b64(br#"{"alg":"RS256","typ":"JWT","x":1}"#));
}

#[test]
fn vm_failure_lines_are_recognised() {
    let log = "[info][wasm] wasm log audgate audgate: audgate: rejected (p): token expired\n\
        [critical][wasm] wasm log audgate: panicked at src/x.rs:1:1: boom\n\
        [error][wasm] Function: proxy_on_request_headers failed: Uncaught RuntimeError: unreachable\n";
    let failures = support::envoy::vm_failures(log);
    assert_eq!(failures.len(), 2);
    assert!(
        support::envoy::vm_failures("[info][wasm] audgate: configured 1 provider(s)").is_empty()
    );
}
