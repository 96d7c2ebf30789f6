//! libFuzzer entry of [`tplab_fuzz::irc_lines`]; the body is in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tplab_fuzz::irc_lines::run(data));
