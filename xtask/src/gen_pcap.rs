//! `cargo xtask gen-pcap [--seed N] [--out DIR]`: writes the deterministic
//! test captures (see `tplab::testgen::pcap`) and lists what each must yield.

use std::path::PathBuf;

use anyhow::{Context, Result};

/// `cargo xtask gen-pcap` options.
#[derive(clap::Args, Debug)]
pub struct Opts {
    /// Seed of the generator (the same seed, the same captures).
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    /// Where to write them (default: testdata/pcap).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

pub fn run(o: &Opts) -> Result<()> {
    let seed = o.seed;
    // Default: <repo>/testdata/pcap, wherever cargo xtask is run from.
    let out = o
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/pcap"));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let out = out.canonicalize().unwrap_or(out);
    let paths = tplab::testgen::pcap::write_all(&out, seed)
        .with_context(|| format!("writing captures to {}", out.display()))?;
    for (p, c) in paths.iter().zip(tplab::testgen::pcap::captures(seed)) {
        println!("{}  ({} packets)", p.display(), c.packets.len());
        for e in &c.creds {
            println!(
                "    {} user={} password={}",
                e.proto.as_str(),
                e.user.as_deref().unwrap_or("-"),
                e.password.as_deref().unwrap_or("-")
            );
        }
        for t in &c.tls {
            println!("    tls sni={} version={}", t.sni, t.version);
        }
    }
    Ok(())
}
