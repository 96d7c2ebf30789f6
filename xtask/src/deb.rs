//! `cargo xtask deb`: the Debian package of every binary, with cargo-deb
//! (configured in Cargo.toml's `[package.metadata.deb]`).
//!
//! 1. The binaries and the features they need are read from `cargo
//!    metadata`: every `[[bin]]`, built with the union of their
//!    `required-features`, so a new binary behind a new feature is packaged
//!    without changing this file.
//! 2. Each binary writes its man page and bash, zsh and fish completions
//!    (`BIN --generate KIND`) into `target/release/dist/`, which the
//!    package's assets pick up.
//! 3. `cargo deb --no-build` strips the binaries, computes `Depends:` with
//!    dpkg-shlibdeps and writes `target/debian/tplab_VERSION-1_ARCH.deb`.
//!
//! cargo-deb is installed with `cargo install cargo-deb --locked` when
//! missing; dpkg-dev (dpkg-shlibdeps) with apt-get.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::{cargo, root, run};

/// Debian packages building the package needs: the C libraries' headers
/// (features capture and libvirt) and dpkg-shlibdeps.
pub const BUILD_PACKAGES: &[&str] = &["pkg-config", "libpcap-dev", "libvirt-dev", "dpkg-dev"];

/// One `[[bin]]` of the tplab crate.
#[derive(Debug, Clone)]
pub struct Bin {
    pub name: String,
    pub required_features: Vec<String>,
}

/// What `cargo metadata` says about the tplab crate.
pub struct Layout {
    pub target_dir: PathBuf,
    pub bins: Vec<Bin>,
}

pub fn layout() -> Result<Layout> {
    let out = cargo()
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).context("cargo metadata")?;
    let target_dir = PathBuf::from(
        m["target_directory"]
            .as_str()
            .context("cargo metadata: no target_directory")?,
    );
    let pkg = m["packages"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "tplab"))
        .context("cargo metadata: no package tplab")?;
    let mut bins = Vec::new();
    for t in pkg["targets"].as_array().into_iter().flatten() {
        let is_bin = t["kind"]
            .as_array()
            .is_some_and(|k| k.iter().any(|k| k == "bin"));
        if !is_bin {
            continue;
        }
        bins.push(Bin {
            name: t["name"]
                .as_str()
                .context("a bin without a name")?
                .to_string(),
            required_features: t["required-features"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect(),
        });
    }
    if bins.is_empty() {
        bail!("cargo metadata lists no binaries for tplab");
    }
    Ok(Layout { target_dir, bins })
}

/// The union of the binaries' required features, sorted, as `--features` takes it.
pub fn features(bins: &[Bin]) -> String {
    let mut f: Vec<&str> = bins
        .iter()
        .flat_map(|b| b.required_features.iter().map(String::as_str))
        .collect();
    f.sort_unstable();
    f.dedup();
    f.join(",")
}

/// Where `--generate KIND` output goes inside `dist/`, and the file name.
fn generated(kind: &str, bin: &str) -> (&'static str, String) {
    match kind {
        // Gzipped here: cargo-deb compresses man pages only outside target/release.
        "man" => ("man", format!("{bin}.1.gz")),
        "complete-bash" => ("bash", bin.to_string()),
        "complete-zsh" => ("zsh", format!("_{bin}")),
        "complete-fish" => ("fish", format!("{bin}.fish")),
        other => unreachable!("unknown kind {other}"),
    }
}

const KINDS: [&str; 4] = ["man", "complete-bash", "complete-zsh", "complete-fish"];

/// Installs cargo-deb when `cargo deb` is not there, saying how long it took.
fn ensure_cargo_deb() -> Result<()> {
    let have = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if have {
        return Ok(());
    }
    eprintln!("xtask: installing cargo-deb (cargo install cargo-deb --locked; compiles it, a few minutes)");
    let t = Instant::now();
    run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())).args([
            "install",
            "cargo-deb",
            "--locked",
        ]),
    )?;
    eprintln!(
        "xtask: cargo-deb installed in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// gzip -9n: no name, no time stamp (the same bytes every build).
fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut e, data)?;
    Ok(e.finish()?)
}

/// Builds the package; returns the .deb's path.
pub fn build() -> Result<PathBuf> {
    crate::sys::ensure_packages(BUILD_PACKAGES)?;
    ensure_cargo_deb()?;
    let l = layout()?;
    let features = features(&l.bins);
    if features.split(',').any(|f| f.trim() == "console") {
        // tplab embeds the console's front end, built by npm.
        crate::web::build()?;
    }
    let mut c = cargo();
    c.args(["build", "--release", "--locked", "--bins"]);
    if !features.is_empty() {
        c.args(["--features", &features]);
    }
    run(&mut c)?;
    let release = l.target_dir.join("release");
    let dist = release.join("dist");
    // Start empty: a binary that is gone must not leave its pages behind.
    if dist.exists() {
        std::fs::remove_dir_all(&dist).with_context(|| format!("removing {}", dist.display()))?;
    }
    for bin in &l.bins {
        let exe = release.join(&bin.name);
        for kind in KINDS {
            let (dir, file) = generated(kind, &bin.name);
            let dir = dist.join(dir);
            std::fs::create_dir_all(&dir)?;
            let out = Command::new(&exe)
                .args(["--generate", kind])
                .output()
                .with_context(|| format!("running {}", exe.display()))?;
            if !out.status.success() || out.stdout.is_empty() {
                bail!(
                    "{} --generate {kind} failed ({}): {}\n(every binary calls tplab::cli::generate::handle first thing in main)",
                    exe.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let bytes = if file.ends_with(".gz") {
                gzip(&out.stdout)?
            } else {
                out.stdout
            };
            std::fs::write(dir.join(&file), bytes)?;
        }
    }
    // --strip: the release profile keeps line tables (for profiling);
    // an installed tool does without them.
    let out = cargo()
        .args(["deb", "--no-build", "--strip", "--locked", "-p", "tplab"])
        .output()
        .context("running cargo deb")?;
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        bail!("cargo deb failed ({})", out.status);
    }
    // cargo-deb prints the package's path last.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let deb = stdout
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.ends_with(".deb"))
        .map(PathBuf::from)
        .context("cargo deb did not print the package's path")?;
    check_contents(&deb, &l.bins)?;
    Ok(deb)
}

/// `dpkg-deb --contents`: file names (without the leading `.`).
pub fn contents(deb: &Path) -> Result<Vec<String>> {
    let out = Command::new("dpkg-deb")
        .arg("--contents")
        .arg(deb)
        .output()
        .context("running dpkg-deb")?;
    if !out.status.success() {
        bail!("dpkg-deb --contents {} failed", deb.display());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .map(|p| p.trim_start_matches('.').to_string())
        .collect())
}

/// `dpkg-deb --field DEB FIELD`.
pub fn field(deb: &Path, name: &str) -> Result<String> {
    let out = Command::new("dpkg-deb")
        .arg("--field")
        .arg(deb)
        .arg(name)
        .output()
        .context("running dpkg-deb")?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The files every binary brings, as installed.
pub fn expected_files(bin: &str) -> Vec<String> {
    vec![
        format!("/usr/bin/{bin}"),
        format!("/usr/share/man/man1/{bin}.1.gz"),
        format!("/usr/share/bash-completion/completions/{bin}"),
        format!("/usr/share/zsh/vendor-completions/_{bin}"),
        format!("/usr/share/fish/vendor_completions.d/{bin}.fish"),
    ]
}

/// Each binary with its man page and completions, a copyright file, the
/// postinst, and Depends found from the binaries.
fn check_contents(deb: &Path, bins: &[Bin]) -> Result<()> {
    let files = contents(deb)?;
    let mut want: Vec<String> = bins.iter().flat_map(|b| expected_files(&b.name)).collect();
    want.push("/usr/share/doc/tplab/copyright".into());
    let missing: Vec<&String> = want.iter().filter(|w| !files.contains(w)).collect();
    if !missing.is_empty() {
        bail!("{} lacks {missing:?}", deb.display());
    }
    let depends = field(deb, "Depends")?;
    for lib in ["libc6", "libcap2-bin"] {
        if !depends.split(',').any(|d| d.trim().starts_with(lib)) {
            bail!("{}: Depends has no {lib}: {depends}", deb.display());
        }
    }
    Ok(())
}

/// `cargo xtask deb`.
pub fn run_cmd() -> Result<()> {
    let deb = build()?;
    let rel = deb.strip_prefix(root()).unwrap_or(&deb);
    println!("{}", rel.display());
    println!("Depends: {}", field(&deb, "Depends")?);
    println!("install: sudo apt-get install ./{}", rel.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_the_union_of_the_bins_required_features() {
        let b = |n: &str, f: &[&str]| Bin {
            name: n.into(),
            required_features: f.iter().map(|s| s.to_string()).collect(),
        };
        let bins = [
            b("tplog", &[]),
            b("tpsniff", &["capture"]),
            b("tpvirt", &["libvirt"]),
            b("tplab", &["console", "libvirt"]),
        ];
        assert_eq!(features(&bins), "capture,console,libvirt");
        assert_eq!(features(&bins[..1]), "");
    }

    #[test]
    fn the_metadata_lists_the_three_tools() {
        let l = layout().unwrap();
        let names: Vec<&str> = l.bins.iter().map(|b| b.name.as_str()).collect();
        for n in ["tplog", "tpsniff", "tpvirt"] {
            assert!(names.contains(&n), "{names:?}");
        }
        let sniff = l.bins.iter().find(|b| b.name == "tpsniff").unwrap();
        assert_eq!(sniff.required_features, ["capture"]);
    }
}
