//! Exchanges under way in one worker: one callout per subject token and
//! destination however many requests wait for it (`oauth::flights`, which
//! says whose a flight is).

use crate::oauth::cache_key::CacheKey;
use crate::oauth::flights::InFlight;

/// Most exchanges one worker has under way at once; a request that would start
/// one more is answered 503 `exchange` at once.
pub const MAX_FLIGHTS: usize = 256;

/// One exchange under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flight {
    /// What its token is remembered under.
    pub key: CacheKey,
    /// The destination it is for.
    pub destination: usize,
    /// The host's id of its callout.
    pub call_id: u32,
    /// The subject token's `exp`, when it states one (the exchanged token is
    /// never used past it).
    pub subject_exp: Option<i64>,
    /// When it was sent (Unix seconds).
    pub sent_at: i64,
}

/// The exchanges under way in one worker (at most [`MAX_FLIGHTS`]).
pub type Flights = crate::oauth::flights::Flights<Flight>;

impl Default for Flights {
    fn default() -> Flights {
        Flights::new(MAX_FLIGHTS)
    }
}

impl InFlight for Flight {
    fn key(&self) -> &CacheKey {
        &self.key
    }
    fn call_id(&self) -> u32 {
        self.call_id
    }
    fn sent_at(&self) -> i64 {
        self.sent_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::cache_key::KeyHasher;

    #[test]
    fn a_worker_has_at_most_max_flights_exchanges_under_way() {
        let mut flights = Flights::default();
        for n in 0..MAX_FLIGHTS {
            assert!(flights.has_room());
            flights.depart(Flight {
                key: KeyHasher::with_key(0, 0).key("t", n),
                destination: 0,
                call_id: u32::try_from(n).unwrap(),
                subject_exp: None,
                sent_at: 0,
            });
        }
        assert!(!flights.has_room());
    }
}
