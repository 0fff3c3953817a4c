//! The remote keys' lifecycle natively, over a fake proxy (`support::fake_host`):
//! shared data with Envoy's compare-and-swap and callouts whose replies the test
//! delivers. Two `Vm`s sharing one fake host behave as two workers of one Envoy:
//! one fetch serves both, a rotation reaches both, a late reply is dropped, a
//! lease a dead VM took is taken over, keys come back after an outage, and a VM
//! re-reads shared keys before it refuses. The same cases as the Envoy tests
//! (e2e_rotation, e2e_remote_jwks, e2e_key_sets) show, with the races placed
//! exactly rather than hoped for.
//!
//! A `Vm` does what the filter's root and HTTP contexts do with the key modules:
//! a tick is `Fetcher::tick` then settling held requests (`still_held`), a reply
//! is `Fetcher::take_reply` then settling, a request is `decide_with_fresh_keys`
//! around the real decision (`audgate::decision::decide`) with real tokens.

use std::cell::Cell;

use crate::support::cases::{claims, two_providers_on, ADMIN_AUDIENCE as ADMIN, AUDIENCE, ISSUER};
use crate::support::decide;
use crate::support::fake_host::{FakeHost, Sent};
use crate::support::keys::{self, now, TestKey};
use audgate::config::Config;
use audgate::decision::{self, Decision, KeyStore, Verifier};
use audgate::keys::fetch_state::{encode, FetchState, KeysRecord, BACKOFF_MAX_MS};
use audgate::keys::fetcher::{Fetched, Fetcher, Taken};
use audgate::keys::fresh_keys::{decide_with_fresh_keys, still_held, Hold};
use audgate::keys::host::{Reply, SharedData};
use audgate::keys::remote_sets::{RemoteProvider, RemoteSets};
use audgate::keys::shared_state::{create_records, read_state};
use audgate::keys::verify::RustCrypto;
use audgate::rejection::Rejection;
use audgate::request::Request;
use serde_json::{json, Value};

/// The plugin name and root id the shared-data keys are prefixed with.
const PLUGIN: &str = "audgate/keys";
/// Jitter passed to the fetchers: retries after exactly the full backoff.
const JITTER: u16 = 1000;
/// The filter's tick.
const TICK_MS: u64 = 100;

/// One provider on a remote key set.
fn one_provider(remote: Value) -> Value {
    json!({"providers": [
        {"name": "idp", "issuer": ISSUER, "audiences": [AUDIENCE], "remote_jwks": remote},
    ]})
}

/// A request: `GET <path>` with `Authorization: Bearer <token>`.
#[derive(Debug, Clone)]
struct Bearer {
    path: &'static str,
    token: String,
}

impl Bearer {
    /// On `/orders/1` (the provider `idp`).
    fn orders(token: String) -> Bearer {
        Bearer {
            path: "/orders/1",
            token,
        }
    }

    /// The real decision on this request with `keys`, now.
    fn decide(&self, config: &Config, keys: &dyn KeyStore) -> Decision {
        let headers = vec![
            (":authority".to_owned(), decide::AUTHORITY.to_owned()),
            ("authorization".to_owned(), format!("Bearer {}", self.token)),
        ];
        let request = Request {
            method: "GET",
            path: self.path,
            authority: decide::AUTHORITY,
            headers: &headers,
        };
        let verifier = Verifier {
            keys,
            signatures: &RustCrypto,
            cache: None,
            introspections: &audgate::keys::introspection::vouched::NoIntrospections,
            now: now() as i64,
        };
        decision::decide(config, &request, &verifier)
    }
}

fn keys_at(timeout_ms: u64, cache_duration_s: u64) -> Value {
    json!({"uri": "http://idp.test/keys", "cluster": "jwks",
           "timeout_ms": timeout_ms, "cache_duration_s": cache_duration_s})
}

/// One Envoy: the fake host, the configuration, a clock.
struct Proxy {
    host: FakeHost,
    config: Config,
    providers: Vec<Option<RemoteProvider>>,
    now_ms: Cell<u64>,
}

impl Proxy {
    /// Configured with `config`; the shared records are created as the filter's
    /// `on_configure` does.
    fn new(config: Value) -> Proxy {
        let config = Config::from_json(config.to_string().as_bytes()).unwrap();
        let providers = config.remote_providers();
        let proxy = Proxy {
            host: FakeHost::new(),
            config,
            providers,
            now_ms: Cell::new(now() * 1000),
        };
        create_records(&proxy.host, &RemoteSets::group(PLUGIN, &proxy.providers));
        proxy
    }

    /// A new VM (a worker).
    fn vm(&self) -> Vm<'_> {
        Vm {
            proxy: self,
            sets: RemoteSets::group(PLUGIN, &self.providers),
            fetcher: Fetcher::new(),
            held: Vec::new(),
            answered: Vec::new(),
        }
    }

    fn now(&self) -> u64 {
        self.now_ms.get()
    }

    fn advance(&self, ms: u64) {
        self.now_ms.set(self.now_ms.get() + ms);
    }

    /// The shared fetch state of the first key set.
    fn state(&self) -> FetchState {
        let sets = RemoteSets::group(PLUGIN, &self.providers);
        read_state(&self.host, sets.get(0).unwrap()).0
    }

    /// The JWKS text shared data holds for the first key set.
    fn shared_jwks(&self) -> String {
        let bytes = self.host.value_ending(";keys").expect("a stored key set");
        serde_json::from_slice::<KeysRecord>(&bytes).unwrap().jwks
    }
}

/// What a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// Passed on.
    Pass,
    /// Refused for this reason.
    Refused(Rejection),
    /// Held until its keys change or a fetch ends.
    Held,
}

impl Answer {
    fn of(decision: &Decision) -> Answer {
        match decision.verdict {
            Ok(()) => Answer::Pass,
            Err(rejection) => Answer::Refused(rejection),
        }
    }
}

const KEYS_UNAVAILABLE: Answer = Answer::Refused(Rejection::KeysUnavailable);
const UNKNOWN_KID: Answer = Answer::Refused(Rejection::UnknownKid);

/// One worker's key state, driven as the filter's contexts drive it.
struct Vm<'p> {
    proxy: &'p Proxy,
    sets: RemoteSets,
    fetcher: Fetcher,
    /// Held requests and their holds.
    held: Vec<(Bearer, Hold)>,
    /// Held requests answered since last asked, in order.
    answered: Vec<Answer>,
}

impl Vm<'_> {
    /// The root's tick: the fetcher's tick, then held requests settled.
    fn tick(&mut self) -> Vec<Fetched> {
        let proxy = self.proxy;
        let fetched = self
            .fetcher
            .tick(&mut self.sets, &proxy.host, proxy.now(), JITTER);
        self.settle();
        fetched
    }

    /// The root's callout reply: taken, then held requests settled.
    fn reply(&mut self, sent: &Sent, reply: Reply) -> Taken {
        let proxy = self.proxy;
        let taken = self.fetcher.take_reply(
            &mut self.sets,
            &proxy.host,
            sent.id,
            proxy.now(),
            JITTER,
            || reply,
        );
        if taken != Taken::NotOurs {
            self.settle();
        }
        taken
    }

    /// A request with `Authorization: Bearer <token>`: decided, or held.
    fn request(&mut self, request: &Bearer) -> Answer {
        let (config, now_ms) = (&self.proxy.config, self.proxy.now());
        let decide_now = |sets: &RemoteSets| request.decide(config, &sets.at(now_ms));
        let (decision, hold) = decide_with_fresh_keys(
            &mut self.sets,
            &self.proxy.host,
            now_ms,
            decide_now,
            Decision::key_refusal,
        );
        match hold {
            Some(hold) => {
                self.held.push((request.clone(), hold));
                Answer::Held
            }
            None => Answer::of(&decision),
        }
    }

    /// Decides the held requests whose wait is over.
    fn settle(&mut self) {
        let proxy = self.proxy;
        let holds = self.held.iter().map(|(_, hold)| *hold);
        let waiting = still_held(&mut self.sets, &proxy.host, holds, proxy.now());
        let mut flags = waiting.into_iter();
        let (keep, ready): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|_| flags.next().unwrap());
        self.held = keep;
        for (request, _) in ready {
            let decision = request.decide(&proxy.config, &self.sets.at(proxy.now()));
            self.answered.push(Answer::of(&decision));
        }
    }

    /// The held requests answered since last asked.
    fn answered(&mut self) -> Vec<Answer> {
        std::mem::take(&mut self.answered)
    }

    fn holding(&self) -> usize {
        self.held.len()
    }
}

/// A request to `/orders/1` with a good token of `key` for `idp`.
fn token(key: TestKey) -> Bearer {
    Bearer::orders(keys::sign_default(key, claims(json!({}))))
}

/// A request to `/admin/1` with a good token of `key` for `idp-admin`.
fn admin_token(key: TestKey) -> Bearer {
    Bearer {
        path: "/admin/1",
        token: keys::sign_default(key, claims(json!({"aud": ADMIN}))),
    }
}

fn jwks_reply(keys: &[TestKey]) -> Reply {
    json_reply(&keys::jwks(keys))
}

fn json_reply(body: &Value) -> Reply {
    text_reply(200, &body.to_string())
}

fn text_reply(status: u32, body: &str) -> Reply {
    Reply {
        status: Some(status),
        body_size: body.len(),
        body: body.as_bytes().to_vec(),
    }
}

/// No reply: the connection failed or the callout timed out.
fn no_reply() -> Reply {
    Reply::default()
}

/// Envoy's own 503 when the key server is down.
fn down() -> Reply {
    text_reply(
        503,
        "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure",
    )
}

const FETCHED: Fetched = Fetched {
    first_provider: 0,
    ok: true,
};
const FAILED: Fetched = Fetched {
    first_provider: 0,
    ok: false,
};

/// Both VMs tick once, then the clock moves a tick on.
fn tick_both(a: &mut Vm, b: &mut Vm) -> Vec<Fetched> {
    let mut fetched = a.tick();
    fetched.extend(b.tick());
    a.proxy.advance(TICK_MS);
    fetched
}

/// Both VMs with `keys`: `a` fetches them, `b` reads them on its tick.
fn warmed_up<'p>(proxy: &'p Proxy, keys: &[TestKey]) -> (Vm<'p>, Vm<'p>) {
    let (mut a, mut b) = (proxy.vm(), proxy.vm());
    assert_eq!(a.tick(), []);
    assert_eq!(b.tick(), []);
    let sent = proxy.host.last_sent();
    assert_eq!(
        a.reply(&sent, jwks_reply(keys)),
        Taken::Reply(Some(FETCHED))
    );
    b.tick();
    for key in keys {
        assert_eq!(a.request(&token(*key)), Answer::Pass, "a: {key:?}");
        assert_eq!(b.request(&token(*key)), Answer::Pass, "b: {key:?}");
    }
    assert_eq!(proxy.host.sent_count(), 1, "one fetch for both VMs");
    (a, b)
}

#[test]
fn the_fake_hosts_shared_data_is_compare_and_swap() {
    use audgate::keys::host::{SetError, Shared};
    let host = FakeHost::new();
    assert_eq!(host.get("k"), Shared::default());
    host.set("k", b"a", None).unwrap();
    let first = host.get("k");
    assert_eq!(first.value.as_deref(), Some(&b"a"[..]));
    host.set("k", b"b", first.cas).unwrap();
    assert_eq!(
        host.set("k", b"c", first.cas),
        Err(SetError::CasMismatch),
        "a stale token loses"
    );
    let second = host.get("k");
    assert_ne!(second.cas, first.cas);
    assert_eq!(second.value.as_deref(), Some(&b"b"[..]));
    host.set("k", b"d", None).unwrap();
    assert_eq!(host.get("k").value.as_deref(), Some(&b"d"[..]));
    host.before_next_write("k", |other| other.set("k", b"e", None).unwrap());
    let read = host.get("k");
    assert_eq!(host.set("k", b"f", read.cas), Err(SetError::CasMismatch));
    assert_eq!(host.get("k").value.as_deref(), Some(&b"e"[..]));
    host.refuse_writes("k");
    assert_eq!(host.set("k", b"g", None), Err(SetError::Refused(1)));
}

/// e2e_remote_jwks `a_request_before_the_first_fetch_lands_waits_for_it`: held
/// requests on both VMs, one callout for both, each VM's request passes once
/// its VM has the keys.
#[test]
fn a_request_before_the_first_fetch_waits_for_it_and_one_fetch_serves_both_vms() {
    let proxy = Proxy::new(one_provider(keys_at(2_000, 300)));
    let (mut a, mut b) = (proxy.vm(), proxy.vm());
    let good = token(TestKey::Rsa1);
    assert_eq!(a.request(&good), Answer::Held, "no fetch tried yet: wait");
    assert_eq!(b.request(&good), Answer::Held);
    assert_eq!(a.tick(), []);
    assert_eq!(b.tick(), [], "a holds the lease: b sends nothing");
    let sent = proxy.host.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (
            sent[0].cluster.as_str(),
            sent[0].authority.as_str(),
            sent[0].path.as_str()
        ),
        ("jwks", "idp.test", "/keys")
    );
    assert_eq!(sent[0].timeout.as_millis(), 2_000);
    assert_eq!((a.holding(), b.holding()), (1, 1));
    proxy.advance(300);
    assert_eq!(
        b.reply(&sent[0], jwks_reply(&[TestKey::Rsa1])),
        Taken::NotOurs,
        "b sent no callout"
    );
    assert_eq!(
        a.reply(&sent[0], jwks_reply(&[TestKey::Rsa1])),
        Taken::Reply(Some(FETCHED))
    );
    assert_eq!(a.answered(), [Answer::Pass]);
    assert_eq!(b.holding(), 1, "b reads the keys on its tick");
    assert_eq!(b.tick(), []);
    assert_eq!(b.answered(), [Answer::Pass]);
    assert_eq!(proxy.host.sent_count(), 1);
    assert_eq!(
        proxy.state(),
        FetchState {
            last_attempt_ms: proxy.now() - 300,
            ..FetchState::default()
        }
    );
}

/// e2e_rotation: the key server rotates to keys of every family; the first new
/// `kid` on each VM asks for one refetch (the second VM waits for the first's),
/// and every new key then passes on both VMs with no further fetch.
#[test]
fn a_rotated_key_works_on_both_vms_with_one_refetch() {
    let proxy = Proxy::new(two_providers_on(ISSUER, keys_at(2_000, 300)));
    let before = [TestKey::Rsa1, TestKey::Ec256];
    let after = [TestKey::Rsa2, TestKey::Ec384, TestKey::Ed];
    let (mut a, mut b) = warmed_up(&proxy, &before);
    assert_eq!(a.request(&token(TestKey::Rsa2)), Answer::Held, "a asks");
    assert!(proxy.state().refetch);
    assert_eq!(
        b.request(&admin_token(TestKey::Ed)),
        Answer::Held,
        "b waits for the refetch a asked for, not refused by its rate limit"
    );
    assert_eq!(tick_both(&mut a, &mut b), []);
    assert_eq!(proxy.host.sent_count(), 2);
    let sent = proxy.host.last_sent();
    assert_eq!(
        a.reply(&sent, jwks_reply(&after)),
        Taken::Reply(Some(FETCHED))
    );
    assert_eq!(a.answered(), [Answer::Pass]);
    b.tick();
    assert_eq!(b.answered(), [Answer::Pass]);
    for _ in 0..3 {
        for key in after {
            for vm in [&mut a, &mut b] {
                assert_eq!(vm.request(&token(key)), Answer::Pass, "{key:?}");
                assert_eq!(vm.request(&admin_token(key)), Answer::Pass, "{key:?}");
            }
        }
        tick_both(&mut a, &mut b);
    }
    assert_eq!(proxy.host.sent_count(), 2, "one refetch, no more");
}

/// The race e2e_rotation guards against: `a` fetched the rotated keys, `b` has
/// not ticked since and its copy is stale. A refusal for an unknown `kid` on
/// `b` reads shared data first and passes, rather than being refused by the
/// refetch rate limit that `a`'s refetch just set.
#[test]
fn a_vm_rereads_the_shared_keys_before_it_refuses_an_unknown_kid() {
    let proxy = Proxy::new(one_provider(keys_at(2_000, 300)));
    let (mut a, mut b) = warmed_up(&proxy, &[TestKey::Rsa1]);
    let new = token(TestKey::Rsa2);
    assert_eq!(a.request(&new), Answer::Held);
    a.tick();
    let sent = proxy.host.last_sent();
    a.reply(&sent, jwks_reply(&[TestKey::Rsa1, TestKey::Rsa2]));
    assert_eq!(a.answered(), [Answer::Pass]);
    // b has not ticked: its copy lacks rsa-2, and a refetch was made just now.
    assert_eq!(b.request(&new), Answer::Pass, "b read shared data first");
    assert_eq!(proxy.host.sent_count(), 2, "no refetch for b");
    // A kid that no set has is still refused, at once (rate limit).
    let unknown = Bearer::orders(keys::sign(
        "RS256",
        TestKey::Rsa1,
        json!({"kid": "nope"}),
        claims(json!({})),
    ));
    assert_eq!(b.request(&unknown), UNKNOWN_KID);
}

/// Missing keys too: `b`'s copy is empty until its tick, but a fetch ended and
/// stored keys; `b`'s request passes at once instead of waiting for a fetch.
#[test]
fn a_vm_rereads_the_shared_keys_before_it_refuses_for_missing_keys() {
    let proxy = Proxy::new(one_provider(keys_at(2_000, 300)));
    let (mut a, mut b) = (proxy.vm(), proxy.vm());
    a.tick();
    let sent = proxy.host.last_sent();
    a.reply(&sent, jwks_reply(&[TestKey::Rsa1]));
    assert_eq!(b.request(&token(TestKey::Rsa1)), Answer::Pass);
    assert_eq!(b.holding(), 0);
}

/// A held request let go because the fetch it waited for ended is decided with
/// the keys that fetch stored, even when its VM last read shared data just
/// before the store: the keys are read again before held requests are decided.
#[test]
fn a_held_request_is_decided_with_the_keys_its_fetch_stored() {
    let proxy = Proxy::new(one_provider(keys_at(2_000, 300)));
    let (mut a, mut b) = warmed_up(&proxy, &[TestKey::Rsa1]);
    let new = token(TestKey::Rsa2);
    assert_eq!(a.request(&new), Answer::Held, "asks for a refetch");
    assert_eq!(b.request(&new), Answer::Held, "waits for it");
    a.tick();
    let sent = proxy.host.last_sent();
    a.reply(&sent, jwks_reply(&[TestKey::Rsa1, TestKey::Rsa2]));
    assert_eq!(a.answered(), [Answer::Pass]);
    // b's tick read shared data just before a stored the keys; it settles now.
    b.settle();
    assert_eq!(b.answered(), [Answer::Pass]);
}

/// A VM whose callout outlived its lease: the other VM took the lease over and
/// stored newer keys. The late reply (older keys) is dropped, never stored,
/// and its VM's held request is decided with the keys the other VM stored.
#[test]
fn a_late_reply_after_its_lease_lapsed_is_dropped() {
    let proxy = Proxy::new(one_provider(keys_at(2_000, 300)));
    let (mut a, mut b) = warmed_up(&proxy, &[TestKey::Rsa1]);
    let new = token(TestKey::Rsa2);
    assert_eq!(a.request(&new), Answer::Held);
    a.tick();
    let late = proxy.host.last_sent();
    // a stalls past its lease (timeout 2 s + 1 s margin); b takes over.
    proxy.advance(2_999);
    assert_eq!(b.tick(), []);
    assert_eq!(proxy.host.sent_count(), 2, "the lease has not lapsed yet");
    proxy.advance(1);
    b.tick();
    assert_eq!(proxy.host.sent_count(), 3, "b took the lapsed lease over");
    let current = proxy.host.last_sent();
    assert_eq!(proxy.state().holder, b.fetcher.vm_id());
    // The late reply lands while b's fetch runs: dropped, and b's lease stands.
    assert_eq!(
        a.reply(&late, jwks_reply(&[TestKey::Rsa1])),
        Taken::Reply(None)
    );
    assert_eq!(proxy.state().holder, b.fetcher.vm_id());
    assert_eq!(proxy.state().failures, 0, "a dropped reply is no failure");
    assert_eq!(
        b.reply(&current, jwks_reply(&[TestKey::Rsa2])),
        Taken::Reply(Some(FETCHED))
    );
    a.tick();
    assert_eq!(a.answered(), [Answer::Pass], "decided with b's keys");
    assert_eq!(b.request(&new), Answer::Pass);
    assert!(proxy.shared_jwks().contains("rsa-2"));
}

/// The same after the other VM's fetch ended: the late reply (of the set before
/// the rotation) does not overwrite the newer keys.
#[test]
fn a_late_reply_after_another_fetch_stored_its_keys_is_dropped() {
    let proxy = Proxy::new(one_provider(keys_at(2_000, 300)));
    let (mut a, mut b) = warmed_up(&proxy, &[TestKey::Rsa1]);
    a.request(&token(TestKey::Rsa2));
    a.tick();
    let late = proxy.host.last_sent();
    proxy.advance(3_000);
    b.tick();
    let current = proxy.host.last_sent();
    b.reply(&current, jwks_reply(&[TestKey::Rsa2]));
    let stored = proxy.shared_jwks();
    assert_eq!(
        a.reply(&late, jwks_reply(&[TestKey::Rsa1])),
        Taken::Reply(None)
    );
    assert_eq!(proxy.shared_jwks(), stored, "the newer keys stay");
    assert!(!proxy.shared_jwks().contains("rsa-1"));
    assert_eq!(a.answered(), [Answer::Pass]);
    assert_eq!(b.request(&token(TestKey::Rsa2)), Answer::Pass);
}

/// The store is a compare-and-swap on the keys record as it was when the reply
/// was taken: keys another VM stored in between (a race between the read and
/// the write) are never overwritten.
#[test]
fn a_reply_loses_the_compare_and_swap_to_keys_stored_in_between() {
    let proxy = Proxy::new(one_provider(keys_at(2_000, 300)));
    let (mut a, _b) = warmed_up(&proxy, &[TestKey::Rsa1]);
    a.request(&token(TestKey::Rsa2));
    a.tick();
    let sent = proxy.host.last_sent();
    let key = proxy.host.key_ending(";keys").unwrap();
    let newer = KeysRecord {
        fetched_at_ms: proxy.now(),
        jwks: keys::jwks(&[TestKey::Rsa2]).to_string(),
    };
    proxy.host.before_next_write(";keys", move |other| {
        other.set(&key, &encode(&newer), None).unwrap();
    });
    assert_eq!(
        a.reply(&sent, jwks_reply(&[TestKey::Rsa1, TestKey::Ec256])),
        Taken::Reply(None)
    );
    assert_eq!(
        proxy.shared_jwks(),
        keys::jwks(&[TestKey::Rsa2]).to_string()
    );
    assert_eq!(a.answered(), [Answer::Pass], "decided with the keys stored");
}

/// A VM took the lease for the first fetch and died (no reply, no tick). The
/// other VM's requests wait; it takes the fetch over the moment the lease
/// lapses, and its held request passes before its deadline.
#[test]
fn a_lease_whose_vm_died_is_taken_over_when_it_lapses() {
    let proxy = Proxy::new(one_provider(keys_at(1_000, 300)));
    let (mut dead, mut b) = (proxy.vm(), proxy.vm());
    dead.tick();
    assert_eq!(proxy.state().holder, dead.fetcher.vm_id());
    let good = token(TestKey::Rsa1);
    assert_eq!(b.request(&good), Answer::Held, "a fetch is under way");
    let start = proxy.now();
    while proxy.host.sent_count() == 1 {
        proxy.advance(TICK_MS);
        b.tick();
        assert!(proxy.now() - start <= 2_000, "never taken over");
    }
    assert_eq!(proxy.now() - start, 1_000 + 1_000, "at the lease's end");
    assert_eq!(proxy.state().holder, b.fetcher.vm_id());
    assert_eq!(b.holding(), 1);
    let sent = proxy.host.last_sent();
    proxy.advance(50);
    b.reply(&sent, jwks_reply(&[TestKey::Rsa1]));
    assert_eq!(b.answered(), [Answer::Pass]);
    assert_eq!(
        dead.fetcher.calls().len(),
        1,
        "the dead VM's call never came back"
    );
}

/// e2e_remote_jwks `a_fetch_that_times_out_gives_503`: the held request is
/// answered 503 when the fetch fails, and requests right after it at once.
#[test]
fn a_first_fetch_that_fails_answers_503() {
    let proxy = Proxy::new(one_provider(keys_at(300, 300)));
    let (mut a, mut b) = (proxy.vm(), proxy.vm());
    let good = token(TestKey::Rsa1);
    assert_eq!(a.request(&good), Answer::Held);
    assert_eq!(b.request(&good), Answer::Held);
    tick_both(&mut a, &mut b);
    let sent = proxy.host.last_sent();
    proxy.advance(300);
    assert_eq!(a.reply(&sent, no_reply()), Taken::Reply(Some(FAILED)));
    assert_eq!(a.answered(), [KEYS_UNAVAILABLE]);
    b.tick();
    assert_eq!(b.answered(), [KEYS_UNAVAILABLE]);
    assert_eq!(a.request(&good), KEYS_UNAVAILABLE, "no wait right after");
    let state = proxy.state();
    assert_eq!((state.failures, state.holder), (1, 0));
    assert_eq!(state.next_attempt_ms, proxy.now() + 1_000);
}

/// Failed fetches back off (1 s doubling to 30 s) while no request asks; a
/// request after the key server's return asks for a fetch past the backoff, and
/// keys are back within a tick or two (e2e_remote_jwks
/// `keys_server_down_at_start_gives_503_then_recovers_without_restart`).
#[test]
fn keys_come_back_after_an_outage_past_the_backoff() {
    let proxy = Proxy::new(one_provider(keys_at(500, 300)));
    let (mut a, mut b) = (proxy.vm(), proxy.vm());
    let mut attempts = Vec::new();
    let start = proxy.now();
    while proxy.now() - start < 70_000 {
        let before = proxy.host.sent_count();
        a.tick();
        b.tick();
        if proxy.host.sent_count() > before {
            let sent = proxy.host.last_sent();
            attempts.push(proxy.now() - start);
            let vm = if a.fetcher.calls().is_empty() {
                &mut b
            } else {
                &mut a
            };
            assert_eq!(vm.reply(&sent, down()), Taken::Reply(Some(FAILED)));
        }
        proxy.advance(TICK_MS);
    }
    let gaps: Vec<u64> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(
        gaps,
        [1_000, 2_000, 4_000, 8_000, 16_000, BACKOFF_MAX_MS],
        "one VM fetches per attempt, backing off: {attempts:?}"
    );
    // The key server is back; the next attempt would be up to 30 s away.
    let good = token(TestKey::Rsa1);
    assert_eq!(a.request(&good), Answer::Held, "asks for a fetch now");
    assert!(proxy.state().wanted);
    assert_eq!(
        b.request(&good),
        Answer::Held,
        "waits for the one asked for"
    );
    tick_both(&mut a, &mut b);
    let sent = proxy.host.last_sent();
    let fetching = if a.fetcher.calls().is_empty() {
        &mut b
    } else {
        &mut a
    };
    assert_eq!(
        fetching.reply(&sent, jwks_reply(&[TestKey::Rsa1])),
        Taken::Reply(Some(FETCHED))
    );
    tick_both(&mut a, &mut b);
    assert_eq!(a.answered(), [Answer::Pass]);
    assert_eq!(b.answered(), [Answer::Pass]);
    assert_eq!(proxy.state().failures, 0);
}

/// e2e_key_sets `keys_come_back_within_a_second_or_so_of_the_key_servers_return`:
/// while requests flow through an outage they ask for a fetch at most once a
/// second across both VMs (no fetch storm), each refused 503; after the key
/// server's return the first request passes within about a second.
#[test]
fn under_traffic_keys_come_back_within_a_second_and_outages_cause_no_storm() {
    let proxy = Proxy::new(two_providers_on(ISSUER, keys_at(500, 300)));
    let (mut a, mut b) = (proxy.vm(), proxy.vm());
    let good = token(TestKey::Rsa1);
    let mut server_up = false;
    let mut first_pass = None;
    let start = proxy.now();
    let back_at = 10_000;
    while first_pass.is_none() && proxy.now() - start < back_at + 5_000 {
        server_up = server_up || proxy.now() - start >= back_at;
        for vm in [&mut a, &mut b] {
            match vm.request(&good) {
                Answer::Pass => first_pass = first_pass.or(Some(proxy.now() - start)),
                Answer::Held => {}
                other => assert_eq!(other, KEYS_UNAVAILABLE),
            }
        }
        let before = proxy.host.sent_count();
        tick_both(&mut a, &mut b);
        if proxy.host.sent_count() > before {
            let sent = proxy.host.last_sent();
            let vm = if a.fetcher.calls().is_empty() {
                &mut b
            } else {
                &mut a
            };
            let reply = if server_up {
                jwks_reply(&[TestKey::Rsa1])
            } else {
                down()
            };
            vm.reply(&sent, reply);
        }
        for answer in a.answered().into_iter().chain(b.answered()) {
            match answer {
                Answer::Pass => first_pass = first_pass.or(Some(proxy.now() - start)),
                other => assert_eq!(other, KEYS_UNAVAILABLE),
            }
        }
    }
    let first_pass = first_pass.expect("keys came back");
    assert!(
        first_pass <= back_at + 1_100,
        "first pass {} ms after the key server's return",
        first_pass - back_at
    );
    assert!(
        proxy.host.sent_count() as u64 <= back_at / 1_000 + 2,
        "{} fetches in {back_at} ms of outage",
        proxy.host.sent_count()
    );
}

/// e2e_remote_jwks `garbage_or_errors_after_a_good_set_keep_the_good_set`.
#[test]
fn garbage_or_errors_after_a_good_set_keep_the_good_set() {
    let proxy = Proxy::new(one_provider(keys_at(1_000, 1)));
    let (mut a, mut b) = warmed_up(&proxy, &[TestKey::Rsa1]);
    let good = token(TestKey::Rsa1);
    for reply in [
        text_reply(200, "<html>not keys</html>"),
        text_reply(200, r#"{"keys":[{"kty":"XYZ"}]}"#),
        text_reply(500, "oops"),
        down(),
        no_reply(),
    ] {
        let before = proxy.host.sent_count();
        while proxy.host.sent_count() == before {
            tick_both(&mut a, &mut b);
        }
        let sent = proxy.host.last_sent();
        let vm = if a.fetcher.calls().is_empty() {
            &mut b
        } else {
            &mut a
        };
        assert_eq!(vm.reply(&sent, reply), Taken::Reply(Some(FAILED)));
        assert_eq!(a.request(&good), Answer::Pass);
        assert_eq!(b.request(&good), Answer::Pass);
    }
    assert_eq!(proxy.state().failures, 5);
}

/// e2e_remote_jwks `a_flood_of_unknown_kids_causes_no_fetch_storm`: at most one
/// refetch per five seconds, every forged token refused.
#[test]
fn a_flood_of_unknown_kids_causes_no_fetch_storm() {
    let proxy = Proxy::new(one_provider(keys_at(2_000, 300)));
    let (mut a, mut b) = warmed_up(&proxy, &[TestKey::Rsa1]);
    let start = proxy.now();
    for n in 0..200 {
        let forged = Bearer::orders(keys::sign(
            "RS256",
            TestKey::Rsa1,
            json!({"kid": format!("random-{n}")}),
            claims(json!({})),
        ));
        let vm = if n % 2 == 0 { &mut a } else { &mut b };
        let answer = vm.request(&forged);
        assert!(matches!(answer, Answer::Held | UNKNOWN_KID), "{answer:?}");
        let before = proxy.host.sent_count();
        tick_both(&mut a, &mut b);
        if proxy.host.sent_count() > before {
            let sent = proxy.host.last_sent();
            let fetching = if a.fetcher.calls().is_empty() {
                &mut b
            } else {
                &mut a
            };
            fetching.reply(&sent, jwks_reply(&[TestKey::Rsa1]));
            tick_both(&mut a, &mut b);
        }
        for answer in a.answered().into_iter().chain(b.answered()) {
            assert_eq!(answer, UNKNOWN_KID);
        }
    }
    assert_eq!((a.holding(), b.holding()), (0, 0));
    let elapsed = proxy.now() - start;
    let refetches = proxy.host.sent_count() - 1;
    assert!(refetches >= 1, "an unknown kid asks for a refetch");
    assert!(
        refetches as u64 <= elapsed / 5_000 + 1,
        "{refetches} refetches in {elapsed} ms"
    );
}

/// e2e_remote_jwks `two_workers_share_one_fetch_per_refresh` and e2e_key_sets:
/// keys are refreshed at four fifths of their cache duration, by one VM, and a
/// rotation that a refresh brings reaches both providers on both VMs without a
/// refetch.
#[test]
fn two_vms_and_two_providers_share_one_fetch_per_refresh() {
    let proxy = Proxy::new(two_providers_on(ISSUER, keys_at(1_000, 2)));
    let (mut a, mut b) = warmed_up(&proxy, &[TestKey::Rsa1]);
    let start = proxy.now();
    let mut fetches = vec![0];
    while proxy.now() - start < 7_000 {
        let before = proxy.host.sent_count();
        tick_both(&mut a, &mut b);
        if proxy.host.sent_count() > before {
            fetches.push(proxy.now() - start);
            let sent = proxy.host.last_sent();
            let vm = if a.fetcher.calls().is_empty() {
                &mut b
            } else {
                &mut a
            };
            vm.reply(&sent, jwks_reply(&[TestKey::Ec256]));
        }
    }
    assert_eq!(proxy.host.sent_count(), fetches.len());
    // Ticks at 0, 100, ...: the refresh is due 1.6 s after each fetch, taken on
    // the tick after that (the clock moved on after the ticks).
    assert_eq!(fetches, [0, 1_700, 3_400, 5_100, 6_800]);
    for vm in [&mut a, &mut b] {
        assert_eq!(vm.request(&token(TestKey::Ec256)), Answer::Pass);
        assert_eq!(vm.request(&admin_token(TestKey::Ec256)), Answer::Pass);
    }
    assert_eq!(proxy.host.sent_count(), fetches.len(), "no refetch");
}

/// e2e_key_sets `discovery_finds_the_keys_and_refuses_a_document_for_another_issuer_or_host`:
/// the discovery document, then the key set it names, under one lease; a
/// document for another issuer or host is a failed fetch, and its key set is
/// never asked for.
#[test]
fn discovery_finds_the_keys_and_refuses_a_document_for_another_issuer_or_host() {
    let issuer = "http://idp.test";
    let config = |issuer: &str| {
        json!({"providers": [{"name": "idp", "issuer": issuer, "audiences": [AUDIENCE],
                              "remote_jwks": {"discovery": true, "cluster": "jwks"}}]})
    };
    let token = Bearer::orders(keys::sign_default(
        TestKey::Rsa1,
        claims(json!({"iss": issuer})),
    ));
    let proxy = Proxy::new(config(issuer));
    let (mut a, mut b) = (proxy.vm(), proxy.vm());
    assert_eq!(a.request(&token), Answer::Held);
    tick_both(&mut a, &mut b);
    let document = proxy.host.last_sent();
    assert_eq!(document.path, "/.well-known/openid-configuration");
    let named = json!({"issuer": issuer, "jwks_uri": "http://idp.test/oidc/jwks"});
    assert_eq!(a.reply(&document, json_reply(&named)), Taken::Reply(None));
    let keys = proxy.host.last_sent();
    assert_eq!(
        (keys.path.as_str(), keys.authority.as_str()),
        ("/oidc/jwks", "idp.test")
    );
    assert_eq!(
        proxy.state().holder,
        a.fetcher.vm_id(),
        "under a renewed lease"
    );
    assert_eq!(b.tick(), [], "b fetches nothing");
    assert_eq!(
        a.reply(&keys, jwks_reply(&[TestKey::Rsa1])),
        Taken::Reply(Some(FETCHED))
    );
    assert_eq!(a.answered(), [Answer::Pass]);
    assert_eq!(proxy.host.sent_count(), 2);

    for document in [
        json!({"issuer": "http://evil.test", "jwks_uri": "http://idp.test/oidc/jwks"}),
        json!({"issuer": issuer, "jwks_uri": "http://keys.elsewhere.test/oidc/jwks"}),
    ] {
        let proxy = Proxy::new(config(issuer));
        let mut a = proxy.vm();
        assert_eq!(a.request(&token), Answer::Held);
        a.tick();
        let sent = proxy.host.last_sent();
        assert_eq!(
            a.reply(&sent, json_reply(&document)),
            Taken::Reply(Some(FAILED))
        );
        assert_eq!(a.answered(), [KEYS_UNAVAILABLE], "{document}");
        assert_eq!(
            proxy.host.sent_count(),
            1,
            "no key set asked for: {document}"
        );
    }
}

/// e2e_remote_jwks `every_fetch_failure_says_what_happened` (no such cluster):
/// a callout the proxy will not send is a failed fetch, and it backs off.
#[test]
fn a_callout_the_proxy_will_not_send_is_a_failed_fetch() {
    let proxy = Proxy::new(one_provider(keys_at(2_000, 300)));
    proxy.host.remove_cluster("jwks");
    let (mut a, mut b) = (proxy.vm(), proxy.vm());
    assert_eq!(a.request(&token(TestKey::Rsa1)), Answer::Held);
    assert_eq!(tick_both(&mut a, &mut b), [FAILED]);
    assert_eq!(a.answered(), [KEYS_UNAVAILABLE]);
    assert_eq!(proxy.host.sent_count(), 0);
    assert!(a.fetcher.calls().is_empty());
    let state = proxy.state();
    assert_eq!((state.failures, state.holder), (1, 0));
    assert_eq!(tick_both(&mut a, &mut b), [], "backing off");
}

/// A key set the proxy will not store is a failed fetch (the previous keys
/// stay); once it stores again, the next fetch succeeds.
#[test]
fn a_key_set_the_proxy_will_not_store_is_a_failed_fetch() {
    let proxy = Proxy::new(one_provider(keys_at(2_000, 300)));
    let (mut a, mut b) = (proxy.vm(), proxy.vm());
    proxy.host.refuse_writes(";keys");
    a.tick();
    let sent = proxy.host.last_sent();
    assert_eq!(
        a.reply(&sent, jwks_reply(&[TestKey::Rsa1])),
        Taken::Reply(Some(FAILED))
    );
    assert_eq!(proxy.state().failures, 1);
    proxy.host.accept_writes();
    proxy.advance(1_000);
    tick_both(&mut a, &mut b);
    let sent = proxy.host.last_sent();
    assert_eq!(
        a.reply(&sent, jwks_reply(&[TestKey::Rsa1])),
        Taken::Reply(Some(FETCHED))
    );
    assert_eq!(a.request(&token(TestKey::Rsa1)), Answer::Pass);
}

/// Many VMs started at once each get their own id, the lease goes to one, and
/// a VM started after the keys were fetched reads them without a fetch.
#[test]
fn each_vm_gets_its_own_id_and_a_late_vm_reads_the_keys_it_finds() {
    let proxy = Proxy::new(one_provider(keys_at(2_000, 300)));
    let mut vms: Vec<Vm> = (0..4).map(|_| proxy.vm()).collect();
    for vm in &mut vms {
        vm.tick();
    }
    let ids: Vec<u32> = vms.iter().map(|vm| vm.fetcher.vm_id()).collect();
    assert_eq!(ids, [1, 2, 3, 4]);
    assert_eq!(proxy.host.sent_count(), 1);
    let sent = proxy.host.last_sent();
    vms[0].reply(&sent, jwks_reply(&[TestKey::Rsa1]));
    let mut late = proxy.vm();
    assert_eq!(late.tick(), []);
    assert_eq!(late.request(&token(TestKey::Rsa1)), Answer::Pass);
    assert_eq!(proxy.host.sent_count(), 1);
}
