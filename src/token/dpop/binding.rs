//! Whether a token must come with a proof, as RFC 9449 §7 and the provider's
//! `dpop` say: the scheme it was presented with (`DPoP` or another), whether it
//! is bound (`cnf.jkt`), and `dpop.required`. A bound token presented as `DPoP`
//! needs its proof; every other combination passes as a bearer token or is
//! refused here, before any key is touched.

use serde_json::{Map, Value};

use crate::request::HeaderValues;
use crate::token::dpop::proof::DPOP_HEADER;

/// How a request presents its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presentation<'r> {
    /// `authorization` uses the `DPoP` scheme (compared ignoring case).
    pub dpop_scheme: bool,
    /// Every `DPoP` header value, in order.
    pub proofs: Vec<&'r str>,
}

impl<'r> Presentation<'r> {
    /// What `headers` present.
    pub fn of(headers: &'r impl HeaderValues) -> Presentation<'r> {
        let dpop_scheme = headers.values("authorization").any(|value| {
            value
                .get(..5)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("dpop "))
        });
        Presentation {
            dpop_scheme,
            proofs: headers.values(DPOP_HEADER).collect(),
        }
    }
}

/// What the token needs, given how it was presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding<'c> {
    /// Nothing more: an unbound token presented as a bearer token.
    Bearer,
    /// A valid proof for the key this thumbprint names.
    Proof {
        /// The token's `cnf.jkt`.
        jkt: &'c str,
    },
}

/// Why a token is refused for how it was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbound {
    /// A bound token presented with another scheme (RFC 9449 §7.2).
    BoundAsBearer,
    /// An unbound token presented as `DPoP`.
    UnboundAsDpop,
    /// `dpop.required`, and the token is not bound.
    Unbound,
    /// `cnf.jkt` is there but not a string.
    BadThumbprint,
    /// An introspection answer says `token_type: DPoP` and has no `cnf.jkt`.
    DpopTypeUnbound,
}

impl Misbound {
    /// The reason in words, for the log.
    pub fn describe(self) -> &'static str {
        match self {
            Misbound::BoundAsBearer => "a DPoP-bound token presented without the DPoP scheme",
            Misbound::UnboundAsDpop => "a token without cnf.jkt presented with the DPoP scheme",
            Misbound::Unbound => "dpop.required, and the token is not DPoP-bound",
            Misbound::BadThumbprint => "cnf.jkt is not a string",
            Misbound::DpopTypeUnbound => {
                "the introspection answer says token_type DPoP and has no cnf.jkt"
            }
        }
    }
}

/// What the token with `claims`, presented as `presentation` says, needs under
/// a provider whose `dpop.required` is `required`.
pub fn binding<'c>(
    claims: &'c Map<String, Value>,
    presentation: &Presentation<'_>,
    required: bool,
) -> Result<Binding<'c>, Misbound> {
    let jkt = match claims.get("cnf").and_then(|cnf| cnf.get("jkt")) {
        None => None,
        Some(Value::String(jkt)) => Some(jkt.as_str()),
        Some(_) => return Err(Misbound::BadThumbprint),
    };
    match (jkt, presentation.dpop_scheme) {
        (Some(jkt), true) => Ok(Binding::Proof { jkt }),
        (Some(_), false) => Err(Misbound::BoundAsBearer),
        (None, true) => Err(Misbound::UnboundAsDpop),
        (None, false) if required => Err(Misbound::Unbound),
        (None, false) => Ok(Binding::Bearer),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::request::Request;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn presented(dpop_scheme: bool) -> Presentation<'static> {
        Presentation {
            dpop_scheme,
            proofs: Vec::new(),
        }
    }

    #[test]
    fn the_scheme_and_the_proofs_are_read_from_the_headers() {
        let headers = vec![
            ("authorization".to_owned(), "dPoP abc.def.ghi".to_owned()),
            ("dpop".to_owned(), "proof-1".to_owned()),
            ("dpop".to_owned(), "proof-2".to_owned()),
        ];
        let request = Request::from_headers(&headers);
        let seen = Presentation::of(&request);
        assert!(seen.dpop_scheme);
        assert_eq!(seen.proofs, ["proof-1", "proof-2"]);
        let bearer = vec![("authorization".to_owned(), "Bearer abc".to_owned())];
        let request = Request::from_headers(&bearer);
        assert_eq!(Presentation::of(&request), presented(false));
    }

    #[test]
    fn the_table_of_rfc_9449_section_7() {
        let bound = claims(json!({"cnf": {"jkt": "thumb"}}));
        let plain = claims(json!({"sub": "a"}));
        let both = claims(json!({"cnf": {"jkt": "thumb", "x5t#S256": "x"}}));
        assert_eq!(
            binding(&bound, &presented(true), false),
            Ok(Binding::Proof { jkt: "thumb" })
        );
        assert_eq!(
            binding(&both, &presented(true), true),
            Ok(Binding::Proof { jkt: "thumb" })
        );
        assert_eq!(
            binding(&bound, &presented(false), false),
            Err(Misbound::BoundAsBearer)
        );
        assert_eq!(
            binding(&plain, &presented(true), false),
            Err(Misbound::UnboundAsDpop)
        );
        assert_eq!(
            binding(&plain, &presented(false), true),
            Err(Misbound::Unbound)
        );
        assert_eq!(
            binding(&plain, &presented(false), false),
            Ok(Binding::Bearer)
        );
        let odd = claims(json!({"cnf": {"jkt": 5}}));
        assert_eq!(
            binding(&odd, &presented(true), false),
            Err(Misbound::BadThumbprint)
        );
    }
}
