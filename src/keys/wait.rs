//! Whether a request waits for keys: the one rule, [`fetch_coming`], asked when
//! a request is first refused for an unknown `kid` or missing keys (wait, ask
//! for a fetch and wait, or be answered now) and again for a held request on
//! every tick.
//!
//! The filter applies an [`KeyWait::Ask`] by compare-and-swap and asks again on
//! every lost race, so a request that loses to another asking for the same
//! fetch sees that fetch and waits for it too, rather than being refused by the
//! rate limit the winner just set.

use crate::keys::fetch_state::FetchState;

/// What a refused request lacks that a fetch may bring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lack {
    /// Its token names a `kid` the provider's key set does not have.
    Kid,
    /// Its provider has no usable keys.
    Keys,
}

/// Who asks whether a fetch is coming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    /// A request refused just now, for what it lacks.
    Refused(Lack),
    /// A request held earlier, whose VM has (or has no) keys for it now.
    Held {
        /// Whether this VM's copy holds a key set at all.
        has_keys: bool,
    },
}

/// The rule: whether a fetch that `asker` could use is coming. A fetch under
/// way (a VM holds the lease) serves everyone. Besides it:
/// - an unknown `kid` waits for a refetch asked for;
/// - missing keys wait for a fetch asked for, or while no fetch has failed since
///   the last good one (none tried yet: the first fetch is due at once);
/// - a held request keeps waiting for either fetch asked for, or, while its VM
///   has no keys at all, until a fetch fails.
pub fn fetch_coming(state: &FetchState, asker: Asker, now_ms: u64) -> bool {
    let not_failing = state.failures == 0 && state.last_failure_ms == 0;
    state.fetching(now_ms)
        || match asker {
            Asker::Refused(Lack::Kid) => state.refetch,
            Asker::Refused(Lack::Keys) => state.wanted || not_failing,
            Asker::Held { has_keys } => state.refetch || state.wanted || (!has_keys && not_failing),
        }
}

/// What a request does about missing keys or an unknown `kid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyWait {
    /// A fetch is under way or asked for: wait for it.
    Wait,
    /// Write this state (a fetch asked for), then wait.
    Ask(FetchState),
    /// No fetch will come soon: answer the request now.
    Answer,
}

/// A request refused for `lack`: wait for a fetch that is coming, else ask for
/// one (an unknown `kid`: a refetch, unless one was asked for less than
/// [`crate::keys::fetch_state::MIN_KID_REFETCH_MS`] ago; missing keys: a fetch
/// now, unless one started less than
/// [`crate::keys::fetch_state::MIN_WANTED_GAP_MS`] ago), else answer now.
pub fn on_refusal(state: FetchState, lack: Lack, now_ms: u64) -> KeyWait {
    if fetch_coming(&state, Asker::Refused(lack), now_ms) {
        return KeyWait::Wait;
    }
    let asked = match lack {
        Lack::Kid => state.with_kid_refetch(now_ms),
        Lack::Keys => state.with_fetch_wanted(now_ms),
    };
    asked.map_or(KeyWait::Answer, KeyWait::Ask)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token named a `kid` the key set lacks ([`on_refusal`] for [`Lack::Kid`]).
    pub fn for_unknown_kid(state: FetchState, now_ms: u64) -> KeyWait {
        on_refusal(state, Lack::Kid, now_ms)
    }

    /// A request found no usable keys ([`on_refusal`] for [`Lack::Keys`]).
    pub fn for_missing_keys(state: FetchState, now_ms: u64) -> KeyWait {
        on_refusal(state, Lack::Keys, now_ms)
    }
    use crate::keys::fetch_state::{Freshness, MIN_KID_REFETCH_MS, MIN_WANTED_GAP_MS};

    const FRESH: Freshness = Freshness {
        cache_duration_ms: 300_000,
        timeout_ms: 1_000,
    };

    #[test]
    fn an_unknown_kid_asks_for_a_refetch_then_waits_for_it() {
        let KeyWait::Ask(asked) = for_unknown_kid(FetchState::default(), 10_000) else {
            panic!("the first unknown kid asks for a refetch");
        };
        assert!(asked.refetch);
        // A second request, even one that lost the compare-and-swap to the first
        // and reads the state it wrote, waits for that refetch: it is not refused
        // by the rate limit the first one just set.
        assert_eq!(for_unknown_kid(asked, 10_000), KeyWait::Wait);
        let fetching = asked.leased(1, FRESH, 10_010);
        assert_eq!(for_unknown_kid(fetching, 10_020), KeyWait::Wait);
    }

    #[test]
    fn after_a_refetch_another_unknown_kid_is_answered_until_the_limit_passes() {
        let KeyWait::Ask(asked) = for_unknown_kid(FetchState::default(), 10_000) else {
            panic!("the first unknown kid asks for a refetch");
        };
        let done = asked.leased(1, FRESH, 10_010).succeeded();
        assert_eq!(for_unknown_kid(done, 10_100), KeyWait::Answer);
        assert!(matches!(
            for_unknown_kid(done, 10_000 + MIN_KID_REFETCH_MS),
            KeyWait::Ask(_)
        ));
    }

    #[test]
    fn missing_keys_wait_for_the_first_fetch_and_for_one_asked_for() {
        assert_eq!(
            for_missing_keys(FetchState::default(), 1_000),
            KeyWait::Wait
        );
        let failed = FetchState::default()
            .leased(1, FRESH, 1_000)
            .failed(1_500, 0);
        let KeyWait::Ask(wanted) = for_missing_keys(failed, 1_000 + MIN_WANTED_GAP_MS) else {
            panic!("a request past the gap asks for a fetch");
        };
        assert!(wanted.wanted);
        // Another request reading the state the first one wrote waits with it.
        assert_eq!(
            for_missing_keys(wanted, 1_000 + MIN_WANTED_GAP_MS),
            KeyWait::Wait
        );
    }

    #[test]
    fn missing_keys_are_answered_right_after_a_failed_attempt() {
        let failed = FetchState::default()
            .leased(1, FRESH, 1_000)
            .failed(1_500, 0);
        assert_eq!(for_missing_keys(failed, 1_600), KeyWait::Answer);
    }

    #[test]
    fn requests_wait_for_a_first_or_running_fetch_only() {
        let keys = Asker::Refused(Lack::Keys);
        let fresh = FetchState::default();
        assert!(fetch_coming(&fresh, keys, 0));
        let failed = fresh.leased(1, FRESH, 0).failed(10, 500);
        assert!(!fetch_coming(&failed, keys, 20));
        assert!(fetch_coming(&failed.leased(2, FRESH, 2_000), keys, 2_001));
    }

    #[test]
    fn a_held_request_waits_for_any_fetch_asked_for_and_without_keys_for_the_first() {
        let failed = FetchState::default().leased(1, FRESH, 0).failed(10, 500);
        for has_keys in [false, true] {
            let held = Asker::Held { has_keys };
            assert!(!fetch_coming(&failed, held, 20));
            let refetch = failed.with_kid_refetch(20).unwrap();
            assert!(fetch_coming(&refetch, held, 20));
            let wanted = failed.with_fetch_wanted(20_000).unwrap();
            assert!(fetch_coming(&wanted, held, 20_000));
            assert!(fetch_coming(&failed.leased(2, FRESH, 30), held, 31));
        }
        let never_tried = FetchState::default();
        assert!(fetch_coming(
            &never_tried,
            Asker::Held { has_keys: false },
            0
        ));
        assert!(!fetch_coming(
            &never_tried,
            Asker::Held { has_keys: true },
            0
        ));
    }
}
