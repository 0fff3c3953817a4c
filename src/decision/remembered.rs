//! The token cache's protocol, one for the full decision and the fast path: a
//! remembered token is used only while its provider's keys are held and are the
//! ones it was verified with, and only once it meets again what this request
//! asks of it; a token verified in full is remembered until its `exp` (plus the
//! clock skew).

use std::rc::Rc;

use serde_json::{Map, Value};

use crate::config::Provider;
use crate::decision::authenticate::{RouteChecks, Verified};
use crate::decision::verifier::Verifier;
use crate::policy::caller::{check_caller_where, CallerRule, Peer};
use crate::policy::claim_rule::check_claims;
use crate::policy::step_up::check_step_up;
use crate::rejection::Rejection;
use crate::token::cache::CachedToken;
use crate::token::claims::{check_audience, expiry};

/// A token verified before, as the cache gives it back.
pub struct Remembered {
    /// Its verified payload.
    pub claims: Rc<Map<String, Value>>,
    /// The request headers it sets.
    pub set_headers: Vec<(String, String)>,
}

/// `token` as `provider` verified it before with the key set it holds now; `None`
/// when it did not, when its keys are gone, or when there is no cache.
pub fn recall(verifier: &Verifier<'_>, token: &str, provider: usize) -> Option<Remembered> {
    let generation = verifier.keys.generation(provider);
    let mut cache = verifier.cache?.try_borrow_mut().ok()?;
    let hit = cache.get(token, provider, generation, verifier.now)?;
    // Keys are looked up only for a hit: a refusal decided without keys never
    // reaches for them (tests/native/check_order.rs).
    verifier.keys.key_set(provider)?;
    Some(Remembered {
        claims: Rc::clone(&hit.claims),
        set_headers: hit.set_headers.clone(),
    })
}

/// What a remembered token must meet again on every request, in the order the
/// full check makes them: the route's audiences, the caller binding (`cnf`,
/// the provider's `caller`; `jkt_checked`: a `cnf.jkt` is the DPoP proof's to
/// check), the route's claims, the step-up (`auth_time` ages: at `now`, with
/// `skew` seconds of leeway).
pub fn recheck(
    claims: &Map<String, Value>,
    route: &RouteChecks<'_>,
    caller: Option<&CallerRule>,
    peer: &dyn Peer,
    jkt_checked: bool,
    (skew, now): (i64, i64),
) -> Result<(), Rejection> {
    check_audience(claims, route.audiences)?;
    check_caller_where(claims, caller, peer, jkt_checked)?;
    check_claims(claims, route.claims, route.bindings)?;
    check_step_up(claims, &route.step_up, skew, now)
}

/// Remembers `token`, verified in full by provider `index`, with the headers it sets.
pub fn remember(
    verifier: &Verifier<'_>,
    token: &str,
    index: usize,
    provider: &Provider,
    verified: &Verified<'_>,
    set_headers: &[(String, String)],
) {
    let Some(Ok(mut cache)) = verifier.cache.map(|cache| cache.try_borrow_mut()) else {
        return;
    };
    let skew = i64::try_from(provider.times.clock_skew_s).unwrap_or(i64::MAX);
    let expires_at =
        expiry(&verified.token.claims).map_or(i64::MAX, |exp| exp.saturating_add(skew));
    cache.insert(
        token,
        CachedToken {
            provider: index,
            generation: verifier.keys.generation(index),
            expires_at,
            set_headers: set_headers.to_vec(),
            claims: Rc::new(verified.token.claims.clone()),
        },
    );
}
