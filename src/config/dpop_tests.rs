//! A provider's `dpop` section: the contract's defaults, and each refusal in
//! the user's words.

use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

use super::compile_dpop;
use crate::config::{Config, ConfigError, Lookups};
use crate::token::dpop::nonce::NonceVerdict;
use crate::token::dpop::settings::Dpop;

const SECRET: &str = "a-nonce-secret-of-more-than-32-bytes!";

fn config_json(dpop: Value) -> Value {
    json!({"providers": [{
        "name": "idp",
        "issuer": "https://idp.example",
        "audiences": ["api"],
        "local_jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]},
        "dpop": dpop,
    }]})
}

fn env(name: &str) -> Option<String> {
    match name {
        "DPOP_SECRET" => Some(SECRET.to_owned()),
        "SHORT_SECRET" => Some("too short".to_owned()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

/// The whole configuration with `dpop` as its provider's section.
fn compile(dpop: Value) -> Result<Config, ConfigError> {
    let lookups = Lookups {
        node: &|_| None,
        env: &env,
    };
    Config::from_json_in(config_json(dpop).to_string().as_bytes(), &lookups)
}

/// The section compiled on its own.
fn dpop(section: Value) -> Dpop {
    let raw = serde_json::from_value(section).unwrap();
    compile_dpop("providers[0]", raw, &env).unwrap()
}

fn error(section: Value) -> String {
    compile(section).map(|_| ()).unwrap_err().to_string()
}

#[test]
fn an_empty_section_takes_the_contracts_defaults() {
    let dpop = dpop(json!({}));
    assert!(!dpop.required);
    assert_eq!(
        dpop.algorithms,
        [
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::EdDSA
        ]
    );
    assert_eq!(dpop.algs(), "ES256 ES384 RS256 PS256 EdDSA");
    assert_eq!((dpop.max_age_s, dpop.replay_store_size), (60, 100_000));
    assert_eq!(dpop.origins, None);
    assert!(dpop.nonces.is_none());
}

#[test]
fn a_provider_with_dpop_also_takes_the_dpop_scheme() {
    let config = compile(json!({"required": true})).unwrap();
    let provider = &config.providers[0];
    assert!(provider.dpop.as_ref().unwrap().required);
    let schemes: Vec<&str> = provider
        .from_headers
        .iter()
        .filter(|source| source.name == "authorization")
        .map(|source| source.value_prefix.as_str())
        .collect();
    assert_eq!(schemes, ["Bearer ", "DPoP "]);
    let mut plain = config_json(json!({}));
    plain["providers"][0]
        .as_object_mut()
        .unwrap()
        .remove("dpop");
    let plain = Config::from_json(plain.to_string().as_bytes()).unwrap();
    assert!(plain.providers[0].dpop.is_none());
    assert_eq!(plain.providers[0].from_headers.len(), 1);
}

#[test]
fn algorithms_are_asymmetric_and_ed25519_is_eddsa() {
    let dpop = dpop(json!({"algorithms": ["Ed25519", "ES256", "EdDSA"]}));
    assert_eq!(dpop.algorithms, [Algorithm::EdDSA, Algorithm::ES256]);
    assert!(error(json!({"algorithms": ["HS256"]}))
        .contains("providers[0].dpop.algorithms[0]: HS256 is not accepted for DPoP proofs"));
    assert!(error(json!({"algorithms": ["ES256", "none"]}))
        .starts_with("providers[0].dpop.algorithms[1]"));
    assert!(error(json!({"algorithms": ["ES257"]})).contains("ES257"));
    assert!(error(json!({"algorithms": []})).starts_with("providers[0].dpop.algorithms"));
    let nine = vec!["ES256"; 9];
    assert!(error(json!({"algorithms": nine})).contains("providers[0].dpop.algorithms"));
}

#[test]
fn ranges_are_the_contracts() {
    for (field, low, high) in [
        ("max_age_s", 0, 601),
        ("replay_store_size", 999, 1_000_001),
        ("nonce_lifetime_s", 9, 3601),
    ] {
        for value in [low, high] {
            let message = error(json!({ field: value }));
            assert!(
                message.starts_with(&format!("providers[0].dpop.{field}")),
                "{field} {value}: {message}"
            );
        }
    }
    let dpop = dpop(json!({"max_age_s": 600, "replay_store_size": 1000}));
    assert_eq!((dpop.max_age_s, dpop.replay_store_size), (600, 1000));
}

#[test]
fn origins_are_normalised_and_only_origins() {
    let dpop = dpop(json!({"origins": ["HTTPS://API.Example.com:443", "http://h:8080/"]}));
    assert_eq!(
        dpop.origins.unwrap(),
        ["https://api.example.com", "http://h:8080"]
    );
    for bad in [
        "https://h/api",
        "https://h?x=1",
        "h.example",
        "ftp://h",
        "https://",
    ] {
        let message = error(json!({"origins": [bad]}));
        assert!(
            message.starts_with("providers[0].dpop.origins[0]: must be an origin"),
            "{bad}: {message}"
        );
    }
    assert!(error(json!({"origins": []})).starts_with("providers[0].dpop.origins"));
}

#[test]
fn the_nonce_secret_comes_from_the_environment_and_is_long_enough() {
    let dpop = dpop(json!({"nonce_secret_env": "DPOP_SECRET", "nonce_lifetime_s": 60}));
    let nonces = dpop.nonces.as_ref().unwrap();
    let nonce = nonces.issue(1000);
    assert_eq!(
        nonces.judge(Some(&nonce), 1059, 0),
        NonceVerdict::Current { stale: true }
    );
    assert_eq!(
        nonces.judge(Some(&nonce), 1060, 0),
        NonceVerdict::NotCurrent
    );
    assert!(
        !format!("{dpop:?}").contains(SECRET),
        "Debug hides the secret"
    );

    let missing = error(json!({"nonce_secret_env": "NOT_SET"}));
    assert!(missing.contains("providers[0].dpop.nonce_secret_env") && missing.contains("NOT_SET"));
    assert!(error(json!({"nonce_secret_env": "EMPTY"})).contains("no variable EMPTY"));
    let short = error(json!({"nonce_secret_env": "SHORT_SECRET"}));
    assert!(short.contains("at least 32 bytes"), "{short}");
    assert!(
        !short.contains("too short"),
        "the secret is never shown: {short}"
    );
    assert!(error(json!({"nonce_secret_env": "not a name"})).contains("environment variable name"));
}

#[test]
fn unknown_fields_are_named() {
    let message = error(json!({"require": true}));
    assert!(message.contains("require"), "{message}");
    assert!(message.contains("providers[0].dpop"), "{message}");
}
