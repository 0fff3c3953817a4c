//! A token exchange that gives no usable token never lets the request leave:
//! the token service refusing the subject token is the application's 401
//! `exchange_refused`; refusing our client, failing, stalling or answering
//! garbage is a 503 `exchange`; each with a log line in words and a stat, and
//! the original token nowhere but at the token service.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::chain::{
    shipped_outbound_config, sts_settings, subject_token, Chain, PAYMENTS,
};
use crate::support::sts::{StsClient, StsSettings};
use crate::support::Envoy;

/// Calls once through `chain` and checks the refusal: `status`, nothing at the
/// upstream, and the log names the destination and `said`, never the token.
fn refused(chain: &Chain, status: u16, said: &str) -> crate::support::Response {
    let token = subject_token(json!({}));
    let response = chain.call(&token);
    assert_eq!(response.status, status, "{}", response.body);
    assert!(chain.upstream.requests().is_empty(), "nothing leaves");
    assert!(
        chain.caller.wait_for_log(said, Duration::from_secs(5)),
        "log says {said:?}:\n{}",
        chain.caller.log()
    );
    let log = chain.caller.log();
    assert!(
        log.contains(&format!("exchange for {PAYMENTS}")),
        "the log names the destination"
    );
    assert!(!log.contains(&token), "the token is never logged");
    response
}

#[test]
fn a_refused_subject_token_is_the_applications_401() {
    let chain = Chain::start(&shipped_outbound_config(), sts_settings());
    chain.sts.refuse("invalid_grant");
    let response = refused(&chain, 401, "error invalid_grant");
    assert_eq!(
        response.header("www-authenticate"),
        Some(format!("Bearer realm=\"{PAYMENTS}\", error=\"invalid_token\"").as_str())
    );
    let stats = chain.caller.admin_until("/stats?filter=audgate", |b| {
        b.contains("refused;.;audgate_exchanges_total: 1")
    });
    assert!(
        stats.contains(&format!(
            "destination=.={PAYMENTS};.;result=.=refused;.;audgate_exchanges_total: 1"
        )),
        "{stats}"
    );
    assert!(
        stats.contains("reason=.=exchange_refused;.;audgate_requests_total: 1"),
        "{stats}"
    );
}

#[test]
fn a_failing_token_service_is_a_503_and_nothing_is_remembered() {
    let chain = Chain::start(&shipped_outbound_config(), sts_settings());
    chain.sts.fail(503);
    let response = refused(&chain, 503, "the token service answered 503");
    assert_eq!(response.header("www-authenticate"), None);
    chain.sts.normal();
    assert_eq!(
        chain.call(&subject_token(json!({}))).status,
        200,
        "a failure is not kept"
    );
    let stats = chain.caller.admin_until("/stats?filter=audgate", |b| {
        b.contains("failed;.;audgate_exchanges_total: 1")
    });
    assert!(
        stats.contains("reason=.=exchange;.;audgate_requests_total: 1"),
        "{stats}"
    );
}

#[test]
fn unusable_answers_are_503s_named_in_the_log() {
    let issued = |token_type: &str, issued_type: &str| json!({"access_token": "a.b.c", "token_type": token_type, "issued_token_type": issued_type, "expires_in": 60});
    let access = "urn:ietf:params:oauth:token-type:access_token";
    let cases: [(Option<Value>, &str); 4] = [
        (None, "not a JSON object"),
        (Some(issued("N_A", access)), "token_type is not Bearer"),
        (
            Some(issued("Bearer", "urn:ietf:params:oauth:token-type:saml2")),
            "issued_token_type",
        ),
        (
            Some(json!({"token_type": "Bearer", "issued_token_type": access})),
            "no usable access_token",
        ),
    ];
    for (answer, said) in cases {
        let chain = Chain::start(&shipped_outbound_config(), sts_settings());
        match answer {
            None => chain.sts.garbage(),
            Some(body) => chain.sts.answer(body),
        }
        refused(&chain, 503, said);
    }
}

#[test]
fn a_client_the_token_service_refuses_is_a_503_that_says_so() {
    let settings = StsSettings {
        clients: vec![StsClient::basic("orders", "another secret")],
        anonymous: false,
        ..StsSettings::default()
    };
    let chain = Chain::start(&shipped_outbound_config(), settings);
    refused(&chain, 503, "refused this workload's client (401)");
}

#[test]
fn a_token_service_that_does_not_answer_in_time_is_a_503() {
    let mut config = shipped_outbound_config();
    config["exchange"]["timeout_ms"] = json!(300);
    let chain = Chain::start(&config, sts_settings());
    chain.sts.stall(Duration::from_millis(1500));
    refused(&chain, 503, "did not answer in time");
}

#[test]
fn an_unreachable_token_service_or_a_missing_cluster_is_a_503() {
    let unreachable = Chain::start(&shipped_outbound_config(), sts_settings());
    let dead = Envoy::outbound(&shipped_outbound_config(), unreachable.callee.port(), 1)
        .env(
            crate::support::chain::SECRET_ENV,
            crate::support::chain::CLIENT_SECRET,
        )
        .start();
    let token = subject_token(json!({}));
    let response = crate::support::http::get(
        dead.port(),
        "/charge",
        &[
            ("host", PAYMENTS),
            ("authorization", &format!("Bearer {token}")),
        ],
    );
    assert_eq!(response.status, 503);
    assert!(
        dead.wait_for_log("exchange for payments.demo.svc", Duration::from_secs(5)),
        "{}",
        dead.log()
    );
    let mut config = shipped_outbound_config();
    config["exchange"]["cluster"] = json!("no_such_cluster");
    let missing = Envoy::outbound(&config, unreachable.callee.port(), unreachable.sts.port())
        .env(
            crate::support::chain::SECRET_ENV,
            crate::support::chain::CLIENT_SECRET,
        )
        .start();
    let response = crate::support::http::get(
        missing.port(),
        "/charge",
        &[
            ("host", PAYMENTS),
            ("authorization", &format!("Bearer {token}")),
        ],
    );
    assert_eq!(response.status, 503);
    assert!(
        missing.wait_for_log(
            "is cluster no_such_cluster defined?",
            Duration::from_secs(5)
        ),
        "{}",
        missing.log()
    );
    assert!(unreachable.upstream.requests().is_empty());
}

#[test]
fn a_missing_secret_refuses_the_configuration_at_start_up() {
    let sts = crate::support::sts::Sts::start(sts_settings());
    let refused = Envoy::outbound(&shipped_outbound_config(), 1, sts.port()).try_start();
    let log = refused
        .err()
        .expect("Envoy refuses a plugin whose secret is missing");
    assert!(log.contains("exchange.client_secret_env"), "{log}");
    assert!(log.contains("AUDGATE_STS_SECRET"), "{log}");
}

#[test]
fn a_body_sent_while_the_exchange_is_under_way_does_not_carry_the_request_out() {
    let chain = Chain::start(&shipped_outbound_config(), sts_settings());
    chain.sts.stall(Duration::from_millis(800));
    chain.sts.refuse("invalid_grant");
    let token = subject_token(json!({}));
    let response = crate::support::http::request(
        chain.caller.port(),
        "POST",
        "/charge",
        &[
            ("host", PAYMENTS),
            ("authorization", &format!("Bearer {token}")),
            ("content-type", "application/json"),
        ],
        br#"{"amount": 5}"#,
    );
    assert_eq!(response.status, 401);
    assert!(
        chain.upstream.requests().is_empty(),
        "neither headers nor body went on"
    );
}
