//! The `audgate` CLI: check-config on JSON and on Istio WasmPlugin YAML, inspect,
//! and verify giving the filter's own decision for the whole token table.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::support::cases::{self, claims, AUDIENCE, ISSUER};
use crate::support::jwks_server::JwksServer;
use crate::support::keys::{self, TestKey};
use crate::support::tls::Pki;
use crate::support::{temp, Reply, Upstream};
use serde_json::json;

/// Runs the `audgate` binary with `args`, no standard input.
pub(crate) fn audgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_audgate"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run audgate")
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `text` in the file `name` of this module's scratch directory. Written
/// aside and renamed into place: tests run in parallel, and several write the
/// same key file, which another test's command may be reading.
pub(crate) fn temp_file(name: &str, text: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    static SERIAL: AtomicUsize = AtomicUsize::new(0);
    let dir = DIR.get_or_init(|| temp::dir("cli"));
    let path = dir.join(name);
    let aside = dir.join(format!(".{name}.{}", SERIAL.fetch_add(1, Ordering::SeqCst)));
    std::fs::write(&aside, text).unwrap();
    std::fs::rename(&aside, &path).unwrap();
    path
}

#[test]
fn check_config_accepts_a_good_json_config() {
    let path = temp_file("good.json", &cases::config().to_string());
    let output = audgate(&["check-config", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("valid (1 provider(s), 0 rule(s))"));
}

#[test]
fn check_config_names_the_offending_field_of_each_plugin() {
    let yaml = r#"
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {name: audgate-orders, namespace: orders}
spec:
  url: oci://registry.example.com/audgate:0.1.0
  sha256: "5f1d6c3e9a7b2c4d8e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d"
  pluginConfig:
    providers:
    - name: idp
      issuer: https://idp.example.com
      audiences: [orders.svc]
      remote_jwks: {uri: "https://idp.example.com/jwks", cluster: "outbound|443||idp.example.com"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unrelated}
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {name: audgate-payments, namespace: payments}
spec:
  url: oci://registry.example.com/audgate:0.1.0
  pluginConfig:
    providers:
    - name: idp
      issuer: https://idp.example.com
      audiences: []
      remote_jwks: {uri: "https://idp.example.com/jwks", cluster: idp}
"#;
    let path = temp_file("plugins.yaml", yaml);
    let output = audgate(&["check-config", path.to_str().unwrap()]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("WasmPlugin orders/audgate-orders: valid"),
        "{text}"
    );
    assert!(
        text.contains("WasmPlugin payments/audgate-payments: error: providers[0].audiences: must not be empty"),
        "{text}"
    );
    let bad = temp_file("typo.json", r#"{"providers": [], "modes": "audit"}"#);
    let output = audgate(&["check-config", bad.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("modes"), "{}", stdout(&output));
}

#[test]
fn inspect_decodes_without_verifying() {
    let token = keys::sign_default(TestKey::Rsa1, claims(json!({"aud": "payments.svc"})));
    let output = audgate(&["inspect", &format!("Bearer {token}")]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.starts_with("UNVERIFIED"), "{text}");
    assert!(text.contains("\"kid\": \"rsa-1\""), "{text}");
    assert!(text.contains("\"aud\": \"payments.svc\""), "{text}");
    assert!(text.contains("exp  20"), "{text}");
    assert!(
        text.contains("(in 9m") || text.contains("(in 10m"),
        "{text}"
    );
    assert!(
        !text.contains(token.rsplit('.').next().unwrap()),
        "the signature is printed"
    );
    let output = audgate(&["inspect", "not-a-token"]);
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn verify_gives_the_filters_decision_for_the_whole_table() {
    let path = temp_file("table.json", &cases::config().to_string());
    for case in cases::cases() {
        let token = case.token.unwrap_or_else(|| "--no-token".into());
        let output = audgate(&[
            "verify",
            "--config",
            path.to_str().unwrap(),
            "--authority",
            "orders.test",
            &token,
        ]);
        let text = stdout(&output);
        assert!(
            text.starts_with(&case.status.to_string()),
            "{}: {text}",
            case.name
        );
        assert_eq!(
            output.status.code(),
            Some(if case.status == 200 { 0 } else { 1 }),
            "{}",
            case.name
        );
        if let Some(error) = case.error.filter(|e| !e.is_empty()) {
            assert!(
                text.contains(&format!("error=\"{error}\"")),
                "{}: {text}",
                case.name
            );
        }
    }
}

#[test]
fn verify_takes_remote_keys_from_a_file_or_an_http_url() {
    // Nothing listens on port 1: --jwks must stand in for the configured uri.
    let config = json!({"providers": [{
        "name": "idp", "issuer": ISSUER, "audiences": [AUDIENCE],
        "remote_jwks": {"uri": "http://127.0.0.1:1/jwks", "cluster": "idp"},
    }]});
    let config_path = temp_file("remote.json", &config.to_string());
    let config_path = config_path.to_str().unwrap();
    let token = keys::sign_default(TestKey::Rsa1, claims(json!({})));
    let jwks_path = temp_file("jwks.json", &keys::jwks(&[TestKey::Rsa1]).to_string());
    let output = audgate(&[
        "verify",
        "--config",
        config_path,
        "--jwks",
        jwks_path.to_str().unwrap(),
        &token,
    ]);
    assert!(stdout(&output).starts_with("200"), "{}", stdout(&output));
    let server = JwksServer::start(keys::jwks(&[TestKey::Rsa2]));
    let url = format!("http://127.0.0.1:{}/jwks", server.port());
    let output = audgate(&["verify", "--config", config_path, "--jwks", &url, &token]);
    assert!(
        stdout(&output).starts_with("401"),
        "rsa-1 is not in the served set: {}",
        stdout(&output)
    );
    assert_eq!(server.fetches(), 1);
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(audgate(&[]).status.code(), Some(2));
    assert_eq!(audgate(&["verify", "tok"]).status.code(), Some(2));
    assert_eq!(audgate(&["help"]).status.code(), Some(0));
}

#[test]
fn check_config_reads_the_plugin_config_inside_envoy_yaml() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/envoy/envoy.yaml");
    let output = audgate(&["check-config", path]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains("Envoy wasm filter audgate: valid (1 provider(s)"),
        "{text}"
    );
}

/// `audgate verify --config <config> ARGS...`: exit code and stdout.
fn verify(config: &serde_json::Value, name: &str, args: &[&str]) -> (Option<i32>, String) {
    let path = temp_file(name, &config.to_string());
    let mut all = vec!["verify", "--config", path.to_str().unwrap()];
    all.extend_from_slice(args);
    let output = audgate(&all);
    let text = stdout(&output);
    let errors = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), format!("{text}{errors}"))
}

/// The table's provider (`orders-idp`) with `extra` merged, and `rest` at the top level.
fn policy(extra: serde_json::Value, rest: serde_json::Value) -> serde_json::Value {
    let mut config = cases::config();
    let provider = config["providers"][0].take();
    config["providers"][0] = keys::merged(provider, &extra);
    keys::merged(config, &rest)
}

fn token_with(extra: serde_json::Value) -> String {
    keys::sign_default(TestKey::Rsa1, claims(extra))
}

#[test]
fn verify_binds_a_template_variable_to_the_path() {
    let config = policy(
        json!({}),
        json!({"rules": [{
            "match": {"template": "/tenants/{tenant}/orders/**"},
            "requires": {"provider": "orders-idp", "claims": {"tenant": "${path.tenant}"}},
        }]}),
    );
    let acme = token_with(json!({"tenant": "acme"}));
    let at = |path: &str| verify(&config, "template.json", &["--path", path, &acme]);
    let (code, text) = at("/tenants/acme/orders/7?limit=5");
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.starts_with("200 allowed (provider orders-idp)"),
        "{text}"
    );
    let (code, text) = at("/tenants/globex/orders/7");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.starts_with("403 refused"), "{text}");
    assert!(text.contains("error=\"insufficient_scope\""), "{text}");
}

#[test]
fn verify_binds_a_claim_to_a_header_given_once() {
    let config = policy(
        json!({}),
        json!({"rules": [{
            "match": {"prefix": "/"},
            "requires": {"provider": "orders-idp", "claims": {"tenant": "${header.x-tenant}"}},
        }]}),
    );
    let acme = token_with(json!({"tenant": "acme"}));
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.push(&acme);
        verify(&config, "by-header.json", &all)
    };
    let (code, text) = run(&["--header", "X-Tenant: acme"]);
    assert_eq!(code, Some(0), "the name is lowercased: {text}");
    assert!(text.starts_with("200"), "{text}");
    let (code, text) = run(&["--header", "x-tenant: globex"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.starts_with("403"), "{text}");
    let (code, text) = run(&[]);
    assert_eq!(code, Some(1), "absent: {text}");
    assert!(text.starts_with("403"), "absent: {text}");
    let (code, text) = run(&["--header", "x-tenant: acme", "--header", "x-tenant: acme"]);
    assert_eq!(code, Some(1), "repeated: {text}");
    assert!(text.starts_with("403"), "repeated: {text}");
}

#[test]
fn verify_applies_a_per_route_audience() {
    let config = policy(
        json!({}),
        json!({"rules": [
            {"match": {"prefix": "/admin"},
             "requires": {"provider": "orders-idp", "audiences": ["orders-admin.svc"]}},
            {"match": {"prefix": "/"}, "requires": "orders-idp"},
        ]}),
    );
    let service = token_with(json!({}));
    let admin = token_with(json!({"aud": "orders-admin.svc"}));
    let run = |path: &str, token: &str| {
        let args = ["--authority", "orders.test", "--path", path, token];
        verify(&config, "admin.json", &args)
    };
    let (code, text) = run("/admin/users", &service);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.starts_with("403 refused"), "{text}");
    assert!(
        text.contains("www-authenticate: Bearer realm=\"orders.test\", error=\"invalid_token\", error_description=\"audience not allowed\""),
        "{text}"
    );
    assert_eq!(run("/orders", &service).0, Some(0));
    assert_eq!(run("/admin/users", &admin).0, Some(0));
    assert_eq!(run("/orders", &admin).0, Some(1));
}

#[test]
fn verify_in_audit_mode_passes_a_refused_request_on_marked() {
    let rules = json!([
        {"match": {"prefix": "/admin"},
         "requires": {"provider": "orders-idp", "audiences": ["orders-admin.svc"]}},
    ]);
    let config = policy(json!({}), json!({"mode": "audit", "rules": rules}));
    let service = token_with(json!({}));
    let (code, text) = verify(&config, "audit.json", &["--path", "/admin/users", &service]);
    assert_eq!(code, Some(0), "audit mode passes the request on: {text}");
    assert!(
        text.starts_with("200 (audit: would reject: audience)"),
        "{text}"
    );
    assert!(
        text.contains("in enforce mode: 403 audience not allowed"),
        "{text}"
    );
    assert!(text.contains("\n  removes authorization\n"), "{text}");
    assert!(
        text.contains("\n  sets x-audgate-would-reject: audience\n"),
        "{text}"
    );
    // A provider that forwards its token keeps it, refused or not.
    let config = policy(
        json!({"forward": true}),
        json!({"mode": "audit", "rules": rules}),
    );
    let (code, text) = verify(&config, "audit-fwd.json", &["--path", "/admin/x", &service]);
    assert_eq!(code, Some(0), "{text}");
    assert!(!text.contains("removes authorization"), "{text}");
    assert!(
        text.contains("sets x-audgate-would-reject: audience"),
        "{text}"
    );
    // A pass in audit mode is a plain pass.
    let (code, text) = verify(&config, "audit-fwd.json", &["--path", "/orders", &service]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.starts_with("200 allowed"), "{text}");
    assert!(!text.contains("would-reject"), "{text}");
}

#[test]
fn verify_lists_the_headers_a_pass_sets_and_removes() {
    let config = policy(
        json!({"claim_to_headers": [{"claim": "sub", "header": "x-user"}]}),
        json!({}),
    );
    let token = token_with(json!({}));
    let (code, text) = verify(
        &config,
        "outputs.json",
        &["--header", "X_User: mallory", &token],
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.starts_with("200 allowed (provider orders-idp)"),
        "{text}"
    );
    assert!(
        text.contains("\n  removes x_user\n"),
        "the forged copy: {text}"
    );
    assert!(text.contains("\n  removes authorization\n"), "{text}");
    assert!(text.contains("\n  sets x-user: alice\n"), "{text}");
}

#[test]
fn verify_takes_the_token_from_a_header_cookie_or_query_instead_of_the_argument() {
    let config = policy(
        json!({
            "from_headers": [{"name": "x-partner-token", "value_prefix": ""}],
            "from_cookies": ["session"],
            "from_params": ["access_token"],
        }),
        json!({}),
    );
    let token = token_with(json!({}));
    let header = format!("x-partner-token: {token}");
    let (code, text) = verify(&config, "places.json", &["--header", &header]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("removes x-partner-token"), "{text}");
    let cookie = format!("cookie: theme=dark; session={token}");
    let (code, text) = verify(&config, "places.json", &["--header", &cookie]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("\n  sets cookie: theme=dark  (without session)\n"),
        "{text}"
    );
    let path = format!("/orders?access_token={token}&limit=5");
    let (code, text) = verify(&config, "places.json", &["--path", &path]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("\n  sets :path: /orders?limit=5\n"), "{text}");
}

#[test]
fn verify_without_a_token_needs_no_token_said() {
    let config = cases::config();
    let (code, text) = verify(
        &config,
        "tokenless.json",
        &["--authority", "orders.test", "--no-token"],
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(text.starts_with("401 refused"), "{text}");
    assert!(
        text.contains("www-authenticate: Bearer realm=\"orders.test\"\n"),
        "{text}"
    );
    let (code, text) = verify(&config, "tokenless.json", &["--header", "x-tenant: acme"]);
    assert_eq!(code, Some(2), "no token anywhere and no --no-token: {text}");
    assert!(text.contains("--no-token"), "{text}");
    let token = token_with(json!({}));
    let (code, text) = verify(&config, "tokenless.json", &["--no-token", &token]);
    assert_eq!(code, Some(2), "{text}");
    // TOKEN and an authorization --header: the header twice, refused.
    let header = format!("authorization: Bearer {token}");
    let (code, text) = verify(&config, "tokenless.json", &["--header", &header, &token]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.starts_with("401"), "{text}");
}

#[test]
fn verify_help_and_option_errors_speak_of_the_options() {
    for flag in ["--help", "-h"] {
        let output = audgate(&["verify", flag]);
        let text = stdout(&output);
        assert_eq!(output.status.code(), Some(0), "{flag}: {text}");
        assert!(text.starts_with("usage: audgate verify"), "{text}");
        for word in [
            "--header 'NAME: VALUE'",
            "--no-token",
            "audit",
            "Exit status",
        ] {
            assert!(text.contains(word), "{word}: {text}");
        }
    }
    let config = cases::config();
    for (args, says) in [
        (&["--frob"][..], "unknown option --frob"),
        (&["--header", "x-tenant"], "'NAME: VALUE'"),
        (&["--header", "x-tenant:", "acme"], "quote the whole header"),
        (&["--header", "host: a.test", "--no-token"], "--authority"),
        (&["--path", "orders", "--no-token"], "starts with '/'"),
        (&["--method"], "--method needs a value"),
    ] {
        let (code, text) = verify(&config, "errors.json", args);
        assert_eq!(code, Some(2), "{args:?}: {text}");
        assert!(text.contains(says), "{args:?}: {text}");
    }
    let output = audgate(&["verify", "--no-token"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--config FILE"));
}

#[test]
fn check_config_fills_node_metadata_and_takes_several_files() {
    let mesh = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/istio/mesh-wide/audgate-wasmplugin.yaml"
    );
    let orders = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/istio/orders-wasmplugin.yaml"
    );
    let output = audgate(&["check-config", mesh]);
    let said = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{said}");
    assert!(
        said.contains("audiences use node metadata NAMESPACE, SERVICE_ACCOUNT"),
        "{said}"
    );
    assert!(
        said.contains("spiffe://cluster.local/ns/<NAMESPACE>/sa/<SERVICE_ACCOUNT>"),
        "{said}"
    );
    let output = audgate(&[
        "check-config",
        "--node",
        "NAMESPACE=shop",
        "--node=SERVICE_ACCOUNT=orders",
        mesh,
        orders,
    ]);
    let said = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{said}");
    assert!(
        said.contains("accepts audiences [\"spiffe://cluster.local/ns/shop/sa/orders\"]"),
        "{said}"
    );
    assert!(
        said.contains("WasmPlugin shop/audgate-orders: valid"),
        "{said}"
    );
    assert!(!said.contains("use node metadata"), "{said}");
    for (args, message) in [
        (
            vec!["check-config", "--node", "NAMESPACE", mesh],
            "--node NAMESPACE: write KEY=VALUE",
        ),
        (vec!["check-config", "--nod", mesh], "unknown option --nod"),
        (vec!["check-config"], "check-config needs a FILE"),
    ] {
        let output = audgate(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(err.contains(message), "{args:?}: {err}");
    }
}

#[test]
fn check_config_warns_of_a_discovery_document_given_as_the_key_set() {
    let provider = |remote: serde_json::Value| {
        json!({"providers": [{"name": "idp", "issuer": "https://idp.example.com",
                              "audiences": ["orders"], "remote_jwks": remote}]})
    };
    let pasted = provider(
        json!({"uri": "https://idp.example.com/.well-known/openid-configuration", "cluster": "idp"}),
    );
    let path = temp_file("pasted.json", &pasted.to_string());
    let output = audgate(&["check-config", path.to_str().unwrap()]);
    let said = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{said}");
    assert!(said.contains("warning: provider idp: remote_jwks.uri https://idp.example.com/.well-known/openid-configuration looks like a discovery document"), "{said}");
    let discovered = provider(json!({"discovery": true, "cluster": "idp"}));
    let path = temp_file("discovered.json", &discovered.to_string());
    let said = stdout(&audgate(&["check-config", path.to_str().unwrap()]));
    assert!(
        said.contains("valid") && !said.contains("warning"),
        "{said}"
    );
    let both = provider(
        json!({"discovery": true, "uri": "https://idp.example.com/jwks", "cluster": "idp"}),
    );
    let path = temp_file("both.json", &both.to_string());
    let said = stdout(&audgate(&["check-config", path.to_str().unwrap()]));
    assert!(
        said.contains("providers[0].remote_jwks.uri: give either uri or discovery: true"),
        "{said}"
    );
}

/// `check-config` on `text` written to `name`: exit code and stdout.
pub(crate) fn check(name: &str, text: &str) -> (Option<i32>, String) {
    let path = temp_file(name, text);
    let output = audgate(&["check-config", path.to_str().unwrap()]);
    (
        output.status.code(),
        format!("{}{}", stdout(&output), stderr(&output)),
    )
}

/// A WasmPlugin named `name` with `spec` lines (indented by two) before its
/// pluginConfig, and `config` lines (indented by four) as the pluginConfig; the
/// module is [`MODULE`] unless `spec` gives a `url` or `sha256`.
pub(crate) fn wasm_plugin(name: &str, spec: &str, config: &str) -> String {
    let module = if spec.contains("  url:") || spec.contains("  sha256:") {
        ""
    } else {
        MODULE
    };
    format!(
        "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {{name: {name}, namespace: shop}}\nspec:\n{module}{spec}{config}"
    )
}

/// A module pinned to a digest (not the placeholder), as `spec` lines.
pub(crate) const MODULE: &str = "  url: oci://registry.example.com/audgate:0.1.0
  sha256: \"5f1d6c3e9a7b2c4d8e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d\"
";

pub(crate) const GOOD_SPEC: &str =
    "  phase: AUTHN\n  failStrategy: FAIL_CLOSE\n  match:\n  - mode: SERVER\n";

pub(crate) const PLUGIN_CONFIG: &str = "  pluginConfig:
    providers:
    - name: idp
      issuer: https://idp.example.com
      audiences: [orders.svc]
      remote_jwks: {uri: \"https://idp.example.com/jwks\", cluster: idp}
";

/// No Rust or serde words in what audgate says.
fn assert_plain_words(said: &str) {
    for internal in [
        "RawConfig",
        "RawProvider",
        "struct",
        "u64",
        "untagged",
        "invalid type",
        "a sequence",
        "a map",
        "did not match any variant",
    ] {
        assert!(!said.contains(internal), "{internal}: {said}");
    }
}

#[test]
fn check_config_says_what_is_wrong_in_the_users_words_not_the_parsers() {
    let p = r#""name": "idp", "issuer": "https://idp.example.com", "remote_jwks": {"uri": "https://idp.example.com/jwks", "cluster": "idp"}"#;
    for (name, text, says) in [
        (
            "typo.json",
            format!(r#"{{"providers": [{{{p}, "audience": ["orders.svc"]}}]}}"#),
            "typo.json: error: providers[0].audience: unknown field; did you mean audiences?",
        ),
        (
            "null.json",
            "null".to_owned(),
            "null.json: error: configuration: must be an object, not null",
        ),
        (
            "skew.json",
            format!(r#"{{"providers": [{{{p}, "audiences": ["o"], "clock_skew_s": "30s"}}]}}"#),
            "skew.json: error: providers[0].clock_skew_s: must be a whole number, not the string \"30s\"",
        ),
        (
            "forward.json",
            format!(r#"{{"providers": [{{{p}, "audiences": ["o"], "forward": "yes"}}]}}"#),
            "forward.json: error: providers[0].forward: must be true or false, not the string \"yes\"",
        ),
    ] {
        let (code, said) = check(name, &text);
        assert_eq!(code, Some(1), "{said}");
        assert!(said.contains(says), "{said}");
        assert_plain_words(&said);
        assert!(!said.contains("line 1"), "a position into JSON: {said}");
    }
    // YAML: a wrong field's path, and no line or column of the JSON made from it.
    let yaml = wasm_plugin(
        "skew",
        GOOD_SPEC,
        &PLUGIN_CONFIG.replace(
            "      audiences:",
            "      clock_skew_s: 30s\n      audiences:",
        ),
    );
    let (code, said) = check("skew.yaml", &yaml);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains(
            "WasmPlugin shop/skew: error: providers[0].clock_skew_s: must be a whole number"
        ),
        "{said}"
    );
    assert!(!said.contains("line") && !said.contains("column"), "{said}");
    assert_plain_words(&said);
    // A misspelt pluginConfig.
    let yaml = wasm_plugin(
        "spelt",
        GOOD_SPEC,
        &PLUGIN_CONFIG.replace("pluginConfig", "pluginconfig"),
    );
    let (code, said) = check("spelt.yaml", &yaml);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("WasmPlugin shop/spelt: error: spec.pluginConfig: missing (is it spelt pluginConfig?)\n"),
        "{said}"
    );
    assert_plain_words(&said);
    // A JSON syntax error: its line and column are the file's.
    let (code, said) = check("comma.json", "{\n  \"providers\": [],\n}\n");
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains(
            "comma.json: error: configuration: not valid JSON: trailing comma at line 3 column 1"
        ),
        "{said}"
    );
    // A YAML syntax error: its line is the file's.
    let yaml = format!(
        "{}      bad: [unclosed\n",
        wasm_plugin("broken", GOOD_SPEC, PLUGIN_CONFIG)
    );
    let (code, said) = check("broken.yaml", &yaml);
    assert_eq!(code, Some(1), "{said}");
    let last = yaml.lines().count();
    assert!(
        said.contains(&format!("line {last}")),
        "line {last}: {said}"
    );
}

#[test]
fn check_config_checks_the_wasmplugin_fields_against_istios_values() {
    for (spec, says) in [
        (
            "  phase: AUTHENTICATION\n  failStrategy: FAIL_CLOSE\n",
            "error: spec.phase: AUTHENTICATION is not one of UNSPECIFIED_PHASE, AUTHN, AUTHZ, STATS (Istio refuses the resource); did you mean AUTHN?",
        ),
        (
            "  phase: AUTHN\n  failStrategy: FAIL_CLOSED\n",
            "error: spec.failStrategy: FAIL_CLOSED is not one of FAIL_CLOSE, FAIL_OPEN, FAIL_RELOAD (Istio refuses the resource); did you mean FAIL_CLOSE?",
        ),
        (
            "  phase: AUTHN\n  match: [{mode: INBOUND}]\n",
            "error: spec.match[0].mode: INBOUND is not one of UNDEFINED, CLIENT, SERVER, CLIENT_AND_SERVER (Istio refuses the resource); did you mean SERVER?",
        ),
        (
            "  phase: AUTHN\n  imagePullPolicy: Never\n",
            "error: spec.imagePullPolicy: Never is not one of UNSPECIFIED_POLICY, IfNotPresent, Always",
        ),
        (
            "  phase: AUTHN\n  type: NETWORK\n",
            "error: spec.type: NETWORK runs the module as a network (TCP) filter, and audgate is an HTTP filter",
        ),
        ("  phase: AUTHN\n  type: L7\n", "error: spec.type: L7 is not one of UNSPECIFIED_PLUGIN_TYPE, HTTP, NETWORK"),
    ] {
        let (code, said) = check("spec.yaml", &wasm_plugin("p", spec, PLUGIN_CONFIG));
        assert_eq!(code, Some(1), "{spec}: {said}");
        assert!(said.contains(&format!("WasmPlugin shop/p: {says}")), "{said}");
    }
    // Valid for Istio, not what audgate needs: warned, still valid.
    for (spec, says) in [
        ("  failStrategy: FAIL_CLOSE\n", "warning: spec.phase: not set: Istio then puts audgate near the end"),
        ("  phase: AUTHZ\n", "warning: spec.phase: AUTHZ runs audgate after Istio's authentication filters"),
        (
            "  phase: AUTHN\n  failStrategy: FAIL_OPEN\n",
            "warning: spec.failStrategy: FAIL_OPEN: WHEN THE MODULE CANNOT BE FETCHED OR LOADED, OR ITS VM FAILS, EVERY REQUEST GOES THROUGH UNCHECKED",
        ),
        ("  phase: AUTHN\n  match: [{mode: CLIENT}]\n", "warning: spec.match[0].mode: CLIENT: audgate then checks the calls this workload makes"),
    ] {
        let (code, said) = check("warned.yaml", &wasm_plugin("p", spec, PLUGIN_CONFIG));
        assert_eq!(code, Some(0), "{spec}: {said}");
        assert!(said.contains(&format!("WasmPlugin shop/p: {says}")), "{said}");
        assert!(said.contains("WasmPlugin shop/p: valid"), "{said}");
    }
    let (code, said) = check("good.yaml", &wasm_plugin("p", GOOD_SPEC, PLUGIN_CONFIG));
    assert_eq!(code, Some(0), "{said}");
    assert!(
        !said.contains("warning") && !said.contains("error"),
        "{said}"
    );
    // The shipped manifests meet every expectation but one: their digest is the
    // placeholder until deploy.md's sed puts the image's in, and then nothing
    // is left to warn of.
    for file in SHIPPED_PLUGINS {
        let path = format!("{}/deploy/istio/{file}", env!("CARGO_MANIFEST_DIR"));
        let said = stdout(&audgate(&["check-config", &path]));
        assert!(!said.contains("error"), "{file}: {said}");
        for line in said.lines().filter(|line| line.contains("warning")) {
            assert!(
                line.contains("warning: spec.sha256: the all-zero placeholder"),
                "{file}: {line}"
            );
        }
        assert!(said.contains("the all-zero placeholder"), "{file}: {said}");
        let pinned = pinned_manifest(file);
        let said = stdout(&audgate(&["check-config", pinned.to_str().unwrap()]));
        assert!(
            !said.contains("warning") && !said.contains("error"),
            "{file}: {said}"
        );
    }
}

/// Every shipped file of WasmPlugins, under deploy/istio.
pub(crate) const SHIPPED_PLUGINS: &[&str] = &[
    "orders-wasmplugin.yaml",
    "orders-outbound-wasmplugin.yaml",
    "payments-wasmplugin.yaml",
    "mesh-wide/audgate-wasmplugin.yaml",
    "ambient/waypoint-wasmplugins.yaml",
];

/// A shipped manifest with its placeholder digest replaced, as deploy.md's
/// `sed` replaces it with the image's: its path.
pub(crate) fn pinned_manifest(file: &str) -> PathBuf {
    let path = format!("{}/deploy/istio/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let digest = "5f1d6c3e9a7b2c4d8e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";
    let pinned = text.replace(&"0".repeat(64), digest);
    assert_ne!(pinned, text, "{file} holds the placeholder");
    temp_file(&format!("pinned-{}", file.replace('/', "-")), &pinned)
}

#[test]
fn check_config_refuses_a_yaml_key_given_twice_naming_it_and_its_line() {
    let config = PLUGIN_CONFIG.replace(
        "      remote_jwks:",
        "      # a second list, which YAML alone would silently keep\n      audiences: [payments.svc]\n      remote_jwks:",
    );
    let yaml = wasm_plugin("twice", GOOD_SPEC, &config);
    let line = 1 + yaml
        .lines()
        .position(|l| l.contains("payments.svc"))
        .unwrap();
    let first = 1 + yaml.lines().position(|l| l.contains("orders.svc")).unwrap();
    let (code, said) = check("twice.yaml", &yaml);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains(&format!(
            "twice.yaml: error: line {line}: key \"audiences\" given twice in spec.pluginConfig.providers[0] (first on line {first})"
        )),
        "{said}"
    );
    // Elsewhere in the resource too.
    let yaml = wasm_plugin(
        "twice",
        &format!("{GOOD_SPEC}  phase: AUTHZ\n"),
        PLUGIN_CONFIG,
    );
    let (code, said) = check("twice-phase.yaml", &yaml);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("key \"phase\" given twice in spec"), "{said}");
}

#[test]
fn version_is_printed_with_either_flag() {
    for flag in ["--version", "-V"] {
        let output = audgate(&[flag]);
        assert_eq!(output.status.code(), Some(0), "{flag}");
        assert_eq!(
            stdout(&output),
            format!("audgate {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn a_reader_that_closes_the_pipe_early_ends_the_output_not_in_a_panic() {
    // Far more than a pipe holds, so the writes meet the closed pipe.
    let plugins: Vec<String> = (0..1500)
        .map(|n| wasm_plugin(&format!("p{n}"), GOOD_SPEC, PLUGIN_CONFIG))
        .collect();
    let path = temp_file("many.yaml", &plugins.join("---\n"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_audgate"))
        .args(["check-config", path.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // As `| head -1` does: read a little, then close.
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let mut errors = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut errors)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{errors}");
    assert!(!errors.contains("panicked"), "{errors}");
    assert!(errors.is_empty(), "{errors}");
}

/// The claims of a token, decoded without checking it.
fn claims_of(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&json).unwrap()
}

/// `audgate mint ARGS`: the token (stdout) and what it said on stderr.
fn mint(args: &[&str]) -> (String, String) {
    let mut all = vec!["mint"];
    all.extend_from_slice(args);
    let output = audgate(&all);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        stderr(&output)
    );
    (stdout(&output).trim().to_owned(), stderr(&output))
}

#[test]
fn minted_tokens_verify_against_the_matching_public_key() {
    let config = temp_file("mint-table.json", &cases::config().to_string());
    let config = config.to_str().unwrap();
    for (key, alg) in [
        (TestKey::Rsa1, "RS256"),
        (TestKey::Ec256, "ES256"),
        (TestKey::Ec384, "ES384"),
        (TestKey::Ed, "EdDSA"),
    ] {
        let pem = temp_file(&format!("{}.pem", key.kid()), &keys::private_pem(key));
        let (token, said) = mint(&[
            "--key",
            pem.to_str().unwrap(),
            "--kid",
            key.kid(),
            "--iss",
            ISSUER,
            "--aud",
            AUDIENCE,
            "--sub",
            "tester",
        ]);
        assert!(said.contains("for local testing only"), "{said}");
        assert!(said.contains(alg), "{alg}: {said}");
        let output = audgate(&["verify", "--config", config, &token]);
        assert_eq!(output.status.code(), Some(0), "{alg}: {}", stdout(&output));
        assert!(
            stdout(&output).starts_with("200 allowed (provider orders-idp)"),
            "{}",
            stdout(&output)
        );
    }
    // PS256 from the RSA key; a key that cannot sign the alg asked for.
    let rsa = temp_file("rsa-1.pem", &keys::private_pem(TestKey::Rsa1));
    let rsa = rsa.to_str().unwrap();
    let (token, _) = mint(&[
        "--key", rsa, "--alg", "PS256", "--kid", "rsa-1", "--iss", ISSUER, "--aud", AUDIENCE,
    ]);
    assert_eq!(
        audgate(&["verify", "--config", config, &token])
            .status
            .code(),
        Some(0)
    );
    let output = audgate(&[
        "mint", "--key", rsa, "--alg", "ES256", "--iss", ISSUER, "--aud", AUDIENCE,
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--alg ES256: this RSA key signs with RS256"),
        "{}",
        stderr(&output)
    );
    let public = temp_file(
        "public.pem",
        std::str::from_utf8(TestKey::Rsa1.public_pem()).unwrap(),
    );
    let output = audgate(&[
        "mint",
        "--key",
        public.to_str().unwrap(),
        "--iss",
        ISSUER,
        "--aud",
        AUDIENCE,
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("signing needs the PRIVATE key"),
        "{}",
        stderr(&output)
    );
    // --print-jwks gives the key set that verifies the key's tokens.
    let ec = temp_file("ec256-1.pem", &keys::private_pem(TestKey::Ec256));
    let ec = ec.to_str().unwrap();
    let (jwks, _) = mint(&["--key", ec, "--kid", "mine", "--print-jwks"]);
    let own = json!({"providers": [{"name": "own", "issuer": ISSUER, "audiences": [AUDIENCE],
        "local_jwks": serde_json::from_str::<serde_json::Value>(&jwks).unwrap()}]});
    let (token, _) = mint(&[
        "--key", ec, "--kid", "mine", "--iss", ISSUER, "--aud", AUDIENCE,
    ]);
    let (code, text) = verify(&own, "own.json", &[&token]);
    assert_eq!(code, Some(0), "{text}");
}

#[test]
fn minted_claims_come_from_the_flags() {
    let ec = temp_file("ec256-claims.pem", &keys::private_pem(TestKey::Ec256));
    let ec = ec.to_str().unwrap();
    let (token, _) = mint(&[
        "--key",
        ec,
        "--iss",
        ISSUER,
        "--aud",
        AUDIENCE,
        "--aud",
        "other.svc",
        "--sub",
        "bob",
        "--scope",
        "orders:read orders:write",
        "--ttl",
        "10m",
        "--claim",
        "tenant=acme",
        "--claim",
        "level=3",
        "--claim",
        r#"realm_access={"roles":["reader"]}"#,
        "--cnf-x5t",
        "abc",
        "--typ",
        "at+jwt",
    ]);
    let claims = claims_of(&token);
    assert_eq!(claims["aud"], json!([AUDIENCE, "other.svc"]));
    assert_eq!(claims["sub"], "bob");
    assert_eq!(claims["scope"], "orders:read orders:write");
    assert_eq!(claims["tenant"], "acme");
    assert_eq!(claims["level"], 3);
    assert_eq!(claims["realm_access"], json!({"roles": ["reader"]}));
    assert_eq!(claims["cnf"], json!({"x5t#S256": "abc"}));
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        600
    );
    let output = audgate(&["inspect", &token]);
    assert!(
        stdout(&output).contains("\"typ\": \"at+jwt\""),
        "{}",
        stdout(&output)
    );
    // A required scope: met by --scope, refused without.
    let config = policy(
        json!({"required_claims": {"scope": "orders:write"}}),
        json!({}),
    );
    let (scoped, _) = mint(&[
        "--key",
        ec,
        "--iss",
        ISSUER,
        "--aud",
        AUDIENCE,
        "--scope",
        "orders:write",
    ]);
    let (code, text) = verify(&config, "scoped.json", &[&scoped]);
    assert_eq!(code, Some(0), "{text}");
    let (plain, _) = mint(&["--key", ec, "--iss", ISSUER, "--aud", AUDIENCE]);
    let (code, text) = verify(&config, "scoped.json", &[&plain]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.starts_with("403"), "{text}");
    for (args, says) in [
        (&["--demo", "--key", ec][..], "either --key FILE or --demo"),
        (&["--iss", ISSUER, "--aud", AUDIENCE], "mint needs a key"),
        (&["--key", ec, "--aud", AUDIENCE], "mint needs --iss"),
        (
            &[
                "--key", ec, "--iss", ISSUER, "--aud", AUDIENCE, "--ttl", "1w",
            ],
            "--ttl 1w",
        ),
    ] {
        let mut all = vec!["mint"];
        all.extend_from_slice(args);
        let output = audgate(&all);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&output).contains(says),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn demo_tokens_verify_against_envoy_yaml() {
    let (token, said) = mint(&["--demo"]);
    assert!(
        said.contains("for local testing only: signed with the public demo key"),
        "{said}"
    );
    // envoy.yaml's keys are the demo issuer's key set, which `make run` serves
    // and the filter fetches; here it is given as a file.
    let envoy = concat!(env!("CARGO_MANIFEST_DIR"), "/envoy/envoy.yaml");
    let jwks = temp_file("demo-jwks.json", &keys::jwks(&[TestKey::Demo]).to_string());
    let jwks = jwks.to_str().unwrap();
    let output = audgate(&["verify", "--config", envoy, "--jwks", jwks, &token]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.starts_with("200 allowed (provider demo)"), "{text}");
    assert!(text.contains("sets x-user: demo-user"), "{text}");
    let (other, _) = mint(&["--demo", "--aud", "payments.demo.svc"]);
    let output = audgate(&["verify", "--config", envoy, "--jwks", jwks, &other]);
    assert!(stdout(&output).starts_with("403"), "{}", stdout(&output));
    let help = stdout(&audgate(&["mint", "--help"]));
    assert!(help.contains("FOR LOCAL TESTING ONLY"), "{help}");
    assert!(help.contains("PUBLIC demo key"), "{help}");
}

/// A config whose one provider fetches its keys as `remote` says.
fn remote_config(issuer: &str, remote: serde_json::Value) -> serde_json::Value {
    json!({"providers": [{"name": "idp", "issuer": issuer, "audiences": [AUDIENCE], "remote_jwks": remote}]})
}

fn token_from(issuer: &str) -> String {
    keys::sign_default(TestKey::Rsa1, claims(json!({"iss": issuer})))
}

#[test]
fn verify_fetches_a_remote_providers_keys_itself_and_says_from_where() {
    let server = JwksServer::start(keys::jwks(&[TestKey::Rsa1]));
    let uri = format!("http://127.0.0.1:{}/jwks", server.port());
    let config = remote_config(ISSUER, json!({"uri": uri, "cluster": "idp"}));
    let token = token_from(ISSUER);
    let (code, text) = verify(&config, "fetch.json", &[&token]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.starts_with("200 allowed (provider idp)"), "{text}");
    assert!(
        text.contains(&format!(
            "audgate: provider idp: keys from {uri} (1 usable)"
        )),
        "{text}"
    );
    assert_eq!(server.fetches(), 1);
    // --jwks still overrides: the served set is not asked.
    let other = temp_file("other-jwks.json", &keys::jwks(&[TestKey::Rsa2]).to_string());
    let (code, text) = verify(
        &config,
        "fetch.json",
        &["--jwks", other.to_str().unwrap(), &token],
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(text.starts_with("401"), "{text}");
    assert_eq!(server.fetches(), 1);
    // A request that needs no keys fetches none.
    let (code, _) = verify(&config, "fetch.json", &["--no-token"]);
    assert_eq!((code, server.fetches()), (Some(1), 1));
    // Unreachable, or a key server that fails: an error that says so, not a 503.
    drop(server);
    let (code, text) = verify(&config, "fetch.json", &[&token]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains(&format!("audgate: provider idp: could not fetch {uri}")),
        "{text}"
    );
    assert!(text.contains("the filter would answer 503"), "{text}");
    assert!(!text.starts_with("503"), "{text}");
    let failing = JwksServer::start(keys::jwks(&[TestKey::Rsa1]));
    failing.serve_raw(500, "oops");
    let uri = format!("http://127.0.0.1:{}/jwks", failing.port());
    let config = remote_config(ISSUER, json!({"uri": uri, "cluster": "idp"}));
    let (code, text) = verify(&config, "failing.json", &[&token]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("the key server answered status 500"),
        "{text}"
    );
}

#[test]
fn verify_follows_discovery_as_the_filter_does() {
    let jwks = keys::jwks(&[TestKey::Rsa1]);
    let claimed = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let named = claimed.clone();
    let server = Upstream::serve(0, move |request| match request.path.as_str() {
        "/.well-known/openid-configuration" => {
            let issuer = named.lock().unwrap().clone();
            Reply::json(&json!({"issuer": issuer, "jwks_uri": format!("{issuer}/keys")}))
        }
        "/keys" => Reply::json(&jwks),
        _ => Reply::text(404, "not found"),
    });
    let issuer = format!("http://127.0.0.1:{}", server.port());
    *claimed.lock().unwrap() = issuer.clone();
    let config = remote_config(&issuer, json!({"discovery": true, "cluster": "idp"}));
    let (code, text) = verify(&config, "discovery.json", &[&token_from(&issuer)]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "keys from {issuer}/keys (the jwks_uri of {issuer}/.well-known/openid-configuration)"
        )),
        "{text}"
    );
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/.well-known/openid-configuration", "/keys"]);
    // A document for another issuer is refused, as the filter refuses it.
    *claimed.lock().unwrap() = "https://elsewhere.example.com".into();
    let (code, text) = verify(&config, "discovery.json", &[&token_from(&issuer)]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("the discovery document names issuer \"https://elsewhere.example.com\""),
        "{text}"
    );
}

/// An https key server: the PKI's server certificate, every request answered
/// with `body` as JSON.
fn https_server(pki: &Pki, body: String) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&pki.server_cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&pki.server_key).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let config = std::sync::Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let Ok(connection) = rustls::ServerConnection::new(config.clone()) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(connection, stream);
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match tls.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            if !head.ends_with(b"\r\n\r\n") {
                continue;
            }
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tls.write_all(reply.as_bytes());
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    port
}

#[test]
fn verify_fetches_over_https_trusting_a_given_ca() {
    let pki = Pki::new(&[]);
    let port = https_server(&pki, keys::jwks(&[TestKey::Rsa1]).to_string());
    let uri = format!("https://127.0.0.1:{port}/jwks");
    let config = remote_config(ISSUER, json!({"uri": uri, "cluster": "idp"}));
    let token = token_from(ISSUER);
    let ca = pki.ca.to_str().unwrap();
    let (code, text) = verify(&config, "https.json", &["--cacert", ca, &token]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!("keys from {uri} (1 usable)")),
        "{text}"
    );
    let (code, text) = verify(
        &config,
        "https.json",
        &["--jwks", &uri, "--cacert", ca, &token],
    );
    assert_eq!(code, Some(0), "--jwks URL over https: {text}");
    // Without the CA the certificate is not trusted: said, exit 2.
    let (code, text) = verify(&config, "https.json", &[&token]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains(&format!("could not fetch {uri}")), "{text}");
    assert!(text.to_lowercase().contains("certificate"), "{text}");
    // https to a server that speaks plain http.
    let plain = JwksServer::start(keys::jwks(&[TestKey::Rsa1]));
    let uri = format!("https://127.0.0.1:{}/jwks", plain.port());
    let config = remote_config(ISSUER, json!({"uri": uri, "cluster": "idp"}));
    let (code, text) = verify(&config, "https-plain.json", &[&token]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains(&format!("could not fetch {uri}")), "{text}");
    let output = audgate(&[
        "verify",
        "--config",
        "x.json",
        "--cacert",
        "/nonexistent.pem",
        "--no-token",
    ]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn check_config_accepts_the_shipped_outbound_plugin_without_the_secret_at_hand() {
    // orders' outbound WasmPlugin: an exchange (no providers), `match: [{mode:
    // CLIENT}]` as an exchange needs, and a client secret that only the proxy's
    // environment holds (vmConfig.env, valueFrom: HOST): check-config reads it
    // offline, without the secret, and finds nothing wrong.
    let path = pinned_manifest("orders-outbound-wasmplugin.yaml");
    let output = audgate(&["check-config", path.to_str().unwrap()]);
    let said = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{said}");
    assert!(
        said.contains("WasmPlugin shop/audgate-orders-outbound: valid"),
        "{said}"
    );
    assert!(
        !said.contains("warning") && !said.contains("error"),
        "{said}"
    );
    // With the rest of orders' and payments' plugins, as the docs run it: one
    // module, the same vmConfig for orders' two plugins, nothing to warn of.
    let files: Vec<PathBuf> = ["orders", "orders-outbound", "payments"]
        .iter()
        .map(|name| pinned_manifest(&format!("{name}-wasmplugin.yaml")))
        .collect();
    let mut args = vec!["check-config"];
    args.extend(files.iter().map(|path| path.to_str().unwrap()));
    let output = audgate(&args);
    let said = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{said}");
    assert!(!said.contains("warning"), "{said}");
    for name in [
        "audgate-orders",
        "audgate-orders-outbound",
        "audgate-payments",
    ] {
        assert!(
            said.contains(&format!("WasmPlugin shop/{name}: valid")),
            "{said}"
        );
    }
}

#[test]
fn verify_names_the_claim_a_token_did_not_meet_never_its_value() {
    let config = policy(
        json!({"required_claims": {"tenant": {"one_of": ["acme", "globex"]}}}),
        json!({"rules": [
            {"match": {"template": "/t/{tenant}/**"}, "requires":
                {"provider": "orders-idp", "claims": {"scope": "orders:write", "team": "${path.tenant}"}}},
        ]}),
    );
    let at = |token: &str, path: &str| verify(&config, "unmet.json", &["--path", path, token]);
    let initech = token_with(json!({"tenant": "initech", "scope": "orders:write"}));
    let (code, text) = at(&initech, "/t/acme/x");
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("claim not met: tenant must hold one of acme, globex"),
        "{text}"
    );
    assert!(
        !text.contains("initech"),
        "the token's value is never shown: {text}"
    );
    let reader = token_with(json!({"tenant": "acme", "scope": "orders:read"}));
    let (_, text) = at(&reader, "/t/acme/x");
    assert!(
        text.contains("claim not met: scope must hold orders:write"),
        "{text}"
    );
    let other_team =
        token_with(json!({"tenant": "acme", "scope": "orders:write", "team": "globex"}));
    let (_, text) = at(&other_team, "/t/acme/x");
    assert!(
        text.contains("claim not met: team must hold ${path.tenant}"),
        "{text}"
    );
}

#[test]
fn verify_presents_a_peer_certificate_for_cnf_and_caller() {
    let web = "spiffe://cluster.local/ns/shop/sa/web";
    let pki = Pki::new(&[web, "spiffe://cluster.local/ns/shop/sa/other"]);
    let client = &pki.clients[0];
    let config = policy(json!({"caller": {"claim": "azp"}}), json!({}));
    let bound = token_with(json!({"azp": web, "cnf": {"x5t#S256": client.x5t_s256()}}));
    let cert = client.cert.to_str().unwrap();
    let (code, text) = verify(&config, "peer.json", &[&bound]);
    assert_eq!(code, Some(1), "no peer: {text}");
    assert!(text.contains("[caller]"), "{text}");
    let (code, text) = verify(&config, "peer.json", &["--peer-cert", cert, &bound]);
    assert_eq!(code, Some(0), "its own certificate: {text}");
    let other = pki.clients[1].cert.to_str().unwrap();
    let (code, text) = verify(&config, "peer.json", &["--peer-cert", other, &bound]);
    assert_eq!(code, Some(1), "another workload's certificate: {text}");
    // The two facts one by one, in place of the certificate's.
    let hex: String = client.sha256.iter().map(|b| format!("{b:02x}")).collect();
    let args = ["--peer-uri-san", web, "--peer-cert-sha256", &hex, &bound];
    let (code, text) = verify(&config, "peer.json", &args);
    assert_eq!(code, Some(0), "{text}");
    let args = [
        "--peer-cert",
        cert,
        "--peer-uri-san",
        "spiffe://x/y",
        &bound,
    ];
    let (code, text) = verify(&config, "peer.json", &args);
    assert_eq!(code, Some(1), "another SPIFFE ID: {text}");
    let (code, text) = verify(&config, "peer.json", &["--peer-cert-sha256", "abc", &bound]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("64 hex digits"), "{text}");
    let (code, text) = verify(
        &config,
        "peer.json",
        &["--peer-cert", "/nonexistent.pem", &bound],
    );
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("--peer-cert /nonexistent.pem"), "{text}");
}

#[test]
fn check_config_checks_every_file_and_names_each() {
    let dir = temp::dir("cli-many");
    std::fs::create_dir_all(dir.join("a-directory")).unwrap();
    std::fs::write(dir.join("empty.json"), "").unwrap();
    let good = temp_file("good.json", &cases::config().to_string());
    let output = audgate(&[
        "check-config",
        dir.join("a-directory").to_str().unwrap(),
        dir.join("missing.json").to_str().unwrap(),
        dir.join("empty.json").to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("a-directory: error: is a directory"),
        "{text}"
    );
    assert!(text.contains("missing.json: error: no such file"), "{text}");
    assert!(text.contains("empty.json: error: is empty"), "{text}");
    assert!(
        text.contains("good.json: valid"),
        "the files after the errors are checked: {text}"
    );
    for line in text.lines() {
        assert!(
            line.contains(".json") || line.contains("a-directory"),
            "a line names its file: {line}"
        );
    }
}

#[test]
fn a_pasted_token_is_read_as_people_paste_it_and_errors_name_the_real_problem() {
    let token = keys::sign_default(TestKey::Rsa1, claims(json!({})));
    let (head, tail) = token.split_at(40);
    for pasted in [
        format!("authorization: Bearer {token}"),
        format!("\"{token}\""),
        format!("{head}\n{tail}"),
    ] {
        let output = audgate(&["inspect", &pasted]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{pasted:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("audgate: read the token without"),
            "{}",
            stderr(&output)
        );
    }
    let b64 = |text: &str| keys::b64(text.as_bytes());
    let header = b64(r#"{"alg":"RS256"}"#);
    for (token, said) in [
        (
            "a.b.c.d.e".to_owned(),
            "an encrypted token (JWE, five parts)",
        ),
        (
            format!("{header}.{}.c2ln", b64(r#"{"aud":"a","aud":"b"}"#)),
            "repeats a key",
        ),
        (
            format!("{header}.{}.c2ln", b64(r#"{"exp":1e400}"#)),
            "a number in the token is out of range",
        ),
    ] {
        let output = audgate(&["inspect", &token]);
        let text = format!("{}{}", stdout(&output), stderr(&output));
        assert!(text.contains(said), "{token}: {text}");
    }
}

#[test]
fn check_config_reads_a_plugin_configuration_in_plain_yaml() {
    let yaml = "providers:\n- name: corp\n  issuer: https://idp.example.com\n  audiences: [orders.svc]\n  remote_jwks: {uri: \"https://idp.example.com/jwks\", cluster: idp}\nrules:\n- match: {prefix: /}\n  requires: corp\n";
    let path = temp_file("plain.yaml", yaml);
    let output = audgate(&["check-config", path.to_str().unwrap()]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains("(plugin configuration in YAML): valid (1 provider(s), 1 rule(s))"),
        "{text}"
    );
    let broken = temp_file(
        "broken.yaml",
        &yaml.replace("audiences: [orders.svc]", "audiences: []"),
    );
    let output = audgate(&["check-config", broken.to_str().unwrap()]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("providers[0].audiences"), "{text}");
}

#[test]
fn check_config_names_what_a_file_without_a_plugin_holds() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/istio/idp-serviceentry.yaml"
    );
    let output = audgate(&["check-config", path]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("error: no WasmPlugin or TrafficExtension here, only ServiceEntry"),
        "{text}"
    );
}
