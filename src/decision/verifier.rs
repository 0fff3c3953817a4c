//! Everything a decision verifies with besides the configuration: the key sets,
//! the signature backend, the token cache, the introspection answers and the
//! clock.

use std::cell::RefCell;

use crate::config::{Config, KeySource};
use crate::keys::introspection::vouched::Introspections;
use crate::keys::jwks::KeySet;
use crate::keys::store::KeyStore;
use crate::keys::verify::SignatureBackend;
use crate::token::cache::TokenCache;

/// Key store with only the keys given inline (`local_jwks`).
pub struct LocalKeys<'a>(pub &'a Config);

impl KeyStore for LocalKeys<'_> {
    fn key_set(&self, provider: usize) -> Option<&KeySet> {
        match &self.0.providers.get(provider)?.keys {
            KeySource::Local(set) => Some(set),
            KeySource::Remote(_) | KeySource::Introspection(_) => None,
        }
    }
}

/// Everything a decision verifies with, besides the configuration.
pub struct Verifier<'a> {
    /// Key sets by provider.
    pub keys: &'a dyn KeyStore,
    /// Signature checks.
    pub signatures: &'a dyn SignatureBackend,
    /// Verified tokens remembered, if any.
    pub cache: Option<&'a RefCell<TokenCache>>,
    /// The introspection answers at hand (`introspection` providers).
    pub introspections: &'a dyn Introspections,
    /// Now, Unix seconds.
    pub now: i64,
}
