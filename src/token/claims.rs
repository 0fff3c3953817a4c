//! Claim checks on an unverified payload, pure and with `now` passed in:
//! audience, issuer, times and lifetime (required claims: `claim_requirement`).

use serde_json::{Map, Value};

use crate::rejection::Rejection;

/// Most `aud` entries read; a longer array is refused.
pub const MAX_AUDIENCES: usize = 64;

/// `aud` must be a non-empty string, or a non-empty array of strings, that names
/// at least one of `allowed`, compared byte for byte.
pub fn check_audience(claims: &Map<String, Value>, allowed: &[String]) -> Result<(), Rejection> {
    let named = |aud: &str| !aud.is_empty() && allowed.iter().any(|own| own == aud);
    let accepted = match claims.get("aud") {
        Some(Value::String(aud)) => named(aud),
        Some(Value::Array(list)) if !list.is_empty() && list.len() <= MAX_AUDIENCES => {
            let mut any = false;
            for entry in list {
                match entry.as_str() {
                    Some(aud) => any |= named(aud),
                    None => return Err(Rejection::AudienceNotAllowed),
                }
            }
            any
        }
        _ => false,
    };
    if accepted {
        Ok(())
    } else {
        Err(Rejection::AudienceNotAllowed)
    }
}

/// `iss` must equal the provider's issuer exactly.
pub fn check_issuer(claims: &Map<String, Value>, issuer: &str) -> Result<(), Rejection> {
    match claims.get("iss") {
        Some(Value::String(iss)) if iss == issuer => Ok(()),
        _ => Err(Rejection::WrongIssuer),
    }
}

/// The time rules of one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRules {
    /// Leeway for `exp` and `nbf`, seconds.
    pub clock_skew_s: u64,
    /// A token without `exp` is refused.
    pub require_exp: bool,
    /// Longest allowed `exp - iat` (or `exp - now` without `iat`), seconds.
    pub max_lifetime_s: Option<u64>,
}

/// `exp`, `nbf`, `iat` and lifetime against `now` (Unix seconds).
pub fn check_times(
    claims: &Map<String, Value>,
    rules: TimeRules,
    now: i64,
) -> Result<(), Rejection> {
    let exp = numeric_date(claims, "exp")?;
    let nbf = numeric_date(claims, "nbf")?;
    let iat = numeric_date(claims, "iat")?;
    let skew = i64::try_from(rules.clock_skew_s).unwrap_or(i64::MAX);

    match exp {
        None if rules.require_exp => return Err(Rejection::MissingExpiry),
        Some(exp) if now >= exp.saturating_add(skew) => return Err(Rejection::Expired),
        _ => {}
    }
    if let Some(nbf) = nbf {
        if now.saturating_add(skew) < nbf {
            return Err(Rejection::NotYetValid);
        }
    }
    if let Some(max) = rules.max_lifetime_s {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        // Without `exp` the lifetime is unbounded, which no maximum allows.
        let exp = exp.ok_or(Rejection::TooLongLived)?;
        // A future `iat` must not stretch the allowance: one within the clock
        // skew is the issuer's clock running ahead and counts as it is; one
        // further ahead counts as now plus the skew.
        let start = iat.map_or(now, |iat| iat.min(now.saturating_add(skew)));
        if exp.saturating_sub(start) > max {
            return Err(Rejection::TooLongLived);
        }
    }
    Ok(())
}

/// The token's `exp` as whole seconds, read as the expiry check reads it; `None`
/// when absent or not a number.
pub fn expiry(claims: &Map<String, Value>) -> Option<i64> {
    numeric_date(claims, "exp").ok().flatten()
}

/// The token's `auth_time` (when the user last authenticated) as whole seconds;
/// `None` when absent or not a number.
pub fn auth_time(claims: &Map<String, Value>) -> Option<i64> {
    numeric_date(claims, "auth_time").ok().flatten()
}

/// A NumericDate claim as whole seconds: absent → `None`, a non-number → refused.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, Rejection> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(number)) => {
            if let Some(whole) = number.as_i64() {
                return Ok(Some(whole));
            }
            match number.as_f64() {
                Some(float) if float.is_finite() => Ok(Some(saturating_seconds(float))),
                _ => Err(Rejection::BadTimeClaim),
            }
        }
        Some(_) => Err(Rejection::BadTimeClaim),
    }
}

/// A finite float of seconds, rounded down, clamped to `i64`.
fn saturating_seconds(float: f64) -> i64 {
    // `as` saturates at the bounds for floats; floor keeps fractional dates exact.
    #[allow(clippy::cast_possible_truncation)]
    let whole = float.floor() as i64;
    whole
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    fn audiences() -> Vec<String> {
        vec!["orders".into(), "https://orders.example/".into()]
    }

    #[test]
    fn audience_string_or_array_naming_ours_passes() {
        assert!(check_audience(&claims(json!({"aud": "orders"})), &audiences()).is_ok());
        assert!(check_audience(&claims(json!({"aud": ["x", "orders"]})), &audiences()).is_ok());
        assert!(check_audience(
            &claims(json!({"aud": "https://orders.example/"})),
            &audiences()
        )
        .is_ok());
    }

    #[test]
    fn audience_is_compared_byte_for_byte() {
        for aud in ["Orders", "orders ", "https://orders.example", "orders/"] {
            assert_eq!(
                check_audience(&claims(json!({ "aud": aud })), &audiences()),
                Err(Rejection::AudienceNotAllowed),
                "{aud}"
            );
        }
    }

    #[test]
    fn audience_missing_empty_or_mistyped_is_refused() {
        for payload in [
            json!({}),
            json!({"aud": ""}),
            json!({"aud": []}),
            json!({"aud": null}),
            json!({"aud": 7}),
            json!({"aud": {"orders": true}}),
            json!({"aud": ["orders", 7]}),
            json!({"aud": ["payments"]}),
        ] {
            assert_eq!(
                check_audience(&claims(payload.clone()), &audiences()),
                Err(Rejection::AudienceNotAllowed),
                "{payload}"
            );
        }
    }

    #[test]
    fn audience_array_longer_than_the_bound_is_refused() {
        let mut list = vec![json!("x"); MAX_AUDIENCES];
        list.push(json!("orders"));
        assert!(check_audience(&claims(json!({ "aud": list })), &audiences()).is_err());
    }

    #[test]
    fn issuer_must_match_exactly() {
        assert!(check_issuer(&claims(json!({"iss": "https://i"})), "https://i").is_ok());
        for payload in [json!({}), json!({"iss": "https://i/"}), json!({"iss": 1})] {
            assert_eq!(
                check_issuer(&claims(payload), "https://i"),
                Err(Rejection::WrongIssuer)
            );
        }
    }

    const RULES: TimeRules = TimeRules {
        clock_skew_s: 60,
        require_exp: true,
        max_lifetime_s: None,
    };
    const NOW: i64 = 1_800_000_000;

    #[test]
    fn expiry_honours_the_skew() {
        let at = |exp: i64| check_times(&claims(json!({ "exp": exp })), RULES, NOW);
        assert!(at(NOW + 10).is_ok());
        assert!(at(NOW - 59).is_ok());
        assert_eq!(at(NOW - 60), Err(Rejection::Expired));
        assert_eq!(at(NOW - 3600), Err(Rejection::Expired));
    }

    #[test]
    fn not_before_honours_the_skew() {
        let at =
            |nbf: i64| check_times(&claims(json!({ "exp": NOW + 600, "nbf": nbf })), RULES, NOW);
        assert!(at(NOW + 60).is_ok());
        assert_eq!(at(NOW + 61), Err(Rejection::NotYetValid));
    }

    #[test]
    fn require_exp_and_numeric_dates() {
        assert_eq!(
            check_times(&claims(json!({})), RULES, NOW),
            Err(Rejection::MissingExpiry)
        );
        let lax = TimeRules {
            require_exp: false,
            ..RULES
        };
        assert!(check_times(&claims(json!({})), lax, NOW).is_ok());
        for payload in [
            json!({"exp": "1900000000"}),
            json!({"exp": NOW + 10, "nbf": true}),
            json!({"exp": NOW + 10, "iat": [1]}),
        ] {
            assert_eq!(
                check_times(&claims(payload), RULES, NOW),
                Err(Rejection::BadTimeClaim)
            );
        }
        assert!(check_times(&claims(json!({"exp": (NOW + 10) as f64 + 0.5})), RULES, NOW).is_ok());
        assert!(check_times(&claims(json!({"exp": 1e300})), RULES, NOW).is_ok());
        assert_eq!(
            check_times(&claims(json!({"exp": -1e300})), RULES, NOW),
            Err(Rejection::Expired)
        );
    }

    #[test]
    fn lifetime_is_measured_from_iat_or_now() {
        let rules = TimeRules {
            max_lifetime_s: Some(3600),
            require_exp: false,
            ..RULES
        };
        let check = |payload: Value| check_times(&claims(payload), rules, NOW);
        assert!(check(json!({"exp": NOW + 3600, "iat": NOW})).is_ok());
        assert_eq!(
            check(json!({"exp": NOW + 3601, "iat": NOW})),
            Err(Rejection::TooLongLived)
        );
        assert!(check(json!({"exp": NOW + 3000})).is_ok());
        assert_eq!(
            check(json!({"exp": NOW + 7200})),
            Err(Rejection::TooLongLived)
        );
        assert_eq!(check(json!({})), Err(Rejection::TooLongLived));
    }

    #[test]
    fn a_future_iat_does_not_stretch_the_lifetime() {
        let rules = TimeRules {
            clock_skew_s: 60,
            require_exp: true,
            max_lifetime_s: Some(3600),
        };
        let check = |claims: Value| check_times(claims.as_object().unwrap(), rules, NOW);
        assert_eq!(
            check(json!({"exp": NOW + 86_400, "iat": NOW + 86_400 - 3600})),
            Err(Rejection::TooLongLived)
        );
        assert!(check(json!({"exp": NOW + 3600, "iat": NOW + 30})).is_ok());
        // The issuer's clock a second (or up to the skew) ahead of the proxy's.
        assert!(check(json!({"exp": NOW + 3601, "iat": NOW + 1})).is_ok());
        assert!(check(json!({"exp": NOW + 3660, "iat": NOW + 60})).is_ok());
        assert_eq!(
            check(json!({"exp": NOW + 3661, "iat": NOW + 61})),
            Err(Rejection::TooLongLived)
        );
    }
}
