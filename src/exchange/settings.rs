//! The `exchange` section, compiled: where the token service is, how this
//! workload's client authenticates to it, where an outbound token is, the
//! destination table, and what an unmatched destination gets.

use crate::exchange::destination::Destination;
use crate::exchange::grant::ClientAuth;
use crate::oauth::endpoint::Endpoint;
use crate::token::extract::HeaderSource;

/// The `exchange` section: outbound tokens swapped at a token service.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The token endpoint, its cluster and timeout.
    pub endpoint: Endpoint,
    /// How this workload's client authenticates (its secret never printed).
    pub client: ClientAuth,
    /// Sent as `subject_token_type`.
    pub subject_token_type: String,
    /// Where the outbound token is.
    pub from_headers: Vec<HeaderSource>,
    /// The destination table, first match wins.
    pub destinations: Vec<Destination>,
    /// What a token bound for an unlisted destination gets.
    pub unmatched: Unmatched,
    /// Exchanged tokens remembered per worker; 0 keeps none.
    pub cache_size: usize,
}

/// `exchange.unmatched`: a token on its way to a destination no entry matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmatched {
    /// Removed: the request goes on without it (the default).
    Remove,
    /// The request is refused, 403 `exchange_unmatched`.
    Refuse,
    /// Passed on as it is (an explicit opt-out).
    Forward,
}

impl Unmatched {
    /// Its name in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            Unmatched::Remove => "remove",
            Unmatched::Refuse => "refuse",
            Unmatched::Forward => "forward",
        }
    }
}
