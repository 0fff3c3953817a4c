//! Audit mode through real Envoy: a request that would be refused goes upstream
//! marked with its reason in `x-audgate-would-reject`, and without the tokens it
//! carried, as a passed request goes.

use crate::support::providers::{bearer, corp, corp_token, forged};
use crate::support::Rig;
use serde_json::json;

#[test]
fn audit_mode_lets_rejections_through_marked() {
    let rig = Rig::new(&json!({"providers": [corp(json!({}))], "mode": "audit"}));
    let other = bearer(&corp_token(json!({"aud": "payments.svc"})));
    let (status, seen) = rig.send(
        "GET",
        "/",
        &[
            ("authorization", &other),
            ("x-audgate-would-reject", "nothing"),
        ],
    );
    assert_eq!(status, 200);
    assert_eq!(
        seen.unwrap().headers_named("x-audgate-would-reject"),
        vec!["audience"]
    );
    let (status, seen) = rig.send("GET", "/", &[]);
    assert_eq!(status, 200);
    assert_eq!(
        seen.unwrap().header("x-audgate-would-reject"),
        Some("missing")
    );
    let (status, seen) = rig.send(
        "GET",
        "/",
        &[("authorization", &bearer(&corp_token(json!({}))))],
    );
    assert_eq!(status, 200);
    let seen = seen.unwrap();
    assert_eq!(seen.header("x-audgate-would-reject"), None);
    assert_eq!(seen.header("authorization"), None);
}

/// Hardening round 2, finding 2: audit mode removes a refused token as it removes a
/// passed one.
#[test]
fn audit_mode_does_not_send_refused_tokens_upstream() {
    let config = json!({
        "providers": [corp(json!({"from_params": ["access_token"], "from_cookies": ["sess"]}))],
        "mode": "audit",
    });
    let rig = Rig::new(&config);
    let other = corp_token(json!({"aud": "payments.svc"}));
    let (status, seen) = rig.send("GET", "/orders", &[("authorization", &bearer(&other))]);
    assert_eq!(status, 200);
    let seen = seen.unwrap();
    assert_eq!(seen.header("x-audgate-would-reject"), Some("audience"));
    assert_eq!(
        seen.header("authorization"),
        None,
        "a token for another service went upstream"
    );
    // Two different tokens (refused as ambiguous) are both removed.
    let cookie = format!("a=1; sess={}", forged(json!({})));
    let path = format!("/orders?access_token={other}&x=1");
    let (status, seen) = rig.send(
        "GET",
        &path,
        &[("authorization", &bearer(&other)), ("cookie", &cookie)],
    );
    assert_eq!(status, 200);
    let seen = seen.unwrap();
    assert_eq!(seen.header("x-audgate-would-reject"), Some("malformed"));
    assert_eq!(seen.header("authorization"), None);
    assert_eq!(seen.path, "/orders?x=1");
    assert_eq!(seen.header("cookie"), Some("a=1"));
}
