//! docs/deploy.md's "In your own Envoy configuration" example is a working Envoy
//! configuration: Envoy validates it (building every listener, filter and
//! cluster, loading the module and running audgate's configuration check) with
//! the module path pointed at the built module. `make test` runs this with the
//! pip Envoy 1.40 and again with 1.36.

mod support;

use std::process::Command;
use support::envoy;

/// The ```yaml block of docs/deploy.md that holds a whole Envoy configuration.
fn own_envoy_config() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/deploy.md");
    let text = std::fs::read_to_string(path).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.lines() {
        match current.as_mut() {
            None if line.starts_with("```yaml") => current = Some(Vec::new()),
            None => {}
            Some(block) if line.starts_with("```") => {
                blocks.push(block.join("\n") + "\n");
                current = None;
            }
            Some(block) => block.push(line),
        }
    }
    let mut whole: Vec<String> = blocks
        .into_iter()
        .filter(|b| b.starts_with("static_resources:"))
        .collect();
    assert_eq!(whole.len(), 1, "one whole Envoy configuration in {path}");
    whole.remove(0)
}

#[test]
fn the_documented_envoy_configuration_validates() {
    const MODULE: &str = "filename: /etc/envoy/audgate.wasm";
    const CA: &str = "/etc/ssl/certs/ca-certificates.crt";
    let yaml = own_envoy_config();
    assert_eq!(yaml.matches(MODULE).count(), 1, "{MODULE}");
    assert!(yaml.contains(CA));
    assert!(
        std::path::Path::new(CA).exists(),
        "{CA} (the example's trusted CAs) missing on this machine"
    );
    let module = envoy::wasm_path();
    let yaml = yaml.replace(MODULE, &format!("filename: {}", module.display()));

    let dir = std::env::temp_dir().join(format!("audgate-docs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("envoy.yaml");
    std::fs::write(&file, yaml).unwrap();
    let output = Command::new(envoy::envoy_bin())
        .args(["--mode", "validate", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&[output.stdout, output.stderr].concat()).to_string();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(output.status.success(), "envoy --mode validate:\n{log}");
    assert!(log.contains("' OK"), "{log}");
}
