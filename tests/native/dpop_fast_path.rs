//! The cache-hit fast path (`fast_path::cached_pass`) on DPoP-bound requests,
//! against the full decision: a bound token cached by the full path, then each
//! request variant (a good proof, each way a proof can be wrong, the wrong
//! scheme, two proofs, nonces current, stale and missing, the request's own
//! origin and `dpop.origins`) decided by both on clones of that cache. Where the
//! fast path answers, its decision (the proof it accepted included) and the
//! cache it leaves equal the full path's; where it declines, the full decision
//! after it equals one without it. It must answer the good proofs and decline
//! the rest, or this test could pass on a fast path that never fires.

use std::cell::RefCell;

use audgate::config::Config;
use audgate::decision::fast_path::cached_pass;
use audgate::decision::{decide, Decision, LocalKeys, Verifier};
use audgate::keys::verify::RustCrypto;
use audgate::request::header_map::{serialize, HeaderMap};
use audgate::request::Request;
use audgate::token::cache::TokenCache;
use audgate::token::dpop::checks::token_hash;
use serde_json::{json, Value};

use crate::dpop_decision::{bound_token, config};
use crate::support::keys::{self, now, TestKey};

const AUTHORITY: &str = "api.example.com";
const OWN_URL: &str = "https://api.example.com/orders/1";
const LISTED_URL: &str = "https://public.example.com/orders/1";
/// A proof by `client` for `GET url` and `token`, `extra` merged into its
/// claims; `jti` names it.
fn proof(client: TestKey, url: &str, token: &str, jti: &str, extra: Value) -> String {
    let claims = keys::merged(
        json!({"jti": jti, "htm": "GET", "htu": url, "iat": now(), "ath": token_hash(token)}),
        &extra,
    );
    let header = json!({"typ": "dpop+jwt", "jwk": keys::bare_jwk(client)});
    keys::sign(client.default_alg(), client, header, claims)
}

fn pairs(authorization: &str, proofs: &[String]) -> Vec<(String, String)> {
    let mut headers = vec![
        (":method".to_owned(), "GET".to_owned()),
        (":scheme".to_owned(), "https".to_owned()),
        (":authority".to_owned(), AUTHORITY.to_owned()),
        (":path".to_owned(), "/orders/1?page=2".to_owned()),
        ("authorization".to_owned(), authorization.to_owned()),
    ];
    for proof in proofs {
        headers.push(("dpop".to_owned(), proof.clone()));
    }
    headers
}

fn full(config: &Config, headers: &[(String, String)], cache: &RefCell<TokenCache>) -> Decision {
    let keys = LocalKeys(config);
    let verifier = Verifier {
        keys: &keys,
        signatures: &RustCrypto,
        cache: Some(cache),
        introspections: &audgate::keys::introspection::vouched::NoIntrospections,
        now: now() as i64,
    };
    decide(config, &Request::from_headers(headers), &verifier)
}

/// Both paths on `headers` after `warm`; whether the fast path answered.
fn compare(config: &Config, warm: &TokenCache, label: &str, headers: &[(String, String)]) -> bool {
    let bytes = serialize(headers).unwrap();
    let map = HeaderMap::parse(&bytes).unwrap();
    let keys = LocalKeys(config);
    let fast_cache = RefCell::new(warm.clone());
    let verifier = Verifier {
        keys: &keys,
        signatures: &RustCrypto,
        cache: Some(&fast_cache),
        introspections: &audgate::keys::introspection::vouched::NoIntrospections,
        now: now() as i64,
    };
    let fast = cached_pass(config, &map, &verifier);
    let full_cache = RefCell::new(warm.clone());
    let whole = full(config, headers, &full_cache);
    match &fast {
        Some(fast) => {
            assert_eq!(fast, &whole, "{label}");
            assert!(fast.verdict.is_ok() && fast.proof.is_some(), "{label}");
            assert!(fast_cache == full_cache, "{label}: the caches differ");
        }
        None => {
            let after_cache = RefCell::new(fast_cache.borrow().clone());
            let after = full(config, headers, &after_cache);
            assert_eq!(after, whole, "{label}: the declining fast path changed it");
            assert!(after_cache == full_cache, "{label}: the caches differ");
        }
    }
    fast.is_some()
}

/// The cache after the full path verified `token` once (with its own proof).
fn warmed(config: &Config, token: &str, url: &str) -> TokenCache {
    let cache = RefCell::new(TokenCache::new(16));
    let first = proof(TestKey::Ec256, url, token, "warm", json!({}));
    let decision = full(config, &pairs(&format!("DPoP {token}"), &[first]), &cache);
    assert_eq!(decision.verdict, Ok(()), "the warming request passes");
    cache.into_inner()
}

#[test]
fn a_good_proof_is_answered_on_the_fast_path_as_the_full_decision_answers_it() {
    for (dpop, url) in [
        (json!({}), OWN_URL),
        (
            json!({"origins": ["https://public.example.com"]}),
            LISTED_URL,
        ),
    ] {
        let config = config(dpop);
        let token = bound_token(TestKey::Ec256);
        let warm = warmed(&config, &token, url);
        let good = proof(TestKey::Ec256, url, &token, "good", json!({}));
        let dpop_scheme = format!("DPoP {token}");
        assert!(
            compare(&config, &warm, url, &pairs(&dpop_scheme, &[good])),
            "the fast path answers a good proof ({url})"
        );
    }
}

#[test]
fn every_wrong_proof_is_left_to_the_full_decision() {
    let config = config(json!({}));
    let token = bound_token(TestKey::Ec256);
    let warm = warmed(&config, &token, OWN_URL);
    let dpop_scheme = format!("DPoP {token}");
    let good = |jti: &str| proof(TestKey::Ec256, OWN_URL, &token, jti, json!({}));
    let variants: Vec<(&str, String, Vec<String>)> = vec![
        ("no proof", dpop_scheme.clone(), vec![]),
        (
            "two proofs",
            dpop_scheme.clone(),
            vec![good("a"), good("b")],
        ),
        (
            "as a bearer token",
            format!("Bearer {token}"),
            vec![good("c")],
        ),
        (
            "another origin",
            dpop_scheme.clone(),
            vec![proof(TestKey::Ec256, LISTED_URL, &token, "d", json!({}))],
        ),
        (
            "another method",
            dpop_scheme.clone(),
            vec![proof(
                TestKey::Ec256,
                OWN_URL,
                &token,
                "e",
                json!({"htm": "POST"}),
            )],
        ),
        (
            "another token",
            dpop_scheme.clone(),
            vec![proof(TestKey::Ec256, OWN_URL, "other", "f", json!({}))],
        ),
        (
            "another key",
            dpop_scheme.clone(),
            vec![proof(TestKey::Ed, OWN_URL, &token, "g", json!({}))],
        ),
        (
            "too old",
            dpop_scheme.clone(),
            vec![proof(
                TestKey::Ec256,
                OWN_URL,
                &token,
                "h",
                json!({"iat": now() - 600}),
            )],
        ),
        (
            "a forged signature",
            dpop_scheme.clone(),
            vec![{
                let good = good("i");
                let (input, _) = good.rsplit_once('.').unwrap();
                format!("{input}.{}", keys::b64(&[7u8; 64]))
            }],
        ),
    ];
    for (label, authorization, proofs) in &variants {
        assert!(
            !compare(&config, &warm, label, &pairs(authorization, proofs)),
            "{label}: the fast path must decline"
        );
    }
}

#[test]
fn nonces_a_current_one_is_fast_a_stale_or_missing_one_is_the_full_decisions() {
    let config = config(json!({"nonce_secret_env": "DPOP_NONCE_SECRET", "nonce_lifetime_s": 300}));
    let nonces = config.providers[0]
        .dpop
        .as_ref()
        .unwrap()
        .nonces
        .clone()
        .unwrap();
    let token = bound_token(TestKey::Ec256);
    let dpop_scheme = format!("DPoP {token}");
    let with_nonce = |jti: &str, nonce: &str| {
        proof(
            TestKey::Ec256,
            OWN_URL,
            &token,
            jti,
            json!({"nonce": nonce}),
        )
    };
    // Warmed with a current nonce.
    let cache = RefCell::new(TokenCache::new(16));
    let current = nonces.issue(now() as i64);
    let warming = pairs(&dpop_scheme, &[with_nonce("warm", &current)]);
    assert_eq!(full(&config, &warming, &cache).verdict, Ok(()));
    let warm = cache.into_inner();
    let fresh = pairs(&dpop_scheme, &[with_nonce("fresh", &current)]);
    assert!(compare(&config, &warm, "a current nonce", &fresh));
    // Past half its life: the full decision offers the next one on the 200.
    let stale = nonces.issue(now() as i64 - 200);
    let aging = pairs(&dpop_scheme, &[with_nonce("stale", &stale)]);
    assert!(!compare(&config, &warm, "a stale nonce", &aging));
    let offered = full(&config, &aging, &RefCell::new(warm.clone()));
    assert_eq!(offered.verdict, Ok(()));
    assert!(
        offered.dpop.unwrap().nonce.is_some(),
        "a fresh nonce offered"
    );
    let bare = pairs(
        &dpop_scheme,
        &[proof(TestKey::Ec256, OWN_URL, &token, "bare", json!({}))],
    );
    assert!(!compare(&config, &warm, "no nonce", &bare));
}
