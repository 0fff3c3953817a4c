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
