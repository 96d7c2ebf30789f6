//! libFuzzer entry of [`tplab_fuzz::vnc_handshake`]; the body is in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tplab_fuzz::vnc_handshake::run(data));
