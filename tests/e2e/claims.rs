//! Claims a request must carry, through real Envoy: a provider's
//! `required_claims` by value, array element and word; a rule's claims bound to
//! the request (`${path.…}`, `${header.…}`), met only by the claim or one
//! element of it, never by one word of a string, an empty header or a header in
//! two spellings; and placeholders where they are not allowed refusing the
//! configuration. The tests of bound claims and placeholders are issue 21's
//! findings (the number they name): each got through before its fix (a 200, or
//! a configuration taken).

use std::process::Command;

use crate::support::providers::{bearer, corp, corp_token};
use crate::support::upstream::Request;
use crate::support::{http, Envoy, Rig, Upstream};
use serde_json::{json, Value};

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
