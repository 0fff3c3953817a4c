//! The test STS (`support::sts`) itself, driven over HTTP: it mints tokens its
//! JWKS verifies, authenticates clients as RFC 6749 §2.3.1 says, refuses with
//! the right OAuth errors, and does what the test's controls say.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{json, Value};

use crate::support::http::{self, form_encode, Response};
use crate::support::keys::{self, TestKey};
use crate::support::sts::{self, Fault, Sts, StsClient, StsSettings, StsTls};
use crate::support::tls::Pki;
use crate::support::{cases, Signer};

const AUDIENCE: &str = "payments.svc";

/// A subject token of the default subject issuer and key for `alice`, living
/// ten minutes, with `extra` merged (`null` removes a claim).
fn subject(extra: Value) -> String {
    let base = json!({"iss": cases::ISSUER, "sub": "alice", "aud": cases::AUDIENCE,
        "iat": keys::now(), "exp": keys::now() + 600});
    keys::sign_default(TestKey::Rsa1, keys::merged(base, &extra))
}

/// The exchange of `token` for `AUDIENCE`, with `extra` fields and `headers`.
fn exchange(sts: &Sts, token: &str, extra: &[(&str, &str)], headers: &[(&str, &str)]) -> Response {
    let mut fields = vec![
        ("grant_type", sts::GRANT_TYPE),
        ("subject_token", token),
        ("subject_token_type", sts::ACCESS_TOKEN_TYPE),
        ("audience", AUDIENCE),
    ];
    fields.extend_from_slice(extra);
    http::post_form(sts.port(), "/token", &fields, headers)
}

/// `Basic` credentials as RFC 6749 §2.3.1 has them: form-encoded, then base64.
fn basic(id: &str, secret: &str) -> String {
    let pair = format!("{}:{}", form_encode(id), form_encode(secret));
    format!("Basic {}", STANDARD.encode(pair))
}

fn json_of(response: &Response) -> Value {
    serde_json::from_str(&response.body)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", response.status))
}

/// The OAuth error of a refusal, after checking its status.
fn error_of(response: &Response, status: u16) -> String {
    assert_eq!(response.status, status, "{}", response.body);
    let body = json_of(response);
    assert!(body["error_description"].is_string(), "{body}");
    body["error"].as_str().unwrap().to_string()
}

/// The `access_token` of a 200, verified with the key of its `kid` in the STS's
/// own `GET /jwks` and its issuer: its claims.
fn minted(sts: &Sts, response: &Response) -> Value {
    assert_eq!(response.status, 200, "{}", response.body);
    let body = json_of(response);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["issued_token_type"], sts::ACCESS_TOKEN_TYPE);
    assert!(body["expires_in"].as_u64().unwrap() > 0);
    verified(sts, body["access_token"].as_str().unwrap())
}

fn verified(sts: &Sts, token: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwks = json_of(&http::get(sts.port(), "/jwks", &[]));
    let kid = header.kid.clone().expect("a kid");
    let keys = jwks["keys"].as_array().unwrap();
    let jwk = keys
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("kid in the JWKS");
    let jwk: Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[sts.issuer()]);
    validation.set_audience(&[AUDIENCE, "https://payments.example/"]);
    let key = DecodingKey::from_jwk(&jwk).unwrap();
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims
}

fn kid_of(response: &Response) -> String {
    let token = json_of(response)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn with_clients(clients: Vec<StsClient>) -> Sts {
    Sts::start(StsSettings {
        clients,
        anonymous: false,
        ..StsSettings::default()
    })
}

#[test]
fn a_good_exchange_mints_a_token_its_jwks_verifies() {
    let sts = Sts::start(StsSettings::default());
    let token = subject(json!({}));
    let response = exchange(&sts, &token, &[], &[]);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let claims = minted(&sts, &response);
    assert_eq!(claims["iss"], "https://sts.test");
    assert_eq!(claims["aud"], AUDIENCE);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["act"], json!({"sub": "anonymous"}));
    assert!(claims.get("scope").is_none(), "{claims}");
    let life = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert_eq!(life, 300);
    assert_eq!((sts.exchanges(), sts.issued()), (1, 1));
    let requests = sts.requests();
    assert_eq!(
        requests[0].field("subject_token"),
        Some(sts::sha256_hex(&token).as_str())
    );
    assert_eq!(requests[0].field("audience"), Some(AUDIENCE));
    assert_eq!(sts.last_subject_sha256(), Some(sts::sha256_hex(&token)));
    assert!(
        !format!("{requests:?}").contains(&token),
        "the raw token is kept"
    );
}

#[test]
fn basic_credentials_count_only_form_encoded() {
    let (id, secret) = ("orders svc", "p+ss/w=rd:x");
    let sts = with_clients(vec![StsClient::basic(id, secret)]);
    let token = subject(json!({}));
    let encoded = basic(id, secret);
    let claims = minted(
        &sts,
        &exchange(&sts, &token, &[], &[("authorization", &encoded)]),
    );
    assert_eq!(claims["act"], json!({"sub": id}));

    let raw = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
    let response = exchange(&sts, &token, &[], &[("authorization", &raw)]);
    assert_eq!(error_of(&response, 401), "invalid_client");
    assert_eq!(
        response.header("www-authenticate"),
        Some("Basic realm=\"sts\"")
    );
    let requests = sts.requests();
    assert!(requests.iter().all(|r| r.basic));
    assert_eq!(requests[0].client_id.as_deref(), Some(id));
    assert_eq!(sts.issued(), 1);
}

#[test]
fn a_wrong_or_missing_client_is_an_invalid_client() {
    let sts = with_clients(vec![StsClient::basic("orders", "right")]);
    let token = subject(json!({}));
    let wrong = basic("orders", "wrong");
    let stranger = basic("billing", "right");
    let posted = [("client_id", "orders"), ("client_secret", "right")];
    for (fields, headers) in [
        (&[][..], &[("authorization", wrong.as_str())][..]),
        (&[], &[("authorization", stranger.as_str())]),
        (&[], &[("authorization", "Bearer x")]),
        (&[], &[]),
        (&posted, &[]),
    ] {
        let response = exchange(&sts, &token, fields, headers);
        assert_eq!(error_of(&response, 401), "invalid_client");
    }
    assert_eq!((sts.exchanges(), sts.issued()), (5, 0));
    let secrets = format!("{:?}", sts.requests());
    assert!(
        !secrets.contains("right"),
        "a posted secret is kept: {secrets}"
    );
}

/// The exchange of `token` for `AUDIENCE` by `client_id`, over TLS presenting
/// the PKI's client certificate `certificate` (or none).
fn exchange_over_tls(
    sts: &Sts,
    pki: &Pki,
    token: &str,
    client_id: &str,
    certificate: Option<usize>,
) -> Response {
    let fields = [
        ("grant_type", sts::GRANT_TYPE),
        ("subject_token", token),
        ("subject_token_type", sts::ACCESS_TOKEN_TYPE),
        ("audience", AUDIENCE),
        ("client_id", client_id),
    ];
    let (status, body) = pki.post_form(sts.port(), "/token", &fields, certificate);
    Response {
        status,
        headers: Vec::new(),
        body,
    }
}

#[test]
fn a_certificate_client_is_the_one_its_tls_certificate_was_issued_to() {
    let (orders, billing) = (
        "spiffe://cluster.local/ns/shop/sa/orders",
        "spiffe://cluster.local/ns/shop/sa/billing",
    );
    let pki = Pki::new(&[orders, billing]);
    let sts = Sts::start(StsSettings {
        clients: vec![StsClient::certificate(orders)],
        anonymous: false,
        tls: Some(StsTls::of(&pki)),
        ..StsSettings::default()
    });
    let token = subject(json!({}));
    let response = exchange_over_tls(&sts, &pki, &token, orders, Some(0));
    assert_eq!(response.status, 200, "{}", response.body);
    let minted = json_of(&response)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let claims = sts.verify(&minted).unwrap();
    assert_eq!(claims["act"]["sub"], orders);
    // billing's certificate, or none, does not make the caller orders.
    for certificate in [Some(1), None] {
        let response = exchange_over_tls(&sts, &pki, &token, orders, certificate);
        assert_eq!(error_of(&response, 401), "invalid_client");
    }
    // billing is not a client, whatever its certificate.
    let response = exchange_over_tls(&sts, &pki, &token, billing, Some(1));
    assert_eq!(error_of(&response, 401), "invalid_client");
    let requests = sts.requests();
    let seen: Vec<_> = requests.iter().map(|r| r.certificate.as_deref()).collect();
    assert_eq!(seen, [Some(orders), Some(billing), None, Some(billing)]);
    assert!(requests.iter().all(|request| !request.basic));
    assert_eq!(requests[1].client_id.as_deref(), Some(orders));
}

#[test]
fn no_certificate_client_authenticates_over_plain_http() {
    let sts = with_clients(vec![StsClient::certificate("orders")]);
    let token = subject(json!({}));
    let response = exchange(&sts, &token, &[("client_id", "orders")], &[]);
    assert_eq!(error_of(&response, 401), "invalid_client");
    assert_eq!(sts.requests()[0].certificate, None);
}

#[test]
fn subject_tokens_that_do_not_verify_are_invalid_grants() {
    let sts = Sts::start(StsSettings::default());
    let claims = json!({"iss": cases::ISSUER, "sub": "alice", "exp": keys::now() + 600});
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "rsa-1"});
    let forged = keys::sign_raw(header, claims, Signer::Key(TestKey::Rsa2, "RS256"));
    let subjects = [
        ("forged", forged),
        (
            "wrong issuer",
            subject(json!({"iss": "https://other.test"})),
        ),
        ("expired", subject(json!({"exp": keys::now() - 1}))),
        ("expiring now", subject(json!({"exp": keys::now()}))),
        ("no sub", subject(json!({"sub": null}))),
        ("not a JWS", "not.a.jws".to_string()),
    ];
    for (defect, token) in subjects {
        let response = exchange(&sts, &token, &[], &[]);
        assert_eq!(error_of(&response, 400), "invalid_grant", "{defect}");
    }
    assert_eq!(sts.issued(), 0);
}

#[test]
fn requests_out_of_shape_are_refused_in_oauth_terms() {
    let sts = Sts::start(StsSettings::default());
    let token = subject(json!({}));
    let code = "authorization_code";
    let port = sts.port();
    let cases: [(Response, &str); 5] = [
        (
            http::post_form(port, "/token", &[("grant_type", code)], &[]),
            "unsupported_grant_type",
        ),
        (
            http::post_form(port, "/token", &[("subject_token", &token)], &[]),
            "invalid_request",
        ),
        (
            exchange(&sts, &token, &[("subject_token_type", "x")], &[]),
            "invalid_request",
        ),
        (
            exchange(
                &sts,
                &token,
                &[("requested_token_type", sts::JWT_TOKEN_TYPE)],
                &[],
            ),
            "invalid_request",
        ),
        (
            http::request(port, "POST", "/token", &[], b"grant_type=x"),
            "invalid_request",
        ),
    ];
    for (response, error) in cases {
        assert_eq!(error_of(&response, 400), error, "{}", response.body);
    }
    let jwt = [
        ("grant_type", sts::GRANT_TYPE),
        ("subject_token", &token),
        ("subject_token_type", sts::JWT_TOKEN_TYPE),
        ("resource", "https://payments.example/"),
    ];
    let response = http::post_form(port, "/token", &jwt, &[]);
    assert_eq!(
        minted(&sts, &response)["sub"],
        "alice",
        "a jwt subject is taken"
    );
}

#[test]
fn the_form_is_decoded_and_only_targets_repeat() {
    let sts = Sts::start(StsSettings::default());
    let token = subject(json!({}));
    let raw = format!(
        "grant_type={}&subject_token={token}&subject_token_type={}&audience=pay+ments%2Fsvc",
        form_encode(sts::GRANT_TYPE),
        form_encode(sts::ACCESS_TOKEN_TYPE)
    );
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let response = http::request(sts.port(), "POST", "/token", &form, raw.as_bytes());
    assert_eq!(response.status, 200, "{}", response.body);
    let access = json_of(&response)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let claims: Value =
        serde_json::from_slice(&keys::b64_decode(access.split('.').nth(1).unwrap())).unwrap();
    assert_eq!(claims["aud"], "pay ments/svc");

    let two = exchange(
        &sts,
        &token,
        &[("audience", "https://payments.example/")],
        &[],
    );
    assert_eq!(
        minted(&sts, &two)["aud"],
        json!([AUDIENCE, "https://payments.example/"])
    );
    let twice = exchange(&sts, &token, &[("subject_token", &token)], &[]);
    assert_eq!(error_of(&twice, 400), "invalid_request");
    let broken = format!("{raw}&scope=%zz");
    let response = http::request(sts.port(), "POST", "/token", &form, broken.as_bytes());
    assert_eq!(error_of(&response, 400), "invalid_request");
}

#[test]
fn targets_outside_the_allow_lists_are_invalid_targets() {
    let sts = Sts::start(StsSettings {
        audiences: Some(vec![AUDIENCE.into()]),
        resources: Some(vec!["https://payments.example/".into()]),
        ..StsSettings::default()
    });
    let token = subject(json!({}));
    let grant = [
        ("grant_type", sts::GRANT_TYPE),
        ("subject_token", token.as_str()),
        ("subject_token_type", sts::ACCESS_TOKEN_TYPE),
    ];
    let with = |target: &[(&str, &str)]| {
        let mut fields = grant.to_vec();
        fields.extend_from_slice(target);
        http::post_form(sts.port(), "/token", &fields, &[])
    };
    let resource = minted(&sts, &with(&[("resource", "https://payments.example/")]));
    assert_eq!(resource["aud"], "https://payments.example/");
    for target in [
        &[][..],
        &[("audience", "billing.svc")],
        &[("audience", "")],
        &[("resource", "https://billing.example/")],
        &[
            ("audience", AUDIENCE),
            ("resource", "https://billing.example/"),
        ],
    ] {
        assert_eq!(error_of(&with(target), 400), "invalid_target", "{target:?}");
    }
    assert_eq!(sts.issued(), 1);
}

#[test]
fn a_scope_beyond_the_subjects_is_an_invalid_scope() {
    let sts = Sts::start(StsSettings::default());
    let token = subject(json!({"scope": "pay:read pay:write"}));
    let claims = minted(&sts, &exchange(&sts, &token, &[("scope", "pay:read")], &[]));
    assert_eq!(claims["scope"], "pay:read");
    let response = exchange(&sts, &token, &[("scope", "pay:read pay:admin")], &[]);
    assert_eq!(error_of(&response, 400), "invalid_scope");
    let unscoped = subject(json!({}));
    let claims = minted(
        &sts,
        &exchange(&sts, &unscoped, &[("scope", "pay:admin")], &[]),
    );
    assert_eq!(
        claims["scope"], "pay:admin",
        "a subject without scope limits none"
    );
}

#[test]
fn a_prior_actor_is_nested_and_the_life_ends_with_the_subject() {
    let sts = with_clients(vec![StsClient::basic("orders", "secret")]);
    let exp = keys::now() + 60;
    let token = subject(json!({"act": {"sub": "gateway"}, "exp": exp}));
    let credentials = basic("orders", "secret");
    let claims = minted(
        &sts,
        &exchange(&sts, &token, &[], &[("authorization", &credentials)]),
    );
    assert_eq!(
        claims["act"],
        json!({"sub": "orders", "act": {"sub": "gateway"}})
    );
    assert_eq!(claims["exp"], exp);
}

#[test]
fn rotation_changes_the_kid_while_the_jwks_holds_both() {
    let sts = Sts::start(StsSettings::default());
    let token = subject(json!({}));
    let before = exchange(&sts, &token, &[], &[]);
    assert_eq!(kid_of(&before), "ec256-1");
    sts.rotate(TestKey::Ec384);
    let after = exchange(&sts, &token, &[], &[]);
    assert_eq!(kid_of(&after), "ec384-1");
    let jwks = json_of(&http::get(sts.port(), "/jwks", &[]));
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["ec256-1", "ec384-1"]);
    assert_eq!(jwks, sts.jwks());
    for response in [&before, &after] {
        assert_eq!(minted(&sts, response)["sub"], "alice");
    }
    assert_eq!(sts.signing_key(), TestKey::Ec384);
}

#[test]
fn a_published_key_is_served_before_it_signs_and_verify_knows_what_it_minted() {
    let sts = Sts::start(StsSettings::default());
    let token = subject(json!({}));
    sts.publish(TestKey::Ed);
    let jwks = json_of(&http::get(sts.port(), "/jwks", &[]));
    assert_eq!(jwks, keys::jwks(&[TestKey::Ec256, TestKey::Ed]));
    let before = exchange(&sts, &token, &[], &[]);
    assert_eq!(kid_of(&before), "ec256-1", "published, not yet signing");
    sts.rotate(TestKey::Ed);
    let after = exchange(&sts, &token, &[], &[]);
    assert_eq!(kid_of(&after), "ed-1");
    assert_eq!(sts.jwks(), keys::jwks(&[TestKey::Ec256, TestKey::Ed]));
    for response in [&before, &after] {
        let minted = json_of(response)["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(sts.verify(&minted).unwrap()["aud"], AUDIENCE);
    }
    let error = sts.verify(&token).unwrap_err();
    assert!(
        error.contains("rsa-1"),
        "a subject token is not minted: {error}"
    );
    let other = keys::sign_default(
        TestKey::Ec384,
        json!({"iss": sts.issuer(), "sub": "x",
        "aud": AUDIENCE, "exp": keys::now() + 60}),
    );
    assert!(sts.verify(&other).is_err(), "a key it never signed with");
}

#[test]
fn every_answer_is_recorded_as_decided_with_its_fault() {
    let sts = Sts::start(StsSettings::default());
    let token = subject(json!({}));
    let stall = Duration::from_millis(300);
    sts.fault_every(
        2,
        vec![
            Fault::Refuse("invalid_grant".into()),
            Fault::Fail(503),
            Fault::Stall(stall),
        ],
    );
    let started = Instant::now();
    for _ in 0..6 {
        exchange(&sts, &token, &[], &[]);
    }
    sts.normal();
    exchange(
        &sts,
        &subject(json!({"iss": "https://other.test"})),
        &[],
        &[],
    );
    let requests = sts.requests();
    let answers: Vec<(Option<&sts::Answer>, bool)> = requests
        .iter()
        .map(|r| (r.answer(), r.answered.as_ref().is_some_and(|a| a.fault)))
        .collect();
    let refused = |error: &str| sts::Answer::Refused {
        status: 400,
        error: error.into(),
    };
    let (issued, invalid_grant) = (sts::Answer::Issued, refused("invalid_grant"));
    assert_eq!(
        answers,
        [
            (Some(&issued), false),
            (Some(&invalid_grant), true),
            (Some(&issued), false),
            (Some(&sts::Answer::Failed(503)), true),
            (Some(&issued), false),
            (Some(&sts::Answer::Stalled(stall)), true),
            (Some(&invalid_grant), false),
        ]
    );
    for request in &requests {
        let answered = request.answered.as_ref().unwrap();
        assert!(started <= request.received && request.received <= answered.at);
    }
    let stalled = &requests[5];
    assert!(
        stalled.answered.as_ref().unwrap().at - stalled.received < stall,
        "a stall is recorded before its wait"
    );
}

#[test]
fn overrides_answer_as_set_and_normal_undoes_them() {
    let sts = Sts::start(StsSettings::default());
    let token = subject(json!({}));
    sts.refuse("invalid_grant");
    assert_eq!(
        error_of(&exchange(&sts, &token, &[], &[]), 400),
        "invalid_grant"
    );
    sts.fail(503);
    let failed = exchange(&sts, &token, &[], &[]);
    assert_eq!(failed.status, 503);
    assert!(!failed.body.is_empty());
    sts.garbage();
    let garbage = exchange(&sts, &token, &[], &[]);
    assert_eq!(garbage.status, 200);
    assert!(
        serde_json::from_str::<Value>(&garbage.body).is_err(),
        "{}",
        garbage.body
    );
    let body =
        json!({"access_token": "x", "token_type": "N_A", "issued_token_type": sts::JWT_TOKEN_TYPE});
    sts.answer(body.clone());
    let answered = exchange(&sts, &token, &[], &[]);
    assert_eq!((answered.status, json_of(&answered)), (200, body));
    assert_eq!(sts.issued(), 0);
    sts.normal();
    minted(&sts, &exchange(&sts, &token, &[], &[]));
    assert_eq!((sts.exchanges(), sts.issued()), (5, 1));
}

#[test]
fn a_stall_delays_the_answer() {
    let sts = Sts::start(StsSettings::default());
    let token = subject(json!({}));
    sts.stall(Duration::from_millis(800));
    let started = Instant::now();
    minted(&sts, &exchange(&sts, &token, &[], &[]));
    assert!(started.elapsed() >= Duration::from_millis(800));
    sts.normal();
    let started = Instant::now();
    minted(&sts, &exchange(&sts, &token, &[], &[]));
    assert!(started.elapsed() < Duration::from_millis(800));
}

#[test]
fn every_nth_request_gets_the_next_fault() {
    let sts = Sts::start(StsSettings::default());
    let token = subject(json!({}));
    let stall = Duration::from_millis(800);
    let faults = vec![
        Fault::Refuse("invalid_grant".into()),
        Fault::Fail(503),
        Fault::Stall(stall),
    ];
    sts.fault_every(2, faults);
    let mut seen = Vec::new();
    for _ in 0..8 {
        let started = Instant::now();
        let response = exchange(&sts, &token, &[], &[]);
        seen.push((response.status, started.elapsed() >= stall));
    }
    let expected = [
        (200, false),
        (400, false),
        (200, false),
        (503, false),
        (200, false),
        (200, true),
        (200, false),
        (400, false),
    ];
    assert_eq!(seen, expected);
    assert_eq!((sts.exchanges(), sts.issued()), (8, 5));
    let rotation = Fault::rotation(Duration::from_secs(2));
    assert_eq!(rotation[2], Fault::Stall(Duration::from_secs(3)));
}

#[test]
fn only_get_jwks_and_post_token_are_served() {
    let sts = Sts::start(StsSettings::default());
    assert_eq!(http::get(sts.port(), "/token", &[]).status, 404);
    assert_eq!(
        http::request(sts.port(), "POST", "/jwks", &[], b"x").status,
        404
    );
    assert_eq!(http::get(sts.port(), "/", &[]).status, 404);
    let jwks = http::get(sts.port(), "/jwks", &[]);
    assert_eq!(json_of(&jwks), keys::jwks(&[TestKey::Ec256]));
    assert_eq!(sts.exchanges(), 0);
}
