//! DPoP-bound tokens (RFC 9449) through real Envoy with two workers: a bound
//! token with a fresh proof passes and neither the token nor the proof reaches
//! the upstream; a proof sent again, over new connections so both workers see
//! it, is accepted once; a bound token presented as Bearer, a proof for another
//! request and a missing nonce are refused with their `DPoP` challenges, a
//! nonce the filter handed out is accepted, and one past half its life is
//! answered with a fresh one on the 200.

use serde_json::{json, Value};

use crate::support::http::{self, Response};
use crate::support::keys::{self, now, TestKey};
use crate::support::{envoy_yaml, prometheus, Envoy, Upstream};
use audgate::token::dpop::checks::token_hash;
use audgate::token::dpop::nonce::Nonces;
use audgate::token::dpop::thumbprint::thumbprint;

const ISSUER: &str = "https://idp.test";
const AUDIENCE: &str = "api.example.com";
const HOST: &str = "api.example.com";
/// What a proof names for `GET /orders/1` through the test's plain-HTTP listener.
const URL: &str = "http://api.example.com/orders/1";
pub(crate) const NONCE_ENV: &str = "AUDGATE_DPOP_NONCE_SECRET";

/// envoy/envoy.yaml with the nonce secret copied into the VM's environment.
pub(crate) fn with_nonce_env() -> String {
    envoy_yaml::with_host_env(&envoy_yaml::template(), &[NONCE_ENV])
}

fn config(dpop: Value) -> Value {
    json!({"providers": [{
        "name": "idp",
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "local_jwks": keys::jwks(&[TestKey::Rsa1]),
        "dpop": dpop,
    }]})
}

fn bound_token(client: TestKey) -> String {
    let jkt = thumbprint(keys::bare_jwk(client).as_object().unwrap()).unwrap();
    let now = now();
    keys::sign_default(
        TestKey::Rsa1,
        json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 600,
               "cnf": {"jkt": jkt}}),
    )
}

fn proof(client: TestKey, htm: &str, token: &str, extra: Value) -> String {
    let claims = keys::merged(
        json!({"jti": format!("{}-{}", now(), rand_suffix()), "htm": htm, "htu": URL,
               "iat": now(), "ath": token_hash(token)}),
        &extra,
    );
    let header = json!({"typ": "dpop+jwt", "jwk": keys::bare_jwk(client), "kid": null});
    keys::sign(client.default_alg(), client, header, claims)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

fn call(envoy: &Envoy, authorization: &str, proof: Option<&str>) -> Response {
    let mut headers = vec![("host", HOST), ("authorization", authorization)];
    if let Some(proof) = proof {
        headers.push(("dpop", proof));
    }
    http::get(envoy.port(), "/orders/1", &headers)
}

fn challenge(response: &Response) -> Vec<String> {
    response
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("www-authenticate"))
        .map(|(_, value)| value.clone())
        .collect()
}

#[test]
fn a_bound_token_with_a_fresh_proof_passes_and_a_replay_is_refused_on_any_worker() {
    let upstream = Upstream::start();
    let envoy = Envoy::builder(&config(json!({})), upstream.port())
        .concurrency(2)
        .start();
    let token = bound_token(TestKey::Ec256);
    let dpop = format!("DPoP {token}");
    let good = proof(TestKey::Ec256, "GET", &token, json!({}));
    assert_eq!(call(&envoy, &dpop, Some(&good)).status, 200);
    let seen = upstream.take();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].header("authorization"),
        None,
        "the token stays here"
    );
    assert_eq!(seen[0].header("dpop"), None, "and so does its proof");
    // The same proof again, over ten new connections: never accepted again.
    for attempt in 0..10 {
        let replay = call(&envoy, &dpop, Some(&good));
        assert_eq!(replay.status, 401, "attempt {attempt}");
        assert_eq!(
            challenge(&replay),
            ["DPoP realm=\"api.example.com\", error=\"invalid_dpop_proof\", algs=\"ES256 ES384 RS256 PS256 EdDSA\""]
        );
    }
    assert_eq!(upstream.count(), 0);
    // Each new proof of the client passes, on whichever worker.
    for _ in 0..6 {
        let fresh = proof(TestKey::Ec256, "GET", &token, json!({}));
        assert_eq!(call(&envoy, &dpop, Some(&fresh)).status, 200);
    }
    let stats = envoy.admin_until("/stats", |body| {
        body.contains("reason=.=dpop;.;audgate_requests_total: 10")
    });
    assert!(
        stats.contains("reason=.=dpop;.;audgate_requests_total: 10"),
        "{stats}"
    );
    let proofs = |result: &str, count: u64| {
        format!("audgate_dpop_proofs_total{{provider=\"idp\",result=\"{result}\"}} {count}")
    };
    let expected = [
        proofs("accepted", 7),
        proofs("replayed", 10),
        proofs("refused", 0),
        proofs("store_full", 0),
        proofs("nonce_issued", 0),
    ];
    let holds = |body: &str| {
        let series = prometheus::audgate_series(body);
        expected.iter().all(|line| {
            let (name, value) = line.rsplit_once(' ').unwrap();
            series.get(name).map(u64::to_string).as_deref() == Some(value)
        })
    };
    let body = envoy.admin_until("/stats/prometheus", holds);
    assert!(holds(&body), "{expected:?} in\n{body}");
}

#[test]
fn misbound_tokens_and_wrong_proofs_are_refused_with_their_challenges() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(&config(json!({"algorithms": ["ES256"]})), upstream.port());
    let token = bound_token(TestKey::Ec256);
    // A bound token presented as Bearer: Bearer's challenge, then DPoP's offer.
    let as_bearer = call(&envoy, &format!("Bearer {token}"), None);
    assert_eq!(as_bearer.status, 401);
    assert_eq!(
        challenge(&as_bearer),
        [
            "Bearer realm=\"api.example.com\", error=\"invalid_token\"",
            "DPoP realm=\"api.example.com\", algs=\"ES256\""
        ]
    );
    // A proof for another method.
    let post = proof(TestKey::Ec256, "POST", &token, json!({}));
    let wrong = call(&envoy, &format!("DPoP {token}"), Some(&post));
    assert_eq!(wrong.status, 401);
    assert!(challenge(&wrong)[0].contains("invalid_dpop_proof"));
    // No token: both schemes offered.
    let none = http::get(envoy.port(), "/orders/1", &[("host", HOST)]);
    assert_eq!(none.status, 401);
    assert_eq!(
        challenge(&none),
        [
            "Bearer realm=\"api.example.com\"",
            "DPoP realm=\"api.example.com\", algs=\"ES256\""
        ]
    );
    assert_eq!(upstream.count(), 0);
}

#[test]
fn a_nonce_handed_out_on_a_401_is_accepted_and_survives_a_restart_with_the_same_secret() {
    let secret = "an-e2e-nonce-secret-of-more-than-32-bytes";
    let config = config(json!({"nonce_secret_env": NONCE_ENV}));
    let upstream = Upstream::start();
    let envoy = Envoy::builder(&config, upstream.port())
        .template(&with_nonce_env())
        .env(NONCE_ENV, secret)
        .start();
    let token = bound_token(TestKey::Ed);
    let dpop = format!("DPoP {token}");
    let bare = proof(TestKey::Ed, "GET", &token, json!({}));
    let asked = call(&envoy, &dpop, Some(&bare));
    assert_eq!(asked.status, 401);
    assert!(challenge(&asked)[0].contains("error=\"use_dpop_nonce\""));
    let nonce = asked.header("dpop-nonce").expect("a DPoP-Nonce").to_owned();
    let with_nonce = |nonce: &str| proof(TestKey::Ed, "GET", &token, json!({"nonce": nonce}));
    assert_eq!(call(&envoy, &dpop, Some(&with_nonce(&nonce))).status, 200);
    drop(envoy);
    // Another Envoy with the same secret accepts it; one with another does not.
    let same = Envoy::builder(&config, upstream.port())
        .template(&with_nonce_env())
        .env(NONCE_ENV, secret)
        .start();
    let current = call(&same, &dpop, Some(&with_nonce(&nonce)));
    assert_eq!(current.status, 200);
    assert_eq!(
        current.header("dpop-nonce"),
        None,
        "its nonce is still young"
    );
    // A nonce past half its life (300 s): the 200 brings a fresh one (§8.2).
    let stale = Nonces::new(secret.as_bytes().to_vec(), 300).issue(now() as i64 - 200);
    let aging = call(&same, &dpop, Some(&with_nonce(&stale)));
    assert_eq!(aging.status, 200);
    let fresh = aging
        .header("dpop-nonce")
        .expect("a fresh DPoP-Nonce")
        .to_owned();
    assert_ne!(fresh, stale);
    let next = call(&same, &dpop, Some(&with_nonce(&fresh)));
    assert_eq!((next.status, next.header("dpop-nonce")), (200, None));
    drop(same);
    let other = Envoy::builder(&config, upstream.port())
        .template(&with_nonce_env())
        .env(NONCE_ENV, "another-e2e-nonce-secret-of-32-bytes-or-more")
        .start();
    let refused = call(&other, &dpop, Some(&with_nonce(&nonce)));
    assert_eq!(refused.status, 401);
    assert!(challenge(&refused)[0].contains("use_dpop_nonce"));
    assert!(refused.header("dpop-nonce").is_some());
}
