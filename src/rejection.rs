//! Why a request is refused, and how each reason maps to the contract's outcomes:
//! status, `www-authenticate` and a short plain-text body that never echoes a token.

use std::fmt;

use crate::keys::wait::Lack;
use crate::token::dpop::failure::DpopFailure;
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
    /// A DPoP-bound token's presentation or proof is not good (RFC 9449).
    Dpop(DpopFailure),
    /// Server nonces are on and the proof has no current one (`use_dpop_nonce`).
    DpopNonce,
    /// The provider's introspection endpoint does not vouch for the token
    /// (`active: false`, or a 400 `unsupported_token_type`).
    Inactive,
    /// The provider's introspection endpoint failed: not reached, timed out,
    /// refused this resource server's client, or answered something unusable.
    IntrospectionFailed,
    /// The token's introspection answer is not at hand yet: the filter holds
    /// the request while its endpoint is asked (a request that cannot be held
    /// is answered 503, reason `introspection`).
    IntrospectionPending,
    /// The token's authentication is not what this resource asks (RFC 9470):
    /// `acr` not among `acr_values`, or `auth_time` older than `max_age_s`.
    StepUp(StepUpFailure),
}

/// Which part of a step-up a token fails ([`Rejection::StepUp`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepUpFailure {
    /// `acr` missing or not among `acr_values`.
    Acr,
    /// `auth_time` missing or older than `max_age_s`.
    MaxAge,
}

impl StepUpFailure {
    /// The challenge's `error_description` (RFC 9470 §3's wording).
    pub fn description(self) -> &'static str {
        match self {
            StepUpFailure::Acr => "A different authentication level is required",
            StepUpFailure::MaxAge => "More recent authentication is required",
        }
    }
}

/// What a challenge says beyond its error: the metadata URL (RFC 9728 §5.1),
/// the scopes an unmet requirement names (RFC 6750 §3), and what a step-up
/// asks (RFC 9470 §3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChallengeHints {
    /// `resource_metadata`, on every challenge.
    pub resource_metadata: Option<String>,
    /// `scope`, on `insufficient_scope`.
    pub scope: Option<String>,
    /// `acr_values`, on `insufficient_user_authentication`.
    pub acr_values: Option<String>,
    /// `max_age`, on `insufficient_user_authentication`.
    pub max_age: Option<u64>,
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
    /// `error="invalid_dpop_proof"` (RFC 9449 §7.1).
    InvalidDpopProof,
    /// `error="use_dpop_nonce"`, with a `DPoP-Nonce` header (RFC 9449 §9).
    UseDpopNonce,
    /// `error="insufficient_user_authentication"` (RFC 9470 §3).
    InsufficientUserAuthentication,
    /// No challenge at all (503).
    None,
}

impl Rejection {
    /// Every value [`Rejection::code`] can take.
    pub const CODES: [&'static str; 21] = [
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
        "dpop",
        "dpop_nonce",
        "inactive",
        "introspection",
        "step_up",
    ];

    /// HTTP status of the local reply.
    pub fn status(self) -> u32 {
        match self.challenge() {
            Challenge::Bare
            | Challenge::InvalidToken
            | Challenge::InvalidDpopProof
            | Challenge::UseDpopNonce
            | Challenge::InsufficientUserAuthentication => 401,
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
            | Rejection::ExchangeRefused
            | Rejection::Inactive => Challenge::InvalidToken,
            Rejection::AudienceNotAllowed => Challenge::InvalidAudience,
            Rejection::ClaimsNotMet => Challenge::InsufficientScope,
            Rejection::ExchangeUnmatched | Rejection::ExchangeMissing => Challenge::Forbidden,
            Rejection::Dpop(failure) if failure.is_the_tokens() => Challenge::InvalidToken,
            Rejection::Dpop(_) => Challenge::InvalidDpopProof,
            Rejection::DpopNonce => Challenge::UseDpopNonce,
            Rejection::StepUp(_) => Challenge::InsufficientUserAuthentication,
            Rejection::KeysUnavailable
            | Rejection::HostFailure(_)
            | Rejection::ExchangeFailed
            | Rejection::IntrospectionFailed
            | Rejection::IntrospectionPending => Challenge::None,
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
            Rejection::Dpop(_) => "dpop",
            Rejection::DpopNonce => "dpop_nonce",
            Rejection::Inactive => "inactive",
            Rejection::IntrospectionFailed | Rejection::IntrospectionPending => "introspection",
            Rejection::StepUp(_) => "step_up",
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

    /// The `www-authenticate` value for a reply to a request for `authority`
    /// (a provider without `dpop`).
    pub fn www_authenticate(self, authority: &str) -> Option<String> {
        let hints = ChallengeHints::default();
        self.challenges(authority, None, &hints).into_iter().next()
    }

    /// The `www-authenticate` values for a reply to a request for `authority`,
    /// in order; `dpop` when the provider has `dpop` (RFC 9449 §7): a request
    /// that used the `DPoP` scheme, or whose proof failed, is challenged with it;
    /// a bearer request with both schemes, Bearer first (only `DPoP` when it is
    /// required).
    pub fn challenges(
        self,
        authority: &str,
        dpop: Option<&DpopChallenge>,
        hints: &ChallengeHints,
    ) -> Vec<String> {
        let realm = quoted(authority);
        let error = match self.challenge() {
            Challenge::Bare => None,
            Challenge::InvalidToken => Some("error=\"invalid_token\"".to_owned()),
            Challenge::InvalidAudience => Some(
                "error=\"invalid_token\", error_description=\"audience not allowed\"".to_owned(),
            ),
            Challenge::InsufficientScope => Some(match &hints.scope {
                Some(scope) => {
                    format!(
                        "error=\"insufficient_scope\", scope=\"{}\"",
                        quoted_whole(scope)
                    )
                }
                None => "error=\"insufficient_scope\"".to_owned(),
            }),
            Challenge::InvalidDpopProof => Some("error=\"invalid_dpop_proof\"".to_owned()),
            Challenge::UseDpopNonce => Some("error=\"use_dpop_nonce\"".to_owned()),
            Challenge::InsufficientUserAuthentication => Some(self.step_up_params(hints)),
            Challenge::Forbidden | Challenge::None => return Vec::new(),
        };
        // The metadata URL last, on every challenge (RFC 9728 §5.1).
        let metadata = hints
            .resource_metadata
            .as_deref()
            .map(|url| format!("resource_metadata=\"{}\"", quoted_whole(url)));
        let joined = |first: Option<&str>, second: Option<&str>| match (first, second) {
            (Some(a), Some(b)) => Some(format!("{a}, {b}")),
            (a, b) => a.or(b).map(str::to_owned),
        };
        let params = joined(error.as_deref(), metadata.as_deref());
        let params = params.as_deref();
        let bearer = |params: Option<&str>| match params {
            None => format!("Bearer realm=\"{realm}\""),
            Some(params) => format!("Bearer realm=\"{realm}\", {params}"),
        };
        let Some(dpop) = dpop else {
            return vec![bearer(params)];
        };
        let dpop_challenge = |params: Option<&str>| match params {
            None => format!("DPoP realm=\"{realm}\", algs=\"{}\"", dpop.algs),
            Some(params) => format!("DPoP realm=\"{realm}\", {params}, algs=\"{}\"", dpop.algs),
        };
        let proof_problem = matches!(
            self.challenge(),
            Challenge::InvalidDpopProof | Challenge::UseDpopNonce
        );
        // A bearer request to a provider that takes both: its challenge, then
        // DPoP's offer (RFC 9449 §7.2, Figure 18).
        if dpop.scheme_used || proof_problem || dpop.required {
            vec![dpop_challenge(params)]
        } else {
            vec![bearer(params), dpop_challenge(metadata.as_deref())]
        }
    }
}

impl Rejection {
    /// A step-up challenge's parameters: its error and description, then what
    /// the route asks (`acr_values`, `max_age`).
    fn step_up_params(self, hints: &ChallengeHints) -> String {
        let description = match self {
            Rejection::StepUp(failure) => failure.description(),
            _ => StepUpFailure::Acr.description(),
        };
        let mut params = format!(
            "error=\"insufficient_user_authentication\", error_description=\"{description}\""
        );
        if let Some(acr_values) = &hints.acr_values {
            params.push_str(&format!(", acr_values=\"{}\"", quoted_whole(acr_values)));
        }
        if let Some(max_age) = hints.max_age {
            params.push_str(&format!(", max_age=\"{max_age}\""));
        }
        params
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
            Rejection::Dpop(failure) => f.write_str(&failure.describe()),
            Rejection::DpopNonce => f.write_str("the DPoP proof has no current nonce"),
            Rejection::Inactive => {
                f.write_str("the authorization server does not vouch for the token (inactive)")
            }
            Rejection::IntrospectionFailed => f.write_str("token introspection failed"),
            Rejection::IntrospectionPending => {
                f.write_str("token introspection could not be started")
            }
            Rejection::StepUp(StepUpFailure::Acr) => {
                f.write_str("authentication level (acr) not one this route accepts")
            }
            Rejection::StepUp(StepUpFailure::MaxAge) => {
                f.write_str("authentication (auth_time) older than this route accepts")
            }
        }
    }
}

/// What a `DPoP` challenge needs of the provider and the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopChallenge {
    /// The proof algorithms accepted, space-separated (`algs`).
    pub algs: String,
    /// The request's `authorization` used the `DPoP` scheme.
    pub scheme_used: bool,
    /// `dpop.required`: a bearer token is never accepted.
    pub required: bool,
}

/// `value` made safe inside a quoted-string: quotes, backslashes and control
/// characters are replaced, so a client's `:authority` cannot shape the header.
fn quoted(value: &str) -> String {
    value.chars().take(256).map(safe_char).collect()
}

/// A value from the configuration (checked when it was read) made safe
/// inside a quoted-string as [`quoted`] does, but whole.
fn quoted_whole(value: &str) -> String {
    value.chars().map(safe_char).collect()
}

fn safe_char(c: char) -> char {
    match c {
        '"' | '\\' => '_',
        c if c.is_control() => '_',
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::dpop::binding::Misbound;
    use crate::token::dpop::checks::ProofFailure;
    use crate::token::dpop::replay::NotRemembered;

    fn dpop() -> DpopChallenge {
        DpopChallenge {
            algs: "ES256 EdDSA".into(),
            scheme_used: false,
            required: false,
        }
    }

    fn challenges(rejection: Rejection, dpop: &DpopChallenge) -> Vec<String> {
        rejection.challenges("api", Some(dpop), &ChallengeHints::default())
    }

    #[test]
    fn dpop_challenges_of_the_contract_and_rfc_9449_section_7() {
        // A missing token: both schemes, Bearer first; only DPoP when required.
        assert_eq!(
            challenges(Rejection::Missing, &dpop()),
            [
                "Bearer realm=\"api\"",
                "DPoP realm=\"api\", algs=\"ES256 EdDSA\""
            ]
        );
        let required = DpopChallenge {
            required: true,
            ..dpop()
        };
        assert_eq!(
            challenges(Rejection::Missing, &required),
            ["DPoP realm=\"api\", algs=\"ES256 EdDSA\""]
        );
        // A proof problem: 401 invalid_dpop_proof, whatever the scheme.
        let proof = Rejection::Dpop(DpopFailure::Proof(ProofFailure::Uri));
        assert_eq!(proof.status(), 401);
        assert_eq!(proof.code(), "dpop");
        assert_eq!(
            challenges(proof, &dpop()),
            ["DPoP realm=\"api\", error=\"invalid_dpop_proof\", algs=\"ES256 EdDSA\""]
        );
        assert_eq!(
            challenges(Rejection::DpopNonce, &dpop()),
            ["DPoP realm=\"api\", error=\"use_dpop_nonce\", algs=\"ES256 EdDSA\""]
        );
        assert_eq!(Rejection::DpopNonce.code(), "dpop_nonce");
        // Every refusal of a request that used the DPoP scheme uses it, a 403 too.
        let used = DpopChallenge {
            scheme_used: true,
            ..dpop()
        };
        let unbound = Rejection::Dpop(DpopFailure::Misbound(Misbound::UnboundAsDpop));
        assert_eq!(
            challenges(unbound, &used),
            ["DPoP realm=\"api\", error=\"invalid_token\", algs=\"ES256 EdDSA\""]
        );
        assert_eq!(Rejection::AudienceNotAllowed.status(), 403);
        assert_eq!(
            challenges(Rejection::AudienceNotAllowed, &used),
            ["DPoP realm=\"api\", error=\"invalid_token\", error_description=\"audience not allowed\", algs=\"ES256 EdDSA\""]
        );
        // A bearer request's token problem: Bearer's challenge, then DPoP's offer.
        let offer = "DPoP realm=\"api\", algs=\"ES256 EdDSA\"";
        assert_eq!(
            challenges(Rejection::Expired, &dpop()),
            ["Bearer realm=\"api\", error=\"invalid_token\"", offer]
        );
        let bound = Rejection::Dpop(DpopFailure::Misbound(Misbound::BoundAsBearer));
        assert_eq!(
            challenges(bound, &dpop()),
            ["Bearer realm=\"api\", error=\"invalid_token\"", offer]
        );
        assert_eq!(
            challenges(bound, &required),
            ["DPoP realm=\"api\", error=\"invalid_token\", algs=\"ES256 EdDSA\""]
        );
        // No challenge where there was none.
        assert!(challenges(Rejection::KeysUnavailable, &used).is_empty());
    }

    const ALL: [Rejection; 36] = [
        Rejection::StepUp(StepUpFailure::Acr),
        Rejection::StepUp(StepUpFailure::MaxAge),
        Rejection::Inactive,
        Rejection::IntrospectionFailed,
        Rejection::IntrospectionPending,
        Rejection::Dpop(DpopFailure::Misbound(Misbound::BoundAsBearer)),
        Rejection::Dpop(DpopFailure::Proof(ProofFailure::Uri)),
        Rejection::Dpop(DpopFailure::Replay(NotRemembered::Replayed)),
        Rejection::DpopNonce,
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
    fn introspection_outcomes_of_the_contract() {
        assert_eq!(Rejection::Inactive.status(), 401);
        assert_eq!(Rejection::Inactive.code(), "inactive");
        assert_eq!(
            Rejection::Inactive.www_authenticate("svc").as_deref(),
            Some("Bearer realm=\"svc\", error=\"invalid_token\"")
        );
        for failed in [
            Rejection::IntrospectionFailed,
            Rejection::IntrospectionPending,
        ] {
            assert_eq!(failed.status(), 503);
            assert_eq!(failed.code(), "introspection");
            assert_eq!(failed.www_authenticate("svc"), None);
            assert_eq!(failed.lack(), None, "no key fetch changes it");
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
