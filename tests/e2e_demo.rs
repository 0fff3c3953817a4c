//! What `make run` promises, through Envoy running envoy/envoy.yaml's own plugin
//! configuration: a demo token for this service passes with the token removed, a
//! token from the same issuer for another service gets 403, no token gets 401.

mod support;

use audgate::config::Config;
use serde_json::{json, Value};
use support::{envoy_yaml, http, keys, Envoy, TestKey, Upstream};

fn shipped_config() -> Value {
    serde_json::from_str(&envoy_yaml::plugin_config(&envoy_yaml::template())).unwrap()
}

fn demo_token(audience: &str) -> String {
    let now = keys::now();
    keys::sign_default(
        TestKey::Demo,
        json!({"iss": "https://issuer.demo.audgate.local", "aud": audience, "sub": "demo-user", "iat": now, "exp": now + 3600}),
    )
}

#[test]
fn the_shipped_plugin_configuration_validates() {
    Config::from_json(shipped_config().to_string().as_bytes()).unwrap();
}

#[test]
fn the_demo_tokens_get_200_and_403_and_no_token_401() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(&shipped_config(), upstream.port());
    let good = format!("Bearer {}", demo_token("orders.demo.svc"));
    let other = format!("Bearer {}", demo_token("payments.demo.svc"));

    let response = http::get(envoy.port(), "/orders", &[("authorization", &good)]);
    assert_eq!(response.status, 200, "{}", response.body);
    let seen = upstream.take();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("authorization"), None);

    let response = http::get(envoy.port(), "/orders", &[("authorization", &other)]);
    assert_eq!(response.status, 403, "{}", response.body);
    assert!(response
        .header("www-authenticate")
        .unwrap_or_default()
        .contains("audience not allowed"));

    assert_eq!(http::get(envoy.port(), "/orders", &[]).status, 401);
    assert_eq!(upstream.count(), 0);
}
