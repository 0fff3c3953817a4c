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
        let Some(token) = case.token else { continue };
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
