//! Why a request is refused, and how each reason maps to the contract's outcomes:
//! status, `www-authenticate` and a short plain-text body that never echoes a token.

use std::fmt;

use crate::keys::wait::Lack;
use crate::token::TokenError;

/// The reason a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// A required token is absent.
    Missing,
    /// The token cannot be read as a JWS.
    Malformed(TokenError),
    /// More than one token where one is expected (repeated header, conflicting sources).
    MultipleTokens,
    /// `alg` is `none`, unknown, or not allowed for this provider.
    AlgorithmNotAllowed,
    /// The token's `kid` is in no key of the provider's set.
    UnknownKid,
    /// No key may verify this token, or the signature does not verify.
    BadSignature,
    /// `iss` differs from the provider's issuer.
    WrongIssuer,
    /// `exp`, `nbf` or `iat` is not a number.
    BadTimeClaim,
    /// No `exp` while `require_exp` is on.
    MissingExpiry,
    /// `exp` has passed (beyond the clock skew).
    Expired,
    /// `nbf` lies in the future (beyond the clock skew).
    NotYetValid,
    /// `exp` lies further past `iat` (or now) than `max_lifetime_s`.
    TooLongLived,
    /// The JOSE header `typ` is absent or not one of the provider's `token_types`.
    WrongType,
    /// The token is not the caller's: `caller.claim` is not the peer's URI SAN, or
    /// `cnf` does not name the peer certificate (or cannot be checked).
    Caller,
    /// `aud` is missing, of the wrong type, or names none of the provider's audiences.
    AudienceNotAllowed,
    /// A `required_claims` entry is not met.
    ClaimsNotMet,
    /// The provider's keys are not available (never fetched, fetch failing).
    KeysUnavailable,
    /// The proxy failed the filter: the request cannot be judged or changed as
    /// decided, so it is answered 503 rather than passed on.
    HostFailure(HostFailure),
    /// The token service refused to exchange the outbound request's token (a 400
    /// with an OAuth error): the token is no good for the next hop.
    ExchangeRefused,
    /// The token exchange failed: the token service refused this workload's
    /// client, could not be reached, timed out or answered something unusable.
    ExchangeFailed,
    /// An outbound token on its way to a destination no `exchange.destinations`
    /// entry matches, with `unmatched: refuse`.
    ExchangeUnmatched,
    /// An outbound request without a token to a destination that `requires_token`.
    ExchangeMissing,
}

/// What the proxy failed to do for a request ([`Rejection::HostFailure`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostFailure {
    /// The request's headers could not be read.
    HeadersUnreadable,
    /// The proxy's clock could not be read.
    NoClock,
    /// The proxy refused a change the decision makes to the request (a header
    /// removed or set): it never goes on unchanged.
    HeaderChangeRefused,
    /// The request's plugin cannot be told, or has no configuration.
    NoPlugin,
    /// The VM's state was in use (the proxy re-entered the filter).
    StateBusy,
    /// The plugin was retired while the request was held for keys.
    PluginRetired,
}

impl fmt::Display for HostFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostFailure::HeadersUnreadable => "request headers unreadable",
            HostFailure::NoClock => "no clock",
            HostFailure::HeaderChangeRefused => "request header change refused",
            HostFailure::NoPlugin => "no configured plugin for the request",
            HostFailure::StateBusy => "filter state busy",
            HostFailure::PluginRetired => "plugin retired while the request waited",
        })
    }
}

/// The `error` parameter of a `www-authenticate` challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    /// No token: `Bearer realm="…"`.
    Bare,
    /// `error="invalid_token"`.
    InvalidToken,
    /// `error="invalid_token", error_description="audience not allowed"`.
    InvalidAudience,
    /// `error="insufficient_scope"`.
    InsufficientScope,
    /// A 403 with no challenge: the caller is the proxy's own application, not
    /// an OAuth client of the destination (an outbound refusal).
    Forbidden,
    /// No challenge at all (503).
    None,
}

impl Rejection {
    /// Every value [`Rejection::code`] can take.
    pub const CODES: [&'static str; 16] = [
        "missing",
        "malformed",
        "signature",
        "audience",
        "issuer",
        "expired",
        "not_yet_valid",
        "type",
        "caller",
        "claims",
        "keys_unavailable",
        "host_failure",
        "exchange",
        "exchange_refused",
        "exchange_unmatched",
        "exchange_missing",
    ];

    /// HTTP status of the local reply.
    pub fn status(self) -> u32 {
        match self.challenge() {
            Challenge::Bare | Challenge::InvalidToken => 401,
            Challenge::InvalidAudience | Challenge::InsufficientScope | Challenge::Forbidden => 403,
            Challenge::None => 503,
        }
    }

    /// Which challenge the reply carries.
    pub fn challenge(self) -> Challenge {
        match self {
            Rejection::Missing => Challenge::Bare,
            Rejection::Malformed(_)
            | Rejection::MultipleTokens
            | Rejection::AlgorithmNotAllowed
            | Rejection::UnknownKid
            | Rejection::BadSignature
            | Rejection::WrongIssuer
            | Rejection::BadTimeClaim
            | Rejection::MissingExpiry
            | Rejection::WrongType
            | Rejection::Caller
            | Rejection::Expired
            | Rejection::NotYetValid
            | Rejection::TooLongLived
            | Rejection::ExchangeRefused => Challenge::InvalidToken,
            Rejection::AudienceNotAllowed => Challenge::InvalidAudience,
            Rejection::ClaimsNotMet => Challenge::InsufficientScope,
            Rejection::ExchangeUnmatched | Rejection::ExchangeMissing => Challenge::Forbidden,
            Rejection::KeysUnavailable | Rejection::HostFailure(_) | Rejection::ExchangeFailed => {
                Challenge::None
            }
        }
    }

    /// Short stable name, for logs, stats and `x-audgate-would-reject`.
    pub fn code(self) -> &'static str {
        match self {
            Rejection::Missing => "missing",
            Rejection::Malformed(_) | Rejection::MultipleTokens | Rejection::BadTimeClaim => {
                "malformed"
            }
            Rejection::AlgorithmNotAllowed | Rejection::UnknownKid | Rejection::BadSignature => {
                "signature"
            }
            Rejection::WrongIssuer => "issuer",
            Rejection::MissingExpiry | Rejection::Expired | Rejection::TooLongLived => "expired",
            Rejection::NotYetValid => "not_yet_valid",
            Rejection::WrongType => "type",
            Rejection::Caller => "caller",
            Rejection::AudienceNotAllowed => "audience",
            Rejection::ClaimsNotMet => "claims",
            Rejection::KeysUnavailable => "keys_unavailable",
            Rejection::HostFailure(_) => "host_failure",
            Rejection::ExchangeFailed => "exchange",
            Rejection::ExchangeRefused => "exchange_refused",
            Rejection::ExchangeUnmatched => "exchange_unmatched",
            Rejection::ExchangeMissing => "exchange_missing",
        }
    }

    /// What this refusal lacks that a key fetch may bring: a `kid` the key set
    /// does not have, or usable keys; `None` for every other refusal.
    pub fn lack(self) -> Option<Lack> {
        match self {
            Rejection::UnknownKid => Some(Lack::Kid),
            Rejection::KeysUnavailable => Some(Lack::Keys),
            _ => None,
        }
    }

    /// The `www-authenticate` value for a reply to a request for `authority`.
    pub fn www_authenticate(self, authority: &str) -> Option<String> {
        let realm = quoted(authority);
        match self.challenge() {
            Challenge::Bare => Some(format!("Bearer realm=\"{realm}\"")),
            Challenge::InvalidToken => {
                Some(format!("Bearer realm=\"{realm}\", error=\"invalid_token\""))
            }
            Challenge::InvalidAudience => Some(format!(
                "Bearer realm=\"{realm}\", error=\"invalid_token\", error_description=\"audience not allowed\""
            )),
            Challenge::InsufficientScope => Some(format!(
                "Bearer realm=\"{realm}\", error=\"insufficient_scope\""
            )),
            Challenge::Forbidden | Challenge::None => None,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Missing => f.write_str("token missing"),
            Rejection::Malformed(error) => write!(f, "token malformed: {error}"),
            Rejection::MultipleTokens => f.write_str("more than one token"),
            Rejection::AlgorithmNotAllowed => f.write_str("token algorithm not allowed"),
            Rejection::UnknownKid => f.write_str("token key id unknown"),
            Rejection::BadSignature => f.write_str("token signature invalid"),
            Rejection::WrongIssuer => f.write_str("token issuer not allowed"),
            Rejection::BadTimeClaim => f.write_str("token time claim is not a number"),
            Rejection::MissingExpiry => f.write_str("token has no expiry"),
            Rejection::Expired => f.write_str("token expired"),
            Rejection::NotYetValid => f.write_str("token not yet valid"),
            Rejection::WrongType => f.write_str("token type not accepted"),
            Rejection::Caller => f.write_str("token not bound to this caller"),
            Rejection::TooLongLived => f.write_str("token lifetime too long"),
            Rejection::AudienceNotAllowed => f.write_str("audience not allowed"),
            Rejection::ClaimsNotMet => f.write_str("required claims not met"),
            Rejection::KeysUnavailable => f.write_str("signing keys unavailable"),
            Rejection::HostFailure(what) => write!(f, "proxy failure: {what}"),
            Rejection::ExchangeRefused => {
                f.write_str("the token service refused to exchange the token")
            }
            Rejection::ExchangeFailed => f.write_str("token exchange failed"),
            Rejection::ExchangeUnmatched => {
                f.write_str("no token exchange is configured for this destination")
            }
            Rejection::ExchangeMissing => f.write_str("this destination requires a token"),
        }
    }
}

/// `value` made safe inside a quoted-string: quotes, backslashes and control
/// characters are replaced, so a client's `:authority` cannot shape the header.
fn quoted(value: &str) -> String {
    value
        .chars()
        .take(256)
        .map(|c| match c {
            '"' | '\\' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Rejection; 27] = [
        Rejection::ExchangeRefused,
        Rejection::ExchangeFailed,
        Rejection::ExchangeUnmatched,
        Rejection::ExchangeMissing,
        Rejection::WrongType,
        Rejection::Caller,
        Rejection::Missing,
        Rejection::Malformed(TokenError::Base64),
        Rejection::MultipleTokens,
        Rejection::AlgorithmNotAllowed,
        Rejection::UnknownKid,
        Rejection::BadSignature,
        Rejection::WrongIssuer,
        Rejection::BadTimeClaim,
        Rejection::MissingExpiry,
        Rejection::Expired,
        Rejection::NotYetValid,
        Rejection::TooLongLived,
        Rejection::AudienceNotAllowed,
        Rejection::ClaimsNotMet,
        Rejection::KeysUnavailable,
        Rejection::HostFailure(HostFailure::HeadersUnreadable),
        Rejection::HostFailure(HostFailure::NoClock),
        Rejection::HostFailure(HostFailure::HeaderChangeRefused),
        Rejection::HostFailure(HostFailure::NoPlugin),
        Rejection::HostFailure(HostFailure::StateBusy),
        Rejection::HostFailure(HostFailure::PluginRetired),
    ];

    #[test]
    fn every_variant_formats_and_maps() {
        for rejection in ALL {
            assert!(!rejection.to_string().is_empty());
            assert!(
                Rejection::CODES.contains(&rejection.code()),
                "{rejection:?}"
            );
            assert!([401, 403, 503].contains(&rejection.status()));
        }
    }

    #[test]
    fn outcome_rows_of_the_contract() {
        assert_eq!(Rejection::Missing.status(), 401);
        assert_eq!(
            Rejection::Missing.www_authenticate("svc").as_deref(),
            Some("Bearer realm=\"svc\"")
        );
        assert_eq!(
            Rejection::Expired.www_authenticate("svc").as_deref(),
            Some("Bearer realm=\"svc\", error=\"invalid_token\"")
        );
        assert_eq!(Rejection::AudienceNotAllowed.status(), 403);
        assert_eq!(
            Rejection::AudienceNotAllowed.www_authenticate("svc").as_deref(),
            Some("Bearer realm=\"svc\", error=\"invalid_token\", error_description=\"audience not allowed\"")
        );
        assert_eq!(Rejection::ClaimsNotMet.status(), 403);
        assert_eq!(
            Rejection::ClaimsNotMet.www_authenticate("svc").as_deref(),
            Some("Bearer realm=\"svc\", error=\"insufficient_scope\"")
        );
        assert_eq!(Rejection::KeysUnavailable.status(), 503);
        assert_eq!(Rejection::KeysUnavailable.www_authenticate("svc"), None);
    }

    #[test]
    fn a_host_failure_is_a_503_of_its_own_that_names_what_failed() {
        let refused = Rejection::HostFailure(HostFailure::HeaderChangeRefused);
        assert_eq!(refused.status(), 503);
        assert_eq!(refused.www_authenticate("svc"), None);
        assert_eq!(refused.code(), "host_failure");
        assert_ne!(refused.code(), Rejection::KeysUnavailable.code());
        assert_eq!(
            refused.to_string(),
            "proxy failure: request header change refused"
        );
        assert_eq!(refused.lack(), None, "no key fetch changes it");
    }

    #[test]
    fn outbound_refusals_of_the_contract() {
        assert_eq!(Rejection::ExchangeRefused.status(), 401);
        assert_eq!(
            Rejection::ExchangeRefused
                .www_authenticate("svc")
                .as_deref(),
            Some("Bearer realm=\"svc\", error=\"invalid_token\"")
        );
        assert_eq!(Rejection::ExchangeFailed.status(), 503);
        assert_eq!(Rejection::ExchangeFailed.www_authenticate("svc"), None);
        for forbidden in [Rejection::ExchangeUnmatched, Rejection::ExchangeMissing] {
            assert_eq!(forbidden.status(), 403);
            assert_eq!(forbidden.www_authenticate("svc"), None);
        }
    }

    #[test]
    fn every_code_is_some_variants() {
        for code in Rejection::CODES {
            assert!(ALL.iter().any(|r| r.code() == code), "{code}");
        }
    }

    #[test]
    fn realm_cannot_break_out_of_its_quotes() {
        let header = Rejection::Missing
            .www_authenticate("a\"b\\c\r\nx: y")
            .unwrap();
        assert_eq!(header, "Bearer realm=\"a_b_c__x: y\"");
    }
}
