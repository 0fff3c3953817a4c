//! Remote keys through shared data, for one VM: on each tick, reading the shared
//! key sets into this VM and taking the fetch lease by compare-and-swap when a
//! fetch is due; sending the callouts (the discovery document first where
//! `discovery: true`); taking their replies, storing a good key set by
//! compare-and-swap and dropping a late reply (its lease lapsed and another
//! fetch took over, or another fetch stored its keys first). What a request
//! asks of the fetch state is [`crate::keys::fresh_keys`]'s.

use std::time::Duration;

use crate::keys::discovery::jwks_location;
use crate::keys::fetch_reply::{accept_body, check_reply, explain, FetchFailure};
use crate::keys::fetch_state::{encode, KeysRecord};
use crate::keys::host::{Callout, Callouts, Reply, SetError, SharedData};
use crate::keys::jwks::ParsedJwks;
use crate::keys::remote_sets::RemoteSets;
use crate::keys::shared_state::{allocate_vm_id, read_state, update_state};

/// A callout in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    /// The host's id for it.
    pub id: u32,
    /// The key set it fetches for (an index into [`RemoteSets`]).
    pub set: usize,
    /// What it fetches.
    pub kind: CallKind,
    /// When it was sent, Unix milliseconds.
    pub sent_ms: u64,
}

/// What a callout fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// The issuer's OpenID configuration document (`discovery: true`).
    Discovery,
    /// The key set.
    Jwks,
}

/// A fetch that ended, for the stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetched {
    /// The first provider of the key set fetched, which names it in the stats.
    pub first_provider: usize,
    /// Whether its keys were stored.
    pub ok: bool,
}

/// What became of a callout reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// No callout of this VM has that id: nothing was done.
    NotOurs,
    /// The reply was taken (or dropped as late), then every key set read again;
    /// the fetch that ended with it, if one did.
    Reply(Option<Fetched>),
}

/// One VM's fetcher: its id among the VMs and its callouts in flight.
#[derive(Debug, Clone, Default)]
pub struct Fetcher {
    /// This VM's id in shared data (0 until allocated on the first tick).
    vm_id: u32,
    /// Callouts in flight.
    calls: Vec<Call>,
}

impl Fetcher {
    /// A fetcher with no id yet and nothing in flight.
    pub fn new() -> Fetcher {
        Fetcher::default()
    }

    /// This VM's id (0 until the first tick allocated one).
    pub fn vm_id(&self) -> u32 {
        self.vm_id
    }

    /// The callouts in flight.
    pub fn calls(&self) -> &[Call] {
        &self.calls
    }

    /// A tick: takes an id for this VM if it has none, reads every key set from
    /// shared data, and starts each fetch that is due if this VM wins its
    /// lease. `jitter` (`0..=1000`) spreads the retries of a failed fetch. The
    /// fetches that ended at once (a callout the host would not send).
    pub fn tick<H: SharedData + Callouts>(
        &mut self,
        sets: &mut RemoteSets,
        host: &H,
        now_ms: u64,
        jitter: u16,
    ) -> Vec<Fetched> {
        if sets.is_empty() {
            return Vec::new();
        }
        if self.vm_id == 0 {
            self.vm_id = allocate_vm_id(host);
        }
        sets.sync_all(host);
        if self.vm_id == 0 {
            return Vec::new();
        }
        let at = At {
            host,
            now_ms,
            jitter,
        };
        (0..sets.len())
            .filter_map(|set| self.fetch_if_due(sets, &at, set))
            .collect()
    }

    /// Takes the reply of callout `id` (`reply` reads it): a discovery document
    /// leads to the key set's callout; a good key set goes to shared data;
    /// anything else keeps the previous set and backs off. Then every key set is
    /// read again.
    pub fn take_reply<H: SharedData + Callouts>(
        &mut self,
        sets: &mut RemoteSets,
        host: &H,
        id: u32,
        now_ms: u64,
        jitter: u16,
        reply: impl FnOnce() -> Reply,
    ) -> Taken {
        let Some(position) = self.calls.iter().position(|call| call.id == id) else {
            return Taken::NotOurs;
        };
        let call = self.calls.swap_remove(position);
        let at = At {
            host,
            now_ms,
            jitter,
        };
        let fetched = self.reply(sets, &at, call, reply);
        sets.sync_all(host);
        Taken::Reply(fetched)
    }

    /// Starts a fetch of key set `set` if one is due and this VM wins the lease.
    fn fetch_if_due<H: SharedData + Callouts>(
        &mut self,
        sets: &RemoteSets,
        at: &At<'_, H>,
        set: usize,
    ) -> Option<Fetched> {
        let (vm_id, now_ms) = (self.vm_id, at.now_ms);
        let remote = sets.get(set)?;
        let fetched_at = remote.copy.fetched_at();
        let freshness = remote.freshness;
        update_state(at.host, remote, |state| {
            state
                .due(fetched_at, freshness, now_ms)
                .then(|| state.leased(vm_id, freshness, now_ms))
        })?;
        let kind = if remote.server.discovery {
            CallKind::Discovery
        } else {
            CallKind::Jwks
        };
        self.send(sets, at, set, kind, &remote.server.path)
    }

    /// Sends one callout for `set`; a callout the host will not send is a
    /// failed fetch.
    fn send<H: SharedData + Callouts>(
        &mut self,
        sets: &RemoteSets,
        at: &At<'_, H>,
        set: usize,
        kind: CallKind,
        path: &str,
    ) -> Option<Fetched> {
        let server = &sets.get(set)?.server;
        let callout = Callout {
            cluster: &server.cluster,
            authority: &server.authority,
            path,
            timeout: Duration::from_millis(server.timeout_ms),
            form: None,
        };
        match at.host.dispatch(&callout) {
            Ok(id) => {
                self.calls.push(Call {
                    id,
                    set,
                    kind,
                    sent_ms: at.now_ms,
                });
                None
            }
            Err(refused) => {
                log::debug!("audgate: {refused}");
                let failure = FetchFailure::NotSent(server.cluster.clone());
                failed(sets, at, set, &failure)
            }
        }
    }

    /// Takes the reply of `call`; the fetch that ended with it, if one did.
    fn reply<H: SharedData + Callouts>(
        &mut self,
        sets: &RemoteSets,
        at: &At<'_, H>,
        call: Call,
        reply: impl FnOnce() -> Reply,
    ) -> Option<Fetched> {
        let (host, now_ms) = (at.host, at.now_ms);
        let remote = sets.get(call.set)?;
        // The keys record as it is before this reply is taken: the store below is
        // a compare-and-swap on it, so no other fetch's keys are overwritten.
        let keys_cas = host.get(&remote.keys_key).cas;
        if read_state(host, remote).0.holder != self.vm_id {
            log::info!(
                "audgate: {}: a late JWKS reply was dropped: its lease had lapsed and another fetch took over",
                remote.label
            );
            return None;
        }
        let elapsed = now_ms.saturating_sub(call.sent_ms);
        let timeout_ms = remote.server.timeout_ms;
        let Reply {
            status,
            body_size,
            body,
        } = reply();
        let outcome = check_reply(status, body_size)
            .map_err(|failure| explain(failure, &body, elapsed, timeout_ms))
            .and_then(|()| match call.kind {
                CallKind::Discovery => {
                    jwks_location(&body, &remote.issuer, &remote.server.authority)
                        .map(Next::Keys)
                        .map_err(FetchFailure::Discovery)
                }
                CallKind::Jwks => accept_body(body.clone())
                    .map(|(jwks, parsed)| Next::Store(jwks, parsed))
                    .map_err(|failure| explain(failure, &body, elapsed, timeout_ms)),
            });
        let first_provider = remote.first_provider();
        match outcome {
            Ok(Next::Keys(path)) => {
                let (freshness, vm_id) = (remote.freshness, self.vm_id);
                // The key set's callout runs under a renewed lease.
                update_state(host, remote, |state| {
                    Some(state.leased(vm_id, freshness, now_ms))
                });
                self.send(sets, at, call.set, CallKind::Jwks, &path)
            }
            Ok(Next::Store(jwks, parsed)) => {
                for skipped in &parsed.skipped {
                    log::info!(
                        "audgate: {}: JWKS key {} ({}) skipped: {}",
                        remote.label,
                        skipped.index,
                        skipped.kid.as_deref().unwrap_or("no kid"),
                        skipped.reason
                    );
                }
                let record = KeysRecord {
                    fetched_at_ms: now_ms,
                    jwks,
                };
                match host.set(&remote.keys_key, &encode(&record), keys_cas) {
                    Ok(()) => {
                        update_state(host, remote, |state| Some(state.succeeded()));
                        Some(Fetched {
                            first_provider,
                            ok: true,
                        })
                    }
                    // Another fetch stored its keys since: this reply is not newer.
                    Err(SetError::CasMismatch) => {
                        log::info!(
                            "audgate: {}: a late JWKS reply was dropped: another fetch stored its keys first",
                            remote.label
                        );
                        None
                    }
                    Err(SetError::Refused(_)) => {
                        failed(sets, at, call.set, &FetchFailure::NotStored)
                    }
                }
            }
            Err(failure) => failed(sets, at, call.set, &failure),
        }
    }
}

/// What a good callout reply leads to.
enum Next {
    /// The discovery document named the key set at this path.
    Keys(String),
    /// A key set to store.
    Store(String, ParsedJwks),
}

/// The host, the clock and the jitter a fetcher acts with.
struct At<'h, H> {
    host: &'h H,
    now_ms: u64,
    jitter: u16,
}

/// Records a failed fetch of `set`: the previous keys stay, retries back off.
fn failed<H: SharedData>(
    sets: &RemoteSets,
    at: &At<'_, H>,
    set: usize,
    failure: &FetchFailure,
) -> Option<Fetched> {
    let (now_ms, jitter) = (at.now_ms, at.jitter);
    let remote = sets.get(set)?;
    log::warn!(
        "audgate: {}: JWKS fetch from {} through cluster {} failed: {failure}",
        remote.label,
        remote.server.uri,
        remote.server.cluster
    );
    update_state(at.host, remote, |state| Some(state.failed(now_ms, jitter)));
    Some(Fetched {
        first_provider: remote.first_provider(),
        ok: false,
    })
}
