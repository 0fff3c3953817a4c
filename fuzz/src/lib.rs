//! The checks behind audgate's fuzz targets, as plain functions of the input bytes:
//! `fuzz_targets/*.rs` hand them libFuzzer's inputs, and the main crate's
//! `tests/native/fuzz_corpus.rs` (which includes this file) replays the committed corpus
//! and every saved crash (`fuzz/regressions/`) through them under `cargo test`.
//!
//! Each function panics when audgate breaks one of its promises on that input; a
//! panic inside audgate itself is a finding too. See fuzz/README.md.

use std::cell::RefCell;
use std::sync::OnceLock;

use audgate::caller::NoPeer;
use audgate::claim_requirement::Want;
use audgate::config::{Config, KeySource, MAX_PROVIDERS, MAX_PROVIDER_AUDIENCES};
use audgate::decision::{
    decide, decide_with_peer, same_header_name, Decision, KeyStore, LocalKeys, Verifier,
};
use audgate::extract::Request;
use audgate::fast_path::cached_pass;
use audgate::header_map::{serialize, HeaderMap};
use audgate::jwks::KeySet;
use audgate::jwks::{parse_jwks_bytes, KeyKind, Origin, ParsedJwks, SkipReason, MAX_KEYS};
use audgate::jwks_cache::{accept_body, FetchFailure, MAX_JWKS_BYTES};
use audgate::policy::{Demand, PathMatch, Requirement};
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
            let values = match &required.want {
                Want::AllOf(values) | Want::OneOf(values) => values,
            };
            assert!(
                !required.claim.is_empty() && !values.is_empty() && values.len() <= 32,
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
        Requirement::Any((0..count).map(Demand::of).collect()),
        "fallback"
    );
    for rule in &config.rules {
        match &rule.path {
            PathMatch::Prefix(p) | PathMatch::Exact(p) => {
                assert!(p.starts_with('/'), "rule path {p:?}")
            }
            PathMatch::Template(_) => {}
        }
        for method in &rule.methods {
            assert!(
                !method.is_empty() && !method.bytes().any(|b| b.is_ascii_lowercase()),
                "rule method {method:?}"
            );
        }
        if let Requirement::Any(list) | Requirement::All(list) = &rule.requires {
            assert!(!list.is_empty(), "an empty provider group");
        }
        assert!(
            rule.requires.demands().iter().all(|d| d.provider < count),
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

// ─── decision ───────────────────────────────────────────────────────────────
//
// The whole request decision under one fixed config, for requests built from the
// input bytes (`RequestSpec::read`), against oracles written here from
// docs/configuration.md ("Rule", "Provider") and not from src/request_path.rs or
// src/policy.rs: the most permissive upstream reading of a path
// (`upstream_reading`), first-match rule matching (`DecisionFixture::rule_for`),
// header-name spelling (`same_spelling`). See fuzz/README.md, `decision`.

/// The decision target's plugin configuration: the token target's keys and issuer
/// (fuzz/fixtures/token_config.json) behind two providers, so that the valid seed
/// tokens verify (all of them for `corp`, those for `https://orders.example/` for
/// `partner`), and one rule of each kind the policy knows.
pub fn decision_config() -> Value {
    let token: Value =
        serde_json::from_str(TOKEN_CONFIG).expect("fuzz/fixtures/token_config.json is JSON");
    let base = &token["providers"][0];
    serde_json::json!({
        "providers": [
            {
                "name": "corp",
                "issuer": base["issuer"],
                "audiences": base["audiences"],
                "local_jwks": base["local_jwks"],
                "from_headers": [
                    {"name": "authorization", "value_prefix": "Bearer "},
                    {"name": "x-token"}
                ],
                "from_params": ["access_token"],
                "from_cookies": ["session"],
                "forward_payload_header": "x-jwt-payload",
                "claim_to_headers": [
                    {"claim": "sub", "header": "x_user"},
                    {"claim": "iat", "header": "x-issued-at"}
                ]
            },
            {
                "name": "partner",
                "issuer": base["issuer"],
                "audiences": ["https://orders.example/"],
                "local_jwks": base["local_jwks"],
                "from_headers": [{"name": "x-partner-token"}],
                "from_cookies": ["partner"],
                "forward_payload_header": "x-partner-payload"
            }
        ],
        "rules": [
            {"match": {"path": "/healthz"}, "requires": "none"},
            {"match": {"prefix": "/public"}, "requires": "none"},
            {"match": {"prefix": "/docs"}, "requires": "corp", "allow_missing": true},
            {"match": {"path": "/orders/export"}, "requires": {"all": ["corp", "partner"]}},
            {"match": {"prefix": "/orders", "methods": ["POST", "DELETE"]}, "requires": "partner"},
            {"match": {"prefix": "/orders"}, "requires": "corp"},
            {"match": {"prefix": "/beta"}, "requires": {"any": ["corp", "partner"]}, "allow_missing": true},
            {"match": {"prefix": "/admin", "methods": ["GET"]}, "requires": {"any": ["corp", "partner"]}}
        ]
    })
}

/// How a rule of the oracle matches a resolved path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OraclePath {
    Prefix(String),
    Exact(String),
}

/// One rule as the oracle reads it from the config JSON.
#[derive(Debug, Clone)]
struct OracleRule {
    path: OraclePath,
    /// Empty: any method.
    methods: Vec<String>,
    /// Empty: `requires: "none"`.
    providers: Vec<usize>,
    all: bool,
    allow_missing: bool,
}

/// What a request must carry: a rule's requirement, or the fallback's.
#[derive(Debug, Clone)]
struct Need {
    /// Empty: nothing (`none`).
    providers: Vec<usize>,
    all: bool,
    allow_missing: bool,
}

impl Need {
    /// Whether a request without any token fails it.
    fn needs_token(&self) -> bool {
        !self.providers.is_empty() && !self.allow_missing
    }
}

/// One provider as the oracle reads it from the config JSON.
#[derive(Debug, Clone)]
struct OracleProvider {
    issuer: String,
    audiences: Vec<String>,
    /// (header name, value prefix).
    headers: Vec<(String, String)>,
    params: Vec<String>,
    cookies: Vec<String>,
    payload_header: Option<String>,
    outputs: Vec<String>,
}

/// The fixed world of the `decision` target.
pub struct DecisionFixture {
    config: Config,
    rules: Vec<OracleRule>,
    providers: Vec<OracleProvider>,
    /// Every output header as configured, and `x-audgate-would-reject`.
    outputs: Vec<String>,
    /// The valid seed tokens.
    valid: Vec<String>,
    /// Tokens no fixture key signed, made from the valid ones.
    forged: Vec<String>,
    /// `vouches[token][provider]`: the valid token verifies for the provider.
    vouches: Vec<Vec<bool>>,
    now: i64,
}

/// Decodes base64url without padding (the oracle's own, for reading payloads).
fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The providers and rules of `config` as docs/configuration.md describes them.
fn read_oracle(config: &Value) -> (Vec<OracleProvider>, Vec<OracleRule>) {
    let mut names = Vec::new();
    let mut providers = Vec::new();
    for provider in config["providers"].as_array().expect("providers") {
        names.push(provider["name"].as_str().expect("name").to_owned());
        let headers = match provider.get("from_headers") {
            None => vec![("authorization".to_owned(), "Bearer ".to_owned())],
            Some(list) => list
                .as_array()
                .expect("from_headers")
                .iter()
                .map(|source| {
                    (
                        source["name"].as_str().expect("name").to_ascii_lowercase(),
                        source["value_prefix"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect(),
        };
        let payload_header = provider["forward_payload_header"]
            .as_str()
            .map(str::to_owned);
        let mut outputs: Vec<String> = payload_header.iter().cloned().collect();
        for entry in provider["claim_to_headers"]
            .as_array()
            .into_iter()
            .flatten()
        {
            outputs.push(entry["header"].as_str().expect("header").to_owned());
        }
        providers.push(OracleProvider {
            issuer: provider["issuer"].as_str().expect("issuer").to_owned(),
            audiences: strings(&provider["audiences"]),
            headers,
            params: strings(&provider["from_params"]),
            cookies: strings(&provider["from_cookies"]),
            payload_header,
            outputs,
        });
    }
    let index = |name: &str| {
        names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("rule names unknown provider {name}"))
    };
    let mut rules = Vec::new();
    for rule in config["rules"].as_array().into_iter().flatten() {
        let at = &rule["match"];
        let path = match (at["prefix"].as_str(), at["path"].as_str()) {
            (Some(prefix), None) => OraclePath::Prefix(prefix.to_owned()),
            (None, Some(exact)) => OraclePath::Exact(exact.to_owned()),
            _ => panic!("a rule matches by prefix or by path: {rule}"),
        };
        let (providers, all) = match &rule["requires"] {
            Value::String(none) if none == "none" => (Vec::new(), false),
            Value::String(name) => (vec![index(name)], false),
            Value::Object(group) => match (group.get("any"), group.get("all")) {
                (Some(any), None) => (strings(any).iter().map(|n| index(n)).collect(), false),
                (None, Some(all)) => (strings(all).iter().map(|n| index(n)).collect(), true),
                _ => panic!("requires: any or all: {rule}"),
            },
            other => panic!("requires: {other}"),
        };
        rules.push(OracleRule {
            path,
            methods: strings(&at["methods"]),
            providers,
            all,
            allow_missing: rule["allow_missing"].as_bool().unwrap_or(false),
        });
    }
    (providers, rules)
}

/// The decision fixture, built once; it panics if the config or the valid tokens
/// do not behave as the oracles assume (then the harness, not the input, is broken).
pub fn decision_fixture() -> &'static DecisionFixture {
    static FIXTURE: OnceLock<DecisionFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let json = decision_config();
        let config = Config::from_json(json.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("the decision config does not validate: {e}"));
        let (providers, rules) = read_oracle(&json);
        let mut outputs = vec!["x-audgate-would-reject".to_owned()];
        outputs.extend(providers.iter().flat_map(|p| p.outputs.iter().cloned()));
        let token = fixture();
        let valid = token.valid_tokens.clone();
        assert!(valid.len() >= 2 && valid.len() <= 128, "valid seed tokens");
        let vouches: Vec<Vec<bool>> = valid
            .iter()
            .map(|t| {
                let claims: Value = t
                    .split('.')
                    .nth(1)
                    .and_then(b64url_decode)
                    .and_then(|json| serde_json::from_slice(&json).ok())
                    .expect("a valid token's payload is JSON");
                let aud = match &claims["aud"] {
                    Value::String(one) => vec![one.clone()],
                    other => strings(other),
                };
                providers
                    .iter()
                    .map(|p| {
                        claims["iss"].as_str() == Some(p.issuer.as_str())
                            && aud.iter().any(|a| p.audiences.contains(a))
                    })
                    .collect()
            })
            .collect();
        let parts = |t: &str| -> Vec<String> { t.split('.').map(str::to_owned).collect() };
        let (v0, v1) = (parts(&valid[0]), parts(&valid[1]));
        let partner_payload = valid
            .iter()
            .zip(&vouches)
            .find(|(_, v)| v[1])
            .map(|(t, _)| parts(t)[1].clone())
            .expect("a valid token for partner");
        let mut flipped = valid[0].clone();
        flipped.replace_range(..1, "f");
        let forged = vec![
            String::new(),
            "a.b.c".to_owned(),
            // header.payload of one valid token, the signature of another
            format!("{}.{}.{}", v0[0], v0[1], v1[2]),
            // one character short
            valid[0][..valid[0].len() - 1].to_owned(),
            // alg none
            format!("eyJhbGciOiJub25lIn0.{}.", v0[1]),
            // another valid token's payload under this one's signature
            format!("{}.{}.{}", v0[0], partner_payload, v0[2]),
            flipped,
        ];
        let fx = DecisionFixture {
            config,
            rules,
            providers,
            outputs,
            valid,
            forged,
            vouches,
            now: token.now,
        };
        fx.self_check();
        fx
    })
}

const METHODS: [&str; 12] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "post", "Delete", "get", "CONNECT",
    "TRACE",
];

/// What a path is made of (after a leading `/`): rule words plain and escaped,
/// separators in every spelling, dot segments in every spelling, segment
/// parameters, escapes of unreserved characters and of others, the pieces of
/// `%%32e` (an escape that decoding forms), and rule words in other cases.
const PATH_PIECES: [&str; 78] = [
    "/",
    "/",
    "/",
    "/",
    "//",
    "healthz",
    "public",
    "docs",
    "orders",
    "export",
    "admin",
    "beta",
    "1",
    "x",
    "..",
    ".",
    "%2e",
    "%2E",
    "%2e%2e",
    ".%2e",
    "%2E.",
    ";",
    ";x",
    ";jsessionid=1",
    "%3B",
    "%3bx",
    "%2F",
    "%2f",
    "%5C",
    "%5c",
    "\\",
    "%61",
    "%64",
    "%6F",
    "%70",
    "%68",
    "%65",
    "%6f%72ders",
    "p%75blic",
    "%68ealthz",
    "%64ocs",
    "%7E",
    "%2D",
    "%5F",
    "%30",
    "%41",
    "%",
    "%25",
    "%32",
    "%33",
    "%35",
    "e",
    "E",
    "f",
    "F",
    "b",
    "c",
    "%20",
    "%zz",
    "%0",
    "~",
    "-",
    "_",
    "\u{e9}",
    "%C3%A9",
    "#",
    "%00",
    "%3F",
    "..;",
    "%2e%2e%3B",
    "/..",
    "/.",
    "ADMIN",
    "Orders",
    "EXPORT",
    "Healthz",
    "PUBLIC",
    "Docs",
];

/// Request header names: token sources, output headers in several spellings, and
/// names that only look like them. One past the end: a name from the input.
const HEADER_NAMES: [&str; 32] = [
    "authorization",
    "Authorization",
    "x-token",
    "X-Token",
    "x_token",
    "x-partner-token",
    "cookie",
    "Cookie",
    "x-jwt-payload",
    "X-Jwt-Payload",
    "x_jwt_payload",
    "X_JWT_PAYLOAD",
    "x_user",
    "x-user",
    "X-User",
    "X_USER",
    "x-issued-at",
    "x_issued_at",
    "X-Issued_At",
    "x-partner-payload",
    "x_partner_payload",
    "x-audgate-would-reject",
    "X_Audgate_Would_Reject",
    "x-audgate_would-reject",
    "x-tenant",
    "x_tenant",
    "x-users",
    "xuser",
    "x-jwt-payload-",
    "origin",
    "access-control-request-method",
    "content-type",
];

/// Header values that are no token.
const LITERALS: [&str; 8] = [
    "forged",
    "",
    "1",
    "alice",
    "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
    "GET",
    "https://x",
    "x-user",
];

/// What comes before a token in a header value.
const SCHEMES: [&str; 7] = [
    "Bearer ",
    "bearer\t",
    "BEARER ",
    "Bearer  ",
    "Bearer",
    "Basic ",
    "Bearer\u{a0}",
];

/// The schemes `value_prefix: "Bearer "` is met by (docs: ASCII case ignored, any
/// white space after the scheme).
const BEARER_SCHEMES: [usize; 5] = [0, 1, 2, 3, 6];

const QUERY_NAMES: [&str; 10] = [
    "access_token",
    "access%5Ftoken",
    "%61ccess_token",
    "access%5ftoken",
    "ACCESS_TOKEN",
    "access_token%00",
    "a",
    "x",
    "session",
    "access_token ",
];

const COOKIE_NAMES: [&str; 10] = [
    "session",
    "s%65ssion",
    "%73ession",
    "SESSION",
    "session ",
    "partner",
    "p%61rtner",
    "a",
    "x_user",
    "sess%69on",
];

/// A token in a request: a valid seed token or a forged one, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    /// `fixtures/valid_tokens.txt`, in order.
    Valid(u8),
    /// `DecisionFixture::forged`, in order.
    Forged(u8),
}

/// The value of a query parameter or a cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// `=<token>`.
    Token(Tok),
    /// `=<token>` with its dots as `%2E`.
    Dotted(Tok),
    /// `="<token>"`.
    Quoted(Tok),
    /// `=1`.
    One,
    /// The name alone.
    Bare,
    /// `=`.
    Empty,
    /// `=<bytes of the input>`.
    Free(Vec<u8>),
}

/// One cookie of a `cookie` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookiePair {
    /// Index into `COOKIE_NAMES`.
    pub name: usize,
    /// Its value.
    pub value: Slot,
    /// Joined to the one before by `;` rather than `; `.
    pub tight: bool,
}

/// One query parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPair {
    /// Index into `QUERY_NAMES`.
    pub name: usize,
    /// Its value.
    pub value: Slot,
    /// Joined to the one before by `;` rather than `&`.
    pub semicolon: bool,
}

/// A header's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderName {
    /// Index into `HEADER_NAMES`.
    Listed(usize),
    /// Bytes of the input.
    Free(Vec<u8>),
}

/// A header's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    /// Index into `LITERALS`.
    Literal(usize),
    /// `SCHEMES[scheme]` then the token.
    Scheme(usize, Tok),
    /// The token alone.
    Raw(Tok),
    /// A cookie header's pairs.
    Cookies(Vec<CookiePair>),
    /// Bytes of the input.
    Free(Vec<u8>),
}

/// A request as the input describes it; `RequestSpec::read` reads any bytes as
/// one, `RequestSpec::write` gives the bytes of one (for the seed corpus).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    /// Header names sent as they are, not lowercased as the host glue does.
    pub keep_case: bool,
    /// Index into `METHODS`.
    pub method: usize,
    /// Indices into `PATH_PIECES`, after a leading `/`.
    pub path: Vec<usize>,
    /// The query; none when empty.
    pub query: Vec<QueryPair>,
    /// The headers, in order.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// The input bytes, read one at a time; past the end, zeros.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        let byte = self.data.get(self.at).copied().unwrap_or(0);
        self.at = self.at.saturating_add(1);
        byte
    }

    fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n
    }

    fn text(&mut self) -> Vec<u8> {
        let len = self.below(24);
        (0..len).map(|_| self.byte()).collect()
    }

    fn token(&mut self, valid: usize, forged: usize) -> Tok {
        let byte = self.byte();
        let index = usize::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            Tok::Valid((index % valid) as u8)
        } else {
            Tok::Forged((index % forged) as u8)
        }
    }

    /// A slot's kind byte's high bit is the separator flag of its pair.
    fn slot(&mut self, valid: usize, forged: usize) -> (Slot, bool) {
        let kind = self.byte();
        let slot = match (kind & 0x7f) % 7 {
            0 => Slot::Token(self.token(valid, forged)),
            1 => Slot::Dotted(self.token(valid, forged)),
            2 => Slot::Quoted(self.token(valid, forged)),
            3 => Slot::One,
            4 => Slot::Bare,
            5 => Slot::Empty,
            _ => Slot::Free(self.text()),
        };
        (slot, kind & 0x80 != 0)
    }
}

fn write_token(out: &mut Vec<u8>, tok: Tok) {
    out.push(match tok {
        Tok::Valid(index) => index & 0x7f,
        Tok::Forged(index) => 0x80 | (index & 0x7f),
    });
}

fn write_text(out: &mut Vec<u8>, bytes: &[u8]) {
    assert!(bytes.len() < 24, "free text is at most 23 bytes");
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

fn write_slot(out: &mut Vec<u8>, slot: &Slot, flag: bool) {
    let high = if flag { 0x80 } else { 0 };
    match slot {
        Slot::Token(t) | Slot::Dotted(t) | Slot::Quoted(t) => {
            let kind = match slot {
                Slot::Token(_) => 0,
                Slot::Dotted(_) => 1,
                _ => 2,
            };
            out.push(high | kind);
            write_token(out, *t);
        }
        Slot::One => out.push(high | 3),
        Slot::Bare => out.push(high | 4),
        Slot::Empty => out.push(high | 5),
        Slot::Free(bytes) => {
            out.push(high | 6);
            write_text(out, bytes);
        }
    }
}

/// The index of `item` in `table` (seeds name pieces by their text).
pub fn index_of(table: &[&str], item: &str) -> usize {
    table
        .iter()
        .position(|entry| *entry == item)
        .unwrap_or_else(|| panic!("{item:?} is not in the table"))
}

impl RequestSpec {
    /// Any bytes as a request (`valid`/`forged`: how many tokens of each kind).
    fn read(data: &[u8], valid: usize, forged: usize) -> RequestSpec {
        let mut r = Reader { data, at: 0 };
        let keep_case = r.byte() & 1 != 0;
        let method = r.below(METHODS.len());
        let pieces = r.below(32);
        let path = (0..pieces).map(|_| r.below(PATH_PIECES.len())).collect();
        let pairs = r.below(8);
        let query = (0..pairs)
            .map(|_| {
                let name = r.below(QUERY_NAMES.len());
                let (value, semicolon) = r.slot(valid, forged);
                QueryPair {
                    name,
                    value,
                    semicolon,
                }
            })
            .collect();
        let count = r.below(12);
        let mut headers = Vec::with_capacity(count);
        for _ in 0..count {
            let name = match r.below(HEADER_NAMES.len() + 1) {
                listed if listed < HEADER_NAMES.len() => HeaderName::Listed(listed),
                _ => HeaderName::Free(r.text()),
            };
            let value = match r.below(5) {
                0 => HeaderValue::Literal(r.below(LITERALS.len())),
                1 => {
                    let scheme = r.below(SCHEMES.len());
                    HeaderValue::Scheme(scheme, r.token(valid, forged))
                }
                2 => HeaderValue::Raw(r.token(valid, forged)),
                3 => {
                    let count = 1 + r.below(4);
                    HeaderValue::Cookies(
                        (0..count)
                            .map(|_| {
                                let name = r.below(COOKIE_NAMES.len());
                                let (value, tight) = r.slot(valid, forged);
                                CookiePair { name, value, tight }
                            })
                            .collect(),
                    )
                }
                _ => HeaderValue::Free(r.text()),
            };
            headers.push((name, value));
        }
        RequestSpec {
            keep_case,
            method,
            path,
            query,
            headers,
        }
    }

    /// The bytes `read` reads back as this request.
    pub fn write(&self) -> Vec<u8> {
        let mut out = vec![u8::from(self.keep_case), self.method as u8];
        out.push(self.path.len() as u8);
        out.extend(self.path.iter().map(|&piece| piece as u8));
        out.push(self.query.len() as u8);
        for pair in &self.query {
            out.push(pair.name as u8);
            write_slot(&mut out, &pair.value, pair.semicolon);
        }
        out.push(self.headers.len() as u8);
        for (name, value) in &self.headers {
            match name {
                HeaderName::Listed(index) => out.push(*index as u8),
                HeaderName::Free(bytes) => {
                    out.push(HEADER_NAMES.len() as u8);
                    write_text(&mut out, bytes);
                }
            }
            match value {
                HeaderValue::Literal(index) => out.extend([0, *index as u8]),
                HeaderValue::Scheme(scheme, tok) => {
                    out.extend([1, *scheme as u8]);
                    write_token(&mut out, *tok);
                }
                HeaderValue::Raw(tok) => {
                    out.push(2);
                    write_token(&mut out, *tok);
                }
                HeaderValue::Cookies(pairs) => {
                    assert!((1..=4).contains(&pairs.len()), "1 to 4 cookies");
                    out.extend([3, (pairs.len() - 1) as u8]);
                    for pair in pairs {
                        out.push(pair.name as u8);
                        write_slot(&mut out, &pair.value, pair.tight);
                    }
                }
                HeaderValue::Free(bytes) => {
                    out.push(4);
                    write_text(&mut out, bytes);
                }
            }
        }
        out
    }
}

/// A request built from a spec, with what the oracles need to know about it.
struct Case {
    method: &'static str,
    /// `:path`, with the query.
    path: String,
    headers: Vec<(String, String)>,
    /// `headers` as bytes, free names and values as the input gave them (not
    /// read as lossy UTF-8), for the fast path's check.
    raw_headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// `present[i]`: valid token `i` appears somewhere in the request (its path,
    /// percent-decoded or not, or a header value), wherever it sits.
    present: Vec<bool>,
    /// `forged_in[p]`: a forged token sits plainly in one of provider `p`'s
    /// sources (the source's exact header name with its prefix, its parameter,
    /// its cookie in the `cookie` header).
    forged_in: Vec<bool>,
}

/// Whether the byte is a hex digit.
fn is_hex(byte: u8) -> bool {
    byte.is_ascii_hexdigit()
}

fn hex_value(byte: u8) -> u8 {
    match byte {
        b'0'..=b'9' => byte - b'0',
        b'a'..=b'f' => byte - b'a' + 10,
        _ => byte - b'A' + 10,
    }
}

/// The escape `%XX` at `bytes[at..]`, decoded (strict: two hex digits).
fn escape_at(bytes: &[u8], at: usize) -> Option<u8> {
    match bytes.get(at..at + 3) {
        Some([b'%', high, low]) if is_hex(*high) && is_hex(*low) => {
            Some(hex_value(*high) << 4 | hex_value(*low))
        }
        _ => None,
    }
}

/// The one decoding the most permissive upstream applies: escapes of unreserved
/// characters (letters, digits, `-._~`) decoded, `%2F`, `%5C` and `\` read as
/// `/`, other escapes kept as they are. The result is a path again, so a `%` that
/// starts no escape (a literal percent sign) is written `%25`: read once more, the
/// reading must not hold an escape the request did not (`%%32e` reads `%252e`, the
/// text `%2e`, not `..`).
fn decode_once(path: &str) -> Vec<u8> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match escape_at(bytes, at) {
            Some(c) if c.is_ascii_alphanumeric() || b"-._~/\\".contains(&c) => {
                out.push(if c == b'\\' { b'/' } else { c });
                at += 3;
            }
            Some(_) => {
                out.extend_from_slice(&bytes[at..at + 3]);
                at += 3;
            }
            None => {
                match bytes[at] {
                    b'\\' => out.push(b'/'),
                    b'%' => out.extend_from_slice(b"%25"),
                    other => out.push(other),
                }
                at += 1;
            }
        }
    }
    out
}

/// Whether a server may read `path` (no query) differently from the one reading
/// of `upstream_reading`: it holds `;`, `\`, `%2F`, `%5C` or `%3B` (docs: such a
/// path is *ambiguous*).
fn is_ambiguous(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.contains([';', '\\']) || ["%2f", "%5c", "%3b"].iter().any(|e| lower.contains(e))
}

/// The path (no query) as the most permissive upstream resolves it, from
/// docs/configuration.md "Rule": escapes of unreserved characters decoded, `\`,
/// `%2F` and `%5C` read as `/`, `;parameters` (also after `%3B`) stripped from
/// each segment, dot segments resolved (RFC 3986 5.2.4), repeated slashes merged.
/// A segment left empty by stripping its parameters is an empty segment (so
/// `/a/;p` is `/a/`, as Tomcat reads it).
fn upstream_reading(path: &str) -> String {
    read_path(path).0
}

/// `upstream_reading`, and when the path ends in a segment that only its
/// parameters made empty (`/a/;p`), also the reading that merges it away (`/a`):
/// the docs do not say which, and the decision may take either.
fn upstream_readings(path: &str) -> Vec<String> {
    let (reading, emptied_last) = read_path(path);
    match reading.strip_suffix('/') {
        Some(merged) if emptied_last && !merged.is_empty() => {
            let merged = merged.to_owned();
            vec![reading, merged]
        }
        _ => vec![reading],
    }
}

/// The reading, and whether its last segment was emptied by its parameters.
fn read_path(path: &str) -> (String, bool) {
    let decoded = String::from_utf8_lossy(&decode_once(path)).into_owned();
    let mut stack: Vec<&str> = Vec::new();
    let segments: Vec<&str> = decoded.split('/').collect();
    let mut trailing = false;
    let mut emptied_last = false;
    for (index, segment) in segments.iter().enumerate() {
        let lower = segment.to_ascii_lowercase();
        let cut = [lower.find(';'), lower.find("%3b")]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(segment.len());
        let stem = &segment[..cut];
        let last = index + 1 == segments.len();
        emptied_last = last && stem.is_empty() && !segment.is_empty();
        match stem {
            "" | "." => trailing = last && index > 0,
            ".." => {
                stack.pop();
                trailing = last;
            }
            _ => {
                stack.push(stem);
                trailing = false;
            }
        }
    }
    let mut out = String::from("/");
    out.push_str(&stack.join("/"));
    if trailing && !stack.is_empty() {
        out.push('/');
    }
    (out, emptied_last)
}

/// `path` without its trailing slashes; the root stays `/`.
fn without_trailing_slash(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    }
}

/// Every other ASCII letter of `text` in upper case, the rest as they are (so
/// the result is never a lower-case spelling the original was not).
fn some_letters_upper(text: &str) -> String {
    let mut upper = true;
    text.chars()
        .map(|c| {
            if !c.is_ascii_alphabetic() {
                return c;
            }
            upper = !upper;
            if upper {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

/// Header names that are one header to some server: ASCII case ignored, `_` read
/// as `-` (docs: output headers are removed in every spelling).
fn same_spelling(a: &str, b: &str) -> bool {
    let fold = |c: u8| {
        if c == b'_' {
            b'-'
        } else {
            c.to_ascii_lowercase()
        }
    };
    a.len() == b.len() && a.bytes().map(fold).eq(b.bytes().map(fold))
}

/// Percent-decodes every escape (for finding a token however it was spelled).
fn decode_all(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match escape_at(bytes, at) {
            Some(c) => {
                out.push(c);
                at += 3;
            }
            None => {
                out.push(bytes[at]);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl DecisionFixture {
    fn token(&self, tok: Tok) -> &str {
        match tok {
            Tok::Valid(i) => &self.valid[usize::from(i) % self.valid.len()],
            Tok::Forged(i) => &self.forged[usize::from(i) % self.forged.len()],
        }
    }

    fn slot(&self, out: &mut String, slot: &Slot) {
        match slot {
            Slot::Token(t) => {
                out.push('=');
                out.push_str(self.token(*t));
            }
            Slot::Dotted(t) => {
                out.push('=');
                out.push_str(&self.token(*t).replace('.', "%2E"));
            }
            Slot::Quoted(t) => {
                out.push_str("=\"");
                out.push_str(self.token(*t));
                out.push('"');
            }
            Slot::One => out.push_str("=1"),
            Slot::Bare => {}
            Slot::Empty => out.push('='),
            Slot::Free(bytes) => {
                out.push('=');
                out.push_str(&String::from_utf8_lossy(bytes));
            }
        }
    }

    /// Whether `slot` holds a forged token as such (`=<token>`, or `%2E` dots
    /// where the value is percent-decoded).
    fn forged_slot(slot: &Slot, decoded: bool) -> bool {
        match slot {
            Slot::Token(Tok::Forged(_)) => true,
            Slot::Dotted(Tok::Forged(_)) => decoded,
            _ => false,
        }
    }

    /// The request `spec` describes, lowercased header names unless `keep_case`
    /// (the host glue lowercases them: src/filter/host.rs).
    fn build(&self, spec: &RequestSpec) -> Case {
        let mut path = String::from("/");
        for &piece in &spec.path {
            path.push_str(PATH_PIECES[piece % PATH_PIECES.len()]);
        }
        let mut forged_in = vec![false; self.providers.len()];
        for (k, pair) in spec.query.iter().enumerate() {
            path.push(match (k, pair.semicolon) {
                (0, _) => '?',
                (_, true) => ';',
                (_, false) => '&',
            });
            let name = QUERY_NAMES[pair.name % QUERY_NAMES.len()];
            path.push_str(name);
            self.slot(&mut path, &pair.value);
            for (p, provider) in self.providers.iter().enumerate() {
                if provider.params.iter().any(|n| n == name) && Self::forged_slot(&pair.value, true)
                {
                    forged_in[p] = true;
                }
            }
        }
        let mut headers = Vec::with_capacity(spec.headers.len());
        let mut raw_headers = Vec::with_capacity(spec.headers.len());
        for (name, value) in &spec.headers {
            let raw_name = match name {
                HeaderName::Listed(i) => HEADER_NAMES[i % HEADER_NAMES.len()].as_bytes().to_vec(),
                HeaderName::Free(bytes) => bytes.clone(),
            };
            let raw_name = if spec.keep_case {
                raw_name
            } else {
                raw_name.to_ascii_lowercase()
            };
            let name = String::from_utf8_lossy(&raw_name).into_owned();
            let mut text = String::new();
            match value {
                HeaderValue::Literal(i) => text.push_str(LITERALS[i % LITERALS.len()]),
                HeaderValue::Scheme(scheme, tok) => {
                    let scheme = scheme % SCHEMES.len();
                    text.push_str(SCHEMES[scheme]);
                    text.push_str(self.token(*tok));
                    for (p, provider) in self.providers.iter().enumerate() {
                        let source = provider.headers.iter().any(|(source, prefix)| {
                            *source == name && prefix.eq_ignore_ascii_case("bearer ")
                        });
                        if source
                            && BEARER_SCHEMES.contains(&scheme)
                            && matches!(tok, Tok::Forged(_))
                        {
                            forged_in[p] = true;
                        }
                    }
                }
                HeaderValue::Raw(tok) => {
                    text.push_str(self.token(*tok));
                    for (p, provider) in self.providers.iter().enumerate() {
                        let source = provider
                            .headers
                            .iter()
                            .any(|(source, prefix)| *source == name && prefix.is_empty());
                        if source && matches!(tok, Tok::Forged(_)) {
                            forged_in[p] = true;
                        }
                    }
                }
                HeaderValue::Cookies(pairs) => {
                    for (k, pair) in pairs.iter().enumerate() {
                        if k > 0 {
                            text.push_str(if pair.tight { ";" } else { "; " });
                        }
                        let cookie = COOKIE_NAMES[pair.name % COOKIE_NAMES.len()];
                        text.push_str(cookie);
                        self.slot(&mut text, &pair.value);
                        for (p, provider) in self.providers.iter().enumerate() {
                            if name == "cookie"
                                && provider.cookies.iter().any(|c| c == cookie)
                                && Self::forged_slot(&pair.value, false)
                            {
                                forged_in[p] = true;
                            }
                        }
                    }
                }
                HeaderValue::Free(bytes) => text.push_str(&String::from_utf8_lossy(bytes)),
            }
            let raw_value = match value {
                HeaderValue::Free(bytes) => bytes.clone(),
                _ => text.clone().into_bytes(),
            };
            raw_headers.push((raw_name, raw_value));
            headers.push((name, text));
        }
        let decoded = decode_all(&path);
        let present = self
            .valid
            .iter()
            .map(|token| {
                path.contains(token.as_str())
                    || decoded.contains(token.as_str())
                    || headers.iter().any(|(_, v)| v.contains(token.as_str()))
            })
            .collect();
        Case {
            method: METHODS[spec.method % METHODS.len()],
            path,
            headers,
            raw_headers,
            present,
            forged_in,
        }
    }

    fn decide(&self, method: &str, path: &str, headers: &[(String, String)]) -> Decision {
        let request = Request {
            method,
            path,
            authority: AUTHORITY,
            headers,
        };
        let keys = LocalKeys(&self.config);
        let verifier = Verifier {
            keys: &keys,
            signatures: &RustCrypto,
            cache: None,
            now: self.now,
        };
        decide(&self.config, &request, &verifier)
    }

    /// The first rule (index) matching `method` and the resolved `path`, `None`
    /// for the fallback. With `skip_lax`, rules that let a request through
    /// without a token (`none`, `allow_missing`) are passed over, as they are
    /// for an ambiguous path. Rules that need a token match ignoring ASCII case
    /// and a trailing slash, and their `GET` covers `HEAD`; the others only the
    /// exact spelling (docs: "Path spellings").
    fn rule_for(&self, method: &str, path: &str, skip_lax: bool) -> Option<usize> {
        let folded = path.to_ascii_lowercase();
        self.rules.iter().position(|rule| {
            let lax = rule.providers.is_empty() || rule.allow_missing;
            let path_ok = match (&rule.path, lax) {
                (OraclePath::Prefix(prefix), true) => path.starts_with(prefix.as_str()),
                (OraclePath::Exact(exact), true) => path == exact,
                (OraclePath::Prefix(prefix), false) => {
                    let prefix = prefix.to_ascii_lowercase();
                    folded.starts_with(&prefix)
                        || (prefix.ends_with('/')
                            && without_trailing_slash(&folded) == without_trailing_slash(&prefix))
                }
                (OraclePath::Exact(exact), false) => {
                    without_trailing_slash(&folded)
                        == without_trailing_slash(&exact.to_ascii_lowercase())
                }
            };
            let named = |wanted: &str| rule.methods.iter().any(|m| m.eq_ignore_ascii_case(wanted));
            let method_ok = rule.methods.is_empty()
                || named(method)
                || (!lax && method.eq_ignore_ascii_case("HEAD") && named("GET"));
            !(skip_lax && lax) && path_ok && method_ok
        })
    }

    /// What rule `rule` (or the fallback: a token from any provider) needs.
    fn need(&self, rule: Option<usize>) -> Need {
        match rule.and_then(|i| self.rules.get(i)) {
            Some(rule) => Need {
                providers: rule.providers.clone(),
                all: rule.all,
                allow_missing: rule.allow_missing,
            },
            None => Need {
                providers: (0..self.providers.len()).collect(),
                all: false,
                allow_missing: false,
            },
        }
    }

    /// Whether a valid token in the request verifies for provider `p`.
    fn vouched_for(&self, case: &Case, p: usize) -> bool {
        (0..self.valid.len()).any(|t| case.present[t] && self.vouches[t][p])
    }

    /// Whether the request's valid tokens could meet `need`.
    fn vouched(&self, case: &Case, need: &Need) -> bool {
        let mut providers = need.providers.iter();
        if need.all {
            providers.all(|&p| self.vouched_for(case, p))
        } else {
            providers.any(|&p| self.vouched_for(case, p))
        }
    }

    /// Whether no source of any of `need`'s providers holds anything.
    fn no_source_present(&self, case: &Case, need: &Need) -> bool {
        need.providers.iter().all(|&p| {
            let provider = &self.providers[p];
            let header = case
                .headers
                .iter()
                .any(|(name, _)| provider.headers.iter().any(|(source, _)| source == name));
            let param = !provider.params.is_empty() && case.path.contains('?');
            let cookie = !provider.cookies.is_empty()
                && case.headers.iter().any(|(name, _)| name == "cookie");
            !(header || param || cookie)
        })
    }

    /// The request and decision, tokens shown as `<valid#i>` / `<forged#i>`.
    fn show(&self, case: &Case, decision: &Decision) -> String {
        let mut text = format!(
            "request: {} {:?}\nheaders: {:?}\ndecision: {:?}",
            case.method, case.path, case.headers, decision
        );
        let mut named: Vec<(String, &str)> = Vec::new();
        for (i, token) in self.valid.iter().enumerate() {
            named.push((format!("<valid#{i}>"), token));
            named.push((
                format!("<valid#{i}>"),
                token.split('.').nth(1).unwrap_or(""),
            ));
        }
        for (i, token) in self.forged.iter().enumerate() {
            named.push((format!("<forged#{i}>"), token));
        }
        named.sort_by_key(|(_, token)| std::cmp::Reverse(token.len()));
        for (name, token) in named {
            if token.len() > 8 {
                text = text.replace(token, &name);
            }
        }
        text
    }
}

impl DecisionFixture {
    /// Panics with the request, the decision and what broke.
    fn fail(&self, case: &Case, decision: &Decision, what: &str) -> ! {
        panic!(
            "decision invariant broken: {what}\n{}",
            self.show(case, decision)
        )
    }

    /// Before any input: the config and tokens behave as the oracles assume.
    fn self_check(&self) {
        let get = |path: &str, headers: &[(&str, &str)]| self.decide("GET", path, &owned(headers));
        let post =
            |path: &str, headers: &[(&str, &str)]| self.decide("POST", path, &owned(headers));
        let broken = |what: String| -> ! {
            panic!(
                "decision fixture broken: {what}; regenerate with `cargo run --example fuzz_seeds`"
            )
        };
        assert!(
            self.vouches.iter().any(|v| v[1]),
            "no valid token for partner"
        );
        assert!(
            self.vouches.iter().any(|v| !v[1]),
            "every valid token is partner's"
        );
        for (t, token) in self.valid.iter().enumerate() {
            assert!(self.vouches[t][0], "a valid token that corp does not take");
            let bearer = format!("Bearer {token}");
            for decision in [
                get("/orders/1", &[("authorization", &bearer)]),
                get("/orders/1", &[("x-token", token)]),
                get(&format!("/orders/1?access_token={token}"), &[]),
                get("/orders/1", &[("cookie", &format!("session={token}"))]),
            ] {
                if decision.verdict.is_err() || decision.provider != Some(0) {
                    broken(format!("valid#{t} does not pass for corp: {decision:?}"));
                }
            }
            let decision = post("/orders/1", &[("x-partner-token", token)]);
            if decision.verdict.is_ok() != self.vouches[t][1] {
                broken(format!("valid#{t} for partner: {decision:?}"));
            }
        }
        for (f, token) in self.forged.iter().enumerate() {
            let bearer = format!("Bearer {token}");
            for decision in [
                get("/orders/1", &[("authorization", &bearer)]),
                post("/orders/1", &[("x-partner-token", token)]),
                get("/docs", &[("authorization", &bearer)]),
            ] {
                if decision.verdict.is_ok() {
                    broken(format!("forged#{f} passes: {decision:?}"));
                }
            }
            if self.valid.iter().any(|v| token.contains(v.as_str())) {
                broken(format!("forged#{f} holds a valid token"));
            }
        }
        for path in ["/healthz", "/public/x", "/docs", "/beta/x"] {
            if get(path, &[]).verdict.is_err() {
                broken(format!("{path} needs a token"));
            }
        }
        for path in [
            "/",
            "/healthz/",
            "/HEALTHZ",
            "/Public/x",
            "/DOCS",
            "/orders",
            "/admin",
            "/docs;x",
        ] {
            if get(path, &[]).verdict.is_ok() {
                broken(format!("{path} passes without a token"));
            }
        }
        // A token for corp alone cannot reach what needs partner too, however
        // the path is spelled (docs: "Path spellings").
        let corp_only = self
            .vouches
            .iter()
            .position(|v| !v[1])
            .map(|t| format!("Bearer {}", self.valid[t]))
            .unwrap_or_default();
        let delete =
            |path: &str| self.decide("DELETE", path, &owned(&[("authorization", &corp_only)]));
        for decision in [
            get("/orders/export", &[("authorization", &corp_only)]),
            get("/Orders/EXPORT", &[("authorization", &corp_only)]),
            get("/orders/export/", &[("authorization", &corp_only)]),
            get("/orders%2Fexport", &[("authorization", &corp_only)]),
            delete("/Orders/1"),
        ] {
            if decision.verdict.is_ok() {
                broken(format!(
                    "a corp-only token passes where partner is needed: {decision:?}"
                ));
            }
        }
        // The fast path answers the plain cache hits (else check (d) is vacuous).
        let plain = |method: &'static str, path: String, headers: &[(&str, &str)]| Case {
            method,
            path,
            headers: owned(headers),
            raw_headers: headers
                .iter()
                .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
            present: Vec::new(),
            forged_in: Vec::new(),
        };
        for (t, token) in self.valid.iter().enumerate() {
            let bearer = format!("Bearer {token}");
            let mut hits = vec![
                plain("GET", "/orders/1".into(), &[("authorization", &bearer)]),
                plain("GET", "/orders/1".into(), &[("x-token", token)]),
                plain("GET", format!("/orders/1?access_token={token}"), &[]),
                plain(
                    "GET",
                    "/docs/x".into(),
                    &[("cookie", &format!("a=1; session={token}"))],
                ),
            ];
            if self.vouches[t][1] {
                hits.push(plain(
                    "POST",
                    "/orders/1".into(),
                    &[("x-partner-token", token)],
                ));
            }
            for case in hits {
                if !self.check_fast_path(&case, t) {
                    broken(format!(
                        "the fast path does not answer {} {} {:?}",
                        case.method, case.path, case.headers
                    ));
                }
            }
        }
    }

    /// The checks that depend on which rule applied, for the rule `used`: `none`
    /// passes untouched; a forged token where the rule's providers look is
    /// refused when no valid token is anywhere, even under `allow_missing`;
    /// `allow_missing` with nothing in any source passes; a pass names a provider
    /// of the rule and sets only its outputs.
    fn check_rule(
        &self,
        case: &Case,
        decision: &Decision,
        used: Option<usize>,
        any_valid: bool,
    ) -> Result<(), String> {
        let passed = decision.verdict.is_ok();
        let need = self.need(used);
        if need.providers.is_empty()
            && (!passed
                || decision.provider.is_some()
                || !decision.mutations.set_headers.is_empty())
        {
            return Err(format!("rule {used:?} is `none`"));
        }
        if passed && !any_valid && need.providers.iter().any(|&p| case.forged_in[p]) {
            return Err(format!("passed rule {used:?} on a forged token"));
        }
        if need.allow_missing
            && self.no_source_present(case, &need)
            && (!passed || decision.provider.is_some())
        {
            return Err(format!("rule {used:?} allows a missing token"));
        }
        if passed && !need.providers.is_empty() {
            match decision.provider {
                None if !need.allow_missing => return Err("passed without a provider".into()),
                Some(p) if !need.providers.contains(&p) => {
                    return Err(format!("provider {p} is not one of rule {used:?}"))
                }
                _ => {}
            }
        }
        for (name, _) in &decision.mutations.set_headers {
            let owner = need
                .providers
                .iter()
                .any(|&p| self.providers[p].outputs.contains(name));
            if !owner {
                return Err(format!("sets {name}, no output of rule {used:?}"));
            }
        }
        Ok(())
    }

    /// Every invariant, on one request; `pick` chooses the spelling of (e).
    fn check(&self, case: &Case, pick: usize) {
        let decision = self.decide(case.method, &case.path, &case.headers);
        let passed = decision.verdict.is_ok();
        let (raw, query) = match case.path.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (case.path.as_str(), None),
        };
        let readings = upstream_readings(raw);
        let reading = &readings[0];
        let ambiguous = is_ambiguous(raw);
        // Per reading of the path: the rule it falls under (`permissive`) and the
        // one the docs say applies (`used`: an ambiguous path passes over `none`
        // and `allow_missing` rules).
        let rules: Vec<(Option<usize>, Option<usize>)> = readings
            .iter()
            .map(|r| {
                (
                    self.rule_for(case.method, r, false),
                    self.rule_for(case.method, r, ambiguous),
                )
            })
            .collect();
        let any_valid = case.present.iter().any(|&p| p);
        let unvouched = |rule: Option<usize>| {
            let need = self.need(rule);
            need.needs_token() && !self.vouched(case, &need)
        };

        // (a) No token vouches for the rule the path falls under: refused.
        if passed && rules.iter().all(|&(permissive, _)| unvouched(permissive)) {
            self.fail(
                case,
                &decision,
                &format!(
                    "passed with no token that vouches for rule {:?} (upstream reads {reading:?})",
                    rules[0].0
                ),
            );
        }
        // The rule applied is the oracle's (either reading's, when there are two).
        let outcomes: Vec<Result<(), String>> = rules
            .iter()
            .map(|&(_, used)| self.check_rule(case, &decision, used, any_valid))
            .collect();
        if !outcomes.iter().any(Result::is_ok) {
            if let Some(Err(what)) = outcomes.first() {
                self.fail(
                    case,
                    &decision,
                    &format!("{what} (upstream reads {reading:?})"),
                );
            }
        }
        // A refusal sets nothing; a pass sets a payload header only to the payload
        // of a valid token for the provider that owns the header.
        for (name, value) in &decision.mutations.set_headers {
            if !passed {
                self.fail(case, &decision, "a refusal sets headers");
            }
            for (p, provider) in self.providers.iter().enumerate() {
                if provider.payload_header.as_deref() != Some(name.as_str()) {
                    continue;
                }
                let signed = self.valid.iter().enumerate().any(|(t, token)| {
                    self.vouches[t][p] && token.split('.').nth(1) == Some(value.as_str())
                });
                if !signed {
                    self.fail(
                        case,
                        &decision,
                        &format!("{name}: a payload no fixture key signed for provider {p}"),
                    );
                }
            }
        }

        // (b) The verdict on the path is the verdict on the upstream's reading
        // of it; on an ambiguous path at least as strict.
        if ambiguous && passed && !any_valid {
            self.fail(
                case,
                &decision,
                "an ambiguous path passed without a valid token",
            );
        }
        let resolved = |reading: &str| match query {
            Some(query) => format!("{reading}?{query}"),
            None => reading.to_owned(),
        };
        if !ambiguous && resolved(reading) != case.path {
            let other = self.decide(case.method, &resolved(reading), &case.headers);
            if (&other.verdict, other.provider) != (&decision.verdict, decision.provider) {
                self.fail(
                    case,
                    &decision,
                    &format!(
                        "decided otherwise for the path the upstream resolves, {:?}: {other:?}",
                        resolved(reading)
                    ),
                );
            }
        }
        if ambiguous && passed {
            let refused: Vec<Decision> = readings
                .iter()
                .map(|r| self.decide(case.method, &resolved(r), &case.headers))
                .filter(|other| other.verdict.is_err())
                .collect();
            if refused.len() == readings.len() {
                self.fail(
                    case,
                    &decision,
                    &format!(
                        "passed an ambiguous path that is refused as resolved, {:?}: {:?}",
                        resolved(reading),
                        refused[0]
                    ),
                );
            }
        }

        // (c) No header the client sent under an output's name, in any
        // spelling, reaches the upstream; nothing else is removed but token
        // sources.
        let removed = &decision.mutations.remove_headers;
        for (name, _) in &case.headers {
            let output = self.outputs.iter().any(|o| same_spelling(o, name));
            if output && !removed.iter().any(|r| r.eq_ignore_ascii_case(name)) {
                self.fail(case, &decision, &format!("the client's {name} survives"));
            }
        }
        for name in removed {
            let output = self.outputs.iter().any(|o| same_spelling(o, name));
            let source = self
                .providers
                .iter()
                .any(|p| p.headers.iter().any(|(source, _)| source == name));
            if !output && !source {
                self.fail(case, &decision, &format!("removes {name}"));
            }
        }
        // On a pass, the path sent upstream, as the upstream reads it, falls under
        // a rule that a token in the request vouches for, and it is the rule that
        // was applied. For an ambiguous path (decided under a rule that needs a
        // token) also accepted: the rule the path's own reading falls under, or a
        // `none` or `allow_missing` one (the stricter rule was applied; audgate
        // sends its reading upstream: `/healthz/;x` goes up as `/healthz`).
        if passed {
            let sent = decision.mutations.path.as_deref().unwrap_or(&case.path);
            let sent = sent.split_once('?').map_or(sent, |(path, _)| path);
            let upstream = upstream_reading(sent);
            let rule = self.rule_for(case.method, &upstream, false);
            if unvouched(rule) {
                self.fail(
                    case,
                    &decision,
                    &format!(
                        "sent upstream {sent:?}, read {upstream:?}: rule {rule:?}, which no token vouches for"
                    ),
                );
            }
            let lax = !self.need(rule).needs_token();
            let consistent = rules.iter().any(|&(permissive, used)| {
                rule == used || (ambiguous && (rule == permissive || lax))
            });
            if !consistent {
                self.fail(
                    case,
                    &decision,
                    &format!(
                        "sent upstream {sent:?}, read {upstream:?}, rule {rule:?}; decided under rule {:?}",
                        rules[0].1
                    ),
                );
            }
        }

        // (e) A spelling that a lenient upstream serves as the same resource
        // never gets a weaker verdict.
        let protected = rules.iter().all(|&(_, used)| used == rules[0].1)
            && self.need(rules[0].1).needs_token();
        self.check_spelling(case, &decision, protected, pick);
    }

    /// (e) Another ASCII case, a trailing slash, doubled slashes or `HEAD` for
    /// `GET` (one of them per input, by `pick`): when the request is refused, so
    /// is the respelled one; when a rule that needs a token decided it
    /// (`protected`), the respelled one is decided the same way (verdict and
    /// provider).
    fn check_spelling(&self, case: &Case, decision: &Decision, protected: bool, pick: usize) {
        let (raw, query) = case
            .path
            .split_once('?')
            .map_or((case.path.as_str(), None), |(path, query)| {
                (path, Some(query))
            });
        let (method, spelled, how) = match pick % 5 {
            0 => (case.method, raw.to_ascii_uppercase(), "upper case"),
            1 => (
                case.method,
                some_letters_upper(raw),
                "some letters upper case",
            ),
            2 => (case.method, format!("{raw}/"), "a trailing slash"),
            3 => (case.method, raw.replace('/', "//"), "doubled slashes"),
            _ if case.method.eq_ignore_ascii_case("GET") => ("HEAD", raw.to_owned(), "HEAD"),
            _ => (
                case.method,
                format!("{}/", raw.to_ascii_uppercase()),
                "upper case and a trailing slash",
            ),
        };
        let path = match query {
            Some(query) => format!("{spelled}?{query}"),
            None => spelled,
        };
        if method == case.method && path == case.path {
            return;
        }
        let other = self.decide(method, &path, &case.headers);
        let weaker = decision.verdict.is_err() && other.verdict.is_ok();
        let differs =
            protected && (&other.verdict, other.provider) != (&decision.verdict, decision.provider);
        if weaker || differs {
            self.fail(
                case,
                decision,
                &format!("respelled ({how}) as {method} {path:?}, decided otherwise: {other:?}"),
            );
        }
    }
}

/// The decision fixture's local keys under a key generation, or none at all.
struct WorldKeys<'a> {
    config: &'a Config,
    generation: u64,
    available: bool,
}

impl KeyStore for WorldKeys<'_> {
    fn key_set(&self, provider: usize) -> Option<&KeySet> {
        match &self.config.providers.get(provider)?.keys {
            KeySource::Local(set) if self.available => Some(set),
            _ => None,
        }
    }

    fn generation(&self, _provider: usize) -> u64 {
        self.generation
    }
}

/// When a request is decided again after it warmed the cache: (seconds later,
/// key generation, keys available).
const FAST_PATH_WORLDS: [(i64, u64, bool); 3] = [(100_000, 0, true), (0, 1, true), (0, 0, false)];

impl DecisionFixture {
    fn world_verifier<'a>(
        &self,
        keys: &'a WorldKeys<'a>,
        cache: &'a RefCell<TokenCache>,
        later: i64,
    ) -> Verifier<'a> {
        Verifier {
            keys,
            signatures: &RustCrypto,
            cache: Some(cache),
            now: self.now + later,
        }
    }

    /// (d) The cache-hit fast path: the request as the host serializes it
    /// (pseudo-headers first, header bytes as the input gave them) warms a cache
    /// through the full decision; then, as warmed and in one later world (the
    /// entry expired, a new key generation, or no keys: `world` picks), a
    /// `cached_pass` that answers equals the full decision on a clone of the
    /// cache and leaves the same cache, and one that declines changes neither the
    /// full decision after it nor the cache. Returns whether it answered as warmed.
    fn check_fast_path(&self, case: &Case, world: usize) -> bool {
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (b":method".to_vec(), case.method.as_bytes().to_vec()),
            (b":path".to_vec(), case.path.as_bytes().to_vec()),
            (b":authority".to_vec(), AUTHORITY.as_bytes().to_vec()),
        ];
        pairs.extend(case.raw_headers.iter().cloned());
        let bytes = serialize(&pairs).expect("a small map serializes");
        let headers = HeaderMap::parse(&bytes).expect("a serialized map reads back");
        assert_eq!(
            serialize(headers.pairs()).as_deref(),
            Some(bytes.as_slice()),
            "the header map does not read back as written"
        );
        let owned = headers.to_owned_pairs();
        let request = Request::from_headers(&owned);
        let warm = {
            let keys = WorldKeys {
                config: &self.config,
                generation: 0,
                available: true,
            };
            let cache = RefCell::new(TokenCache::new(self.config.token_cache_size));
            decide_with_peer(
                &self.config,
                &request,
                &self.world_verifier(&keys, &cache, 0),
                &NoPeer,
            );
            cache.into_inner()
        };
        let later = FAST_PATH_WORLDS[world % FAST_PATH_WORLDS.len()];
        let mut answered = false;
        for (n, (seconds, generation, available)) in [(0, 0, true), later].into_iter().enumerate() {
            let keys = WorldKeys {
                config: &self.config,
                generation,
                available,
            };
            let fast_cache = RefCell::new(warm.clone());
            let fast = cached_pass(
                &self.config,
                &headers,
                &self.world_verifier(&keys, &fast_cache, seconds),
            );
            let full_cache = RefCell::new(warm.clone());
            let full = decide_with_peer(
                &self.config,
                &request,
                &self.world_verifier(&keys, &full_cache, seconds),
                &NoPeer,
            );
            let world = format!("{seconds} s later, generation {generation}, keys {available}");
            match fast {
                Some(fast) => {
                    answered |= n == 0;
                    if fast != full {
                        panic!(
                            "fast path broken ({world}): it answered {fast:#?}\nthe full decision is {full:#?}\nrequest: {owned:#?}"
                        );
                    }
                    assert!(
                        fast_cache == full_cache,
                        "fast path broken ({world}): the caches differ after it answered\nrequest: {owned:#?}"
                    );
                }
                None => {
                    let after_cache = RefCell::new(fast_cache.into_inner());
                    let after = decide_with_peer(
                        &self.config,
                        &request,
                        &self.world_verifier(&keys, &after_cache, seconds),
                        &NoPeer,
                    );
                    if after != full || after_cache != full_cache {
                        panic!(
                            "fast path broken ({world}): declining changed the full decision or the cache\n{after:#?}\nversus {full:#?}\nrequest: {owned:#?}"
                        );
                    }
                }
            }
        }
        answered
    }
}

/// The request the decision target reads from `data`.
pub fn decision_request(data: &[u8]) -> RequestSpec {
    let fx = decision_fixture();
    RequestSpec::read(data, fx.valid.len(), fx.forged.len())
}

/// `decision`: the input as a request (method, path of tricky segments, query,
/// headers, cookies, tokens valid and forged), decided under the fixed config
/// (`decision_config`) and checked against the oracles. See fuzz/README.md.
pub fn decision(data: &[u8]) {
    // The input itself as a serialized header map: never a panic, and what
    // reads is exactly the wire form of what it read.
    if let Some(map) = HeaderMap::parse(data) {
        if !data.is_empty() {
            assert_eq!(
                serialize(map.pairs()).as_deref(),
                Some(data),
                "a header map read from bytes it does not serialize to"
            );
        }
    }
    let fx = decision_fixture();
    let spec = decision_request(data);
    let case = fx.build(&spec);
    fx.check(&case, data.len());
    fx.check_fast_path(&case, data.len());
}

fn pieces(path: &[&str]) -> Vec<usize> {
    path.iter()
        .map(|piece| index_of(&PATH_PIECES, piece))
        .collect()
}

fn listed(name: &str) -> HeaderName {
    HeaderName::Listed(index_of(&HEADER_NAMES, name))
}

fn spec(method: &str, path: &[&str]) -> RequestSpec {
    RequestSpec {
        keep_case: false,
        method: index_of(&METHODS, method),
        path: pieces(path),
        query: Vec::new(),
        headers: Vec::new(),
    }
}

impl RequestSpec {
    fn header(mut self, name: &str, value: HeaderValue) -> RequestSpec {
        self.headers.push((listed(name), value));
        self
    }

    fn param(mut self, name: &str, value: Slot, semicolon: bool) -> RequestSpec {
        self.query.push(QueryPair {
            name: index_of(&QUERY_NAMES, name),
            value,
            semicolon,
        });
        self
    }
}

fn bearer(tok: Tok) -> HeaderValue {
    HeaderValue::Scheme(0, tok)
}

fn cookies(pairs: &[(&str, Slot)]) -> HeaderValue {
    HeaderValue::Cookies(
        pairs
            .iter()
            .map(|(name, value)| CookiePair {
                name: index_of(&COOKIE_NAMES, name),
                value: value.clone(),
                tight: false,
            })
            .collect(),
    )
}

/// The decision target's seed requests, by name (`decision_seeds` writes them).
pub fn decision_seed_specs() -> Vec<(String, RequestSpec)> {
    let fx = decision_fixture();
    let corp = Tok::Valid(0);
    let both = Tok::Valid(
        fx.vouches
            .iter()
            .position(|v| v[1])
            .expect("a valid token for partner") as u8,
    );
    let corp_only = Tok::Valid(
        fx.vouches
            .iter()
            .position(|v| !v[1])
            .expect("a valid token for corp alone") as u8,
    );
    let forged = |i: u8| Tok::Forged(i);
    let forged_outputs = |spec: RequestSpec| {
        [
            "x_user",
            "X-User",
            "x-user",
            "X_JWT_PAYLOAD",
            "x-jwt-payload",
            "x_issued_at",
            "x_partner_payload",
            "X_Audgate_Would_Reject",
            "x-tenant",
        ]
        .iter()
        .fold(spec, |spec, name| {
            spec.header(name, HeaderValue::Literal(0))
        })
    };
    let mut keep_case =
        forged_outputs(spec("GET", &["orders", "/", "1"]).header("Authorization", bearer(corp)))
            .header("authorization", bearer(corp));
    keep_case.keep_case = true;
    let seeds = vec![
        ("empty", RequestSpec::read(&[], 1, 1)),
        ("healthz", spec("GET", &["healthz"])),
        (
            "healthz-trailing-dot",
            spec("GET", &["healthz", "/", "%2e"]),
        ),
        ("public", spec("GET", &["public", "/", "x"])),
        (
            "public-dotdot",
            spec("GET", &["public", "/", "..", "/", "admin"]),
        ),
        (
            "healthz-dotdot-semicolon",
            spec("GET", &["healthz", "/", "..;", "/", "admin"]),
        ),
        (
            "healthz-encoded-dotdot-semicolon",
            spec("GET", &["healthz", "/", "%2e%2e%3B", "/", "orders"]),
        ),
        (
            "public-encoded-slash",
            spec("GET", &["public", "%2F", "..", "%2F", "admin"]),
        ),
        (
            "public-backslash",
            spec("GET", &["public", "\\", "..", "\\", "orders"]),
        ),
        ("public-semicolon", spec("GET", &["public", ";x", "/", "x"])),
        (
            "escaped-unreserved",
            spec("GET", &["%6f%72ders", "/", "export"]).header("authorization", bearer(corp)),
        ),
        ("escaped-public", spec("GET", &["p%75blic", "/", "x"])),
        ("merged-slashes", spec("GET", &["//", "healthz"])),
        ("docs-missing", spec("GET", &["docs", "/", "x"])),
        (
            "docs-forged",
            spec("GET", &["docs"]).header("authorization", bearer(forged(2))),
        ),
        ("docs-semicolon", spec("GET", &["docs", ";x"])),
        (
            "beta-partner-cookie",
            spec("GET", &["beta"]).header("cookie", cookies(&[("partner", Slot::Token(both))])),
        ),
        (
            "orders-bearer",
            spec("GET", &["orders", "/", "1"]).header("authorization", bearer(corp)),
        ),
        (
            "orders-bearer-tab",
            spec("GET", &["orders"]).header("authorization", HeaderValue::Scheme(1, corp)),
        ),
        (
            "orders-x-token",
            spec("PUT", &["orders"]).header("x-token", HeaderValue::Raw(corp)),
        ),
        (
            "orders-post-partner",
            spec("POST", &["orders", "/", "1"]).header("x-partner-token", HeaderValue::Raw(both)),
        ),
        (
            "orders-post-corp-only",
            spec("post", &["orders", "/", "1"]).header("authorization", bearer(corp)),
        ),
        (
            "orders-export-all",
            spec("GET", &["orders", "/", "export"])
                .header("authorization", bearer(both))
                .header("x-partner-token", HeaderValue::Raw(both)),
        ),
        (
            "orders-export-params",
            spec("GET", &["orders", ";x", "/", "export", ";jsessionid=1"])
                .header("authorization", bearer(both))
                .header("x-partner-token", HeaderValue::Raw(both)),
        ),
        (
            // `/orders/export/` to Tomcat, `/orders/export` to audgate: either is
            // accepted (fuzz/README.md, decision)
            "param-emptied-last-segment",
            spec("DELETE", &["orders", "\\", "export", "/", ";jsessionid=1"])
                .header("authorization", HeaderValue::Scheme(1, corp))
                .header("x-partner-token", HeaderValue::Raw(both)),
        ),
        (
            "admin-delete",
            spec("DELETE", &["admin"]).header("x-partner-token", HeaderValue::Raw(both)),
        ),
        (
            "query-token",
            spec("GET", &["orders"]).param("a", Slot::One, false).param(
                "access_token",
                Slot::Dotted(corp),
                false,
            ),
        ),
        (
            "query-semicolon",
            spec("GET", &["orders"]).param("a", Slot::One, false).param(
                "access%5Ftoken",
                Slot::Token(corp),
                true,
            ),
        ),
        (
            "query-forged",
            spec("GET", &["docs"]).param("access_token", Slot::Token(forged(4)), false),
        ),
        (
            "cookie-encoded-name",
            spec("GET", &["orders"]).header(
                "cookie",
                cookies(&[("a", Slot::One), ("s%65ssion", Slot::Token(corp))]),
            ),
        ),
        (
            "cookie-quoted",
            spec("GET", &["orders"]).header("cookie", cookies(&[("session", Slot::Quoted(corp))])),
        ),
        (
            "cookie-forged",
            spec("GET", &["beta"])
                .header("cookie", cookies(&[("session", Slot::Token(forged(5)))])),
        ),
        (
            "two-tokens",
            spec("GET", &["orders"])
                .header("authorization", bearer(corp))
                .header("x-token", HeaderValue::Raw(both)),
        ),
        (
            "outputs-forged-pass",
            forged_outputs(spec("GET", &["orders"]).header("authorization", bearer(corp))),
        ),
        (
            "outputs-forged-refused",
            forged_outputs(spec("GET", &["admin"])),
        ),
        (
            "outputs-forged-none",
            forged_outputs(spec("GET", &["public"])),
        ),
        ("keep-case", keep_case),
        // Issue 21: spellings a lenient upstream serves as the protected path.
        (
            "export-other-case-corp-only",
            spec("GET", &["Orders", "/", "EXPORT"]).header("authorization", bearer(corp_only)),
        ),
        (
            "export-trailing-slash-corp-only",
            spec("GET", &["orders", "/", "export", "/"]).header("authorization", bearer(corp_only)),
        ),
        (
            "export-encoded-slash-corp-only",
            spec("GET", &["orders", "%2F", "export"]).header("authorization", bearer(corp_only)),
        ),
        (
            "orders-delete-other-case-corp-only",
            spec("DELETE", &["Orders", "/", "1"]).header("authorization", bearer(corp_only)),
        ),
        (
            "admin-head-partner",
            spec("HEAD", &["ADMIN", "/", "x"]).header("x-partner-token", HeaderValue::Raw(both)),
        ),
        ("healthz-other-case", spec("GET", &["Healthz"])),
        ("docs-other-case", spec("GET", &["Docs", "/", "x"])),
        (
            "public-double-slash-admin-other-case",
            spec("GET", &["PUBLIC", "//", "..", "//", "ADMIN"]),
        ),
    ];
    seeds
        .into_iter()
        .map(|(name, spec)| (name.to_owned(), spec))
        .collect()
}

/// The decision target's seed corpus, by name.
pub fn decision_seeds() -> Vec<(String, Vec<u8>)> {
    decision_seed_specs()
        .into_iter()
        .map(|(name, spec)| (name, spec.write()))
        .collect()
}

/// The decision target's libFuzzer dictionary: runs of path pieces (as the
/// bytes that pick them) that make traversal tricks, and header names.
pub fn decision_dictionary() -> Vec<(String, Vec<u8>)> {
    let runs: [&[&str]; 16] = [
        &["/", ".."],
        &["/", "..;"],
        &["/", "%2e%2e"],
        &["/", ".%2e"],
        &["%2F", "..", "%2F"],
        &["%5C", "..", "%5C"],
        &["\\", "..", "\\"],
        &["%", "%32", "e"],
        &["%", "%32", "f"],
        &["%", "%33", "b"],
        &["/", "healthz"],
        &["/", "public"],
        &["/", "docs"],
        &["/", "orders", "/", "export"],
        &["/", "admin"],
        &["/", "beta"],
    ];
    let mut out: Vec<(String, Vec<u8>)> = runs
        .iter()
        .map(|run| {
            let name: String = run
                .concat()
                .chars()
                .map(|c| match c {
                    '/' => "_sl".to_owned(),
                    '\\' => "_bs".to_owned(),
                    '%' => "_pct".to_owned(),
                    ';' => "_semi".to_owned(),
                    '.' => "_dot".to_owned(),
                    c => c.to_string(),
                })
                .collect();
            (
                format!("path{name}"),
                pieces(run).iter().map(|&i| i as u8).collect(),
            )
        })
        .collect();
    for (i, name) in HEADER_NAMES.iter().enumerate() {
        let name = name.replace(['-', '_'], "").to_ascii_lowercase();
        out.push((format!("header_{name}_{i}"), vec![i as u8]));
    }
    out
}
