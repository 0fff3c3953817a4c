//! What an outbound request of the soak may be answered, decided from what the
//! token service did for its subject token and destination (its record of every
//! `POST /token`, tokens as SHA-256, each with its answer and when it decided).
//!
//! The caller keeps an exchanged token per worker, keeps no failure, and lets
//! concurrent requests for one token and destination share one callout, so a
//! request may get:
//! - 200 only if an exchange of its token for its destination was issued before
//!   it was answered, and it was sent while that token was still in use (issued
//!   less than `used_for` ago: a later request finds it expired and calls out);
//! - 401 (`exchange_refused`) only if the token service refused the subject token
//!   (400) in a callout the request could have started or joined: decided before
//!   the answer, and the request sent before that callout landed;
//! - 503 (`exchange`) only if a callout it could have started or joined failed
//!   (another status, an unusable body, our client refused) or was stalled past
//!   the caller's timeout (landing as a timeout at most `timeout` after the stall
//!   was decided).
//!
//! "Landed" is bounded by the decision time plus `slack` (the answer's way back
//! through Envoy), or plus the timeout for a stall. The caller's Envoy answers
//! each refusal with its own body, so the body is checked too: the callee's 401
//! or an Envoy 503 cannot pass for the exchange's.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::support::sts::{Answer, Answered, TokenRequest};

/// The body of each status the caller gives (the upstream's `ok` through both
/// Envoys; the caller's refusals).
pub const BODIES: [(u16, &str); 3] = [
    (200, "ok"),
    (401, "the token service refused to exchange the token"),
    (503, "token exchange failed"),
];

/// What explains an answer: the token service's answer that allowed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cause {
    /// 200: an exchange issued (by this request's callout, one it joined, or the
    /// worker's cache).
    Issued,
    /// 401: the subject token refused.
    Refused,
    /// 503: a failed callout.
    Failed,
    /// 503: a stalled callout, timed out.
    Stalled,
}

impl Cause {
    pub fn name(self) -> &'static str {
        match self {
            Cause::Issued => "issued",
            Cause::Refused => "refused",
            Cause::Failed => "failed",
            Cause::Stalled => "stalled",
        }
    }

    fn status(self) -> u16 {
        match self {
            Cause::Issued => 200,
            Cause::Refused => 401,
            Cause::Failed | Cause::Stalled => 503,
        }
    }
}

/// The windows of the rules above.
#[derive(Clone, Copy, Debug)]
pub struct Windows {
    /// How long after issue an exchanged token is used (its life less the
    /// caller's margin).
    pub used_for: Duration,
    /// The caller's callout timeout.
    pub timeout: Duration,
    /// Allowance for an answer's way back through Envoy and the clock's
    /// granularity (the caller keeps tokens to the second).
    pub slack: Duration,
}

/// The token service's answers by (subject token SHA-256, audience).
pub struct Verdicts {
    by_key: HashMap<(String, String), Vec<Answered>>,
    windows: Windows,
}

impl Verdicts {
    /// From the token service's record; requests still unanswered are left out.
    pub fn of(requests: &[TokenRequest], windows: Windows) -> Verdicts {
        let mut by_key: HashMap<(String, String), Vec<Answered>> = HashMap::new();
        for request in requests {
            let (Some(subject), Some(audience), Some(answered)) = (
                request.field("subject_token"),
                request.field("audience"),
                &request.answered,
            ) else {
                continue;
            };
            let key = (subject.to_owned(), audience.to_owned());
            by_key.entry(key).or_default().push(answered.clone());
        }
        Verdicts { by_key, windows }
    }

    /// The causes that allow a request with the token of SHA-256 `subject` to
    /// `audience`, sent at `sent` and answered at `received`, each at most once.
    pub fn allowed(
        &self,
        subject: &str,
        audience: &str,
        sent: Instant,
        received: Instant,
    ) -> Vec<Cause> {
        let Windows {
            used_for,
            timeout,
            slack,
        } = self.windows;
        let key = (subject.to_owned(), audience.to_owned());
        let mut causes: Vec<Cause> = self
            .by_key
            .get(&key)
            .into_iter()
            .flatten()
            .filter(|answered| answered.at <= received)
            .filter_map(|answered| {
                let (cause, open_for) = match &answered.answer {
                    Answer::Issued => (Cause::Issued, used_for + slack),
                    Answer::Refused { status: 400, .. } => (Cause::Refused, slack),
                    Answer::Refused { .. } | Answer::Failed(_) | Answer::Unusable => {
                        (Cause::Failed, slack)
                    }
                    Answer::Stalled(_) => (Cause::Stalled, timeout + slack),
                };
                (sent <= answered.at + open_for).then_some(cause)
            })
            .collect();
        causes.sort_unstable();
        causes.dedup();
        causes
    }

    /// What explains `status` with `body` for that request, or why it is wrong.
    pub fn judge(
        &self,
        subject: &str,
        audience: &str,
        (sent, received): (Instant, Instant),
        (status, body): (u16, &str),
    ) -> Result<Cause, String> {
        let allowed = self.allowed(subject, audience, sent, received);
        let expected_body = BODIES.iter().find(|(s, _)| *s == status).map(|(_, b)| *b);
        if expected_body.is_some_and(|expected| body.trim_end() != expected) {
            return Err(format!("{status} with another body than the caller's"));
        }
        // a stall explains a 503 before a failure does: the rarer cause
        let mut explaining = allowed.iter().rev().filter(|c| c.status() == status);
        explaining.next().copied().ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|c| c.name()).collect();
            format!("{status}; allowed by the token service's answers: {names:?}")
        })
    }
}

/// The token service's answers counted, its own apart from the faults it was
/// told to serve.
#[derive(Clone, Copy, Debug, Default)]
pub struct Served {
    /// Tokens issued (never a fault).
    pub issued: u64,
    /// Faults: `invalid_grant`, a failing status, a stall.
    pub fault_refused: u64,
    pub fault_failed: u64,
    pub fault_stalled: u64,
    /// Refusals and failures of its own (none with valid subject tokens).
    pub own_refused: u64,
    pub own_failed: u64,
    /// Requests it had not answered.
    pub unanswered: u64,
}

impl Served {
    pub fn of(requests: &[TokenRequest]) -> Served {
        let mut served = Served::default();
        for request in requests {
            let Some(Answered { answer, fault, .. }) = &request.answered else {
                served.unanswered += 1;
                continue;
            };
            let count = match (answer, fault) {
                (Answer::Issued, _) => &mut served.issued,
                (Answer::Refused { status: 400, .. }, true) => &mut served.fault_refused,
                (Answer::Refused { status: 400, .. }, false) => &mut served.own_refused,
                (Answer::Stalled(_), _) => &mut served.fault_stalled,
                (_, true) => &mut served.fault_failed,
                (_, false) => &mut served.own_failed,
            };
            *count += 1;
        }
        served
    }

    /// Callouts the caller counts `refused` (the subject token refused).
    pub fn refusals(&self) -> u64 {
        self.fault_refused + self.own_refused
    }

    /// Callouts the caller counts `failed` (a stall times out).
    pub fn failures(&self) -> u64 {
        self.fault_failed + self.fault_stalled + self.own_failed
    }
}
