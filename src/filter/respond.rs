//! Applying a decision to the request in the current context: mutate and let it
//! go on, or answer locally (enforce), or mark it and let it go on (audit).

use super::abi::Action;

use std::cell::RefCell;

use super::host;
use super::metrics::Metrics;
use crate::caller::Peer;
use crate::config::{Config, Mode, WOULD_REJECT_HEADER};
use crate::decision::{Decision, Mutations};
use crate::extract::Request;
use crate::log_budget::LogBudget;
use crate::rejection::Rejection;
use crate::who::Caller;

/// Carries out `decision`; `Continue` when the request should go upstream.
/// A refusal (or, in audit mode, a would-be refusal) is logged at `warn` with who
/// called, within the worker's [`LogBudget`].
pub fn carry_out(
    config: &Config,
    metrics: &Metrics,
    budget: &RefCell<LogBudget>,
    request: &Request<'_>,
    peer: &dyn Peer,
    decision: Decision,
) -> Action {
    metrics.decision(decision.verdict, decision.provider, decision.from_cache);
    let provider = decision
        .provider
        .and_then(|index| config.providers.get(index))
        .map_or("-", |provider| provider.name.as_str());
    match decision.verdict {
        Ok(()) => {
            log::debug!("audgate: allowed ({provider})");
            mutate(&decision.mutations);
            Action::Continue
        }
        Err(rejection) => {
            let admitted = budget
                .try_borrow_mut()
                .ok()
                .and_then(|mut budget| budget.admit(host::now_s()));
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
            if config.mode == Mode::Audit {
                mutate(&decision.mutations);
                host::set_request_header(WOULD_REJECT_HEADER, Some(rejection.code()));
                Action::Continue
            } else {
                reject(rejection, request.authority);
                Action::Pause
            }
        }
    }
}

/// Carries out a pass decided without the full request view (a cache hit):
/// counts it, mutates the request and lets it go on.
pub fn pass(metrics: &Metrics, decision: Decision) -> Action {
    metrics.decision(decision.verdict, decision.provider, decision.from_cache);
    if let Err(rejection) = decision.verdict {
        reject(rejection, "");
        return Action::Pause;
    }
    mutate(&decision.mutations);
    Action::Continue
}

fn mutate(mutations: &Mutations) {
    for name in &mutations.remove_headers {
        host::set_request_header(name, None);
    }
    for (name, value) in &mutations.set_headers {
        host::set_request_header(name, Some(value));
    }
    if let Some(path) = &mutations.path {
        host::set_request_header(":path", Some(path));
    }
    if let Some(cookie) = &mutations.cookie {
        host::set_request_header("cookie", cookie.as_deref());
    }
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
