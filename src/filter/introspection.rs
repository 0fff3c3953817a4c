//! Introspection in the filter: a request whose token has no answer at hand
//! joins or starts its introspection (within `max_pending` per provider and
//! worker) and is held; the answer lands in the root context, is kept as long
//! as it may be reused, and settles every request waiting on it, whether or
//! not the request that started the callout is still there.

use super::host::Proxy;
use super::vm::{Asked, Asking, Vm};
use crate::decision::Decision;
use crate::keys::host::Reply as CallReply;
use crate::keys::introspection::answer::Inactive;
use crate::keys::introspection::flight::send;
use crate::keys::introspection::landing::{land, Said};
use crate::keys::introspection::vouched::Vouched;
use crate::oauth::cache_key::CacheKey;
use crate::oauth::flights::NotStarted;
use crate::policy::caller::KnownPeer;
use crate::rejection::Rejection;
use crate::request::Request;
use crate::token::extract::extract;

/// Most requests one VM holds for introspection answers; more are answered
/// 503 at once.
pub const MAX_ASKING: usize = 1024;

/// A request whose `decision` waits for an introspection answer: joins or
/// starts the callout and is held (`None`), or, when it cannot wait, gets the
/// decision refused 503 `introspection`.
pub fn ask(
    vm: &mut Vm,
    request: &Asked<'_>,
    mut decision: Decision,
    now_s: i64,
) -> Option<Decision> {
    match start(vm, request.headers, &decision, now_s) {
        Some(key) => {
            vm.asking.push(Asking {
                context_id: request.context_id,
                key,
                headers: request.headers.to_vec(),
                peer: KnownPeer::of(request.peer),
                answered: request.answered.to_vec(),
            });
            None
        }
        None => {
            decision.verdict = Err(Rejection::IntrospectionFailed);
            Some(decision)
        }
    }
}

/// Joins or starts the introspection `decision` waits for; its key, or `None`
/// (counted and logged) when the request cannot wait.
fn start(
    vm: &mut Vm,
    headers: &[(String, String)],
    decision: &Decision,
    now_s: i64,
) -> Option<CacheKey> {
    let config = std::rc::Rc::clone(&vm.config);
    let index = decision.provider?;
    let provider = config.providers.get(index)?;
    let settings = provider.introspection()?;
    let request = Request::from_headers(headers);
    let token = extract(provider.token_sources(), &request)
        .ok()
        .flatten()?
        .token;
    let key = vm.answers.try_borrow().ok()?.key(&token, index);
    if vm.asking.len() >= MAX_ASKING {
        log::warn!(
            "audgate: introspection for provider {} not started: {} requests already wait",
            provider.name,
            vm.asking.len()
        );
        return None;
    }
    let flights = vm.asked.get_mut(index).and_then(Option::as_mut)?;
    match send(settings, flights, &Proxy, key, index, &token, now_s) {
        Ok(_) => Some(key),
        Err(NotStarted::Full) => {
            log::warn!(
                "audgate: introspection for provider {} not started: introspection.max_pending ({}) callouts under way",
                provider.name,
                settings.max_pending
            );
            vm.metrics.introspection(index, "max_pending");
            None
        }
        Err(NotStarted::NotSent(refused)) => {
            log::warn!(
                "audgate: introspection for provider {} not started: {refused} (is cluster {} defined?)",
                provider.name,
                settings.endpoint.cluster
            );
            vm.metrics.introspection(index, "failed");
            None
        }
    }
}

/// An answer that settles waiting requests: what they are decided with, under
/// which key, and the requests.
pub struct Answered {
    /// The callout's key.
    pub key: CacheKey,
    /// What the endpoint said (or that it failed).
    pub vouched: Vouched,
    /// The requests that waited for it.
    pub ready: Vec<Asking>,
}

/// Takes callout `call_id`'s reply if it answers one of this VM's
/// introspections: judges it, keeps it while it may be reused, counts and logs
/// it, and hands back the requests that wait on it. `None`: not an
/// introspection's callout.
pub fn land_answer(
    vm: &mut Vm,
    call_id: u32,
    reply: impl FnOnce() -> CallReply,
    now_s: i64,
) -> Option<Answered> {
    let (index, flight) = vm
        .asked
        .iter_mut()
        .enumerate()
        .find_map(|(index, flights)| {
            let flight = flights.as_mut()?.land(call_id)?;
            Some((index, flight))
        })?;
    let config = std::rc::Rc::clone(&vm.config);
    let provider = config.providers.get(index)?;
    let settings = provider.introspection()?;
    let reply = reply();
    let landed = land(reply.status, &reply.body, settings.reuse, now_s);
    vm.metrics.introspection(index, landed.result);
    match &landed.said {
        Said::Active => log::debug!("audgate: token introspected for provider {}", provider.name),
        Said::Inactive(Inactive::UnsupportedTokenType) => log::info!(
            "audgate: provider {}'s introspection endpoint answered 400 unsupported_token_type: it does not introspect this kind of token",
            provider.name
        ),
        Said::Inactive(Inactive::NotActive) => log::debug!(
            "audgate: provider {}'s endpoint does not vouch for a token (active: false)",
            provider.name
        ),
        Said::Failed(failure) => log::warn!(
            "audgate: introspection for provider {} at {} failed: {failure}",
            provider.name,
            settings.endpoint.uri
        ),
    }
    if let (Some(until), Ok(mut answers)) = (landed.keep_until, vm.answers.try_borrow_mut()) {
        answers.insert(flight.key, landed.vouched.clone(), until);
    }
    Some(Answered {
        key: flight.key,
        vouched: landed.vouched,
        ready: take_waiting(vm, &flight.key),
    })
}

/// Gives up the introspections whose reply is overdue (sent more than their
/// timeout and 5 s ago: a reply the filter could not take): the requests
/// waiting on them are decided as for a failed endpoint.
pub fn give_up_overdue(vm: &mut Vm, now_s: i64) -> Vec<Answered> {
    let config = std::rc::Rc::clone(&vm.config);
    let mut given_up = Vec::new();
    for (index, provider) in config.providers.iter().enumerate() {
        let (Some(settings), Some(Some(flights))) =
            (provider.introspection(), vm.asked.get_mut(index))
        else {
            continue;
        };
        let patience = i64::try_from(settings.endpoint.timeout.as_secs()).unwrap_or(i64::MAX);
        let cutoff = now_s.saturating_sub(patience.saturating_add(5));
        for flight in flights.overdue(cutoff) {
            log::warn!(
                "audgate: introspection for provider {} given up: no reply taken",
                provider.name
            );
            vm.metrics.introspection(index, "failed");
            given_up.push(flight.key);
        }
    }
    given_up
        .into_iter()
        .map(|key| Answered {
            key,
            vouched: Vouched::Failed,
            ready: take_waiting(vm, &key),
        })
        .collect()
}

/// Whether any introspection is under way in this VM.
pub fn under_way(vm: &Vm) -> bool {
    vm.asked.iter().flatten().any(|flights| !flights.is_empty())
}

/// The requests waiting for the answer under `key`, no longer waiting.
fn take_waiting(vm: &mut Vm, key: &CacheKey) -> Vec<Asking> {
    let (ready, keep): (Vec<Asking>, Vec<Asking>) = std::mem::take(&mut vm.asking)
        .into_iter()
        .partition(|asking| asking.key == *key);
    vm.asking = keep;
    ready
}
