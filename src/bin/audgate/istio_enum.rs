//! The enum fields of Istio's extension resources (`WasmPlugin`,
//! `TrafficExtension`), the values their CRD schema takes, and the common
//! mistakes with what was meant: a typo is caught here, not by the API server.

use serde_json::{Map, Value};

/// An Istio enum field: its name, the values Istio takes, and common mistakes
/// with what was meant.
pub struct IstioEnum {
    field: &'static str,
    values: &'static [&'static str],
    meant: &'static [(&'static str, &'static str)],
}

/// A WasmPlugin's `phase`.
pub const PHASE: IstioEnum = IstioEnum {
    field: "phase",
    values: &["UNSPECIFIED_PHASE", "AUTHN", "AUTHZ", "STATS"],
    meant: &[
        ("AUTHENTICATION", "AUTHN"),
        ("AUTHORIZATION", "AUTHZ"),
        ("UNSPECIFIED", "UNSPECIFIED_PHASE"),
    ],
};
/// A TrafficExtension's `phase` (its unset value is `UNSPECIFIED`).
pub const EXTENSION_PHASE: IstioEnum = IstioEnum {
    field: "phase",
    values: &["UNSPECIFIED", "AUTHN", "AUTHZ", "STATS"],
    meant: &[
        ("AUTHENTICATION", "AUTHN"),
        ("AUTHORIZATION", "AUTHZ"),
        ("UNSPECIFIED_PHASE", "UNSPECIFIED"),
    ],
};
/// `failStrategy`.
pub const FAIL_STRATEGY: IstioEnum = IstioEnum {
    field: "failStrategy",
    values: &["FAIL_CLOSE", "FAIL_OPEN", "FAIL_RELOAD"],
    meant: &[("FAIL_CLOSED", "FAIL_CLOSE"), ("FAIL_OPENED", "FAIL_OPEN")],
};
/// `imagePullPolicy`.
pub const IMAGE_PULL_POLICY: IstioEnum = IstioEnum {
    field: "imagePullPolicy",
    values: &["UNSPECIFIED_POLICY", "IfNotPresent", "Always"],
    meant: &[("Never", "IfNotPresent")],
};
/// `type`.
pub const PLUGIN_TYPE: IstioEnum = IstioEnum {
    field: "type",
    values: &["UNSPECIFIED_PLUGIN_TYPE", "HTTP", "NETWORK"],
    meant: &[],
};
/// `match[].mode`.
pub const MODE: IstioEnum = IstioEnum {
    field: "mode",
    values: &["UNDEFINED", "CLIENT", "SERVER", "CLIENT_AND_SERVER"],
    meant: &[("INBOUND", "SERVER"), ("OUTBOUND", "CLIENT")],
};
/// `vmConfig.env[].valueFrom`.
pub const VALUE_FROM: IstioEnum = IstioEnum {
    field: "valueFrom",
    values: &["INLINE", "HOST"],
    meant: &[("ENV", "HOST"), ("SECRET", "HOST")],
};

/// The value of an enum field of `object` (at `at`) if it is one Istio takes;
/// an error (saying what was probably meant) if it is not; `None` if absent or
/// invalid.
pub fn enum_value(
    object: &Map<String, Value>,
    at: &str,
    spec: &IstioEnum,
    errors: &mut Vec<String>,
) -> Option<String> {
    let value = object.get(spec.field)?;
    let field = format!("{at}.{}", spec.field);
    let one_of = spec.values.join(", ");
    let Some(text) = value.as_str() else {
        errors.push(format!("{field}: must be one of {one_of}, not {value}"));
        return None;
    };
    if spec.values.contains(&text) {
        return Some(text.to_owned());
    }
    let meant = spec
        .meant
        .iter()
        .find(|(wrong, _)| wrong.eq_ignore_ascii_case(text))
        .map(|(_, right)| *right)
        .or_else(|| closest(text, spec.values));
    let hint = meant.map_or(String::new(), |right| format!("; did you mean {right}?"));
    errors.push(format!(
        "{field}: {text} is not one of {one_of} (Istio refuses the resource){hint}"
    ));
    None
}

/// The entry of `known` within two edits of `text`, ignoring case.
pub fn closest<'k>(text: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|candidate| (edit_distance(text, candidate), *candidate))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance between `a` and `b`, ignoring ASCII case.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_ascii_lowercase().chars().collect();
    let b: Vec<char> = b.to_ascii_lowercase().chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous
                .get(j)
                .map_or(usize::MAX, |d| d + usize::from(ca != cb));
            let insert = current.get(j).map_or(usize::MAX, |d| d + 1);
            let delete = previous.get(j + 1).map_or(usize::MAX, |d| d + 1);
            current.push(substitute.min(insert).min(delete));
        }
        previous = current;
    }
    previous.last().copied().unwrap_or(usize::MAX)
}
