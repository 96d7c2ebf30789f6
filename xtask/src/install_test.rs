//! `cargo xtask test-install` (also part of `cargo xtask test`): builds the
//! Debian package, installs it on this machine with apt-get, uses the tools
//! from /usr/bin as a user would, then purges it and checks nothing is
//! left. Root only: for another user it says what it skipped and why.
//!
//! Checked from the installed package:
//! - each tool's `--version` is the crate's version;
//! - `tplog ips --page truc.html` on a generated log prints exactly what
//!   the lab's pipeline (`grep | cut | sort | uniq -c`) prints;
//! - `tpvirt -c test:///default list --all` lists libvirt's test domain;
//! - the man pages are found by `man` and the bash completion is loaded
//!   by bash-completion from where the package put it;
//! - `getcap /usr/bin/tpsniff` shows the capture capabilities, and as
//!   `nobody` tpsniff captures on `lo` a login sent to a listener on
//!   127.0.0.1 (while a copy of the binary without the capabilities is
//!   refused: the capabilities are what make it work);
//! - after `apt-get remove --purge`, `dpkg -L tplab` knows nothing and the
//!   files are gone.
//!
//! No traffic leaves loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::deb;
use crate::sys;

/// What the checks use besides the package: the lab pipeline's tools are
/// in every Debian; these may not be.
const PACKAGES: &[&str] = &["libcap2-bin", "util-linux", "man-db", "bash-completion"];

/// `sh -c SCRIPT` in `dir`; its stdout, failing with stderr when it fails.
fn sh(script: &str, dir: &Path) -> Result<String> {
    let o = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .with_context(|| format!("running {script}"))?;
    if !o.status.success() {
        bail!(
            "`{script}` failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

fn installed_files() -> Option<String> {
    let o = Command::new("dpkg").args(["-L", "tplab"]).output().ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Purges the package when dropped, so a failed check leaves no
/// installed package behind.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        if installed_files().is_some() {
            let _ = apt(&["remove", "--purge", "-y", "-qq", "tplab"]);
        }
    }
}

fn apt(args: &[&str]) -> Result<()> {
    let st = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("running apt-get")?;
    ensure!(st.success(), "apt-get {} failed ({st})", args.join(" "));
    Ok(())
}

pub fn run() -> Result<()> {
    if !sys::is_root() {
        eprintln!(
            "test-install: skipped: installing a Debian package needs root (run `sudo cargo xtask test-install`, as CI does)"
        );
        return Ok(());
    }
    if installed_files().is_some() {
        // Someone's own installation: not this test's to purge.
        eprintln!(
            "test-install: skipped: tplab is already installed on this machine (dpkg -L tplab); this test installs and purges it, so run it after `apt-get remove --purge tplab`"
        );
        return Ok(());
    }
    sys::ensure_packages(PACKAGES)?;
    let t = Instant::now();
    let debfile = deb::build()?;
    eprintln!(
        "test-install: built {} in {:.0} s",
        debfile.display(),
        t.elapsed().as_secs_f64()
    );
    let l = deb::layout()?;
    println!("== dpkg -c {}", debfile.display());
    print!(
        "{}",
        sh(&format!("dpkg -c '{}'", debfile.display()), Path::new("/"))?
    );
    let depends = deb::field(&debfile, "Depends")?;
    println!("Depends: {depends}");

    let guard = Installed;
    apt(&[
        "install",
        "-y",
        "-qq",
        debfile.to_str().context("package path")?,
    ])?;
    let files = installed_files().context("dpkg -L tplab after install")?;
    let excludes = DpkgExcludes::read();
    for b in &l.bins {
        for f in deb::expected_files(&b.name) {
            if excludes.excluded(&f) {
                eprintln!("test-install: {f} not checked: dpkg is told not to install it here (path-exclude in /etc/dpkg/dpkg.cfg.d, as in slim container images)");
                continue;
            }
            ensure!(
                files.lines().any(|l| l == f),
                "dpkg -L tplab lacks {f}:\n{files}"
            );
            ensure!(Path::new(&f).exists(), "{f} is listed but absent");
        }
    }
    let version = env!("CARGO_PKG_VERSION");
    for b in &l.bins {
        let v = sh(&format!("/usr/bin/{} --version", b.name), Path::new("/"))?;
        println!("$ {} --version\n{}", b.name, v.trim());
        ensure!(
            v.trim() == format!("{} {version}", b.name),
            "/usr/bin/{} --version: {v:?}",
            b.name
        );
    }
    tplog_query()?;
    tpvirt_query()?;
    if excludes.excluded("/usr/share/man/man1/tplog.1.gz") {
        eprintln!("test-install: man tplog not checked: dpkg excludes /usr/share/man here");
        completion()?;
    } else {
        man()?;
        completion()?;
    }
    capture_as_nobody()?;

    drop(guard);
    ensure!(
        installed_files().is_none(),
        "dpkg -L tplab still lists files after remove --purge"
    );
    for b in &l.bins {
        for f in deb::expected_files(&b.name) {
            ensure!(!Path::new(&f).exists(), "{f} is left after remove --purge");
        }
    }
    let o = Command::new("dpkg").args(["-L", "tplab"]).output()?;
    println!(
        "$ dpkg -L tplab   (after apt-get remove --purge)\n{}",
        String::from_utf8_lossy(&o.stderr).trim()
    );
    println!("test-install: ok");
    Ok(())
}

/// The lab's first query, from /usr/bin, against the lab's pipeline on a
/// plain generated log (where their meanings coincide).
fn tplog_query() -> Result<()> {
    let dir = tempdir("tplog")?;
    let log = dir.join("access.log");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&log)?);
    tplab::testgen::log::write_log(&tplab::testgen::log::GenOpts::plain(2014, 40_000), &mut w)?;
    w.flush()?;
    drop(w);
    let want = sh(
        "export LC_ALL=C; grep truc.html access.log | cut -d' ' -f1 | sort | uniq -c",
        &dir,
    )?;
    let got = sh("/usr/bin/tplog ips --page truc.html access.log", &dir)?;
    ensure!(!want.is_empty(), "the pipeline found nothing");
    ensure!(
        got == want,
        "tplog ips --page truc.html differs from the lab pipeline:\n{got}\n---\n{want}"
    );
    println!(
        "$ tplog ips --page truc.html access.log   ({} rows, identical to grep | cut | sort | uniq -c)\n{}",
        got.lines().count(),
        got.lines().take(3).collect::<Vec<_>>().join("\n")
    );
    let sample = sh(
        "/usr/bin/tplog days --ip 192.168.11.53 testdata/access.log",
        &crate::root(),
    )?;
    println!(
        "$ tplog days --ip 192.168.11.53 testdata/access.log\n{}",
        sample.trim_end()
    );
    ensure!(sample.contains("Feb/2014"), "{sample}");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn tpvirt_query() -> Result<()> {
    let out = sh(
        "/usr/bin/tpvirt -c test:///default list --all",
        Path::new("/"),
    )?;
    println!("$ tpvirt -c test:///default list --all\n{}", out.trim_end());
    ensure!(
        out.lines()
            .any(|l| l.split_whitespace().nth(1) == Some("test")),
        "libvirt's test domain is not listed:\n{out}"
    );
    Ok(())
}

fn man() -> Result<()> {
    let page = sh("man -w tplog", Path::new("/"))?;
    ensure!(
        page.trim() == "/usr/share/man/man1/tplog.1.gz",
        "man -w tplog: {page}"
    );
    let text = sh("MANWIDTH=100 man tplog 2>/dev/null", Path::new("/"))?;
    ensure!(
        text.contains("tplog ips") && text.contains("TPLOG TIMELINE"),
        "man tplog:\n{text}"
    );
    Ok(())
}

fn completion() -> Result<()> {
    // bash-completion loads completions on demand from the package's directory.
    let reply = sh(
        r#"bash --norc --noprofile -c '
            . /usr/share/bash-completion/bash_completion
            _completion_loader tplog
            func=$(complete -p tplog | sed -n "s/.* -F \([^ ]*\) .*/\1/p")
            COMP_WORDS=(tplog i); COMP_CWORD=1; COMP_LINE="tplog i"; COMP_POINT=7
            "$func" tplog i tplog
            printf "%s\n" "${COMPREPLY[@]}"'"#,
        Path::new("/"),
    )?;
    println!(
        "$ tplog i<TAB>   (bash-completion, from /usr/share/bash-completion/completions/tplog)\n{}",
        reply.trim()
    );
    ensure!(reply.trim() == "ips", "tplog i<TAB> offered {reply:?}");
    Ok(())
}

/// Runs `exe --iface lo` as nobody; sends a login over loopback once it
/// listens; stops it with SIGINT. Returns (exit code, stdout, stderr).
fn sniff_lo_as_nobody(exe: &str) -> Result<(Option<i32>, String, String)> {
    let mut child = Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "--",
            exe,
            "--iface",
            "lo",
        ])
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running setpriv")?;
    let mut stderr = BufReader::new(child.stderr.take().expect("piped"));
    let mut err = String::new();
    // tpsniff says "listening on lo ..." once the capture is open, or fails.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line)? == 0 || Instant::now() > deadline {
            break;
        }
        err.push_str(&line);
        if line.contains("listening on") {
            break;
        }
    }
    if err.contains("listening on") {
        let server = TcpListener::bind("127.0.0.1:0")?;
        let port = server.local_addr()?.port();
        let mut client = TcpStream::connect(("127.0.0.1", port))?;
        let (mut conn, _) = server.accept()?;
        client.write_all(
            format!("POST /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 34\r\n\r\nuser=installtest&password=s3cr3t!!").as_bytes(),
        )?;
        let mut buf = [0u8; 256];
        conn.set_read_timeout(Some(Duration::from_secs(2)))?;
        let _ = conn.read(&mut buf)?;
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")?;
        drop((client, conn));
        std::thread::sleep(Duration::from_millis(800));
        sh(&format!("kill -INT {}", child.id()), Path::new("/"))?;
    }
    let mut rest = String::new();
    stderr.read_to_string(&mut rest)?;
    err.push_str(&rest);
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut out)?;
    let st = child.wait()?;
    Ok((st.code(), out, err))
}

fn capture_as_nobody() -> Result<()> {
    let caps = sh("getcap /usr/bin/tpsniff", Path::new("/"))?;
    println!("$ getcap /usr/bin/tpsniff\n{}", caps.trim());
    ensure!(
        caps.contains("cap_net_admin,cap_net_raw=ep"),
        "getcap /usr/bin/tpsniff: {caps:?}"
    );
    let (code, out, err) = sniff_lo_as_nobody("/usr/bin/tpsniff")?;
    println!("$ setpriv --reuid=nobody ... /usr/bin/tpsniff --iface lo   (a login sent to 127.0.0.1, then SIGINT)\n{}{}", err, out);
    ensure!(
        code == Some(0) && out.contains("installtest"),
        "tpsniff as nobody (exit {code:?}) did not capture the login on lo:\n{err}{out}"
    );
    // The same binary without the file capabilities: refused.
    let dir = tempdir("nocaps")?;
    let copy = dir.join("tpsniff");
    std::fs::copy("/usr/bin/tpsniff", &copy)?;
    sh(
        &format!("chmod 755 '{}' '{}'", dir.display(), copy.display()),
        Path::new("/"),
    )?;
    let (code, _, err) = sniff_lo_as_nobody(copy.to_str().context("path")?)?;
    ensure!(
        code == Some(2) && err.to_lowercase().contains("permi"),
        "a copy without capabilities was not refused (exit {code:?}): {err}"
    );
    println!(
        "(a copy without the capabilities, as nobody: exit 2, {})",
        err.lines().last().unwrap_or("").trim()
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// dpkg's `path-exclude`/`path-include` options (/etc/dpkg/dpkg.cfg.d):
/// container images often leave out man pages and docs.
struct DpkgExcludes {
    /// (include?, glob), in file order: the last match decides.
    rules: Vec<(bool, String)>,
}

impl DpkgExcludes {
    fn read() -> DpkgExcludes {
        let mut rules = Vec::new();
        let mut files: Vec<_> = std::fs::read_dir("/etc/dpkg/dpkg.cfg.d")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        files.insert(0, "/etc/dpkg/dpkg.cfg".into());
        for f in files {
            for line in std::fs::read_to_string(&f).unwrap_or_default().lines() {
                let line = line.trim();
                if let Some(g) = line.strip_prefix("path-exclude") {
                    rules.push((false, g.trim_start_matches(['=', ' ']).trim().to_string()));
                } else if let Some(g) = line.strip_prefix("path-include") {
                    rules.push((true, g.trim_start_matches(['=', ' ']).trim().to_string()));
                }
            }
        }
        DpkgExcludes { rules }
    }

    fn excluded(&self, path: &str) -> bool {
        let mut excluded = false;
        for (include, glob) in &self.rules {
            if glob_match(glob.as_bytes(), path.as_bytes()) {
                excluded = !include;
            }
        }
        excluded
    }
}

/// fnmatch(3) without flags, as dpkg uses it: `*` and `?` also match `/`.
fn glob_match(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob_match(&p[1..], s) || (!s.is_empty() && glob_match(p, &s[1..])),
        (Some(b'?'), Some(_)) => glob_match(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => glob_match(&p[1..], &s[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_excludes_follow_the_last_matching_rule() {
        let e = DpkgExcludes {
            rules: vec![
                (false, "/usr/share/doc/*".into()),
                (true, "/usr/share/doc/*/copyright".into()),
                (false, "/usr/share/man/*".into()),
            ],
        };
        assert!(e.excluded("/usr/share/man/man1/tplog.1.gz"));
        assert!(e.excluded("/usr/share/doc/tplab/README.md"));
        assert!(!e.excluded("/usr/share/doc/tplab/copyright"));
        assert!(!e.excluded("/usr/bin/tplog"));
        assert!(!DpkgExcludes { rules: vec![] }.excluded("/usr/share/man/man1/tplog.1.gz"));
    }
}

fn tempdir(what: &str) -> Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("xtask-install-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
