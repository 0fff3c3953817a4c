//! `audgate mint --dpop-key` and `audgate dpop-proof`: the token is bound to
//! the client's key, and the proof passes the filter's own checks of RFC 9449
//! (`token::dpop::checks`) for the request it names, for every key type.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use audgate::keys::verify::RustCrypto;
use audgate::token::dpop::checks::{check, verify, ProofFailure, ProofRequest, ProofRules};
use audgate::token::dpop::proof::read;
use jsonwebtoken::Algorithm;
use serde_json::Value;

use crate::cli::audgate;
use crate::support::keys::{self, TestKey};
use crate::support::temp;

/// Standard output of a command that must succeed, trimmed.
fn ok(args: &[&str]) -> String {
    let output = audgate(args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Standard error of a command that must fail with usage status 2.
fn usage_error(args: &[&str]) -> String {
    let output = audgate(args);
    assert_eq!(output.status.code(), Some(2), "{args:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A test key's private PEM in this module's scratch directory, written once:
/// tests run in parallel, and a file rewritten while another test's command
/// reads it would be read half-written.
fn pem(key: TestKey) -> String {
    static WRITTEN: Mutex<Vec<(TestKey, String)>> = Mutex::new(Vec::new());
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let mut written = WRITTEN.lock().unwrap();
    if let Some((_, path)) = written.iter().find(|(held, _)| *held == key) {
        return path.clone();
    }
    let path = DIR
        .get_or_init(|| temp::dir("cli-dpop"))
        .join(format!("{}.pem", key.kid()));
    std::fs::write(&path, keys::private_pem(key)).unwrap();
    let path = path.to_str().unwrap().to_owned();
    written.push((key, path.clone()));
    path
}

fn payload(jwt: &str) -> Value {
    serde_json::from_slice(&keys::b64_decode(jwt.split('.').nth(1).unwrap())).unwrap()
}

const ALGORITHMS: [Algorithm; 5] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::EdDSA,
];

/// The filter's checks of `proof` for `method` on `https://api.example.com{path}`
/// with `token`, and the proof's signature.
fn judged(proof: &str, method: &str, path: &str, token: &str) -> Result<(), ProofFailure> {
    let jkt = payload(token)["cnf"]["jkt"].as_str().unwrap().to_owned();
    let origins = vec!["https://api.example.com".to_owned()];
    let request = ProofRequest {
        proofs: &[proof],
        method,
        origins: &origins,
        path,
        access_token: token,
        jkt: &jkt,
        now: keys::now() as i64,
    };
    let rules = ProofRules {
        algorithms: &ALGORITHMS,
        max_age_s: 60,
        skew_s: 5,
        nonces: None,
    };
    verify(&check(&request, &rules)?, &RustCrypto)
}

fn bound_token(client: TestKey) -> String {
    ok(&[
        "mint",
        "--key",
        &pem(TestKey::Rsa1),
        "--iss",
        "https://idp.example",
        "--aud",
        "api",
        "--dpop-key",
        &pem(client),
    ])
}

#[test]
fn a_bound_token_and_its_proof_pass_the_filters_checks_for_every_key_type() {
    for client in [TestKey::Ec256, TestKey::Ec384, TestKey::Rsa1, TestKey::Ed] {
        let token = bound_token(client);
        let proof = ok(&[
            "dpop-proof",
            "--key",
            &pem(client),
            "--method",
            "GET",
            "--url",
            "https://api.example.com/orders/42?page=2",
            "--token",
            &token,
        ]);
        assert_eq!(
            judged(&proof, "GET", "/orders/42", &token),
            Ok(()),
            "{client:?}"
        );
        // It names that request only.
        assert_eq!(
            judged(&proof, "POST", "/orders/42", &token),
            Err(ProofFailure::Method),
            "{client:?}"
        );
        assert_eq!(
            judged(&proof, "GET", "/orders/43", &token),
            Err(ProofFailure::Uri),
            "{client:?}"
        );
        // Another client's token is not bound to this key.
        let other = if client == TestKey::Ed {
            TestKey::Ec256
        } else {
            TestKey::Ed
        };
        assert_eq!(
            judged(&proof, "GET", "/orders/42", &bound_token(other)),
            Err(ProofFailure::Thumbprint),
            "{client:?}"
        );
    }
}

#[test]
fn each_proof_is_new_and_carries_what_it_was_given() {
    let token = bound_token(TestKey::Ec256);
    let key = pem(TestKey::Ec256);
    let make = |extra: &[&str]| {
        let mut args = vec![
            "dpop-proof",
            "--key",
            &key,
            "--method",
            "DELETE",
            "--url",
            "https://api.example.com/a#frag",
        ];
        args.extend_from_slice(extra);
        ok(&args)
    };
    let (first, second) = (make(&[]), make(&[]));
    let (first, second) = (read(&first).unwrap(), read(&second).unwrap());
    assert_ne!(first.jti, second.jti, "a fresh jti each time");
    assert_eq!(
        (first.typ.as_str(), first.alg.as_str()),
        ("dpop+jwt", "ES256")
    );
    assert_eq!(
        (first.htm.as_str(), first.htu.as_str()),
        ("DELETE", "https://api.example.com/a")
    );
    assert_eq!((first.ath, first.nonce), (None, None));
    assert!(!first.jwk.contains_key("d"), "the public key only");
    assert!((keys::now() as i64 - first.iat).abs() <= 5);
    let with = make(&["--token", &token, "--nonce", "server-nonce-1"]);
    let with = read(&with).unwrap();
    assert_eq!(with.nonce.as_deref(), Some("server-nonce-1"));
    assert!(with.ath.is_some());
    // An RSA key signs PS256 when asked.
    let pss = ok(&[
        "dpop-proof",
        "--key",
        &pem(TestKey::Rsa1),
        "--method",
        "GET",
        "--url",
        "https://api.example.com/",
        "--alg",
        "PS256",
    ]);
    assert_eq!(read(&pss).unwrap().alg, "PS256");
}

#[test]
fn mistakes_are_named() {
    let key = pem(TestKey::Ec256);
    let missing = usage_error(&["dpop-proof", "--key", &key, "--method", "GET"]);
    assert!(missing.contains("dpop-proof needs --url URL"), "{missing}");
    let relative = usage_error(&[
        "dpop-proof",
        "--key",
        &key,
        "--method",
        "GET",
        "--url",
        "/orders",
    ]);
    assert!(
        relative.contains("--url /orders: write the request's absolute http(s) URL"),
        "{relative}"
    );
    let alg = usage_error(&[
        "dpop-proof",
        "--key",
        &key,
        "--method",
        "GET",
        "--url",
        "https://h/",
        "--alg",
        "RS256",
    ]);
    assert!(
        alg.contains("--alg RS256: this P256 key signs with ES256"),
        "{alg}"
    );
    let method = usage_error(&[
        "dpop-proof",
        "--key",
        &key,
        "--method",
        "G T",
        "--url",
        "https://h/",
    ]);
    assert!(method.contains("write an HTTP method"), "{method}");
    let help = ok(&["dpop-proof", "--help"]);
    assert!(help.contains("FOR LOCAL TESTING ONLY"));
    assert!(ok(&["--help"]).contains("audgate dpop-proof --key FILE"));
}

#[test]
fn check_config_says_what_a_dpop_provider_asks() {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let path = DIR
        .get_or_init(|| temp::dir("cli-dpop-config"))
        .join("dpop.json");
    let config = serde_json::json!({"providers": [{
        "name": "api", "issuer": "https://login.example.com", "audiences": ["https://api.example.com"],
        "remote_jwks": {"uri": "https://login.example.com/jwks", "cluster": "login"},
        "dpop": {"required": true, "algorithms": ["ES256", "Ed25519"], "max_age_s": 30,
                 "origins": ["https://API.example.com:443"], "nonce_secret_env": "DPOP_SECRET"},
    }]});
    std::fs::write(&path, config.to_string()).unwrap();
    let path = path.to_str().unwrap();
    let out = ok(&["check-config", path]);
    assert!(
        out.contains(&format!(
            "{path}: provider api: dpop: every token must be DPoP-bound; proofs ES256 EdDSA within 30 s, \
             htu at https://api.example.com; replay store of 100000 proofs; server nonces on \
             (secret from the VM's environment)"
        )),
        "{out}"
    );
    assert!(!out.contains("not read here>"), "the placeholder: {out}");
}

/// A configuration file for the test issuer (Rsa1) with `dpop` as given.
fn dpop_config(dpop: serde_json::Value) -> String {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    static SERIAL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SERIAL.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let path = DIR
        .get_or_init(|| temp::dir("cli-dpop-verify"))
        .join(format!("config-{n}.json"));
    let config = serde_json::json!({"providers": [{
        "name": "api", "issuer": "https://idp.example", "audiences": ["api"],
        "local_jwks": keys::jwks(&[TestKey::Rsa1]), "dpop": dpop,
    }]});
    std::fs::write(&path, config.to_string()).unwrap();
    path.to_str().unwrap().to_owned()
}

fn verify_with_env(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_audgate"));
    command
        .arg("verify")
        .args(args)
        .stdin(std::process::Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code(), text)
}

#[test]
fn verify_checks_a_whole_dpop_request_offline() {
    let url = "https://api.example.com/orders/1?page=2";
    let token = bound_token(TestKey::Ec256);
    let make_proof = |method: &str, extra: &[&str]| {
        let key = pem(TestKey::Ec256);
        let mut args = vec![
            "dpop-proof",
            "--key",
            &key,
            "--method",
            method,
            "--url",
            url,
            "--token",
            &token,
        ];
        args.extend_from_slice(extra);
        ok(&args)
    };
    let config = dpop_config(serde_json::json!({}));
    let proof = make_proof("GET", &[]);
    let (status, out) = verify_with_env(
        &["--config", &config, "--url", url, "--dpop", &proof, &token],
        &[],
    );
    assert_eq!(status, Some(0), "{out}");
    assert!(out.starts_with("200 allowed (provider api)"), "{out}");
    assert!(
        out.contains("removes dpop"),
        "the proof goes nowhere: {out}"
    );
    // A proof for another method: refused with the DPoP challenge.
    let post = make_proof("POST", &[]);
    let (status, out) = verify_with_env(
        &["--config", &config, "--url", url, "--dpop", &post, &token],
        &[],
    );
    assert_eq!(status, Some(1), "{out}");
    assert!(
        out.contains("401 refused (provider api)") && out.contains("[dpop]"),
        "{out}"
    );
    assert!(
        out.contains(
            "www-authenticate: DPoP realm=\"api.example.com\", error=\"invalid_dpop_proof\""
        ),
        "{out}"
    );
    // The bound token as a bearer token.
    let (status, out) = verify_with_env(&["--config", &config, "--url", url, &token], &[]);
    assert_eq!(status, Some(1), "{out}");
    assert!(out.contains("presented without the DPoP scheme"), "{out}");
    // With nonces, the secret from the environment: a nonce is handed out, and
    // the proof that carries it passes.
    let config = dpop_config(serde_json::json!({"nonce_secret_env": "CLI_DPOP_SECRET"}));
    let secret = [("CLI_DPOP_SECRET", "a-nonce-secret-for-the-cli-test-32b+")];
    let (status, out) = verify_with_env(
        &["--config", &config, "--url", url, "--dpop", &proof, &token],
        &secret,
    );
    assert_eq!(status, Some(1), "{out}");
    assert!(
        out.contains("[dpop_nonce]") && out.contains("use_dpop_nonce"),
        "{out}"
    );
    let nonce = out
        .lines()
        .find_map(|line| line.trim().strip_prefix("response header dpop-nonce: "))
        .expect("a nonce handed out")
        .to_owned();
    let with_nonce = make_proof("GET", &["--nonce", &nonce]);
    let (status, out) = verify_with_env(
        &[
            "--config",
            &config,
            "--url",
            url,
            "--dpop",
            &with_nonce,
            &token,
        ],
        &secret,
    );
    assert_eq!(status, Some(0), "{out}");
    let (status, out) = verify_with_env(
        &[
            "--config",
            &config,
            "--url",
            url,
            "--dpop",
            &with_nonce,
            &token,
        ],
        &[],
    );
    assert_eq!(status, Some(2), "no secret in the environment: {out}");
    assert!(out.contains("CLI_DPOP_SECRET"), "{out}");
}
