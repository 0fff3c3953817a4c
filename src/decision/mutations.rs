//! What a decision changes in the request before it goes upstream: the forged
//! copies of the filter's output headers removed, the path sent on as the rules
//! matched it, the verified token's outputs set, and every token the upstream
//! should not see removed (the one that passed unless its provider forwards it,
//! and other providers' that this route did not verify).

use serde_json::{Map, Value};

use crate::config::{Config, Provider};
use crate::decision::authenticate::Verified;
use crate::policy::claim_rule::lookup;
use crate::policy::Demand;
use crate::request::path::ResolvedPath;
use crate::request::{same_header_name, HeaderValues, Request};
use crate::token::dpop::proof::DPOP_HEADER;
use crate::token::extract::{
    cookies_without, path_without_params, token_places, token_places_from, Location,
};

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

/// What every decision does to the request: removes any copy of the filter's
/// output headers the client sent, in any spelling ([`same_header_name`]), and
/// sends the path on as the rules matched it (resolved, [`ResolvedPath`]).
pub(crate) fn base_mutations(
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
pub(crate) fn refused_mutations(
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

/// The headers a verified token sets: its payload and its copied claims.
pub(crate) fn outputs(provider: &Provider, verified: &Verified<'_>) -> Vec<(String, String)> {
    let payload = || verified.token.payload_b64.to_owned();
    outputs_of(provider, &verified.token.claims, payload)
}

/// The headers a token with `claims` sets for `provider`; `payload` gives the
/// `forward_payload_header` value (base64url, no padding), asked only when
/// there is one.
pub(crate) fn outputs_of(
    provider: &Provider,
    claims: &Map<String, Value>,
    payload: impl FnOnce() -> String,
) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    if let Some(header) = &provider.forward_payload_header {
        headers.push((header.clone(), payload()));
    }
    for entry in &provider.claim_to_headers {
        let value = match lookup(claims, &entry.claim) {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Number(number)) => number.to_string(),
            Some(Value::Bool(flag)) => flag.to_string(),
            Some(Value::Array(items)) => match joined(items) {
                Some(joined) => joined,
                None => {
                    log::warn!(
                        "audgate: claim {} not copied to {}: an element is not a string, or holds ',' or a control character",
                        entry.claim,
                        entry.header
                    );
                    continue;
                }
            },
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

/// An array of strings joined with `,`; `None` when an element is not a string
/// or holds `,` or a control character (the joined value would mislead).
fn joined(items: &[Value]) -> Option<String> {
    let words: Option<Vec<&str>> = items
        .iter()
        .map(|item| {
            item.as_str()
                .filter(|text| !text.contains(',') && !text.chars().any(char::is_control))
        })
        .collect();
    Some(words?.join(","))
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
    remove_found(locations, path, headers, mutations);
    // A DPoP proof goes wherever its token goes (RFC 9449): not upstream. Only
    // a provider with `dpop` looks (this runs for every token removed).
    if provider.dpop.is_some()
        && headers.values(DPOP_HEADER).next().is_some()
        && !mutations
            .remove_headers
            .iter()
            .any(|name| name == DPOP_HEADER)
    {
        mutations.remove_headers.push(DPOP_HEADER.to_owned());
    }
}

/// Removes a token from `locations` of the request of `path` and `headers`,
/// whatever its provider's `forward` says (a token exchanged at a gateway never
/// goes on).
pub(crate) fn remove_found(
    locations: &[Location],
    path: &str,
    headers: &impl HeaderValues,
    mutations: &mut Mutations,
) {
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
