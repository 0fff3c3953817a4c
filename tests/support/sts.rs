//! A security token service for the token-exchange tests: RFC 8693 on
//! `POST /token` (client authenticated, subject token verified, a token minted
//! for the asked audience or resource and signed with its own key) and its keys
//! on `GET /jwks`, so a callee can verify what it mints. The test can rotate its
//! key, make it refuse, fail, stall, answer garbage or a given body, fault every
//! n-th request, and count and read its requests (tokens only as SHA-256).
//!
//! ```ignore
//! let sts = Sts::start(StsSettings {
//!     clients: vec![StsClient::basic("orders", "p+ss/w=rd")],
//!     anonymous: false,
//!     ..StsSettings::default()
//! });
//! let fields = [("grant_type", sts::GRANT_TYPE), ("subject_token", &token),
//!     ("subject_token_type", sts::ACCESS_TOKEN_TYPE), ("audience", "payments.svc")];
//! let minted = http::post_form(sts.port(), "/token", &fields, &[("authorization", &basic)]);
//! sts.rotate(TestKey::Ec384);                        // the JWKS serves both keys
//! sts.refuse("invalid_grant");                       // 400 from now on
//! sts.fault_every(10, Fault::rotation(timeout));     // the soak's faults
//! assert_eq!(sts.exchanges(), 1);
//! assert_eq!(sts.last_subject_sha256(), Some(sts::sha256_hex(&token)));
//! ```

mod behaviour;
mod exchange;
mod form;
mod record;
mod settings;

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

pub use behaviour::Fault;
pub use exchange::{ACCESS_TOKEN_TYPE, GRANT_TYPE, JWT_TOKEN_TYPE};
pub use record::{sha256_hex, TokenRequest};
pub use settings::{StsClient, StsSettings};

use super::keys::{self, TestKey};
use super::upstream::{Reply, Request, Upstream};
use behaviour::{Behaviour, Mode};
use exchange::{Minted, Refusal};

/// What the handler shares with the test.
struct State {
    settings: StsSettings,
    /// Every signing key so far, the current one last.
    keys: Mutex<Vec<TestKey>>,
    behaviour: Mutex<Behaviour>,
    requests: Mutex<Vec<TokenRequest>>,
    exchanges: AtomicUsize,
    issued: AtomicUsize,
}

/// The running STS; see the module docs. Stops on drop. No `Debug`: its
/// settings hold client secrets.
pub struct Sts {
    state: Arc<State>,
    server: Upstream,
}

impl Sts {
    /// Serving on a free port of 127.0.0.1, as `settings` say.
    pub fn start(settings: StsSettings) -> Sts {
        let keys = Mutex::new(vec![settings.signing_key]);
        let state = Arc::new(State {
            settings,
            keys,
            behaviour: Mutex::default(),
            requests: Mutex::default(),
            exchanges: AtomicUsize::new(0),
            issued: AtomicUsize::new(0),
        });
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let shared = state.clone();
        let server =
            Upstream::serve_on_unrecorded(listener, move |request| handle(&shared, request));
        Sts { state, server }
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// `iss` of the tokens it mints.
    pub fn issuer(&self) -> &str {
        &self.state.settings.issuer
    }

    /// The key it signs with now.
    pub fn signing_key(&self) -> TestKey {
        *self.state.keys.lock().unwrap().last().unwrap()
    }

    /// The key set `GET /jwks` serves: every signing key so far.
    pub fn jwks(&self) -> Value {
        keys::jwks(&self.state.keys.lock().unwrap())
    }

    /// Sign with `key` from now on; the JWKS keeps serving the earlier keys too.
    pub fn rotate(&self, key: TestKey) {
        let mut keys = self.state.keys.lock().unwrap();
        keys.retain(|k| *k != key);
        keys.push(key);
    }

    /// Answer every `POST /token` with 400 and this OAuth `error`.
    pub fn refuse(&self, error: &str) {
        self.behaviour().mode = Mode::Refuse(error.into());
    }

    /// Answer every `POST /token` with `status` and a plain-text body.
    pub fn fail(&self, status: u16) {
        self.behaviour().mode = Mode::Fail(status);
    }

    /// Wait `wait` before answering each `POST /token` (as otherwise set).
    pub fn stall(&self, wait: Duration) {
        self.behaviour().stall = wait;
    }

    /// Answer every `POST /token` 200 with a body that is not JSON.
    pub fn garbage(&self) {
        self.behaviour().mode = Mode::Garbage;
    }

    /// Answer every `POST /token` 200 with exactly `body`.
    pub fn answer(&self, body: Value) {
        self.behaviour().mode = Mode::Answer(body);
    }

    /// Every `n`-th `POST /token` from now on gets the next of `faults` in turn
    /// (`n` 0 or no faults: none), on top of the rest of the behaviour.
    pub fn fault_every(&self, n: usize, faults: Vec<Fault>) {
        self.behaviour().fault_every(n, faults);
    }

    /// Exchange again: no override, stall or faults.
    pub fn normal(&self) {
        *self.behaviour() = Behaviour::default();
    }

    /// `POST /token` requests received so far, whatever they were answered.
    pub fn exchanges(&self) -> usize {
        self.state.exchanges.load(Ordering::SeqCst)
    }

    /// Tokens minted so far.
    pub fn issued(&self) -> usize {
        self.state.issued.load(Ordering::SeqCst)
    }

    /// Every `POST /token` received so far, oldest first, tokens hashed.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The SHA-256 hex of the last `POST /token`'s `subject_token`.
    pub fn last_subject_sha256(&self) -> Option<String> {
        let requests = self.state.requests.lock().unwrap();
        let last = requests.last()?;
        last.field("subject_token").map(Into::into)
    }

    fn behaviour(&self) -> std::sync::MutexGuard<'_, Behaviour> {
        self.state.behaviour.lock().unwrap()
    }
}

fn handle(state: &State, request: &Request) -> Reply {
    let path = request.path.split('?').next().unwrap_or_default();
    match (request.method.as_str(), path) {
        ("GET", "/jwks") => Reply::json(&keys::jwks(&state.keys.lock().unwrap())),
        ("POST", "/token") => token(state, request),
        _ => Reply::text(404, "not found"),
    }
}

fn token(state: &State, request: &Request) -> Reply {
    let serial = state.exchanges.fetch_add(1, Ordering::SeqCst) + 1;
    state
        .requests
        .lock()
        .unwrap()
        .push(TokenRequest::of(request));
    let (wait, mode) = state.behaviour.lock().unwrap().next();
    std::thread::sleep(wait);
    match mode {
        Mode::Normal => exchanged(state, serial, request),
        Mode::Refuse(error) => refused(&Refusal {
            status: 400,
            error,
            description: "refused by the test".into(),
        }),
        Mode::Fail(status) => Reply::text(status, "sts: failing as the test asked"),
        Mode::Garbage => Reply::text(200, "<html>not a token response"),
        Mode::Answer(body) => no_store(Reply::json(&body)),
    }
}

/// The exchange of the `serial`-th request, with the current signing key.
fn exchanged(state: &State, serial: usize, request: &Request) -> Reply {
    let signing = *state.keys.lock().unwrap().last().unwrap();
    match exchange::exchange(&state.settings, signing, serial, request) {
        Ok(Minted { token, expires_in }) => {
            state.issued.fetch_add(1, Ordering::SeqCst);
            no_store(Reply::json(&json!({
                "access_token": token,
                "issued_token_type": ACCESS_TOKEN_TYPE,
                "token_type": "Bearer",
                "expires_in": expires_in,
            })))
        }
        Err(refusal) => refused(&refusal),
    }
}

/// The OAuth error answer; a 401 challenges for Basic.
fn refused(refusal: &Refusal) -> Reply {
    let body = json!({"error": refusal.error, "error_description": refusal.description});
    let mut reply = no_store(Reply::json(&body));
    reply.status = refusal.status;
    if refusal.status == 401 {
        let challenge = ("www-authenticate".into(), "Basic realm=\"sts\"".into());
        reply.headers.push(challenge);
    }
    reply
}

/// `reply` with `cache-control: no-store` (RFC 6749 §5.1).
fn no_store(mut reply: Reply) -> Reply {
    reply
        .headers
        .push(("cache-control".into(), "no-store".into()));
    reply
}
