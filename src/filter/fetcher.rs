//! Remote keys through shared data: reading the shared key set into this VM,
//! taking the fetch lease by compare-and-swap, sending the callout, taking its
//! reply, and asking for a refetch when a `kid` is unknown.

use std::time::Duration;

use super::host;
use super::vm::{Remote, Vm};
use crate::jwks_cache::{accept_body, check_reply, decode, encode, FetchState, KeysRecord};

/// Shared-data key of the VM id counter.
const VM_SEQUENCE_KEY: &str = "audgate;vm-sequence";
/// Attempts at one compare-and-swap update before giving up until the next tick.
const CAS_ATTEMPTS: usize = 8;

/// Creates the shared records that later change only by compare-and-swap. Runs in
/// `on_configure`, which Envoy calls on the main thread before any worker ticks,
/// so no two VMs race to create them.
pub fn create_shared_records(vm: &Vm) {
    let mut keys: Vec<&str> = vec![VM_SEQUENCE_KEY];
    keys.extend(
        vm.remotes
            .iter()
            .flatten()
            .map(|remote| remote.state_key.as_str()),
    );
    for key in keys {
        if host::shared_get(key).0.is_none() {
            let initial = if key == VM_SEQUENCE_KEY {
                b"0".to_vec()
            } else {
                encode(&FetchState::default())
            };
            if host::shared_set(key, &initial, None).is_err() {
                log::error!("audgate: could not create shared record {key}");
            }
        }
    }
}

/// A VM id unique among the VMs sharing this data (a CAS counter); 0 on failure.
pub fn allocate_vm_id() -> u32 {
    for _ in 0..CAS_ATTEMPTS {
        let (value, cas) = host::shared_get(VM_SEQUENCE_KEY);
        let current: u32 = value
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.parse().ok())
            .unwrap_or(0);
        let next = current.wrapping_add(1).max(1);
        if cas.is_some()
            && host::shared_set(VM_SEQUENCE_KEY, next.to_string().as_bytes(), cas).is_ok()
        {
            return next;
        }
    }
    0
}

/// Reads the provider's shared key set into this VM if it changed; true if it did.
pub fn sync(remote: &mut Remote, provider: &str) -> bool {
    let (value, cas) = host::shared_get(&remote.keys_key);
    if cas.is_none() || cas == remote.seen_cas {
        return false;
    }
    remote.seen_cas = cas;
    let Some(record) = decode::<KeysRecord>(value.as_deref()) else {
        return false;
    };
    match accept_body(record.jwks.into_bytes()) {
        Ok((_, parsed)) => {
            log::info!(
                "audgate: {provider}: key set in use: {} key(s), {} skipped",
                parsed.set.keys().len(),
                parsed.skipped.len()
            );
            remote.cached = Some((record.fetched_at_ms, parsed.set));
            remote.generation = remote.generation.wrapping_add(1);
            true
        }
        Err(failure) => {
            log::warn!("audgate: {provider}: shared key set unreadable: {failure}");
            false
        }
    }
}

/// The provider's shared fetch state and its CAS token.
pub fn read_state(remote: &Remote) -> (FetchState, Option<u32>) {
    let (value, cas) = host::shared_get(&remote.state_key);
    (decode(value.as_deref()).unwrap_or_default(), cas)
}

/// Applies `change` to the shared fetch state by compare-and-swap; the new state
/// if it was written, `None` if `change` declined or every attempt lost a race.
pub fn update_state(
    remote: &Remote,
    mut change: impl FnMut(FetchState) -> Option<FetchState>,
) -> Option<FetchState> {
    for _ in 0..CAS_ATTEMPTS {
        let (state, cas) = read_state(remote);
        let next = change(state)?;
        if cas.is_some() && host::shared_set(&remote.state_key, &encode(&next), cas).is_ok() {
            return Some(next);
        }
    }
    None
}

/// Starts a fetch for provider `index` if one is due and this VM wins the lease.
pub fn fetch_if_due(vm: &mut Vm, index: usize, now_ms: u64) {
    let vm_id = vm.vm_id;
    let Some(remote) = vm.remotes.get(index).and_then(Option::as_ref) else {
        return;
    };
    let fetched_at = remote.cached.as_ref().map(|(fetched_at, _)| *fetched_at);
    let freshness = remote.freshness;
    let leased = update_state(remote, |state| {
        state
            .due(fetched_at, freshness, now_ms)
            .then(|| state.leased(vm_id, freshness, now_ms))
    });
    if leased.is_none() {
        return;
    }
    let settings = &remote.settings;
    let timeout = Duration::from_millis(settings.timeout_ms);
    match host::dispatch_get(
        &settings.cluster,
        &settings.authority,
        &settings.path,
        timeout,
    ) {
        Ok(token) => vm.calls.push((token, index)),
        Err(status) => {
            log::warn!(
                "audgate: JWKS callout through cluster {} not sent: {status:?}",
                settings.cluster
            );
            let jitter = host::jitter();
            update_state(remote, |state| Some(state.failed(now_ms, jitter)));
            vm.metrics.fetch(index, false);
        }
    }
}

/// Takes the reply of a callout for provider `index`: a good key set goes to
/// shared data; anything else keeps the previous set and backs off.
pub fn take_reply(vm: &Vm, index: usize, body_size: usize, now_ms: u64) {
    let Some(remote) = vm.remote(index) else {
        return;
    };
    let provider = vm
        .config
        .providers
        .get(index)
        .map_or("-", |provider| provider.name.as_str());
    let outcome = check_reply(host::call_response_status(), body_size)
        .and_then(|()| accept_body(host::call_response_body(body_size).unwrap_or_default()));
    match outcome {
        Ok((jwks, parsed)) => {
            for skipped in &parsed.skipped {
                log::info!(
                    "audgate: {provider}: JWKS key {} ({}) skipped: {}",
                    skipped.index,
                    skipped.kid.as_deref().unwrap_or("no kid"),
                    skipped.reason
                );
            }
            let record = KeysRecord {
                fetched_at_ms: now_ms,
                jwks,
            };
            if host::shared_set(&remote.keys_key, &encode(&record), None).is_err() {
                log::error!("audgate: {provider}: could not store the fetched key set");
            }
            update_state(remote, |state| Some(state.succeeded()));
            vm.metrics.fetch(index, true);
        }
        Err(failure) => {
            log::warn!(
                "audgate: {provider}: JWKS fetch from {} failed: {failure}",
                remote.settings.uri
            );
            let jitter = host::jitter();
            update_state(remote, |state| Some(state.failed(now_ms, jitter)));
            vm.metrics.fetch(index, false);
        }
    }
}

/// Asks for a refetch of provider `remote`'s keys because a token named an
/// unknown `kid`: true when a fetch is already under way or asked for, or this
/// request asked for one; false when the rate limit says no.
pub fn ask_refetch(remote: &Remote, now_ms: u64) -> bool {
    let (state, _) = read_state(remote);
    if state.refetch || state.fetching(now_ms) {
        return true;
    }
    update_state(remote, |state| state.with_kid_refetch(now_ms)).is_some()
}
