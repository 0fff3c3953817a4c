//! This VM's copy of one remote key set. Each VM parses the set that shared data
//! holds into its own copy, and reads it again only when shared data holds a
//! newer record (another CAS token); a set fetched again unchanged only renews
//! its age, so tokens verified with it stay in the token cache.

use crate::keys::fetch_reply::accept_body;
use crate::keys::fetch_state::{decode, text_hash, Freshness, KeysRecord};
use crate::keys::host::SharedData;
use crate::keys::jwks::KeySet;

/// One VM's copy of a remote key set.
#[derive(Debug, Clone, Default)]
pub struct KeyCopy {
    /// CAS token of the key set last read from shared data.
    seen_cas: Option<u32>,
    /// The parsed key set and when it was fetched.
    cached: Option<(u64, KeySet)>,
    /// A hash of the key set's JWKS text, to tell a new set from a re-fetched one.
    jwks_hash: u64,
    /// Bumped when the key set changes (not when the same set is fetched again),
    /// so held requests and cached tokens see that keys changed.
    generation: u64,
}

impl KeyCopy {
    /// Reads the key set under `key` into this copy if shared data holds a newer
    /// record than the one last read; true when the keys themselves changed.
    /// `label` names the set in logs.
    pub fn sync(&mut self, shared: &dyn SharedData, key: &str, label: &str) -> bool {
        let record = shared.get(key);
        if record.cas.is_none() || record.cas == self.seen_cas {
            return false;
        }
        self.seen_cas = record.cas;
        let Some(record) = decode::<KeysRecord>(record.value.as_deref()) else {
            return false;
        };
        let hash = text_hash(&record.jwks);
        if let Some((fetched_at, _)) = self.cached.as_mut() {
            if hash == self.jwks_hash {
                *fetched_at = record.fetched_at_ms;
                return false;
            }
        }
        match accept_body(record.jwks.into_bytes()) {
            Ok((_, parsed)) => {
                log::info!(
                    "audgate: {label}: key set in use: {} key(s), {} skipped",
                    parsed.set.keys().len(),
                    parsed.skipped.len()
                );
                self.cached = Some((record.fetched_at_ms, parsed.set));
                self.jwks_hash = hash;
                self.generation = self.generation.wrapping_add(1);
                true
            }
            Err(failure) => {
                log::warn!("audgate: {label}: shared key set unreadable: {failure}");
                false
            }
        }
    }

    /// When the keys in this copy were fetched, Unix milliseconds; `None`
    /// before the first set.
    pub fn fetched_at(&self) -> Option<u64> {
        self.cached.as_ref().map(|(fetched_at, _)| *fetched_at)
    }

    /// Whether this copy holds a key set at all (usable or not).
    pub fn has_keys(&self) -> bool {
        self.cached.is_some()
    }

    /// The key set, if it may still verify tokens at `now_ms` under `freshness`.
    pub fn usable(&self, freshness: Freshness, now_ms: u64) -> Option<&KeySet> {
        let (fetched_at, set) = self.cached.as_ref()?;
        freshness.usable(*fetched_at, now_ms).then_some(set)
    }

    /// A number that changes whenever the keys do.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}
