//! libFuzzer entry of [`tplab_fuzz::radius_packet`]; the body is in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tplab_fuzz::radius_packet::run(data));
