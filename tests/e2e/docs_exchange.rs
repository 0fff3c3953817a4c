//! Every token-exchange example of docs/configuration.md (the marked blocks named
//! `exchange-…`) is a working configuration: `audgate check-config` accepts it,
//! and through a caller's Envoy (envoy/outbound.yaml) and the test token service
//! it does what the section "Token exchange: the next hop" says, case by case:
//! the token each destination gets, what is removed, what is refused, and what the
//! application gets when the token service refuses or fails. As docs_examples.rs
//! does for keys, only the token service's address changes (its `token_endpoint`
//! and `cluster` become the test STS's) and remote keys become local ones; the
//! destinations, audiences, scopes and clients stay as written.

use std::time::Duration;

use serde_json::{json, Value};

use crate::docs_examples::{checked_config, examples, with_local_keys};
use crate::support::chain::assert_never_forwarded;
use crate::support::envoy_yaml;
use crate::support::keys::{self, now, TestKey};
use crate::support::prometheus;
use crate::support::sts::{
    sha256_hex, Answer, Sts, StsClient, StsSettings, StsTls, ACCESS_TOKEN_TYPE,
};
use crate::support::tls::Pki;
use crate::support::{http, Envoy, Request, Response, Upstream};

/// The variable the examples name in `client_secret_env`.
const SECRET_ENV: &str = "AUDGATE_STS_SECRET";
/// The client secret the caller's Envoy has in its environment.
const SECRET: &str = "docs+s3cret/with=odd&chars";
/// The examples' IdP, which issues the tokens the workloads receive.
const IDP: &str = "https://idp.example.com";
/// The examples' token service.
const STS_ISSUER: &str = "https://sts.example.com";
/// Where the test STS answers token requests (its cluster is `sts`).
const TEST_TOKEN_ENDPOINT: &str = "http://sts.test/token";

/// The exchange examples, as the docs name them.
const EXCHANGE_EXAMPLES: [&str; 8] = [
    "exchange-gateway",
    "exchange-keycloak",
    "exchange-okta",
    "exchange-orders-client",
    "exchange-orders-server",
    "exchange-payments-server",
    "exchange-sidecar",
    "exchange-tls-client",
];

#[test]
fn every_exchange_example_is_tested_here() {
    let names: Vec<String> = examples()
        .into_keys()
        .filter(|name| name.starts_with("exchange-"))
        .collect();
    assert_eq!(names, EXCHANGE_EXAMPLES);
}

/// `config` with its token service swapped for the test STS.
fn at_test_sts(mut config: Value) -> Value {
    let exchange = config["exchange"]
        .as_object_mut()
        .expect("the example has an exchange section");
    exchange.insert("token_endpoint".into(), json!(TEST_TOKEN_ENDPOINT));
    exchange.insert("cluster".into(), json!("sts"));
    config
}

/// The example `name`, checked by `check-config`, at the test STS.
fn exchange_example(name: &str) -> Value {
    at_test_sts(checked_config(name))
}

/// The test STS as the examples' token service: it exchanges the IdP's tokens
/// (signed with `TestKey::Rsa1`) for tokens of its own (signed with its default
/// key, `TestKey::Ec256`) for `client`, and nobody else.
fn sts_settings(client: StsClient) -> StsSettings {
    StsSettings {
        issuer: STS_ISSUER.into(),
        subject_issuer: IDP.into(),
        subject_key: TestKey::Rsa1,
        clients: vec![client],
        anonymous: false,
        ..StsSettings::default()
    }
}

/// A token of the IdP for `aud`, for the user `alice` by default.
fn user_token(aud: &str, extra: Value) -> String {
    let now = now();
    let claims = keys::merged(
        json!({"iss": IDP, "aud": aud, "sub": "alice", "azp": "web",
               "scope": "orders:read payments:charge", "iat": now, "exp": now + 600}),
        &extra,
    );
    keys::sign_default(TestKey::Rsa1, claims)
}

/// The claims of the bearer token a request carries (read, not verified: the
/// worked example has a verifying destination).
fn bearer_claims(request: &Request) -> Option<Value> {
    let token = request.header("authorization")?.strip_prefix("Bearer ")?;
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&keys::b64_decode(payload)).ok()
}

/// A workload's outbound side: the caller's Envoy with an example's
/// configuration, the test STS, and one upstream standing for every destination.
struct Outbound {
    sts: Sts,
    upstream: Upstream,
    envoy: Envoy,
}

impl Outbound {
    fn start(config: &Value, settings: StsSettings) -> Outbound {
        Outbound::start_from(config, settings, &envoy_yaml::outbound_template())
    }

    /// As `start`, the caller's Envoy from `template` (envoy/outbound.yaml edited).
    fn start_from(config: &Value, settings: StsSettings, template: &str) -> Outbound {
        let sts = Sts::start(settings);
        let upstream = Upstream::start();
        let envoy = Envoy::outbound(config, upstream.port(), sts.port())
            .template(template)
            .env(SECRET_ENV, SECRET)
            .start();
        Outbound {
            sts,
            upstream,
            envoy,
        }
    }

    /// The application's call to `host` and `path` with `headers`.
    fn call(&self, host: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        call(&self.envoy, host, path, headers)
    }

    /// The one request the destination saw since the last look.
    fn arrived(&self) -> Request {
        let mut seen = self.upstream.take();
        assert_eq!(seen.len(), 1, "one request reached the destination");
        seen.remove(0)
    }

    /// The `audgate_exchanges_total` series once `ready` holds.
    fn exchanges_when(&self, ready: impl Fn(&str) -> bool) -> String {
        self.envoy.admin_until("/stats/prometheus", ready)
    }
}

fn call(envoy: &Envoy, host: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut all = vec![("host", host)];
    all.extend_from_slice(headers);
    http::get(envoy.port(), path, &all)
}

/// `audgate_exchanges_total{destination, result}` as `/stats/prometheus` prints it.
fn exchanges(destination: &str, result: &str, count: u64) -> String {
    format!("audgate_exchanges_total{{destination=\"{destination}\",result=\"{result}\"}} {count}")
}

/// Whether the `/stats/prometheus` body holds every one of `lines`.
fn holds(body: &str, lines: &[String]) -> bool {
    let series = prometheus::audgate_series(body);
    lines.iter().all(|line| {
        let (name, value) = line.rsplit_once(' ').unwrap();
        series.get(name).map(u64::to_string).as_deref() == Some(value)
    })
}

const PAYMENTS_HOST: &str = "payments.shop.svc.cluster.local";
const LEDGER_HOST: &str = "ledger.shop.svc.cluster.local";

#[test]
fn sidecar_example_exchanges_removes_and_refuses_as_the_tables_say() {
    let config = exchange_example("exchange-sidecar");
    let out = Outbound::start(&config, sts_settings(StsClient::basic("orders", SECRET)));
    let user = user_token("orders.shop.svc", json!({}));
    let bearer = format!("Bearer {user}");

    // A token to a listed destination: exchanged, the proof header gone with it.
    let response = out.call(
        "payments:8080",
        "/charge",
        &[("authorization", &bearer), ("dpop", "a-proof")],
    );
    assert_eq!(response.status, 200, "{}", response.body);
    let arrived = out.arrived();
    let claims = bearer_claims(&arrived).expect("a bearer token reached payments");
    assert_eq!(claims["iss"], STS_ISSUER);
    assert_eq!(claims["aud"], "payments.shop.svc");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["scope"], "payments:charge", "down-scoped");
    assert_eq!(claims["act"]["sub"], "orders");
    assert_eq!(arrived.headers_named("authorization").len(), 1);
    assert_eq!(
        arrived.header("dpop"),
        None,
        "the proof goes where its token goes"
    );
    let asked = out.sts.requests();
    assert_eq!(asked.len(), 1);
    assert!(asked[0].basic, "client_secret_basic");
    assert_eq!(asked[0].client_id.as_deref(), Some("orders"));
    assert_eq!(asked[0].field("audience"), Some("payments.shop.svc"));
    assert_eq!(asked[0].field("scope"), Some("payments:charge"));
    assert_eq!(asked[0].field("resource"), None);
    assert_eq!(
        asked[0].field("subject_token"),
        Some(sha256_hex(&user).as_str())
    );
    assert_eq!(
        asked[0].field("subject_token_type"),
        Some(ACCESS_TOKEN_TYPE)
    );
    assert_eq!(
        asked[0].field("requested_token_type"),
        Some(ACCESS_TOKEN_TYPE)
    );

    // The same token to the same destination, by another of its names: at hand.
    assert_eq!(
        out.call(PAYMENTS_HOST, "/charge", &[("authorization", &bearer)])
            .status,
        200
    );
    assert_eq!(
        bearer_claims(&out.arrived()).unwrap()["aud"],
        "payments.shop.svc"
    );
    assert_eq!(
        out.sts.exchanges(),
        1,
        "one exchange per token and destination"
    );

    // `resource` instead of `audience`, under the entry's prefix only.
    assert_eq!(
        out.call(LEDGER_HOST, "/api/entries", &[("authorization", &bearer)])
            .status,
        200
    );
    assert_eq!(
        bearer_claims(&out.arrived()).unwrap()["aud"],
        "https://ledger.example.com/api"
    );
    let asked = out.sts.requests();
    assert_eq!(
        asked[1].field("resource"),
        Some("https://ledger.example.com/api")
    );
    assert_eq!(asked[1].field("audience"), None);

    // Unlisted (another host, or the listed host outside its prefix): removed.
    for (host, path) in [("elsewhere.example", "/"), (LEDGER_HOST, "/other")] {
        let response = out.call(host, path, &[("authorization", &bearer), ("dpop", "p")]);
        assert_eq!(response.status, 200, "{host}{path}");
        let arrived = out.arrived();
        assert_eq!(arrived.header("authorization"), None, "{host}{path}");
        assert_eq!(arrived.header("dpop"), None, "{host}{path}");
    }
    // A credential it cannot exchange: removed, which leaves payments (it
    // requires a token) without one: refused, and nothing arrives.
    for credential in ["Basic b3JkZXJzOnB3", "DPoP abc.def.ghi"] {
        let before = out.upstream.requests().len();
        let response = out.call("payments", "/charge", &[("authorization", credential)]);
        assert_eq!(response.status, 403, "{credential}");
        assert!(
            response.body.contains("requires a token"),
            "{credential}: {}",
            response.body
        );
        assert_eq!(out.upstream.requests().len(), before, "{credential}");
    }
    // No token: as it is, except to payments, which requires one.
    assert_eq!(
        out.call(LEDGER_HOST, "/api/x", &[("x-trace", "1")]).status,
        200
    );
    assert_eq!(out.arrived().header("x-trace"), Some("1"));
    let refused = out.call("payments", "/charge", &[]);
    assert_eq!(refused.status, 403);
    assert_eq!(refused.header("www-authenticate"), None, "no challenge");
    assert_eq!(refused.body.trim(), "this destination requires a token");
    assert!(out.upstream.take().is_empty());
    assert_eq!(out.sts.exchanges(), 2, "nothing else went to the STS");
    assert_never_forwarded(&out.upstream, &user);

    let wanted = [
        exchanges(PAYMENTS_HOST, "exchanged", 1),
        exchanges(PAYMENTS_HOST, "cache_hit", 1),
        exchanges(PAYMENTS_HOST, "refused", 0),
        exchanges(PAYMENTS_HOST, "failed", 0),
        exchanges(LEDGER_HOST, "exchanged", 1),
        exchanges("none", "unmatched", 4),
    ];
    let stats = out.exchanges_when(|body| holds(body, &wanted));
    assert!(holds(&stats, &wanted), "{stats}");
    assert!(out
        .envoy
        .wait_for_log("[exchange_missing]", Duration::from_secs(5)));
}

#[test]
fn unmatched_refuse_and_forward_do_what_the_table_says() {
    let user = user_token("orders.shop.svc", json!({}));
    let bearer = format!("Bearer {user}");
    for (unmatched, status) in [("refuse", 403), ("forward", 200)] {
        let mut config = exchange_example("exchange-sidecar");
        config["exchange"]["unmatched"] = json!(unmatched);
        let out = Outbound::start(&config, sts_settings(StsClient::basic("orders", SECRET)));
        let response = out.call("elsewhere.example", "/", &[("authorization", &bearer)]);
        assert_eq!(response.status, status, "{unmatched}: {}", response.body);
        if unmatched == "refuse" {
            assert_eq!(response.header("www-authenticate"), None);
            assert_eq!(
                response.body.trim(),
                "no token exchange is configured for this destination"
            );
            assert!(out.upstream.take().is_empty());
        } else {
            assert_eq!(out.arrived().header("authorization"), Some(bearer.as_str()));
        }
        assert_eq!(out.sts.exchanges(), 0, "{unmatched}");
    }
}

#[test]
fn a_refusing_or_failing_token_service_is_answered_as_the_failure_table_says() {
    let config = exchange_example("exchange-sidecar");
    let out = Outbound::start(&config, sts_settings(StsClient::basic("orders", SECRET)));
    let fresh = |n: u32| {
        format!(
            "Bearer {}",
            user_token("orders.shop.svc", json!({"jti": n}))
        )
    };
    let charge = |bearer: &str| out.call("payments:8080", "/charge", &[("authorization", bearer)]);

    // 400 with an OAuth error: the token is no good for the next hop.
    out.sts.refuse("invalid_grant");
    let refused_token = fresh(1);
    let response = charge(&refused_token);
    assert_eq!(response.status, 401, "{}", response.body);
    assert_eq!(
        response.header("www-authenticate"),
        Some("Bearer realm=\"payments:8080\", error=\"invalid_token\"")
    );
    assert_eq!(
        response.body.trim(),
        "the token service refused to exchange the token"
    );
    assert!(out.envoy.wait_for_log(
        "refused: the token service refused the token (error invalid_grant) (status 400)",
        Duration::from_secs(5)
    ));
    assert!(out
        .envoy
        .wait_for_log("[exchange_refused]", Duration::from_secs(5)));

    // The token service failing: 503, no challenge, the log says what happened.
    // (what, how the STS behaves, what the log says)
    type Case = (&'static str, fn(&Sts), &'static str);
    let cases: [Case; 4] = [
        ("5xx", |sts| sts.fail(503), "the token service answered 503"),
        (
            "garbage",
            |sts| sts.garbage(),
            "the token service's answer is not a JSON object",
        ),
        (
            "N_A",
            |sts| {
                sts.answer(json!({"access_token": "not-an-access-token",
                    "issued_token_type": ACCESS_TOKEN_TYPE, "token_type": "N_A"}))
            },
            "the token service's token_type is not Bearer (N_A: not usable as an access token)",
        ),
        (
            // Past the example's timeout_ms (2000): Envoy answers the callout 504.
            "timeout",
            |sts| sts.stall(Duration::from_millis(2500)),
            "the token service did not answer in time",
        ),
    ];
    for (n, (what, set_up, logged)) in cases.iter().enumerate() {
        out.sts.normal();
        set_up(&out.sts);
        let response = charge(&fresh(10 + u32::try_from(n).unwrap()));
        assert_eq!(response.status, 503, "{what}: {}", response.body);
        assert_eq!(response.header("www-authenticate"), None, "{what}");
        assert_eq!(response.body.trim(), "token exchange failed", "{what}");
        assert!(
            out.envoy.wait_for_log(logged, Duration::from_secs(5)),
            "{what}: the log says {logged:?}"
        );
    }
    assert!(out.upstream.take().is_empty(), "nothing left on a failure");

    // Refusals are not remembered: the same token is exchanged once the STS agrees.
    out.sts.normal();
    assert_eq!(charge(&refused_token).status, 200);
    assert_eq!(
        bearer_claims(&out.arrived()).unwrap()["aud"],
        "payments.shop.svc"
    );

    let wanted = [
        exchanges(PAYMENTS_HOST, "refused", 1),
        exchanges(PAYMENTS_HOST, "failed", 4),
        exchanges(PAYMENTS_HOST, "exchanged", 1),
    ];
    let stats = out.exchanges_when(|body| holds(body, &wanted));
    assert!(holds(&stats, &wanted), "{stats}");
    assert!(
        !out.envoy.log().contains(SECRET),
        "the secret is never logged"
    );
}

#[test]
fn a_token_service_that_refuses_the_client_or_cannot_be_reached_is_a_503() {
    let config = exchange_example("exchange-sidecar");
    let bearer = format!("Bearer {}", user_token("orders.shop.svc", json!({})));
    // The STS knows the client with another secret: 401 invalid_client.
    let wrong = Outbound::start(&config, sts_settings(StsClient::basic("orders", "another")));
    let response = wrong.call("payments", "/charge", &[("authorization", &bearer)]);
    assert_eq!(response.status, 503, "{}", response.body);
    assert!(wrong.envoy.wait_for_log(
        "the token service refused this workload's client (401): check client_id and its secret or certificate",
        Duration::from_secs(5)
    ));
    assert!(wrong.upstream.take().is_empty());

    // Nothing listens where the cluster points: Envoy's own 503.
    let upstream = Upstream::start();
    let closed = Envoy::outbound(&config, upstream.port(), 1)
        .env(SECRET_ENV, SECRET)
        .start();
    let response = call(
        &closed,
        "payments",
        "/charge",
        &[("authorization", &bearer)],
    );
    assert_eq!(response.status, 503, "{}", response.body);
    assert!(closed.wait_for_log("the token service answered 503", Duration::from_secs(5)));

    // No such cluster: the callout is never sent.
    let mut nowhere = config.clone();
    nowhere["exchange"]["cluster"] = json!("no-such-cluster");
    let missing = Envoy::outbound(&nowhere, upstream.port(), 1)
        .env(SECRET_ENV, SECRET)
        .start();
    let response = call(
        &missing,
        "payments",
        "/charge",
        &[("authorization", &bearer)],
    );
    assert_eq!(response.status, 503, "{}", response.body);
    assert!(missing.wait_for_log(
        "not started: callout refused by the host",
        Duration::from_secs(5)
    ));
    assert!(missing.wait_for_log(
        "(is cluster no-such-cluster defined?)",
        Duration::from_secs(5)
    ));
    assert!(upstream.take().is_empty());
}

#[test]
fn an_exchanged_token_is_kept_only_when_its_expiry_is_known() {
    // Tokens issued for 36 s are used for 18 s: two calls share one exchange.
    let config = exchange_example("exchange-sidecar");
    let settings = StsSettings {
        lifetime: Duration::from_secs(36),
        ..sts_settings(StsClient::basic("orders", SECRET))
    };
    let out = Outbound::start(&config, settings);
    let bearer = format!("Bearer {}", user_token("orders.shop.svc", json!({})));
    for _ in 0..2 {
        let response = out.call("payments", "/charge", &[("authorization", &bearer)]);
        assert_eq!(response.status, 200, "{}", response.body);
    }
    assert_eq!(out.sts.exchanges(), 1);
    assert_eq!(out.upstream.take().len(), 2);

    // Neither the answer (no expires_in, an opaque token) nor the original (not a
    // JWT) states an expiry: the token serves its own request, the next asks again.
    out.sts
        .answer(json!({"access_token": "opaque-token-for-payments",
        "issued_token_type": ACCESS_TOKEN_TYPE, "token_type": "Bearer"}));
    for _ in 0..2 {
        let response = out.call(
            "payments",
            "/charge",
            &[("authorization", "Bearer opaque-user-token")],
        );
        assert_eq!(response.status, 200, "{}", response.body);
        assert_eq!(
            out.arrived().header("authorization"),
            Some("Bearer opaque-token-for-payments")
        );
    }
    assert_eq!(out.sts.exchanges(), 3, "asked again");
}

/// envoy/outbound.yaml as a gateway: `/orders/` routed to the cluster `orders`,
/// `/docs/` to `docs`, the rest to `payments` (the rendered upstream).
fn gateway_template(orders_port: u16, docs_port: u16) -> String {
    let template = envoy_yaml::outbound_template();
    let indent = " ".repeat(14);
    let route = |prefix: &str, cluster: &str| {
        format!("{indent}- match: {{ prefix: \"{prefix}\" }}\n{indent}  route: {{ cluster: {cluster} }}\n")
    };
    let last = route("/", "payments");
    assert_eq!(template.matches(&last).count(), 1, "outbound.yaml's route");
    let routes = route("/orders/", "orders") + &route("/docs/", "docs") + &last;
    let cluster = |name: &str, port: u16| {
        let markers = envoy_yaml::OUTBOUND;
        for marker in [
            markers.listener,
            markers.upstream,
            markers.jwks,
            markers.admin,
        ] {
            assert_ne!(
                format!("port_value: {port}"),
                marker,
                "a rendered port line"
            );
        }
        [
            format!("  - name: {name}"),
            "    type: STATIC".into(),
            "    connect_timeout: 1s".into(),
            "    load_assignment:".into(),
            format!("      cluster_name: {name}"),
            "      endpoints:".into(),
            "      - lb_endpoints:".into(),
            "        - endpoint:".into(),
            "            address:".into(),
            format!("              socket_address: {{ address: 127.0.0.1, port_value: {port} }}"),
            String::new(),
        ]
        .join("\n")
    };
    let clusters = "  clusters:\n";
    assert_eq!(template.matches(clusters).count(), 1);
    let added = cluster("orders", orders_port) + &cluster("docs", docs_port);
    template
        .replace(&last, &routes)
        .replace(clusters, &format!("{clusters}{added}"))
}

/// The gateway example's Envoy, its three destinations and the test STS.
struct Gateway {
    sts: Sts,
    payments: Upstream,
    orders: Upstream,
    docs: Upstream,
    envoy: Envoy,
}

impl Gateway {
    fn start(mode: &str) -> Gateway {
        let mut config = with_local_keys(exchange_example("exchange-gateway"), TestKey::Rsa1);
        config["mode"] = json!(mode);
        let sts = Sts::start(sts_settings(StsClient::basic("api-gateway", SECRET)));
        let (payments, orders, docs) = (Upstream::start(), Upstream::start(), Upstream::start());
        let envoy = Envoy::outbound(&config, payments.port(), sts.port())
            .template(&gateway_template(orders.port(), docs.port()))
            .env(SECRET_ENV, SECRET)
            .start();
        Gateway {
            sts,
            payments,
            orders,
            docs,
            envoy,
        }
    }

    fn get(&self, path: &str, token: Option<&str>) -> u16 {
        let bearer = token.map(|token| format!("Bearer {token}"));
        let headers: Vec<(&str, &str)> = bearer
            .iter()
            .map(|b| ("authorization", b.as_str()))
            .collect();
        call(&self.envoy, "api.example.com", path, &headers).status
    }
}

#[test]
fn gateway_example_verifies_then_exchanges_per_route_cluster() {
    let gateway = Gateway::start("enforce");
    let token = user_token("api.example.com", json!({}));

    // Verified, to a listed cluster: exchanged for that destination.
    assert_eq!(gateway.get("/pay", Some(&token)), 200);
    let claims = bearer_claims(&gateway.payments.take().pop().unwrap()).unwrap();
    assert_eq!(claims["aud"], "payments.shop.svc");
    assert_eq!(claims["act"]["sub"], "api-gateway");
    assert_eq!(gateway.get("/orders/7", Some(&token)), 200);
    let claims = bearer_claims(&gateway.orders.take().pop().unwrap()).unwrap();
    assert_eq!(claims["aud"], "orders.shop.svc");
    assert_eq!(gateway.sts.exchanges(), 2);

    // Verified, to an unlisted cluster: removed (`unmatched` default).
    assert_eq!(gateway.get("/docs/intro", Some(&token)), 200);
    assert_eq!(
        gateway.docs.take().pop().unwrap().header("authorization"),
        None
    );
    // A public route: no token goes on, even one the client sent; never exchanged.
    assert_eq!(gateway.get("/orders/catalog/1", Some(&token)), 200);
    assert_eq!(
        gateway.orders.take().pop().unwrap().header("authorization"),
        None
    );
    assert_eq!(gateway.get("/orders/catalog/1", None), 200);
    assert_eq!(gateway.orders.take().len(), 1);
    assert_eq!(gateway.sts.exchanges(), 2, "neither was exchanged");

    // Refused inbound: nothing leaves.
    let elsewhere = user_token("payments.shop.svc", json!({}));
    assert_eq!(gateway.get("/pay", Some(&elsewhere)), 403);
    assert_eq!(gateway.get("/pay", None), 401);
    assert!(gateway.payments.take().is_empty());
    assert_eq!(gateway.sts.exchanges(), 2);
    for upstream in [&gateway.payments, &gateway.orders, &gateway.docs] {
        assert_never_forwarded(upstream, &token);
    }
}

#[test]
fn gateway_example_in_audit_mode_never_exchanges_a_would_be_refusal() {
    let gateway = Gateway::start("audit");
    let elsewhere = user_token("payments.shop.svc", json!({}));
    assert_eq!(gateway.get("/pay", Some(&elsewhere)), 200);
    let arrived = gateway.payments.take().pop().unwrap();
    assert_eq!(arrived.header("x-audgate-would-reject"), Some("audience"));
    assert_eq!(arrived.header("authorization"), None, "without any token");
    assert_eq!(gateway.sts.exchanges(), 0, "never exchanged");
    // A good token is still exchanged in audit mode.
    assert_eq!(
        gateway.get("/pay", Some(&user_token("api.example.com", json!({})))),
        200
    );
    let claims = bearer_claims(&gateway.payments.take().pop().unwrap()).unwrap();
    assert_eq!(claims["aud"], "payments.shop.svc");
}

#[test]
fn tls_client_example_authenticates_with_the_clusters_certificate() {
    let orders = "spiffe://cluster.local/ns/shop/sa/orders";
    let frontend = "spiffe://cluster.local/ns/shop/sa/frontend";
    let pki = Pki::new(&[orders, frontend]);
    // The example as written but for the STS's address: https, mutual TLS.
    let mut config = exchange_example("exchange-tls-client");
    config["exchange"]["token_endpoint"] = json!("https://sts.test/token");
    let settings = StsSettings {
        tls: Some(StsTls::of(&pki)),
        ..sts_settings(StsClient::certificate(orders))
    };
    let bearer = format!("Bearer {}", user_token("orders.shop.svc", json!({})));

    // The sts cluster presents orders' certificate: the STS knows who asks.
    let out = Outbound::start_from(&config, settings.clone(), &pki.outbound_template(Some(0)));
    let response = out.call(PAYMENTS_HOST, "/charge", &[("authorization", &bearer)]);
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(bearer_claims(&out.arrived()).unwrap()["act"]["sub"], orders);
    let asked = &out.sts.requests()[0];
    assert_eq!(
        asked.certificate.as_deref(),
        Some(orders),
        "over mutual TLS"
    );
    assert!(!asked.basic, "no Basic credentials");
    assert_eq!(asked.field("client_id"), Some(orders));

    // Another workload's certificate, or none: the STS refuses the client, and
    // the application gets 503 `exchange` with nothing sent on.
    for (client, presented) in [(Some(1), Some(frontend)), (None, None)] {
        let out = Outbound::start_from(&config, settings.clone(), &pki.outbound_template(client));
        let response = out.call(PAYMENTS_HOST, "/charge", &[("authorization", &bearer)]);
        assert_eq!(response.status, 503, "{presented:?}: {}", response.body);
        let asked = &out.sts.requests()[0];
        assert_eq!(asked.certificate.as_deref(), presented);
        let refused = Answer::Refused {
            status: 401,
            error: "invalid_client".into(),
        };
        assert_eq!(asked.answer(), Some(&refused));
        assert_eq!(out.upstream.count(), 0, "{presented:?}: nothing sent on");
        let stats = out.envoy.admin_until("/stats", |body| {
            body.contains("reason=.=exchange;.;audgate_requests_total: 1")
        });
        assert!(stats.contains("reason=.=exchange;.;audgate_requests_total: 1"));
    }
}

#[test]
fn vendor_examples_ask_for_what_their_sections_say() {
    // Keycloak: the target client's id as `audience`, no scope, Basic credentials.
    let config = exchange_example("exchange-keycloak");
    let out = Outbound::start(&config, sts_settings(StsClient::basic("orders", SECRET)));
    let bearer = format!("Bearer {}", user_token("orders", json!({})));
    assert_eq!(
        out.call(PAYMENTS_HOST, "/charge", &[("authorization", &bearer)])
            .status,
        200
    );
    assert_eq!(bearer_claims(&out.arrived()).unwrap()["aud"], "payments");
    let asked = &out.sts.requests()[0];
    assert!(asked.basic);
    assert_eq!(asked.field("audience"), Some("payments"));
    assert_eq!(asked.field("scope"), None);
    assert_eq!(asked.field("resource"), None);

    // Okta: the service app's credentials, the authorization server's audience
    // and the scope its access policy grants.
    let config = exchange_example("exchange-okta");
    let out = Outbound::start(
        &config,
        sts_settings(StsClient::basic("0oa0orders", SECRET)),
    );
    let bearer = format!("Bearer {}", user_token("orders.shop.svc", json!({})));
    assert_eq!(
        out.call(
            "payments.shop.svc",
            "/charge",
            &[("authorization", &bearer)]
        )
        .status,
        200
    );
    let claims = bearer_claims(&out.arrived()).unwrap();
    assert_eq!(claims["aud"], "payments.shop.svc");
    assert_eq!(claims["scope"], "payments:charge");
    let asked = &out.sts.requests()[0];
    assert_eq!(asked.client_id.as_deref(), Some("0oa0orders"));
    assert_eq!(asked.field("audience"), Some("payments.shop.svc"));
    assert_eq!(asked.field("scope"), Some("payments:charge"));
}

#[test]
fn worked_example_frontend_orders_payments() {
    let sts = Sts::start(sts_settings(StsClient::basic("orders", SECRET)));
    assert_eq!(sts.signing_key(), TestKey::Ec256);
    // payments, inbound: the STS's tokens for payments.shop.svc, by orders.
    let payments_app = Upstream::start();
    let payments_inbound = Envoy::start(
        &with_local_keys(checked_config("exchange-payments-server"), TestKey::Ec256),
        payments_app.port(),
    );
    // orders, inbound: the IdP's tokens for orders.shop.svc, left in the request.
    let orders_app = Upstream::start();
    let orders_inbound = Envoy::start(
        &with_local_keys(checked_config("exchange-orders-server"), TestKey::Rsa1),
        orders_app.port(),
    );
    // orders, outbound: its calls go to payments' inbound Envoy.
    let orders_outbound = Envoy::outbound(
        &exchange_example("exchange-orders-client"),
        payments_inbound.port(),
        sts.port(),
    )
    .env(SECRET_ENV, SECRET)
    .start();

    // frontend → orders, with a token for orders.
    let frontend = user_token("orders.shop.svc", json!({}));
    let bearer = format!("Bearer {frontend}");
    let response = call(
        &orders_inbound,
        "orders.shop.svc",
        "/orders/7",
        &[("authorization", &bearer)],
    );
    assert_eq!(response.status, 200, "{}", response.body);
    let received = orders_app.take().pop().unwrap();
    let passed_on = received
        .header("authorization")
        .expect("forward: true")
        .to_owned();
    assert_eq!(passed_on, bearer);

    // orders → payments: the application passes the token on; it leaves exchanged.
    let response = call(
        &orders_outbound,
        "payments.shop.svc.cluster.local:8080",
        "/charge",
        &[("authorization", &passed_on)],
    );
    assert_eq!(response.status, 200, "{}", response.body);
    let charged = payments_app.take().pop().unwrap();
    let payload = charged
        .header("x-jwt-payload")
        .expect("the verified payload");
    let claims: Value = serde_json::from_slice(&keys::b64_decode(payload)).unwrap();
    assert_eq!(claims["iss"], STS_ISSUER);
    assert_eq!(claims["aud"], "payments.shop.svc");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["act"], json!({"sub": "orders"}));
    assert_eq!(claims["scope"], "payments:charge");
    assert_eq!(charged.header("x-user"), Some("alice"));
    assert_eq!(
        charged.header("x-acting"),
        Some("orders"),
        "act.sub, by its path"
    );
    assert_never_forwarded(&payments_app, &frontend);
    let asked = &sts.requests()[0];
    assert!(asked.basic);
    assert_eq!(asked.client_id.as_deref(), Some("orders"));

    // The frontend's token sent to payments directly: another service's token.
    let direct = call(
        &payments_inbound,
        "payments.shop.svc",
        "/charge",
        &[("authorization", &bearer)],
    );
    assert_eq!(direct.status, 403);
    // orders calling payments without a token: refused before it leaves.
    let none = call(&orders_outbound, "payments", "/charge", &[]);
    assert_eq!(none.status, 403);
    assert!(payments_app.take().is_empty());
}
