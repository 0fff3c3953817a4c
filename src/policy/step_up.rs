//! Step-up (RFC 9470): how the user must have authenticated for a token to be
//! good here, a provider's `acr_values` and `max_age_s` or a route's in their
//! place, checked on every request (a remembered token too, since `max_age_s`
//! runs out), and what the refusal's challenge asks the client to obtain.

use serde_json::{Map, Value};

use crate::rejection::{Rejection, StepUpFailure};
use crate::token::claims::auth_time;

/// What authentication a token must come from: `acr` one of `acr_values` (when
/// given), `auth_time` no older than `max_age_s` (when given).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StepUp {
    /// The `acr` values accepted; `None`: `acr` is not checked.
    pub acr_values: Option<Vec<String>>,
    /// Most seconds since `auth_time`; `None`: not checked.
    pub max_age_s: Option<u64>,
}

/// The step-up a route asks (`route`, each field in place of the provider's)
/// of a provider's token (`provider`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Asked<'a> {
    /// `acr` must be one of these.
    pub acr_values: Option<&'a [String]>,
    /// `auth_time` no older than this.
    pub max_age_s: Option<u64>,
}

impl<'a> Asked<'a> {
    /// The provider's step-up with the route's fields in place of its own.
    pub fn of(provider: Option<&'a StepUp>, route: Option<&'a StepUp>) -> Asked<'a> {
        let acr = |step_up: Option<&'a StepUp>| step_up.and_then(|s| s.acr_values.as_deref());
        let max_age = |step_up: Option<&'a StepUp>| step_up.and_then(|s| s.max_age_s);
        Asked {
            acr_values: acr(route).or(acr(provider)),
            max_age_s: max_age(route).or(max_age(provider)),
        }
    }

    /// Whether anything is asked.
    pub fn is_empty(&self) -> bool {
        self.acr_values.is_none() && self.max_age_s.is_none()
    }
}

/// The token's `acr` must be one asked, and its `auth_time` no older than
/// asked (`now`, Unix seconds; `skew` seconds of leeway); else 401
/// `insufficient_user_authentication`, reason `step_up`.
pub fn check_step_up(
    claims: &Map<String, Value>,
    asked: &Asked<'_>,
    skew: i64,
    now: i64,
) -> Result<(), Rejection> {
    if let Some(accepted) = asked.acr_values {
        let acr = claims.get("acr").and_then(Value::as_str);
        if !acr.is_some_and(|acr| accepted.iter().any(|wanted| wanted == acr)) {
            return Err(Rejection::StepUp(StepUpFailure::Acr));
        }
    }
    if let Some(max_age) = asked.max_age_s {
        let max_age = i64::try_from(max_age).unwrap_or(i64::MAX);
        let fresh = auth_time(claims)
            .is_some_and(|at| now.saturating_sub(skew) <= at.saturating_add(max_age));
        if !fresh {
            return Err(Rejection::StepUp(StepUpFailure::MaxAge));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    fn step_up(acr: Option<&[&str]>, max_age_s: Option<u64>) -> StepUp {
        StepUp {
            acr_values: acr.map(|list| list.iter().map(|v| (*v).to_owned()).collect()),
            max_age_s,
        }
    }

    #[test]
    fn acr_must_be_one_asked() {
        let asked_of = step_up(Some(&["phr", "phrh"]), None);
        let asked = Asked::of(Some(&asked_of), None);
        assert_eq!(
            check_step_up(&claims(json!({"acr": "phrh"})), &asked, 0, NOW),
            Ok(())
        );
        for refused in [json!({"acr": "pwd"}), json!({}), json!({"acr": ["phr"]})] {
            assert_eq!(
                check_step_up(&claims(refused.clone()), &asked, 0, NOW),
                Err(Rejection::StepUp(StepUpFailure::Acr)),
                "{refused}"
            );
        }
    }

    #[test]
    fn auth_time_must_be_recent_enough_with_the_skew() {
        let asked_of = step_up(None, Some(300));
        let asked = Asked::of(Some(&asked_of), None);
        let at = |t: i64| claims(json!({"auth_time": t}));
        assert_eq!(check_step_up(&at(NOW - 300), &asked, 0, NOW), Ok(()));
        let old = Err(Rejection::StepUp(StepUpFailure::MaxAge));
        assert_eq!(check_step_up(&at(NOW - 301), &asked, 0, NOW), old);
        assert_eq!(check_step_up(&at(NOW - 301), &asked, 60, NOW), Ok(()));
        assert_eq!(check_step_up(&claims(json!({})), &asked, 60, NOW), old);
        assert_eq!(
            check_step_up(&claims(json!({"auth_time": "x"})), &asked, 60, NOW),
            old
        );
        let zero = step_up(None, Some(0));
        let asked = Asked::of(Some(&zero), None);
        assert_eq!(check_step_up(&at(NOW), &asked, 0, NOW), Ok(()));
        assert_eq!(check_step_up(&at(NOW - 1), &asked, 0, NOW), old);
    }

    #[test]
    fn a_route_replaces_each_field_it_gives() {
        let provider = step_up(Some(&["pwd"]), Some(3600));
        let route = step_up(Some(&["phrh"]), None);
        let asked = Asked::of(Some(&provider), Some(&route));
        assert_eq!(asked.acr_values, route.acr_values.as_deref());
        assert_eq!(asked.max_age_s, Some(3600));
        assert!(Asked::of(None, None).is_empty());
    }
}
