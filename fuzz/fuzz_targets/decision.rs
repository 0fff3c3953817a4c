//! `cargo fuzz run decision`: see fuzz/README.md and `audgate_fuzz::decision`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| audgate_fuzz::decision(data));
