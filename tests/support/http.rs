//! A tiny blocking HTTP/1.1 client for tests: one request per connection
//! (`connection: close`). The body is read by its framing (`content-length`,
//! chunked, else to EOF), not to EOF: after a local reply Envoy holds a
//! `connection: close` connection open until the client closes it or its
//! `delayed_close_timeout` (1 s) passes.
//!
//! ```ignore
//! let r = http::get(envoy.port(), "/orders", &[("authorization", "Bearer x")]);
//! assert_eq!(r.status, 401);
//! assert!(r.header("www-authenticate").is_some());
//! ```

use std::io::{BufRead, BufReader, Error, ErrorKind, Write};
use std::net::TcpStream;
use std::time::Duration;

/// What came back: status, headers (names lowercased, in order) and body.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        let mut named = self.headers.iter().filter(|(n, _)| *n == name);
        named.next().map(|(_, v)| v.as_str())
    }
}

/// `GET path` on 127.0.0.1:port with the given extra headers (names may repeat).
pub fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> Response {
    request(port, "GET", path, headers, b"")
}

/// `POST path` with `fields` as an `application/x-www-form-urlencoded` body
/// (each name and value [`form_encode`]d) and the given extra headers.
pub fn post_form(
    port: u16,
    path: &str,
    fields: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Response {
    let body: Vec<String> = fields
        .iter()
        .map(|(name, value)| format!("{}={}", form_encode(name), form_encode(value)))
        .collect();
    let mut all = vec![("content-type", "application/x-www-form-urlencoded")];
    all.extend_from_slice(headers);
    request(port, "POST", path, &all, body.join("&").as_bytes())
}

/// One name or value form-urlencoded: ASCII letters, digits and `-._*` as they
/// are, a space as `+`, every other byte as `%XX`.
pub fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b' ' => out.push('+'),
            b'-' | b'.' | b'_' | b'*' => out.push(byte as char),
            _ if byte.is_ascii_alphanumeric() => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Any method, with a body (sent with `content-length` when non-empty).
/// `host` defaults to `127.0.0.1:port` unless given in `headers`. Panics on I/O errors.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    try_request(port, method, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} 127.0.0.1:{port}{path}: {e}"))
}

/// `request` that returns I/O errors (connection refused...) instead of panicking.
pub fn try_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("host: 127.0.0.1:{port}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("connection: close\r\n\r\n");

    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    read_response(&mut BufReader::new(stream), method == "HEAD")
}

fn read_response(reader: &mut impl BufRead, head_only: bool) -> std::io::Result<Response> {
    let status_line = read_line(reader)?;
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').ok_or_else(|| invalid(line.clone()))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let mut response = Response {
        status,
        headers,
        body: String::new(),
    };
    let bodiless = head_only || status < 200 || status == 204 || status == 304;
    let chunked = response.header("transfer-encoding").is_some();
    let length = response.header("content-length").map(str::parse::<usize>);
    let body = match (bodiless, chunked, length) {
        (true, _, _) => Vec::new(),
        (_, true, _) => read_chunked(reader)?,
        (_, _, Some(length)) => {
            let mut body = vec![0; length.map_err(|e| invalid(e.to_string()))?];
            reader.read_exact(&mut body)?;
            body
        }
        _ => {
            let mut body = Vec::new();
            reader.read_to_end(&mut body)?;
            body
        }
    };
    response.body = String::from_utf8_lossy(&body).into_owned();
    Ok(response)
}

fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let size_line = read_line(reader)?;
        let size_hex = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|e| invalid(e.to_string()))?;
        if size == 0 {
            while !read_line(reader)?.is_empty() {} // trailers
            return Ok(body);
        }
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk)?;
        body.extend_from_slice(&chunk[..size]);
    }
}

/// One CRLF-terminated line without its terminator; EOF is an error.
fn read_line(reader: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = Vec::new();
    if reader.read_until(b'\n', &mut line)? == 0 {
        return Err(Error::new(ErrorKind::UnexpectedEof, "connection closed"));
    }
    let line = String::from_utf8_lossy(&line);
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn invalid(what: String) -> Error {
    Error::new(ErrorKind::InvalidData, what)
}
