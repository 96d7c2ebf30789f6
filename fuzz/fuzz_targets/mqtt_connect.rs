//! libFuzzer entry of [`tplab_fuzz::mqtt_connect`]; the body is in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tplab_fuzz::mqtt_connect::run(data));
