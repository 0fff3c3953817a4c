//! Raw configuration → validated [`Config`]: every range, name and reference of
//! the contract is checked here, once, at configure time.

use std::collections::BTreeMap;

use super::error::{fail, in_range};
use super::provider::compile_provider;
use super::raw::{RawConfig, RawMode};
use super::rules::{compile_rule, Context};
use super::shape::shape_error;
use super::{Config, ConfigError, Mode, Problem, MAX_PROVIDERS, WOULD_REJECT_HEADER};
use crate::policy::requirement::{Demand, Requirement};

/// Parses the JSON text and validates it; `node` answers `${node.KEY}`.
pub fn compile(bytes: &[u8], node: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ConfigError {
        field: "configuration".into(),
        problem: Problem::NotUtf8,
    })?;
    let deserializer = &mut serde_json::Deserializer::from_str(text);
    let raw: RawConfig = serde_path_to_error::deserialize(deserializer).map_err(shape_error)?;
    compile_raw(raw, node)
}

fn compile_raw(
    raw: RawConfig,
    node: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    if raw.providers.is_empty() {
        return fail("providers", Problem::Empty);
    }
    if raw.providers.len() > MAX_PROVIDERS {
        return fail("providers", Problem::TooMany { max: MAX_PROVIDERS });
    }
    let mut providers = Vec::with_capacity(raw.providers.len());
    let mut index_of = BTreeMap::new();
    for (index, raw_provider) in raw.providers.into_iter().enumerate() {
        let field = format!("providers[{index}]");
        let provider = compile_provider(&field, raw_provider, node)?;
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
    let token_cache_size = in_range("token_cache_size", raw.token_cache_size, 1000, 0, 100_000)?;
    let mut output_headers = vec![WOULD_REJECT_HEADER.to_owned()];
    for provider in &providers {
        output_headers.extend(provider.forward_payload_header.iter().cloned());
        output_headers.extend(provider.claim_to_headers.iter().map(|c| c.header.clone()));
    }
    output_headers.sort();
    output_headers.dedup();
    Ok(Config {
        fallback: Requirement::Any((0..providers.len()).map(Demand::of).collect()),
        providers,
        rules,
        mode: match raw.mode {
            None | Some(RawMode::Enforce) => Mode::Enforce,
            Some(RawMode::Audit) => Mode::Audit,
        },
        token_cache_size: usize::try_from(token_cache_size).unwrap_or(usize::MAX),
        bypass_cors_preflight: raw.bypass_cors_preflight.unwrap_or(false),
        output_headers,
    })
}
