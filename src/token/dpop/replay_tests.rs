//! The replay store over a shared data with Envoy's semantics: a proof is
//! accepted once within its window and again after it, a key holds at most its
//! share, a full bucket refuses, and a write lost to another worker is retried.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use super::*;
use crate::keys::host::Shared;

/// Envoy's shared data: a missing key is written whatever the CAS; a present
/// one only with its current CAS or none. `race` makes the next `n` writes
/// find the value changed (another worker wrote in between).
#[derive(Default)]
struct Proxy {
    values: RefCell<HashMap<String, (Vec<u8>, u32)>>,
    next_cas: Cell<u32>,
    race: Cell<usize>,
    refuse: Cell<bool>,
}

impl SharedData for Proxy {
    fn get(&self, key: &str) -> Shared {
        match self.values.borrow().get(key) {
            Some((value, cas)) => Shared {
                value: Some(value.clone()),
                cas: Some(*cas),
            },
            None => Shared::default(),
        }
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SetError> {
        if self.refuse.get() {
            return Err(SetError::Refused(2));
        }
        if self.race.get() > 0 {
            self.race.set(self.race.get() - 1);
            return Err(SetError::CasMismatch);
        }
        let mut values = self.values.borrow_mut();
        if let (Some((_, current)), Some(cas)) = (values.get(key), cas) {
            if *current != cas {
                return Err(SetError::CasMismatch);
            }
        }
        self.next_cas.set(self.next_cas.get() + 1);
        values.insert(key.to_owned(), (value.to_vec(), self.next_cas.get()));
        Ok(())
    }
}

impl Proxy {
    fn slots_used(&self) -> usize {
        let values = self.values.borrow();
        values
            .values()
            .map(|(value, _)| value.len() / ENTRY_BYTES)
            .sum()
    }
}

const NOW: i64 = 1_800_000_000;
const JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

#[test]
fn a_proof_is_accepted_once_within_its_window() {
    let (proxy, store) = (
        Proxy::default(),
        ReplayStore::new("audgate.dpop.idp", 100_000),
    );
    assert_eq!(store.remember(&proxy, JKT, "j1", NOW + 65, NOW), Ok(()));
    assert_eq!(
        store.remember(&proxy, JKT, "j1", NOW + 70, NOW + 64),
        Err(NotRemembered::Replayed),
        "the same proof on another worker (one shared data)"
    );
    assert_eq!(store.remember(&proxy, JKT, "j2", NOW + 65, NOW), Ok(()));
    assert_eq!(
        store.remember(&proxy, "another-key", "j1", NOW + 65, NOW),
        Ok(())
    );
    // Its window over, the entry lapses: the proof is stale anyway by then.
    assert_eq!(
        store.remember(&proxy, JKT, "j1", NOW + 130, NOW + 65),
        Ok(())
    );
}

#[test]
fn lapsed_entries_give_their_slots_back() {
    let (proxy, store) = (Proxy::default(), ReplayStore::new("p", 1000));
    for n in 0..store.share() {
        assert_eq!(
            store.remember(&proxy, JKT, &format!("j{n}"), NOW + 60, NOW),
            Ok(())
        );
    }
    assert_eq!(
        store.remember(&proxy, JKT, "one-more", NOW + 60, NOW),
        Err(NotRemembered::Full)
    );
    assert_eq!(
        store.remember(&proxy, JKT, "one-more", NOW + 120, NOW + 60),
        Ok(())
    );
    assert_eq!(
        proxy.slots_used(),
        1,
        "the lapsed ones were dropped on that write"
    );
}

#[test]
fn one_key_holds_at_most_one_percent() {
    for size in [1000, 6400, 100_000, 1_000_000] {
        let store = ReplayStore::new("p", size);
        assert!(
            store.share() * 100 <= size,
            "{size}: share {}",
            store.share()
        );
        assert!(
            store.share() * 100 >= size * 9 / 10,
            "{size}: share {}",
            store.share()
        );
    }
    let (proxy, store) = (Proxy::default(), ReplayStore::new("p", 100_000));
    let mut accepted = 0;
    for n in 0..5000 {
        if store.remember(&proxy, JKT, &format!("flood-{n}"), NOW + 60, NOW) == Ok(()) {
            accepted += 1;
        }
    }
    assert_eq!(accepted, store.share());
    assert!(accepted <= 1000);
    // Everyone else still finds room.
    for n in 0..200 {
        let key = format!("client-{n}");
        assert_eq!(
            store.remember(&proxy, &key, "j", NOW + 60, NOW),
            Ok(()),
            "{key}"
        );
    }
}

#[test]
fn a_full_bucket_refuses_and_the_store_is_bounded() {
    let (proxy, store) = (Proxy::default(), ReplayStore::new("p", 1000));
    let mut full = 0;
    for n in 0..3000 {
        let key = format!("key-{n}");
        match store.remember(&proxy, &key, "j", NOW + 60, NOW) {
            Ok(()) => {}
            Err(NotRemembered::Full) => full += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(full > 0);
    assert!(
        proxy.slots_used() <= 16 * SLOTS_PER_BUCKET,
        "1000 slots: 16 buckets of 64"
    );
    assert!(proxy.values.borrow().len() <= 16);
}

#[test]
fn a_write_lost_to_another_worker_is_retried_then_refused() {
    let (proxy, store) = (Proxy::default(), ReplayStore::new("p", 1000));
    assert_eq!(store.remember(&proxy, JKT, "j0", NOW + 60, NOW), Ok(()));
    proxy.race.set(ATTEMPTS - 1);
    assert_eq!(store.remember(&proxy, JKT, "j1", NOW + 60, NOW), Ok(()));
    proxy.race.set(ATTEMPTS);
    assert_eq!(
        store.remember(&proxy, JKT, "j2", NOW + 60, NOW),
        Err(NotRemembered::Unavailable)
    );
    proxy.refuse.set(true);
    assert_eq!(
        store.remember(&proxy, JKT, "j3", NOW + 60, NOW),
        Err(NotRemembered::Unavailable)
    );
}

#[test]
fn nothing_of_the_key_or_the_jti_is_stored_as_written() {
    let (proxy, store) = (Proxy::default(), ReplayStore::new("p", 1000));
    store
        .remember(&proxy, JKT, "a-readable-jti", NOW + 60, NOW)
        .unwrap();
    let values = proxy.values.borrow();
    let (name, (value, _)) = values.iter().next().unwrap();
    assert!(name.starts_with("p."));
    assert_eq!(value.len(), ENTRY_BYTES);
    let text = String::from_utf8_lossy(value);
    assert!(!text.contains("a-readable-jti") && !text.contains(JKT));
}
