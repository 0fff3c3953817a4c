//! deploy/istio's outbound side in real Envoy: orders' CLIENT WasmPlugin
//! (orders-outbound-wasmplugin.yaml) in the caller's Envoy, payments' SERVER
//! WasmPlugin (payments-wasmplugin.yaml) in the callee's, and the test STS
//! between them (`support::chain`). orders received a token the IdP minted for
//! orders (orders-wasmplugin.yaml's issuer and audience); its call to payments
//! reaches payments with a token the STS minted for payments, which payments'
//! `mesh-sts` provider accepts, and the original never reaches payments. A
//! token on its way to another host is removed. orders' inbound and outbound
//! plugins have the same VM settings, as one VM needs: in one Envoy, the
//! inbound plugin verifies the token and keeps it for orders, the outbound one
//! exchanges it. With the inbound plugin's VM settings lacking the secret's
//! variable, the outbound plugin, sharing its VM, finds no secret (Envoy 1.36),
//! or gets a VM of its own (Envoy 1.40, which keys VMs by their environment).
//!
//! What differs from a sidecar, and why:
//! - Clusters: Istio's names in the manifests (`outbound|80||sts.example.com`,
//!   `outbound|80||idp.example.com`) become the harness's: the caller's `sts`,
//!   the callee's `jwks` (the test STS) and `idp` (a JWKS this test serves for
//!   the IdP). The URIs keep their authority, so the callout and the fetches
//!   carry the manifests' `:authority`; the STS's paths become the test STS's
//!   (`/token`, `/jwks`).
//! - The wasm filters are set up as Istio sets up each WasmPlugin's
//!   (`manifests::istio_filter`): named `<namespace>.<name>`, no root id, no vm
//!   id, and the VM environment from `vmConfig.env` (`valueFrom: HOST`: the
//!   secret copied from Envoy's own environment, as from the istio-proxy
//!   container's). Listeners and routes are envoy/outbound.yaml's and
//!   envoy/envoy.yaml's: the caller sends every call to the callee, whatever
//!   its host, where a sidecar would route by host.

use serde_json::{json, Value};

use crate::support::chain::{assert_never_forwarded, Chain, Ends, CLIENT_SECRET, SECRET_ENV};
use crate::support::manifests::{self, Document};
use crate::support::sts::{sha256_hex, StsClient, StsSettings};
use crate::support::{envoy, envoy_yaml, http, keys, Envoy, Reply, TestKey, Upstream};

/// orders' inbound plugin, its outbound one, payments' plugin.
const ORDERS: &str = "audgate-orders";
const ORDERS_OUTBOUND: &str = "audgate-orders-outbound";
const PAYMENTS: &str = "audgate-payments";

/// The caller's workers: a sidecar's default.
const WORKERS: usize = 2;

/// The test STS's own paths, in place of the manifests' (authority kept).
const STS_TOKEN_PATH: &str = "/token";
const STS_JWKS_PATH: &str = "/jwks";

/// `scheme://authority` and the path of an absolute URI.
fn split(uri: &str) -> (&str, &str) {
    let (scheme, rest) = uri.split_once("://").expect("absolute uri");
    let at = rest.find('/').unwrap_or(rest.len());
    (&uri[..scheme.len() + 3 + at], &rest[at..])
}

/// The authority of an absolute URI.
fn authority(uri: &str) -> &str {
    split(uri).0.split_once("://").unwrap().1
}

/// The three manifests and what the test derives from them.
struct Manifests {
    orders: Document,
    outbound: Document,
    payments: Document,
}

impl Manifests {
    fn read() -> Manifests {
        Manifests {
            orders: manifests::wasm_plugin(ORDERS),
            outbound: manifests::wasm_plugin(ORDERS_OUTBOUND),
            payments: manifests::wasm_plugin(PAYMENTS),
        }
    }

    fn exchange(&self) -> Value {
        manifests::plugin_config(&self.outbound)["exchange"].clone()
    }

    /// The one destination: payments.
    fn destination(&self) -> Value {
        let exchange = self.exchange();
        let destinations = exchange["destinations"].as_array().unwrap();
        assert_eq!(destinations.len(), 1, "one destination: payments");
        destinations[0].clone()
    }

    /// orders' provider: the IdP that issued the token orders received.
    fn orders_provider(&self) -> Value {
        manifests::plugin_config(&self.orders)["providers"][0].clone()
    }

    /// payments' provider whose keys come from the STS's host: the STS's issuer.
    fn sts_provider(&self) -> Value {
        let sts_host = authority(self.exchange()["token_endpoint"].as_str().unwrap()).to_owned();
        let config = manifests::plugin_config(&self.payments);
        let found: Vec<Value> = config["providers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| {
                p["remote_jwks"]["uri"]
                    .as_str()
                    .is_some_and(|uri| authority(uri) == sts_host)
            })
            .cloned()
            .collect();
        assert_eq!(
            found.len(),
            1,
            "payments trusts the STS orders exchanges at"
        );
        found[0].clone()
    }

    /// The test STS as the manifests describe it: it mints as payments'
    /// `mesh-sts` provider expects, takes the IdP's tokens as subject tokens,
    /// and knows orders' client.
    fn sts_settings(&self) -> StsSettings {
        let exchange = self.exchange();
        StsSettings {
            issuer: self.sts_provider()["issuer"].as_str().unwrap().into(),
            subject_issuer: self.orders_provider()["issuer"].as_str().unwrap().into(),
            subject_key: TestKey::Rsa1,
            clients: vec![StsClient::basic(
                exchange["client_id"].as_str().unwrap(),
                CLIENT_SECRET,
            )],
            anonymous: false,
            audiences: Some(vec![self.destination()["audience"]
                .as_str()
                .unwrap()
                .into()]),
            ..StsSettings::default()
        }
    }

    /// orders' outbound pluginConfig with the STS reached through the
    /// caller's `sts` cluster, at the test STS's token path.
    fn caller_config(&self) -> Value {
        let mut config = manifests::plugin_config(&self.outbound);
        let exchange = &mut config["exchange"];
        assert!(exchange["cluster"]
            .as_str()
            .unwrap()
            .starts_with("outbound|"));
        exchange["cluster"] = json!("sts");
        let (origin, _) = split(exchange["token_endpoint"].as_str().unwrap());
        exchange["token_endpoint"] = json!(format!("{origin}{STS_TOKEN_PATH}"));
        config
    }

    /// payments' pluginConfig with its key fetches through the callee's
    /// clusters: the STS's by `jwks` at the test STS's path, the IdP's by `idp`.
    fn callee_config(&self) -> Value {
        let sts = self.sts_provider()["name"].clone();
        let mut config = manifests::plugin_config(&self.payments);
        for provider in config["providers"].as_array_mut().unwrap() {
            let is_sts = provider["name"] == sts;
            let remote = &mut provider["remote_jwks"];
            assert!(remote["cluster"].as_str().unwrap().starts_with("outbound|"));
            if is_sts {
                let (origin, _) = split(remote["uri"].as_str().unwrap());
                let uri = format!("{origin}{STS_JWKS_PATH}");
                remote["uri"] = json!(uri);
                remote["cluster"] = json!("jwks");
            } else {
                remote["cluster"] = json!("idp");
            }
        }
        config
    }
}

/// envoy/envoy.yaml set up for payments' plugin, with an `idp` cluster at `idp_port`.
fn callee_template(plugin: &Document, idp_port: u16) -> String {
    let yaml = manifests::istio_filter(&envoy_yaml::template(), plugin);
    envoy_yaml::with_clusters(&yaml, &[envoy_yaml::static_cluster("idp", idp_port)])
}

/// The chain of the manifests; the IdP's JWKS server beside it.
fn start(manifests: &Manifests) -> (Chain, Upstream) {
    let idp = Upstream::serve(0, |_| Reply::json(&keys::jwks(&[TestKey::Rsa1])));
    let ends = Ends {
        callee_config: Some(manifests.callee_config()),
        callee_template: Some(callee_template(&manifests.payments, idp.port())),
        caller_template: Some(manifests::istio_filter(
            &envoy_yaml::outbound_template(),
            &manifests.outbound,
        )),
    };
    let chain = Chain::start_ends(
        &manifests.caller_config(),
        manifests.sts_settings(),
        WORKERS as u32,
        ends,
    );
    (chain, idp)
}

/// The token orders received: from the IdP, for orders' own audience.
fn orders_token(manifests: &Manifests) -> String {
    let provider = manifests.orders_provider();
    let now = keys::now();
    keys::sign_default(
        TestKey::Rsa1,
        json!({"iss": provider["issuer"], "aud": provider["audiences"][0], "sub": "alice",
               "iat": now, "exp": now + 600}),
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[test]
fn a_call_from_orders_to_payments_reaches_it_with_a_token_minted_for_payments() {
    let manifests = Manifests::read();
    let (chain, _idp) = start(&manifests);
    let original = orders_token(&manifests);
    let destination = manifests.destination();
    let audience = destination["audience"].as_str().unwrap();

    // Every spelling of payments the destination names, and one with a port.
    let mut hosts: Vec<String> = destination["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_owned())
        .collect();
    hosts.push(format!("{}:80", hosts[0]));
    for host in &hosts {
        let response = chain.call_to(host, "/charge", &[("authorization", &bearer(&original))]);
        assert_eq!(response.status, 200, "host {host}: {}", response.body);
    }
    // payments verified each call (the token removed, its sub as x-user), and
    // never saw the token orders received.
    let seen = chain.upstream.requests();
    assert_eq!(seen.len(), hosts.len());
    for request in &seen {
        assert_eq!(request.header("authorization"), None);
        assert_eq!(request.header("x-user"), Some("alice"));
    }
    assert_never_forwarded(&chain.upstream, &original);
    // ...because it saw one the STS minted: payments' mesh-sts provider allowed them.
    let sts_provider = manifests.sts_provider();
    let allowed = format!(
        "audgate_requests_total{{provider=\"{}\",outcome=\"allowed\",reason=\"none\"}} {}",
        sts_provider["name"].as_str().unwrap(),
        hosts.len()
    );
    let stats = chain
        .callee
        .admin_until("/stats/prometheus", |s| s.lines().any(|l| l == allowed));
    assert!(
        stats.lines().any(|l| l == allowed),
        "{allowed} in:\n{stats}"
    );
    // One exchange per worker at most (each keeps its own exchanged tokens;
    // two workers, as a sidecar has), for payments' audience, with orders'
    // client and the secret from the VM's environment (vmConfig.env,
    // valueFrom: HOST).
    let asked = chain.sts.requests();
    assert!(
        (1..=WORKERS).contains(&asked.len()),
        "{} exchanges for one token and destination",
        asked.len()
    );
    for request in &asked {
        assert!(request.basic);
        assert_eq!(
            request.client_id.as_deref(),
            manifests.exchange()["client_id"].as_str()
        );
        assert_eq!(request.field("audience"), Some(audience));
        assert_eq!(
            request.field("subject_token"),
            Some(sha256_hex(&original).as_str())
        );
    }
    // Sent to payments as it was, the token orders received is refused there.
    let straight = http::get(
        chain.callee.port(),
        "/charge",
        &[("authorization", &bearer(&original))],
    );
    assert_eq!(straight.status, 403, "{}", straight.body);
    assert!(straight
        .header("www-authenticate")
        .unwrap_or_default()
        .contains("audience not allowed"));
}

#[test]
fn a_token_on_its_way_to_another_host_is_removed() {
    let manifests = Manifests::read();
    let (chain, _idp) = start(&manifests);
    let original = orders_token(&manifests);
    assert_eq!(manifests.exchange()["unmatched"], "remove");
    // inventory is no destination of orders' plugin: its token is taken off
    // (this harness routes the call to payments anyway, whose /healthz needs
    // none and whose other paths then find none).
    let host = "inventory.shop.svc.cluster.local";
    let authorization = bearer(&original);
    let open = chain.call_to(host, "/healthz", &[("authorization", &authorization)]);
    assert_eq!(open.status, 200, "{}", open.body);
    let closed = chain.call_to(host, "/charge", &[("authorization", &authorization)]);
    assert_eq!(closed.status, 401, "{}", closed.body);
    let seen = chain.upstream.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("authorization"), None);
    assert_never_forwarded(&chain.upstream, &original);
    assert_eq!(chain.sts.exchanges(), 0);
}

#[test]
fn orders_inbound_and_outbound_plugins_have_the_same_vm_settings() {
    let manifests = Manifests::read();
    let (inbound, outbound) = (
        &manifests.orders.value["spec"],
        &manifests.outbound.value["spec"],
    );
    // One workload, one module: the same pods, url, digest and pull policy...
    assert_eq!(manifests.orders.namespace(), manifests.outbound.namespace());
    for field in ["selector", "url", "sha256", "imagePullPolicy", "pluginName"] {
        assert_eq!(inbound[field], outbound[field], "spec.{field}");
    }
    // ...so one VM for both, whose environment is that of whichever plugin
    // created it: both must bring the same.
    assert_eq!(inbound["vmConfig"], outbound["vmConfig"]);
    assert_eq!(
        manifests::vm_environment(&manifests.orders),
        manifests::vm_environment(&manifests.outbound)
    );
    // The secret the exchange reads is in it, from the proxy's environment
    // (valueFrom: HOST), never inline.
    let secret = manifests.exchange()["client_secret_env"].clone();
    assert_eq!(secret, SECRET_ENV);
    assert_eq!(
        manifests::vm_environment(&manifests.outbound),
        Some(json!({"host_env_keys": [secret]}))
    );
    // The directions: orders' inbound plugin checks what comes in and keeps
    // the token for orders to pass on; the outbound one exchanges what goes out.
    assert_eq!(inbound["match"], json!([{"mode": "SERVER"}]));
    assert_eq!(outbound["match"], json!([{"mode": "CLIENT"}]));
    assert_eq!(manifests.orders_provider()["forward"], true);
}

/// orders' sidecar with both of its plugins, each set up as Istio sets it up
/// from its WasmPlugin: envoy/outbound.yaml's listener (`audgate`) with the
/// outbound plugin, and before it (so that its filter, and the VM, come first)
/// a copy, `inbound`, with `inbound`'s plugin and `inbound_config` in front of
/// the cluster `inbound_upstream`; the cluster `idp` serves the IdP's keys.
fn orders_sidecar(
    manifests: &Manifests,
    inbound: &Document,
    inbound_config: &Value,
    inbound_upstream: u16,
    idp: u16,
) -> String {
    let template = manifests::istio_filter(&envoy_yaml::outbound_template(), &manifests.outbound);
    let start = template.find("  - name: audgate\n").unwrap();
    let end = template.find("\n  clusters:\n").unwrap();
    let mut copy = manifests::istio_filter(&template[start..end], inbound);
    for (from, to) in [
        ("  - name: audgate\n", "  - name: inbound\n"),
        ("port_value: 10010 }", "port_value: 0 }"),
        (
            "route: { cluster: payments }",
            "route: { cluster: inbound_upstream }",
        ),
    ] {
        assert_eq!(copy.matches(from).count(), 1, "{from}");
        copy = copy.replacen(from, to, 1);
    }
    // Its configuration on one line and its module path absolute: rendering
    // replaces the outbound filter's markers only.
    let config_start = copy.find("value: |\n").unwrap();
    let config_end = copy
        .find("          - name: envoy.filters.http.router")
        .unwrap();
    let json = serde_json::to_string(inbound_config)
        .unwrap()
        .replace('\'', "''");
    copy.replace_range(config_start..config_end, &format!("value: '{json}'\n"));
    let wasm = envoy::wasm_path();
    copy = copy.replacen(
        envoy_yaml::WASM_MARKER,
        &format!("filename: \"{}\"", wasm.display()),
        1,
    );
    let mut yaml = template;
    yaml.insert_str(start, &copy);
    envoy_yaml::with_clusters(
        &yaml,
        &[
            envoy_yaml::static_cluster("inbound_upstream", inbound_upstream),
            envoy_yaml::static_cluster("idp", idp),
        ],
    )
}

/// orders' inbound pluginConfig with the IdP's keys by the cluster `idp`.
fn inbound_config(manifests: &Manifests) -> Value {
    let mut config = manifests::plugin_config(&manifests.orders);
    for provider in config["providers"].as_array_mut().unwrap() {
        let remote = &mut provider["remote_jwks"];
        assert!(remote["cluster"].as_str().unwrap().starts_with("outbound|"));
        remote["cluster"] = json!("idp");
    }
    config
}

#[test]
fn orders_two_plugins_in_one_sidecar_keep_the_token_for_orders_and_exchange_it_on_the_way_out() {
    let manifests = Manifests::read();
    let idp = Upstream::serve(0, |_| Reply::json(&keys::jwks(&[TestKey::Rsa1])));
    let orders = Upstream::start();
    let sidecar = orders_sidecar(
        &manifests,
        &manifests.orders,
        &inbound_config(&manifests),
        orders.port(),
        idp.port(),
    );
    let ends = Ends {
        callee_config: Some(manifests.callee_config()),
        callee_template: Some(callee_template(&manifests.payments, idp.port())),
        caller_template: Some(sidecar),
    };
    let chain = Chain::start_ends(
        &manifests.caller_config(),
        manifests.sts_settings(),
        WORKERS as u32,
        ends,
    );
    let original = orders_token(&manifests);
    // In: orders' plugin verifies the token and leaves it on the request.
    let inbound = chain.caller.listener_port("inbound");
    let response = http::get(inbound, "/orders", &[("authorization", &bearer(&original))]);
    assert_eq!(response.status, 200, "{}", response.body);
    let seen = orders.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("x-user"), Some("alice"));
    let kept = seen[0]
        .header("authorization")
        .expect("the token, for orders to pass on");
    // Out: orders passes it on to payments, and the other plugin of the same
    // VM exchanges it.
    let host = "payments.shop.svc.cluster.local";
    let response = chain.call_to(host, "/charge", &[("authorization", kept)]);
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(chain.sts.exchanges(), 1);
    assert_never_forwarded(&chain.upstream, &original);
    assert_eq!(chain.upstream.requests()[0].header("x-user"), Some("alice"));
}

/// The V8 VMs `envoy` runs (`wasm.envoy.wasm.runtime.v8.active`: each base VM
/// and its copy per thread).
fn vm_count(envoy: &Envoy) -> u64 {
    const GAUGE: &str = "wasm.envoy.wasm.runtime.v8.active: ";
    let stats = envoy.admin("/stats?filter=runtime.v8.active").body;
    let line = stats
        .lines()
        .find(|l| l.starts_with(GAUGE))
        .unwrap_or_else(|| panic!("{GAUGE} in {stats}"));
    line[GAUGE.len()..].parse().unwrap()
}

#[test]
fn with_other_vm_settings_the_outbound_plugin_loses_its_secret_or_its_shared_vm() {
    let manifests = Manifests::read();
    let start = |inbound: &Document| {
        let sidecar = orders_sidecar(&manifests, inbound, &inbound_config(&manifests), 1, 1);
        Envoy::outbound(&manifests.caller_config(), 1, 1)
            .template(&sidecar)
            .env(SECRET_ENV, CLIENT_SECRET)
            .try_start()
    };
    // As shipped, the same vmConfig: one VM for both plugins (and its copies
    // per thread).
    let shared = start(&manifests.orders).expect("orders' two plugins start");
    let one_vm = vm_count(&shared);
    drop(shared);
    // orders' inbound plugin without its vmConfig, its filter (and so its VM)
    // created first. An Envoy that keys VMs without their environment (1.36)
    // gives the outbound plugin that VM, whose environment lacks the secret
    // although Envoy's own has it: the configuration is refused. One that keys
    // them with it (envoyproxy/envoy#44563; 1.40) starts a second VM.
    let mut bare = manifests.orders.clone();
    bare.value["spec"]
        .as_object_mut()
        .unwrap()
        .remove("vmConfig")
        .expect("orders-wasmplugin.yaml has a vmConfig");
    match start(&bare) {
        Err(log) => {
            assert!(
                log.contains("exchange.client_secret_env") && log.contains(SECRET_ENV),
                "{log}"
            );
            assert!(!log.contains(CLIENT_SECRET), "the secret in the log");
        }
        Ok(envoy) => assert_eq!(vm_count(&envoy), 2 * one_vm, "a VM per plugin"),
    }
}
