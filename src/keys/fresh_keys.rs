//! A refusal for an unknown `kid` or missing keys is never answered from a
//! stale copy of the key set. Each VM keeps its own copy of a remote key set and
//! reads shared data on its tick; another VM may have fetched a newer set since.
//!
//! For such a refusal the fetch state is read first, then this VM's copy is
//! brought up to shared data's, and the request decided again if it changed. A
//! fetching VM stores the keys before it marks the state done, so a fetch that
//! had ended when the state was read is in the copy; one still under way, or
//! asked for, is waited for ([`crate::keys::wait`] says which). Asking for a fetch
//! is a compare-and-swap on the state read: when it loses a race, all of this is
//! done again with the state as it is now.

use std::cell::RefCell;

use super::host::Proxy;
use super::vm::Vm;
use crate::decision::Decision;
use crate::keys::fetch_state::LEASE_MARGIN_MS;
use crate::keys::remote_sets::RemoteSet;
use crate::keys::shared_state::{read_state, write_state, CAS_ATTEMPTS};
use crate::keys::wait::{for_missing_keys, for_unknown_kid, KeyWait};
use crate::rejection::Rejection;

/// Slack beyond the callout timeout before a held request is decided anyway.
const HOLD_SLACK_MS: u64 = 1_000;

/// Decides with `decide`, and whether the decision should wait for keys: the
/// provider and the deadline of the wait. `None` when the VM state is busy.
pub fn decide_with_fresh_keys(
    vm_cell: &RefCell<Vm>,
    now_ms: u64,
    decide: impl Fn(&Vm) -> Decision,
) -> Option<(Decision, Option<(usize, u64)>)> {
    let mut decision = decide(&*vm_cell.try_borrow().ok()?);
    for _ in 0..CAS_ATTEMPTS {
        let Some((provider, source)) = stale_source(vm_cell, &decision) else {
            return Some((decision, None));
        };
        let (state, cas) = read_state(&Proxy, vm_cell.try_borrow().ok()?.sources.get(source)?);
        if resync(vm_cell, source) {
            decision = decide(&*vm_cell.try_borrow().ok()?);
        }
        let wait = match decision.verdict {
            Err(Rejection::UnknownKid) => for_unknown_kid(state, now_ms),
            Err(Rejection::KeysUnavailable) => for_missing_keys(state, now_ms),
            _ => KeyWait::Answer,
        };
        let vm = vm_cell.try_borrow().ok()?;
        let remote = vm.sources.get(source)?;
        let held = Some((provider, hold_deadline(remote, now_ms)));
        match wait {
            KeyWait::Answer => return Some((decision, None)),
            KeyWait::Wait => return Some((decision, held)),
            KeyWait::Ask(next) => {
                if write_state(&Proxy, remote, &next, cas) {
                    return Some((decision, held));
                }
            }
        }
    }
    Some((decision, None))
}

/// The provider and the key set whose copy may be stale: a refusal for an
/// unknown `kid` or missing keys of a remote provider.
fn stale_source(vm_cell: &RefCell<Vm>, decision: &Decision) -> Option<(usize, usize)> {
    match decision.verdict {
        Err(Rejection::UnknownKid | Rejection::KeysUnavailable) => {
            let vm = vm_cell.try_borrow().ok()?;
            let provider = decision.provider?;
            Some((provider, vm.sources.index_of(provider)?))
        }
        _ => None,
    }
}

/// Reads key set `source` from shared data into this VM; true if it changed.
fn resync(vm_cell: &RefCell<Vm>, source: usize) -> bool {
    let Ok(mut vm) = vm_cell.try_borrow_mut() else {
        return false;
    };
    vm.sources
        .get_mut(source)
        .is_some_and(|remote| remote.sync(&Proxy))
}

/// When a request held for `remote`'s keys is decided anyway: after the fetch's
/// callouts (two with discovery) could have timed out, and some slack.
fn hold_deadline(remote: &RemoteSet, now_ms: u64) -> u64 {
    let callouts = if remote.server.discovery { 2 } else { 1 };
    now_ms
        .saturating_add(remote.freshness.timeout_ms.saturating_mul(callouts))
        .saturating_add(LEASE_MARGIN_MS)
        .saturating_add(HOLD_SLACK_MS)
}
