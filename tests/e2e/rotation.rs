//! A rotated key works on every worker at once. Two workers, two providers on one
//! key set; the key server rotates to new keys of every algorithm family, and
//! fresh tokens sent at once from many connections (so both workers see them)
//! must all pass, with one refetch and no more. The cause of the 401s this
//! guards against: a worker whose copy of the key set was older than shared
//! data's (it reads shared data on its tick) was refused a refetch by the rate
//! limit, since the other worker had just made one, and answered from its stale
//! copy. A worker now reads the fetch state, then shared data's key set, before
//! it answers an unknown `kid` (a fetch that had ended by the first read stored
//! its keys before it), and a request that loses the race to ask for the refetch
//! waits for the one the winner asked for. The second test keeps fresh tokens
//! coming from several connections at once across the refetch, so some arrive
//! just as it ends: each must be decided with the new keys or wait for them.

use crate::support::cases::{claims, two_providers_on, ADMIN_AUDIENCE as ADMIN, AUDIENCE, ISSUER};
use crate::support::jwks_server::JwksServer;
use crate::support::keys::{self, TestKey};
use crate::support::{http, Envoy, Upstream};
use serde_json::{json, Value};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const BEFORE: [TestKey; 2] = [TestKey::Rsa1, TestKey::Ec256];
const AFTER: [TestKey; 3] = [TestKey::Rsa2, TestKey::Ec384, TestKey::Ed];

fn config() -> Value {
    let remote = json!({"uri": "http://idp.test/keys", "cluster": "jwks", "cache_duration_s": 300});
    two_providers_on(ISSUER, remote)
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

/// Envoy with two workers on keys `BEFORE`, both providers and workers warmed up.
fn warmed_up(round: usize) -> (JwksServer, Upstream, Envoy) {
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
    (jwks, upstream, envoy)
}

fn one_rotation(round: usize) {
    let (jwks, upstream, envoy) = warmed_up(round);
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

/// Rotates the keys while `SENDERS` connections at once keep sending fresh tokens
/// of the new keys for `ACROSS`: the refetch ends while some of them are being
/// decided.
fn rotation_under_load(round: usize) {
    const SENDERS: usize = 4;
    const ACROSS: Duration = Duration::from_millis(400);
    let (jwks, upstream, envoy) = warmed_up(round);
    jwks.serve_keys(keys::jwks(&AFTER));
    let sent = AtomicUsize::new(0);
    let start = Instant::now();
    let refused: Vec<(TestKey, bool, u16)> = std::thread::scope(|scope| {
        let senders: Vec<_> = (0..SENDERS)
            .map(|sender| {
                let (envoy, sent) = (&envoy, &sent);
                scope.spawn(move || {
                    let mut refused = Vec::new();
                    let mut n = sender;
                    while start.elapsed() < ACROSS {
                        let key = AFTER[n % AFTER.len()];
                        let admin = (n / AFTER.len()) % 2 == 1;
                        let got = status(envoy, key, admin);
                        if got != 200 {
                            refused.push((key, admin, got));
                        }
                        sent.fetch_add(1, Ordering::Relaxed);
                        n += SENDERS;
                    }
                    refused
                })
            })
            .collect();
        senders
            .into_iter()
            .flat_map(|sender| sender.join().expect("a sender panicked"))
            .collect()
    });
    assert!(
        refused.is_empty(),
        "round {round}: refused across the refetch ({} sent): {refused:?}",
        sent.load(Ordering::Relaxed)
    );
    assert_eq!(jwks.fetches(), 2, "round {round}: one refetch, no more");
    assert!(
        sent.load(Ordering::Relaxed) >= SENDERS * 2,
        "round {round}: too few requests to span the refetch"
    );
    upstream.take();
}

#[test]
fn fresh_tokens_sent_at_once_across_a_refetch_all_pass_ten_times() {
    for round in 0..10 {
        rotation_under_load(round);
    }
}
