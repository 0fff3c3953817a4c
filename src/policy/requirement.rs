//! What a route demands of a token, resolved from a rule's `requires` at
//! configure time: which provider, for which audiences, holding which claims.
//!
//! ```text
//! "corp"                                             Provider(Demand { corp })
//! {"provider": "corp", "audiences": ["admin.svc"]}   Provider(Demand { corp, audiences })
//! {"any": ["corp", {"provider": "partner", "claims": {"tenant": "${path.tenant}"}}]}
//!                                                    Any([Demand { corp }, Demand { partner, claims }])
//! ```

use crate::policy::claim_rule::ClaimRequirement;
use crate::policy::step_up::StepUp;

/// What a matched request must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// Nothing: the token is neither checked nor removed.
    None,
    /// A token meeting this demand.
    Provider(Demand),
    /// A token meeting at least one of these demands.
    Any(Vec<Demand>),
    /// A token meeting each of these demands.
    All(Vec<Demand>),
}

impl Requirement {
    /// The demands, in order (none for `None`).
    pub fn demands(&self) -> &[Demand] {
        match self {
            Requirement::None => &[],
            Requirement::Provider(demand) => std::slice::from_ref(demand),
            Requirement::Any(list) | Requirement::All(list) => list,
        }
    }
}

/// One provider's token, as a route wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Demand {
    /// Index into `Config::providers`.
    pub provider: usize,
    /// The audiences on this route, in place of the provider's own.
    pub audiences: Option<Vec<String>>,
    /// Claims required on this route, besides the provider's `required_claims`.
    pub claims: Vec<ClaimRequirement>,
    /// Step-up on this route, each field in place of the provider's.
    pub step_up: Option<StepUp>,
}

impl Demand {
    /// The provider's token as the provider alone defines it.
    pub fn of(provider: usize) -> Demand {
        Demand {
            provider,
            audiences: None,
            claims: Vec::new(),
            step_up: None,
        }
    }

    /// The audiences a token must name for this demand: its own, else the
    /// provider's (`provider_audiences`).
    pub fn audiences<'a>(&'a self, provider_audiences: &'a [String]) -> &'a [String] {
        self.audiences.as_deref().unwrap_or(provider_audiences)
    }
}
