//! Verified tokens remembered per worker, so a token seen again skips base64,
//! JSON and crypto. Keyed by the whole token; bounded by CLOCK (second-chance)
//! eviction; an entry never outlives the token's `exp` (plus skew) or the key set
//! generation it was verified with.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;

use serde_json::{Map, Value};

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

#[derive(Clone, PartialEq, Eq)]
struct Slot {
    token: Rc<str>,
    entry: CachedToken,
    referenced: bool,
}

/// A bounded map from token text to its verification outcome. A clone shares
/// nothing mutable with the original; `==` compares every entry, its
/// second-chance bit and the eviction hand (no `Debug`: it holds tokens).
#[derive(Clone, PartialEq, Eq)]
pub struct TokenCache {
    capacity: usize,
    index: HashMap<Rc<str>, usize, TokenHash>,
    slots: Vec<Slot>,
    hand: usize,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens; 0 keeps nothing.
    pub fn new(capacity: usize) -> TokenCache {
        TokenCache {
            capacity,
            index: HashMap::with_hasher(TokenHash::seeded()),
            slots: Vec::new(),
            hand: 0,
        }
    }

    /// Tokens held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no token is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The entry for `token` verified by `provider` with key `generation`, if it
    /// is still valid at `now`; a stale entry is dropped.
    pub fn get(
        &mut self,
        token: &str,
        provider: usize,
        generation: u64,
        now: i64,
    ) -> Option<&CachedToken> {
        let position = *self.index.get(token)?;
        let slot = self.slots.get(position)?;
        if slot.entry.provider != provider {
            return None;
        }
        if slot.entry.generation != generation || now >= slot.entry.expires_at {
            self.remove_at(position);
            return None;
        }
        let slot = self.slots.get_mut(position)?;
        slot.referenced = true;
        Some(&slot.entry)
    }

    /// Remembers a verified token, evicting one not used since the hand last
    /// passed it when full.
    pub fn insert(&mut self, token: &str, entry: CachedToken) {
        if self.capacity == 0 {
            return;
        }
        if let Some(slot) = self.index.get(token).and_then(|&i| self.slots.get_mut(i)) {
            slot.entry = entry;
            slot.referenced = true;
            return;
        }
        let token: Rc<str> = Rc::from(token);
        let slot = Slot {
            token: Rc::clone(&token),
            entry,
            referenced: false,
        };
        if self.slots.len() < self.capacity {
            self.index.insert(token, self.slots.len());
            self.slots.push(slot);
            return;
        }
        let victim = self.sweep();
        if let Some(old) = self.slots.get_mut(victim) {
            self.index.remove(&old.token);
            *old = slot;
            self.index.insert(token, victim);
        }
    }

    /// Advances the hand to a slot not referenced since its last pass.
    fn sweep(&mut self) -> usize {
        let len = self.slots.len();
        for _ in 0..len.saturating_mul(2) {
            let position = self.hand.checked_rem(len).unwrap_or(0);
            self.hand = position.saturating_add(1);
            match self.slots.get_mut(position) {
                Some(slot) if slot.referenced => slot.referenced = false,
                _ => return position,
            }
        }
        self.hand.checked_rem(len).unwrap_or(0)
    }

    fn remove_at(&mut self, position: usize) {
        if position >= self.slots.len() {
            return;
        }
        let removed = self.slots.swap_remove(position);
        self.index.remove(&removed.token);
        if let Some(moved) = self.slots.get(position) {
            self.index.insert(Rc::clone(&moved.token), position);
        }
    }
}

/// The cache's hash: a multiply-rotate over 8-byte words (far cheaper per token
/// than SipHash), keyed with a random seed per VM. Only verified tokens are
/// stored, so a caller cannot fill a chain; the seed keeps probes unguessable.
#[derive(Debug, Clone, Copy)]
pub struct TokenHash {
    seed: u64,
}

impl TokenHash {
    /// A hash keyed with fresh randomness (a fixed key if there is none).
    pub fn seeded() -> TokenHash {
        let mut bytes = [0u8; 8];
        let seed = match getrandom::fill(&mut bytes) {
            Ok(()) => u64::from_le_bytes(bytes),
            Err(_) => 0x9e37_79b9_7f4a_7c15,
        };
        TokenHash { seed }
    }
}

impl BuildHasher for TokenHash {
    type Hasher = WordHasher;

    fn build_hasher(&self) -> WordHasher {
        WordHasher { state: self.seed }
    }
}

/// The hasher of [`TokenHash`].
#[derive(Debug, Clone, Copy)]
pub struct WordHasher {
    state: u64,
}

impl WordHasher {
    const K: u64 = 0xf135_7aea_2e62_a9c5;

    fn mix(&mut self, word: u64) {
        self.state = (self.state ^ word).wrapping_mul(Self::K).rotate_left(26);
    }
}

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        let mut word = [0u8; 8];
        if let Some(target) = word.get_mut(..rest.len()) {
            target.copy_from_slice(rest);
        }
        self.mix(u64::from_le_bytes(word) ^ (rest.len() as u64) << 56);
    }

    fn finish(&self) -> u64 {
        // Final avalanche (murmur3's fmix64).
        let mut h = self.state;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
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
    fn it_stays_bounded_and_evicts_unused_entries_first() {
        let mut cache = TokenCache::new(3);
        for token in ["a", "b", "c"] {
            cache.insert(token, entry(0, 0, 100));
        }
        assert!(cache.get("a", 0, 0, 0).is_some());
        assert!(cache.get("c", 0, 0, 0).is_some());
        cache.insert("d", entry(0, 0, 100));
        assert_eq!(cache.len(), 3);
        assert!(
            cache.get("b", 0, 0, 0).is_none(),
            "b was not used, so it went"
        );
        assert!(cache.get("a", 0, 0, 0).is_some());
        assert!(cache.get("d", 0, 0, 0).is_some());
        for n in 0..1000 {
            cache.insert(&format!("t{n}"), entry(0, 0, 100));
        }
        assert_eq!(cache.len(), 3);
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

    #[test]
    fn the_token_hash_spreads_similar_tokens() {
        let hash = TokenHash { seed: 7 };
        let of = |text: &str| {
            let mut hasher = hash.build_hasher();
            hasher.write(text.as_bytes());
            hasher.finish()
        };
        let a = of("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.sig");
        let b = of("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIyIn0.sig");
        assert_ne!(a, b);
        assert_ne!(of(""), of("\0"), "the length counts");
        assert_ne!(of("abcdefgh"), of("abcdefgh\0"));
        let other = TokenHash { seed: 8 };
        let mut hasher = other.build_hasher();
        hasher.write(b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.sig");
        assert_ne!(hasher.finish(), a, "the seed keys it");
    }
}
