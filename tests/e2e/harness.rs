//! Proves the end-to-end harness: Envoy starts from envoy/envoy.yaml with the
//! audgate module, and a request without a token never reaches the upstream.

use crate::support::{http, keys, Envoy, TestKey, Upstream};
use serde_json::json;

fn config() -> serde_json::Value {
    json!({"providers": [{
        "name": "p",
        "issuer": "https://i",
        "audiences": ["a"],
        "local_jwks": keys::jwks(&[TestKey::Rsa1]),
    }]})
}

#[test]
fn request_without_token_does_not_reach_upstream() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(&config(), upstream.port());

    let response = http::get(envoy.port(), "/", &[]);

    assert_eq!(
        upstream.count(),
        0,
        "upstream saw {:?}",
        upstream.requests()
    );
    assert_eq!(response.status, 401, "body: {}", response.body);
}

#[test]
fn refused_config_returns_the_log() {
    let upstream = Upstream::start();
    let log = Envoy::try_start(&json!({"providers": "nope"}), upstream.port())
        .err()
        .expect("envoy refused the config");
    assert!(log.contains("providers"), "log:\n{log}");
}
