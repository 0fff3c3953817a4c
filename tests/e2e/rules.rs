//! Route rules through real Envoy: several providers, whose tokens never pass a
//! rule for another; `none`, `allow_missing`, `methods`, `all` and `any`; and
//! CORS preflight. Each test would fail without the field it names. The rest of
//! the policy has modules of its own: route_policy (per-route requirements),
//! paths, token_sources, claims, outputs, times, keys and audit_mode.

use crate::support::providers::{bearer, corp, corp_token, partner_token, two_provider_rules};
use crate::support::Rig;
use serde_json::json;

#[test]
fn a_token_from_one_issuer_never_passes_a_rule_for_another() {
    let rig = Rig::new(&two_provider_rules());
    let corp_in_partner_header = format!("Token {}", corp_token(json!({})));
    assert_eq!(
        rig.status(
            "GET",
            "/partner/x",
            &[("x-partner-token", &corp_in_partner_header)]
        ),
        401
    );
    assert_eq!(
        rig.status(
            "GET",
            "/partner/x",
            &[("authorization", &bearer(&corp_token(json!({}))))]
        ),
        401
    );
    let partner_header = format!("Token {}", partner_token(json!({})));
    assert_eq!(
        rig.status("GET", "/partner/x", &[("x-partner-token", &partner_header)]),
        200
    );
    // no rule matches /other: any provider, each from its own sources
    assert_eq!(
        rig.status(
            "GET",
            "/other",
            &[("authorization", &bearer(&corp_token(json!({}))))]
        ),
        200
    );
    assert_eq!(
        rig.status("GET", "/other", &[("x-partner-token", &partner_header)]),
        200
    );
    assert_eq!(rig.status("GET", "/other", &[]), 401);
}

#[test]
fn rules_none_allow_missing_methods_and_all() {
    let rig = Rig::new(&two_provider_rules());
    let garbage = "Bearer not.a.token";
    // none: not checked, not removed
    let (status, seen) = rig.send("GET", "/healthz?probe=1", &[("authorization", garbage)]);
    assert_eq!(status, 200);
    assert_eq!(seen.unwrap().header("authorization"), Some(garbage));
    assert_eq!(
        rig.status("GET", "/healthz/deep", &[]),
        401,
        "path is exact"
    );
    // allow_missing: no token passes, a bad one does not
    assert_eq!(rig.status("GET", "/public/a", &[]), 200);
    assert_eq!(
        rig.status("GET", "/public/a", &[("authorization", garbage)]),
        401
    );
    assert_eq!(
        rig.status(
            "GET",
            "/public/a",
            &[("authorization", &bearer(&corp_token(json!({}))))]
        ),
        200
    );
    // all, for POST only
    let corp = bearer(&corp_token(json!({})));
    let partner = format!("Token {}", partner_token(json!({})));
    assert_eq!(
        rig.status(
            "POST",
            "/admin/x",
            &[("authorization", &corp), ("x-partner-token", &partner)]
        ),
        200
    );
    assert_eq!(
        rig.status("POST", "/admin/x", &[("authorization", &corp)]),
        401
    );
    assert_eq!(
        rig.status("GET", "/admin/x", &[("authorization", &corp)]),
        200,
        "GET falls to any provider"
    );
}

#[test]
fn cors_preflight_passes_only_when_bypassed_and_well_formed() {
    let mut config = json!({"providers": [corp(json!({}))], "bypass_cors_preflight": true});
    let rig = Rig::new(&config.clone());
    let preflight = [
        ("origin", "https://app.test"),
        ("access-control-request-method", "POST"),
    ];
    assert_eq!(rig.status("OPTIONS", "/orders", &preflight), 200);
    assert_eq!(
        rig.status("OPTIONS", "/orders", &[("origin", "https://app.test")]),
        401
    );
    assert_eq!(rig.status("GET", "/orders", &preflight), 401);
    config["bypass_cors_preflight"] = json!(false);
    let rig = Rig::new(&config);
    assert_eq!(rig.status("OPTIONS", "/orders", &preflight), 401);
}
