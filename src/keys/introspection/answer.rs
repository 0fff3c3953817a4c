//! An introspection endpoint's answer (RFC 7662 §2.2), judged: an active
//! token's claims, an inactive token, or a failure of the endpoint. Only the
//! first lets a request go on, and only after the decision's usual checks of
//! those claims (audience first).

use std::fmt;

use serde_json::{Map, Value};

use crate::oauth::error_code;

use crate::token::strict_json::parse_object;

/// Largest answer body read.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What the endpoint said of the token.
#[derive(Debug, Clone, PartialEq)]
pub enum Introspected {
    /// `active: true`: the answer's members are the token's claims.
    Active(Map<String, Value>),
    /// The endpoint will not vouch for the token: 401 `invalid_token`, reason
    /// `inactive`.
    Inactive(Inactive),
}

/// Why a token is not vouched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inactive {
    /// `active: false`: unknown, expired, revoked or not for this client.
    NotActive,
    /// 400 `unsupported_token_type`: the server does not introspect this kind
    /// of token (some refuse JWTs so).
    UnsupportedTokenType,
}

/// Why an answer says nothing of the token: 503, reason `introspection`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntrospectionFailure {
    /// No answer: Envoy could not reach the endpoint (or has no such cluster).
    NoAnswer,
    /// Envoy's 504: the callout timed out.
    TimedOut,
    /// The endpoint refused this resource server's client (401 or 403).
    ClientRefused(u32),
    /// A 400 with another OAuth `error` (printable, cut to 64 characters), or
    /// none.
    BadRequest(Option<String>),
    /// Another status.
    Status(u32),
    /// A body over [`MAX_ANSWER_BYTES`].
    TooLarge,
    /// A 200 whose body is not one JSON object with no repeated key.
    NotJson,
    /// A 200 object without a boolean `active`.
    NoActive,
}

impl fmt::Display for IntrospectionFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntrospectionFailure::NoAnswer => f.write_str(
                "the introspection endpoint could not be reached: check introspection.cluster and that it connects",
            ),
            IntrospectionFailure::TimedOut => write!(
                f,
                "the introspection endpoint did not answer within introspection.timeout_ms"
            ),
            IntrospectionFailure::ClientRefused(status) => write!(
                f,
                "the introspection endpoint refused this resource server's client ({status}): check introspection.client_id and its secret or certificate"
            ),
            IntrospectionFailure::BadRequest(Some(code)) => write!(
                f,
                "the introspection endpoint answered 400 (error {code})"
            ),
            IntrospectionFailure::BadRequest(None) => {
                f.write_str("the introspection endpoint answered 400 without an OAuth error")
            }
            IntrospectionFailure::Status(status) => {
                write!(f, "the introspection endpoint answered {status}")
            }
            IntrospectionFailure::TooLarge => write!(
                f,
                "the introspection endpoint's answer is over {} KiB",
                MAX_ANSWER_BYTES / 1024
            ),
            IntrospectionFailure::NotJson => f.write_str(
                "the introspection endpoint's answer is not a JSON object (or repeats a member)",
            ),
            IntrospectionFailure::NoActive => {
                f.write_str("the introspection endpoint's answer has no boolean active")
            }
        }
    }
}

/// Judges an answer: `status` (`None`: no answer) and `body`.
pub fn judge(status: Option<u32>, body: &[u8]) -> Result<Introspected, IntrospectionFailure> {
    let status = status.ok_or(IntrospectionFailure::NoAnswer)?;
    if body.len() > MAX_ANSWER_BYTES {
        return Err(IntrospectionFailure::TooLarge);
    }
    match status {
        200 => {
            let answer = parse_object(body).map_err(|_| IntrospectionFailure::NotJson)?;
            match answer.get("active") {
                Some(Value::Bool(true)) => Ok(Introspected::Active(answer)),
                Some(Value::Bool(false)) => Ok(Introspected::Inactive(Inactive::NotActive)),
                _ => Err(IntrospectionFailure::NoActive),
            }
        }
        400 => {
            let code = parse_object(body)
                .ok()
                .and_then(|answer| error_code(&answer));
            match code.as_deref() {
                Some("unsupported_token_type") => {
                    Ok(Introspected::Inactive(Inactive::UnsupportedTokenType))
                }
                _ => Err(IntrospectionFailure::BadRequest(code)),
            }
        }
        401 | 403 => Err(IntrospectionFailure::ClientRefused(status)),
        504 => Err(IntrospectionFailure::TimedOut),
        other => Err(IntrospectionFailure::Status(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(status: u32, body: Value) -> Result<Introspected, IntrospectionFailure> {
        judge(Some(status), body.to_string().as_bytes())
    }

    #[test]
    fn an_active_answer_is_the_tokens_claims() {
        let body = json!({"active": true, "aud": "orders", "scope": "read", "exp": 1});
        let Ok(Introspected::Active(claims)) = answer(200, body) else {
            panic!("active");
        };
        assert_eq!(claims.get("aud"), Some(&json!("orders")));
        assert_eq!(claims.get("scope"), Some(&json!("read")));
    }

    #[test]
    fn inactive_and_unsupported_token_types_are_not_vouched_for() {
        assert_eq!(
            answer(200, json!({"active": false})),
            Ok(Introspected::Inactive(Inactive::NotActive))
        );
        assert_eq!(
            answer(400, json!({"error": "unsupported_token_type"})),
            Ok(Introspected::Inactive(Inactive::UnsupportedTokenType))
        );
    }

    #[test]
    fn an_answer_that_says_nothing_of_the_token_is_a_failure() {
        for (status, body, failure) in [
            (
                200,
                json!({"aud": "orders"}),
                IntrospectionFailure::NoActive,
            ),
            (
                200,
                json!({"active": "true"}),
                IntrospectionFailure::NoActive,
            ),
            (
                200,
                json!([{"active": true}]),
                IntrospectionFailure::NotJson,
            ),
            (
                400,
                json!({"error": "invalid_request"}),
                IntrospectionFailure::BadRequest(Some("invalid_request".into())),
            ),
            (400, json!({}), IntrospectionFailure::BadRequest(None)),
            (401, json!({}), IntrospectionFailure::ClientRefused(401)),
            (403, json!({}), IntrospectionFailure::ClientRefused(403)),
            (504, json!({}), IntrospectionFailure::TimedOut),
            (
                500,
                json!({"active": true}),
                IntrospectionFailure::Status(500),
            ),
        ] {
            assert_eq!(
                answer(status, body.clone()),
                Err(failure),
                "{status} {body}"
            );
        }
        assert_eq!(judge(None, b""), Err(IntrospectionFailure::NoAnswer));
        assert_eq!(
            judge(Some(200), b"not json"),
            Err(IntrospectionFailure::NotJson)
        );
    }

    #[test]
    fn a_repeated_member_or_an_oversized_body_is_refused() {
        assert_eq!(
            judge(Some(200), br#"{"active": true, "aud": "a", "aud": "b"}"#),
            Err(IntrospectionFailure::NotJson)
        );
        assert_eq!(
            judge(Some(200), br#"{"active": false, "active": true}"#),
            Err(IntrospectionFailure::NotJson)
        );
        let padding = "x".repeat(MAX_ANSWER_BYTES);
        let big = json!({"active": true, "pad": padding}).to_string();
        assert_eq!(
            judge(Some(200), big.as_bytes()),
            Err(IntrospectionFailure::TooLarge)
        );
    }

    #[test]
    fn an_error_code_is_logged_only_when_printable_and_short() {
        let long = "e".repeat(100);
        assert_eq!(
            answer(400, json!({"error": long})),
            Err(IntrospectionFailure::BadRequest(Some("e".repeat(64))))
        );
        assert_eq!(
            answer(400, json!({"error": "bad\"code"})),
            Err(IntrospectionFailure::BadRequest(None))
        );
    }
}
