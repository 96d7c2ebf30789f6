//! `cargo xtask bench`: whole-process comparisons (see issue 3).

use anyhow::{bail, Result};

pub fn run(_args: &[String]) -> Result<()> {
    bail!("bench is not written yet")
}
