//! A compact JWS split into its parts: strict base64url, strict JSON, no crypto.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

use crate::token::strict_json::{parse_object, StrictJsonError};

/// Longest token read; a longer one is refused before any decoding.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A token's parts, decoded but not verified.
#[derive(Debug)]
pub struct Token<'a> {
    /// The JOSE header.
    pub header: Header,
    /// The claims (payload) object.
    pub claims: Map<String, Value>,
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: &'a str,
    /// The payload part as sent (base64url, no padding).
    pub payload_b64: &'a str,
    /// The signature, decoded.
    pub signature: Vec<u8>,
}

/// The JOSE header fields audgate reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `alg`, as written.
    pub alg: String,
    /// `kid`, if present.
    pub kid: Option<String>,
    /// `typ`, if present as a string.
    pub typ: Option<String>,
}

/// Why a token could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Longer than [`MAX_TOKEN_BYTES`].
    TooLong,
    /// Not three dot-separated parts.
    NotThreeParts,
    /// A part is not base64url without padding.
    Base64,
    /// The header is not a JSON object without repeated keys.
    HeaderJson,
    /// The payload is not a JSON object without repeated keys.
    PayloadJson,
    /// `alg` is missing or not a string.
    MissingAlg,
    /// `kid` is present but not a string.
    BadKid,
    /// `crit` names extensions, and none is understood.
    Critical,
    /// The signature part is empty.
    NoSignature,
    /// Not 1..4096 `token68` characters: never sent for introspection.
    NotSendable,
    /// Five parts: an encrypted token (JWE), not a signed one.
    Encrypted,
    /// The header or the payload repeats a key.
    RepeatedKey,
    /// A number too large for a double (`1e400`).
    NumberOutOfRange,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenError::TooLong => "token too long",
            TokenError::NotThreeParts => "not a compact JWS",
            TokenError::Base64 => "bad base64url",
            TokenError::HeaderJson => "header is not a JSON object",
            TokenError::PayloadJson => "payload is not a JSON object",
            TokenError::MissingAlg => "header has no alg",
            TokenError::BadKid => "kid is not a string",
            TokenError::Critical => "crit extensions are not supported",
            TokenError::NoSignature => "no signature",
            TokenError::NotSendable => "not 1 to 4096 token68 characters",
            TokenError::Encrypted => {
                "an encrypted token (JWE, five parts): audgate verifies signed ones (JWS, three parts)"
            }
            TokenError::RepeatedKey => {
                "the header or payload repeats a key (a second aud or exp is refused, never chosen)"
            }
            TokenError::NumberOutOfRange => "a number in the token is out of range",
        })
    }
}

/// A compact JWS's parts, decoded but neither verified nor read: the token's
/// ([`parse`]) and a DPoP proof's (`token::dpop::proof`) common ground.
#[derive(Debug)]
pub struct Compact<'a> {
    /// The JOSE header, a JSON object without repeated keys.
    pub header: Map<String, Value>,
    /// The payload, a JSON object without repeated keys.
    pub claims: Map<String, Value>,
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: &'a str,
    /// The payload part as sent (base64url, no padding).
    pub payload_b64: &'a str,
    /// The signature, decoded (never empty).
    pub signature: Vec<u8>,
}

/// Splits and decodes `raw`, at most `max_bytes` long, without verifying or
/// reading anything.
pub fn parse_compact(raw: &str, max_bytes: usize) -> Result<Compact<'_>, TokenError> {
    if raw.len() > max_bytes {
        return Err(TokenError::TooLong);
    }
    let mut parts = raw.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(if raw.split('.').count() == 5 {
            TokenError::Encrypted
        } else {
            TokenError::NotThreeParts
        });
    };
    let signing_len = header_b64
        .len()
        .saturating_add(1)
        .saturating_add(payload_b64.len());
    let signing_input = raw.get(..signing_len).ok_or(TokenError::NotThreeParts)?;

    let header_json = decode(header_b64)?;
    let payload_json = decode(payload_b64)?;
    if signature_b64.is_empty() {
        return Err(TokenError::NoSignature);
    }
    let signature = decode(signature_b64)?;

    let header = parse_object(&header_json).map_err(|e| json_fault(e, TokenError::HeaderJson))?;
    let claims = parse_object(&payload_json).map_err(|e| json_fault(e, TokenError::PayloadJson))?;
    Ok(Compact {
        header,
        claims,
        signing_input,
        payload_b64,
        signature,
    })
}

/// Splits and decodes `raw` without verifying anything.
pub fn parse(raw: &str) -> Result<Token<'_>, TokenError> {
    let compact = parse_compact(raw, MAX_TOKEN_BYTES)?;
    Ok(Token {
        header: read_header(&compact.header)?,
        claims: compact.claims,
        signing_input: compact.signing_input,
        payload_b64: compact.payload_b64,
        signature: compact.signature,
    })
}

/// A strict JSON refusal in the token's words: a repeated key and a number out
/// of range said as such, anything else as `otherwise`.
fn json_fault(error: StrictJsonError, otherwise: TokenError) -> TokenError {
    match error {
        StrictJsonError::RepeatedKey => TokenError::RepeatedKey,
        StrictJsonError::NumberOutOfRange => TokenError::NumberOutOfRange,
        StrictJsonError::Invalid | StrictJsonError::NotAnObject => otherwise,
    }
}

fn decode(part: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD.decode(part).map_err(|_| TokenError::Base64)
}

fn read_header(fields: &Map<String, Value>) -> Result<Header, TokenError> {
    let alg = match fields.get("alg") {
        Some(Value::String(alg)) => alg.clone(),
        _ => return Err(TokenError::MissingAlg),
    };
    let kid = match fields.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(TokenError::BadKid),
    };
    if !no_critical_extensions(fields) {
        return Err(TokenError::Critical);
    }
    let typ = fields.get("typ").and_then(Value::as_str).map(str::to_owned);
    Ok(Header { alg, kid, typ })
}

/// Whether a JOSE header names no `crit` extension (none is understood here).
pub fn no_critical_extensions(header: &Map<String, Value>) -> bool {
    match header.get("crit") {
        None => true,
        Some(Value::Array(names)) => names.is_empty(),
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> String {
        URL_SAFE_NO_PAD.encode(text)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.{}", b64(header), b64(payload), b64("sig"))
    }

    #[test]
    fn reads_header_claims_and_parts() {
        let raw = token(r#"{"alg":"RS256","kid":"k1"}"#, r#"{"sub":"x"}"#);
        let parsed = parse(&raw).unwrap();
        assert_eq!(parsed.header.alg, "RS256");
        assert_eq!(parsed.header.kid.as_deref(), Some("k1"));
        assert_eq!(parsed.claims["sub"], "x");
        assert_eq!(
            parsed.signing_input,
            raw.rsplit_once('.').unwrap().0,
            "the signing input is header.payload"
        );
    }

    #[test]
    fn refuses_wrong_part_counts() {
        assert_eq!(parse("a.b").unwrap_err(), TokenError::NotThreeParts);
        assert_eq!(parse("a.b.c.d").unwrap_err(), TokenError::NotThreeParts);
        assert_eq!(parse("a.b.c.d.e").unwrap_err(), TokenError::Encrypted);
        assert_eq!(parse("").unwrap_err(), TokenError::NotThreeParts);
    }

    #[test]
    fn refuses_padding_and_non_url_alphabet() {
        let good = token(r#"{"alg":"RS256"}"#, r#"{"a":1}"#);
        let (head, rest) = good.split_once('.').unwrap();
        assert_eq!(
            parse(&format!("{head}=.{rest}")).unwrap_err(),
            TokenError::Base64
        );
        let plus = good.replacen(['-', '_', 'J'], "+", 1);
        assert_eq!(parse(&plus).unwrap_err(), TokenError::Base64);
    }

    #[test]
    fn refuses_an_empty_signature() {
        let raw = format!("{}.{}.", b64(r#"{"alg":"RS256"}"#), b64("{}"));
        assert_eq!(parse(&raw).unwrap_err(), TokenError::NoSignature);
    }

    #[test]
    fn refuses_repeated_claims_and_headers() {
        let raw = token(r#"{"alg":"RS256"}"#, r#"{"aud":"a","aud":"b"}"#);
        assert_eq!(parse(&raw).unwrap_err(), TokenError::RepeatedKey);
        let raw = token(r#"{"alg":"RS256","alg":"none"}"#, "{}");
        assert_eq!(parse(&raw).unwrap_err(), TokenError::RepeatedKey);
        let raw = token(r#"{"alg":"RS256"}"#, r#"{"exp":1e400}"#);
        assert_eq!(parse(&raw).unwrap_err(), TokenError::NumberOutOfRange);
        let raw = token(r#"{"alg":"RS256"}"#, r#"[1]"#);
        assert_eq!(parse(&raw).unwrap_err(), TokenError::PayloadJson);
    }

    #[test]
    fn refuses_bad_alg_kid_and_crit() {
        assert_eq!(
            parse(&token(r#"{"kid":"x"}"#, "{}")).unwrap_err(),
            TokenError::MissingAlg
        );
        assert_eq!(
            parse(&token(r#"{"alg":1}"#, "{}")).unwrap_err(),
            TokenError::MissingAlg
        );
        assert_eq!(
            parse(&token(r#"{"alg":"RS256","kid":7}"#, "{}")).unwrap_err(),
            TokenError::BadKid
        );
        assert_eq!(
            parse(&token(r#"{"alg":"RS256","crit":["exp"]}"#, "{}")).unwrap_err(),
            TokenError::Critical
        );
        assert!(parse(&token(r#"{"alg":"RS256","crit":[]}"#, "{}")).is_ok());
    }

    #[test]
    fn refuses_an_oversized_token_before_decoding() {
        let raw = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(parse(&raw).unwrap_err(), TokenError::TooLong);
    }

    #[test]
    fn refuses_non_object_payloads() {
        assert_eq!(
            parse(&token(r#"{"alg":"RS256"}"#, "[1]")).unwrap_err(),
            TokenError::PayloadJson
        );
        assert_eq!(
            parse(&token("null", "{}")).unwrap_err(),
            TokenError::HeaderJson
        );
    }
}
