//! libFuzzer entry of [`tplab_fuzz::qcow2_header`]; the body is in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tplab_fuzz::qcow2_header::run(data));
