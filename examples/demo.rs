//! The other half of `make run`: the service behind Envoy and two tokens to try.
//!
//! Serves an echo upstream on 127.0.0.1:10001 (says which path it got and whether
//! an `authorization` header reached it) and the demo key set on
//! http://127.0.0.1:10002/.well-known/jwks.json, mints tokens with the demo key,
//! and once Envoy (envoy/envoy.yaml) is ready prints `curl` commands with the
//! expected outcome. Serves until killed.
//!
//! `cargo run --example demo -- --print-jwks` prints the demo JWKS, which is the
//! `local_jwks` in envoy/envoy.yaml.

#[allow(dead_code)]
#[path = "../tests/support/http.rs"]
mod http;
#[allow(dead_code)]
#[path = "../tests/support/keys.rs"]
mod keys;
#[allow(dead_code)]
#[path = "../tests/support/upstream.rs"]
mod upstream;

use keys::TestKey;
use serde_json::json;
use std::time::{Duration, Instant};
use upstream::{Reply, Request, Upstream};

const ISSUER: &str = "https://issuer.demo.audgate.local";
const AUDIENCE: &str = "orders.demo.svc";
const OTHER_AUDIENCE: &str = "payments.demo.svc";
const ENVOY: &str = "http://127.0.0.1:10000";
const ADMIN_PORT: u16 = 9901;
const UPSTREAM_PORT: u16 = 10001;
const JWKS_PORT: u16 = 10002;

fn main() {
    let jwks = keys::jwks(&[TestKey::Demo]);
    if std::env::args().any(|arg| arg == "--print-jwks") {
        println!(
            "{}",
            serde_json::to_string_pretty(&jwks).unwrap_or_default()
        );
        return;
    }
    let _upstream = Upstream::serve(UPSTREAM_PORT, echo);
    let _jwks = Upstream::serve(JWKS_PORT, move |request| match request.path.as_str() {
        "/.well-known/jwks.json" => Reply::json(&jwks),
        _ => Reply::text(404, "not found\n"),
    });
    let good = mint(AUDIENCE);
    let other = mint(OTHER_AUDIENCE);

    eprintln!("demo: upstream on :{UPSTREAM_PORT}, JWKS on :{JWKS_PORT}; waiting for Envoy");
    wait_for_envoy(Duration::from_secs(120));
    println!("\n# 200: a token for {AUDIENCE} (sub demo-user); audgate removes it on the way");
    println!("curl -i -H 'authorization: Bearer {good}' {ENVOY}/orders");
    println!("\n# 403: a token from the same issuer for {OTHER_AUDIENCE}");
    println!("curl -i -H 'authorization: Bearer {other}' {ENVOY}/orders");
    println!("\n# 401: no token\ncurl -i {ENVOY}/orders");
    println!("\n# The same decisions offline, with the filter's own code (the audgate CLI):");
    println!("target/release/audgate check-config envoy/envoy.yaml");
    println!("target/release/audgate inspect {other}");
    println!("target/release/audgate verify --config envoy/envoy.yaml {other}\n");
    loop {
        std::thread::park();
    }
}

/// The demo service: names what reached it.
fn echo(request: &Request) -> Reply {
    let authorization = match request.header("authorization") {
        Some(_) => "present",
        None => "absent",
    };
    let body = format!(
        "upstream got {} {}; authorization header: {authorization}\n",
        request.method, request.path
    );
    Reply::text(200, &body)
}

/// A token from the demo issuer for `audience`, valid for an hour.
fn mint(audience: &str) -> String {
    let now = keys::now();
    let claims = json!({
        "iss": ISSUER, "aud": audience, "sub": "demo-user", "iat": now, "exp": now + 3600,
    });
    keys::sign_default(TestKey::Demo, claims)
}

/// Polls Envoy's admin `/ready` until it answers 200 or `limit` passes.
fn wait_for_envoy(limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let ready = http::try_request(ADMIN_PORT, "GET", "/ready", &[], b"");
        if ready.is_ok_and(|r| r.status == 200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("demo: Envoy not ready on 127.0.0.1:{ADMIN_PORT} yet; the commands need it");
}
