//! The plan of an outbound request: exchanged from what is at hand, held for a
//! callout otherwise, and never sent on with the original token.

use std::collections::HashMap;

use serde_json::json;

use super::*;
use crate::decision::Mutations;
use crate::oauth::cache_key::KeyHasher;

#[derive(Default)]
struct AtHand(HashMap<CacheKey, Recalled>);

/// The digest every test here keys by (one secret, so keys agree across calls).
fn key_of(subject_token: &str, destination: usize) -> CacheKey {
    KeyHasher::with_key(7, 11).key(subject_token, destination)
}

impl ExchangedTokens for AtHand {
    fn key(&self, subject_token: &str, destination: usize) -> CacheKey {
        key_of(subject_token, destination)
    }

    fn recall(&mut self, key: &CacheKey) -> Option<Recalled> {
        self.0.get(key).cloned()
    }
}

fn sidecar(unmatched: &str) -> Config {
    let config = json!({"exchange": {
        "token_endpoint": "http://sts.example/token",
        "cluster": "sts",
        "unmatched": unmatched,
        "destinations": [
            {"hosts": ["payments"], "audience": "payments"},
            {"hosts": ["ledger"], "audience": "ledger", "requires_token": true},
        ],
    }});
    Config::from_json(config.to_string().as_bytes()).unwrap()
}

fn request(authority: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut headers = vec![
        (":method".to_owned(), "POST".to_owned()),
        (":path".to_owned(), "/charge".to_owned()),
        (":authority".to_owned(), authority.to_owned()),
    ];
    headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    headers
}

fn plan(config: &Config, headers: &[(String, String)], at_hand: &mut AtHand) -> Onward {
    let unjudged = Decision::pass(None, Mutations::default(), false);
    onward(
        config,
        &Request::from_headers(headers),
        &unjudged,
        None,
        at_hand,
    )
}

const TOKEN: &str = "subject.token.x";

#[test]
fn a_token_not_at_hand_is_held_for_its_exchange() {
    let config = sidecar("remove");
    let headers = request("payments", &[("authorization", "Bearer subject.token.x")]);
    let onward = plan(&config, &headers, &mut AtHand::default());
    let Action::Hold(Callout::Exchange {
        destination,
        key,
        subject,
    }) = onward.plan.action
    else {
        panic!("{onward:?}")
    };
    assert_eq!(destination, 0);
    assert_eq!(key, key_of(TOKEN, 0));
    assert_eq!(subject.0, TOKEN);
    assert!(!format!("{subject:?}").contains(TOKEN));
}

#[test]
fn a_token_at_hand_replaces_the_original() {
    let config = sidecar("remove");
    let headers = request(
        "payments",
        &[("authorization", "Bearer subject.token.x"), ("dpop", "p")],
    );
    let mut at_hand = AtHand::default();
    at_hand
        .0
        .insert(key_of(TOKEN, 0), Recalled::Token("for.payments.t".into()));
    let onward = plan(&config, &headers, &mut at_hand);
    assert_eq!(
        onward.plan.action,
        Action::Continue(vec![
            Change::Remove("dpop".into()),
            Change::Set("authorization".into(), "Bearer for.payments.t".into()),
        ]),
        "one authorization is replaced by the set"
    );
    assert_eq!(onward.exchanged, Some(Exchanged::CacheHit(0)));
    assert_eq!(onward.refusal, None);
}

#[test]
fn the_same_token_to_another_destination_is_another_exchange() {
    let config = sidecar("remove");
    let headers = request("ledger", &[("authorization", "Bearer subject.token.x")]);
    let mut at_hand = AtHand::default();
    at_hand
        .0
        .insert(key_of(TOKEN, 0), Recalled::Token("for.payments.t".into()));
    let onward = plan(&config, &headers, &mut at_hand);
    assert!(matches!(
        onward.plan.action,
        Action::Hold(Callout::Exchange { destination: 1, .. })
    ));
}

#[test]
fn a_refused_or_failed_exchange_answers_and_nothing_leaves() {
    let config = sidecar("remove");
    let headers = request("payments", &[("authorization", "Bearer subject.token.x")]);
    for (recalled, status, rejection) in [
        (Recalled::Refused, 401, Rejection::ExchangeRefused),
        (Recalled::Failed, 503, Rejection::ExchangeFailed),
    ] {
        let mut at_hand = AtHand::default();
        at_hand.0.insert(key_of(TOKEN, 0), recalled);
        let onward = plan(&config, &headers, &mut at_hand);
        let Action::Respond(reply) = &onward.plan.action else {
            panic!("{onward:?}")
        };
        assert_eq!(reply.status, status);
        assert_eq!(onward.refusal, Some(rejection));
    }
}

#[test]
fn unmatched_and_missing_tokens_follow_the_table() {
    let removed = plan(
        &sidecar("remove"),
        &request("other", &[("authorization", "Bearer t")]),
        &mut AtHand::default(),
    );
    assert_eq!(
        removed.plan.action,
        Action::Continue(vec![Change::Remove("authorization".into())])
    );
    assert_eq!(removed.exchanged, Some(Exchanged::Unmatched));
    let refused = plan(
        &sidecar("refuse"),
        &request("other", &[("authorization", "Bearer t")]),
        &mut AtHand::default(),
    );
    assert_eq!(refused.refusal, Some(Rejection::ExchangeUnmatched));
    assert!(
        matches!(refused.plan.action, Action::Respond(ref reply) if reply.status == 403 && reply.challenges.is_empty())
    );
    let forwarded = plan(
        &sidecar("forward"),
        &request("other", &[("authorization", "Bearer t")]),
        &mut AtHand::default(),
    );
    assert_eq!(forwarded.plan.action, Action::Continue(vec![]));
    let missing = plan(
        &sidecar("remove"),
        &request("ledger", &[]),
        &mut AtHand::default(),
    );
    assert_eq!(missing.refusal, Some(Rejection::ExchangeMissing));
    let none = plan(
        &sidecar("refuse"),
        &request("payments", &[]),
        &mut AtHand::default(),
    );
    assert_eq!(none.plan.action, Action::Continue(vec![]));
    assert_eq!(none.exchanged, None);
}

#[test]
fn without_exchange_the_plan_is_the_inbound_one() {
    let config = Config::from_json(
        json!({"providers": [{"name": "p", "issuer": "i", "audiences": ["a"],
            "local_jwks": {"keys": [{"kty": "EC", "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}}]})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let headers = request("payments", &[("authorization", "Bearer t")]);
    let refused = Decision {
        verdict: Err(Rejection::Expired),
        provider: Some(0),
        mutations: Mutations::default(),
        from_cache: false,
        facts: None,
        proof: None,
        dpop: None,
        hints: Default::default(),
        unmet: None,
    };
    let onward = onward(
        &config,
        &Request::from_headers(&headers),
        &refused,
        None,
        &mut AtHand::default(),
    );
    assert_eq!(onward.plan, Plan::of(&refused, Mode::Enforce, "payments"));
    assert_eq!(onward.refusal, None);
}

#[test]
fn every_other_authorization_is_removed_before_the_exchanged_token_is_set() {
    let mut config = sidecar("remove");
    if let Some(exchange) = config.exchange.as_mut() {
        exchange.from_headers = vec![crate::token::extract::HeaderSource {
            name: "x-api-token".into(),
            value_prefix: String::new(),
        }];
    }
    let headers = request(
        "payments",
        &[
            ("x-api-token", TOKEN),
            ("authorization", "Basic a"),
            ("authorization", "Basic b"),
        ],
    );
    let mut at_hand = AtHand::default();
    at_hand
        .0
        .insert(key_of(TOKEN, 0), Recalled::Token("new.t".into()));
    let onward = plan(&config, &headers, &mut at_hand);
    assert_eq!(
        onward.plan.action,
        Action::Continue(vec![
            Change::Remove("x-api-token".into()),
            Change::Remove("authorization".into()),
            Change::Set("authorization".into(), "Bearer new.t".into()),
        ])
    );
}
