//! The outbound half of `make soak`: a [`Chain`] (the token service, the callee's
//! Envoy and upstream, the caller's Envoy with two workers) under a steady load
//! of subject tokens (new ones, and repeats of recent ones to either destination)
//! through the caller's Envoy, while the token service refuses (`invalid_grant`),
//! fails (503) or stalls past the caller's timeout one callout in five and
//! rotates its signing key every 30 s (published a period before it signs; the
//! callee refreshes its keys every 8 s).
//!
//! Every answer is judged against what the token service did for that token and
//! destination (see `verdicts`): 0 wrong answers. Every request the upstream
//! records is checked: the original token in no header, path or body, its
//! `authorization` a token the service minted for that destination's audience,
//! for the subject, acting as the caller, down-scoped; one upstream request per
//! 200 and none for a refusal. The caller's RSS may grow at most 5 % from warm-up
//! to the end, and its `audgate_exchanges_total` must count the service's callouts.

mod forwarded;
mod verdicts;

use std::collections::{BTreeMap, HashSet};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::connection::Connection;
use crate::pace::Pace;
use crate::support::chain::{
    callee_config, shipped_outbound_config, sts_settings, subject_token, Chain,
};
use crate::support::envoy::vm_failures;
use crate::support::keys::{self, TestKey};
use crate::support::sts::{self, Fault, Sts, StsSettings};
use crate::support::{prometheus, Envoy};
use crate::{percentile, rss_kib, Rng, MAX_RSS_GROWTH_PCT, ROTATE_EVERY, SHOWN};
use forwarded::{Forwarded, Sent};
use verdicts::{Cause, Served, Verdicts, Windows};

/// One destination of the caller's configuration: the host its calls name (and
/// the audience asked for), and the scope asked for.
struct Destination {
    name: &'static str,
    host: &'static str,
    scope: &'static str,
}

/// Two hosts the caller routes to the one callee, which accepts both audiences.
const DESTINATIONS: [Destination; 2] = [
    Destination {
        name: "payments",
        host: "payments.demo.svc",
        scope: "payments:charge",
    },
    Destination {
        name: "ledger",
        host: "ledger.demo.svc",
        scope: "ledger:read",
    },
];
/// The scope of every subject token: more than either destination asks for.
const SUBJECT_SCOPE: &str = "orders:read payments:charge ledger:read";
/// Workers of the caller's Envoy.
const WORKERS: u32 = 2;
/// The caller's callout timeout (`exchange.timeout_ms`); a stall lasts a second longer.
const TIMEOUT: Duration = Duration::from_millis(1000);
/// Every this many-th callout gets the next fault of `Fault::rotation`.
const FAULT_EVERY: usize = 5;
/// The token service's signing keys in turn (not rsa-1, the subject tokens' key).
const STS_KEYS: [TestKey; 5] = [
    TestKey::Ec256,
    TestKey::Rsa2,
    TestKey::Ec384,
    TestKey::Ed,
    TestKey::Demo,
];
/// The callee's `remote_jwks.cache_duration_s`: refreshed after 8 s, so a key
/// published a period ahead is there before it signs.
const CALLEE_CACHE_S: u64 = 10;
/// Life of an exchanged token: the caller uses it for half of it (the margin is
/// 30 s or half the life), then exchanges again.
const LIFETIME: Duration = Duration::from_secs(60);
const USED_FOR: Duration = Duration::from_secs(30);
/// How an answer is judged (see `verdicts`): the slack covers an answer's way
/// back through Envoy and the caller keeping tokens to the second.
const WINDOWS: Windows = Windows {
    used_for: USED_FOR,
    timeout: TIMEOUT,
    slack: Duration::from_secs(2),
};
/// Client threads, each with one keep-alive connection (a stalled callout holds
/// its client for the timeout, so more than the inbound side has).
const CLIENTS: usize = 16;
/// Share of new subject tokens in 100 requests; the rest repeat a recent one.
const NEW_SHARE: u32 = 35;
/// Recent subject tokens kept for repeats.
const RECENT: usize = 128;
/// Subject tokens live this long: longer than any run, so only the exchanged
/// token's life limits the cache.
const SUBJECT_LIFE_S: u64 = 6 * 3600;

/// One subject token the calling workload holds.
struct Subject {
    token: String,
    /// Its SHA-256, as the token service records it.
    sha: String,
    /// Its signature, which no upstream request may hold either.
    signature: String,
    sub: String,
}

impl Subject {
    fn new(id: &str) -> Subject {
        let sub = format!("user-{id}");
        let exp = keys::now() + SUBJECT_LIFE_S;
        let claims = json!({"sub": sub, "jti": id, "scope": SUBJECT_SCOPE, "exp": exp});
        let token = subject_token(claims);
        let signature = token.rsplit('.').next().unwrap_or_default().to_owned();
        Subject {
            sha: sts::sha256_hex(&token),
            token,
            signature,
            sub,
        }
    }
}

/// One request as a client sent it and what it got; status 0 is a transport error.
struct Outcome {
    id: String,
    subject: Arc<Subject>,
    destination: usize,
    repeat: bool,
    sent: Instant,
    received: Instant,
    status: u16,
    body: String,
}

/// What the clients and the upstream check share.
#[derive(Default)]
struct Shared {
    /// Every request sent, by id.
    sent: Sent,
    /// Recent subject tokens, for repeats.
    recent: Mutex<Vec<Arc<Subject>>>,
}

/// The outbound chain, started and probed, ready for load.
pub struct Outbound {
    chain: Chain,
    rate: u64,
    /// Requests sent before the load (one per destination), answered 200.
    probes: u64,
}

/// The caller's plugin configuration: envoy/outbound.yaml's, with the soak's
/// destinations and timeout.
fn caller_config() -> Value {
    let mut config = shipped_outbound_config();
    let destinations: Vec<Value> = DESTINATIONS
        .iter()
        .map(|d| json!({"hosts": [d.host], "audience": d.host, "scope": d.scope}))
        .collect();
    config["exchange"]["destinations"] = json!(destinations);
    config["exchange"]["timeout_ms"] = json!(TIMEOUT.as_millis() as u64);
    config
}

impl Outbound {
    /// Starts the chain, probes each destination once, then turns the faults on.
    pub fn start(rate: u64) -> Outbound {
        let settings = StsSettings {
            signing_key: STS_KEYS[0],
            lifetime: LIFETIME,
            ..sts_settings()
        };
        let mut callee = callee_config(&settings.issuer);
        callee["providers"][0]["audiences"] = json!(DESTINATIONS.map(|d| d.host));
        callee["providers"][0]["remote_jwks"]["cache_duration_s"] = json!(CALLEE_CACHE_S);
        let chain = Chain::start_with_callee(&caller_config(), &callee, settings, WORKERS);
        chain.sts.publish(STS_KEYS[1]);
        let mut connection = Connection::new(chain.caller.port());
        for (index, destination) in DESTINATIONS.iter().enumerate() {
            let probe = Subject::new(&format!("probe-{index}"));
            let path = format!("/soak-out/{}/probe", destination.name);
            let (status, body) = connection
                .get(&path, destination.host, &probe.token)
                .unwrap();
            assert_eq!(
                status, 200,
                "the outbound probe to {}: {body}",
                destination.host
            );
        }
        chain.upstream.take();
        chain.sts.fault_every(FAULT_EVERY, Fault::rotation(TIMEOUT));
        Outbound {
            chain,
            rate,
            probes: DESTINATIONS.len() as u64,
        }
    }

    /// Runs the load from `start` to `end`; RSS is read after `warmup`. The
    /// report's `outbound` section, with its `failures`.
    pub fn run(self, start: Instant, end: Instant, warmup: Duration) -> Value {
        let chain = &self.chain;
        let pid = chain.caller.pid();
        let shared = Shared::default();
        let interval = Duration::from_secs_f64(CLIENTS as f64 / self.rate as f64);
        let mut forwarded = Forwarded::default();
        let mut rss = Rss::new(warmup);
        let (outcomes, rotations) = std::thread::scope(|scope| {
            let shared = &shared;
            let port = chain.caller.port();
            let clients: Vec<_> = (0..CLIENTS)
                .map(|index| scope.spawn(move || client(index, port, shared, interval, end)))
                .collect();
            let (stop, stopped) = mpsc::channel::<()>();
            let rotations = scope.spawn(move || rotator(&chain.sts, &stopped));
            // under load: check the upstream's requests each second, read RSS
            while Instant::now() < end {
                std::thread::sleep(
                    Duration::from_secs(1).min(end.saturating_duration_since(Instant::now())),
                );
                forwarded.drain(&chain.upstream, &shared.sent, &chain.sts);
                rss.sample(pid, start.elapsed());
            }
            let outcomes: Vec<Outcome> = clients
                .into_iter()
                .flat_map(|client| client.join().unwrap())
                .collect();
            drop(stop);
            (outcomes, rotations.join().unwrap())
        });
        rss.end = rss_kib(pid);
        forwarded.drain(&chain.upstream, &shared.sent, &chain.sts);
        self.report(start, outcomes, &rotations, &forwarded, &rss)
    }

    /// Judges every answer, reads the counters and logs, and makes the report.
    fn report(
        &self,
        start: Instant,
        outcomes: Vec<Outcome>,
        rotations: &[&str],
        forwarded: &Forwarded,
        rss: &Rss,
    ) -> Value {
        let chain = &self.chain;
        let record = chain.sts.requests();
        let judged = Judged::of(outcomes, &Verdicts::of(&record, WINDOWS), start);
        let served = Served::of(&record);
        let caller_stats = crate::stats(&chain.caller, judged.answered() + self.probes);
        let callee_stats = crate::stats(&chain.callee, forwarded.seen + self.probes);
        let exchanges = exchange_series(&caller_stats);
        let disagree = self.counters(&judged, &served, forwarded, &caller_stats, &callee_stats);
        let reached = forwarded.against(&judged.ok_ids);
        let vm_lines: Vec<String> = [("caller", &chain.caller), ("callee", &chain.callee)]
            .iter()
            .flat_map(|(side, envoy)| vm_lines(side, envoy))
            .collect();

        let mut failures = Vec::new();
        let mut fail = |broken: bool, what: String| {
            if broken {
                failures.push(what);
            }
        };
        fail(
            !judged.wrong.is_empty(),
            format!("{} wrong outcome(s)", judged.wrong.len()),
        );
        fail(
            !forwarded.violations.is_empty(),
            format!(
                "{} upstream request(s) broke the checks (the original token, the exchanged token)",
                forwarded.violations.len()
            ),
        );
        fail(
            !reached.not_ok.is_empty(),
            format!(
                "{} request(s) not answered 200 reached the upstream",
                reached.not_ok.len()
            ),
        );
        fail(
            !reached.missing.is_empty() || !reached.twice.is_empty(),
            format!(
                "{} 200(s) never reached the upstream, {} reached it more than once",
                reached.missing.len(),
                reached.twice.len()
            ),
        );
        fail(
            rss.growth() > MAX_RSS_GROWTH_PCT,
            format!(
                "the caller's RSS grew {:.1} % (limit {MAX_RSS_GROWTH_PCT} %)",
                rss.growth()
            ),
        );
        fail(
            !judged.errors.is_empty(),
            format!("{} transport error(s)", judged.errors.len()),
        );
        fail(
            !disagree.is_empty(),
            format!("counters disagree: {}", disagree.join("; ")),
        );
        fail(
            !vm_lines.is_empty(),
            format!("{} wasm VM failure line(s)", vm_lines.len()),
        );
        fail(
            served.own_refused + served.own_failed + served.unanswered > 0,
            format!("the token service refused or failed callouts on its own, or left some unanswered: {served:?}"),
        );
        let rotated = rotations.len().saturating_sub(1);
        let faults = [
            served.fault_refused,
            served.fault_failed,
            served.fault_stalled,
        ];
        fail(
            rotated == 0 || faults.contains(&0),
            format!("not exercised: {rotated} rotation(s), faults served {served:?}"),
        );
        fail(
            rotated > 0 && forwarded.kids.len() < 2,
            format!(
                "no rotation reached the callee: tokens of {:?} only",
                forwarded.kids.keys()
            ),
        );

        let cache_hits: u64 = exchanges.values().filter_map(|r| r.get("cache_hit")).sum();
        json!({
            "rate_per_s": self.rate,
            "clients": CLIENTS,
            "workers": WORKERS,
            "destinations": DESTINATIONS.map(|d| d.host),
            "timeout_ms": TIMEOUT.as_millis() as u64,
            "requests": judged.requests,
            "statuses": {"200": judged.count(200), "401": judged.count(401), "503": judged.count(503)},
            "by_kind": judged.by_kind(),
            "explained_by": judged.causes.iter().map(|(c, n)| (c.name().to_owned(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "wrong_outcomes": judged.wrong.len(),
            "transport_errors": judged.errors.len(),
            "sts": {
                "callouts": chain.sts.exchanges(),
                "issued": served.issued,
                "faults": {"refuse_invalid_grant": served.fault_refused, "fail_503": served.fault_failed,
                           "stall": served.fault_stalled},
                "own_refusals_or_failures": served.own_refused + served.own_failed,
                "signing_keys": rotations,
                "rotations": rotated,
            },
            "caller_exchanges": exchanges,
            "cache_hits": cache_hits,
            "upstream": {
                "seen": forwarded.seen,
                "violations": forwarded.violations.len(),
                "not_answered_200_seen": reached.not_ok.len(),
                "missing_200s": reached.missing.len(),
                "kids": forwarded.kids,
            },
            "rss_kib": rss.report(),
            "latency_ms": {"p50": percentile(&judged.latencies_us, 0.5), "p99": percentile(&judged.latencies_us, 0.99),
                           "max": percentile(&judged.latencies_us, 1.0)},
            "stats_disagree": disagree,
            "wrong": judged.wrong.iter().take(SHOWN).collect::<Vec<_>>(),
            "violations": forwarded.violations.iter().take(SHOWN).collect::<Vec<_>>(),
            "errors": judged.errors.iter().take(SHOWN).collect::<Vec<_>>(),
            "vm_failures": vm_lines,
            "failures": failures,
        })
    }

    /// Envoy's counters against what the token service and the clients saw:
    /// the caller's callouts by result, its requests by reason, the callee's.
    fn counters(
        &self,
        judged: &Judged,
        served: &Served,
        forwarded: &Forwarded,
        caller: &BTreeMap<String, u64>,
        callee: &BTreeMap<String, u64>,
    ) -> Vec<String> {
        let exchanges = exchange_series(caller);
        let callouts =
            |result: &str| -> u64 { exchanges.values().filter_map(|r| r.get(result)).sum() };
        let reached = forwarded.seen + self.probes;
        let counted = [
            ("caller exchanged", callouts("exchanged"), served.issued),
            ("caller refused", callouts("refused"), served.refusals()),
            ("caller failed", callouts("failed"), served.failures()),
            (
                "caller allowed",
                by_reason(caller, "none"),
                judged.count(200) + self.probes,
            ),
            (
                "caller exchange_refused",
                by_reason(caller, "exchange_refused"),
                judged.count(401),
            ),
            (
                "caller exchange",
                by_reason(caller, "exchange"),
                judged.count(503),
            ),
            ("callee allowed", by_reason(callee, "none"), reached),
            (
                "callee requests",
                prometheus::requests_total(callee),
                reached,
            ),
        ];
        counted
            .iter()
            .filter(|(_, stat, seen)| stat != seen)
            .map(|(name, stat, seen)| format!("{name}: stats {stat}, expected {seen}"))
            .collect()
    }
}

/// The `audgate_requests_total` series with this `reason`, summed.
fn by_reason(stats: &BTreeMap<String, u64>, reason: &str) -> u64 {
    let label = format!("reason=\"{reason}\"");
    let series = stats
        .iter()
        .filter(|(name, _)| name.starts_with("audgate_requests_total") && name.contains(&label));
    series.map(|(_, n)| n).sum()
}

/// The wasm VM failure lines of `envoy`'s log, marked with its side.
fn vm_lines(side: &str, envoy: &Envoy) -> Vec<String> {
    let log = envoy.log();
    let lines = vm_failures(&log).into_iter();
    lines.map(|line| format!("{side}: {line}")).collect()
}

/// The clients' outcomes, judged.
struct Judged {
    requests: usize,
    /// (new or repeat, status) → count; status 0 is a transport error.
    statuses: BTreeMap<(&'static str, u16), u64>,
    causes: BTreeMap<Cause, u64>,
    wrong: Vec<Value>,
    errors: Vec<String>,
    /// Sorted.
    latencies_us: Vec<u32>,
    /// The requests answered 200.
    ok_ids: HashSet<String>,
}

impl Judged {
    fn of(mut outcomes: Vec<Outcome>, verdicts: &Verdicts, start: Instant) -> Judged {
        outcomes.sort_by_key(|o| o.sent);
        let mut judged = Judged {
            requests: outcomes.len(),
            statuses: BTreeMap::new(),
            causes: BTreeMap::new(),
            wrong: Vec::new(),
            errors: Vec::new(),
            latencies_us: Vec::new(),
            ok_ids: HashSet::new(),
        };
        for outcome in outcomes {
            let kind = if outcome.repeat { "repeat" } else { "new" };
            *judged.statuses.entry((kind, outcome.status)).or_default() += 1;
            let latency = outcome.received - outcome.sent;
            let latency_us = u32::try_from(latency.as_micros()).unwrap_or(u32::MAX);
            judged.latencies_us.push(latency_us);
            if outcome.status == 0 {
                judged
                    .errors
                    .push(format!("{}: {}", outcome.id, outcome.body));
                continue;
            }
            let destination = &DESTINATIONS[outcome.destination];
            let verdict = verdicts.judge(
                &outcome.subject.sha,
                destination.host,
                (outcome.sent, outcome.received),
                (outcome.status, &outcome.body),
            );
            match verdict {
                Ok(cause) => *judged.causes.entry(cause).or_default() += 1,
                Err(why) => judged.wrong.push(json!({
                    "id": outcome.id, "destination": destination.host, "repeat": outcome.repeat,
                    "status": outcome.status, "why": why,
                    "at_s": outcome.sent.saturating_duration_since(start).as_secs_f64(),
                    "latency_ms": latency.as_millis() as u64,
                    "body": outcome.body.chars().take(120).collect::<String>(),
                })),
            }
            if outcome.status == 200 {
                judged.ok_ids.insert(outcome.id);
            }
        }
        judged.latencies_us.sort_unstable();
        judged
    }

    /// Requests answered `status`.
    fn count(&self, status: u16) -> u64 {
        let answered = self.statuses.iter().filter(|((_, s), _)| *s == status);
        answered.map(|(_, n)| n).sum()
    }

    /// Requests answered at all.
    fn answered(&self) -> u64 {
        let total: u64 = self.statuses.values().sum();
        total - self.count(0)
    }

    /// {"new": {"200": n, …}, "repeat": {…}}.
    fn by_kind(&self) -> Value {
        let mut by_kind: BTreeMap<&str, BTreeMap<String, u64>> = BTreeMap::new();
        for ((kind, status), n) in &self.statuses {
            by_kind
                .entry(kind)
                .or_default()
                .insert(status.to_string(), *n);
        }
        json!(by_kind)
    }
}

/// `audgate_exchanges_total` by destination, then result.
fn exchange_series(stats: &BTreeMap<String, u64>) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut series: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (name, n) in stats {
        let Some(labels) = name.strip_prefix("audgate_exchanges_total{") else {
            continue;
        };
        let label = |key: &str| {
            let from = labels.find(&format!("{key}=\""))? + key.len() + 2;
            let to = labels[from..].find('"')? + from;
            Some(labels[from..to].to_owned())
        };
        if let (Some(destination), Some(result)) = (label("destination"), label("result")) {
            series.entry(destination).or_default().insert(result, *n);
        }
    }
    series
}

/// One client: requests at `interval` until `end`, a new subject token or a
/// recent one, to either destination.
fn client(
    index: usize,
    port: u16,
    shared: &Shared,
    interval: Duration,
    end: Instant,
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    let mut connection = Connection::new(port);
    let mut rng = Rng(0x5851_f42d_4c95_7f2d ^ (index as u64 + 1));
    let mut pace = Pace::new(index, CLIENTS, interval, end);
    let mut seq = 0;
    while pace.wait() {
        seq += 1;
        let id = format!("o{index}-{seq}");
        let destination = rng.below(DESTINATIONS.len() as u32) as usize;
        let recent = {
            let recent = shared.recent.lock().unwrap();
            let n = u32::try_from(recent.len()).unwrap();
            let repeat = n > 0 && rng.below(100) >= NEW_SHARE;
            repeat.then(|| recent[rng.below(n) as usize].clone())
        };
        let repeat = recent.is_some();
        let subject = recent.unwrap_or_else(|| {
            let subject = Arc::new(Subject::new(&id));
            let mut recent = shared.recent.lock().unwrap();
            if recent.len() < RECENT {
                recent.push(subject.clone());
            } else {
                recent[rng.below(RECENT as u32) as usize] = subject.clone();
            }
            subject
        });
        shared
            .sent
            .lock()
            .unwrap()
            .insert(id.clone(), (subject.clone(), destination));
        let target = &DESTINATIONS[destination];
        let path = format!("/soak-out/{}/{id}", target.name);
        let sent = Instant::now();
        let result = connection.get(&path, target.host, &subject.token);
        let received = Instant::now();
        let (status, body) = result.unwrap_or_else(|error| (0, error.to_string()));
        outcomes.push(Outcome {
            id,
            subject,
            destination,
            repeat,
            sent,
            received,
            status,
            body,
        });
    }
    outcomes
}

/// Rotates the token service's signing key every `ROTATE_EVERY` until `stop`
/// is dropped, publishing the next key a period ahead; the kids signed with.
fn rotator(sts: &Sts, stop: &mpsc::Receiver<()>) -> Vec<&'static str> {
    let mut signed = vec![STS_KEYS[0].kid()];
    let mut next = Instant::now() + ROTATE_EVERY;
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        if stop.recv_timeout(wait) != Err(RecvTimeoutError::Timeout) {
            return signed;
        }
        next += ROTATE_EVERY;
        let key = STS_KEYS[signed.len() % STS_KEYS.len()];
        sts.rotate(key);
        sts.publish(STS_KEYS[(signed.len() + 1) % STS_KEYS.len()]);
        signed.push(key.kid());
    }
}

/// The caller's RSS: after warm-up, every 30 s, and at the end.
struct Rss {
    warmup: Duration,
    warm: Option<u64>,
    samples: Vec<Value>,
    end: u64,
}

impl Rss {
    fn new(warmup: Duration) -> Rss {
        Rss {
            warmup,
            warm: None,
            samples: Vec::new(),
            end: 0,
        }
    }

    fn sample(&mut self, pid: u32, elapsed: Duration) {
        if self.warm.is_none() && elapsed >= self.warmup {
            self.warm = Some(rss_kib(pid));
        }
        if self.samples.len() as u64 <= elapsed.as_secs() / 30 {
            let sample = json!({"s": elapsed.as_secs(), "rss_kib": rss_kib(pid)});
            self.samples.push(sample);
        }
    }

    /// Growth from warm-up to the end, percent.
    fn growth(&self) -> f64 {
        let warm = self.warm.unwrap_or(self.end);
        (self.end as f64 - warm as f64) * 100.0 / warm as f64
    }

    fn report(&self) -> Value {
        json!({"warm": self.warm.unwrap_or(self.end), "end": self.end,
               "growth_pct": (self.growth() * 100.0).round() / 100.0,
               "warmup_s": self.warmup.as_secs(), "samples": self.samples})
    }
}

/// The outbound figures, one per line.
pub fn print_report(r: &Value) {
    println!(
        "outbound: {}/s, {} clients, caller Envoy with {} workers, destinations {}, callout timeout {} ms",
        r["rate_per_s"], r["clients"], r["workers"], r["destinations"], r["timeout_ms"]
    );
    println!(
        "  requests: {}; statuses {}; by kind {}",
        r["requests"], r["statuses"], r["by_kind"]
    );
    println!(
        "  explained by the token service's answers: {}",
        r["explained_by"]
    );
    println!(
        "  wrong outcomes: {}; transport errors: {}",
        r["wrong_outcomes"], r["transport_errors"]
    );
    println!("  token service: {}", r["sts"]);
    println!(
        "  caller's audgate_exchanges_total: {}; cache hits {}",
        r["caller_exchanges"], r["cache_hits"]
    );
    println!("  upstream: {}", r["upstream"]);
    let rss = &r["rss_kib"];
    println!(
        "  caller RSS: {} KiB after {} s warm-up, {} KiB at the end: {} %",
        rss["warm"], rss["warmup_s"], rss["end"], rss["growth_pct"]
    );
    println!("  latency ms: {}", r["latency_ms"]);
    for line in r["stats_disagree"].as_array().into_iter().flatten() {
        println!("  counters: {line}");
    }
    for miss in r["wrong"].as_array().into_iter().flatten() {
        println!("  wrong: {miss}");
    }
    for line in r["violations"].as_array().into_iter().flatten() {
        println!("  upstream: {line}");
    }
    for line in r["errors"].as_array().into_iter().flatten() {
        println!("  error: {line}");
    }
}
