//! Why a DPoP-bound request is refused, one value for the log and the stat:
//! how the token was presented, its proof, or the replay store.

use crate::token::dpop::binding::Misbound;
use crate::token::dpop::checks::ProofFailure;
use crate::token::dpop::replay::NotRemembered;

/// A DPoP refusal other than a missing nonce (reason `dpop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpopFailure {
    /// The token's binding does not fit its scheme or the provider.
    Misbound(Misbound),
    /// The proof failed a check.
    Proof(ProofFailure),
    /// The proof was accepted before within its window, or it could not be
    /// remembered (no room for its key, the store busy): refused either way.
    Replay(NotRemembered),
}

impl DpopFailure {
    /// The reason in words, for the log.
    pub fn describe(self) -> String {
        match self {
            DpopFailure::Misbound(misbound) => misbound.describe().to_owned(),
            DpopFailure::Proof(failure) => failure.describe(),
            DpopFailure::Replay(NotRemembered::Replayed) => {
                "the DPoP proof was used before (replay)".into()
            }
            DpopFailure::Replay(NotRemembered::Full) => {
                "no room in the DPoP replay store for this key's proofs".into()
            }
            DpopFailure::Replay(NotRemembered::Unavailable) => {
                "the DPoP replay store could not record the proof".into()
            }
        }
    }

    /// Whether the token itself is the problem (challenged `invalid_token`)
    /// rather than the proof (`invalid_dpop_proof`).
    pub fn is_the_tokens(self) -> bool {
        matches!(self, DpopFailure::Misbound(_))
    }
}
