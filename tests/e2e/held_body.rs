//! A request held while keys are fetched stays held when its body arrives: its
//! body (sent with the headers, or later on its own) must not carry it upstream
//! before it is decided. Through real Envoy, with the key server slowed down so
//! that every request here is held.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::cases::{claims, AUDIENCE, ISSUER};
use crate::support::jwks_server::JwksServer;
use crate::support::keys::{self, TestKey};
use crate::support::{http, Envoy, Upstream};
use serde_json::{json, Value};

/// How long the key server takes to answer: every request below waits that long.
const KEYS_DELAY: Duration = Duration::from_secs(2);

fn config() -> Value {
    json!({"providers": [{
        "name": "idp",
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "remote_jwks": {
            "uri": "http://idp.test/.well-known/jwks.json",
            "cluster": "jwks",
            "timeout_ms": 5000,
        },
    }]})
}

/// Envoy with a key server that serves only `Rsa1`, `KEYS_DELAY` late.
fn start() -> (JwksServer, Upstream, Envoy) {
    let jwks = JwksServer::start(keys::jwks(&[TestKey::Rsa1]));
    jwks.delay(KEYS_DELAY);
    let upstream = Upstream::start();
    let envoy = Envoy::builder(&config(), upstream.port())
        .jwks_port(jwks.port())
        .start();
    (jwks, upstream, envoy)
}

fn post(envoy: &Envoy, token: &str, body: &[u8]) -> http::Response {
    let authorization = format!("Bearer {token}");
    http::request(
        envoy.port(),
        "POST",
        "/orders",
        &[("authorization", &authorization)],
        body,
    )
}

/// POSTs with the body sent `later` after the headers, on its own; the status.
fn post_body_later(envoy: &Envoy, token: &str, body: &[u8], later: Duration) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", envoy.port())).expect("connect to Envoy");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let head = format!(
        "POST /orders HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {token}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send the headers");
    std::thread::sleep(later);
    stream.write_all(body).expect("send the body");
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).expect("status line");
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    status_line
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or(0)
}

/// A token signed by a key the key server does not serve: refused once the keys
/// arrive.
fn forged() -> String {
    keys::sign_default(TestKey::Rsa2, claims(json!({})))
}

#[test]
fn a_held_request_whose_body_came_with_it_is_refused_without_reaching_upstream() {
    let (_jwks, upstream, envoy) = start();
    let response = post(&envoy, &forged(), b"{\"order\": 1}");
    assert_eq!(response.status, 401, "{}", response.body);
    assert_eq!(
        upstream.count(),
        0,
        "the body carried a held request upstream"
    );
}

#[test]
fn a_held_request_whose_body_came_later_is_refused_without_reaching_upstream() {
    let (_jwks, upstream, envoy) = start();
    let status = post_body_later(
        &envoy,
        &forged(),
        b"{\"order\": 2}",
        Duration::from_millis(500),
    );
    assert_eq!(status, 401);
    assert_eq!(
        upstream.count(),
        0,
        "the body carried a held request upstream"
    );
}

#[test]
fn a_held_request_with_a_body_goes_upstream_whole_once_its_token_verifies() {
    let (_jwks, upstream, envoy) = start();
    let good = keys::sign_default(TestKey::Rsa1, claims(json!({})));
    let started = Instant::now();
    let response = post(&envoy, &good, b"{\"order\": 3}");
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(
        started.elapsed() >= KEYS_DELAY.saturating_sub(Duration::from_millis(200)),
        "the request did not wait for the keys"
    );
    let requests = upstream.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests.first().map(|r| r.body.as_slice()),
        Some(&b"{\"order\": 3}"[..])
    );
}
