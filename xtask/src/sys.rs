//! Debian packages: find what is missing and install it (as root), or say
//! exactly how to.

use std::process::Command;

use anyhow::{bail, Result};

/// What building and testing every part needs: libpcap and libvirt headers
/// for the `capture` and `libvirt` features, and the tools the tests
/// compare against or drive. The end-to-end lab tests (tests/e2e_lab.rs)
/// need apache2 (the lab's web server, mod_ssl included), openssl (its
/// certificate), curl (the client), tcpdump (the reference recording) and
/// iproute2 (namespaces, veths, the bridge, `ss`). The `--generate` tests
/// (tests/generate.rs) render the man pages with man-db and load the
/// completions into bash, zsh and fish. tests/tpsniff_servers.rs runs real
/// servers and clients as tpsniff's peers (postgresql, redis-server +
/// redis-tools, snmpd + snmp, mosquitto + mosquitto-clients, slapd +
/// ldap-utils, dante-server; passwd for its temporary user, mariadb-server
/// + mariadb-client) and hashcat on the CPU (pocl-opencl-icd and the
/// OpenCL loader) to crack the lines it writes. tplog's real-server
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
    "man-db",
    "zsh",
    "fish",
    // tpsniff's real peers and the cracker that judges its hash lines.
    "postgresql",
    "redis-server",
    "redis-tools",
    "snmpd",
    "snmp",
    "mosquitto",
    "mosquitto-clients",
    "slapd",
    "ldap-utils",
    "dante-server",
    "passwd",
    "mariadb-server",
    "mariadb-client",
    "hashcat",
    "pocl-opencl-icd",
    "ocl-icd-libopencl1",
    "ngircd",
    "sip-tester",
    "sipsak",
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
