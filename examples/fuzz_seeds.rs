//! Writes the fuzzing fixtures and seed corpus under `fuzz/` (see fuzz/README.md).
//!
//! ```text
//! cargo run --example fuzz_seeds            # rewrites fuzz/fixtures and fuzz/corpus/*/seed-*
//! ```
//!
//! - `fuzz/fixtures/token_config.json`: the token table's provider config
//!   (tests/support/cases.rs `config()`), plus output headers, a query parameter and
//!   a cookie as token sources, so the `token` target reaches every source and the
//!   outputs code.
//! - `fuzz/fixtures/valid_tokens.txt`: `now` (the minting time, which the `token`
//!   target uses as its clock so these tokens stay valid) and the table's valid
//!   tokens, one a line: the only inputs the `token` target lets pass.
//! - `fuzz/corpus/token/seed-*`: every token of the table, some wrapped as an
//!   `Authorization` value, a query string or a cookie.
//! - `fuzz/corpus/config/seed-*`, `fuzz/corpus/jwks/seed-*`: valid and broken
//!   plugin configs and key sets.
//! - `fuzz/corpus/decision/seed-*` and `fuzz/dict/decision.dict`: requests in the
//!   decision target's input format (fuzz/src/decision/seeds.rs
//!   `decision_seed_specs`, which names each by what it tries) and the byte runs
//!   of its path tricks.
//!
//! Only files named `seed-*` are written; files libFuzzer or a person added to the
//! corpus are left alone (old seeds are removed first, so the set stays exact).

#[allow(dead_code)]
#[path = "../tests/support/keys.rs"]
mod keys;

#[allow(dead_code)]
#[path = "../tests/support/cases.rs"]
mod cases;

// The fuzz targets' checks: the decision target's seeds and dictionary
// (fuzz/src/decision/seeds.rs) are written in the format its decoder reads
// (fuzz/src/input.rs); only those are used here.
#[allow(dead_code, unused_imports)]
#[path = "../fuzz/src/lib.rs"]
mod fuzz_checks;

use std::fs;
use std::path::{Path, PathBuf};

use keys::TestKey;
use serde_json::{json, Value};

/// The query parameter and cookie the fuzz config also takes tokens from.
const PARAM: &str = "access_token";
const COOKIE: &str = "session";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let table = cases::cases();
    // Taken after minting: every valid token has iat <= now < exp.
    let now = keys::now();

    fs::create_dir_all(fuzz.join("fixtures"))?;
    let config = token_config();
    audgate::config::Config::from_json(config.to_string().as_bytes())
        .map_err(|e| format!("the fuzz token config does not validate: {e}"))?;
    fs::write(
        fuzz.join("fixtures/token_config.json"),
        format!("{}\n", serde_json::to_string_pretty(&config)?),
    )?;
    let mut valid = String::from(
        "# Written by `cargo run --example fuzz_seeds`: the clock of the token target,\n\
         # then the token table's valid tokens, one a line.\n",
    );
    valid.push_str(&format!("now {now}\n"));
    for case in &table {
        if let (200, Some(token)) = (case.status, &case.token) {
            valid.push_str(token);
            valid.push('\n');
        }
    }
    fs::write(fuzz.join("fixtures/valid_tokens.txt"), valid)?;

    let mut tokens: Vec<(String, Vec<u8>)> = Vec::new();
    for case in &table {
        let Some(token) = &case.token else { continue };
        tokens.push((slug(case.name), token.clone().into_bytes()));
    }
    let first = |name: &str| -> String {
        table
            .iter()
            .find(|case| case.name == name)
            .and_then(|case| case.token.clone())
            .unwrap_or_default()
    };
    let rs256 = first("valid RS256");
    let es256 = first("valid ES256");
    let expired = first("expired");
    tokens.extend([
        (
            "header-bearer".into(),
            format!("Bearer {rs256}").into_bytes(),
        ),
        (
            "header-lowercase".into(),
            format!("bearer {es256}").into_bytes(),
        ),
        (
            "header-expired".into(),
            format!("Bearer {expired}").into_bytes(),
        ),
        (
            "header-no-scheme-space".into(),
            format!("Bearer{rs256}").into_bytes(),
        ),
        (
            "header-basic".into(),
            b"Basic YWxhZGRpbjpvcGVuc2VzYW1l".to_vec(),
        ),
        (
            "query".into(),
            format!("a=1&{PARAM}={}&b", rs256.replace('.', "%2E")).into_bytes(),
        ),
        (
            "query-twice".into(),
            format!("{PARAM}={rs256}&{PARAM}={es256}").into_bytes(),
        ),
        (
            "cookie".into(),
            format!("a=1; {COOKIE}=\"{es256}\"").into_bytes(),
        ),
        (
            "cookie-twice".into(),
            format!("{COOKIE}={rs256}; {COOKIE}={rs256}").into_bytes(),
        ),
        ("empty".into(), Vec::new()),
    ]);
    write_seeds(&fuzz.join("corpus/token"), &tokens)?;
    for (name, bytes) in configs() {
        let valid = audgate::config::Config::from_json(&bytes).is_ok();
        if valid == name.starts_with("bad-") {
            return Err(format!("config seed {name}: validates {valid}, against its name").into());
        }
    }
    write_seeds(&fuzz.join("corpus/config"), &configs())?;
    write_seeds(&fuzz.join("corpus/jwks"), &key_sets())?;
    let requests = fuzz_checks::decision_seeds();
    write_seeds(&fuzz.join("corpus/decision"), &requests)?;
    let mut dict = String::from(
        "# libFuzzer dictionary for the decision target (make fuzz passes it with -dict).\n\
         # Written by `cargo run --example fuzz_seeds`: the input is read structurally\n\
         # (fuzz/src/input.rs `RequestSpec::read`), so these are the bytes that pick\n\
         # path pieces making traversal tricks, and header names.\n",
    );
    for (name, bytes) in fuzz_checks::decision_dictionary() {
        let escaped: String = bytes.iter().map(|b| format!("\\x{b:02x}")).collect();
        dict.push_str(&format!("{name}=\"{escaped}\"\n"));
    }
    fs::write(fuzz.join("dict/decision.dict"), dict)?;
    println!(
        "fuzz seeds written: {} token, {} config, {} jwks, {} decision (now {now})",
        tokens.len(),
        configs().len(),
        key_sets().len(),
        requests.len()
    );
    Ok(())
}

/// The table's config with outputs and two more token sources.
fn token_config() -> Value {
    let mut config = cases::config();
    let provider = &mut config["providers"][0];
    provider["from_headers"] = json!([{"name": "authorization", "value_prefix": "Bearer "}]);
    provider["from_params"] = json!([PARAM]);
    provider["from_cookies"] = json!([COOKIE]);
    provider["forward_payload_header"] = json!("x-jwt-payload");
    provider["claim_to_headers"] = json!([
        {"claim": "sub", "header": "x-user"},
        {"claim": "iat", "header": "x-issued-at"}
    ]);
    config
}

/// Plugin configs: the documented examples, one with every field, and broken ones.
fn configs() -> Vec<(String, Vec<u8>)> {
    let jwks = keys::jwks(&[TestKey::Rsa1, TestKey::Ec256]);
    let provider = |name: &str| {
        json!({
            "name": name,
            "issuer": "https://idp.example.com",
            "audiences": ["orders.prod.svc"],
            "local_jwks": jwks,
        })
    };
    let remote = json!({
        "uri": "https://idp.example.com/.well-known/jwks.json",
        "cluster": "idp_jwks",
        "cache_duration_s": 300
    });
    let with = |extra: Value| {
        let mut p = provider("corp-idp");
        for (key, value) in extra.as_object().into_iter().flatten() {
            match value {
                Value::Null => p.as_object_mut().map(|o| o.remove(key)),
                _ => p
                    .as_object_mut()
                    .map(|o| o.insert(key.clone(), value.clone())),
            };
        }
        json!({"providers": [p]})
    };
    let mut out: Vec<(String, Value)> = vec![
        ("table".into(), cases::config()),
        ("fuzz-token".into(), token_config()),
        (
            "minimal".into(),
            json!({"providers": [provider("corp-idp")]}),
        ),
        // README.md
        (
            "readme".into(),
            json!({
                "providers": [{
                    "name": "corp-idp",
                    "issuer": "https://idp.example.com",
                    "audiences": ["orders.prod.svc"],
                    "remote_jwks": remote,
                    "required_claims": {"scope": "orders:read"}
                }],
                "rules": [
                    {"match": {"path": "/healthz"}, "requires": "none"},
                    {"match": {"prefix": "/"}, "requires": "corp-idp"}
                ]
            }),
        ),
        // docs/configuration.md, worked example (the Istio pluginConfig as JSON)
        (
            "istio-worked-example".into(),
            json!({
                "providers": [{
                    "name": "corp-idp",
                    "issuer": "https://idp.example.com",
                    "audiences": ["orders.prod.svc"],
                    "remote_jwks": {
                        "uri": "https://idp.example.com/.well-known/jwks.json",
                        "cluster": "outbound|443||idp.example.com",
                        "cache_duration_s": 600
                    },
                    "forward_payload_header": "x-jwt-payload",
                    "claim_to_headers": [
                        {"claim": "sub", "header": "x-user"},
                        {"claim": "tenant", "header": "x-tenant"}
                    ],
                    "required_claims": {"tenant": ["acme", "globex"]}
                }],
                "rules": [
                    {"match": {"path": "/healthz"}, "requires": "none"},
                    {"match": {"prefix": "/orders", "methods": ["POST", "PUT", "DELETE"]}, "requires": "corp-idp"},
                    {"match": {"prefix": "/"}, "requires": "corp-idp"}
                ]
            }),
        ),
        // every field set
        (
            "every-field".into(),
            json!({
                "mode": "audit",
                "token_cache_size": 10,
                "bypass_cors_preflight": true,
                "providers": [
                    {
                        "name": "corp-idp",
                        "issuer": "https://idp.example.com",
                        "audiences": ["orders.prod.svc", "https://orders.example/"],
                        "local_jwks": jwks.to_string(),
                        "from_headers": [
                            {"name": "Authorization", "value_prefix": "Bearer "},
                            {"name": "x-token"}
                        ],
                        "from_params": ["access_token"],
                        "from_cookies": ["session"],
                        "forward": true,
                        "forward_payload_header": "x-jwt-payload",
                        "claim_to_headers": [{"claim": "sub", "header": "x-user"}],
                        "clock_skew_s": 0,
                        "require_exp": false,
                        "max_lifetime_s": 3600,
                        "algorithms": ["RS256", "ES256", "HS256"],
                        "required_claims": {"scope": "orders:read", "roles": ["a", "b"]}
                    },
                    {
                        "name": "partner",
                        "issuer": "https://partner.example",
                        "audiences": ["orders.prod.svc"],
                        "local_jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ", "alg": "HS256"}, keys::jwk(TestKey::Ed)]},
                        "algorithms": ["HS256", "EdDSA"],
                        "from_headers": [],
                        "from_cookies": ["partner"]
                    },
                    {
                        "name": "remote",
                        "issuer": "https://idp.example.com",
                        "audiences": ["orders.prod.svc"],
                        "remote_jwks": {"uri": "http://keycloak.auth:8080/realms/corp/certs?x=1#f", "cluster": "keycloak", "timeout_ms": 60000, "cache_duration_s": 86400}
                    }
                ],
                "rules": [
                    {"match": {"path": "/healthz", "methods": ["get"]}, "requires": "none"},
                    {"match": {"prefix": "/any"}, "requires": {"any": ["corp-idp", "partner"]}},
                    {"match": {"prefix": "/all"}, "requires": {"all": ["corp-idp", "partner"]}, "allow_missing": true},
                    {"match": {"prefix": "/"}, "requires": "remote"}
                ]
            }),
        ),
        // broken: each one field off the contract
        ("bad-no-providers".into(), json!({"providers": []})),
        (
            "bad-unknown-field".into(),
            with(json!({"audience": "typo"})),
        ),
        ("bad-empty-audiences".into(), with(json!({"audiences": []}))),
        (
            "bad-empty-audience".into(),
            with(json!({"audiences": [""]})),
        ),
        ("bad-alg-none".into(), with(json!({"algorithms": ["none"]}))),
        (
            "bad-alg-unknown".into(),
            with(json!({"algorithms": ["RS1"]})),
        ),
        (
            "bad-two-key-sources".into(),
            with(json!({"remote_jwks": remote})),
        ),
        (
            "bad-no-key-source".into(),
            with(json!({"local_jwks": null})),
        ),
        (
            "bad-remote-uri".into(),
            with(json!({"local_jwks": null, "remote_jwks": {"uri": "ftp://x/y", "cluster": "c"}})),
        ),
        (
            "bad-remote-timeout".into(),
            with(
                json!({"local_jwks": null, "remote_jwks": {"uri": "https://x/", "cluster": "c", "timeout_ms": 0}}),
            ),
        ),
        ("bad-no-source".into(), with(json!({"from_headers": []}))),
        (
            "bad-header-name".into(),
            with(json!({"from_headers": [{"name": "x token"}]})),
        ),
        ("bad-clock-skew".into(), with(json!({"clock_skew_s": 301}))),
        (
            "bad-max-lifetime".into(),
            with(json!({"max_lifetime_s": 0})),
        ),
        (
            "bad-no-usable-key".into(),
            with(
                json!({"local_jwks": {"keys": [{"kty": "RSA", "kid": "k1", "n": "…", "e": "AQAB"}]}}),
            ),
        ),
        (
            "bad-oct-without-hs".into(),
            with(json!({"local_jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}})),
        ),
        ("bad-name".into(), with(json!({"name": "none"}))),
        (
            "bad-duplicate-name".into(),
            json!({"providers": [provider("a"), provider("a")]}),
        ),
        (
            "bad-rule-provider".into(),
            json!({"providers": [provider("a")], "rules": [{"match": {"prefix": "/"}, "requires": "b"}]}),
        ),
        (
            "bad-rule-match".into(),
            json!({"providers": [provider("a")], "rules": [{"match": {"prefix": "/", "path": "/x"}, "requires": "a"}]}),
        ),
        (
            "bad-rule-group".into(),
            json!({"providers": [provider("a")], "rules": [{"match": {"prefix": "/"}, "requires": {"any": []}}]}),
        ),
        (
            "bad-cache-size".into(),
            json!({"providers": [provider("a")], "token_cache_size": 100001}),
        ),
        ("bad-not-an-object".into(), json!([1, 2, 3])),
    ];
    let mut raw: Vec<(String, Vec<u8>)> = out
        .drain(..)
        .map(|(name, value)| (name, format!("{value}\n").into_bytes()))
        .collect();
    raw.push(("bad-not-json".into(), b"{\"providers\": [".to_vec()));
    raw.push(("bad-not-utf8".into(), b"{\"providers\": \"\xff\"}".to_vec()));
    raw.push((
        "bad-duplicate-key".into(),
        br#"{"providers": [], "providers": []}"#.to_vec(),
    ));
    raw
}

/// Key sets: the fixture keys, alone and together, and broken ones.
fn key_sets() -> Vec<(String, Vec<u8>)> {
    let set = |keys: Vec<Value>| json!({ "keys": keys });
    let rsa = keys::jwk(TestKey::Rsa1);
    let ec = keys::jwk(TestKey::Ec256);
    let ed = keys::jwk(TestKey::Ed);
    let changed = |key: &Value, field: &str, value: Value| {
        let mut key = key.clone();
        match value {
            Value::Null => key.as_object_mut().map(|o| o.remove(field)),
            _ => key.as_object_mut().map(|o| o.insert(field.into(), value)),
        };
        key
    };
    let n = rsa["n"].as_str().unwrap_or_default().to_owned();
    let n_bytes = keys::b64_decode(&n);
    let small_n = keys::b64(n_bytes.get(..128).unwrap_or_default());
    let mut big = vec![1u8];
    big.extend_from_slice(&n_bytes);
    big.extend_from_slice(&n_bytes);
    let big_n = keys::b64(&big);
    let mut out: Vec<(String, Value)> = vec![
        ("all".into(), keys::jwks(&TestKey::ALL)),
        (
            "table".into(),
            cases::config()["providers"][0]["local_jwks"].clone(),
        ),
    ];
    for key in TestKey::ALL {
        out.push((format!("key-{}", key.kid()), keys::jwks(&[key])));
    }
    out.extend([
        ("empty".into(), set(vec![])),
        ("bad-not-an-object".into(), json!([rsa])),
        ("bad-no-keys".into(), json!({"key": [rsa]})),
        ("bad-keys-not-array".into(), json!({"keys": rsa})),
        (
            "bad-entry-not-object".into(),
            set(vec![json!("rsa"), rsa.clone()]),
        ),
        (
            "bad-rsa-small".into(),
            set(vec![changed(&rsa, "n", json!(small_n))]),
        ),
        (
            "bad-rsa-large".into(),
            set(vec![changed(&rsa, "n", json!(big_n))]),
        ),
        (
            "bad-rsa-e-empty".into(),
            set(vec![changed(&rsa, "e", json!(""))]),
        ),
        (
            "bad-rsa-e-long".into(),
            set(vec![changed(&rsa, "e", json!("AQABAQABAQAB"))]),
        ),
        (
            "bad-rsa-e-one".into(),
            set(vec![changed(&rsa, "e", json!("AQ"))]),
        ),
        (
            "bad-rsa-padded".into(),
            set(vec![changed(&rsa, "n", json!(format!("{n}==")))]),
        ),
        (
            "bad-use-enc".into(),
            set(vec![changed(&rsa, "use", json!("enc"))]),
        ),
        (
            "bad-kid-number".into(),
            set(vec![changed(&rsa, "kid", json!(7))]),
        ),
        (
            "bad-alg-mismatch".into(),
            set(vec![changed(&rsa, "alg", json!("ES256"))]),
        ),
        (
            "bad-alg-none".into(),
            set(vec![changed(&ec, "alg", json!("none"))]),
        ),
        (
            "bad-kty".into(),
            set(vec![changed(&ec, "kty", json!("ECDH"))]),
        ),
        (
            "bad-crv".into(),
            set(vec![changed(&ec, "crv", json!("P-521"))]),
        ),
        (
            "bad-ec-x-short".into(),
            set(vec![changed(&ec, "x", json!("AAAA"))]),
        ),
        (
            "bad-ec-off-curve".into(),
            set(vec![changed(&ec, "y", json!(keys::b64(&[7u8; 32])))]),
        ),
        (
            "bad-okp-crv".into(),
            set(vec![changed(&ed, "crv", json!("X25519"))]),
        ),
        (
            "oct".into(),
            set(vec![
                json!({"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"}),
                ec.clone(),
            ]),
        ),
        ("too-many-keys".into(), set(vec![ec.clone(); 65])),
    ]);
    let mut raw: Vec<(String, Vec<u8>)> = out
        .drain(..)
        .map(|(name, value)| (name, format!("{value}\n").into_bytes()))
        .collect();
    raw.push(("bad-not-json".into(), b"{\"keys\": [".to_vec()));
    raw.push((
        "bad-not-utf8".into(),
        b"{\"keys\": [], \"x\": \"\xc3\x28\"}".to_vec(),
    ));
    raw
}

/// Replaces the seeds in `dir` by `seeds`, as `seed-<name>`.
fn write_seeds(dir: &Path, seeds: &[(String, Vec<u8>)]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    for entry in fs::read_dir(dir)? {
        let path: PathBuf = entry?.path();
        let is_seed = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with("seed-"));
        if is_seed {
            fs::remove_file(&path)?;
        }
    }
    for (name, bytes) in seeds {
        fs::write(dir.join(format!("seed-{name}")), bytes)?;
    }
    Ok(())
}

/// `"valid RS256"` → `valid-rs256`.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}
