//! What the README and the Makefile say of the module's size holds: without
//! wasm-opt (`make build WASM_OPT=none`) it is "about a seventh larger" than
//! with it. Read from `make build`'s two outputs, cargo's build and wasm-opt's.

use std::path::Path;

#[test]
fn the_module_without_wasm_opt_is_about_a_seventh_larger() {
    let release = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/wasm32-wasip1/release");
    let raw = release.join("deps/audgate.wasm");
    let optimised = release.join("audgate.optimised.wasm");
    let size = |path: &Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}: run `make build` first", path.display()))
            .len() as f64
    };
    let ratio = size(&raw) / size(&optimised);
    assert!(
        (1.08..=1.22).contains(&ratio),
        "cargo's build is {ratio:.3}× wasm-opt's: the README's \"about a seventh larger\" no longer holds"
    );
}
