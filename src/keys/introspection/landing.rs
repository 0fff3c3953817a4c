//! An endpoint's answer to one callout, made into what its waiting requests
//! get, how long the worker keeps it, and what is counted and logged.

use crate::keys::introspection::answer::{judge, Inactive, Introspected, IntrospectionFailure};
use crate::keys::introspection::lifetime::{reuse_until, Reuse};
use crate::keys::introspection::vouched::Vouched;

/// An answer, judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Landed {
    /// What the requests waiting on it are decided with.
    pub vouched: Vouched,
    /// Until when (Unix seconds) later requests reuse it; `None`: it serves
    /// the waiting requests only.
    pub keep_until: Option<i64>,
    /// Its `result` label: `active`, `inactive` or `failed`.
    pub result: &'static str,
    /// Why it was not vouched for, or why the endpoint failed, for the log.
    pub said: Said,
}

/// What the log says of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    /// Active.
    Active,
    /// Not vouched for.
    Inactive(Inactive),
    /// The endpoint failed.
    Failed(IntrospectionFailure),
}

/// Judges the answer (`status`, `body`) at `now` (Unix seconds), reused as
/// `reuse` says.
pub fn land(status: Option<u32>, body: &[u8], reuse: Reuse, now: i64) -> Landed {
    let judged = judge(status, body);
    let vouched = Vouched::from(&judged);
    match judged {
        Ok(answer) => {
            let keep_until = reuse_until(&answer, reuse, now);
            let (result, said) = match answer {
                Introspected::Active(_) => ("active", Said::Active),
                Introspected::Inactive(why) => ("inactive", Said::Inactive(why)),
            };
            Landed {
                vouched,
                keep_until,
                result,
                said,
            }
        }
        Err(failure) => Landed {
            vouched,
            keep_until: None,
            result: "failed",
            said: Said::Failed(failure),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REUSE: Reuse = Reuse {
        active_s: 60,
        inactive_s: 5,
    };

    #[test]
    fn an_active_answer_is_kept_and_serves_its_claims() {
        let landed = land(Some(200), br#"{"active":true,"aud":"orders"}"#, REUSE, 1000);
        let Vouched::Active(claims) = &landed.vouched else {
            panic!("active: {landed:?}");
        };
        assert_eq!(
            claims.get("aud").and_then(|aud| aud.as_str()),
            Some("orders")
        );
        assert_eq!(landed.keep_until, Some(1060));
        assert_eq!((landed.result, landed.said), ("active", Said::Active));
    }

    #[test]
    fn an_inactive_answer_is_kept_for_inactive_cache_s() {
        let landed = land(Some(200), br#"{"active":false}"#, REUSE, 1000);
        assert_eq!(landed.vouched, Vouched::Inactive(Inactive::NotActive));
        assert_eq!(landed.keep_until, Some(1005));
        assert_eq!(landed.result, "inactive");
    }

    #[test]
    fn a_failure_serves_only_the_waiting_requests() {
        for (status, body) in [
            (None, &b""[..]),
            (Some(500), &b"{}"[..]),
            (Some(200), &b"[]"[..]),
        ] {
            let landed = land(status, body, REUSE, 1000);
            assert_eq!(landed.vouched, Vouched::Failed, "{status:?}");
            assert_eq!(landed.keep_until, None);
            assert_eq!(landed.result, "failed");
            assert!(matches!(landed.said, Said::Failed(_)));
        }
    }
}
