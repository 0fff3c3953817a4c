//! What the filter does with one request, as data: a [`Plan`] the filter carries
//! out (`src/filter`) and the CLI prints (`audgate verify`), so the two never map a
//! decision to a reply each in their own way.
//!
//! ```text
//! Decision ──Plan::of(decision, mode, authority)──▶ Plan
//!   Ok                        Continue(changes)
//!   Err, audit mode           Continue(changes + x-audgate-would-reject: CODE)
//!   Err, enforce mode         Respond(401/403/503, challenges, body)
//! a callout under way         Hold(Callout): decided again when it answers
//!                             (a request waiting for keys is still held by the
//!                             filter from keys::fresh_keys, not through a Plan)
//! ```
//! Every action may also carry headers for the response the client gets. Version 3
//! adds what it needs as variants here (an introspection or token-exchange
//! callout to hold for, a `DPoP` challenge beside `Bearer`, the 200 metadata
//! document), not as a second path through the filter.

use crate::config::{Config, Mode, WOULD_REJECT_HEADER};
use crate::decision::mutations::Mutations;
use crate::decision::Decision;
use crate::oauth::cache_key::CacheKey;
use crate::rejection::{ChallengeHints, DpopChallenge, Rejection};
use crate::request::{HeaderValues, Request};
use crate::resource::cors::{normalised_origin, refusal_headers};

/// The response header a fresh server nonce goes in (RFC 9449 §8).
pub const DPOP_NONCE_HEADER: &str = "dpop-nonce";

/// What the filter does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// What happens to the request.
    pub action: Action,
    /// Headers added to the response the client gets: a fresh `DPoP-Nonce`. The
    /// filter sends them with a local answer, and on `Continue` adds them to the
    /// upstream's response.
    pub response_headers: Vec<(String, String)>,
}

/// What happens to the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Make these changes in order, then let the request go upstream. If the host
    /// refuses one, the request is answered 503 instead (never passed on as it is).
    Continue(Vec<Change>),
    /// Keep the request until the callout answers, then decide it again.
    Hold(Callout),
    /// Answer locally; the request never goes upstream.
    Respond(Reply),
}

/// One change to the request before it goes upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Remove every value of the header (lowercase name).
    Remove(String),
    /// Set the header (or pseudo-header such as `:path`), replacing any value.
    Set(String, String),
}

/// What a held request waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callout {
    /// The key set of this provider (by index) being fetched.
    Keys {
        /// The provider whose keys the decision needs.
        provider: usize,
    },
    /// The exchange of the request's token for one minted for a destination.
    Exchange {
        /// Index of the destination in `exchange.destinations`.
        destination: usize,
        /// What the exchanged token is remembered under (a keyed digest of
        /// the subject token and the destination).
        key: CacheKey,
        /// The token to exchange.
        subject: Subject,
    },
}

/// A subject token on its way to the token service: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Subject(pub String);

impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subject(<redacted>)")
    }
}

/// A local answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u32,
    /// `www-authenticate` values, one header each (none on a 503 or a 200).
    pub challenges: Vec<String>,
    /// `content-type` of the body.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

/// `content-type` of a refusal's body.
const TEXT: &str = "text/plain; charset=utf-8";

impl Plan {
    /// What the filter does with `decision` in `mode`; `authority` is the realm of
    /// a refusal's challenge.
    pub fn of(decision: &Decision, mode: Mode, authority: &str) -> Plan {
        let action = match (decision.verdict, mode) {
            (Ok(()), _) => Action::Continue(changes(&decision.mutations)),
            (Err(rejection), Mode::Audit) => {
                let mut changes = changes(&decision.mutations);
                // Last: after the changes that remove any copy the client sent.
                changes.push(Change::Set(
                    WOULD_REJECT_HEADER.to_owned(),
                    rejection.code().to_owned(),
                ));
                Action::Continue(changes)
            }
            (Err(rejection), Mode::Enforce) => {
                let challenge = decision.dpop.as_ref().map(|dpop| &dpop.challenge);
                let hints = &decision.hints;
                Action::Respond(Reply::challenged(rejection, authority, challenge, hints))
            }
        };
        // A fresh server nonce for the client's next proof (RFC 9449 §8, §9).
        let response_headers = decision
            .dpop
            .as_ref()
            .and_then(|dpop| dpop.nonce.clone())
            .map(|nonce| (DPOP_NONCE_HEADER.to_owned(), nonce))
            .into_iter()
            .collect();
        Plan {
            action,
            response_headers,
        }
    }

    /// The plan of `decision` on `request` under `config`: [`Plan::of`], every
    /// refusal's challenge naming the metadata URL (one refused after the
    /// decision too: a DPoP replay), readable by browsers
    /// ([`Plan::readable_by_browsers`]).
    pub fn in_config(config: &Config, decision: &Decision, request: &Request<'_>) -> Plan {
        let unnamed = decision.verdict.is_err() && decision.hints.resource_metadata.is_none();
        let plan = match (&config.resource_metadata, unnamed) {
            (Some(published), true) => {
                let mut named = decision.clone();
                named.hints.resource_metadata = Some(published.url.clone());
                Plan::of(&named, config.mode, request.authority)
            }
            _ => Plan::of(decision, config.mode, request.authority),
        };
        plan.readable_by_browsers(config, request)
    }

    /// This plan, with what a browser needs to read a local refusal of
    /// `request` (an `origin` header): the challenge headers exposed, its
    /// origin allowed when `config`'s `cors_origins` names it.
    pub fn readable_by_browsers(mut self, config: &Config, request: &Request<'_>) -> Plan {
        if let Action::Respond(reply) = &self.action {
            if reply.status >= 400 {
                let origin = request.values("origin").next();
                let origin = origin.and_then(normalised_origin);
                let headers = refusal_headers(origin.as_deref(), &config.cors_origins);
                self.response_headers.extend(headers);
            }
        }
        self
    }

    /// `action` with no response headers.
    pub fn only(action: Action) -> Plan {
        Plan {
            action,
            response_headers: Vec::new(),
        }
    }
}

impl Reply {
    /// The refusal's status, its challenge (realm `authority`) and a one-line body.
    pub fn refusal(rejection: Rejection, authority: &str) -> Reply {
        Reply::challenged(rejection, authority, None, &ChallengeHints::default())
    }

    /// [`Reply::refusal`], challenged as a provider with `dpop` does when
    /// `dpop` is given, with `hints`' parameters.
    pub fn challenged(
        rejection: Rejection,
        authority: &str,
        dpop: Option<&DpopChallenge>,
        hints: &ChallengeHints,
    ) -> Reply {
        Reply {
            status: rejection.status(),
            challenges: rejection.challenges(authority, dpop, hints),
            content_type: TEXT,
            body: format!("{rejection}\n"),
        }
    }
}

/// The request's changes in the order the filter makes them: headers removed,
/// headers set, `:path`, `cookie`.
fn changes(mutations: &Mutations) -> Vec<Change> {
    let mut changes: Vec<Change> = mutations
        .remove_headers
        .iter()
        .cloned()
        .map(Change::Remove)
        .collect();
    changes.extend(
        mutations
            .set_headers
            .iter()
            .map(|(name, value)| Change::Set(name.clone(), value.clone())),
    );
    if let Some(path) = &mutations.path {
        changes.push(Change::Set(":path".to_owned(), path.clone()));
    }
    match &mutations.cookie {
        Some(Some(cookie)) => changes.push(Change::Set("cookie".to_owned(), cookie.clone())),
        Some(None) => changes.push(Change::Remove("cookie".to_owned())),
        None => {}
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(rejection: Rejection, mutations: Mutations) -> Decision {
        Decision {
            verdict: Err(rejection),
            provider: Some(0),
            mutations,
            from_cache: false,
            facts: None,
            proof: None,
            dpop: None,
            hints: Default::default(),
            unmet: None,
        }
    }

    #[test]
    fn a_pass_continues_with_its_changes_in_order() {
        let mutations = Mutations {
            remove_headers: vec!["authorization".into()],
            set_headers: vec![("x-user".into(), "alice".into())],
            path: Some("/x".into()),
            cookie: Some(None),
            removed_cookies: vec!["s".into()],
        };
        let plan = Plan::of(
            &Decision::pass(Some(0), mutations, false),
            Mode::Enforce,
            "svc",
        );
        assert_eq!(
            plan.action,
            Action::Continue(vec![
                Change::Remove("authorization".into()),
                Change::Set("x-user".into(), "alice".into()),
                Change::Set(":path".into(), "/x".into()),
                Change::Remove("cookie".into()),
            ])
        );
        assert!(plan.response_headers.is_empty());
    }

    #[test]
    fn enforce_answers_a_refusal_with_its_challenge() {
        let plan = Plan::of(
            &refused(Rejection::AudienceNotAllowed, Mutations::default()),
            Mode::Enforce,
            "orders.svc",
        );
        let Action::Respond(reply) = plan.action else {
            panic!("{plan:?}")
        };
        assert_eq!(reply.status, 403);
        assert_eq!(reply.challenges.len(), 1);
        assert!(reply.challenges[0].contains("realm=\"orders.svc\""));
        assert_eq!(reply.body, format!("{}\n", Rejection::AudienceNotAllowed));
    }

    #[test]
    fn audit_passes_a_refusal_on_marked_last() {
        let mutations = Mutations {
            remove_headers: vec!["x-audgate-would-reject".into()],
            ..Mutations::default()
        };
        let plan = Plan::of(&refused(Rejection::Expired, mutations), Mode::Audit, "svc");
        assert_eq!(
            plan.action,
            Action::Continue(vec![
                Change::Remove("x-audgate-would-reject".into()),
                Change::Set("x-audgate-would-reject".into(), "expired".into()),
            ])
        );
    }

    #[test]
    fn a_503_carries_no_challenge() {
        let reply = Reply::refusal(Rejection::KeysUnavailable, "svc");
        assert_eq!(reply.status, 503);
        assert!(reply.challenges.is_empty());
    }
}
