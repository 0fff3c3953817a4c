//! The introspection part of `make soak`: an Envoy with two workers whose
//! provider asks the test endpoint (tests/support/introspection.rs) about each
//! opaque token, under a steady load of new tokens, repeats of recent ones,
//! tokens for another audience, never-issued ones and unsendable ones, while the
//! endpoint fails (503) or stalls past the filter's timeout one callout in five
//! and a recent token is revoked every second.
//!
//! Every answer is judged against what the endpoint knew and did:
//! - a token it vouches for gets 200; once revoked, 200 only for a request sent
//!   within `cache_duration_s` (and a second of slack) of its revocation, and
//!   401 once the revocation could be seen;
//! - a token for another audience 403, a never-issued one 401;
//! - any of these 503 only when a callout for that token got a fault;
//! - an unsendable token 401, and never at the endpoint.
//!
//! 0 wrong answers; RSS may grow at most 5 % from warm-up to the end; the
//! filter's `audgate_introspections_total` counts the endpoint's calls.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::connection::Connection;
use crate::pace::Pace;
use crate::support::envoy::vm_failures;
use crate::support::envoy_yaml;
use crate::support::introspection::{Introspector, IntrospectorSettings};
use crate::support::keys;
use crate::support::sts::{sha256_hex, Fault};
use crate::support::{Envoy, Upstream};
use crate::{rss_kib, Rng, MAX_RSS_GROWTH_PCT, SHOWN};

const AUDIENCE: &str = "opaque.soak.svc";
const OTHER_AUDIENCE: &str = "elsewhere.soak.svc";
const CLIENT: &str = "soak-api";
const SECRET: &str = "soak+introspection/s3cret";
const SECRET_ENV: &str = "AUDGATE_SOAK_INTROSPECTION_SECRET";
/// `introspection.cache_duration_s`: how late a revocation may be seen.
const CACHE_S: u64 = 3;
/// `introspection.inactive_cache_s`.
const INACTIVE_S: u64 = 1;
/// `introspection.timeout_ms`; a stall lasts a second longer.
const TIMEOUT: Duration = Duration::from_millis(1000);
/// Every this many-th callout gets the next fault.
const FAULT_EVERY: usize = 5;
/// A recent token is revoked this often.
const REVOKE_EVERY: Duration = Duration::from_secs(1);
/// Time beyond `cache_duration_s` a revoked token may still pass: the filter
/// keeps answers to the second and reads its clock every 100 ms.
const SLACK: Duration = Duration::from_secs(1);
/// Client threads, each with one keep-alive connection.
const CLIENTS: usize = 8;
/// Recent tokens kept for repeats.
const RECENT: usize = 64;
/// Workers of the Envoy.
const WORKERS: u32 = 2;

/// What a request carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// A token issued for this run's audience (perhaps revoked since).
    Vouched,
    /// A token issued for another audience.
    Elsewhere,
    /// A token68 token never issued.
    Unknown,
    /// Not token68: never sent to the endpoint.
    Unsendable,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Vouched => "vouched",
            Kind::Elsewhere => "elsewhere",
            Kind::Unknown => "unknown",
            Kind::Unsendable => "unsendable",
        }
    }
}

/// One request and its answer.
struct Outcome {
    kind: Kind,
    token: String,
    sent: Instant,
    received: Instant,
    /// The status, or the transport error.
    status: Result<u16, String>,
}

/// The tokens the run holds: recent ones to repeat, and when each revoked one
/// was revoked (the instant before the endpoint was told).
#[derive(Default)]
struct Tokens {
    recent: Mutex<Vec<String>>,
    revoked: Mutex<HashMap<String, Instant>>,
}

/// The running part; see the module docs.
pub struct Opaque {
    server: Arc<Introspector>,
    envoy: Envoy,
    _upstream: Upstream,
    rate: u64,
}

fn config() -> Value {
    json!({"providers": [{
        "name": "opaque-as",
        "issuer": "https://as.soak.test",
        "audiences": [AUDIENCE],
        "introspection": {
            "uri": "http://as.soak.test/oauth2/introspect",
            "cluster": "jwks",
            "client_id": CLIENT,
            "client_secret_env": SECRET_ENV,
            "timeout_ms": TIMEOUT.as_millis() as u64,
            "cache_duration_s": CACHE_S,
            "inactive_cache_s": INACTIVE_S,
        },
    }]})
}

fn claims(audience: &str) -> Value {
    let now = keys::now();
    json!({"iss": "https://as.soak.test", "aud": audience, "sub": "soak", "scope": "orders:read",
           "iat": now, "exp": now + 6 * 3600})
}

impl Opaque {
    /// Starts the endpoint and Envoy, probes one token, then turns the faults on.
    pub fn start(rate: u64) -> Opaque {
        let server = Arc::new(Introspector::start(IntrospectorSettings::basic(
            CLIENT, SECRET,
        )));
        let upstream = Upstream::start();
        let template = envoy_yaml::with_host_env(&envoy_yaml::template(), &[SECRET_ENV]);
        let envoy = Envoy::builder(&config(), upstream.port())
            .template(&template)
            .jwks_port(server.port())
            .env(SECRET_ENV, SECRET)
            .concurrency(WORKERS)
            .start();
        let probe = server.issue(claims(AUDIENCE));
        let (status, body) = Connection::new(envoy.port())
            .get("/soak-opaque/probe", AUDIENCE, &probe)
            .unwrap();
        assert_eq!(status, 200, "the opaque probe: {body}");
        server.fault_every(
            FAULT_EVERY,
            vec![
                Fault::Fail(503),
                Fault::Stall(TIMEOUT + Duration::from_secs(1)),
            ],
        );
        Opaque {
            server,
            envoy,
            _upstream: upstream,
            rate,
        }
    }

    /// Runs the load from `start` to `end`; RSS is read after `warmup`. The
    /// report's `introspection` section, with its `failures`.
    pub fn run(self, start: Instant, end: Instant, warmup: Duration) -> Value {
        let pid = self.envoy.pid();
        let tokens = Tokens::default();
        let interval = Duration::from_secs_f64(CLIENTS as f64 / self.rate as f64);
        let (mut rss_warm, mut revocations) = (None, 0u64);
        let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
            let (tokens, server, port) = (&tokens, &self.server, self.envoy.port());
            let clients: Vec<_> = (0..CLIENTS)
                .map(|index| {
                    scope.spawn(move || client(index, port, server, tokens, interval, end))
                })
                .collect();
            let mut next_revocation = Instant::now() + REVOKE_EVERY;
            while Instant::now() < end {
                std::thread::sleep(Duration::from_millis(100));
                if rss_warm.is_none() && start.elapsed() >= warmup {
                    rss_warm = Some(rss_kib(pid));
                }
                if Instant::now() >= next_revocation {
                    next_revocation += REVOKE_EVERY;
                    revocations += u64::from(revoke_one(server, tokens));
                }
            }
            clients
                .into_iter()
                .flat_map(|client| client.join().unwrap())
                .collect()
        });
        let rss_end = rss_kib(pid);
        self.report(outcomes, &tokens, revocations, rss_warm, rss_end)
    }

    /// Judges every answer, reads the counters and the log, and makes the report.
    fn report(
        &self,
        outcomes: Vec<Outcome>,
        tokens: &Tokens,
        revocations: u64,
        rss_warm: Option<u64>,
        rss_end: u64,
    ) -> Value {
        let calls = self.server.recorded();
        let mut faulted: HashMap<&str, Vec<Instant>> = HashMap::new();
        for call in calls.iter().filter(|call| call.fault) {
            if let Some(sha) = call.token_sha256.as_deref() {
                faulted.entry(sha).or_default().push(call.received);
            }
        }
        let revoked = tokens.revoked.lock().unwrap().clone();
        let mut statuses: BTreeMap<(Kind, String), u64> = BTreeMap::new();
        let (mut wrong, mut errors) = (Vec::new(), Vec::new());
        let (mut outage_503s, mut revoked_refused, mut revoked_passed) = (0u64, 0u64, 0u64);
        for outcome in &outcomes {
            let status = match &outcome.status {
                Ok(status) => *status,
                Err(error) => {
                    errors.push(error.clone());
                    continue;
                }
            };
            *statuses
                .entry((outcome.kind, status.to_string()))
                .or_default() += 1;
            let sha = sha256_hex(&outcome.token);
            let faults = faulted
                .get(sha.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            let fault_for_it = faults.iter().any(|at| {
                *at + TIMEOUT + Duration::from_secs(1) >= outcome.sent && *at <= outcome.received
            });
            let revoked_at = revoked.get(&outcome.token).copied();
            let right = match (outcome.kind, status) {
                (Kind::Unsendable, 401) => true,
                (Kind::Unsendable, _) => false,
                (_, 503) => fault_for_it,
                (Kind::Vouched, 200) => match revoked_at {
                    None => true,
                    Some(at) => outcome.sent < at + Duration::from_secs(CACHE_S) + SLACK,
                },
                (Kind::Vouched, 401) => revoked_at.is_some_and(|at| at < outcome.received),
                (Kind::Elsewhere, 403) | (Kind::Unknown, 401) => true,
                _ => false,
            };
            if status == 503 && right {
                outage_503s += 1;
            }
            if let (Kind::Vouched, Some(at)) = (outcome.kind, revoked_at) {
                if status == 401 {
                    revoked_refused += 1;
                } else if status == 200 && outcome.sent > at {
                    revoked_passed += 1;
                }
            }
            if !right {
                wrong.push(format!(
                    "{} got {status}, sent {:?} after the run's revocation of it: {:?}",
                    outcome.kind.name(),
                    outcome.sent,
                    revoked_at.map(|at| outcome.sent.saturating_duration_since(at))
                ));
            }
        }
        let unsendable_sent = outcomes
            .iter()
            .filter(|o| o.kind == Kind::Unsendable)
            .map(|o| sha256_hex(&o.token))
            .filter(|sha| calls.iter().any(|c| c.token_sha256.as_deref() == Some(sha)))
            .count();
        let answered = outcomes.iter().filter(|o| o.status.is_ok()).count() as u64;
        // +1: the probe.
        let stats = crate::stats(&self.envoy, answered + 1);
        let stat = |result: &str| {
            let name = format!(
                "audgate_introspections_total{{provider=\"opaque-as\",result=\"{result}\"}}"
            );
            stats.get(&name).copied().unwrap_or(0)
        };
        let counted = stat("active") + stat("inactive") + stat("failed") + stat("max_pending");
        let log = self.envoy.log();
        let vm_lines: Vec<String> = vm_failures(&log).iter().map(|l| l.to_string()).collect();
        let growth = rss_warm.map_or(0.0, |warm| {
            (rss_end as f64 - warm as f64) * 100.0 / warm.max(1) as f64
        });
        let faults = calls.iter().filter(|call| call.fault).count();
        let mut failures = Vec::new();
        if !wrong.is_empty() {
            failures.push(format!("{} wrong introspection answers", wrong.len()));
        }
        if !errors.is_empty() {
            failures.push(format!("{} transport errors (introspection)", errors.len()));
        }
        if unsendable_sent > 0 {
            failures.push(format!(
                "{unsendable_sent} unsendable tokens reached the endpoint"
            ));
        }
        if growth > MAX_RSS_GROWTH_PCT {
            failures.push(format!("introspection Envoy RSS grew {growth:.1} %"));
        }
        if counted != calls.len() as u64 {
            failures.push(format!(
                "audgate_introspections_total counts {counted}, the endpoint saw {}",
                calls.len()
            ));
        }
        if revocations == 0 || revoked_refused == 0 {
            failures.push("no revocation was made and seen".into());
        }
        if faults == 0 || outage_503s == 0 {
            failures.push("no endpoint fault was seen as a 503".into());
        }
        if !vm_lines.is_empty() {
            failures.push(format!(
                "{} VM failure lines (introspection)",
                vm_lines.len()
            ));
        }
        let by_kind: BTreeMap<String, Value> =
            statuses
                .iter()
                .fold(BTreeMap::new(), |mut by_kind, ((kind, status), n)| {
                    let entry = by_kind
                        .entry(kind.name().to_owned())
                        .or_insert_with(|| json!({}));
                    entry[status] = json!(n);
                    by_kind
                });
        json!({
            "requests": answered,
            "by_kind": by_kind,
            "wrong_decisions": wrong.len(),
            "wrong": wrong.iter().take(SHOWN).collect::<Vec<_>>(),
            "transport_errors": errors.len(),
            "errors": errors.iter().take(SHOWN).collect::<Vec<_>>(),
            "endpoint_calls": calls.len(),
            "endpoint_faults": faults,
            "outage_503s": outage_503s,
            "revocations": revocations,
            "revoked_refused": revoked_refused,
            "revoked_passed_within_cache": revoked_passed,
            "unsendable_sent": unsendable_sent,
            "introspections_counted": {"cache_hit": stat("cache_hit"), "active": stat("active"), "inactive": stat("inactive"),
                                       "failed": stat("failed"), "max_pending": stat("max_pending")},
            "rss_kib": {"warm": rss_warm, "end": rss_end, "growth_pct": (growth * 100.0).round() / 100.0},
            "vm_failures": vm_lines,
            "failures": failures,
        })
    }
}

/// Revokes one recent token (moved from the recent ones to the revoked ones,
/// which are still sent); whether there was one.
fn revoke_one(server: &Introspector, tokens: &Tokens) -> bool {
    let token = {
        let mut recent = tokens.recent.lock().unwrap();
        if recent.is_empty() {
            return false;
        }
        recent.remove(0)
    };
    tokens
        .revoked
        .lock()
        .unwrap()
        .insert(token.clone(), Instant::now());
    server.revoke(&token);
    true
}

/// One client: a request every `interval` until `end`.
fn client(
    index: usize,
    port: u16,
    server: &Introspector,
    tokens: &Tokens,
    interval: Duration,
    end: Instant,
) -> Vec<Outcome> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (index as u64 + 1).wrapping_mul(0x2545_f491));
    let mut connection = Connection::new(port);
    let mut pace = Pace::new(index, CLIENTS, interval, end);
    let mut outcomes = Vec::new();
    let mut seq = 0u64;
    while pace.wait() {
        seq += 1;
        let (kind, token) = next_token(&mut rng, server, tokens, index, seq);
        let path = format!("/soak-opaque/{}/{index}-{seq}", kind.name());
        let sent = Instant::now();
        let status = connection
            .get(&path, AUDIENCE, &token)
            .map(|(status, _)| status)
            .map_err(|error| error.to_string());
        outcomes.push(Outcome {
            kind,
            token,
            sent,
            received: Instant::now(),
            status,
        });
    }
    outcomes
}

/// The kind to send next and its token.
fn next_token(
    rng: &mut Rng,
    server: &Introspector,
    tokens: &Tokens,
    client: usize,
    seq: u64,
) -> (Kind, String) {
    let roll = rng.below(100);
    let repeat = |pool: &Mutex<Vec<String>>, rng: &mut Rng| {
        let pool = pool.lock().unwrap();
        (!pool.is_empty()).then(|| pool[rng.below(pool.len() as u32) as usize].clone())
    };
    match roll {
        0..=24 => {}
        25..=64 => {
            if let Some(token) = repeat(&tokens.recent, rng) {
                return (Kind::Vouched, token);
            }
        }
        65..=74 => {
            let revoked: Vec<String> = tokens.revoked.lock().unwrap().keys().cloned().collect();
            if !revoked.is_empty() {
                let pick = revoked[rng.below(revoked.len() as u32) as usize].clone();
                return (Kind::Vouched, pick);
            }
        }
        75..=84 => return (Kind::Elsewhere, server.issue(claims(OTHER_AUDIENCE))),
        85..=94 => return (Kind::Unknown, format!("never-issued-{client}-{seq}")),
        _ => return (Kind::Unsendable, format!("not,token68-{client}-{seq}")),
    }
    let token = server.issue(claims(AUDIENCE));
    let mut recent = tokens.recent.lock().unwrap();
    recent.push(token.clone());
    if recent.len() > RECENT {
        recent.remove(0);
    }
    (Kind::Vouched, token)
}

/// The section's headline figures.
pub fn print_report(r: &Value) {
    println!(
        "introspection: {} requests {}; wrong decisions: {}; transport errors: {}",
        r["requests"], r["by_kind"], r["wrong_decisions"], r["transport_errors"]
    );
    println!(
        "  endpoint: {} calls, {} faulted (503s for them: {}); revocations: {} (refused after: {}, passed within cache_duration_s: {}); counted {}",
        r["endpoint_calls"],
        r["endpoint_faults"],
        r["outage_503s"],
        r["revocations"],
        r["revoked_refused"],
        r["revoked_passed_within_cache"],
        r["introspections_counted"]
    );
    println!("  RSS: {}", r["rss_kib"]);
    for line in r["wrong"].as_array().into_iter().flatten() {
        println!("  wrong: {line}");
    }
}
