//! A token cache hit, answered straight from the host's serialized headers:
//! no owned copy of the headers, no full decision. Whatever the hit cannot
//! settle exactly as [`decide_with_peer`] would is left to it.
//!
//! ```text
//! header bytes ─HeaderMap::parse─▶ HeaderMap
//!     ─cached_pass(&config, &headers, &verifier)─▶ Some(decision)   the pass decide_with_peer gives
//!                                              └─▶ None             decide_with_peer(.., &Request::from_headers(
//!                                                                       &headers.to_owned_pairs()), ..)
//! ```
//! It fires only on a request that needs nothing beyond the cached verdict:
//! no forged output header, a plain path, one provider's demand, one token in
//! one of that provider's places, found in the cache for its key generation
//! and meeting the route's audiences and claims. For a provider with
//! `introspection` (and no `dpop`), the hit is an active answer the worker
//! reused, meeting every check of an answer without the TLS peer. For a provider with `dpop`,
//! its proof is checked here as the full decision checks it (every check and
//! its signature, on every request), and a proof that fails any, or whose
//! nonce a fresh one should follow, is left to the full decision, which
//! refuses it or offers the nonce; the replay store is the caller's (the
//! filter remembers the proof before the pass is carried out, and leaves a
//! proof the store refuses to the full decision too). It reads the rule, the token
//! and the cache with the same functions the full decision does (`resolve`,
//! `applicable`, `extract_from`, `TokenCache::get`, `check_audience`,
//! `check_claims`, `remove_token`, `remove_unrequired_tokens`), and touches
//! the cache only where the full decision would have, the same way, so that a
//! `None` after it leaves the full decision, and every later one, as it would
//! have been.
//!
//! [`decide_with_peer`]: crate::decision::decide_with_peer

use std::str;

use crate::config::{Config, Provider};
use crate::decision::authenticate::{authenticate_answer, Presenter, RouteChecks};
use crate::decision::introspected::payload_of;
use crate::decision::mutations::{outputs_of, remove_token, remove_unrequired_tokens};
use crate::decision::remembered::{recall, recheck};
use crate::decision::{
    origin_of, proven, same_header_name, Decision, DpopReply, Mutations, Verifier,
};
use crate::keys::introspection::ask::sendable;
use crate::keys::introspection::vouched::Vouched;
use crate::policy::caller::NoPeer;
use crate::policy::claim_rule::{ClaimRequirement, Want};
use crate::policy::placeholder::Bindings;
use crate::policy::step_up::Asked;
use crate::policy::{applicable, Demand, Requirement};
use crate::request::header_map::{name_is, HeaderMap};
use crate::request::path::resolve;
use crate::request::{HeaderValues, Request};
use crate::token::dpop::binding::Presentation;
use crate::token::dpop::prove::DpopRequest;
use crate::token::extract::{extract_from, Found};

/// The decision on a request that is a token cache hit needing nothing more,
/// equal (`==`) to what [`decide_with_peer`] gives on
/// `Request::from_headers(&headers.to_owned_pairs())` with the same cache, for
/// any peer; `None` for every other request (decide it in full). On `Some`, the
/// cache has seen exactly the lookup the full decision makes.
///
/// [`decide_with_peer`]: crate::decision::decide_with_peer
pub fn cached_pass(
    config: &Config,
    headers: &HeaderMap<'_>,
    verifier: &Verifier<'_>,
) -> Option<Decision> {
    // An empty cache (size 0, or nothing verified yet) can hold no hit; a
    // provider with `introspection` has its answers in a cache of their own.
    let cache_holds_any = verifier
        .cache
        .is_some_and(|cache| cache.try_borrow().is_ok_and(|cache| !cache.is_empty()));
    let introspects = || config.providers.iter().any(|p| p.introspection().is_some());
    if !cache_holds_any && !introspects() {
        return None;
    }
    let pseudo = Pseudo::scan(config, headers)?;
    if config.bypass_cors_preflight && pseudo.method == "OPTIONS" {
        return None;
    }
    let raw = pseudo
        .path
        .split_once('?')
        .map_or(pseudo.path, |(path, _)| path);
    if !is_plain(raw) {
        return None;
    }
    let resolved = resolve(raw);
    if resolved.ambiguous || resolved.matched != raw || resolved.upstream != raw {
        return None;
    }
    let rule = applicable(&config.rules, &config.fallback, pseudo.method, &resolved);
    let demand = single_demand(rule.requires)?;
    let index = demand.provider;
    let provider = config.providers.get(index)?;
    // A `caller` rule reads the peer.
    if provider.caller.is_some() || demand.claims.iter().any(reads_headers) {
        return None;
    }
    let sources = Sources::of(headers, config)?;
    let found = extract_from(provider.token_sources(), pseudo.path, &sources).ok()??;
    if found.locations.len() != 1 {
        return None;
    }
    // `${path.…}` reads the captures alone; `${header.…}` was declined above.
    let request = Request {
        method: pseudo.method,
        path: pseudo.path,
        authority: "",
        headers: &[],
    };
    let bindings = Bindings {
        captures: &rule.captures,
        request: &request,
    };
    let route = RouteChecks {
        audiences: demand.audiences(&provider.audiences),
        claims: &demand.claims,
        bindings: Some(&bindings),
        step_up: Asked::of(provider.step_up.as_ref(), demand.step_up.as_ref()),
    };
    if provider.introspection().is_some() {
        let set_headers = reused_answer(provider, index, &route, &found.token, verifier)?;
        return Some(pass(
            config,
            demand,
            &found,
            pseudo.path,
            &sources,
            set_headers,
        ));
    }
    let hit = recall(verifier, &found.token, index)?;
    // The provider has no `caller` rule (declined above); a `cnf` binding is
    // checked against the TLS peer, which is not read here: `NoPeer` fails it, and
    // the full decision reads the peer (a `cnf.jkt` is the proof's to check).
    let takes_proofs = provider.dpop.is_some();
    let skew = i64::try_from(provider.times.clock_skew_s).unwrap_or(i64::MAX);
    let clock = (skew, verifier.now);
    recheck(&hit.claims, &route, None, &NoPeer, takes_proofs, clock).ok()?;
    let proof = match &provider.dpop {
        None => None,
        Some(dpop) => {
            let presentation = Presentation::of(&sources);
            let own_origin = match dpop.origins {
                Some(_) => String::new(),
                None => {
                    let scheme = first_value(headers, ":scheme")?.unwrap_or("http");
                    origin_of(
                        scheme,
                        first_value(headers, ":authority")?.unwrap_or_default(),
                    )
                }
            };
            let request = DpopRequest {
                presentation: &presentation,
                method: pseudo.method,
                own_origin: &own_origin,
                path: raw,
            };
            let accepted = proven(
                provider,
                dpop,
                &request,
                &found.token,
                &hit.claims,
                verifier,
            )
            .ok()??;
            if accepted.nonce_stale {
                return None;
            }
            Some((accepted, DpopReply::without_nonce(dpop, &presentation)))
        }
    };
    let mut decision = pass(
        config,
        demand,
        &found,
        pseudo.path,
        &sources,
        hit.set_headers,
    );
    if let Some((accepted, reply)) = proof {
        decision.proof = Some(accepted);
        decision.dpop = Some(reply);
    }
    Some(decision)
}

/// The pass of `demand`'s token `found` (from the cache), setting
/// `set_headers`: its places and other providers' emptied as the full decision
/// empties them.
fn pass(
    config: &Config,
    demand: &Demand,
    found: &Found,
    path: &str,
    sources: &Sources<'_, '_>,
    set_headers: Vec<(String, String)>,
) -> Decision {
    let mut mutations = Mutations::default();
    if let Some(provider) = config.providers.get(demand.provider) {
        remove_token(provider, &found.locations, path, sources, &mut mutations);
    }
    mutations.set_headers.extend(set_headers);
    let demands = std::slice::from_ref(demand);
    remove_unrequired_tokens(config, demands, path, sources, &mut mutations);
    Decision::pass(Some(demand.provider), mutations, true)
}

/// The headers the cached active answer for `token` sets, when it meets every
/// check of [`authenticate_answer`] without the TLS peer (a `cnf` binding
/// fails here and is left to the full decision, which reads the peer) and its
/// provider takes no proofs; `None`: the full decision decides.
fn reused_answer(
    provider: &Provider,
    index: usize,
    route: &RouteChecks<'_>,
    token: &str,
    verifier: &Verifier<'_>,
) -> Option<Vec<(String, String)>> {
    if provider.dpop.is_some() || !sendable(token) {
        return None;
    }
    let known = verifier.introspections.vouched(index, token)?;
    let (Vouched::Active(claims), true) = (known.vouched, known.reused) else {
        return None;
    };
    let presenter = Presenter {
        peer: &NoPeer,
        dpop: None,
    };
    let (signatures, now) = (verifier.signatures, verifier.now);
    authenticate_answer(provider, route, token, &claims, signatures, now, &presenter).ok()?;
    Some(outputs_of(provider, &claims, || payload_of(&claims)))
}

/// `:method` and `:path` (the first of each, else empty, as
/// `Request::from_headers` reads them), from a request whose header names are
/// all UTF-8 and none of which is an output header in any spelling.
struct Pseudo<'a> {
    method: &'a str,
    path: &'a str,
}

impl<'a> Pseudo<'a> {
    fn scan(config: &Config, headers: &HeaderMap<'a>) -> Option<Pseudo<'a>> {
        let (mut method, mut path) = (None, None);
        for &(name, value) in headers.pairs() {
            let name = str::from_utf8(name).ok()?;
            let forged = config
                .output_headers
                .iter()
                .any(|output| same_header_name(output, name));
            if forged {
                return None;
            }
            if method.is_none() && name_is(name.as_bytes(), ":method") {
                method = Some(value);
            } else if path.is_none() && name_is(name.as_bytes(), ":path") {
                path = Some(value);
            }
        }
        Some(Pseudo {
            method: str::from_utf8(method.unwrap_or_default()).ok()?,
            path: str::from_utf8(path.unwrap_or_default()).ok()?,
        })
    }
}

/// The first value of header `name` (`Some(None)` when absent), read only for
/// a DPoP proof checked against the request's own origin; `None` when it is not
/// UTF-8 (the fast path declines).
fn first_value<'a>(headers: &HeaderMap<'a>, name: &str) -> Option<Option<&'a str>> {
    match headers.pairs().iter().find(|&&(key, _)| name_is(key, name)) {
        None => Some(None),
        Some(&(_, value)) => str::from_utf8(value).ok().map(Some),
    }
}

/// Whether `path` (no query) is one every server reads alike: it starts with
/// `/` and holds only unreserved characters, `/` and the sub-delimiters other
/// than `;` (so no escape, no segment parameter, no backslash), no `//` and no
/// segment starting with a dot (so no dot segment).
fn is_plain(path: &str) -> bool {
    let safe = |byte: &u8| byte.is_ascii_alphanumeric() || b"-._~/!$&'()*+,=:@".contains(byte);
    path.starts_with('/')
        && path.as_bytes().iter().all(safe)
        && !path.contains("//")
        && !path.contains("/.")
}

/// The one demand of a requirement that has exactly one (`any` of one is the
/// single provider's fallback); `all` and longer lists are left to the full path.
fn single_demand(requires: &Requirement) -> Option<&Demand> {
    match requires {
        Requirement::Provider(demand) => Some(demand),
        Requirement::Any(list) => match list.as_slice() {
            [demand] => Some(demand),
            _ => None,
        },
        Requirement::None | Requirement::All(_) => None,
    }
}

/// Whether a claim requirement fills a value from a request header.
fn reads_headers(requirement: &ClaimRequirement) -> bool {
    let (Want::AllOf(values) | Want::OneOf(values)) = &requirement.want;
    values.iter().any(|pattern| pattern.reads_headers())
}

/// The headers the providers' tokens are read from, as `&str`: made only when
/// every value under those names (every provider's token headers, and `cookie`
/// if one reads cookies) is UTF-8, so the values equal their lossy copies.
/// Extraction and token removal (the required provider's, and the other
/// providers' places) ask for no other name.
struct Sources<'m, 'a> {
    headers: &'m HeaderMap<'a>,
}

impl<'m, 'a> Sources<'m, 'a> {
    fn of(headers: &'m HeaderMap<'a>, config: &Config) -> Option<Sources<'m, 'a>> {
        let reads = |provider: &Provider, name: &[u8]| {
            provider
                .from_headers
                .iter()
                .any(|source| name_is(name, &source.name))
                || (!provider.from_cookies.is_empty() && name_is(name, "cookie"))
        };
        let read = |name: &[u8]| config.providers.iter().any(|p| reads(p, name));
        let readable = headers
            .pairs()
            .iter()
            .all(|&(name, value)| !read(name) || str::from_utf8(value).is_ok());
        readable.then_some(Sources { headers })
    }
}

impl HeaderValues for Sources<'_, '_> {
    fn values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.headers
            .pairs()
            .iter()
            .filter(move |&&(key, _)| name_is(key, name))
            .filter_map(|&(_, value)| str::from_utf8(value).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_the_ones_resolve_keeps_and_no_more() {
        for path in [
            "/",
            "/orders/1",
            "/a-b_c~d.e/f:g@h",
            "/x/y/",
            "/v1/a..b",
            "/a=1,2",
        ] {
            assert!(is_plain(path), "{path}");
            let resolved = resolve(path);
            assert!(!resolved.ambiguous && resolved.matched == path && resolved.upstream == path);
        }
        for path in [
            "",
            "orders",
            "//x",
            "/a//b",
            "/./a",
            "/a/..",
            "/.well-known",
            "/%61",
            "/a;b",
            "/a\\b",
            "/caf\u{e9}",
            "/a b",
            "/a#b",
            "/a\"b",
            "/a?b",
        ] {
            assert!(!is_plain(path), "{path}");
        }
    }

    #[test]
    fn only_a_single_demand_is_taken() {
        let one = Requirement::Provider(Demand::of(1));
        assert_eq!(single_demand(&one), Some(&Demand::of(1)));
        let fallback = Requirement::Any(vec![Demand::of(0)]);
        assert_eq!(single_demand(&fallback), Some(&Demand::of(0)));
        for requires in [
            Requirement::None,
            Requirement::Any(vec![Demand::of(0), Demand::of(1)]),
            Requirement::All(vec![Demand::of(0)]),
        ] {
            assert_eq!(single_demand(&requires), None, "{requires:?}");
        }
    }
}
