//! A request's verdict: which requirement applies, whose token verifies, and what
//! to change in the request before it goes upstream. Pure: keys, signature
//! backend, token cache and clock are passed in.

pub mod authenticate;
pub mod fast_path;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde_json::Value;

use crate::config::{Config, KeySource, Provider};
use crate::decision::authenticate::{authenticate, RouteChecks, Verified};
use crate::keys::jwks::KeySet;
pub use crate::keys::store::KeyStore;
use crate::keys::verify::SignatureBackend;
use crate::log::token_facts::TokenFacts;
use crate::policy::caller::{check_caller, NoPeer, Peer};
use crate::policy::claim_rule::check_claims;
use crate::policy::placeholder::Bindings;
use crate::policy::{applicable_per_reading, Applicable, Demand, Requirement};
use crate::rejection::Rejection;
use crate::request::path::{resolve, ResolvedPath};
pub use crate::request::same_header_name;
use crate::request::{HeaderValues, Request};
use crate::token::cache::{CachedToken, TokenCache};
use crate::token::claims::{check_audience, expiry};
use crate::token::extract::{
    cookies_without, extract, path_without_params, token_places, token_places_from, Found, Location,
};

/// Key store with only the keys given inline (`local_jwks`).
pub struct LocalKeys<'a>(pub &'a Config);

impl KeyStore for LocalKeys<'_> {
    fn key_set(&self, provider: usize) -> Option<&KeySet> {
        match &self.0.providers.get(provider)?.keys {
            KeySource::Local(set) => Some(set),
            KeySource::Remote(_) => None,
        }
    }
}

/// Everything a decision verifies with, besides the configuration.
pub struct Verifier<'a> {
    /// Key sets by provider.
    pub keys: &'a dyn KeyStore,
    /// Signature checks.
    pub signatures: &'a dyn SignatureBackend,
    /// Verified tokens remembered, if any.
    pub cache: Option<&'a RefCell<TokenCache>>,
    /// Now, Unix seconds.
    pub now: i64,
}

/// What to change in the request before it goes upstream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mutations {
    /// Headers to remove (lowercase names).
    pub remove_headers: Vec<String>,
    /// Headers to set, replacing any value.
    pub set_headers: Vec<(String, String)>,
    /// A new `:path`, when a query parameter carried the token.
    pub path: Option<String>,
    /// A new `cookie` header (`Some(None)`: remove it), when a cookie carried the token.
    pub cookie: Option<Option<String>>,
    /// Names of the cookies removed from `cookie`.
    pub removed_cookies: Vec<String>,
}

/// The verdict on one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `Ok` to pass the request on, or why it is refused.
    pub verdict: Result<(), Rejection>,
    /// Index of the provider whose token decided it, if any.
    pub provider: Option<usize>,
    /// Changes to the request; on a refusal only the removal of forged outputs.
    pub mutations: Mutations,
    /// The token was verified before: the answer came from the token cache.
    pub from_cache: bool,
    /// On a refusal, what the token said about itself (for the log).
    pub facts: Option<TokenFacts>,
}

impl Decision {
    /// A pass decided by `provider`'s token (none: no token needed).
    pub(crate) fn pass(
        provider: Option<usize>,
        mutations: Mutations,
        from_cache: bool,
    ) -> Decision {
        Decision {
            verdict: Ok(()),
            provider,
            mutations,
            from_cache,
            facts: None,
        }
    }
}

/// Decides `request` under `config`, with no TLS peer (see [`decide_with_peer`]).
pub fn decide(config: &Config, request: &Request<'_>, verifier: &Verifier<'_>) -> Decision {
    decide_with_peer(config, request, verifier, &NoPeer)
}

/// Decides `request` under `config`; `peer` is the downstream TLS peer, read only
/// when a token's `cnf` or a provider's `caller` needs it.
pub fn decide_with_peer(
    config: &Config,
    request: &Request<'_>,
    verifier: &Verifier<'_>,
    peer: &dyn Peer,
) -> Decision {
    let (path, query) = request
        .path
        .split_once('?')
        .map_or((request.path, None), |(path, query)| (path, Some(query)));
    let path = resolve(path);
    let forged_only = || base_mutations(config, request, &path, query);
    if config.bypass_cors_preflight && is_cors_preflight(request) {
        return Decision::pass(None, forged_only(), false);
    }
    let (rule, unsplit) =
        applicable_per_reading(&config.rules, &config.fallback, request.method, &path);
    let decide_by = |rule: &Applicable<'_, '_>| {
        decide_under(config, request, verifier, peer, rule, &forged_only)
    };
    let decision = decide_by(&rule);
    // A path whose encoded slash may also stay inside its segment meets the rule
    // of that reading too ([`applicable_per_reading`]).
    match unsplit {
        Some(other) if decision.verdict.is_ok() => {
            let gate = decide_by(&other);
            if gate.verdict.is_err() {
                gate
            } else {
                decision
            }
        }
        _ => decision,
    }
}

/// Decides `request` under `rule`, the rule one reading of its path picks;
/// `forged_only` gives the mutations every decision makes.
fn decide_under(
    config: &Config,
    request: &Request<'_>,
    verifier: &Verifier<'_>,
    peer: &dyn Peer,
    rule: &Applicable<'_, '_>,
    forged_only: &dyn Fn() -> Mutations,
) -> Decision {
    let (demands, all): (&[Demand], bool) = match rule.requires {
        Requirement::None => return Decision::pass(None, forged_only(), false),
        Requirement::Provider(demand) => (std::slice::from_ref(demand), false),
        Requirement::Any(list) => (list, false),
        Requirement::All(list) => (list, true),
    };
    let bindings = Bindings {
        captures: &rule.captures,
        request,
    };
    let evaluation = Evaluation {
        config,
        request,
        verifier,
        bindings: &bindings,
        peer,
        allow_missing: rule.allow_missing,
        from_cache: Cell::new(false),
    };
    let mut mutations = forged_only();
    let outcome = if all {
        evaluation.all(demands, &mut mutations)
    } else {
        evaluation.any(demands, &mut mutations)
    };
    match outcome {
        Ok(provider) => {
            remove_unrequired_tokens(config, demands, request.path, request, &mut mutations);
            Decision::pass(provider, mutations, evaluation.from_cache.get())
        }
        Err((rejection, provider)) => Decision {
            verdict: Err(rejection),
            provider,
            mutations: refused_mutations(config, request, demands, forged_only()),
            from_cache: false,
            facts: provider
                .and_then(|index| config.providers.get(index))
                .and_then(|p| extract(p.token_sources(), request).ok().flatten())
                .and_then(|found| TokenFacts::read(&found.token)),
        },
    }
}

/// What every decision does to the request: removes any copy of the filter's
/// output headers the client sent, in any spelling ([`same_header_name`]), and
/// sends the path on as the rules matched it (resolved, [`ResolvedPath`]).
fn base_mutations(
    config: &Config,
    request: &Request<'_>,
    path: &ResolvedPath<'_>,
    query: Option<&str>,
) -> Mutations {
    let mut mutations = Mutations::default();
    for (name, _) in request.headers {
        let output = config
            .output_headers
            .iter()
            .any(|output| same_header_name(output, name));
        if output && !mutations.remove_headers.contains(name) {
            mutations.remove_headers.push(name.clone());
        }
    }
    let raw = request
        .path
        .split_once('?')
        .map_or(request.path, |(p, _)| p);
    if path.upstream != raw {
        mutations.path = Some(match query {
            Some(query) => format!("{}?{query}", path.upstream),
            None => path.upstream.clone().into_owned(),
        });
    }
    mutations
}

/// What a refused request that still goes upstream (audit mode) has changed: the
/// forged outputs removed, as always, and every token of the required providers
/// removed unless they forward it, so the upstream sees what it would have seen
/// had the request passed.
fn refused_mutations(
    config: &Config,
    request: &Request<'_>,
    demands: &[Demand],
    mut mutations: Mutations,
) -> Mutations {
    for provider in demands
        .iter()
        .filter_map(|d| config.providers.get(d.provider))
    {
        remove_token(
            provider,
            &token_places(provider.token_sources(), request),
            request.path,
            request,
            &mut mutations,
        );
    }
    remove_unrequired_tokens(config, demands, request.path, request, &mut mutations);
    mutations
}

/// On a route that requires the providers of `demands`, removes what sits in the
/// token places of every other provider that does not forward its token: a
/// credential this route did not verify never goes upstream beside one it did
/// (a forged `authorization` on a route whose provider reads `x-api-token`). A
/// place that a required provider's token is in too is left to that provider
/// (its `forward` decides); a place two other providers read is removed when
/// either does not forward.
pub(crate) fn remove_unrequired_tokens(
    config: &Config,
    demands: &[Demand],
    path: &str,
    headers: &impl HeaderValues,
    mutations: &mut Mutations,
) {
    let required = |index: usize| demands.iter().any(|demand| demand.provider == index);
    let mut others = config
        .providers
        .iter()
        .enumerate()
        .filter(|(index, provider)| !provider.forward && !required(*index))
        .peekable();
    if others.peek().is_none() {
        return;
    }
    let required_places: Vec<Location> = demands
        .iter()
        .filter_map(|demand| config.providers.get(demand.provider))
        .flat_map(|provider| token_places_from(provider.token_sources(), path, headers))
        .collect();
    for (_, provider) in others {
        let places: Vec<Location> = token_places_from(provider.token_sources(), path, headers)
            .into_iter()
            .filter(|place| !required_places.contains(place))
            .collect();
        if !places.is_empty() {
            remove_token(provider, &places, path, headers, mutations);
        }
    }
}

fn is_cors_preflight(request: &Request<'_>) -> bool {
    request.method == "OPTIONS"
        && request.has_header("origin")
        && request.has_header("access-control-request-method")
}

type Outcome = Result<Option<usize>, (Rejection, Option<usize>)>;

struct Evaluation<'a, 'r> {
    config: &'a Config,
    request: &'a Request<'r>,
    verifier: &'a Verifier<'a>,
    bindings: &'a Bindings<'a>,
    peer: &'a dyn Peer,
    allow_missing: bool,
    from_cache: Cell<bool>,
}

impl Evaluation<'_, '_> {
    fn provider(&self, index: usize) -> Option<&Provider> {
        self.config.providers.get(index)
    }

    /// A token meeting at least one of `demands`; different tokens are refused.
    fn any(&self, demands: &[Demand], mutations: &mut Mutations) -> Outcome {
        let mut candidates: Vec<(&Demand, Found)> = Vec::new();
        for demand in demands {
            let Some(provider) = self.provider(demand.provider) else {
                continue;
            };
            match extract(provider.token_sources(), self.request) {
                Ok(Some(found)) => candidates.push((demand, found)),
                Ok(None) => {}
                Err(rejection) => return Err((rejection, Some(demand.provider))),
            }
        }
        let Some((_, first)) = candidates.first() else {
            return if self.allow_missing {
                Ok(None)
            } else {
                Err((Rejection::Missing, None))
            };
        };
        if candidates
            .iter()
            .any(|(_, found)| found.token != first.token)
        {
            return Err((Rejection::MultipleTokens, None));
        }
        let mut failures: Vec<(usize, Rejection)> = Vec::new();
        for (demand, found) in &candidates {
            match self.verify(demand, &found.token) {
                Ok(set_headers) => {
                    // The one token may sit in several providers' places: each
                    // provider that does not forward it has it removed.
                    for (other, found) in &candidates {
                        if let Some(other) = self.provider(other.provider) {
                            let request = self.request;
                            remove_token(other, &found.locations, request.path, request, mutations);
                        }
                    }
                    mutations.set_headers.extend(set_headers);
                    return Ok(Some(demand.provider));
                }
                Err(rejection) => failures.push((demand.provider, rejection)),
            }
        }
        let (index, rejection) = most_relevant(self.config, &first.token, &failures);
        Err((rejection, Some(index)))
    }

    /// A token meeting each of `demands`. With `allow_missing`, a request with no
    /// token at all passes; one with some tokens needs them all.
    fn all(&self, demands: &[Demand], mutations: &mut Mutations) -> Outcome {
        let mut tokens: Vec<(&Demand, Option<Found>)> = Vec::new();
        for demand in demands {
            let Some(provider) = self.provider(demand.provider) else {
                continue;
            };
            let found = extract(provider.token_sources(), self.request)
                .map_err(|r| (r, Some(demand.provider)))?;
            tokens.push((demand, found));
        }
        if self.allow_missing && tokens.iter().all(|(_, found)| found.is_none()) {
            return Ok(None);
        }
        let mut last = None;
        for (demand, found) in &tokens {
            let index = demand.provider;
            let (Some(provider), Some(found)) = (self.provider(index), found) else {
                return Err((Rejection::Missing, Some(index)));
            };
            let set_headers = self
                .verify(demand, &found.token)
                .map_err(|rejection| (rejection, Some(index)))?;
            remove_token(
                provider,
                &found.locations,
                self.request.path,
                self.request,
                mutations,
            );
            mutations.set_headers.extend(set_headers);
            last = Some(index);
        }
        Ok(last)
    }

    /// Verifies `token` for `demand`: from the cache when its provider verified
    /// it before with the same keys (the route's audiences and claims are still
    /// checked, on every request), else in full (and then remembered). Returns
    /// the headers the verified token sets.
    fn verify(&self, demand: &Demand, token: &str) -> Result<Vec<(String, String)>, Rejection> {
        let index = demand.provider;
        let provider = self.provider(index).ok_or(Rejection::KeysUnavailable)?;
        let route = RouteChecks {
            audiences: demand.audiences(&provider.audiences),
            claims: &demand.claims,
            bindings: Some(self.bindings),
        };
        let verifier = self.verifier;
        let generation = verifier.keys.generation(index);
        if let Some(cache) = verifier.cache {
            if let Ok(mut cache) = cache.try_borrow_mut() {
                if let Some(hit) = cache.get(token, index, generation, verifier.now) {
                    if verifier.keys.key_set(index).is_some() {
                        check_audience(&hit.claims, route.audiences)?;
                        check_caller(&hit.claims, provider.caller.as_ref(), self.peer)?;
                        check_claims(&hit.claims, route.claims, route.bindings)?;
                        self.from_cache.set(true);
                        return Ok(hit.set_headers.clone());
                    }
                }
            }
        }
        let keys = || verifier.keys.key_set(index);
        let verified = authenticate(
            provider,
            &route,
            token,
            keys,
            verifier.signatures,
            verifier.now,
            self.peer,
        )?;
        let set_headers = outputs(provider, &verified);
        if let Some(cache) = verifier.cache {
            if let Ok(mut cache) = cache.try_borrow_mut() {
                let skew = i64::try_from(provider.times.clock_skew_s).unwrap_or(i64::MAX);
                let expires_at =
                    expiry(&verified.token.claims).map_or(i64::MAX, |exp| exp.saturating_add(skew));
                cache.insert(
                    token,
                    CachedToken {
                        provider: index,
                        generation,
                        expires_at,
                        set_headers: set_headers.clone(),
                        claims: Rc::new(verified.token.claims.clone()),
                    },
                );
            }
        }
        Ok(set_headers)
    }
}

/// Among failed providers, the one whose issuer the token names, else the first.
fn most_relevant(
    config: &Config,
    token: &str,
    failures: &[(usize, Rejection)],
) -> (usize, Rejection) {
    let issuer = crate::token::parse(token).ok().and_then(|t| {
        t.claims
            .get("iss")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    failures
        .iter()
        .find(|(index, _)| {
            config.providers.get(*index).map(|p| Some(&p.issuer)) == Some(issuer.as_ref())
        })
        .or(failures.first())
        .copied()
        .unwrap_or((0, Rejection::Missing))
}

/// The headers a verified token sets: its payload and its copied claims.
fn outputs(provider: &Provider, verified: &Verified<'_>) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    if let Some(header) = &provider.forward_payload_header {
        headers.push((header.clone(), verified.token.payload_b64.to_owned()));
    }
    for entry in &provider.claim_to_headers {
        let value = match verified.token.claims.get(&entry.claim) {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Number(number)) => number.to_string(),
            Some(Value::Bool(flag)) => flag.to_string(),
            _ => continue,
        };
        if value
            .bytes()
            .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
        {
            headers.push((entry.header.clone(), value));
        }
    }
    headers
}

/// Removes the token from where `provider` found it in the request of `path`
/// (`:path`, with its query) and `headers`, unless it forwards tokens.
pub(crate) fn remove_token(
    provider: &Provider,
    locations: &[Location],
    path: &str,
    headers: &impl HeaderValues,
    mutations: &mut Mutations,
) {
    if provider.forward {
        return;
    }
    let mut params = Vec::new();
    for location in locations {
        match location {
            Location::Header(name) => {
                if !mutations.remove_headers.contains(name) {
                    mutations.remove_headers.push(name.clone());
                }
            }
            Location::Param(name) => params.push(name.as_str()),
            Location::Cookie(name) => {
                if !mutations.removed_cookies.contains(name) {
                    mutations.removed_cookies.push(name.clone());
                }
            }
        }
    }
    if !params.is_empty() {
        let current = mutations.path.as_deref().unwrap_or(path);
        mutations.path = Some(path_without_params(current, &params));
    }
    if !mutations.removed_cookies.is_empty() {
        let names: Vec<&str> = mutations
            .removed_cookies
            .iter()
            .map(String::as_str)
            .collect();
        mutations.cookie = Some(cookies_without(headers, &names));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// corp (bearer, parameter `t`, cookie `s`), alt (`x-api-token`), and fwd
    /// (bearer too, `forward: true`).
    fn config() -> Config {
        let key = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]});
        let provider = |name: &str, extra: serde_json::Value| {
            let mut p =
                json!({"name": name, "issuer": "https://i", "audiences": ["a"], "local_jwks": key});
            for (field, value) in extra.as_object().into_iter().flatten() {
                p[field] = value.clone();
            }
            p
        };
        let providers = json!([
            provider("corp", json!({"from_params": ["t"], "from_cookies": ["s"]})),
            provider("alt", json!({"from_headers": [{"name": "x-api-token"}]})),
            provider("fwd", json!({"forward": true})),
        ]);
        Config::from_json(json!({ "providers": providers }).to_string().as_bytes()).unwrap()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Issue 21, finding 9: other providers' token places are removed on a route
    /// that requires a provider, but not a place a required forwarding provider
    /// reads too.
    #[test]
    fn other_providers_tokens_are_removed_unless_a_required_one_forwards_them() {
        let config = config();
        let headers = pairs(&[
            ("authorization", "Bearer forged"),
            ("cookie", "a=1; s=forged"),
            ("x-api-token", "alt.token.here"),
        ]);
        let request = Request::from_headers(&headers);
        let path = "/x?t=forged&b=2";
        let removed = |required: &[usize]| {
            let demands: Vec<Demand> = required.iter().copied().map(Demand::of).collect();
            let mut mutations = Mutations::default();
            remove_unrequired_tokens(&config, &demands, path, &request, &mut mutations);
            mutations
        };
        let alt = removed(&[1]);
        assert_eq!(alt.remove_headers, vec!["authorization".to_string()]);
        assert_eq!(alt.path.as_deref(), Some("/x?b=2"));
        assert_eq!(alt.cookie, Some(Some("a=1".to_string())));
        // fwd forwards its bearer token: corp reads that place too, but it is fwd's.
        let fwd = removed(&[2]);
        assert_eq!(fwd.remove_headers, vec!["x-api-token".to_string()]);
        assert_eq!(fwd.path.as_deref(), Some("/x?b=2"));
        // Every non-forwarding provider required: nothing else to remove.
        assert_eq!(removed(&[0, 1]), Mutations::default());
        let without_bearer = pairs(&[("authorization", "Basic dXNlcg==")]);
        let request = Request::from_headers(&without_bearer);
        let mut mutations = Mutations::default();
        remove_unrequired_tokens(&config, &[Demand::of(1)], "/x", &request, &mut mutations);
        assert_eq!(mutations, Mutations::default(), "no bearer: no corp token");
    }
}
