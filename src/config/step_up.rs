//! Step-up (RFC 9470), raw → compiled: `acr_values` (1..16 non-empty strings)
//! and `max_age_s` (0..31536000), on a provider or a provider object in
//! `requires`.

use serde_json::Value;

use super::error::{fail, in_range};
use super::{ConfigError, Problem};
use crate::policy::step_up::StepUp;

/// Most `acr_values`.
const MAX_ACR_VALUES: usize = 16;
/// Longest `max_age_s`: a year.
const MAX_AGE_S: u64 = 31_536_000;

/// `field.acr_values` and `field.max_age_s`; `None` when neither is given.
pub(super) fn compile_step_up(
    field: &str,
    acr_values: Option<Vec<String>>,
    max_age_s: Option<u64>,
) -> Result<Option<StepUp>, ConfigError> {
    if acr_values.is_none() && max_age_s.is_none() {
        return Ok(None);
    }
    let acr_field = format!("{field}.acr_values");
    let acr_values = match acr_values {
        None => None,
        Some(list) if list.is_empty() => return fail(acr_field, Problem::Empty),
        Some(list) if list.len() > MAX_ACR_VALUES => {
            return fail(
                acr_field,
                Problem::TooMany {
                    max: MAX_ACR_VALUES,
                },
            )
        }
        Some(list) => {
            let unusable = list.iter().position(|value| {
                value.is_empty()
                    || value.contains(['"', '\\', ' '])
                    || value.chars().any(char::is_control)
            });
            if let Some(index) = unusable {
                return fail(format!("{acr_field}[{index}]"), Problem::Word);
            }
            Some(list)
        }
    };
    let max_age_s = match max_age_s {
        None => None,
        Some(value) => Some(in_range(
            &format!("{field}.max_age_s"),
            Some(value),
            0,
            0,
            MAX_AGE_S,
        )?),
    };
    Ok(Some(StepUp {
        acr_values,
        max_age_s,
    }))
}

/// A provider object's `acr_values` and `max_age_s` in `requires`, read from
/// its JSON.
pub(super) fn step_up_of_object(
    field: &str,
    object: &serde_json::Map<String, Value>,
) -> Result<Option<StepUp>, ConfigError> {
    let acr_values = match object.get("acr_values") {
        None => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<String>>>()
                .ok_or(ConfigError {
                    field: format!("{field}.acr_values"),
                    problem: Problem::ListOfStrings,
                })?,
        ),
        Some(_) => return fail(format!("{field}.acr_values"), Problem::ListOfStrings),
    };
    let max_age_s = match object.get("max_age_s") {
        None => None,
        Some(value) => Some(value.as_u64().ok_or(ConfigError {
            field: format!("{field}.max_age_s"),
            problem: Problem::OutOfRange {
                min: 0,
                max: MAX_AGE_S,
            },
        })?),
    };
    compile_step_up(field, acr_values, max_age_s)
}
