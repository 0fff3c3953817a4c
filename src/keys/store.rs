//! The seam between a decision and wherever its keys live: a provider's current
//! key set by index, and a number that changes when it does.

use crate::keys::jwks::KeySet;

/// The key sets the decision may use, by provider index.
pub trait KeyStore {
    /// The provider's current key set, or `None` when it is not available.
    fn key_set(&self, provider: usize) -> Option<&KeySet>;

    /// A number that changes whenever the provider's key set does.
    fn generation(&self, _provider: usize) -> u64 {
        0
    }
}
