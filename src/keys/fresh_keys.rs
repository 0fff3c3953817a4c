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
//! done again with the state as it is now. A held request is let go when its
//! keys change, its deadline passes or no fetch is coming any more.

use crate::keys::fetch_state::LEASE_MARGIN_MS;
use crate::keys::host::SharedData;
use crate::keys::remote_sets::{RemoteSet, RemoteSets};
use crate::keys::shared_state::{read_state, write_state, CAS_ATTEMPTS};
use crate::keys::wait::{fetch_coming, on_refusal, Asker, KeyWait, Lack};

/// Slack beyond the callout timeout before a held request is decided anyway.
const HOLD_SLACK_MS: u64 = 1_000;

/// A request that waits for its provider's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    /// The provider whose keys it waits for.
    pub provider: usize,
    /// That provider's key generation when it was held.
    pub generation: u64,
    /// After this (Unix ms) it is decided with whatever keys there are.
    pub deadline_ms: u64,
}

/// What a decision says about keys: the provider it is about (if any) and, for a
/// refusal a fetch may change, what it lacks.
pub type KeyRefusal = (Option<usize>, Option<Lack>);

/// Decides with `decide` (over this VM's key copies) and whether the decision
/// should wait for keys. `refusal` tells of a decision its provider and what it
/// lacks; only a refusal for lack of a remote provider's keys is looked at
/// again.
pub fn decide_with_fresh_keys<D>(
    sets: &mut RemoteSets,
    shared: &dyn SharedData,
    now_ms: u64,
    decide: impl Fn(&RemoteSets) -> D,
    refusal: impl Fn(&D) -> KeyRefusal,
) -> (D, Option<Hold>) {
    let mut decision = decide(sets);
    for _ in 0..CAS_ATTEMPTS {
        let (Some(provider), Some(_)) = refusal(&decision) else {
            return (decision, None);
        };
        let Some(index) = sets.index_of(provider) else {
            return (decision, None);
        };
        let Some(set) = sets.get_mut(index) else {
            return (decision, None);
        };
        let (state, cas) = read_state(shared, set);
        if set.sync(shared) {
            decision = decide(sets);
        }
        let wait = match refusal(&decision).1 {
            Some(lack) => on_refusal(state, lack, now_ms),
            None => KeyWait::Answer,
        };
        let Some(set) = sets.get(index) else {
            return (decision, None);
        };
        let hold = Hold {
            provider,
            generation: set.copy.generation(),
            deadline_ms: hold_deadline(set, now_ms),
        };
        match wait {
            KeyWait::Answer => return (decision, None),
            KeyWait::Wait => return (decision, Some(hold)),
            KeyWait::Ask(next) => {
                if write_state(shared, set, &next, cas) {
                    return (decision, Some(hold));
                }
            }
        }
    }
    (decision, None)
}

/// Which of the requests held as `holds` keep waiting at `now_ms`, in order
/// ([`keep_holding`]). When one is let go, every set is read again before it is
/// decided: the fetch state was read after the set's last sync, and a fetch
/// that ended in between stored its keys before it marked the state done.
pub fn still_held(
    sets: &mut RemoteSets,
    shared: &dyn SharedData,
    holds: impl IntoIterator<Item = Hold>,
    now_ms: u64,
) -> Vec<bool> {
    let waiting: Vec<bool> = holds
        .into_iter()
        .map(|hold| keep_holding(sets, shared, &hold, now_ms))
        .collect();
    if waiting.contains(&false) {
        sets.sync_all(shared);
    }
    waiting
}

/// Whether a request held as `hold` keeps waiting at `now_ms`: its keys have
/// not changed, its deadline has not passed, and a fetch it could use is
/// coming ([`fetch_coming`]).
pub fn keep_holding(sets: &RemoteSets, shared: &dyn SharedData, hold: &Hold, now_ms: u64) -> bool {
    let Some(set) = sets.of_provider(hold.provider) else {
        return false;
    };
    if set.copy.generation() != hold.generation || now_ms >= hold.deadline_ms {
        return false;
    }
    let (state, _) = read_state(shared, set);
    let asker = Asker::Held {
        has_keys: set.copy.has_keys(),
    };
    fetch_coming(&state, asker, now_ms)
}

/// When a request held for `set`'s keys is decided anyway: after the fetch's
/// callouts (two with discovery) could have timed out, and some slack.
fn hold_deadline(set: &RemoteSet, now_ms: u64) -> u64 {
    let callouts = if set.server.discovery { 2 } else { 1 };
    now_ms
        .saturating_add(set.freshness.timeout_ms.saturating_mul(callouts))
        .saturating_add(LEASE_MARGIN_MS)
        .saturating_add(HOLD_SLACK_MS)
}
