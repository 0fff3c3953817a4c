//! The Istio manifests in deploy/istio/ (and the WasmPlugins the docs show),
//! checked without a cluster: every `pluginConfig` is accepted by audgate's own
//! parser in the form Istio hands it over (with the VM environment its
//! `vmConfig.env` gives), each example workload has a plugin of its own with
//! an audience no other workload accepts, the resources are shaped for an
//! authentication filter (inbound) or a token exchange (outbound), the plugins
//! of one workload share their VM settings, every `remote_jwks.cluster` and
//! `exchange.cluster` is a cluster Istio builds for a host the manifests
//! declare, every exchange asks for an audience its destination accepts from
//! the STS, and TLS is originated only where the traffic is plain HTTP. The
//! ambient variant in deploy/istio/ambient/ (WasmPlugins on a waypoint, by
//! `targetRefs`) is held to the same, and lets into the pods only what passed
//! the waypoint.

use crate::support::manifests::{self, Document};
use audgate::config::{Config, Lookups};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Markdown files whose ```yaml blocks may hold WasmPlugins to check too.
const DOCS: [&str; 3] = [
    "deploy/istio/README.md",
    "docs/deploy.md",
    "docs/configuration.md",
];

/// The example workloads: WasmPlugin name, `app` label, audience.
const WORKLOADS: [(&str, &str, &str); 2] = [
    ("audgate-orders", "orders", "orders.shop.svc"),
    ("audgate-payments", "payments", "payments.shop.svc"),
];

/// The documents of deploy/istio/ambient/*.yaml (not applied with the rest:
/// `kubectl apply -f deploy/istio/` does not recurse).
fn ambient_documents() -> Vec<Document> {
    let dir = std::path::Path::new(manifests::DIR).join("ambient");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let documents: Vec<Document> = files
        .iter()
        .flat_map(|f| manifests::parse_file(f))
        .collect();
    assert!(!documents.is_empty(), "no manifests in {}", dir.display());
    documents
}

/// The WasmPlugins in ```yaml blocks of the docs.
fn documented_wasm_plugins() -> Vec<Document> {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut plugins = Vec::new();
    for doc in DOCS {
        let Ok(text) = std::fs::read_to_string(format!("{root}/{doc}")) else {
            continue;
        };
        for (n, block) in yaml_blocks(&text).iter().enumerate() {
            let source = format!("{doc} yaml block {}", n + 1);
            let documents = manifests::parse_yaml(&source, block);
            plugins.extend(documents.into_iter().filter(|d| d.kind() == "WasmPlugin"));
        }
    }
    plugins
}

/// The bodies of the fenced ```yaml blocks of a Markdown text.
fn yaml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in markdown.lines() {
        match current.as_mut() {
            None if line.trim_start().starts_with("```yaml") => current = Some(Vec::new()),
            None => {}
            Some(block) if line.trim_start().starts_with("```") => {
                blocks.push(block.join("\n"));
                current = None;
            }
            Some(block) => block.push(line),
        }
    }
    blocks
}

/// The providers of a configuration; none for an exchange-only one.
fn providers(config: &Value) -> &[Value] {
    config["providers"].as_array().map_or(&[], Vec::as_slice)
}

/// The VM environment a WasmPlugin's `vmConfig.env` gives the filter: an
/// INLINE entry's value, and for a HOST one (copied from the proxy's own
/// environment, which a manifest cannot show) a stand-in value.
fn vm_env(plugin: &Document) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    if let Some(environment) = manifests::vm_environment(plugin) {
        for name in environment["host_env_keys"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let name = name.as_str().unwrap();
            env.insert(name.to_owned(), format!("<{name} from the proxy>"));
        }
        for (name, value) in environment["key_values"].as_object().into_iter().flatten() {
            env.insert(name.clone(), value.as_str().unwrap().to_owned());
        }
    }
    env
}

#[test]
fn every_shipped_plugin_config_validates() {
    let plugins = manifests::wasm_plugins();
    assert!(plugins.len() >= WORKLOADS.len(), "{plugins:?}");
    let ambient: Vec<Document> = ambient_documents()
        .into_iter()
        .filter(|d| d.kind() == "WasmPlugin")
        .collect();
    for plugin in plugins
        .iter()
        .chain(&ambient)
        .chain(&documented_wasm_plugins())
    {
        // What Istio gives the filter: the pluginConfig marshalled to JSON,
        // and the VM environment of its vmConfig.env.
        let json = manifests::plugin_config(plugin).to_string();
        let env = vm_env(plugin);
        let lookups = Lookups {
            node: &|_| None,
            env: &|name| env.get(name).cloned(),
        };
        if let Err(e) = Config::from_json_in(json.as_bytes(), &lookups) {
            panic!("{} ({}): {e}\n{json}", plugin.source, plugin.name());
        }
    }
}

#[test]
fn the_docs_hold_wasm_plugins_to_check() {
    // docs/configuration.md's worked example at least: the block parsing works.
    assert!(
        !documented_wasm_plugins().is_empty(),
        "no WasmPlugin in the yaml blocks of {DOCS:?}"
    );
}

#[test]
fn each_workload_has_its_own_plugin_and_audience() {
    for (name, app, audience) in WORKLOADS {
        let plugin = manifests::wasm_plugin(name);
        let spec = &plugin.value["spec"];
        assert_eq!(spec["selector"]["matchLabels"]["app"], app, "{name}");
        let config = manifests::plugin_config(&plugin);
        for provider in providers(&config) {
            assert_eq!(
                provider["audiences"],
                serde_json::json!([audience]),
                "{name}: a workload accepts its own audience only"
            );
        }
    }
    // No audience is accepted by two plugins: a token for one workload is
    // refused by every other. (One plugin's providers may share one: payments
    // takes a token for payments from the IdP or from the STS.)
    let mut seen = BTreeSet::new();
    for plugin in manifests::wasm_plugins() {
        let audiences: BTreeSet<String> = providers(&manifests::plugin_config(&plugin))
            .iter()
            .flat_map(|p| p["audiences"].as_array().unwrap().iter())
            .map(|a| a.as_str().unwrap().to_owned())
            .collect();
        for audience in audiences {
            assert!(
                seen.insert(audience.clone()),
                "{}: audience {audience} also accepted by another plugin",
                plugin.name()
            );
        }
    }
}

#[test]
fn wasm_plugins_are_inbound_checks_or_outbound_exchanges_that_fail_closed() {
    // The CRD's pattern for sha256 (the API server refuses anything else).
    let sha256_ok = |s: &str| {
        s.is_empty()
            || (s.len() == 64
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    };
    for plugin in manifests::wasm_plugins() {
        let (name, spec) = (plugin.source.as_str(), &plugin.value["spec"]);
        assert_eq!(
            plugin.value["apiVersion"], "extensions.istio.io/v1alpha1",
            "{name}"
        );
        assert!(!plugin.namespace().is_empty(), "{name}: no namespace");
        let labels = spec["selector"]["matchLabels"].as_object();
        assert!(
            labels.is_some_and(|l| !l.is_empty()),
            "{name}: select the workload by label"
        );
        assert_eq!(spec["phase"], "AUTHN", "{name}");
        assert_eq!(spec["failStrategy"], "FAIL_CLOSE", "{name}");
        // Inbound: providers check what comes in. Outbound: an exchange only,
        // never providers (they would check the workload's own calls against
        // its own audience).
        let config = manifests::plugin_config(&plugin);
        let outbound = config.get("exchange").is_some();
        let mode = if outbound { "CLIENT" } else { "SERVER" };
        assert_eq!(
            spec["match"],
            serde_json::json!([{ "mode": mode }]),
            "{name}: one direction only"
        );
        assert_eq!(
            providers(&config).is_empty(),
            outbound,
            "{name}: providers inbound, an exchange outbound"
        );
        let url = spec["url"].as_str().unwrap_or_default();
        assert!(url.starts_with("oci://"), "{name}: url {url}");
        let sha256 = spec["sha256"].as_str().expect("sha256 present");
        assert!(sha256_ok(sha256), "{name}: sha256 {sha256:?}");
    }
}

#[test]
fn plugin_config_numbers_survive_a_protobuf_struct() {
    // Istio keeps pluginConfig as a google.protobuf.Struct, whose numbers are
    // doubles; integers up to 2^53 come back out as the same JSON integers.
    fn check(source: &str, path: &str, value: &Value) {
        match value {
            Value::Number(n) => assert!(
                n.as_u64().is_some_and(|n| n < (1 << 53)),
                "{source}: {path} = {n}: audgate's numbers are non-negative integers"
            ),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    check(source, &format!("{path}[{i}]"), item);
                }
            }
            Value::Object(fields) => {
                for (key, item) in fields {
                    check(source, &format!("{path}.{key}"), item);
                }
            }
            _ => {}
        }
    }
    for plugin in manifests::wasm_plugins() {
        check(
            &plugin.source,
            "pluginConfig",
            &manifests::plugin_config(&plugin),
        );
    }
}

/// `outbound|<port>|<subset>|<host>` → (port, subset, host).
fn istio_cluster(name: &str) -> Option<(u16, &str, &str)> {
    let mut parts = name.split('|');
    let (direction, port, subset, host) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if direction != "outbound" || parts.next().is_some() || host.is_empty() {
        return None;
    }
    Some((port.parse().ok()?, subset, host))
}

/// The port of an absolute `http(s)://host[:port]/…`, the scheme's default if none.
fn uri_port(uri: &str) -> u16 {
    let (scheme, rest) = uri.split_once("://").expect("absolute uri");
    let authority = rest.split('/').next().unwrap_or_default();
    match authority.rsplit_once(':') {
        Some((_, port)) => port.parse().expect("a port number"),
        None if scheme == "https" => 443,
        None => 80,
    }
}

/// `https://host[:port]/…` → (scheme, host).
fn uri_scheme_host(uri: &str) -> (&str, &str) {
    let (scheme, rest) = uri.split_once("://").expect("absolute uri");
    let authority = rest.split('/').next().unwrap_or_default();
    (scheme, authority.split(':').next().unwrap_or_default())
}

/// Where a plugin's callouts go: each `remote_jwks` (uri, cluster) and the
/// exchange's (token endpoint, cluster), with a name for messages.
fn callouts(plugin: &Document) -> Vec<(String, String, String)> {
    let config = manifests::plugin_config(plugin);
    let mut found = Vec::new();
    for provider in providers(&config) {
        if let Some(remote) = provider.get("remote_jwks") {
            found.push((
                format!("{} provider {}", plugin.source, provider["name"]),
                remote["uri"].as_str().unwrap().to_owned(),
                remote["cluster"].as_str().unwrap().to_owned(),
            ));
        }
    }
    if let Some(exchange) = config.get("exchange") {
        found.push((
            format!("{} exchange", plugin.source),
            exchange["token_endpoint"].as_str().unwrap().to_owned(),
            exchange["cluster"].as_str().unwrap().to_owned(),
        ));
    }
    found
}

#[test]
fn every_remote_jwks_and_exchange_cluster_is_one_istio_builds_for_a_declared_host() {
    let mut documents = manifests::documents();
    documents.extend(ambient_documents());
    let of_kind =
        |kind: &str| -> Vec<&Document> { documents.iter().filter(|d| d.kind() == kind).collect() };
    let (entries, rules) = (of_kind("ServiceEntry"), of_kind("DestinationRule"));
    let mut checked = 0;
    let mut exchanges = 0;
    for plugin in of_kind("WasmPlugin") {
        for (source, uri, cluster) in callouts(plugin) {
            let (port, subset, host) = istio_cluster(&cluster)
                .unwrap_or_else(|| panic!("{source}: {cluster} is not outbound|port|subset|host"));
            let (scheme, uri_host) = uri_scheme_host(&uri);
            assert_eq!(uri_host, host, "{source}: uri and cluster name one host");
            if host.ends_with(".svc.cluster.local") {
                continue; // a Service in the mesh: Istio builds its cluster anyway
            }
            // An external host: a ServiceEntry visible to the plugin's namespace
            // declares it on that port...
            let visible = |d: &&&Document| {
                d.namespace() == plugin.namespace()
                    || d.value["spec"]["exportTo"]
                        .as_array()
                        .is_none_or(|to| to.iter().any(|t| t == "*"))
            };
            let declared: Vec<Value> = entries
                .iter()
                .filter(visible)
                .filter(|entry| {
                    let hosts = entry.value["spec"]["hosts"].as_array();
                    hosts.is_some_and(|hosts| hosts.iter().any(|h| h == host))
                })
                .flat_map(|entry| entry.value["spec"]["ports"].as_array().cloned())
                .flatten()
                .filter(|p| p["number"] == port)
                .collect();
            let [declared] = declared.as_slice() else {
                panic!(
                    "{source}: {} ServiceEntry ports for {host}:{port}",
                    declared.len()
                );
            };
            assert!(subset.is_empty(), "{source}: no subsets declared");
            // The filter's callout is plain HTTP into the cluster: the port must
            // be HTTP (not passed through as TLS), and reach the port of the uri.
            assert_eq!(declared["protocol"], "HTTP", "{source}: {declared}");
            let uri_port = uri_port(&uri);
            let target = declared.get("targetPort").unwrap_or(&declared["number"]);
            assert_eq!(
                target.as_u64(),
                Some(uri_port.into()),
                "{source}: {declared}"
            );
            // ...and for https, a DestinationRule originates TLS on that port
            // (the filter's callout leaves it as plain HTTP).
            if scheme == "https" {
                let tls = rules.iter().filter(visible).any(|rule| {
                    let spec = &rule.value["spec"];
                    let simple = |tls: &Value| tls["mode"] == "SIMPLE";
                    spec["host"] == host
                        && (simple(&spec["trafficPolicy"]["tls"])
                            || spec["trafficPolicy"]["portLevelSettings"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .any(|p| p["port"]["number"] == port && simple(&p["tls"])))
                });
                assert!(
                    tls,
                    "{source}: no DestinationRule with tls SIMPLE for {host}:{port}"
                );
            }
            checked += 1;
            exchanges += usize::from(source.ends_with(" exchange"));
        }
    }
    assert!(checked >= WORKLOADS.len(), "{checked} callouts checked");
    assert!(exchanges >= 1, "{exchanges} exchange clusters checked");
}

#[test]
fn the_plugins_of_one_workload_share_their_vm_settings() {
    // The plugins of one proxy that run the same module with the same vm_id
    // (Istio sets none) share one VM: in Envoy 1.36 whatever their
    // environments (the VM has that of whichever plugin created it), in Envoy
    // 1.40 only with the same one (tests/e2e/istio_outbound.rs shows both). So
    // one workload's plugins must bring the same.
    let mut workloads: BTreeMap<String, Vec<Document>> = BTreeMap::new();
    for plugin in manifests::wasm_plugins() {
        let selector = plugin.value["spec"]["selector"].to_string();
        let key = format!("{}/{selector}", plugin.namespace());
        workloads.entry(key).or_default().push(plugin);
    }
    let mut shared = 0;
    for (workload, plugins) in &workloads {
        let first = &plugins[0].value["spec"];
        for plugin in &plugins[1..] {
            let spec = &plugin.value["spec"];
            for field in ["url", "sha256", "imagePullPolicy", "pluginName", "vmConfig"] {
                assert_eq!(
                    spec[field], first[field],
                    "{workload}: {} and {}: spec.{field}",
                    plugins[0].source, plugin.source
                );
            }
            shared += 1;
        }
    }
    assert!(shared >= 1, "orders has an inbound and an outbound plugin");
    // A secret the configuration reads from the VM's environment comes from
    // the proxy's (HOST, filled from a Kubernetes Secret), never INLINE, which
    // the resource and the proxy's config dump would show.
    for plugin in manifests::wasm_plugins() {
        let config = manifests::plugin_config(&plugin);
        let Some(name) = config["exchange"]["client_secret_env"].as_str() else {
            continue;
        };
        let environment = manifests::vm_environment(&plugin).unwrap_or_default();
        assert_eq!(
            environment["host_env_keys"],
            serde_json::json!([name]),
            "{}: vmConfig.env {name} valueFrom: HOST",
            plugin.source
        );
        assert!(environment.get("key_values").is_none(), "{}", plugin.source);
    }
}

#[test]
fn every_exchange_asks_for_an_audience_its_destination_takes_from_the_sts() {
    let plugins = manifests::wasm_plugins();
    let mut checked = 0;
    for plugin in &plugins {
        let config = manifests::plugin_config(plugin);
        let Some(exchange) = config.get("exchange") else {
            continue;
        };
        let (_, sts_host) = uri_scheme_host(exchange["token_endpoint"].as_str().unwrap());
        for destination in exchange["destinations"].as_array().unwrap() {
            let source = format!("{} destination {destination}", plugin.source);
            let audience = &destination["audience"];
            let hosts = destination["hosts"].as_array().expect("hosts");
            // The workload whose Service the hosts name (Service name = app
            // label in the example), in the plugin's namespace...
            let callee = plugins
                .iter()
                .filter(|p| p.namespace() == plugin.namespace())
                .filter(|p| p.value["spec"]["match"] == serde_json::json!([{"mode": "SERVER"}]))
                .find(|p| {
                    let app = p.value["spec"]["selector"]["matchLabels"]["app"].as_str();
                    app.is_some_and(|app| {
                        let fqdn = format!("{app}.{}.svc.cluster.local", p.namespace());
                        hosts.iter().any(|h| *h == fqdn.as_str())
                    })
                })
                .unwrap_or_else(|| panic!("{source}: no inbound plugin for these hosts"));
            // ...accepts the audience asked for from an issuer whose keys the
            // STS serves.
            let trusts = providers(&manifests::plugin_config(callee))
                .iter()
                .any(|provider| {
                    let keys_from = provider["remote_jwks"]["uri"].as_str().map(uri_scheme_host);
                    provider["audiences"].as_array().unwrap().contains(audience)
                        && keys_from.is_some_and(|(_, host)| host == sts_host)
                });
            assert!(
                trusts,
                "{source}: {} accepts no token for {audience} from {sts_host}",
                callee.source
            );
            checked += 1;
        }
    }
    assert!(checked >= 1, "{checked} destinations checked");
}

#[test]
fn istio_cluster_names_parse() {
    assert_eq!(
        istio_cluster("outbound|443||idp.example.com"),
        Some((443, "", "idp.example.com"))
    );
    assert_eq!(
        istio_cluster("outbound|8080||keycloak.auth.svc.cluster.local"),
        Some((8080, "", "keycloak.auth.svc.cluster.local"))
    );
    assert_eq!(istio_cluster("idp_jwks"), None);
    assert_eq!(istio_cluster("inbound|443||idp.example.com"), None);
}

/// Whether a DestinationRule TLS setting makes the sidecar originate TLS.
fn originates_tls(tls: &Value) -> bool {
    matches!(tls["mode"].as_str(), Some("SIMPLE" | "MUTUAL"))
}

#[test]
fn tls_is_never_originated_on_a_port_that_already_carries_tls() {
    // A DestinationRule with tls SIMPLE on a port the ServiceEntry declares as
    // HTTPS or TLS wraps the application's own TLS in TLS again.
    let documents = manifests::documents();
    let of_kind = |kind: &str| -> Vec<&Document> {
        let all = documents.iter().filter(|d| d.kind() == kind);
        all.collect()
    };
    let mut checked = 0;
    for rule in of_kind("DestinationRule") {
        let spec = &rule.value["spec"];
        for entry in of_kind("ServiceEntry") {
            let hosts = entry.value["spec"]["hosts"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !hosts.iter().any(|h| *h == spec["host"]) {
                continue;
            }
            for port in entry.value["spec"]["ports"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let protocol = port["protocol"].as_str().unwrap_or_default();
                let port_level = spec["trafficPolicy"]["portLevelSettings"].as_array();
                let on_port = port_level
                    .into_iter()
                    .flatten()
                    .filter(|p| p["port"]["number"] == port["number"])
                    .any(|p| originates_tls(&p["tls"]));
                let everywhere = originates_tls(&spec["trafficPolicy"]["tls"]);
                let tls_already = matches!(protocol, "HTTPS" | "TLS");
                assert!(
                    !(tls_already && (on_port || everywhere)),
                    "{}: TLS originated on {}'s {protocol} port {}: the application's TLS \
                     would be wrapped twice",
                    rule.source,
                    spec["host"],
                    port["number"]
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 2, "{checked} ServiceEntry ports checked");
}

#[test]
fn waypoint_plugins_target_one_service_each_with_its_own_audience() {
    let documents = ambient_documents();
    let plugins: Vec<&Document> = documents
        .iter()
        .filter(|d| d.kind() == "WasmPlugin")
        .collect();
    assert_eq!(plugins.len(), WORKLOADS.len(), "one per example workload");
    let mut audiences = BTreeSet::new();
    for plugin in plugins {
        let (name, spec) = (&plugin.source, &plugin.value["spec"]);
        // A waypoint ignores `selector`: its plugins attach by targetRefs.
        assert!(spec.get("selector").is_none(), "{name}: selector");
        assert!(
            spec.get("match").is_none(),
            "{name}: no sidecar traffic match"
        );
        let targets = spec["targetRefs"].as_array().expect("targetRefs");
        let [target] = targets.as_slice() else {
            panic!("{name}: one Service per plugin, one audience per Service")
        };
        assert_eq!(
            (&target["kind"], &target["group"]),
            (&"Service".into(), &"".into())
        );
        let service = target["name"].as_str().unwrap();
        assert_eq!(spec["phase"], "AUTHN", "{name}");
        assert_eq!(spec["failStrategy"], "FAIL_CLOSE", "{name}");
        // The audience of the sidecar manifest for the same workload.
        let (_, _, audience) = WORKLOADS
            .iter()
            .find(|(_, app, _)| *app == service)
            .unwrap_or_else(|| panic!("{name}: {service} is not an example workload"));
        for provider in providers(&manifests::plugin_config(plugin)) {
            assert_eq!(
                provider["audiences"],
                serde_json::json!([audience]),
                "{name}"
            );
            assert!(
                audiences.insert(audience.to_string()),
                "{name}: {audience} twice"
            );
        }
        // Its pods let in only the waypoint, so nothing reaches them unchecked.
        let guarded = documents
            .iter()
            .filter(|d| d.kind() == "AuthorizationPolicy")
            .any(|p| {
                let spec = &p.value["spec"];
                let rules = spec["rules"].as_array().cloned().unwrap_or_default();
                spec["selector"]["matchLabels"]["app"] == service
                    && spec["action"] == "ALLOW"
                    && !rules.is_empty()
                    && rules.iter().all(|rule| {
                        rule["from"].as_array().is_some_and(|from| {
                            from.iter().all(|f| {
                                f["source"]["principals"]
                                    == serde_json::json!(["cluster.local/ns/shop/sa/waypoint"])
                            })
                        })
                    })
            });
        assert!(
            guarded,
            "{name}: no AuthorizationPolicy admitting only the waypoint to {service}"
        );
    }
}
