//! The gateway form: `providers` and `exchange` in one configuration in one
//! Envoy. The inbound decision comes first; a verified token bound for a listed
//! destination (matched by the cluster the route chose, since every route of a
//! gateway shares one `:authority`) is exchanged; a `none` route's token is
//! removed, never exchanged; audit never exchanges; a refusal sends nothing on.

use serde_json::{json, Value};

use crate::support::cases::ISSUER;
use crate::support::chain::{
    assert_never_forwarded, sts_settings, subject_token, CLIENT_SECRET, PAYMENTS, SECRET_ENV,
};
use crate::support::envoy_yaml;
use crate::support::keys::{self, TestKey};
use crate::support::sts::Sts;
use crate::support::{http, Envoy, Upstream};

/// The gateway: envoy.yaml with `/payments` routed to a `payments` cluster and an
/// `sts` cluster beside its own.
struct Gateway {
    sts: Sts,
    payments: Upstream,
    other: Upstream,
    envoy: Envoy,
}

fn config(mode: &str) -> Value {
    json!({
        "mode": mode,
        "providers": [{
            "name": "idp",
            "issuer": ISSUER,
            "audiences": ["orders.svc"],
            "local_jwks": keys::jwks(&[TestKey::Rsa1]),
        }],
        "rules": [
            {"match": {"prefix": "/payments/public"}, "requires": "none"},
            {"match": {"prefix": "/ledger/public"}, "requires": "none"},
            {"match": {"prefix": "/"}, "requires": "idp"},
        ],
        "exchange": {
            "token_endpoint": "http://sts.test/token",
            "cluster": "sts",
            "client_id": "orders",
            "client_secret_env": SECRET_ENV,
            "destinations": [
                {"clusters": ["payments"], "audience": PAYMENTS},
                {"clusters": ["ledger"], "audience": "ledger.svc", "requires_token": true},
            ],
        },
    })
}

fn start(mode: &str) -> Gateway {
    let sts = Sts::start(sts_settings());
    let payments = Upstream::start();
    let other = Upstream::start();
    let cluster = envoy_yaml::static_cluster;
    let routes =
        "              - match: { prefix: \"/\" }\n                route: { cluster: upstream }\n";
    let template = envoy_yaml::template();
    assert!(template.contains(routes));
    let template = template
        .replacen(
            routes,
            &format!(
                "              - match: {{ prefix: \"/payments\" }}\n                route: {{ cluster: payments }}\n              - match: {{ prefix: \"/ledger\" }}\n                route: {{ cluster: ledger }}\n{routes}"
            ),
            1,
        )
        .replacen(
            "                  runtime: envoy.wasm.runtime.v8\n",
            &format!("                  runtime: envoy.wasm.runtime.v8\n                  environment_variables: {{ host_env_keys: [{SECRET_ENV}] }}\n"),
            1,
        )
        .replacen(
            "  clusters:\n",
            &format!(
                "  clusters:\n{}{}{}",
                cluster("payments", payments.port()),
                cluster("ledger", payments.port()),
                cluster("sts", sts.port())
            ),
            1,
        );
    let envoy = Envoy::builder(&config(mode), other.port())
        .template(&template)
        .env(SECRET_ENV, CLIENT_SECRET)
        .start();
    Gateway {
        sts,
        payments,
        other,
        envoy,
    }
}

impl Gateway {
    fn call(&self, path: &str, token: Option<&str>) -> http::Response {
        let bearer = token.map(|token| format!("Bearer {token}"));
        let mut headers = vec![("host", "gateway.example")];
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer));
        }
        http::get(self.envoy.port(), path, &headers)
    }
}

/// The claims of a token, unverified (the test only reads what it says).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&keys::b64_decode(payload)).unwrap()
}

#[test]
fn a_verified_token_is_exchanged_for_the_cluster_the_route_chose() {
    let gateway = start("enforce");
    let token = subject_token(json!({}));
    assert_eq!(gateway.call("/payments/charge", Some(&token)).status, 200);
    let requests = gateway.payments.requests();
    assert_eq!(requests.len(), 1);
    let sent = requests[0].header("authorization").unwrap();
    assert!(!sent.contains(&token));
    let sent = claims(sent.strip_prefix("Bearer ").unwrap());
    assert_eq!(sent["aud"], PAYMENTS);
    assert_eq!(sent["iss"], gateway.sts.issuer());
    assert_eq!(gateway.sts.exchanges(), 1);
    assert_never_forwarded(&gateway.payments, &token);
}

#[test]
fn a_route_no_destination_names_gets_no_token() {
    let gateway = start("enforce");
    let token = subject_token(json!({}));
    assert_eq!(gateway.call("/orders", Some(&token)).status, 200);
    assert_eq!(gateway.other.requests()[0].header("authorization"), None);
    assert_eq!(gateway.sts.exchanges(), 0);
    assert_never_forwarded(&gateway.other, &token);
}

#[test]
fn a_token_on_a_none_route_is_removed_never_exchanged() {
    let gateway = start("enforce");
    let token = subject_token(json!({}));
    assert_eq!(
        gateway.call("/payments/public/prices", Some(&token)).status,
        200
    );
    assert_eq!(gateway.payments.requests()[0].header("authorization"), None);
    assert_eq!(gateway.sts.exchanges(), 0);
    let missing = gateway.call("/ledger/public/x", Some(&token));
    assert_eq!(
        missing.status, 403,
        "a requires_token destination refuses a request with none"
    );
    assert!(
        missing.body.contains("requires a token"),
        "{}",
        missing.body
    );
    assert_never_forwarded(&gateway.payments, &token);
}

#[test]
fn a_refused_request_sends_nothing_on() {
    let gateway = start("enforce");
    let wrong = subject_token(json!({"aud": "someone-else"}));
    assert_eq!(gateway.call("/payments/charge", Some(&wrong)).status, 403);
    assert!(gateway.payments.requests().is_empty());
    assert_eq!(gateway.sts.exchanges(), 0);
}

#[test]
fn audit_never_exchanges_what_it_would_refuse() {
    let gateway = start("audit");
    let wrong = subject_token(json!({"aud": "someone-else"}));
    assert_eq!(gateway.call("/payments/charge", Some(&wrong)).status, 200);
    let requests = gateway.payments.requests();
    assert_eq!(
        requests[0].header("authorization"),
        None,
        "goes on without any token"
    );
    assert_eq!(
        requests[0].header("x-audgate-would-reject"),
        Some("audience")
    );
    assert_eq!(gateway.sts.exchanges(), 0);
    let good = subject_token(json!({}));
    assert_eq!(gateway.call("/payments/charge", Some(&good)).status, 200);
    assert_eq!(
        gateway.sts.exchanges(),
        1,
        "a token audit would pass is exchanged"
    );
    gateway.sts.refuse("invalid_grant");
    let other = subject_token(json!({"sub": "bob"}));
    assert_eq!(
        gateway.call("/payments/charge", Some(&other)).status,
        401,
        "a failed exchange refuses in audit mode too"
    );
    for token in [&wrong, &good, &other] {
        assert_never_forwarded(&gateway.payments, token);
    }
    let stats = gateway
        .envoy
        .admin_until("/stats?filter=audgate_requests", |body| {
            body.contains("reason=.=exchange_refused;.;audgate_requests_total: 1")
        });
    assert!(
        stats.contains("provider=.=none;.;outcome=.=denied;.;reason=.=exchange_refused;.;audgate_requests_total: 1"),
        "an outbound refusal is a refusal in audit mode too: {stats}"
    );
}
