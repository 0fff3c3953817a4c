//! Applying a decision to the request in the current context: its [`Plan`]
//! (change the request and let it go on, or answer locally), logged and counted.

use super::abi::Action;

use std::cell::RefCell;

use super::host;
use super::metrics::Metrics;
use crate::config::{Config, Mode};
use crate::decision::authenticate::said_only_of_verified;
use crate::decision::onward::Onward;
use crate::decision::plan::{self, Change, Plan, Reply};
use crate::decision::Decision;
use crate::log::budget::RefusalLog;
use crate::log::who::Caller;
use crate::policy::caller::Peer;
use crate::rejection::{HostFailure, Rejection};
use crate::request::Request;

/// Carries out `decision`; `Continue` when the request should go upstream.
/// A refusal (or, in audit mode, a would-be refusal) is logged at `warn` with who
/// called, within the worker's [`RefusalLog`]: a refusal said only of a verified
/// token ([`said_only_of_verified`]) within a budget of its own. The request is
/// counted once, for what it came to: a change the proxy refuses makes it a 503
/// [`HostFailure`] whatever the decision was.
pub fn carry_out(
    config: &Config,
    metrics: &Metrics,
    budget: &RefCell<RefusalLog>,
    request: &Request<'_>,
    peer: &dyn Peer,
    decision: Decision,
    onward: Onward,
) -> Action {
    let provider = decision
        .provider
        .and_then(|index| config.providers.get(index))
        .map_or("-", |provider| provider.name.as_str());
    if let Some(rejection) = onward.refusal {
        return refuse_outbound(metrics, budget, request, peer, rejection, &onward.plan);
    }
    match decision.verdict {
        Ok(()) => log::debug!("audgate: allowed ({provider})"),
        Err(rejection) => {
            let admitted = budget.try_borrow_mut().ok().and_then(|mut budget| {
                budget.admit(host::now_s(), said_only_of_verified(rejection))
            });
            if let Some(suppressed) = admitted {
                let verb = match config.mode {
                    Mode::Enforce => "rejected",
                    Mode::Audit => "would reject",
                };
                let caller = Caller::of(request, peer);
                let facts = decision.facts.clone().unwrap_or_default();
                let more = suppressed_note(suppressed);
                let unmet = decision
                    .unmet
                    .as_ref()
                    .map_or(String::new(), |unmet| format!(" ({unmet})"));
                log::warn!(
                    "audgate: {verb} ({provider}) {} [{}]: {rejection}{unmet}; {caller} {facts}{more}",
                    rejection.status(),
                    rejection.code(),
                );
            }
        }
    }
    carried(metrics, &decision, &onward.plan)
}

/// Carries out the exchange's refusal of a request the inbound decision let
/// through: logged within the refusal log's budget, counted as refused in
/// either mode (audit mode applies to the inbound decision only).
fn refuse_outbound(
    metrics: &Metrics,
    budget: &RefCell<RefusalLog>,
    request: &Request<'_>,
    peer: &dyn Peer,
    rejection: Rejection,
    plan: &Plan,
) -> Action {
    let admitted = budget
        .try_borrow_mut()
        .ok()
        .and_then(|mut budget| budget.admit(host::now_s(), false));
    if let Some(suppressed) = admitted {
        log::warn!(
            "audgate: rejected outbound request to {} {} [{}]: {rejection}; {}{}",
            request.authority,
            rejection.status(),
            rejection.code(),
            Caller::of(request, peer),
            suppressed_note(suppressed),
        );
    }
    metrics.outbound_refusal(rejection);
    let (action, applied) = execute(plan);
    if let Err(failure) = applied {
        metrics.decision(Err(Rejection::HostFailure(failure)), None, false);
    }
    action
}

/// " (N similar lines suppressed)" when N > 0.
fn suppressed_note(suppressed: u64) -> String {
    if suppressed > 0 {
        format!(" ({suppressed} similar lines suppressed)")
    } else {
        String::new()
    }
}

/// Carries out an outbound request's exchange answered at once (the token at
/// hand, read from the borrowed headers): counts it allowed under no provider
/// and makes `changes` (a change the proxy refuses: 503).
pub fn pass_exchanged(metrics: &Metrics, changes: Vec<Change>) -> Action {
    let decision = Decision::pass(None, crate::decision::Mutations::default(), false);
    carried(
        metrics,
        &decision,
        &Plan::only(plan::Action::Continue(changes)),
    )
}

/// Carries out a pass decided without the full request view (a cache hit):
/// counts it, makes its changes and lets it go on (a change the proxy
/// refuses: 503).
pub fn pass(metrics: &Metrics, decision: Decision) -> Action {
    carried(metrics, &decision, &Plan::of(&decision, Mode::Enforce, ""))
}

/// Answers with the metadata document's `plan` (no decision: it is counted
/// nowhere).
pub fn publish(plan: &Plan) -> Action {
    execute(plan).0
}

/// Carries out `decision`'s `plan` and counts the request once, for what it
/// came to.
fn carried(metrics: &Metrics, decision: &Decision, plan: &Plan) -> Action {
    let (action, applied) = execute(plan);
    let verdict = applied
        .map_err(Rejection::HostFailure)
        .and(decision.verdict);
    metrics.decision(verdict, decision.provider, decision.from_cache);
    metrics.proofs(decision);
    action
}

/// Carries out `plan`: its changes, then `Continue`; or its local answer. A
/// change the proxy refuses (a forged header or the token might stay, so the
/// request must not go on) is answered 503 instead, and returned to be counted.
fn execute(plan: &Plan) -> (Action, Result<(), HostFailure>) {
    match &plan.action {
        plan::Action::Continue(changes) => {
            let refused = changes.iter().any(|change| {
                let (name, value) = match change {
                    Change::Remove(name) => (name, None),
                    Change::Set(name, value) => (name, Some(value.as_str())),
                };
                !host::set_request_header(name, value)
            });
            if refused {
                let failure = HostFailure::HeaderChangeRefused;
                reject(Rejection::HostFailure(failure), "");
                (Action::Pause, Err(failure))
            } else {
                (Action::Continue, Ok(()))
            }
        }
        plan::Action::Respond(reply) => {
            respond(reply, &plan.response_headers);
            (Action::Pause, Ok(()))
        }
        // A held request is kept by the caller (http.rs, outbound.rs); one
        // planned as held here has nothing to wait for: it never goes on.
        plan::Action::Hold(_) => {
            let failure = HostFailure::StateBusy;
            reject(Rejection::HostFailure(failure), "");
            (Action::Pause, Err(failure))
        }
    }
}

/// Answers 503 for `failure` and counts it under no provider.
pub fn refuse(metrics: Option<&Metrics>, failure: HostFailure) -> Action {
    let rejection = Rejection::HostFailure(failure);
    if let Some(metrics) = metrics {
        metrics.decision(Err(rejection), None, false);
    }
    reject(rejection, "");
    Action::Pause
}

/// Answers locally with the rejection's status, challenge and a short body.
pub fn reject(rejection: Rejection, authority: &str) {
    respond(&Reply::refusal(rejection, authority), &[]);
}

/// Sends `reply` as the local answer, with `extra` response headers.
fn respond(reply: &Reply, extra: &[(String, String)]) {
    let mut headers = vec![("content-type", reply.content_type)];
    headers.extend(
        reply
            .challenges
            .iter()
            .map(|challenge| ("www-authenticate", challenge.as_str())),
    );
    headers.extend(
        extra
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    );
    host::send_response(reply.status, headers, reply.body.as_bytes());
}
