//! An example program of this crate, built as a user's `cargo run --example`
//! would build it, for tests that run it as a process (its exit status, stdout
//! and stderr are what the user sees).
//!
//! ```ignore
//! let demo = example_bin::path("demo");
//! let output = std::process::Command::new(demo).arg("--tokens").output().unwrap();
//! ```

use std::path::PathBuf;
use std::process::Command;

/// `cargo build --example NAME` (dev profile), then the executable's path from
/// cargo's own report, so `CARGO_TARGET_DIR` is honoured. Panics with cargo's
/// output if the build fails.
pub fn path(name: &str) -> PathBuf {
    let output = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--message-format=json",
            "--example",
            name,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("cargo build --example {name}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "cargo build --example {name}:\n{}{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == name)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo build --example {name}: no executable reported"))
}
