//! Keys that look after themselves, through real Envoy with two workers:
//! providers on one `remote_jwks` share one fetch per refresh and see a rotation
//! together; `discovery: true` finds the key set from the issuer and refuses a
//! document for another issuer or host; keys come back within about a second of
//! the key server's return while requests flow; and every fetch failure is
//! logged in words an operator can act on.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::cases::{two_providers_on, ADMIN_AUDIENCE as ADMIN};
use crate::support::jwks_server::JwksServer;
use crate::support::keys::{self, now, TestKey};
use crate::support::upstream::Reply;
use crate::support::{http, Envoy, Upstream};
use serde_json::{json, Value};

const ISSUER: &str = "http://idp.test";
const AUD: &str = "orders.svc";

fn token(key: TestKey, aud: &str) -> String {
    let now = now();
    keys::sign_default(
        key,
        json!({"iss": ISSUER, "aud": aud, "sub": "alice", "iat": now, "exp": now + 600}),
    )
}

fn status(envoy: &Envoy, key: TestKey, path: &str, aud: &str) -> u16 {
    let bearer = format!("Bearer {}", token(key, aud));
    http::get(envoy.port(), path, &[("authorization", &bearer)]).status
}

fn start(config: &Value, port: u16, upstream: &Upstream) -> Envoy {
    Envoy::builder(config, upstream.port())
        .jwks_port(port)
        .concurrency(2)
        .start()
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

#[test]
fn providers_on_one_key_set_share_each_refresh_and_see_a_rotation_together() {
    let jwks = JwksServer::start(keys::jwks(&[TestKey::Rsa1]));
    let upstream = Upstream::start();
    let remote = json!({"uri": "http://idp.test/keys", "cluster": "jwks", "cache_duration_s": 2});
    let envoy = start(&two_providers_on(ISSUER, remote), jwks.port(), &upstream);
    assert_eq!(status(&envoy, TestKey::Rsa1, "/orders", AUD), 200);
    assert_eq!(status(&envoy, TestKey::Rsa1, "/admin", ADMIN), 200);
    assert_eq!(jwks.fetches(), 1);
    // The server rotates; the next background refresh (at 1.6 s) brings the new
    // key to both providers at once: no refetch for either.
    jwks.serve_keys(keys::jwks(&[TestKey::Ec256]));
    assert!(
        wait_until(Duration::from_secs(10), || jwks.fetches() >= 2),
        "a refresh"
    );
    for _ in 0..4 {
        assert_eq!(status(&envoy, TestKey::Ec256, "/orders", AUD), 200);
        assert_eq!(status(&envoy, TestKey::Ec256, "/admin", ADMIN), 200);
    }
    assert_eq!(
        jwks.fetches(),
        2,
        "one fetch per refresh for both providers"
    );
}

/// A key server with the issuer's discovery document at its well-known path.
fn idp(document: Value) -> (Upstream, Arc<Mutex<Vec<String>>>) {
    let paths = Arc::new(Mutex::new(Vec::new()));
    let seen = paths.clone();
    let keys = keys::jwks(&[TestKey::Rsa1]);
    let server = Upstream::serve(0, move |request| {
        seen.lock().unwrap().push(request.path.clone());
        match request.path.as_str() {
            "/.well-known/openid-configuration" => Reply::json(&document),
            "/oidc/jwks" => Reply::json(&keys),
            _ => Reply::text(404, "not here"),
        }
    });
    (server, paths)
}

#[test]
fn discovery_finds_the_keys_and_refuses_a_document_for_another_issuer_or_host() {
    let remote = json!({"discovery": true, "cluster": "jwks"});
    let upstream = Upstream::start();
    let (server, paths) = idp(json!({"issuer": ISSUER, "jwks_uri": "http://idp.test/oidc/jwks"}));
    let envoy = start(
        &two_providers_on(ISSUER, remote.clone()),
        server.port(),
        &upstream,
    );
    assert_eq!(status(&envoy, TestKey::Rsa1, "/orders", AUD), 200);
    assert_eq!(status(&envoy, TestKey::Rsa1, "/admin", ADMIN), 200);
    assert_eq!(
        *paths.lock().unwrap(),
        vec!["/.well-known/openid-configuration", "/oidc/jwks"],
        "one document and one key set for both providers"
    );
    drop(envoy);

    for (document, said) in [
        (
            json!({"issuer": "http://evil.test", "jwks_uri": "http://idp.test/oidc/jwks"}),
            "names issuer \"http://evil.test\", not the provider's",
        ),
        (
            json!({"issuer": ISSUER, "jwks_uri": "http://keys.elsewhere.test/oidc/jwks"}),
            "jwks_uri is on keys.elsewhere.test, not on the issuer's host",
        ),
    ] {
        let (server, paths) = idp(document);
        let envoy = start(
            &two_providers_on(ISSUER, remote.clone()),
            server.port(),
            &upstream,
        );
        assert_eq!(status(&envoy, TestKey::Rsa1, "/orders", AUD), 503, "{said}");
        assert!(
            envoy.wait_for_log(said, Duration::from_secs(5)),
            "{said} not logged"
        );
        assert!(
            !paths.lock().unwrap().iter().any(|p| p == "/oidc/jwks"),
            "keys were fetched from a document that did not vouch for them"
        );
    }
    assert!(upstream.take().len() == 2);
}

#[test]
fn keys_come_back_within_a_second_or_so_of_the_key_servers_return() {
    let jwks = JwksServer::down(keys::jwks(&[TestKey::Rsa1]));
    let upstream = Upstream::start();
    let remote = json!({"uri": "http://idp.test/keys", "cluster": "jwks", "timeout_ms": 500});
    let envoy = start(&two_providers_on(ISSUER, remote), jwks.port(), &upstream);
    // Down long enough for the backoff to reach several seconds.
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(6) {
        assert_eq!(status(&envoy, TestKey::Rsa1, "/orders", AUD), 503);
        std::thread::sleep(Duration::from_millis(100));
    }
    jwks.up();
    let back = Instant::now();
    let mut first_pass = None;
    while back.elapsed() < Duration::from_secs(10) {
        let sent = back.elapsed();
        if status(&envoy, TestKey::Rsa1, "/orders", AUD) == 200 {
            first_pass = Some(sent);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let first_pass = first_pass.expect("keys came back");
    assert!(
        first_pass <= Duration::from_secs(2),
        "the first request to pass was sent {first_pass:?} after the key server came back"
    );
    assert!(jwks.fetches() <= 2, "{} fetches on return", jwks.fetches());
}

#[test]
fn every_fetch_failure_says_what_happened() {
    let upstream = Upstream::start();
    let provider = |remote: Value| json!({"providers": [{"name": "idp", "issuer": ISSUER, "audiences": [AUD], "remote_jwks": remote}]});
    let cases: Vec<(Value, Option<Upstream>, &str)> = vec![
        (
            json!({"uri": "http://idp.test/keys", "cluster": "no-such-cluster"}),
            None,
            "not sent: this proxy has no usable cluster named \"no-such-cluster\"",
        ),
        (
            json!({"uri": "http://idp.test/keys", "cluster": "jwks"}),
            None,
            "could not connect to the key server through the cluster",
        ),
        (
            json!({"uri": "http://idp.test/keys", "cluster": "jwks"}),
            Some(Upstream::serve(0, |_| Reply::text(404, "no"))),
            "the key server answered status 404",
        ),
        (
            json!({"uri": "http://idp.test/keys", "cluster": "jwks"}),
            Some(Upstream::serve(0, |_| Reply::text(200, "<html><body>login</body></html>"))),
            "the body is an HTML page, not a key set",
        ),
        (
            json!({"uri": "http://idp.test/.well-known/openid-configuration", "cluster": "jwks"}),
            Some(Upstream::serve(0, |_| Reply::json(&json!({"issuer": ISSUER, "jwks_uri": "http://idp.test/jwks"})))),
            "an OpenID discovery document, not a key set: set remote_jwks.uri to its jwks_uri (http://idp.test/jwks)",
        ),
        (
            json!({"uri": "http://idp.test/keys", "cluster": "jwks"}),
            Some(Upstream::serve(0, |_| Reply::json(&json!({"keys": [{"kty": "RSA", "kid": "small", "n": "AQAB", "e": "AQAB"}]})))),
            "no usable key in the set: key 0 (small): RSA modulus under 2048 bits",
        ),
        (
            json!({"uri": "http://idp.test/keys", "cluster": "jwks", "timeout_ms": 300}),
            Some(Upstream::serve(0, |_| {
                std::thread::sleep(Duration::from_millis(1500));
                Reply::text(200, "{}")
            })),
            "no reply within 300 ms (timeout_ms)",
        ),
    ];
    for (remote, server, said) in cases {
        // Port 1: nothing listens there.
        let port = server.as_ref().map_or(1, Upstream::port);
        let envoy = Envoy::builder(&provider(remote), upstream.port())
            .jwks_port(port)
            .start();
        assert!(
            envoy.wait_for_log(said, Duration::from_secs(8)),
            "{said} not in:\n{}",
            envoy.log()
        );
        assert_eq!(status(&envoy, TestKey::Rsa1, "/", AUD), 503, "{said}");
    }
    assert!(upstream.take().is_empty());
}
