//! What a browser needs on the filter's own answers, since Istio runs its CORS
//! filter after `AUTHN`-phase plugins and never sees them: the metadata
//! document readable from any origin, and a refusal's challenges readable by
//! the page that made the request (its origin allowed only when configured).

use crate::token::dpop::htu::normalise;

/// `origin` as `cors_origins` holds origins (lowercase scheme and host, no
/// default port); `None` when it is not one (`null`, a path).
pub fn normalised_origin(origin: &str) -> Option<String> {
    if origin.matches('/').count() != 2 || origin.contains(['?', '#']) {
        return None;
    }
    let normalised = normalise(origin)?;
    Some(
        normalised
            .strip_suffix('/')
            .unwrap_or(&normalised)
            .to_owned(),
    )
}

/// The answer to a browser's preflight for the metadata document: any origin,
/// `GET` and `HEAD`, any request header (an MCP client sends its own).
pub fn preflight_headers() -> Vec<(String, String)> {
    [
        ("access-control-allow-origin", "*"),
        ("access-control-allow-methods", "GET, HEAD"),
        ("access-control-allow-headers", "*"),
        ("access-control-max-age", "86400"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect()
}

/// `access-control-allow-origin: *` for the metadata document.
pub fn metadata_headers() -> Vec<(String, String)> {
    vec![("access-control-allow-origin".to_owned(), "*".to_owned())]
}

/// The headers of a refusal of a request from `origin` (its `origin` header,
/// normalised), when there is one: the challenge and nonce headers exposed, and
/// the origin allowed when `allowed` (`cors_origins`) names it exactly. With
/// `cors_origins`, every refusal of a request from a page says it varies by
/// `Origin` (a cache must not give one origin's answer to another).
pub fn refusal_headers(origin: Option<&str>, allowed: &[String]) -> Vec<(String, String)> {
    let Some(origin) = origin else {
        return Vec::new();
    };
    let mut headers = vec![(
        "access-control-expose-headers".to_owned(),
        "WWW-Authenticate, DPoP-Nonce".to_owned(),
    )];
    if allowed.iter().any(|listed| listed == origin) {
        headers.push(("access-control-allow-origin".to_owned(), origin.to_owned()));
    }
    if !allowed.is_empty() {
        headers.push(("vary".to_owned(), "Origin".to_owned()));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_listed_origin_is_allowed() {
        let listed = vec!["https://app.example.com".to_owned()];
        assert!(refusal_headers(None, &listed).is_empty());
        let other = refusal_headers(Some("https://evil.example"), &listed);
        assert_eq!(
            other,
            [
                (
                    "access-control-expose-headers".to_owned(),
                    "WWW-Authenticate, DPoP-Nonce".to_owned()
                ),
                ("vary".to_owned(), "Origin".to_owned()),
            ]
        );
        assert_eq!(refusal_headers(Some("https://evil.example"), &[]).len(), 1);
        assert_eq!(
            normalised_origin("HTTPS://App.Example.com:443").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(normalised_origin("null"), None);
        assert_eq!(normalised_origin("https://a.example/path"), None);
        let named = refusal_headers(Some("https://app.example.com"), &listed);
        assert!(named.contains(&(
            "access-control-allow-origin".to_owned(),
            "https://app.example.com".to_owned()
        )));
    }
}
