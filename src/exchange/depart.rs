//! Starting an exchange: a request whose token must be exchanged joins the
//! flight under way for the same token and destination, or sends the callout
//! that starts one (the RFC 8693 form through the token service's cluster).

use crate::exchange::flights::{Flight, Flights};
use crate::exchange::grant::grant;
use crate::exchange::lifetime::stated_exp;
use crate::exchange::settings::Exchange;
use crate::keys::host::{Callouts, FormPost};
use crate::oauth::cache_key::CacheKey;
pub use crate::oauth::flights::NotStarted;

/// Joins or starts the exchange of `subject` for `destination` under `key`,
/// at `now` (Unix seconds). `Ok(true)`: a callout was sent.
pub fn depart(
    exchange: &Exchange,
    flights: &mut Flights,
    host: &dyn Callouts,
    key: CacheKey,
    destination: usize,
    subject: &str,
    now: i64,
) -> Result<bool, NotStarted> {
    flights.join_or_start(&key, || {
        let target = exchange
            .destinations
            .get(destination)
            .map(|entry| entry.target())
            .unwrap_or_default();
        let form = grant(
            subject,
            &exchange.subject_token_type,
            &target,
            &exchange.client,
        );
        let callout = exchange.endpoint.post(FormPost {
            body: &form.body,
            authorization: form.authorization.as_deref(),
        });
        Ok(Flight {
            key,
            destination,
            call_id: host.dispatch(&callout)?,
            subject_exp: stated_exp(subject),
            sent_at: now,
        })
    })
}
