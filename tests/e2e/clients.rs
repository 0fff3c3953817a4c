//! Real client libraries read what audgate says, through real Envoy over TLS
//! (a listener certificate from a test CA that node trusts through
//! `NODE_EXTRA_CA_CERTS`): the MCP TypeScript SDK discovers the protected
//! resource metadata from audgate's 401, accepts the document, and would ask
//! for the configured `resource` (its origin is the one it calls); and
//! oauth4webapi parses the step-up challenge. The libraries come from
//! tests/clients/package-lock.json (`make clients`); without them, or without
//! node, these tests fail, never skip.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::support::cases::{claims, ISSUER};
use crate::support::keys::{self, now, TestKey};
use crate::support::tls::Pki;
use crate::support::{Envoy, Upstream};

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// Runs `script` of tests/clients with node, trusting `ca`; its JSON output.
fn node(script: &str, args: &[&str], ca: &Path) -> Value {
    let dir = clients_dir();
    for package in ["@modelcontextprotocol/sdk", "oauth4webapi"] {
        assert!(
            dir.join("node_modules").join(package).is_dir(),
            "{package} is not installed in tests/clients: run `make clients` (npm ci from its lock file)"
        );
    }
    let output = Command::new("node")
        .arg(dir.join(script))
        .args(args)
        .current_dir(&dir)
        .env("NODE_EXTRA_CA_CERTS", ca)
        .output()
        .unwrap_or_else(|e| panic!("node is needed for tests/e2e/clients.rs: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "node {script} {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// An MCP server's configuration: its public URL `base` (`https://127.0.0.1:PORT`)
/// with `/mcp` is its resource and audience; `/admin` asks for step-up.
fn config(base: &str) -> Value {
    let resource = format!("{base}/mcp");
    json!({
        "providers": [{
            "name": "idp",
            "issuer": ISSUER,
            "audiences": [resource],
            "local_jwks": keys::jwks(&[TestKey::Rsa1]),
        }],
        "rules": [
            {"match": {"prefix": "/admin"}, "requires": {"provider": "idp", "acr_values": ["phrh"], "max_age_s": 300}},
            {"match": {"prefix": "/"}, "requires": "idp"},
        ],
        "resource_metadata": {"resource": resource, "resource_name": "audgate test MCP server"},
    })
}

/// Envoy over TLS on a port chosen here (the resource names it before Envoy
/// starts); a port another process took meanwhile is tried again with another.
fn start(pki: &Pki) -> (Envoy, Upstream, String) {
    for _ in 0..5 {
        let port = TcpListener::bind(("127.0.0.1", 0))
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let base = format!("https://127.0.0.1:{port}");
        let upstream = Upstream::start();
        let started = Envoy::builder(&config(&base), upstream.port())
            .template(&pki.envoy_template())
            .listen_on(port)
            .try_start();
        if let Ok(envoy) = started {
            return (envoy, upstream, base);
        }
    }
    panic!("no free port for Envoy's TLS listener in five tries");
}

#[test]
fn the_mcp_sdk_discovers_the_metadata_from_the_401_and_accepts_it() {
    let pki = Pki::new(&[]);
    let (_envoy, upstream, base) = start(&pki);
    let server = format!("{base}/mcp");
    let found = node("mcp_discovery.mjs", &[&server], &pki.ca);
    assert_eq!(found["status"], 401, "{found}");
    assert_eq!(
        found["resource_metadata"],
        format!("{base}/.well-known/oauth-protected-resource/mcp"),
        "{found}"
    );
    assert_eq!(found["metadata"]["resource"], server, "{found}");
    assert_eq!(found["metadata"]["authorization_servers"], json!([ISSUER]));
    assert_eq!(
        found["metadata"]["resource_name"],
        "audgate test MCP server"
    );
    assert_eq!(
        found["resource"], server,
        "the resource the SDK would ask for"
    );
    assert_eq!(upstream.count(), 0);
}

#[test]
fn oauth4webapi_parses_the_step_up_challenge() {
    let pki = Pki::new(&[]);
    let (_envoy, _upstream, base) = start(&pki);
    let resource = format!("{base}/mcp");
    let claims = claims(json!({"aud": resource, "acr": "pwd", "auth_time": now() as i64 - 10}));
    let token = keys::sign_default(TestKey::Rsa1, claims);
    let found = node(
        "step_up.mjs",
        &[&format!("{base}/admin/tools"), &token],
        &pki.ca,
    );
    assert_eq!(found["status"], 401, "{found}");
    let challenge = &found["challenges"][0];
    assert_eq!(challenge["scheme"], "bearer", "{found}");
    let parameters = &challenge["parameters"];
    assert_eq!(parameters["error"], "insufficient_user_authentication");
    assert_eq!(
        parameters["error_description"],
        "A different authentication level is required"
    );
    assert_eq!(parameters["acr_values"], "phrh");
    assert_eq!(parameters["max_age"], "300");
    assert_eq!(
        parameters["resource_metadata"],
        format!("{base}/.well-known/oauth-protected-resource/mcp")
    );
}
