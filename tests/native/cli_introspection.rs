//! The CLI and `introspection`: `audgate verify` asks the endpoint with the
//! filter's own form and client authentication (over http, and https with
//! `--cacert`), prints the answer's claims and decides them as the filter
//! would; `audgate check-config` shows the provider's introspection line. No
//! command prints the client secret or the token.

use std::process::{Command, Output, Stdio};

use base64::Engine;

use serde_json::{json, Value};

use crate::support::introspection::{Introspector, IntrospectorSettings};
use crate::support::keys::{self, now};
use crate::support::sts::StsTls;
use crate::support::temp;
use crate::support::tls::Pki;

const SECRET_ENV: &str = "AUDGATE_CLI_TEST_INTROSPECTION_SECRET";
const SECRET: &str = "introspection+s3cret/never=printed";
const CLIENT: &str = "orders-api";

fn config(uri: &str, extra: Value) -> Value {
    let introspection = keys::merged(
        json!({"uri": uri, "cluster": "as", "client_id": CLIENT, "client_secret_env": SECRET_ENV,
               "timeout_ms": 1500}),
        &extra,
    );
    json!({"providers": [{
        "name": "corp-as",
        "issuer": "https://as.test",
        "audiences": ["orders.svc"],
        "introspection": introspection,
        "required_claims": {"scope": "orders:read"},
    }]})
}

/// `audgate ARGS` with the secret in its environment; exit code and all it printed.
fn audgate(args: &[&str], secrets: &[&str]) -> (Option<i32>, String) {
    let output: Output = Command::new(env!("CARGO_BIN_EXE_audgate"))
        .args(args)
        .stdin(Stdio::null())
        .env(SECRET_ENV, SECRET)
        .output()
        .expect("run audgate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // The secret as it is, form-encoded, and inside the Basic credentials.
    let encoded = crate::support::http::form_encode(SECRET);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT}:{encoded}"));
    for secret in secrets
        .iter()
        .copied()
        .chain([SECRET, encoded.as_str(), basic.as_str()])
    {
        assert!(!text.contains(secret), "printed a secret: {text}");
    }
    (output.status.code(), text)
}

fn file(config: &Value) -> String {
    let path = temp::dir("cli-introspection").join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    path.to_string_lossy().into_owned()
}

fn claims(extra: Value) -> Value {
    let now = now();
    keys::merged(
        json!({"aud": "orders.svc", "sub": "alice", "scope": "orders:read", "exp": now + 300}),
        &extra,
    )
}

#[test]
fn verify_asks_the_endpoint_prints_the_answer_and_decides_it() {
    let server = Introspector::start(IntrospectorSettings::basic(CLIENT, SECRET));
    let uri = format!("http://127.0.0.1:{}/introspect", server.port());
    let path = file(&config(&uri, json!({})));
    let token = server.issue(claims(json!({})));
    let (code, text) = audgate(&["verify", "--config", &path, &token], &[&token]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!("introspection: provider corp-as asks POST {uri}")),
        "{text}"
    );
    assert!(
        text.contains("introspection: active; the answer's claims:"),
        "{text}"
    );
    assert!(text.contains("\"sub\": \"alice\""), "{text}");
    assert!(text.contains("200 allowed (provider corp-as)"), "{text}");
    let call = &server.recorded()[0];
    assert!(
        call.basic && call.client.as_deref() == Some(CLIENT),
        "{call:?}"
    );
    // Decided as the filter would: the scope is missing.
    let unscoped = server.issue(claims(json!({"scope": "profile"})));
    let (code, text) = audgate(&["verify", "--config", &path, &unscoped], &[&unscoped]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("403 refused (provider corp-as)"), "{text}");
    // Not vouched for, and a failing endpoint.
    let (code, text) = audgate(&["verify", "--config", &path, "never-issued"], &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("introspection: not vouched for (active: false)"),
        "{text}"
    );
    assert!(text.contains("[inactive]"), "{text}");
    server.fail(500);
    let (code, text) = audgate(&["verify", "--config", &path, &token], &[&token]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("failed: the introspection endpoint answered 500"),
        "{text}"
    );
    assert!(text.contains("503 refused"), "{text}");
}

#[test]
fn verify_introspects_over_https_trusting_a_given_ca() {
    let pki = Pki::new(&[]);
    let settings = IntrospectorSettings {
        tls: Some(StsTls::of(&pki)),
        ..IntrospectorSettings::basic(CLIENT, SECRET)
    };
    let server = Introspector::start(settings);
    let uri = format!("https://127.0.0.1:{}/introspect", server.port());
    let path = file(&config(&uri, json!({})));
    let token = server.issue(claims(json!({})));
    let ca = pki.ca.to_str().unwrap();
    let (code, text) = audgate(
        &["verify", "--config", &path, "--cacert", ca, &token],
        &[&token],
    );
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(server.calls_for(&token), 1);
    // Without the CA the server's certificate is not trusted: the endpoint is
    // unreachable for this command, as for the filter without its cluster's TLS.
    let (code, text) = audgate(&["verify", "--config", &path, &token], &[&token]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("could not be reached"), "{text}");
}

#[test]
fn check_config_shows_the_introspection_provider_without_its_secret() {
    let path = file(&config(
        "https://as.test/oauth2/introspect",
        json!({"cache_duration_s": 30}),
    ));
    let (code, text) = audgate(&["check-config", &path], &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("provider corp-as: introspection: tokens vouched for by https://as.test/oauth2/introspect through cluster as (1500 ms), client orders-api (client_secret_basic, secret from the VM's environment); active answers reused 30 s"),
        "{text}"
    );
    let certificate = config(
        "https://as.test/introspect",
        json!({"client_secret_env": null}),
    );
    let (code, text) = audgate(&["check-config", &file(&certificate)], &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("client orders-api (tls_client_auth: the cluster's client certificate)"),
        "{text}"
    );
}
