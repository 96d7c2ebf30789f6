//! libFuzzer entry of [`tplab_fuzz::snmp_message`]; the body is in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tplab_fuzz::snmp_message::run(data));
