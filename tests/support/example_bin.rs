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
    let output = as_from_a_shell(&mut Command::new(env!("CARGO")))
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

/// The variables cargo sets for the tests it runs (prefixes, and whole names).
const SET_FOR_TESTS: [&str; 6] = [
    "CARGO_MANIFEST_",
    "CARGO_PKG_",
    "CARGO_BIN_",
    "CARGO_CRATE_",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
];

/// `command` (a cargo, or a make that runs one) without the variables cargo set
/// for this test process, so that cargo sees the environment a cargo started from
/// a shell sees. Build scripts that track them (ring's names `CARGO_MANIFEST_DIR`
/// and `CARGO_PKG_*` in `rerun-if-env-changed`) would otherwise find them changed
/// between a cargo run from a test and the next one from the shell, and each
/// would build ring and everything over it again: `make test`'s second pass,
/// `cargo test --test e2e`, would compile what `cargo test` had just built.
pub fn as_from_a_shell(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if SET_FOR_TESTS.iter().any(|set| name.starts_with(set)) || name == "OUT_DIR" {
            command.env_remove(&*name);
        }
    }
    command
}
