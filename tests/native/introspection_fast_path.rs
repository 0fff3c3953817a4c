//! The cache-hit fast path (`fast_path::cached_pass`) on tokens of a provider
//! with `introspection`, against the full decision: each request variant is
//! decided by both with clones of one worker's answers. Where the fast path
//! answers, its decision and the answers it leaves equal the full path's;
//! where it declines, the full decision after it equals one without it. It must
//! answer the plain reused active token, or this test could pass on a fast
//! path that never fires.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use audgate::config::Config;
use audgate::decision::fast_path::cached_pass;
use audgate::decision::{decide, Decision, LocalKeys, Verifier};
use audgate::keys::introspection::answer::Inactive;
use audgate::keys::introspection::vouched::{Answers, AnswersAtHand, Vouched};
use audgate::keys::verify::RustCrypto;
use audgate::oauth::cache_key::KeyHasher;
use audgate::request::header_map::{serialize, HeaderMap};
use audgate::request::Request;
use serde_json::{json, Value};

use crate::support::keys::{self, now};

const GOOD: &str = "opaque-good-token";

fn config() -> Config {
    Config::from_json(
        json!({"providers": [{
            "name": "as",
            "issuer": "https://as.test",
            "audiences": ["orders.svc"],
            "introspection": {"uri": "https://as.test/introspect", "cluster": "as", "client_id": "orders-api"},
            "claim_to_headers": [{"claim": "sub", "header": "x-user"}],
            "forward_payload_header": "x-payload",
        }],
        "rules": [
            {"match": {"prefix": "/admin"}, "requires": {"provider": "as", "audiences": ["orders-admin.svc"]}},
            {"match": {"prefix": "/scoped"}, "requires": {"provider": "as", "claims": {"scope": "orders:write"}}},
            {"match": {"prefix": "/"}, "requires": "as"},
        ]})
        .to_string()
        .as_bytes(),
    )
    .unwrap()
}

fn answer(extra: Value) -> Vouched {
    let now = now() as i64;
    let claims = keys::merged(
        json!({"active": true, "aud": "orders.svc", "sub": "alice", "scope": "orders:read", "exp": now + 300}),
        &extra,
    );
    Vouched::Active(Rc::new(claims.as_object().unwrap().clone()))
}

/// A worker's answers: the good token and a few others.
fn warm() -> Answers {
    let mut answers = Answers::with_hasher(16, KeyHasher::with_key(7, 11));
    let now = now() as i64;
    for (token, vouched) in [
        (GOOD, answer(json!({}))),
        ("opaque-elsewhere", answer(json!({"aud": "billing.svc"}))),
        ("opaque-expired", answer(json!({"exp": now - 3600}))),
        ("opaque-bound", answer(json!({"cnf": {"x5t#S256": "abc"}}))),
        ("opaque-dpop", answer(json!({"token_type": "DPoP"}))),
        ("opaque-inactive", Vouched::Inactive(Inactive::NotActive)),
    ] {
        let key = answers.key(token, 0);
        answers.insert(key, vouched, now + 60);
    }
    answers
}

fn pairs(path: &str, authorization: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut headers = vec![
        (":method".to_owned(), "GET".to_owned()),
        (":authority".to_owned(), "orders.svc".to_owned()),
        (":path".to_owned(), path.to_owned()),
        ("authorization".to_owned(), authorization.to_owned()),
    ];
    headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    headers
}

fn full(config: &Config, headers: &[(String, String)], answers: &RefCell<Answers>) -> Decision {
    let keys = LocalKeys(config);
    let at_hand = AnswersAtHand {
        answers,
        landed: &[],
        now: now() as i64,
        reused_by: &Cell::new(0),
    };
    let verifier = Verifier {
        keys: &keys,
        signatures: &RustCrypto,
        cache: None,
        introspections: &at_hand,
        now: now() as i64,
    };
    decide(config, &Request::from_headers(headers), &verifier)
}

/// Both paths on `headers`; whether the fast path answered.
fn compare(config: &Config, label: &str, headers: &[(String, String)]) -> bool {
    let bytes = serialize(headers).unwrap();
    let map = HeaderMap::parse(&bytes).unwrap();
    let keys = LocalKeys(config);
    let fast_answers = RefCell::new(warm());
    let at_hand = AnswersAtHand {
        answers: &fast_answers,
        landed: &[],
        now: now() as i64,
        reused_by: &Cell::new(0),
    };
    let verifier = Verifier {
        keys: &keys,
        signatures: &RustCrypto,
        cache: None,
        introspections: &at_hand,
        now: now() as i64,
    };
    let fast = cached_pass(config, &map, &verifier);
    let full_answers = RefCell::new(warm());
    let reference = full(config, headers, &full_answers);
    match fast {
        Some(decision) => {
            assert_eq!(
                decision, reference,
                "{label}: the fast path's pass is the full one"
            );
            assert!(
                fast_answers == full_answers,
                "{label}: the same answers left"
            );
            true
        }
        None => {
            let after = full(config, headers, &fast_answers);
            assert_eq!(after, reference, "{label}: declining changed nothing");
            false
        }
    }
}

#[test]
fn a_reused_active_answer_is_answered_on_the_fast_path_and_nothing_else_is() {
    let config = config();
    let good = format!("Bearer {GOOD}");
    assert!(compare(&config, "good", &pairs("/orders/1", &good, &[])));
    let decision = full(
        &config,
        &pairs("/orders/1", &good, &[]),
        &RefCell::new(warm()),
    );
    assert_eq!(decision.verdict, Ok(()));
    assert!(decision.from_cache, "a reused answer counts as a cache hit");
    let set = &decision.mutations.set_headers;
    assert!(
        set.contains(&("x-user".to_owned(), "alice".to_owned())),
        "{set:?}"
    );
    for (label, path, token, extra) in [
        ("admin audience", "/admin/x", GOOD, vec![]),
        ("missing scope", "/scoped/x", GOOD, vec![]),
        ("another audience", "/orders/1", "opaque-elsewhere", vec![]),
        ("expired", "/orders/1", "opaque-expired", vec![]),
        ("certificate-bound", "/orders/1", "opaque-bound", vec![]),
        ("token_type DPoP", "/orders/1", "opaque-dpop", vec![]),
        ("inactive", "/orders/1", "opaque-inactive", vec![]),
        ("no answer yet", "/orders/1", "opaque-unknown", vec![]),
        (
            "forged output header",
            "/orders/1",
            GOOD,
            vec![("x-user", "mallory")],
        ),
        ("dot segment", "/a/../orders/1", GOOD, vec![]),
    ] {
        let authorization = format!("Bearer {token}");
        assert!(
            !compare(&config, label, &pairs(path, &authorization, &extra)),
            "{label}: declined"
        );
    }
}
