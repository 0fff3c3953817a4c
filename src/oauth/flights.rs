//! Callouts under way in one worker, one per key (a token and what it is asked
//! for) however many requests wait for it: the token exchanges
//! (`exchange::flights`), the introspections (`keys::introspection`). A flight
//! belongs to the worker (the root context), not to the request that started
//! it, so the requests waiting on it are answered when it lands even if that
//! one ended.

use crate::keys::host::NotSent;
use crate::oauth::cache_key::CacheKey;

/// Why a request could not wait for a callout (503).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStarted {
    /// The worker has as many callouts of this kind under way as it allows.
    Full,
    /// The host would not send the callout (no such cluster).
    NotSent(NotSent),
}

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

    /// Joins the flight under `key`, or, when there is room, starts one:
    /// `send` sends its callout and gives the flight. `Ok(true)`: a callout
    /// was sent.
    pub fn join_or_start(
        &mut self,
        key: &CacheKey,
        send: impl FnOnce() -> Result<F, NotSent>,
    ) -> Result<bool, NotStarted> {
        if self.under_way(key) {
            return Ok(false);
        }
        if !self.has_room() {
            return Err(NotStarted::Full);
        }
        self.depart(send().map_err(NotStarted::NotSent)?);
        Ok(true)
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
    fn a_request_joins_the_flight_under_way_or_starts_one_while_there_is_room() {
        let mut flights = Flights::new(2);
        let sent = std::cell::Cell::new(0);
        let send = |id: u32| {
            sent.set(sent.get() + 1);
            Ok(call(1, id, 0))
        };
        assert_eq!(flights.join_or_start(&key_of(1), || send(10)), Ok(true));
        assert_eq!(flights.join_or_start(&key_of(1), || send(11)), Ok(false));
        assert_eq!(sent.get(), 1, "the second joined the first's callout");
        let refused = flights.join_or_start(&key_of(2), || Err(NotSent(2)));
        assert_eq!(refused, Err(NotStarted::NotSent(NotSent(2))));
        assert!(
            !flights.under_way(&key_of(2)),
            "a callout not sent is no flight"
        );
        flights.depart(call(3, 12, 0));
        assert_eq!(
            flights.join_or_start(&key_of(4), || send(13)),
            Err(NotStarted::Full)
        );
        assert_eq!(sent.get(), 1, "no room: nothing sent");
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
