//! The `config` target: the input as the plugin configuration, checked against
//! the documented bounds, then requests decided under it (fuzz/README.md,
//! `config`).

use std::cell::RefCell;

use audgate::config::{Config, KeySource, MAX_PROVIDERS, MAX_PROVIDER_AUDIENCES};
use audgate::decision::{decide, LocalKeys};
use audgate::keys::jwks::{KeyKind, MAX_KEYS};
use audgate::policy::claim_rule::Want;
use audgate::policy::{Demand, PathMatch, Requirement};
use audgate::rejection::Rejection;
use audgate::request::Request;
use audgate::token::cache::TokenCache;

use super::fixture::{assert_same, fixture, owned, AUTHORITY};

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
            KeySource::Introspection(settings) => {
                let timeout_ms = settings.endpoint.timeout.as_millis();
                assert!((1..=60_000).contains(&timeout_ms), "{name}: timeout_ms");
                assert!(
                    (1..=3600).contains(&settings.reuse.active_s),
                    "{name}: cache_duration_s"
                );
                assert!(
                    (0..=60).contains(&settings.reuse.inactive_s),
                    "{name}: inactive_cache_s"
                );
                assert!(
                    (1..=10_000).contains(&settings.max_pending),
                    "{name}: max_pending"
                );
                assert!(
                    !settings.endpoint.cluster.is_empty(),
                    "{name}: empty cluster"
                );
                assert!(
                    provider.token_types.is_empty(),
                    "{name}: token_types with introspection"
                );
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
