//! `cargo fuzz run introspection`: see fuzz/README.md and `audgate_fuzz::introspection`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| audgate_fuzz::introspection(data));
