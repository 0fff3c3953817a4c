//! Raw configuration → validated [`Config`]: every range, name and reference of
//! the contract is checked here, once, at configure time.

use std::collections::BTreeMap;

use super::error::{fail, in_range, Expected};
use super::exchange::compile_exchange;
use super::lookups::Lookups;
use super::provider::compile_provider;
use super::raw::{RawConfig, RawMode};
use super::resource_metadata::{compile_cors_origins, compile_resource_metadata};
use super::rules::{compile_rule, Context};
use super::shape::shape_error;
use super::{Config, ConfigError, Mode, Problem, Provider, MAX_PROVIDERS, WOULD_REJECT_HEADER};
use crate::policy::requirement::{Demand, Requirement};

/// Parses the JSON text and validates it; `lookups` answers `${node.KEY}` and
/// the `*_env` secrets.
pub fn compile(bytes: &[u8], lookups: &Lookups<'_>) -> Result<Config, ConfigError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ConfigError {
        field: "configuration".into(),
        problem: Problem::NotUtf8,
    })?;
    not_an_object(text)?;
    let deserializer = &mut serde_json::Deserializer::from_str(text);
    let raw: RawConfig = serde_path_to_error::deserialize(deserializer).map_err(shape_error)?;
    compile_raw(raw, lookups)
}

/// A configuration that is JSON but not an object (the parser would read a list
/// as the object's fields in order).
fn not_an_object(text: &str) -> Result<(), ConfigError> {
    if text.trim_start().starts_with('{') {
        return Ok(());
    }
    let found = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(_)) => "a list",
        Ok(serde_json::Value::String(_)) => "a string",
        Ok(serde_json::Value::Number(_)) => "a number",
        Ok(serde_json::Value::Bool(_)) => "true or false",
        Ok(serde_json::Value::Null) => "null",
        // Not JSON, or an object after all: the parser says what is wrong.
        Ok(serde_json::Value::Object(_)) | Err(_) => return Ok(()),
    };
    fail(
        "configuration",
        Problem::WrongType {
            expected: Expected::Object,
            found: found.to_owned(),
        },
    )
}

/// What a request no rule matches needs: a token from any provider, except
/// that with several `introspection` providers none of them is asked (which
/// endpoint a token is for cannot be known): their tokens need a rule.
fn fallback(providers: &[Provider]) -> Requirement {
    let introspected = providers
        .iter()
        .filter(|provider| provider.introspection().is_some())
        .count();
    Requirement::Any(
        providers
            .iter()
            .enumerate()
            .filter(|(_, provider)| introspected < 2 || provider.introspection().is_none())
            .map(|(index, _)| Demand::of(index))
            .collect(),
    )
}

/// A requirement names at most one `introspection` provider, so a token is
/// never sent to an authorization server other than its own.
fn one_introspection(
    field: &str,
    requires: &Requirement,
    providers: &[Provider],
) -> Result<(), ConfigError> {
    let mut introspected = requires
        .demands()
        .iter()
        .filter_map(|demand| providers.get(demand.provider))
        .filter(|provider| provider.introspection().is_some());
    match (introspected.next(), introspected.next()) {
        (Some(first), Some(second)) => fail(
            field,
            Problem::TwoIntrospections(first.name.clone(), second.name.clone()),
        ),
        _ => Ok(()),
    }
}

fn compile_raw(raw: RawConfig, lookups: &Lookups<'_>) -> Result<Config, ConfigError> {
    let node = lookups.node;
    // `providers` may be left out (or empty) only when `exchange` is given.
    let raw_providers = match (raw.providers, &raw.exchange) {
        (None, None) => return fail("providers", Problem::NothingConfigured),
        (Some(list), None) if list.is_empty() => return fail("providers", Problem::Empty),
        (list, _) => list.unwrap_or_default(),
    };
    if raw_providers.len() > MAX_PROVIDERS {
        return fail("providers", Problem::TooMany { max: MAX_PROVIDERS });
    }
    let exchange = match raw.exchange {
        Some(raw) => Some(compile_exchange(raw, lookups)?),
        None => None,
    };
    let mut providers = Vec::with_capacity(raw_providers.len());
    let mut index_of = BTreeMap::new();
    for (index, raw_provider) in raw_providers.into_iter().enumerate() {
        let field = format!("providers[{index}]");
        let provider = compile_provider(&field, raw_provider, lookups)?;
        if index_of.insert(provider.name.clone(), index).is_some() {
            return fail(format!("{field}.name"), Problem::Duplicate(provider.name));
        }
        providers.push(provider);
    }
    let context = Context {
        index_of: &index_of,
        node,
    };
    let rules = match raw.rules {
        None => Vec::new(),
        Some(rules) => rules
            .into_iter()
            .enumerate()
            .map(|(index, rule)| compile_rule(&format!("rules[{index}]"), rule, &context))
            .collect::<Result<_, _>>()?,
    };
    for (index, rule) in rules.iter().enumerate() {
        one_introspection(
            &format!("rules[{index}].requires"),
            &rule.requires,
            &providers,
        )?;
    }
    let token_cache_size = in_range("token_cache_size", raw.token_cache_size, 1000, 0, 100_000)?;
    let mut output_headers = vec![WOULD_REJECT_HEADER.to_owned()];
    for provider in &providers {
        output_headers.extend(provider.forward_payload_header.iter().cloned());
        output_headers.extend(provider.claim_to_headers.iter().map(|c| c.header.clone()));
    }
    output_headers.sort();
    output_headers.dedup();
    let resource_metadata = raw
        .resource_metadata
        .map(|raw| compile_resource_metadata(raw, &providers, node))
        .transpose()?;
    let cors_origins = compile_cors_origins(raw.cors_origins)?;
    Ok(Config {
        resource_metadata,
        cors_origins,
        fallback: fallback(&providers),
        providers,
        rules,
        mode: match raw.mode {
            None | Some(RawMode::Enforce) => Mode::Enforce,
            Some(RawMode::Audit) => Mode::Audit,
        },
        token_cache_size: usize::try_from(token_cache_size).unwrap_or(usize::MAX),
        bypass_cors_preflight: raw.bypass_cors_preflight.unwrap_or(false),
        output_headers,
        exchange,
    })
}
