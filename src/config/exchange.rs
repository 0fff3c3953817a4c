//! The `exchange` section, raw → compiled: the token endpoint and its cluster,
//! the client's authentication (its secret read from the VM's environment,
//! never from the configuration), where the outbound token is, and the
//! destination table.

use super::client_auth::{client_auth, printable};
use super::endpoint::compile_endpoint;
use super::error::{fail, in_range};
use super::lookups::Lookups;
use super::provider::compile_header_sources;
use super::raw::{RawDestination, RawExchange};
use super::{ConfigError, Problem};
use crate::exchange::destination::{host_name, Destination, Matcher};
use crate::exchange::grant::ACCESS_TOKEN_TYPE;
use crate::exchange::settings::{Exchange, Unmatched};
use crate::policy::placeholder::fill_node;

/// Most destinations of one `exchange`.
pub const MAX_DESTINATIONS: usize = 64;
/// Most `hosts` or `clusters` of one destination.
pub const MAX_DESTINATION_NAMES: usize = 16;
const UNMATCHED: &[&str] = &["remove", "refuse", "forward"];

pub(super) fn compile_exchange(
    raw: RawExchange,
    lookups: &Lookups<'_>,
) -> Result<Exchange, ConfigError> {
    let field = "exchange";
    let endpoint = compile_endpoint(
        field,
        "token_endpoint",
        raw.token_endpoint,
        raw.cluster,
        raw.timeout_ms,
    )?;
    let client = client_auth(field, raw.client_id, raw.client_secret_env, lookups.env)?;
    let subject_token_type = match raw.subject_token_type {
        None => ACCESS_TOKEN_TYPE.to_owned(),
        Some(text) => printable(&format!("{field}.subject_token_type"), text)?,
    };
    let from_headers = compile_header_sources(field, raw.from_headers)?;
    if from_headers.is_empty() {
        return fail(format!("{field}.from_headers"), Problem::Empty);
    }
    let destinations = compile_destinations(raw.destinations, lookups.node)?;
    let unmatched = match raw.unmatched.as_deref() {
        None | Some("remove") => Unmatched::Remove,
        Some("refuse") => Unmatched::Refuse,
        Some("forward") => Unmatched::Forward,
        Some(_) => return fail(format!("{field}.unmatched"), Problem::OneOf(UNMATCHED)),
    };
    let cache_size = in_range(
        &format!("{field}.cache_size"),
        raw.cache_size,
        1000,
        0,
        100_000,
    )?;
    Ok(Exchange {
        endpoint,
        client,
        subject_token_type,
        from_headers,
        destinations,
        unmatched,
        cache_size: usize::try_from(cache_size).unwrap_or(usize::MAX),
    })
}

fn compile_destinations(
    raw: Vec<RawDestination>,
    node: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Destination>, ConfigError> {
    let field = "exchange.destinations";
    if raw.is_empty() {
        return fail(field, Problem::Empty);
    }
    if raw.len() > MAX_DESTINATIONS {
        return fail(
            field,
            Problem::TooMany {
                max: MAX_DESTINATIONS,
            },
        );
    }
    raw.into_iter()
        .enumerate()
        .map(|(index, entry)| compile_destination(&format!("{field}[{index}]"), entry, node))
        .collect()
}

fn compile_destination(
    field: &str,
    raw: RawDestination,
    node: &dyn Fn(&str) -> Option<String>,
) -> Result<Destination, ConfigError> {
    let matcher = match (raw.hosts, raw.clusters) {
        (Some(hosts), None) => Matcher::Hosts(
            names(&format!("{field}.hosts"), hosts)?
                .into_iter()
                .enumerate()
                .map(|(index, host)| {
                    valid_host(&host)
                        .then(|| host_name(&host))
                        .flatten()
                        .ok_or_else(|| ConfigError {
                            field: format!("{field}.hosts[{index}]"),
                            problem: Problem::InvalidHost,
                        })
                })
                .collect::<Result<_, _>>()?,
        ),
        (None, Some(clusters)) => {
            let clusters = names(&format!("{field}.clusters"), clusters)?;
            if let Some(index) = clusters
                .iter()
                .position(|name| name.contains(';') || name.chars().any(char::is_control))
            {
                return fail(format!("{field}.clusters[{index}]"), Problem::ClusterName);
            }
            Matcher::Clusters(clusters)
        }
        _ => return fail(field, Problem::DestinationMatch),
    };
    let prefix = raw.prefix.unwrap_or_else(|| "/".to_owned());
    if !prefix.starts_with('/') {
        return fail(format!("{field}.prefix"), Problem::InvalidPath);
    }
    let audience = match raw.audience {
        None => None,
        Some(text) => {
            let path = format!("{field}.audience");
            if text.is_empty() {
                return fail(path, Problem::Empty);
            }
            let filled = fill_node(&text, node).map_err(|error| ConfigError {
                field: path.clone(),
                problem: Problem::Placeholder(error),
            })?;
            Some(printable(&path, filled)?)
        }
    };
    let resource = match raw.resource {
        None => None,
        Some(text) if is_absolute_uri(&text) => Some(text),
        Some(_) => return fail(format!("{field}.resource"), Problem::NotAbsoluteUri),
    };
    if audience.is_none() && resource.is_none() {
        return fail(field, Problem::DestinationTarget);
    }
    let scope = match raw.scope {
        None => None,
        Some(text) if text.split(' ').all(|word| !word.is_empty()) => {
            Some(printable(&format!("{field}.scope"), text)?)
        }
        Some(_) => return fail(format!("{field}.scope"), Problem::BadValue),
    };
    Ok(Destination {
        matcher,
        prefix,
        audience,
        resource,
        scope,
        requires_token: raw.requires_token.unwrap_or(false),
    })
}

/// 1..16 non-empty names.
fn names(field: &str, names: Vec<String>) -> Result<Vec<String>, ConfigError> {
    if names.is_empty() {
        return fail(field, Problem::Empty);
    }
    if names.len() > MAX_DESTINATION_NAMES {
        return fail(
            field,
            Problem::TooMany {
                max: MAX_DESTINATION_NAMES,
            },
        );
    }
    if let Some(index) = names.iter().position(String::is_empty) {
        return fail(format!("{field}[{index}]"), Problem::Empty);
    }
    Ok(names)
}

/// A host name or address as `:authority` carries it: letters, digits, `-`,
/// `.`, `_`, or a bracketed IPv6 address; then perhaps `:port`.
fn valid_host(text: &str) -> bool {
    let host = match text.strip_prefix('[') {
        Some(v6) => {
            return v6.split_once(']').is_some_and(|(address, _)| {
                !address.is_empty()
                    && address
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
            })
        }
        None => text.rsplit_once(':').map_or(text, |(host, _)| host),
    };
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// `scheme:rest` with a scheme of RFC 3986 characters and no fragment, spaces or
/// control characters.
fn is_absolute_uri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    let mut scheme_bytes = scheme.bytes();
    scheme_bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && scheme_bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && !rest.is_empty()
        && !text.contains('#')
        && text.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
#[path = "exchange_tests.rs"]
mod tests;
