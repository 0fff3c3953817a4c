//! Exchanges under way in one worker: one callout per subject token and
//! destination however many requests wait for it. A flight belongs to the
//! worker (the root context), not to the request that started it, so the
//! requests waiting on it are answered when it lands even if that one ended.

use crate::oauth::cache_key::CacheKey;

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

/// The exchanges under way in one worker.
#[derive(Debug, Default)]
pub struct Flights {
    flights: Vec<Flight>,
}

impl Flights {
    /// Whether an exchange under `key` is under way (a request for it joins it).
    pub fn under_way(&self, key: &CacheKey) -> bool {
        self.flights.iter().any(|flight| flight.key == *key)
    }

    /// Whether another exchange may start.
    pub fn has_room(&self) -> bool {
        self.flights.len() < MAX_FLIGHTS
    }

    /// Records a callout sent.
    pub fn depart(&mut self, flight: Flight) {
        self.flights.push(flight);
    }

    /// The flight whose callout `call_id` answered, no longer under way;
    /// `None` when the callout is not an exchange's.
    pub fn land(&mut self, call_id: u32) -> Option<Flight> {
        let position = self
            .flights
            .iter()
            .position(|flight| flight.call_id == call_id)?;
        Some(self.flights.swap_remove(position))
    }

    /// The flights sent before `cutoff` (Unix seconds), no longer under way:
    /// their reply is overdue (the host times a callout out and answers 504, so
    /// only a reply the filter could not take is ever this late).
    pub fn overdue(&mut self, cutoff: i64) -> Vec<Flight> {
        let (late, on_time): (Vec<Flight>, Vec<Flight>) = std::mem::take(&mut self.flights)
            .into_iter()
            .partition(|flight| flight.sent_at < cutoff);
        self.flights = on_time;
        late
    }

    /// Every flight, no longer under way (the plugin is retired).
    pub fn abandon(&mut self) -> Vec<Flight> {
        std::mem::take(&mut self.flights)
    }

    /// How many are under way.
    pub fn len(&self) -> usize {
        self.flights.len()
    }

    /// Whether none is under way.
    pub fn is_empty(&self) -> bool {
        self.flights.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::cache_key::KeyHasher;

    fn key_of(key: u8) -> CacheKey {
        KeyHasher::with_key(0, 0).key(&key.to_string(), 0)
    }

    fn flight(key: u8, call_id: u32) -> Flight {
        Flight {
            key: key_of(key),
            destination: 0,
            call_id,
            subject_exp: None,
            sent_at: 0,
        }
    }

    #[test]
    fn a_landed_flight_is_no_longer_under_way() {
        let mut flights = Flights::default();
        flights.depart(flight(1, 10));
        flights.depart(flight(2, 11));
        assert!(flights.under_way(&key_of(1)));
        assert_eq!(flights.land(10).map(|f| f.key), Some(key_of(1)));
        assert!(!flights.under_way(&key_of(1)));
        assert!(flights.under_way(&key_of(2)));
        assert_eq!(flights.land(10), None, "a reply is taken once");
        assert_eq!(
            flights.land(99),
            None,
            "another callout's reply is not ours"
        );
    }

    #[test]
    fn overdue_flights_are_given_up() {
        let mut flights = Flights::default();
        flights.depart(Flight {
            sent_at: 10,
            ..flight(1, 1)
        });
        flights.depart(Flight {
            sent_at: 20,
            ..flight(2, 2)
        });
        let late = flights.overdue(15);
        assert_eq!(late.len(), 1);
        assert_eq!(late[0].key, key_of(1));
        assert!(flights.under_way(&key_of(2)));
        assert!(flights.overdue(15).is_empty());
    }

    #[test]
    fn room_is_bounded() {
        let mut flights = Flights::default();
        for n in 0..MAX_FLIGHTS {
            assert!(flights.has_room());
            flights.depart(flight(0, u32::try_from(n).unwrap()));
        }
        assert!(!flights.has_room());
        assert_eq!(flights.abandon().len(), MAX_FLIGHTS);
        assert!(flights.is_empty());
    }
}
