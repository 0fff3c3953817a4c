//! What the STS keeps of each `POST /token`: the form's fields with every token
//! replaced by its SHA-256 and any client secret blanked, whether Basic was
//! used, and the client id. Never a raw token or secret.

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
}

impl TokenRequest {
    /// What `request` shows, tokens hashed and secrets blanked.
    pub fn of(request: &Request) -> TokenRequest {
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
        }
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
