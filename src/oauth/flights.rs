//! Callouts under way in one worker, one per key (a token and what it is asked
//! for) however many requests wait for it: the token exchanges
//! (`exchange::flights`), the introspections (`keys::introspection`). A flight
//! belongs to the worker (the root context), not to the request that started
//! it, so the requests waiting on it are answered when it lands even if that
//! one ended.

use crate::oauth::cache_key::CacheKey;

/// One callout under way, as [`Flights`] tracks it.
pub trait InFlight {
    /// What its answer is remembered under.
    fn key(&self) -> &CacheKey;
    /// The host's id of the callout.
    fn call_id(&self) -> u32;
    /// When it was sent (Unix seconds).
    fn sent_at(&self) -> i64;
}

/// The callouts under way in one worker, at most `limit` at once.
#[derive(Debug)]
pub struct Flights<F> {
    flights: Vec<F>,
    limit: usize,
}

impl<F: InFlight> Flights<F> {
    /// None under way; at most `limit` at once.
    pub fn new(limit: usize) -> Flights<F> {
        Flights {
            flights: Vec::new(),
            limit,
        }
    }

    /// Whether a callout under `key` is under way (a request for it joins it).
    pub fn under_way(&self, key: &CacheKey) -> bool {
        self.flights.iter().any(|flight| flight.key() == key)
    }

    /// Whether another callout may start.
    pub fn has_room(&self) -> bool {
        self.flights.len() < self.limit
    }

    /// Records a callout sent.
    pub fn depart(&mut self, flight: F) {
        self.flights.push(flight);
    }

    /// The flight whose callout `call_id` answered, no longer under way;
    /// `None` when the callout is not one of these.
    pub fn land(&mut self, call_id: u32) -> Option<F> {
        let position = self
            .flights
            .iter()
            .position(|flight| flight.call_id() == call_id)?;
        Some(self.flights.swap_remove(position))
    }

    /// The flights sent before `cutoff` (Unix seconds), no longer under way:
    /// their reply is overdue (the host times a callout out and answers 504, so
    /// only a reply the filter could not take is ever this late).
    pub fn overdue(&mut self, cutoff: i64) -> Vec<F> {
        let (late, on_time): (Vec<F>, Vec<F>) = std::mem::take(&mut self.flights)
            .into_iter()
            .partition(|flight| flight.sent_at() < cutoff);
        self.flights = on_time;
        late
    }

    /// Every flight, no longer under way (the plugin is retired).
    pub fn abandon(&mut self) -> Vec<F> {
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

    #[derive(Debug, PartialEq)]
    struct Call {
        key: CacheKey,
        call_id: u32,
        sent_at: i64,
    }

    impl InFlight for Call {
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

    fn key_of(key: u8) -> CacheKey {
        KeyHasher::with_key(0, 0).key(&key.to_string(), 0)
    }

    fn call(key: u8, call_id: u32, sent_at: i64) -> Call {
        Call {
            key: key_of(key),
            call_id,
            sent_at,
        }
    }

    #[test]
    fn a_landed_flight_is_no_longer_under_way() {
        let mut flights = Flights::new(4);
        flights.depart(call(1, 10, 0));
        flights.depart(call(2, 11, 0));
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
        let mut flights = Flights::new(4);
        flights.depart(call(1, 1, 10));
        flights.depart(call(2, 2, 20));
        let late = flights.overdue(15);
        assert_eq!(late, vec![call(1, 1, 10)]);
        assert!(flights.under_way(&key_of(2)));
        assert!(flights.overdue(15).is_empty());
    }

    #[test]
    fn room_is_bounded_by_the_limit() {
        let mut flights = Flights::new(3);
        for n in 0..3 {
            assert!(flights.has_room());
            flights.depart(call(0, n, 0));
        }
        assert!(!flights.has_room());
        assert_eq!(flights.len(), 3);
        assert_eq!(flights.abandon().len(), 3);
        assert!(flights.is_empty());
    }
}
