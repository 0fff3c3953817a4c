//! One token against one provider, cheapest checks first: parse, algorithm,
//! audience, issuer, times (no key touched yet), then key lookup, signature and
//! required claims.

use jsonwebtoken::Algorithm;

use crate::claims::{check_audience, check_issuer, check_required, check_times};
use crate::config::Provider;
use crate::jwks::{KeySet, Selection};
use crate::rejection::Rejection;
use crate::token::{self, Token};
use crate::verify::SignatureBackend;

/// A token that passed every check of its provider.
#[derive(Debug)]
pub struct Verified<'a> {
    /// The decoded token.
    pub token: Token<'a>,
}

/// Checks `raw` against `provider`. `keys` yields the provider's key set (`None`
/// when not available); it is only called once every key-free check has passed.
pub fn authenticate<'a, 'k>(
    provider: &Provider,
    raw: &'a str,
    keys: impl FnOnce() -> Option<&'k KeySet>,
    signatures: &dyn SignatureBackend,
    now: i64,
) -> Result<Verified<'a>, Rejection> {
    let token = token::parse(raw).map_err(Rejection::Malformed)?;
    let alg = allowed_algorithm(provider, &token.header.alg)?;
    check_audience(&token.claims, &provider.audiences)?;
    check_issuer(&token.claims, &provider.issuer)?;
    check_times(&token.claims, provider.times, now)?;

    let keys = keys().ok_or(Rejection::KeysUnavailable)?;
    let candidates = match keys.select(token.header.kid.as_deref(), alg) {
        Selection::Keys(candidates) => candidates,
        Selection::UnknownKid => return Err(Rejection::UnknownKid),
        Selection::NoKeyForAlgorithm => return Err(Rejection::AlgorithmNotAllowed),
    };
    let input = token.signing_input.as_bytes();
    let signed = candidates
        .into_iter()
        .any(|key| signatures.verify(key, alg, input, &token.signature));
    if !signed {
        return Err(Rejection::BadSignature);
    }
    check_required(&token.claims, &provider.required_claims)?;
    Ok(Verified { token })
}

/// The token's `alg`, if it is a known algorithm on the provider's allow-list.
/// `none`, in any spelling, is never on it.
fn allowed_algorithm(provider: &Provider, name: &str) -> Result<Algorithm, Rejection> {
    let alg: Algorithm = name.parse().map_err(|_| Rejection::AlgorithmNotAllowed)?;
    if provider.algorithms.contains(&alg) {
        Ok(alg)
    } else {
        Err(Rejection::AlgorithmNotAllowed)
    }
}
