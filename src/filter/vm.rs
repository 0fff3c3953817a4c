//! What one wasm VM keeps between callbacks: the configuration, this VM's copy of
//! each remote key set (read from shared data), its fetcher (callouts in flight)
//! and the requests held while keys are fetched. Shared by the root and HTTP
//! contexts of the VM; never borrowed across a host call that can re-enter.

use crate::log::budget::RefusalLog;
use crate::policy::caller::{KnownPeer, Peer};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::config::{Config, KeySource};
use crate::decision::Decision;
use crate::decision::{KeyStore, Verifier};
use crate::exchange::flights::Flights;
use crate::exchange::remembered::ExchangeCache;
use crate::keys::fetcher::Fetcher;
use crate::keys::fresh_keys::Hold;
use crate::keys::jwks::KeySet;
use crate::keys::remote_sets::{RemoteKeys, RemoteSets};
use crate::keys::verify::{HostNative, RustCrypto};
use crate::oauth::cache_key::CacheKey;
use crate::token::cache::TokenCache;
use crate::token::dpop::replay::ReplayStore;

use super::foreign::call_verify_signature;
use super::metrics::Metrics;
use crate::keys::introspection::flight::Flights as IntrospectionFlights;
use crate::keys::introspection::vouched::{Answers, AnswersAtHand, Introspections, Vouched};

/// Most requests one VM holds while keys are fetched; more are answered at once.
pub const MAX_HELD: usize = 1024;

/// Per-VM state.
pub struct Vm {
    /// The plugin configuration.
    pub config: Rc<Config>,
    /// Remote key sets, one per distinct `remote_jwks` (what is fetched and
    /// through which cluster): providers that name the same one share its
    /// fetch, keys and fetch state.
    pub sources: RemoteSets,
    /// Requests paused until keys arrive.
    pub held: Vec<Held>,
    /// This VM's fetches: its id among the VMs, its callouts in flight.
    pub fetcher: Fetcher,
    /// Verified tokens remembered by this VM (one VM per worker).
    pub cache: RefCell<TokenCache>,
    /// Whether the host's `verify_signature` checks RS* and ES* signatures.
    pub host_verify: bool,
    /// Envoy stats.
    pub metrics: Rc<Metrics>,
    /// Refusal log lines this worker may still write this second.
    pub log_budget: Rc<RefCell<RefusalLog>>,
    /// Exchanged tokens remembered by this VM (`exchange.cache_size`).
    pub exchanged: ExchangeCache,
    /// Each provider's DPoP replay store (`None`: no `dpop`), by provider.
    pub replay: Vec<Option<ReplayStore>>,

    /// This VM's exchanges under way.
    pub flights: Flights,
    /// Requests paused until their token's exchange lands.
    pub waiting: Vec<Waiting>,
    /// Introspection answers remembered by this VM (`token_cache_size`).
    pub answers: RefCell<Answers>,
    /// Each provider's introspections under way (`None`: no
    /// `introspection`), by provider.
    pub asked: Vec<Option<IntrospectionFlights>>,
    /// Requests paused until their token's introspection lands.
    pub asking: Vec<Asking>,
    /// The providers whose introspection answer was reused since the last
    /// count (a bit each), counted as `cache_hit` after each decision.
    pub answers_reused: Cell<u64>,
}

/// A request paused until the exchange of its token lands.
pub struct Waiting {
    /// The HTTP context to resume or answer.
    pub context_id: u32,
    /// The exchange it waits for.
    pub key: CacheKey,
    /// Its request headers, pseudo-headers included.
    pub headers: Vec<(String, String)>,
    /// Its downstream TLS peer, read when it was held.
    pub peer: KnownPeer,
    /// Its inbound decision (a pass).
    pub decision: Decision,
    /// The cluster Envoy's route chose for it, when a destination needs it.
    pub cluster: Option<String>,
}

/// A request being decided: its HTTP context, headers and TLS peer, and the
/// introspection answers that landed for it so far (a request held and decided
/// again never asks twice for one token, cached or not).
pub struct Asked<'a> {
    /// Its HTTP context.
    pub context_id: u32,
    /// Its headers, pseudo-headers included.
    pub headers: &'a [(String, String)],
    /// Its downstream TLS peer.
    pub peer: &'a dyn Peer,
    /// The introspection answers that landed for it.
    pub answered: &'a [(CacheKey, Vouched)],
}

/// A request paused until its token's introspection lands.
pub struct Asking {
    /// The HTTP context to resume or answer.
    pub context_id: u32,
    /// The answer it waits for.
    pub key: CacheKey,
    /// Its request headers, pseudo-headers included.
    pub headers: Vec<(String, String)>,
    /// Its downstream TLS peer, read when it was held.
    pub peer: KnownPeer,
    /// The introspection answers that landed for it so far.
    pub answered: Vec<(CacheKey, Vouched)>,
}

/// A request paused until its provider's keys change or a fetch ends.
pub struct Held {
    /// The HTTP context to resume or answer.
    pub context_id: u32,
    /// Whose keys it waits for, of which generation, until when.
    pub hold: Hold,
    /// Its request headers, pseudo-headers included.
    pub headers: Vec<(String, String)>,
    /// Its downstream TLS peer, read when it was held.
    pub peer: KnownPeer,
    /// The introspection answers that landed for it so far.
    pub answered: Vec<(CacheKey, Vouched)>,
}

impl Vm {
    /// Fresh state for `config`; shared-data keys are prefixed by `plugin` (the
    /// plugin's name and root id), provider name and a tag of its JWKS settings.
    pub fn new(config: Rc<Config>, plugin: &str, host_verify: bool) -> Vm {
        let sources = RemoteSets::group(plugin, &config.remote_providers());
        // Each provider's DPoP replay store, shared by the plugin's workers; its
        // size in the key, so a store resized by a new configuration starts anew.
        let replay = config
            .providers
            .iter()
            .map(|provider| {
                let dpop = provider.dpop.as_ref()?;
                let size = dpop.replay_store_size;
                let prefix = format!("audgate;{plugin};dpop;{};{size}", provider.name);
                Some(ReplayStore::new(&prefix, size))
            })
            .collect();
        let asked = config
            .providers
            .iter()
            .map(|provider| {
                let settings = provider.introspection()?;
                Some(IntrospectionFlights::new(settings.max_pending))
            })
            .collect();
        Vm {
            replay,
            answers: RefCell::new(Answers::new(config.token_cache_size)),
            asked,
            asking: Vec::new(),
            answers_reused: Cell::new(0),

            metrics: Rc::new(Metrics::define(&config)),
            log_budget: Rc::new(RefCell::new(RefusalLog::default())),
            cache: RefCell::new(TokenCache::new(config.token_cache_size)),
            exchanged: ExchangeCache::new(
                config
                    .exchange
                    .as_ref()
                    .map_or(0, |exchange| exchange.cache_size),
            ),
            flights: Flights::default(),
            waiting: Vec::new(),
            config,
            sources,
            held: Vec::new(),
            fetcher: Fetcher::new(),
            host_verify,
        }
    }

    /// Runs `decide` with this VM's keys, caches and signature backend at
    /// `now_ms`.
    pub fn with_verifier<T>(&self, now_ms: u64, decide: impl FnOnce(&Verifier<'_>) -> T) -> T {
        self.with_verifier_landed(now_ms, &[], decide)
    }

    /// [`Vm::with_verifier`] with the introspection answers that landed for
    /// the request being decided.
    pub fn with_verifier_landed<T>(
        &self,
        now_ms: u64,
        landed: &[(CacheKey, Vouched)],
        decide: impl FnOnce(&Verifier<'_>) -> T,
    ) -> T {
        let keys = VmKeys {
            config: &self.config,
            remote: self.sources.at(now_ms),
        };
        let answers = self.answers_at(now_ms, landed);
        verify_with(&keys, &self.cache, &answers, self.host_verify, decide)
    }

    /// This VM's introspection answers at `now_ms`, with those that landed for
    /// the request being decided.
    pub fn answers_at<'a>(
        &'a self,
        now_ms: u64,
        landed: &'a [(CacheKey, Vouched)],
    ) -> AnswersAtHand<'a> {
        AnswersAtHand {
            answers: &self.answers,
            landed,
            now: i64::try_from(now_ms / 1000).unwrap_or(i64::MAX),
            reused_by: &self.answers_reused,
        }
    }

    /// Counts a `cache_hit` for each provider whose answer a decision reused
    /// since the last count (one per request decided).
    pub fn count_reused_answers(&self) {
        let mut reused = self.answers_reused.replace(0);
        while reused != 0 {
            let provider = reused.trailing_zeros();
            reused &= reused.wrapping_sub(1);
            if let Ok(index) = usize::try_from(provider) {
                self.metrics.introspection(index, "cache_hit");
            }
        }
    }
}

/// Runs `decide` with `keys`, `cache`, `introspections` and the signature backend (the host's
/// `verify_signature` where it checks RS* and ES*, else RustCrypto).
pub fn verify_with<T>(
    keys: &VmKeys<'_>,
    cache: &RefCell<TokenCache>,
    introspections: &dyn Introspections,
    host_verify: bool,
    decide: impl FnOnce(&Verifier<'_>) -> T,
) -> T {
    let now = i64::try_from(keys.remote.now_ms() / 1000).unwrap_or(i64::MAX);
    let cache = Some(cache);
    if host_verify {
        let host = HostNative {
            call: call_verify_signature,
        };
        decide(&Verifier {
            keys,
            signatures: &host,
            cache,
            introspections,
            now,
        })
    } else {
        decide(&Verifier {
            keys,
            signatures: &RustCrypto,
            cache,
            introspections,
            now,
        })
    }
}

/// Key store over a VM's local keys and its remote keys at one instant.
pub struct VmKeys<'a> {
    /// The configuration, which holds the local keys.
    pub config: &'a Config,
    /// This VM's copies of the remote keys at that instant.
    pub remote: RemoteKeys<'a>,
}

impl KeyStore for VmKeys<'_> {
    fn generation(&self, provider: usize) -> u64 {
        self.remote.generation(provider)
    }

    fn key_set(&self, provider: usize) -> Option<&KeySet> {
        match &self.config.providers.get(provider)?.keys {
            KeySource::Local(set) => Some(set),
            KeySource::Remote(_) => self.remote.key_set(provider),
            KeySource::Introspection(_) => None,
        }
    }
}
