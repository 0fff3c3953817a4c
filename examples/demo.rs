//! The other half of `make run`: the services behind the two Envoys, the demo
//! issuer, and tokens to try.
//!
//! Serves an echo upstream on 127.0.0.1:10001 (its reply lists the request
//! headers that reached it, so the `x-user` and `x-token-aud` audgate sets from a
//! verified token's `sub` and `aud` show, and the `authorization` header it
//! removed does not), on 127.0.0.1:10002 the demo key set
//! (`/.well-known/jwks.json`) and fresh commands (`/tokens`), and on
//! 127.0.0.1:10003 the demo issuer's token service (`POST /token`, RFC 8693 token
//! exchange, for the client `orders` with the secret in `AUDGATE_STS_SECRET`:
//! demo/sts.rs). Once both Envoys are ready (envoy/envoy.yaml, the callee;
//! envoy/outbound.yaml, the caller's side, which exchanges at that token service)
//! it prints `curl` commands with tokens for a 200, a 403 and a 401, the two-hop
//! call, and `audgate` CLI commands. Serves until killed.
//!
//! ```text
//! demo                 serve (what `make run` starts in the background)
//! demo --check-ports   exit 1, naming them, if any of the ports `make run` uses
//!                      (the Envoys' 10000, 9901, 10010 and 9902, the demo's 10001,
//!                      10002 and 10003) is taken
//! demo --tokens        print the commands with fresh tokens (they last an hour)
//! demo --print-jwks    print the demo JWKS (what :10002 serves and
//!                      envoy/envoy.yaml's remote_jwks fetches)
//! ```

#[allow(dead_code)]
#[path = "../tests/support/http.rs"]
mod http;
#[allow(dead_code)]
#[path = "../tests/support/keys.rs"]
mod keys;
#[path = "demo/sts.rs"]
pub mod sts;
#[allow(dead_code)]
#[path = "../tests/support/upstream.rs"]
pub mod upstream;

use keys::TestKey;
use serde_json::json;
use std::net::TcpListener;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use upstream::{Reply, Request, Upstream};

pub const ISSUER: &str = "https://issuer.demo.audgate.local";
pub const AUDIENCE: &str = "orders.demo.svc";
pub const OTHER_AUDIENCE: &str = "payments.demo.svc";
/// The header envoy/envoy.yaml's `claim_to_headers` fills from `sub`.
pub const IDENTITY_HEADER: &str = "x-user";
/// The header envoy/envoy.yaml's `claim_to_headers` fills from `aud`.
pub const AUDIENCE_HEADER: &str = "x-token-aud";
/// The header envoy/envoy.yaml's `claim_to_headers` fills from `scope`.
pub const SCOPE_HEADER: &str = "x-token-scope";
/// The environment variable holding the client secret of `orders` at the token
/// service: the demo's (to check it) and the caller-side Envoy's (to send it).
pub const SECRET_ENV: &str = "AUDGATE_STS_SECRET";
/// How long a minted token lasts.
pub const TOKEN_LIFETIME_S: u64 = 3600;
const ENVOY: &str = "http://127.0.0.1:10000";
/// The caller-side Envoy's listener: the workload `orders`' outbound calls.
const OUTBOUND: &str = "http://127.0.0.1:10010";
const ENVOY_PORT: u16 = 10000;
const ADMIN_PORT: u16 = 9901;
const OUTBOUND_PORT: u16 = 10010;
const OUTBOUND_ADMIN_PORT: u16 = 9902;
const UPSTREAM_PORT: u16 = 10001;
const JWKS_PORT: u16 = 10002;
const STS_PORT: u16 = 10003;
/// Every port `make run` listens on, and what listens there.
pub const PORTS: [(u16, &str); 7] = [
    (ENVOY_PORT, "Envoy's listener"),
    (ADMIN_PORT, "Envoy's admin"),
    (OUTBOUND_PORT, "the caller-side Envoy's listener"),
    (OUTBOUND_ADMIN_PORT, "the caller-side Envoy's admin"),
    (UPSTREAM_PORT, "the demo upstream"),
    (JWKS_PORT, "the demo JWKS and /tokens"),
    (STS_PORT, "the demo token service"),
];

const USAGE: &str = "usage: demo [--check-ports | --tokens | --print-jwks]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => serve(),
        ["--check-ports"] => match busy(&PORTS) {
            None => ExitCode::SUCCESS,
            Some(message) => fail(&message),
        },
        ["--tokens"] => {
            print!("{}", commands());
            ExitCode::SUCCESS
        }
        ["--print-jwks"] => {
            let jwks = keys::jwks(&[TestKey::Demo]);
            println!(
                "{}",
                serde_json::to_string_pretty(&jwks).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("{message}");
    ExitCode::FAILURE
}

fn serve() -> ExitCode {
    let (upstream, jwks, sts) = match bind_demo_ports() {
        Ok(listeners) => listeners,
        Err(message) => return fail(&message),
    };
    let secret = std::env::var(SECRET_ENV).ok().filter(|s| !s.is_empty());
    if secret.is_none() {
        eprintln!(
            "demo: {SECRET_ENV} is not set: the token service refuses every client \
             (`make run` sets it, for the demo and the caller-side Envoy)"
        );
    }
    let _upstream = Upstream::serve_on(upstream, echo);
    let _jwks = Upstream::serve_on(jwks, issuer);
    let _sts = serve_sts(sts, secret);
    eprintln!(
        "demo: upstream on :{UPSTREAM_PORT}, JWKS on :{JWKS_PORT}, token service on \
         :{STS_PORT}; waiting for the Envoys"
    );
    let (envoy, outbound) = ("Envoy", "the caller-side Envoy (envoy/outbound.yaml)");
    wait_for_envoy(ADMIN_PORT, envoy, "the commands need it", 120);
    wait_for_envoy(
        OUTBOUND_ADMIN_PORT,
        outbound,
        "the two-hop call needs it",
        20,
    );
    print!("{}", commands());
    loop {
        std::thread::park();
    }
}

/// The demo issuer's token service on `listener` (`POST /token`), for the
/// client `orders` with `secret` (`None`: it refuses every client). It keeps no
/// record of the requests: they carry tokens and the secret.
pub fn serve_sts(listener: TcpListener, secret: Option<String>) -> Upstream {
    Upstream::serve_on_unrecorded(listener, move |request| {
        let path = request.path.split('?').next().unwrap_or_default();
        match (request.method.as_str(), path) {
            ("POST", "/token") => sts::token(secret.as_deref(), request),
            _ => Reply::text(404, "not found: POST /token (RFC 8693 token exchange)\n"),
        }
    })
}

fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port))
}

/// The demo's upstream, JWKS and token service ports, bound; else the one-line
/// refusal naming the first that is taken.
fn bind_demo_ports() -> Result<(TcpListener, TcpListener, TcpListener), String> {
    let bind_named = |port: u16| {
        let named = PORTS.iter().copied().find(|(p, _)| *p == port);
        bind(port).map_err(|e| in_use(&[(named.unwrap_or((port, "the demo")), e)]))
    };
    Ok((
        bind_named(UPSTREAM_PORT)?,
        bind_named(JWKS_PORT)?,
        bind_named(STS_PORT)?,
    ))
}

/// `in_use` for those of `ports` that cannot be bound on 127.0.0.1 now; `None`
/// if all are free.
pub fn busy(ports: &[(u16, &str)]) -> Option<String> {
    let taken: Vec<((u16, &str), std::io::Error)> = ports
        .iter()
        .filter_map(|&port| bind(port.0).err().map(|e| (port, e)))
        .collect();
    (!taken.is_empty()).then(|| in_use(&taken))
}

/// One line naming each port that could not be bound, what should listen there
/// and how to find and stop what does.
pub fn in_use(taken: &[((u16, &str), std::io::Error)]) -> String {
    let named: Vec<String> = taken
        .iter()
        .map(|((port, what), e)| match e.kind() {
            std::io::ErrorKind::AddrInUse => format!("127.0.0.1:{port} ({what})"),
            _ => format!("127.0.0.1:{port} ({what}: {e})"),
        })
        .collect();
    let first = taken.first().map_or(ENVOY_PORT, |((port, _), _)| *port);
    format!(
        "demo: cannot start, in use: {}. Another `make run` holds {it} (stop it with Ctrl-C in its \
         terminal), or another process does (`lsof -nP -iTCP:{first} -sTCP:LISTEN` names it).",
        named.join(", "),
        it = if named.len() == 1 { "it" } else { "them" },
    )
}

/// The commands to try, with tokens minted now.
pub fn commands() -> String {
    let good = mint(AUDIENCE);
    let other = mint(OTHER_AUDIENCE);
    let minutes = TOKEN_LIFETIME_S / 60;
    format!(
        "\n# ==== audgate demo: both Envoys are ready. Try these (Ctrl-C stops the demo) ====\n\
         \n# 200: a token for {AUDIENCE} (sub demo-user). The upstream's reply lists what reached it:\n\
         # {IDENTITY_HEADER}: demo-user and {AUDIENCE_HEADER}: {AUDIENCE}, set by audgate from the token,\n\
         # and no authorization header.\n\
         curl -i -H 'authorization: Bearer {good}' {ENVOY}/orders\n\
         \n# 403: a token from the same issuer for {OTHER_AUDIENCE}\n\
         curl -i -H 'authorization: Bearer {other}' {ENVOY}/orders\n\
         \n# 401: no token\n\
         curl -i {ENVOY}/orders\n\
         \n# audgate fetched the demo issuer's keys (:{JWKS_PORT}/.well-known/jwks.json) through Envoy's\n\
         # jwks cluster, as it would from your IdP; Envoy's admin counts the fetches and their age:\n\
         curl -s http://127.0.0.1:{ADMIN_PORT}/stats | grep audgate_jwks\n\
         \n# The same decisions without Envoy, with the filter's own code (the audgate CLI; verify\n\
         # fetches the key set as audgate does):\n\
         target/release/audgate check-config envoy/envoy.yaml\n\
         target/release/audgate inspect {other}\n\
         target/release/audgate verify --config envoy/envoy.yaml {other}\n\
         \n# Two hops: orders calls payments with the token it got (the first one, aud {AUDIENCE})\n\
         # through its caller-side Envoy on :{OUTBOUND_PORT} (envoy/outbound.yaml), which exchanges it at the\n\
         # demo token service (:{STS_PORT}) for a token minted for payments. The reply shows\n\
         # {AUDIENCE_HEADER}: {OTHER_AUDIENCE}, {SCOPE_HEADER}: payments:charge and no token.\n\
         curl -i -H 'host: {OTHER_AUDIENCE}' -H 'authorization: Bearer {good}' {OUTBOUND}/payments/charge\n\
         \n# 403: the same token for {AUDIENCE} sent to payments directly, not exchanged\n\
         curl -i -H 'authorization: Bearer {good}' {ENVOY}/payments/charge\n\
         \n# These tokens expire in {minutes} minutes. Fresh ones: curl -s http://127.0.0.1:{JWKS_PORT}/tokens\n\
         # (or: target/release/examples/demo --tokens)\n"
    )
}

/// The demo issuer: its key set, and fresh commands at `/tokens`.
pub fn issuer(request: &Request) -> Reply {
    match request.path.as_str() {
        "/.well-known/jwks.json" => Reply::json(&keys::jwks(&[TestKey::Demo])),
        "/tokens" => Reply::text(200, &commands()),
        _ => Reply::text(404, "not found: /.well-known/jwks.json or /tokens\n"),
    }
}

/// The demo service: its reply lists the request headers it received (a token
/// only as present, never its value).
pub fn echo(request: &Request) -> Reply {
    let mut body = format!(
        "upstream got {} {} with these headers:\n",
        request.method, request.path
    );
    for (name, value) in &request.headers {
        let value = match name.as_str() {
            "authorization" => "<present; value not shown>",
            _ => value.as_str(),
        };
        let note = match name.as_str() {
            IDENTITY_HEADER => "   <- set by audgate from the verified token's sub",
            AUDIENCE_HEADER => "   <- and from its aud",
            SCOPE_HEADER => "   <- and from its scope",
            _ => "",
        };
        body.push_str(&format!("  {name}: {value}{note}\n"));
    }
    if request.header("authorization").is_none() {
        body.push_str("(no authorization header: audgate removes a verified token)\n");
    }
    Reply::text(200, &body)
}

/// A token from the demo issuer for `audience`, valid for `TOKEN_LIFETIME_S`.
pub fn mint(audience: &str) -> String {
    let now = keys::now();
    let claims = json!({
        "iss": ISSUER, "aud": audience, "sub": "demo-user", "iat": now,
        "exp": now + TOKEN_LIFETIME_S,
    });
    keys::sign_default(TestKey::Demo, claims)
}

/// Polls the admin `/ready` of the Envoy (`what`) on `admin_port` until it
/// answers 200 or `limit_s` seconds pass; if it does not, says so and what `needs` it.
fn wait_for_envoy(admin_port: u16, what: &str, needs: &str, limit_s: u64) {
    let deadline = Instant::now() + Duration::from_secs(limit_s);
    while Instant::now() < deadline {
        let ready = http::try_request(admin_port, "GET", "/ready", &[], b"");
        if ready.is_ok_and(|r| r.status == 200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("demo: {what} not ready on 127.0.0.1:{admin_port} yet; {needs}");
}
