//! A rotated key works on every worker at once. Two workers, two providers on one
//! key set; the key server rotates to new keys of every algorithm family, and
//! fresh tokens sent at once from many connections (so both workers see them)
//! must all pass, with one refetch and no more. The cause of the 401s this
//! guards against: a worker whose copy of the key set was older than shared
//! data's (it reads shared data on its tick) was refused a refetch by the rate
//! limit, since the other worker had just made one, and answered from its stale
//! copy. A worker now re-reads shared data before it answers an unknown `kid`.

mod support;

use serde_json::{json, Value};
use support::cases::{claims, AUDIENCE, ISSUER};
use support::jwks_server::JwksServer;
use support::keys::{self, TestKey};
use support::{http, Envoy, Upstream};

const ADMIN: &str = "orders-admin.svc";
const BEFORE: [TestKey; 2] = [TestKey::Rsa1, TestKey::Ec256];
const AFTER: [TestKey; 3] = [TestKey::Rsa2, TestKey::Ec384, TestKey::Ed];

fn config() -> Value {
    let remote = json!({"uri": "http://idp.test/keys", "cluster": "jwks", "cache_duration_s": 300});
    json!({
        "providers": [
            {"name": "idp", "issuer": ISSUER, "audiences": [AUDIENCE], "remote_jwks": remote},
            {"name": "idp-admin", "issuer": ISSUER, "audiences": [ADMIN], "remote_jwks": remote},
        ],
        "rules": [
            {"match": {"prefix": "/admin"}, "requires": "idp-admin"},
            {"match": {"prefix": "/"}, "requires": "idp"},
        ],
    })
}

/// Status of a request on a new connection (so the kernel spreads them over the
/// workers) with a fresh token of `key` for the route's provider.
fn status(envoy: &Envoy, key: TestKey, admin: bool) -> u16 {
    let (path, aud) = if admin {
        ("/admin", ADMIN)
    } else {
        ("/orders", AUDIENCE)
    };
    let token = keys::sign_default(key, claims(json!({"aud": aud})));
    http::get(
        envoy.port(),
        path,
        &[("authorization", &format!("Bearer {token}"))],
    )
    .status
}

fn one_rotation(round: usize) {
    let jwks = JwksServer::start(keys::jwks(&BEFORE));
    let upstream = Upstream::start();
    let envoy = Envoy::builder(&config(), upstream.port())
        .jwks_port(jwks.port())
        .concurrency(2)
        .start();
    for _ in 0..3 {
        for key in BEFORE {
            for admin in [false, true] {
                assert_eq!(
                    status(&envoy, key, admin),
                    200,
                    "round {round}: before, {key:?}"
                );
            }
        }
    }
    assert_eq!(
        jwks.fetches(),
        1,
        "round {round}: one fetch for both providers and workers"
    );

    jwks.serve_keys(keys::jwks(&AFTER));
    let mut refused = Vec::new();
    for pass in 0..4 {
        for key in AFTER {
            for admin in [false, true] {
                let got = status(&envoy, key, admin);
                if got != 200 {
                    refused.push((pass, key, admin, got));
                }
            }
        }
    }
    assert!(
        refused.is_empty(),
        "round {round}: refused after the rotation: {refused:?}"
    );
    assert_eq!(jwks.fetches(), 2, "round {round}: one refetch, no more");
    upstream.take();
}

#[test]
fn a_rotated_key_works_on_every_worker_at_once_twenty_times() {
    for round in 0..20 {
        one_rotation(round);
    }
}
