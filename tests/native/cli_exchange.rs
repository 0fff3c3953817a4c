//! The CLI and the `exchange` section: `audgate exchange` against the test STS
//! (the destination the filter would pick, the RFC 8693 request, the answer
//! judged, the issued token decoded), and `audgate check-config` printing the
//! destination table without the VM's secret. No command ever prints the client
//! secret or the subject token.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::support::cases::{self, claims};
use crate::support::keys::{self, TestKey};
use crate::support::sts::{sha256_hex, Sts, StsClient, StsSettings};
use crate::support::temp;

/// The variable the configurations name as `client_secret_env`.
const SECRET_ENV: &str = "AUDGATE_CLI_TEST_STS_SECRET";
/// The client's secret at the STS (characters Basic must form-encode).
const SECRET: &str = "s3cret+pass/w=rd-never-printed";

/// `audgate ARGS`, with [`SECRET_ENV`] set to `secret` or absent.
fn audgate(args: &[&str], secret: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_audgate"));
    command
        .args(args)
        .stdin(Stdio::null())
        .env_remove(SECRET_ENV);
    if let Some(secret) = secret {
        command.env(SECRET_ENV, secret);
    }
    command.output().expect("run audgate")
}

/// Exit code and stdout + stderr; asserts that neither holds `secrets`.
fn said(output: &Output, secrets: &[&str]) -> (Option<i32>, String) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for secret in secrets {
        assert!(!text.contains(secret), "a secret is printed: {text}");
    }
    (output.status.code(), text)
}

/// `text` in a new file of this module's scratch directory, named after `name`.
fn temp_file(name: &str, text: &str) -> String {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let path = DIR
        .get_or_init(|| temp::dir("cli-exchange"))
        .join(format!("{n}-{name}"));
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// An `exchange` section with two destinations (by hosts and by clusters),
/// `extra` merged into it.
fn exchange_config(token_endpoint: &str, extra: Value) -> Value {
    let section = json!({
        "token_endpoint": token_endpoint,
        "cluster": "sts",
        "timeout_ms": 1500,
        "client_id": "orders",
        "client_secret_env": SECRET_ENV,
        "destinations": [
            {"hosts": ["payments.svc", "ledger.svc:8443"], "audience": "payments.svc",
             "scope": "payments:charge"},
            {"clusters": ["outbound|8080||ledger"], "prefix": "/api/",
             "resource": "https://ledger.example/", "requires_token": true},
        ],
    });
    json!({"exchange": keys::merged(section, &extra)})
}

/// A running STS that knows the client `orders` by [`SECRET`].
fn sts() -> Sts {
    Sts::start(StsSettings {
        clients: vec![StsClient::basic("orders", SECRET)],
        anonymous: false,
        ..StsSettings::default()
    })
}

/// A subject token of the STS's subject issuer (`cases::ISSUER`, `Rsa1`) that
/// may be down-scoped to `payments:charge`.
fn subject() -> String {
    let scope = json!({"scope": "payments:charge orders:read"});
    keys::sign_default(TestKey::Rsa1, claims(scope))
}

/// `audgate exchange --config <config> ARGS...` with the secret as `secret`.
fn exchange(config: &Value, args: &[&str], secret: Option<&str>) -> Output {
    let path = temp_file("exchange.json", &config.to_string());
    let mut all = vec!["exchange", "--config", path.as_str()];
    all.extend_from_slice(args);
    audgate(&all, secret)
}

/// The issued token's claims as printed (between `claims:` and `times:`).
fn printed_claims(text: &str) -> Value {
    let claims = text
        .split_once("claims:\n")
        .and_then(|(_, rest)| rest.split_once("\ntimes:"))
        .map(|(claims, _)| claims)
        .unwrap_or_else(|| panic!("no claims printed: {text}"));
    serde_json::from_str(claims).unwrap_or_else(|e| panic!("{e}: {claims}"))
}

#[test]
fn exchange_asks_for_the_matched_destination_and_prints_the_issued_claims() {
    let sts = sts();
    let endpoint = format!("http://127.0.0.1:{}/token", sts.port());
    let config = exchange_config(&endpoint, json!({}));
    let token = subject();
    let args = [
        "--token",
        &token,
        "--host",
        "Payments.SVC:8080",
        "--path",
        "/charge?x=1",
    ];
    let (code, text) = said(&exchange(&config, &args, Some(SECRET)), &[SECRET, &token]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("destination 0 (payments.svc, for host Payments.SVC:8080, path /charge?x=1): hosts [\"payments.svc\", \"ledger.svc:8443\"], prefix /"),
        "{text}"
    );
    assert!(
        text.contains("asks for: audience \"payments.svc\", scope \"payments:charge\"\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "client: client_secret_basic, client_id \"orders\", its secret from ${SECRET_ENV}\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("POST {endpoint} (timeout 1500 ms)")),
        "{text}"
    );
    assert!(
        text.contains("exchanged: the token service issued an access token (expires_in 300)"),
        "{text}"
    );
    let claims = printed_claims(&text);
    assert_eq!(claims["aud"], "payments.svc", "{text}");
    assert_eq!(claims["act"], json!({"sub": "orders"}), "{text}");
    assert_eq!(claims["scope"], "payments:charge", "{text}");
    assert_eq!(claims["iss"], sts.issuer(), "{text}");
    assert!(text.contains("\"kid\": "), "the header: {text}");
    assert!(text.contains("expires: "), "{text}");
    assert!(
        text.contains("kept: the filter would use it until ") && text.contains("(in 4m "),
        "300 s less the 30-second margin: {text}"
    );
    let requests = sts.requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].basic, "the STS saw no Basic credentials");
    assert_eq!(requests[0].client_id.as_deref(), Some("orders"));
    assert_eq!(requests[0].field("audience"), Some("payments.svc"));
    assert_eq!(requests[0].field("scope"), Some("payments:charge"));
    assert_eq!(requests[0].field("client_id"), None, "Basic, not the form");
    assert_eq!(sts.last_subject_sha256(), Some(sha256_hex(&token)));
}

#[test]
fn exchange_by_cluster_goes_where_sts_says_with_the_endpoints_path() {
    let sts = sts();
    // Only the proxy could resolve this host: --sts sends the exchange to the STS.
    let config = exchange_config("http://sts.mesh.invalid/token", json!({}));
    let token = subject();
    let sts_url = format!("http://127.0.0.1:{}", sts.port());
    let args = [
        "--token",
        &token,
        "--cluster",
        "outbound|8080||ledger",
        "--path",
        "/api/entries",
        "--sts",
        &sts_url,
    ];
    let (code, text) = said(&exchange(&config, &args, Some(SECRET)), &[SECRET, &token]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("destination 1 (outbound|8080||ledger,"),
        "{text}"
    );
    assert!(text.contains("requires_token true"), "{text}");
    assert!(
        text.contains("asks for: resource \"https://ledger.example/\"\n"),
        "{text}"
    );
    assert!(text.contains(&format!("POST {sts_url}/token ")), "{text}");
    assert_eq!(printed_claims(&text)["aud"], "https://ledger.example/");
    assert_eq!(
        sts.requests()[0].field("resource"),
        Some("https://ledger.example/")
    );
    assert_eq!(sts.requests()[0].field("audience"), None);
    // The prefix counts: /entries is not under /api/.
    let args = [
        "--token",
        &token,
        "--cluster",
        "outbound|8080||ledger",
        "--path",
        "/entries",
        "--sts",
        &sts_url,
    ];
    let (code, text) = said(&exchange(&config, &args, Some(SECRET)), &[SECRET, &token]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.starts_with("unmatched"), "{text}");
    assert_eq!(sts.exchanges(), 1);
}

#[test]
fn exchange_names_the_services_refusal_and_what_the_filter_answers() {
    let sts = sts();
    let endpoint = format!("http://127.0.0.1:{}/token", sts.port());
    let config = exchange_config(&endpoint, json!({}));
    let token = subject();
    let args = ["--token", &token, "--host", "payments.svc"];
    sts.refuse("invalid_grant");
    let (code, text) = said(&exchange(&config, &args, Some(SECRET)), &[SECRET, &token]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("refused: the token service refused the token (error invalid_grant)"),
        "{text}"
    );
    assert!(text.contains("401 (reason exchange_refused)"), "{text}");
    assert!(!text.contains("claims:"), "{text}");
    sts.fail(500);
    let (code, text) = said(&exchange(&config, &args, Some(SECRET)), &[SECRET, &token]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("failed: the token service answered 500"),
        "{text}"
    );
    assert!(text.contains("503 (reason exchange)"), "{text}");
    sts.normal();
    let wrong = "not-the-secret";
    let (code, text) = said(&exchange(&config, &args, Some(wrong)), &[wrong, &token]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("refused this workload's client (401)"),
        "{text}"
    );
    assert_eq!(sts.exchanges(), 3);
    // Nothing listens on port 1.
    let config = exchange_config("http://127.0.0.1:1/token", json!({}));
    let (code, text) = said(&exchange(&config, &args, Some(SECRET)), &[SECRET, &token]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("failed: the token service could not be reached"),
        "{text}"
    );
    assert!(text.contains("connection refused; --sts URL"), "{text}");
}

#[test]
fn exchange_without_the_secret_in_the_environment_names_the_variable() {
    let sts = sts();
    let endpoint = format!("http://127.0.0.1:{}/token", sts.port());
    let config = exchange_config(&endpoint, json!({}));
    let token = subject();
    let args = ["--token", &token, "--host", "payments.svc"];
    for secret in [None, Some("")] {
        let (code, text) = said(&exchange(&config, &args, secret), &[&token]);
        assert_eq!(code, Some(2), "{text}");
        assert!(
            text.contains(&format!("exchange.client_secret_env names {SECRET_ENV}, and this shell's environment has no {SECRET_ENV}")),
            "{text}"
        );
    }
    assert_eq!(sts.exchanges(), 0, "nothing is sent without the secret");
}

#[test]
fn exchange_to_an_unmatched_destination_says_what_unmatched_does() {
    let sts = sts();
    let endpoint = format!("http://127.0.0.1:{}/token", sts.port());
    for (unmatched, does) in [
        (
            "remove",
            "removes the token and the request goes on without it",
        ),
        (
            "refuse",
            "refuses the request, 403 (reason exchange_unmatched)",
        ),
        ("forward", "passes the token on as it is"),
    ] {
        let config = exchange_config(&endpoint, json!({"unmatched": unmatched}));
        let token = subject();
        // ledger.svc matches only on the port its entry names.
        for host in ["orders.svc", "ledger.svc:9000"] {
            let args = ["--token", &token, "--host", host];
            let (code, text) = said(&exchange(&config, &args, Some(SECRET)), &[SECRET, &token]);
            assert_eq!(code, Some(1), "{text}");
            assert!(
                text.starts_with(&format!(
                    "unmatched: no destination covers host {host}, path /\n"
                )),
                "{text}"
            );
            assert!(
                text.contains(&format!(
                    "exchange.unmatched {unmatched}: the filter {does}"
                )),
                "{text}"
            );
            assert!(
                text.contains("  destination 1: clusters"),
                "the table: {text}"
            );
        }
    }
    assert_eq!(sts.exchanges(), 0);
}

#[test]
fn exchange_help_and_usage_errors_speak_of_the_options() {
    let output = audgate(&["exchange", "--help"], None);
    let (code, text) = said(&output, &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.starts_with("usage: audgate exchange --config FILE --token TOKEN"),
        "{text}"
    );
    for word in [
        "--sts URL",
        "--cacert FILE",
        "client_secret_env",
        "Exit status",
    ] {
        assert!(text.contains(word), "{word}: {text}");
    }
    let (_, top) = said(&audgate(&["--help"], None), &[]);
    assert!(top.contains("audgate exchange --config FILE"), "{top}");
    let config = exchange_config("http://127.0.0.1:1/token", json!({}));
    let token = subject();
    for (args, says) in [
        (
            vec!["--token", &token],
            "--host HOST[:PORT] or --cluster NAME",
        ),
        (vec!["--host", "payments.svc"], "--token TOKEN"),
        (
            vec!["--token", &token, "--host", "a b"],
            "--host a b: write a host name",
        ),
        (
            vec!["--token", &token, "--host", "p.svc", "--sts", "sts:8080"],
            "--sts sts:8080: write an http:// or https:// URL",
        ),
        (
            vec!["--token", &token, "--host", "p.svc", "--path", "charge"],
            "starts with '/'",
        ),
        (
            vec!["--token", &token, "--host", "p.svc", "extra"],
            "exchange takes no argument extra",
        ),
        (
            vec!["--token", &token, "--host", "p.svc", "--frob"],
            "unknown option --frob",
        ),
    ] {
        let (code, text) = said(&exchange(&config, &args, Some(SECRET)), &[SECRET, &token]);
        assert_eq!(code, Some(2), "{args:?}: {text}");
        assert!(text.contains(says), "{args:?}: {text}");
    }
    let inbound = temp_file("inbound.json", &cases::config().to_string());
    let output = audgate(
        &[
            "exchange", "--config", &inbound, "--token", &token, "--host", "p.svc",
        ],
        None,
    );
    let (code, text) = said(&output, &[&token]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("no configuration in it has an exchange section"),
        "{text}"
    );
}

#[test]
fn check_config_prints_the_destination_table_without_the_vms_secret() {
    let config = exchange_config(
        "https://sts.example/oauth2/token",
        json!({"unmatched": "refuse", "cache_size": 10}),
    );
    let path = temp_file("table.json", &config.to_string());
    for secret in [None, Some(SECRET)] {
        let (code, text) = said(&audgate(&["check-config", &path], secret), &[SECRET]);
        assert_eq!(code, Some(0), "{text}");
        for line in [
            "valid (0 provider(s), 0 rule(s), exchange to 2 destination(s))",
            "exchange: token endpoint https://sts.example/oauth2/token through cluster sts, timeout 1500 ms",
            "exchange: client authentication client_secret_basic, client_id \"orders\"",
            &format!("exchange: client secret read from the VM's environment variable {SECRET_ENV} at start-up (not checked here)"),
            "exchange: outbound token from authorization (prefix \"Bearer \"), sent as subject_token_type urn:ietf:params:oauth:token-type:access_token",
            "exchange: unmatched refuse: the filter refuses the request, 403 (reason exchange_unmatched)",
            "exchange: cache_size 10:",
            "exchange destination 0: hosts [\"payments.svc\", \"ledger.svc:8443\"], prefix /, audience \"payments.svc\", scope \"payments:charge\", requires_token false",
            "exchange destination 1: clusters [\"outbound|8080||ledger\"], prefix /api/, resource \"https://ledger.example/\", requires_token true",
        ] {
            assert!(text.contains(&format!("{path}: {line}")), "{line}: {text}");
        }
        assert!(!text.contains("not read here>"), "the placeholder: {text}");
    }
}

#[test]
fn check_config_prints_exchange_beside_providers_and_each_client_kind() {
    let endpoint = "https://sts.example/token";
    let section = exchange_config(endpoint, json!({"client_secret_env": null}))["exchange"].take();
    let gateway = keys::merged(cases::config(), &json!({"exchange": section}));
    let path = temp_file("gateway.json", &gateway.to_string());
    let (code, text) = said(&audgate(&["check-config", &path], None), &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("valid (1 provider(s), 0 rule(s), exchange to 2 destination(s))"),
        "{text}"
    );
    assert!(
        text.contains("provider orders-idp accepts audiences"),
        "{text}"
    );
    assert!(
        text.contains("client authentication tls_client_auth, client_id \"orders\""),
        "{text}"
    );
    assert!(!text.contains("client secret read"), "{text}");
    let anonymous = exchange_config(
        endpoint,
        json!({"client_id": null, "client_secret_env": null}),
    );
    let path = temp_file("anonymous.json", &anonymous.to_string());
    let (code, text) = said(&audgate(&["check-config", &path], None), &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("client authentication none"), "{text}");
    // The shipped outbound side, its secret the VM's.
    let outbound = concat!(env!("CARGO_MANIFEST_DIR"), "/envoy/outbound.yaml");
    let (code, text) = said(&audgate(&["check-config", outbound], None), &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("Envoy wasm filter audgate-outbound: valid (0 provider(s), 0 rule(s), exchange to 1 destination(s))"),
        "{text}"
    );
    assert!(
        text.contains("environment variable AUDGATE_STS_SECRET at start-up"),
        "{text}"
    );
}

#[test]
fn check_config_names_the_field_of_a_bad_exchange_section() {
    for (extra, says) in [
        (
            json!({"destinations": [{"hosts": ["a.svc"], "clusters": ["a"], "audience": "a"}]}),
            "exchange.destinations[0]: exactly one of hosts",
        ),
        (
            json!({"destinations": [{"hosts": ["a.svc"]}]}),
            "exchange.destinations[0]: needs audience, resource or both",
        ),
        (
            json!({"client_id": null}),
            "exchange.client_secret_env: needs client_id",
        ),
        (
            json!({"client_secret_env": "NOT-A-NAME"}),
            "exchange.client_secret_env: must be an environment variable name",
        ),
        (json!({"unmatched": "drop"}), "exchange.unmatched"),
    ] {
        let config = exchange_config("https://sts.example/token", extra);
        let path = temp_file("bad.json", &config.to_string());
        let (code, text) = said(&audgate(&["check-config", &path], Some(SECRET)), &[SECRET]);
        assert_eq!(code, Some(1), "{says}: {text}");
        assert!(
            text.contains(&format!("{path}: error: {says}")),
            "{says}: {text}"
        );
    }
}

#[test]
fn check_config_warns_when_a_plugins_mode_does_not_fit_what_it_does() {
    let plugin = |mode: Option<&str>, config: &str| {
        let matcher = mode.map_or(String::new(), |mode| {
            format!("  match: [{{mode: {mode}}}]\n")
        });
        format!(
            "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {{name: p, namespace: shop}}\nspec:\n  selector: {{matchLabels: {{app: orders}}}}\n  url: oci://ghcr.io/example/audgate:1.0.0\n  phase: AUTHN\n{matcher}  pluginConfig:\n{config}"
        )
    };
    let exchange = "    exchange:\n      token_endpoint: https://sts.example.com/token\n      cluster: sts\n      destinations: [{hosts: [payments.shop.svc], audience: payments}]\n";
    let providers = "    providers:\n    - name: idp\n      issuer: https://idp.example\n      audiences: [orders]\n      remote_jwks: {uri: https://idp.example/jwks, cluster: idp}\n";
    let cases = [
        (
            Some("SERVER"),
            exchange.to_owned(),
            Some("use mode: CLIENT"),
        ),
        (
            None,
            exchange.to_owned(),
            Some("an exchange plugin wants match: [{mode: CLIENT}]"),
        ),
        (Some("CLIENT"), exchange.to_owned(), None),
        (
            Some("CLIENT"),
            providers.to_owned(),
            Some("not the requests it receives; use SERVER"),
        ),
        (Some("SERVER"), providers.to_owned(), None),
        (
            Some("CLIENT"),
            format!("{providers}{exchange}"),
            Some("give the inbound check a SERVER plugin"),
        ),
    ];
    for (index, (mode, config, warning)) in cases.into_iter().enumerate() {
        let path = temp_file(&format!("mode{index}.yaml"), &plugin(mode, &config));
        let (code, text) = said(&audgate(&["check-config", &path], None), &[]);
        assert_eq!(code, Some(0), "{mode:?}: {text}");
        match warning {
            Some(warning) => assert!(text.contains(warning), "{mode:?}: {text}"),
            None => assert!(!text.contains("warning: spec.match"), "{mode:?}: {text}"),
        }
    }
}
