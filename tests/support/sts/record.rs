//! What the STS keeps of each `POST /token`: the form's fields with every token
//! replaced by its SHA-256 and any client secret blanked, whether Basic was
//! used, the client id, when it came and how it was answered. Never a raw token
//! or secret.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::form;
use crate::support::upstream::Request;

/// Fields kept only as their SHA-256 (hex).
const HASHED: [&str; 2] = ["subject_token", "actor_token"];
/// Fields kept only as `<redacted>`.
const REDACTED: [&str; 1] = ["client_secret"];

/// One token request as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    /// The form's fields, decoded, in order; `subject_token` and `actor_token`
    /// as the SHA-256 hex of the token, `client_secret` as `<redacted>`. Empty if
    /// the body was not a readable form.
    pub fields: Vec<(String, String)>,
    /// Whether an `authorization: Basic …` header came.
    pub basic: bool,
    /// The client id: Basic's (when it decodes), else the form's `client_id`.
    pub client_id: Option<String>,
    /// The client the TLS client certificate was issued to, if one was presented.
    pub certificate: Option<String>,
    /// When it was received.
    pub received: Instant,
    /// How the STS answered it; `None` while it is still being answered.
    pub answered: Option<Answered>,
}

/// How the STS answered one `POST /token`, recorded as it decided (before the
/// reply is written, so a caller never sees an answer not yet recorded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answered {
    pub answer: Answer,
    /// Whether it was one of `Sts::fault_every`'s faults.
    pub fault: bool,
    /// When it was decided: a stall fault's before its wait.
    pub at: Instant,
}

/// What a `POST /token` was answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// 200 with a minted token.
    Issued,
    /// An OAuth error answer: this status (400 for the subject token or the
    /// request, 401 for the client) and `error`.
    Refused { status: u16, error: String },
    /// This status with a plain-text body.
    Failed(u16),
    /// A stall fault: held this long before answering as otherwise (past the
    /// caller's timeout: what follows is not recorded).
    Stalled(Duration),
    /// 200 with a body that is not a usable token response (`garbage`, `answer`).
    Unusable,
}

impl TokenRequest {
    /// What `request` shows, tokens hashed and secrets blanked, from the
    /// client that `certificate` names.
    pub fn of(request: &Request, certificate: Option<String>) -> TokenRequest {
        let fields = form::parse(&request.body).unwrap_or_default();
        let authorization = request.header("authorization");
        let basic = authorization.is_some_and(|value| {
            let scheme = value.trim().split(' ').next().unwrap_or_default();
            scheme.eq_ignore_ascii_case("basic")
        });
        let basic_id = authorization.and_then(form::basic).map(|(id, _)| id);
        let client_id = basic_id.or_else(|| form::first(&fields, "client_id").map(Into::into));
        let fields = fields.into_iter().map(kept).collect();
        TokenRequest {
            fields,
            basic,
            client_id,
            certificate,
            received: Instant::now(),
            answered: None,
        }
    }

    /// Its answer, if given.
    pub fn answer(&self) -> Option<&Answer> {
        self.answered.as_ref().map(|answered| &answered.answer)
    }

    /// The first value of a field as recorded.
    pub fn field(&self, name: &str) -> Option<&str> {
        form::first(&self.fields, name)
    }
}

/// Lowercase hex of the SHA-256 of `text`: how a token is recorded.
pub fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn kept((name, value): (String, String)) -> (String, String) {
    if HASHED.contains(&name.as_str()) {
        let hash = sha256_hex(&value);
        (name, hash)
    } else if REDACTED.contains(&name.as_str()) {
        (name, "<redacted>".into())
    } else {
        (name, value)
    }
}
