//! libFuzzer entry of [`tplab_fuzz::tls_client_hello`]; the body is in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tplab_fuzz::tls_client_hello::run(data));
