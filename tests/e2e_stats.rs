//! Envoy stats and rejection logs after known traffic: per-provider and total
//! counters by reason, token-cache hits, JWKS fetches and key-set age, read from
//! the admin `/stats` endpoint; rejection log lines with kid, iss and aud.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use support::cases::{self, claims, AUDIENCE, ISSUER};
use support::jwks_server::JwksServer;
use support::keys::{self, TestKey};
use support::{http, Envoy, Upstream};

/// Every `audgate` stat as name → value (name without Envoy's wasm prefix).
fn stats(envoy: &Envoy) -> HashMap<String, u64> {
    let body = envoy.admin("/stats?filter=audgate").body;
    body.lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(": ")?;
            let name = &name[name.find("audgate")?..];
            Some((name.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

fn call(envoy: &Envoy, token: Option<&str>) -> u16 {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|b| ("authorization", b.as_str()))
        .collect();
    http::get(envoy.port(), "/", &headers).status
}

#[test]
fn counters_by_provider_and_reason_after_known_traffic() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(&cases::config(), upstream.port());
    let good = keys::sign_default(TestKey::Rsa1, claims(json!({})));
    let other = keys::sign_default(TestKey::Rsa1, claims(json!({"aud": "payments.svc"})));
    let expired = keys::sign_default(TestKey::Rsa1, claims(json!({"exp": keys::now() - 3600})));
    let unknown = keys::sign_default(TestKey::Rsa2, claims(json!({})));
    for token in [
        Some(&good),
        Some(&good),
        Some(&good),
        Some(&other),
        Some(&other),
        Some(&expired),
        Some(&unknown),
        None,
    ] {
        call(&envoy, token.map(String::as_str));
    }
    let stats = stats(&envoy);
    let get = |name: &str| {
        stats
            .get(name)
            .copied()
            .unwrap_or_else(|| panic!("no stat {name} in {stats:?}"))
    };
    assert_eq!(get("audgate.allowed"), 3);
    assert_eq!(get("audgate.orders-idp.allowed"), 3);
    assert_eq!(get("audgate.orders-idp.denied.audience"), 2);
    assert_eq!(get("audgate.denied.audience"), 2);
    assert_eq!(get("audgate.orders-idp.denied.expired"), 1);
    assert_eq!(get("audgate.orders-idp.denied.signature"), 1);
    assert_eq!(get("audgate.denied.missing"), 1);
    assert_eq!(get("audgate.orders-idp.denied.issuer"), 0);
    assert_eq!(
        get("audgate.token_cache.miss"),
        1,
        "the good token was verified once"
    );
    assert_eq!(
        get("audgate.token_cache.hit"),
        2,
        "and answered from the cache twice"
    );

    assert!(envoy.wait_for_log("[audience]", Duration::from_secs(5)));
    let log = envoy.log();
    let line = log
        .lines()
        .find(|l| l.contains("audgate: rejected") && l.contains("[audience]"))
        .unwrap();
    assert!(line.contains("kid=\"rsa-1\""), "{line}");
    assert!(
        line.contains(&format!("iss=\"{}\"", cases::ISSUER)),
        "{line}"
    );
    assert!(line.contains("aud=[\"payments.svc\"]"), "{line}");
    assert!(
        !line.contains(other.rsplit('.').next().unwrap()),
        "the signature is logged: {line}"
    );
}

#[test]
fn jwks_fetches_and_key_age_are_counted() {
    let jwks = JwksServer::start(keys::jwks(&[TestKey::Rsa1]));
    let upstream = Upstream::start();
    let config = json!({"providers": [{
        "name": "idp", "issuer": ISSUER, "audiences": [AUDIENCE],
        "remote_jwks": {"uri": "http://idp.test/jwks", "cluster": "jwks", "cache_duration_s": 300},
    }]});
    let envoy = Envoy::builder(&config, upstream.port())
        .jwks_port(jwks.port())
        .start();
    assert_eq!(
        call(
            &envoy,
            Some(&keys::sign_default(TestKey::Rsa1, claims(json!({}))))
        ),
        200
    );
    jwks.serve_raw(500, "down");
    // an unknown kid asks for a refetch, which fails
    assert_eq!(
        call(
            &envoy,
            Some(&keys::sign_default(TestKey::Rsa2, claims(json!({}))))
        ),
        401
    );
    std::thread::sleep(Duration::from_millis(1500));
    let stats = stats(&envoy);
    assert_eq!(
        stats.get("audgate.idp.jwks_fetch.success"),
        Some(&1),
        "{stats:?}"
    );
    assert_eq!(
        stats.get("audgate.idp.jwks_fetch.failure"),
        Some(&1),
        "{stats:?}"
    );
    let age = stats
        .get("audgate.idp.jwks_age_s")
        .copied()
        .unwrap_or(u64::MAX);
    assert!((1..10).contains(&age), "key set age {age} s");
}
