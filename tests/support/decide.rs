//! The pure decision on a request carrying `Authorization: Bearer <token>`
//! (`GET /orders/1`, authority `orders.test`), for the native tests.

use audgate::config::Config;
use audgate::decision::{decide, Decision, KeyStore, Verifier};
use audgate::keys::verify::SignatureBackend;
use audgate::request::Request;

use super::keys::now;

/// The authority of the request (and so the realm of challenges).
pub const AUTHORITY: &str = "orders.test";

/// Decides a bearer request for `token` (none: no `authorization` header).
pub fn bearer(
    config: &Config,
    token: Option<&str>,
    keys: &dyn KeyStore,
    signatures: &dyn SignatureBackend,
) -> Decision {
    let mut headers = vec![(":authority".to_owned(), AUTHORITY.to_owned())];
    if let Some(token) = token {
        headers.push(("authorization".to_owned(), format!("Bearer {token}")));
    }
    let request = Request {
        method: "GET",
        path: "/orders/1",
        authority: AUTHORITY,
        headers: &headers,
    };
    let verifier = Verifier {
        keys,
        signatures,
        cache: None,
        introspections: &audgate::keys::introspection::vouched::NoIntrospections,
        now: now() as i64,
    };
    decide(config, &request, &verifier)
}
