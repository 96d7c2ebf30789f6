//! `cargo xtask gen-pcap [--seed N] [--out DIR]`: writes the deterministic
//! test captures (see `tplab::testgen::pcap`) and lists what each must yield.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

pub fn run(args: &[String]) -> Result<()> {
    let mut seed = 1u64;
    // Default: <repo>/testdata/pcap, wherever cargo xtask is run from.
    let mut out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/pcap");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seed" => {
                seed = it
                    .next()
                    .context("--seed needs a value")?
                    .parse()
                    .context("--seed")?
            }
            "--out" => out = it.next().context("--out needs a directory")?.into(),
            "-h" | "--help" => {
                println!("cargo xtask gen-pcap [--seed N] [--out DIR]   (default: seed 1, testdata/pcap)");
                return Ok(());
            }
            other => bail!("gen-pcap: unknown argument {other:?}"),
        }
    }
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
