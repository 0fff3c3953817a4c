//! envoy/envoy.yaml's plugin configuration matches the demo: the embedded JWKS is
//! the demo key's, so the tokens `make run` prints verify.

use crate::support::{envoy_yaml, keys, TestKey};
use serde_json::{json, Value};

fn embedded() -> Value {
    let text = envoy_yaml::plugin_config(&envoy_yaml::template());
    serde_json::from_str(&text).expect("envoy.yaml: plugin configuration is JSON")
}

#[test]
fn embedded_jwks_is_the_demo_key_set() {
    let provider = &embedded()["providers"][0];
    assert_eq!(provider["local_jwks"], keys::jwks(&[TestKey::Demo]));
}

#[test]
fn embedded_provider_names_the_demo_issuer_and_audience() {
    let config = embedded();
    assert_eq!(config["providers"].as_array().map(Vec::len), Some(1));
    let provider = &config["providers"][0];
    assert_eq!(provider["name"], "demo");
    assert_eq!(provider["issuer"], "https://issuer.demo.audgate.local");
    assert_eq!(provider["audiences"], json!(["orders.demo.svc"]));
}
