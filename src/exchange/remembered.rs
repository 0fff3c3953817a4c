//! Exchanged tokens remembered per worker, so a request to a destination reuses
//! the token exchanged for the same subject token there. Keyed by a digest of
//! (subject token, destination), never by the token (`exchange::cache_key`),
//! under this cache's own secret; bounded by CLOCK
//! (second-chance) eviction (`crate::clock`); an entry is used until its
//! `use_until` (`exchange::lifetime`).

use std::fmt;

use crate::clock::{Clock, Judged};
use crate::exchange::cache_key::{CacheKey, KeyHasher};

/// An exchanged token and until when (Unix seconds, exclusive) it is used.
#[derive(Clone, PartialEq, Eq)]
struct Exchanged {
    access_token: String,
    use_until: i64,
}

impl fmt::Debug for Exchanged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exchanged")
            .field("access_token", &"<redacted>")
            .field("use_until", &self.use_until)
            .finish()
    }
}

/// A bounded map from (subject token, destination) digests to exchanged tokens
/// (no `Debug`: it holds tokens).
#[derive(Clone, PartialEq, Eq)]
pub struct ExchangeCache {
    clock: Clock<CacheKey, Exchanged>,
    hasher: KeyHasher,
}

impl ExchangeCache {
    /// A cache of at most `capacity` exchanged tokens, keyed under a fresh
    /// secret; 0 keeps nothing.
    pub fn new(capacity: usize) -> ExchangeCache {
        ExchangeCache::with_hasher(capacity, KeyHasher::seeded())
    }

    /// A cache of at most `capacity` exchanged tokens, keyed by `hasher`.
    pub fn with_hasher(capacity: usize, hasher: KeyHasher) -> ExchangeCache {
        ExchangeCache {
            clock: Clock::new(capacity),
            hasher,
        }
    }

    /// What the exchange of `subject_token` for destination `destination` is
    /// known by in this cache (and in this worker's flights).
    pub fn key(&self, subject_token: &str, destination: usize) -> CacheKey {
        self.hasher.key(subject_token, destination)
    }

    /// Exchanged tokens held.
    pub fn len(&self) -> usize {
        self.clock.len()
    }

    /// Whether no exchanged token is held.
    pub fn is_empty(&self) -> bool {
        self.clock.is_empty()
    }

    /// The token exchanged under `key` while `now` is before its `use_until`;
    /// a token past it is dropped.
    pub fn get(&mut self, key: &CacheKey, now: i64) -> Option<&str> {
        let judge = |held: &Exchanged| {
            if now < held.use_until {
                Judged::Use
            } else {
                Judged::Drop
            }
        };
        let held = self.clock.get_with(key, judge)?;
        Some(&held.access_token)
    }

    /// Remembers `access_token` under `key` until `use_until`, evicting one not
    /// used since the hand last passed it when full.
    pub fn insert(&mut self, key: CacheKey, access_token: String, use_until: i64) {
        self.clock.insert(
            key,
            Exchanged {
                access_token,
                use_until,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBJECT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.sig";

    #[test]
    fn a_hit_returns_the_exchanged_token() {
        let mut cache = ExchangeCache::new(4);
        let key = cache.key(SUBJECT, 0);
        cache.insert(key, "exchanged".into(), 100);
        assert_eq!(cache.get(&key, 50), Some("exchanged"));
        assert_eq!(cache.get(&cache.key(SUBJECT, 1), 50), None);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn it_is_dropped_at_use_until() {
        let mut cache = ExchangeCache::new(4);
        let key = cache.key(SUBJECT, 0);
        cache.insert(key, "exchanged".into(), 100);
        assert_eq!(cache.get(&key, 99), Some("exchanged"));
        assert_eq!(cache.get(&key, 100), None);
        assert!(cache.is_empty(), "an expired token is dropped");
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let mut cache = ExchangeCache::new(0);
        let key = cache.key(SUBJECT, 0);
        cache.insert(key, "exchanged".into(), 100);
        assert_eq!(cache.get(&key, 0), None);
        assert!(cache.is_empty());
    }

    #[test]
    fn eviction_gives_a_used_token_a_second_chance() {
        let mut cache = ExchangeCache::new(2);
        let (a, b, c) = (cache.key("a", 0), cache.key("b", 0), cache.key("c", 0));
        cache.insert(a, "for a".into(), 100);
        cache.insert(b, "for b".into(), 100);
        assert!(cache.get(&a, 0).is_some());
        cache.insert(c, "for c".into(), 100);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&b, 0), None, "b was not used, so it went");
        assert_eq!(cache.get(&a, 0), Some("for a"));
        assert_eq!(cache.get(&c, 0), Some("for c"));
    }

    #[test]
    fn debug_redacts_the_token() {
        let held = Exchanged {
            access_token: "secret".into(),
            use_until: 1,
        };
        assert!(!format!("{held:?}").contains("secret"));
    }
}
