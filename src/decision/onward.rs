//! The whole plan for a request when `exchange` is configured: the inbound
//! decision's plan (if the configuration has providers), then what the exchange
//! does with the token on its way out, as the contract's table says. A request
//! whose token must first be exchanged is planned as a hold for that callout;
//! when it lands, the request is planned again and finds the answer in
//! [`ExchangedTokens`].

use crate::config::{Config, Mode};
use crate::decision::mutations::remove_found;
use crate::decision::plan::{Action, Callout, Change, Plan, Reply, Subject};
use crate::decision::Decision;
use crate::exchange::destination::Matcher;
pub use crate::exchange::landing::Recalled;
use crate::exchange::outbound::{outbound, BorrowedRequest, Inbound, OutboundView, Step};
use crate::oauth::cache_key::CacheKey;
use crate::rejection::Rejection;
use crate::request::Request;
use crate::token::extract::extract;

/// Exchanged tokens at hand: the worker's cache, and the outcome of a callout
/// that just landed (also when it failed, or its token is not to be kept).
pub trait ExchangedTokens {
    /// What the exchange of `subject_token` for `destination` is known by.
    fn key(&self, subject_token: &str, destination: usize) -> CacheKey;
    /// What the exchange under `key` came to, if it is known now.
    fn recall(&mut self, key: &CacheKey) -> Option<Recalled>;
}

/// What the exchange did with a request, for its stat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exchanged {
    /// The destination's token was at hand (cached, or a shared callout's).
    CacheHit(usize),
    /// A token went to a destination no entry matches.
    Unmatched,
}

/// A request's plan, the refusal it counts as, and what the exchange did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Onward {
    /// What the filter does.
    pub plan: Plan,
    /// The outbound refusal, when the exchange refused what the inbound
    /// decision let through.
    pub refusal: Option<Rejection>,
    /// What the exchange did, for its stat.
    pub exchanged: Option<Exchanged>,
}

impl Onward {
    /// The plan of `decision` alone (no `exchange`).
    pub fn inbound(config: &Config, request: &Request<'_>, decision: &Decision) -> Onward {
        Onward {
            plan: Plan::in_config(config, decision, request),
            refusal: None,
            exchanged: None,
        }
    }
}

/// The plan for `request` after its inbound `decision` (a pass when the
/// configuration has no providers), routed to `cluster`, with `tokens` at hand.
pub fn onward(
    config: &Config,
    request: &Request<'_>,
    decision: &Decision,
    cluster: Option<&str>,
    tokens: &mut dyn ExchangedTokens,
) -> Onward {
    let inbound_only = |plan: Plan| Onward {
        plan,
        refusal: None,
        exchanged: None,
    };
    let Some(exchange) = &config.exchange else {
        return Onward::inbound(config, request, decision);
    };
    let verified = verified_token(config, request, decision);
    let inbound = match (decision.verdict, config.mode) {
        (Err(_), Mode::Enforce) => {
            return inbound_only(Plan::in_config(config, decision, request));
        }
        (Err(_), Mode::Audit) => Inbound::WouldReject,
        (Ok(()), _) if config.providers.is_empty() => Inbound::Unverified,
        (Ok(()), _) => match &verified {
            Some((token, _)) => Inbound::Verified(token),
            None => Inbound::NoToken,
        },
    };
    let outbound = outbound(exchange, request, cluster, inbound);
    let exchanged = outbound.unmatched.then_some(Exchanged::Unmatched);
    let refuse = |rejection: Rejection| Onward {
        plan: Plan::only(Action::Respond(Reply::refusal(
            rejection,
            request.authority,
        ))),
        refusal: Some(rejection),
        exchanged,
    };
    let (remove, subject) = match outbound.step {
        Step::Refuse(rejection) => return refuse(rejection),
        Step::Go { remove } => (remove, None),
        Step::Exchange { subject, remove } => (remove, Some(subject)),
    };
    // An exchanged token leaves nowhere, whatever its provider's `forward` says.
    let mut decision = decision.clone();
    if let (Some(_), Some((_, locations))) = (&subject, &verified) {
        remove_found(locations, request.path, request, &mut decision.mutations);
    }
    let mut plan = Plan::of(&decision, config.mode, request.authority);
    let Action::Continue(changes) = &mut plan.action else {
        return inbound_only(plan);
    };
    changes.extend(remove.into_iter().map(Change::Remove));
    let (Some(subject), Some(destination)) = (subject, outbound.destination) else {
        return Onward {
            plan,
            refusal: None,
            exchanged,
        };
    };
    let key = tokens.key(subject, destination);
    match tokens.recall(&key) {
        Some(Recalled::Token(token)) => {
            set_exchanged(changes, request, &token);
            Onward {
                plan,
                refusal: None,
                exchanged: Some(Exchanged::CacheHit(destination)),
            }
        }
        Some(Recalled::Refused) => refuse(Rejection::ExchangeRefused),
        Some(Recalled::Failed) => refuse(Rejection::ExchangeFailed),
        None => inbound_only(Plan::only(Action::Hold(Callout::Exchange {
            destination,
            key,
            subject: Subject(subject.to_owned()),
        }))),
    }
}

/// The exchanged `token` set as `authorization: Bearer …`, after `changes`.
/// Setting a header replaces its one value: with at most one `authorization`,
/// removing it first would be a host call for nothing.
fn set_exchanged(changes: &mut Vec<Change>, request: &impl OutboundView, token: &str) {
    let authorizations = request
        .pairs()
        .filter(|(name, _)| *name == "authorization")
        .count();
    if authorizations <= 1 {
        changes.retain(|change| !matches!(change, Change::Remove(name) if name == "authorization"));
    }
    changes.push(Change::Set(
        "authorization".to_owned(),
        format!("Bearer {token}"),
    ));
}

/// The changes for a request whose exchanged token is at hand, read from the
/// borrowed headers (the filter's fast path: no copy of the request), and its
/// destination; `None` when the full plan must decide: the configuration has
/// providers or destinations by cluster, or this request is anything but a
/// token at hand for a listed destination. What it returns is exactly what
/// [`onward`] plans for the same request (`tests/native/outbound_invariant.rs`).
pub fn exchanged_at_once(
    config: &Config,
    request: &BorrowedRequest<'_>,
    tokens: &mut dyn ExchangedTokens,
) -> Option<(Vec<Change>, usize)> {
    let exchange = config.exchange.as_ref()?;
    let by_cluster = exchange
        .destinations
        .iter()
        .any(|destination| matches!(destination.matcher, Matcher::Clusters(_)));
    if !config.providers.is_empty() || by_cluster {
        return None;
    }
    let planned = outbound(exchange, request, None, Inbound::Unverified);
    let (Step::Exchange { subject, remove }, Some(destination)) =
        (planned.step, planned.destination)
    else {
        return None;
    };
    let key = tokens.key(subject, destination);
    let Some(Recalled::Token(token)) = tokens.recall(&key) else {
        return None;
    };
    let mut changes: Vec<Change> = remove.into_iter().map(Change::Remove).collect();
    set_exchanged(&mut changes, request, &token);
    Some((changes, destination))
}

/// The token the inbound decision verified, and where it was.
fn verified_token(
    config: &Config,
    request: &Request<'_>,
    decision: &Decision,
) -> Option<(String, Vec<crate::token::extract::Location>)> {
    decision.verdict.ok()?;
    let provider = config.providers.get(decision.provider?)?;
    let found = extract(provider.token_sources(), request).ok()??;
    Some((found.token, found.locations))
}

#[cfg(test)]
#[path = "onward_tests.rs"]
mod tests;
