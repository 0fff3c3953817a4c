//! A provider's keys, raw → compiled: `remote_jwks` (a URI, or OpenID discovery
//! from the issuer) or `local_jwks` inline.

use serde_json::Value;

use super::error::{fail, in_range};
use super::raw::RawRemoteJwks;
use super::{ConfigError, Problem, RemoteJwks};
use crate::keys::discovery::{discovery_uri, split_uri};
use crate::keys::jwks::{parse_jwks, Origin};

pub(super) fn compile_remote(
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

pub(super) fn compile_local(
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
