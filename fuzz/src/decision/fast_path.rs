//! (d) The cache-hit fast path decides as the full path does: the request as the
//! host serializes it warms a token cache through the full decision, then
//! `cached_pass` is compared with the full decision as warmed and in one later
//! world (fuzz/README.md, `decision`, (d)).

use std::cell::RefCell;

use audgate::config::{Config, KeySource};
use audgate::decision::fast_path::cached_pass;
use audgate::decision::{decide_with_peer, KeyStore, Verifier};
use audgate::keys::jwks::KeySet;
use audgate::keys::verify::RustCrypto;
use audgate::policy::caller::NoPeer;
use audgate::request::header_map::{serialize, HeaderMap};
use audgate::request::Request;
use audgate::token::cache::TokenCache;

use super::super::fixture::AUTHORITY;
use super::case::Case;
use super::DecisionFixture;

/// The decision fixture's local keys under a key generation, or none at all.
struct WorldKeys<'a> {
    config: &'a Config,
    generation: u64,
    available: bool,
}

impl KeyStore for WorldKeys<'_> {
    fn key_set(&self, provider: usize) -> Option<&KeySet> {
        match &self.config.providers.get(provider)?.keys {
            KeySource::Local(set) if self.available => Some(set),
            _ => None,
        }
    }

    fn generation(&self, _provider: usize) -> u64 {
        self.generation
    }
}

/// When a request is decided again after it warmed the cache: (seconds later,
/// key generation, keys available).
const FAST_PATH_WORLDS: [(i64, u64, bool); 3] = [(100_000, 0, true), (0, 1, true), (0, 0, false)];

impl DecisionFixture {
    fn world_verifier<'a>(
        &self,
        keys: &'a WorldKeys<'a>,
        cache: &'a RefCell<TokenCache>,
        later: i64,
    ) -> Verifier<'a> {
        Verifier {
            keys,
            signatures: &RustCrypto,
            cache: Some(cache),
            introspections: &audgate::keys::introspection::vouched::NoIntrospections,
            now: self.now + later,
        }
    }

    /// (d) The cache-hit fast path: the request as the host serializes it
    /// (pseudo-headers first, header bytes as the input gave them) warms a cache
    /// through the full decision; then, as warmed and in one later world (the
    /// entry expired, a new key generation, or no keys: `world` picks), a
    /// `cached_pass` that answers equals the full decision on a clone of the
    /// cache and leaves the same cache, and one that declines changes neither the
    /// full decision after it nor the cache. Returns whether it answered as warmed.
    pub(super) fn check_fast_path(&self, case: &Case, world: usize) -> bool {
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (b":method".to_vec(), case.method.as_bytes().to_vec()),
            (b":path".to_vec(), case.path.as_bytes().to_vec()),
            (b":authority".to_vec(), AUTHORITY.as_bytes().to_vec()),
        ];
        pairs.extend(case.raw_headers.iter().cloned());
        let bytes = serialize(&pairs).expect("a small map serializes");
        let headers = HeaderMap::parse(&bytes).expect("a serialized map reads back");
        assert_eq!(
            serialize(headers.pairs()).as_deref(),
            Some(bytes.as_slice()),
            "the header map does not read back as written"
        );
        let owned = headers.to_owned_pairs();
        let request = Request::from_headers(&owned);
        let warm = {
            let keys = WorldKeys {
                config: &self.config,
                generation: 0,
                available: true,
            };
            let cache = RefCell::new(TokenCache::new(self.config.token_cache_size));
            decide_with_peer(
                &self.config,
                &request,
                &self.world_verifier(&keys, &cache, 0),
                &NoPeer,
            );
            cache.into_inner()
        };
        let later = FAST_PATH_WORLDS[world % FAST_PATH_WORLDS.len()];
        let mut answered = false;
        for (n, (seconds, generation, available)) in [(0, 0, true), later].into_iter().enumerate() {
            let keys = WorldKeys {
                config: &self.config,
                generation,
                available,
            };
            let fast_cache = RefCell::new(warm.clone());
            let fast = cached_pass(
                &self.config,
                &headers,
                &self.world_verifier(&keys, &fast_cache, seconds),
            );
            let full_cache = RefCell::new(warm.clone());
            let full = decide_with_peer(
                &self.config,
                &request,
                &self.world_verifier(&keys, &full_cache, seconds),
                &NoPeer,
            );
            let world = format!("{seconds} s later, generation {generation}, keys {available}");
            match fast {
                Some(fast) => {
                    answered |= n == 0;
                    if fast != full {
                        panic!(
                            "fast path broken ({world}): it answered {fast:#?}\nthe full decision is {full:#?}\nrequest: {owned:#?}"
                        );
                    }
                    assert!(
                        fast_cache == full_cache,
                        "fast path broken ({world}): the caches differ after it answered\nrequest: {owned:#?}"
                    );
                }
                None => {
                    let after_cache = RefCell::new(fast_cache.into_inner());
                    let after = decide_with_peer(
                        &self.config,
                        &request,
                        &self.world_verifier(&keys, &after_cache, seconds),
                        &NoPeer,
                    );
                    if after != full || after_cache != full_cache {
                        panic!(
                            "fast path broken ({world}): declining changed the full decision or the cache\n{after:#?}\nversus {full:#?}\nrequest: {owned:#?}"
                        );
                    }
                }
            }
        }
        answered
    }
}
