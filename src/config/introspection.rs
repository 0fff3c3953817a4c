//! A provider's `introspection`, raw → compiled: the endpoint and its cluster,
//! the client's authentication (its secret from the VM's environment), how long
//! answers are reused and how many callouts may be under way per worker.

use super::client_auth::client_auth;
use super::endpoint::compile_endpoint;
use super::error::in_range;
use super::raw::RawIntrospection;
use super::ConfigError;
use crate::keys::introspection::lifetime::Reuse;
use crate::keys::introspection::settings::Introspection;

pub(super) fn compile_introspection(
    field: &str,
    raw: RawIntrospection,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Introspection, ConfigError> {
    let endpoint = compile_endpoint(field, "uri", raw.uri, raw.cluster, raw.timeout_ms)?;
    let client = client_auth(field, Some(raw.client_id), raw.client_secret_env, env)?;
    let seconds = |name: &str, value, default, min, max| {
        in_range(&format!("{field}.{name}"), value, default, min, max)
            .map(|value| i64::try_from(value).unwrap_or(i64::MAX))
    };
    let reuse = Reuse {
        active_s: seconds("cache_duration_s", raw.cache_duration_s, 60, 1, 3600)?,
        inactive_s: seconds("inactive_cache_s", raw.inactive_cache_s, 5, 0, 60)?,
    };
    let max_pending = in_range(
        &format!("{field}.max_pending"),
        raw.max_pending,
        64,
        1,
        10_000,
    )?;
    Ok(Introspection {
        endpoint,
        client,
        reuse,
        max_pending: usize::try_from(max_pending).unwrap_or(usize::MAX),
    })
}
