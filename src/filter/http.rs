//! The HTTP context: reads the request headers once, decides, and either carries
//! the decision out or, when a remote provider's keys are not there yet (or a
//! `kid` is unknown and a refetch is allowed), holds the request for the root
//! context to settle.

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

use super::fetcher;
use super::host;
use super::respond::{carry_out, reject};
use super::root::request_of;
use super::vm::{Held, Vm, MAX_HELD};
use crate::caller::KnownPeer;
use crate::decision::{decide_with_peer, Decision};
use crate::jwks_cache::LEASE_MARGIN_MS;
use crate::rejection::Rejection;

/// Slack beyond the callout timeout before a held request is decided anyway.
const HOLD_SLACK_MS: u64 = 1_000;

/// Per-request context.
pub struct AudgateHttp {
    context_id: u32,
    vm: Option<Rc<RefCell<Vm>>>,
}

impl AudgateHttp {
    /// A context for request `context_id` of the VM `vm`.
    pub fn new(context_id: u32, vm: Option<Rc<RefCell<Vm>>>) -> AudgateHttp {
        AudgateHttp { context_id, vm }
    }
}

impl Context for AudgateHttp {
    fn on_done(&mut self) -> bool {
        if let Some(Ok(mut vm)) = self.vm.as_ref().map(|cell| cell.try_borrow_mut()) {
            vm.held.retain(|held| held.context_id != self.context_id);
        }
        true
    }
}

impl HttpContext for AudgateHttp {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let (Some(vm_cell), Some(headers)) = (self.vm.clone(), host::request_headers()) else {
            reject(Rejection::KeysUnavailable, "");
            return Action::Pause;
        };
        let now_ms = host::now_ms();
        let peer = host::HostPeer::default();
        let decide_now = |vm: &Vm| {
            let request = request_of(&headers);
            vm.with_verifier(now_ms, |verifier| {
                decide_with_peer(&vm.config, &request, verifier, &peer)
            })
        };
        let Ok(first) = vm_cell.try_borrow().map(|vm| decide_now(&vm)) else {
            reject(Rejection::KeysUnavailable, "");
            return Action::Pause;
        };
        // Before an unknown `kid` or missing keys is answered, make sure this
        // worker's copy of the key set is the one in shared data: another worker
        // may have fetched a newer set since this one's last tick.
        let decision = match stale_source(&vm_cell, &first) {
            Some(source) if resync(&vm_cell, source) => vm_cell
                .try_borrow()
                .map(|vm| decide_now(&vm))
                .unwrap_or(first),
            _ => first,
        };
        let (config, metrics, budget, wait) = {
            let Ok(vm) = vm_cell.try_borrow() else {
                reject(Rejection::KeysUnavailable, "");
                return Action::Pause;
            };
            (
                Rc::clone(&vm.config),
                Rc::clone(&vm.metrics),
                Rc::clone(&vm.log_budget),
                wait_for_keys(&vm, &decision, now_ms),
            )
        };
        if let Some((provider, deadline_ms)) = wait {
            if let Ok(mut vm) = vm_cell.try_borrow_mut() {
                if vm.held.len() < MAX_HELD {
                    let generation = vm.remote(provider).map_or(0, |remote| remote.generation);
                    log::debug!("audgate: request held for keys of provider {provider}");
                    vm.held.push(Held {
                        context_id: self.context_id,
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
            &request_of(&headers),
            &peer,
            decision,
        )
    }
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
        Rejection::KeysUnavailable => fetcher::ask_fetch(remote, now_ms),
        Rejection::UnknownKid => fetcher::ask_refetch(remote, now_ms),
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
