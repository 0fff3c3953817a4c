//! How long an introspection answer is reused, per worker: an active token's
//! claims for `cache_duration_s`, never past its `exp`; an inactive token for
//! `inactive_cache_s` (0: not reused). Revocation is seen once the answer
//! lapses, so `cache_duration_s` is how late it may be seen.

use crate::keys::introspection::answer::Introspected;
use crate::token::claims::expiry;

/// A provider's `introspection` reuse settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reuse {
    /// `cache_duration_s`: 1..3600.
    pub active_s: i64,
    /// `inactive_cache_s`: 0..60.
    pub inactive_s: i64,
}

/// Until when (Unix seconds, exclusive) `answer`, received at `now`, may be
/// reused; `None` when it may not be (an active token already expired, an
/// inactive one with `inactive_cache_s` 0).
pub fn reuse_until(answer: &Introspected, reuse: Reuse, now: i64) -> Option<i64> {
    let until = match answer {
        Introspected::Active(claims) => {
            let lapse = now.saturating_add(reuse.active_s);
            // `exp` read as the expiry check reads it (a fraction cut, a huge
            // one saturated); one that is not a number is the decision's to
            // refuse, and not kept.
            match claims.contains_key("exp").then(|| expiry(claims)) {
                None => lapse,
                Some(Some(exp)) => lapse.min(exp),
                Some(None) => return None,
            }
        }
        Introspected::Inactive(_) => now.saturating_add(reuse.inactive_s),
    };
    (until > now).then_some(until)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::introspection::answer::Inactive;
    use serde_json::{json, Value};

    const NOW: i64 = 1_800_000_000;
    const REUSE: Reuse = Reuse {
        active_s: 60,
        inactive_s: 5,
    };

    fn active(claims: Value) -> Introspected {
        Introspected::Active(claims.as_object().unwrap().clone())
    }

    #[test]
    fn an_active_answer_lasts_cache_duration_s_and_never_past_exp() {
        let no_exp = active(json!({"active": true}));
        assert_eq!(reuse_until(&no_exp, REUSE, NOW), Some(NOW + 60));
        let later = active(json!({"active": true, "exp": NOW + 3600}));
        assert_eq!(reuse_until(&later, REUSE, NOW), Some(NOW + 60));
        let sooner = active(json!({"active": true, "exp": NOW + 10}));
        assert_eq!(reuse_until(&sooner, REUSE, NOW), Some(NOW + 10));
    }

    #[test]
    fn an_exp_is_read_as_the_expiry_check_reads_it() {
        let fraction = active(json!({"active": true, "exp": NOW as f64 + 10.5}));
        assert_eq!(reuse_until(&fraction, REUSE, NOW), Some(NOW + 10));
        let huge = active(json!({"active": true, "exp": 18_000_001_800_000_300_300u64}));
        assert_eq!(reuse_until(&huge, REUSE, NOW), Some(NOW + 60));
    }

    #[test]
    fn an_expired_or_unreadable_exp_is_not_reused() {
        for exp in [json!(NOW), json!(NOW - 1), json!("soon"), json!(1.5)] {
            let answer = active(json!({"active": true, "exp": exp}));
            assert_eq!(reuse_until(&answer, REUSE, NOW), None, "{exp}");
        }
    }

    #[test]
    fn an_inactive_answer_lasts_inactive_cache_s_and_zero_means_never() {
        let inactive = Introspected::Inactive(Inactive::NotActive);
        assert_eq!(reuse_until(&inactive, REUSE, NOW), Some(NOW + 5));
        let never = Reuse {
            inactive_s: 0,
            ..REUSE
        };
        assert_eq!(reuse_until(&inactive, never, NOW), None);
    }
}
