//! Applying a decision to the request in the current context: mutate and let it
//! go on, or answer locally (enforce), or mark it and let it go on (audit).

use super::abi::Action;

use std::cell::RefCell;

use super::host;
use super::metrics::Metrics;
use crate::authenticate::said_only_of_verified;
use crate::caller::Peer;
use crate::config::{Config, Mode, WOULD_REJECT_HEADER};
use crate::decision::{Decision, Mutations};
use crate::extract::Request;
use crate::log_budget::RefusalLog;
use crate::rejection::{HostFailure, Rejection};
use crate::who::Caller;

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
) -> Action {
    let provider = decision
        .provider
        .and_then(|index| config.providers.get(index))
        .map_or("-", |provider| provider.name.as_str());
    let changed = match decision.verdict {
        Ok(()) => {
            log::debug!("audgate: allowed ({provider})");
            mutated(&decision.mutations)
        }
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
                let more = if suppressed > 0 {
                    format!(" ({suppressed} similar lines suppressed)")
                } else {
                    String::new()
                };
                log::warn!(
                    "audgate: {verb} ({provider}) {} [{}]: {rejection}; {caller} {facts}{more}",
                    rejection.status(),
                    rejection.code(),
                );
            }
            match config.mode {
                // After the changes: they remove any copy the client sent.
                Mode::Audit => mutated(&decision.mutations)
                    .and_then(|()| marked(WOULD_REJECT_HEADER, rejection.code())),
                Mode::Enforce => Ok(()),
            }
        }
    };
    let verdict = changed
        .map_err(Rejection::HostFailure)
        .and(decision.verdict);
    metrics.decision(verdict, decision.provider, decision.from_cache);
    match (verdict, changed, config.mode) {
        (Ok(()), _, _) | (Err(_), Ok(()), Mode::Audit) => Action::Continue,
        (Err(rejection), _, _) => {
            reject(rejection, request.authority);
            Action::Pause
        }
    }
}

/// Carries out a pass decided without the full request view (a cache hit):
/// counts it, mutates the request and lets it go on (a change the proxy
/// refuses: 503).
pub fn pass(metrics: &Metrics, decision: Decision) -> Action {
    let verdict = decision
        .verdict
        .and_then(|()| mutated(&decision.mutations).map_err(Rejection::HostFailure));
    metrics.decision(verdict, decision.provider, decision.from_cache);
    match verdict {
        Ok(()) => Action::Continue,
        Err(rejection) => {
            reject(rejection, "");
            Action::Pause
        }
    }
}

/// Makes the changes; an error if the host refuses one (a forged header or the
/// token might stay, so the request must not go on).
fn mutated(mutations: &Mutations) -> Result<(), HostFailure> {
    let removed = mutations
        .remove_headers
        .iter()
        .all(|name| host::set_request_header(name, None));
    let set = removed
        && mutations
            .set_headers
            .iter()
            .all(|(name, value)| host::set_request_header(name, Some(value)));
    let path = set
        && mutations
            .path
            .as_ref()
            .is_none_or(|path| host::set_request_header(":path", Some(path)));
    let cookie = path
        && mutations
            .cookie
            .as_ref()
            .is_none_or(|cookie| host::set_request_header("cookie", cookie.as_deref()));
    changed_if(cookie)
}

/// Sets header `name` to `value`; an error if the host refuses.
fn marked(name: &str, value: &str) -> Result<(), HostFailure> {
    changed_if(host::set_request_header(name, Some(value)))
}

fn changed_if(done: bool) -> Result<(), HostFailure> {
    if done {
        Ok(())
    } else {
        Err(HostFailure::HeaderChangeRefused)
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
    let challenge = rejection.www_authenticate(authority);
    let mut headers = vec![("content-type", "text/plain; charset=utf-8")];
    if let Some(value) = challenge.as_deref() {
        headers.push(("www-authenticate", value));
    }
    let body = format!("{rejection}\n");
    host::send_response(rejection.status(), headers, body.as_bytes());
}
