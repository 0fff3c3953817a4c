//! Plugin configurations from a file: plain JSON; YAML holding Istio `WasmPlugin`
//! resources (their `spec.pluginConfig`, and the `spec` fields audgate depends
//! on); or an Envoy bootstrap YAML such as `envoy/envoy.yaml` (the
//! `configuration.value` of each wasm filter). YAML is read strictly: a key given
//! twice in one mapping is refused with its line, as JSON refuses it.

use serde_json::Value;

use crate::istio_spec::{self, Kind, Report};
use crate::workload_vm::{EnvSource, EnvVar, VmEnv};

/// One configuration found in a file, with where it came from.
pub struct Found {
    /// e.g. `config.json` or `WasmPlugin orders/audgate-orders`.
    pub label: String,
    /// The configuration as JSON text, or why there is none to check (e.g.
    /// `spec.pluginConfig: missing ...`, a YAML error with its line).
    pub json: Result<String, String>,
    /// What the rest of the file says around the configuration: a resource's
    /// errors, warnings and notes, where it applies, its VM's environment.
    pub around: Report,
    /// Where the line and column of a JSON syntax error are counted, when not
    /// in the file itself.
    pub lines_of: Option<&'static str>,
}

impl Found {
    fn config(label: String, json: Result<String, String>) -> Found {
        Found {
            label,
            json,
            around: Report::default(),
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
        let kind = match value.get("kind").and_then(Value::as_str) {
            Some("WasmPlugin") => Some(Kind::WasmPlugin),
            Some("TrafficExtension")
                if value.pointer("/spec/lua").is_some()
                    && value.pointer("/spec/wasm").is_none() =>
            {
                // A Lua extension: nothing of audgate's in it.
                kinds.push("TrafficExtension (Lua)".to_owned());
                continue;
            }
            Some("TrafficExtension") => Some(Kind::TrafficExtension),
            Some(other) => {
                if !kinds.iter().any(|known| known == other) {
                    kinds.push(other.to_owned());
                }
                None
            }
            None => None,
        };
        if let Some(kind) = kind {
            found.push(extension(&value, kind));
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
                "no WasmPlugin or TrafficExtension here, only {}: give check-config the \
                 files of audgate's plugins",
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

/// An extension resource's plugin configuration, with what is wrong in the
/// rest of it.
fn extension(value: &Value, kind: Kind) -> Found {
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let namespace = value
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let at = kind.module_at();
    let pointer = format!("/{}/pluginConfig", at.replace('.', "/"));
    let plugin = value.pointer(&pointer);
    let config = match plugin {
        Some(config) if config.is_object() => Ok(config.to_string()),
        Some(config) => Err(format!(
            "{at}.pluginConfig: must be a mapping (the configuration written as YAML), not {}",
            json_kind(config)
        )),
        None => Err(format!(
            "{at}.pluginConfig: missing (is it spelt pluginConfig?)"
        )),
    };
    let mut found = Found::config(format!("{} {namespace}/{name}", kind.name()), config);
    found.around = istio_spec::check(value, kind, plugin);
    found
}

/// What a JSON value is, in words.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "empty",
        Value::Bool(_) => "true or false",
        Value::Number(_) => "a number",
        Value::String(_) => "text (a JSON string? write the configuration as YAML instead)",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
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
                filter.around.vm_env = map.get("vm_config").map(envoy_vm_env);
                found.push(filter);
            }
            map.values().for_each(|child| wasm_filters(child, found));
        }
        Value::Array(items) => items.iter().for_each(|child| wasm_filters(child, found)),
        _ => {}
    }
}

/// The environment an Envoy wasm filter's `vm_config.environment_variables`
/// gives its VM: `host_env_keys` from Envoy's own, `key_values` inline.
fn envoy_vm_env(vm_config: &Value) -> VmEnv {
    let variables = vm_config.get("environment_variables");
    let host = variables
        .and_then(|v| v.get("host_env_keys"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|name| EnvVar {
            name: name.to_owned(),
            source: EnvSource::Host,
        });
    let inline = variables
        .and_then(|v| v.get("key_values"))
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, value)| EnvVar {
            name: name.clone(),
            source: EnvSource::Inline(value.as_str().unwrap_or_default().to_owned()),
        });
    VmEnv {
        vars: host.chain(inline).collect(),
        field: "vm_config.environment_variables",
        how_to_add: "add {var} to its host_env_keys (Envoy's own environment) or key_values",
    }
}
