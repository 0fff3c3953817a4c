//! What a worker knows of a token from its provider's introspection endpoint,
//! as the decision asks it: the answer's claims, that it is not vouched for,
//! that the endpoint failed, or nothing yet (then the filter asks).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde_json::{Map, Value};

use crate::keys::introspection::answer::{Inactive, Introspected, IntrospectionFailure};
use crate::oauth::cache_key::CacheKey;
use crate::oauth::remembered::Remembered;

/// A worker's introspection answers, under a keyed digest of the token and
/// the provider's index, never the token.
pub type Answers = Remembered<Vouched>;

/// An introspection answer as the decision uses it.
#[derive(Debug, Clone, PartialEq)]
pub enum Vouched {
    /// Active: the answer's members, which the decision checks as a JWT's
    /// payload.
    Active(Rc<Map<String, Value>>),
    /// Not vouched for: 401 `invalid_token`, reason `inactive`.
    Inactive(Inactive),
    /// The endpoint failed: 503, reason `introspection`.
    Failed,
}

impl From<&Result<Introspected, IntrospectionFailure>> for Vouched {
    fn from(judged: &Result<Introspected, IntrospectionFailure>) -> Vouched {
        match judged {
            Ok(Introspected::Active(claims)) => Vouched::Active(Rc::new(claims.clone())),
            Ok(Introspected::Inactive(why)) => Vouched::Inactive(*why),
            Err(_) => Vouched::Failed,
        }
    }
}

/// What is known of a token, and whether it was reused from a worker's cache
/// (rather than just answered).
#[derive(Debug, Clone, PartialEq)]
pub struct Known {
    /// The answer.
    pub vouched: Vouched,
    /// It came from the worker's cache.
    pub reused: bool,
}

impl Known {
    /// An answer just given (not reused).
    pub fn fresh(vouched: Vouched) -> Known {
        Known {
            vouched,
            reused: false,
        }
    }
}

/// The introspection answers at hand: a worker's cache, and the answer of a
/// callout that just landed.
pub trait Introspections {
    /// What is known of `token` from provider `provider`'s endpoint; `None`:
    /// nothing yet (the endpoint must be asked).
    fn vouched(&self, provider: usize, token: &str) -> Option<Known>;
}

/// No answer at hand: every token must be asked about.
pub struct NoIntrospections;

impl Introspections for NoIntrospections {
    fn vouched(&self, _provider: usize, _token: &str) -> Option<Known> {
        None
    }
}

/// The answers at hand in a worker: its cache, and the answers that landed
/// for the request being decided (which serve it even when they are not kept,
/// so a request decided again never asks twice for one token).
pub struct AnswersAtHand<'a> {
    /// The worker's answers.
    pub answers: &'a RefCell<Answers>,
    /// The answers that landed for this request, by key.
    pub landed: &'a [(CacheKey, Vouched)],
    /// Now, Unix seconds.
    pub now: i64,
    /// The providers (a bit each, by index) whose answer was reused from the
    /// cache, for `audgate_introspections_total{result="cache_hit"}`.
    pub reused_by: &'a Cell<u64>,
}

impl Introspections for AnswersAtHand<'_> {
    fn vouched(&self, provider: usize, token: &str) -> Option<Known> {
        let mut answers = self.answers.try_borrow_mut().ok()?;
        let key = answers.key(token, provider);
        if let Some((_, vouched)) = self.landed.iter().find(|(landed, _)| *landed == key) {
            return Some(Known::fresh(vouched.clone()));
        }
        let vouched = answers.get(&key, self.now)?.clone();
        let bit = u32::try_from(provider)
            .ok()
            .and_then(|shift| 1u64.checked_shl(shift))
            .unwrap_or(0);
        self.reused_by.set(self.reused_by.get() | bit);
        Some(Known {
            vouched,
            reused: true,
        })
    }
}

/// One answer at hand, for one token of one provider (the CLI's, once it has
/// asked).
pub struct OneAnswer<'a> {
    /// The provider asked.
    pub provider: usize,
    /// The token asked about.
    pub token: &'a str,
    /// What the endpoint said.
    pub vouched: Vouched,
}

impl Introspections for OneAnswer<'_> {
    fn vouched(&self, provider: usize, token: &str) -> Option<Known> {
        (provider == self.provider && token == self.token)
            .then(|| Known::fresh(self.vouched.clone()))
    }
}
