//! The Kubernetes manifests shipped in `deploy/istio/`, read as Istio reads them:
//! every YAML document of every `*.yaml` file, and the `WasmPlugin`s among them
//! with their `pluginConfig` as the JSON string Istio hands the filter (Istio
//! marshals the `google.protobuf.Struct` to JSON and passes it as the wasm
//! filter's `configuration`, a `StringValue`).
//!
//! ```ignore
//! let orders = manifests::wasm_plugin("audgate-orders");
//! let config: serde_json::Value = manifests::plugin_config(&orders);
//! Config::from_json(config.to_string().as_bytes()).unwrap();
//! ```

use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The folder of the Istio manifests.
pub const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/istio");

/// One YAML document, as JSON, and where it came from.
#[derive(Clone, Debug)]
pub struct Document {
    /// File name, with `#n` for the n-th document (from 1) of a multi-document file.
    pub source: String,
    pub value: Value,
}

impl Document {
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }

    pub fn namespace(&self) -> &str {
        self.value["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
    }
}

/// Every `*.yaml` and `*.yml` file in `deploy/istio/`, sorted.
pub fn files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(DIR)
        .unwrap_or_else(|e| panic!("read {DIR}: {e}"))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
}

/// Every YAML document of every manifest file.
pub fn documents() -> Vec<Document> {
    files().iter().flat_map(|path| parse_file(path)).collect()
}

/// The documents of one file (`---`-separated); empty documents are skipped.
pub fn parse_file(path: &Path) -> Vec<Document> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    parse_yaml(&name, &text)
}

/// The documents of a YAML text; `source` names it in messages.
pub fn parse_yaml(source: &str, text: &str) -> Vec<Document> {
    let mut out = Vec::new();
    for (n, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document)
            .unwrap_or_else(|e| panic!("{source}: document {}: {e}", n + 1));
        if !value.is_null() {
            out.push(Document {
                source: format!("{source}#{}", n + 1),
                value,
            });
        }
    }
    out
}

/// The `WasmPlugin` documents.
pub fn wasm_plugins() -> Vec<Document> {
    documents()
        .into_iter()
        .filter(|d| d.kind() == "WasmPlugin")
        .collect()
}

/// The `WasmPlugin` named `name`; panics if there is not exactly one.
pub fn wasm_plugin(name: &str) -> Document {
    let mut found: Vec<Document> = wasm_plugins()
        .into_iter()
        .filter(|d| d.name() == name)
        .collect();
    assert_eq!(found.len(), 1, "WasmPlugin {name}: {} found", found.len());
    found.remove(0)
}

/// `spec.pluginConfig` of a `WasmPlugin`; panics if it has none.
pub fn plugin_config(plugin: &Document) -> Value {
    let config = &plugin.value["spec"]["pluginConfig"];
    assert!(
        config.is_object(),
        "{}: spec.pluginConfig is not an object",
        plugin.source
    );
    config.clone()
}

/// `spec.vmConfig.env` as the `environment_variables` Istio gives the wasm VM
/// (pilot's `buildVMConfig`; istio-agent strips its own `ISTIO_META_` keys
/// before Envoy sees them): a `valueFrom: HOST` entry's name goes into
/// `host_env_keys` (Envoy copies the variable from its own environment, the
/// istio-proxy container's), an `INLINE` one (the default) into `key_values`
/// with its `value`. `None` without env.
pub fn vm_environment(plugin: &Document) -> Option<Value> {
    let env = plugin.value["spec"]["vmConfig"]["env"].as_array()?;
    let mut host_env_keys = Vec::new();
    let mut key_values = serde_json::Map::new();
    for entry in env {
        let name = entry["name"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: vmConfig.env entry without name", plugin.source));
        match entry["valueFrom"].as_str().unwrap_or("INLINE") {
            "HOST" => {
                assert!(
                    entry.get("value").is_none(),
                    "{}: vmConfig.env {name}: a value only with INLINE (the CRD refuses it)",
                    plugin.source
                );
                host_env_keys.push(Value::from(name));
            }
            "INLINE" => {
                let value = entry["value"].as_str().unwrap_or_default();
                key_values.insert(name.to_owned(), Value::from(value));
            }
            other => panic!("{}: vmConfig.env {name}: valueFrom {other}", plugin.source),
        }
    }
    let mut environment = serde_json::Map::new();
    if !host_env_keys.is_empty() {
        environment.insert("host_env_keys".into(), Value::Array(host_env_keys));
    }
    if !key_values.is_empty() {
        environment.insert("key_values".into(), Value::Object(key_values));
    }
    Some(Value::Object(environment))
}

/// An Envoy file of this crate (envoy/envoy.yaml or envoy/outbound.yaml, still
/// to be rendered by `envoy_yaml`) with its one wasm filter set up as Istio sets
/// up `plugin`'s (pilot's `buildWasmConfig`): named `<namespace>.<name>`, the
/// root id only if `pluginName` is set, no vm id, and the VM's environment
/// from `spec.vmConfig.env` ([`vm_environment`]) in place of the file's own.
pub fn istio_filter(yaml: &str, plugin: &Document) -> String {
    let lines: Vec<&str> = yaml.lines().collect();
    let config = lines
        .iter()
        .position(|l| l.trim() == "config:")
        .expect("the wasm filter's config:");
    assert_eq!(
        lines.iter().filter(|l| l.trim() == "config:").count(),
        1,
        "one wasm filter in the file"
    );
    let indent = |line: &str| line.len() - line.trim_start().len();
    let mut out: Vec<String> = Vec::new();
    let mut skip_deeper_than: Option<usize> = None;
    let mut named = false;
    for (index, line) in lines.iter().enumerate() {
        if let Some(depth) = skip_deeper_than {
            if indent(line) > depth && !line.trim().is_empty() {
                continue;
            }
            skip_deeper_than = None;
        }
        let field = line.trim_start();
        let pad = " ".repeat(indent(line));
        if index == config + 1 {
            assert!(field.starts_with("name: "), "{line:?}: the filter's name");
            out.push(format!(
                "{pad}name: {}.{}",
                plugin.namespace(),
                plugin.name()
            ));
            named = true;
        } else if index > config && field.starts_with("root_id: ") {
            if let Some(root) = plugin.value["spec"]["pluginName"].as_str() {
                out.push(format!("{pad}root_id: {root}"));
            }
        } else if index > config && field.starts_with("vm_id: ") {
            continue;
        } else if index > config && field.starts_with("environment_variables:") {
            if !field.trim_end().ends_with(':') {
                continue; // a flow mapping on one line
            }
            skip_deeper_than = Some(indent(line));
        } else if index > config && field.starts_with("runtime: ") {
            out.push(line.to_string());
            if let Some(environment) = vm_environment(plugin) {
                out.push(format!("{pad}environment_variables: {environment}"));
            }
        } else {
            out.push(line.to_string());
        }
    }
    assert!(named, "the wasm filter's name");
    out.join("\n") + "\n"
}
