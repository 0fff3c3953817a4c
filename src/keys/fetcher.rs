//! Remote keys through shared data: reading the shared key set into this VM,
//! taking the fetch lease by compare-and-swap, sending the callouts (the
//! discovery document first where `discovery: true`), taking their replies, and
//! writing the fetch state a request asks for (see `fresh_keys`).

use std::time::Duration;

use super::host::{self, Proxy};
use super::vm::{Call, CallKind, Vm};
use crate::keys::discovery::jwks_location;
use crate::keys::fetch_reply::{accept_body, check_reply, explain, FetchFailure};
use crate::keys::fetch_state::{decode, encode, FetchState, KeysRecord};
use crate::keys::host::{Callout, Callouts, Reply, SetError, SharedData};
use crate::keys::remote_sets::RemoteSet;

/// Shared-data key of the VM id counter.
const VM_SEQUENCE_KEY: &str = "audgate;vm-sequence";
/// Attempts at one compare-and-swap update before giving up until the next tick.
pub const CAS_ATTEMPTS: usize = 8;

/// Creates the shared records that later change only by compare-and-swap. Runs in
/// `on_configure`, which Envoy calls on the main thread before any worker ticks,
/// so no two VMs race to create them.
pub fn create_shared_records(vm: &Vm) {
    let mut keys: Vec<&str> = vec![VM_SEQUENCE_KEY];
    keys.extend(vm.sources.iter().map(|remote| remote.state_key.as_str()));
    for key in keys {
        if Proxy.get(key).value.is_none() {
            let initial = if key == VM_SEQUENCE_KEY {
                b"0".to_vec()
            } else {
                encode(&FetchState::default())
            };
            if Proxy.set(key, &initial, None).is_err() {
                log::error!("audgate: could not create shared record {key}");
            }
        }
    }
}

/// A VM id unique among the VMs sharing this data (a CAS counter); 0 on failure.
pub fn allocate_vm_id() -> u32 {
    for _ in 0..CAS_ATTEMPTS {
        let shared = Proxy.get(VM_SEQUENCE_KEY);
        let current: u32 = shared
            .value
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.parse().ok())
            .unwrap_or(0);
        let next = current.wrapping_add(1).max(1);
        if shared.cas.is_some()
            && Proxy
                .set(VM_SEQUENCE_KEY, next.to_string().as_bytes(), shared.cas)
                .is_ok()
        {
            return next;
        }
    }
    0
}

/// The shared fetch state and its CAS token.
pub fn read_state(remote: &RemoteSet) -> (FetchState, Option<u32>) {
    let shared = Proxy.get(&remote.state_key);
    (
        decode(shared.value.as_deref()).unwrap_or_default(),
        shared.cas,
    )
}

/// Applies `change` to the shared fetch state by compare-and-swap; the new state
/// if it was written, `None` if `change` declined or every attempt lost a race.
pub fn update_state(
    remote: &RemoteSet,
    mut change: impl FnMut(FetchState) -> Option<FetchState>,
) -> Option<FetchState> {
    for _ in 0..CAS_ATTEMPTS {
        let (state, cas) = read_state(remote);
        let next = change(state)?;
        if write_state(remote, &next, cas) {
            return Some(next);
        }
    }
    None
}

/// Starts a fetch of key set `source` if one is due and this VM wins the lease.
pub fn fetch_if_due(vm: &mut Vm, source: usize, now_ms: u64) {
    let vm_id = vm.vm_id;
    let Some(remote) = vm.sources.get(source) else {
        return;
    };
    let fetched_at = remote.copy.fetched_at();
    let freshness = remote.freshness;
    let leased = update_state(remote, |state| {
        state
            .due(fetched_at, freshness, now_ms)
            .then(|| state.leased(vm_id, freshness, now_ms))
    });
    if leased.is_none() {
        return;
    }
    let (kind, path) = if remote.server.discovery {
        (CallKind::Discovery, remote.server.path.clone())
    } else {
        (CallKind::Jwks, remote.server.path.clone())
    };
    send(vm, source, kind, &path, now_ms);
}

/// Sends one callout for `source`; a callout the host will not send is a failed
/// fetch.
fn send(vm: &mut Vm, source: usize, kind: CallKind, path: &str, now_ms: u64) {
    let Some(remote) = vm.sources.get(source) else {
        return;
    };
    let server = &remote.server;
    let callout = Callout {
        cluster: &server.cluster,
        authority: &server.authority,
        path,
        timeout: Duration::from_millis(server.timeout_ms),
    };
    match Proxy.dispatch(&callout) {
        Ok(token) => vm.calls.push(Call {
            token,
            source,
            kind,
            sent_ms: now_ms,
        }),
        Err(refused) => {
            log::debug!("audgate: {refused}");
            let failure = FetchFailure::NotSent(server.cluster.clone());
            failed(vm, source, &failure, now_ms);
        }
    }
}

/// Records a failed fetch of `source`: the previous keys stay, retries back off.
fn failed(vm: &Vm, source: usize, failure: &FetchFailure, now_ms: u64) {
    let Some(remote) = vm.sources.get(source) else {
        return;
    };
    log::warn!(
        "audgate: {}: JWKS fetch from {} through cluster {} failed: {failure}",
        remote.label,
        remote.server.uri,
        remote.server.cluster
    );
    let jitter = host::jitter();
    update_state(remote, |state| Some(state.failed(now_ms, jitter)));
    vm.metrics.fetch(remote.first_provider(), false);
}

/// Takes the reply of `call`: a discovery document leads to the key set's
/// callout; a good key set goes to shared data; anything else keeps the previous
/// set and backs off.
pub fn take_reply(vm: &mut Vm, call: Call, reply: impl FnOnce() -> Reply, now_ms: u64) {
    let Some(remote) = vm.sources.get(call.source) else {
        return;
    };
    // The keys record as it is before this reply is taken: the store below is a
    // compare-and-swap on it, so no other fetch's keys are overwritten.
    let keys_cas = Proxy.get(&remote.keys_key).cas;
    if read_state(remote).0.holder != vm.vm_id {
        log::info!(
            "audgate: {}: a late JWKS reply was dropped: its lease had lapsed and another fetch took over",
            remote.label
        );
        return;
    }
    let elapsed = now_ms.saturating_sub(call.sent_ms);
    let timeout_ms = remote.server.timeout_ms;
    let Reply {
        status,
        body_size,
        body,
    } = reply();
    let checked = check_reply(status, body_size);
    let outcome = checked
        .map_err(|failure| explain(failure, &body, elapsed, timeout_ms))
        .and_then(|()| match call.kind {
            CallKind::Discovery => jwks_location(&body, &remote.issuer, &remote.server.authority)
                .map(Next::Keys)
                .map_err(FetchFailure::Discovery),
            CallKind::Jwks => accept_body(body.clone())
                .map(|(jwks, parsed)| Next::Store(jwks, parsed))
                .map_err(|failure| explain(failure, &body, elapsed, timeout_ms)),
        });
    match outcome {
        Ok(Next::Keys(path)) => {
            let (freshness, vm_id) = (remote.freshness, vm.vm_id);
            // The key set's callout runs under a renewed lease.
            update_state(remote, |state| Some(state.leased(vm_id, freshness, now_ms)));
            send(vm, call.source, CallKind::Jwks, &path, now_ms);
        }
        Ok(Next::Store(jwks, parsed)) => {
            for skipped in &parsed.skipped {
                log::info!(
                    "audgate: {}: JWKS key {} ({}) skipped: {}",
                    remote.label,
                    skipped.index,
                    skipped.kid.as_deref().unwrap_or("no kid"),
                    skipped.reason
                );
            }
            let record = KeysRecord {
                fetched_at_ms: now_ms,
                jwks,
            };
            match Proxy.set(&remote.keys_key, &encode(&record), keys_cas) {
                Ok(()) => {
                    update_state(remote, |state| Some(state.succeeded()));
                    vm.metrics.fetch(remote.first_provider(), true);
                }
                // Another fetch stored its keys since: this reply is not newer.
                Err(SetError::CasMismatch) => log::info!(
                    "audgate: {}: a late JWKS reply was dropped: another fetch stored its keys first",
                    remote.label
                ),
                Err(_) => failed(vm, call.source, &FetchFailure::NotStored, now_ms),
            }
        }
        Err(failure) => failed(vm, call.source, &failure, now_ms),
    }
}

/// What a good callout reply leads to.
enum Next {
    /// The discovery document named the key set at this path.
    Keys(String),
    /// A key set to store.
    Store(String, crate::keys::jwks::ParsedJwks),
}

/// Writes `next` as the shared fetch state if it is still the one read with
/// `cas`; false when another VM changed it since (read it again).
pub fn write_state(remote: &RemoteSet, next: &FetchState, cas: Option<u32>) -> bool {
    cas.is_some() && Proxy.set(&remote.state_key, &encode(next), cas).is_ok()
}
