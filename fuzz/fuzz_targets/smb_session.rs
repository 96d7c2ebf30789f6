//! libFuzzer entry of [`tplab_fuzz::smb_session`]; the body is in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tplab_fuzz::smb_session::run(data));
