//! A bounded map with CLOCK (second-chance) eviction, the one discipline of the
//! verified-token cache (`token::cache`) and the exchanged-token cache
//! (`exchange::remembered`), and the seeded word hash both use.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

/// What a lookup does with the entry it found, as its judge decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judged {
    /// Return it and mark it used (it survives the hand's next pass).
    Use,
    /// Return nothing and leave it as it is.
    Skip,
    /// Return nothing and remove it.
    Drop,
}

#[derive(Clone, PartialEq, Eq)]
struct Slot<K, V> {
    key: K,
    value: V,
    referenced: bool,
}

/// At most `capacity` entries; when full, an insert evicts the first entry the
/// hand finds not used since it last passed. A clone shares nothing mutable
/// with the original; `==` compares every entry, its second-chance bit and the
/// hand (no `Debug`: keys may be tokens).
#[derive(Clone)]
pub struct Clock<K, V, S = TokenHash> {
    capacity: usize,
    index: HashMap<K, usize, S>,
    slots: Vec<Slot<K, V>>,
    hand: usize,
}

impl<K, V> Clock<K, V> {
    /// A clock of at most `capacity` entries, hashed with a fresh [`TokenHash`].
    pub fn new(capacity: usize) -> Self {
        Clock::with_hasher(capacity, TokenHash::seeded())
    }
}

impl<K, V, S> Clock<K, V, S> {
    /// A clock of at most `capacity` entries; 0 keeps nothing.
    pub fn with_hasher(capacity: usize, hasher: S) -> Self {
        Clock {
            capacity,
            index: HashMap::with_hasher(hasher),
            slots: Vec::new(),
            hand: 0,
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Most entries held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl<K: Hash + Eq + Clone, V, S: BuildHasher> Clock<K, V, S> {
    /// The entry for `key` if `judge` says [`Judged::Use`]; one hash lookup
    /// unless the entry is dropped.
    pub fn get_with<Q>(&mut self, key: &Q, judge: impl FnOnce(&V) -> Judged) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let position = *self.index.get(key)?;
        match judge(&self.slots.get(position)?.value) {
            Judged::Use => {
                let slot = self.slots.get_mut(position)?;
                slot.referenced = true;
                Some(&slot.value)
            }
            Judged::Skip => None,
            Judged::Drop => {
                self.remove_at(position);
                None
            }
        }
    }

    /// Stores `value` under `key`: in place (marked used) if the key is held,
    /// else in a free slot, else in place of the entry the sweep evicts.
    pub fn insert(&mut self, key: K, value: V) {
        if self.capacity == 0 {
            return;
        }
        if let Some(slot) = self.index.get(&key).and_then(|&i| self.slots.get_mut(i)) {
            slot.value = value;
            slot.referenced = true;
            return;
        }
        let slot = Slot {
            key: key.clone(),
            value,
            referenced: false,
        };
        if self.slots.len() < self.capacity {
            self.index.insert(key, self.slots.len());
            self.slots.push(slot);
            return;
        }
        let victim = self.sweep();
        if let Some(old) = self.slots.get_mut(victim) {
            self.index.remove(&old.key);
            *old = slot;
            self.index.insert(key, victim);
        }
    }

    /// Removes the entry for `key`, returning its value.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let position = *self.index.get(key)?;
        self.remove_at(position)
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

    fn remove_at(&mut self, position: usize) -> Option<V> {
        if position >= self.slots.len() {
            return None;
        }
        let removed = self.slots.swap_remove(position);
        self.index.remove(&removed.key);
        if let Some(moved) = self.slots.get(position) {
            self.index.insert(moved.key.clone(), position);
        }
        Some(removed.value)
    }
}

impl<K: Hash + Eq, V: PartialEq, S: BuildHasher> PartialEq for Clock<K, V, S> {
    fn eq(&self, other: &Self) -> bool {
        self.capacity == other.capacity
            && self.hand == other.hand
            && self.slots == other.slots
            && self.index == other.index
    }
}

impl<K: Hash + Eq, V: Eq, S: BuildHasher> Eq for Clock<K, V, S> {}

/// A multiply-rotate hash over 8-byte words (far cheaper per token than
/// SipHash), keyed with a random seed per VM. Only verified tokens and digests
/// are stored, so a caller cannot fill a chain; the seed keeps probes unguessable.
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

    fn used(_: &u32) -> Judged {
        Judged::Use
    }

    #[test]
    fn it_stays_bounded_and_evicts_unused_entries_first() {
        let mut clock = Clock::new(3);
        for key in ["a", "b", "c"] {
            clock.insert(key.to_owned(), 0u32);
        }
        assert!(clock.get_with("a", used).is_some());
        assert!(clock.get_with("c", used).is_some());
        clock.insert("d".to_owned(), 0);
        assert_eq!(clock.len(), 3);
        assert!(
            clock.get_with("b", used).is_none(),
            "b was not used, so it went"
        );
        assert!(clock.get_with("a", used).is_some());
        assert!(clock.get_with("d", used).is_some());
        for n in 0..1000 {
            clock.insert(format!("t{n}"), 0);
        }
        assert_eq!(clock.len(), 3);
    }

    #[test]
    fn the_judge_uses_skips_or_drops() {
        let mut clock = Clock::new(4);
        clock.insert("a".to_owned(), 1u32);
        let before = clock.clone();
        assert!(clock.get_with("a", |_| Judged::Skip).is_none());
        assert!(clock == before, "a skip changes nothing");
        assert_eq!(clock.get_with("a", used), Some(&1));
        assert!(clock != before, "a use marks the entry");
        assert!(clock.get_with("a", |_| Judged::Drop).is_none());
        assert!(clock.is_empty());
    }

    #[test]
    fn an_insert_of_a_held_key_replaces_it() {
        let mut clock = Clock::new(2);
        clock.insert("a".to_owned(), 1u32);
        clock.insert("a".to_owned(), 2);
        assert_eq!(clock.len(), 1);
        assert_eq!(clock.get_with("a", used), Some(&2));
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let mut clock = Clock::new(0);
        clock.insert("a".to_owned(), 1u32);
        assert!(clock.is_empty());
        assert_eq!(clock.capacity(), 0);
    }

    #[test]
    fn removal_keeps_the_index_consistent() {
        let mut clock = Clock::new(4);
        for (n, key) in ["a", "b", "c", "d"].into_iter().enumerate() {
            clock.insert(key.to_owned(), n);
        }
        assert_eq!(clock.remove("a"), Some(0), "d moves into a's slot");
        assert_eq!(clock.remove("a"), None);
        for (n, key) in [(1, "b"), (2, "c"), (3, "d")] {
            assert_eq!(clock.get_with(key, |_| Judged::Use), Some(&n), "{key}");
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
