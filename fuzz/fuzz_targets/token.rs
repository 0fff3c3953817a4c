//! `cargo fuzz run token`: see fuzz/README.md and `audgate_fuzz::token`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| audgate_fuzz::token(data));
