//! A fake proxy for the key lifecycle (`audgate::keys::host`): shared data with
//! Envoy's compare-and-swap semantics, and callouts that are only recorded (the
//! test delivers their replies, late replies and failures itself). Two fetchers
//! given the same `FakeHost` behave as two VMs of one proxy.
//!
//! Shared data as Envoy keeps it: every write gives the value a new CAS token
//! from one counter (never 0); a write with a CAS token is refused
//! (`CasMismatch`) when the value has been written since that token, a write
//! without one always lands; reading an absent key gives no value and no token.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::Duration;

use audgate::keys::host::{Callout, Callouts, NotSent, SetError, Shared, SharedData};

/// A callout the fake host was asked to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The id the host gave it.
    pub id: u32,
    /// Its cluster.
    pub cluster: String,
    /// Its `:authority`.
    pub authority: String,
    /// Its `:path`.
    pub path: String,
    /// Its timeout.
    pub timeout: Duration,
}

/// A write another VM makes between a read and the next write to a key.
type Interleaved = Box<dyn FnOnce(&FakeHost)>;

/// The fake proxy: shared data, callouts, and the failures a test asks for.
#[derive(Default)]
pub struct FakeHost {
    /// Key → value and its CAS token.
    shared: RefCell<BTreeMap<String, (Vec<u8>, u32)>>,
    last_cas: Cell<u32>,
    /// Every callout sent, in order.
    sent: RefCell<Vec<Sent>>,
    last_id: Cell<u32>,
    /// Clusters the proxy does not have: callouts through them are not sent.
    missing_clusters: RefCell<Vec<String>>,
    /// Key suffixes whose writes the proxy refuses (not a CAS mismatch).
    refused_writes: RefCell<Vec<String>>,
    /// Writes made by "another VM" right before the next write to a key
    /// ending with the suffix.
    interleaved: RefCell<Vec<(String, Interleaved)>>,
}

impl FakeHost {
    /// An empty proxy.
    pub fn new() -> FakeHost {
        FakeHost::default()
    }

    /// Every shared-data key and value, as they are now.
    pub fn shared_snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        let shared = self.shared.borrow();
        shared
            .iter()
            .map(|(key, (value, _))| (key.clone(), value.clone()))
            .collect()
    }

    /// Every callout sent so far, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.sent.borrow().clone()
    }

    /// The last callout sent.
    pub fn last_sent(&self) -> Sent {
        self.sent
            .borrow()
            .last()
            .cloned()
            .expect("a callout was sent")
    }

    /// How many callouts were sent.
    pub fn sent_count(&self) -> usize {
        self.sent.borrow().len()
    }

    /// From now on callouts through `cluster` are not sent.
    pub fn remove_cluster(&self, cluster: &str) {
        self.missing_clusters.borrow_mut().push(cluster.to_owned());
    }

    /// From now on writes to keys ending with `suffix` are refused.
    pub fn refuse_writes(&self, suffix: &str) {
        self.refused_writes.borrow_mut().push(suffix.to_owned());
    }

    /// Writes are accepted again.
    pub fn accept_writes(&self) {
        self.refused_writes.borrow_mut().clear();
    }

    /// Runs `write` (another VM's) right before the next write to a key ending
    /// with `suffix`: a race lost between a read and a compare-and-swap.
    pub fn before_next_write(&self, suffix: &str, write: impl FnOnce(&FakeHost) + 'static) {
        self.interleaved
            .borrow_mut()
            .push((suffix.to_owned(), Box::new(write)));
    }

    /// The raw value under the first key ending with `suffix`.
    pub fn value_ending(&self, suffix: &str) -> Option<Vec<u8>> {
        self.shared
            .borrow()
            .iter()
            .find(|(key, _)| key.ends_with(suffix))
            .map(|(_, (value, _))| value.clone())
    }

    /// The first key ending with `suffix`.
    pub fn key_ending(&self, suffix: &str) -> Option<String> {
        self.shared
            .borrow()
            .keys()
            .find(|key| key.ends_with(suffix))
            .cloned()
    }

    fn next_cas(&self) -> u32 {
        let next = self.last_cas.get().wrapping_add(1).max(1);
        self.last_cas.set(next);
        next
    }
}

impl SharedData for FakeHost {
    fn get(&self, key: &str) -> Shared {
        match self.shared.borrow().get(key) {
            Some((value, cas)) => Shared {
                value: Some(value.clone()),
                cas: Some(*cas),
            },
            None => Shared::default(),
        }
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SetError> {
        let due = {
            let mut pending = self.interleaved.borrow_mut();
            pending
                .iter()
                .position(|(suffix, _)| key.ends_with(suffix.as_str()))
                .map(|index| pending.remove(index).1)
        };
        if let Some(write) = due {
            write(self);
        }
        if self
            .refused_writes
            .borrow()
            .iter()
            .any(|suffix| key.ends_with(suffix.as_str()))
        {
            return Err(SetError::Refused(1));
        }
        let next = self.next_cas();
        let mut shared = self.shared.borrow_mut();
        match shared.get_mut(key) {
            Some((_, current)) if cas.is_some_and(|cas| cas != *current) => {
                Err(SetError::CasMismatch)
            }
            Some(entry) => {
                *entry = (value.to_vec(), next);
                Ok(())
            }
            None => {
                shared.insert(key.to_owned(), (value.to_vec(), next));
                Ok(())
            }
        }
    }
}

impl Callouts for FakeHost {
    fn dispatch(&self, callout: &Callout<'_>) -> Result<u32, NotSent> {
        if self
            .missing_clusters
            .borrow()
            .iter()
            .any(|cluster| cluster == callout.cluster)
        {
            // Envoy's status for a cluster it does not have: BadArgument.
            return Err(NotSent(2));
        }
        let id = self.last_id.get().wrapping_add(1);
        self.last_id.set(id);
        self.sent.borrow_mut().push(Sent {
            id,
            cluster: callout.cluster.to_owned(),
            authority: callout.authority.to_owned(),
            path: callout.path.to_owned(),
            timeout: callout.timeout,
        });
        Ok(id)
    }
}
