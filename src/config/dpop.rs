//! A provider's `dpop` section, raw → compiled: the proof's algorithms and
//! window, the replay store's size, the origins `htu` may name, and server
//! nonces (their secret read from the VM's environment, never from the
//! configuration).

use jsonwebtoken::Algorithm;

use super::error::{fail, in_range};
use super::lookups::is_env_name;
use super::origins::origins;
use super::raw::RawDpop;
use super::{ConfigError, Problem};
use crate::keys::jwks::algorithm_named;
use crate::token::dpop::nonce::Nonces;
use crate::token::dpop::settings::{Dpop, DEFAULT_ALGORITHMS};

/// Most `dpop.algorithms` and `dpop.origins`.
const MAX_ENTRIES: usize = 8;
/// Shortest nonce secret, in bytes.
pub const MIN_NONCE_SECRET_BYTES: usize = 32;

pub(super) fn compile_dpop(
    provider: &str,
    raw: RawDpop,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Dpop, ConfigError> {
    let field = format!("{provider}.dpop");
    let algorithms = algorithms(&field, raw.algorithms)?;
    let max_age_s = in_range(&format!("{field}.max_age_s"), raw.max_age_s, 60, 1, 600)?;
    let replay_store_size = in_range(
        &format!("{field}.replay_store_size"),
        raw.replay_store_size,
        100_000,
        1000,
        1_000_000,
    )?;
    let origins = match raw.origins {
        None => None,
        Some(list) => Some(origins(&format!("{field}.origins"), list, MAX_ENTRIES)?),
    };
    let lifetime_s = in_range(
        &format!("{field}.nonce_lifetime_s"),
        raw.nonce_lifetime_s,
        300,
        10,
        3600,
    )?;
    let nonces = match raw.nonce_secret_env {
        None => None,
        Some(name) => Some(nonces(&field, &name, lifetime_s, env)?),
    };
    Ok(Dpop {
        required: raw.required.unwrap_or(false),
        algs: Dpop::algs_of(&algorithms),
        algorithms,
        max_age_s: i64::try_from(max_age_s).unwrap_or(60),
        replay_store_size: usize::try_from(replay_store_size).unwrap_or(100_000),
        origins,
        nonces,
    })
}

/// The proof's allow-list: known asymmetric algorithms (`Ed25519` is `EdDSA`).
fn algorithms(field: &str, raw: Option<Vec<String>>) -> Result<Vec<Algorithm>, ConfigError> {
    let Some(names) = raw else {
        return Ok(DEFAULT_ALGORITHMS.to_vec());
    };
    let field = format!("{field}.algorithms");
    if names.is_empty() {
        return fail(field, Problem::Empty);
    }
    if names.len() > MAX_ENTRIES {
        return fail(field, Problem::TooMany { max: MAX_ENTRIES });
    }
    let mut algorithms = Vec::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        let path = format!("{field}[{index}]");
        if name.eq_ignore_ascii_case("none") {
            return fail(path, Problem::AlgorithmNone);
        }
        match algorithm_named(name) {
            Some(Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) => {
                return fail(path, Problem::SymmetricProof(name.clone()))
            }
            Some(alg) if !algorithms.contains(&alg) => algorithms.push(alg),
            Some(_) => {}
            None => return fail(path, Problem::UnknownAlgorithm(name.clone())),
        }
    }
    Ok(algorithms)
}

/// Nonces under the secret in environment variable `name`.
fn nonces(
    field: &str,
    name: &str,
    lifetime_s: u64,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Nonces, ConfigError> {
    let field = format!("{field}.nonce_secret_env");
    if !is_env_name(name) {
        return fail(field, Problem::EnvName);
    }
    let Some(secret) = env(name).filter(|secret| !secret.is_empty()) else {
        return fail(field, Problem::EnvMissing(name.to_owned()));
    };
    if secret.len() < MIN_NONCE_SECRET_BYTES {
        return fail(
            field,
            Problem::SecretTooShort {
                name: name.to_owned(),
                min: MIN_NONCE_SECRET_BYTES,
            },
        );
    }
    let lifetime_s = u32::try_from(lifetime_s).unwrap_or(300);
    Ok(Nonces::new(secret.into_bytes(), lifetime_s))
}

#[cfg(test)]
#[path = "dpop_tests.rs"]
mod tests;
