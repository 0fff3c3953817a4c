//! A DPoP-bound request's proof, as a provider with `dpop` asks for it: the
//! binding its presentation needs, then the proof's cheap checks (no signature
//! yet: the token's signature comes first), and what an accepted proof leaves
//! for the replay store and the response.

use serde_json::{Map, Value};

use crate::keys::verify::SignatureBackend;
use crate::rejection::Rejection;
use crate::token::dpop::binding::{binding, Binding, Presentation};
use crate::token::dpop::checks::{
    check, verify, CheckedProof, ProofFailure, ProofRequest, ProofRules,
};
use crate::token::dpop::failure::DpopFailure;
use crate::token::dpop::settings::Dpop;

/// What the request says that a proof must match.
#[derive(Debug, Clone, Copy)]
pub struct DpopRequest<'a> {
    /// How the token was presented, and the proofs.
    pub presentation: &'a Presentation<'a>,
    /// `:method`.
    pub method: &'a str,
    /// The request's own origin, normalised (`scheme://host[:port]`): what
    /// `htu` names unless the provider lists `dpop.origins`.
    pub own_origin: &'a str,
    /// The path as the rules resolve it, without its query.
    pub path: &'a str,
}

/// A proof that passed, for the replay store and the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedProof {
    /// The key it is signed with (`cnf.jkt`).
    pub jkt: String,
    /// Its `jti`.
    pub jti: String,
    /// When its window ends (Unix seconds): until then it is remembered.
    pub until: i64,
    /// Its nonce is past half its life: a fresh one goes on the response.
    pub nonce_stale: bool,
}

/// The proof `access_token` with `claims` needs under `dpop`, its cheap checks
/// passed; `None` when it passes as a bearer token.
pub fn prove<'r>(
    dpop: &Dpop,
    request: &DpopRequest<'r>,
    access_token: &'r str,
    claims: &Map<String, Value>,
    skew_s: i64,
    now: i64,
) -> Result<Option<(CheckedProof<'r>, String)>, Rejection> {
    let jkt = match binding(claims, request.presentation, dpop.required) {
        Ok(Binding::Bearer) => return Ok(None),
        Ok(Binding::Proof { jkt }) => jkt.to_owned(),
        Err(misbound) => return Err(Rejection::Dpop(DpopFailure::Misbound(misbound))),
    };
    let own;
    let origins = match &dpop.origins {
        Some(origins) => origins.as_slice(),
        None => {
            own = [request.own_origin.to_owned()];
            own.as_slice()
        }
    };
    let proof_request = ProofRequest {
        proofs: &request.presentation.proofs,
        method: request.method,
        origins,
        path: request.path,
        access_token,
        jkt: &jkt,
        now,
    };
    let rules = ProofRules {
        algorithms: &dpop.algorithms,
        max_age_s: dpop.max_age_s,
        skew_s,
        nonces: dpop.nonces.as_ref(),
    };
    let checked = check(&proof_request, &rules).map_err(refusal)?;
    Ok(Some((checked, jkt)))
}

/// The refusal for a proof that failed `failure`.
pub fn refusal(failure: ProofFailure) -> Rejection {
    match failure {
        ProofFailure::Nonce => Rejection::DpopNonce,
        other => Rejection::Dpop(DpopFailure::Proof(other)),
    }
}

/// The last of the proof's own checks, its signature with its own key; then
/// what the accepted proof of key `jkt` leaves.
pub fn accept(
    checked: &CheckedProof<'_>,
    jkt: String,
    dpop: &Dpop,
    skew_s: i64,
    signatures: &dyn SignatureBackend,
) -> Result<AcceptedProof, Rejection> {
    verify(checked, signatures).map_err(refusal)?;
    Ok(AcceptedProof::of(checked, jkt, dpop, skew_s))
}

impl AcceptedProof {
    /// What `proof` of key `jkt`, accepted under `dpop` with `skew_s`, leaves.
    pub fn of(proof: &CheckedProof<'_>, jkt: String, dpop: &Dpop, skew_s: i64) -> AcceptedProof {
        AcceptedProof {
            jkt,
            jti: proof.jti.clone(),
            until: proof
                .iat
                .saturating_add(dpop.max_age_s)
                .saturating_add(skew_s),
            nonce_stale: proof.nonce_stale,
        }
    }
}
