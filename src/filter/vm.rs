//! What one wasm VM keeps between callbacks: the configuration, this VM's copy of
//! each remote provider's keys (read from shared data), the callouts in flight
//! and the requests held while keys are fetched. Shared by the root and HTTP
//! contexts of the VM; never borrowed across a host call that can re-enter.

use crate::caller::KnownPeer;
use crate::log_budget::LogBudget;
use std::cell::RefCell;
use std::rc::Rc;

use crate::config::{Config, KeySource, RemoteJwks};
use crate::decision::{KeyStore, Verifier};
use crate::token_cache::TokenCache;
use crate::verify::{HostNative, RustCrypto};

use super::foreign::call_verify_signature;
use super::metrics::Metrics;
use crate::jwks::KeySet;
use crate::jwks_cache::{settings_tag, Freshness};

/// Most requests one VM holds while keys are fetched; more are answered at once.
pub const MAX_HELD: usize = 1024;

/// Per-VM state.
pub struct Vm {
    /// The plugin configuration.
    pub config: Rc<Config>,
    /// By provider index: remote key state, `None` for `local_jwks` providers.
    pub remotes: Vec<Option<Remote>>,
    /// Requests paused until keys arrive.
    pub held: Vec<Held>,
    /// Callouts in flight: token → provider index.
    pub calls: Vec<(u32, usize)>,
    /// This VM's id in shared data (0 until allocated on the first tick).
    pub vm_id: u32,
    /// Verified tokens remembered by this VM (one VM per worker).
    pub cache: RefCell<TokenCache>,
    /// Whether the host's `verify_signature` checks RS* and ES* signatures.
    pub host_verify: bool,
    /// Envoy stats.
    pub metrics: Rc<Metrics>,
    /// Refusal log lines this worker may still write this second.
    pub log_budget: Rc<RefCell<LogBudget>>,
}

/// One remote provider's keys as this VM knows them.
pub struct Remote {
    /// `remote_jwks` settings.
    pub settings: RemoteJwks,
    /// Shared-data key of the fetched key set.
    pub keys_key: String,
    /// Shared-data key of the fetch state (lease, failures, refetch).
    pub state_key: String,
    /// Cache duration and timeout, in milliseconds.
    pub freshness: Freshness,
    /// CAS token of the key set last read from shared data.
    pub seen_cas: Option<u32>,
    /// The parsed key set and when it was fetched.
    pub cached: Option<(u64, KeySet)>,
    /// Bumped on each new key set, so held requests see that keys changed.
    pub generation: u64,
}

/// A request paused until its provider's keys change or a fetch ends.
pub struct Held {
    /// The HTTP context to resume or answer.
    pub context_id: u32,
    /// Provider whose keys it waits for.
    pub provider: usize,
    /// That provider's key generation when it was held.
    pub generation: u64,
    /// After this (Unix ms) it is decided with whatever keys there are.
    pub deadline_ms: u64,
    /// Its request headers, pseudo-headers included.
    pub headers: Vec<(String, String)>,
    /// Its downstream TLS peer, read when it was held.
    pub peer: KnownPeer,
}

impl Vm {
    /// Fresh state for `config`; shared-data keys are prefixed by `plugin` (the
    /// plugin's name and root id), provider name and a tag of its JWKS settings.
    pub fn new(config: Rc<Config>, plugin: &str, host_verify: bool) -> Vm {
        let remotes = config
            .providers
            .iter()
            .map(|provider| match &provider.keys {
                KeySource::Local(_) => None,
                KeySource::Remote(settings) => {
                    let prefix = format!(
                        "audgate;{plugin};{};{}",
                        provider.name,
                        settings_tag(&settings.uri, &settings.cluster)
                    );
                    Some(Remote {
                        keys_key: format!("{prefix};keys"),
                        state_key: format!("{prefix};state"),
                        freshness: Freshness {
                            cache_duration_ms: settings.cache_duration_s.saturating_mul(1000),
                            timeout_ms: settings.timeout_ms,
                        },
                        settings: settings.clone(),
                        seen_cas: None,
                        cached: None,
                        generation: 0,
                    })
                }
            })
            .collect();
        Vm {
            metrics: Rc::new(Metrics::define(&config)),
            log_budget: Rc::new(RefCell::new(LogBudget::default())),
            cache: RefCell::new(TokenCache::new(config.token_cache_size)),
            config,
            remotes,
            held: Vec::new(),
            calls: Vec::new(),
            vm_id: 0,
            host_verify,
        }
    }

    /// The remote state of provider `index`, if it has remote keys.
    pub fn remote(&self, index: usize) -> Option<&Remote> {
        self.remotes.get(index)?.as_ref()
    }

    /// The keys a decision at `now_ms` may use.
    pub fn keys(&self, now_ms: u64) -> VmKeys<'_> {
        VmKeys { vm: self, now_ms }
    }

    /// Runs `decide` with this VM's keys, cache and signature backend at `now_ms`.
    pub fn with_verifier<T>(&self, now_ms: u64, decide: impl FnOnce(&Verifier<'_>) -> T) -> T {
        let keys = self.keys(now_ms);
        let now = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
        let cache = Some(&self.cache);
        if self.host_verify {
            let host = HostNative {
                call: call_verify_signature,
            };
            decide(&Verifier {
                keys: &keys,
                signatures: &host,
                cache,
                now,
            })
        } else {
            decide(&Verifier {
                keys: &keys,
                signatures: &RustCrypto,
                cache,
                now,
            })
        }
    }
}

/// Key store over a VM's local and cached remote keys at one instant.
pub struct VmKeys<'a> {
    vm: &'a Vm,
    now_ms: u64,
}

impl KeyStore for VmKeys<'_> {
    fn generation(&self, provider: usize) -> u64 {
        self.vm
            .remote(provider)
            .map_or(0, |remote| remote.generation)
    }

    fn key_set(&self, provider: usize) -> Option<&KeySet> {
        match &self.vm.config.providers.get(provider)?.keys {
            KeySource::Local(set) => Some(set),
            KeySource::Remote(_) => {
                let remote = self.vm.remote(provider)?;
                let (fetched_at, set) = remote.cached.as_ref()?;
                remote
                    .freshness
                    .usable(*fetched_at, self.now_ms)
                    .then_some(set)
            }
        }
    }
}

/// The pseudo-header `name` among `headers`, or "".
pub fn pseudo<'h>(headers: &'h [(String, String)], name: &str) -> &'h str {
    headers
        .iter()
        .find(|(key, _)| key == name)
        .map_or("", |(_, value)| value.as_str())
}
