//! A provider's `dpop` section, compiled (`config::dpop` reads it).

use std::fmt;

use jsonwebtoken::Algorithm;

use crate::token::dpop::nonce::Nonces;

/// The proof algorithms accepted by default.
pub const DEFAULT_ALGORITHMS: [Algorithm; 5] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::EdDSA,
];

/// What a provider asks of DPoP-bound tokens and their proofs.
#[derive(Clone, PartialEq, Eq)]
pub struct Dpop {
    /// Every token must be DPoP-bound and come with a proof; else a token
    /// without `cnf` passes as a bearer token.
    pub required: bool,
    /// The proof's `alg` allow-list (never `none` or `HS*`).
    pub algorithms: Vec<Algorithm>,
    /// How old a proof's `iat` may be, in seconds (plus `clock_skew_s`).
    pub max_age_s: i64,
    /// Accepted proofs remembered per proxy.
    pub replay_store_size: usize,
    /// What `htu` may name before the path, normalised (`scheme://host[:port]`);
    /// `None`: the request's own `:scheme` and `:authority`.
    pub origins: Option<Vec<String>>,
    /// Server nonces, when `nonce_secret_env` is given.
    pub nonces: Option<Nonces>,
    /// `algorithms`, space-separated, for the challenges (`algs`).
    pub algs: String,
}

impl fmt::Debug for Dpop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dpop")
            .field("required", &self.required)
            .field("algorithms", &self.algorithms)
            .field("max_age_s", &self.max_age_s)
            .field("replay_store_size", &self.replay_store_size)
            .field("origins", &self.origins)
            .field("nonces", &self.nonces.as_ref().map(|_| "<secret>"))
            .finish()
    }
}

impl Dpop {
    /// The `algs` of a `DPoP` challenge: the allow-list's names, space-separated.
    pub fn algs(&self) -> String {
        self.algs.clone()
    }

    /// `algorithms` as [`Dpop::algs`] names them, made once with the settings.
    pub fn algs_of(algorithms: &[Algorithm]) -> String {
        let names: Vec<String> = algorithms.iter().map(|alg| format!("{alg:?}")).collect();
        names.join(" ")
    }
}
