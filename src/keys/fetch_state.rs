//! The remote key cache as data: what proxy-wasm shared data holds for each
//! remote key set, and the pure rules over it (when to fetch, who fetches, how
//! failures back off, how long stale keys serve). The fetcher only reads and
//! writes these records; every decision about them is made here. How a reply is
//! judged is [`crate::keys::fetch_reply`]'s.

use serde::{Deserialize, Serialize};

/// How long keys keep serving past their expiry while refreshes fail.
pub const STALE_GRACE_MS: u64 = 24 * 60 * 60 * 1000;
/// Least time between two refetches caused by unknown `kid`s, per provider.
pub const MIN_KID_REFETCH_MS: u64 = 5_000;
/// First retry delay after a failed fetch; it doubles with each failure.
pub const BACKOFF_BASE_MS: u64 = 1_000;
/// Longest retry delay.
pub const BACKOFF_MAX_MS: u64 = 30_000;
/// Extra time a fetch lease lasts beyond the callout timeout.
pub const LEASE_MARGIN_MS: u64 = 1_000;
/// Least time between two fetch attempts that requests ask for (keys missing),
/// per key set across the proxy: traffic brings keys back within about a second
/// of the key server's return, and a flood of requests causes no fetch storm.
pub const MIN_WANTED_GAP_MS: u64 = 1_000;

/// A fetched key set as kept in shared data: the raw body and when it was fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysRecord {
    /// When the fetch completed, Unix milliseconds.
    pub fetched_at_ms: u64,
    /// The JWKS body as served.
    pub jwks: String,
}

/// The fetch state of one provider as kept in shared data (changed only by
/// compare-and-swap): the fetch lease, the failure count and pending refetches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchState {
    /// VM holding the fetch lease; 0 when none.
    pub holder: u32,
    /// When the lease lapses, Unix milliseconds.
    pub lease_until_ms: u64,
    /// Failed fetches since the last success.
    pub failures: u32,
    /// No fetch before this time (backoff), Unix milliseconds.
    pub next_attempt_ms: u64,
    /// When the last fetch failed, Unix milliseconds; 0 if none.
    pub last_failure_ms: u64,
    /// A fetch was asked for before the keys are due (unknown `kid`).
    pub refetch: bool,
    /// When an unknown `kid` last asked for a refetch, Unix milliseconds.
    pub last_kid_refetch_ms: u64,
    /// When the last fetch started, Unix milliseconds; 0 if none.
    #[serde(default)]
    pub last_attempt_ms: u64,
    /// A request found no usable keys and asked for a fetch now, backoff or not.
    #[serde(default)]
    pub wanted: bool,
}

/// Serialises a record for shared data.
pub fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    serde_json::to_vec(record).unwrap_or_default()
}

/// Reads a record from shared data; `None` if absent or unreadable.
pub fn decode<'a, T: Deserialize<'a>>(bytes: Option<&'a [u8]>) -> Option<T> {
    bytes.and_then(|bytes| serde_json::from_slice(bytes).ok())
}

/// Freshness settings of one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// `cache_duration_s` in milliseconds.
    pub cache_duration_ms: u64,
    /// `timeout_ms`.
    pub timeout_ms: u64,
}

impl Freshness {
    /// When keys fetched at `fetched_at_ms` should be refreshed: after four
    /// fifths of their cache duration, so a refresh lands before they expire.
    pub fn refresh_at(self, fetched_at_ms: u64) -> u64 {
        let early = self.cache_duration_ms / 5;
        fetched_at_ms.saturating_add(self.cache_duration_ms.saturating_sub(early))
    }

    /// Whether keys fetched at `fetched_at_ms` may still verify tokens at `now_ms`:
    /// within their cache duration, or up to [`STALE_GRACE_MS`] past it.
    pub fn usable(self, fetched_at_ms: u64, now_ms: u64) -> bool {
        let limit = fetched_at_ms
            .saturating_add(self.cache_duration_ms)
            .saturating_add(STALE_GRACE_MS);
        now_ms < limit
    }
}

impl FetchState {
    /// Whether some VM holds an unexpired lease: a fetch is under way.
    pub fn fetching(&self, now_ms: u64) -> bool {
        self.holder != 0 && now_ms < self.lease_until_ms
    }

    /// Whether a fetch should start now, given when the current keys (if any)
    /// were fetched.
    pub fn due(&self, keys_fetched_at_ms: Option<u64>, freshness: Freshness, now_ms: u64) -> bool {
        if self.fetching(now_ms) {
            return false;
        }
        if self.wanted && self.attempt_allowed(now_ms) {
            return true;
        }
        if now_ms < self.next_attempt_ms {
            return false;
        }
        match keys_fetched_at_ms {
            None => true,
            Some(fetched) => self.refetch || now_ms >= freshness.refresh_at(fetched),
        }
    }

    /// The state once `vm` has taken the lease for a fetch.
    pub fn leased(self, vm: u32, freshness: Freshness, now_ms: u64) -> FetchState {
        FetchState {
            holder: vm,
            lease_until_ms: now_ms
                .saturating_add(freshness.timeout_ms)
                .saturating_add(LEASE_MARGIN_MS),
            last_attempt_ms: now_ms,
            wanted: false,
            ..self
        }
    }

    /// Whether a fetch that requests ask for may start at `now_ms`: none started
    /// in the last [`MIN_WANTED_GAP_MS`].
    pub fn attempt_allowed(&self, now_ms: u64) -> bool {
        self.last_attempt_ms == 0
            || now_ms.saturating_sub(self.last_attempt_ms) >= MIN_WANTED_GAP_MS
    }

    /// The state once a request that found no usable keys asks for a fetch now
    /// (past any backoff), or `None` when one started less than
    /// [`MIN_WANTED_GAP_MS`] ago: that request is answered 503 at once.
    pub fn with_fetch_wanted(self, now_ms: u64) -> Option<FetchState> {
        self.attempt_allowed(now_ms).then_some(FetchState {
            wanted: true,
            ..self
        })
    }

    /// The state after a successful fetch.
    pub fn succeeded(self) -> FetchState {
        FetchState {
            holder: 0,
            lease_until_ms: 0,
            failures: 0,
            next_attempt_ms: 0,
            last_failure_ms: 0,
            refetch: false,
            last_kid_refetch_ms: self.last_kid_refetch_ms,
            last_attempt_ms: self.last_attempt_ms,
            wanted: false,
        }
    }

    /// The state after a failed fetch; `jitter` in `0..=1000` spreads retries
    /// over the upper half of the backoff delay.
    pub fn failed(self, now_ms: u64, jitter: u16) -> FetchState {
        let failures = self.failures.saturating_add(1);
        FetchState {
            holder: 0,
            lease_until_ms: 0,
            failures,
            next_attempt_ms: now_ms.saturating_add(backoff_ms(failures, jitter)),
            last_failure_ms: now_ms,
            refetch: false,
            wanted: false,
            ..self
        }
    }

    /// The state once an unknown `kid` asks for a refetch, or `None` when one was
    /// asked for less than [`MIN_KID_REFETCH_MS`] ago.
    pub fn with_kid_refetch(self, now_ms: u64) -> Option<FetchState> {
        let since = now_ms.saturating_sub(self.last_kid_refetch_ms);
        if self.last_kid_refetch_ms != 0 && since < MIN_KID_REFETCH_MS {
            return None;
        }
        Some(FetchState {
            refetch: true,
            last_kid_refetch_ms: now_ms,
            ..self
        })
    }
}

/// Retry delay after `failures` failures: doubling from [`BACKOFF_BASE_MS`] up to
/// [`BACKOFF_MAX_MS`], then scaled into its upper half by `jitter` (`0..=1000`).
pub fn backoff_ms(failures: u32, jitter: u16) -> u64 {
    let doublings = failures.saturating_sub(1).min(16);
    let full = BACKOFF_BASE_MS
        .checked_shl(doublings)
        .unwrap_or(BACKOFF_MAX_MS)
        .min(BACKOFF_MAX_MS);
    let half = full / 2;
    let spread = half.saturating_mul(u64::from(jitter.min(1000))) / 1000;
    half.saturating_add(spread)
}

/// A 64-bit FNV-1a hash of `text`, to tell a changed key set from the same one.
pub fn text_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash: u64, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A short stable tag of a provider's remote key settings, so that shared-data
/// keys change when the URI or cluster does (FNV-1a, 64 bits, hex).
pub fn settings_tag(uri: &str, cluster: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in uri.bytes().chain([0]).chain(cluster.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRESH: Freshness = Freshness {
        cache_duration_ms: 300_000,
        timeout_ms: 2_000,
    };

    #[test]
    fn records_round_trip_and_garbage_is_none() {
        let keys = KeysRecord {
            fetched_at_ms: 5,
            jwks: "{\"keys\":[]}".into(),
        };
        assert_eq!(decode::<KeysRecord>(Some(&encode(&keys))), Some(keys));
        let state = FetchState {
            holder: 3,
            failures: 2,
            ..FetchState::default()
        };
        assert_eq!(decode::<FetchState>(Some(&encode(&state))), Some(state));
        assert_eq!(decode::<FetchState>(Some(b"nope")), None);
        assert_eq!(decode::<FetchState>(None), None);
    }

    #[test]
    fn first_fetch_is_due_at_once_and_only_one_vm_leases_it() {
        let state = FetchState::default();
        assert!(state.due(None, FRESH, 1_000));
        let leased = state.leased(7, FRESH, 1_000);
        assert!(leased.fetching(1_000));
        assert!(
            !leased.due(None, FRESH, 1_500),
            "a leased fetch is not due for another VM"
        );
        assert!(
            leased.due(None, FRESH, 1_000 + 2_000 + LEASE_MARGIN_MS),
            "an abandoned lease lapses"
        );
    }

    #[test]
    fn refresh_comes_before_expiry() {
        let state = FetchState::default();
        assert!(!state.due(Some(0), FRESH, 239_999));
        assert!(state.due(Some(0), FRESH, 240_000));
        assert!(FRESH.refresh_at(0) < 300_000);
    }

    #[test]
    fn stale_keys_serve_for_a_day_past_expiry() {
        assert!(FRESH.usable(0, 300_000 + STALE_GRACE_MS - 1));
        assert!(!FRESH.usable(0, 300_000 + STALE_GRACE_MS));
    }

    #[test]
    fn failures_back_off_exponentially_with_jitter() {
        assert_eq!(backoff_ms(1, 1000), 1_000);
        assert_eq!(backoff_ms(1, 0), 500);
        assert_eq!(backoff_ms(2, 1000), 2_000);
        assert_eq!(backoff_ms(3, 1000), 4_000);
        assert_eq!(backoff_ms(20, 1000), BACKOFF_MAX_MS);
        assert_eq!(backoff_ms(u32::MAX, 1000), BACKOFF_MAX_MS);
        let failed = FetchState::default()
            .leased(1, FRESH, 0)
            .failed(10_000, 1000);
        assert_eq!(
            (failed.holder, failed.failures, failed.next_attempt_ms),
            (0, 1, 11_000)
        );
        assert!(!failed.due(None, FRESH, 10_999));
        assert!(failed.due(None, FRESH, 11_000));
        let again = failed.failed(11_000, 1000);
        assert_eq!(again.next_attempt_ms, 13_000);
        assert_eq!(again.succeeded().failures, 0);
    }

    #[test]
    fn unknown_kid_refetches_are_rate_limited() {
        let state = FetchState::default();
        let asked = state.with_kid_refetch(10_000).unwrap();
        assert!(
            asked.due(Some(9_000), FRESH, 10_000),
            "a refetch makes fresh keys due"
        );
        assert_eq!(
            asked.with_kid_refetch(10_000 + MIN_KID_REFETCH_MS - 1),
            None
        );
        assert!(asked
            .with_kid_refetch(10_000 + MIN_KID_REFETCH_MS)
            .is_some());
        let done = asked.leased(1, FRESH, 10_000).succeeded();
        assert!(!done.refetch);
        assert_eq!(
            done.with_kid_refetch(11_000),
            None,
            "the rate limit outlives the fetch"
        );
    }

    #[test]
    fn settings_tags_differ_by_uri_and_cluster() {
        let a = settings_tag("https://idp/jwks", "idp");
        assert_eq!(a.len(), 16);
        assert_eq!(a, settings_tag("https://idp/jwks", "idp"));
        assert_ne!(a, settings_tag("https://idp/jwks2", "idp"));
        assert_ne!(a, settings_tag("https://idp/jwks", "idp2"));
        assert_ne!(settings_tag("ab", "c"), settings_tag("a", "bc"));
    }
}
