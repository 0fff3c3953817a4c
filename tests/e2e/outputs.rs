//! Header outputs through real Envoy: claims copied into headers and the payload
//! forwarded reach the upstream, and a client's own copy of such a header never
//! does, in any spelling, on `none` routes and verified requests, over HTTP/1.1
//! and HTTP/2.

use std::process::Command;

use crate::support::providers::{bearer, corp, corp_token};
use crate::support::upstream::Request;
use crate::support::Rig;
use serde_json::json;

#[test]
fn outputs_reach_the_upstream_and_client_copies_never_do() {
    let mut provider = corp(json!({}));
    provider["forward_payload_header"] = json!("x-jwt-payload");
    provider["claim_to_headers"] = json!([
        {"claim": "sub", "header": "x-user"},
        {"claim": "tier", "header": "x-tier"},
        {"claim": "admin", "header": "x-admin"},
        {"claim": "roles", "header": "x-roles"},
        {"claim": "act.sub", "header": "x-acting"},
        {"claim": "groups", "header": "x-groups"},
    ]);
    let rig = Rig::new(&json!({
        "providers": [provider],
        "rules": [{"match": {"path": "/healthz"}, "requires": "none"}],
    }));
    let token = corp_token(json!({
        "tier": 3, "admin": false, "roles": ["a", "b"],
        "act": {"sub": "orders"}, "groups": ["ok", "a,b"],
    }));
    let forged = [
        ("x-jwt-payload", "eyJmb3JnZWQiOnRydWV9"),
        ("x-user", "root"),
        ("x-roles", "admin"),
    ];
    let mut headers = forged.to_vec();
    let auth = bearer(&token);
    headers.push(("authorization", &auth));
    let (status, seen) = rig.send("GET", "/", &headers);
    assert_eq!(status, 200);
    let seen = seen.unwrap();
    assert_eq!(
        seen.headers_named("x-jwt-payload"),
        vec![token.split('.').nth(1).unwrap()]
    );
    assert_eq!(seen.headers_named("x-user"), vec!["alice"]);
    assert_eq!(seen.header("x-tier"), Some("3"));
    assert_eq!(seen.header("x-admin"), Some("false"));
    assert_eq!(
        seen.headers_named("x-roles"),
        vec!["a,b"],
        "an array of strings is joined, and the forged copy is gone"
    );
    assert_eq!(
        seen.header("x-acting"),
        Some("orders"),
        "a nested claim by its path"
    );
    assert_eq!(
        seen.header("x-groups"),
        None,
        "an element holding ',' sets nothing"
    );
    // a route that checks nothing still strips forged outputs
    let (status, seen) = rig.send("GET", "/healthz", &forged);
    assert_eq!(status, 200);
    let seen = seen.unwrap();
    for (name, _) in forged {
        assert_eq!(seen.header(name), None, "{name} forged through /healthz");
    }
}

/// The status of `GET path`, and what reached the upstream, over HTTP/2
/// (cleartext, prior knowledge) with curl.
fn send_h2(rig: &Rig, path: &str, headers: &[(&str, &str)]) -> (u16, Option<Request>) {
    let mut curl = Command::new("curl");
    curl.args([
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--http2-prior-knowledge",
    ]);
    for (name, value) in headers {
        curl.arg("-H").arg(format!("{name}: {value}"));
    }
    let url = format!("http://127.0.0.1:{}{path}", rig.envoy.port());
    let out = curl
        .arg(url)
        .output()
        .expect("curl (Debian package curl) runs");
    let status = String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0);
    let mut seen = rig.upstream.take();
    assert!(seen.len() <= 1);
    (status, seen.pop())
}

/// Hardening round 2, finding 1: an output header configured with `_` is stripped
/// from the client in every spelling, on `none` routes and verified requests, over
/// HTTP/1 and HTTP/2.
#[test]
fn forged_output_headers_are_stripped_in_every_spelling() {
    let config = json!({
        "providers": [corp(json!({
            "claim_to_headers": [{"claim": "tenant", "header": "x_tenant"}],
            "forward_payload_header": "X_Payload",
        }))],
        "rules": [
            {"match": {"prefix": "/open"}, "requires": "none"},
            {"match": {"prefix": "/"}, "requires": "corp"},
        ],
    });
    let rig = Rig::new(&config);
    let good = bearer(&corp_token(json!({"tenant": "acme"})));
    for spelling in ["x_tenant", "x-tenant", "X_Tenant", "X-TENANT"] {
        for (path, auth) in [("/open", None), ("/api", Some(good.as_str()))] {
            let mut headers = vec![(spelling, "evil"), ("x-payload", "evil")];
            headers.extend(auth.map(|a| ("authorization", a)));
            for (over, (status, seen)) in [
                ("HTTP/1.1", rig.send("GET", path, &headers)),
                ("HTTP/2", send_h2(&rig, path, &headers)),
            ] {
                assert_eq!(status, 200, "{spelling} {path} {over}");
                let seen = seen.unwrap();
                let forged: Vec<_> = seen
                    .headers
                    .iter()
                    .filter(|(_, value)| value == "evil")
                    .collect();
                assert!(forged.is_empty(), "{spelling} {path} {over}: {forged:?}");
                let tenant = seen.headers_named("x_tenant");
                let want: Vec<&str> = auth.map(|_| "acme").into_iter().collect();
                assert_eq!(tenant, want, "{spelling} {path} {over}");
            }
        }
    }
}
