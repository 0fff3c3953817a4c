//! Envoy stats through proxy-wasm metrics, every id defined at configure time
//! (nothing is named per request). Each name carries its dimensions as Istio-style
//! tags, `tag=.=value;.;`, ahead of the series name; Envoy puts its own
//! `wasmcustom.` before it:
//!
//! ```text
//! provider=.=<provider>;.;outcome=.=<outcome>;.;reason=.=<reason>;.;audgate_requests_total
//! provider=.=<provider>;.;result=.=hit|miss;.;audgate_token_cache_total
//! jwks=.=<key set>;.;result=.=success|failure;.;audgate_jwks_fetches_total
//! jwks=.=<key set>;.;audgate_jwks_age_seconds                          (gauge)
//! destination=.=<destination>;.;result=.=<result>;.;audgate_exchanges_total
//! provider=.=<provider>;.;result=.=<result>;.;audgate_dpop_proofs_total
//! provider=.=<provider>;.;result=.=<result>;.;audgate_introspections_total
//! ```
//!
//! The `stats_tags` of `envoy/envoy.yaml` (Istio: `extraStatTags`) take each
//! `tag=.=value;.;` out of the name into a tag, so `/stats/prometheus` shows
//! `audgate_requests_total{provider="corp-idp",outcome="denied",reason="audience"}`.
//! A value never holds `;` (provider names are `[A-Za-z0-9_.-]{1,64}`; outcomes,
//! reasons and results are fixed words), so no value can run into the next tag.
//!
//! - `provider`: the provider that decided the request, or `none` (no provider
//!   did: a `requires: "none"` route, a CORS preflight, a missing token under
//!   `any`, several different tokens); `none` is never a provider's name.
//! - `outcome`: `allowed` (reason `none`), or for a refusal `denied` (enforce
//!   mode) or `would_deny` (audit mode); only the configured mode's refusal
//!   outcome is defined.
//! - `reason`: [`Rejection::code`], or `none` when allowed.
//! - `jwks`: a remote key set, named by the first provider that uses it (several
//!   providers with the same `remote_jwks` share one fetch, so one series).
//!
//! - `destination`: an `exchange.destinations` entry, named by its first host or
//!   cluster; `none` for a token bound for a destination no entry matches
//!   (result `unmatched`). Results: `cache_hit` (a request served with a token at
//!   hand, its own callout spared), `exchanged`, `refused`, `failed` (one per
//!   callout to the token service).
//!
//! - DPoP proofs, by provider with `dpop`: `accepted`, `refused` (a proof or a
//!   binding that does not hold), `replayed`, `store_full` (no room, or the
//!   store could not record it), `nonce_issued` (a `DPoP-Nonce` handed out, on
//!   a 401 or a 200).
//!
//! - Introspection, by provider with `introspection`: `cache_hit` (a request
//!   decided with an answer the worker reused); each callout as `active`,
//!   `inactive` (the endpoint does not vouch for the token) or `failed` (the
//!   endpoint failed, or would not be sent the callout); `max_pending` (not
//!   sent: `introspection.max_pending` callouts already under way).
//!
//! Every request counts once in `audgate_requests_total`, and a request allowed
//! by a provider once more in `audgate_token_cache_total`. There is no totals
//! series: sum over the labels. Counts are kept in the VM's memory and added to
//! Envoy's counters on the root's tick ([`Metrics::flush`], every 100 ms), so a
//! request costs no host call for its stats and stats lag by at most a tick.

use std::cell::{Cell, OnceCell};

use super::abi::{self, MetricKind};

use crate::config::{Config, Mode};
use crate::decision::Decision;
use crate::keys::remote_sets::RemoteSets;
use crate::rejection::Rejection;
use crate::token::dpop::failure::DpopFailure;
use crate::token::dpop::replay::NotRemembered;

/// The `provider` value of a request no provider decided.
pub const NO_PROVIDER: &str = "none";

/// The `destination` value of a token bound for no destination entry.
pub const NO_DESTINATION: &str = "none";

/// The `reason` value of an allowed request.
pub const NO_REASON: &str = "none";

/// This VM's metric ids.
pub struct Metrics {
    /// By provider index.
    requests: Vec<Requests>,
    /// Under [`NO_PROVIDER`].
    unattributed: Requests,
    /// By provider index.
    cache: Vec<Cache>,
    /// One per remote key set; defined by [`Metrics::define_key_sets`].
    key_sets: OnceCell<Vec<KeySet>>,
    /// By destination index, when `exchange` is configured.
    exchanges: Vec<Exchanges>,
    /// Tokens bound for no destination entry.
    unmatched: Option<Counter>,
    /// Outbound refusals (`exchange…` reasons) under provider `none` and
    /// outcome `denied` in either mode: audit mode does not apply to them.
    outbound: Vec<(&'static str, Counter)>,
    /// By provider index; `None` for a provider without `dpop`.
    proofs: Vec<Option<DpopProofs>>,
    /// By provider index; `None` for a provider without `introspection`.
    introspections: Vec<Option<Introspections>>,
}

/// `audgate_introspections_total` counters of one provider.
struct Introspections {
    cache_hit: Counter,
    active: Counter,
    inactive: Counter,
    failed: Counter,
    max_pending: Counter,
}

/// `audgate_dpop_proofs_total` counters of one provider.
struct DpopProofs {
    accepted: Counter,
    refused: Counter,
    replayed: Counter,
    store_full: Counter,
    nonce_issued: Counter,
}

/// `audgate_exchanges_total` counters of one destination.
struct Exchanges {
    cache_hit: Counter,
    exchanged: Counter,
    refused: Counter,
    failed: Counter,
}

/// A counter: its id, and what was counted since the last flush.
struct Counter {
    id: Option<u32>,
    pending: Cell<u64>,
}

impl Counter {
    fn new(id: Option<u32>) -> Counter {
        Counter {
            id,
            pending: Cell::new(0),
        }
    }

    /// Counts one, in memory.
    fn bump(&self) {
        self.pending.set(self.pending.get().saturating_add(1));
    }

    /// Adds what was counted to Envoy's counter.
    fn flush(&self) {
        let pending = self.pending.replace(0);
        if let (Some(id), Ok(offset)) = (self.id, i64::try_from(pending)) {
            if pending > 0 && abi::increment_metric(id, offset).is_err() {
                // Kept for the next flush rather than lost.
                self.pending.set(self.pending.get().saturating_add(pending));
            }
        }
    }
}

/// `audgate_requests_total` counters of one provider value.
struct Requests {
    allowed: Counter,
    /// By index into [`Rejection::CODES`], under the mode's refusal outcome.
    refused: Vec<Counter>,
}

/// `audgate_token_cache_total` counters of one provider.
struct Cache {
    hit: Counter,
    miss: Counter,
}

/// The stats of one remote key set.
struct KeySet {
    /// Index of the first provider using it, by which the fetcher names it.
    first_provider: usize,
    success: Counter,
    failure: Counter,
    age: Option<u32>,
}

fn define(kind: MetricKind, name: &str) -> Option<u32> {
    let id = abi::define_metric(kind, name).ok();
    if id.is_none() {
        log::warn!("audgate: could not define stat {name}");
    }
    id
}

fn counter(name: &str) -> Counter {
    Counter::new(define(MetricKind::Counter, name))
}

fn request_counter(provider: &str, outcome: &str, reason: &str) -> Counter {
    counter(&format!(
        "provider=.={provider};.;outcome=.={outcome};.;reason=.={reason};.;audgate_requests_total"
    ))
}

fn requests(provider: &str, refusal: &str) -> Requests {
    Requests {
        allowed: request_counter(provider, "allowed", NO_REASON),
        refused: Rejection::CODES
            .iter()
            .map(|reason| request_counter(provider, refusal, reason))
            .collect(),
    }
}

fn cache_counter(provider: &str, result: &str) -> Counter {
    counter(&format!(
        "provider=.={provider};.;result=.={result};.;audgate_token_cache_total"
    ))
}

fn exchange_counter(destination: &str, result: &str) -> Counter {
    counter(&format!(
        "destination=.={destination};.;result=.={result};.;audgate_exchanges_total"
    ))
}

fn proof_counter(provider: &str, result: &str) -> Counter {
    counter(&format!(
        "provider=.={provider};.;result=.={result};.;audgate_dpop_proofs_total"
    ))
}

fn introspection_counter(provider: &str, result: &str) -> Counter {
    counter(&format!(
        "provider=.={provider};.;result=.={result};.;audgate_introspections_total"
    ))
}

fn fetch_counter(jwks: &str, result: &str) -> Counter {
    counter(&format!(
        "jwks=.={jwks};.;result=.={result};.;audgate_jwks_fetches_total"
    ))
}

impl Metrics {
    /// Defines the request and token-cache metrics of `config`.
    pub fn define(config: &Config) -> Metrics {
        let refusal = match config.mode {
            Mode::Enforce => "denied",
            Mode::Audit => "would_deny",
        };
        Metrics {
            requests: config
                .providers
                .iter()
                .map(|p| requests(&p.name, refusal))
                .collect(),
            unattributed: requests(NO_PROVIDER, refusal),
            cache: config
                .providers
                .iter()
                .map(|p| Cache {
                    hit: cache_counter(&p.name, "hit"),
                    miss: cache_counter(&p.name, "miss"),
                })
                .collect(),
            key_sets: OnceCell::new(),
            exchanges: config
                .exchange
                .iter()
                .flat_map(|exchange| &exchange.destinations)
                .map(|destination| {
                    let label = destination.label();
                    Exchanges {
                        cache_hit: exchange_counter(label, "cache_hit"),
                        exchanged: exchange_counter(label, "exchanged"),
                        refused: exchange_counter(label, "refused"),
                        failed: exchange_counter(label, "failed"),
                    }
                })
                .collect(),
            unmatched: config
                .exchange
                .as_ref()
                .map(|_| exchange_counter(NO_DESTINATION, "unmatched")),
            outbound: config
                .exchange
                .iter()
                .flat_map(|_| Rejection::CODES)
                .filter(|code| code.starts_with("exchange"))
                .map(|code| (code, request_counter(NO_PROVIDER, "denied", code)))
                .collect(),
            proofs: config
                .providers
                .iter()
                .map(|provider| {
                    provider.dpop.as_ref().map(|_| DpopProofs {
                        accepted: proof_counter(&provider.name, "accepted"),
                        refused: proof_counter(&provider.name, "refused"),
                        replayed: proof_counter(&provider.name, "replayed"),
                        store_full: proof_counter(&provider.name, "store_full"),
                        nonce_issued: proof_counter(&provider.name, "nonce_issued"),
                    })
                })
                .collect(),
            introspections: config
                .providers
                .iter()
                .map(|provider| {
                    let name = &provider.name;
                    provider.introspection().map(|_| Introspections {
                        cache_hit: introspection_counter(name, "cache_hit"),
                        active: introspection_counter(name, "active"),
                        inactive: introspection_counter(name, "inactive"),
                        failed: introspection_counter(name, "failed"),
                        max_pending: introspection_counter(name, "max_pending"),
                    })
                })
                .collect(),
        }
    }

    /// Counts one introspection callout of `provider` that ended with
    /// `result` (`active`, `inactive`, `failed`), one not sent (`max_pending`,
    /// `failed`), or one request served by a reused answer (`cache_hit`).
    pub fn introspection(&self, provider: usize, result: &str) {
        let Some(counters) = self.introspections.get(provider).and_then(Option::as_ref) else {
            return;
        };
        match result {
            "cache_hit" => counters.cache_hit.bump(),
            "active" => counters.active.bump(),
            "inactive" => counters.inactive.bump(),
            "max_pending" => counters.max_pending.bump(),
            _ => counters.failed.bump(),
        }
    }

    /// Counts what `decision` (of a provider with `dpop`) did with a proof.
    pub fn proofs(&self, decision: &Decision) {
        let Some(proofs) = decision
            .provider
            .and_then(|index| self.proofs.get(index))
            .and_then(Option::as_ref)
        else {
            return;
        };
        match decision.verdict {
            Ok(()) if decision.proof.is_some() => proofs.accepted.bump(),
            Ok(()) => {}
            Err(Rejection::Dpop(DpopFailure::Replay(NotRemembered::Replayed))) => {
                proofs.replayed.bump();
            }
            Err(Rejection::Dpop(DpopFailure::Replay(_))) => proofs.store_full.bump(),
            Err(Rejection::Dpop(_) | Rejection::DpopNonce) => proofs.refused.bump(),
            Err(_) => {}
        }
        if decision
            .dpop
            .as_ref()
            .is_some_and(|dpop| dpop.nonce.is_some())
        {
            proofs.nonce_issued.bump();
        }
    }

    /// Counts one request the exchange refused (in either mode).
    pub fn outbound_refusal(&self, rejection: Rejection) {
        let code = rejection.code();
        if let Some((_, counter)) = self.outbound.iter().find(|(name, _)| *name == code) {
            counter.bump();
        }
    }

    /// Counts one request served with a token at hand for `destination`.
    pub fn exchange_hit(&self, destination: usize) {
        if let Some(counters) = self.exchanges.get(destination) {
            counters.cache_hit.bump();
        }
    }

    /// Counts one token bound for no destination entry.
    pub fn exchange_unmatched(&self) {
        if let Some(counter) = &self.unmatched {
            counter.bump();
        }
    }

    /// Counts one callout for `destination` that ended with `result`
    /// (`exchanged`, `refused` or `failed`).
    pub fn exchange_callout(&self, destination: usize, result: &str) {
        if let Some(counters) = self.exchanges.get(destination) {
            match result {
                "exchanged" => counters.exchanged.bump(),
                "refused" => counters.refused.bump(),
                _ => counters.failed.bump(),
            }
        }
    }

    /// Defines the fetch and age metrics of each remote key set, named by its
    /// first provider; once per VM, at configure time (later calls do nothing).
    pub fn define_key_sets(&self, config: &Config, sources: &RemoteSets) {
        let key_sets = sources
            .iter()
            .filter_map(|remote| {
                let first_provider = remote.first_provider();
                let jwks = config.providers.get(first_provider)?.name.as_str();
                Some(KeySet {
                    first_provider,
                    success: fetch_counter(jwks, "success"),
                    failure: fetch_counter(jwks, "failure"),
                    age: define(
                        MetricKind::Gauge,
                        &format!("jwks=.={jwks};.;audgate_jwks_age_seconds"),
                    ),
                })
            })
            .collect();
        let _ = self.key_sets.set(key_sets);
    }

    /// Counts one decision: one counter, plus the token cache's when a provider
    /// allowed the request.
    pub fn decision(
        &self,
        verdict: Result<(), Rejection>,
        provider: Option<usize>,
        from_cache: bool,
    ) {
        let scope = match provider {
            Some(index) => self.requests.get(index),
            None => Some(&self.unattributed),
        };
        let Some(scope) = scope else {
            return;
        };
        match verdict {
            Ok(()) => {
                scope.allowed.bump();
                if let Some(cache) = provider.and_then(|index| self.cache.get(index)) {
                    if from_cache {
                        cache.hit.bump();
                    } else {
                        cache.miss.bump();
                    }
                }
            }
            Err(rejection) => {
                let reason = Rejection::CODES
                    .iter()
                    .position(|code| *code == rejection.code());
                if let Some(counter) = reason.and_then(|i| scope.refused.get(i)) {
                    counter.bump();
                }
            }
        }
    }

    fn key_set(&self, first_provider: usize) -> Option<&KeySet> {
        self.key_sets
            .get()?
            .iter()
            .find(|set| set.first_provider == first_provider)
    }

    /// Counts one fetch of the key set whose first provider is `first_provider`.
    pub fn fetch(&self, first_provider: usize, success: bool) {
        if let Some(set) = self.key_set(first_provider) {
            if success {
                set.success.bump();
            } else {
                set.failure.bump();
            }
        }
    }

    /// Sets the age, in seconds, of the key set whose first provider is
    /// `first_provider`.
    pub fn key_age(&self, first_provider: usize, seconds: u64) {
        if let Some(id) = self.key_set(first_provider).and_then(|set| set.age) {
            let _ = abi::record_metric(id, seconds);
        }
    }

    /// Adds every count made since the last flush to Envoy's counters.
    pub fn flush(&self) {
        let requests = self
            .requests
            .iter()
            .chain(std::iter::once(&self.unattributed));
        for scope in requests {
            scope.allowed.flush();
            scope.refused.iter().for_each(Counter::flush);
        }
        for cache in &self.cache {
            cache.hit.flush();
            cache.miss.flush();
        }
        for set in self.key_sets.get().into_iter().flatten() {
            set.success.flush();
            set.failure.flush();
        }
        for counters in &self.exchanges {
            counters.cache_hit.flush();
            counters.exchanged.flush();
            counters.refused.flush();
            counters.failed.flush();
        }
        if let Some(counter) = &self.unmatched {
            counter.flush();
        }
        for (_, counter) in &self.outbound {
            counter.flush();
        }
        for proofs in self.proofs.iter().flatten() {
            for counter in [
                &proofs.accepted,
                &proofs.refused,
                &proofs.replayed,
                &proofs.store_full,
                &proofs.nonce_issued,
            ] {
                counter.flush();
            }
        }
        for asked in self.introspections.iter().flatten() {
            for counter in [
                &asked.cache_hit,
                &asked.active,
                &asked.inactive,
                &asked.failed,
                &asked.max_pending,
            ] {
                counter.flush();
            }
        }
    }
}
