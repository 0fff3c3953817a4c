//! A request's headers: read once (one host call), answered from them directly
//! when the token is a cache hit that needs nothing more ([`cached_pass`]),
//! else decided in full and either carried out or, when a remote provider's
//! keys are not there yet (or a `kid` is unknown and a refetch is allowed),
//! held for the root context to settle.

use std::cell::RefCell;
use std::rc::Rc;

use super::abi::Action;
use super::fetcher;
use super::host;
use super::respond::{carry_out, pass, reject};
use super::vm::{Held, Vm, MAX_HELD};
use crate::caller::KnownPeer;
use crate::decision::{decide_with_peer, Decision};
use crate::extract::Request;
use crate::fast_path::cached_pass;
use crate::header_map::HeaderMap;
use crate::jwks_cache::LEASE_MARGIN_MS;
use crate::key_wait::{for_missing_keys, for_unknown_kid};
use crate::rejection::Rejection;

/// Slack beyond the callout timeout before a held request is decided anyway.
const HOLD_SLACK_MS: u64 = 1_000;

/// The request `context_id` ended: it is no longer held.
pub fn on_done(context_id: u32, vm_cell: &RefCell<Vm>) {
    if let Ok(mut vm) = vm_cell.try_borrow_mut() {
        if !vm.held.is_empty() {
            vm.held.retain(|held| held.context_id != context_id);
        }
    }
}

/// Decides request `context_id` on its headers: carries the decision out, or
/// holds the request until its keys arrive.
pub fn on_request_headers(context_id: u32, vm_cell: &Rc<RefCell<Vm>>) -> Action {
    let Some(bytes) = host::request_header_bytes() else {
        reject(Rejection::KeysUnavailable, "");
        return Action::Pause;
    };
    let now_ms = host::recent_ms();
    // No headers or no clock: nothing can be judged.
    let Some(map) = HeaderMap::parse(&bytes).filter(|_| now_ms != 0) else {
        reject(Rejection::KeysUnavailable, "");
        return Action::Pause;
    };
    // A cache hit that needs nothing more is answered from the borrowed headers.
    let hit = vm_cell.try_borrow().ok().and_then(|vm| {
        let decision =
            vm.with_verifier(now_ms, |verifier| cached_pass(&vm.config, &map, verifier))?;
        Some((Rc::clone(&vm.metrics), decision))
    });
    if let Some((metrics, decision)) = hit {
        return pass(&metrics, decision);
    }
    let headers = map.to_owned_pairs();
    let peer = host::HostPeer::default();
    let decide_now = |vm: &Vm| {
        let request = Request::from_headers(&headers);
        vm.with_verifier(now_ms, |verifier| {
            decide_with_peer(&vm.config, &request, verifier, &peer)
        })
    };
    let Some((decision, wait)) = decide_with_fresh_keys(vm_cell, now_ms, decide_now) else {
        reject(Rejection::KeysUnavailable, "");
        return Action::Pause;
    };
    let Ok((config, metrics, budget)) = vm_cell.try_borrow().map(|vm| {
        (
            Rc::clone(&vm.config),
            Rc::clone(&vm.metrics),
            Rc::clone(&vm.log_budget),
        )
    }) else {
        reject(Rejection::KeysUnavailable, "");
        return Action::Pause;
    };
    if let Some((provider, deadline_ms)) = wait {
        if let Ok(mut vm) = vm_cell.try_borrow_mut() {
            if vm.held.len() < MAX_HELD {
                let generation = vm.remote(provider).map_or(0, |remote| remote.generation);
                log::debug!("audgate: request held for keys of provider {provider}");
                vm.held.push(Held {
                    context_id,
                    provider,
                    generation,
                    deadline_ms,
                    headers,
                    peer: KnownPeer::of(&peer),
                });
                return Action::Pause;
            }
        }
    }
    carry_out(
        &config,
        &metrics,
        &budget,
        &Request::from_headers(&headers),
        &peer,
        decision,
    )
}

/// Decides with `decide`, and whether the decision should wait for keys. A
/// refusal for an unknown `kid` or missing keys is never answered from a stale
/// copy of the key set:
/// - before it is answered, this worker reads the key set from shared data (another
///   worker may have fetched a newer one since this one's last tick), and decides
///   again if it changed;
/// - when it is not to wait, the key set is read once more after the fetch state
///   was: a fetch that ended in between has stored its keys before it marked the
///   state done, so they are seen now, and the request is decided with them.
///
/// `None` when the VM state is busy.
fn decide_with_fresh_keys(
    vm_cell: &RefCell<Vm>,
    now_ms: u64,
    decide: impl Fn(&Vm) -> Decision,
) -> Option<(Decision, Option<(usize, u64)>)> {
    let redecide = |decision: Decision| -> Option<Decision> {
        match stale_source(vm_cell, &decision) {
            Some(source) if resync(vm_cell, source) => Some(decide(&*vm_cell.try_borrow().ok()?)),
            _ => Some(decision),
        }
    };
    let first = decide(&*vm_cell.try_borrow().ok()?);
    let decision = redecide(first)?;
    let wait = wait_for_keys(&*vm_cell.try_borrow().ok()?, &decision, now_ms);
    if wait.is_some() {
        return Some((decision, wait));
    }
    Some((redecide(decision)?, None))
}

/// The key set whose copy may be stale: a refusal for an unknown `kid` or
/// missing keys of a remote provider.
fn stale_source(vm_cell: &RefCell<Vm>, decision: &Decision) -> Option<usize> {
    match decision.verdict {
        Err(Rejection::UnknownKid | Rejection::KeysUnavailable) => {
            let vm = vm_cell.try_borrow().ok()?;
            *vm.source_of.get(decision.provider?)?
        }
        _ => None,
    }
}

/// Reads key set `source` from shared data into this worker; true if it changed.
fn resync(vm_cell: &RefCell<Vm>, source: usize) -> bool {
    let Ok(mut vm) = vm_cell.try_borrow_mut() else {
        return false;
    };
    vm.sources.get_mut(source).is_some_and(fetcher::sync)
}

/// Whether this decision should wait for keys: its provider is remote and either
/// has no usable keys while a fetch is under way, none was tried yet, or one may
/// be asked for now (at most one a second), or does not know the token's `kid`
/// while a refetch is under way or may be asked for. Returns the provider and the
/// deadline of the wait.
fn wait_for_keys(vm: &Vm, decision: &Decision, now_ms: u64) -> Option<(usize, u64)> {
    let Err(rejection) = decision.verdict else {
        return None;
    };
    let provider = decision.provider?;
    let remote = vm.remote(provider)?;
    let wait = match rejection {
        Rejection::KeysUnavailable => fetcher::should_wait(remote, now_ms, for_missing_keys),
        Rejection::UnknownKid => fetcher::should_wait(remote, now_ms, for_unknown_kid),
        _ => false,
    };
    // With discovery a fetch is two callouts, each with its timeout.
    let callouts = if remote.settings.discovery { 2 } else { 1 };
    let deadline = now_ms
        .saturating_add(remote.freshness.timeout_ms.saturating_mul(callouts))
        .saturating_add(LEASE_MARGIN_MS)
        .saturating_add(HOLD_SLACK_MS);
    wait.then_some((provider, deadline))
}
