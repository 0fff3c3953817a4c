//! The plugin configuration (docs/configuration.md is its reference): parsed, validated and
//! compiled once at configure time into [`Config`], or refused with a
//! [`ConfigError`] that names the offending field.

mod client_auth;
mod dpop;
mod endpoint;
mod error;
mod exchange;
mod introspection;
mod key_source;
mod lookups;
mod origins;
mod provider;
mod raw;
mod resource_metadata;
mod rules;
mod shape;
mod step_up;
mod validate;

use jsonwebtoken::Algorithm;

use crate::exchange::settings::Exchange;
pub use crate::keys::discovery::{discovery_uri, split_uri};
use crate::keys::remote_sets::RemoteProvider;
pub use crate::token::extract::HeaderSource;
use crate::token::extract::TokenSources;
pub use error::{ConfigError, Problem};
pub use exchange::{MAX_DESTINATIONS, MAX_DESTINATION_NAMES};
pub use lookups::Lookups;

use crate::keys::jwks::KeySet;
use crate::policy::caller::CallerRule;
use crate::policy::claim_rule::ClaimRequirement;
use crate::policy::{Requirement, Rule};
use crate::token::claims::TimeRules;
use crate::token::dpop::settings::Dpop;

/// Header audit mode sets on a request it would have rejected.
pub const WOULD_REJECT_HEADER: &str = "x-audgate-would-reject";
/// Most providers in one configuration.
pub const MAX_PROVIDERS: usize = 16;
/// Most audiences of one provider.
pub const MAX_PROVIDER_AUDIENCES: usize = 32;

/// A validated plugin configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Token issuers, in configuration order.
    pub providers: Vec<Provider>,
    /// Route rules, first match wins.
    pub rules: Vec<Rule>,
    /// What applies when no rule matches: a token from any provider.
    pub fallback: Requirement,
    /// Enforce or only report. Defaults to enforce.
    pub mode: Mode,
    /// Verified tokens remembered per worker; 0 is off. Defaults to 1000.
    pub token_cache_size: usize,
    /// Let CORS preflight requests through without a token. Defaults to false.
    pub bypass_cors_preflight: bool,
    /// Request headers the filter writes; any copy a client sent is removed first.
    pub output_headers: Vec<String>,
    /// Outbound token exchange, when configured.
    pub exchange: Option<Exchange>,
    /// The protected resource metadata this resource publishes (RFC 9728).
    pub resource_metadata: Option<ResourceMetadata>,
    /// Origins allowed to read the filter's own refusals (normalised).
    pub cors_origins: Vec<String>,
}

use crate::policy::step_up::StepUp;
pub use crate::resource::metadata::ResourceMetadata;

/// Whether rejections are enforced or only reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Rejected requests get their 401/403/503.
    Enforce,
    /// Rejected requests go upstream marked with `x-audgate-would-reject`.
    Audit,
}

impl Mode {
    /// Its name in the configuration: `enforce` or `audit`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit",
        }
    }
}

/// One token issuer, validated.
#[derive(Debug, Clone)]
pub struct Provider {
    /// Name used in rules, logs and stats.
    pub name: String,
    /// The exact `iss` its tokens carry.
    pub issuer: String,
    /// The receiving service's own identifiers; `aud` must name one.
    pub audiences: Vec<String>,
    /// Accepted JOSE header `typ` values, normalised (lowercase, no
    /// `application/`); empty: not checked.
    pub token_types: Vec<String>,
    /// Where its keys come from.
    pub keys: KeySource,
    /// Headers the token is looked for in.
    pub from_headers: Vec<HeaderSource>,
    /// Query parameters the token is looked for in.
    pub from_params: Vec<String>,
    /// Cookies the token is looked for in.
    pub from_cookies: Vec<String>,
    /// Keep the token in the request that goes upstream. Defaults to false.
    pub forward: bool,
    /// Header that receives the verified payload (base64url, no padding).
    pub forward_payload_header: Option<String>,
    /// Claims copied into request headers.
    pub claim_to_headers: Vec<ClaimToHeader>,
    /// `exp`, `nbf` and lifetime rules.
    pub times: TimeRules,
    /// Algorithms accepted; by default every asymmetric one the key allows.
    pub algorithms: Vec<Algorithm>,
    /// Claims the token must hold.
    pub required_claims: Vec<ClaimRequirement>,
    /// The token must be the downstream TLS peer's; `None`: not checked (a `cnf`
    /// certificate binding is checked whenever a token has one).
    pub caller: Option<CallerRule>,
    /// DPoP-bound tokens and their proofs (RFC 9449); `None`: a token bound
    /// with `cnf.jkt` is refused (reason `caller`).
    pub dpop: Option<Dpop>,
    /// How the user must have authenticated (RFC 9470); a route may ask
    /// otherwise.
    pub step_up: Option<StepUp>,
}

/// Where a provider's keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// Keys given inline, read at configure time.
    Local(KeySet),
    /// Keys fetched by an HTTP callout.
    Remote(RemoteJwks),
    /// No keys: each token is vouched for by an introspection endpoint.
    Introspection(Introspection),
}

pub use crate::keys::introspection::settings::Introspection;

/// A validated `remote_jwks`: the key server the key sets fetch from.
pub use crate::keys::remote_sets::KeyServer as RemoteJwks;

/// One `claim_to_headers` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimToHeader {
    /// Top-level claim name.
    pub claim: String,
    /// Request header it is copied to, lowercase.
    pub header: String,
}

impl Config {
    /// Each provider's remote keys as the key sets see them (`None`: local keys).
    pub fn remote_providers(&self) -> Vec<Option<RemoteProvider>> {
        self.providers
            .iter()
            .map(|provider| match &provider.keys {
                KeySource::Local(_) | KeySource::Introspection(_) => None,
                KeySource::Remote(server) => Some(RemoteProvider {
                    name: provider.name.clone(),
                    issuer: provider.issuer.clone(),
                    server: server.clone(),
                }),
            })
            .collect()
    }
}

impl Provider {
    /// Its `introspection`, when an endpoint vouches for its tokens.
    pub fn introspection(&self) -> Option<&Introspection> {
        match &self.keys {
            KeySource::Introspection(settings) => Some(settings),
            KeySource::Local(_) | KeySource::Remote(_) => None,
        }
    }

    /// Every place this provider's token may be.
    pub fn token_sources(&self) -> TokenSources<'_> {
        TokenSources {
            from_headers: &self.from_headers,
            from_params: &self.from_params,
            from_cookies: &self.from_cookies,
        }
    }
}

impl Config {
    /// Parses and validates the plugin configuration JSON; a `${node.KEY}`
    /// placeholder is refused (there is no node metadata to fill it from).
    pub fn from_json(bytes: &[u8]) -> Result<Config, ConfigError> {
        Config::from_json_in(
            bytes,
            &Lookups {
                node: &|_| None,
                env: &|_| None,
            },
        )
    }

    /// As [`Config::from_json`], filling `${node.KEY}` from `node` (the proxy's
    /// node metadata).
    pub fn from_json_with_node(
        bytes: &[u8],
        node: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Config::from_json_in(
            bytes,
            &Lookups {
                node,
                env: &|_| None,
            },
        )
    }

    /// As [`Config::from_json`], filling `${node.KEY}` from the node metadata and
    /// reading `*_env` secrets from the VM's environment, as `lookups` answers.
    pub fn from_json_in(bytes: &[u8], lookups: &Lookups<'_>) -> Result<Config, ConfigError> {
        validate::compile(bytes, lookups)
    }
}

#[cfg(test)]
mod tests;
