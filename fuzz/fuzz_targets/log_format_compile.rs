//! libFuzzer entry of [`tplab_fuzz::log_format_compile`]; the body is in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tplab_fuzz::log_format_compile::run(data));
