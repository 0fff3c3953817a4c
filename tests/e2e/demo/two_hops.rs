//! `make run`'s two-hop call, as the Makefile sets it up: the demo's own echo and
//! token service (examples/demo.rs, demo/sts.rs) with the Makefile's demo secret,
//! Envoy with envoy/envoy.yaml before the echo, and Envoy with
//! envoy/outbound.yaml, the secret in its environment, before that Envoy and the
//! token service. Free ports instead of the fixed ones `make run` binds, so a
//! running `make run` or another checkout's tests do not collide with these. The
//! two-hop command the demo prints reaches the echo with a token for payments
//! (its `aud` shown, the original token nowhere), the same token sent to
//! payments directly gets 403, and the demo token service refuses a wrong client
//! secret (401 `invalid_client`) and subject tokens it did not issue for orders
//! (400 `invalid_grant`). README's sample of the call's answer is what it answers.

use super::program::{self, sts, upstream::Upstream as DemoServer};
use super::{bearer, ROOT};
use crate::support::chain::shipped_outbound_config;
use crate::support::{envoy_yaml, http, keys, Envoy, TestKey};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Map, Value};
use std::net::TcpListener;

const PAYMENTS: &str = program::OTHER_AUDIENCE;

/// `make run`'s demo secret (the Makefile's `DEMO_STS_SECRET`).
fn makefile_secret() -> String {
    let makefile = std::fs::read_to_string(format!("{ROOT}/Makefile")).unwrap();
    let line = makefile
        .lines()
        .find_map(|l| l.strip_prefix("DEMO_STS_SECRET := "))
        .expect("the Makefile sets DEMO_STS_SECRET");
    line.trim().to_string()
}

fn free_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

/// What `make run` runs, on free ports.
struct TwoHops {
    echo: DemoServer,
    _sts: DemoServer,
    /// The demo issuer: the key set the callee's audgate fetches.
    _issuer: DemoServer,
    /// envoy/envoy.yaml: orders and, under /payments/, payments.
    callee: Envoy,
    /// envoy/outbound.yaml: orders' outbound calls.
    caller: Envoy,
}

impl TwoHops {
    fn start() -> TwoHops {
        let secret = makefile_secret();
        let echo = DemoServer::serve_on(free_listener(), program::echo);
        let sts = program::serve_sts(free_listener(), Some(secret.clone()));
        let callee_config = envoy_yaml::plugin_config(&envoy_yaml::template());
        let callee_config: Value = serde_json::from_str(&callee_config).unwrap();
        let issuer = DemoServer::serve_on(free_listener(), program::issuer);
        let callee = Envoy::builder(&callee_config, echo.port())
            .jwks_port(issuer.port())
            .start();
        let caller = Envoy::outbound(&shipped_outbound_config(), callee.port(), sts.port())
            .env(program::SECRET_ENV, &secret)
            .start();
        TwoHops {
            echo,
            _sts: sts,
            _issuer: issuer,
            callee,
            caller,
        }
    }
}

/// The demo's printed two-hop command: (its host header, its path, its token).
fn printed_two_hop_command(commands: &str) -> (String, String, String) {
    let line = commands
        .lines()
        .find(|l| l.starts_with("curl ") && l.contains("127.0.0.1:10010"))
        .unwrap_or_else(|| panic!("a curl to the caller-side Envoy in:\n{commands}"));
    let quoted: Vec<&str> = line.split('\'').skip(1).step_by(2).collect();
    let [host, authorization] = quoted[..] else {
        panic!("a host and an authorization header: {line}");
    };
    let host = host.strip_prefix("host: ").expect(line).to_string();
    let token = authorization.strip_prefix("authorization: Bearer ");
    let token = token.expect(line).to_string();
    let url = line.rsplit(' ').next().unwrap();
    let path = url.strip_prefix("http://127.0.0.1:10010").expect(line);
    (host, path.to_string(), token)
}

/// The claims of a token of the demo issuer.
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&keys::b64_decode(payload)).unwrap()
}

#[test]
fn the_printed_two_hop_call_reaches_payments_with_a_token_for_payments() {
    let hops = TwoHops::start();
    let commands = program::commands();
    let (host, path, token) = printed_two_hop_command(&commands);
    assert_eq!(host, PAYMENTS);
    assert_eq!(
        claims(&token)["aud"],
        program::AUDIENCE,
        "the demo sends the token for orders"
    );
    let authorization = bearer(&token);
    let headers = [("host", host.as_str()), ("authorization", &authorization)];
    let response = http::get(hops.caller.port(), &path, &headers);
    assert_eq!(response.status, 200, "{}", response.body);
    for line in [
        "upstream got GET /payments/charge with these headers:",
        "  x-user: demo-user   <- set by audgate from the verified token's sub",
        "  x-token-aud: payments.demo.svc   <- and from its aud",
        "  x-token-scope: payments:charge   <- and from its scope",
        "(no authorization header: audgate removes a verified token)",
    ] {
        assert!(
            response.body.lines().any(|l| l == line),
            "{line:?} in:\n{}",
            response.body
        );
    }
    assert!(!response.body.contains(&token), "{}", response.body);
    assert!(
        !response.body.contains("eyJ"),
        "no token at all in the echo"
    );

    // What reached the echo: the identity, the exchanged token's audience, and
    // neither token.
    let seen = hops.echo.take();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("authorization"), None);
    assert_eq!(seen[0].header(program::AUDIENCE_HEADER), Some(PAYMENTS));
    for (name, value) in &seen[0].headers {
        assert!(!value.contains(&token), "the original token in {name}");
    }

    // Once exchanged, the token is used again while fresh: the same answer.
    let again = http::get(hops.caller.port(), &path, &headers);
    assert_eq!(again.status, 200, "{}", again.body);
    let stats = hops
        .caller
        .admin_until("/stats?filter=audgate_exchanges", |body| {
            body.contains("result=.=cache_hit;.;audgate_exchanges_total: 1")
        });
    assert!(
        stats.contains(
            "destination=.=payments.demo.svc;.;result=.=exchanged;.;audgate_exchanges_total: 1"
        ),
        "{stats}"
    );
}

#[test]
fn the_token_for_orders_sent_to_payments_directly_gets_403() {
    let hops = TwoHops::start();
    let orders = bearer(&program::mint(program::AUDIENCE));
    let response = http::get(
        hops.callee.port(),
        "/payments/charge",
        &[("authorization", &orders)],
    );
    assert_eq!(response.status, 403, "{}", response.body);
    assert!(response
        .header("www-authenticate")
        .unwrap_or_default()
        .contains("audience not allowed"));
    assert_eq!(hops.echo.count(), 0);

    // Orders itself still takes it, and payments a token minted for payments.
    let on_orders = http::get(hops.callee.port(), "/orders", &[("authorization", &orders)]);
    assert_eq!(on_orders.status, 200, "{}", on_orders.body);
    assert!(on_orders
        .body
        .contains("\n  x-token-aud: orders.demo.svc   <- and from its aud\n"));
    let payments = bearer(&program::mint(PAYMENTS));
    let on_payments = http::get(
        hops.callee.port(),
        "/payments/charge",
        &[("authorization", &payments)],
    );
    assert_eq!(on_payments.status, 200, "{}", on_payments.body);
}

#[test]
fn a_token_the_demo_issuer_did_not_sign_is_refused_at_the_exchange() {
    let hops = TwoHops::start();
    let now = keys::now();
    let forged = keys::sign(
        "RS256",
        TestKey::Rsa1,
        json!({"kid": "demo-1"}),
        json!({"iss": program::ISSUER, "aud": program::AUDIENCE, "sub": "demo-user",
               "iat": now, "exp": now + 600}),
    );
    let authorization = bearer(&forged);
    let response = http::get(
        hops.caller.port(),
        "/payments/charge",
        &[("host", PAYMENTS), ("authorization", &authorization)],
    );
    assert_eq!(response.status, 401, "{}", response.body);
    assert_eq!(hops.echo.count(), 0, "nothing leaves");
    assert!(hops
        .caller
        .wait_for_log("invalid_grant", std::time::Duration::from_secs(5)));
}

/// `POST /token` at a demo token service holding `secret`, as client `id` with
/// `given` (each form-urlencoded before base64), asking for `fields`.
fn exchange(
    secret: Option<&str>,
    (id, given): (&str, &str),
    fields: &[(&str, &str)],
) -> http::Response {
    let sts = program::serve_sts(free_listener(), secret.map(Into::into));
    let pair = format!("{}:{}", http::form_encode(id), http::form_encode(given));
    let basic = format!("Basic {}", STANDARD.encode(pair));
    http::post_form(sts.port(), "/token", fields, &[("authorization", &basic)])
}

fn exchange_of(subject_token: &str) -> Vec<(&str, &str)> {
    vec![
        ("grant_type", sts::GRANT_TYPE),
        ("subject_token", subject_token),
        ("subject_token_type", sts::ACCESS_TOKEN_TYPE),
        ("requested_token_type", sts::ACCESS_TOKEN_TYPE),
        ("audience", PAYMENTS),
        ("scope", "payments:charge"),
    ]
}

fn oauth_error(response: &http::Response) -> String {
    let body: Value = serde_json::from_str(&response.body).unwrap();
    body["error"].as_str().unwrap_or_default().to_string()
}

#[test]
fn the_demo_token_service_mints_a_token_for_payments_acting_for_orders() {
    let secret = makefile_secret();
    let subject = program::mint(program::AUDIENCE);
    let subject_exp = claims(&subject)["exp"].as_u64().unwrap();
    let response = exchange(
        Some(&secret),
        (sts::CLIENT_ID, &secret),
        &exchange_of(&subject),
    );
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let answer: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(answer["issued_token_type"], sts::ACCESS_TOKEN_TYPE);
    assert_eq!(answer["token_type"], "Bearer");
    let token = answer["access_token"].as_str().unwrap();
    let key = DecodingKey::from_rsa_pem(TestKey::Demo.public_pem()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[program::ISSUER]);
    validation.set_audience(&[PAYMENTS]);
    let minted = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
        .expect("signed by the demo key, for payments")
        .claims;
    assert_eq!(minted["sub"], "demo-user");
    assert_eq!(minted["scope"], "payments:charge");
    assert_eq!(minted["act"], json!({"sub": "orders"}), "orders acted");
    let exp = minted["exp"].as_u64().unwrap();
    assert!(exp <= subject_exp);
    assert_eq!(
        sts::EXCHANGED_LIFETIME_S,
        300,
        "README: five minutes at most"
    );
    let expires_in = answer["expires_in"].as_u64().unwrap();
    assert!(expires_in <= sts::EXCHANGED_LIFETIME_S && expires_in + 5 >= exp - keys::now());
}

#[test]
fn the_demo_token_service_refuses_a_wrong_client_secret() {
    let secret = makefile_secret();
    let subject = program::mint(program::AUDIENCE);
    let fields = exchange_of(&subject);
    for (held, client) in [
        (Some(secret.as_str()), ("orders", "not-the-secret")),
        (Some(secret.as_str()), ("payments", secret.as_str())),
        (None, ("orders", secret.as_str())),
        (Some(""), ("orders", "")),
    ] {
        let response = exchange(held, client, &fields);
        assert_eq!(response.status, 401, "{client:?}: {}", response.body);
        assert_eq!(oauth_error(&response), "invalid_client");
        assert_eq!(
            response.header("www-authenticate"),
            Some("Basic realm=\"demo-sts\"")
        );
        assert!(!response.body.contains(&subject) && !response.body.contains(&secret));
    }
}

#[test]
fn the_demo_token_service_takes_only_its_own_tokens_for_orders() {
    let secret = makefile_secret();
    let now = keys::now();
    let claims = json!({"iss": program::ISSUER, "aud": program::AUDIENCE, "sub": "demo-user",
                        "iat": now, "exp": now + 600});
    let forged = keys::sign(
        "RS256",
        TestKey::Rsa1,
        json!({"kid": "demo-1"}),
        claims.clone(),
    );
    let expired = keys::sign_default(
        TestKey::Demo,
        keys::merged(claims.clone(), &json!({"exp": now - 10})),
    );
    let other_issuer = keys::sign_default(
        TestKey::Demo,
        keys::merged(claims.clone(), &json!({"iss": "https://elsewhere"})),
    );
    let for_payments = program::mint(PAYMENTS);
    for (what, subject) in [
        ("forged", forged.as_str()),
        ("expired", &expired),
        ("of another issuer", &other_issuer),
        ("not for orders", &for_payments),
        ("not a token", "opaque"),
    ] {
        let response = exchange(
            Some(&secret),
            (sts::CLIENT_ID, &secret),
            &exchange_of(subject),
        );
        assert_eq!(response.status, 400, "{what}: {}", response.body);
        assert_eq!(oauth_error(&response), "invalid_grant", "{what}");
    }

    let good = program::mint(program::AUDIENCE);
    let mut unknown_audience = exchange_of(&good);
    unknown_audience[4] = ("audience", "elsewhere.demo.svc");
    let mut other_grant = exchange_of(&good);
    other_grant[0] = ("grant_type", "client_credentials");
    for (fields, error) in [
        (unknown_audience, "invalid_target"),
        (other_grant, "unsupported_grant_type"),
    ] {
        let response = exchange(Some(&secret), (sts::CLIENT_ID, &secret), &fields);
        assert_eq!(response.status, 400, "{}", response.body);
        assert_eq!(oauth_error(&response), error);
    }
}

/// README's sample of what the two-hop call answers, after `<!-- two-hop answers -->`.
fn readme_two_hop_sample() -> String {
    let readme = std::fs::read_to_string(format!("{ROOT}/README.md")).unwrap();
    let sample = readme
        .split("<!-- the two-hop call answers -->\n```\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("README: a ``` block after <!-- the two-hop call answers -->");
    sample.to_string()
}

#[test]
fn the_readme_shows_what_the_two_hop_call_answers() {
    let sample = readme_two_hop_sample();
    let hops = TwoHops::start();
    let token = bearer(&program::mint(program::AUDIENCE));
    let response = http::get(
        hops.caller.port(),
        "/payments/charge",
        &[("host", PAYMENTS), ("authorization", &token)],
    );
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(sample.starts_with("HTTP/1.1 200 OK\n"), "{sample}");
    // Every line of the echo in the sample is in the answer, but the request id
    // (new on every call) and
    // curl's own headers, which this test's client does not send.
    let varying = ["x-request-id:", "user-agent:", "accept:"];
    let body_lines: Vec<&str> = sample
        .lines()
        .skip_while(|l| !l.starts_with("upstream got"))
        .filter(|l| !varying.iter().any(|v| l.trim_start().starts_with(v)))
        .collect();
    for key in [
        "x-user: demo-user",
        "x-token-aud: payments.demo.svc",
        "x-token-scope",
    ] {
        assert!(
            body_lines.iter().any(|l| l.contains(key)),
            "README shows {key}"
        );
    }
    for line in body_lines {
        assert!(
            response.body.lines().any(|l| l == line),
            "README's {line:?} not in:\n{}",
            response.body
        );
    }
}
