//! The policy half of the contract through real Envoy: several providers, token
//! sources, route rules, required claims, header outputs and their forgery, CORS
//! preflight, time and algorithm settings, and audit mode. Each test would fail
//! without the field it names.

use crate::support::keys::{self, now, Signer, TestKey};
use crate::support::providers::{
    bearer, claims, corp, corp_token, partner_token, two_provider_rules, AUD, CORP,
};
use crate::support::{http, Rig};
use serde_json::{json, Value};

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
fn custom_header_prefix_is_matched_ignoring_case_and_removed() {
    let rig = Rig::new(&two_provider_rules());
    let header = format!("token {}", partner_token(json!({})));
    let (status, seen) = rig.send(
        "GET",
        "/partner",
        &[("x-partner-token", &header), ("x-other", "kept")],
    );
    assert_eq!(status, 200);
    let seen = seen.unwrap();
    assert_eq!(seen.header("x-partner-token"), None);
    assert_eq!(seen.header("x-other"), Some("kept"));
}

#[test]
fn a_query_parameter_token_is_removed_from_the_path() {
    let rig = Rig::new(&two_provider_rules());
    let path = format!(
        "/partner/items?a=1&access_token={}&b=2",
        partner_token(json!({}))
    );
    let (status, seen) = rig.send("GET", &path, &[]);
    assert_eq!(status, 200);
    assert_eq!(seen.unwrap().path, "/partner/items?a=1&b=2");
}

#[test]
fn a_cookie_token_is_removed_from_the_cookie_header() {
    let rig = Rig::new(&two_provider_rules());
    let cookie = format!(
        "theme=dark; partner_session={}; lang=en",
        partner_token(json!({}))
    );
    let (status, seen) = rig.send("GET", "/partner", &[("cookie", &cookie)]);
    assert_eq!(status, 200);
    assert_eq!(seen.unwrap().header("cookie"), Some("theme=dark; lang=en"));
}

#[test]
fn two_different_tokens_for_one_requirement_are_refused() {
    let rig = Rig::new(&two_provider_rules());
    let header = format!("Token {}", partner_token(json!({})));
    let path = format!(
        "/partner?access_token={}",
        partner_token(json!({"sub": "mallory"}))
    );
    assert_eq!(
        rig.status("GET", &path, &[("x-partner-token", &header)]),
        401
    );
    // the same token in two places is one token
    let token = partner_token(json!({}));
    let path = format!("/partner?access_token={token}");
    assert_eq!(
        rig.status(
            "GET",
            &path,
            &[("x-partner-token", &format!("Token {token}"))]
        ),
        200
    );
    // under any, a corp token and a different partner token are two tokens
    let corp = bearer(&corp_token(json!({})));
    assert_eq!(
        rig.status(
            "GET",
            "/either",
            &[("authorization", &corp), ("x-partner-token", &header)]
        ),
        401
    );
    assert_eq!(
        rig.status("GET", "/either", &[("authorization", &corp)]),
        200
    );
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

#[test]
fn required_claims_by_value_element_and_word() {
    let mut provider = corp(json!({}));
    provider["required_claims"] =
        json!({"scope": "orders:read", "tenant": "acme", "roles": ["reader"]});
    let rig = Rig::new(&json!({"providers": [provider]}));
    let good = json!({"scope": "profile orders:read", "tenant": "acme", "roles": ["reader", "x"]});
    assert_eq!(
        rig.status("GET", "/", &[("authorization", &bearer(&corp_token(good)))]),
        200
    );
    for missing in [
        json!({"scope": "profile", "tenant": "acme", "roles": ["reader"]}),
        json!({"scope": "orders:read", "tenant": "other", "roles": ["reader"]}),
        json!({"scope": "orders:read", "tenant": "acme", "roles": ["writer"]}),
        json!({"scope": "orders:read", "tenant": "acme"}),
    ] {
        let response = http::get(
            rig.envoy.port(),
            "/",
            &[("authorization", &bearer(&corp_token(missing)))],
        );
        assert_eq!(response.status, 403);
        assert!(response
            .header("www-authenticate")
            .unwrap()
            .contains("error=\"insufficient_scope\""));
    }
    assert_eq!(rig.upstream.count(), 0, "a 403 reached the upstream");
}

#[test]
fn outputs_reach_the_upstream_and_client_copies_never_do() {
    let mut provider = corp(json!({}));
    provider["forward_payload_header"] = json!("x-jwt-payload");
    provider["claim_to_headers"] = json!([
        {"claim": "sub", "header": "x-user"},
        {"claim": "tier", "header": "x-tier"},
        {"claim": "admin", "header": "x-admin"},
        {"claim": "roles", "header": "x-roles"},
    ]);
    let rig = Rig::new(&json!({
        "providers": [provider],
        "rules": [{"match": {"path": "/healthz"}, "requires": "none"}],
    }));
    let token = corp_token(json!({"tier": 3, "admin": false, "roles": ["a"]}));
    let forged = [
        ("x-jwt-payload", "eyJmb3JnZWQiOnRydWV9"),
        ("x-user", "root"),
        ("x-roles", "admin"),
    ];
    let mut headers = forged.to_vec();
    let auth = bearer(&token);
    headers.push(("authorization", &auth));
    let (status, seen) = rig.send("GET", "/", &headers);
    assert_eq!(status, 200);
    let seen = seen.unwrap();
    assert_eq!(
        seen.headers_named("x-jwt-payload"),
        vec![token.split('.').nth(1).unwrap()]
    );
    assert_eq!(seen.headers_named("x-user"), vec!["alice"]);
    assert_eq!(seen.header("x-tier"), Some("3"));
    assert_eq!(seen.header("x-admin"), Some("false"));
    assert_eq!(
        seen.header("x-roles"),
        None,
        "arrays are not copied, and the forged copy is gone"
    );
    // a route that checks nothing still strips forged outputs
    let (status, seen) = rig.send("GET", "/healthz", &forged);
    assert_eq!(status, 200);
    let seen = seen.unwrap();
    for (name, _) in forged {
        assert_eq!(seen.header(name), None, "{name} forged through /healthz");
    }
}

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

#[test]
fn algorithms_allow_list_and_hmac_keys() {
    let ec = json!({"name": "ec", "issuer": CORP, "audiences": [AUD], "algorithms": ["ES256"],
        "local_jwks": keys::jwks(&[TestKey::Rsa1, TestKey::Ec256])});
    let rig = Rig::new(&json!({"providers": [ec]}));
    let rs = bearer(&keys::sign_default(TestKey::Rsa1, claims(CORP, json!({}))));
    let es = bearer(&keys::sign_default(TestKey::Ec256, claims(CORP, json!({}))));
    assert_eq!(rig.status("GET", "/", &[("authorization", &rs)]), 401);
    assert_eq!(rig.status("GET", "/", &[("authorization", &es)]), 200);

    let secret = b"a-shared-secret-of-at-least-32-bytes!";
    let hs = json!({"name": "hs", "issuer": CORP, "audiences": [AUD], "algorithms": ["HS256"],
        "local_jwks": {"keys": [{"kty": "oct", "kid": "s1", "k": keys::b64(secret)}]}});
    let rig = Rig::new(&json!({"providers": [hs]}));
    let good = keys::sign_raw(
        json!({"alg": "HS256", "kid": "s1"}),
        claims(CORP, json!({})),
        Signer::Hmac("HS256", secret),
    );
    let wrong = keys::sign_raw(
        json!({"alg": "HS256", "kid": "s1"}),
        claims(CORP, json!({})),
        Signer::Hmac("HS256", b"another-secret-another-secret-xx"),
    );
    assert_eq!(
        rig.status("GET", "/", &[("authorization", &bearer(&good))]),
        200
    );
    assert_eq!(
        rig.status("GET", "/", &[("authorization", &bearer(&wrong))]),
        401
    );
}

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

#[test]
fn local_jwks_may_be_a_string_holding_the_json() {
    let mut provider = corp(json!({}));
    provider["local_jwks"] = json!(keys::jwks(&[TestKey::Rsa1]).to_string());
    let rig = Rig::new(&json!({ "providers": [provider] }));
    let token = bearer(&corp_token(json!({})));
    assert_eq!(rig.status("GET", "/", &[("authorization", &token)]), 200);
    let other = bearer(&keys::sign_default(TestKey::Rsa2, claims(CORP, json!({}))));
    assert_eq!(rig.status("GET", "/", &[("authorization", &other)]), 401);
}

#[test]
fn encoded_or_dotted_paths_cannot_slip_past_a_rule() {
    let rig = Rig::new(&json!({
        "providers": [corp(json!({}))],
        "rules": [
            {"match": {"prefix": "/admin"}, "requires": "corp"},
            {"match": {"prefix": "/"}, "requires": "none"},
        ],
    }));
    assert_eq!(rig.status("GET", "/public", &[]), 200);
    for path in [
        "/admin",
        "/%61dmin/x",
        "//admin",
        "/public/../admin",
        "/./admin",
        "/admin%2Fx",
    ] {
        let status = rig.status("GET", path, &[]);
        assert!(
            status == 401 || (300..400).contains(&status),
            "{path}: {status}"
        );
    }
}
