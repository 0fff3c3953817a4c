//! The records every VM shares and changes only by compare-and-swap: each key
//! set's fetch state (the lease, failures, refetches asked for) and the counter
//! that gives each VM its id. A write that loses a race reads the record again
//! and retries, at most [`CAS_ATTEMPTS`] times.

use crate::keys::fetch_state::{decode, encode, FetchState};
use crate::keys::host::SharedData;
use crate::keys::remote_sets::{RemoteSet, RemoteSets};

/// Shared-data key of the VM id counter.
const VM_SEQUENCE_KEY: &str = "audgate;vm-sequence";
/// Attempts at one compare-and-swap update before giving up until the next tick.
pub const CAS_ATTEMPTS: usize = 8;

/// Creates the shared records that later change only by compare-and-swap. Runs
/// at configure time, which Envoy runs on the main thread before any worker
/// ticks, so no two VMs race to create them.
pub fn create_records(shared: &dyn SharedData, sets: &RemoteSets) {
    let mut keys: Vec<&str> = vec![VM_SEQUENCE_KEY];
    keys.extend(sets.iter().map(|set| set.state_key.as_str()));
    for key in keys {
        if shared.get(key).value.is_none() {
            let initial = if key == VM_SEQUENCE_KEY {
                b"0".to_vec()
            } else {
                encode(&FetchState::default())
            };
            if shared.set(key, &initial, None).is_err() {
                log::error!("audgate: could not create shared record {key}");
            }
        }
    }
}

/// A VM id unique among the VMs sharing this data (a CAS counter); 0 on failure.
pub fn allocate_vm_id(shared: &dyn SharedData) -> u32 {
    for _ in 0..CAS_ATTEMPTS {
        let record = shared.get(VM_SEQUENCE_KEY);
        let current: u32 = record
            .value
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.parse().ok())
            .unwrap_or(0);
        let next = current.wrapping_add(1).max(1);
        if record.cas.is_some()
            && shared
                .set(VM_SEQUENCE_KEY, next.to_string().as_bytes(), record.cas)
                .is_ok()
        {
            return next;
        }
    }
    0
}

/// The shared fetch state of `set` and its CAS token.
pub fn read_state(shared: &dyn SharedData, set: &RemoteSet) -> (FetchState, Option<u32>) {
    let record = shared.get(&set.state_key);
    (
        decode(record.value.as_deref()).unwrap_or_default(),
        record.cas,
    )
}

/// Writes `next` as the shared fetch state of `set` if it is still the one read
/// with `cas`; false when another VM changed it since (read it again).
pub fn write_state(
    shared: &dyn SharedData,
    set: &RemoteSet,
    next: &FetchState,
    cas: Option<u32>,
) -> bool {
    cas.is_some() && shared.set(&set.state_key, &encode(next), cas).is_ok()
}

/// Applies `change` to the shared fetch state of `set` by compare-and-swap; the
/// new state if it was written, `None` if `change` declined or every attempt
/// lost a race.
pub fn update_state(
    shared: &dyn SharedData,
    set: &RemoteSet,
    mut change: impl FnMut(FetchState) -> Option<FetchState>,
) -> Option<FetchState> {
    for _ in 0..CAS_ATTEMPTS {
        let (state, cas) = read_state(shared, set);
        let next = change(state)?;
        if write_state(shared, set, &next, cas) {
            return Some(next);
        }
    }
    None
}
