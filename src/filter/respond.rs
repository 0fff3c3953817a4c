//! Applying a decision to the request in the current context: mutate and let it
//! go on, or answer locally (enforce), or mark it and let it go on (audit).

use proxy_wasm::types::Action;

use super::host;
use super::metrics::Metrics;
use crate::config::{Config, Mode, WOULD_REJECT_HEADER};
use crate::decision::{Decision, Mutations};
use crate::extract::Request;
use crate::rejection::Rejection;

/// Carries out `decision`; `Continue` when the request should go upstream.
pub fn carry_out(
    config: &Config,
    metrics: &Metrics,
    request: &Request<'_>,
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
            match &decision.facts {
                Some(facts) => log::info!(
                    "audgate: rejected ({provider}): {rejection} [{}] {facts}",
                    rejection.code()
                ),
                None => log::info!(
                    "audgate: rejected ({provider}): {rejection} [{}]",
                    rejection.code()
                ),
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
