//! The soak's HTTP/1.1 client: one keep-alive connection to an Envoy listener,
//! a bearer token per request, `content-length` bodies only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// An HTTP/1.1 keep-alive connection to Envoy, reopened after an error or close.
pub struct Connection {
    port: u16,
    stream: Option<BufReader<TcpStream>>,
}

impl Connection {
    pub fn new(port: u16) -> Connection {
        Connection { port, stream: None }
    }

    /// `GET path` to `host` with the bearer token; the status and body.
    pub fn get(&mut self, path: &str, host: &str, token: &str) -> std::io::Result<(u16, String)> {
        let result = self.try_get(path, host, token);
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    fn try_get(&mut self, path: &str, host: &str, token: &str) -> std::io::Result<(u16, String)> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(("127.0.0.1", self.port))?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(Duration::from_secs(15)))?;
            self.stream = Some(BufReader::new(stream));
        }
        let reader = self.stream.as_mut().unwrap();
        let request =
            format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {token}\r\n\r\n");
        reader.get_mut().write_all(request.as_bytes())?;
        let status_line = line(reader)?;
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid(&status_line))?;
        let (mut length, mut close) = (0, false);
        loop {
            let header = line(reader)?;
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').ok_or_else(|| invalid(&header))?;
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().map_err(|_| invalid(&header))?,
                "connection" => close = value.trim().eq_ignore_ascii_case("close"),
                "transfer-encoding" => return Err(invalid("chunked response")),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        if close {
            self.stream = None;
        }
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

fn line(reader: &mut impl BufRead) -> std::io::Result<String> {
    let mut text = String::new();
    if reader.read_line(&mut text)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    Ok(text.trim_end().to_owned())
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}
