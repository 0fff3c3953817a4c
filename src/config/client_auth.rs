//! How the filter's client authenticates to an authorization server
//! (`exchange`, a provider's `introspection`), raw → compiled: `client_id`
//! alone (the cluster's client certificate authenticates it), or with a secret
//! read from the VM's environment (HTTP Basic), never from the configuration.

use super::error::fail;
use super::lookups::is_env_name;
use super::{ConfigError, Problem};
use crate::oauth::client_auth::ClientAuth;

/// `section.client_id` and `section.client_secret_env` (the variable read
/// through `env`), or neither.
pub(super) fn client_auth(
    section: &str,
    client_id: Option<String>,
    secret_env: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ClientAuth, ConfigError> {
    let id_field = format!("{section}.client_id");
    let client_id = match client_id {
        Some(id) if id.is_empty() => return fail(id_field, Problem::Empty),
        Some(id) => Some(printable(&id_field, id)?),
        None => None,
    };
    let Some(name) = secret_env else {
        return Ok(client_id.map_or(ClientAuth::None, ClientAuth::ClientId));
    };
    let field = format!("{section}.client_secret_env");
    if !is_env_name(&name) {
        return fail(field, Problem::EnvName);
    }
    let Some(client_id) = client_id else {
        return fail(field, Problem::SecretWithoutClientId);
    };
    match env(&name) {
        Some(secret) if !secret.is_empty() => Ok(ClientAuth::Basic { client_id, secret }),
        _ => fail(field, Problem::EnvMissing(name)),
    }
}

/// `text` when it has no control character (it goes into a form field).
pub(super) fn printable(field: &str, text: String) -> Result<String, ConfigError> {
    if text.chars().any(char::is_control) {
        return fail(field, Problem::ControlCharacter);
    }
    Ok(text)
}
