//! Opaque tokens through real Envoy (two workers) and a real introspection
//! endpoint started by the test (tests/support/introspection.rs): each is
//! vouched for by one callout per worker however many requests carry it, its
//! answer decided audience first, revocation seen once the answer lapses, the
//! endpoint's failures 503s named in the log and never kept, a request with a
//! body held until its answer, and no flood of tokens ever reaching the
//! endpoint: only sendable tokens, at most `max_pending` callouts at once per
//! worker.

use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::cases;
use crate::support::http::{self, Response};
use crate::support::introspection::{Introspector, IntrospectorSettings};
use crate::support::keys::{self, now, TestKey};
use crate::support::{envoy_yaml, prometheus, Envoy, Upstream};

const AS_ISSUER: &str = "https://as.test";
const AUDIENCE: &str = "orders.svc";
const CLIENT: &str = "orders-api";
const SECRET: &str = "s3cret+/=:&odd";
const SECRET_ENV: &str = "AUDGATE_INTROSPECTION_SECRET";

/// One provider whose tokens the test's endpoint vouches for (through the
/// `jwks` cluster, which points at it), `introspection` merged over the
/// defaults here, `sub` copied to `x-user`.
fn config(introspection: Value) -> Value {
    let settings = keys::merged(
        json!({"uri": "http://as.test/introspect", "cluster": "jwks", "client_id": CLIENT,
               "client_secret_env": SECRET_ENV, "timeout_ms": 1000}),
        &introspection,
    );
    json!({"providers": [{
        "name": "as",
        "issuer": AS_ISSUER,
        "audiences": [AUDIENCE],
        "introspection": settings,
        "claim_to_headers": [{"claim": "sub", "header": "x-user"}],
    }]})
}

struct Rig {
    server: Introspector,
    upstream: Upstream,
    envoy: Envoy,
}

fn start_with(config: &Value, settings: IntrospectorSettings, secret: &str) -> Rig {
    start_on(config, settings, secret, 2)
}

fn start_on(config: &Value, settings: IntrospectorSettings, secret: &str, workers: u32) -> Rig {
    let server = Introspector::start(settings);
    let upstream = Upstream::start();
    let template = envoy_yaml::with_host_env(&envoy_yaml::template(), &[SECRET_ENV]);
    let envoy = Envoy::builder(config, upstream.port())
        .template(&template)
        .jwks_port(server.port())
        .env(SECRET_ENV, secret)
        .concurrency(workers)
        .start();
    Rig {
        server,
        upstream,
        envoy,
    }
}

fn start(config: &Value) -> Rig {
    start_with(config, IntrospectorSettings::basic(CLIENT, SECRET), SECRET)
}

/// An active answer's claims for `orders.svc`, `extra` merged in.
fn claims(extra: Value) -> Value {
    let now = now();
    keys::merged(
        json!({"iss": AS_ISSUER, "aud": AUDIENCE, "sub": "alice", "scope": "orders:read",
               "client_id": "web", "token_type": "Bearer", "iat": now, "exp": now + 300}),
        &extra,
    )
}

fn call(envoy: &Envoy, token: &str) -> Response {
    let authorization = format!("Bearer {token}");
    http::get(
        envoy.port(),
        "/orders/1",
        &[("host", AUDIENCE), ("authorization", &authorization)],
    )
}

/// The audgate series once `requests` requests are counted.
fn series_after(envoy: &Envoy, requests: u64) -> std::collections::BTreeMap<String, u64> {
    let body = envoy.admin_until("/stats/prometheus", |body| {
        prometheus::all_counted(body, requests)
    });
    prometheus::audgate_series(&body)
}

/// A way the endpoint fails, set on it.
type Fault = dyn Fn(&Introspector);

fn introspections(result: &str) -> String {
    format!("audgate_introspections_total{{provider=\"as\",result=\"{result}\"}}")
}

#[test]
fn an_opaque_token_is_vouched_for_once_per_worker_and_decided_audience_first() {
    let rig = start(&config(json!({})));
    let token = rig.server.issue(claims(json!({})));
    for attempt in 0..30 {
        assert_eq!(call(&rig.envoy, &token).status, 200, "attempt {attempt}");
    }
    let asked = rig.server.calls_for(&token);
    assert!(
        (1..=2).contains(&asked),
        "{asked} callouts for one token on two workers"
    );
    let seen = rig.upstream.take();
    assert_eq!(seen.len(), 30);
    assert_eq!(seen[0].header("x-user"), Some("alice"));
    assert_eq!(
        seen[0].header("authorization"),
        None,
        "the token stays here"
    );
    let call_made = &rig.server.recorded()[0];
    assert!(call_made.basic, "client_secret_basic");
    assert_eq!(call_made.client.as_deref(), Some(CLIENT));
    assert_eq!(call_made.hint.as_deref(), Some("access_token"));
    // For another service: refused on its audience, though active.
    let elsewhere = rig.server.issue(claims(json!({"aud": "billing.svc"})));
    let refused = call(&rig.envoy, &elsewhere);
    assert_eq!(refused.status, 403);
    assert_eq!(
        refused.header("www-authenticate"),
        Some("Bearer realm=\"orders.svc\", error=\"invalid_token\", error_description=\"audience not allowed\"")
    );
    // Never issued, or revoked: not vouched for.
    let unknown = call(&rig.envoy, "never-issued-by-the-server");
    assert_eq!(unknown.status, 401);
    assert_eq!(
        unknown.header("www-authenticate"),
        Some("Bearer realm=\"orders.svc\", error=\"invalid_token\"")
    );
    let series = series_after(&rig.envoy, 32);
    let counted = |name: &str| series.get(name).copied().unwrap_or(0);
    assert_eq!(
        counted(&introspections("active")),
        asked as u64 + 1,
        "{series:?}"
    );
    assert_eq!(counted(&introspections("inactive")), 1);
    assert_eq!(counted(&introspections("failed")), 0);
    assert_eq!(
        counted(&introspections("cache_hit")),
        30 - asked as u64,
        "every request after its worker's callout used the kept answer"
    );
    assert_eq!(
        counted("audgate_requests_total{provider=\"as\",outcome=\"denied\",reason=\"inactive\"}"),
        1
    );
    let log = rig.envoy.log();
    for secret in [token.as_str(), elsewhere.as_str(), SECRET] {
        assert!(!log.contains(secret), "never logged");
    }
}

#[test]
fn fifty_concurrent_first_requests_share_one_callout_per_worker() {
    let rig = start(&config(json!({})));
    rig.server.stall(Duration::from_millis(500));
    let token = rig.server.issue(claims(json!({})));
    let barrier = Arc::new(Barrier::new(50));
    let port = rig.envoy.port();
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..50)
            .map(|_| {
                let (barrier, token) = (barrier.clone(), token.clone());
                scope.spawn(move || {
                    barrier.wait();
                    let authorization = format!("Bearer {token}");
                    let headers = [
                        ("host", AUDIENCE),
                        ("authorization", authorization.as_str()),
                    ];
                    http::get(port, "/orders/1", &headers).status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");
    let asked = rig.server.calls_for(&token);
    assert!(
        (1..=2).contains(&asked),
        "{asked} callouts for 50 requests on two workers"
    );
}

#[test]
fn revocation_is_seen_once_the_answer_lapses() {
    let rig = start(&config(
        json!({"cache_duration_s": 2, "inactive_cache_s": 0}),
    ));
    let token = rig.server.issue(claims(json!({})));
    assert_eq!(call(&rig.envoy, &token).status, 200);
    rig.server.revoke(&token);
    let revoked = Instant::now();
    // An answer from before the revocation may serve until it lapses
    // (cache_duration_s), never after.
    let lapsed = Duration::from_millis(2_300);
    let mut refused_at = None;
    while revoked.elapsed() < lapsed + Duration::from_secs(2) {
        let status = call(&rig.envoy, &token).status;
        let after = revoked.elapsed();
        match status {
            200 => assert!(after < lapsed, "passed {after:?} after its revocation"),
            401 => {
                refused_at.get_or_insert(after);
            }
            other => panic!("{other}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(refused_at.is_some(), "the revocation was never seen");
}

#[test]
fn failures_are_503s_named_in_the_log_and_never_kept() {
    let rig = start(&config(json!({})));
    let cases: [(&Fault, &str); 4] = [
        (&|s| s.fail(503), "the introspection endpoint answered 503"),
        (&|s| s.garbage(), "answer is not a JSON object"),
        (
            &|s| s.answer(json!({"aud": AUDIENCE})),
            "has no boolean active",
        ),
        (
            &|s| s.stall(Duration::from_millis(1_500)),
            "did not answer within introspection.timeout_ms",
        ),
    ];
    for (index, (fault, said)) in cases.iter().enumerate() {
        let token = rig.server.issue(claims(json!({})));
        fault(&rig.server);
        let response = call(&rig.envoy, &token);
        assert_eq!(response.status, 503, "{said}: {}", response.body);
        assert_eq!(response.header("www-authenticate"), None);
        assert!(
            rig.envoy.wait_for_log(said, Duration::from_secs(5)),
            "log says {said:?}:\n{}",
            rig.envoy.log()
        );
        rig.server.normal();
        assert_eq!(
            call(&rig.envoy, &token).status,
            200,
            "case {index}: a failure is not kept"
        );
        assert_eq!(rig.server.calls_for(&token), 2, "case {index}: asked again");
        assert!(!rig.envoy.log().contains(&token), "never logged");
    }
    assert_eq!(
        rig.upstream.count(),
        4,
        "only the passes reached the upstream"
    );
    let series = series_after(&rig.envoy, 8);
    assert_eq!(
        series.get(&introspections("failed")).copied(),
        Some(4),
        "{series:?}"
    );
    assert_eq!(
        series
            .get("audgate_requests_total{provider=\"as\",outcome=\"denied\",reason=\"introspection\"}")
            .copied(),
        Some(4)
    );
}

#[test]
fn a_client_the_endpoint_refuses_and_a_missing_cluster_are_503s_that_say_so() {
    let rig = start_with(
        &config(json!({})),
        IntrospectorSettings::basic(CLIENT, "another secret"),
        SECRET,
    );
    let token = rig.server.issue(claims(json!({})));
    assert_eq!(call(&rig.envoy, &token).status, 503);
    let said = "refused this resource server's client (401)";
    assert!(
        rig.envoy.wait_for_log(said, Duration::from_secs(5)),
        "{}",
        rig.envoy.log()
    );
    let rig = start(&config(json!({"cluster": "no-such-cluster"})));
    let token = rig.server.issue(claims(json!({})));
    assert_eq!(call(&rig.envoy, &token).status, 503);
    assert_eq!(rig.server.calls(), 0);
    let said = "is cluster no-such-cluster defined?";
    assert!(
        rig.envoy.wait_for_log(said, Duration::from_secs(5)),
        "{}",
        rig.envoy.log()
    );
}

#[test]
fn ten_thousand_random_tokens_never_flood_the_endpoint() {
    let rig = start(&config(json!({"max_pending": 4, "inactive_cache_s": 0})));
    rig.server.stall(Duration::from_millis(100));
    let port = rig.envoy.port();
    // Half sendable (random token68, never issued), half not (a character
    // outside token68, or over 4096 characters).
    let token = |n: usize| -> String {
        let noise = keys::b64(format!("{n}:{}", now()).as_bytes());
        match n % 4 {
            0 | 1 => format!("{noise}{n}"),
            2 => format!("{noise},{n}"),
            _ => format!("{noise}{}", "x".repeat(4100)),
        }
    };
    let outcomes: Vec<(usize, u16)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..25)
            .map(|thread| {
                scope.spawn(move || {
                    (0..400)
                        .map(|i| {
                            let n = thread * 400 + i;
                            let authorization = format!("Bearer {}", token(n));
                            let headers = [
                                ("host", AUDIENCE),
                                ("authorization", authorization.as_str()),
                            ];
                            (n, http::get(port, "/orders/1", &headers).status)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(outcomes.len(), 10_000);
    for (n, status) in &outcomes {
        match n % 4 {
            0 | 1 => assert!([401, 503].contains(status), "token {n}: {status}"),
            _ => assert_eq!(*status, 401, "token {n}: never sendable"),
        }
    }
    assert_eq!(rig.upstream.count(), 0, "none passed");
    let unsendable: std::collections::HashSet<String> = (0..10_000)
        .filter(|n| n % 4 >= 2)
        .map(|n| crate::support::sts::sha256_hex(&token(n)))
        .collect();
    let recorded = rig.server.recorded();
    assert!(
        recorded
            .iter()
            .all(|call| !unsendable.contains(call.token_sha256.as_deref().unwrap_or_default())),
        "an unsendable token was sent"
    );
    let sendable = outcomes.iter().filter(|(n, _)| n % 4 < 2).count();
    let calls = rig.server.calls();
    assert!(
        calls <= sendable,
        "{calls} callouts for {sendable} sendable tokens"
    );
    assert!(
        rig.server.most_in_flight() <= 8,
        "{} at once: max_pending 4 on each of two workers",
        rig.server.most_in_flight()
    );
    let turned_away = outcomes.iter().filter(|(_, status)| *status == 503).count();
    assert!(
        calls > 0 && turned_away > 0,
        "{calls} callouts, {turned_away} turned away"
    );
    let series = series_after(&rig.envoy, 10_000);
    assert_eq!(
        series.get(&introspections("max_pending")).copied(),
        Some(turned_away as u64),
        "every 503 was a callout max_pending kept from starting"
    );
    assert_eq!(
        series
            .get(&introspections("inactive"))
            .copied()
            .unwrap_or(0) as usize,
        calls,
        "every callout made was answered"
    );
    assert_eq!(
        series
            .get("audgate_requests_total{provider=\"as\",outcome=\"denied\",reason=\"malformed\"}")
            .copied(),
        Some(5_000),
        "every unsendable token refused as malformed"
    );
}

#[test]
fn under_any_a_jwt_of_a_key_based_issuer_never_reaches_the_endpoint() {
    let mut config = config(json!({}));
    config["providers"].as_array_mut().unwrap().insert(
        0,
        json!({"name": "keyed", "issuer": cases::ISSUER, "audiences": [AUDIENCE],
               "local_jwks": keys::jwks(&[TestKey::Rsa1])}),
    );
    // The introspection provider first: the routing, not the order, keeps a JWT
    // of the key-based issuer from its endpoint.
    config["rules"] = json!([{"match": {"prefix": "/"}, "requires": {"any": ["as", "keyed"]}}]);
    let settings = IntrospectorSettings {
        refuses_jwts: true,
        ..IntrospectorSettings::basic(CLIENT, SECRET)
    };
    let rig = start_with(&config, settings, SECRET);
    let now = now();
    let jwt = keys::sign_default(
        TestKey::Rsa1,
        json!({"iss": cases::ISSUER, "aud": AUDIENCE, "sub": "bob", "iat": now, "exp": now + 300}),
    );
    assert_eq!(call(&rig.envoy, &jwt).status, 200);
    let forged = keys::sign(
        "RS256",
        TestKey::Rsa2,
        json!({"kid": TestKey::Rsa1.kid()}),
        json!({"iss": cases::ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300}),
    );
    assert_eq!(
        call(&rig.envoy, &forged).status,
        401,
        "refused by its own provider"
    );
    assert_eq!(
        rig.server.calls(),
        0,
        "no JWT of the key-based issuer was sent"
    );
    let opaque = rig.server.issue(claims(json!({})));
    assert_eq!(call(&rig.envoy, &opaque).status, 200);
    assert_eq!(rig.server.calls(), 1, "only the opaque token was sent");
    let foreign = keys::sign_default(
        TestKey::Rsa2,
        json!({"iss": "https://elsewhere.test", "aud": AUDIENCE, "iat": now, "exp": now + 300}),
    );
    let refused = call(&rig.envoy, &foreign);
    assert_eq!(
        refused.status, 401,
        "unsupported_token_type: not vouched for"
    );
    assert_eq!(rig.server.calls_for(&foreign), 1);
    assert_eq!(rig.server.recorded()[1].answer, "unsupported");
}

#[test]
fn a_request_with_a_body_waits_for_its_answer_and_another_gets_it_when_the_first_has_gone() {
    // One worker: the second request joins the callout the first one started.
    let settings = IntrospectorSettings::basic(CLIENT, SECRET);
    let rig = start_on(&config(json!({})), settings, SECRET, 1);
    rig.server.stall(Duration::from_millis(800));
    let token = rig.server.issue(claims(json!({})));
    let port = rig.envoy.port();
    // The first request starts the callout and goes away before its answer.
    let mut gone = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let head = format!(
        "GET /orders/1 HTTP/1.1\r\nhost: {AUDIENCE}\r\nauthorization: Bearer {token}\r\n\r\n"
    );
    gone.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    drop(gone);
    // One with a body: held until answered.
    let authorization = format!("Bearer {token}");
    let headers = [
        ("host", AUDIENCE),
        ("authorization", authorization.as_str()),
    ];
    let posted = http::request(port, "POST", "/orders", &headers, b"{\"item\":1}");
    assert_eq!(posted.status, 200);
    let seen = rig.upstream.take();
    assert_eq!(seen.len(), 1, "the request that went away never reached it");
    assert_eq!(seen[0].body, b"{\"item\":1}");
    assert_eq!(rig.server.calls_for(&token), 1, "one callout served both");
    // A body whose token is not vouched for never goes upstream.
    let other = format!("Bearer {}", "never-issued-token");
    let headers = [("host", AUDIENCE), ("authorization", other.as_str())];
    assert_eq!(
        http::request(port, "POST", "/orders", &headers, b"body").status,
        401
    );
    assert_eq!(rig.upstream.count(), 0);
}

#[test]
fn a_request_decided_again_never_asks_twice_for_one_token_even_with_nothing_cached() {
    // Two introspection providers, one rule each: `/partner%2Fx` is read both
    // as `/partner/x` (the `partner` rule) and as one segment (the catch-all),
    // so the request is asked about by both, one after the other; with no
    // answer kept (token_cache_size 0) it must still end, with one callout each.
    let mut config = config(json!({}));
    let mut partner = config["providers"][0].clone();
    partner["name"] = json!("partner-as");
    config["providers"].as_array_mut().unwrap().push(partner);
    config["token_cache_size"] = json!(0);
    config["rules"] = json!([
        {"match": {"prefix": "/partner/"}, "requires": "partner-as"},
        {"match": {"prefix": "/"}, "requires": "as"},
    ]);
    // As an Istio sidecar's defaults leave Envoy: `%2F` reaches the filter.
    let server = Introspector::start(IntrospectorSettings::basic(CLIENT, SECRET));
    let upstream = Upstream::start();
    let template = envoy_yaml::with_host_env(&envoy_yaml::template(), &[SECRET_ENV])
        .replace("UNESCAPE_AND_REDIRECT", "KEEP_UNCHANGED");
    let envoy = Envoy::builder(&config, upstream.port())
        .template(&template)
        .jwks_port(server.port())
        .env(SECRET_ENV, SECRET)
        .start();
    let token = server.issue(claims(json!({})));
    let authorization = format!("Bearer {token}");
    let headers = [
        ("host", AUDIENCE),
        ("authorization", authorization.as_str()),
    ];
    let response = http::get(envoy.port(), "/partner%2Fx", &headers);
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        server.calls_for(&token),
        2,
        "one callout per provider, no more"
    );
    assert_eq!(upstream.count(), 1);
}

#[test]
fn tls_client_auth_is_the_clusters_client_certificate() {
    use crate::support::sts::{StsClient, StsTls};
    use crate::support::tls::Pki;
    let ids = [
        "spiffe://cluster.local/ns/shop/sa/orders",
        "spiffe://cluster.local/ns/shop/sa/billing",
    ];
    let pki = Pki::new(&ids);
    let settings = IntrospectorSettings {
        clients: vec![StsClient::certificate(ids[0])],
        tls: Some(StsTls::of(&pki)),
        ..IntrospectorSettings::basic(CLIENT, SECRET)
    };
    let server = Introspector::start(settings);
    let config = config(
        json!({"uri": "https://as.test/introspect", "client_id": ids[0],
                               "client_secret_env": null}),
    );
    let token = server.issue(claims(json!({})));
    for (client, want) in [(Some(0), 200), (Some(1), 503), (None, 503)] {
        let upstream = Upstream::start();
        let template = pki.jwks_over_tls(&envoy_yaml::template(), client);
        let envoy = Envoy::builder(&config, upstream.port())
            .template(&template)
            .jwks_port(server.port())
            .start();
        let response = call(&envoy, &token);
        assert_eq!(
            response.status, want,
            "client certificate {client:?}: {}",
            response.body
        );
        if want == 503 {
            let said = "refused this resource server's client (401)";
            assert!(
                envoy.wait_for_log(said, Duration::from_secs(5)),
                "{}",
                envoy.log()
            );
        }
    }
    let calls = server.recorded();
    assert_eq!(calls.len(), 3);
    assert_eq!(
        calls[0].client.as_deref(),
        Some(ids[0]),
        "authenticated by its certificate"
    );
    assert!(calls.iter().all(|call| !call.basic), "no Basic credentials");
}
