//! Plugin configurations from a file: plain JSON; YAML holding Istio `WasmPlugin`
//! resources (their `spec.pluginConfig`, and the `spec` fields audgate depends
//! on); or an Envoy bootstrap YAML such as `envoy/envoy.yaml` (the
//! `configuration.value` of each wasm filter). YAML is read strictly: a key given
//! twice in one mapping is refused with its line, as JSON refuses it.

use serde_json::Value;

/// One configuration found in a file, with where it came from.
pub struct Found {
    /// e.g. `config.json` or `WasmPlugin orders/audgate-orders`.
    pub label: String,
    /// The configuration as JSON text, or why there is none to check (e.g.
    /// `spec.pluginConfig: missing ...`, a YAML error with its line).
    pub json: Result<String, String>,
    /// What is wrong around the configuration: `spec` fields of a WasmPlugin
    /// that Istio refuses or that break audgate ("spec.type: ...").
    pub errors: Vec<String>,
    /// What works but is probably not meant ("spec.phase: ...").
    pub warnings: Vec<String>,
    /// Where the line and column of a JSON syntax error are counted, when not
    /// in the file itself.
    pub lines_of: Option<&'static str>,
}

impl Found {
    fn config(label: String, json: Result<String, String>) -> Found {
        Found {
            label,
            json,
            errors: Vec::new(),
            warnings: Vec::new(),
            lines_of: None,
        }
    }
}

/// Every plugin configuration in `path`; `Err` only when the file cannot be
/// read. A file that is neither JSON nor YAML, or holds none, is one `Found`
/// whose `json` says why.
pub fn read(path: &str) -> Result<Vec<Found>, String> {
    if std::fs::metadata(path).is_ok_and(|meta| meta.is_dir()) {
        return Err(format!(
            "{path}: is a directory: give the configuration file in it (JSON, a WasmPlugin or an Envoy YAML)"
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|error| {
        let why = match error.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_owned(),
            std::io::ErrorKind::PermissionDenied => "not readable (permission denied)".to_owned(),
            std::io::ErrorKind::InvalidData => "not UTF-8 text".to_owned(),
            _ => error.to_string(),
        };
        format!("{path}: {why}")
    })?;
    if text.trim().is_empty() {
        return Err(format!("{path}: is empty: it holds no configuration"));
    }
    Ok(parse(path, &text))
}

fn parse(path: &str, text: &str) -> Vec<Found> {
    // A .json file is JSON even when broken: its syntax error, with the line
    // and column in the file, says more than a YAML parser would.
    if path.ends_with(".json") || serde_json::from_str::<Value>(text).is_ok() {
        return vec![Found::config(path.to_owned(), Ok(text.to_owned()))];
    }
    let mut found = Vec::new();
    let mut kinds: Vec<String> = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let yaml: serde_yaml_ng::Value = match serde::Deserialize::deserialize(document) {
            Ok(yaml) => yaml,
            Err(error) => {
                let problem = yaml_error(text, &error);
                found.push(Found::config(path.to_owned(), Err(problem)));
                return found;
            }
        };
        let value = match serde_json::to_value(&yaml) {
            Ok(value) => value,
            Err(error) => {
                let problem = format!("not representable as JSON: {error}");
                found.push(Found::config(path.to_owned(), Err(problem)));
                return found;
            }
        };
        if let Some(kind) = value.get("kind").and_then(Value::as_str) {
            if kind != "WasmPlugin" && !kinds.iter().any(|known| known == kind) {
                kinds.push(kind.to_owned());
            }
        }
        if value.get("kind").and_then(Value::as_str) == Some("WasmPlugin") {
            found.push(wasm_plugin(&value));
        } else if is_plugin_config(&value) {
            // A plugin configuration in YAML on its own (a WasmPlugin's
            // `pluginConfig` body, say): read as the JSON it stands for.
            found.push(Found::config(
                format!("{path} (plugin configuration in YAML)"),
                Ok(value.to_string()),
            ));
        } else {
            wasm_filters(&value, &mut found);
        }
    }
    if found.is_empty() {
        let problem = if kinds.is_empty() {
            "no JSON configuration, WasmPlugin resource or Envoy wasm filter in the file".to_owned()
        } else {
            format!(
                "no WasmPlugin here, only {}: give check-config the WasmPlugin files",
                kinds.join(", ")
            )
        };
        found.push(Found::config(path.to_owned(), Err(problem)));
    }
    found
}

/// Whether `value` is a plugin configuration itself: a mapping with
/// `providers` or `exchange` at its top, and no `kind` or Envoy bootstrap keys.
fn is_plugin_config(value: &Value) -> bool {
    let Some(object) = value.as_object() else {
        return false;
    };
    let own = object.contains_key("providers") || object.contains_key("exchange");
    let other = ["kind", "static_resources", "apiVersion"]
        .iter()
        .any(|key| object.contains_key(*key));
    own && !other
}

/// A YAML error in the user's words, its line that of the file: for a key given
/// twice, the line of the second one.
fn yaml_error(text: &str, error: &serde_yaml_ng::Error) -> String {
    let message = error.to_string();
    let Some(location) = error.location() else {
        return format!("not JSON, and not YAML either: {message}");
    };
    let Some(key) = message
        .split_once("duplicate entry with key ")
        .and_then(|(_, rest)| rest.split(" at line ").next())
        .and_then(|quoted| serde_json::from_str::<String>(quoted).ok())
    else {
        return format!("not JSON, and not YAML either: {message}");
    };
    let mapping = message
        .split_once(": duplicate entry")
        .map(|(path, _)| format!(" in {path}"))
        .unwrap_or_default();
    let lines = key_lines(text, location.line(), location.column(), &key);
    match lines.as_slice() {
        [first, second, ..] => format!(
            "line {second}: key \"{key}\" given twice{mapping} (first on line {first}); \
             YAML would keep only the last: keep one"
        ),
        _ => format!(
            "line {}: key \"{key}\" given twice in the mapping that starts here{mapping}; \
             YAML would keep only the last: keep one",
            location.line()
        ),
    }
}

/// The lines (1-based) on which the block mapping that starts at `line`,
/// `column` (1-based, its first key) holds `key`.
fn key_lines(text: &str, line: usize, column: usize, key: &str) -> Vec<usize> {
    let indent = column.saturating_sub(1);
    let mut found = Vec::new();
    for (number, content) in text.lines().enumerate().skip(line.saturating_sub(1)) {
        let number = number + 1;
        let trimmed = content.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let starts = content.len() - trimmed.len();
        // The first line may begin with "- " before the key; later lines of the
        // mapping hold their keys at its column, and one that starts left of it
        // ends the mapping.
        if number != line && starts < indent {
            break;
        }
        let at_key = content.get(indent..).unwrap_or_default();
        if number != line && starts != indent {
            continue;
        }
        let name = at_key.split(':').next().unwrap_or_default().trim();
        let name = name.trim_matches(|c| c == '"' || c == '\'');
        if name == key && at_key.contains(':') {
            found.push(number);
        }
    }
    found
}

/// A WasmPlugin's plugin configuration, with what is wrong in its `spec`.
fn wasm_plugin(value: &Value) -> Found {
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let namespace = value
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let config = match value.pointer("/spec/pluginConfig") {
        Some(config) => Ok(config.to_string()),
        None => Err("spec.pluginConfig: missing (is it spelt pluginConfig?)".to_owned()),
    };
    let mut found = Found::config(format!("WasmPlugin {namespace}/{name}"), config);
    if let Some(spec) = value.get("spec") {
        check_spec(spec, &mut found);
    }
    found
}

/// An Istio enum field: its name in `spec`, the values Istio takes, and common
/// mistakes with what was meant.
struct IstioEnum {
    field: &'static str,
    values: &'static [&'static str],
    meant: &'static [(&'static str, &'static str)],
}

const PHASE: IstioEnum = IstioEnum {
    field: "phase",
    values: &["UNSPECIFIED_PHASE", "AUTHN", "AUTHZ", "STATS"],
    meant: &[("AUTHENTICATION", "AUTHN"), ("AUTHORIZATION", "AUTHZ")],
};
const FAIL_STRATEGY: IstioEnum = IstioEnum {
    field: "failStrategy",
    values: &["FAIL_CLOSE", "FAIL_OPEN", "FAIL_RELOAD"],
    meant: &[("FAIL_CLOSED", "FAIL_CLOSE"), ("FAIL_OPENED", "FAIL_OPEN")],
};
const IMAGE_PULL_POLICY: IstioEnum = IstioEnum {
    field: "imagePullPolicy",
    values: &["UNSPECIFIED_POLICY", "IfNotPresent", "Always"],
    meant: &[("Never", "IfNotPresent")],
};
const PLUGIN_TYPE: IstioEnum = IstioEnum {
    field: "type",
    values: &["UNSPECIFIED_PLUGIN_TYPE", "HTTP", "NETWORK"],
    meant: &[],
};
const MODE: IstioEnum = IstioEnum {
    field: "mode",
    values: &["UNDEFINED", "CLIENT", "SERVER", "CLIENT_AND_SERVER"],
    meant: &[("INBOUND", "SERVER"), ("OUTBOUND", "CLIENT")],
};

/// The WasmPlugin `spec` fields Istio validates against its enums (so that a
/// typo is caught here, not by the API server or, worse, silently), and audgate's
/// own expectations of them.
fn check_spec(spec: &Value, found: &mut Found) {
    let phase = enum_value(spec, "spec", &PHASE, &mut found.errors);
    match phase.as_deref() {
        Some("AUTHN") => {}
        // Refused above.
        None if spec.get("phase").is_some() => {}
        None | Some("UNSPECIFIED_PHASE") => found.warnings.push(format!(
            "spec.phase: {}: Istio then puts audgate near the end of the filter chain, \
             after its own authentication and authorization; set phase: AUTHN",
            phase.as_deref().unwrap_or("not set")
        )),
        Some(phase) => found.warnings.push(format!(
            "spec.phase: {phase} runs audgate after Istio's authentication filters{}; \
             set phase: AUTHN so that it runs before them",
            if phase == "STATS" {
                " and authorization"
            } else {
                ""
            }
        )),
    }
    if enum_value(spec, "spec", &FAIL_STRATEGY, &mut found.errors).as_deref() == Some("FAIL_OPEN") {
        found.warnings.push(
            "spec.failStrategy: FAIL_OPEN: WHEN THE MODULE CANNOT BE FETCHED OR LOADED, OR ITS VM \
             FAILS, EVERY REQUEST GOES THROUGH UNCHECKED; use FAIL_CLOSE (the default) or FAIL_RELOAD"
                .into(),
        );
    }
    enum_value(spec, "spec", &IMAGE_PULL_POLICY, &mut found.errors);
    if enum_value(spec, "spec", &PLUGIN_TYPE, &mut found.errors).as_deref() == Some("NETWORK") {
        found.errors.push(
            "spec.type: NETWORK runs the module as a network (TCP) filter, and audgate is an \
             HTTP filter: write type: HTTP or leave type out"
                .into(),
        );
    }
    let plugin = spec.get("pluginConfig");
    let exchanges = plugin.is_some_and(|config| config.get("exchange").is_some());
    let verifies = plugin
        .and_then(|config| config.get("providers"))
        .and_then(Value::as_array)
        .is_some_and(|providers| !providers.is_empty());
    match spec.get("match") {
        None if exchanges => found.warnings.push(
            "spec.match: not set: the plugin runs on the requests this workload receives too, \
             and exchange then swaps their tokens; an exchange plugin wants \
             match: [{mode: CLIENT}]"
                .into(),
        ),
        None => {}
        Some(Value::Array(selectors)) => {
            for (index, selector) in selectors.iter().enumerate() {
                let at = format!("spec.match[{index}]");
                if !selector.is_object() {
                    found
                        .errors
                        .push(format!("{at}: must be an object, e.g. {{mode: SERVER}}"));
                    continue;
                }
                let mode = enum_value(selector, &at, &MODE, &mut found.errors);
                if let Some(warning) = mode_warning(&at, mode.as_deref(), exchanges, verifies) {
                    found.warnings.push(warning);
                }
            }
        }
        Some(_) => found
            .errors
            .push("spec.match: must be a list, e.g. [{mode: SERVER}]".into()),
    }
}

/// What is odd about `mode` for a plugin that exchanges outbound tokens
/// (`exchanges`) and/or verifies inbound ones (`verifies`).
fn mode_warning(at: &str, mode: Option<&str>, exchanges: bool, verifies: bool) -> Option<String> {
    let client = mode == Some("CLIENT");
    match (exchanges, verifies) {
        (false, _) if client => Some(format!(
            "{at}.mode: CLIENT: audgate then checks the calls this workload makes, \
             not the requests it receives; use SERVER"
        )),
        (true, false) if !client => Some(format!(
            "{at}.mode: {}: exchange swaps the tokens of calls this workload makes; \
             on requests it receives it would swap theirs: use mode: CLIENT (and a \
             SERVER plugin of its own for the inbound check)",
            mode.unwrap_or("not set")
        )),
        (true, true) if client => Some(format!(
            "{at}.mode: CLIENT: providers then check the calls this workload makes, \
             not the requests it receives: give the inbound check a SERVER plugin of its \
             own (providers and exchange together are a gateway's form)"
        )),
        _ => None,
    }
}

/// The value of an enum field of `object` if it is one Istio takes; an error
/// (saying what was probably meant) if it is not; `None` if absent or invalid.
fn enum_value(
    object: &Value,
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
fn closest<'k>(text: &str, known: &[&'k str]) -> Option<&'k str> {
    let distance = |a: &str, b: &str| -> usize {
        let a: Vec<char> = a.to_ascii_lowercase().chars().collect();
        let b: Vec<char> = b.to_ascii_lowercase().chars().collect();
        let mut previous: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.iter().enumerate() {
            let mut current = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                let cost = previous[j] + usize::from(ca != cb);
                current.push(cost.min(current[j] + 1).min(previous[j + 1] + 1));
            }
            previous = current;
        }
        previous[b.len()]
    };
    known
        .iter()
        .map(|candidate| (distance(text, candidate), *candidate))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, candidate)| candidate)
}

/// The plugin configurations of Envoy wasm filters anywhere in `value`: objects
/// with a `vm_config` and a `configuration` whose `value` is the JSON text.
fn wasm_filters(value: &Value, found: &mut Vec<Found>) {
    match value {
        Value::Object(map) => {
            let text = map
                .get("configuration")
                .and_then(|c| c.get("value"))
                .and_then(Value::as_str);
            if let (Some(_), Some(text)) = (map.get("vm_config"), text) {
                let name = map.get("name").and_then(Value::as_str).unwrap_or("?");
                let mut filter =
                    Found::config(format!("Envoy wasm filter {name}"), Ok(text.to_owned()));
                filter.lines_of = Some("its configuration.value");
                found.push(filter);
            }
            map.values().for_each(|child| wasm_filters(child, found));
        }
        Value::Array(items) => items.iter().for_each(|child| wasm_filters(child, found)),
        _ => {}
    }
}
