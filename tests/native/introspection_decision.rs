//! The decision on a token of a provider with `introspection`: the answer's
//! members are checked as a JWT's payload is, in the same order (audience
//! first); an inactive answer is 401, a failed endpoint 503, no answer yet is
//! pending; only a sendable token is ever asked about, and under `any` a JWS
//! of a key-based provider's issuer is never sent to the endpoint.

use std::cell::RefCell;
use std::rc::Rc;

use audgate::config::Config;
use audgate::decision::{decide_with_peer, Decision, LocalKeys, Verifier};
use audgate::keys::introspection::answer::Inactive;
use audgate::keys::introspection::vouched::{Introspections, Known, Vouched};
use audgate::keys::verify::RustCrypto;
use audgate::policy::caller::{NoPeer, Peer};
use audgate::rejection::Rejection;
use audgate::request::Request;
use audgate::token::dpop::binding::Misbound;
use audgate::token::dpop::failure::DpopFailure;
use audgate::token::TokenError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::support::cases;
use crate::support::keys::{self, now, TestKey};

const AS: &str = "https://as.example";
const OPAQUE: &str = "2YotnFZFEjr1zCsicMWpAA";

/// Answers by token, and every token asked about.
struct Answers {
    known: Vec<(String, Vouched)>,
    asked: RefCell<Vec<(usize, String)>>,
}

impl Answers {
    fn of(token: &str, vouched: Vouched) -> Answers {
        Answers {
            known: vec![(token.to_owned(), vouched)],
            asked: RefCell::new(Vec::new()),
        }
    }

    fn active(token: &str, answer: Value) -> Answers {
        let claims = answer.as_object().unwrap().clone();
        Answers::of(token, Vouched::Active(Rc::new(claims)))
    }

    fn asked(&self) -> Vec<(usize, String)> {
        self.asked.borrow().clone()
    }
}

impl Introspections for Answers {
    fn vouched(&self, provider: usize, token: &str) -> Option<Known> {
        self.asked.borrow_mut().push((provider, token.to_owned()));
        self.known
            .iter()
            .find(|(known, _)| known == token)
            .map(|(_, vouched)| Known {
                vouched: vouched.clone(),
                reused: true,
            })
    }
}

/// A key-based provider (index 0, `cases::ISSUER`) and one with
/// `introspection` (index 1), both for `orders.svc`; `opaque` merged into the
/// second; `/` takes either.
fn config(opaque: Value) -> Config {
    let mut config = cases::config();
    let provider = json!({
        "name": "opaque",
        "issuer": AS,
        "audiences": [cases::AUDIENCE],
        "introspection": {"uri": "https://as.example/introspect", "cluster": "as", "client_id": "orders-api"},
        "claim_to_headers": [{"claim": "sub", "header": "x-user"}],
        "forward_payload_header": "x-payload",
    });
    let provider = keys::merged(provider, &opaque);
    config["providers"].as_array_mut().unwrap().push(provider);
    config["rules"] =
        json!([{"match": {"prefix": "/"}, "requires": {"any": ["orders-idp", "opaque"]}}]);
    Config::from_json(config.to_string().as_bytes()).unwrap()
}

fn decided_with(config: &Config, token: &str, answers: &Answers, peer: &dyn Peer) -> Decision {
    let headers = vec![
        (":method".to_owned(), "GET".to_owned()),
        (":authority".to_owned(), "orders.test".to_owned()),
        (":path".to_owned(), "/orders/1".to_owned()),
        ("authorization".to_owned(), format!("Bearer {token}")),
    ];
    let request = Request::from_headers(&headers);
    let keys = LocalKeys(config);
    let verifier = Verifier {
        keys: &keys,
        signatures: &RustCrypto,
        cache: None,
        introspections: answers,
        now: now() as i64,
    };
    decide_with_peer(config, &request, &verifier, peer)
}

fn decided(config: &Config, token: &str, answers: &Answers) -> Decision {
    decided_with(config, token, answers, &NoPeer)
}

/// An active answer for `orders.svc`, `extra` merged in.
fn answer(extra: Value) -> Value {
    let now = now() as i64;
    keys::merged(
        json!({"active": true, "aud": cases::AUDIENCE, "sub": "alice", "scope": "orders:read",
               "iat": now, "exp": now + 300, "client_id": "web", "token_type": "Bearer"}),
        &extra,
    )
}

fn verdict_for(config: &Config, extra: Value) -> Result<(), Rejection> {
    decided(config, OPAQUE, &Answers::active(OPAQUE, answer(extra))).verdict
}

#[test]
fn an_active_answer_passes_and_sets_the_headers_a_payload_would() {
    let config = config(json!({}));
    let answers = Answers::active(OPAQUE, answer(json!({})));
    let decision = decided(&config, OPAQUE, &answers);
    assert_eq!(decision.verdict, Ok(()));
    assert_eq!(decision.provider, Some(1));
    assert_eq!(
        answers.asked(),
        vec![(1, OPAQUE.to_owned())],
        "asked once, by the introspection provider"
    );
    let set = &decision.mutations.set_headers;
    assert!(
        set.contains(&("x-user".to_owned(), "alice".to_owned())),
        "{set:?}"
    );
    let payload = set.iter().find(|(name, _)| name == "x-payload").unwrap();
    let members: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&payload.1).unwrap()).unwrap();
    assert_eq!(members["sub"], "alice");
    assert_eq!(members["active"], true);
}

#[test]
fn the_audience_is_checked_first_and_as_a_string_or_a_list() {
    let config = config(json!({}));
    // Another audience and expired: the audience is what the refusal names.
    let elsewhere = json!({"aud": "billing.svc", "exp": now() as i64 - 3600});
    assert_eq!(
        verdict_for(&config, elsewhere),
        Err(Rejection::AudienceNotAllowed)
    );
    assert_eq!(
        verdict_for(&config, json!({"aud": ["billing.svc", cases::AUDIENCE]})),
        Ok(())
    );
    let mut no_aud = answer(json!({}));
    no_aud.as_object_mut().unwrap().remove("aud");
    let decision = decided(&config, OPAQUE, &Answers::active(OPAQUE, no_aud));
    assert_eq!(
        decision.verdict,
        Err(Rejection::AudienceNotAllowed),
        "a missing aud is refused as for a JWT"
    );
    assert_eq!(decision.verdict.unwrap_err().status(), 403);
}

#[test]
fn the_issuer_is_checked_when_the_answer_names_one() {
    let config = config(json!({}));
    assert_eq!(verdict_for(&config, json!({"iss": AS})), Ok(()));
    assert_eq!(
        verdict_for(&config, json!({"iss": "https://other.example"})),
        Err(Rejection::WrongIssuer)
    );
}

#[test]
fn times_are_checked_and_require_exp_applies() {
    let config = config(json!({}));
    let now = now() as i64;
    assert_eq!(
        verdict_for(&config, json!({"exp": now - 3600})),
        Err(Rejection::Expired)
    );
    assert_eq!(
        verdict_for(&config, json!({"nbf": now + 3600})),
        Err(Rejection::NotYetValid)
    );
    assert_eq!(
        verdict_for(&config, json!({"exp": "soon"})),
        Err(Rejection::BadTimeClaim)
    );
    let mut no_exp = answer(json!({}));
    no_exp.as_object_mut().unwrap().remove("exp");
    let refused = decided(&config, OPAQUE, &Answers::active(OPAQUE, no_exp.clone()));
    assert_eq!(refused.verdict, Err(Rejection::MissingExpiry));
    let lenient = self::config(json!({"require_exp": false}));
    assert_eq!(
        decided(&lenient, OPAQUE, &Answers::active(OPAQUE, no_exp)).verdict,
        Ok(())
    );
}

#[test]
fn required_claims_read_scope_words_and_nested_paths() {
    let config = config(json!({"required_claims": {"scope": "orders:read", "ext.tenant": "acme"}}));
    let words = json!({"scope": "profile orders:read", "ext": {"tenant": "acme"}});
    assert_eq!(verdict_for(&config, words), Ok(()));
    let refused = verdict_for(
        &config,
        json!({"scope": "profile", "ext": {"tenant": "acme"}}),
    );
    assert_eq!(refused, Err(Rejection::ClaimsNotMet));
    assert_eq!(refused.unwrap_err().status(), 403);
    assert_eq!(
        verdict_for(&config, json!({"ext": {"tenant": "other"}})),
        Err(Rejection::ClaimsNotMet)
    );
}

#[test]
fn a_client_credentials_answer_without_sub_passes_and_sets_no_header() {
    let config = config(json!({}));
    let mut answer = answer(json!({}));
    answer.as_object_mut().unwrap().remove("sub");
    let decision = decided(&config, OPAQUE, &Answers::active(OPAQUE, answer));
    assert_eq!(decision.verdict, Ok(()));
    assert!(!decision
        .mutations
        .set_headers
        .iter()
        .any(|(name, _)| name == "x-user"));
}

#[test]
fn bindings_are_checked_as_for_a_jwt() {
    let config = config(json!({}));
    // token_type DPoP says the token is bound: without cnf.jkt it is not usable.
    let unbound = verdict_for(&config, json!({"token_type": "DPoP"}));
    assert_eq!(
        unbound,
        Err(Rejection::Dpop(DpopFailure::Misbound(
            Misbound::DpopTypeUnbound
        )))
    );
    assert_eq!(unbound.unwrap_err().status(), 401);
    // Bound to a key with no `dpop` here: refused as a JWT with cnf.jkt is.
    let bound = json!({"token_type": "DPoP", "cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}});
    assert_eq!(verdict_for(&config, bound), Err(Rejection::Caller));
    // Bound to a certificate no TLS peer presents.
    let certificate = json!({"cnf": {"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}});
    assert_eq!(verdict_for(&config, certificate), Err(Rejection::Caller));
}

#[test]
fn inactive_failed_and_unanswered_tokens() {
    let config = config(json!({}));
    for (vouched, rejection, status) in [
        (
            Vouched::Inactive(Inactive::NotActive),
            Rejection::Inactive,
            401,
        ),
        (
            Vouched::Inactive(Inactive::UnsupportedTokenType),
            Rejection::Inactive,
            401,
        ),
        (Vouched::Failed, Rejection::IntrospectionFailed, 503),
    ] {
        let decision = decided(&config, OPAQUE, &Answers::of(OPAQUE, vouched));
        assert_eq!(decision.verdict, Err(rejection));
        assert_eq!(
            decision.provider,
            Some(1),
            "the introspection provider's verdict is the one given"
        );
        assert_eq!(rejection.status(), status);
    }
    let unknown = decided(
        &config,
        "another-token",
        &Answers::of(OPAQUE, Vouched::Failed),
    );
    assert_eq!(
        unknown.verdict,
        Err(Rejection::IntrospectionPending),
        "no answer yet: the filter asks"
    );
    assert_eq!(unknown.provider, Some(1));
}

#[test]
fn only_a_sendable_token_is_ever_asked_about() {
    let config = config(json!({}));
    let long = "a".repeat(4097);
    let answers = Answers::of(&long, Vouched::Failed);
    let decision = decided(&config, &long, &answers);
    assert_eq!(
        decision.verdict,
        Err(Rejection::Malformed(TokenError::NotSendable))
    );
    assert_eq!(decision.verdict.unwrap_err().status(), 401);
    assert!(
        answers.asked().is_empty(),
        "never asked: {:?}",
        answers.asked()
    );
    let longest = "a".repeat(4096);
    let answers = Answers::active(&longest, answer(json!({})));
    assert_eq!(decided(&config, &longest, &answers).verdict, Ok(()));
}

#[test]
fn under_any_a_jws_of_a_key_based_issuer_is_never_sent_to_the_endpoint() {
    let config = config(json!({}));
    let claims = cases::claims(json!({}));
    let good = keys::sign_default(TestKey::Rsa1, claims.clone());
    let answers = Answers::of(&good, Vouched::Failed);
    assert_eq!(decided(&config, &good, &answers).verdict, Ok(()));
    // Forged: refused by its own provider, still never sent.
    let forged = keys::sign_default(TestKey::Rsa2, claims);
    let decision = decided(&config, &forged, &answers);
    assert_eq!(decision.verdict.map_err(Rejection::code), Err("signature"));
    assert_eq!(decision.provider, Some(0));
    assert!(answers.asked().is_empty(), "{:?}", answers.asked());
    // Any compact JWS of that issuer, even one whose header no provider takes.
    let odd_header = keys::sign(
        "RS256",
        TestKey::Rsa1,
        json!({"crit": ["exp"], "kid": 7}),
        cases::claims(json!({})),
    );
    assert!(decided(&config, &odd_header, &answers).verdict.is_err());
    assert!(answers.asked().is_empty(), "{:?}", answers.asked());
    // A JWS of another issuer is the introspection provider's to decide.
    let foreign = keys::sign_default(
        TestKey::Rsa2,
        cases::claims(json!({"iss": "https://elsewhere.test"})),
    );
    let answers = Answers::of(&foreign, Vouched::Inactive(Inactive::UnsupportedTokenType));
    let decision = decided(&config, &foreign, &answers);
    assert_eq!(decision.verdict, Err(Rejection::Inactive));
    assert_eq!(answers.asked(), vec![(1, foreign)]);
}

/// `GET https://orders.test/orders/1` presenting `token` as `DPoP` with `proof`.
fn decided_dpop(config: &Config, token: &str, proof: Option<&str>, answers: &Answers) -> Decision {
    let mut headers = vec![
        (":method".to_owned(), "GET".to_owned()),
        (":scheme".to_owned(), "https".to_owned()),
        (":authority".to_owned(), "orders.test".to_owned()),
        (":path".to_owned(), "/orders/1".to_owned()),
        ("authorization".to_owned(), format!("DPoP {token}")),
    ];
    headers.extend(proof.map(|proof| ("dpop".to_owned(), proof.to_owned())));
    let request = Request::from_headers(&headers);
    let keys = LocalKeys(config);
    let verifier = Verifier {
        keys: &keys,
        signatures: &RustCrypto,
        cache: None,
        introspections: answers,
        now: now() as i64,
    };
    decide_with_peer(config, &request, &verifier, &NoPeer)
}

#[test]
fn a_dpop_bound_answer_needs_its_proof() {
    use audgate::token::dpop::checks::token_hash;
    let config = config(json!({"dpop": {}}));
    let client = TestKey::Ec256;
    let jkt = crate::dpop_decision::jkt(client);
    let bound = answer(json!({"token_type": "DPoP", "cnf": {"jkt": jkt}}));
    let answers = Answers::active(OPAQUE, bound);
    let proof = |jti: &str, key: TestKey| {
        let claims = json!({"jti": jti, "htm": "GET", "htu": "https://orders.test/orders/1",
                            "iat": now(), "ath": token_hash(OPAQUE)});
        let header = json!({"typ": "dpop+jwt", "jwk": keys::bare_jwk(key), "kid": null});
        keys::sign(key.default_alg(), key, header, claims)
    };
    let good = decided_dpop(&config, OPAQUE, Some(&proof("a", client)), &answers);
    assert_eq!(good.verdict, Ok(()));
    assert!(
        good.proof.is_some(),
        "the proof is left for the replay store"
    );
    let missing = decided_dpop(&config, OPAQUE, None, &answers);
    assert_eq!(missing.verdict.map_err(Rejection::code), Err("dpop"));
    let other_key = decided_dpop(&config, OPAQUE, Some(&proof("b", TestKey::Ed)), &answers);
    assert_eq!(other_key.verdict.map_err(Rejection::code), Err("dpop"));
    // As a bearer token, a bound answer is refused.
    let bearer = decided(&config, OPAQUE, &answers);
    assert_eq!(
        bearer.verdict,
        Err(Rejection::Dpop(DpopFailure::Misbound(
            Misbound::BoundAsBearer
        )))
    );
}
