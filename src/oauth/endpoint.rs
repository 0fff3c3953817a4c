//! Where an OAuth callout goes: an authorization server's endpoint (a token
//! service's token endpoint, an introspection endpoint), the Envoy cluster that
//! reaches it and how long a callout may take.

use std::time::Duration;

use crate::keys::host::{Callout, FormPost};

/// An endpoint the filter POSTs forms to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The URI as configured (for logs and `check-config`).
    pub uri: String,
    /// Its authority: the callout's `:authority`.
    pub authority: String,
    /// Its path (with any query): the callout's `:path`.
    pub path: String,
    /// The Envoy cluster the callout goes through.
    pub cluster: String,
    /// How long one callout may take.
    pub timeout: Duration,
}

impl Endpoint {
    /// The callout that POSTs `form` here.
    pub fn post<'a>(&'a self, form: FormPost<'a>) -> Callout<'a> {
        Callout {
            cluster: &self.cluster,
            authority: &self.authority,
            path: &self.path,
            timeout: self.timeout,
            form: Some(form),
        }
    }
}
