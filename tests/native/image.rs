//! `make image` without a container engine: the OCI image layout that
//! examples/oci_image.rs writes is one Istio pulls as a WasmPlugin (the Wasm
//! image spec's "compat" variant: an ordinary linux/amd64 image whose single
//! tar+gzip layer holds plugin.wasm), every digest in it is the sha256 of its
//! blob, and the digest printed for `WasmPlugin.spec.sha256` is the manifest's.
//! The layer is read back with the system's gzip and tar, not with the code that
//! wrote it. With `ENGINE=` an engine that does not work, `make image` fails.

use crate::support::example_bin;
use crate::support::{envoy, temp};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const IMAGE: &str = "registry.example.com:5000/team/audgate:0.1.0";

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn text(output: &Output) -> String {
    let (out, err) = (&output.stdout, &output.stderr);
    format!(
        "{}{}",
        String::from_utf8_lossy(out),
        String::from_utf8_lossy(err)
    )
}

/// `make image` as a user runs it, with the module already built (`-o build`)
/// and the layout written to `layout`.
fn make_image(layout: &Path, extra: &[&str]) -> Output {
    example_bin::as_from_a_shell(&mut Command::new("make"))
        .args(["--no-print-directory", "-o", "build", "image"])
        .arg(format!("WASM={}", envoy::wasm_path().display()))
        .arg(format!("OCI_LAYOUT={}", layout.display()))
        .arg(format!("IMAGE={IMAGE}"))
        .args(extra)
        .current_dir(ROOT)
        .output()
        .expect("make")
}

fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The blob a descriptor names, after checking that its digest is the sha256
/// of that blob and its size the blob's size.
fn blob(layout: &Path, descriptor: &Value, seen: &mut BTreeSet<String>) -> Vec<u8> {
    let digest = descriptor["digest"].as_str().expect("digest");
    let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
    let bytes = std::fs::read(layout.join("blobs/sha256").join(hex)).expect("the blob");
    assert_eq!(sha256_hex(&bytes), hex, "{descriptor}");
    assert_eq!(descriptor["size"].as_u64(), Some(bytes.len() as u64));
    seen.insert(hex.to_string());
    bytes
}

/// The digest a line of `make image`'s output gives after `label`.
fn printed(output: &str, label: &str) -> String {
    let line = output.lines().find(|l| l.starts_with(label));
    let line = line.unwrap_or_else(|| panic!("no {label:?} line:\n{output}"));
    let value = line[label.len()..].split_whitespace().next().unwrap();
    value.to_string()
}

#[test]
fn make_image_writes_an_oci_layout_istio_pulls() {
    let dir = temp::dir("image-layout");
    let layout = dir.join("oci-layout");
    let output = make_image(&layout, &[]);
    let said = text(&output);
    assert!(output.status.success(), "make image:\n{said}");

    // The layout: its marker file, the index, and the tagged manifest.
    assert_eq!(
        read_json(&layout.join("oci-layout")),
        serde_json::json!({"imageLayoutVersion": "1.0.0"})
    );
    let index = read_json(&layout.join("index.json"));
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "one image: {index}");
    let entry = &entries[0];
    assert_eq!(
        entry["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"], "0.1.0",
        "tagged with IMAGE's tag, for skopeo's and oras' oci:DIR:TAG"
    );

    let mut seen = BTreeSet::new();
    let manifest_bytes = blob(&layout, entry, &mut seen);
    let manifest: Value = serde_json::from_slice(&manifest_bytes).unwrap();
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["mediaType"], entry["mediaType"]);
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    assert_eq!(
        manifest["annotations"]["module.wasm.image/variant"], "compat",
        "the Wasm image spec's compat variant with an OCI layer"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "FROM scratch, one layer: {manifest}");
    assert_eq!(
        layers[0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip",
        "the layer type Istio's compat reader takes"
    );

    // The layer, read by the system's gzip and tar: exactly plugin.wasm, the module.
    let layer = blob(&layout, &layers[0], &mut seen);
    let layer_file = dir.join("layer.tar.gz");
    std::fs::write(&layer_file, &layer).unwrap();
    let gunzip = Command::new("gzip")
        .arg("-dc")
        .arg(&layer_file)
        .output()
        .unwrap();
    assert!(gunzip.status.success(), "gzip -dc: {}", text(&gunzip));
    let tar = gunzip.stdout;
    let list = Command::new("tar")
        .arg("-tzf")
        .arg(&layer_file)
        .output()
        .unwrap();
    assert!(list.status.success(), "tar -t: {}", text(&list));
    assert_eq!(String::from_utf8_lossy(&list.stdout), "plugin.wasm\n");
    let unpacked = dir.join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    let extract = Command::new("tar")
        .arg("-xzf")
        .arg(&layer_file)
        .arg("-C")
        .arg(&unpacked)
        .output()
        .unwrap();
    assert!(extract.status.success(), "tar -x: {}", text(&extract));
    let module = std::fs::read(envoy::wasm_path()).unwrap();
    assert!(
        std::fs::read(unpacked.join("plugin.wasm")).unwrap() == module,
        "plugin.wasm is not the built module"
    );

    // The config: linux/amd64 (what Istio resolves a tag to), the layer's diff_id.
    let config: Value =
        serde_json::from_slice(&blob(&layout, &manifest["config"], &mut seen)).unwrap();
    assert_eq!(
        (config["os"].as_str(), config["architecture"].as_str()),
        (Some("linux"), Some("amd64"))
    );
    assert_eq!(config["rootfs"]["type"], "layers");
    assert_eq!(
        config["rootfs"]["diff_ids"],
        serde_json::json!([format!("sha256:{}", sha256_hex(&tar))])
    );

    // Every blob is named by its sha256, and each is one the manifest uses.
    let mut blobs = BTreeSet::new();
    for file in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let file = file.unwrap();
        let name = file.file_name().to_string_lossy().to_string();
        assert_eq!(sha256_hex(&std::fs::read(file.path()).unwrap()), name);
        blobs.insert(name);
    }
    assert_eq!(blobs, seen, "no blob the image does not use");

    // What WasmPlugin sha256 wants: the manifest digest, printed as hex, and in a file.
    let manifest_digest = sha256_hex(&manifest_bytes);
    assert_eq!(
        printed(&said, "manifest digest:"),
        format!("sha256:{manifest_digest}")
    );
    assert_eq!(printed(&said, "WasmPlugin sha256:"), manifest_digest);
    let digest_file = format!("{}.sha256", layout.display());
    assert_eq!(
        std::fs::read_to_string(&digest_file).unwrap(),
        format!("{manifest_digest}\n")
    );
    assert_ne!(
        manifest_digest,
        sha256_hex(&module),
        "not the module's sha256"
    );
    assert!(
        said.contains(&layout.display().to_string()),
        "says where: {said}"
    );
    for push in [
        "skopeo copy --preserve-digests oci:",
        "crane push ",
        "oras cp --from-oci-layout ",
    ] {
        assert!(said.contains(push), "says how to push ({push}): {said}");
    }
    println!("WasmPlugin sha256 for this module: {manifest_digest}");

    // The same module gives the same image: a digest that can be pinned.
    let again = make_image(&layout, &[]);
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(
        printed(&text(&again), "WasmPlugin sha256:"),
        manifest_digest
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn make_image_fails_when_the_chosen_engine_does_not_work() {
    let dir = temp::dir("image-engine");
    let output = make_image(&dir.join("oci-layout"), &["ENGINE=no-such-engine-here"]);
    let said = text(&output);
    assert!(!output.status.success(), "{said}");
    assert!(
        said.contains("ENGINE=no-such-engine-here does not work here"),
        "{said}"
    );
    assert!(said.contains("no image was built"), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_layout_writer_refuses_what_it_cannot_do() {
    let dir = temp::dir("image-refusals");
    let tool = example_bin::path("oci_image");
    let run = |wasm: &Path, out: &Path, image: &str| {
        let output = Command::new(&tool)
            .arg("--wasm")
            .arg(wasm)
            .arg("--out")
            .arg(out)
            .args(["--image", image])
            .output()
            .unwrap();
        (output.status.code(), text(&output))
    };
    let module = envoy::wasm_path();
    // A directory that is not an earlier layout is never replaced.
    let other = dir.join("not-a-layout");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "mine").unwrap();
    let (code, said) = run(&module, &other, IMAGE);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("is not an OCI image layout"), "{said}");
    assert!(other.join("keep.txt").exists());
    // No module, not a module, no tag: each said, nothing written.
    let out = dir.join("layout");
    let (code, said) = run(&dir.join("missing.wasm"), &out, IMAGE);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("make build"), "{said}");
    let (code, said) = run(&other.join("keep.txt"), &out, IMAGE);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("not a WebAssembly module"), "{said}");
    let (code, said) = run(&module, &out, "registry.example.com:5000/audgate");
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("no tag"), "{said}");
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
