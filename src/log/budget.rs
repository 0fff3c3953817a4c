//! A per-worker bound on refusal log lines, so a flood of bad tokens cannot
//! flood the proxy's log: at most [`LINES_PER_SECOND`] a second, and the next
//! line written says how many were left out.
//!
//! ```text
//! budget.admit(now_s) → Some(0)   write the line
//!                       None      count it as suppressed
//!                       Some(17)  write it, noting 17 lines suppressed before it
//! ```
//!
//! A worker keeps two such budgets ([`RefusalLog`]): one for refusals said only
//! of a verified token (`caller`, `claims`: a known identity), one for the rest,
//! so a flood of anonymous junk never hides a known identity's refusal.

/// Refusal lines written per worker per second at most.
pub const LINES_PER_SECOND: u32 = 10;

/// The budget of one worker.
#[derive(Debug, Default)]
pub struct LogBudget {
    second: i64,
    written: u32,
    suppressed: u64,
}

impl LogBudget {
    /// Whether a line may be written at `now_s` (Unix seconds); `Some(n)` with the
    /// number of lines suppressed since the last one written.
    pub fn admit(&mut self, now_s: i64) -> Option<u64> {
        if now_s != self.second {
            self.second = now_s;
            self.written = 0;
        }
        if self.written >= LINES_PER_SECOND {
            self.suppressed = self.suppressed.saturating_add(1);
            return None;
        }
        self.written = self.written.saturating_add(1);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// The two budgets of one worker: refusals of a verified token, and the rest.
#[derive(Debug, Default)]
pub struct RefusalLog {
    verified: LogBudget,
    anonymous: LogBudget,
}

impl RefusalLog {
    /// [`LogBudget::admit`] on the budget of verified tokens' refusals when
    /// `verified`, else on the other.
    pub fn admit(&mut self, now_s: i64, verified: bool) -> Option<u64> {
        if verified {
            self.verified.admit(now_s)
        } else {
            self.anonymous.admit(now_s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_never_spends_a_verified_tokens_budget() {
        let mut log = RefusalLog::default();
        for _ in 0..LINES_PER_SECOND + 5 {
            log.admit(100, false);
        }
        assert_eq!(log.admit(100, false), None, "the junk budget is spent");
        assert_eq!(
            log.admit(100, true),
            Some(0),
            "a known identity's line is written"
        );
        for _ in 1..LINES_PER_SECOND {
            assert_eq!(log.admit(100, true), Some(0));
        }
        assert_eq!(log.admit(100, true), None, "and bounded alike");
        assert_eq!(log.admit(101, false), Some(6), "each counts its own");
        assert_eq!(log.admit(101, true), Some(1));
    }

    #[test]
    fn ten_a_second_then_a_count_of_the_rest() {
        let mut budget = LogBudget::default();
        for _ in 0..LINES_PER_SECOND {
            assert_eq!(budget.admit(100), Some(0));
        }
        for _ in 0..25 {
            assert_eq!(budget.admit(100), None);
        }
        assert_eq!(
            budget.admit(101),
            Some(25),
            "the next second says what was left out"
        );
        assert_eq!(budget.admit(101), Some(0));
    }
}
