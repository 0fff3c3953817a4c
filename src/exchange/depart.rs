//! Starting an exchange: a request whose token must be exchanged joins the
//! flight under way for the same token and destination, or sends the callout
//! that starts one (the RFC 8693 form through the token service's cluster).

use crate::exchange::flights::{Flight, Flights};
use crate::exchange::grant::grant;
use crate::exchange::lifetime::stated_exp;
use crate::exchange::settings::Exchange;
use crate::keys::host::{Callout, Callouts, FormPost, NotSent};
use crate::oauth::cache_key::CacheKey;

/// Why a request could not wait for an exchange (503 `exchange`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStarted {
    /// The worker has as many exchanges under way as it allows.
    Full,
    /// The host would not send the callout (no such cluster).
    NotSent(NotSent),
}

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
    if flights.under_way(&key) {
        return Ok(false);
    }
    if !flights.has_room() {
        return Err(NotStarted::Full);
    }
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
    let callout = Callout {
        cluster: &exchange.cluster,
        authority: &exchange.authority,
        path: &exchange.path,
        timeout: exchange.timeout,
        form: Some(FormPost {
            body: &form.body,
            authorization: form.authorization.as_deref(),
        }),
    };
    let call_id = host.dispatch(&callout).map_err(NotStarted::NotSent)?;
    flights.depart(Flight {
        key,
        destination,
        call_id,
        subject_exp: stated_exp(subject),
        sent_at: now,
    });
    Ok(true)
}
