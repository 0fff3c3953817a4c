//! A provider's `introspection` settings, compiled: where its authorization
//! server's introspection endpoint is, how this resource server's client
//! authenticates to it, how long answers are reused and how many callouts may
//! be under way per worker.

use crate::keys::introspection::lifetime::Reuse;
use crate::oauth::client_auth::ClientAuth;
use crate::oauth::endpoint::Endpoint;

/// A provider's `introspection`: its tokens are vouched for by an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Introspection {
    /// The introspection endpoint, its cluster and timeout.
    pub endpoint: Endpoint,
    /// How this resource server's client authenticates (its secret never printed).
    pub client: ClientAuth,
    /// How long answers are reused.
    pub reuse: Reuse,
    /// Most callouts under way per worker.
    pub max_pending: usize,
}
