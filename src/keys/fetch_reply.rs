//! A key server's reply to a fetch, judged: its status and size checked before
//! the body is read, the body taken as a key set or refused, and every failure
//! said in words an operator can act on (the proxy's own 503, a timeout, an HTML
//! page or a discovery document where a key set was expected).

use std::fmt;

use crate::keys::jwks::{parse_jwks_bytes, JwksError, Origin, ParsedJwks};

/// Largest JWKS body accepted from a fetch.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Why a fetched JWKS was not taken (the previous good set stays in use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchFailure {
    /// No reply: connection failure, reset or timeout.
    NoReply,
    /// No reply within the callout's `timeout_ms`.
    TimedOut(u64),
    /// The proxy would not send the callout: no such cluster (or it cannot be used).
    NotSent(String),
    /// The proxy could not reach the key server (its own 503, with its reason).
    CouldNotConnect(String),
    /// A status other than 200 from the key server.
    Status(u32),
    /// A body over [`MAX_JWKS_BYTES`].
    TooLarge(usize),
    /// The body is not UTF-8.
    NotText,
    /// The body is not a JWKS.
    Jwks(JwksError),
    /// The JWKS holds no usable key.
    NoUsableKey,
    /// No usable key, with each skipped key's reason.
    NoUsableKeyBecause(String),
    /// The body is an OpenID discovery document, not a key set.
    DiscoveryDocument(String),
    /// The body is an HTML page.
    Html,
    /// Discovery did not lead to keys.
    Discovery(crate::keys::discovery::DiscoveryError),
    /// The proxy would not store the fetched key set in its shared data.
    NotStored,
}

impl fmt::Display for FetchFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchFailure::NoReply => f.write_str("no reply (connection failed or timed out)"),
            FetchFailure::TimedOut(ms) => write!(
                f,
                "no reply within {ms} ms (timeout_ms): is the key server slow or the cluster's address wrong?"
            ),
            FetchFailure::NotSent(cluster) => write!(
                f,
                "not sent: this proxy has no usable cluster named \"{cluster}\" (declare it, e.g. a ServiceEntry in Istio, or fix remote_jwks.cluster)"
            ),
            FetchFailure::CouldNotConnect(reason) => write!(
                f,
                "could not connect to the key server through the cluster: {reason}"
            ),
            FetchFailure::Status(status) => write!(f, "the key server answered status {status}"),
            FetchFailure::TooLarge(size) => write!(f, "body of {size} bytes is over the limit"),
            FetchFailure::NotText => f.write_str("body is not UTF-8"),
            FetchFailure::Jwks(error) => write!(f, "body {error}"),
            FetchFailure::NoUsableKey => f.write_str("no usable key in the set"),
            FetchFailure::NoUsableKeyBecause(reasons) => {
                write!(f, "no usable key in the set: {reasons}")
            }
            FetchFailure::DiscoveryDocument(jwks_uri) => write!(
                f,
                "the body is an OpenID discovery document, not a key set: set remote_jwks.uri to its jwks_uri ({jwks_uri}), or use discovery: true instead of uri"
            ),
            FetchFailure::Html => f.write_str(
                "the body is an HTML page, not a key set: is remote_jwks.uri the JWKS itself?",
            ),
            FetchFailure::Discovery(error) => write!(f, "{error}"),
            FetchFailure::NotStored => f.write_str(
                "the proxy would not store the key set in its shared data (the previous keys stay in use)",
            ),
        }
    }
}

/// What went wrong with a callout reply, in words an operator can act on: the
/// proxy's own 503 (could not connect), a timeout, an HTML page or a discovery
/// document where a key set was expected, each skipped key's reason.
pub fn explain(
    failure: FetchFailure,
    body: &[u8],
    elapsed_ms: u64,
    timeout_ms: u64,
) -> FetchFailure {
    let text = String::from_utf8_lossy(body.get(..body.len().min(4096)).unwrap_or_default());
    let trimmed = text.trim_start();
    match failure {
        FetchFailure::NoReply if elapsed_ms >= timeout_ms => FetchFailure::TimedOut(timeout_ms),
        // Envoy answers a callout that timed out with its own 504.
        FetchFailure::Status(504) if trimmed.starts_with("upstream request timeout") => {
            FetchFailure::TimedOut(timeout_ms)
        }
        FetchFailure::Status(503)
            if trimmed.starts_with("upstream connect error")
                || trimmed.starts_with("no healthy upstream") =>
        {
            let reason: String = trimmed
                .lines()
                .next()
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect();
            FetchFailure::CouldNotConnect(reason)
        }
        FetchFailure::Jwks(JwksError::NotJson) if trimmed.starts_with('<') => FetchFailure::Html,
        FetchFailure::Jwks(JwksError::NoKeysArray) => {
            let jwks_uri = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|doc| doc.get("jwks_uri")?.as_str().map(str::to_owned));
            match jwks_uri {
                Some(uri) => FetchFailure::DiscoveryDocument(uri.chars().take(200).collect()),
                None => FetchFailure::Jwks(JwksError::NoKeysArray),
            }
        }
        FetchFailure::NoUsableKey => match parse_jwks_bytes(body, Origin::Remote) {
            Ok(parsed) if !parsed.skipped.is_empty() => {
                let reasons: Vec<String> = parsed
                    .skipped
                    .iter()
                    .take(8)
                    .map(|s| {
                        format!(
                            "key {} ({}): {}",
                            s.index,
                            s.kid.as_deref().unwrap_or("no kid"),
                            s.reason
                        )
                    })
                    .collect();
                FetchFailure::NoUsableKeyBecause(reasons.join("; "))
            }
            _ => FetchFailure::NoUsableKey,
        },
        other => other,
    }
}

/// Checks a callout reply's status and size before its body is read.
pub fn check_reply(status: Option<u32>, body_size: usize) -> Result<(), FetchFailure> {
    match status {
        None => Err(FetchFailure::NoReply),
        Some(200) if body_size > MAX_JWKS_BYTES => Err(FetchFailure::TooLarge(body_size)),
        Some(200) => Ok(()),
        Some(other) => Err(FetchFailure::Status(other)),
    }
}

/// Reads a fetched body: the JWKS text and its usable keys.
pub fn accept_body(body: Vec<u8>) -> Result<(String, ParsedJwks), FetchFailure> {
    if body.len() > MAX_JWKS_BYTES {
        return Err(FetchFailure::TooLarge(body.len()));
    }
    let text = String::from_utf8(body).map_err(|_| FetchFailure::NotText)?;
    let parsed = parse_jwks_bytes(text.as_bytes(), Origin::Remote).map_err(FetchFailure::Jwks)?;
    if parsed.set.is_empty() {
        return Err(FetchFailure::NoUsableKey);
    }
    Ok((text, parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_checked_before_their_keys_are_taken() {
        assert_eq!(check_reply(None, 0), Err(FetchFailure::NoReply));
        assert_eq!(check_reply(Some(503), 10), Err(FetchFailure::Status(503)));
        assert_eq!(
            check_reply(Some(200), MAX_JWKS_BYTES + 1),
            Err(FetchFailure::TooLarge(MAX_JWKS_BYTES + 1))
        );
        assert_eq!(check_reply(Some(200), 100), Ok(()));
        assert_eq!(
            accept_body(b"<html>".to_vec()).unwrap_err(),
            FetchFailure::Jwks(JwksError::NotJson)
        );
        assert_eq!(
            accept_body(vec![0xff, 0xfe]).unwrap_err(),
            FetchFailure::NotText
        );
        assert_eq!(
            accept_body(br#"{"keys":[]}"#.to_vec()).unwrap_err(),
            FetchFailure::NoUsableKey
        );
        let secret_only = br#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#.to_vec();
        assert_eq!(
            accept_body(secret_only).unwrap_err(),
            FetchFailure::NoUsableKey
        );
        let ed = br#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},{"kty":"XYZ"}]}"#;
        let (text, parsed) = accept_body(ed.to_vec()).unwrap();
        assert_eq!(text.as_bytes(), ed);
        assert_eq!((parsed.set.keys().len(), parsed.skipped.len()), (1, 1));
    }

    #[test]
    fn failures_are_explained_in_an_operators_words() {
        let connect = b"upstream connect error or disconnect/reset before headers. reset reason: remote connection failure";
        assert!(matches!(
            explain(FetchFailure::Status(503), connect, 5, 2000),
            FetchFailure::CouldNotConnect(reason) if reason.contains("remote connection failure")
        ));
        assert_eq!(
            explain(FetchFailure::Status(503), b"busy", 5, 2000),
            FetchFailure::Status(503)
        );
        assert_eq!(
            explain(
                FetchFailure::Status(504),
                b"upstream request timeout",
                2000,
                2000
            ),
            FetchFailure::TimedOut(2000)
        );
        assert_eq!(
            explain(FetchFailure::NoReply, b"", 2500, 2000),
            FetchFailure::TimedOut(2000)
        );
        assert_eq!(
            explain(FetchFailure::NoReply, b"", 10, 2000),
            FetchFailure::NoReply
        );
        assert_eq!(
            explain(
                FetchFailure::Jwks(JwksError::NotJson),
                b"  <!doctype html>",
                1,
                2000
            ),
            FetchFailure::Html
        );
        let discovery = br#"{"issuer":"https://i","jwks_uri":"https://i/jwks"}"#;
        assert_eq!(
            explain(
                FetchFailure::Jwks(JwksError::NoKeysArray),
                discovery,
                1,
                2000
            ),
            FetchFailure::DiscoveryDocument("https://i/jwks".into())
        );
        let weak = br#"{"keys":[{"kty":"RSA","kid":"k","n":"AQAB","e":"AQAB"},{"kty":"oct","k":"c2VjcmV0"}]}"#;
        let explained = explain(FetchFailure::NoUsableKey, weak, 1, 2000).to_string();
        assert_eq!(
            explained,
            "no usable key in the set: key 0 (k): RSA modulus under 2048 bits; key 1 (no kid): oct key not allowed here"
        );
    }
}
