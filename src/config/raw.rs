//! The plugin configuration exactly as it arrives: serde shapes of the contract,
//! with unknown fields refused. Checking values and ranges is `compile`'s job.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// Top level of the plugin configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Left out only beside `exchange`; `null` is still refused as not a list.
    #[serde(default, deserialize_with = "present")]
    pub providers: Option<Vec<RawProvider>>,
    #[serde(default)]
    pub rules: Option<Vec<RawRule>>,
    #[serde(default)]
    pub mode: Option<RawMode>,
    #[serde(default)]
    pub token_cache_size: Option<u64>,
    #[serde(default)]
    pub bypass_cors_preflight: Option<bool>,
    #[serde(default)]
    pub exchange: Option<RawExchange>,
    #[serde(default)]
    pub resource_metadata: Option<RawResourceMetadata>,
    #[serde(default)]
    pub cors_origins: Option<Vec<String>>,
}

/// `resource_metadata`: what the resource publishes (RFC 9728).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResourceMetadata {
    pub resource: String,
    #[serde(default)]
    pub authorization_servers: Option<Vec<String>>,
    #[serde(default)]
    pub scopes_supported: Option<Vec<String>>,
    #[serde(default)]
    pub resource_name: Option<String>,
    #[serde(default)]
    pub resource_documentation: Option<String>,
}

/// `exchange`: outbound tokens swapped at a token service (RFC 8693).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExchange {
    pub token_endpoint: String,
    pub cluster: String,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret_env: Option<String>,
    #[serde(default)]
    pub subject_token_type: Option<String>,
    #[serde(default)]
    pub from_headers: Option<Vec<RawHeaderSource>>,
    pub destinations: Vec<RawDestination>,
    /// Read by the exchange compiler (its error names the three values).
    #[serde(default)]
    pub unmatched: Option<String>,
    #[serde(default)]
    pub cache_size: Option<u64>,
}

/// One `exchange.destinations` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDestination {
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
    #[serde(default)]
    pub clusters: Option<Vec<String>>,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub audience: Option<String>,
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub requires_token: Option<bool>,
}

/// A field that may be left out but, when given, must hold a `T` (not `null`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// `enforce` or `audit`.
#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum RawMode {
    Enforce,
    Audit,
}

/// One token issuer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    pub name: String,
    pub issuer: String,
    pub audiences: Vec<String>,
    #[serde(default)]
    pub remote_jwks: Option<RawRemoteJwks>,
    #[serde(default)]
    pub local_jwks: Option<Value>,
    #[serde(default)]
    pub introspection: Option<RawIntrospection>,
    #[serde(default)]
    pub from_headers: Option<Vec<RawHeaderSource>>,
    #[serde(default)]
    pub from_params: Option<Vec<String>>,
    #[serde(default)]
    pub from_cookies: Option<Vec<String>>,
    #[serde(default)]
    pub forward: Option<bool>,
    #[serde(default)]
    pub forward_payload_header: Option<String>,
    #[serde(default)]
    pub claim_to_headers: Option<Vec<RawClaimToHeader>>,
    #[serde(default)]
    pub clock_skew_s: Option<u64>,
    #[serde(default)]
    pub require_exp: Option<bool>,
    #[serde(default)]
    pub max_lifetime_s: Option<u64>,
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
    #[serde(default)]
    pub required_claims: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub token_types: Option<Vec<String>>,
    #[serde(default)]
    pub caller: Option<RawCaller>,
    #[serde(default)]
    pub dpop: Option<RawDpop>,
    #[serde(default)]
    pub acr_values: Option<Vec<String>>,
    #[serde(default)]
    pub max_age_s: Option<u64>,
}

/// `dpop`: tokens bound to a key the caller holds (RFC 9449).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDpop {
    #[serde(default)]
    pub required: Option<bool>,
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
    #[serde(default)]
    pub max_age_s: Option<u64>,
    #[serde(default)]
    pub replay_store_size: Option<u64>,
    #[serde(default)]
    pub origins: Option<Vec<String>>,
    #[serde(default)]
    pub nonce_secret_env: Option<String>,
    #[serde(default)]
    pub nonce_lifetime_s: Option<u64>,
}

/// `caller`: the token is bound to the workload that presents it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCaller {
    pub claim: String,
    #[serde(default)]
    pub require_certificate_binding: Option<bool>,
}

/// `introspection`: the endpoint that vouches for the provider's tokens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIntrospection {
    pub uri: String,
    pub cluster: String,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    pub client_id: String,
    #[serde(default)]
    pub client_secret_env: Option<String>,
    #[serde(default)]
    pub cache_duration_s: Option<u64>,
    #[serde(default)]
    pub inactive_cache_s: Option<u64>,
    #[serde(default)]
    pub max_pending: Option<u64>,
}

/// `remote_jwks`: where the key set is fetched from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRemoteJwks {
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub discovery: Option<bool>,
    pub cluster: String,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub cache_duration_s: Option<u64>,
}

/// One entry of `from_headers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeaderSource {
    pub name: String,
    #[serde(default)]
    pub value_prefix: Option<String>,
}

/// One entry of `claim_to_headers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClaimToHeader {
    pub claim: String,
    pub header: String,
}

/// One entry of `rules`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    #[serde(rename = "match")]
    pub matcher: RawMatch,
    /// Read by `compile_requires` (several shapes, with errors in the user's words).
    pub requires: Value,
    #[serde(default)]
    pub allow_missing: Option<bool>,
}

/// A rule's `match`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatch {
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub methods: Option<Vec<String>>,
}
