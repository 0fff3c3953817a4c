//! Paths through real Envoy: a spelling of a path that a lenient upstream serves
//! as the protected resource never falls through to a weaker rule (issue 21,
//! findings 1, 2, 8 and 11): Express, ASP.NET Core and Spring MVC route
//! `/ADMIN/users`, `/export/` and `HEAD` to the handlers of `/admin/users`,
//! `/export` and `GET`, and each of those tests got a 200 from the catch-all
//! before. Encoded or dotted paths cannot slip past a rule, and dot segments with
//! `;` parameters, encoded and back slashes never pass a `none` prefix, with
//! Envoy's normalisation or without it (hardening round 2, finding 4).

use crate::support::keys::{self, now, TestKey};
use crate::support::providers::{bearer, corp, corp_token, AUD, CORP};
use crate::support::Rig;
use serde_json::{json, Value};

const ADMIN_AUD: &str = "orders-admin.svc";

/// The docs' tenant-in-path and admin-audience examples together, with an exact
/// admin path, a template without `**`, an open health check, an open listing of
/// tenants, and the catch-all that needs any token of the provider.
fn config() -> Value {
    let corp = json!({
        "name": "corp", "issuer": CORP, "audiences": [AUD],
        "local_jwks": keys::jwks(&[TestKey::Rsa1]),
    });
    let tenant_bound = json!({"provider": "corp", "claims": {"tenant": "${path.tenant}"}});
    let admin = json!({"provider": "corp", "audiences": [ADMIN_AUD]});
    json!({
        "providers": [corp],
        "rules": [
            {"match": {"path": "/healthz"}, "requires": "none"},
            {"match": {"template": "/tenants/{tenant}/orders/**"}, "requires": tenant_bound},
            {"match": {"template": "/t2/{tenant}/orders"}, "requires": tenant_bound},
            {"match": {"prefix": "/tenants/"}, "requires": "none"},
            {"match": {"prefix": "/admin", "methods": ["GET"]}, "requires": admin},
            {"match": {"path": "/export"}, "requires": admin},
            {"match": {"prefix": "/"}, "requires": "corp"},
        ],
    })
}

/// A token for `aud` of tenant `tenant`.
fn token(aud: &str, tenant: &str) -> String {
    token_for(&[aud], tenant)
}

/// A token for every audience of `audiences`, of tenant `tenant`.
fn token_for(audiences: &[&str], tenant: &str) -> String {
    let aud = audiences.to_vec();
    let now = now();
    let claims = json!({
        "iss": CORP, "aud": aud, "sub": "alice", "tenant": tenant,
        "iat": now, "exp": now + 600,
    });
    format!("Bearer {}", keys::sign_default(TestKey::Rsa1, claims))
}

/// Envoy from the shipped `envoy.yaml`.
fn shipped() -> Rig {
    Rig::new(&config())
}

/// Envoy as an Istio sidecar's defaults leave it (`normalize_path` only): a
/// `%2F` reaches the filter and the upstream as it came.
fn istio_defaults() -> Rig {
    Rig::with_template(&config(), |yaml| {
        yaml.replace("merge_slashes: true", "merge_slashes: false")
            .replace("UNESCAPE_AND_REDIRECT", "KEEP_UNCHANGED")
    })
}

/// The status of `method path` with `authorization` (if any); checks that the
/// upstream saw the request exactly when it passed.
fn status(rig: &Rig, method: &str, path: &str, authorization: Option<&str>) -> u16 {
    let headers: Vec<(&str, &str)> = authorization
        .map(|value| ("authorization", value))
        .into_iter()
        .collect();
    rig.checked(method, path, &headers)
}

/// Issue 21, finding 1: another case of a template's or a prefix's literal text
/// is the same rule: tenant acme's token cannot read globex's orders at
/// `/TENANTS/globex/…`, and a token for the service cannot reach `/ADMIN/users`.
#[test]
fn another_case_meets_the_same_rule() {
    let rig = shipped();
    let acme = token(AUD, "acme");
    for path in [
        "/TENANTS/globex/orders",
        "/Tenants/globex/orders/1",
        "/%54enants/globex/orders",
    ] {
        assert_eq!(status(&rig, "GET", path, Some(&acme)), 403, "{path}");
    }
    for path in ["/tenants/acme/orders", "/TENANTS/acme/orders/1"] {
        assert_eq!(status(&rig, "GET", path, Some(&acme)), 200, "{path}");
    }
    let admin = token(ADMIN_AUD, "acme");
    for path in ["/ADMIN/users", "/%41dmin/users", "/Admin"] {
        assert_eq!(status(&rig, "GET", path, Some(&acme)), 403, "{path}");
        assert_eq!(status(&rig, "GET", path, Some(&admin)), 200, "{path}");
    }
}

/// Issue 21, finding 2: a trailing slash after a template without `**` or an
/// exact `path` is the same rule.
#[test]
fn a_trailing_slash_meets_the_same_rule() {
    let rig = shipped();
    let acme = token(AUD, "acme");
    assert_eq!(status(&rig, "GET", "/t2/globex/orders/", Some(&acme)), 403);
    assert_eq!(status(&rig, "GET", "/T2/globex/ORDERS/", Some(&acme)), 403);
    assert_eq!(status(&rig, "GET", "/t2/acme/orders/", Some(&acme)), 200);
    assert_eq!(status(&rig, "GET", "/export/", Some(&acme)), 403);
    assert_eq!(status(&rig, "GET", "/EXPORT", Some(&acme)), 403);
    let admin = token(ADMIN_AUD, "acme");
    assert_eq!(status(&rig, "GET", "/export/", Some(&admin)), 200);
}

/// Issue 21, finding 8: a rule for `GET` covers `HEAD`, which frameworks answer
/// with the `GET` handler.
#[test]
fn head_meets_a_get_rule() {
    let rig = shipped();
    let acme = token(AUD, "acme");
    let admin = token(ADMIN_AUD, "acme");
    assert_eq!(status(&rig, "HEAD", "/admin/users", Some(&acme)), 403);
    assert_eq!(status(&rig, "HEAD", "/admin/users", Some(&admin)), 200);
    // Other methods are still not the GET rule's: the catch-all takes them.
    assert_eq!(status(&rig, "POST", "/admin/users", Some(&acme)), 200);
}

/// Issue 21, finding 11: `%2F` inside a template variable stays in its segment,
/// so the template matches and binds `ac%2Fme` (which no tenant claim equals)
/// instead of letting the path fall through to the catch-all.
#[test]
fn an_encoded_slash_stays_inside_a_template_variable() {
    let rig = istio_defaults();
    let ac = token(AUD, "ac");
    for path in [
        "/tenants/ac%2Fme/orders/1",
        "/tenants/ac%2fme/orders/1",
        "/tenants/ac%5Cme/orders/1",
    ] {
        assert_eq!(status(&rig, "GET", path, Some(&ac)), 403, "{path}");
    }
    assert_eq!(status(&rig, "GET", "/tenants/ac/orders/1", Some(&ac)), 200);
}

/// The other side of finding 11: the reading that keeps `%2F` inside a segment
/// must not open a weaker rule than the reading the upstream gets. This goes up
/// as `/admin` (the admin audience), though its unsplit reading fits acme's
/// template.
#[test]
fn an_encoded_slash_never_opens_a_weaker_rule() {
    let rig = istio_defaults();
    let acme = token(AUD, "acme");
    let sneaky = "/tenants/acme/orders%2F..%2F..%2F..%2F..%2Fadmin";
    assert_eq!(status(&rig, "GET", sneaky, Some(&acme)), 403);
    let admin = token(ADMIN_AUD, "acme");
    assert_eq!(
        status(&rig, "GET", sneaky, Some(&admin)),
        403,
        "and acme's rule too"
    );
    let both = token_for(&[AUD, ADMIN_AUD], "acme");
    assert_eq!(status(&rig, "GET", sneaky, Some(&both)), 200);
}

/// Rules that let a request through without a token keep the exact spelling: a
/// variant of an open path needs a token.
#[test]
fn open_rules_keep_the_exact_spelling() {
    let rig = shipped();
    assert_eq!(status(&rig, "GET", "/healthz", None), 200);
    assert_eq!(status(&rig, "GET", "/tenants/", None), 200);
    for path in ["/HEALTHZ", "/healthz/", "/Tenants/"] {
        assert_eq!(status(&rig, "GET", path, None), 401, "{path}");
    }
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

/// Hardening round 2, finding 4: path forms that an upstream resolves past a
/// `none` prefix (dot segments with `;` parameters behind Envoy's own
/// normalisation).
#[test]
fn dot_segments_with_parameters_do_not_pass_a_none_prefix() {
    let config = json!({
        "providers": [corp(json!({}))],
        "rules": [
            {"match": {"prefix": "/healthz"}, "requires": "none"},
            {"match": {"prefix": "/public"}, "requires": "corp", "allow_missing": true},
        ],
    });
    let rig = Rig::new(&config);
    for path in [
        "/healthz/%2e%2e;/api",
        "/healthz/..%3B/api",
        "/healthz/.%2e;x/api",
        "/healthz;x/../api",
        "/public/..;/api",
    ] {
        let (status, seen) = rig.send("GET", path, &[]);
        assert_eq!(status, 401, "{path}");
        assert!(seen.is_none(), "{path} reached the upstream");
    }
    // With a token, the upstream gets the path the rule matched.
    let (status, seen) = rig.send(
        "GET",
        "/healthz/..;/api",
        &[("authorization", &bearer(&corp_token(json!({}))))],
    );
    assert_eq!(status, 200);
    assert_eq!(seen.unwrap().path, "/api");
    assert_eq!(rig.send("GET", "/healthz/live", &[]).0, 200);
}

/// Hardening round 2, finding 4, without Envoy's normalisation: encoded and
/// back slashes are separators, and such a path never matches a `none` rule.
#[test]
fn encoded_slashes_do_not_pass_a_none_prefix_without_envoy_normalisation() {
    let config = json!({
        "providers": [corp(json!({}))],
        "rules": [{"match": {"prefix": "/healthz"}, "requires": "none"}],
    });
    let rig = Rig::with_template(&config, |yaml| {
        yaml.replace("normalize_path: true", "normalize_path: false")
            .replace("merge_slashes: true", "merge_slashes: false")
            .replace("UNESCAPE_AND_REDIRECT", "KEEP_UNCHANGED")
    });
    for path in [
        "/healthz%2F..%2Fapi",
        "/healthz%2f..%2fapi",
        "/healthz%5C..%5Capi",
        "/healthz\\..\\api",
        "/healthz/%2e%2e/api",
    ] {
        let (status, seen) = rig.send("GET", path, &[]);
        assert!(seen.is_none(), "{path} reached the upstream ({status})");
        assert!(status == 401 || status == 400, "{path}: {status}");
    }
    let (status, seen) = rig.send(
        "GET",
        "/healthz%2F..%2Fapi",
        &[("authorization", &bearer(&corp_token(json!({}))))],
    );
    assert_eq!(status, 200);
    assert_eq!(seen.unwrap().path, "/api");
}
