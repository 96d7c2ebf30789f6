//! libFuzzer entry of [`tplab_fuzz::dcerpc_session`]; the body is in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tplab_fuzz::dcerpc_session::run(data));
