//! `cargo xtask virt-lab-deps`: installs what tests/e2e_virt.rs needs (a
//! real libvirtd + QEMU), as measured in shared/notes/virt-lab.md. Root
//! only; about 70 s and 130 MB from the Debian mirror.
//!
//! The machine's qemu-utils 10.0 (backports) conflicts with Debian 12's
//! qemu-system-x86 7.2, so qemu-utils is first pinned to the bookworm
//! version that `apt-cache policy` names.

use std::process::Command;

use anyhow::{bail, Context, Result};

/// Packages for the end-to-end test (qemu-utils is added with its pinned version).
pub const APT_PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "qemu-block-extra",
    "libvirt-dev",
    "libvirt-daemon",
    "libvirt-daemon-driver-qemu",
    "libvirt-clients",
    "pkg-config",
    "dnsmasq-base",
    "iptables",
    "busybox-static",
    "linux-image-amd64",
    "cpio",
    "syslinux",
    "syslinux-common",
    "mtools",
    "dosfstools",
];

/// The bookworm (not backports) version of qemu-utils from `apt-cache policy`.
pub fn bookworm_version(policy: &str) -> Option<String> {
    let mut version: Option<&str> = None;
    for line in policy.lines() {
        if let Some(v) = line.trim_start().strip_prefix("***") {
            version = v.split_whitespace().next();
        } else if line.starts_with("     ") && !line.starts_with("        ") {
            version = line.split_whitespace().next();
        } else if line.starts_with("        ")
            && line.contains(" bookworm")
            && !line.contains("backports")
        {
            if let Some(v) = version.filter(|v| !v.contains("bpo")) {
                return Some(v.to_string());
            }
        }
    }
    None
}

pub fn install_deps() -> Result<()> {
    let policy = Command::new("apt-cache")
        .args(["policy", "qemu-utils"])
        .output()
        .context("running apt-cache")?;
    let policy = String::from_utf8_lossy(&policy.stdout);
    let Some(v) = bookworm_version(&policy) else {
        bail!("no bookworm version of qemu-utils in `apt-cache policy qemu-utils`:\n{policy}")
    };
    let mut args: Vec<String> = [
        "install",
        "-y",
        "--allow-downgrades",
        "--no-install-recommends",
    ]
    .map(String::from)
    .to_vec();
    args.push(format!("qemu-utils={v}"));
    args.extend(APT_PACKAGES.iter().map(|s| s.to_string()));
    eprintln!("apt-get {}", args.join(" "));
    let st = Command::new("apt-get")
        .args(&args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("running apt-get")?;
    if !st.success() {
        bail!("apt-get failed ({st})");
    }
    system_user_for_qemu()
}

/// libvirtd's QEMU driver resolves its built-in user before it reads
/// qemu.conf, and stops the whole daemon when the account is missing
/// (`Failed to parse user 'libvirt-qemu'`): libvirt-daemon-system would
/// create it, but it brings services this lab starts by itself.
pub fn system_user_for_qemu() -> Result<()> {
    let exists = Command::new("id")
        .arg("libvirt-qemu")
        .output()
        .is_ok_and(|o| o.status.success());
    if exists {
        return Ok(());
    }
    eprintln!("useradd --system libvirt-qemu (libvirtd's QEMU driver needs the account)");
    let st = Command::new("useradd")
        .args(["--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", "libvirt-qemu"])
        .status()
        .context("running useradd")?;
    if !st.success() {
        bail!("useradd libvirt-qemu failed ({st})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_bookworm_qemu_utils() {
        let p = "qemu-utils:
  Installed: 1:10.0.2+ds-2+deb13u1~bpo12+1
  Candidate: 1:10.0.2+ds-2+deb13u1~bpo12+1
  Version table:
 *** 1:10.0.2+ds-2+deb13u1~bpo12+1 100
        100 /var/lib/dpkg/status
     1:7.2+dfsg-7+deb12u18+b3 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
     1:7.2+dfsg-7+deb12u15 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
";
        assert_eq!(
            bookworm_version(p).as_deref(),
            Some("1:7.2+dfsg-7+deb12u18+b3")
        );
    }
}
