//! The checks behind audgate's fuzz targets, as plain functions of the input bytes:
//! `fuzz_targets/*.rs` hand them libFuzzer's inputs, and the main crate's
//! `tests/fuzz_corpus.rs` (which includes this file) replays the committed corpus
//! and every saved crash (`fuzz/regressions/`) through them under `cargo test`.
//!
//! Each function panics when audgate breaks one of its promises on that input; a
//! panic inside audgate itself is a finding too. See fuzz/README.md.

use std::cell::RefCell;
use std::sync::OnceLock;

use audgate::config::{Config, KeySource, MAX_PROVIDERS, MAX_PROVIDER_AUDIENCES};
use audgate::decision::{decide, same_header_name, Decision, LocalKeys, Verifier};
use audgate::extract::Request;
use audgate::jwks::{parse_jwks_bytes, KeyKind, Origin, ParsedJwks, SkipReason, MAX_KEYS};
use audgate::jwks_cache::{accept_body, FetchFailure, MAX_JWKS_BYTES};
use audgate::policy::{PathMatch, Requirement};
use audgate::rejection::Rejection;
use audgate::token::MAX_TOKEN_BYTES;
use audgate::token_cache::TokenCache;
use audgate::verify::{HostNative, RustCrypto, SignatureBackend};
use serde_json::Value;

/// The token target's provider config (written by `cargo run --example fuzz_seeds`).
const TOKEN_CONFIG: &str = include_str!("../fixtures/token_config.json");
/// `now <secs>`, then the valid tokens of the token table, one a line.
const VALID_TOKENS: &str = include_str!("../fixtures/valid_tokens.txt");

const AUTHORITY: &str = "orders.test";
const PATH: &str = "/orders/1";

/// The fixed world of the `token` target.
pub struct Fixture {
    /// The token table's provider, with output headers, a parameter and a cookie.
    pub config: Config,
    /// The clock: when the valid tokens were minted.
    pub now: i64,
    /// The only tokens that may pass: signed by a fixture key, in the seed corpus.
    pub valid_tokens: Vec<String>,
    /// Their payload parts (base64url), which is what a passing request carries.
    valid_payloads: Vec<String>,
    param: String,
    cookie: String,
    payload_header: String,
}

/// The fixture, read once; it panics if a valid token no longer passes (then the
/// harness, not the input, is broken: regenerate with `cargo run --example fuzz_seeds`).
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let config = Config::from_json(TOKEN_CONFIG.as_bytes())
            .unwrap_or_else(|e| panic!("fuzz/fixtures/token_config.json: {e}"));
        let mut now = None;
        let mut valid_tokens = Vec::new();
        for line in VALID_TOKENS.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.strip_prefix("now ") {
                Some(secs) => now = secs.parse::<i64>().ok(),
                None => valid_tokens.push(line.to_owned()),
            }
        }
        let now = now.expect("fuzz/fixtures/valid_tokens.txt: no `now <secs>` line");
        let valid_payloads = valid_tokens
            .iter()
            .filter_map(|token| token.split('.').nth(1).map(str::to_owned))
            .collect();
        let provider = config.providers.first().expect("a provider");
        let fixture = Fixture {
            param: provider.from_params.first().expect("from_params").clone(),
            cookie: provider.from_cookies.first().expect("from_cookies").clone(),
            payload_header: provider
                .forward_payload_header
                .clone()
                .expect("forward_payload_header"),
            config,
            now,
            valid_tokens,
            valid_payloads,
        };
        assert!(
            !fixture.valid_tokens.is_empty(),
            "no valid token in the fixture"
        );
        for token in &fixture.valid_tokens {
            let header = fixture.decide(
                "GET",
                PATH,
                AUTHORITY,
                &[("authorization", &format!("Bearer {token}"))],
            );
            let query = fixture.decide(
                "GET",
                &format!("{PATH}?{}={token}", fixture.param),
                AUTHORITY,
                &[],
            );
            let cookie = fixture.decide(
                "GET",
                PATH,
                AUTHORITY,
                &[("cookie", &format!("{}={token}", fixture.cookie))],
            );
            for decision in [header, query, cookie] {
                assert_eq!(
                    decision.verdict,
                    Ok(()),
                    "fixture broken: a valid seed token does not pass ({token}); \
                     regenerate with `cargo run --example fuzz_seeds`"
                );
            }
        }
        fixture
    })
}

impl Fixture {
    fn verifier<'a>(
        &'a self,
        keys: &'a LocalKeys<'a>,
        cache: Option<&'a RefCell<TokenCache>>,
    ) -> Verifier<'a> {
        Verifier {
            keys,
            signatures: &RustCrypto,
            cache,
            now: self.now,
        }
    }

    fn decide(
        &self,
        method: &str,
        path: &str,
        authority: &str,
        headers: &[(&str, &str)],
    ) -> Decision {
        let headers = owned(headers);
        let request = Request {
            method,
            path,
            authority,
            headers: &headers,
        };
        let keys = LocalKeys(&self.config);
        decide(&self.config, &request, &self.verifier(&keys, None))
    }

    fn is_valid_token(&self, token: &str) -> bool {
        self.valid_tokens.iter().any(|valid| valid == token)
    }

    /// What every decision on hostile input must satisfy. On a pass: the request
    /// carries (in the payload header) exactly the payload of a valid seed token,
    /// which a fuzzer cannot forge. On a refusal: 401 or 403 (the keys are local,
    /// so never 503), no identity headers set, nothing but forged outputs and
    /// token places removed, and a body that does not echo the input.
    fn check(&self, decision: &Decision, input: &str) {
        let mutations = &decision.mutations;
        match decision.verdict {
            Ok(()) => {
                assert_eq!(decision.provider, Some(0), "passed without a provider");
                let payload = mutations
                    .set_headers
                    .iter()
                    .find(|(name, _)| *name == self.payload_header)
                    .map(|(_, value)| value.as_str());
                assert!(
                    payload.is_some_and(|p| self.valid_payloads.iter().any(|v| v == p)),
                    "passed a request whose payload no fixture key signed: {payload:?}"
                );
                for (name, value) in &mutations.set_headers {
                    assert!(
                        self.config.output_headers.contains(name),
                        "sets {name}, which is not removed from incoming requests first"
                    );
                    assert!(
                        value
                            .bytes()
                            .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f)),
                        "sets {name} to a value with control characters: {value:?}"
                    );
                }
            }
            Err(rejection) => {
                let status = rejection.status();
                assert!(
                    status == 401 || status == 403,
                    "{rejection:?} → {status} with local keys"
                );
                assert!(
                    mutations.set_headers.is_empty(),
                    "a refusal sets headers: {mutations:?}"
                );
                // Audit mode sends a refused request on as a passed one would be
                // as to its token: forged outputs and token places removed.
                assert!(
                    mutations.remove_headers.iter().all(|name| {
                        self.config
                            .output_headers
                            .iter()
                            .any(|output| same_header_name(output, name))
                            || self.config.providers.iter().any(|p| {
                                !p.forward && p.from_headers.iter().any(|h| &h.name == name)
                            })
                    }),
                    "a refusal removes more than forged outputs and tokens: {mutations:?}"
                );
                let body = rejection.to_string();
                let input = input.trim();
                assert!(
                    input.len() <= 64 || !body.contains(input),
                    "the reply body echoes the input: {body}"
                );
                if let Some(facts) = &decision.facts {
                    let line = facts.to_string();
                    assert!(
                        !line.chars().any(char::is_control),
                        "control character in the log facts: {line:?}"
                    );
                    for value in facts.kid.iter().chain(&facts.iss).chain(&facts.aud) {
                        assert!(!value.contains('"'), "a quote in a logged value: {line}");
                    }
                    assert!(
                        input.len() <= 64 || !line.contains(input),
                        "the log facts hold the token: {line}"
                    );
                }
            }
        }
    }
}

/// A decision through the token cache is the decision without it.
fn assert_same(cached: &Decision, fresh: &Decision) {
    assert_eq!(
        (&cached.verdict, cached.provider, &cached.mutations),
        (&fresh.verdict, fresh.provider, &fresh.mutations),
        "the token cache changes the decision"
    );
}

fn owned(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// `value` after a `Bearer ` prefix (ASCII case ignored), trimmed: the token the
/// default `authorization` source reads.
fn bearer_token(value: &str) -> Option<&str> {
    let head = value.get(..7)?;
    head.eq_ignore_ascii_case("bearer ")
        .then(|| value.get(7..))
        .flatten()
        .map(str::trim)
}

/// A `www-authenticate` value built from a hostile `:authority` stays one header:
/// no control characters, the realm closed by the first quote, no backslash.
fn check_challenge(rejection: Rejection, authority: &str) {
    let Some(challenge) = rejection.www_authenticate(authority) else {
        return;
    };
    assert!(
        !challenge.chars().any(char::is_control),
        "control character in www-authenticate: {challenge:?}"
    );
    let rest = challenge
        .strip_prefix("Bearer realm=\"")
        .unwrap_or_else(|| panic!("www-authenticate without a realm: {challenge:?}"));
    let (realm, tail) = rest
        .split_once('"')
        .unwrap_or_else(|| panic!("realm never closed: {challenge:?}"));
    assert!(!realm.contains('\\'), "backslash in realm: {challenge:?}");
    assert!(realm.chars().count() <= 256, "realm over 256 characters");
    assert!(
        tail.is_empty() || tail.starts_with(", error=\""),
        "realm broke out of its quotes: {challenge:?}"
    );
}

/// `token`: the input as a token, and as the raw `authorization` value, query
/// string and cookie header, through `token::parse` and the whole `decide` against
/// the token table's local JWKS. Never a panic; a pass only for a valid seed token.
pub fn token(data: &[u8]) {
    let fx = fixture();
    let text = String::from_utf8_lossy(data);
    let text: &str = &text;

    // The parser alone: its signing input is `header.payload` as sent.
    if let Ok(parsed) = audgate::token::parse(text) {
        assert!(
            text.len() <= MAX_TOKEN_BYTES,
            "parsed a token over the limit"
        );
        let (signed, _) = text.rsplit_once('.').expect("a parsed token has dots");
        assert_eq!(
            parsed.signing_input, signed,
            "signing input is not header.payload"
        );
        assert!(
            !parsed.signature.is_empty(),
            "parsed a token without signature"
        );
    }

    // 1. The input is the token: `authorization: Bearer <input>`.
    let value = format!("Bearer {text}");
    let decision = fx.decide("GET", PATH, AUTHORITY, &[("authorization", &value)]);
    fx.check(&decision, text);
    if decision.verdict.is_ok() {
        assert!(
            fx.is_valid_token(text.trim()),
            "passed a token that is not a valid seed: {text:?}"
        );
        assert!(
            decision
                .mutations
                .remove_headers
                .iter()
                .any(|h| h == "authorization"),
            "the token was not removed"
        );
    }
    // The same through a token cache, twice (the second time from the cache).
    let cache = RefCell::new(TokenCache::new(4));
    let headers = owned(&[("authorization", &value)]);
    let request = Request {
        method: "GET",
        path: PATH,
        authority: AUTHORITY,
        headers: &headers,
    };
    let keys = LocalKeys(&fx.config);
    for _ in 0..2 {
        let cached = decide(&fx.config, &request, &fx.verifier(&keys, Some(&cache)));
        assert_same(&cached, &decision);
    }
    // The same through the host backend when the host call fails (its fallback).
    let host = HostNative {
        call: |_: &[u8]| None,
    };
    let fallback = Verifier {
        keys: &keys,
        signatures: &host,
        cache: None,
        now: fx.now,
    };
    assert_same(&decide(&fx.config, &request, &fallback), &decision);

    // 2. The input is the whole `authorization` value, and the `:authority`.
    let decision = fx.decide("GET", PATH, text, &[("authorization", text)]);
    fx.check(&decision, text);
    match decision.verdict {
        Ok(()) => assert!(
            bearer_token(text).is_some_and(|token| fx.is_valid_token(token)),
            "passed an authorization value without a valid seed token: {text:?}"
        ),
        Err(rejection) => check_challenge(rejection, text),
    }

    // 3. The input is the query string; the parameter is removed on a pass.
    let path = format!("{PATH}?{text}");
    let decision = fx.decide("POST", &path, AUTHORITY, &[]);
    fx.check(&decision, text);
    if decision.verdict.is_ok() {
        let rewritten = decision
            .mutations
            .path
            .as_deref()
            .expect("the path is rewritten");
        let query = rewritten.split_once('?').map_or("", |(_, q)| q);
        assert!(
            !query
                .split('&')
                .any(|pair| pair.split('=').next() == Some(fx.param.as_str())),
            "the token parameter stays in {rewritten:?}"
        );
    }

    // 4. The input is the cookie header; the cookie is removed on a pass.
    let decision = fx.decide("GET", PATH, AUTHORITY, &[("cookie", text)]);
    fx.check(&decision, text);
    if decision.verdict.is_ok() {
        let rebuilt = decision
            .mutations
            .cookie
            .as_ref()
            .expect("the cookie header is rewritten");
        let left = rebuilt.as_deref().unwrap_or("");
        assert!(
            !left.split(';').any(|pair| {
                pair.split_once('=').map_or(pair, |(name, _)| name).trim() == fx.cookie
            }),
            "the token cookie stays in {left:?}"
        );
    }
}

/// `config`: the input as the plugin configuration. Never a panic; a config that
/// validates keeps every documented bound (docs/configuration.md); requests
/// decided under it keep the output-header and cache promises.
pub fn config(data: &[u8]) {
    let config = match Config::from_json(data) {
        Ok(config) => config,
        Err(error) => {
            assert!(!error.to_string().is_empty(), "an empty config error");
            return;
        }
    };
    check_config(&config);
    exercise_config(&config);
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

fn check_config(config: &Config) {
    let count = config.providers.len();
    assert!((1..=MAX_PROVIDERS).contains(&count), "{count} providers");
    let mut names: Vec<&str> = Vec::new();
    for provider in &config.providers {
        let name = provider.name.as_str();
        assert!(
            (1..=64).contains(&name.len())
                && name != "none"
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)),
            "invalid provider name {name:?}"
        );
        assert!(!names.contains(&name), "provider {name:?} twice");
        names.push(name);
        assert!(!provider.issuer.is_empty(), "{name}: empty issuer");
        let audiences = provider.audiences.len();
        assert!(
            (1..=MAX_PROVIDER_AUDIENCES).contains(&audiences),
            "{name}: {audiences} audiences"
        );
        assert!(
            provider.audiences.iter().all(|a| !a.is_empty()),
            "{name}: empty audience"
        );
        assert!(!provider.algorithms.is_empty(), "{name}: no algorithm");
        let hmac_allowed = provider.algorithms.iter().any(|alg| {
            matches!(
                alg,
                jsonwebtoken::Algorithm::HS256
                    | jsonwebtoken::Algorithm::HS384
                    | jsonwebtoken::Algorithm::HS512
            )
        });
        match &provider.keys {
            KeySource::Local(set) => {
                assert!(!set.is_empty(), "{name}: local_jwks without a usable key");
                assert!(set.keys().len() <= MAX_KEYS, "{name}: over {MAX_KEYS} keys");
                for key in set.keys() {
                    assert!(
                        key.kind != KeyKind::Hmac || hmac_allowed,
                        "{name}: an oct key while algorithms names no HS alg"
                    );
                }
            }
            KeySource::Remote(remote) => {
                assert!(
                    (1..=60_000).contains(&remote.timeout_ms),
                    "{name}: timeout_ms"
                );
                assert!(
                    (1..=86_400).contains(&remote.cache_duration_s),
                    "{name}: cache_duration_s"
                );
                assert!(!remote.cluster.is_empty(), "{name}: empty cluster");
                let scheme = remote
                    .uri
                    .split_once("://")
                    .map(|(s, _)| s.to_ascii_lowercase());
                assert!(
                    matches!(scheme.as_deref(), Some("http" | "https")),
                    "{name}: uri {:?}",
                    remote.uri
                );
                assert!(
                    !remote.authority.is_empty()
                        && !remote.authority.contains(['@', '/', '?', '#'])
                        && remote.path.starts_with('/')
                        && !remote.path.contains('#'),
                    "{name}: callout authority {:?} path {:?}",
                    remote.authority,
                    remote.path
                );
                for part in [&remote.authority, &remote.path] {
                    assert!(
                        !part.bytes().any(|b| b.is_ascii_control() || b == b' '),
                        "{name}: control character or space in the callout: {part:?}"
                    );
                }
            }
        }
        assert!(
            !(provider.from_headers.is_empty()
                && provider.from_params.is_empty()
                && provider.from_cookies.is_empty()),
            "{name}: no token source"
        );
        for source in &provider.from_headers {
            assert!(
                is_header_name(&source.name),
                "{name}: header source {:?}",
                source.name
            );
        }
        assert!(
            provider.from_params.iter().all(|p| !p.is_empty()),
            "{name}: empty param"
        );
        assert!(
            provider.from_cookies.iter().all(|c| !c.is_empty()),
            "{name}: empty cookie"
        );
        let outputs = provider
            .forward_payload_header
            .iter()
            .chain(provider.claim_to_headers.iter().map(|c| &c.header));
        for header in outputs {
            assert!(is_header_name(header), "{name}: output header {header:?}");
            assert!(
                config.output_headers.contains(header),
                "{name}: output header {header:?} is not removed from incoming requests"
            );
        }
        assert!(
            provider
                .claim_to_headers
                .iter()
                .all(|c| !c.claim.is_empty()),
            "{name}: empty claim"
        );
        assert!(provider.times.clock_skew_s <= 300, "{name}: clock_skew_s");
        assert!(
            provider.times.max_lifetime_s != Some(0),
            "{name}: max_lifetime_s 0"
        );
        for required in &provider.required_claims {
            assert!(
                !required.claim.is_empty() && !required.values.is_empty(),
                "{name}: required claim {required:?}"
            );
        }
    }
    assert!(
        config
            .output_headers
            .iter()
            .any(|h| h == audgate::config::WOULD_REJECT_HEADER),
        "{} is not removed from incoming requests",
        audgate::config::WOULD_REJECT_HEADER
    );
    assert!(config.token_cache_size <= 100_000, "token_cache_size");
    assert_eq!(
        config.fallback,
        Requirement::Any((0..count).collect()),
        "fallback"
    );
    for rule in &config.rules {
        match &rule.path {
            PathMatch::Prefix(p) | PathMatch::Exact(p) => {
                assert!(p.starts_with('/'), "rule path {p:?}")
            }
        }
        for method in &rule.methods {
            assert!(
                !method.is_empty() && !method.bytes().any(|b| b.is_ascii_lowercase()),
                "rule method {method:?}"
            );
        }
        let indices: &[usize] = match &rule.requires {
            Requirement::None => &[],
            Requirement::Provider(index) => std::slice::from_ref(index),
            Requirement::Any(list) | Requirement::All(list) => {
                assert!(!list.is_empty(), "an empty provider group");
                list
            }
        };
        assert!(
            indices.iter().all(|&i| i < count),
            "a rule names a missing provider"
        );
    }
}

/// Request headers, as (name, value).
type Headers<'a> = Vec<(&'a str, &'a str)>;

/// Requests under a fuzzed config: a seed token in every usual source, forged
/// outputs, a preflight, a repeated header; the same decision from a cache.
fn exercise_config(config: &Config) {
    let fx = fixture();
    let token = fx.valid_tokens.first().map_or("", String::as_str);
    let bearer = format!("Bearer {token}");
    let cookie = format!("a=b; session={token}; partner={token}");
    let path = format!("/orders/1?access_token={token}&x=1");
    let mut headers: Vec<(&str, &str)> = vec![
        ("authorization", &bearer),
        ("x-token", token),
        ("cookie", &cookie),
    ];
    for name in &config.output_headers {
        headers.push((name.as_str(), "forged"));
    }
    let requests: [(&str, &str, Headers); 4] = [
        ("GET", "/", vec![]),
        ("GET", &path, headers.clone()),
        (
            "OPTIONS",
            "/healthz",
            vec![
                ("origin", "https://x"),
                ("access-control-request-method", "GET"),
            ],
        ),
        (
            "DELETE",
            "/orders",
            vec![("authorization", &bearer), ("authorization", &bearer)],
        ),
    ];
    let keys = LocalKeys(config);
    let remote = config
        .providers
        .iter()
        .any(|p| matches!(p.keys, KeySource::Remote(_)));
    for (method, path, headers) in &requests {
        let headers = owned(headers);
        let request = Request {
            method,
            path,
            authority: AUTHORITY,
            headers: &headers,
        };
        let decision = decide(config, &request, &fx.verifier(&keys, None));
        let mutations = &decision.mutations;
        for name in &config.output_headers {
            if request.has_header(name) {
                assert!(
                    mutations.remove_headers.contains(name),
                    "a forged {name} reaches the upstream"
                );
            }
        }
        for (name, value) in &mutations.set_headers {
            assert!(
                config.output_headers.contains(name),
                "sets {name}, never removed"
            );
            assert!(
                value
                    .bytes()
                    .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f)),
                "sets {name} to a value with control characters"
            );
        }
        match decision.verdict {
            Ok(()) => {
                if let Some(index) = decision.provider {
                    assert!(
                        index < config.providers.len(),
                        "provider {index} out of range"
                    );
                }
            }
            Err(rejection) => {
                assert!(
                    rejection != Rejection::KeysUnavailable || remote,
                    "503 without remote keys"
                );
                assert!(mutations.set_headers.is_empty(), "a refusal sets headers");
            }
        }
        let cache = RefCell::new(TokenCache::new(config.token_cache_size));
        for _ in 0..2 {
            let cached = decide(config, &request, &fx.verifier(&keys, Some(&cache)));
            assert_same(&cached, &decision);
        }
    }
}

/// The algorithms tried on each usable key (one of each verifier family), besides
/// the key's own `alg`.
const TRIED: [jsonwebtoken::Algorithm; 7] = [
    jsonwebtoken::Algorithm::HS256,
    jsonwebtoken::Algorithm::HS512,
    jsonwebtoken::Algorithm::RS256,
    jsonwebtoken::Algorithm::PS384,
    jsonwebtoken::Algorithm::ES256,
    jsonwebtoken::Algorithm::ES384,
    jsonwebtoken::Algorithm::EdDSA,
];

/// Keys whose signatures are tried per input (the rest are only parsed).
const VERIFIED_KEYS: usize = 4;

/// `jwks`: the input as a JWKS body, fetched (`accept_body`) and parsed for each
/// origin. Never a panic; the usable keys keep the documented rules; every usable
/// key meets the signature code without panicking.
pub fn jwks(data: &[u8]) {
    let remote = parse_jwks_bytes(data, Origin::Remote);
    let local = parse_jwks_bytes(data, Origin::Local { allow_hmac: false });
    let hmac = parse_jwks_bytes(data, Origin::Local { allow_hmac: true });
    let json: Option<Value> = serde_json::from_slice(data).ok();
    let entries = json
        .as_ref()
        .and_then(|value| value.get("keys"))
        .and_then(Value::as_array);
    for (parsed, hmac_allowed) in [(&remote, false), (&local, false), (&hmac, true)] {
        match parsed {
            Ok(parsed) => check_jwks(parsed, entries.map(Vec::len), hmac_allowed),
            Err(error) => {
                assert!(!error.to_string().is_empty(), "an empty JWKS error");
                assert!(
                    entries.is_none(),
                    "refused a JSON object with a keys array: {error:?}"
                );
            }
        }
    }
    assert_eq!(
        remote.is_ok(),
        hmac.is_ok(),
        "origin changes whether the set reads"
    );

    match accept_body(data.to_vec()) {
        Ok((text, parsed)) => {
            assert!(data.len() <= MAX_JWKS_BYTES, "took a body over the limit");
            assert_eq!(text.as_bytes(), data, "the kept text is not the body");
            assert!(!parsed.set.is_empty(), "took a body without a usable key");
            assert!(
                parsed.set.keys().iter().all(|k| k.kind != KeyKind::Hmac),
                "took an oct key from a fetch"
            );
        }
        Err(failure) => {
            assert!(!failure.to_string().is_empty(), "an empty fetch failure");
            let fits = data.len() <= MAX_JWKS_BYTES && std::str::from_utf8(data).is_ok();
            let usable = remote.as_ref().is_ok_and(|p| !p.set.is_empty());
            assert!(!(fits && usable), "refused a usable set: {failure}");
            match failure {
                FetchFailure::TooLarge(size) => {
                    assert!(size == data.len() && size > MAX_JWKS_BYTES)
                }
                FetchFailure::NotText => assert!(std::str::from_utf8(data).is_err()),
                FetchFailure::Jwks(error) => assert_eq!(remote.as_ref().err(), Some(&error)),
                FetchFailure::NoUsableKey => {
                    assert!(remote.as_ref().is_ok_and(|p| p.set.is_empty()))
                }
                other => panic!("accept_body failed with {other:?}"),
            }
        }
    }

    // Every usable key (of the first few) against the signature code: a
    // signature of the right length and junk, under each algorithm it allows.
    if let Ok(parsed) = &hmac {
        let message = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0";
        let junk = [0x5a_u8; 1024];
        for key in parsed.set.keys().iter().take(VERIFIED_KEYS) {
            let lengths: &[usize] = match key.kind {
                KeyKind::Rsa => &[256, 384, 512],
                KeyKind::EcP256 => &[64],
                KeyKind::EcP384 => &[96],
                KeyKind::Ed25519 => &[64],
                KeyKind::Hmac => &[32, 64],
            };
            let own = key.alg.filter(|alg| !TRIED.contains(alg));
            for alg in TRIED.into_iter().chain(own).filter(|alg| key.allows(*alg)) {
                for &length in lengths {
                    let signature = junk.get(..length).unwrap_or_default();
                    let _ = RustCrypto.verify(key, alg, message, signature);
                }
                let _ = RustCrypto.verify(key, alg, message, &[]);
            }
        }
    }
}

fn check_jwks(parsed: &ParsedJwks, entries: Option<usize>, hmac_allowed: bool) {
    let keys = parsed.set.keys();
    assert!(keys.len() <= MAX_KEYS, "{} keys kept", keys.len());
    if let Some(entries) = entries {
        assert_eq!(
            keys.len() + parsed.skipped.len(),
            entries,
            "keys lost or invented"
        );
    }
    for key in keys {
        assert!(
            hmac_allowed || key.kind != KeyKind::Hmac,
            "an oct key where none is allowed"
        );
        assert!(
            key.alg.is_none_or(|alg| key.kind.allows(alg)),
            "{key:?}: its alg does not fit its kind"
        );
        let has_spki = matches!(key.kind, KeyKind::Rsa | KeyKind::EcP256 | KeyKind::EcP384);
        assert_eq!(key.spki.is_some(), has_spki, "{key:?}: SPKI");
    }
    for skipped in &parsed.skipped {
        assert_eq!(
            skipped.reason == SkipReason::TooManyKeys,
            skipped.index >= MAX_KEYS,
            "{skipped:?}"
        );
        if let Some(entries) = entries {
            assert!(skipped.index < entries, "{skipped:?} past the set");
        }
    }
}
