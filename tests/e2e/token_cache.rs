//! The verified-token cache and host-native signatures in real Envoy: the host's
//! `verify_signature` is detected and used, a remembered token never outlives
//! its `exp`, and a new key set invalidates tokens verified with the old one.

use std::time::Duration;

use crate::support::cases::{self, claims, AUDIENCE, ISSUER};
use crate::support::jwks_server::JwksServer;
use crate::support::keys::{self, now, TestKey};
use crate::support::{http, Envoy, Upstream};
use serde_json::{json, Value};

fn call(envoy: &Envoy, token: &str) -> u16 {
    http::get(
        envoy.port(),
        "/",
        &[("authorization", &format!("Bearer {token}"))],
    )
    .status
}

#[test]
fn envoy_verify_signature_is_detected_and_decides_the_table() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(&cases::config(), upstream.port());
    assert!(
        envoy.wait_for_log("signatures verified by the host", Duration::from_secs(5)),
        "host-native verification not detected:\n{}",
        envoy.log()
    );
    for case in cases::cases()
        .into_iter()
        .filter(|c| c.name.starts_with("valid ES") || c.name == "bad signature")
    {
        let token = case.token.unwrap();
        assert_eq!(call(&envoy, &token), case.status, "{}", case.name);
        assert_eq!(call(&envoy, &token), case.status, "{} (again)", case.name);
    }
}

#[test]
fn a_remembered_token_never_outlives_its_exp() {
    let mut config = cases::config();
    config["providers"][0]["clock_skew_s"] = json!(0);
    let upstream = Upstream::start();
    let envoy = Envoy::start(&config, upstream.port());
    let token = keys::sign_default(TestKey::Rsa1, claims(json!({"exp": now() + 2})));
    assert_eq!(call(&envoy, &token), 200);
    assert_eq!(call(&envoy, &token), 200);
    std::thread::sleep(Duration::from_millis(3100));
    assert_eq!(call(&envoy, &token), 401);
}

fn remote_config(token_cache_size: u64) -> Value {
    json!({"token_cache_size": token_cache_size, "providers": [{
        "name": "idp", "issuer": ISSUER, "audiences": [AUDIENCE],
        "remote_jwks": {"uri": "http://idp.test/jwks", "cluster": "jwks", "cache_duration_s": 1},
    }]})
}

#[test]
fn a_new_key_set_invalidates_tokens_verified_with_the_old_one() {
    for size in [1000, 0] {
        let jwks = JwksServer::start(keys::jwks(&[TestKey::Rsa1]));
        let upstream = Upstream::start();
        let envoy = Envoy::builder(&remote_config(size), upstream.port())
            .jwks_port(jwks.port())
            .start();
        let token = keys::sign_default(TestKey::Rsa1, claims(json!({})));
        assert_eq!(call(&envoy, &token), 200, "cache size {size}");
        assert_eq!(call(&envoy, &token), 200, "cache size {size}");
        jwks.serve_keys(keys::jwks(&[TestKey::Rsa2]));
        std::thread::sleep(Duration::from_millis(2500));
        assert_eq!(
            call(&envoy, &token),
            401,
            "cache size {size}: rsa-1 was rotated out"
        );
        let rotated = keys::sign_default(TestKey::Rsa2, claims(json!({})));
        assert_eq!(call(&envoy, &rotated), 200, "cache size {size}");
    }
}
