//! What one wasm VM keeps between callbacks: the configuration, this VM's copy of
//! each remote provider's keys (read from shared data), the callouts in flight
//! and the requests held while keys are fetched. Shared by the root and HTTP
//! contexts of the VM; never borrowed across a host call that can re-enter.

use crate::caller::KnownPeer;
use crate::log_budget::RefusalLog;
use std::cell::RefCell;
use std::rc::Rc;

use crate::config::{Config, KeySource, RemoteJwks};
use crate::decision::{KeyStore, Verifier};
use crate::keys::verify::{HostNative, RustCrypto};
use crate::token_cache::TokenCache;

use super::foreign::call_verify_signature;
use super::metrics::Metrics;
use crate::keys::fetch_state::{settings_tag, Freshness};
use crate::keys::jwks::KeySet;

/// Most requests one VM holds while keys are fetched; more are answered at once.
pub const MAX_HELD: usize = 1024;

/// Per-VM state.
pub struct Vm {
    /// The plugin configuration.
    pub config: Rc<Config>,
    /// Remote key sets, one per distinct `remote_jwks` (what is fetched and
    /// through which cluster): providers that name the same one share its
    /// fetch, keys and fetch state.
    pub sources: Vec<Remote>,
    /// By provider index: its key set in `sources`, `None` for `local_jwks`.
    pub source_of: Vec<Option<usize>>,
    /// Requests paused until keys arrive.
    pub held: Vec<Held>,
    /// Callouts in flight.
    pub calls: Vec<Call>,
    /// This VM's id in shared data (0 until allocated on the first tick).
    pub vm_id: u32,
    /// Verified tokens remembered by this VM (one VM per worker).
    pub cache: RefCell<TokenCache>,
    /// Whether the host's `verify_signature` checks RS* and ES* signatures.
    pub host_verify: bool,
    /// Envoy stats.
    pub metrics: Rc<Metrics>,
    /// Refusal log lines this worker may still write this second.
    pub log_budget: Rc<RefCell<RefusalLog>>,
}

/// A callout in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    /// The host's token for it.
    pub token: u32,
    /// Index into `Vm::sources`.
    pub source: usize,
    /// What it fetches.
    pub kind: CallKind,
    /// When it was sent, Unix milliseconds.
    pub sent_ms: u64,
}

/// What a callout fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// The issuer's OpenID configuration document (`discovery: true`).
    Discovery,
    /// The key set.
    Jwks,
}

/// One remote key set as this VM knows it.
pub struct Remote {
    /// What is fetched, through which cluster; the shortest timeout and cache
    /// duration of the providers that share it.
    pub settings: RemoteJwks,
    /// The providers that use it (indices into `Config::providers`).
    pub providers: Vec<usize>,
    /// Their names, for logs ("orders-idp" or "orders-idp, admin-idp").
    pub label: String,
    /// The issuer a discovery document must name.
    pub issuer: String,
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
    /// A hash of the key set's JWKS text, to tell a new set from a re-fetched one.
    pub jwks_hash: u64,
    /// Bumped when the key set changes (not when the same set is fetched again),
    /// so held requests and cached tokens see that keys changed.
    pub generation: u64,
}

impl Remote {
    /// The first provider's index, under which fetch stats are counted.
    pub fn first_provider(&self) -> usize {
        self.providers.first().copied().unwrap_or(0)
    }
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
        let (sources, source_of) = key_sources(&config, plugin);
        Vm {
            metrics: Rc::new(Metrics::define(&config)),
            log_budget: Rc::new(RefCell::new(RefusalLog::default())),
            cache: RefCell::new(TokenCache::new(config.token_cache_size)),
            config,
            sources,
            source_of,
            held: Vec::new(),
            calls: Vec::new(),
            vm_id: 0,
            host_verify,
        }
    }

    /// The remote key set of provider `index`, if it has remote keys.
    pub fn remote(&self, index: usize) -> Option<&Remote> {
        self.sources.get((*self.source_of.get(index)?)?)
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

/// The distinct remote key sets of `config` and each provider's among them.
/// Shared-data keys are prefixed by `plugin` (the plugin's name and root id) and
/// a tag of what is fetched and through which cluster.
fn key_sources(config: &Config, plugin: &str) -> (Vec<Remote>, Vec<Option<usize>>) {
    let mut sources: Vec<Remote> = Vec::new();
    let mut source_of = Vec::with_capacity(config.providers.len());
    for (index, provider) in config.providers.iter().enumerate() {
        let KeySource::Remote(settings) = &provider.keys else {
            source_of.push(None);
            continue;
        };
        // A discovered set is the issuer's: its document must name that issuer.
        let issuer = if settings.discovery {
            provider.issuer.as_str()
        } else {
            ""
        };
        let same = |remote: &Remote| {
            remote.settings.uri == settings.uri
                && remote.settings.cluster == settings.cluster
                && remote.settings.discovery == settings.discovery
                && remote.issuer == issuer
        };
        if let Some(position) = sources.iter().position(same) {
            if let Some(remote) = sources.get_mut(position) {
                remote.providers.push(index);
                remote.label = format!("{}, {}", remote.label, provider.name);
                remote.settings.timeout_ms = remote.settings.timeout_ms.min(settings.timeout_ms);
                remote.settings.cache_duration_s = remote
                    .settings
                    .cache_duration_s
                    .min(settings.cache_duration_s);
                remote.freshness = freshness(&remote.settings);
            }
            source_of.push(Some(position));
            continue;
        }
        let tag = settings_tag(&format!("{}{issuer}", settings.uri), &settings.cluster);
        let prefix = format!("audgate;{plugin};jwks;{tag}");
        source_of.push(Some(sources.len()));
        sources.push(Remote {
            keys_key: format!("{prefix};keys"),
            state_key: format!("{prefix};state"),
            freshness: freshness(settings),
            settings: settings.clone(),
            providers: vec![index],
            label: provider.name.clone(),
            issuer: issuer.to_owned(),
            seen_cas: None,
            cached: None,
            jwks_hash: 0,
            generation: 0,
        });
    }
    (sources, source_of)
}

fn freshness(settings: &RemoteJwks) -> Freshness {
    Freshness {
        cache_duration_ms: settings.cache_duration_s.saturating_mul(1000),
        timeout_ms: settings.timeout_ms,
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
