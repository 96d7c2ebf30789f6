//! libFuzzer entry of [`tplab_fuzz::sasl_exchange`]; the body is in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tplab_fuzz::sasl_exchange::run(data));
