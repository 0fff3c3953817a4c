//! OpenID Connect discovery (`remote_jwks.discovery: true`): the issuer's
//! configuration document must name the provider's issuer, and its `jwks_uri`
//! must be served by the issuer's own host, which is then asked for the keys.
//!
//! ```text
//! GET <issuer>/.well-known/openid-configuration  →  {"issuer": ..., "jwks_uri": "https://idp/jwks"}
//! jwks_location(body, issuer, authority)         →  Ok("/jwks")  (the next callout's :path)
//! ```

use std::fmt;

use serde_json::Value;

/// Why a discovery document does not lead to keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryError {
    /// The document is not a JSON object.
    NotJson,
    /// Its `issuer` is not the provider's.
    IssuerMismatch {
        /// What the document says (cut).
        found: String,
    },
    /// It has no string `jwks_uri`.
    NoJwksUri,
    /// `jwks_uri` is not an absolute http(s) URI.
    JwksUriInvalid,
    /// `jwks_uri` points at another host than the issuer's.
    JwksElsewhere {
        /// The authority it names.
        authority: String,
    },
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoveryError::NotJson => f.write_str("the discovery document is not a JSON object"),
            DiscoveryError::IssuerMismatch { found } => write!(
                f,
                "the discovery document names issuer \"{found}\", not the provider's: check the provider's issuer"
            ),
            DiscoveryError::NoJwksUri => f.write_str("the discovery document has no jwks_uri"),
            DiscoveryError::JwksUriInvalid => {
                f.write_str("the discovery document's jwks_uri is not an absolute http(s) URI")
            }
            DiscoveryError::JwksElsewhere { authority } => write!(
                f,
                "the discovery document's jwks_uri is on {authority}, not on the issuer's host: set remote_jwks.uri (and a cluster for that host) instead of discovery"
            ),
        }
    }
}

/// The `:path` of the key set named by the discovery document `body`, which must
/// be `issuer`'s and point back at `authority` (the issuer's host).
pub fn jwks_location(body: &[u8], issuer: &str, authority: &str) -> Result<String, DiscoveryError> {
    let document: Value = serde_json::from_slice(body).map_err(|_| DiscoveryError::NotJson)?;
    let document = document.as_object().ok_or(DiscoveryError::NotJson)?;
    match document.get("issuer").and_then(Value::as_str) {
        Some(found) if found == issuer => {}
        found => {
            return Err(DiscoveryError::IssuerMismatch {
                found: found.unwrap_or("-").chars().take(128).collect(),
            })
        }
    }
    let uri = document
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or(DiscoveryError::NoJwksUri)?;
    let (host, path) = split_uri(uri).ok_or(DiscoveryError::JwksUriInvalid)?;
    if !host.eq_ignore_ascii_case(authority) {
        return Err(DiscoveryError::JwksElsewhere {
            authority: host.chars().take(128).collect(),
        });
    }
    Ok(path)
}

/// The OpenID configuration document of `issuer` (OpenID Connect Discovery 4.1).
pub fn discovery_uri(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// `http(s)://authority/path?query` → (authority, path-and-query); `None` if not absolute.
pub fn split_uri(uri: &str) -> Option<(String, String)> {
    let (scheme, rest) = uri.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    if uri.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let tail = tail.split_once('#').map_or(tail, |(before, _)| before);
    let path = if tail.is_empty() {
        "/".to_owned()
    } else if tail.starts_with('?') {
        format!("/{tail}")
    } else {
        tail.to_owned()
    };
    Some((authority.to_owned(), path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ISSUER: &str = "https://idp.example.com/realms/corp";

    fn read(document: Value) -> Result<String, DiscoveryError> {
        jwks_location(document.to_string().as_bytes(), ISSUER, "idp.example.com")
    }

    #[test]
    fn the_jwks_path_on_the_issuers_host() {
        let doc =
            json!({"issuer": ISSUER, "jwks_uri": "https://idp.example.com/realms/corp/certs?x=1"});
        assert_eq!(read(doc).as_deref(), Ok("/realms/corp/certs?x=1"));
        let upper = json!({"issuer": ISSUER, "jwks_uri": "https://IDP.example.com/jwks"});
        assert_eq!(read(upper).as_deref(), Ok("/jwks"));
    }

    #[test]
    fn a_document_for_another_issuer_or_host_is_refused() {
        assert_eq!(
            read(
                json!({"issuer": "https://evil.example.com", "jwks_uri": "https://idp.example.com/jwks"})
            ),
            Err(DiscoveryError::IssuerMismatch {
                found: "https://evil.example.com".into()
            })
        );
        assert_eq!(
            read(json!({"issuer": ISSUER, "jwks_uri": "https://keys.example.net/jwks"})),
            Err(DiscoveryError::JwksElsewhere {
                authority: "keys.example.net".into()
            })
        );
        assert_eq!(
            read(json!({"issuer": ISSUER})),
            Err(DiscoveryError::NoJwksUri)
        );
        assert_eq!(
            read(json!({"issuer": ISSUER, "jwks_uri": "/jwks"})),
            Err(DiscoveryError::JwksUriInvalid)
        );
        assert_eq!(
            jwks_location(b"<html>", ISSUER, "idp.example.com"),
            Err(DiscoveryError::NotJson)
        );
    }
}
