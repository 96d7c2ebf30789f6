//! libFuzzer entry of [`tplab_fuzz::http_request`]; the body is in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tplab_fuzz::http_request::run(data));
