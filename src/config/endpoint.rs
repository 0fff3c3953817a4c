//! An authorization server's endpoint, raw → compiled: its URI (`uri_field`),
//! its cluster and its timeout, each checked under `section`.

use std::time::Duration;

use super::error::{fail, in_range};
use super::{ConfigError, Problem};
use crate::keys::discovery::split_uri;
use crate::oauth::endpoint::Endpoint;

/// `section.uri_field` (`uri`), `section.cluster` and `section.timeout_ms`
/// (1..60000, default 2000).
pub(super) fn compile_endpoint(
    section: &str,
    uri_field: &str,
    uri: String,
    cluster: String,
    timeout_ms: Option<u64>,
) -> Result<Endpoint, ConfigError> {
    let Some((authority, path)) = split_uri(&uri) else {
        return fail(format!("{section}.{uri_field}"), Problem::InvalidUri);
    };
    if cluster.is_empty() {
        return fail(format!("{section}.cluster"), Problem::Empty);
    }
    let timeout_ms = in_range(
        &format!("{section}.timeout_ms"),
        timeout_ms,
        2000,
        1,
        60_000,
    )?;
    Ok(Endpoint {
        uri,
        authority,
        path,
        cluster,
        timeout: Duration::from_millis(timeout_ms),
    })
}
