//! The tree as the README and the crate map describe it: every folder of `src/`
//! is in the README's layout section and in `src/lib.rs`'s map, every `src/`
//! file opens with what it is for, and no leaf of the layer rule (`request`,
//! `token`, `policy`, `keys`, `exchange`, `log`, `rejection`, `clock`) reaches up
//! into `config`, `decision` or `filter`.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, recursively.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The folders directly under `src/` (`bin` as `bin/audgate`).
fn folders() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root().join("src"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .map(|name| {
            if name == "bin" {
                "bin/audgate".into()
            } else {
                name
            }
        })
        .collect();
    names.sort();
    names
}

#[test]
fn the_readme_layout_names_every_source_folder() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let layout = readme
        .split("## Layout")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README.md has a Layout section");
    for folder in folders() {
        assert!(
            layout.contains(&format!("\nsrc/{folder}/")),
            "README.md's layout section does not name src/{folder}/"
        );
    }
    for gone in [
        "src/policy.rs",
        "src/extract.rs",
        "src/jwks_cache.rs",
        "tests/e2e_",
    ] {
        assert!(!layout.contains(gone), "the layout still names {gone}");
    }
}

#[test]
fn the_crate_map_names_every_module_folder() {
    let lib = fs::read_to_string(root().join("src/lib.rs")).unwrap();
    let map: String = lib
        .lines()
        .take_while(|line| line.starts_with("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    for folder in folders().iter().filter(|name| *name != "bin/audgate") {
        assert!(
            map.contains(&format!("`{folder}`")) || map.contains(&format!("{folder}::")),
            "src/lib.rs's map does not name {folder}"
        );
        assert!(
            lib.contains(&format!("mod {folder};")),
            "src/lib.rs declares no {folder}"
        );
    }
}

#[test]
fn every_source_file_says_what_it_is_for() {
    for file in sources(&root().join("src")) {
        let text = fs::read_to_string(&file).unwrap();
        let tests_only = file.ends_with("config/tests.rs");
        assert!(
            tests_only || text.starts_with("//!"),
            "{} does not open with a //! line saying what it is for",
            file.display()
        );
    }
}

#[test]
fn leaves_never_reach_up_the_layers() {
    let upper = ["crate::config", "crate::decision", "crate::filter"];
    for leaf in ["request", "token", "policy", "keys", "exchange", "log"] {
        for file in sources(&root().join("src").join(leaf)) {
            let text = fs::read_to_string(&file).unwrap();
            for layer in upper {
                assert!(
                    !text.contains(layer),
                    "{} (a leaf) names {layer}",
                    file.display()
                );
            }
        }
    }
    for file in ["src/rejection.rs", "src/clock.rs"] {
        let text = fs::read_to_string(root().join(file)).unwrap();
        for layer in upper {
            assert!(!text.contains(layer), "{file} names {layer}");
        }
    }
}
