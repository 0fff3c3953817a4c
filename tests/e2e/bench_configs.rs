//! Keeps `make bench` honest without timing anything: each Envoy configuration in
//! tests/bench/configs/ is what the templates give, starts, and answers as its name
//! says. With a filter (native jwt_authn or audgate, cache on or off) a good RS256 or
//! ES256 token gets 200, a token for another audience 403 and no token 401; with no
//! filter everything gets 200. The exchange's (`exchange` only, three destinations)
//! runs against the test STS (tests/support/sts.rs) in place of the bench's own: a
//! token to each destination gets 200 after one exchange for that destination's
//! audience, and again 200 with none; no token, or a token to a host no destination
//! names, 200 with none. The introspection one's runs against the test
//! endpoint (tests/support/introspection.rs): an opaque token it vouches for gets
//! 200 after one callout and again 200 with none, one for another audience 403,
//! an unknown one and none 401. The tokens are minted here, with the same keys, issuer and
//! audience as the bench's (tests/bench/bench.py).

use crate::support::envoy::{envoy_bin, wasm_path};
use crate::support::introspection::{Introspector, IntrospectorSettings};
use crate::support::sts::{sha256_hex, Sts, StsSettings};
use crate::support::{http, keys, temp, TestKey};
use audgate::token::dpop::checks::token_hash;
use audgate::token::dpop::thumbprint::thumbprint;
use serde_json::json;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ISSUER: &str = "https://issuer.bench.audgate.local";
const AUDIENCE: &str = "orders.bench.svc";
const OTHER_AUDIENCE: &str = "payments.bench.svc";
/// The bench's keys: rsa-1 for RS256, ec256-1 for ES256.
const KEYS: [TestKey; 2] = [TestKey::Rsa1, TestKey::Ec256];
/// How the configurations name the module (relative to the repo root).
const WASM_LINE: &str = "filename: \"target/wasm32-wasip1/release/audgate.wasm\"";
/// The exchange configuration's line naming its STS's port (bench.py's STS_LINE).
const STS_LINE: &str = "socket_address: { address: 127.0.0.1, port_value: 10003 }  # sts";
/// The exchange's destinations (bench.py's EXCHANGE_DESTINATIONS): host = audience.
const DESTINATIONS: [&str; 3] = [
    "payments.bench.svc",
    "ledger.bench.svc",
    "shipping.bench.svc",
];

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn config_text(name: &str) -> String {
    let path = manifest_dir().join(format!("tests/bench/configs/{name}.yaml"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn token(key: TestKey, audience: &str) -> String {
    let now = keys::now();
    let claims = json!({
        "iss": ISSUER, "aud": audience, "sub": "bench-smoke", "iat": now, "exp": now + 600,
    });
    keys::sign_default(key, claims)
}

/// Envoy on one bench configuration, `--concurrency 1`; killed on drop.
struct BenchEnvoy {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl BenchEnvoy {
    fn start(name: &str) -> BenchEnvoy {
        BenchEnvoy::start_with(name, None)
    }

    /// With `sts_port`, the configuration's STS cluster pointed at it.
    fn start_with(name: &str, sts_port: Option<u16>) -> BenchEnvoy {
        let dir = temp::dir(&format!("bench-smoke-{name}"));
        let mut yaml = config_text(name);
        if yaml.contains(WASM_LINE) {
            let module = wasm_path().to_string_lossy().into_owned();
            yaml = yaml.replace(WASM_LINE, &format!("filename: {module:?}"));
        }
        if let Some(port) = sts_port {
            assert_eq!(yaml.matches(STS_LINE).count(), 1, "{name}: the STS line");
            yaml = yaml.replace(STS_LINE, &STS_LINE.replace("10003", &port.to_string()));
        }
        std::fs::write(dir.join("envoy.yaml"), yaml).unwrap();
        let output = File::create(dir.join("envoy.log")).unwrap();
        let child = Command::new(envoy_bin())
            .arg("-c")
            .arg(dir.join("envoy.yaml"))
            .arg("--admin-address-path")
            .arg(dir.join("admin-address"))
            .args([
                "--use-dynamic-base-id",
                "--concurrency",
                "1",
                "--log-level",
                "warn",
            ])
            .stdin(Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .spawn()
            .expect("spawn envoy");
        let mut envoy = BenchEnvoy {
            child,
            dir,
            port: 0,
        };
        envoy.wait_ready();
        envoy
    }

    /// Until the admin `/ready` is 200 and the `bench` listener has its port.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("envoy exited ({status}):\n{}", self.log());
            }
            if let Some(port) = self.admin_port().and_then(listener_port) {
                self.port = port;
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("envoy not ready in 30 s:\n{}", self.log());
    }

    fn admin_port(&self) -> Option<u16> {
        let text = std::fs::read_to_string(self.dir.join("admin-address")).ok()?;
        text.trim().rsplit(':').next()?.parse().ok()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("envoy.log")).unwrap_or_default()
    }

    fn status(&self, token: Option<&str>) -> u16 {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer
            .as_deref()
            .map(|b| vec![("authorization", b)])
            .unwrap_or_default();
        http::get(self.port, "/", &headers).status
    }

    /// The status of a request to `host` (its `:authority`), with `token` if any.
    fn status_to(&self, host: &str, token: Option<&str>) -> u16 {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("host", host)];
        headers.extend(bearer.as_deref().map(|b| ("authorization", b)));
        http::get(self.port, "/", &headers).status
    }
}

impl Drop for BenchEnvoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("envoy log kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The `bench` listener's port, once `/ready` answers 200.
fn listener_port(admin_port: u16) -> Option<u16> {
    let ready = http::try_request(admin_port, "GET", "/ready", &[], b"").ok()?;
    if ready.status != 200 {
        return None;
    }
    let response = http::try_request(admin_port, "GET", "/listeners?format=json", &[], b"").ok()?;
    let listeners: serde_json::Value = serde_json::from_str(&response.body).ok()?;
    let bench = listeners["listener_statuses"]
        .as_array()?
        .iter()
        .find(|l| l["name"] == "bench")?;
    let port = bench["local_address"]["socket_address"]["port_value"].as_u64()?;
    u16::try_from(port).ok().filter(|p| *p != 0)
}

/// Good tokens 200; with a filter, another audience 403 and no token 401.
fn assert_answers(name: &str, filtered: bool) {
    let envoy = BenchEnvoy::start(name);
    for key in KEYS {
        let alg = key.default_alg();
        let good = envoy.status(Some(&token(key, AUDIENCE)));
        assert_eq!(good, 200, "{name}, {alg}: good token\n{}", envoy.log());
        let other = envoy.status(Some(&token(key, OTHER_AUDIENCE)));
        let none = envoy.status(None);
        if filtered {
            assert_eq!(other, 403, "{name}, {alg}: token for {OTHER_AUDIENCE}");
            assert_eq!(none, 401, "{name}, {alg}: no token");
        } else {
            assert_eq!((other, none), (200, 200), "{name}: no filter, yet refused");
        }
    }
}

#[test]
fn configs_match_the_templates() {
    let output = Command::new("python3")
        .arg(manifest_dir().join("tests/bench/bench.py"))
        .args(["render", "--check"])
        .env("BENCH_JWKS", keys::jwks(&KEYS).to_string())
        .env_remove("AUDGATE_WASM")
        .output()
        .expect("run python3 tests/bench/bench.py");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn configs_are_what_their_names_say() {
    let filters = ["envoy.filters.http.jwt_authn", "envoy.filters.http.wasm"];
    let has = |name: &str, what: &str| config_text(name).contains(what);
    assert!(!filters.iter().any(|f| has("none", f)));
    for name in ["jwt_authn", "jwt_authn_cached"] {
        assert!(has(name, filters[0]) && !has(name, filters[1]), "{name}");
    }
    for name in [
        "audgate",
        "audgate_nocache",
        "audgate_exchange",
        "audgate_dpop",
        "audgate_introspection",
    ] {
        assert!(has(name, filters[1]) && !has(name, filters[0]), "{name}");
        assert!(has(name, WASM_LINE), "{name}: module path");
    }
    assert!(has("audgate_exchange", "\"exchange\": {"));
    assert!(
        !has("audgate_exchange", "\"providers\""),
        "audgate_exchange: exchange only"
    );
    assert!(
        !has("audgate_exchange", "\"cache_size\""),
        "the default cache"
    );
    assert!(has("audgate_exchange", STS_LINE));
    assert!(has("audgate_introspection", STS_LINE));
    assert!(has("audgate_introspection", "\"introspection\": {"));
    assert!(!has("audgate_introspection", "\"local_jwks\""));
    for host in DESTINATIONS {
        assert!(has(
            "audgate_exchange",
            &format!("\"audience\": \"{host}\"")
        ));
    }
    for name in ["none", "jwt_authn", "audgate", "audgate_nocache"] {
        assert!(!has(name, "clusters:"), "{name}: no upstream");
    }
    assert!(!has("jwt_authn", "jwt_cache_config"));
    assert!(has(
        "jwt_authn_cached",
        "jwt_cache_config: { jwt_cache_size: 1000 }"
    ));
    assert!(
        !has("audgate", "\"token_cache_size\""),
        "audgate: the default cache"
    );
    assert!(has("audgate_nocache", "\"token_cache_size\": 0"));
}

#[test]
fn no_filter_passes_everything() {
    assert_answers("none", false);
}

#[test]
fn jwt_authn_default_answers() {
    assert_answers("jwt_authn", true);
}

#[test]
fn jwt_authn_cached_answers() {
    assert_answers("jwt_authn_cached", true);
}

#[test]
fn audgate_answers() {
    assert_answers("audgate", true);
}

#[test]
fn audgate_without_cache_answers() {
    assert_answers("audgate_nocache", true);
}

#[test]
fn audgate_exchange_answers() {
    let sts = Sts::start(StsSettings {
        subject_issuer: ISSUER.into(),
        ..StsSettings::default()
    });
    let envoy = BenchEnvoy::start_with("audgate_exchange", Some(sts.port()));
    let good = token(TestKey::Rsa1, AUDIENCE);
    for (n, host) in DESTINATIONS.into_iter().enumerate() {
        for again in [false, true] {
            let status = envoy.status_to(host, Some(&good));
            assert_eq!(status, 200, "to {host} (again: {again})\n{}", envoy.log());
            assert_eq!(sts.exchanges(), n + 1, "one exchange per destination");
        }
        let asked = sts.requests();
        let last = asked.last().unwrap();
        assert_eq!(last.field("audience"), Some(host));
        assert_eq!(
            last.field("subject_token"),
            Some(sha256_hex(&good).as_str())
        );
    }
    assert_eq!(envoy.status_to(DESTINATIONS[0], None), 200, "no token");
    let elsewhere = envoy.status_to("elsewhere.bench.svc", Some(&good));
    assert_eq!(elsewhere, 200, "to no destination: the token removed");
    assert_eq!(sts.exchanges(), DESTINATIONS.len());
    assert_eq!(sts.issued(), DESTINATIONS.len(), "every exchange answered");
}

#[test]
fn audgate_introspection_answers() {
    let settings = IntrospectorSettings {
        open: true,
        ..IntrospectorSettings::basic("bench", "unused")
    };
    let server = Introspector::start(settings);
    let now = keys::now();
    let claims = |aud: &str| json!({"iss": ISSUER, "aud": aud, "sub": "bench", "exp": now + 600});
    let good = server.issue(claims(AUDIENCE));
    let elsewhere = server.issue(claims(OTHER_AUDIENCE));
    let envoy = BenchEnvoy::start_with("audgate_introspection", Some(server.port()));
    for again in [false, true] {
        let status = envoy.status(Some(&good));
        assert_eq!(status, 200, "again: {again}\n{}", envoy.log());
    }
    assert_eq!(server.calls_for(&good), 1, "the answer is kept");
    let call = &server.recorded()[0];
    assert_eq!(
        call.client.as_deref(),
        Some("bench"),
        "its client_id in the form"
    );
    assert_eq!(envoy.status(Some(&elsewhere)), 403);
    assert_eq!(envoy.status(Some("never-issued")), 401);
    assert_eq!(envoy.status(None), 401);
}

/// The DPoP configuration's origin (bench.py's DPOP_ORIGIN): what `htu` names.
const DPOP_ORIGIN: &str = "https://api.bench.audgate.local";

/// A proof by `client` for `GET /` at the bench's DPoP origin and `token`.
fn dpop_proof(client: TestKey, token: &str, jti: &str) -> String {
    let claims = json!({"jti": jti, "htm": "GET", "htu": format!("{DPOP_ORIGIN}/"),
                        "iat": keys::now(), "ath": token_hash(token)});
    let header = json!({"typ": "dpop+jwt", "jwk": keys::bare_jwk(client)});
    keys::sign(client.default_alg(), client, header, claims)
}

#[test]
fn audgate_dpop_answers() {
    let text = config_text("audgate_dpop");
    for setting in [
        "\"required\": true",
        "\"max_age_s\": 600",
        "\"replay_store_size\": 1000000",
        DPOP_ORIGIN,
    ] {
        assert!(text.contains(setting), "audgate_dpop: {setting}");
    }
    let envoy = BenchEnvoy::start("audgate_dpop");
    for client in [TestKey::Ec256, TestKey::Ed] {
        let jkt = thumbprint(keys::bare_jwk(client).as_object().unwrap()).unwrap();
        let now = keys::now();
        let token = keys::sign_default(
            TestKey::Ec256,
            json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "bench-smoke", "iat": now,
                   "exp": now + 600, "cnf": {"jkt": jkt}}),
        );
        let scheme = format!("DPoP {token}");
        let call = |proof: &str, authorization: &str| {
            http::get(
                envoy.port,
                "/",
                &[("authorization", authorization), ("dpop", proof)],
            )
            .status
        };
        let first = dpop_proof(client, &token, &format!("{jkt}-1"));
        assert_eq!(
            call(&first, &scheme),
            200,
            "{client:?}: a fresh proof\n{}",
            envoy.log()
        );
        assert_eq!(call(&first, &scheme), 401, "{client:?}: its replay");
        let second = dpop_proof(client, &token, &format!("{jkt}-2"));
        let bearer = format!("Bearer {token}");
        assert_eq!(call(&second, &bearer), 401, "{client:?}: as a bearer token");
        assert_eq!(
            call(&second, &scheme),
            200,
            "{client:?}: another fresh proof"
        );
    }
    assert_eq!(envoy.status(None), 401, "no token");
}
