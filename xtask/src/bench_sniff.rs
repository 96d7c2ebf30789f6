//! `cargo xtask bench-sniff` (placeholder, written next).
use anyhow::Result;

pub fn run(_args: &[String]) -> Result<()> {
    anyhow::bail!("bench-sniff: not written yet")
}
