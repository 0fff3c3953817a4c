//! The fuzz targets' checks (fuzz/src/, through its lib.rs) over the committed
//! seed corpus and every saved crash input (fuzz/regressions/<target>/),
//! natively under `cargo test`: no libFuzzer, no nightly flags. A crash the
//! fuzzer once found stays a failing test here until it is fixed, and stays
//! fixed after.

// Only some of its items and re-exports are used here.
#[allow(dead_code, unused_imports)]
#[path = "../../fuzz/src/lib.rs"]
mod fuzz_checks;

use std::fs;
use std::panic;
use std::path::Path;

/// Runs `check` on every file of `fuzz/corpus/<target>` and
/// `fuzz/regressions/<target>`; returns how many ran, and fails listing each
/// input that panicked.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut ran = 0;
    let mut failed = Vec::new();
    for dir in [
        root.join("corpus").join(target),
        root.join("regressions").join(target),
    ] {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths.into_iter().filter(|p| p.is_file()) {
            if path.extension().is_some_and(|ext| ext == "md") {
                continue;
            }
            let bytes = fs::read(&path).unwrap();
            ran += 1;
            if panic::catch_unwind(|| check(&bytes)).is_err() {
                failed.push(path.display().to_string());
            }
        }
    }
    assert!(
        failed.is_empty(),
        "fuzz target {target} fails on:\n{}",
        failed.join("\n")
    );
    ran
}

#[test]
fn token_corpus_and_regressions() {
    assert!(replay("token", fuzz_checks::token) > 0, "no token seeds");
}

#[test]
fn config_corpus_and_regressions() {
    assert!(replay("config", fuzz_checks::config) > 0, "no config seeds");
}

#[test]
fn introspection_corpus_and_regressions() {
    let ran = replay("introspection", fuzz_checks::introspection);
    assert!(ran > 0, "no introspection seeds");
}

#[test]
fn jwks_corpus_and_regressions() {
    assert!(replay("jwks", fuzz_checks::jwks) > 0, "no jwks seeds");
}

#[test]
fn decision_corpus_and_regressions() {
    assert!(
        replay("decision", fuzz_checks::decision) > 0,
        "no decision seeds"
    );
}

#[test]
fn the_decision_seeds_read_back_as_written() {
    // The seed corpus is written from these specs; the decoder must read each one
    // back exactly, or the seeds do not test what their names say.
    for (name, spec) in fuzz_checks::decision_seed_specs() {
        let bytes = spec.write();
        assert_eq!(fuzz_checks::decision_request(&bytes), spec, "seed {name}");
        fuzz_checks::decision(&bytes);
    }
}

#[test]
fn the_valid_seed_tokens_pass() {
    // The fixture panics if one does not; then the token target's oracle is void.
    let fixture = fuzz_checks::fixture();
    assert!(fixture.valid_tokens.len() >= 10);
    for token in &fixture.valid_tokens {
        fuzz_checks::token(token.as_bytes());
    }
}
