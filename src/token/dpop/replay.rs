//! Accepted DPoP proofs remembered across the proxy's workers, so a proof is
//! accepted once (RFC 9449 §11.1). Shared data has no delete and no expiry, so
//! the store is a fixed table: `replay_store_size` slots in buckets of
//! [`SLOTS_PER_BUCKET`], one shared-data value each, changed by compare-and-
//! swap. An entry is a proof's digest and the end of its window; it lapses
//! then, and its slot is reused by the next write to its bucket.
//!
//! One key (`jkt`) may hold at most 1 % of the slots: its proofs go only to the
//! buckets of its own region, and to each at most its share, so one token
//! holder cannot fill the store for everyone. A proof that finds no room is
//! refused (fail closed). Only proofs whose token and signature verified are
//! stored (the caller's order), so a client without a valid token cannot touch
//! the store at all.

use sha2::{Digest, Sha256};

use crate::keys::host::{SetError, SharedData};

/// Slots in one shared-data value.
pub const SLOTS_PER_BUCKET: usize = 64;
/// Bytes of one entry: the key's digest (8), the proof's digest (16), the end
/// of its window (8, Unix seconds, little-endian).
const ENTRY_BYTES: usize = 32;
/// Compare-and-swap attempts before a busy bucket refuses the proof.
const ATTEMPTS: usize = 4;

/// Why a proof is not remembered (and so refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRemembered {
    /// The same proof (`jkt`, `jti`) was accepted within its window.
    Replayed,
    /// Its key holds its whole share of the store, or its bucket is full of
    /// proofs still in their window.
    Full,
    /// The proxy refused the write, or others kept changing the bucket.
    Unavailable,
}

/// A provider's replay store: where its buckets are and how they are shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayStore {
    prefix: String,
    buckets: u64,
    region: u64,
    per_key_per_bucket: usize,
}

impl ReplayStore {
    /// A store of `size` slots under shared-data keys starting with `prefix`.
    pub fn new(prefix: &str, size: usize) -> ReplayStore {
        let buckets = size.div_ceil(SLOTS_PER_BUCKET).max(1);
        let share = (size / 100).max(1);
        let region = share.div_ceil(SLOTS_PER_BUCKET).clamp(1, buckets);
        let per_key_per_bucket = share
            .checked_div(region)
            .unwrap_or(1)
            .clamp(1, SLOTS_PER_BUCKET);
        ReplayStore {
            prefix: prefix.to_owned(),
            buckets: u64::try_from(buckets).unwrap_or(1),
            region: u64::try_from(region).unwrap_or(1),
            per_key_per_bucket,
        }
    }

    /// The most slots one key can hold.
    pub fn share(&self) -> usize {
        usize::try_from(self.region)
            .unwrap_or(1)
            .saturating_mul(self.per_key_per_bucket)
    }

    /// Remembers the proof `jti` of key `jkt` until `until` (Unix seconds), if
    /// it was not accepted before; `now` lapses entries whose window ended.
    pub fn remember(
        &self,
        shared: &dyn SharedData,
        jkt: &str,
        jti: &str,
        until: i64,
        now: i64,
    ) -> Result<(), NotRemembered> {
        let key_digest = digest(&[jkt.as_bytes()]);
        let proof_digest = digest(&[jkt.as_bytes(), &[0], jti.as_bytes()]);
        let key_id = word(&key_digest);
        let bucket = key_id
            .checked_rem(self.buckets)
            .unwrap_or(0)
            .saturating_add(word(&proof_digest).checked_rem(self.region).unwrap_or(0))
            .checked_rem(self.buckets)
            .unwrap_or(0);
        let name = format!("{}.{bucket}", self.prefix);
        let until = until.to_le_bytes();
        let fields = key_digest.iter().take(8);
        let fields = fields
            .chain(proof_digest.iter().take(16))
            .chain(until.iter());
        let mut entry = [0u8; ENTRY_BYTES];
        for (slot, byte) in entry.iter_mut().zip(fields) {
            *slot = *byte;
        }
        for _ in 0..ATTEMPTS {
            let current = shared.get(&name);
            let held = current.value.unwrap_or_default();
            let mut kept = Vec::with_capacity(held.len().saturating_add(ENTRY_BYTES));
            let (mut same_key, mut live) = (0usize, 0usize);
            for old in held.chunks_exact(ENTRY_BYTES) {
                if old.get(24..).map_or(0, window_end) <= now {
                    continue;
                }
                if old.get(8..24) == entry.get(8..24) {
                    return Err(NotRemembered::Replayed);
                }
                if old.get(..8) == entry.get(..8) {
                    same_key = same_key.saturating_add(1);
                }
                live = live.saturating_add(1);
                kept.extend_from_slice(old);
            }
            if same_key >= self.per_key_per_bucket || live >= SLOTS_PER_BUCKET {
                return Err(NotRemembered::Full);
            }
            kept.extend_from_slice(&entry);
            match shared.set(&name, &kept, current.cas) {
                Ok(()) => return Ok(()),
                Err(SetError::CasMismatch) => continue,
                Err(SetError::Refused(_)) => return Err(NotRemembered::Unavailable),
            }
        }
        Err(NotRemembered::Unavailable)
    }
}

fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// The first eight bytes of `bytes` as a number.
fn word(bytes: &[u8]) -> u64 {
    bytes
        .get(..8)
        .and_then(|head| <[u8; 8]>::try_from(head).ok())
        .map_or(0, u64::from_le_bytes)
}

/// An entry's window end.
fn window_end(bytes: &[u8]) -> i64 {
    <[u8; 8]>::try_from(bytes).map_or(i64::MIN, i64::from_le_bytes)
}

#[cfg(test)]
#[path = "replay_tests.rs"]
mod tests;
