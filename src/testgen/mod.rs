//! Deterministic generators of realistic test inputs (used by `cargo xtask`,
//! the tests and the benches).

pub mod pcap;
