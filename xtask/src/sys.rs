//! Debian packages: find what is missing and install it (as root), or say
//! exactly how to.

use std::process::Command;

use anyhow::{bail, Result};

/// What building and testing every part needs: libpcap and libvirt headers
/// for the `capture` and `libvirt` features, and the tools the tests
/// compare against or drive. The end-to-end lab tests (tests/e2e_lab.rs)
/// need apache2 (the lab's web server, mod_ssl included), openssl (its
/// certificate), curl (the client), tcpdump (the reference recording) and
/// iproute2 (namespaces, veths, the bridge, `ss`). tplog's real-server
/// tests (tests/tplog_servers.rs) run apache2, nginx and caddy on loopback
/// and read the logs they write.
pub const TEST_PACKAGES: &[&str] = &[
    "pkg-config",
    "libpcap-dev",
    "libvirt-dev",
    "gawk",
    "iproute2",
    "apache2",
    "openssl",
    "curl",
    "tcpdump",
    "nginx",
    "caddy",
];

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .map(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout).contains("install ok installed")
        })
        .unwrap_or(false)
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// True when every package is installed.
pub fn all_installed(pkgs: &[&str]) -> bool {
    pkgs.iter().all(|p| installed(p))
}

/// `apt-get update`, quietly.
pub fn apt_update() -> Result<()> {
    let st = Command::new("apt-get")
        .args(["update", "-qq"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()?;
    if !st.success() {
        bail!("apt-get update failed ({st})");
    }
    Ok(())
}

/// Installs the missing packages with apt-get when root; otherwise prints
/// the command to run and fails.
pub fn ensure_packages(pkgs: &[&str]) -> Result<()> {
    let missing: Vec<&str> = pkgs.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let line = format!(
        "sudo apt-get install -y --no-install-recommends {}",
        missing.join(" ")
    );
    if !is_root() {
        bail!("missing Debian packages: {}\nrun:\n  sudo apt-get update && {line}\nthen run this command again", missing.join(" "));
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    let apt = |args: &[&str]| -> Result<()> {
        let st = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()?;
        if !st.success() {
            bail!("apt-get {} failed ({st})", args.join(" "));
        }
        Ok(())
    };
    apt_update()?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(&missing);
    apt(&args)
}
