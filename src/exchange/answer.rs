//! The token service's answer to an exchange, judged: a usable access token
//! (RFC 8693 §2.2.1), the subject token refused (400 with an OAuth error, §2.2.2),
//! or a failure of the service itself. Only the first may let a request leave.

use std::fmt;

use serde_json::{Map, Value};

use crate::oauth::error_code;

use crate::exchange::grant::{ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE};
use crate::token::token68::is_token68;

/// Largest answer body read.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The token the service issued. It has no `Debug`: it holds a credential.
pub struct Issued {
    /// What the request carries onward as `authorization: Bearer …`.
    pub access_token: String,
    /// `expires_in`, seconds, when the answer gives it.
    pub expires_in: Option<u64>,
}

/// Why an exchange gave no usable token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExchangeFailure {
    /// The service refused the subject token: 400 with this OAuth `error` code
    /// (printable, cut to 64 characters). 401 `exchange_refused`.
    Refused(String),
    /// The service refused this workload's client (401 or 403).
    ClientRefused(u32),
    /// No answer: Envoy could not reach the service.
    NoAnswer,
    /// Envoy's 504: the callout timed out.
    TimedOut,
    /// Another status (a 400 without an OAuth error among them).
    Status(u32),
    /// A body over [`MAX_ANSWER_BYTES`].
    TooLarge,
    /// A 200 whose body is not a JSON object.
    NotJson,
    /// No `access_token`, or one that is not `token68`.
    NoAccessToken,
    /// `issued_token_type` missing or neither access token nor JWT.
    IssuedTokenType,
    /// `token_type` not `Bearer` (`N_A`: not usable as an access token).
    TokenType,
    /// `expires_in` present but not a whole number of seconds.
    ExpiresIn,
}

impl ExchangeFailure {
    /// Whether the subject token was refused (401 to the application), rather
    /// than the service failing (503).
    pub fn refuses_subject(&self) -> bool {
        matches!(self, ExchangeFailure::Refused(_))
    }
}

impl fmt::Display for ExchangeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExchangeFailure::Refused(code) => {
                write!(f, "the token service refused the token (error {code})")
            }
            ExchangeFailure::ClientRefused(status) => write!(
                f,
                "the token service refused this workload's client ({status}): check client_id and its secret or certificate"
            ),
            ExchangeFailure::NoAnswer => f.write_str("the token service could not be reached"),
            ExchangeFailure::TimedOut => f.write_str("the token service did not answer in time"),
            ExchangeFailure::Status(status) => {
                write!(f, "the token service answered {status}")
            }
            ExchangeFailure::TooLarge => write!(
                f,
                "the token service's answer is over {} KiB",
                MAX_ANSWER_BYTES / 1024
            ),
            ExchangeFailure::NotJson => f.write_str("the token service's answer is not a JSON object"),
            ExchangeFailure::NoAccessToken => {
                f.write_str("the token service's answer has no usable access_token")
            }
            ExchangeFailure::IssuedTokenType => f.write_str(
                "the token service's issued_token_type is neither an access token nor a JWT",
            ),
            ExchangeFailure::TokenType => f.write_str(
                "the token service's token_type is not Bearer (N_A: not usable as an access token)",
            ),
            ExchangeFailure::ExpiresIn => {
                f.write_str("the token service's expires_in is not a whole number of seconds")
            }
        }
    }
}

/// Judges an answer: `status` (`None`: no answer) and `body`.
pub fn judge(status: Option<u32>, body: &[u8]) -> Result<Issued, ExchangeFailure> {
    let status = status.ok_or(ExchangeFailure::NoAnswer)?;
    if body.len() > MAX_ANSWER_BYTES {
        return Err(ExchangeFailure::TooLarge);
    }
    match status {
        200 => issued(&object(body).ok_or(ExchangeFailure::NotJson)?),
        400 => Err(object(body)
            .and_then(|answer| error_code(&answer))
            .map_or(ExchangeFailure::Status(400), ExchangeFailure::Refused)),
        401 | 403 => Err(ExchangeFailure::ClientRefused(status)),
        504 => Err(ExchangeFailure::TimedOut),
        other => Err(ExchangeFailure::Status(other)),
    }
}

fn object(body: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice(body).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

fn issued(answer: &Map<String, Value>) -> Result<Issued, ExchangeFailure> {
    let access_token = answer
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|token| is_token68(token))
        .ok_or(ExchangeFailure::NoAccessToken)?;
    match answer.get("issued_token_type").and_then(Value::as_str) {
        Some(ACCESS_TOKEN_TYPE | JWT_TOKEN_TYPE) => {}
        _ => return Err(ExchangeFailure::IssuedTokenType),
    }
    let bearer = answer
        .get("token_type")
        .and_then(Value::as_str)
        .is_some_and(|kind| kind.eq_ignore_ascii_case("bearer"));
    if !bearer {
        return Err(ExchangeFailure::TokenType);
    }
    let expires_in = match answer.get("expires_in") {
        None | Some(Value::Null) => None,
        Some(value) => Some(value.as_u64().ok_or(ExchangeFailure::ExpiresIn)?),
    };
    Ok(Issued {
        access_token: access_token.to_owned(),
        expires_in,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(status: u32, body: Value) -> Result<Issued, ExchangeFailure> {
        judge(Some(status), body.to_string().as_bytes())
    }

    fn good() -> Value {
        json!({
            "access_token": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": 300,
        })
    }

    #[test]
    fn a_bearer_access_token_is_issued() {
        let issued = answer(200, good()).unwrap();
        assert_eq!(issued.access_token, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln");
        assert_eq!(issued.expires_in, Some(300));
        let mut jwt = good();
        jwt["issued_token_type"] = json!(JWT_TOKEN_TYPE);
        jwt["token_type"] = json!("bearer");
        jwt.as_object_mut().unwrap().remove("expires_in");
        assert_eq!(answer(200, jwt).unwrap().expires_in, None);
    }

    #[test]
    fn an_unusable_200_is_a_failure() {
        let with = |field: &str, value: Value| {
            let mut body = good();
            body[field] = value;
            answer(200, body).err()
        };
        assert_eq!(
            with("token_type", json!("N_A")),
            Some(ExchangeFailure::TokenType)
        );
        assert_eq!(
            with("token_type", json!("DPoP")),
            Some(ExchangeFailure::TokenType)
        );
        assert_eq!(
            with(
                "issued_token_type",
                json!("urn:ietf:params:oauth:token-type:id_token")
            ),
            Some(ExchangeFailure::IssuedTokenType)
        );
        assert_eq!(
            with("access_token", json!("")),
            Some(ExchangeFailure::NoAccessToken)
        );
        assert_eq!(
            with("access_token", json!("a b\r\nx-injected: 1")),
            Some(ExchangeFailure::NoAccessToken)
        );
        assert_eq!(
            with("expires_in", json!("300")),
            Some(ExchangeFailure::ExpiresIn)
        );
        assert_eq!(
            with("expires_in", json!(-1)),
            Some(ExchangeFailure::ExpiresIn)
        );
        assert_eq!(
            judge(Some(200), b"[1]").err(),
            Some(ExchangeFailure::NotJson)
        );
        assert_eq!(
            judge(Some(200), &vec![b' '; MAX_ANSWER_BYTES + 1]).err(),
            Some(ExchangeFailure::TooLarge)
        );
    }

    #[test]
    fn a_400_with_an_oauth_error_refuses_the_subject_token() {
        let refused = answer(400, json!({"error": "invalid_grant"}))
            .err()
            .unwrap();
        assert_eq!(refused, ExchangeFailure::Refused("invalid_grant".into()));
        assert!(refused.refuses_subject());
        let unprintable = answer(400, json!({"error": "bad\ncode"})).err().unwrap();
        assert_eq!(unprintable, ExchangeFailure::Status(400));
        assert!(!unprintable.refuses_subject());
        assert_eq!(
            judge(Some(400), b"oops").err(),
            Some(ExchangeFailure::Status(400))
        );
    }

    #[test]
    fn the_service_failing_is_not_the_token_refused() {
        for (status, failure) in [
            (Some(401), ExchangeFailure::ClientRefused(401)),
            (Some(403), ExchangeFailure::ClientRefused(403)),
            (Some(504), ExchangeFailure::TimedOut),
            (Some(500), ExchangeFailure::Status(500)),
            (Some(302), ExchangeFailure::Status(302)),
            (None, ExchangeFailure::NoAnswer),
        ] {
            let got = judge(status, good().to_string().as_bytes()).err().unwrap();
            assert_eq!(got, failure);
            assert!(!got.refuses_subject());
        }
    }
}
