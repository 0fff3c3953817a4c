//! What a claim must hold (`required_claims` of a provider, `claims` of a rule):
//! the claim found by name or by a path of nested objects, and every one, or one
//! of, the wanted values in it.
//!
//! ```text
//! {"scope": "orders:read"}                        the word orders:read in scope
//! {"realm_access.roles": ["admin", "ops"]}        both in realm_access.roles
//! {"tenant": {"one_of": ["acme", "globex"]}}      one of them
//! {"tenant": "${path.tenant}"}                    (rules) the tenant in the path
//! ```
//! A value bound to the request must equal the claim or one element of an array
//! claim: `"acme globex"` is never tenant `globex`.

use serde_json::{Map, Value};

use crate::policy::placeholder::{Bindings, Pattern};
use crate::rejection::Rejection;

/// Most values in one requirement.
pub const MAX_VALUES: usize = 32;

/// One claim requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequirement {
    /// The claim's name: top-level first, else (when it holds a `.`) a path.
    pub claim: String,
    /// What must be in it.
    pub want: Want,
}

/// The values a claim must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// Every one of them.
    AllOf(Vec<Pattern>),
    /// At least one of them.
    OneOf(Vec<Pattern>),
}

/// The claim `name`: a top-level claim of that name, else, when the name holds a
/// `.`, the value at that path of nested objects (`realm_access.roles`).
pub fn lookup<'c>(claims: &'c Map<String, Value>, name: &str) -> Option<&'c Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    if !name.contains('.') {
        return None;
    }
    let mut parts = name.split('.');
    let mut current = claims.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

/// How a wanted value may sit in a string claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Match {
    /// The whole string, or one of its space-separated words (as OAuth `scope`
    /// is): for configured values.
    Word,
    /// The whole string only: for a value bound to the request (`${path.…}`,
    /// `${header.…}`), which a word list must never meet with one of its words.
    Whole,
}

/// Whether `claim` holds `wanted`: equals it, has it as an element (array), or
/// (with [`Match::Word`]) as one of its space-separated words.
fn holds(claim: Option<&Value>, wanted: &str, how: Match) -> bool {
    match claim {
        Some(Value::String(text)) => {
            text == wanted || (how == Match::Word && text.split(' ').any(|word| word == wanted))
        }
        Some(Value::Array(items)) => items.iter().any(|item| item.as_str() == Some(wanted)),
        _ => false,
    }
}

impl ClaimRequirement {
    /// Whether the claims meet this requirement; a value whose placeholder cannot
    /// be filled for this request is never met.
    pub fn is_met(&self, claims: &Map<String, Value>, bindings: Option<&Bindings<'_>>) -> bool {
        let claim = lookup(claims, &self.claim);
        let met = |pattern: &Pattern| {
            let how = if pattern.is_literal() {
                Match::Word
            } else {
                Match::Whole
            };
            pattern
                .expand(bindings)
                .is_some_and(|wanted| holds(claim, &wanted, how))
        };
        match &self.want {
            Want::AllOf(values) => values.iter().all(met),
            Want::OneOf(values) => values.iter().any(met),
        }
    }
}

impl ClaimRequirement {
    /// The configured values a token needs to meet it, as a client would ask
    /// for them: every literal value of an all-of requirement, the first of a
    /// one-of (any one will do). A value bound to the request is never named:
    /// it would only repeat what the request carried.
    pub fn literal_wanted(&self) -> Vec<String> {
        let (values, all) = match &self.want {
            Want::AllOf(values) => (values, true),
            Want::OneOf(values) => (values, false),
        };
        let literal = values
            .iter()
            .filter(|pattern| pattern.is_literal())
            .filter_map(|pattern| pattern.expand(None))
            .filter(|value| !value.is_empty());
        if all {
            literal.collect()
        } else {
            literal.take(1).collect()
        }
    }
}

impl ClaimRequirement {
    /// What it asks, as configured (never a token's value), for the log and
    /// the CLI: `scope must hold orders:write`, `tenant must hold one of acme,
    /// globex`, `tenant must hold ${path.tenant}`.
    pub fn describe(&self) -> String {
        let (values, how) = match &self.want {
            Want::AllOf(values) if values.len() == 1 => (values, "must hold"),
            Want::AllOf(values) => (values, "must hold all of"),
            Want::OneOf(values) => (values, "must hold one of"),
        };
        let values: Vec<String> = values.iter().map(Pattern::as_configured).collect();
        format!("{} {how} {}", self.claim, values.join(", "))
    }
}

/// The first requirement of `requirements` (in order) the claims do not meet.
pub fn first_unmet<'r>(
    claims: &Map<String, Value>,
    requirements: &[&'r [ClaimRequirement]],
    bindings: Option<&Bindings<'_>>,
) -> Option<&'r ClaimRequirement> {
    requirements
        .iter()
        .flat_map(|list| list.iter())
        .find(|requirement| !requirement.is_met(claims, bindings))
}

/// The scopes an unmet requirement on `scope` (or `scp`) names, space-separated
/// (RFC 6750 §3's `scope` attribute): its literal values
/// ([`ClaimRequirement::literal_wanted`]); `None` when every such requirement
/// is met, or the unmet one names none.
pub fn unmet_scope(
    claims: &Map<String, Value>,
    requirements: &[&[ClaimRequirement]],
    bindings: Option<&Bindings<'_>>,
) -> Option<String> {
    let unmet = requirements
        .iter()
        .flat_map(|list| list.iter())
        .filter(|requirement| matches!(requirement.claim.as_str(), "scope" | "scp"))
        .find(|requirement| !requirement.is_met(claims, bindings))?;
    let wanted = unmet.literal_wanted();
    (!wanted.is_empty()).then(|| wanted.join(" "))
}

/// Every requirement must be met, else 403 `insufficient_scope`.
pub fn check_claims(
    claims: &Map<String, Value>,
    requirements: &[ClaimRequirement],
    bindings: Option<&Bindings<'_>>,
) -> Result<(), Rejection> {
    if requirements.iter().all(|r| r.is_met(claims, bindings)) {
        Ok(())
    } else {
        Err(Rejection::ClaimsNotMet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::placeholder::Allowed;
    use crate::request::Request;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    fn literal(values: &[&str]) -> Vec<Pattern> {
        values.iter().map(|v| Pattern::literal(v)).collect()
    }

    fn all(claim: &str, values: &[&str]) -> ClaimRequirement {
        ClaimRequirement {
            claim: claim.into(),
            want: Want::AllOf(literal(values)),
        }
    }

    fn one_of(claim: &str, values: &[&str]) -> ClaimRequirement {
        ClaimRequirement {
            claim: claim.into(),
            want: Want::OneOf(literal(values)),
        }
    }

    #[test]
    fn values_by_equality_element_or_word() {
        let c = claims(json!({"scope": "a b c", "roles": ["x", "y"], "tenant": "acme"}));
        assert!(check_claims(&c, &[all("scope", &["a", "c"])], None).is_ok());
        assert!(check_claims(&c, &[all("roles", &["x", "y"])], None).is_ok());
        assert!(check_claims(&c, &[all("roles", &["x", "z"])], None).is_err());
        assert!(check_claims(&c, &[all("tenant", &["acme"])], None).is_ok());
        assert!(check_claims(&c, &[all("missing", &["acme"])], None).is_err());
    }

    #[test]
    fn one_of_needs_one() {
        let c = claims(json!({"tenant": "globex"}));
        assert!(check_claims(&c, &[one_of("tenant", &["acme", "globex"])], None).is_ok());
        assert!(check_claims(&c, &[all("tenant", &["acme", "globex"])], None).is_err());
        assert_eq!(
            check_claims(&c, &[one_of("tenant", &["acme"])], None),
            Err(Rejection::ClaimsNotMet)
        );
    }

    #[test]
    fn nested_paths_after_top_level_names() {
        let c = claims(json!({
            "realm_access": {"roles": ["admin", "user"]},
            "https://example.com/roles": ["ops"],
            "a.b": "top",
            "a": {"b": "nested"},
        }));
        assert!(check_claims(&c, &[all("realm_access.roles", &["admin"])], None).is_ok());
        assert!(check_claims(&c, &[all("realm_access.roles", &["root"])], None).is_err());
        assert!(check_claims(&c, &[all("https://example.com/roles", &["ops"])], None).is_ok());
        assert!(check_claims(&c, &[all("a.b", &["top"])], None).is_ok());
        assert!(check_claims(&c, &[all("a.b", &["nested"])], None).is_err());
        assert!(check_claims(&c, &[all("realm_access.roles.x", &["admin"])], None).is_err());
    }

    #[test]
    fn placeholders_bind_the_claim_to_the_request() {
        let allowed = Allowed {
            path: true,
            header: true,
        };
        let bound = ClaimRequirement {
            claim: "tenant".into(),
            want: Want::AllOf(vec![Pattern::parse("${path.tenant}", allowed).unwrap()]),
        };
        let c = claims(json!({"tenant": "acme"}));
        let request = Request {
            method: "GET",
            path: "/",
            authority: "svc",
            headers: &[],
        };
        let at = |tenant: &'static str| {
            let captures = [("tenant", tenant)];
            let bindings = Bindings {
                captures: &captures,
                request: &request,
            };
            bound.is_met(&c, Some(&bindings))
        };
        assert!(at("acme"));
        assert!(!at("globex"));
        assert!(!bound.is_met(&c, None), "nothing to fill from: not met");
    }
    /// Issue 21, finding 3: a value bound to the request equals the claim or one
    /// element of it, never one space-separated word; fixed values keep words.
    #[test]
    fn bound_values_are_never_one_word_of_the_claim() {
        let allowed = Allowed {
            path: true,
            header: true,
        };
        let bound = |text: &str| ClaimRequirement {
            claim: "tenant".into(),
            want: Want::OneOf(vec![Pattern::parse(text, allowed).unwrap()]),
        };
        let headers = vec![("x-tenant".to_string(), "globex".to_string())];
        let request = Request {
            method: "GET",
            path: "/",
            authority: "svc",
            headers: &headers,
        };
        let captures = [("tenant", "globex")];
        let bindings = Bindings {
            captures: &captures,
            request: &request,
        };
        for text in ["${path.tenant}", "${header.x-tenant}"] {
            let requirement = bound(text);
            for (claim, want) in [
                (json!("globex"), true),
                (json!(["acme", "globex"]), true),
                (json!("acme globex"), false),
                (json!("globex acme"), false),
                (json!(["acme globex"]), false),
                (json!("globex "), false),
            ] {
                let c = claims(json!({ "tenant": claim }));
                assert_eq!(
                    requirement.is_met(&c, Some(&bindings)),
                    want,
                    "{text} against {claim}"
                );
            }
        }
        let scope = claims(json!({"tenant": "acme globex"}));
        assert!(check_claims(&scope, &[all("tenant", &["globex"])], Some(&bindings)).is_ok());
    }

    #[test]
    fn a_requirement_is_described_as_configured() {
        assert_eq!(
            all("scope", &["orders:write"]).describe(),
            "scope must hold orders:write"
        );
        assert_eq!(
            all("roles", &["a", "b"]).describe(),
            "roles must hold all of a, b"
        );
        assert_eq!(
            one_of("tenant", &["acme", "globex"]).describe(),
            "tenant must hold one of acme, globex"
        );
    }
}
