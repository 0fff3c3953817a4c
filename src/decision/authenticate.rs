//! One token against one provider, as a route wants it, cheapest checks first:
//! parse, algorithm, type, audience, issuer, times, then the caller and the claims
//! are read (no key touched yet), then key lookup and signature. The caller's and
//! the claims' verdicts are given only for a verified token: a `caller` refusal or
//! a 403 `insufficient_scope` is never said of a forgery
//! ([`said_only_of_verified`]).

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::config::Provider;
use crate::keys::jwks::{algorithm_named, KeySet, Selection};
use crate::keys::verify::{affordable, SignatureBackend};
use crate::policy::caller::{check_caller_where, Peer};
use crate::policy::claim_rule::{check_claims, ClaimRequirement};
use crate::policy::placeholder::Bindings;
use crate::policy::step_up::{check_step_up, Asked};
use crate::rejection::Rejection;
use crate::token::claims::{check_audience, check_issuer, check_times};
use crate::token::dpop::binding::Misbound;
use crate::token::dpop::failure::DpopFailure;
use crate::token::dpop::prove::{accept, prove, AcceptedProof, DpopRequest};
use crate::token::typ::check_type;
use crate::token::{self, Token};

/// A token that passed every check of its provider.
#[derive(Debug)]
pub struct Verified<'a> {
    /// The decoded token.
    pub token: Token<'a>,
    /// Its DPoP proof, when it is bound and its provider has `dpop`.
    pub proof: Option<AcceptedProof>,
}

/// Who presents the token, and how: the downstream TLS peer (for `caller` and
/// `cnf.x5t#S256`) and, for a provider with `dpop`, the request's DPoP proof.
#[derive(Clone, Copy)]
pub struct Presenter<'a> {
    /// The downstream TLS peer.
    pub peer: &'a dyn Peer,
    /// The request as a DPoP proof must match it.
    pub dpop: Option<&'a DpopRequest<'a>>,
}

/// What the route asks of a token besides its provider's own checks.
#[derive(Debug, Clone, Copy)]
pub struct RouteChecks<'a> {
    /// The audiences `aud` must name (the route's, else the provider's).
    pub audiences: &'a [String],
    /// Claims the route requires besides the provider's `required_claims`.
    pub claims: &'a [ClaimRequirement],
    /// What the route's `${path.…}` and `${header.…}` are filled from.
    pub bindings: Option<&'a Bindings<'a>>,
    /// How the user must have authenticated (the provider's step-up, the
    /// route's fields in place of its own).
    pub step_up: Asked<'a>,
}

/// Checks `raw` against `provider` and `route`. `keys` yields the provider's key
/// set (`None` when not available); it is only called once every key-free check
/// has passed.
pub fn authenticate<'a, 'k>(
    provider: &Provider,
    route: &RouteChecks<'_>,
    raw: &'a str,
    keys: impl FnOnce() -> Option<&'k KeySet>,
    signatures: &dyn SignatureBackend,
    now: i64,
    presenter: &Presenter<'_>,
) -> Result<Verified<'a>, Rejection> {
    let (peer, dpop) = (presenter.peer, presenter.dpop);
    let token = token::parse(raw).map_err(Rejection::Malformed)?;
    let alg = allowed_algorithm(provider, &token.header.alg)?;
    check_type(token.header.typ.as_deref(), &provider.token_types)?;
    check_audience(&token.claims, route.audiences)?;
    check_issuer(&token.claims, &provider.issuer)?;
    check_times(&token.claims, provider.times, now)?;
    // The proof's cheap checks, before any signature work.
    let skew = i64::try_from(provider.times.clock_skew_s).unwrap_or(i64::MAX);
    let proof = match (&provider.dpop, dpop) {
        (Some(settings), Some(request)) => prove(settings, request, raw, &token.claims, skew, now)?,
        _ => None,
    };
    let verdict = check_caller_where(
        &token.claims,
        provider.caller.as_ref(),
        peer,
        provider.dpop.is_some(),
    )
    .and_then(|()| check_claims(&token.claims, &provider.required_claims, None))
    .and_then(|()| check_claims(&token.claims, route.claims, route.bindings))
    .and_then(|()| check_step_up(&token.claims, &route.step_up, skew, now));

    let keys = keys().ok_or(Rejection::KeysUnavailable)?;
    let candidates = match keys.select(token.header.kid.as_deref(), alg) {
        Selection::Keys(candidates) => candidates,
        Selection::UnknownKid => return Err(Rejection::UnknownKid),
        Selection::NoKeyForAlgorithm => return Err(Rejection::AlgorithmNotAllowed),
    };
    let input = token.signing_input.as_bytes();
    let signed = affordable(candidates, |key| signatures.cost(key, alg))
        .into_iter()
        .any(|key| signatures.verify(key, alg, input, &token.signature));
    if !signed {
        return Err(Rejection::BadSignature);
    }
    // The proof's own signature, once the token's holds.
    let proof = match (proof, &provider.dpop) {
        (Some((checked, jkt)), Some(settings)) => {
            Some(accept(&checked, jkt, settings, skew, signatures)?)
        }
        _ => None,
    };
    verdict?;
    Ok(Verified { token, proof })
}

/// Checks an introspection endpoint's answer for `raw` (its members,
/// `claims`) against `provider` and `route`, in the order a JWT's payload is
/// checked: audience, issuer (when the answer has one), times, the binding
/// (`token_type: DPoP` needs `cnf.jkt`) and the proof's cheap checks, the
/// caller and the claims, then the proof's signature. Returns the accepted
/// proof of a DPoP-bound token.
pub fn authenticate_answer(
    provider: &Provider,
    route: &RouteChecks<'_>,
    raw: &str,
    claims: &Map<String, Value>,
    signatures: &dyn SignatureBackend,
    now: i64,
    presenter: &Presenter<'_>,
) -> Result<Option<AcceptedProof>, Rejection> {
    check_audience(claims, route.audiences)?;
    if claims.contains_key("iss") {
        check_issuer(claims, &provider.issuer)?;
    }
    check_times(claims, provider.times, now)?;
    check_dpop_type(claims)?;
    let skew = i64::try_from(provider.times.clock_skew_s).unwrap_or(i64::MAX);
    let proof = match (&provider.dpop, presenter.dpop) {
        (Some(settings), Some(request)) => prove(settings, request, raw, claims, skew, now)?,
        _ => None,
    };
    let verdict = check_caller_where(
        claims,
        provider.caller.as_ref(),
        presenter.peer,
        provider.dpop.is_some(),
    )
    .and_then(|()| check_claims(claims, &provider.required_claims, None))
    .and_then(|()| check_claims(claims, route.claims, route.bindings))
    .and_then(|()| check_step_up(claims, &route.step_up, skew, now));
    let proof = match (proof, &provider.dpop) {
        (Some((checked, jkt)), Some(settings)) => {
            Some(accept(&checked, jkt, settings, skew, signatures)?)
        }
        _ => None,
    };
    verdict?;
    Ok(proof)
}

/// An answer whose OAuth `token_type` is `DPoP` (any case) must name the key
/// it is bound to (`cnf.jkt`).
fn check_dpop_type(claims: &Map<String, Value>) -> Result<(), Rejection> {
    let says_dpop = claims
        .get("token_type")
        .and_then(Value::as_str)
        .is_some_and(|kind| kind.eq_ignore_ascii_case("dpop"));
    let bound = claims.get("cnf").and_then(|cnf| cnf.get("jkt")).is_some();
    if says_dpop && !bound {
        return Err(Rejection::Dpop(DpopFailure::Misbound(
            Misbound::DpopTypeUnbound,
        )));
    }
    Ok(())
}

/// Whether `rejection` is one [`authenticate`] gives only for a token whose
/// signature verified (the token cache holds only such tokens): the caller's
/// and the claims' verdicts. No forgery can be refused so.
pub fn said_only_of_verified(rejection: Rejection) -> bool {
    matches!(
        rejection,
        Rejection::Caller | Rejection::ClaimsNotMet | Rejection::StepUp(_)
    )
}

/// The token's `alg`, if it is a known algorithm on the provider's allow-list
/// (`Ed25519` is `EdDSA`). `none`, in any spelling, is never on it.
fn allowed_algorithm(provider: &Provider, name: &str) -> Result<Algorithm, Rejection> {
    let alg = algorithm_named(name).ok_or(Rejection::AlgorithmNotAllowed)?;
    if provider.algorithms.contains(&alg) {
        Ok(alg)
    } else {
        Err(Rejection::AlgorithmNotAllowed)
    }
}
