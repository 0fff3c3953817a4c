//! OAuth 2.0 Protected Resource Metadata (RFC 9728): the document the filter
//! answers itself at the well-known URL of its `resource` (§3.1: the suffix
//! `/.well-known/oauth-protected-resource` between the host and the path), and
//! that URL, which every challenge names (§5.1).

use serde_json::{json, Value};

/// The well-known path suffix (RFC 9728 §3).
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// A resource's published metadata, made once from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceMetadata {
    /// `resource`: this resource's identifier (an https URL).
    pub resource: String,
    /// The metadata URL (`resource_metadata="…"` in challenges).
    pub url: String,
    /// Its path, which the filter answers `GET` and `HEAD` of.
    pub path: String,
    /// The document, JSON.
    pub document: String,
}

/// What the configuration says of the metadata, besides `resource`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Described {
    /// `authorization_servers`.
    pub authorization_servers: Vec<String>,
    /// `scopes_supported`, when given.
    pub scopes_supported: Option<Vec<String>>,
    /// `resource_name`, when given.
    pub resource_name: Option<String>,
    /// `resource_documentation`, when given.
    pub resource_documentation: Option<String>,
    /// `bearer_methods_supported`: `header`, and `query` when a provider reads
    /// a query parameter.
    pub bearer_methods: Vec<&'static str>,
    /// `dpop_signing_alg_values_supported`: the providers' proof algorithms.
    pub dpop_algs: Vec<String>,
    /// `dpop_bound_access_tokens_required`: every provider requires DPoP.
    pub dpop_required: bool,
    /// `tls_client_certificate_bound_access_tokens`: every provider requires a
    /// certificate binding.
    pub certificate_bound: bool,
}

/// The metadata URL of `resource` and its path (RFC 9728 §3.1: the suffix
/// inserted between the host and the path, a lone `/` after the host dropped,
/// any other path kept as it is, a trailing `/` included): `None` when
/// `resource` is not an absolute https URL without query, fragment or user,
/// of visible ASCII characters other than `"` and `\`.
pub fn well_known(resource: &str) -> Option<(String, String)> {
    let rest = resource.strip_prefix("https://")?;
    let visible = resource
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
    if !visible || resource.contains(['?', '#']) {
        return None;
    }
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, ""), |(host, path)| (host, path));
    if host.is_empty() || host.contains('@') {
        return None;
    }
    let well_known = if path.is_empty() {
        WELL_KNOWN.to_owned()
    } else {
        format!("{WELL_KNOWN}/{path}")
    };
    Some((format!("https://{host}{well_known}"), well_known))
}

/// The metadata of `resource` with what `described` says, or `None` when
/// `resource` has no metadata URL ([`well_known`]).
pub fn publish(resource: &str, described: &Described) -> Option<ResourceMetadata> {
    let (url, path) = well_known(resource)?;
    // In RFC 9728's order, `resource` first (a map would sort the keys).
    let mut document: Vec<(&str, Value)> = vec![
        ("resource", json!(resource)),
        (
            "authorization_servers",
            json!(described.authorization_servers),
        ),
        ("bearer_methods_supported", json!(described.bearer_methods)),
    ];
    if let Some(scopes) = &described.scopes_supported {
        document.push(("scopes_supported", json!(scopes)));
    }
    if let Some(name) = &described.resource_name {
        document.push(("resource_name", json!(name)));
    }
    if let Some(documentation) = &described.resource_documentation {
        document.push(("resource_documentation", json!(documentation)));
    }
    if !described.dpop_algs.is_empty() {
        document.push((
            "dpop_signing_alg_values_supported",
            json!(described.dpop_algs),
        ));
    }
    if described.dpop_required {
        document.push(("dpop_bound_access_tokens_required", Value::Bool(true)));
    }
    if described.certificate_bound {
        document.push((
            "tls_client_certificate_bound_access_tokens",
            Value::Bool(true),
        ));
    }
    let members: Vec<String> = document
        .iter()
        .map(|(name, value)| format!("{}:{value}", Value::from(*name)))
        .collect();
    Some(ResourceMetadata {
        resource: resource.to_owned(),
        url,
        path,
        document: format!("{{{}}}", members.join(",")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suffix_goes_between_the_host_and_the_path() {
        let cases = [
            (
                "https://api.example.com",
                "https://api.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "https://api.example.com/",
                "https://api.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "https://api.example.com/orders",
                "https://api.example.com/.well-known/oauth-protected-resource/orders",
            ),
            (
                "https://api.example.com:8443/mcp/v1/",
                "https://api.example.com:8443/.well-known/oauth-protected-resource/mcp/v1/",
            ),
        ];
        for (resource, url) in cases {
            let (found, path) = well_known(resource).unwrap();
            assert_eq!(found, url, "{resource}");
            assert!(url.ends_with(&path));
        }
        for refused in [
            "http://api.example.com",
            "https://",
            "https://a/b?c=d",
            "https://a/#x",
            "api.example.com",
            "https://u@h/",
        ] {
            assert_eq!(well_known(refused), None, "{refused}");
        }
    }

    #[test]
    fn the_document_holds_what_is_configured_and_implied() {
        let described = Described {
            authorization_servers: vec!["https://login.example.com".into()],
            scopes_supported: Some(vec!["orders:read".into()]),
            resource_name: Some("Orders".into()),
            resource_documentation: None,
            bearer_methods: vec!["header"],
            dpop_algs: vec!["ES256".into()],
            dpop_required: true,
            certificate_bound: false,
        };
        let published = publish("https://api.example.com/orders", &described).unwrap();
        let document: Value = serde_json::from_str(&published.document).unwrap();
        assert_eq!(
            document,
            json!({
                "resource": "https://api.example.com/orders",
                "authorization_servers": ["https://login.example.com"],
                "bearer_methods_supported": ["header"],
                "scopes_supported": ["orders:read"],
                "resource_name": "Orders",
                "dpop_signing_alg_values_supported": ["ES256"],
                "dpop_bound_access_tokens_required": true,
            })
        );
        assert_eq!(
            published.path,
            "/.well-known/oauth-protected-resource/orders"
        );
    }
}
