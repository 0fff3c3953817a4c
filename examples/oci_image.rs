//! `make image`: the module as the OCI image an Istio `WasmPlugin` pulls, written
//! as an OCI image layout by this program alone (no container engine).
//!
//! ```text
//! oci_image --wasm target/wasm32-wasip1/release/audgate.wasm --out target/oci-layout \
//!           --image registry.example.com/audgate:0.1.0
//! ```
//!
//! The image is the "compat" variant of the Wasm image specification, the one
//! Istio tries first and the one every registry and tool takes, as it is an
//! ordinary image: `FROM scratch` with a single `tar+gzip` layer holding
//! `plugin.wasm`, an `application/vnd.oci.image.config.v1+json` config
//! (linux/amd64) and the manifest annotation `module.wasm.image/variant=compat`.
//! The output depends on the module only (no timestamps), so the same module
//! always gives the same manifest digest: the value of `WasmPlugin.spec.sha256`.
//! The layer's gzip uses stored (uncompressed) deflate blocks, which every gzip
//! reader takes; the layer is as large as the module.
//!
//! Writes `OUT/` (`oci-layout`, `index.json`, `blobs/sha256/…`, the manifest
//! tagged with IMAGE's tag) and `OUT.sha256` (the manifest digest as hex), and
//! prints the digest and how to push the layout. Exits 1 with a message if any
//! of it cannot be done.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: oci_image --wasm FILE --out DIR --image NAME:TAG";

/// Media types of the image (OCI image spec v1, Wasm image spec "compat").
pub const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";
pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The one file of the layer, as Istio looks for it.
pub const PLUGIN_FILE: &str = "plugin.wasm";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("make image: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let (mut wasm, mut out, mut image) = (None, None, None);
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let slot = match flag.as_str() {
            "--wasm" => &mut wasm,
            "--out" => &mut out,
            "--image" => &mut image,
            _ => return Err(format!("unknown argument {flag:?}\n{USAGE}")),
        };
        let value = rest
            .next()
            .ok_or(format!("{flag} needs a value\n{USAGE}"))?;
        *slot = Some(value.clone());
    }
    let (Some(wasm), Some(out), Some(image)) = (wasm, out, image) else {
        return Err(USAGE.into());
    };
    let tag = tag_of(&image)?;
    let module = std::fs::read(&wasm).map_err(|e| format!("{wasm}: {e} (run `make build`)"))?;
    if !module.starts_with(b"\0asm") {
        return Err(format!("{wasm}: not a WebAssembly module"));
    }
    let out = PathBuf::from(out);
    let digest = write_layout(&module, &out, &tag)?;
    let digest_file = PathBuf::from(format!("{}.sha256", out.display()));
    std::fs::write(&digest_file, format!("{digest}\n"))
        .map_err(|e| format!("{}: {e}", digest_file.display()))?;
    let layout = out.display();
    println!(
        "OCI image layout: {layout} (tag {tag}; linux/amd64, one layer holding {PLUGIN_FILE})"
    );
    println!("manifest digest:  sha256:{digest}");
    println!(
        "WasmPlugin sha256: {digest}   (also in {})",
        digest_file.display()
    );
    println!();
    println!("Push it with any one of these (no container engine needed); each keeps the digest:");
    println!("  skopeo copy --preserve-digests oci:{layout}:{tag} docker://{image}");
    println!("  crane push {layout} {image}");
    println!("  oras cp --from-oci-layout {layout}:{tag} {image}");
    println!(
        "then check what the registry serves: crane digest {image}  (must be sha256:{digest})"
    );
    Ok(())
}

/// The tag of `name[:tag]` (after the last `/`); a digest reference or a name
/// without a tag is refused, as is a tag the registry API would refuse.
pub fn tag_of(image: &str) -> Result<String, String> {
    if image.contains('@') {
        return Err(format!("IMAGE={image}: give a tag, not a digest"));
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    let Some((_, tag)) = last.rsplit_once(':') else {
        return Err(format!("IMAGE={image}: no tag (e.g. IMAGE={image}:0.1.0)"));
    };
    let ok_first = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let ok_rest = |c: char| ok_first(c) || c == '.' || c == '-';
    let mut chars = tag.chars();
    let valid = tag.len() <= 128 && chars.next().is_some_and(ok_first) && chars.all(ok_rest);
    if !valid {
        return Err(format!(
            "IMAGE={image}: tag {tag:?} is not [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}"
        ));
    }
    Ok(tag.to_string())
}

/// Writes the layout to `out` (replacing an earlier layout there, refusing any
/// other non-empty directory) and returns the manifest digest as hex.
pub fn write_layout(module: &[u8], out: &Path, tag: &str) -> Result<String, String> {
    let at = |e: std::io::Error| format!("{}: {e}", out.display());
    if out.exists() {
        let empty = std::fs::read_dir(out).map_err(at)?.next().is_none();
        if !empty && !out.join("oci-layout").is_file() {
            return Err(format!(
                "{} exists and is not an OCI image layout; not replacing it",
                out.display()
            ));
        }
        std::fs::remove_dir_all(out).map_err(at)?;
    }
    let blobs = out.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(at)?;
    let put = |bytes: &[u8]| -> Result<(String, usize), String> {
        let hex = sha256_hex(bytes);
        std::fs::write(blobs.join(&hex), bytes).map_err(|e| format!("{}: {e}", blobs.display()))?;
        Ok((hex, bytes.len()))
    };
    let tar = tar_one_file(PLUGIN_FILE, module)?;
    let (layer, layer_size) = put(&gzip_stored(&tar))?;
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256_hex(&tar))]},
    });
    let (config, config_size) = put(&to_bytes(&config)?)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": descriptor(CONFIG_TYPE, &config, config_size),
        "layers": [descriptor(LAYER_TYPE, &layer, layer_size)],
        "annotations": {"module.wasm.image/variant": "compat"},
    });
    let (manifest, manifest_size) = put(&to_bytes(&manifest)?)?;
    let mut entry = descriptor(MANIFEST_TYPE, &manifest, manifest_size);
    entry["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
    let index = json!({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [entry]});
    std::fs::write(out.join("index.json"), to_bytes(&index)?).map_err(at)?;
    let layout = json!({"imageLayoutVersion": "1.0.0"});
    std::fs::write(out.join("oci-layout"), to_bytes(&layout)?).map_err(at)?;
    Ok(manifest)
}

fn descriptor(media_type: &str, hex: &str, size: usize) -> Value {
    json!({"mediaType": media_type, "digest": format!("sha256:{hex}"), "size": size})
}

fn to_bytes(value: &Value) -> Result<Vec<u8>, String> {
    serde_json::to_vec(value).map_err(|e| e.to_string())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A POSIX ustar archive holding one regular file (mode 0644, owner 0:0,
/// mtime 0), ended by the two zero blocks.
pub fn tar_one_file(name: &str, data: &[u8]) -> Result<Vec<u8>, String> {
    if name.is_empty() || name.len() > 100 {
        return Err(format!("tar: file name {name:?} must be 1 to 100 bytes"));
    }
    let size = u64::try_from(data.len()).map_err(|e| e.to_string())?;
    if size >= 1 << 33 {
        return Err(format!("tar: {name} is over 8 GiB"));
    }
    let mut header = [0u8; 512];
    let mut field = |at: usize, bytes: &[u8]| header[at..at + bytes.len()].copy_from_slice(bytes);
    field(0, name.as_bytes());
    field(100, b"0000644\0"); // mode
    field(108, b"0000000\0"); // uid
    field(116, b"0000000\0"); // gid
    field(124, format!("{size:011o}\0").as_bytes());
    field(136, b"00000000000\0"); // mtime
    field(148, b"        "); // checksum, as spaces while summing
    field(156, b"0"); // regular file
    field(257, b"ustar\0");
    field(263, b"00");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let padding = (512 - data.len() % 512) % 512;
    let mut tar = Vec::with_capacity(512 + data.len() + padding + 1024);
    tar.extend_from_slice(&header);
    tar.extend_from_slice(data);
    tar.resize(tar.len() + padding + 1024, 0);
    Ok(tar)
}

/// `data` as a gzip member (RFC 1952) of stored deflate blocks (RFC 1951 §3.2.4),
/// with no name and mtime 0.
pub fn gzip_stored(data: &[u8]) -> Vec<u8> {
    const MAX_BLOCK: usize = 0xFFFF;
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut blocks = data.chunks(MAX_BLOCK).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]); // one empty final block
    }
    while let Some(block) = blocks.next() {
        let last = blocks.peek().is_none();
        let len = u16::try_from(block.len()).unwrap_or(u16::MAX);
        out.push(u8::from(last));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes()); // ISIZE: length mod 2^32
    out
}

/// CRC-32 (IEEE 802.3, reflected, as gzip uses it).
fn crc32(data: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (n, entry) in (0u32..).zip(table.iter_mut()) {
        *entry = (0..8).fold(n, |c, _| {
            if c & 1 == 1 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            }
        });
    }
    !data.iter().fold(!0u32, |crc, &b| {
        table[usize::from((crc as u8) ^ b)] ^ (crc >> 8)
    })
}
