//! A token of a provider with `introspection`: only one its endpoint may be
//! sent (1..4096 `token68` characters) is looked up among the answers at hand;
//! an active answer's members are then checked as a JWT's payload is
//! ([`authenticate_answer`]), an inactive one is 401, a failed endpoint 503,
//! and a token with no answer yet is pending (the filter asks and holds the
//! request).

use std::rc::Rc;

use serde_json::{Map, Value};

use crate::config::Provider;
use crate::decision::authenticate::{authenticate_answer, Presenter, RouteChecks};
use crate::decision::verifier::Verifier;
use crate::keys::introspection::ask::sendable;
use crate::keys::introspection::vouched::Vouched;
use crate::rejection::Rejection;
use crate::token::dpop::prove::AcceptedProof;
use crate::token::TokenError;

/// A token its provider's endpoint vouched for, and that met every check.
#[derive(Debug)]
pub struct VouchedFor {
    /// The answer's members.
    pub claims: Rc<Map<String, Value>>,
    /// Its DPoP proof, when it is bound and its provider has `dpop`.
    pub proof: Option<AcceptedProof>,
    /// The answer came from the worker's cache.
    pub reused: bool,
}

/// Checks `token` for provider `index` (`provider`, which has
/// `introspection`) as `route` wants it.
pub fn vouched_for(
    provider: &Provider,
    index: usize,
    route: &RouteChecks<'_>,
    token: &str,
    verifier: &Verifier<'_>,
    presenter: &Presenter<'_>,
) -> Result<VouchedFor, Rejection> {
    if !sendable(token) {
        return Err(Rejection::Malformed(TokenError::NotSendable));
    }
    let known = verifier
        .introspections
        .vouched(index, token)
        .ok_or(Rejection::IntrospectionPending)?;
    let claims = match known.vouched {
        Vouched::Failed => return Err(Rejection::IntrospectionFailed),
        Vouched::Inactive(_) => return Err(Rejection::Inactive),
        Vouched::Active(claims) => claims,
    };
    let proof = authenticate_answer(
        provider,
        route,
        token,
        &claims,
        verifier.signatures,
        verifier.now,
        presenter,
    )?;
    Ok(VouchedFor {
        claims,
        proof,
        reused: known.reused,
    })
}

/// The answer's members as `forward_payload_header` carries a JWT's payload:
/// their JSON, base64url without padding.
pub fn payload_of(claims: &Map<String, Value>) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default())
}
