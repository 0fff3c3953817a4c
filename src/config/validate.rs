//! Raw configuration → validated [`Config`]: every range, name and reference of
//! the contract is checked here, once, at configure time.

use std::collections::BTreeMap;

use jsonwebtoken::Algorithm;
use serde_json::Value;

use super::error::{fail, Expected};
use super::raw::{RawConfig, RawMode, RawProvider, RawRemoteJwks};
use super::rules::{compile_claims, compile_rule, fill_audiences, Context};
use super::{
    ClaimToHeader, Config, ConfigError, HeaderSource, KeySource, Mode, Problem, Provider,
    RemoteJwks, MAX_PROVIDERS, WOULD_REJECT_HEADER,
};
use crate::keys::discovery::{discovery_uri, split_uri};
use crate::keys::jwks::{parse_jwks, Origin};
use crate::policy::caller::CallerRule;
use crate::policy::placeholder::Allowed;
use crate::policy::requirement::{Demand, Requirement};
use crate::request::tchar::is_tchar;
use crate::token::claims::TimeRules;

const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Most `token_types` of one provider.
const MAX_TOKEN_TYPES: usize = 8;

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

/// A parser error in the user's words: the field's path and what it takes,
/// without the parser's type names. Line and column only for text that is not
/// JSON at all (a field's path says where, and for YAML turned into JSON the
/// parser's positions would point into text the user never wrote).
fn shape_error(error: serde_path_to_error::Error<serde_json::Error>) -> ConfigError {
    let path = error.path().to_string();
    let inner = error.into_inner();
    let full = inner.to_string();
    let position = format!(" at line {} column {}", inner.line(), inner.column());
    let message = full.strip_suffix(&position).unwrap_or(&full);
    let at = |name: &str| match path.as_str() {
        "." | "?" => name.to_owned(),
        parent => format!("{parent}.{name}"),
    };
    let here = match path.as_str() {
        "." | "?" => "configuration".to_owned(),
        field => field.to_owned(),
    };
    let fail = |field: String, problem| ConfigError { field, problem };
    let in_mode = here == "mode" || here.starts_with("mode.");
    // The parser calls a number or a list where `mode` is wanted a syntax
    // error ("expected value"); any other is one, and its position is right.
    if (inner.is_syntax() || inner.is_eof()) && !(in_mode && message == "expected value") {
        return fail("configuration".into(), Problem::NotJson(full));
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        return fail(at(&quoted_names(rest).concat()), Problem::Required);
    }
    if let Some(rest) = message.strip_prefix("duplicate field ") {
        return fail(at(&quoted_names(rest).concat()), Problem::DuplicateField);
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let mut names = quoted_names(rest).into_iter();
        let name = names.next().unwrap_or_default();
        let known = names.collect();
        return fail(here, Problem::NoSuchField { name, known });
    }
    if in_mode {
        let found = match message.strip_prefix("unknown variant ") {
            _ if here != "mode" => Some("an object".to_owned()),
            Some(rest) => quoted_names(rest)
                .first()
                .map(|name| cut(format!("the string {name:?}"))),
            None => None,
        };
        return fail("mode".into(), Problem::Mode(found));
    }
    if message.starts_with("invalid length ") {
        let found = "a list".to_owned();
        return fail(
            here,
            Problem::WrongType {
                expected: Expected::Object,
                found,
            },
        );
    }
    if let Some((found, expected)) = message
        .strip_prefix("invalid value: ")
        .and_then(|rest| split_last(rest, ", expected "))
    {
        let problem = match (unexpected_words(found), expected) {
            (words, "u64") if words.starts_with("the number -") => Problem::Negative(
                words
                    .strip_prefix("the number ")
                    .unwrap_or(&words)
                    .to_owned(),
            ),
            _ => Problem::BadValue,
        };
        return fail(here, problem);
    }
    if let Some((found, expected)) = message
        .strip_prefix("invalid type: ")
        .and_then(|rest| split_last(rest, ", expected "))
    {
        let expected = match expected {
            "a map" => Some(Expected::Object),
            "a sequence" => Some(Expected::List),
            "a string" => Some(Expected::String),
            "a boolean" => Some(Expected::Bool),
            "u64" | "u32" | "usize" => Some(Expected::WholeNumber),
            other if other.starts_with("struct ") => Some(Expected::Object),
            _ => None,
        };
        if let Some(expected) = expected {
            let found = unexpected_words(found);
            return fail(here, Problem::WrongType { expected, found });
        }
    }
    fail(here, Problem::BadValue)
}

/// `text` split around the last `needle`.
fn split_last<'t>(text: &'t str, needle: &str) -> Option<(&'t str, &'t str)> {
    let at = text
        .as_bytes()
        .windows(needle.len())
        .rposition(|window| window == needle.as_bytes())?;
    Some((text.get(..at)?, text.get(at.checked_add(needle.len())?..)?))
}

/// The names between backquotes in a parser message: `` `a`, `b` or `c` ``.
fn quoted_names(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// A parser's description of a value (`` integer `5` ``, `string "x"`, `map`)
/// in words: `the number 5`, `the string "x"`, `an object`.
fn unexpected_words(text: &str) -> String {
    let inner = |rest: &str| rest.replace('`', "");
    let words = if let Some(rest) = text.strip_prefix("string ") {
        format!("the string {rest}")
    } else if let Some(rest) = text
        .strip_prefix("integer ")
        .or_else(|| text.strip_prefix("floating point "))
    {
        format!("the number {}", inner(rest))
    } else if let Some(rest) = text.strip_prefix("boolean ") {
        inner(rest)
    } else {
        match text {
            "sequence" => "a list".into(),
            "map" => "an object".into(),
            "null" | "unit" => "null".into(),
            other => other.replace('`', ""),
        }
    };
    cut(words)
}

/// At most about 60 bytes of a value's words.
fn cut(words: String) -> String {
    match words.get(..57) {
        Some(head) if words.len() > 60 => format!("{head}..."),
        _ => words,
    }
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

fn in_range(
    field: &str,
    value: Option<u64>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let value = value.unwrap_or(default);
    if value < min || value > max {
        return fail(field, Problem::OutOfRange { min, max });
    }
    Ok(value)
}

fn compile_provider(
    field: &str,
    raw: RawProvider,
    node: &dyn Fn(&str) -> Option<String>,
) -> Result<Provider, ConfigError> {
    if !valid_provider_name(&raw.name) {
        return fail(format!("{field}.name"), Problem::InvalidName);
    }
    if raw.issuer.is_empty() {
        return fail(format!("{field}.issuer"), Problem::Empty);
    }
    let audiences = fill_audiences(&format!("{field}.audiences"), raw.audiences, node)?;
    let token_types = compile_token_types(field, raw.token_types)?;
    let algorithms = compile_algorithms(field, raw.algorithms)?;
    let allow_hmac = algorithms
        .iter()
        .any(|alg| matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512));
    let keys = match (raw.remote_jwks, raw.local_jwks) {
        (Some(remote), None) => KeySource::Remote(compile_remote(
            &format!("{field}.remote_jwks"),
            remote,
            &raw.issuer,
        )?),
        (None, Some(local)) => KeySource::Local(compile_local(
            &format!("{field}.local_jwks"),
            &local,
            allow_hmac,
        )?),
        _ => return fail(field, Problem::KeySource),
    };
    let from_headers = compile_header_sources(field, raw.from_headers)?;
    let from_params = non_empty_names(&format!("{field}.from_params"), raw.from_params)?;
    let from_cookies = non_empty_names(&format!("{field}.from_cookies"), raw.from_cookies)?;
    if from_headers.is_empty() && from_params.is_empty() && from_cookies.is_empty() {
        return fail(field, Problem::NoTokenSource);
    }
    let forward_payload_header = raw
        .forward_payload_header
        .map(|name| header_name(&format!("{field}.forward_payload_header"), &name))
        .transpose()?;
    let claim_to_headers = raw
        .claim_to_headers
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(index, entry)| {
            let path = format!("{field}.claim_to_headers[{index}]");
            if entry.claim.is_empty() {
                return fail(format!("{path}.claim"), Problem::Empty);
            }
            Ok(ClaimToHeader {
                claim: entry.claim,
                header: header_name(&format!("{path}.header"), &entry.header)?,
            })
        })
        .collect::<Result<_, _>>()?;
    let clock_skew_s = in_range(
        &format!("{field}.clock_skew_s"),
        raw.clock_skew_s,
        60,
        0,
        300,
    )?;
    let max_lifetime_s = match raw.max_lifetime_s {
        Some(0) => {
            return fail(
                format!("{field}.max_lifetime_s"),
                Problem::OutOfRange {
                    min: 1,
                    max: u64::MAX,
                },
            )
        }
        other => other,
    };
    let caller = raw
        .caller
        .map(|caller| {
            if caller.claim.is_empty() {
                return fail(format!("{field}.caller.claim"), Problem::Empty);
            }
            Ok(CallerRule {
                claim: caller.claim,
                require_certificate_binding: caller.require_certificate_binding.unwrap_or(false),
            })
        })
        .transpose()?;
    let literal = Allowed {
        path: false,
        header: false,
    };
    let required_claims = compile_claims(
        &format!("{field}.required_claims"),
        raw.required_claims.iter().flatten(),
        literal,
    )?;
    Ok(Provider {
        name: raw.name,
        issuer: raw.issuer,
        audiences,
        token_types,
        keys,
        from_headers,
        from_params,
        from_cookies,
        forward: raw.forward.unwrap_or(false),
        forward_payload_header,
        claim_to_headers,
        times: TimeRules {
            clock_skew_s,
            require_exp: raw.require_exp.unwrap_or(true),
            max_lifetime_s,
        },
        algorithms,
        required_claims,
        caller,
    })
}

/// `token_types`: 1..8 non-empty names, kept as compared (lowercase, without an
/// `application/` prefix).
fn compile_token_types(field: &str, raw: Option<Vec<String>>) -> Result<Vec<String>, ConfigError> {
    let Some(names) = raw else {
        return Ok(Vec::new());
    };
    let path = format!("{field}.token_types");
    if names.is_empty() {
        return fail(path, Problem::Empty);
    }
    if names.len() > MAX_TOKEN_TYPES {
        return fail(
            path,
            Problem::TooMany {
                max: MAX_TOKEN_TYPES,
            },
        );
    }
    names
        .iter()
        .enumerate()
        .map(|(index, name)| match crate::token::typ::normalized(name) {
            Some(normal) => Ok(normal),
            None => fail(format!("{path}[{index}]"), Problem::Empty),
        })
        .collect()
}

fn valid_provider_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name != "none"
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn compile_algorithms(
    field: &str,
    raw: Option<Vec<String>>,
) -> Result<Vec<Algorithm>, ConfigError> {
    let Some(names) = raw else {
        return Ok(ASYMMETRIC.to_vec());
    };
    if names.is_empty() {
        return fail(format!("{field}.algorithms"), Problem::Empty);
    }
    let mut algorithms = Vec::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        let path = format!("{field}.algorithms[{index}]");
        if name.eq_ignore_ascii_case("none") {
            return fail(path, Problem::AlgorithmNone);
        }
        match crate::keys::jwks::algorithm_named(name) {
            Some(alg) => algorithms.push(alg),
            None => return fail(path, Problem::UnknownAlgorithm(name.clone())),
        }
    }
    Ok(algorithms)
}

fn compile_remote(
    field: &str,
    raw: RawRemoteJwks,
    issuer: &str,
) -> Result<RemoteJwks, ConfigError> {
    let discovery = raw.discovery.unwrap_or(false);
    let uri = match (raw.uri, discovery) {
        (Some(uri), false) => uri,
        (None, true) => discovery_uri(issuer),
        (Some(_), true) => return fail(format!("{field}.uri"), Problem::UriWithDiscovery),
        (None, false) => return fail(format!("{field}.uri"), Problem::Required),
    };
    let (authority, path) = split_uri(&uri).ok_or_else(|| ConfigError {
        field: if discovery {
            format!("{field}.discovery")
        } else {
            format!("{field}.uri")
        },
        problem: if discovery {
            Problem::IssuerNotUri
        } else {
            Problem::InvalidUri
        },
    })?;
    if raw.cluster.is_empty() {
        return fail(format!("{field}.cluster"), Problem::Empty);
    }
    Ok(RemoteJwks {
        authority,
        path,
        cluster: raw.cluster,
        timeout_ms: in_range(
            &format!("{field}.timeout_ms"),
            raw.timeout_ms,
            2000,
            1,
            60_000,
        )?,
        cache_duration_s: in_range(
            &format!("{field}.cache_duration_s"),
            raw.cache_duration_s,
            300,
            1,
            86_400,
        )?,
        uri,
        discovery,
    })
}

fn compile_local(
    field: &str,
    raw: &Value,
    allow_hmac: bool,
) -> Result<crate::keys::jwks::KeySet, ConfigError> {
    let parsed_text;
    let value = match raw {
        Value::String(text) => {
            parsed_text = serde_json::from_str::<Value>(text).map_err(|_| ConfigError {
                field: field.into(),
                problem: Problem::Jwks(crate::keys::jwks::JwksError::NotJson),
            })?;
            &parsed_text
        }
        other => other,
    };
    let parsed = parse_jwks(value, Origin::Local { allow_hmac }).map_err(|error| ConfigError {
        field: field.into(),
        problem: Problem::Jwks(error),
    })?;
    if parsed.set.is_empty() {
        return fail(field, Problem::NoUsableKey(parsed.skipped));
    }
    Ok(parsed.set)
}

fn compile_header_sources(
    field: &str,
    raw: Option<Vec<super::raw::RawHeaderSource>>,
) -> Result<Vec<HeaderSource>, ConfigError> {
    let Some(sources) = raw else {
        return Ok(vec![HeaderSource {
            name: "authorization".into(),
            value_prefix: "Bearer ".into(),
        }]);
    };
    sources
        .into_iter()
        .enumerate()
        .map(|(index, source)| {
            Ok(HeaderSource {
                name: header_name(&format!("{field}.from_headers[{index}].name"), &source.name)?,
                value_prefix: source.value_prefix.unwrap_or_default(),
            })
        })
        .collect()
}

fn non_empty_names(field: &str, raw: Option<Vec<String>>) -> Result<Vec<String>, ConfigError> {
    let names = raw.unwrap_or_default();
    if let Some(index) = names.iter().position(String::is_empty) {
        return fail(format!("{field}[{index}]"), Problem::Empty);
    }
    Ok(names)
}

/// A request header name: an HTTP token, not a pseudo-header; returned lowercase.
fn header_name(field: &str, name: &str) -> Result<String, ConfigError> {
    let token = !name.is_empty() && name.bytes().all(is_tchar);
    if !token {
        return fail(field, Problem::InvalidHeaderName);
    }
    Ok(name.to_ascii_lowercase())
}
