//! What the filter's OAuth 2.0 callouts share, whoever it asks (a token
//! service, an introspection endpoint): how its client authenticates
//! (`client_auth`), the callouts under way (`flights`), what their answers are
//! remembered under (`cache_key`) and for how long (`remembered`), and the
//! `error` code of a refusal (RFC 6749 §5.2).

pub mod cache_key;
pub mod client_auth;
pub mod endpoint;
pub mod flights;
pub mod remembered;

use serde_json::{Map, Value};

/// Longest OAuth `error` code repeated in a log line.
pub const MAX_ERROR_CODE: usize = 64;

/// The OAuth `error` code of a refusal, if printable (no quote or backslash, so
/// it can go into a log line as it is), cut to [`MAX_ERROR_CODE`] characters.
pub fn error_code(answer: &Map<String, Value>) -> Option<String> {
    let code = answer.get("error")?.as_str()?;
    let printable = !code.is_empty()
        && code
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\');
    printable.then(|| code.chars().take(MAX_ERROR_CODE).collect())
}
