//! `cargo fuzz run jwks`: see fuzz/README.md and `audgate_fuzz::jwks`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| audgate_fuzz::jwks(data));
