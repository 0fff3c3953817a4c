//! Tokens bound to the caller that presents them, through real Envoy with a TLS
//! listener and certificates the test makes: `caller.claim` against the peer's
//! URI SAN (its SPIFFE ID), RFC 8705 `cnf.x5t#S256` against the peer certificate,
//! `require_certificate_binding`, the token cache across callers, and who called
//! in every refusal line, at most ten a second per worker.

use std::time::Duration;

use crate::support;
use crate::support::keys::{self, now, TestKey};
use crate::support::tls::Pki;
use crate::support::{Envoy, Upstream};
use serde_json::{json, Value};

const ISSUER: &str = "https://spire.test";
const AUD: &str = "spiffe://cluster.local/ns/shop/sa/orders";
const FRONTEND: &str = "spiffe://cluster.local/ns/shop/sa/frontend";
const OTHER: &str = "spiffe://cluster.local/ns/shop/sa/other";

fn provider(extra: Value) -> Value {
    let base = json!({"name": "spire", "issuer": ISSUER, "audiences": [AUD],
                      "local_jwks": keys::jwks(&[TestKey::Ec256])});
    keys::merged(base, &extra)
}

fn token(extra: Value) -> String {
    let now = now();
    let claims = json!({"iss": ISSUER, "aud": AUD, "sub": FRONTEND, "iat": now, "exp": now + 600});
    keys::sign_default(TestKey::Ec256, keys::merged(claims, &extra))
}

struct Rig {
    pki: Pki,
    upstream: Upstream,
    envoy: Envoy,
}

impl Rig {
    fn new(config: Value) -> Rig {
        let pki = Pki::new(&[FRONTEND, OTHER]);
        let upstream = Upstream::start();
        let envoy = Envoy::builder(&config, upstream.port())
            .template(&pki.envoy_template())
            .start();
        Rig {
            pki,
            upstream,
            envoy,
        }
    }

    /// The status with `token` from client certificate `client` (0 frontend, 1
    /// other, None no certificate); the upstream saw the request iff it passed.
    fn status(&self, token: &str, client: Option<usize>, extra: &[(&str, &str)]) -> u16 {
        let bearer = format!("Bearer {token}");
        let mut headers = vec![("authorization", bearer.as_str())];
        headers.extend_from_slice(extra);
        let status = self
            .pki
            .get(self.envoy.port(), "/orders?x=1", client, &headers);
        let seen = self.upstream.take();
        assert_eq!(
            status == 200,
            seen.len() == 1,
            "status {status}, upstream saw {}",
            seen.len()
        );
        status
    }
}

#[test]
fn the_caller_claim_must_be_the_peers_spiffe_id() {
    let rig = Rig::new(json!({"providers": [provider(json!({"caller": {"claim": "sub"}}))]}));
    let mine = token(json!({}));
    assert_eq!(rig.status(&mine, Some(0), &[]), 200, "the right caller");
    assert_eq!(
        rig.status(&mine, Some(0), &[]),
        200,
        "again, from the cache"
    );
    assert_eq!(
        rig.status(&mine, Some(1), &[]),
        401,
        "another caller's certificate, cached token"
    );
    assert_eq!(rig.status(&mine, None, &[]), 401, "no certificate");
    let theirs = token(json!({"sub": OTHER}));
    assert_eq!(rig.status(&theirs, Some(1), &[]), 200);
    assert_eq!(rig.status(&theirs, Some(0), &[]), 401);
    let no_sub = token(json!({"sub": null}));
    assert_eq!(rig.status(&no_sub, Some(0), &[]), 401);
}

#[test]
fn certificate_bound_tokens_need_their_certificate() {
    let rig = Rig::new(json!({"providers": [provider(json!({}))]}));
    let bound = token(json!({"cnf": {"x5t#S256": rig.pki.clients[0].x5t_s256()}}));
    assert_eq!(rig.status(&bound, Some(0), &[]), 200);
    assert_eq!(
        rig.status(&bound, Some(1), &[]),
        401,
        "the wrong certificate"
    );
    assert_eq!(rig.status(&bound, None, &[]), 401, "no certificate");
    let dpop = token(json!({"cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}));
    assert_eq!(
        rig.status(&dpop, Some(0), &[]),
        401,
        "a confirmation audgate cannot check"
    );
    let unbound = token(json!({}));
    assert_eq!(
        rig.status(&unbound, None, &[]),
        200,
        "no cnf, no caller rule: a bearer token"
    );

    // Over plain HTTP there is no certificate at all.
    let upstream = Upstream::start();
    let plain = Envoy::start(
        &json!({"providers": [provider(json!({}))]}),
        upstream.port(),
    );
    let response = support::http::get(
        plain.port(),
        "/",
        &[("authorization", &format!("Bearer {bound}"))],
    );
    assert_eq!(response.status, 401);
    assert!(upstream.take().is_empty());
}

#[test]
fn certificate_binding_can_be_required() {
    let caller = json!({"caller": {"claim": "sub", "require_certificate_binding": true}});
    let rig = Rig::new(json!({"providers": [provider(caller)]}));
    let unbound = token(json!({}));
    assert_eq!(rig.status(&unbound, Some(0), &[]), 401);
    let bound = token(json!({"cnf": {"x5t#S256": rig.pki.clients[0].x5t_s256()}}));
    assert_eq!(rig.status(&bound, Some(0), &[]), 200);
}

#[test]
fn refusal_lines_name_the_caller_and_are_bounded() {
    let rig = Rig::new(json!({"providers": [provider(json!({"caller": {"claim": "sub"}}))]}));
    let mine = token(json!({"azp": "web-frontend"}));
    let request_id = [("x-request-id", "req-42")];
    assert_eq!(rig.status(&mine, Some(1), &request_id), 401);
    assert!(rig.envoy.wait_for_log("req-42", Duration::from_secs(5)));
    let log = rig.envoy.log();
    let line = log.lines().find(|l| l.contains("req-42")).unwrap();
    for part in [
        "audgate: rejected (spire) 401 [caller]",
        &format!("caller=\"{OTHER}\""),
        "from=\"127.0.0.1:",
        "GET /orders ",
        &format!("sub=\"{FRONTEND}\""),
        "client=\"web-frontend\"",
        "kid=\"ec256-1\"",
    ] {
        assert!(line.contains(part), "{part} not in {line}");
    }
    assert!(
        line.contains("[warning]"),
        "visible at Istio's default level: {line}"
    );
    assert!(!line.contains("x=1"), "the query is not logged: {line}");
    assert!(
        !line.contains(mine.rsplit('.').next().unwrap()),
        "the signature is logged"
    );

    // A burst: at most ten lines a second; the first line after it counts the rest.
    let burst = 40;
    for _ in 0..burst {
        assert_eq!(
            rig.status(&mine, Some(1), &[("x-request-id", "burst")]),
            401
        );
    }
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        rig.status(&mine, Some(1), &[("x-request-id", "after")]),
        401
    );
    assert!(rig
        .envoy
        .wait_for_log("request_id=\"after\"", Duration::from_secs(5)));
    let log = rig.envoy.log();
    let written = log
        .lines()
        .filter(|l| l.contains("request_id=\"burst\""))
        .count();
    let suppressed: usize = log
        .lines()
        .filter(|l| l.contains(" similar lines suppressed)"))
        .filter_map(|l| {
            let before = l.split(" similar lines suppressed)").next()?;
            before.rsplit('(').next()?.parse::<usize>().ok()
        })
        .sum();
    assert!(written < burst, "{written} of {burst} burst lines written");
    assert_eq!(
        written + suppressed,
        burst,
        "every refusal was written or counted"
    );
}
