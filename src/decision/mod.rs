//! A request's verdict: which requirement applies, whose token verifies, and what
//! to change in the request before it goes upstream. Pure: keys, signature
//! backend, token cache and clock are passed in.

pub mod authenticate;
pub mod fast_path;
pub mod introspected;
pub mod mutations;
pub mod onward;
pub mod plan;
pub mod proof_replay;
pub mod published;
pub mod remembered;
mod verifier;

use std::cell::{Cell, RefCell};

use serde_json::Value;

use crate::config::{Config, Provider};
use crate::decision::authenticate::{authenticate, Presenter, RouteChecks};
use crate::decision::introspected::{payload_of, vouched_for};
pub use crate::decision::mutations::Mutations;
use crate::decision::mutations::{
    base_mutations, outputs, outputs_of, refused_mutations, remove_token, remove_unrequired_tokens,
};
use crate::decision::remembered::{recall, recheck, remember};
pub use crate::decision::verifier::{LocalKeys, Verifier};
use crate::keys::fresh_keys::KeyRefusal;
use crate::keys::introspection::vouched::Vouched;
pub use crate::keys::store::KeyStore;
use crate::log::token_facts::TokenFacts;
use crate::policy::caller::{NoPeer, Peer};
use crate::policy::claim_rule::{first_unmet, unmet_scope, ClaimRequirement};
use crate::policy::placeholder::Bindings;
use crate::policy::step_up::Asked;
use crate::policy::{applicable_per_reading, Applicable, Demand, Requirement};
use crate::rejection::{ChallengeHints, DpopChallenge, Rejection};
use crate::request::path::resolve;
pub use crate::request::same_header_name;
use crate::request::HeaderValues;
use crate::request::Request;
use crate::token::dpop::binding::Presentation;
use crate::token::dpop::htu::normalise;
use crate::token::dpop::prove::{accept, prove, AcceptedProof, DpopRequest};
use crate::token::dpop::settings::Dpop;
use crate::token::extract::{extract, Found};

/// The verdict on one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `Ok` to pass the request on, or why it is refused.
    pub verdict: Result<(), Rejection>,
    /// Index of the provider whose token decided it, if any.
    pub provider: Option<usize>,
    /// Changes to the request; on a refusal only the removal of forged outputs.
    pub mutations: Mutations,
    /// The token was verified before: the answer came from the token cache.
    pub from_cache: bool,
    /// On a refusal, what the token said about itself (for the log).
    pub facts: Option<TokenFacts>,
    /// On a pass with a DPoP-bound token, its accepted proof: the filter
    /// remembers it in the replay store (refusing a replay).
    pub proof: Option<AcceptedProof>,
    /// When the deciding provider has `dpop`: how a refusal is challenged, and
    /// the fresh `DPoP-Nonce` the response carries (a `use_dpop_nonce`
    /// refusal, or a pass whose proof's nonce is past half its life).
    pub dpop: Option<DpopReply>,
    /// On a refusal, what its challenge says beyond the error: the metadata
    /// URL, the scopes an unmet requirement names, what a step-up asks.
    pub hints: ChallengeHints,
    /// On a refusal for unmet claims: the first requirement not met, as
    /// configured (never the token's value), for the log and the CLI.
    pub unmet: Option<String>,
}

/// What the response to a request for a provider with `dpop` says of DPoP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopReply {
    /// How a refusal is challenged (RFC 9449 §7).
    pub challenge: DpopChallenge,
    /// A fresh server nonce for the `DPoP-Nonce` response header.
    pub nonce: Option<String>,
}

impl Decision {
    /// Its provider and, for a refusal a key fetch may change, what it lacks
    /// (what [`decide_with_fresh_keys`] asks of it).
    ///
    /// [`decide_with_fresh_keys`]: crate::keys::fresh_keys::decide_with_fresh_keys
    pub fn key_refusal(&self) -> KeyRefusal {
        (self.provider, self.verdict.err().and_then(Rejection::lack))
    }

    /// A pass decided by `provider`'s token (none: no token needed).
    pub(crate) fn pass(
        provider: Option<usize>,
        mutations: Mutations,
        from_cache: bool,
    ) -> Decision {
        Decision {
            verdict: Ok(()),
            provider,
            mutations,
            from_cache,
            facts: None,
            proof: None,
            dpop: None,
            hints: ChallengeHints::default(),
            unmet: None,
        }
    }
}

/// Decides `request` under `config`, with no TLS peer (see [`decide_with_peer`]).
pub fn decide(config: &Config, request: &Request<'_>, verifier: &Verifier<'_>) -> Decision {
    decide_with_peer(config, request, verifier, &NoPeer)
}

/// Decides `request` under `config`; `peer` is the downstream TLS peer, read only
/// when a token's `cnf` or a provider's `caller` needs it.
pub fn decide_with_peer(
    config: &Config,
    request: &Request<'_>,
    verifier: &Verifier<'_>,
    peer: &dyn Peer,
) -> Decision {
    let (path, query) = request
        .path
        .split_once('?')
        .map_or((request.path, None), |(path, query)| (path, Some(query)));
    let path = resolve(path);
    let forged_only = || base_mutations(config, request, &path, query);
    if config.bypass_cors_preflight && is_cors_preflight(request) {
        return Decision::pass(None, forged_only(), false);
    }
    let (rule, unsplit) =
        applicable_per_reading(&config.rules, &config.fallback, request.method, &path);
    let decide_by = |rule: &Applicable<'_, '_>| {
        decide_under(
            config,
            request,
            &path.upstream,
            verifier,
            peer,
            rule,
            &forged_only,
        )
    };
    let decision = decide_by(&rule);
    // A path whose encoded slash may also stay inside its segment meets the rule
    // of that reading too ([`applicable_per_reading`]).
    match unsplit {
        Some(other) if decision.verdict.is_ok() => {
            let gate = decide_by(&other);
            if gate.verdict.is_err() {
                gate
            } else {
                decision
            }
        }
        _ => decision,
    }
}

/// Decides `request` under `rule`, the rule one reading of its path picks;
/// `forged_only` gives the mutations every decision makes.
fn decide_under(
    config: &Config,
    request: &Request<'_>,
    path: &str,
    verifier: &Verifier<'_>,
    peer: &dyn Peer,
    rule: &Applicable<'_, '_>,
    forged_only: &dyn Fn() -> Mutations,
) -> Decision {
    let (demands, all): (&[Demand], bool) = match rule.requires {
        Requirement::None => return Decision::pass(None, forged_only(), false),
        Requirement::Provider(demand) => (std::slice::from_ref(demand), false),
        Requirement::Any(list) => (list, false),
        Requirement::All(list) => (list, true),
    };
    let bindings = Bindings {
        captures: &rule.captures,
        request,
    };
    // What a DPoP proof must match, read only when a provider takes proofs.
    let takes_proofs = demands.iter().any(|demand| {
        config
            .providers
            .get(demand.provider)
            .is_some_and(|p| p.dpop.is_some())
    });
    let presentation = takes_proofs.then(|| Presentation::of(request));
    let own_origin = if takes_proofs {
        own_origin(request)
    } else {
        String::new()
    };
    let dpop_request = presentation.as_ref().map(|presentation| DpopRequest {
        presentation,
        method: request.method,
        own_origin: &own_origin,
        path,
    });
    let evaluation = Evaluation {
        config,
        request,
        verifier,
        bindings: &bindings,
        presenter: Presenter {
            peer,
            dpop: dpop_request.as_ref(),
        },
        allow_missing: rule.allow_missing,
        from_cache: Cell::new(false),
        proof: RefCell::new(None),
        scope_hint: RefCell::new(None),
        step_up_hints: RefCell::new(Vec::new()),
        unmet: RefCell::new(None),
    };
    let mut mutations = forged_only();
    let outcome = if all {
        evaluation.all(demands, &mut mutations)
    } else {
        evaluation.any(demands, &mut mutations)
    };
    let replied = dpop_reply(
        config,
        demands,
        &outcome,
        presentation.as_ref(),
        &evaluation,
    );
    let mut decision = match outcome {
        Ok(provider) => {
            remove_unrequired_tokens(config, demands, request.path, request, &mut mutations);
            let mut decision = Decision::pass(provider, mutations, evaluation.from_cache.get());
            decision.proof = evaluation.proof.borrow().clone();
            decision
        }
        Err((rejection, provider)) => Decision {
            verdict: Err(rejection),
            provider,
            mutations: refused_mutations(config, request, demands, forged_only()),
            from_cache: false,
            proof: None,
            dpop: None,
            hints: hints(config, rejection, provider, &evaluation),
            unmet: evaluation.unmet.borrow().clone(),
            facts: provider
                .and_then(|index| config.providers.get(index))
                .and_then(|p| extract(p.token_sources(), request).ok().flatten())
                .and_then(|found| TokenFacts::read(&found.token)),
        },
    };
    decision.dpop = replied;
    decision
}

/// What the response says of DPoP, when the provider that decided (or, for a
/// missing token, the first demanded one with `dpop`) has `dpop`.
fn dpop_reply(
    config: &Config,
    demands: &[Demand],
    outcome: &Outcome,
    presentation: Option<&Presentation<'_>>,
    evaluation: &Evaluation<'_, '_>,
) -> Option<DpopReply> {
    let presentation = presentation?;
    let index = match outcome {
        Ok(provider) | Err((_, provider)) => *provider,
    };
    let dpop = index
        .and_then(|index| config.providers.get(index))
        .and_then(|provider| provider.dpop.as_ref())
        .or_else(|| {
            demands
                .iter()
                .filter_map(|demand| config.providers.get(demand.provider))
                .find_map(|provider| provider.dpop.as_ref())
        })?;
    let stale = evaluation
        .proof
        .borrow()
        .as_ref()
        .is_some_and(|proof| proof.nonce_stale);
    let wants_nonce =
        matches!(outcome, Err((Rejection::DpopNonce, _))) || (outcome.is_ok() && stale);
    let now = evaluation.verifier.now;
    let mut reply = DpopReply::without_nonce(dpop, presentation);
    reply.nonce = dpop
        .nonces
        .as_ref()
        .filter(|_| wants_nonce)
        .map(|nonces| nonces.issue(now));
    Some(reply)
}

impl DpopReply {
    /// The reply to a request presented as `presentation` to a provider with
    /// `dpop`, offering no nonce.
    fn without_nonce(dpop: &Dpop, presentation: &Presentation<'_>) -> DpopReply {
        DpopReply {
            challenge: DpopChallenge {
                algs: dpop.algs(),
                scheme_used: presentation.dpop_scheme,
                required: dpop.required,
            },
            nonce: None,
        }
    }
}

fn is_cors_preflight(request: &Request<'_>) -> bool {
    request.method == "OPTIONS"
        && request.has_header("origin")
        && request.has_header("access-control-request-method")
}

type Outcome = Result<Option<usize>, (Rejection, Option<usize>)>;

struct Evaluation<'a, 'r> {
    config: &'a Config,
    request: &'a Request<'r>,
    verifier: &'a Verifier<'a>,
    bindings: &'a Bindings<'a>,
    presenter: Presenter<'a>,
    allow_missing: bool,
    from_cache: Cell<bool>,
    /// The proof of the token that passed, when it is DPoP-bound.
    proof: RefCell<Option<AcceptedProof>>,
    /// With `resource_metadata`: the scopes an unmet requirement named, when a
    /// token was refused `insufficient_scope`.
    scope_hint: RefCell<Option<String>>,
    /// What each demand refused for step-up asked.
    step_up_hints: RefCell<Vec<StepUpHint>>,
    /// The first requirement a token refused for unmet claims did not meet.
    unmet: RefCell<Option<String>>,
}

/// What a demand refused for step-up asked: its provider, the refusal, the
/// `acr_values` (space-separated) and `max_age_s`.
struct StepUpHint {
    provider: usize,
    rejection: Rejection,
    acr_values: Option<String>,
    max_age: Option<u64>,
}

impl Evaluation<'_, '_> {
    fn provider(&self, index: usize) -> Option<&Provider> {
        self.config.providers.get(index)
    }

    /// A token meeting at least one of `demands`; different tokens are refused.
    fn any(&self, demands: &[Demand], mutations: &mut Mutations) -> Outcome {
        let mut candidates: Vec<(&Demand, Found)> = Vec::new();
        for demand in demands {
            let Some(provider) = self.provider(demand.provider) else {
                continue;
            };
            match extract(provider.token_sources(), self.request) {
                Ok(Some(found)) => candidates.push((demand, found)),
                Ok(None) => {}
                Err(rejection) => return Err((rejection, Some(demand.provider))),
            }
        }
        let Some((_, first)) = candidates.first() else {
            return if self.allow_missing {
                Ok(None)
            } else {
                Err((Rejection::Missing, None))
            };
        };
        if candidates
            .iter()
            .any(|(_, found)| found.token != first.token)
        {
            return Err((Rejection::MultipleTokens, None));
        }
        let mut failures: Vec<(usize, Rejection)> = Vec::new();
        let keyed_issuer = self.names_keyed_issuer(demands, &first.token);
        for (demand, found) in &candidates {
            let introspected = self
                .provider(demand.provider)
                .is_some_and(|provider| provider.introspection().is_some());
            // A JWS of a key-based provider's issuer is that provider's: it is
            // never sent to an introspection endpoint.
            if introspected && keyed_issuer {
                continue;
            }
            match self.verify(demand, &found.token) {
                Ok(set_headers) => {
                    // The one token may sit in several providers' places: each
                    // provider that does not forward it has it removed.
                    for (other, found) in &candidates {
                        if let Some(other) = self.provider(other.provider) {
                            let request = self.request;
                            remove_token(other, &found.locations, request.path, request, mutations);
                        }
                    }
                    mutations.set_headers.extend(set_headers);
                    return Ok(Some(demand.provider));
                }
                Err(rejection) => failures.push((demand.provider, rejection)),
            }
        }
        let (index, rejection) = most_relevant(self.config, &first.token, &failures);
        Err((rejection, Some(index)))
    }

    /// Whether `token` is a compact JWS whose `iss` is the issuer of a
    /// key-based provider among `demands`; read only when one of them has
    /// `introspection`.
    fn names_keyed_issuer(&self, demands: &[Demand], token: &str) -> bool {
        let providers = || demands.iter().filter_map(|d| self.provider(d.provider));
        if !providers().any(|provider| provider.introspection().is_some()) {
            return false;
        }
        // Any compact JWS: its header need not be one a provider accepts.
        let Ok(parsed) = crate::token::parse_compact(token, crate::token::MAX_TOKEN_BYTES) else {
            return false;
        };
        let issuer = parsed.claims.get("iss").and_then(Value::as_str);
        providers().any(|provider| {
            provider.introspection().is_none() && Some(provider.issuer.as_str()) == issuer
        })
    }

    /// A token meeting each of `demands`. With `allow_missing`, a request with no
    /// token at all passes; one with some tokens needs them all.
    fn all(&self, demands: &[Demand], mutations: &mut Mutations) -> Outcome {
        let mut tokens: Vec<(&Demand, Option<Found>)> = Vec::new();
        for demand in demands {
            let Some(provider) = self.provider(demand.provider) else {
                continue;
            };
            let found = extract(provider.token_sources(), self.request)
                .map_err(|r| (r, Some(demand.provider)))?;
            tokens.push((demand, found));
        }
        if self.allow_missing && tokens.iter().all(|(_, found)| found.is_none()) {
            return Ok(None);
        }
        let mut last = None;
        for (demand, found) in &tokens {
            let index = demand.provider;
            let (Some(provider), Some(found)) = (self.provider(index), found) else {
                return Err((Rejection::Missing, Some(index)));
            };
            let set_headers = self
                .verify(demand, &found.token)
                .map_err(|rejection| (rejection, Some(index)))?;
            remove_token(
                provider,
                &found.locations,
                self.request.path,
                self.request,
                mutations,
            );
            mutations.set_headers.extend(set_headers);
            last = Some(index);
        }
        Ok(last)
    }

    /// [`Evaluation::verify_token`], noting what a refusal for an unmet scope
    /// names (with `resource_metadata`).
    fn verify(&self, demand: &Demand, token: &str) -> Result<Vec<(String, String)>, Rejection> {
        let verified = self.verify_token(demand, token);
        match verified {
            Err(Rejection::ClaimsNotMet) => self.note_unmet(demand, token),
            Err(rejection @ Rejection::StepUp(_)) => {
                let provider = self.provider(demand.provider);
                let asked = Asked::of(
                    provider.and_then(|p| p.step_up.as_ref()),
                    demand.step_up.as_ref(),
                );
                self.step_up_hints.borrow_mut().push(StepUpHint {
                    provider: demand.provider,
                    rejection,
                    acr_values: asked.acr_values.map(|values| values.join(" ")),
                    max_age: asked.max_age_s,
                });
            }
            _ => {}
        }
        verified
    }

    /// Notes, for a `token` of `demand` refused for unmet claims, the first
    /// requirement it did not meet and (with `resource_metadata`) the scopes an
    /// unmet `scope` requirement names. Its claims are read again: its payload,
    /// verified, or its provider's introspection answer.
    fn note_unmet(&self, demand: &Demand, token: &str) {
        let Some(provider) = self.provider(demand.provider) else {
            return;
        };
        let claims = if provider.introspection().is_some() {
            let known = self.verifier.introspections.vouched(demand.provider, token);
            match known.map(|known| known.vouched) {
                Some(Vouched::Active(claims)) => (*claims).clone(),
                _ => return,
            }
        } else {
            match crate::token::parse(token) {
                Ok(parsed) => parsed.claims,
                Err(_) => return,
            }
        };
        let requirements: [&[ClaimRequirement]; 2] = [&provider.required_claims, &demand.claims];
        let bindings = Some(self.bindings);
        if let Some(unmet) = first_unmet(&claims, &requirements, bindings) {
            self.unmet.replace(Some(unmet.describe()));
        }
        if self.config.resource_metadata.is_some() {
            if let Some(scope) = unmet_scope(&claims, &requirements, bindings) {
                self.scope_hint.replace(Some(scope));
            }
        }
    }

    /// Verifies `token` for `demand`: from the cache when its provider verified
    /// it before with the same keys (the route's audiences and claims are still
    /// checked, on every request), else in full (and then remembered). Returns
    /// the headers the verified token sets.
    fn verify_token(
        &self,
        demand: &Demand,
        token: &str,
    ) -> Result<Vec<(String, String)>, Rejection> {
        let index = demand.provider;
        let provider = self.provider(index).ok_or(Rejection::KeysUnavailable)?;
        let route = RouteChecks {
            audiences: demand.audiences(&provider.audiences),
            claims: &demand.claims,
            bindings: Some(self.bindings),
            step_up: Asked::of(provider.step_up.as_ref(), demand.step_up.as_ref()),
        };
        let verifier = self.verifier;
        if provider.introspection().is_some() {
            let vouched = vouched_for(provider, index, &route, token, verifier, &self.presenter)?;
            self.from_cache.set(vouched.reused);
            self.proof.replace(vouched.proof);
            let payload = || payload_of(&vouched.claims);
            return Ok(outputs_of(provider, &vouched.claims, payload));
        }
        let takes_proofs = provider.dpop.is_some();
        if let Some(hit) = recall(verifier, token, index) {
            let skew = i64::try_from(provider.times.clock_skew_s).unwrap_or(i64::MAX);
            recheck(
                &hit.claims,
                &route,
                provider.caller.as_ref(),
                self.presenter.peer,
                takes_proofs,
                (skew, verifier.now),
            )?;
            // The cache spares the token's signature, never the proof.
            let proof = match (&provider.dpop, self.presenter.dpop) {
                (Some(dpop), Some(request)) => {
                    proven(provider, dpop, request, token, &hit.claims, verifier)?
                }
                _ => None,
            };
            self.from_cache.set(true);
            self.proof.replace(proof);
            return Ok(hit.set_headers);
        }
        let keys = || verifier.keys.key_set(index);
        let verified = authenticate(
            provider,
            &route,
            token,
            keys,
            verifier.signatures,
            verifier.now,
            &self.presenter,
        )?;
        self.proof.replace(verified.proof.clone());
        let set_headers = outputs(provider, &verified);
        remember(verifier, token, index, provider, &verified, &set_headers);
        Ok(set_headers)
    }
}

/// What a refusal's challenge says beyond its error: the metadata URL (with
/// `resource_metadata`), the scopes an unmet `scope` requirement named, and
/// what the step-up of the demand that refused it asks.
fn hints(
    config: &Config,
    rejection: Rejection,
    provider: Option<usize>,
    evaluation: &Evaluation<'_, '_>,
) -> ChallengeHints {
    let mut hints = ChallengeHints {
        resource_metadata: config.resource_metadata.as_ref().map(|m| m.url.clone()),
        ..ChallengeHints::default()
    };
    match rejection {
        Rejection::ClaimsNotMet if hints.resource_metadata.is_some() => {
            hints.scope = evaluation.scope_hint.borrow().clone();
        }
        Rejection::StepUp(_) => {
            // The demand that refused it so, by provider and failure.
            let step_ups = evaluation.step_up_hints.borrow();
            let refused = step_ups
                .iter()
                .find(|hint| Some(hint.provider) == provider && hint.rejection == rejection)
                .or_else(|| step_ups.iter().find(|hint| Some(hint.provider) == provider));
            if let Some(refused) = refused {
                hints.acr_values = refused.acr_values.clone();
                hints.max_age = refused.max_age;
            }
        }
        _ => {}
    }
    hints
}

/// Among failed providers: one whose introspection answer is still to come
/// (the request waits for it); else the one whose issuer the token names;
/// else one with `introspection` (the token was no JWS of the others); else
/// the first.
fn most_relevant(
    config: &Config,
    token: &str,
    failures: &[(usize, Rejection)],
) -> (usize, Rejection) {
    if let Some(pending) = failures
        .iter()
        .find(|(_, rejection)| *rejection == Rejection::IntrospectionPending)
    {
        return *pending;
    }
    let issuer = crate::token::parse(token).ok().and_then(|t| {
        t.claims
            .get("iss")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    failures
        .iter()
        .find(|(index, _)| {
            config.providers.get(*index).map(|p| Some(&p.issuer)) == Some(issuer.as_ref())
        })
        .or_else(|| {
            failures.iter().find(|(index, _)| {
                config
                    .providers
                    .get(*index)
                    .is_some_and(|p| p.introspection().is_some())
            })
        })
        .or(failures.first())
        .copied()
        .unwrap_or((0, Rejection::Missing))
}

/// The request's own origin as `htu` names it: `:scheme://:authority`,
/// normalised (empty when it cannot be, which no `htu` matches).
fn own_origin(request: &Request<'_>) -> String {
    origin_of(
        request.values(":scheme").next().unwrap_or("http"),
        request.authority,
    )
}

/// `scheme://authority`, normalised as [`own_origin`] says.
pub(crate) fn origin_of(scheme: &str, authority: &str) -> String {
    let origin = normalise(&format!("{scheme}://{authority}")).unwrap_or_default();
    origin.strip_suffix('/').unwrap_or(&origin).to_owned()
}

/// The proof of a remembered `token` (`claims`) for a provider with `dpop`:
/// its checks and its signature, on every request.
pub(crate) fn proven(
    provider: &Provider,
    dpop: &Dpop,
    request: &DpopRequest<'_>,
    token: &str,
    claims: &serde_json::Map<String, Value>,
    verifier: &Verifier<'_>,
) -> Result<Option<AcceptedProof>, Rejection> {
    let skew = i64::try_from(provider.times.clock_skew_s).unwrap_or(i64::MAX);
    let Some((checked, jkt)) = prove(dpop, request, token, claims, skew, verifier.now)? else {
        return Ok(None);
    };
    accept(&checked, jkt, dpop, skew, verifier.signatures).map(Some)
}
