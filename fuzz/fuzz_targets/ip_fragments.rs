//! libFuzzer entry of [`tplab_fuzz::ip_fragments`]; the body is in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tplab_fuzz::ip_fragments::run(data));
