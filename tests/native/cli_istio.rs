//! `audgate check-config` on Istio's extension resources as their CRD schema in
//! istio/api reads them (`url`, `sha256`, `selector` / `targetRefs`, `match`,
//! `phase`, `priority`, `failStrategy`, `vmConfig`, field names, `apiVersion`),
//! the newer `TrafficExtension`, and across plugins: the VM environment two
//! plugins of one workload share, and the variables a configuration reads.

use crate::cli::{
    audgate, check, stdout, temp_file, wasm_plugin, GOOD_SPEC, MODULE, PLUGIN_CONFIG,
};

/// An exchange plugin's configuration, its client secret from `SECRET_ENV`.
const EXCHANGE_CONFIG: &str = "  pluginConfig:
    exchange:
      token_endpoint: https://sts.example.com/token
      cluster: sts
      client_id: orders
      client_secret_env: SECRET_ENV
      destinations:
      - {hosts: [payments], audience: payments.svc}
";

/// Asserts that `said` refuses plugin `p` with `error`, and never calls it valid.
fn assert_refused(said: &str, error: &str) {
    assert!(
        said.contains(&format!("WasmPlugin shop/p: error: {error}")),
        "{error}\n---\n{said}"
    );
    assert!(!said.contains("WasmPlugin shop/p: valid"), "{said}");
}

#[test]
fn what_istio_would_refuse_is_an_error_never_followed_by_valid() {
    let digest = "5f1d6c3e9a7b2c4d8e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";
    for (spec, error) in [
        (
            format!("  sha256: \"{digest}\"\n{GOOD_SPEC}"),
            "spec.url: missing: Istio refuses the resource without the module's location".to_owned(),
        ),
        (
            "  url: ftp://example.com/audgate.wasm\n".to_owned(),
            "spec.url: ftp://example.com/audgate.wasm: url must have schema one of [http, https, file, oci]".to_owned(),
        ),
        (
            format!("  url: oci://r.example.com/audgate:1\n  sha256: \"sha256:{digest}\"\n"),
            format!("spec.sha256: write the 64 hex digits without the sha256: prefix (Istio refuses the resource): sha256: \"{digest}\""),
        ),
        (
            format!("  url: oci://r.example.com/audgate:1\n  sha256: \"{}\"\n", digest.to_uppercase()),
            format!("spec.sha256: write the hex digits in lowercase (Istio refuses the resource): sha256: \"{digest}\""),
        ),
        (
            "  url: oci://r.example.com/audgate:1\n  sha256: \"abc123\"\n".to_owned(),
            "spec.sha256: abc123: must be 64 hex digits".to_owned(),
        ),
        (
            format!("  url: oci://r.example.com/audgate@sha256:{}\n  sha256: \"{digest}\"\n", "1".repeat(64)),
            "spec.sha256: differs from the digest in url".to_owned(),
        ),
        (
            "  selectr:\n    matchLabels: {app: orders}\n".to_owned(),
            "spec.selectr: WasmPlugin has no such field (kubectl refuses it, and a tool that drops unknown fields applies the rest without it); did you mean selector?; without it the plugin applies to every workload in namespace shop".to_owned(),
        ),
        (
            "  selector: {matchLabels: {app: orders}}\n  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw}]\n".to_owned(),
            "spec: selector and targetRefs are both set: only one of selector or targetRefs can be (Istio refuses the resource)".to_owned(),
        ),
        (
            "  selector: {matchLabels: {app: \"orders-*\"}}\n".to_owned(),
            "spec.selector.matchLabels.app: orders-*: no wildcards in a label value".to_owned(),
        ),
        (
            "  selector: {matchExpressions: [{key: app, operator: In, values: [orders]}]}\n".to_owned(),
            "spec.selector.matchExpressions: not a selector field: Istio's workload selector takes matchLabels only".to_owned(),
        ),
        (
            "  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io}]\n".to_owned(),
            "spec.targetRefs[0].name: needs the target's name".to_owned(),
        ),
        (
            "  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw, namespace: other}]\n".to_owned(),
            "spec.targetRefs[0].namespace: Istio refuses any namespace here".to_owned(),
        ),
        (
            format!("  targetRefs:\n{}", "  - {kind: Gateway, group: gateway.networking.k8s.io, name: gw}\n".repeat(17)),
            "spec.targetRefs: 17 entries: Istio takes at most 16".to_owned(),
        ),
        (
            "  match: [{mode: SERVER, ports: [{number: 0}]}]\n".to_owned(),
            "spec.match[0].ports[0]: needs number: a port from 1 to 65535, e.g. {number: 8080}, not 0".to_owned(),
        ),
        (
            "  match: [{mode: SERVER, ports: [{number: 8080}, {number: 8080}]}]\n".to_owned(),
            "spec.match[0].ports[1].number: 8080 is listed twice".to_owned(),
        ),
        (
            "  match: [{mdoe: SERVER}]\n".to_owned(),
            "spec.match[0].mdoe: not a field of a traffic selector (mode, ports); did you mean mode?".to_owned(),
        ),
        (
            "  priority: high\n".to_owned(),
            "spec.priority: must be a whole number (a 32-bit integer), not \"high\"".to_owned(),
        ),
        (
            "  vmConfig:\n    env:\n    - {name: X, valueFrom: HOST, value: \"1\"}\n".to_owned(),
            "spec.vmConfig.env[0]: X: value may only be set when valueFrom is INLINE".to_owned(),
        ),
        (
            "  vmConfig:\n    env:\n    - {name: X, valueFrom: HOST}\n    - {name: X, value: \"1\"}\n".to_owned(),
            "spec.vmConfig.env[1]: X is given twice (Istio refuses the resource)".to_owned(),
        ),
        (
            "  vmConfig:\n    env:\n    - {name: X, valueFrom: SECRET}\n".to_owned(),
            "spec.vmConfig.env[0].valueFrom: SECRET is not one of INLINE, HOST (Istio refuses the resource); did you mean HOST?".to_owned(),
        ),
        (
            "  vmConfig:\n    envs: []\n".to_owned(),
            "spec.vmConfig.envs: not a vmConfig field (it takes env only)".to_owned(),
        ),
        (
            "  pluginName: \"\"\n".to_owned(),
            "spec.pluginName: must be a name of 1 to 256 characters".to_owned(),
        ),
    ] {
        let (code, said) = check("refused.yaml", &wasm_plugin("p", &spec, PLUGIN_CONFIG));
        assert_eq!(code, Some(1), "{spec}: {said}");
        assert_refused(&said, &error);
        // The plugin configuration itself is still read and said to be fine.
        if !error.starts_with("spec.pluginConfig") {
            assert!(
                said.contains("WasmPlugin shop/p: refused: its plugin configuration is valid (1 provider(s), 0 rule(s)), the rest is not"),
                "{said}"
            );
        }
    }
}

#[test]
fn the_resource_around_the_spec_is_checked_too() {
    let good = wasm_plugin("p", GOOD_SPEC, PLUGIN_CONFIG);
    let v1 = good.replace("extensions.istio.io/v1alpha1", "extensions.istio.io/v1");
    let (code, said) = check("v1.yaml", &v1);
    assert_eq!(code, Some(1), "{said}");
    assert_refused(
        &said,
        "apiVersion: extensions.istio.io/v1: Istio serves WasmPlugin only as extensions.istio.io/v1alpha1 (kubectl would say no matches for the kind); write apiVersion: extensions.istio.io/v1alpha1",
    );
    let (code, said) = check("sepc.yaml", &good.replace("\nspec:\n", "\nsepc:\n"));
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("error: sepc: WasmPlugin has no such field"),
        "{said}"
    );
    assert!(said.contains("did you mean spec?"), "{said}");
    // A pluginConfig written as a JSON string, not as YAML.
    let string = wasm_plugin("p", GOOD_SPEC, "  pluginConfig: '{\"providers\": []}'\n");
    let (code, said) = check("string.yaml", &string);
    assert_eq!(code, Some(1), "{said}");
    assert_refused(
        &said,
        "spec.pluginConfig: must be a mapping (the configuration written as YAML), not text",
    );
}

#[test]
fn what_works_but_is_probably_not_meant_is_a_warning() {
    for (spec, config, warning) in [
        (
            format!("  url: oci://r.example.com/audgate:1\n  sha256: \"{}\"\n{GOOD_SPEC}", "0".repeat(64)),
            PLUGIN_CONFIG,
            "spec.sha256: the all-zero placeholder: no module matches it, so the proxy never runs audgate (with FAIL_CLOSE it refuses every request); put in the digest `make image` prints as \"WasmPlugin sha256\"",
        ),
        (
            format!("  url: https://example.com/audgate.wasm\n{GOOD_SPEC}"),
            PLUGIN_CONFIG,
            "spec.sha256: not set: the proxy runs whatever https://example.com/audgate.wasm serves when it fetches it",
        ),
        (
            format!("{MODULE}{GOOD_SPEC}  targetRefs: [{{kind: Gateway, name: gw}}]\n"),
            PLUGIN_CONFIG,
            "spec.targetRefs[0]: kind Gateway in group \"\": Istio attaches extensions to a Gateway or GatewayClass (group gateway.networking.k8s.io), a Service (group \"\", waypoints) or a ServiceEntry (group networking.istio.io): this one applies the plugin nowhere; did you mean kind: Gateway, group: \"gateway.networking.k8s.io\"?",
        ),
        (
            format!("{MODULE}  phase: AUTHN\n  match: [{{mode: SERVER}}]\n  vmConfig:\n    env: [{{name: SECRET_ENV, value: s3cr3t}}]\n"),
            EXCHANGE_CONFIG,
            "spec.vmConfig.env: SECRET_ENV is written in the resource (INLINE): whoever can read the resource or the proxy's config dump reads the secret; use valueFrom: HOST",
        ),
        (
            format!("{MODULE}  phase: AUTHN\n  match: [{{mode: SERVER}}]\n  vmConfig:\n    env: [{{name: SECRET_ENV, valueFrom: HOST}}]\n"),
            EXCHANGE_CONFIG,
            "spec.match[0].mode: SERVER: exchange swaps the tokens of calls this workload makes",
        ),
    ] {
        let (code, said) = check("warned.yaml", &wasm_plugin("p", &spec, config));
        assert_eq!(code, Some(0), "{spec}: {said}");
        assert!(
            said.contains(&format!("WasmPlugin shop/p: warning: {warning}")),
            "{warning}\n---\n{said}"
        );
        assert!(said.contains("WasmPlugin shop/p: valid"), "{said}");
        assert!(!said.contains("s3cr3t"), "the secret is never shown: {said}");
    }
    // Where the plugin applies, said when it is everywhere.
    let (_, said) = check("all.yaml", &wasm_plugin("p", GOOD_SPEC, PLUGIN_CONFIG));
    assert!(
        said.contains("WasmPlugin shop/p: applies to every workload in namespace shop (no selector or targetRefs)"),
        "{said}"
    );
    let selected = format!("{GOOD_SPEC}  selector: {{matchLabels: {{app: orders}}}}\n");
    let (_, said) = check("one.yaml", &wasm_plugin("p", &selected, PLUGIN_CONFIG));
    assert!(!said.contains("applies to every workload"), "{said}");
}

#[test]
fn a_variable_the_configuration_reads_must_be_in_the_vms_environment() {
    let spec = format!("{GOOD_SPEC}  match: [{{mode: CLIENT}}]\n")
        .replace("  match:\n  - mode: SERVER\n", "");
    let (code, said) = check("no-env.yaml", &wasm_plugin("p", &spec, EXCHANGE_CONFIG));
    assert_eq!(code, Some(1), "{said}");
    assert_refused(
        &said,
        "spec.vmConfig.env: does not give SECRET_ENV, which the configuration reads from the VM's environment: the proxy refuses the configuration without it; add {name: SECRET_ENV, valueFrom: HOST} and set SECRET_ENV on the istio-proxy container",
    );
    let given = format!("{spec}  vmConfig:\n    env: [{{name: SECRET_ENV, valueFrom: HOST}}]\n");
    let (code, said) = check("env.yaml", &wasm_plugin("p", &given, EXCHANGE_CONFIG));
    assert_eq!(code, Some(0), "{said}");
    assert!(
        !said.contains("warning") && !said.contains("error"),
        "{said}"
    );
    // An Envoy wasm filter: its vm_config.environment_variables.
    let envoy = |variables: &str| {
        let config = serde_json::json!({"exchange": {
            "token_endpoint": "https://sts.example.com/token", "cluster": "sts",
            "client_id": "orders", "client_secret_env": "SECRET_ENV",
            "destinations": [{"hosts": ["payments"], "audience": "payments.svc"}]}});
        format!(
            "static_resources:\n  listeners:\n  - filters:\n    - name: envoy.filters.http.wasm\n      typed_config:\n        config:\n          name: audgate\n          vm_config:\n            runtime: envoy.wasm.runtime.v8\n{variables}          configuration:\n            value: '{config}'\n"
        )
    };
    let (code, said) = check("envoy-no-env.yaml", &envoy(""));
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("Envoy wasm filter audgate: error: vm_config.environment_variables: does not give SECRET_ENV") &&
            said.contains("add SECRET_ENV to its host_env_keys"),
        "{said}"
    );
    assert!(!said.contains("audgate: valid"), "{said}");
    let host = "            environment_variables:\n              host_env_keys: [SECRET_ENV]\n";
    let (code, said) = check("envoy-env.yaml", &envoy(host));
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("Envoy wasm filter audgate: valid"), "{said}");
}

#[test]
fn plugins_of_one_workload_with_one_module_and_different_environments_are_warned_of() {
    let plugin = |name: &str, selector: &str, module: &str, env: &str| {
        let spec = format!(
            "{module}  phase: AUTHN\n  match: [{{mode: SERVER}}]\n  selector: {{matchLabels: {selector}}}\n{env}"
        );
        temp_file(
            &format!("{name}.yaml"),
            &wasm_plugin(name, &spec, PLUGIN_CONFIG),
        )
    };
    let secret = "  vmConfig:\n    env: [{name: AUDGATE_STS_SECRET, valueFrom: HOST}]\n";
    let other = "  url: oci://registry.example.com/audgate:0.2.0\n";
    let run = |files: &[&std::path::PathBuf]| {
        let mut args = vec!["check-config"];
        args.extend(files.iter().map(|path| path.to_str().unwrap()));
        let output = audgate(&args);
        (output.status.code(), stdout(&output))
    };
    let inbound = plugin("inbound", "{app: orders}", MODULE, "");
    let outbound = plugin("outbound", "{app: orders, tier: web}", MODULE, secret);
    let (code, said) = run(&[&inbound, &outbound]);
    assert_eq!(code, Some(0), "a warning, not an error: {said}");
    assert!(
        said.contains("WasmPlugin shop/outbound: warning: vmConfig.env: differs from WasmPlugin shop/inbound's (AUDGATE_STS_SECRET), which runs the same module on the same workloads: Envoy 1.36 and older run the two in one VM"),
        "{said}"
    );
    assert_eq!(said.matches("differs from").count(), 1, "{said}");
    // Other workloads, another module, or the same environment: nothing to say.
    for (second, why) in [
        (
            plugin("payments", "{app: payments}", MODULE, secret),
            "other workloads",
        ),
        (
            plugin("newer", "{app: orders}", other, secret),
            "another module",
        ),
        (
            plugin("same", "{app: orders}", MODULE, ""),
            "the same environment",
        ),
    ] {
        let (_, said) = run(&[&inbound, &second]);
        assert!(!said.contains("differs from"), "{why}: {said}");
    }
    // A namespace-wide plugin meets every workload of its namespace.
    let wide = temp_file(
        "wide.yaml",
        &wasm_plugin("wide", &format!("{MODULE}{GOOD_SPEC}"), PLUGIN_CONFIG),
    );
    let (_, said) = run(&[&wide, &outbound]);
    assert!(
        said.contains(
            "WasmPlugin shop/outbound: warning: vmConfig.env: differs from WasmPlugin shop/wide's"
        ),
        "{said}"
    );
}

/// A TrafficExtension named `name` in namespace shop with `spec` lines.
fn traffic_extension(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: extensions.istio.io/v1alpha1\nkind: TrafficExtension\nmetadata: {{name: {name}, namespace: shop}}\nspec:\n{spec}"
    )
}

#[test]
fn istios_newer_traffic_extension_is_read_too() {
    let indented: String = format!("{MODULE}{PLUGIN_CONFIG}")
        .lines()
        .map(|line| format!("  {line}\n"))
        .collect();
    let wasm = format!("  wasm:\n{indented}");
    let good = format!("  phase: AUTHN\n  match: [{{mode: SERVER}}]\n  selector: {{matchLabels: {{app: orders}}}}\n{wasm}");
    let (code, said) = check("extension.yaml", &traffic_extension("t", &good));
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("TrafficExtension shop/t: valid (1 provider(s), 0 rule(s))"),
        "{said}"
    );
    assert!(
        !said.contains("warning") && !said.contains("error"),
        "{said}"
    );
    for (spec, error) in [
        (
            good.replace("phase: AUTHN", "phase: UNSPECIFIED_PHASE"),
            "spec.phase: UNSPECIFIED_PHASE is not one of UNSPECIFIED, AUTHN, AUTHZ, STATS (Istio refuses the resource); did you mean UNSPECIFIED?",
        ),
        (
            good.replace("    url: oci://registry.example.com/audgate:0.1.0\n", ""),
            "spec.wasm.url: missing",
        ),
        (
            good.replace("  selector:", "  targetRef: {kind: Gateway, name: gw}\n  selector:"),
            "spec.targetRef: TrafficExtension has no such field",
        ),
        (
            format!("{good}  lua: {{inlineCode: x}}\n"),
            "spec: both wasm and lua: exactly one of them must be set",
        ),
        (
            good.replace("    sha256: \"", "    sha256: \"sha256:"),
            "spec.wasm.sha256: write the 64 hex digits without the sha256: prefix",
        ),
        (
            good.replace("    sha256:", "    sha265:"),
            "spec.wasm.sha265: TrafficExtension has no such field (kubectl refuses it, and a tool that drops unknown fields applies the rest without it); did you mean sha256?",
        ),
        (
            format!("  url: oci://r.example.com/audgate:1\n{good}"),
            "spec.url: TrafficExtension has no such field (kubectl refuses it, and a tool that drops unknown fields applies the rest without it); it belongs in spec.wasm: spec.wasm.url",
        ),
    ] {
        let (code, said) = check("refused-extension.yaml", &traffic_extension("t", &spec));
        assert_eq!(code, Some(1), "{spec}: {said}");
        assert!(said.contains(&format!("TrafficExtension shop/t: error: {error}")), "{error}\n---\n{said}");
        assert!(!said.contains("TrafficExtension shop/t: valid"), "{said}");
    }
    // A Lua extension holds nothing of audgate's: named, not checked.
    let lua = traffic_extension(
        "headers",
        "  lua:\n    inlineCode: |\n      function envoy_on_request(h) end\n",
    );
    let (code, said) = check("lua.yaml", &lua);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("only TrafficExtension (Lua)"), "{said}");
}

#[test]
fn what_istio_accepts_is_not_refused_and_its_own_quirks_are_named() {
    // A registry with a port: Istio's rule reads its host as the URL's scheme.
    let spec = "  url: registry.example.com:5000/audgate:1\n";
    let (code, said) = check("port.yaml", &wasm_plugin("p", spec, PLUGIN_CONFIG));
    assert_eq!(code, Some(1), "{said}");
    assert_refused(
        &said,
        "spec.url: registry.example.com:5000/audgate:1: url must have schema one of [http, https, file, oci] (Istio refuses the resource); Istio reads registry.example.com as the URL's scheme (a registry with a port needs one): write url: oci://registry.example.com:5000/audgate:1",
    );
    // Accepted by Istio, so not refused here: a "://" after the first '/', an
    // OCI reference without a scheme, a field left empty (the API server drops
    // it), label values counted in characters.
    for spec in [
        "  url: r.example.com/audgate?from=https://x\n".to_owned(),
        "  url: r.example.com/audgate:1\n".to_owned(),
        format!("{MODULE}  failStrategy:\n  imagePullPolicy:\n  match:\n"),
        format!(
            "{MODULE}  selector: {{matchLabels: {{app: \"{}\"}}}}\n",
            "é".repeat(40)
        ),
    ] {
        let (code, said) = check("accepted.yaml", &wasm_plugin("p", &spec, PLUGIN_CONFIG));
        assert_eq!(code, Some(0), "{spec}: {said}");
        assert!(!said.contains("error"), "{spec}: {said}");
    }
    // An empty selector is dropped: the plugin applies to the whole namespace.
    let spec = format!("{MODULE}{GOOD_SPEC}  selector:\n");
    let (_, said) = check("empty.yaml", &wasm_plugin("p", &spec, PLUGIN_CONFIG));
    assert!(
        said.contains("WasmPlugin shop/p: warning: spec.selector: empty: Kubernetes drops an empty field, and the plugin then applies to every workload in namespace shop"),
        "{said}"
    );
    let spec = format!("{MODULE}{GOOD_SPEC}  selector: {{}}\n");
    let (_, said) = check("braces.yaml", &wasm_plugin("p", &spec, PLUGIN_CONFIG));
    assert!(
        said.contains(
            "WasmPlugin shop/p: applies to every workload in namespace shop (an empty selector)"
        ),
        "{said}"
    );
}

#[test]
fn messages_say_what_to_write_and_never_a_secret() {
    for (spec, error) in [
        (
            "  targetRefs: [{kind: Gateway, group: 5, name: gw}]\n",
            "spec.targetRefs[0].group: must be text, in quotes if need be",
        ),
        (
            "  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw, namespace: shop}]\n",
            "spec.targetRefs[0].namespace: Istio refuses any namespace here (the target must be in the resource's own namespace): remove namespace",
        ),
        (
            "  vmConfig:\n    env: [{name: SECRET_ENV, value: 98765432}]\n",
            "spec.vmConfig.env[0].value: must be text: write the value in quotes",
        ),
    ] {
        let (code, said) = check("said.yaml", &wasm_plugin("p", spec, PLUGIN_CONFIG));
        assert_eq!(code, Some(1), "{spec}: {said}");
        assert_refused(&said, error);
        assert!(!said.contains("98765432"), "a value is never shown: {said}");
    }
    // A selector typo beside targetRefs does not make the plugin apply
    // everywhere; in istio-system it would apply to the mesh.
    let spec = "  selectr: {matchLabels: {app: a}}\n  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw}]\n";
    let (_, said) = check("beside.yaml", &wasm_plugin("p", spec, PLUGIN_CONFIG));
    assert!(said.contains("did you mean selector?"), "{said}");
    assert!(!said.contains("without it the plugin applies"), "{said}");
    let root = wasm_plugin("p", "  selectr: {matchLabels: {app: a}}\n", PLUGIN_CONFIG)
        .replace("namespace: shop", "namespace: istio-system");
    let (_, said) = check("root.yaml", &root);
    assert!(
        said.contains("without it the plugin applies to every workload of the mesh"),
        "{said}"
    );
}

#[test]
fn the_cross_plugin_warning_compares_modules_by_digest_and_targets_within_a_namespace() {
    let digest = "5f1d6c3e9a7b2c4d8e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";
    let secret = "  vmConfig:\n    env: [{name: AUDGATE_STS_SECRET, valueFrom: HOST}]\n";
    let file = |name: &str, namespace: &str, spec: &str| {
        let text = wasm_plugin(name, spec, PLUGIN_CONFIG)
            .replace("namespace: shop", &format!("namespace: {namespace}"));
        temp_file(&format!("{name}.yaml"), &text)
    };
    let run = |files: &[&std::path::PathBuf]| {
        let mut args = vec!["check-config"];
        args.extend(files.iter().map(|path| path.to_str().unwrap()));
        stdout(&audgate(&args))
    };
    // One digest, written as a tag and as a pinned reference: one module.
    let tagged = file(
        "tagged",
        "shop",
        &format!("  url: oci://r.example.com/audgate:1\n  sha256: \"{digest}\"\n{GOOD_SPEC}"),
    );
    let pinned = file(
        "pinned",
        "shop",
        &format!("  url: r.example.com/audgate@sha256:{digest}\n{GOOD_SPEC}{secret}"),
    );
    let said = run(&[&tagged, &pinned]);
    assert!(
        said.contains(
            "WasmPlugin shop/pinned: warning: vmConfig.env: differs from WasmPlugin shop/tagged's"
        ),
        "{said}"
    );
    // A refused vmConfig is not compared.
    let refused = file(
        "refused",
        "shop",
        &format!("{MODULE}{GOOD_SPEC}  vmConfig:\n    env: [{{name: X}}, {{name: X}}]\n"),
    );
    let plain = file("plain", "shop", &format!("{MODULE}{GOOD_SPEC}"));
    let said = run(&[&refused, &plain]);
    assert!(!said.contains("differs from"), "{said}");
    // targetRefs name targets of their own namespace: one in istio-system does
    // not meet shop's; "core" and "" are one group.
    let gateway = "  targetRefs: [{kind: Service, group: \"\", name: orders}]\n";
    let root = file(
        "root",
        "istio-system",
        &format!("{MODULE}{GOOD_SPEC}{gateway}"),
    );
    let shop = file(
        "shop",
        "shop",
        &format!("{MODULE}{GOOD_SPEC}{gateway}{secret}"),
    );
    assert!(!run(&[&root, &shop]).contains("differs from"));
    let core = file(
        "core",
        "shop",
        &format!(
            "{MODULE}{GOOD_SPEC}{}",
            gateway.replace("group: \"\"", "group: core")
        ),
    );
    let said = run(&[&core, &shop]);
    assert!(
        said.contains(
            "WasmPlugin shop/shop: warning: vmConfig.env: differs from WasmPlugin shop/core's"
        ),
        "{said}"
    );
}

#[test]
fn two_resources_of_one_name_in_two_files_are_told_apart() {
    let dir = crate::support::temp::dir("cli-istio-dup");
    let (good, bad) = (dir.join("one.yaml"), dir.join("two.yaml"));
    std::fs::write(&good, wasm_plugin("dup", GOOD_SPEC, PLUGIN_CONFIG)).unwrap();
    std::fs::write(
        &bad,
        wasm_plugin("dup", "  url: ftp://x/y\n", PLUGIN_CONFIG),
    )
    .unwrap();
    let output = audgate(&[
        "check-config",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    let said = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    let good = good.to_str().unwrap();
    let bad = bad.to_str().unwrap();
    assert!(
        said.contains(&format!("WasmPlugin shop/dup (in {good}): valid")),
        "{said}"
    );
    assert!(
        said.contains(&format!("WasmPlugin shop/dup (in {bad}): error: spec.url")),
        "{said}"
    );
    assert!(
        !said.contains(&format!("WasmPlugin shop/dup (in {bad}): valid")),
        "{said}"
    );
}
