//! The `audgate` CLI: check-config on JSON and on Istio WasmPlugin YAML, inspect,
//! and verify giving the filter's own decision for the whole token table.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::json;
use support::cases::{self, claims, AUDIENCE, ISSUER};
use support::jwks_server::JwksServer;
use support::keys::{self, TestKey};

fn audgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_audgate"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run audgate")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("audgate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
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
    let config = json!({"providers": [{
        "name": "idp", "issuer": ISSUER, "audiences": [AUDIENCE],
        "remote_jwks": {"uri": "https://idp.example.com/jwks", "cluster": "idp"},
    }]});
    let config_path = temp_file("remote.json", &config.to_string());
    let config_path = config_path.to_str().unwrap();
    let token = keys::sign_default(TestKey::Rsa1, claims(json!({})));
    let output = audgate(&["verify", "--config", config_path, &token]);
    assert!(
        stdout(&output).starts_with("503"),
        "no keys: {}",
        stdout(&output)
    );
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
