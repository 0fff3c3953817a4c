//! The `token` target: the input as a token, and as the raw `authorization`
//! value, `:authority`, query string and cookie header, decided against the token
//! fixture (fuzz/README.md, `token`).

use std::cell::RefCell;

use audgate::decision::{decide, same_header_name, Decision, LocalKeys, Verifier};
use audgate::keys::verify::HostNative;
use audgate::rejection::Rejection;
use audgate::request::Request;
use audgate::token::cache::TokenCache;
use audgate::token::MAX_TOKEN_BYTES;

use super::fixture::{assert_same, fixture, owned, Fixture, AUTHORITY, PATH};

impl Fixture {
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
        introspections: &audgate::keys::introspection::vouched::NoIntrospections,
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
