//! envoy/envoy.yaml's plugin configuration matches the demo: its keys are fetched
//! (remote_jwks) through the file's `jwks` cluster, which points at the demo's
//! key server, from the path where the demo issuer serves its key set; the e2e
//! demo tests show the tokens `make run` prints verify with what it serves.

use crate::support::envoy_yaml;
use serde_json::{json, Value};

fn embedded() -> Value {
    let text = envoy_yaml::plugin_config(&envoy_yaml::template());
    serde_json::from_str(&text).expect("envoy.yaml: plugin configuration is JSON")
}

#[test]
fn keys_are_fetched_from_the_demo_issuer_through_the_jwks_cluster() {
    let provider = &embedded()["providers"][0];
    assert!(provider.get("local_jwks").is_none(), "{provider}");
    let remote = &provider["remote_jwks"];
    assert_eq!(remote["cluster"], "jwks");
    assert_eq!(
        remote["uri"],
        "http://127.0.0.1:10002/.well-known/jwks.json"
    );
    // The jwks cluster is the demo's key server, on the port the uri names.
    let template = envoy_yaml::template();
    let cluster = template
        .split("- name: jwks\n")
        .nth(1)
        .expect("envoy.yaml: a jwks cluster");
    let port_line = cluster
        .lines()
        .find(|line| line.contains("port_value:"))
        .expect("the jwks cluster's port");
    assert!(port_line.contains("port_value: 10002"), "{port_line}");
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
