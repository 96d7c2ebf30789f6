//! `cargo xtask <task>`: set-up, tests, benchmarks, fuzzing and test data.
fn main() {}
