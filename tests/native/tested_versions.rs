//! The README's "Tested with" table: written by `make test` from what it ran
//! (tests/tested_versions.py), refused under CI when it differs from the run,
//! and naming the Envoys the Makefile installs and the ABI the module exports.

use crate::support::{envoy, temp};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BEGIN: &str = "<!-- tested versions: written by make test (tests/tested_versions.py) -->";
const END: &str = "<!-- /tested versions -->";

/// The committed README's table.
fn readme_table() -> String {
    let readme = std::fs::read_to_string(format!("{ROOT}/README.md")).unwrap();
    let rest = readme
        .split(BEGIN)
        .nth(1)
        .expect("README: the table's markers");
    rest.split(END).next().unwrap().to_owned()
}

/// The Makefile's `NAME ?= VALUE`.
fn makefile_value(name: &str) -> String {
    let makefile = std::fs::read_to_string(format!("{ROOT}/Makefile")).unwrap();
    makefile
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once("?=")?;
            (key.trim() == name).then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("Makefile: {name} ?= …"))
}

#[test]
fn the_readme_table_names_the_envoys_the_makefile_tests_and_the_modules_abi() {
    let table = readme_table();
    for name in ["ENVOY_VERSION", "COMPAT_ENVOY_VERSION"] {
        let version = makefile_value(name);
        assert!(
            table.contains(&format!("| Envoy | {version} (")),
            "{name} {version}: {table}"
        );
    }
    assert!(table.contains("| proxy-wasm ABI | 0.2.1 |"), "{table}");
    let exports = crate::module_exports::exports(&std::fs::read(envoy::wasm_path()).unwrap());
    assert!(exports.iter().any(|name| name == "proxy_abi_version_0_2_1"));
}

/// The script run on `tested` (a target/tested folder), the built module and
/// `readme`, with `CI` as given.
fn script(tested: &Path, readme: &Path, ci: Option<&str>) -> Output {
    let mut command = Command::new("python3");
    command
        .arg(format!("{ROOT}/tests/tested_versions.py"))
        .arg(tested)
        .arg(envoy::wasm_path())
        .arg(readme)
        .env_remove("CI");
    if let Some(ci) = ci {
        command.env("CI", ci);
    }
    command.output().unwrap()
}

/// A tested folder noting `envoys`.
fn tested(dir: &Path, envoys: &[PathBuf]) -> PathBuf {
    let tested = dir.join("tested");
    std::fs::create_dir_all(tested.join("envoys")).unwrap();
    for (index, binary) in envoys.iter().enumerate() {
        std::fs::write(
            tested.join("envoys").join(index.to_string()),
            binary.display().to_string(),
        )
        .unwrap();
    }
    tested
}

#[test]
fn the_script_writes_what_ran_and_ci_refuses_a_table_that_differs() {
    let dir = temp::dir("tested-versions");
    let readme = dir.join("README.md");
    std::fs::write(
        &readme,
        format!("# x\n\n{BEGIN}\n| old |\n{END}\n\nafter\n"),
    )
    .unwrap();
    let ran = tested(&dir, &[envoy::envoy_bin()]);
    // Under CI, a table that is not what ran fails, and the README is untouched.
    let output = script(&ran, &readme, Some("true"));
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("table is not what make test ran"), "{said}");
    assert!(std::fs::read_to_string(&readme)
        .unwrap()
        .contains("| old |"));
    // Outside CI it is written, between the markers, the rest kept.
    let output = script(&ran, &readme, None);
    assert!(output.status.success(), "{output:?}");
    let written = std::fs::read_to_string(&readme).unwrap();
    assert!(!written.contains("| old |"), "{written}");
    assert!(written.starts_with("# x\n\n") && written.ends_with(&format!("{END}\n\nafter\n")));
    let version = String::from_utf8_lossy(
        &Command::new(envoy::envoy_bin())
            .arg("--version")
            .output()
            .unwrap()
            .stdout,
    )
    .to_string();
    let number = version
        .split("version: ")
        .nth(1)
        .and_then(|rest| rest.split('/').nth(1))
        .expect("envoy --version: version: COMMIT/VERSION/…");
    assert!(
        written.contains(&format!("| Envoy | {number} (")),
        "{written}"
    );
    // Then CI finds it as it ran.
    assert!(script(&ran, &readme, Some("true")).status.success());
    // No Envoy noted: no table.
    let none = dir.join("none");
    std::fs::create_dir_all(&none).unwrap();
    let output = script(&none, &readme, None);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no end-to-end test started an Envoy"));
    let _ = std::fs::remove_dir_all(&dir);
}
