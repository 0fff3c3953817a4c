//! A token request's form body and its client's Basic credentials decoded as
//! RFC 6749 has them: `application/x-www-form-urlencoded` (`+` a space, `%XY` a
//! byte, UTF-8), and Basic's id and secret each form-decoded after base64 (§2.3.1).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The fields of a form body, decoded, in order (names may repeat). `None` when
/// the body is not UTF-8, an escape is broken or a decoded value is not UTF-8.
pub fn parse(body: &[u8]) -> Option<Vec<(String, String)>> {
    let body = std::str::from_utf8(body).ok()?;
    let pairs = body.split('&').filter(|pair| !pair.is_empty());
    pairs
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(name)?, decode(value)?))
        })
        .collect()
}

/// The first value of `name` in `fields`.
pub fn first<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    every(fields, name).next()
}

/// Every value of `name` in `fields`, in order.
pub fn every<'a, 'n>(
    fields: &'a [(String, String)],
    name: &'n str,
) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
    let named = fields.iter().filter(move |(n, _)| n == name);
    named.map(|(_, value)| value.as_str())
}

/// One form-encoded name or value: `+` is a space, `%XY` the byte XY.
pub fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(at + 1..at + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                at += 2;
            }
            byte => out.push(byte),
        }
        at += 1;
    }
    String::from_utf8(out).ok()
}

/// The client id and secret of an `authorization: Basic …` value; `None` if the
/// scheme is another or the credentials do not decode.
pub fn basic(authorization: &str) -> Option<(String, String)> {
    let (scheme, credentials) = authorization.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let pair = String::from_utf8(STANDARD.decode(credentials.trim()).ok()?).ok()?;
    let (id, secret) = pair.split_once(':')?;
    Some((decode(id)?, decode(secret)?))
}
