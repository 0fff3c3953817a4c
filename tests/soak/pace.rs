//! A client's steady pace: one request every `interval` from its own offset
//! until the end, without bursting to catch up after a stall.

use std::time::{Duration, Instant};

/// When a client sends its next request.
pub struct Pace {
    next: Instant,
    interval: Duration,
    end: Instant,
}

impl Pace {
    /// Client `index` of `clients`, spread evenly over the first interval.
    pub fn new(index: usize, clients: usize, interval: Duration, end: Instant) -> Pace {
        Pace {
            next: Instant::now() + interval.mul_f64(index as f64 / clients as f64),
            interval,
            end,
        }
    }

    /// Waits for the next request's time; `false` once it would be past the end.
    /// A client that fell more than ten intervals behind (a stalled request)
    /// starts again from now rather than sending the missed ones at once.
    pub fn wait(&mut self) -> bool {
        if self.next >= self.end {
            return false;
        }
        let now = Instant::now();
        if self.next > now {
            std::thread::sleep(self.next - now);
        } else if now - self.next > self.interval * 10 {
            self.next = now;
        }
        self.next += self.interval;
        true
    }
}
