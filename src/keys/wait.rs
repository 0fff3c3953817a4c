//! What a request that found no usable keys, or a `kid` its provider's key set
//! does not have, asks of the shared fetch state: to wait for a fetch already
//! under way or asked for, to ask for one and wait, or to be answered now.
//!
//! The filter applies the answer by compare-and-swap and asks again on every
//! lost race, so a request that loses to another asking for the same fetch
//! sees that fetch and waits for it too, rather than being refused by the
//! rate limit the winner just set.

use crate::keys::fetch_state::FetchState;

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

/// A token named a `kid` the key set lacks: wait for a fetch under way or a
/// refetch already asked for, else ask for one unless one was asked for less
/// than [`crate::keys::fetch_state::MIN_KID_REFETCH_MS`] ago.
pub fn for_unknown_kid(state: FetchState, now_ms: u64) -> KeyWait {
    if state.refetch || state.fetching(now_ms) {
        return KeyWait::Wait;
    }
    state
        .with_kid_refetch(now_ms)
        .map_or(KeyWait::Answer, KeyWait::Ask)
}

/// A request found no usable keys: wait while a fetch is under way, none was
/// tried yet, or one is asked for; else ask for one unless one started less than
/// [`crate::keys::fetch_state::MIN_WANTED_GAP_MS`] ago (then 503 at once).
pub fn for_missing_keys(state: FetchState, now_ms: u64) -> KeyWait {
    if state.worth_waiting(now_ms) || state.wanted {
        return KeyWait::Wait;
    }
    state
        .with_fetch_wanted(now_ms)
        .map_or(KeyWait::Answer, KeyWait::Ask)
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
