//! Lists of origins (`scheme://host[:port]`), raw → normalised as RFC 3986
//! §6.2.2–6.2.3 say (lowercase scheme and host, no default port): `dpop.origins`
//! and `cors_origins`.

use super::error::fail;
use super::{ConfigError, Problem};
use crate::token::dpop::htu::normalise;

/// Each origin of `field` (1..`max` of them) normalised, without the `/` of its
/// empty path.
pub(super) fn origins(
    field: &str,
    list: Vec<String>,
    max: usize,
) -> Result<Vec<String>, ConfigError> {
    if list.is_empty() {
        return fail(field, Problem::Empty);
    }
    if list.len() > max {
        return fail(field, Problem::TooMany { max });
    }
    let mut origins = Vec::with_capacity(list.len());
    for (index, origin) in list.iter().enumerate() {
        let path = format!("{field}[{index}]");
        // Scheme and authority, and at most the `/` of an empty path.
        let (_, after_scheme) = origin.split_once("://").unwrap_or_default();
        let beyond = after_scheme
            .find(['/', '?', '#'])
            .and_then(|at| after_scheme.get(at..));
        let has_more = beyond.is_some_and(|rest| rest != "/");
        let normalised = normalise(origin).filter(|_| !has_more);
        match normalised.as_deref().and_then(|uri| uri.strip_suffix('/')) {
            Some(bare) => origins.push(bare.to_owned()),
            None => return fail(path, Problem::NotAnOrigin),
        }
    }
    Ok(origins)
}
