//! `cargo fuzz run config`: see fuzz/README.md and `audgate_fuzz::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| audgate_fuzz::config(data));
