//! docs/deploy.md holds: its "In your own Envoy configuration" example is a
//! working Envoy configuration (Envoy validates it, loading the module and
//! running audgate's configuration check); the `check-config` loop it gives for
//! the WasmPlugin files passes the shipped ones and fails a broken copy; what it
//! says the IdP must issue is what the filter does (an opaque token is
//! `malformed`, `aud` is compared byte for byte); and audgate's refusals are
//! logged at `info` by Envoy's `wasm` logger, the level it tells Istio users to
//! turn on. `make test` runs this with the pip Envoy 1.40 and again with 1.36.

use crate::support::{envoy, envoy_yaml, http, keys, temp, Envoy, Reply, TestKey, Upstream};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn deploy_md() -> String {
    std::fs::read_to_string(format!("{ROOT}/docs/deploy.md")).unwrap()
}

/// The text of docs/deploy.md's section `heading` (to the next `## `).
fn section(heading: &str) -> String {
    let text = deploy_md();
    let start = text
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("docs/deploy.md: no section {heading:?}"));
    let rest = &text[start + 1..];
    let end = rest[heading.len()..]
        .find("\n## ")
        .map_or(rest.len(), |e| e + heading.len());
    rest[..end].to_string()
}

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

    let dir = temp::dir("deploy-docs");
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

/// The documented `audgate check-config deploy/istio/*-wasmplugin.yaml`, run by
/// the shell from the repository root with the built CLI, over `glob` in place
/// of the shipped files.
fn documented_check(glob: &str) -> std::process::Output {
    let text = deploy_md();
    let command = "target/release/audgate check-config deploy/istio/*-wasmplugin.yaml";
    assert!(
        text.lines().any(|l| l.trim() == command),
        "docs/deploy.md: `{command}` on a line of its own"
    );
    let line = command
        .replace("target/release/audgate", env!("CARGO_BIN_EXE_audgate"))
        .replace("deploy/istio/*-wasmplugin.yaml", glob);
    Command::new("sh")
        .args(["-c", &line])
        .current_dir(ROOT)
        .output()
        .unwrap()
}

#[test]
fn the_documented_check_config_passes_the_shipped_plugins_and_fails_a_broken_copy() {
    let output = documented_check("deploy/istio/*-wasmplugin.yaml");
    let said = String::from_utf8_lossy(&output.stdout);
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{said}{errors}");
    // The shipped digest is the placeholder, and said to be (deploy.md's sed
    // replaces it).
    for line in said.lines().filter(|line| line.contains("warning")) {
        assert!(
            line.contains("spec.sha256: the all-zero placeholder"),
            "{line}"
        );
    }
    assert_eq!(
        said.matches("the all-zero placeholder").count(),
        3,
        "{said}"
    );
    for name in [
        "shop/audgate-orders",
        "shop/audgate-orders-outbound",
        "shop/audgate-payments",
    ] {
        assert!(
            said.contains(&format!("WasmPlugin {name}: valid")),
            "{said}"
        );
    }
    // Not the maintainers' test, which knows the example's names: the docs name
    // its file, never a command that runs it (in its old spelling or its new).
    for command in [
        "cargo test --test native",
        "cargo test --test deploy_manifests",
    ] {
        assert!(!deploy_md().contains(command), "docs/deploy.md: {command}");
    }
    assert!(deploy_md().contains("`tests/native/deploy_manifests.rs`"));

    let dir = temp::dir("deploy-check");
    for name in ["orders", "payments"] {
        let file = format!("{name}-wasmplugin.yaml");
        let shipped = std::fs::read_to_string(format!("{ROOT}/deploy/istio/{file}")).unwrap();
        let edited = shipped.replace("audiences: [orders.shop.svc]", "audiences: []");
        std::fs::write(dir.join(file), edited).unwrap();
    }
    let output = documented_check(&format!("{}/*-wasmplugin.yaml", dir.display()));
    let said = String::from_utf8_lossy(&output.stdout);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(
        said.contains("audgate-orders: error: providers[0].audiences"),
        "{said}"
    );
    assert!(said.contains("audgate-payments: valid"), "{said}");
}

/// The ```sh block of docs/deploy.md that holds `needle`.
fn sh_block(needle: &str) -> String {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in deploy_md().lines() {
        let trimmed = line.trim_start();
        match current.as_mut() {
            None if trimmed.starts_with("```sh") => current = Some(Vec::new()),
            None => {}
            Some(block) if trimmed.starts_with("```") => {
                blocks.push(block.join("\n") + "\n");
                current = None;
            }
            Some(block) => block.push(trimmed.to_owned()),
        }
    }
    let mut found: Vec<String> = blocks.into_iter().filter(|b| b.contains(needle)).collect();
    assert_eq!(
        found.len(),
        1,
        "docs/deploy.md: one ```sh block with {needle:?}"
    );
    found.remove(0)
}

#[test]
fn the_documented_sed_points_every_plugin_at_the_image() {
    // Step 2's sed, run by the shell on a copy of deploy/istio/ (its folders
    // too) with a digest in target/oci-layout.sha256, as after `make image`:
    // every WasmPlugin of every file (orders' inbound and outbound, payments',
    // the mesh-wide one, the ambient waypoint's) gets the image and its digest,
    // no placeholder is left, and nothing else changes.
    let script = sh_block("sed -i.orig");
    let root = temp::dir("deploy-sed");
    let (istio, target) = (root.join("deploy/istio"), root.join("target"));
    std::fs::create_dir_all(&target).unwrap();
    let digest = "0123456789abcdef".repeat(4);
    std::fs::write(target.join("oci-layout.sha256"), format!("{digest}\n")).unwrap();
    let shipped = yaml_files(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/istio"
    )));
    let source_root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/istio"));
    for file in &shipped {
        let copy = istio.join(file.strip_prefix(source_root).unwrap());
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        std::fs::copy(file, &copy).unwrap();
    }
    let image = "registry.test/team/audgate:9.9.9";
    let output = Command::new("sh")
        .args(["-e", "-c", &script])
        .env("IMAGE", image)
        .current_dir(&root)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&[output.stdout, output.stderr].concat()).to_string();
    assert!(output.status.success(), "{script}\n{said}");
    let mut plugins = 0;
    for file in &shipped {
        let relative = file.strip_prefix(source_root).unwrap();
        let copy = istio.join(relative);
        let edited = std::fs::read_to_string(&copy).unwrap();
        assert!(
            !edited.contains("registry.example.com"),
            "{relative:?} keeps the placeholder url"
        );
        assert!(
            !edited.contains(&"0".repeat(64)),
            "{relative:?} keeps the placeholder digest"
        );
        let documents = crate::support::manifests::parse_yaml(&relative.to_string_lossy(), &edited);
        for document in documents.iter().filter(|d| d.kind() == "WasmPlugin") {
            let spec = &document.value["spec"];
            assert_eq!(spec["url"], format!("oci://{image}"), "{}", document.source);
            assert_eq!(spec["sha256"], digest, "{}", document.source);
            plugins += 1;
        }
        if documents.iter().all(|d| d.kind() != "WasmPlugin") {
            let original = std::fs::read_to_string(file).unwrap();
            assert_eq!(edited, original, "{relative:?} is no WasmPlugin file");
        }
        let orig = copy.with_file_name(format!(
            "{}.orig",
            copy.file_name().unwrap().to_string_lossy()
        ));
        assert!(!orig.exists(), "{orig:?} left behind");
    }
    // Then the documented check has nothing left to warn of (before, each plugin
    // is warned of its placeholder digest).
    let glob = format!("{0}/*-wasmplugin.yaml {0}/ambient/*.yaml", istio.display());
    let output = documented_check(&glob);
    let checked = String::from_utf8_lossy(&output.stdout).to_string();
    let _ = std::fs::remove_dir_all(&root);
    assert!(plugins >= 6, "{plugins} WasmPlugins edited");
    assert!(output.status.success(), "{checked}");
    assert_eq!(checked.matches(": valid (").count(), 5, "{checked}");
    assert!(!checked.contains("warning"), "{checked}");
}

/// Every YAML file under `dir`, its folders included, sorted.
fn yaml_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(yaml_files(&path));
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The demo provider of envoy/envoy.yaml (keys fetched through its jwks cluster), in Envoy.
/// The demo's Envoy, its `jwks` cluster at a key server holding the demo key
/// set: the Envoy, its upstream, the key server.
fn demo_envoy() -> (Envoy, Upstream, Upstream) {
    let config: Value =
        serde_json::from_str(&envoy_yaml::plugin_config(&envoy_yaml::template())).unwrap();
    let upstream = Upstream::start();
    let key_server = Upstream::serve(0, |_| Reply::json(&keys::jwks(&[TestKey::Demo])));
    let envoy = Envoy::builder(&config, upstream.port())
        .jwks_port(key_server.port())
        .start();
    (envoy, upstream, key_server)
}

fn get(envoy: &Envoy, token: &str) -> http::Response {
    let bearer = format!("Bearer {token}");
    http::get(envoy.port(), "/", &[("authorization", &bearer)])
}

fn demo_token(aud: Value) -> String {
    let now = keys::now();
    let claims = json!({"iss": "https://issuer.demo.audgate.local", "aud": aud, "sub": "u",
        "iat": now, "exp": now + 600});
    keys::sign_default(TestKey::Demo, claims)
}

#[test]
fn what_the_idp_must_issue_is_what_the_filter_checks() {
    let said = section("## What your IdP must issue");
    for claim in [
        "JWT access tokens",
        "opaque",
        "`malformed`",
        "byte for byte",
    ] {
        assert!(said.contains(claim), "the section says {claim:?}:\n{said}");
    }
    let (envoy, _upstream, _keys) = demo_envoy();
    // An opaque access token: 401 invalid_token, counted and logged as malformed.
    let opaque = get(&envoy, "2YotnFZFEjr1zCsicMWpAA");
    assert_eq!(opaque.status, 401);
    assert!(opaque
        .header("www-authenticate")
        .unwrap_or_default()
        .contains("invalid_token"));
    let counted =
        r#"audgate_requests_total{provider="demo",outcome="denied",reason="malformed"} 1"#;
    let stats = envoy.admin_until("/stats/prometheus", |stats| {
        stats.lines().any(|l| l == counted)
    });
    assert!(
        stats.lines().any(|l| l == counted),
        "{counted} in:\n{stats}"
    );
    // aud is the configured audience exactly, or refused.
    assert_eq!(
        get(&envoy, &demo_token(json!("orders.demo.svc"))).status,
        200
    );
    for near in [
        "https://orders.demo.svc",
        "orders.demo.svc/",
        "Orders.demo.svc",
        "orders.demo.svc ",
    ] {
        assert_eq!(
            get(&envoy, &demo_token(json!(near))).status,
            403,
            "aud {near:?}"
        );
    }
    assert_eq!(
        get(&envoy, &demo_token(json!(["x", "orders.demo.svc"]))).status,
        200
    );
}

#[test]
fn the_log_levels_are_the_ones_the_docs_give() {
    let said = section("### Seeing audgate's logs");
    for needle in [
        "sidecar.istio.io/componentLogLevel: \"misc:error,wasm:info\"",
        "istioctl proxy-config log deploy/orders -n shop --level wasm:info",
        "Refusals",
        "at `warning`",
    ] {
        assert!(said.contains(needle), "{needle}:\n{said}");
    }
    let (envoy, _upstream, _keys) = demo_envoy();
    assert_eq!(get(&envoy, "not-a-jwt").status, 401);
    assert!(envoy.wait_for_log("[malformed]", Duration::from_secs(5)));
    let log = envoy.log();
    let line = |needle: &str| {
        let found = log.lines().find(|l| l.contains(needle));
        found
            .unwrap_or_else(|| panic!("no {needle:?} line:\n{log}"))
            .to_string()
    };
    // A refusal shows under Istio's default (warning); what was loaded needs wasm:info.
    assert!(line("[malformed]").contains("[warning][wasm]"));
    assert!(line("audgate: configured").contains("[info][wasm]"));
    assert!(line("accepts audiences").contains("[info][wasm]"));
}
