//! Who sent a request, for a refusal log line: the TLS peer's SPIFFE ID, the
//! downstream address, method, path without its query and `x-request-id`, each
//! cut and with control characters replaced. Never a token.
//!
//! ```text
//! caller="spiffe://cluster.local/ns/shop/sa/frontend" from="10.1.2.3:51234" GET /orders request_id="9f…"
//! ```

use std::fmt;

use crate::log::token_facts::safe;
use crate::policy::caller::Peer;
use crate::request::{HeaderValues, Request};

/// The loggable facts of a request's sender.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// The peer certificate's first URI SAN.
    pub peer: Option<String>,
    /// The downstream address.
    pub from: Option<String>,
    /// `:method`.
    pub method: String,
    /// `:path` without its query.
    pub path: String,
    /// `x-request-id`.
    pub request_id: Option<String>,
}

impl Caller {
    /// Reads the sender of `request` from it and from its downstream `peer`.
    pub fn of(request: &Request<'_>, peer: &dyn Peer) -> Caller {
        let path = request
            .path
            .split_once('?')
            .map_or(request.path, |(p, _)| p);
        Caller {
            peer: peer.uri_san().map(|v| safe(&v)),
            from: peer.address().map(|v| safe(&v)),
            method: safe(request.method),
            path: safe(path),
            request_id: request.values("x-request-id").next().map(safe),
        }
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_none = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".into());
        write!(
            f,
            "caller=\"{}\" from=\"{}\" {} {} request_id=\"{}\"",
            or_none(&self.peer),
            or_none(&self.from),
            self.method,
            self.path,
            or_none(&self.request_id)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::caller::KnownPeer;

    #[test]
    fn names_the_caller_never_the_query() {
        let headers = vec![("x-request-id".to_string(), "r\n1".to_string())];
        let request = Request {
            method: "GET",
            path: "/orders?access_token=secret",
            authority: "svc",
            headers: &headers,
        };
        let peer = KnownPeer {
            uri_san: Some("spiffe://cluster.local/ns/shop/sa/frontend".into()),
            certificate_sha256_hex: None,
            address: Some("10.0.0.1:5000".into()),
        };
        let line = Caller::of(&request, &peer).to_string();
        assert_eq!(
            line,
            "caller=\"spiffe://cluster.local/ns/shop/sa/frontend\" from=\"10.0.0.1:5000\" GET /orders request_id=\"r_1\""
        );
        let line = Caller::of(&request, &crate::policy::caller::NoPeer).to_string();
        assert!(line.starts_with("caller=\"-\" from=\"-\" GET /orders"));
        assert!(!line.contains("secret"));
    }
}
