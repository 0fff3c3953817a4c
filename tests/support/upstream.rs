//! A recording HTTP/1.1 server on 127.0.0.1 (std threads, keep-alive,
//! `content-length` or chunked request bodies). By default it answers `200 ok`;
//! `Upstream::serve` takes a handler, e.g. for a JWKS endpoint;
//! `Upstream::serve_tls_unrecorded` serves HTTPS and hands the handler the
//! client's certificate. Stops on drop.
//!
//! ```ignore
//! let upstream = Upstream::start();
//! let envoy = Envoy::start(&config, upstream.port());
//! http::get(envoy.port(), "/", &[]);
//! assert_eq!(upstream.count(), 0);
//! let jwks = Upstream::serve(0, move |_req| Reply::json(&keys::jwks(&[TestKey::Rsa1])));
//! ```

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// One request as the upstream received it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The request target as sent, query included.
    pub path: String,
    /// Names lowercased, in arrival order; a repeated header appears repeatedly.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers_named(name).into_iter().next()
    }

    /// Every value of a header, by case-insensitive name.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        let named = self.headers.iter().filter(|(n, _)| *n == name);
        named.map(|(_, v)| v.as_str()).collect()
    }
}

/// What a handler answers.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// A response with a plain-text body.
    pub fn text(status: u16, body: &str) -> Reply {
        let headers = vec![("content-type".into(), "text/plain".into())];
        let body = body.as_bytes().to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// `200` with a JSON body.
    pub fn json(value: &serde_json::Value) -> Reply {
        let headers = vec![("content-type".into(), "application/json".into())];
        let body = value.to_string().into_bytes();
        Reply {
            status: 200,
            headers,
            body,
        }
    }
}

/// A handler: the request, and the DER certificate the TLS client presented
/// (always `None` on plain HTTP).
type Handler = dyn Fn(&Request, Option<&[u8]>) -> Reply + Send + Sync;
/// Open connections by id, so that drop can shut them down.
type Conns = Mutex<HashMap<usize, TcpStream>>;

/// The running server; see the module docs.
pub struct Upstream {
    port: u16,
    log: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    conns: Arc<Conns>,
    acceptor: Option<JoinHandle<()>>,
}

impl Upstream {
    /// On a free port, answering every request `200 ok`.
    pub fn start() -> Upstream {
        Upstream::serve(0, |_| Reply::text(200, "ok"))
    }

    /// On `port` (0: a free one), answering with `handler`. Panics if the port is taken.
    pub fn serve(
        port: u16,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Upstream {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("bind 127.0.0.1:{port}: {e}"));
        Upstream::serve_on(listener, handler)
    }

    /// On an already bound and listening `listener`, answering with `handler`.
    pub fn serve_on(
        listener: TcpListener,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Upstream {
        Upstream::serve_with(listener, None, true, move |request, _| handler(request))
    }

    /// `serve_on` keeping no requests (`requests` stays empty): for servers whose
    /// requests carry tokens or secrets that must not linger in a log.
    pub fn serve_on_unrecorded(
        listener: TcpListener,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Upstream {
        Upstream::serve_with(listener, None, false, move |request, _| handler(request))
    }

    /// `serve_on_unrecorded` over TLS as `tls` says (its certificate, and
    /// whether and how client certificates are checked); `handler` also gets
    /// the certificate the client presented, if it did.
    pub fn serve_tls_unrecorded(
        listener: TcpListener,
        tls: Arc<rustls::ServerConfig>,
        handler: impl Fn(&Request, Option<&[u8]>) -> Reply + Send + Sync + 'static,
    ) -> Upstream {
        Upstream::serve_with(listener, Some(tls), false, handler)
    }

    fn serve_with(
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        record: bool,
        handler: impl Fn(&Request, Option<&[u8]>) -> Reply + Send + Sync + 'static,
    ) -> Upstream {
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Conns> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let (log2, stop2, conns2) = (log.clone(), stop.clone(), conns.clone());
        let acceptor = std::thread::spawn(move || {
            let ids = AtomicUsize::new(0);
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let Ok(clone) = stream.try_clone() else {
                    continue;
                };
                let id = ids.fetch_add(1, Ordering::SeqCst);
                conns2.lock().unwrap().insert(id, clone);
                let (log, handler, conns) = (log2.clone(), handler.clone(), conns2.clone());
                let tls = tls.clone();
                std::thread::spawn(move || {
                    let log = record.then_some(&*log);
                    match tls {
                        None => serve_connection(stream, log, &*handler, |_| None),
                        Some(tls) => {
                            let Ok(connection) = rustls::ServerConnection::new(tls) else {
                                return;
                            };
                            let stream = rustls::StreamOwned::new(connection, stream);
                            let certificate = |stream: &rustls::StreamOwned<
                                rustls::ServerConnection,
                                TcpStream,
                            >| {
                                let chain = stream.conn.peer_certificates()?;
                                Some(chain.first()?.to_vec())
                            };
                            serve_connection(stream, log, &*handler, certificate);
                        }
                    }
                    if let Some(conn) = conns.lock().unwrap().remove(&id) {
                        let _ = conn.shutdown(Shutdown::Both);
                    }
                });
            }
        });
        let acceptor = Some(acceptor);
        Upstream {
            port,
            log,
            stop,
            conns,
            acceptor,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }

    /// Every request received so far, and forget them.
    pub fn take(&self) -> Vec<Request> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }

    /// How many requests were received (and not taken).
    pub fn count(&self) -> usize {
        self.log.lock().unwrap().len()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes the acceptor
        for (_, conn) in self.conns.lock().unwrap().drain() {
            let _ = conn.shutdown(Shutdown::Both);
        }
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Serves requests on one connection until the peer closes it or asks to,
/// recording each in `log` if given; `certificate` reads the client's
/// certificate off the stream (TLS).
fn serve_connection<S: Read + Write>(
    stream: S,
    log: Option<&Mutex<Vec<Request>>>,
    handler: &Handler,
    certificate: impl Fn(&S) -> Option<Vec<u8>>,
) {
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let presented = certificate(reader.get_ref());
        let reply = handler(&request, presented.as_deref());
        if let Some(log) = log {
            log.lock().unwrap().push(request);
        }
        let writer = reader.get_mut();
        if writer.write_all(&encode(&reply)).is_err() || writer.flush().is_err() || close {
            return;
        }
    }
}

fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let request_line = read_line(reader)?;
    let mut parts = request_line.split(' ');
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let mut request = Request {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    if let Some(len) = request.header("content-length") {
        let mut body = vec![0; len.parse().ok()?];
        reader.read_exact(&mut body).ok()?;
        request.body = body;
    } else if request.header("transfer-encoding").is_some() {
        request.body = read_chunked(reader)?;
    }
    Some(request)
}

fn read_chunked(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let size_line = read_line(reader)?;
        let size_hex = size_line.split(';').next()?.trim();
        let size = usize::from_str_radix(size_hex, 16).ok()?;
        if size == 0 {
            while !read_line(reader)?.is_empty() {} // trailers
            return Some(body);
        }
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).ok()?;
        body.extend_from_slice(&chunk[..size]);
    }
}

/// One CRLF-terminated line without its terminator; `None` at EOF or error.
fn read_line(reader: &mut impl BufRead) -> Option<String> {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_string()),
    }
}

fn encode(reply: &Reply) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (name, value) in &reply.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("content-length: {}\r\n\r\n", reply.body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(&reply.body);
    out
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
