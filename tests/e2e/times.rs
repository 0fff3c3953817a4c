//! Time settings through real Envoy: `clock_skew_s`, `require_exp` and
//! `max_lifetime_s`, which a future `iat` does not stretch.

use crate::support::keys::now;
use crate::support::providers::{bearer, corp, corp_token};
use crate::support::Rig;
use serde_json::{json, Value};

#[test]
fn clock_skew_require_exp_and_max_lifetime() {
    let now = now();
    let expired_30s = json!({"exp": now - 30, "iat": now - 600});
    let no_exp = json!({"exp": null});
    let two_hours = json!({"iat": now, "exp": now + 7200});

    let rig = Rig::new(&json!({"providers": [corp(json!({}))]}));
    let status = |rig: &Rig, extra: &Value| {
        rig.status(
            "GET",
            "/",
            &[("authorization", &bearer(&corp_token(extra.clone())))],
        )
    };
    assert_eq!(
        status(&rig, &expired_30s),
        200,
        "within the default 60 s skew"
    );
    assert_eq!(status(&rig, &no_exp), 401, "require_exp defaults to true");
    assert_eq!(status(&rig, &two_hours), 200);

    let mut strict = corp(json!({}));
    strict["clock_skew_s"] = json!(0);
    strict["require_exp"] = json!(false);
    strict["max_lifetime_s"] = json!(3600);
    let rig = Rig::new(&json!({"providers": [strict]}));
    assert_eq!(status(&rig, &expired_30s), 401);
    assert_eq!(status(&rig, &two_hours), 401);
    assert_eq!(status(&rig, &json!({"exp": now + 600})), 200);
    let mut lax = corp(json!({}));
    lax["require_exp"] = json!(false);
    let rig = Rig::new(&json!({"providers": [lax]}));
    assert_eq!(status(&rig, &no_exp), 200);
}

/// Hardening round 2, finding 7: a future `iat` does not stretch `max_lifetime_s`.
#[test]
fn a_future_iat_does_not_dodge_max_lifetime() {
    let rig = Rig::new(&json!({"providers": [corp(json!({"max_lifetime_s": 3600}))]}));
    let now = now();
    let stretched = corp_token(json!({"iat": now + 23 * 3600, "exp": now + 24 * 3600}));
    let (status, seen) = rig.send("GET", "/", &[("authorization", &bearer(&stretched))]);
    assert_eq!(status, 401);
    assert!(seen.is_none());
    let fine = corp_token(json!({"iat": now, "exp": now + 3600}));
    assert_eq!(
        rig.send("GET", "/", &[("authorization", &bearer(&fine))]).0,
        200
    );
    // An issuer whose clock runs ahead of the proxy's, within the clock skew: its
    // token's own lifetime counts (this test once failed when the proxy's clock,
    // read on its tick, was a second behind the one that minted `fine`).
    let ahead = corp_token(json!({"iat": now + 5, "exp": now + 5 + 3600}));
    assert_eq!(
        rig.send("GET", "/", &[("authorization", &bearer(&ahead))])
            .0,
        200
    );
}
