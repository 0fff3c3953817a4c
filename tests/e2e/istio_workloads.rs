//! deploy/istio's two-workload example in real Envoy: one Envoy per workload,
//! each running that workload's `pluginConfig` exactly as the WasmPlugin
//! manifest has it, and one token replayed across both. A token the IdP minted
//! for orders passes orders (200) and is refused by payments (403, audience),
//! and the other way round, with issuer, signature and expiry all fine.
//!
//! orders keeps the verified token on the request (`forward: true`), for its
//! outbound plugin to exchange when orders passes it on (istio_outbound.rs);
//! payments has it removed.
//!
//! What differs from a sidecar, and why:
//! - `remote_jwks.cluster`: the manifests name Istio's clusters
//!   (`outbound|80||idp.example.com`, and payments' second provider the STS's
//!   `outbound|80||sts.example.com`); here each is swapped for the harness's
//!   `jwks` cluster, which points at a JWKS endpoint this test serves (the
//!   IdP's keys, for both: only the IdP's tokens are replayed here). The `uri`
//!   stays as shipped, so each fetch carries the manifest's authority and
//!   path, and the keys still arrive by the remote path (callout, shared
//!   cache, held first request) rather than as `local_jwks`.
//! - The wasm filter's `name`, `root_id`, `vm_id` and VM environment are set as
//!   Istio sets them (`manifests::istio_filter`: `<namespace>.<WasmPlugin
//!   name>`, no root id, no vm id, `vmConfig.env`) and each Envoy runs two
//!   workers, as a sidecar does by default. Listener, routes and Istio's own
//!   filters are envoy/envoy.yaml's, not a sidecar's.

use crate::support::manifests::{self, Document};
use crate::support::{envoy_yaml, http, keys, Envoy, Reply, TestKey, Upstream};
use serde_json::{json, Value};

/// Istio's cluster name in the manifests becomes the harness's `jwks` cluster.
const HARNESS_JWKS_CLUSTER: &str = "jwks";

/// One workload of the example, running in its own Envoy.
struct Workload {
    name: &'static str,
    config: Value,
    upstream: Upstream,
    envoy: Envoy,
}

impl Workload {
    fn start(plugin_name: &'static str, jwks_port: u16) -> Workload {
        let plugin = manifests::wasm_plugin(plugin_name);
        let config = harness_config(&plugin);
        let upstream = Upstream::start();
        let envoy = Envoy::builder(&config, upstream.port())
            .template(&manifests::istio_filter(&envoy_yaml::template(), &plugin))
            .jwks_port(jwks_port)
            .concurrency(2)
            .start();
        Workload {
            name: plugin_name,
            config,
            upstream,
            envoy,
        }
    }

    fn provider(&self) -> &Value {
        &self.config["providers"][0]
    }

    fn audience(&self) -> &str {
        self.provider()["audiences"][0].as_str().unwrap()
    }

    fn get(&self, path: &str, token: Option<&str>) -> http::Response {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer
            .iter()
            .map(|b| ("authorization", b.as_str()))
            .collect();
        http::get(self.envoy.port(), path, &headers)
    }
}

/// The WasmPlugin's pluginConfig with only each `remote_jwks.cluster` changed.
fn harness_config(plugin: &Document) -> Value {
    let mut config = manifests::plugin_config(plugin);
    let providers = config["providers"].as_array_mut().unwrap();
    for provider in providers {
        let remote = provider
            .get_mut("remote_jwks")
            .unwrap_or_else(|| panic!("{}: remote_jwks", plugin.source));
        assert!(remote["cluster"].as_str().unwrap().starts_with("outbound|"));
        remote["cluster"] = json!(HARNESS_JWKS_CLUSTER);
    }
    config
}

/// A token from the manifests' IdP for `audience`, signed by the key it serves.
fn token_for(provider: &Value, audience: &str) -> String {
    let now = keys::now();
    let claims = json!({
        "iss": provider["issuer"],
        "aud": audience,
        "sub": "alice",
        "iat": now,
        "exp": now + 600,
    });
    keys::sign_default(TestKey::Rsa1, claims)
}

#[test]
fn a_token_for_one_workload_is_refused_by_the_other() {
    let idp = Upstream::serve(0, |_| Reply::json(&keys::jwks(&[TestKey::Rsa1])));
    let orders = Workload::start("audgate-orders", idp.port());
    let payments = Workload::start("audgate-payments", idp.port());
    // One IdP for both: the same issuer and key source, different audiences.
    assert_eq!(orders.provider()["issuer"], payments.provider()["issuer"]);
    assert_eq!(
        orders.provider()["remote_jwks"],
        payments.provider()["remote_jwks"]
    );
    assert_ne!(orders.audience(), payments.audience());

    for (owner, other) in [(&orders, &payments), (&payments, &orders)] {
        let token = token_for(owner.provider(), owner.audience());

        let response = owner.get("/items", Some(&token));
        assert_eq!(
            response.status, 200,
            "{}'s token at {}: {}",
            owner.name, owner.name, response.body
        );
        let seen = owner.upstream.take();
        assert_eq!(seen.len(), 1);
        // Removed, unless the workload passes it on (orders: its outbound
        // plugin exchanges it on the way out).
        let kept = seen[0].header("authorization");
        if owner.provider()["forward"] == true {
            assert_eq!(kept, Some(format!("Bearer {token}").as_str()), "token kept");
        } else {
            assert_eq!(kept, None, "token removed");
        }
        for copy in owner.provider()["claim_to_headers"].as_array().unwrap() {
            let header = copy["header"].as_str().unwrap();
            assert_eq!(copy["claim"], "sub", "the token has sub only");
            assert_eq!(seen[0].header(header), Some("alice"), "{header}");
        }

        let response = other.get("/items", Some(&token));
        assert_eq!(
            response.status, 403,
            "{}'s token at {}: {}",
            owner.name, other.name, response.body
        );
        let challenge = response.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.contains("error_description=\"audience not allowed\""),
            "{challenge}"
        );
        assert_eq!(
            other.upstream.count(),
            0,
            "{} upstream untouched",
            other.name
        );
    }

    // What both manifests let through without a token, and what they do not.
    for workload in [&orders, &payments] {
        assert_eq!(
            workload.get("/healthz", None).status,
            200,
            "{}",
            workload.name
        );
        assert_eq!(
            workload.get("/items", None).status,
            401,
            "{}",
            workload.name
        );
        workload.upstream.take();
    }

    // The keys came by the manifests' remote_jwks: every fetch carried the
    // authority and path of one of their uris, the IdP's among them.
    let authority_path = |provider: &Value| {
        let uri = provider["remote_jwks"]["uri"].as_str().unwrap();
        let (authority, path) = uri
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('/'))
            .unwrap();
        (authority.to_owned(), format!("/{path}"))
    };
    let uris: Vec<(String, String)> = [&orders, &payments]
        .iter()
        .flat_map(|w| w.config["providers"].as_array().unwrap().iter())
        .map(authority_path)
        .collect();
    let fetches: Vec<(String, String)> = idp
        .requests()
        .iter()
        .map(|f| {
            (
                f.header("host").unwrap_or_default().to_owned(),
                f.path.clone(),
            )
        })
        .collect();
    assert!(
        fetches.contains(&authority_path(orders.provider())),
        "{fetches:?}"
    );
    for fetch in &fetches {
        assert!(uris.contains(fetch), "{fetch:?} is none of {uris:?}");
    }
}
