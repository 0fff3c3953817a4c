//! Verified tokens remembered per worker, so a token seen again skips base64,
//! JSON and crypto. Keyed by the whole token; bounded by CLOCK (second-chance)
//! eviction (`crate::clock`); an entry never outlives the token's `exp` (plus
//! skew) or the key set generation it was verified with.

use std::rc::Rc;

use serde_json::{Map, Value};

use crate::clock::{Clock, Judged};

/// What a cache hit needs to answer at once. The token's provider-wide checks
/// (signature, issuer, type, times, `required_claims`) held when it was stored;
/// what a route adds (audiences, claims) is checked again on `claims`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedToken {
    /// Provider that verified it.
    pub provider: usize,
    /// That provider's key set generation at verification.
    pub generation: u64,
    /// First second (Unix) at which the token counts as expired.
    pub expires_at: i64,
    /// Request headers the verified token sets (payload and claim headers).
    pub set_headers: Vec<(String, String)>,
    /// The verified payload, for the per-route audience and claim checks.
    pub claims: Rc<Map<String, Value>>,
}

/// A bounded map from token text to its verification outcome, over a
/// [`Clock`]. A clone shares nothing mutable with the original; `==` compares
/// every entry, its second-chance bit and the eviction hand (no `Debug`: it
/// holds tokens).
#[derive(Clone, PartialEq, Eq)]
pub struct TokenCache {
    clock: Clock<Rc<str>, CachedToken>,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens; 0 keeps nothing.
    pub fn new(capacity: usize) -> TokenCache {
        TokenCache {
            clock: Clock::new(capacity),
        }
    }

    /// Tokens held.
    pub fn len(&self) -> usize {
        self.clock.len()
    }

    /// Whether no token is held.
    pub fn is_empty(&self) -> bool {
        self.clock.is_empty()
    }

    /// The entry for `token` verified by `provider` with key `generation`, if it
    /// is still valid at `now`; a stale entry is dropped, another provider's kept.
    pub fn get(
        &mut self,
        token: &str,
        provider: usize,
        generation: u64,
        now: i64,
    ) -> Option<&CachedToken> {
        self.clock.get_with(token, |entry| {
            if entry.provider != provider {
                Judged::Skip
            } else if entry.generation != generation || now >= entry.expires_at {
                Judged::Drop
            } else {
                Judged::Use
            }
        })
    }

    /// Remembers a verified token, evicting one not used since the hand last
    /// passed it when full.
    pub fn insert(&mut self, token: &str, entry: CachedToken) {
        // A cache that keeps nothing does not copy the token either.
        if self.clock.capacity() > 0 {
            self.clock.insert(Rc::from(token), entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(provider: usize, generation: u64, expires_at: i64) -> CachedToken {
        CachedToken {
            provider,
            generation,
            expires_at,
            set_headers: vec![("x-user".into(), "alice".into())],
            claims: Rc::new(Map::new()),
        }
    }

    #[test]
    fn a_hit_returns_the_precomputed_outputs() {
        let mut cache = TokenCache::new(10);
        cache.insert("t1", entry(0, 1, 100));
        let hit = cache.get("t1", 0, 1, 50).unwrap();
        assert_eq!(
            hit.set_headers,
            vec![("x-user".to_owned(), "alice".to_owned())]
        );
        assert!(cache.get("t2", 0, 1, 50).is_none());
        assert!(
            cache.get("t1", 1, 1, 50).is_none(),
            "another provider misses"
        );
        assert_eq!(cache.len(), 1, "a provider miss keeps the entry");
    }

    #[test]
    fn entries_never_outlive_exp_or_their_key_set() {
        let mut cache = TokenCache::new(10);
        cache.insert("t1", entry(0, 1, 100));
        assert!(cache.get("t1", 0, 1, 100).is_none());
        assert!(cache.is_empty(), "an expired entry is dropped");
        cache.insert("t2", entry(0, 1, 100));
        assert!(
            cache.get("t2", 0, 2, 10).is_none(),
            "a new key set invalidates"
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn size_zero_keeps_nothing() {
        let mut cache = TokenCache::new(0);
        cache.insert("t1", entry(0, 1, 100));
        assert!(cache.get("t1", 0, 1, 0).is_none());
    }

    #[test]
    fn removal_keeps_the_index_consistent() {
        let mut cache = TokenCache::new(4);
        for (n, token) in ["a", "b", "c", "d"].iter().enumerate() {
            cache.insert(token, entry(0, 0, if n == 0 { 1 } else { 100 }));
        }
        assert!(
            cache.get("a", 0, 0, 5).is_none(),
            "a expired and went; d moved into its slot"
        );
        for token in ["b", "c", "d"] {
            assert!(cache.get(token, 0, 0, 5).is_some(), "{token}");
        }
    }
}
