//! Token exchange through two Envoys: the caller's (envoy/outbound.yaml, its
//! own configuration) exchanges the token its workload sends on for one minted
//! for the destination; the callee's (envoy/envoy.yaml) verifies that token's
//! audience; the upstream sees the exchanged identity and never the original.

use std::time::Duration;

use serde_json::json;

use crate::support::chain::{
    assert_never_forwarded, shipped_outbound_config, sts_settings, subject_token, verified_payload,
    Chain, CLIENT_ID, CLIENT_SECRET, PAYMENTS,
};
use crate::support::sts::sha256_hex;

#[test]
fn a_token_for_orders_reaches_payments_as_a_token_for_payments() {
    let chain = Chain::start(&shipped_outbound_config(), sts_settings());
    let original = subject_token(json!({}));
    let response = chain.call(&original);
    assert_eq!(response.status, 200, "{}", response.body);
    let requests = chain.upstream.requests();
    assert_eq!(requests.len(), 1);
    let payload = verified_payload(&requests[0]);
    assert_eq!(payload["aud"], PAYMENTS);
    assert_eq!(payload["sub"], "alice");
    assert_eq!(
        payload["act"]["sub"], CLIENT_ID,
        "the exchange names who acted"
    );
    assert_eq!(payload["scope"], "payments:charge", "down-scoped");
    let sent = requests[0].header("authorization").unwrap();
    assert!(sent.starts_with("Bearer ") && !sent.contains(&original));
    assert_never_forwarded(&chain.upstream, &original);
    let asked = chain.sts.requests();
    assert_eq!(asked.len(), 1);
    assert!(
        asked[0].basic,
        "client_secret_basic with the secret from the VM's environment"
    );
    assert_eq!(asked[0].field("audience"), Some(PAYMENTS));
    assert_eq!(asked[0].field("scope"), Some("payments:charge"));
    assert_eq!(
        asked[0].field("subject_token"),
        Some(sha256_hex(&original).as_str())
    );
    assert_eq!(
        asked[0].field("requested_token_type"),
        Some("urn:ietf:params:oauth:token-type:access_token")
    );
}

#[test]
fn an_exchanged_token_is_used_again_while_fresh_and_counted() {
    let chain = Chain::start(&shipped_outbound_config(), sts_settings());
    let original = subject_token(json!({}));
    for _ in 0..5 {
        assert_eq!(chain.call(&original).status, 200);
    }
    assert_eq!(
        chain.sts.exchanges(),
        1,
        "one exchange per token and destination"
    );
    let other = subject_token(json!({"sub": "bob"}));
    assert_eq!(chain.call(&other).status, 200);
    assert_eq!(chain.sts.exchanges(), 2);
    let stats = chain
        .caller
        .admin_until("/stats?filter=audgate_exchanges", |body| {
            // Both counts: stats are flushed on the tick, so the first may be
            // there a tick before the second.
            body.contains("result=.=cache_hit;.;audgate_exchanges_total: 4")
                && body.contains("result=.=exchanged;.;audgate_exchanges_total: 2")
        });
    assert!(
        stats.contains(&format!(
            "destination=.={PAYMENTS};.;result=.=cache_hit;.;audgate_exchanges_total: 4"
        )),
        "{stats}"
    );
    assert!(
        stats.contains(&format!(
            "destination=.={PAYMENTS};.;result=.=exchanged;.;audgate_exchanges_total: 2"
        )),
        "{stats}"
    );
}

#[test]
fn a_token_bound_elsewhere_is_removed_and_counted_unmatched() {
    let chain = Chain::start(&shipped_outbound_config(), sts_settings());
    let original = subject_token(json!({}));
    let bearer = format!("Bearer {original}");
    let response = chain.call_to(
        "elsewhere.example",
        "/public",
        &[("authorization", &bearer), ("dpop", "proof")],
    );
    assert_eq!(response.status, 200, "{}", response.body);
    let requests = chain.upstream.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].header("authorization"), None);
    assert_eq!(
        requests[0].header("dpop"),
        None,
        "the proof goes where its token goes"
    );
    assert_eq!(chain.sts.exchanges(), 0);
    let stats = chain.caller.admin_until("/stats?filter=unmatched", |body| {
        body.contains("unmatched;.;audgate_exchanges_total: 1")
    });
    assert!(
        stats.contains("destination=.=none;.;result=.=unmatched;.;audgate_exchanges_total: 1"),
        "{stats}"
    );
}

#[test]
fn a_call_without_a_token_goes_on_as_it_is() {
    let chain = Chain::start(&shipped_outbound_config(), sts_settings());
    let response = chain.call_to(PAYMENTS, "/public", &[("x-trace", "1")]);
    assert_eq!(response.status, 200);
    assert_eq!(chain.upstream.requests()[0].header("x-trace"), Some("1"));
    assert_eq!(chain.sts.exchanges(), 0);
}

#[test]
fn the_secret_is_read_from_the_environment_and_shown_nowhere() {
    let chain = Chain::start(&shipped_outbound_config(), sts_settings());
    assert_eq!(chain.call(&subject_token(json!({}))).status, 200);
    let dump = chain.caller.admin("/config_dump").body;
    let stats = chain.caller.admin("/stats").body;
    for (what, text) in [
        ("log", chain.caller.log()),
        ("config dump", dump),
        ("stats", stats),
    ] {
        assert!(
            !text.contains(CLIENT_SECRET),
            "the secret shows in the {what}"
        );
    }
}

#[test]
fn concurrent_calls_with_one_token_share_one_exchange() {
    let chain = Chain::start(&shipped_outbound_config(), sts_settings());
    chain.sts.stall(Duration::from_millis(700));
    let original = subject_token(json!({}));
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..12)
            .map(|_| scope.spawn(|| chain.call(&original).status))
            .collect();
        calls.into_iter().map(|call| call.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");
    assert_eq!(
        chain.sts.exchanges(),
        1,
        "one callout for every waiting request"
    );
    assert_eq!(chain.upstream.requests().len(), 12);
    assert_never_forwarded(&chain.upstream, &original);
}
