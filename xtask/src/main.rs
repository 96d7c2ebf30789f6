//! `cargo xtask <task>`: set-up, tests, benchmarks, fuzzing and test data.
mod virt_lab;

fn main() -> anyhow::Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some("virt-lab-deps") => virt_lab::install_deps(),
        _ => Ok(()),
    }
}
