//! Raw rules and claim requirements → compiled [`Rule`]s and
//! [`ClaimRequirement`]s: `match` (prefix, path or template), `requires` in all
//! its forms, and claim values with `one_of` and placeholders.

use std::collections::BTreeMap;

use serde_json::Value;

use super::error::fail;
use super::raw::RawRule;
use super::step_up::step_up_of_object;
use super::{ConfigError, Problem, MAX_PROVIDER_AUDIENCES};
use crate::policy::claim_rule::{ClaimRequirement, Want, MAX_VALUES};
use crate::policy::placeholder::{fill_node, Allowed, Pattern};
use crate::policy::requirement::{Demand, Requirement};
use crate::policy::template::PathTemplate;
use crate::policy::{PathMatch, Rule};
use crate::request::tchar::is_tchar;

/// What rule compilation needs from the rest of the configuration.
pub struct Context<'a> {
    /// Provider index by name.
    pub index_of: &'a BTreeMap<String, usize>,
    /// The proxy's node metadata, for `${node.KEY}` in audiences.
    pub node: &'a dyn Fn(&str) -> Option<String>,
}

/// Compiles one rule at `field` (`rules[2]`).
pub fn compile_rule(field: &str, raw: RawRule, context: &Context<'_>) -> Result<Rule, ConfigError> {
    let matcher = raw.matcher;
    let path = match (matcher.prefix, matcher.path, matcher.template) {
        (Some(prefix), None, None) if prefix.starts_with('/') => PathMatch::Prefix(prefix),
        (None, Some(exact), None) if exact.starts_with('/') => PathMatch::Exact(exact),
        (None, None, Some(text)) => {
            PathMatch::Template(PathTemplate::compile(&text).map_err(|error| ConfigError {
                field: format!("{field}.match.template"),
                problem: Problem::Template(error),
            })?)
        }
        (Some(_), None, None) => {
            return fail(format!("{field}.match.prefix"), Problem::InvalidPath)
        }
        (None, Some(_), None) => return fail(format!("{field}.match.path"), Problem::InvalidPath),
        _ => return fail(format!("{field}.match"), Problem::MatchKind),
    };
    let methods = matcher.methods.unwrap_or_default();
    if let Some(index) = methods
        .iter()
        .position(|m| m.is_empty() || !m.bytes().all(is_tchar))
    {
        return fail(
            format!("{field}.match.methods[{index}]"),
            Problem::InvalidMethod,
        );
    }
    let template = match &path {
        PathMatch::Template(template) => Some(template),
        _ => None,
    };
    let requires = compile_requires(
        &format!("{field}.requires"),
        &raw.requires,
        template,
        context,
    )?;
    Ok(Rule {
        path,
        methods: methods
            .into_iter()
            .map(|m| m.to_ascii_uppercase())
            .collect(),
        requires,
        allow_missing: raw.allow_missing.unwrap_or(false),
    })
}

/// `requires`: `"none"`, a provider name, a provider object, `{"any": [...]}` or
/// `{"all": [...]}` whose entries are names or provider objects.
fn compile_requires(
    field: &str,
    raw: &Value,
    template: Option<&PathTemplate>,
    context: &Context<'_>,
) -> Result<Requirement, ConfigError> {
    match raw {
        Value::String(name) if name == "none" => Ok(Requirement::None),
        Value::Object(object) if object.contains_key("any") || object.contains_key("all") => {
            let (key, list) = match (object.get("any"), object.get("all"), object.len()) {
                (Some(list), None, 1) => ("any", list),
                (None, Some(list), 1) => ("all", list),
                _ => return fail(field, Problem::RequiresKind),
            };
            let Value::Array(entries) = list else {
                return fail(format!("{field}.{key}"), Problem::RequiresShape);
            };
            if entries.is_empty() {
                return fail(format!("{field}.{key}"), Problem::Empty);
            }
            let demands = entries
                .iter()
                .enumerate()
                .map(|(index, entry)| {
                    compile_demand(&format!("{field}.{key}[{index}]"), entry, template, context)
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if key == "any" {
                Requirement::Any(demands)
            } else {
                Requirement::All(demands)
            })
        }
        other => Ok(Requirement::Provider(compile_demand(
            field, other, template, context,
        )?)),
    }
}

/// The fields of a provider object in `requires`.
const DEMAND_FIELDS: [&str; 5] = ["provider", "audiences", "claims", "acr_values", "max_age_s"];

/// A provider name or `{"provider", "audiences", "claims", "acr_values",
/// "max_age_s"}`.
fn compile_demand(
    field: &str,
    raw: &Value,
    template: Option<&PathTemplate>,
    context: &Context<'_>,
) -> Result<Demand, ConfigError> {
    let provider = |path: String, name: &str| {
        context.index_of.get(name).copied().ok_or(ConfigError {
            field: path,
            problem: Problem::UnknownProvider(name.to_owned()),
        })
    };
    let object = match raw {
        Value::String(name) if name == "none" => {
            return fail(field, Problem::NoneInGroup);
        }
        Value::String(name) => return Ok(Demand::of(provider(field.to_owned(), name)?)),
        Value::Object(object) => object,
        _ => return fail(field, Problem::RequiresShape),
    };
    if let Some(unknown) = object
        .keys()
        .find(|key| !DEMAND_FIELDS.contains(&key.as_str()))
    {
        return fail(
            format!("{field}.{unknown}"),
            Problem::UnknownField(DEMAND_FIELDS.to_vec()),
        );
    }
    let name = match object.get("provider") {
        Some(Value::String(name)) => name,
        Some(_) => return fail(format!("{field}.provider"), Problem::NotAString),
        None => return fail(format!("{field}.provider"), Problem::Required),
    };
    let index = provider(format!("{field}.provider"), name)?;
    let audiences = match object.get("audiences") {
        None => None,
        Some(raw) => Some(compile_audiences(
            &format!("{field}.audiences"),
            raw,
            context.node,
        )?),
    };
    let claims = match object.get("claims") {
        None => Vec::new(),
        Some(Value::Object(claims)) => {
            let allowed = Allowed {
                path: true,
                header: true,
            };
            let compiled = compile_claims(&format!("{field}.claims"), claims, allowed)?;
            check_path_variables(&format!("{field}.claims"), &compiled, template)?;
            compiled
        }
        Some(_) => return fail(format!("{field}.claims"), Problem::ClaimsShape),
    };
    Ok(Demand {
        provider: index,
        audiences,
        claims,
        step_up: step_up_of_object(field, object)?,
    })
}

/// A list of 1..32 non-empty audiences, `${node.KEY}` filled.
pub fn compile_audiences(
    field: &str,
    raw: &Value,
    node: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, ConfigError> {
    let Value::Array(entries) = raw else {
        return fail(field, Problem::ListOfStrings);
    };
    let texts = entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            entry.as_str().map(str::to_owned).ok_or(ConfigError {
                field: format!("{field}[{index}]"),
                problem: Problem::NotAString,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    fill_audiences(field, texts, node)
}

/// Checks a list of audiences (1..32, none empty) and fills its `${node.KEY}`.
pub fn fill_audiences(
    field: &str,
    texts: Vec<String>,
    node: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, ConfigError> {
    if texts.is_empty() {
        return fail(field, Problem::Empty);
    }
    if texts.len() > MAX_PROVIDER_AUDIENCES {
        return fail(
            field,
            Problem::TooMany {
                max: MAX_PROVIDER_AUDIENCES,
            },
        );
    }
    texts
        .into_iter()
        .enumerate()
        .map(|(index, text)| {
            let path = format!("{field}[{index}]");
            if text.is_empty() {
                return fail(path, Problem::Empty);
            }
            fill_node(&text, node).map_err(|error| ConfigError {
                field: path,
                problem: Problem::Placeholder(error),
            })
        })
        .collect()
}

/// Claim requirements at `field`: name → string, list of strings, or `{"one_of": [...]}`.
pub fn compile_claims<'r>(
    field: &str,
    raw: impl IntoIterator<Item = (&'r String, &'r Value)>,
    allowed: Allowed,
) -> Result<Vec<ClaimRequirement>, ConfigError> {
    raw.into_iter()
        .map(|(claim, value)| {
            let path = format!("{field}.{claim}");
            if claim.is_empty() {
                return fail(path, Problem::Empty);
            }
            let want = match value {
                Value::String(text) => Want::AllOf(vec![pattern(&path, text, allowed)?]),
                Value::Array(list) => Want::AllOf(patterns(&path, list, allowed)?),
                Value::Object(object) => match (object.get("one_of"), object.len()) {
                    (Some(Value::Array(list)), 1) => {
                        Want::OneOf(patterns(&format!("{path}.one_of"), list, allowed)?)
                    }
                    (Some(_), 1) => return fail(format!("{path}.one_of"), Problem::ListOfStrings),
                    _ => return fail(path, Problem::ClaimValueShape),
                },
                _ => return fail(path, Problem::ClaimValueShape),
            };
            Ok(ClaimRequirement {
                claim: claim.clone(),
                want,
            })
        })
        .collect()
}

fn patterns(field: &str, list: &[Value], allowed: Allowed) -> Result<Vec<Pattern>, ConfigError> {
    if list.is_empty() {
        return fail(field, Problem::Empty);
    }
    if list.len() > MAX_VALUES {
        return fail(field, Problem::TooMany { max: MAX_VALUES });
    }
    list.iter()
        .enumerate()
        .map(|(index, value)| {
            let path = format!("{field}[{index}]");
            match value {
                Value::String(text) => pattern(&path, text, allowed),
                _ => fail(path, Problem::NotAString),
            }
        })
        .collect()
}

fn pattern(field: &str, text: &str, allowed: Allowed) -> Result<Pattern, ConfigError> {
    if text.is_empty() {
        return fail(field, Problem::Empty);
    }
    // Parsed even where no placeholder is allowed (a provider's
    // `required_claims`), so that one there is refused rather than compared as text.
    Pattern::parse(text, allowed).map_err(|error| ConfigError {
        field: field.to_owned(),
        problem: Problem::Placeholder(error),
    })
}

/// Every `${path.NAME}` names a variable of the rule's template.
fn check_path_variables(
    field: &str,
    claims: &[ClaimRequirement],
    template: Option<&PathTemplate>,
) -> Result<(), ConfigError> {
    for requirement in claims {
        let values = match &requirement.want {
            Want::AllOf(values) | Want::OneOf(values) => values,
        };
        for name in values.iter().flat_map(Pattern::path_names) {
            if !template.is_some_and(|t| t.has_variable(name)) {
                return fail(
                    format!("{field}.{}", requirement.claim),
                    Problem::UnknownPathVariable(name.to_owned()),
                );
            }
        }
    }
    Ok(())
}
