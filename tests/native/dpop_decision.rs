//! The decision on DPoP-bound requests (RFC 9449) for a provider with `dpop`:
//! real tokens bound to real client keys, real proofs, the contract's table of
//! schemes and bindings, the order of checks (no signature work for a proof that
//! fails a cheap check), and the token cache that spares the token's signature
//! but never the proof.

use std::cell::{Cell, RefCell};

use audgate::config::{Config, Lookups, Mode};
use audgate::decision::plan::{Action, Plan};
use audgate::decision::proof_replay::remembered;
use audgate::decision::{decide, Decision, LocalKeys, Verifier};
use audgate::keys::jwks::Key;
use audgate::keys::verify::{RustCrypto, SignatureBackend};
use audgate::rejection::Rejection;
use audgate::request::Request;
use audgate::token::cache::TokenCache;
use audgate::token::dpop::binding::Misbound;
use audgate::token::dpop::checks::{token_hash, ProofFailure};
use audgate::token::dpop::failure::DpopFailure;
use audgate::token::dpop::replay::{NotRemembered, ReplayStore};
use audgate::token::dpop::thumbprint::thumbprint;
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

use crate::support::cases::{self, claims};
use crate::support::fake_host::FakeHost;
use crate::support::keys::{self, now, TestKey};

const AUTHORITY: &str = "api.example.com";
const URL: &str = "https://api.example.com/orders/1";

/// The nonce secret the VM's environment holds.
const NONCE_SECRET: &str = "a-nonce-secret-of-at-least-32-bytes-long";

/// The table's provider with `dpop` as given (`DPOP_NONCE_SECRET` in the
/// environment).
pub(crate) fn config(dpop: Value) -> Config {
    let mut config = cases::config();
    config["providers"][0]["dpop"] = dpop;
    let env = |name: &str| (name == "DPOP_NONCE_SECRET").then(|| NONCE_SECRET.to_owned());
    let lookups = Lookups {
        node: &|_| None,
        env: &env,
    };
    Config::from_json_in(config.to_string().as_bytes(), &lookups).unwrap()
}

pub(crate) fn jkt(key: TestKey) -> String {
    thumbprint(keys::bare_jwk(key).as_object().unwrap()).unwrap()
}

/// An access token of the table's issuer bound to `client`'s key.
pub(crate) fn bound_token(client: TestKey) -> String {
    keys::sign_default(TestKey::Rsa1, claims(json!({"cnf": {"jkt": jkt(client)}})))
}

/// A proof by `client` for `htm` `htu` and `token`, `extra` merged into its claims.
fn proof(client: TestKey, htm: &str, htu: &str, token: &str, extra: Value) -> String {
    let jti = format!(
        "jti-{}-{}",
        now(),
        COUNTER.with(|c| {
            c.set(c.get() + 1);
            c.get()
        })
    );
    let claims = keys::merged(
        json!({"jti": jti, "htm": htm, "htu": htu, "iat": now(), "ath": token_hash(token)}),
        &extra,
    );
    let header = json!({"typ": "dpop+jwt", "jwk": keys::bare_jwk(client), "kid": null});
    keys::sign(client.default_alg(), client, header, claims)
}

thread_local! {
    static COUNTER: Cell<u32> = const { Cell::new(0) };
}

/// Signature checks, counted.
struct Counting(Cell<usize>);

impl SignatureBackend for Counting {
    fn verify(&self, key: &Key, alg: Algorithm, input: &[u8], signature: &[u8]) -> bool {
        self.0.set(self.0.get() + 1);
        RustCrypto.verify(key, alg, input, signature)
    }
}

/// `GET /orders/1` on `https://api.example.com` with `authorization` and the
/// `DPoP` headers, decided with `cache` (when given).
fn decided(
    config: &Config,
    authorization: Option<String>,
    proofs: &[&str],
    cache: Option<&RefCell<TokenCache>>,
    signatures: &dyn SignatureBackend,
) -> Decision {
    let mut headers = vec![
        (":method".to_owned(), "GET".to_owned()),
        (":scheme".to_owned(), "https".to_owned()),
        (":authority".to_owned(), AUTHORITY.to_owned()),
        (":path".to_owned(), "/orders/1?page=2".to_owned()),
    ];
    if let Some(authorization) = authorization {
        headers.push(("authorization".to_owned(), authorization));
    }
    for proof in proofs {
        headers.push(("dpop".to_owned(), (*proof).to_owned()));
    }
    let request = Request::from_headers(&headers);
    let keys = LocalKeys(config);
    let verifier = Verifier {
        keys: &keys,
        signatures,
        cache,
        introspections: &audgate::keys::introspection::vouched::NoIntrospections,
        now: now() as i64,
    };
    decide(config, &request, &verifier)
}

fn decide_plain(config: &Config, authorization: Option<String>, proofs: &[&str]) -> Decision {
    decided(config, authorization, proofs, None, &RustCrypto)
}

#[test]
fn a_bound_token_with_its_proof_passes_and_leaves_the_proof_for_the_replay_store() {
    let config = config(json!({}));
    let token = bound_token(TestKey::Ec256);
    let good = proof(TestKey::Ec256, "GET", URL, &token, json!({"jti": "once"}));
    let decision = decide_plain(&config, Some(format!("DPoP {token}")), &[&good]);
    assert_eq!(decision.verdict, Ok(()));
    let accepted = decision.proof.unwrap();
    assert_eq!(
        (accepted.jkt, accepted.jti),
        (jkt(TestKey::Ec256), "once".to_owned())
    );
    let expected_until = now() as i64 + 60 + 60;
    assert!(
        (accepted.until - expected_until).abs() <= 2,
        "iat + max_age_s + clock_skew_s"
    );
    assert!(!accepted.nonce_stale);
    // The DPoP scheme is spelled as clients please.
    let again = proof(TestKey::Ec256, "GET", URL, &token, json!({}));
    let lower = decide_plain(&config, Some(format!("dpop {token}")), &[&again]);
    assert_eq!(lower.verdict, Ok(()));
}

#[test]
fn the_table_of_schemes_and_bindings() {
    let config = config(json!({}));
    let bound = bound_token(TestKey::Ec256);
    let plain = keys::sign_default(TestKey::Rsa1, claims(json!({})));
    let proof_for = |token: &str| proof(TestKey::Ec256, "GET", URL, token, json!({}));
    let misbound = |m| Err(Rejection::Dpop(DpopFailure::Misbound(m)));
    // A bound token presented as Bearer (§7.2), even with a good proof.
    let as_bearer = decide_plain(
        &config,
        Some(format!("Bearer {bound}")),
        &[&proof_for(&bound)],
    );
    assert_eq!(as_bearer.verdict, misbound(Misbound::BoundAsBearer));
    // An unbound token presented as DPoP.
    let unbound = decide_plain(
        &config,
        Some(format!("DPoP {plain}")),
        &[&proof_for(&plain)],
    );
    assert_eq!(unbound.verdict, misbound(Misbound::UnboundAsDpop));
    // An unbound bearer token: a bearer token, unless dpop.required.
    let bearer = decide_plain(&config, Some(format!("Bearer {plain}")), &[]);
    assert_eq!((bearer.verdict, bearer.proof), (Ok(()), None));
    let required = self::config(json!({"required": true}));
    let refused = decide_plain(&required, Some(format!("Bearer {plain}")), &[]);
    assert_eq!(refused.verdict, misbound(Misbound::Unbound));
    // A bound token without its proof, or with two.
    let none = decide_plain(&config, Some(format!("DPoP {bound}")), &[]);
    assert_eq!(
        none.verdict,
        Err(Rejection::Dpop(DpopFailure::Proof(ProofFailure::Count)))
    );
    let (one, two) = (proof_for(&bound), proof_for(&bound));
    let both = decide_plain(&config, Some(format!("DPoP {bound}")), &[&one, &two]);
    assert_eq!(
        both.verdict,
        Err(Rejection::Dpop(DpopFailure::Proof(ProofFailure::Count)))
    );
}

#[test]
fn without_dpop_a_bound_token_is_still_refused_as_in_version_2() {
    let mut plain_config = cases::config();
    plain_config["providers"][0]
        .as_object_mut()
        .unwrap()
        .remove("dpop");
    let config = Config::from_json(plain_config.to_string().as_bytes()).unwrap();
    let bound = bound_token(TestKey::Ec256);
    let decision = decide_plain(&config, Some(format!("Bearer {bound}")), &[]);
    assert_eq!(decision.verdict, Err(Rejection::Caller));
    // And `DPoP` is no scheme it reads a token from.
    let proof = proof(TestKey::Ec256, "GET", URL, &bound, json!({}));
    let as_dpop = decide_plain(&config, Some(format!("DPoP {bound}")), &[&proof]);
    assert_eq!(as_dpop.verdict, Err(Rejection::Missing));
}

#[test]
fn a_proof_that_fails_a_cheap_check_costs_no_signature_work() {
    let config = config(json!({}));
    let token = bound_token(TestKey::Ec256);
    for (what, bad, failure) in [
        (
            "htm",
            proof(TestKey::Ec256, "POST", URL, &token, json!({})),
            ProofFailure::Method,
        ),
        (
            "htu",
            proof(
                TestKey::Ec256,
                "GET",
                "https://api.example.com/other",
                &token,
                json!({}),
            ),
            ProofFailure::Uri,
        ),
        (
            "ath",
            proof(TestKey::Ec256, "GET", URL, &token, json!({"ath": "x"})),
            ProofFailure::TokenHash,
        ),
        (
            "jkt",
            proof(TestKey::Ed, "GET", URL, &token, json!({})),
            ProofFailure::Thumbprint,
        ),
        (
            "typ",
            keys::sign(
                "ES256",
                TestKey::Ec256,
                json!({"typ": "jwt", "jwk": keys::bare_jwk(TestKey::Ec256), "kid": null}),
                json!({"jti": "j", "htm": "GET", "htu": URL, "iat": now(), "ath": token_hash(&token)}),
            ),
            ProofFailure::Type,
        ),
    ] {
        let counting = Counting(Cell::new(0));
        let decision = decided(
            &config,
            Some(format!("DPoP {token}")),
            &[&bad],
            None,
            &counting,
        );
        assert_eq!(
            decision.verdict,
            Err(Rejection::Dpop(DpopFailure::Proof(failure))),
            "{what}"
        );
        assert_eq!(counting.0.get(), 0, "{what}: a signature was checked");
    }
    // A good proof: the token's signature, then the proof's.
    let counting = Counting(Cell::new(0));
    let good = proof(TestKey::Ec256, "GET", URL, &token, json!({}));
    let decision = decided(
        &config,
        Some(format!("DPoP {token}")),
        &[&good],
        None,
        &counting,
    );
    assert_eq!(decision.verdict, Ok(()));
    assert_eq!(counting.0.get(), 2);
}

#[test]
fn a_forged_proof_is_refused_after_the_tokens_signature() {
    let config = config(json!({}));
    let token = bound_token(TestKey::Ec256);
    // The client's jwk in the header, signed by another key.
    let claims =
        json!({"jti": "j", "htm": "GET", "htu": URL, "iat": now(), "ath": token_hash(&token)});
    let forged = keys::sign(
        "ES256",
        TestKey::Ec256,
        json!({"typ": "dpop+jwt", "jwk": keys::bare_jwk(TestKey::Ec256), "kid": null}),
        claims.clone(),
    );
    let (input, _) = forged.rsplit_once('.').unwrap();
    let other = keys::sign(
        "ES256",
        TestKey::Ec256,
        json!({"typ": "dpop+jwt"}),
        json!({"x": 1}),
    );
    let stolen_signature = other.rsplit_once('.').unwrap().1;
    let forged = format!("{input}.{stolen_signature}");
    let decision = decide_plain(&config, Some(format!("DPoP {token}")), &[&forged]);
    assert_eq!(
        decision.verdict,
        Err(Rejection::Dpop(DpopFailure::Proof(ProofFailure::Signature)))
    );
    // A forged token with a good proof: the token's signature decides.
    let (head, _) = token.rsplit_once('.').unwrap();
    let bad_token = format!("{head}.{stolen_signature}");
    let good = proof(TestKey::Ec256, "GET", URL, &bad_token, json!({}));
    let decision = decide_plain(&config, Some(format!("DPoP {bad_token}")), &[&good]);
    assert_eq!(decision.verdict, Err(Rejection::BadSignature));
}

#[test]
fn the_token_cache_never_spares_the_proof() {
    let config = config(json!({}));
    let cache = RefCell::new(TokenCache::new(16));
    let token = bound_token(TestKey::Ec256);
    let authorization = || Some(format!("DPoP {token}"));
    let first = proof(TestKey::Ec256, "GET", URL, &token, json!({}));
    let counting = Counting(Cell::new(0));
    let decision = decided(&config, authorization(), &[&first], Some(&cache), &counting);
    assert_eq!((decision.verdict, decision.from_cache), (Ok(()), false));
    assert_eq!(counting.0.get(), 2, "the token's signature and the proof's");
    // Cached: the token's signature is spared, the new proof is checked.
    let second = proof(TestKey::Ec256, "GET", URL, &token, json!({"jti": "second"}));
    let counting = Counting(Cell::new(0));
    let decision = decided(
        &config,
        authorization(),
        &[&second],
        Some(&cache),
        &counting,
    );
    assert_eq!((decision.verdict, decision.from_cache), (Ok(()), true));
    assert_eq!(counting.0.get(), 1, "the proof's signature only");
    assert_eq!(decision.proof.unwrap().jti, "second");
    // Cached, with a bad proof or none: refused all the same.
    let wrong = proof(TestKey::Ec256, "DELETE", URL, &token, json!({}));
    let decision = decided(
        &config,
        authorization(),
        &[&wrong],
        Some(&cache),
        &RustCrypto,
    );
    assert_eq!(
        decision.verdict,
        Err(Rejection::Dpop(DpopFailure::Proof(ProofFailure::Method)))
    );
    let decision = decided(&config, authorization(), &[], Some(&cache), &RustCrypto);
    assert_eq!(
        decision.verdict,
        Err(Rejection::Dpop(DpopFailure::Proof(ProofFailure::Count)))
    );
    // Cached, presented as Bearer: refused.
    let decision = decided(
        &config,
        Some(format!("Bearer {token}")),
        &[],
        Some(&cache),
        &RustCrypto,
    );
    assert_eq!(
        decision.verdict,
        Err(Rejection::Dpop(DpopFailure::Misbound(
            Misbound::BoundAsBearer
        )))
    );
}

#[test]
fn origins_replace_the_requests_own() {
    let config = config(json!({"origins": ["https://public.example.com"]}));
    let token = bound_token(TestKey::Ec256);
    let public = proof(
        TestKey::Ec256,
        "GET",
        "https://public.example.com/orders/1",
        &token,
        json!({}),
    );
    let own = proof(TestKey::Ec256, "GET", URL, &token, json!({}));
    let authorization = || Some(format!("DPoP {token}"));
    assert_eq!(
        decide_plain(&config, authorization(), &[&public]).verdict,
        Ok(())
    );
    assert_eq!(
        decide_plain(&config, authorization(), &[&own]).verdict,
        Err(Rejection::Dpop(DpopFailure::Proof(ProofFailure::Uri)))
    );
}

#[test]
fn every_client_key_type_proves() {
    let config = config(json!({}));
    for client in [TestKey::Ec256, TestKey::Ec384, TestKey::Rsa1, TestKey::Ed] {
        let token = bound_token(client);
        let good = proof(client, "GET", URL, &token, json!({}));
        let decision = decide_plain(&config, Some(format!("DPoP {token}")), &[&good]);
        assert_eq!(decision.verdict, Ok(()), "{client:?}");
    }
}

/// The reply a refused request gets, with the response's extra headers.
fn refused_with(decision: &Decision) -> (u32, Vec<String>, Vec<(String, String)>) {
    let plan = Plan::of(decision, Mode::Enforce, AUTHORITY);
    match plan.action {
        Action::Respond(reply) => (reply.status, reply.challenges, plan.response_headers),
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn challenges_name_the_dpop_scheme_and_its_algorithms() {
    let config = config(json!({"algorithms": ["ES256", "Ed25519"]}));
    let (status, challenges, _) = refused_with(&decide_plain(&config, None, &[]));
    assert_eq!(status, 401);
    assert_eq!(
        challenges,
        [
            "Bearer realm=\"api.example.com\"",
            "DPoP realm=\"api.example.com\", algs=\"ES256 EdDSA\""
        ]
    );
    let token = bound_token(TestKey::Ec256);
    let wrong = proof(TestKey::Ec256, "PUT", URL, &token, json!({}));
    let decision = decide_plain(&config, Some(format!("DPoP {token}")), &[&wrong]);
    let (status, challenges, headers) = refused_with(&decision);
    assert_eq!(status, 401);
    assert_eq!(
        challenges,
        ["DPoP realm=\"api.example.com\", error=\"invalid_dpop_proof\", algs=\"ES256 EdDSA\""]
    );
    assert!(headers.is_empty(), "no nonce without nonces");
    // A provider without dpop keeps its one Bearer challenge.
    let plain = Config::from_json(cases::config().to_string().as_bytes()).unwrap();
    let (_, challenges, _) = refused_with(&decide_plain(&plain, None, &[]));
    assert_eq!(challenges, ["Bearer realm=\"api.example.com\""]);
}

#[test]
fn with_nonces_a_proof_without_one_gets_one_and_a_stale_one_a_fresh_one() {
    let config = config(json!({"nonce_secret_env": "DPOP_NONCE_SECRET", "nonce_lifetime_s": 300}));
    let token = bound_token(TestKey::Ec256);
    let authorization = || Some(format!("DPoP {token}"));
    let bare = proof(TestKey::Ec256, "GET", URL, &token, json!({}));
    let decision = decide_plain(&config, authorization(), &[&bare]);
    assert_eq!(decision.verdict, Err(Rejection::DpopNonce));
    let (status, challenges, headers) = refused_with(&decision);
    assert_eq!(status, 401);
    assert_eq!(
        challenges,
        ["DPoP realm=\"api.example.com\", error=\"use_dpop_nonce\", algs=\"ES256 ES384 RS256 PS256 EdDSA\""]
    );
    let [(name, nonce)] = headers.as_slice() else {
        panic!("one DPoP-Nonce: {headers:?}")
    };
    assert_eq!(name, "dpop-nonce");
    // The retry with it passes, and needs no new one yet.
    let retry = proof(TestKey::Ec256, "GET", URL, &token, json!({"nonce": nonce}));
    let decision = decide_plain(&config, authorization(), &[&retry]);
    assert_eq!(decision.verdict, Ok(()));
    assert!(Plan::of(&decision, Mode::Enforce, AUTHORITY)
        .response_headers
        .is_empty());
    // A nonce past half its life: the request passes with a fresh one.
    let nonces = config.providers[0]
        .dpop
        .as_ref()
        .unwrap()
        .nonces
        .clone()
        .unwrap();
    let old = nonces.issue(now() as i64 - 200);
    let aging = proof(TestKey::Ec256, "GET", URL, &token, json!({"nonce": old}));
    let decision = decide_plain(&config, authorization(), &[&aging]);
    assert_eq!(decision.verdict, Ok(()));
    let plan = Plan::of(&decision, Mode::Enforce, AUTHORITY);
    assert!(matches!(plan.action, Action::Continue(_)));
    let [(name, fresh)] = plan.response_headers.as_slice() else {
        panic!("a fresh nonce: {:?}", plan.response_headers)
    };
    assert_eq!(name, "dpop-nonce");
    assert_ne!(fresh, &old);
    // One from another secret, or expired: refused for a nonce again.
    let expired = nonces.issue(now() as i64 - 300);
    let late = proof(
        TestKey::Ec256,
        "GET",
        URL,
        &token,
        json!({"nonce": expired}),
    );
    assert_eq!(
        decide_plain(&config, authorization(), &[&late]).verdict,
        Err(Rejection::DpopNonce)
    );
}

#[test]
fn the_proof_goes_where_its_token_goes() {
    let token = bound_token(TestKey::Ec256);
    let good = proof(TestKey::Ec256, "GET", URL, &token, json!({}));
    let removed = |config: &Config| {
        let decision = decide_plain(config, Some(format!("DPoP {token}")), &[&good]);
        assert_eq!(decision.verdict, Ok(()));
        decision.mutations.remove_headers
    };
    assert_eq!(removed(&config(json!({}))), ["authorization", "dpop"]);
    let mut forwarding = cases::config();
    forwarding["providers"][0]["dpop"] = json!({});
    forwarding["providers"][0]["forward"] = json!(true);
    let forwarding = Config::from_json(forwarding.to_string().as_bytes()).unwrap();
    assert!(removed(&forwarding).is_empty(), "forward: true keeps both");
}

#[test]
fn a_proof_is_accepted_once_across_workers_and_only_a_verified_one_is_stored() {
    let config = config(json!({"replay_store_size": 1000}));
    let stores: Vec<Option<ReplayStore>> = vec![Some(ReplayStore::new(
        "audgate;p;dpop;orders-idp;1000",
        1000,
    ))];
    let host = FakeHost::new();
    let token = bound_token(TestKey::Ec256);
    let good = proof(TestKey::Ec256, "GET", URL, &token, json!({}));
    let worker = || decide_plain(&config, Some(format!("DPoP {token}")), &[&good]);
    let now = now() as i64;
    // Worker one accepts it; worker two, on the same shared data, sees a replay.
    let first = remembered(worker(), &stores, &host, now);
    assert_eq!(first.verdict, Ok(()));
    let second = remembered(worker(), &stores, &host, now);
    assert_eq!(
        second.verdict,
        Err(Rejection::Dpop(DpopFailure::Replay(
            NotRemembered::Replayed
        )))
    );
    assert!(second.proof.is_none() && second.mutations.set_headers.is_empty());
    let (status, challenges, _) = refused_with(&second);
    assert_eq!(status, 401);
    assert!(
        challenges[0].contains("error=\"invalid_dpop_proof\""),
        "{challenges:?}"
    );
    // A new proof of the same client passes.
    let next = proof(TestKey::Ec256, "GET", URL, &token, json!({}));
    let decision = decide_plain(&config, Some(format!("DPoP {token}")), &[&next]);
    assert_eq!(remembered(decision, &stores, &host, now).verdict, Ok(()));
    // Refused requests never reach the store: a million distinct bad proofs
    // (here a thousand) leave it as it was.
    let before = host.shared_snapshot();
    for n in 0..1000 {
        let bad = proof(
            TestKey::Ec256,
            "GET",
            URL,
            &token,
            json!({"jti": format!("bad-{n}"), "ath": "x"}),
        );
        let decision = decide_plain(&config, Some(format!("DPoP {token}")), &[&bad]);
        assert!(remembered(decision, &stores, &host, now).verdict.is_err());
    }
    assert_eq!(host.shared_snapshot(), before);
}
