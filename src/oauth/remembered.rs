//! What the filter's callouts answered, remembered per worker until a time:
//! exchanged tokens (`exchange`), introspection answers (`keys::introspection`).
//! Keyed by a digest of the token and what it was asked for, never by the token
//! (`oauth::cache_key`), under this cache's own secret; bounded by CLOCK
//! (second-chance) eviction (`crate::clock`). It has no `Debug`: what it holds
//! may be a credential.

use crate::clock::{Clock, Judged};
use crate::oauth::cache_key::{CacheKey, KeyHasher};

/// A value and until when (Unix seconds, exclusive) it is used.
#[derive(Clone, PartialEq, Eq)]
struct Held<V> {
    value: V,
    until: i64,
}

/// A bounded map from callout digests to what the callouts answered.
#[derive(Clone, PartialEq, Eq)]
pub struct Remembered<V> {
    clock: Clock<CacheKey, Held<V>>,
    hasher: KeyHasher,
}

impl<V> Remembered<V> {
    /// A cache of at most `capacity` answers, keyed under a fresh secret; 0
    /// keeps nothing.
    pub fn new(capacity: usize) -> Remembered<V> {
        Remembered::with_hasher(capacity, KeyHasher::seeded())
    }

    /// A cache of at most `capacity` answers, keyed by `hasher`.
    pub fn with_hasher(capacity: usize, hasher: KeyHasher) -> Remembered<V> {
        Remembered {
            clock: Clock::new(capacity),
            hasher,
        }
    }

    /// What `token`, asked about for `what` (a destination, a provider, by
    /// index), is known by in this cache (and in this worker's callouts).
    pub fn key(&self, token: &str, what: usize) -> CacheKey {
        self.hasher.key(token, what)
    }

    /// Answers held.
    pub fn len(&self) -> usize {
        self.clock.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.clock.is_empty()
    }

    /// What is held under `key` while `now` is before its time; one past it is
    /// dropped.
    pub fn get(&mut self, key: &CacheKey, now: i64) -> Option<&V> {
        let judge = |held: &Held<V>| {
            if now < held.until {
                Judged::Use
            } else {
                Judged::Drop
            }
        };
        self.clock.get_with(key, judge).map(|held| &held.value)
    }

    /// Remembers `value` under `key` until `until`, evicting one not used since
    /// the hand last passed it when full.
    pub fn insert(&mut self, key: CacheKey, value: V, until: i64) {
        self.clock.insert(key, Held { value, until });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBJECT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.sig";

    #[test]
    fn a_hit_returns_what_was_remembered_for_the_same_token_and_index() {
        let mut cache = Remembered::new(4);
        let key = cache.key(SUBJECT, 0);
        cache.insert(key, "answer", 100);
        assert_eq!(cache.get(&key, 50), Some(&"answer"));
        assert_eq!(cache.get(&cache.key(SUBJECT, 1), 50), None);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn it_is_dropped_at_its_time() {
        let mut cache = Remembered::new(4);
        let key = cache.key(SUBJECT, 0);
        cache.insert(key, "answer", 100);
        assert_eq!(cache.get(&key, 99), Some(&"answer"));
        assert_eq!(cache.get(&key, 100), None);
        assert!(cache.is_empty(), "a lapsed answer is dropped");
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let mut cache = Remembered::new(0);
        let key = cache.key(SUBJECT, 0);
        cache.insert(key, "answer", 100);
        assert_eq!(cache.get(&key, 0), None);
        assert!(cache.is_empty());
    }

    #[test]
    fn eviction_gives_a_used_answer_a_second_chance() {
        let mut cache = Remembered::new(2);
        let (a, b, c) = (cache.key("a", 0), cache.key("b", 0), cache.key("c", 0));
        cache.insert(a, "for a", 100);
        cache.insert(b, "for b", 100);
        assert!(cache.get(&a, 0).is_some());
        cache.insert(c, "for c", 100);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&b, 0), None, "b was not used, so it went");
        assert_eq!(cache.get(&a, 0), Some(&"for a"));
        assert_eq!(cache.get(&c, 0), Some(&"for c"));
    }
}
