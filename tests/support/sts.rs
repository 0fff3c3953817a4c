//! A security token service for the token-exchange tests: RFC 8693 on
//! `POST /token` (client authenticated, subject token verified, a token minted
//! for the asked audience or resource and signed with its own key) and its keys
//! on `GET /jwks`, so a callee can verify what it mints. The test can publish a
//! key ahead and rotate to it, make it refuse, fail, stall, answer garbage or a
//! given body, fault every n-th request, and count and read its requests (tokens
//! only as SHA-256) with how each was answered.
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
//! sts.publish(TestKey::Ed);                          // served, not yet signing
//! sts.refuse("invalid_grant");                       // 400 from now on
//! sts.fault_every(10, Fault::rotation(timeout));     // the soak's faults
//! assert_eq!(sts.exchanges(), 1);
//! assert_eq!(sts.last_subject_sha256(), Some(sts::sha256_hex(&token)));
//! assert_eq!(sts.requests()[0].answer(), Some(&Answer::Issued));
//! let claims = sts.verify(&minted_token)?;           // one of its keys, its iss
//! ```

pub(crate) mod behaviour;
pub(crate) mod exchange;
pub(crate) mod form;
mod record;
mod settings;
mod tls;

use std::net::TcpListener;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, Validation};
use serde_json::{json, Map, Value};

pub use behaviour::Fault;
pub use exchange::{ACCESS_TOKEN_TYPE, GRANT_TYPE, JWT_TOKEN_TYPE};
pub use record::{sha256_hex, Answer, Answered, TokenRequest};
pub use settings::{StsClient, StsSettings};
pub use tls::StsTls;

use super::keys::{self, TestKey};
use super::upstream::{Reply, Request, Upstream};
use behaviour::{Behaviour, Mode, Next};
use exchange::{Minted, Refusal};

/// What the handler shares with the test.
struct State {
    settings: StsSettings,
    keys: Mutex<KeyRing>,
    behaviour: Mutex<Behaviour>,
    requests: Mutex<Vec<TokenRequest>>,
    exchanges: AtomicUsize,
    issued: AtomicUsize,
}

/// The STS's keys: every one it has signed with, the current one last, and
/// those published ahead of signing.
struct KeyRing {
    signed: Vec<TestKey>,
    ahead: Vec<TestKey>,
}

impl KeyRing {
    /// What `GET /jwks` serves: every key signed with or published.
    fn served(&self) -> Vec<TestKey> {
        let mut served = self.signed.clone();
        served.extend(self.ahead.iter().filter(|key| !self.signed.contains(key)));
        served
    }

    fn signing(&self) -> TestKey {
        *self.signed.last().unwrap()
    }
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
        let keys = Mutex::new(KeyRing {
            signed: vec![settings.signing_key],
            ahead: Vec::new(),
        });
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
        let handler = move |request: &Request, certificate: Option<&[u8]>| {
            handle(&shared, request, certificate)
        };
        let server = match &state.settings.tls {
            Some(tls) => Upstream::serve_tls_unrecorded(listener, tls.server_config(), handler),
            None => Upstream::serve_on_unrecorded(listener, move |request| handler(request, None)),
        };
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
        self.state.keys.lock().unwrap().signing()
    }

    /// The key set `GET /jwks` serves: every signing key so far, and the keys
    /// published ahead.
    pub fn jwks(&self) -> Value {
        keys::jwks(&self.state.keys.lock().unwrap().served())
    }

    /// Sign with `key` from now on; the JWKS keeps serving the earlier keys too.
    pub fn rotate(&self, key: TestKey) {
        let mut keys = self.state.keys.lock().unwrap();
        keys.ahead.retain(|k| *k != key);
        keys.signed.retain(|k| *k != key);
        keys.signed.push(key);
    }

    /// Serve `key` in the JWKS from now on without signing with it yet (a
    /// careful rotation publishes a key a period before it signs).
    pub fn publish(&self, key: TestKey) {
        let mut keys = self.state.keys.lock().unwrap();
        if !keys.ahead.contains(&key) {
            keys.ahead.push(key);
        }
    }

    /// The claims of `token` if this STS minted it: signed by a key it has
    /// signed with (by `kid`, under that key's alg), of its issuer, not expired.
    pub fn verify(&self, token: &str) -> Result<Map<String, Value>, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
        let kid = header.kid.ok_or("no kid")?;
        let signed = self.state.keys.lock().unwrap().signed.clone();
        let key = signed
            .into_iter()
            .find(|key| key.kid() == kid)
            .ok_or_else(|| format!("kid {kid} is not a key it signed with"))?;
        let mut validation = Validation::new(Algorithm::from_str(key.default_alg()).unwrap());
        validation.leeway = 0;
        validation.validate_aud = false;
        validation.set_issuer(&[self.issuer()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let key = exchange::decoding_key(key);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| e.to_string())?;
        Ok(data.claims)
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

    /// Every `POST /token` received so far, oldest first, tokens hashed, each
    /// with how it was answered once that was decided.
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

/// `request`, from a client that presented `certificate` (HTTPS).
fn handle(state: &State, request: &Request, certificate: Option<&[u8]>) -> Reply {
    let path = request.path.split('?').next().unwrap_or_default();
    match (request.method.as_str(), path) {
        ("GET", "/jwks") => Reply::json(&keys::jwks(&state.keys.lock().unwrap().served())),
        ("POST", "/token") => token(state, request, certificate),
        _ => Reply::text(404, "not found"),
    }
}

fn token(state: &State, request: &Request, certificate: Option<&[u8]>) -> Reply {
    let serial = state.exchanges.fetch_add(1, Ordering::SeqCst) + 1;
    // The client a certificate names: only one the CA issued is ever verified.
    let certified = certificate.map(|certificate| {
        let tls = state.settings.tls.as_ref();
        let client = tls.and_then(|tls| tls.client_of(certificate));
        client.unwrap_or("<not issued by the test PKI>").to_owned()
    });
    let record = TokenRequest::of(request, certified.clone());
    let at = {
        let mut requests = state.requests.lock().unwrap();
        requests.push(record);
        requests.len() - 1
    };
    let Next { wait, mode, fault } = state.behaviour.lock().unwrap().next();
    let stalled = match fault {
        Some(Fault::Stall(wait)) => {
            answered(state, at, Answer::Stalled(wait), true);
            true
        }
        _ => false,
    };
    std::thread::sleep(wait);
    let (reply, answer) = match mode {
        Mode::Normal => exchanged(state, serial, request, certified.as_deref()),
        Mode::Refuse(error) => refused(&Refusal {
            status: 400,
            error,
            description: "refused by the test".into(),
        }),
        Mode::Fail(status) => (
            Reply::text(status, "sts: failing as the test asked"),
            Answer::Failed(status),
        ),
        Mode::Garbage => (
            Reply::text(200, "<html>not a token response"),
            Answer::Unusable,
        ),
        Mode::Answer(body) => (no_store(Reply::json(&body)), Answer::Unusable),
    };
    if !stalled {
        answered(state, at, answer, fault.is_some());
    }
    reply
}

/// Records how the `at`-th request was answered.
fn answered(state: &State, at: usize, answer: Answer, fault: bool) {
    let mut requests = state.requests.lock().unwrap();
    requests[at].answered = Some(Answered {
        answer,
        fault,
        at: Instant::now(),
    });
}

/// The exchange of the `serial`-th request, with the current signing key.
fn exchanged(
    state: &State,
    serial: usize,
    request: &Request,
    certified: Option<&str>,
) -> (Reply, Answer) {
    let signing = state.keys.lock().unwrap().signing();
    match exchange::exchange(&state.settings, signing, serial, request, certified) {
        Ok(Minted { token, expires_in }) => {
            state.issued.fetch_add(1, Ordering::SeqCst);
            let reply = no_store(Reply::json(&json!({
                "access_token": token,
                "issued_token_type": ACCESS_TOKEN_TYPE,
                "token_type": "Bearer",
                "expires_in": expires_in,
            })));
            (reply, Answer::Issued)
        }
        Err(refusal) => refused(&refusal),
    }
}

/// The OAuth error answer; a 401 challenges for Basic.
pub(crate) fn refused(refusal: &Refusal) -> (Reply, Answer) {
    let body = json!({"error": refusal.error, "error_description": refusal.description});
    let mut reply = no_store(Reply::json(&body));
    reply.status = refusal.status;
    if refusal.status == 401 {
        let challenge = ("www-authenticate".into(), "Basic realm=\"sts\"".into());
        reply.headers.push(challenge);
    }
    let answer = Answer::Refused {
        status: refusal.status,
        error: refusal.error.clone(),
    };
    (reply, answer)
}

/// `reply` with `cache-control: no-store` (RFC 6749 §5.1).
pub(crate) fn no_store(mut reply: Reply) -> Reply {
    reply
        .headers
        .push(("cache-control".into(), "no-store".into()));
    reply
}
