//! The last check of a DPoP-bound request (the contract's check 8): its proof,
//! accepted by every other check, is remembered in the proxy's replay store; a
//! proof seen before, or one the store has no room for, turns the pass into a
//! refusal. Only a decision that passed reaches the store, so a request without
//! a verified token and a valid proof never writes to it.

use crate::decision::Decision;
use crate::keys::host::SharedData;
use crate::rejection::Rejection;
use crate::token::dpop::failure::DpopFailure;
use crate::token::dpop::replay::ReplayStore;

/// `decision`, its proof remembered in its provider's store (`stores`, by
/// provider) at `now`; refused when the proof was seen before or cannot be
/// remembered.
pub fn remembered(
    mut decision: Decision,
    stores: &[Option<ReplayStore>],
    shared: &dyn SharedData,
    now: i64,
) -> Decision {
    let (Ok(()), Some(proof), Some(index)) = (decision.verdict, &decision.proof, decision.provider)
    else {
        return decision;
    };
    let store = stores.get(index).and_then(Option::as_ref);
    let verdict = match store {
        Some(store) => store.remember(shared, &proof.jkt, &proof.jti, proof.until, now),
        // A provider with `dpop` always has its store: without one, refuse.
        None => Err(crate::token::dpop::replay::NotRemembered::Unavailable),
    };
    if let Err(not_remembered) = verdict {
        decision.verdict = Err(Rejection::Dpop(DpopFailure::Replay(not_remembered)));
        decision.proof = None;
        // A refusal sets nothing a verified token would have set.
        decision.mutations.set_headers.clear();
        if let Some(dpop) = &mut decision.dpop {
            dpop.nonce = None;
        }
    }
    decision
}
