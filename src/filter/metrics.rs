//! Envoy stats through proxy-wasm metrics, defined once per VM at configure time.
//! Names (under Envoy's own prefix for wasm metrics):
//!
//! ```text
//! audgate.allowed                      audgate.<provider>.allowed
//! audgate.denied.<reason>              audgate.<provider>.denied.<reason>
//! audgate.token_cache.hit|miss         audgate.<provider>.jwks_fetch.success|failure
//!                                      audgate.<provider>.jwks_age_s   (gauge)
//! ```
//! `<reason>` is the rejection's code: missing, malformed, signature, audience,
//! issuer, expired, not_yet_valid, claims, keys_unavailable.

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

use crate::config::Config;
use crate::rejection::Rejection;

/// Every reason code a rejection can count under.
const REASONS: [&str; Rejection::CODES.len()] = Rejection::CODES;

/// Metric ids of one scope (all providers, or one).
struct Scope {
    allowed: Option<u32>,
    denied: Vec<Option<u32>>,
}

/// Metric ids of one provider's key fetches.
struct Fetches {
    success: Option<u32>,
    failure: Option<u32>,
    age: Option<u32>,
}

/// This VM's metric ids.
pub struct Metrics {
    total: Scope,
    providers: Vec<Scope>,
    fetches: Vec<Fetches>,
    cache_hit: Option<u32>,
    cache_miss: Option<u32>,
}

fn define(kind: MetricType, name: &str) -> Option<u32> {
    hostcalls::define_metric(kind, name).ok()
}

fn scope(prefix: &str) -> Scope {
    Scope {
        allowed: define(MetricType::Counter, &format!("{prefix}.allowed")),
        denied: REASONS
            .iter()
            .map(|reason| define(MetricType::Counter, &format!("{prefix}.denied.{reason}")))
            .collect(),
    }
}

fn bump(id: Option<u32>) {
    if let Some(id) = id {
        let _ = hostcalls::increment_metric(id, 1);
    }
}

impl Metrics {
    /// Defines every metric for `config`.
    pub fn define(config: &Config) -> Metrics {
        Metrics {
            total: scope("audgate"),
            providers: config
                .providers
                .iter()
                .map(|p| scope(&format!("audgate.{}", p.name)))
                .collect(),
            fetches: config
                .providers
                .iter()
                .map(|p| Fetches {
                    success: define(
                        MetricType::Counter,
                        &format!("audgate.{}.jwks_fetch.success", p.name),
                    ),
                    failure: define(
                        MetricType::Counter,
                        &format!("audgate.{}.jwks_fetch.failure", p.name),
                    ),
                    age: define(MetricType::Gauge, &format!("audgate.{}.jwks_age_s", p.name)),
                })
                .collect(),
            cache_hit: define(MetricType::Counter, "audgate.token_cache.hit"),
            cache_miss: define(MetricType::Counter, "audgate.token_cache.miss"),
        }
    }

    /// Counts one decision.
    pub fn decision(
        &self,
        verdict: Result<(), Rejection>,
        provider: Option<usize>,
        from_cache: bool,
    ) {
        let scopes = [
            Some(&self.total),
            provider.and_then(|i| self.providers.get(i)),
        ];
        match verdict {
            Ok(()) => {
                for scope in scopes.into_iter().flatten() {
                    bump(scope.allowed);
                }
                if provider.is_some() {
                    bump(if from_cache {
                        self.cache_hit
                    } else {
                        self.cache_miss
                    });
                }
            }
            Err(rejection) => {
                let reason = REASONS.iter().position(|r| *r == rejection.code());
                for scope in scopes.into_iter().flatten() {
                    bump(reason.and_then(|i| scope.denied.get(i).copied().flatten()));
                }
            }
        }
    }

    /// Counts one key fetch of provider `index`.
    pub fn fetch(&self, index: usize, success: bool) {
        if let Some(fetches) = self.fetches.get(index) {
            bump(if success {
                fetches.success
            } else {
                fetches.failure
            });
        }
    }

    /// Sets the age of provider `index`'s key set, in seconds.
    pub fn key_age(&self, index: usize, seconds: u64) {
        if let Some(id) = self.fetches.get(index).and_then(|f| f.age) {
            let _ = hostcalls::record_metric(id, seconds);
        }
    }
}
