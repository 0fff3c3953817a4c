//! The outbound side in the filter: a request's plan with the VM's exchanged
//! tokens at hand; a request that must wait for an exchange joins or starts
//! its flight and is held; a flight's answer lands in the root context, is
//! kept, and settles every request that waits on it.

use super::host::{self, Proxy};
use super::vm::{Vm, Waiting};
use crate::decision::onward::{onward, Exchanged, ExchangedTokens, Onward, Recalled};
use crate::decision::plan::{Action, Callout, Plan, Reply};
use crate::decision::Decision;
use crate::exchange::depart::{depart, NotStarted};
use crate::exchange::destination::Matcher;
use crate::exchange::landing::{land, Landed};
use crate::exchange::remembered::ExchangeCache;
use crate::exchange::settings::Exchange;
use crate::keys::host::Reply as CallReply;
use crate::oauth::cache_key::CacheKey;
use crate::policy::caller::{KnownPeer, Peer};
use crate::rejection::Rejection;
use crate::request::Request;

/// Most requests one VM holds for exchanges; more are answered 503 at once.
pub const MAX_WAITING: usize = 1024;

/// Exchanged tokens at hand in a VM: its cache, and the answer of a flight that
/// just landed (which serves its waiting requests even when it is not kept).
pub struct AtHand<'a> {
    /// The VM's exchanged tokens.
    pub cache: &'a mut ExchangeCache,
    /// A flight's key and what it came to.
    pub landed: Option<(&'a CacheKey, &'a Recalled)>,
    /// Now, Unix seconds.
    pub now: i64,
}

impl ExchangedTokens for AtHand<'_> {
    fn key(&self, subject_token: &str, destination: usize) -> CacheKey {
        self.cache.key(subject_token, destination)
    }

    fn recall(&mut self, key: &CacheKey) -> Option<Recalled> {
        if let Some((landed, recalled)) = self.landed {
            if landed == key {
                return Some(recalled.clone());
            }
        }
        let token = self.cache.get(key, self.now)?;
        Some(Recalled::Token(token.to_owned()))
    }
}

/// The cluster Envoy's route chose, read only when a destination matches by
/// cluster.
fn routed_cluster(exchange: Option<&Exchange>) -> Option<String> {
    let by_cluster = exchange?
        .destinations
        .iter()
        .any(|destination| matches!(destination.matcher, Matcher::Clusters(_)));
    if by_cluster {
        host::property_at(&["xds", "cluster_name"])
    } else {
        None
    }
}

/// A request as [`plan`] is given it.
pub struct Outgoing<'a> {
    /// Its HTTP context.
    pub context_id: u32,
    /// Its headers.
    pub headers: &'a [(String, String)],
    /// Its TLS peer (read only if it is held).
    pub peer: &'a dyn Peer,
}

/// The plan for a request after its inbound `decision`. A request whose token
/// must be exchanged first joins or starts that exchange and is held (`None`);
/// one that cannot wait is answered 503 `exchange`.
pub fn plan(
    vm: &mut Vm,
    request: &Outgoing<'_>,
    decision: &Decision,
    now_s: i64,
) -> Option<Onward> {
    let config = std::rc::Rc::clone(&vm.config);
    let view = Request::from_headers(request.headers);
    if config.exchange.is_none() {
        return Some(Onward::inbound(&config, &view, decision));
    }
    let cluster = routed_cluster(config.exchange.as_ref());
    let mut at_hand = AtHand {
        cache: &mut vm.exchanged,
        landed: None,
        now: now_s,
    };
    let planned = onward(&config, &view, decision, cluster.as_deref(), &mut at_hand);
    if let Some(exchanged) = planned.exchanged {
        count(vm, exchanged);
    }
    let Action::Hold(Callout::Exchange {
        destination,
        key,
        subject,
    }) = &planned.plan.action
    else {
        return Some(planned);
    };
    let exchange = config.exchange.as_ref()?;
    let started = if vm.waiting.len() >= MAX_WAITING {
        Err(NotStarted::Full)
    } else {
        depart(
            exchange,
            &mut vm.flights,
            &Proxy,
            *key,
            *destination,
            &subject.0,
            now_s,
        )
    };
    match started {
        Ok(_) => {
            vm.waiting.push(Waiting {
                context_id: request.context_id,
                key: *key,
                headers: request.headers.to_vec(),
                peer: KnownPeer::of(request.peer),
                decision: decision.clone(),
                cluster,
            });
            None
        }
        Err(why) => {
            let label = exchange
                .destinations
                .get(*destination)
                .map_or("", |entry| entry.label());
            match why {
                NotStarted::Full => log::warn!(
                    "audgate: exchange for {label} not started: {} requests already wait",
                    vm.waiting.len()
                ),
                NotStarted::NotSent(refused) => log::warn!(
                    "audgate: exchange for {label} not started: {refused} (is cluster {} defined?)",
                    exchange.endpoint.cluster
                ),
            }
            vm.metrics.exchange_callout(*destination, "failed");
            Some(refused(Rejection::ExchangeFailed, view.authority))
        }
    }
}

/// Counts what the exchange did with a request served at once.
fn count(vm: &Vm, exchanged: Exchanged) {
    match exchanged {
        Exchanged::CacheHit(destination) => vm.metrics.exchange_hit(destination),
        Exchanged::Unmatched => vm.metrics.exchange_unmatched(),
    }
}

/// An outbound refusal's plan.
fn refused(rejection: Rejection, authority: &str) -> Onward {
    Onward {
        plan: Plan::only(Action::Respond(Reply::refusal(rejection, authority))),
        refusal: Some(rejection),
        exchanged: None,
    }
}

/// A request settled by a landed flight: what it waited with, and its plan.
pub struct Settled {
    /// The request as it was held.
    pub waiting: Waiting,
    /// Its plan now.
    pub onward: Onward,
}

/// Gives up the flights whose reply is overdue (sent more than their timeout
/// and 5 s ago: a reply the filter could not take): the requests waiting on
/// them are answered 503 `exchange`, and the next request starts afresh.
pub fn give_up_overdue(vm: &mut Vm, now_s: i64) -> Vec<Settled> {
    let config = std::rc::Rc::clone(&vm.config);
    let Some(exchange) = config.exchange.as_ref() else {
        return Vec::new();
    };
    let patience = i64::try_from(exchange.endpoint.timeout.as_secs()).unwrap_or(i64::MAX);
    let cutoff = now_s.saturating_sub(patience.saturating_add(5));
    let overdue = vm.flights.overdue(cutoff);
    let mut settled = Vec::new();
    for flight in overdue {
        log::warn!(
            "audgate: exchange for destination {} given up: no reply taken",
            flight.destination
        );
        vm.metrics.exchange_callout(flight.destination, "failed");
        let (ready, keep): (Vec<Waiting>, Vec<Waiting>) = std::mem::take(&mut vm.waiting)
            .into_iter()
            .partition(|waiting| waiting.key == flight.key);
        vm.waiting = keep;
        let authority =
            |waiting: &Waiting| Request::from_headers(&waiting.headers).authority.to_owned();
        settled.extend(ready.into_iter().map(|waiting| Settled {
            onward: refused(Rejection::ExchangeFailed, &authority(&waiting)),
            waiting,
        }));
    }
    settled
}

/// Takes callout `call_id`'s reply if it answers one of this VM's flights:
/// judges it, keeps the token, counts and logs it, and plans every request
/// that waits on it. `None`: not an exchange's callout.
pub fn land_reply(
    vm: &mut Vm,
    call_id: u32,
    reply: impl FnOnce() -> CallReply,
    now_s: i64,
) -> Option<Vec<Settled>> {
    let flight = vm.flights.land(call_id)?;
    let config = std::rc::Rc::clone(&vm.config);
    let exchange = config.exchange.as_ref()?;
    let reply = reply();
    let landed: Landed = land(&flight, reply.status, &reply.body, now_s);
    let label = exchange
        .destinations
        .get(flight.destination)
        .map_or("", |entry| entry.label());
    vm.metrics
        .exchange_callout(flight.destination, landed.result);
    match (&landed.failure, reply.status) {
        (None, _) => log::debug!("audgate: token exchanged for {label}"),
        (Some(failure), status) => log::warn!(
            "audgate: exchange for {label} at {} {}: {failure} (status {})",
            exchange.endpoint.uri,
            landed.result,
            status.map_or_else(|| "none".to_owned(), |status| status.to_string())
        ),
    }
    if let (Recalled::Token(token), Some(until)) = (&landed.recalled, landed.keep_until) {
        vm.exchanged.insert(flight.key, token.clone(), until);
    }
    let (ready, keep): (Vec<Waiting>, Vec<Waiting>) = std::mem::take(&mut vm.waiting)
        .into_iter()
        .partition(|waiting| waiting.key == flight.key);
    vm.waiting = keep;
    let settled = ready
        .into_iter()
        .map(|waiting| {
            let view = Request::from_headers(&waiting.headers);
            let mut at_hand = AtHand {
                cache: &mut vm.exchanged,
                landed: Some((&flight.key, &landed.recalled)),
                now: now_s,
            };
            let mut onward = onward(
                &config,
                &view,
                &waiting.decision,
                waiting.cluster.as_deref(),
                &mut at_hand,
            );
            // Served by the one callout: its own was spared.
            if let Some(Exchanged::CacheHit(_)) = onward.exchanged {
                onward.exchanged = None;
            }
            Settled { waiting, onward }
        })
        .collect();
    Some(settled)
}
