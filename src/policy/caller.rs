//! The token against the caller that presents it: the downstream TLS peer (in a
//! mesh, the calling workload's certificate) must be the one the token was issued
//! to or bound to.
//!
//! ```text
//! caller.claim "sub"      token sub == peer's URI SAN (its SPIFFE ID)
//! cnf.x5t#S256            == base64url(SHA-256 of the peer certificate's DER)
//! require_certificate_binding: true   the token must carry cnf.x5t#S256
//! ```
//! The peer is read from the host only when a check needs it ([`Peer`] is lazy).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

use crate::policy::claim_rule::lookup;
use crate::rejection::Rejection;

/// What `caller` of a provider asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerRule {
    /// The claim that must equal the peer's URI SAN.
    pub claim: String,
    /// The token must carry `cnf.x5t#S256`.
    pub require_certificate_binding: bool,
}

/// The downstream TLS peer of the request, as the host knows it.
pub trait Peer {
    /// The first URI SAN of the peer certificate (a SPIFFE ID in a mesh).
    fn uri_san(&self) -> Option<String>;
    /// SHA-256 of the peer certificate's DER, as hex (Envoy's
    /// `connection.sha256_peer_certificate_digest`).
    fn certificate_sha256_hex(&self) -> Option<String>;
    /// The downstream address (`ip:port`), for logs.
    fn address(&self) -> Option<String> {
        None
    }
}

/// A peer read once and kept (for a request held until its keys arrive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownPeer {
    /// The first URI SAN of the peer certificate.
    pub uri_san: Option<String>,
    /// SHA-256 of the peer certificate's DER, hex.
    pub certificate_sha256_hex: Option<String>,
    /// The downstream address.
    pub address: Option<String>,
}

impl KnownPeer {
    /// Reads both facts of `peer` now.
    pub fn of(peer: &dyn Peer) -> KnownPeer {
        KnownPeer {
            uri_san: peer.uri_san(),
            certificate_sha256_hex: peer.certificate_sha256_hex(),
            address: peer.address(),
        }
    }
}

impl Peer for KnownPeer {
    fn uri_san(&self) -> Option<String> {
        self.uri_san.clone()
    }
    fn certificate_sha256_hex(&self) -> Option<String> {
        self.certificate_sha256_hex.clone()
    }
    fn address(&self) -> Option<String> {
        self.address.clone()
    }
}

/// No TLS peer (plain HTTP, or a host that cannot tell).
pub struct NoPeer;

impl Peer for NoPeer {
    fn uri_san(&self) -> Option<String> {
        None
    }
    fn certificate_sha256_hex(&self) -> Option<String> {
        None
    }
}

/// The certificate binding (RFC 8705) whenever the token has `cnf`, then the
/// provider's `caller` rule. Any mismatch, or a peer that cannot be read, is
/// 401 reason `caller`.
pub fn check_caller(
    claims: &Map<String, Value>,
    rule: Option<&CallerRule>,
    peer: &dyn Peer,
) -> Result<(), Rejection> {
    check_caller_where(claims, rule, peer, false)
}

/// [`check_caller`], where `jkt_checked` says a `cnf.jkt` is checked elsewhere
/// (the provider has `dpop`): a `cnf` holding only `jkt` is then no refusal
/// here, and one holding `x5t#S256` too must still name the peer.
pub fn check_caller_where(
    claims: &Map<String, Value>,
    rule: Option<&CallerRule>,
    peer: &dyn Peer,
    jkt_checked: bool,
) -> Result<(), Rejection> {
    let dpop_only =
        |cnf: &Value| jkt_checked && cnf.get("jkt").is_some() && cnf.get("x5t#S256").is_none();
    let needs_certificate = rule.is_some_and(|r| r.require_certificate_binding);
    match claims.get("cnf") {
        None if needs_certificate => return Err(Rejection::Caller),
        None => {}
        // Bound to a DPoP key only: no certificate binding to check here.
        Some(cnf) if dpop_only(cnf) && needs_certificate => return Err(Rejection::Caller),
        Some(cnf) if dpop_only(cnf) => {}
        Some(cnf) => check_binding(cnf, peer)?,
    }
    if let Some(rule) = rule {
        let claimed = lookup(claims, &rule.claim).and_then(Value::as_str);
        let peer_id = peer.uri_san();
        if claimed.is_none() || claimed != peer_id.as_deref() {
            return Err(Rejection::Caller);
        }
    }
    Ok(())
}

/// `cnf` must hold `x5t#S256` naming the peer certificate; a `cnf` with only
/// confirmation methods audgate cannot check (e.g. DPoP `jkt`) fails closed.
fn check_binding(cnf: &Value, peer: &dyn Peer) -> Result<(), Rejection> {
    let thumbprint = cnf
        .as_object()
        .and_then(|cnf| cnf.get("x5t#S256"))
        .and_then(Value::as_str)
        .ok_or(Rejection::Caller)?;
    let digest = peer
        .certificate_sha256_hex()
        .and_then(|hex| decode_hex(&hex))
        .ok_or(Rejection::Caller)?;
    if URL_SAFE_NO_PAD.encode(digest) == thumbprint {
        Ok(())
    } else {
        Err(Rejection::Caller)
    }
}

/// Hex (either case) → bytes; `None` if it is not an even run of hex digits.
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let bytes = hex.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(text, 16).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct TestPeer(Option<&'static str>, Option<&'static str>);

    impl Peer for TestPeer {
        fn uri_san(&self) -> Option<String> {
            self.0.map(str::to_owned)
        }
        fn certificate_sha256_hex(&self) -> Option<String> {
            self.1.map(str::to_owned)
        }
    }

    const FRONTEND: &str = "spiffe://cluster.local/ns/shop/sa/frontend";
    // SHA-256 of "certificate", in hex and as x5t#S256.
    const HEX: &str = "f8b9ac4d3aa1e3fdbc4a7a2b1af8a2e4bfd9c7bbef4d1d2b2cfae2b1b6a5d1b3";

    fn x5t() -> String {
        URL_SAFE_NO_PAD.encode(decode_hex(HEX).unwrap())
    }

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    fn rule(binding: bool) -> CallerRule {
        CallerRule {
            claim: "sub".into(),
            require_certificate_binding: binding,
        }
    }

    #[test]
    fn the_claim_must_name_the_peer() {
        let token = claims(json!({"sub": FRONTEND}));
        let other = TestPeer(Some("spiffe://cluster.local/ns/shop/sa/other"), Some(HEX));
        assert_eq!(
            check_caller(&token, Some(&rule(false)), &TestPeer(Some(FRONTEND), None)),
            Ok(())
        );
        assert_eq!(
            check_caller(&token, Some(&rule(false)), &other),
            Err(Rejection::Caller)
        );
        assert_eq!(
            check_caller(&token, Some(&rule(false)), &NoPeer),
            Err(Rejection::Caller)
        );
        let no_sub = claims(json!({}));
        assert_eq!(
            check_caller(&no_sub, Some(&rule(false)), &TestPeer(Some(FRONTEND), None)),
            Err(Rejection::Caller)
        );
        assert_eq!(
            check_caller(&token, None, &NoPeer),
            Ok(()),
            "no rule, no cnf"
        );
    }

    #[test]
    fn a_bound_token_needs_its_certificate() {
        let bound = claims(json!({"sub": FRONTEND, "cnf": {"x5t#S256": x5t()}}));
        let peer = TestPeer(Some(FRONTEND), Some(HEX));
        let upper = TestPeer(
            Some(FRONTEND),
            Some("F8B9AC4D3AA1E3FDBC4A7A2B1AF8A2E4BFD9C7BBEF4D1D2B2CFAE2B1B6A5D1B3"),
        );
        assert_eq!(check_caller(&bound, None, &peer), Ok(()));
        assert_eq!(check_caller(&bound, None, &upper), Ok(()));
        let wrong = TestPeer(
            Some(FRONTEND),
            Some("00b9ac4d3aa1e3fdbc4a7a2b1af8a2e4bfd9c7bbef4d1d2b2cfae2b1b6a5d1b3"),
        );
        assert_eq!(check_caller(&bound, None, &wrong), Err(Rejection::Caller));
        assert_eq!(check_caller(&bound, None, &NoPeer), Err(Rejection::Caller));
        assert_eq!(
            check_caller(&bound, None, &TestPeer(None, Some("zz"))),
            Err(Rejection::Caller)
        );
    }

    #[test]
    fn with_dpop_a_jkt_is_checked_elsewhere_but_a_certificate_binding_still_here() {
        let dpop = claims(json!({"sub": FRONTEND, "cnf": {"jkt": "abc"}}));
        let peer = TestPeer(Some(FRONTEND), Some(HEX));
        assert_eq!(check_caller_where(&dpop, None, &NoPeer, true), Ok(()));
        assert_eq!(
            check_caller_where(&dpop, None, &NoPeer, false),
            Err(Rejection::Caller)
        );
        // Bound both ways: the certificate must still be the peer's.
        let both = claims(json!({"sub": FRONTEND, "cnf": {"jkt": "abc", "x5t#S256": x5t()}}));
        assert_eq!(check_caller_where(&both, None, &peer, true), Ok(()));
        assert_eq!(
            check_caller_where(&both, None, &NoPeer, true),
            Err(Rejection::Caller)
        );
        // A rule that requires a certificate binding is not met by a jkt.
        assert_eq!(
            check_caller_where(&dpop, Some(&rule(true)), &peer, true),
            Err(Rejection::Caller)
        );
        // The caller rule itself still applies.
        assert_eq!(
            check_caller_where(&dpop, Some(&rule(false)), &peer, true),
            Ok(())
        );
        assert_eq!(
            check_caller_where(&dpop, Some(&rule(false)), &NoPeer, true),
            Err(Rejection::Caller)
        );
    }

    #[test]
    fn unknown_confirmation_methods_fail_closed_and_binding_can_be_required() {
        let dpop = claims(json!({"sub": FRONTEND, "cnf": {"jkt": "abc"}}));
        let peer = TestPeer(Some(FRONTEND), Some(HEX));
        assert_eq!(check_caller(&dpop, None, &peer), Err(Rejection::Caller));
        let odd = claims(json!({"cnf": "x"}));
        assert_eq!(check_caller(&odd, None, &peer), Err(Rejection::Caller));
        let unbound = claims(json!({"sub": FRONTEND}));
        assert_eq!(
            check_caller(&unbound, Some(&rule(true)), &peer),
            Err(Rejection::Caller)
        );
        let bound = claims(json!({"sub": FRONTEND, "cnf": {"x5t#S256": x5t()}}));
        assert_eq!(check_caller(&bound, Some(&rule(true)), &peer), Ok(()));
    }
}
