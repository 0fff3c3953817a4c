//! Version 2 policy through real Envoy: per-route audiences and claims (provider
//! objects in `requires`, alone and inside `any`/`all`), `match.template` with
//! claims bound to the path or a header, nested claim paths, `one_of`,
//! `token_types`, the `Ed25519` alg name, and the token cache across routes. Each
//! case checks the status and that the upstream saw only the accepted requests.

use crate::support::keys::{self, TestKey};
use crate::support::providers::{
    bearer, claims, corp, corp_token, partner_token, AUD, CORP, PARTNER,
};
use crate::support::{http, Envoy, Rig, Upstream};
use serde_json::{json, Value};

const ADMIN_AUD: &str = "orders-admin.svc";

/// `partner` with its tokens bare in `x-partner-token` (no prefix).
fn bare_partner() -> Value {
    json!({
        "name": "partner", "issuer": PARTNER, "audiences": [AUD],
        "local_jwks": keys::jwks(&[TestKey::Ec256]),
        "from_headers": [{"name": "x-partner-token", "value_prefix": ""}],
    })
}

/// GET `path` with `token` as the bearer token (and `extra` headers); checks
/// that the upstream saw the request exactly when it passed.
fn status(rig: &Rig, path: &str, token: &str, extra: &[(&str, &str)]) -> u16 {
    let bearer = bearer(token);
    let mut headers = vec![("authorization", bearer.as_str())];
    headers.extend_from_slice(extra);
    rig.checked("GET", path, &headers)
}

#[test]
fn admin_routes_have_an_audience_of_their_own_and_the_cache_does_not_leak_it() {
    let rig = Rig::new(&json!({
        "providers": [corp(json!({}))],
        "rules": [
            {"match": {"prefix": "/admin"}, "requires": {"provider": "corp", "audiences": [ADMIN_AUD]}},
            {"match": {"prefix": "/"}, "requires": "corp"},
        ],
    }));
    let service = corp_token(json!({}));
    let admin = corp_token(json!({"aud": ADMIN_AUD}));
    // Verified (and cached) on /orders first: still refused on /admin.
    assert_eq!(status(&rig, "/orders", &service, &[]), 200);
    assert_eq!(status(&rig, "/orders", &service, &[]), 200);
    assert_eq!(status(&rig, "/admin/users", &service, &[]), 403);
    assert_eq!(status(&rig, "/admin/users", &admin, &[]), 200);
    assert_eq!(status(&rig, "/admin/users", &admin, &[]), 200);
    assert_eq!(status(&rig, "/orders", &admin, &[]), 403);
    // Passed repeats were cache hits (a cached token refused on /admin counts neither).
    // audgate adds its counts to Envoy's stats on its tick: read once 4 are there.
    let stat = |body: &str, result: &str| {
        let name =
            format!("wasmcustom.provider=.=corp;.;result=.={result};.;audgate_token_cache_total: ");
        body.lines()
            .find_map(|line| line.strip_prefix(&name)?.trim().parse::<u64>().ok())
    };
    let body = rig
        .envoy
        .admin_until("/stats?filter=audgate_token_cache_total", |body| {
            stat(body, "hit").unwrap_or(0) + stat(body, "miss").unwrap_or(0) == 4
        });
    let stat = |result: &str| stat(&body, result);
    assert_eq!(stat("hit"), Some(2), "each repeat passed from the cache");
    assert_eq!(stat("miss"), Some(2));
}

#[test]
fn the_tenant_in_the_path_must_be_the_tokens_tenant() {
    let rig = Rig::new(&json!({
        "providers": [corp(json!({}))],
        "rules": [
            {"match": {"template": "/tenants/{tenant}/orders/**"},
             "requires": {"provider": "corp", "claims": {"tenant": "${path.tenant}"}}},
            {"match": {"prefix": "/by-header"},
             "requires": {"provider": "corp", "claims": {"tenant": "${header.x-tenant}"}}},
        ],
    }));
    let acme = corp_token(json!({"tenant": "acme"}));
    assert_eq!(status(&rig, "/tenants/acme/orders", &acme, &[]), 200);
    assert_eq!(status(&rig, "/tenants/acme/orders/7", &acme, &[]), 200);
    assert_eq!(status(&rig, "/tenants/%61cme/orders/7", &acme, &[]), 200);
    assert_eq!(status(&rig, "/tenants/globex/orders/7", &acme, &[]), 403);
    assert_eq!(
        status(&rig, "/tenants/acme/orders/7", &acme, &[]),
        200,
        "cached"
    );
    assert_eq!(
        status(&rig, "/tenants/globex/orders/7", &acme, &[]),
        403,
        "cached"
    );
    // A path outside the template falls back to "any provider": no binding.
    assert_eq!(status(&rig, "/tenants/globex", &acme, &[]), 200);
    let no_tenant = corp_token(json!({}));
    assert_eq!(status(&rig, "/tenants/acme/orders/7", &no_tenant, &[]), 403);

    assert_eq!(
        status(&rig, "/by-header", &acme, &[("x-tenant", "acme")]),
        200
    );
    assert_eq!(
        status(&rig, "/by-header", &acme, &[("x-tenant", "globex")]),
        403
    );
    assert_eq!(status(&rig, "/by-header", &acme, &[]), 403, "absent header");
    let twice = [("x-tenant", "acme"), ("x-tenant", "acme")];
    assert_eq!(
        status(&rig, "/by-header", &acme, &twice),
        403,
        "repeated header"
    );
    // A forged token that would meet the claim is still a 401, not a 403 or 200.
    let forged = format!("{}x", &acme[..acme.len() - 2]);
    assert_eq!(status(&rig, "/tenants/globex/orders/1", &forged, &[]), 401);
}

#[test]
fn nested_claims_and_one_of() {
    let rig = Rig::new(&json!({
        "providers": [corp(json!({"required_claims": {
            "realm_access.roles": {"one_of": ["orders-reader", "orders-admin"]},
            "tenant": {"one_of": ["acme", "globex"]},
        }}))],
        "rules": [
            {"match": {"prefix": "/orders", "methods": ["POST"]},
             "requires": {"provider": "corp", "claims": {"realm_access.roles": "orders-admin"}}},
            {"match": {"prefix": "/"}, "requires": "corp"},
        ],
    }));
    let reader =
        corp_token(json!({"tenant": "globex", "realm_access": {"roles": ["orders-reader"]}}));
    let admin = corp_token(json!({"tenant": "acme", "realm_access": {"roles": ["orders-admin"]}}));
    let outsider =
        corp_token(json!({"tenant": "initech", "realm_access": {"roles": ["orders-admin"]}}));
    let flat = corp_token(json!({"tenant": "acme", "roles": ["orders-admin"]}));
    assert_eq!(status(&rig, "/orders", &reader, &[]), 200);
    assert_eq!(status(&rig, "/orders", &admin, &[]), 200);
    assert_eq!(status(&rig, "/orders", &outsider, &[]), 403);
    assert_eq!(status(&rig, "/orders", &flat, &[]), 403);
    let bearer = |t: &str| format!("Bearer {t}");
    let post = |t: &str| {
        rig.send("POST", "/orders", &[("authorization", &bearer(t))])
            .0
    };
    assert_eq!(post(&reader), 403);
    assert_eq!(post(&admin), 200);
}

#[test]
fn provider_objects_inside_any_and_all() {
    let rig = Rig::new(&json!({
        "providers": [corp(json!({})), bare_partner()],
        "rules": [
            {"match": {"prefix": "/either"}, "requires": {"any": [
                {"provider": "corp", "audiences": [ADMIN_AUD]},
                {"provider": "partner", "claims": {"scope": "orders:read"}},
            ]}},
            {"match": {"prefix": "/both"}, "requires": {"all": [
                "corp",
                {"provider": "partner", "claims": {"scope": "orders:write"}},
            ]}},
        ],
    }));
    let corp_service = corp_token(json!({}));
    let corp_admin = corp_token(json!({"aud": ADMIN_AUD}));
    let reader = partner_token(json!({"scope": "orders:read"}));
    let writer = partner_token(json!({"scope": "orders:write"}));
    assert_eq!(status(&rig, "/either", &corp_admin, &[]), 200);
    assert_eq!(status(&rig, "/either", &corp_service, &[]), 403);
    let partner_only = |path: &str, token: &str| {
        let (status, seen) = rig.send("GET", path, &[("x-partner-token", token)]);
        assert_eq!(status == 200, seen.is_some());
        status
    };
    assert_eq!(partner_only("/either", &reader), 200);
    assert_eq!(partner_only("/either", &writer), 403);
    assert_eq!(
        status(
            &rig,
            "/both",
            &corp_service,
            &[("x-partner-token", &writer)]
        ),
        200
    );
    assert_eq!(
        status(
            &rig,
            "/both",
            &corp_service,
            &[("x-partner-token", &reader)]
        ),
        403
    );
    assert_eq!(status(&rig, "/both", &corp_service, &[]), 401);
}

#[test]
fn token_types_accept_access_tokens_only() {
    let rig = Rig::new(&json!({"providers": [corp(json!({"token_types": ["at+jwt"]}))]}));
    let typed = |typ: Value| {
        keys::sign(
            "RS256",
            TestKey::Rsa1,
            json!({"typ": typ}),
            claims(CORP, json!({})),
        )
    };
    for (typ, want) in [
        (json!("at+jwt"), 200),
        (json!("application/at+jwt"), 200),
        (json!("AT+JWT"), 200),
        (json!("JWT"), 401),
        (json!("id_token+jwt"), 401),
        (Value::Null, 401),
    ] {
        assert_eq!(
            status(&rig, "/", &typed(typ.clone()), &[]),
            want,
            "typ {typ}"
        );
    }
    let response = http::get(
        rig.envoy.port(),
        "/",
        &[("authorization", &format!("Bearer {}", typed(json!("JWT"))))],
    );
    assert!(
        response.body.contains("token type not accepted"),
        "{}",
        response.body
    );
    rig.upstream.take();
}

#[test]
fn ed25519_is_another_name_for_eddsa_both_ways() {
    let ed = |algorithms: Value| {
        json!({"name": "corp", "issuer": CORP, "audiences": [AUD],
               "local_jwks": keys::jwks(&[TestKey::Ed]), "algorithms": algorithms})
    };
    let token = |alg: &str| {
        keys::sign_raw(
            json!({"alg": alg, "kid": TestKey::Ed.kid()}),
            claims(CORP, json!({})),
            keys::Signer::Key(TestKey::Ed, "EdDSA"),
        )
    };
    for names in [json!(["Ed25519"]), json!(["EdDSA"])] {
        let rig = Rig::new(&json!({"providers": [ed(names.clone())]}));
        assert_eq!(status(&rig, "/", &token("EdDSA"), &[]), 200, "{names}");
        assert_eq!(status(&rig, "/", &token("Ed25519"), &[]), 200, "{names}");
    }
}

#[test]
fn envoy_refuses_configurations_that_misuse_the_new_forms() {
    let upstream = Upstream::start();
    for (config, field) in [
        (
            json!({"providers": [corp(json!({}))], "rules": [
                {"match": {"prefix": "/"}, "requires": {"provider": "corp", "audiences": []}}]}),
            "rules[0].requires.audiences: must not be empty",
        ),
        (
            json!({"providers": [corp(json!({}))], "rules": [
                {"match": {"template": "/a/**/b"}, "requires": "corp"}]}),
            "rules[0].match.template: '**' only at the end",
        ),
        (
            json!({"providers": [corp(json!({"token_types": [""]}))]}),
            "providers[0].token_types[0]: must not be empty",
        ),
        (
            json!({"providers": [corp(json!({"required_claims": {"tenant": {"one_of": []}}}))]}),
            "providers[0].required_claims.tenant.one_of: must not be empty",
        ),
        (
            json!({"providers": [corp(json!({}))], "rules": [
                {"match": {"prefix": "/t"}, "requires": {"provider": "corp", "claims": {"tenant": "${path.tenant}"}}}]}),
            "rules[0].requires.claims.tenant: ${path.tenant}: the rule's match.template has no variable {tenant}",
        ),
        (
            json!({"providers": [corp(json!({}))], "rules": [
                {"match": {"prefix": "/t"}, "requires": {"provider": "corp", "claims": {"tenant": "${query.t}"}}}]}),
            "rules[0].requires.claims.tenant: unknown placeholder \"${query.t}\"",
        ),
    ] {
        let Err(log) = Envoy::try_start(&config, upstream.port()) else {
            panic!("Envoy took a configuration with {field}");
        };
        assert!(log.contains(field), "{field} not in:\n{log}");
    }
}
