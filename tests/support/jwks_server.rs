//! A JWKS endpoint the test controls: which keys it serves, a status or garbage
//! instead, a delay before answering, and how many fetches it has seen. It can
//! start "down" and come up later: its socket is bound from the start, so the port
//! stays its own, but listens only from `up` (until then a connect is refused).
//!
//! ```ignore
//! let jwks = JwksServer::start(keys::jwks(&[TestKey::Rsa1]));
//! let envoy = Envoy::builder(&config, upstream.port()).jwks_port(jwks.port()).start();
//! jwks.serve_keys(keys::jwks(&[TestKey::Rsa2]));   // rotation
//! jwks.serve_raw(200, "<html>");                    // garbage
//! assert!(jwks.fetches() <= 2);
//! ```

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use socket2::{Domain, Socket, Type};

use super::upstream::{Reply, Upstream};

#[derive(Clone)]
struct Behaviour {
    status: u16,
    body: Vec<u8>,
    delay: Duration,
}

/// The controllable JWKS server; see the module docs.
pub struct JwksServer {
    port: u16,
    behaviour: Arc<Mutex<Behaviour>>,
    fetches: Arc<AtomicUsize>,
    /// The bound, not yet listening socket while down; taken by `up`.
    socket: Mutex<Option<Socket>>,
    server: Mutex<Option<Upstream>>,
}

impl JwksServer {
    /// Serving `jwks` on a free port.
    pub fn start(jwks: Value) -> JwksServer {
        let server = JwksServer::down(jwks);
        server.up();
        server
    }

    /// A port bound for `jwks` with nothing listening yet (`up` starts it). The
    /// socket is kept, so no other test can take the port meanwhile.
    pub fn down(jwks: Value) -> JwksServer {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        socket.bind(&loopback.into()).unwrap();
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();
        JwksServer {
            port,
            behaviour: Arc::new(Mutex::new(Behaviour {
                status: 200,
                body: jwks.to_string().into_bytes(),
                delay: Duration::ZERO,
            })),
            fetches: Arc::new(AtomicUsize::new(0)),
            socket: Mutex::new(Some(socket)),
            server: Mutex::new(None),
        }
    }

    /// Starts listening on the bound socket. Panics if it is already up.
    pub fn up(&self) {
        let socket = self.socket.lock().unwrap().take().expect("already up");
        socket.listen(128).unwrap();
        let listener = TcpListener::from(socket);
        let (behaviour, fetches) = (self.behaviour.clone(), self.fetches.clone());
        let upstream = Upstream::serve_on(listener, move |_request| {
            fetches.fetch_add(1, Ordering::SeqCst);
            let now = behaviour.lock().unwrap().clone();
            std::thread::sleep(now.delay);
            let mut reply = Reply::text(now.status, "");
            reply.headers = vec![("content-type".into(), "application/json".into())];
            reply.body = now.body;
            reply
        });
        *self.server.lock().unwrap() = Some(upstream);
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serve this key set (200).
    pub fn serve_keys(&self, jwks: Value) {
        self.serve_raw(200, &jwks.to_string());
    }

    /// Answer with this status and body.
    pub fn serve_raw(&self, status: u16, body: &str) {
        let mut behaviour = self.behaviour.lock().unwrap();
        behaviour.status = status;
        behaviour.body = body.as_bytes().to_vec();
    }

    /// Wait this long before each answer.
    pub fn delay(&self, delay: Duration) {
        self.behaviour.lock().unwrap().delay = delay;
    }

    /// Requests received so far.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}
