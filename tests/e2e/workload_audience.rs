//! Audiences from the workload's own identity: `${node.KEY}` filled from the
//! proxy's node metadata (as Istio writes it) when the filter is configured. One
//! mesh-wide plugin (deploy/istio/mesh-wide/) gives each workload its own narrow
//! audience; a metadata key that is missing refuses the configuration.

use crate::support::keys::{self, now, TestKey};
use crate::support::{envoy_yaml, http, manifests, Envoy, Upstream};
use serde_json::{json, Value};

const ISSUER: &str = "https://idp.example.com";

/// envoy.yaml with a bootstrap `node` carrying this metadata.
fn with_node(metadata: &[(&str, &str)]) -> String {
    let mut node = String::from("node:\n  id: sidecar~10.0.0.7~orders-7d9f~shop.svc.cluster.local\n  cluster: orders.shop\n  metadata:\n");
    for (key, value) in metadata {
        node.push_str(&format!("    {key}: \"{value}\"\n"));
    }
    let template = envoy_yaml::template();
    assert_eq!(template.matches("\nstatic_resources:\n").count(), 1);
    template.replace(
        "\nstatic_resources:\n",
        &format!("\n{node}static_resources:\n"),
    )
}

/// The shipped mesh-wide WasmPlugin's pluginConfig, with local test keys.
fn mesh_wide_config() -> Value {
    let path = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/istio/mesh-wide/audgate-wasmplugin.yaml"
    ));
    let plugins = manifests::parse_file(path);
    assert_eq!(plugins.len(), 1);
    assert_eq!(plugins[0].kind(), "WasmPlugin");
    let mut config = manifests::plugin_config(&plugins[0]);
    let provider = config["providers"][0].as_object_mut().unwrap();
    provider
        .remove("remote_jwks")
        .expect("the example fetches its keys");
    provider.insert("local_jwks".into(), keys::jwks(&[TestKey::Rsa1]));
    config
}

fn token(aud: &str) -> String {
    let now = now();
    keys::sign_default(
        TestKey::Rsa1,
        json!({"iss": ISSUER, "aud": aud, "sub": "caller", "iat": now, "exp": now + 600}),
    )
}

fn status(envoy: &Envoy, upstream: &Upstream, path: &str, aud: &str) -> u16 {
    let bearer = format!("Bearer {}", token(aud));
    let response = http::get(envoy.port(), path, &[("authorization", &bearer)]);
    let seen = upstream.take();
    assert_eq!(response.status == 200, seen.len() == 1);
    response.status
}

#[test]
fn each_workload_accepts_only_tokens_for_its_own_identity() {
    let config = mesh_wide_config();
    let upstream = Upstream::start();
    let orders = Envoy::builder(&config, upstream.port())
        .template(&with_node(&[
            ("NAMESPACE", "shop"),
            ("SERVICE_ACCOUNT", "orders"),
        ]))
        .start();
    let own = "spiffe://cluster.local/ns/shop/sa/orders";
    let neighbour = "spiffe://cluster.local/ns/shop/sa/payments";
    assert_eq!(status(&orders, &upstream, "/orders", own), 200);
    assert_eq!(status(&orders, &upstream, "/orders", neighbour), 403);
    assert_eq!(status(&orders, &upstream, "/admin/x", own), 403);
    assert_eq!(
        status(&orders, &upstream, "/admin/x", &format!("{own}/admin")),
        200
    );
    assert!(
        orders
            .log()
            .contains(&format!("provider corp-idp accepts audiences [\"{own}\"]")),
        "the expanded audiences are logged once configured"
    );

    let payments = Envoy::builder(&config, upstream.port())
        .template(&with_node(&[
            ("NAMESPACE", "shop"),
            ("SERVICE_ACCOUNT", "payments"),
        ]))
        .start();
    assert_eq!(status(&payments, &upstream, "/orders", neighbour), 200);
    assert_eq!(status(&payments, &upstream, "/orders", own), 403);
}

#[test]
fn a_missing_metadata_key_refuses_the_configuration() {
    let upstream = Upstream::start();
    let result = Envoy::builder(&mesh_wide_config(), upstream.port())
        .template(&with_node(&[("NAMESPACE", "shop")]))
        .try_start();
    let Err(log) = result else {
        panic!("Envoy took an audience it could not fill");
    };
    assert!(
        log.contains("providers[0].audiences[0]: ${node.SERVICE_ACCOUNT}: the proxy's node metadata has no string value SERVICE_ACCOUNT"),
        "{log}"
    );
}
