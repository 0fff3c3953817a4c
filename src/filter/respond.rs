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
use crate::rejection::Rejection;
use crate::who::Caller;

/// Carries out `decision`; `Continue` when the request should go upstream.
/// A refusal (or, in audit mode, a would-be refusal) is logged at `warn` with who
/// called, within the worker's [`RefusalLog`]: a refusal said only of a verified
/// token ([`said_only_of_verified`]) within a budget of its own.
pub fn carry_out(
    config: &Config,
    metrics: &Metrics,
    budget: &RefCell<RefusalLog>,
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
            mutated(&decision.mutations, request.authority)
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
            if config.mode == Mode::Audit {
                // After the changes: they remove any copy the client sent.
                match mutated(&decision.mutations, request.authority) {
                    Action::Continue
                        if host::set_request_header(
                            WOULD_REJECT_HEADER,
                            Some(rejection.code()),
                        ) =>
                    {
                        Action::Continue
                    }
                    Action::Continue => unchanged(request.authority),
                    Action::Pause => Action::Pause,
                }
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
    mutated(&decision.mutations, "")
}

/// Makes the changes and lets the request go on; if the host refuses one (a
/// forged header or the token might stay), answers 503 instead.
fn mutated(mutations: &Mutations, authority: &str) -> Action {
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
    if cookie {
        Action::Continue
    } else {
        unchanged(authority)
    }
}

/// The request could not be changed as decided: 503, never passed on as it is.
fn unchanged(authority: &str) -> Action {
    reject(Rejection::KeysUnavailable, authority);
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
