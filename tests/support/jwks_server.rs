//! A JWKS endpoint the test controls: which keys it serves, a status or garbage
//! instead, a delay before answering, and how many fetches it has seen. It can
//! start "down" (its port reserved but nothing listening) and come up later.
//!
//! ```ignore
//! let jwks = JwksServer::start(keys::jwks(&[TestKey::Rsa1]));
//! let envoy = Envoy::builder(&config, upstream.port()).jwks_port(jwks.port()).start();
//! jwks.serve_keys(keys::jwks(&[TestKey::Rsa2]));   // rotation
//! jwks.serve_raw(200, "<html>");                    // garbage
//! assert!(jwks.fetches() <= 2);
//! ```

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

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
    server: Mutex<Option<Upstream>>,
}

impl JwksServer {
    /// Serving `jwks` on a free port.
    pub fn start(jwks: Value) -> JwksServer {
        let server = JwksServer::down(jwks);
        server.up();
        server
    }

    /// A port reserved for `jwks` with nothing listening yet (`up` starts it).
    pub fn down(jwks: Value) -> JwksServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        JwksServer {
            port,
            behaviour: Arc::new(Mutex::new(Behaviour {
                status: 200,
                body: jwks.to_string().into_bytes(),
                delay: Duration::ZERO,
            })),
            fetches: Arc::new(AtomicUsize::new(0)),
            server: Mutex::new(None),
        }
    }

    /// Starts listening on the reserved port.
    pub fn up(&self) {
        let (behaviour, fetches) = (self.behaviour.clone(), self.fetches.clone());
        let upstream = Upstream::serve(self.port, move |_request| {
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
