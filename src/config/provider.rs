//! One `providers[]` entry, raw → compiled: name, issuer, audiences, token places,
//! algorithms, times, outputs and the caller rule.

use jsonwebtoken::Algorithm;

use super::dpop::compile_dpop;
use super::error::{fail, in_range};
use super::introspection::compile_introspection;
use super::key_source::{compile_local, compile_remote};
use super::lookups::Lookups;
use super::raw::RawProvider;
use super::rules::{compile_claims, fill_audiences};
use super::step_up::compile_step_up;
use super::{ClaimToHeader, ConfigError, HeaderSource, KeySource, Problem, Provider};
use crate::policy::caller::CallerRule;
use crate::policy::placeholder::Allowed;
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

pub(super) fn compile_provider(
    field: &str,
    raw: RawProvider,
    lookups: &Lookups<'_>,
) -> Result<Provider, ConfigError> {
    let node = lookups.node;
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
    let keys = match (raw.remote_jwks, raw.local_jwks, raw.introspection) {
        (Some(remote), None, None) => KeySource::Remote(compile_remote(
            &format!("{field}.remote_jwks"),
            remote,
            &raw.issuer,
        )?),
        (None, Some(local), None) => KeySource::Local(compile_local(
            &format!("{field}.local_jwks"),
            &local,
            allow_hmac,
        )?),
        (None, None, Some(introspection)) => {
            if !token_types.is_empty() {
                return fail(
                    format!("{field}.token_types"),
                    Problem::TokenTypesWithIntrospection,
                );
            }
            KeySource::Introspection(compile_introspection(
                &format!("{field}.introspection"),
                introspection,
                lookups.env,
            )?)
        }
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
    let dpop = match raw.dpop {
        Some(dpop) => Some(compile_dpop(field, dpop, lookups.env)?),
        None => None,
    };
    // With `dpop`, the token also comes as `authorization: DPoP <token>`.
    let mut from_headers = from_headers;
    let dpop_source = HeaderSource {
        name: "authorization".into(),
        value_prefix: "DPoP ".into(),
    };
    if dpop.is_some() && !from_headers.contains(&dpop_source) {
        from_headers.push(dpop_source);
    }
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
        dpop,
        step_up: compile_step_up(field, raw.acr_values, raw.max_age_s)?,
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

pub(super) fn compile_header_sources(
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
