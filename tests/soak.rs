//! `make soak` (`cargo test --test soak`; not part of `cargo test`): one Envoy with
//! two workers under a steady load of distinct tokens while the IdP rotates its
//! keys every 30 s and fails one JWKS fetch in five, on loopback, for SOAK_SECONDS
//! (default 300) at SOAK_RATE requests/s (default 200).
//!
//! Every request's outcome is known when it is sent: valid tokens (new ones, and
//! repeats the token cache answers) 200, another audience 403, expired 401, forged
//! signature 401, and tokens of a key retired at least 20 s ago 401. Rotation is
//! the careful kind: a key is published one period before it signs and retired one
//! period after, so every set the filter can hold verifies every valid token; a
//! rotation waits for requests in flight, so no token outlives its key mid-request.
//!
//! Fails (exit 1) on any wrong decision (a 503 for a valid token counts as an
//! outage instead while the last fetch had failed), on a refused request reaching
//! the upstream, on RSS growth over 5 % from warm-up (30 s) to the end, on
//! transport errors, or if no rotation or failed fetch happened.
//!
//! The same run drives the outbound direction in parallel (tests/soak/outbound.rs):
//! the caller's Envoy, two workers, exchanging distinct subject tokens for two
//! destinations at SOAK_RATE/2 while the token service refuses, fails or stalls
//! one callout in five and rotates its signing key every 30 s; every answer is
//! judged against what the token service did for that token, and every request
//! the callee's upstream records is checked for the original token.
//!
//! And opaque tokens (tests/soak/opaque.rs): an Envoy with two workers whose
//! provider asks the test introspection endpoint about each token, at
//! SOAK_RATE/4, while the endpoint fails or stalls one callout in five and a
//! recent token is revoked every second; every answer is judged against what the
//! endpoint knew and did (a revoked token passes only within cache_duration_s).
//!
//! Prints a report and writes it as JSON to `target/soak.json`.

mod support;

#[path = "soak/connection.rs"]
mod connection;
#[path = "soak/opaque.rs"]
mod opaque;
#[path = "soak/outbound.rs"]
mod outbound;
#[path = "soak/pace.rs"]
mod pace;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::cases::{claims, AUDIENCE, ISSUER};
use support::envoy::{envoy_bin, vm_failures};
use support::keys::{self, TestKey};
use support::{prometheus, Envoy, Reply, Upstream};

use connection::Connection;
use pace::Pace;

/// How often the IdP rotates: publishes a key, starts signing with the one
/// published a period ago, retires the one before.
const ROTATE_EVERY: Duration = Duration::from_secs(30);
/// The keys in the order they take turns (RSA, EC and Ed25519).
const ROTATION: [TestKey; 6] = [
    TestKey::Rsa1,
    TestKey::Ec256,
    TestKey::Rsa2,
    TestKey::Ec384,
    TestKey::Demo,
    TestKey::Ed,
];
/// Every this many-th JWKS request is answered 503.
const FAIL_EVERY: u64 = 5;
/// `remote_jwks.cache_duration_s`: refreshed after 8 s.
const CACHE_DURATION_S: u64 = 10;
/// After this long every VM has refreshed past a retired key (8 s refresh, one
/// failed fetch and its retry at most), so its tokens must get 401.
const RETIRED_AFTER: Duration = Duration::from_secs(20);
/// RSS is first read after this long under load.
const WARMUP: Duration = Duration::from_secs(30);
/// Most RSS growth allowed from warm-up to the end.
const MAX_RSS_GROWTH_PCT: f64 = 5.0;
/// How long a 503 for a valid token still counts as an outage after the fetch
/// that ended it (the other worker reads new keys on its next 100 ms tick).
const OUTAGE_MARGIN: Duration = Duration::from_secs(1);
/// Client threads, each with one keep-alive connection.
const CLIENTS: usize = 8;
/// Recent valid tokens per period kept for repeats.
const RECENT: usize = 64;
/// Wrong decisions described in full in the report.
const SHOWN: usize = 20;

/// What a request carries, and so what it must get.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// A new valid token (unique `sub` and `jti`), signed by the current key.
    Valid,
    /// A valid token of this period sent again.
    Repeat,
    /// Signed by the current key, for `payments.svc`.
    WrongAudience,
    /// Signed by the current key, expired an hour ago.
    Expired,
    /// The current key's header and signature over another payload.
    Forged,
    /// A valid token of the previous period, whose key is retired.
    Retired,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Valid,
        Kind::Repeat,
        Kind::WrongAudience,
        Kind::Expired,
        Kind::Forged,
        Kind::Retired,
    ];

    fn expected(self) -> u16 {
        match self {
            Kind::Valid | Kind::Repeat => 200,
            Kind::WrongAudience => 403,
            Kind::Expired | Kind::Forged | Kind::Retired => 401,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Valid => "valid",
            Kind::Repeat => "repeat",
            Kind::WrongAudience => "wrong_audience",
            Kind::Expired => "expired",
            Kind::Forged => "forged",
            Kind::Retired => "retired",
        }
    }

    fn is_valid(self) -> bool {
        self.expected() == 200
    }
}

/// Share of each kind in 100 requests (Retired only late in a period, else Repeat).
const MIX: [(Kind, u32); 6] = [
    (Kind::Valid, 30),
    (Kind::Repeat, 25),
    (Kind::WrongAudience, 15),
    (Kind::Expired, 10),
    (Kind::Forged, 15),
    (Kind::Retired, 5),
];

/// One rotation period of the IdP, as the clients see it.
struct Period {
    index: usize,
    started: Instant,
    /// Valid tokens of this period that got 200, for repeats.
    recent: Mutex<Vec<String>>,
    /// Valid tokens of the previous period (their key is retired now).
    retired: Vec<String>,
}

impl Period {
    fn signer(&self) -> TestKey {
        ROTATION[self.index % ROTATION.len()]
    }
}

/// The keys served in period `index`: its signer and the next one.
fn served_set(index: usize) -> Value {
    let next = ROTATION[(index + 1) % ROTATION.len()];
    keys::jwks(&[ROTATION[index % ROTATION.len()], next])
}

/// The IdP's JWKS endpoint: the current set, every `FAIL_EVERY`-th answer a 503.
struct Idp {
    body: Mutex<String>,
    answers: AtomicU64,
    /// When each failed answer was given, and the next good one after it.
    outages: Mutex<Vec<(Instant, Option<Instant>)>>,
}

impl Idp {
    fn answer(&self) -> Reply {
        let n = self.answers.fetch_add(1, Ordering::SeqCst) + 1;
        let now = Instant::now();
        let mut outages = self.outages.lock().unwrap();
        if n.is_multiple_of(FAIL_EVERY) {
            outages.push((now, None));
            return Reply::text(503, "unavailable");
        }
        if let Some((_, end @ None)) = outages.last_mut() {
            *end = Some(now);
        }
        let mut reply = Reply::text(200, "");
        reply.headers = vec![("content-type".into(), "application/json".into())];
        reply.body = self.body.lock().unwrap().clone().into_bytes();
        reply
    }

    /// Whether a request between `sent` and `received` overlapped a failed fetch
    /// (from the failure to the next good answer, plus `OUTAGE_MARGIN`).
    fn in_outage(&self, sent: Instant, received: Instant) -> bool {
        let outages = self.outages.lock().unwrap();
        outages.iter().any(|(start, end)| {
            let end = end.map_or(received, |end| end + OUTAGE_MARGIN);
            *start <= received && sent <= end
        })
    }
}

/// A response that was not the expected one.
#[derive(Clone, Debug)]
struct Miss {
    kind: Kind,
    status: u16,
    body: String,
    sent: Instant,
    received: Instant,
    period: usize,
    /// The token's `kid`.
    kid: String,
    into_period: Duration,
}

/// What one client saw.
#[derive(Default)]
struct Tally {
    /// (kind, status) → count; status 0 is a transport error.
    statuses: BTreeMap<(Kind, u16), u64>,
    misses: Vec<Miss>,
    latencies_us: Vec<u32>,
    errors: Vec<String>,
}

/// xorshift64: the kind mix, reproducible per client.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % u64::from(n)) as u32
    }
}

/// Claims of a valid token unique to (client, seq).
fn unique_claims(client: usize, seq: u64, extra: Value) -> Value {
    let id = format!("c{client}-{seq}");
    let unique = json!({"sub": format!("user-{id}"), "jti": id});
    claims(keys::merged(unique, &extra))
}

/// The kind to send next and its token.
fn next_token(rng: &mut Rng, period: &Period, client: usize, seq: u64) -> (Kind, String) {
    let mut roll = rng.below(100);
    let mut kind = Kind::Valid;
    for (candidate, share) in MIX {
        if roll < share {
            kind = candidate;
            break;
        }
        roll -= share;
    }
    if kind == Kind::Retired
        && (period.retired.is_empty() || period.started.elapsed() < RETIRED_AFTER)
    {
        kind = Kind::Repeat;
    }
    let pick = |tokens: &[String], rng: &mut Rng| {
        let n = u32::try_from(tokens.len()).unwrap();
        (n > 0).then(|| tokens[rng.below(n) as usize].clone())
    };
    if kind == Kind::Retired {
        return (kind, pick(&period.retired, rng).unwrap());
    }
    if kind == Kind::Repeat {
        let recent = period.recent.lock().unwrap().clone();
        if let Some(token) = pick(&recent, rng) {
            return (kind, token);
        }
        kind = Kind::Valid;
    }
    let signer = period.signer();
    let now = keys::now();
    let token = match kind {
        Kind::WrongAudience => json!({"aud": "payments.svc"}),
        Kind::Expired => json!({"exp": now - 3600, "iat": now - 7200}),
        _ => json!({}),
    };
    let token = keys::sign_default(signer, unique_claims(client, seq, token));
    if kind == Kind::Forged {
        // another unique payload under this header and signature
        let other = unique_claims(client, seq, json!({"sub": "admin"}));
        let parts: Vec<&str> = token.split('.').collect();
        let payload = keys::b64(other.to_string().as_bytes());
        return (kind, format!("{}.{payload}.{}", parts[0], parts[2]));
    }
    (kind, token)
}

/// Keeps a valid token for repeats, replacing an older one once there are `RECENT`.
fn remember(recent: &Mutex<Vec<String>>, token: String, seq: u64) {
    let mut recent = recent.lock().unwrap();
    if recent.len() < RECENT {
        recent.push(token);
    } else {
        recent[(seq as usize) % RECENT] = token;
    }
}

/// The `kid` of a token's header.
fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap_or_default();
    let header: Value = serde_json::from_slice(&keys::b64_decode(header)).unwrap();
    header["kid"].as_str().unwrap_or_default().to_owned()
}

/// One client: requests at `interval` until `end`, each under the current period.
fn client(
    index: usize,
    port: u16,
    periods: &RwLock<Period>,
    interval: Duration,
    end: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut connection = Connection::new(port);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (index as u64 + 1));
    let mut pace = Pace::new(index, CLIENTS, interval, end);
    let mut seq = 0;
    while pace.wait() {
        seq += 1;
        // held for the whole request: a rotation waits until it is answered
        let period = periods.read().unwrap();
        let (kind, token) = next_token(&mut rng, &period, index, seq);
        let path = format!("/soak/{}/c{index}-{seq}", kind.name());
        let sent = Instant::now();
        let result = connection.get(&path, "orders.test", &token);
        let received = Instant::now();
        let latency = u32::try_from((received - sent).as_micros()).unwrap_or(u32::MAX);
        tally.latencies_us.push(latency);
        let status = match result {
            Ok((status, body)) => {
                if status != kind.expected() {
                    tally.misses.push(Miss {
                        kind,
                        status,
                        body: body.chars().take(120).collect(),
                        sent,
                        received,
                        period: period.index,
                        kid: kid_of(&token),
                        into_period: sent - period.started,
                    });
                } else if kind == Kind::Valid {
                    remember(&period.recent, token, seq);
                }
                status
            }
            Err(error) => {
                tally.errors.push(format!("{path}: {error}"));
                0
            }
        };
        *tally.statuses.entry((kind, status)).or_default() += 1;
    }
    tally
}

/// Rotates every `ROTATE_EVERY` until `stop` is dropped; the rotations made.
fn rotator(periods: &RwLock<Period>, idp: &Idp, stop: &mpsc::Receiver<()>) -> usize {
    let mut rotations = 0;
    let mut next = Instant::now() + ROTATE_EVERY;
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        if stop.recv_timeout(wait) != Err(RecvTimeoutError::Timeout) {
            return rotations;
        }
        next += ROTATE_EVERY;
        let mut period = periods.write().unwrap();
        let index = period.index + 1;
        let retired = std::mem::take(&mut *period.recent.lock().unwrap());
        *period = Period {
            index,
            started: Instant::now(),
            recent: Mutex::new(Vec::new()),
            retired,
        };
        *idp.body.lock().unwrap() = served_set(index).to_string();
        rotations += 1;
    }
}

/// VmRSS of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Every `audgate` series of `/stats/prometheus`, keyed as Prometheus prints it,
/// e.g. `audgate_requests_total{provider="soak-idp",outcome="allowed",reason="none"}`.
/// Read once the request series count all `answered` requests (audgate flushes
/// its counts on its 100 ms tick), or after 10 s.
fn stats(envoy: &Envoy, answered: u64) -> BTreeMap<String, u64> {
    let body = envoy.admin_until("/stats/prometheus", |body| {
        prometheus::all_counted(body, answered)
    });
    prometheus::audgate_series(&body)
}

/// Checks what reached the upstream: every request must be one of a valid kind.
/// Returns (valid ones seen, paths of refused kinds that got through).
fn drain_upstream(upstream: &Upstream) -> (u64, Vec<String>) {
    let mut leaks = Vec::new();
    let mut valid = 0;
    for request in upstream.take() {
        let kind = request.path.split('/').nth(2).unwrap_or_default();
        if kind == Kind::Valid.name() || kind == Kind::Repeat.name() {
            valid += 1;
        } else {
            leaks.push(request.path);
        }
    }
    (valid, leaks)
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a number"))
    })
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|out| String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned())
        .unwrap_or_default()
}

/// `1.40.0` out of `envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL`.
fn envoy_version() -> String {
    let text = output(envoy_bin().to_str().unwrap(), &["--version"]);
    let build = text.split("version: ").nth(1).unwrap_or_default();
    build.split('/').nth(1).unwrap_or("unknown").to_owned()
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).map_or(0.0, |us| f64::from(*us) / 1000.0)
}

/// Runs the soak; the report, with `"passed"` and the reasons it failed.
fn soak(seconds: u64, rate: u64) -> Value {
    let started_at = output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]);
    let idp = Arc::new(Idp {
        body: Mutex::new(served_set(0).to_string()),
        answers: AtomicU64::new(0),
        outages: Mutex::new(Vec::new()),
    });
    let idp_server = {
        let idp = idp.clone();
        Upstream::serve(0, move |_| idp.answer())
    };
    let upstream = Upstream::start();
    let config = json!({"providers": [{
        "name": "soak-idp",
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "remote_jwks": {
            "uri": "http://idp.test/.well-known/jwks.json",
            "cluster": "jwks",
            "cache_duration_s": CACHE_DURATION_S,
            "timeout_ms": 2000,
        },
    }]});
    let envoy = Envoy::builder(&config, upstream.port())
        .jwks_port(idp_server.port())
        .concurrency(2)
        .start();
    let pid = envoy.pid();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert_eq!(comm.trim(), "envoy", "pid {pid} is not Envoy");

    // cold start: the first request waits for the first fetch
    let probe = keys::sign_default(ROTATION[0], unique_claims(usize::MAX, 0, json!({})));
    let (status, body) = Connection::new(envoy.port())
        .get("/soak/valid/probe", "orders.test", &probe)
        .unwrap();
    assert_eq!(status, 200, "the first valid token: {body}");
    upstream.take();
    // the outbound direction: its chain started and probed before the load begins
    let outbound = outbound::Outbound::start((rate / 2).max(1));
    // opaque tokens through introspection: their Envoy and endpoint, likewise
    let opaque = opaque::Opaque::start((rate / 4).max(1));

    let periods = Arc::new(RwLock::new(Period {
        index: 0,
        started: Instant::now(),
        recent: Mutex::new(Vec::new()),
        retired: Vec::new(),
    }));
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let warmup = WARMUP.min(Duration::from_secs(seconds / 2));
    let outbound = std::thread::spawn(move || outbound.run(start, end, warmup));
    let opaque = std::thread::spawn(move || opaque.run(start, end, warmup));
    let interval = Duration::from_secs_f64(CLIENTS as f64 / rate as f64);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|index| {
            let (periods, port) = (periods.clone(), envoy.port());
            std::thread::spawn(move || client(index, port, &periods, interval, end))
        })
        .collect();
    let (stop, stopped) = mpsc::channel::<()>();
    let rotations = {
        let (periods, idp) = (periods.clone(), idp.clone());
        std::thread::spawn(move || rotator(&periods, &idp, &stopped))
    };

    // under load: drain the upstream each second, read RSS after warm-up and every 30 s
    let (mut upstream_valid, mut leaks) = (0, Vec::new());
    let mut rss_samples = Vec::new();
    let mut rss_warm = None;
    while Instant::now() < end {
        std::thread::sleep(
            Duration::from_secs(1).min(end.saturating_duration_since(Instant::now())),
        );
        let (valid, leaked) = drain_upstream(&upstream);
        upstream_valid += valid;
        leaks.extend(leaked);
        let elapsed = start.elapsed();
        if rss_warm.is_none() && elapsed >= warmup {
            rss_warm = Some(rss_kib(pid));
        }
        if rss_samples.len() as u64 <= elapsed.as_secs() / 30 {
            rss_samples.push(json!({"s": elapsed.as_secs(), "rss_kib": rss_kib(pid)}));
        }
    }
    let tallies: Vec<Tally> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let rss_end = rss_kib(pid);
    drop(stop);
    let rotations = rotations.join().unwrap();
    let (valid, leaked) = drain_upstream(&upstream);
    upstream_valid += valid;
    leaks.extend(leaked);
    let answered: u64 = tallies
        .iter()
        .map(|tally| tally.statuses.values().sum::<u64>())
        .sum();
    // +1: the cold-start probe, counted too
    let stats = stats(&envoy, answered + 1);
    let log = envoy.log();
    let vm_failures: Vec<String> = vm_failures(&log).iter().map(|l| l.to_string()).collect();
    drop(envoy);
    let outbound = outbound.join().unwrap();
    let opaque = opaque.join().unwrap();

    // tally
    let mut statuses: BTreeMap<(Kind, u16), u64> = BTreeMap::new();
    let (mut misses, mut errors, mut latencies) = (Vec::new(), Vec::new(), Vec::new());
    for tally in tallies {
        for (key, n) in tally.statuses {
            *statuses.entry(key).or_default() += n;
        }
        misses.extend(tally.misses);
        errors.extend(tally.errors);
        latencies.extend(tally.latencies_us);
    }
    latencies.sort_unstable();
    misses.sort_by_key(|m| m.sent);
    let (outages, wrong): (Vec<Miss>, Vec<Miss>) = misses
        .into_iter()
        .partition(|m| m.kind.is_valid() && m.status == 503 && idp.in_outage(m.sent, m.received));
    let valid_refused = wrong.iter().filter(|m| m.kind.is_valid()).count();
    let requests: u64 = statuses.values().sum();
    let valid_ok: u64 = statuses
        .iter()
        .filter(|((kind, status), _)| kind.is_valid() && *status == 200)
        .map(|(_, n)| n)
        .sum();
    let by_kind: serde_json::Map<String, Value> = Kind::ALL
        .iter()
        .map(|kind| {
            let seen: BTreeMap<String, u64> = statuses
                .iter()
                .filter(|((k, _), _)| k == kind)
                .map(|((_, status), n)| (status.to_string(), *n))
                .collect();
            let sent: u64 = seen.values().sum();
            let value = json!({"sent": sent, "expected": kind.expected(), "statuses": seen});
            (kind.name().to_owned(), value)
        })
        .collect();
    let stat = |series: &str| stats.get(series).copied();
    let decided = |outcome: &str, reason: &str| {
        format!(
            r#"audgate_requests_total{{provider="soak-idp",outcome="{outcome}",reason="{reason}"}}"#
        )
    };
    let answered = |kinds: &[Kind], status: u16| -> u64 {
        kinds
            .iter()
            .map(|k| statuses.get(&(*k, status)).copied().unwrap_or(0))
            .sum()
    };
    // Envoy's counters against what the clients saw (+1: the cold-start probe)
    let counted = [
        (decided("allowed", "none"), valid_ok + 1),
        (
            decided("denied", "audience"),
            answered(&[Kind::WrongAudience], 403),
        ),
        (
            decided("denied", "expired"),
            answered(&[Kind::Expired], 401),
        ),
        (
            decided("denied", "signature"),
            answered(&[Kind::Forged, Kind::Retired], 401),
        ),
    ];
    let stats_disagree: Vec<String> = counted
        .iter()
        .filter(|(name, seen)| stat(name) != Some(*seen))
        .map(|(name, seen)| format!("{name}: stats {:?}, clients {seen}", stat(name)))
        .collect();
    let server_fetches = idp.answers.load(Ordering::SeqCst);
    let server_failures = server_fetches / FAIL_EVERY;
    let rss_warm = rss_warm.unwrap_or(rss_end);
    let growth = (rss_end as f64 - rss_warm as f64) * 100.0 / rss_warm as f64;

    let mut failures = Vec::new();
    if !wrong.is_empty() {
        failures.push(format!("{} wrong decision(s)", wrong.len()));
    }
    if valid_refused > 0 {
        failures.push(format!(
            "{valid_refused} valid token(s) refused outside an outage"
        ));
    }
    if !leaks.is_empty() {
        failures.push(format!(
            "{} refused request(s) reached the upstream",
            leaks.len()
        ));
    }
    if upstream_valid != valid_ok {
        failures.push(format!(
            "the upstream saw {upstream_valid} valid requests, the clients {valid_ok} 200s"
        ));
    }
    if growth > MAX_RSS_GROWTH_PCT {
        failures.push(format!(
            "RSS grew {growth:.1} % (limit {MAX_RSS_GROWTH_PCT} %)"
        ));
    }
    if !errors.is_empty() {
        failures.push(format!("{} transport error(s)", errors.len()));
    }
    if !stats_disagree.is_empty() {
        failures.push(format!(
            "Envoy's counters disagree: {}; every audgate series:\n{}",
            stats_disagree.join("; "),
            prometheus::table(&stats)
        ));
    }
    if !vm_failures.is_empty() {
        failures.push(format!(
            "{} wasm VM failure line(s) in the log",
            vm_failures.len()
        ));
    }
    if rotations == 0 || server_failures == 0 {
        failures.push(format!(
            "not exercised: {rotations} rotation(s), {server_failures} failed fetch(es)"
        ));
    }
    for failure in opaque["failures"].as_array().unwrap() {
        failures.push(format!("introspection: {}", failure.as_str().unwrap_or("")));
    }
    for failure in outbound["failures"].as_array().unwrap() {
        failures.push(format!(
            "outbound: {}",
            failure.as_str().unwrap_or_default()
        ));
    }
    let describe = |m: &Miss| {
        json!({
            "kind": m.kind.name(), "status": m.status, "expected": m.kind.expected(),
            "at_s": (m.sent - start).as_secs_f64(), "latency_ms": (m.received - m.sent).as_millis() as u64,
            "period": m.period, "kid": m.kid, "into_period_s": m.into_period.as_secs_f64(),
            "body": m.body,
        })
    };
    json!({
        "date": started_at.trim(),
        "envoy": envoy_version(),
        "seconds": seconds,
        "rate_per_s": rate,
        "clients": CLIENTS,
        "workers": 2,
        "requests": requests,
        "by_kind": by_kind,
        "wrong_decisions": wrong.len(),
        "valid_non2xx_outside_outage": valid_refused,
        "outage_503s": outages.len(),
        "transport_errors": errors.len(),
        "upstream": {"valid_seen": upstream_valid, "refused_seen": leaks.len()},
        "rss_kib": {"warm": rss_warm, "end": rss_end, "growth_pct": (growth * 100.0).round() / 100.0,
                    "warmup_s": warmup.as_secs(), "samples": rss_samples},
        "fetches": {
            "server": server_fetches,
            "server_failed": server_failures,
            "stats_success": stat(r#"audgate_jwks_fetches_total{jwks="soak-idp",result="success"}"#),
            "stats_failure": stat(r#"audgate_jwks_fetches_total{jwks="soak-idp",result="failure"}"#),
        },
        "rotations": rotations,
        "token_cache": {
            "hit": stat(r#"audgate_token_cache_total{provider="soak-idp",result="hit"}"#),
            "miss": stat(r#"audgate_token_cache_total{provider="soak-idp",result="miss"}"#),
        },
        "latency_ms": {"p50": percentile(&latencies, 0.5), "p99": percentile(&latencies, 0.99),
                       "max": percentile(&latencies, 1.0)},
        "stats": stats,
        "wrong": wrong.iter().take(SHOWN).map(describe).collect::<Vec<_>>(),
        "outages": outages.iter().take(SHOWN).map(describe).collect::<Vec<_>>(),
        "errors": errors.iter().take(SHOWN).collect::<Vec<_>>(),
        "leaks": leaks.iter().take(SHOWN).collect::<Vec<_>>(),
        "vm_failures": vm_failures,
        "outbound": outbound,
        "introspection": opaque,
        "failures": failures,
        "passed": failures.is_empty(),
    })
}

/// The report's headline figures, one per line.
fn print_report(report: &Value) {
    let r = report;
    println!(
        "soak: {} s at {}/s, {} clients, Envoy {} with {} workers ({})",
        r["seconds"],
        r["rate_per_s"],
        r["clients"],
        r["envoy"].as_str().unwrap_or(""),
        r["workers"],
        r["date"].as_str().unwrap_or("")
    );
    println!("requests: {}", r["requests"]);
    for kind in Kind::ALL.map(Kind::name) {
        let figures = &r["by_kind"][kind];
        println!(
            "  {kind:<15} {:>7} sent, expected {}: {}",
            figures["sent"], figures["expected"], figures["statuses"]
        );
    }
    println!(
        "wrong decisions: {} (valid refused outside an outage: {}); outage 503s: {}; transport errors: {}",
        r["wrong_decisions"], r["valid_non2xx_outside_outage"], r["outage_503s"], r["transport_errors"]
    );
    println!("upstream: {}", r["upstream"]);
    let rss = &r["rss_kib"];
    println!(
        "RSS: {} KiB after {} s warm-up, {} KiB at the end: {} %",
        rss["warm"], rss["warmup_s"], rss["end"], rss["growth_pct"]
    );
    println!("fetches: {}; rotations: {}", r["fetches"], r["rotations"]);
    println!(
        "token cache: {}; latency ms: {}",
        r["token_cache"], r["latency_ms"]
    );
    for miss in r["wrong"].as_array().unwrap() {
        println!("  wrong: {miss}");
    }
    for line in r["errors"].as_array().unwrap() {
        println!("  error: {line}");
    }
    outbound::print_report(&r["outbound"]);
    opaque::print_report(&r["introspection"]);
}

fn main() {
    let seconds = env_number("SOAK_SECONDS", 300);
    let rate = env_number("SOAK_RATE", 200).max(1);
    let report = soak(seconds, rate);
    print_report(&report);
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        std::path::PathBuf::from,
    );
    let path = target.join("soak.json");
    let text = serde_json::to_string_pretty(&report).unwrap() + "\n";
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    println!("report: {}", path.display());
    let failures = report["failures"].as_array().unwrap();
    if !failures.is_empty() {
        for failure in failures {
            println!("FAILED: {}", failure.as_str().unwrap_or(""));
        }
        std::process::exit(1);
    }
    println!("passed");
}
