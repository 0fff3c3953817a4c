//! A request's headers: read once (one host call), answered from them directly
//! when the token is a cache hit that needs nothing more ([`cached_pass`]),
//! else decided in full and either carried out or held for the root context to
//! settle: when a remote provider's keys are not there yet (or a `kid` is
//! unknown and a refetch is allowed), or when its token must first be
//! exchanged for its destination (`exchange`, [`super::outbound`]).

use std::cell::RefCell;
use std::rc::Rc;

use super::abi::Action;
use super::host::{self, Proxy};
use super::introspection::ask;
use super::metrics::Metrics;
use super::outbound::{plan, AtHand, Outgoing};
use super::respond::{carry_out, pass, pass_exchanged, publish, refuse};
use super::vm::{verify_with, Asked, Held as HeldForKeys, Vm, VmKeys, MAX_HELD};
use crate::decision::fast_path::cached_pass;
use crate::decision::onward;
use crate::decision::onward::Onward;
use crate::decision::plan::{Change, Plan};
use crate::decision::proof_replay::remembered;
use crate::decision::published::metadata_plan;
use crate::decision::{decide_with_peer, Decision, Mutations};
use crate::exchange::outbound::BorrowedRequest;
use crate::keys::fresh_keys::decide_with_fresh_keys;
use crate::keys::introspection::vouched::AnswersAtHand;
use crate::keys::remote_sets::RemoteSets;
use crate::policy::caller::KnownPeer;
use crate::rejection::{HostFailure, Rejection};
use crate::request::header_map::{name_is, HeaderMap};
use crate::request::Request;

/// Response headers waiting for their request's response, by HTTP context.
type Responding = Vec<(u32, Vec<(String, String)>)>;

thread_local! {
    /// Headers for the responses of requests that went on (a fresh
    /// `DPoP-Nonce`), by HTTP context, until their response headers come: one
    /// list per VM (a VM is one thread), so a response with nothing to add
    /// costs a look at an empty list.
    static RESPONDING: RefCell<Responding> = const { RefCell::new(Vec::new()) };
}

/// The response of request `context_id` is on its way: the headers its plan
/// added to it (a fresh `DPoP-Nonce`) are set.
pub fn on_response_headers(context_id: u32) {
    let headers = RESPONDING.with(|responding| {
        let mut responding = responding.try_borrow_mut().ok()?;
        let position = responding.iter().position(|(id, _)| *id == context_id)?;
        Some(responding.swap_remove(position).1)
    });
    for (name, value) in headers.into_iter().flatten() {
        if !host::set_response_header(&name, &value) {
            log::warn!("audgate: could not set response header {name}");
        }
    }
}

/// Keeps the response headers of request `context_id` (its plan's) when it
/// went on.
pub fn respond_later(context_id: u32, action: Action, headers: Vec<(String, String)>) {
    if headers.is_empty() || action != Action::Continue {
        return;
    }
    RESPONDING.with(|responding| {
        if let Ok(mut responding) = responding.try_borrow_mut() {
            if responding.len() < MAX_HELD {
                responding.push((context_id, headers));
            }
        }
    });
}

/// The request `context_id` ended: it is no longer held or waiting, and no
/// response header waits for it.
pub fn on_done(context_id: u32, vm_cell: &RefCell<Vm>) {
    RESPONDING.with(|responding| {
        if let Ok(mut responding) = responding.try_borrow_mut() {
            if !responding.is_empty() {
                responding.retain(|(id, _)| *id != context_id);
            }
        }
    });
    if let Ok(mut vm) = vm_cell.try_borrow_mut() {
        if !vm.held.is_empty() {
            vm.held.retain(|held| held.context_id != context_id);
        }
        // Its exchange or introspection goes on (the worker's, not the
        // request's): it serves the others waiting for it and the cache.
        if !vm.waiting.is_empty() {
            vm.waiting
                .retain(|waiting| waiting.context_id != context_id);
        }
        if !vm.asking.is_empty() {
            vm.asking.retain(|asking| asking.context_id != context_id);
        }
    }
}

/// Decides request `context_id` on its headers: carries the decision out, or
/// holds the request until its keys arrive.
/// A request the proxy fails (no headers, no clock, the state busy) is answered
/// 503 as a [`HostFailure`] and counted in `metrics`.
pub fn on_request_headers(context_id: u32, vm_cell: &Rc<RefCell<Vm>>, metrics: &Metrics) -> Action {
    // No headers or no clock: nothing can be judged.
    let bytes = host::request_header_bytes();
    let Some(map) = bytes.as_deref().and_then(HeaderMap::parse) else {
        return refuse(Some(metrics), HostFailure::HeadersUnreadable);
    };
    let now_ms = host::recent_ms();
    if now_ms == 0 {
        return refuse(Some(metrics), HostFailure::NoClock);
    }
    // The resource's metadata document, asked for with no token.
    if let Some(plan) = published(vm_cell, &map) {
        return publish(&plan);
    }
    // A cache hit that needs nothing more is answered from the borrowed headers
    // (never with `exchange`: the token's way out needs the whole request). Its
    // DPoP proof is remembered first; one the store refuses (a replay, no room)
    // goes to the full decision, which refuses it the same way.
    let hit = vm_cell.try_borrow().ok().and_then(|vm| {
        if vm.config.exchange.is_some() {
            return None;
        }
        let decision =
            vm.with_verifier(now_ms, |verifier| cached_pass(&vm.config, &map, verifier))?;
        if decision.proof.is_none() {
            vm.count_reused_answers();
            return Some(decision);
        }
        let now_s = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
        let decision = remembered(decision, &vm.replay, &Proxy, now_s);
        decision.verdict.is_ok().then_some(decision)
    });
    if let Some(decision) = hit {
        return pass(metrics, decision);
    }
    // An outbound token whose exchange is at hand, likewise (`exchange` only).
    if let Some(changes) = exchanged_at_once(vm_cell, &map, now_ms) {
        return pass_exchanged(metrics, changes);
    }
    let headers = map.to_owned_pairs();
    let peer = host::HostPeer::default();
    // Decided under one borrow, carried out with none: answering a request can
    // make the host call its `on_done`, which borrows the VM state itself.
    let (decision, onward, config, budget) = {
        let Ok(mut vm) = vm_cell.try_borrow_mut() else {
            return refuse(Some(metrics), HostFailure::StateBusy);
        };
        let vm = &mut *vm;
        let asked = Asked {
            context_id,
            headers: &headers,
            peer: &peer,
            answered: &[],
        };
        let planned = decide_and_plan(vm, &asked, now_ms);
        vm.count_reused_answers();
        let Some((decision, onward)) = planned else {
            return Action::Pause;
        };
        (
            decision,
            onward,
            Rc::clone(&vm.config),
            Rc::clone(&vm.log_budget),
        )
    };
    let later = onward.plan.response_headers.clone();
    let action = carry_out(
        &config,
        metrics,
        &budget,
        &Request::from_headers(&headers),
        &peer,
        decision,
        onward,
    );
    respond_later(context_id, action, later);
    action
}

/// The decision on `request` and its plan, or `None` when it is held: until
/// its provider's keys arrive, its token's introspection answer lands, or its
/// token's exchange lands.
pub fn decide_and_plan(
    vm: &mut Vm,
    request: &Asked<'_>,
    now_ms: u64,
) -> Option<(Decision, Onward)> {
    let decision = if vm.config.providers.is_empty() {
        // Only `exchange`: no inbound decision, the token goes out unverified.
        Decision::pass(None, Mutations::default(), false)
    } else {
        decide_inbound(vm, request, now_ms)?
    };
    after_decision(vm, request, decision, now_ms)
}

/// What follows an inbound `decision`: a request that waits for an
/// introspection answer asks for it and is held (`None`); then the last check
/// (a DPoP proof is accepted once) and the plan, which may hold the request
/// for its token's exchange.
pub fn after_decision(
    vm: &mut Vm,
    request: &Asked<'_>,
    decision: Decision,
    now_ms: u64,
) -> Option<(Decision, Onward)> {
    let now_s = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
    let decision = if decision.verdict == Err(Rejection::IntrospectionPending) {
        ask(vm, request, decision, now_s)?
    } else {
        decision
    };
    let decision = remembered(decision, &vm.replay, &Proxy, now_s);
    let outgoing = Outgoing {
        context_id: request.context_id,
        headers: request.headers,
        peer: request.peer,
    };
    let onward = plan(vm, &outgoing, &decision, now_s)?;
    Some((decision, onward))
}

/// The inbound decision on `request`, or `None` when it is held until its
/// provider's keys arrive.
fn decide_inbound(vm: &mut Vm, request: &Asked<'_>, now_ms: u64) -> Option<Decision> {
    let (config, cache, host_verify) = (&vm.config, &vm.cache, vm.host_verify);
    let answers = AnswersAtHand {
        answers: &vm.answers,
        landed: request.answered,
        now: i64::try_from(now_ms / 1000).unwrap_or(i64::MAX),
        reused_by: &vm.answers_reused,
    };
    let peer = request.peer;
    let decide_now = |sources: &RemoteSets| {
        let view = Request::from_headers(request.headers);
        let keys = VmKeys {
            config,
            remote: sources.at(now_ms),
        };
        verify_with(&keys, cache, &answers, host_verify, |verifier| {
            decide_with_peer(config, &view, verifier, peer)
        })
    };
    let (decision, wait) = decide_with_fresh_keys(
        &mut vm.sources,
        &Proxy,
        now_ms,
        decide_now,
        Decision::key_refusal,
    );
    let Some(hold) = wait.filter(|_| vm.held.len() < MAX_HELD) else {
        return Some(decision);
    };
    log::debug!(
        "audgate: request held for keys of provider {}",
        hold.provider
    );
    vm.held.push(HeldForKeys {
        context_id: request.context_id,
        hold,
        headers: request.headers.to_vec(),
        peer: KnownPeer::of(peer),
        answered: request.answered.to_vec(),
    });
    None
}

/// The metadata document's plan, when the configuration publishes one and the
/// request (`GET` or `HEAD` of its path) asks for it.
fn published(vm_cell: &RefCell<Vm>, map: &HeaderMap<'_>) -> Option<Plan> {
    let vm = vm_cell.try_borrow().ok()?;
    vm.config.resource_metadata.as_ref()?;
    let first = |name: &str| {
        let (_, value) = map.pairs().iter().find(|(key, _)| name_is(key, name))?;
        std::str::from_utf8(value).ok()
    };
    metadata_plan(&vm.config, first(":method")?, first(":path")?)
}

/// The changes for an outbound request whose exchanged token is at hand, read
/// from the borrowed headers; `None`: the full path decides.
fn exchanged_at_once(
    vm_cell: &RefCell<Vm>,
    map: &HeaderMap<'_>,
    now_ms: u64,
) -> Option<Vec<Change>> {
    let mut vm = vm_cell.try_borrow_mut().ok()?;
    let vm = &mut *vm;
    if vm.config.exchange.is_none() || !vm.config.providers.is_empty() {
        return None;
    }
    let request = BorrowedRequest::new(map.borrowed_pairs()?);
    let mut at_hand = AtHand {
        cache: &mut vm.exchanged,
        landed: None,
        now: i64::try_from(now_ms / 1000).unwrap_or(i64::MAX),
    };
    let (changes, destination) = onward::exchanged_at_once(&vm.config, &request, &mut at_hand)?;
    vm.metrics.exchange_hit(destination);
    Some(changes)
}
