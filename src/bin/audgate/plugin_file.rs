//! Plugin configurations from a file: plain JSON, or YAML holding one or more
//! Istio `WasmPlugin` resources whose `spec.pluginConfig` is the configuration.

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
            "{path}: no JSON configuration and no WasmPlugin resource"
        ));
    }
    Ok(found)
}
