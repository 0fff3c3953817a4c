//! Asking the endpoint: a request whose token has no answer at hand joins the
//! callout under way for the same token and provider in its worker, or sends
//! the one that starts it, within `max_pending`.

use crate::keys::host::{Callouts, FormPost};
use crate::keys::introspection::ask::ask;
use crate::keys::introspection::settings::Introspection;
use crate::oauth::cache_key::CacheKey;
use crate::oauth::flights::{Flights as Under, InFlight, NotStarted};

/// One introspection callout under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flight {
    /// What its answer is remembered under (token and provider).
    pub key: CacheKey,
    /// The provider whose endpoint is asked.
    pub provider: usize,
    /// The host's id of the callout.
    pub call_id: u32,
    /// When it was sent (Unix seconds).
    pub sent_at: i64,
}

impl InFlight for Flight {
    fn key(&self) -> &CacheKey {
        &self.key
    }
    fn call_id(&self) -> u32 {
        self.call_id
    }
    fn sent_at(&self) -> i64 {
        self.sent_at
    }
}

/// One provider's introspections under way in a worker.
pub type Flights = Under<Flight>;

/// Joins or starts the introspection of `token` by `provider` (`settings`)
/// under `key`, at `now` (Unix seconds). `Ok(true)`: a callout was sent.
pub fn send(
    settings: &Introspection,
    flights: &mut Flights,
    host: &dyn Callouts,
    key: CacheKey,
    provider: usize,
    token: &str,
    now: i64,
) -> Result<bool, NotStarted> {
    flights.join_or_start(&key, || {
        let asked = ask(token, &settings.client);
        let callout = settings.endpoint.post(FormPost {
            body: &asked.body,
            authorization: asked.authorization.as_deref(),
        });
        Ok(Flight {
            key,
            provider,
            call_id: host.dispatch(&callout)?,
            sent_at: now,
        })
    })
}
