//! Where a token is taken from, through real Envoy: a custom header and its
//! prefix, a query parameter and a cookie, each removed before the request goes
//! upstream; two different tokens for one requirement, refused; tokens hidden
//! behind other white space, an encoded cookie name or a `;` query separator,
//! verified and never waved through an `allow_missing` route; and the token
//! places of other providers, emptied on a route that requires one.

use crate::support::keys::{self, TestKey};
use crate::support::providers::{
    bearer, corp, corp_token, forged, partner_token, two_provider_rules, AUD,
};
use crate::support::Rig;
use serde_json::{json, Value};

const ALT_ISSUER: &str = "https://alt.test";
const FWD_ISSUER: &str = "https://fwd.test";

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

/// Hardening round 2, findings 5 and 6: tokens hidden behind other white space,
/// an encoded cookie name or a `;` query separator are tokens: verified (here:
/// refused), never waved through an `allow_missing` route unverified.
#[test]
fn hidden_tokens_on_allow_missing_routes_are_verified() {
    let config = json!({
        "providers": [corp(json!({"from_params": ["tok"], "from_cookies": ["sess"]}))],
        "rules": [{"match": {"prefix": "/"}, "requires": "corp", "allow_missing": true}],
    });
    let rig = Rig::new(&config);
    let forged = forged(json!({}));
    let tab = format!("Bearer\t{forged}");
    let cookie = format!("a=1; s%65ss={forged}");
    let query = format!("/x?a=1;tok={forged}");
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>);
    let cases: [Case; 3] = [
        (
            "tab after the scheme",
            "/x",
            vec![("authorization", tab.as_str())],
        ),
        (
            "encoded cookie name",
            "/x",
            vec![("cookie", cookie.as_str())],
        ),
        ("; separator", query.as_str(), vec![]),
    ];
    for (what, path, headers) in &cases {
        let (status, seen) = rig.send("GET", path, headers);
        assert_eq!(status, 401, "{what}");
        assert!(
            seen.is_none(),
            "{what}: an unverified credential went upstream"
        );
    }
    let good = corp_token(json!({}));
    let (status, seen) = rig.send("GET", &format!("/x?a=1;tok={good}"), &[]);
    assert_eq!(status, 200);
    assert_eq!(seen.unwrap().path, "/x?a=1");
    let (status, seen) = rig.send(
        "GET",
        "/x",
        &[("authorization", &format!("Bearer\t{good}"))],
    );
    assert_eq!(status, 200);
    assert_eq!(seen.unwrap().header("authorization"), None);
    assert_eq!(
        rig.send("GET", "/x", &[]).0,
        200,
        "no token at all still passes"
    );
}

/// Three providers: `corp` (bearer, a parameter, a cookie), `alt` (its own
/// header) and `fwd` (bearer too, `forward: true`).
fn three_providers(mode: &str) -> Value {
    let jwks = keys::jwks(&[TestKey::Rsa1]);
    json!({
        "mode": mode,
        "providers": [
            corp(json!({"from_params": ["access_token"], "from_cookies": ["sess"]})),
            {"name": "alt", "issuer": ALT_ISSUER, "audiences": [AUD], "local_jwks": jwks,
             "from_headers": [{"name": "x-api-token"}]},
            {"name": "fwd", "issuer": FWD_ISSUER, "audiences": [AUD], "local_jwks": jwks,
             "forward": true},
        ],
        "rules": [
            {"match": {"prefix": "/open"}, "requires": "none"},
            {"match": {"prefix": "/maybe"}, "requires": "alt", "allow_missing": true},
            {"match": {"prefix": "/alt"}, "requires": "alt"},
            {"match": {"prefix": "/fwd"}, "requires": "fwd"},
        ],
    })
}

/// Issue 21, finding 9: on a route that requires a provider, the token places
/// of every other provider are removed before the request goes upstream (unless
/// only a forwarding provider reads them); `none` routes are left as they are.
#[test]
fn another_providers_token_never_goes_upstream_unverified() {
    let rig = Rig::new(&three_providers("enforce"));
    let alt = corp_token(json!({"iss": ALT_ISSUER}));
    let admin = bearer(&forged(json!({"sub": "admin"})));
    let cookie = format!("a=1; sess={}", forged(json!({})));
    let path_with = |path: &str| format!("{path}?x=1&access_token={}", forged(json!({})));
    for (path, alt_token) in [("/alt/users", Some(alt.as_str())), ("/maybe", None)] {
        let mut headers = vec![("authorization", admin.as_str()), ("cookie", &cookie)];
        headers.extend(alt_token.map(|t| ("x-api-token", t)));
        let (response, seen) = rig.request("GET", &path_with(path), &headers);
        assert_eq!(response.status, 200, "{path}: {}", response.body);
        let seen = seen.unwrap();
        assert_eq!(
            seen.header("authorization"),
            None,
            "{path}: a forged bearer token went upstream unverified"
        );
        assert_eq!(seen.path, format!("{path}?x=1"));
        assert_eq!(seen.header("cookie"), Some("a=1"));
        assert_eq!(seen.header("x-api-token"), None);
    }
    // A forwarding provider's verified token stays, though corp reads its place.
    let fwd = bearer(&corp_token(json!({"iss": FWD_ISSUER})));
    let (response, seen) = rig.request("GET", "/fwd", &[("authorization", &fwd)]);
    assert_eq!(response.status, 200);
    assert_eq!(seen.unwrap().header("authorization"), Some(fwd.as_str()));
    // Nothing is checked, nothing removed, under `none`.
    let (response, seen) = rig.request("GET", "/open", &[("authorization", &admin)]);
    assert_eq!(response.status, 200);
    assert_eq!(seen.unwrap().header("authorization"), Some(admin.as_str()));

    // Audit mode removes them from a refused request as from a passed one.
    let rig = Rig::new(&three_providers("audit"));
    let (response, seen) = rig.request(
        "GET",
        "/alt/users",
        &[("authorization", &admin), ("x-api-token", "not.a.token")],
    );
    assert_eq!(response.status, 200);
    let seen = seen.unwrap();
    assert_eq!(seen.header("x-audgate-would-reject"), Some("malformed"));
    assert_eq!(seen.header("authorization"), None);
    assert_eq!(seen.header("x-api-token"), None);
}
