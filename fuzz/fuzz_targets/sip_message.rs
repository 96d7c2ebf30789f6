//! libFuzzer entry of [`tplab_fuzz::sip_message`]; the body is in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tplab_fuzz::sip_message::run(data));
