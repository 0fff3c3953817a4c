//! Hardening, round 3 (issue 21): claims bound to the request, other providers'
//! tokens, log lines and misplaced placeholders, through real Envoy. Every Envoy
//! test here got through before the fix it names (a 200, an upstream that saw
//! what it must not, a raw separator in the log, a configuration taken).

use std::process::Command;

use crate::support::keys::{self, TestKey};
use crate::support::providers::{bearer, corp, corp_token, forged, AUD};
use crate::support::upstream::Request;
use crate::support::{http, Envoy, Rig, Upstream};
use serde_json::{json, Value};

const ALT_ISSUER: &str = "https://alt.test";
const FWD_ISSUER: &str = "https://fwd.test";

/// A 403 `insufficient_scope` (reason `claims`) that never reached the upstream.
fn assert_claims_refused(what: &str, (response, seen): (http::Response, Option<Request>)) {
    assert_eq!(response.status, 403, "{what}: {}", response.body);
    let challenge = response.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{what}: {challenge}"
    );
    assert!(seen.is_none(), "{what} reached the upstream");
}

/// The tenant bound to the path and to the header `x-tenant`.
fn tenant_rules() -> Value {
    json!({
        "providers": [corp(json!({}))],
        "rules": [
            {"match": {"template": "/tenants/{tenant}/orders/**"},
             "requires": {"provider": "corp", "claims": {"tenant": "${path.tenant}"}}},
            {"match": {"prefix": "/reports"},
             "requires": {"provider": "corp", "claims": {"tenant": "${header.x-tenant}"}}},
            {"match": {"prefix": "/scoped"},
             "requires": {"provider": "corp", "claims": {"scope": "orders:read"}}},
        ],
    })
}

/// Finding 3: a value bound to the request (`${path.…}`, `${header.…}`) must equal
/// the claim or one element of an array claim, never one word of a string.
#[test]
fn a_word_list_claim_does_not_meet_a_bound_value() {
    let rig = Rig::new(&tenant_rules());
    let listed = bearer(&corp_token(json!({"tenant": "acme globex"})));
    let auth = ("authorization", listed.as_str());
    assert_claims_refused(
        "tenant \"acme globex\" on /tenants/globex",
        rig.request("GET", "/tenants/globex/orders/1", &[auth]),
    );
    assert_claims_refused(
        "tenant \"acme globex\" with x-tenant: globex",
        rig.request("GET", "/reports", &[auth, ("x-tenant", "globex")]),
    );
    // Equal, or an element of an array: still passes.
    for tenant in [json!("globex"), json!(["acme", "globex"])] {
        let good = bearer(&corp_token(json!({ "tenant": tenant })));
        let auth = ("authorization", good.as_str());
        let (response, _) = rig.request("GET", "/tenants/globex/orders/1", &[auth]);
        assert_eq!(response.status, 200, "{tenant}");
        let (response, _) = rig.request("GET", "/reports", &[auth, ("x-tenant", "globex")]);
        assert_eq!(response.status, 200, "{tenant}");
    }
    // A configured value keeps OAuth's word match.
    let scoped = bearer(&corp_token(json!({"scope": "orders:write orders:read"})));
    let (response, _) = rig.request("GET", "/scoped", &[("authorization", &scoped)]);
    assert_eq!(response.status, 200);
}

/// Finding 4: an empty header fills no `${header.NAME}`: the claim check fails
/// whatever the token says (`""`, `"acme "`, `["acme", ""]`).
#[test]
fn an_empty_bound_header_meets_no_claim() {
    let rig = Rig::new(&tenant_rules());
    for tenant in [json!(""), json!("acme "), json!(["acme", ""])] {
        let auth = bearer(&corp_token(json!({ "tenant": tenant })));
        assert_claims_refused(
            &format!("tenant {tenant} with an empty x-tenant"),
            rig.request(
                "GET",
                "/reports",
                &[("authorization", &auth), ("x-tenant", "")],
            ),
        );
    }
    assert!(rig.envoy.wait_for_log(
        "rejected (corp) 403 [claims]",
        std::time::Duration::from_secs(5)
    ));
    let acme = bearer(&corp_token(json!({"tenant": "acme"})));
    let (response, _) = rig.request(
        "GET",
        "/reports",
        &[("authorization", &acme), ("x-tenant", "acme")],
    );
    assert_eq!(response.status, 200);
}

/// Finding 5: a bound header sent in two spellings (`x-tenant` and `x_tenant`,
/// which CGI-style servers read as one) is refused, 403 `insufficient_scope`.
#[test]
fn a_bound_header_in_two_spellings_is_refused() {
    let rig = Rig::new(&tenant_rules());
    let acme = bearer(&corp_token(json!({"tenant": "acme"})));
    let auth = ("authorization", acme.as_str());
    for twins in [
        [("x-tenant", "acme"), ("x_tenant", "globex")],
        [("x_tenant", "globex"), ("x-tenant", "acme")],
        [("x-tenant", "acme"), ("X_Tenant", "acme")],
    ] {
        let headers = [auth, twins[0], twins[1]];
        assert_claims_refused(
            &format!("{twins:?}"),
            rig.request("GET", "/reports", &headers),
        );
    }
    // One value, in either spelling, is the header.
    for name in ["x-tenant", "x_tenant"] {
        let (response, seen) = rig.request("GET", "/reports", &[auth, (name, "acme")]);
        assert_eq!(response.status, 200, "{name}");
        assert_eq!(seen.unwrap().headers_named(name), vec!["acme"]);
    }
    let (response, _) = rig.request("GET", "/reports", &[auth, ("x_tenant", "globex")]);
    assert_eq!(response.status, 403);
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

/// Finding 9: on a route that requires a provider, the token places of every
/// other provider are removed before the request goes upstream (unless only a
/// forwarding provider reads them); `none` routes are left as they are.
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

/// Finding 10: U+2028, U+2029, NEL and bidi controls in `sub`, `azp` and
/// `x-request-id` are replaced in the refusal's log line, as control characters are.
#[test]
fn line_separators_and_bidi_controls_never_reach_the_log_raw() {
    let rig = Rig::new(&json!({"providers": [corp(json!({}))]}));
    let shaping = [
        '\u{2028}', '\u{2029}', '\u{85}', '\u{202e}', '\u{2066}', '\u{200f}',
    ];
    let sub = "eve\u{2028}audgate: allowed (corp) GET /admin\u{2029}\u{85}x";
    let other = corp_token(
        json!({"aud": "payments.svc", "sub": sub, "azp": "\u{202e}bew\u{2066}\u{200f}"}),
    );
    let (response, seen) = rig.request(
        "GET",
        "/orders",
        &[
            ("authorization", &bearer(&other)),
            ("x-request-id", "req\u{2028}1\u{202e}"),
        ],
    );
    assert_eq!(response.status, 403);
    assert!(seen.is_none());
    assert!(rig
        .envoy
        .wait_for_log("rejected (corp) 403", std::time::Duration::from_secs(5)));
    let log = rig.envoy.log();
    let line = log
        .lines()
        .find(|line| line.contains("rejected (corp) 403"))
        .unwrap();
    let raw: Vec<String> = shaping
        .iter()
        .filter(|c| line.contains(**c))
        .map(|c| format!("U+{:04X}", u32::from(*c)))
        .collect();
    assert!(raw.is_empty(), "raw {raw:?} in the log line: {line:?}");
    assert!(
        line.contains("sub=\"eve_audgate: allowed (corp) GET /admin__x\""),
        "{line}"
    );
    assert!(line.contains("client=\"_bew__\""), "{line}");
}

/// Finding 12: `${path.…}`, `${header.…}` and `${node.…}` in a provider's
/// `required_claims` refuse the configuration, naming the field (Envoy, and
/// `audgate check-config`).
#[test]
fn placeholders_in_required_claims_refuse_the_configuration() {
    let upstream = Upstream::start();
    for (value, says) in [
        (
            json!("${path.tenant}"),
            "providers[0].required_claims.tenant: ${path.tenant} is only allowed in a rule's claims; write $$ for a literal $",
        ),
        (
            json!({"one_of": ["${header.x-tenant}"]}),
            "providers[0].required_claims.tenant.one_of[0]: ${header.x-tenant} is only allowed in a rule's claims; write $$ for a literal $",
        ),
        (
            json!(["${node.NAMESPACE}"]),
            "providers[0].required_claims.tenant[0]: ${node.NAMESPACE} is only allowed in audiences; write $$ for a literal $",
        ),
    ] {
        let config = json!({
            "providers": [corp(json!({"required_claims": {"tenant": value}}))],
        });
        let log = match Envoy::try_start(&config, upstream.port()) {
            Err(log) => log,
            Ok(envoy) => {
                let status = http::get(
                    envoy.port(),
                    "/",
                    &[("authorization", &bearer(&corp_token(json!({"tenant": "acme"}))))],
                )
                .status;
                panic!("Envoy took required_claims.tenant = {value} (a token got {status})");
            }
        };
        assert!(log.contains(says), "{value}: {log}");

        let dir = crate::support::temp::dir("bound-claims");
        let file = dir.join("config.json");
        std::fs::write(&file, config.to_string()).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_audgate"))
            .arg("check-config")
            .arg(&file)
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_ne!(output.status.code(), Some(0), "{said}");
        assert!(said.contains(says), "{said}");
    }
    // `$$` stays a literal `$`.
    let config = json!({"providers": [corp(json!({"required_claims": {"price": "$$5"}}))]});
    let rig = Rig::new(&config);
    let (response, _) = rig.request(
        "GET",
        "/",
        &[(
            "authorization",
            &bearer(&corp_token(json!({"price": "$5"}))),
        )],
    );
    assert_eq!(response.status, 200);
}
