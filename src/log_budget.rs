//! A per-worker bound on refusal log lines, so a flood of bad tokens cannot
//! flood the proxy's log: at most [`LINES_PER_SECOND`] a second, and the next
//! line written says how many were left out.
//!
//! ```text
//! budget.admit(now_s) → Some(0)   write the line
//!                       None      count it as suppressed
//!                       Some(17)  write it, noting 17 lines suppressed before it
//! ```

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

#[cfg(test)]
mod tests {
    use super::*;

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
