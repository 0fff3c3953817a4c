//! Plugin configurations from a file: plain JSON; YAML holding Istio `WasmPlugin`
//! resources (their `spec.pluginConfig`); or an Envoy bootstrap YAML such as
//! `envoy/envoy.yaml` (the `configuration.value` of each wasm filter).

use serde_json::Value;

/// One configuration found in a file, with where it came from.
pub struct Found {
    /// e.g. `config.json` or `WasmPlugin orders/audgate-orders`.
    pub label: String,
    /// The configuration as JSON text.
    pub json: String,
}

/// Every plugin configuration in `path`.
pub fn read(path: &str) -> Result<Vec<Found>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    if serde_json::from_str::<Value>(&text).is_ok() {
        return Ok(vec![Found {
            label: path.to_owned(),
            json: text,
        }]);
    }
    let mut found = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(&text) {
        let value: Value = serde::Deserialize::deserialize(document)
            .map_err(|e| format!("{path}: neither JSON nor YAML: {e}"))?;
        if value.get("kind").and_then(Value::as_str) != Some("WasmPlugin") {
            wasm_filters(&value, &mut found);
            continue;
        }
        let name = value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("?");
        let namespace = value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let config = value
            .pointer("/spec/pluginConfig")
            .cloned()
            .unwrap_or(Value::Null);
        found.push(Found {
            label: format!("WasmPlugin {namespace}/{name}"),
            json: config.to_string(),
        });
    }
    if found.is_empty() {
        return Err(format!(
            "{path}: no JSON configuration, WasmPlugin resource or Envoy wasm filter"
        ));
    }
    Ok(found)
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
                found.push(Found {
                    label: format!("Envoy wasm filter {name}"),
                    json: text.to_owned(),
                });
            }
            map.values().for_each(|child| wasm_filters(child, found));
        }
        Value::Array(items) => items.iter().for_each(|child| wasm_filters(child, found)),
        _ => {}
    }
}
