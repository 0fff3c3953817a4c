//! A token service's answer to one flight, made into what its waiting requests
//! get ([`Recalled`]), what the worker keeps, and what is counted and logged.

use crate::exchange::answer::{judge, ExchangeFailure};
use crate::exchange::flights::Flight;
use crate::exchange::lifetime::{stated_exp, use_until};

/// What an exchange under a key came to, as a waiting request needs it.
#[derive(Clone, PartialEq, Eq)]
pub enum Recalled {
    /// The exchanged token, fresh.
    Token(String),
    /// The token service refused the subject token (401 `exchange_refused`).
    Refused,
    /// The exchange failed (503 `exchange`).
    Failed,
}

impl std::fmt::Debug for Recalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Recalled::Token(_) => "Token(<redacted>)",
            Recalled::Refused => "Refused",
            Recalled::Failed => "Failed",
        })
    }
}

/// A flight's answer, judged.
pub struct Landed {
    /// What the requests waiting on it get.
    pub recalled: Recalled,
    /// Until when (Unix seconds) the token is used for later requests; `None`:
    /// it serves the waiting requests only.
    pub keep_until: Option<i64>,
    /// Its `result` label: `exchanged`, `refused` or `failed`.
    pub result: &'static str,
    /// Why it gave no token, for the log.
    pub failure: Option<ExchangeFailure>,
}

/// Judges the answer (`status`, `body`) to `flight` at `now` (Unix seconds).
pub fn land(flight: &Flight, status: Option<u32>, body: &[u8], now: i64) -> Landed {
    match judge(status, body) {
        Ok(issued) => {
            let keep_until = use_until(
                now,
                issued.expires_in,
                stated_exp(&issued.access_token),
                flight.subject_exp,
            );
            Landed {
                recalled: Recalled::Token(issued.access_token),
                keep_until,
                result: "exchanged",
                failure: None,
            }
        }
        Err(failure) => Landed {
            recalled: if failure.refuses_subject() {
                Recalled::Refused
            } else {
                Recalled::Failed
            },
            keep_until: None,
            result: if failure.refuses_subject() {
                "refused"
            } else {
                "failed"
            },
            failure: Some(failure),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::cache_key::KeyHasher;

    fn flight(subject_exp: Option<i64>) -> Flight {
        Flight {
            key: KeyHasher::with_key(0, 0).key("subject", 0),
            destination: 0,
            call_id: 1,
            subject_exp,
            sent_at: 1000,
        }
    }

    const ANSWER: &str = r#"{"access_token":"new.tok.en","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":300}"#;

    #[test]
    fn an_issued_token_is_kept_until_its_margin_and_never_past_the_subjects_expiry() {
        let landed = land(&flight(None), Some(200), ANSWER.as_bytes(), 1000);
        assert_eq!(landed.recalled, Recalled::Token("new.tok.en".into()));
        assert_eq!(landed.keep_until, Some(1270));
        assert_eq!(landed.result, "exchanged");
        let short = land(&flight(Some(1036)), Some(200), ANSWER.as_bytes(), 1000);
        assert_eq!(short.keep_until, Some(1018), "half of 36 s");
        assert!(!format!("{:?}", short.recalled).contains("new.tok.en"));
    }

    #[test]
    fn a_refused_subject_and_a_failing_service_are_told_apart() {
        let refused = land(
            &flight(None),
            Some(400),
            br#"{"error":"invalid_grant"}"#,
            1000,
        );
        assert_eq!(refused.recalled, Recalled::Refused);
        assert_eq!(refused.result, "refused");
        assert_eq!(
            refused.failure,
            Some(ExchangeFailure::Refused("invalid_grant".into()))
        );
        for (status, body) in [
            (Some(503), &b""[..]),
            (None, &b""[..]),
            (Some(200), &b"<html>"[..]),
            (Some(401), &b""[..]),
        ] {
            let failed = land(&flight(None), status, body, 1000);
            assert_eq!(failed.recalled, Recalled::Failed, "{status:?}");
            assert_eq!(failed.result, "failed");
            assert_eq!(failed.keep_until, None);
        }
    }
}
