//! An authorization server's introspection endpoint for the introspection tests
//! (RFC 7662): `POST …/introspect` checks the client's authentication (Basic, or
//! `client_id` with the TLS client certificate issued to it) and answers for the
//! tokens the test issued: `active: true` with their claims until revoked or
//! expired, `active: false` for any other, or (when asked) 400
//! `unsupported_token_type` for a JWT, as some servers do. It records every call
//! (tokens only as SHA-256), and can fail, stall, answer garbage or a given
//! body, and fault every n-th call, as the test STS can.
//!
//! ```ignore
//! let server = Introspector::start(IntrospectorSettings::basic("orders-api", "s3cret"));
//! let token = server.issue(json!({"aud": "orders", "scope": "read", "exp": now + 300}));
//! server.revoke(&token);                          // active: false from now on
//! server.fail(503);                               // every call 503
//! server.fault_every(5, vec![Fault::Fail(503), Fault::Stall(timeout)]);
//! assert_eq!(server.calls_for(&token), 1);
//! ```

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use super::sts::behaviour::{Behaviour, Mode, Next};
use super::sts::exchange::{authenticate, refusal, Clients};
use super::sts::form::{self, first};
use super::sts::{no_store, refused, sha256_hex, Fault, StsClient, StsTls};
use super::upstream::{Reply, Request, Upstream};

/// How an [`Introspector`] answers; see [`IntrospectorSettings::basic`].
#[derive(Clone)]
pub struct IntrospectorSettings {
    /// The resource servers that may introspect.
    pub clients: Vec<StsClient>,
    /// HTTPS with client certificates; `None`: plain HTTP.
    pub tls: Option<StsTls>,
    /// A JWT it was not issued is answered 400 `unsupported_token_type`
    /// rather than `active: false`.
    pub refuses_jwts: bool,
    /// Any caller is answered, its `client_id` taken as it says (the bench's
    /// endpoint checks no client either); `clients` is then not read.
    pub open: bool,
}

impl IntrospectorSettings {
    /// One `client_secret_basic` client, plain HTTP.
    pub fn basic(id: &str, secret: &str) -> IntrospectorSettings {
        IntrospectorSettings {
            clients: vec![StsClient::basic(id, secret)],
            tls: None,
            refuses_jwts: false,
            open: false,
        }
    }
}

/// One `POST /introspect` as recorded: never the token, only its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// SHA-256 hex of the `token` field, if there was one.
    pub token_sha256: Option<String>,
    /// `token_type_hint`, if sent.
    pub hint: Option<String>,
    /// Whether `authorization: Basic …` came.
    pub basic: bool,
    /// The authenticated client, if it authenticated.
    pub client: Option<String>,
    /// What it was answered: `active`, `inactive`, `unsupported`, `client`
    /// (401), `invalid_request`, or the test's override (`refuse`, `fail`,
    /// `garbage`, `answer`); empty while it is being answered.
    pub answer: &'static str,
    /// It got one of `fault_every`'s faults (a stall then answers as otherwise,
    /// past the caller's timeout).
    pub fault: bool,
    /// When it came: recorded then, before any stall, so that a caller that
    /// gives up on it finds it.
    pub received: Instant,
}

struct State {
    settings: IntrospectorSettings,
    /// Issued tokens by SHA-256 hex: their claims.
    issued: Mutex<HashMap<String, Value>>,
    revoked: Mutex<HashSet<String>>,
    behaviour: Mutex<Behaviour>,
    calls: Mutex<Vec<Call>>,
    received: AtomicUsize,
    minted: AtomicUsize,
    /// Calls being answered now, and the most at once so far.
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

/// The running endpoint; stops on drop.
pub struct Introspector {
    state: Arc<State>,
    server: Upstream,
}

impl Introspector {
    /// Serving on a free port of 127.0.0.1.
    pub fn start(settings: IntrospectorSettings) -> Introspector {
        let state = Arc::new(State {
            settings,
            issued: Mutex::default(),
            revoked: Mutex::default(),
            behaviour: Mutex::default(),
            calls: Mutex::default(),
            received: AtomicUsize::new(0),
            minted: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
        });
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let shared = state.clone();
        let handler = move |request: &Request, certificate: Option<&[u8]>| {
            handle(&shared, request, certificate)
        };
        let server = match &state.settings.tls {
            Some(tls) => Upstream::serve_tls_unrecorded(listener, tls.server_config(), handler),
            None => Upstream::serve_on_unrecorded(listener, move |request| handler(request, None)),
        };
        Introspector { state, server }
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// A new opaque token (43 base64url characters), active with `claims`.
    pub fn issue(&self, claims: Value) -> String {
        let serial = self.state.minted.fetch_add(1, Ordering::SeqCst);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let seed = format!("{serial}:{nanos}:{:p}", Arc::as_ptr(&self.state));
        let digest = sha256_hex(&seed);
        let token = URL_SAFE_NO_PAD.encode(&digest.as_bytes()[..32]);
        self.issue_as(&token, claims);
        token
    }

    /// `token` (any text, a JWT too) is active with `claims` from now on.
    pub fn issue_as(&self, token: &str, claims: Value) {
        let key = sha256_hex(token);
        self.state.revoked.lock().unwrap().remove(&key);
        self.state.issued.lock().unwrap().insert(key, claims);
    }

    /// `token` is answered `active: false` from now on.
    pub fn revoke(&self, token: &str) {
        self.state.revoked.lock().unwrap().insert(sha256_hex(token));
    }

    /// Answer every call with `status` and a plain-text body.
    pub fn fail(&self, status: u16) {
        self.behaviour().mode = Mode::Fail(status);
    }

    /// Answer every call 400 with this OAuth `error`.
    pub fn refuse(&self, error: &str) {
        self.behaviour().mode = Mode::Refuse(error.into());
    }

    /// Wait `wait` before answering each call.
    pub fn stall(&self, wait: Duration) {
        self.behaviour().stall = wait;
    }

    /// Answer every call 200 with a body that is not JSON.
    pub fn garbage(&self) {
        self.behaviour().mode = Mode::Garbage;
    }

    /// Answer every call 200 with exactly `body`.
    pub fn answer(&self, body: Value) {
        self.behaviour().mode = Mode::Answer(body);
    }

    /// Every `n`-th call from now on gets the next of `faults` in turn.
    pub fn fault_every(&self, n: usize, faults: Vec<Fault>) {
        self.behaviour().fault_every(n, faults);
    }

    /// Answer normally again.
    pub fn normal(&self) {
        *self.behaviour() = Behaviour::default();
    }

    /// Calls received so far, however answered.
    pub fn calls(&self) -> usize {
        self.state.received.load(Ordering::SeqCst)
    }

    /// The most calls it was answering at once so far.
    pub fn most_in_flight(&self) -> usize {
        self.state.most_in_flight.load(Ordering::SeqCst)
    }

    /// Calls so far that asked about `token`.
    pub fn calls_for(&self, token: &str) -> usize {
        let wanted = sha256_hex(token);
        let calls = self.state.calls.lock().unwrap();
        calls
            .iter()
            .filter(|call| call.token_sha256.as_deref() == Some(&wanted))
            .count()
    }

    /// Every call recorded so far (recorded as it comes), oldest first.
    pub fn recorded(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    fn behaviour(&self) -> MutexGuard<'_, Behaviour> {
        self.state.behaviour.lock().unwrap()
    }
}

fn handle(state: &State, request: &Request, certificate: Option<&[u8]>) -> Reply {
    let path = request.path.split('?').next().unwrap_or_default();
    if request.method != "POST" || !path.ends_with("/introspect") {
        return Reply::text(404, "not found");
    }
    state.received.fetch_add(1, Ordering::SeqCst);
    let now_in_flight = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state
        .most_in_flight
        .fetch_max(now_in_flight, Ordering::SeqCst);
    let reply = answer(state, request, certificate);
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    reply
}

/// Records `request` and answers it as the behaviour says.
fn answer(state: &State, request: &Request, certificate: Option<&[u8]>) -> Reply {
    let fields = form::parse(&request.body);
    let token = fields
        .as_deref()
        .and_then(|fields| first(fields, "token"))
        .map(str::to_owned);
    let Next { wait, mode, fault } = state.behaviour.lock().unwrap().next();
    let at = {
        let mut calls = state.calls.lock().unwrap();
        calls.push(Call {
            token_sha256: token.as_deref().map(sha256_hex),
            hint: fields
                .as_deref()
                .and_then(|fields| first(fields, "token_type_hint"))
                .map(str::to_owned),
            basic: request
                .header("authorization")
                .is_some_and(|value| value.to_ascii_lowercase().starts_with("basic ")),
            client: None,
            answer: "",
            fault: fault.is_some(),
            received: Instant::now(),
        });
        calls.len() - 1
    };
    std::thread::sleep(wait);
    let mut client = None;
    let (reply, answer) = match mode {
        Mode::Normal => introspect(
            state,
            request,
            certificate,
            fields.as_deref(),
            token.as_deref(),
            &mut client,
        ),
        Mode::Refuse(error) => (
            refused(&refusal(400, &error, "refused by the test")).0,
            "refuse",
        ),
        Mode::Fail(status) => (
            Reply::text(status, "introspection: failing as asked"),
            "fail",
        ),
        Mode::Garbage => (Reply::text(200, "<html>not an answer"), "garbage"),
        Mode::Answer(body) => (no_store(Reply::json(&body)), "answer"),
    };
    let mut calls = state.calls.lock().unwrap();
    calls[at].answer = answer;
    calls[at].client = client;
    reply
}

/// The real answer: the client authenticated, then what is known of `token`.
fn introspect(
    state: &State,
    request: &Request,
    certificate: Option<&[u8]>,
    fields: Option<&[(String, String)]>,
    token: Option<&str>,
    client: &mut Option<String>,
) -> (Reply, &'static str) {
    let certified = certificate.map(|certificate| {
        let tls = state.settings.tls.as_ref();
        let client = tls.and_then(|tls| tls.client_of(certificate));
        client.unwrap_or("<not issued by the test PKI>").to_owned()
    });
    let clients = Clients {
        known: &state.settings.clients,
        anonymous: false,
    };
    if state.settings.open {
        *client = fields
            .and_then(|fields| first(fields, "client_id"))
            .map(str::to_owned);
    } else {
        match authenticate(&clients, request, fields, certified.as_deref()) {
            Ok(authenticated) => *client = authenticated,
            Err(refusal) => return (refused(&refusal).0, "client"),
        }
    }
    let Some(token) = token else {
        return (
            refused(&refusal(400, "invalid_request", "no token")).0,
            "invalid_request",
        );
    };
    let key = sha256_hex(token);
    let claims = state.issued.lock().unwrap().get(&key).cloned();
    let revoked = state.revoked.lock().unwrap().contains(&key);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let expired = |claims: &Value| {
        claims
            .get("exp")
            .and_then(Value::as_i64)
            .is_some_and(|exp| exp <= now)
    };
    match claims {
        Some(claims) if !revoked && !expired(&claims) => {
            let mut answer = json!({"active": true});
            if let (Some(answer), Some(claims)) = (answer.as_object_mut(), claims.as_object()) {
                answer.extend(claims.clone());
            }
            (no_store(Reply::json(&answer)), "active")
        }
        None if state.settings.refuses_jwts && token.split('.').count() == 3 => (
            refused(&refusal(
                400,
                "unsupported_token_type",
                "JWTs are not introspected",
            ))
            .0,
            "unsupported",
        ),
        _ => (no_store(Reply::json(&json!({"active": false}))), "inactive"),
    }
}
