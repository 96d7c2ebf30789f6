//! tpsniff on traffic from real servers: each test starts a Debian server
//! on loopback (a free port, no DNS lookups), records with
//! `tcpdump -n -i lo -w` while a real client logs in with a known password,
//! then runs the real `tpsniff --read` on the recording. It must find
//! exactly the credentials used, and every crackable line it writes with
//! `--hashcat DIR` must be cracked back to the password by hashcat (on the
//! CPU, through pocl) with a one-word wordlist.
//!
//! Needs root (tcpdump on lo) and the servers, clients and hashcat that
//! `cargo xtask test` installs; otherwise each test prints
//! `SKIPPED <test>: <why>` and passes.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn have(program: &str) -> bool {
    let p = Path::new(program);
    if p.is_absolute() {
        return p.exists();
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).exists()))
        .unwrap_or(false)
        || ["/usr/sbin", "/sbin"]
            .iter()
            .any(|d| Path::new(d).join(program).exists())
}

/// Why a test needing `programs` cannot run here, if it cannot.
fn skip_reason(programs: &[&str]) -> Option<String> {
    if !is_root() {
        return Some("not root (tcpdump needs to capture on lo)".into());
    }
    let missing: Vec<&str> = programs.iter().copied().filter(|p| !have(p)).collect();
    if !missing.is_empty() {
        return Some(format!(
            "missing {} (cargo xtask test installs them as root)",
            missing.join(", ")
        ));
    }
    None
}

macro_rules! skip_unless {
    ($name:literal, $($prog:expr),+) => {
        if let Some(why) = skip_reason(&[$($prog),+]) {
            println!("SKIPPED {}: {why}", $name);
            eprintln!("SKIPPED {}: {why}", $name);
            return;
        }
    };
}

/// A free TCP port on 127.0.0.1 (bound then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A free UDP port on 127.0.0.1.
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A command whose process inherits no descriptor beyond stdio (cargo may
/// run under a shared `flock`: a server that forked workers must not keep
/// that lock held) and leads its own process group (so that its workers
/// are stopped with it).
fn isolated(cmd: &mut Command) -> &mut Command {
    // SAFETY: only an async-signal-safe system call between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            Ok(())
        });
    }
    cmd.process_group(0)
}

/// A server and its process group: SIGTERM, then SIGKILL after 3 s, when
/// dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let group = -(self.0.id() as i32);
        // SAFETY: kill(2) on the group this test created.
        unsafe { libc::kill(group, libc::SIGTERM) };
        let t = Instant::now();
        while self.0.try_wait().ok().flatten().is_none() && t.elapsed() < Duration::from_secs(3) {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

fn spawn(name: &'static str, cmd: &mut Command) -> Proc {
    let c = isolated(cmd)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    Proc(c)
}

/// `tcpdump -n -i lo -U -w FILE FILTER`, waited for until it listens.
struct Tcpdump {
    proc: Proc,
    file: PathBuf,
    /// The drain thread of its stderr, which gives the lines at the end.
    stderr: std::thread::JoinHandle<Vec<String>>,
}

impl Tcpdump {
    fn start(dir: &Path, filter: &str) -> Tcpdump {
        Tcpdump::start_in(dir, None, "lo", filter)
    }

    /// The same on `iface` of network namespace `netns` (an empty filter:
    /// every packet).
    fn start_in(dir: &Path, netns: Option<&str>, iface: &str, filter: &str) -> Tcpdump {
        let file = dir.join(format!("{iface}.pcap"));
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "tcpdump"]);
                c
            }
            None => Command::new("tcpdump"),
        };
        let mut child = isolated(&mut cmd)
            // A 64 MiB ring (-B, KiB): the default 2 MiB holds some 30
            // whole frames of lo's 64 KiB MTU, and a burst (a multi-line
            // FTP reply) while tcpdump waits for a loaded CPU was lost.
            .args(["-n", "-i", iface, "-U", "--immediate-mode", "-B", "65536"])
            .args(["-s", "0", "-w"])
            .arg(&file)
            .args(filter.split(' ').filter(|w| !w.is_empty()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tcpdump");
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let t = Instant::now();
        while !line.contains("listening on") {
            line.clear();
            if err.read_line(&mut line).unwrap_or(0) == 0 || t.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                panic!("tcpdump did not start: {line}");
            }
        }
        // Keep draining its stderr so that it never blocks.
        let stderr = std::thread::spawn(move || err.lines().map_while(Result::ok).collect());
        Tcpdump {
            proc: Proc(child),
            file,
            stderr,
        }
    }

    /// Stops it (SIGTERM: it writes what it holds) and gives the file.
    fn stop(mut self) -> PathBuf {
        // It writes each packet as it reads it (-U): once the file has not
        // grown for 300 ms it has caught up with the kernel (a loaded
        // machine delays it, and what it has not read by SIGTERM is lost).
        let size = |f: &Path| std::fs::metadata(f).map_or(0, |m| m.len());
        let (t, mut last, mut still) = (Instant::now(), size(&self.file), Instant::now());
        while still.elapsed() < Duration::from_millis(300) && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(50));
            let now = size(&self.file);
            if now != last {
                (last, still) = (now, Instant::now());
            }
        }
        // SAFETY: kill(2) on the child this test started.
        unsafe { libc::kill(self.proc.0.id() as i32, libc::SIGTERM) };
        let _ = self.proc.0.wait();
        // Packets it lost would make any finding missing: say so plainly.
        let said = self.stderr.join().unwrap_or_default();
        for l in &said {
            if let Some(n) = l.strip_suffix(" packets dropped by kernel") {
                assert_eq!(n.trim(), "0", "tcpdump lost packets: {said:?}");
            }
        }
        self.file.clone()
    }
}

/// What `tpsniff --json --hashcat DIR --read FILE` reported.
struct Sniffed {
    creds: Vec<Value>,
    tls: Vec<Value>,
    summary: Value,
    hash_dir: PathBuf,
    /// Every finding's kind and client, in the order tpsniff wrote them.
    order: Vec<(String, Value)>,
}

impl Sniffed {
    fn of(proto: &str, dir: &Path, pcap: &Path) -> Sniffed {
        Sniffed::with_args(proto, dir, pcap, &[])
    }

    /// The same with more options (`--radius-secret S`).
    fn with_args(proto: &str, dir: &Path, pcap: &Path, args: &[&str]) -> Sniffed {
        let hash_dir = dir.join("hashes");
        let out = Command::new(env!("CARGO_BIN_EXE_tpsniff"))
            .args(args)
            .args(["--json", "--all", "--hashcat"])
            .arg(&hash_dir)
            .arg("--read")
            .arg(pcap)
            .output()
            .expect("run tpsniff");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let objs: Vec<Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l:?}: {e}")))
            .collect();
        let summary = objs.last().expect("a summary").clone();
        assert_eq!(summary["kind"], "summary");
        assert!(summary["error"].is_null(), "{}", summary["error"]);
        assert_eq!(
            summary["parse_errors"],
            serde_json::json!({}),
            "real traffic parses cleanly"
        );
        let order = objs
            .iter()
            .map(|o| {
                (
                    o["kind"].as_str().unwrap_or("").to_string(),
                    o["client"].clone(),
                )
            })
            .collect();
        let tls = objs
            .iter()
            .filter(|o| o["kind"] == "tls")
            .cloned()
            .collect();
        let creds = objs
            .into_iter()
            .filter(|o| o["kind"] == "credential" && o["proto"] == proto)
            .collect();
        Sniffed {
            creds,
            tls,
            summary,
            hash_dir,
            order,
        }
    }

    /// Where tpsniff wrote its first finding of `kind` from `client`.
    fn position(&self, kind: &str, client: &Value) -> Option<usize> {
        self.order
            .iter()
            .position(|(k, c)| k == kind && c == client)
    }

    /// Distinct (user, password, detail) of the credentials.
    fn seen(&self) -> BTreeSet<(String, Option<String>, String)> {
        self.creds
            .iter()
            .map(|c| {
                (
                    c["user"].as_str().unwrap_or("-").to_string(),
                    c["password"].as_str().map(String::from),
                    c["detail"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }
}

fn seen(u: &str, p: Option<&str>, d: &str) -> (String, Option<String>, String) {
    (u.into(), p.map(String::from), d.into())
}

/// A tool `cargo xtask test` puts under target/ (and names in `var`).
fn tool(var: &str, under_target: &str) -> String {
    std::env::var(var)
        .unwrap_or_else(|_| format!("{}/target/{under_target}", env!("CARGO_MANIFEST_DIR")))
}

/// John the Ripper (`--format=FORMAT`) on one line with a one-word
/// wordlist: it must crack it, `--show` printing `login:password`.
fn john_cracks(
    john: &str,
    format: &str,
    dir: &Path,
    n: usize,
    line: &str,
    login: &str,
    password: &str,
) {
    let d = dir.join(format!("john-{format}-{n}"));
    std::fs::create_dir_all(&d).unwrap();
    let (hashes, words, pot) = (d.join("hashes"), d.join("words"), d.join("john.pot"));
    std::fs::write(&hashes, format!("{line}\n")).unwrap();
    std::fs::write(&words, format!("{password}\n")).unwrap();
    let out = isolated(Command::new(john).env("OMP_NUM_THREADS", "1"))
        .args([&format!("--format={format}"), "--no-log"])
        .arg(format!("--wordlist={}", words.display()))
        .arg(format!("--pot={}", pot.display()))
        .arg(format!("--session={}", d.join("session").display()))
        .arg(&hashes)
        .output()
        .expect("run john");
    let show = run_ok(
        Command::new(john)
            .args(["--show", &format!("--format={format}")])
            .arg(format!("--pot={}", pot.display()))
            .arg(&hashes),
    );
    assert!(
        show.lines().any(|l| l == format!("{login}:{password}"))
            && show.contains("1 password hash cracked, 0 left"),
        "john must crack {line} to {password}\n--show: {show}\nrun: {out:?}"
    );
}

/// hashcat on `DIR/MODE.txt` with a wordlist of one word: every line must
/// crack to `password`.
fn crack_all(dir: &Path, mode: u32, password: &str) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let hashes = dir.join(format!("{mode}.txt"));
    let lines: BTreeSet<String> = std::fs::read_to_string(&hashes)
        .unwrap_or_else(|e| panic!("{}: {e}", hashes.display()))
        .lines()
        .map(str::to_ascii_lowercase)
        .collect();
    assert!(!lines.is_empty());
    if !have("hashcat") {
        println!(
            "hashcat missing: {} lines of mode {mode} not checked",
            lines.len()
        );
        return;
    }
    let words = dir.join(format!("words-{mode}.txt"));
    std::fs::File::create(&words)
        .and_then(|mut f| writeln!(f, "{password}"))
        .unwrap();
    let session = format!(
        "tpsniff-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let out = Command::new("hashcat")
        .args([
            "-m",
            &mode.to_string(),
            "-a",
            "0",
            "--potfile-disable",
            "--quiet",
        ])
        .args(["--session", &session])
        .arg(&hashes)
        .arg(&words)
        .output()
        .expect("run hashcat");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let cracked: BTreeSet<String> = stdout
        .lines()
        .filter_map(|l| l.strip_suffix(&format!(":{password}")))
        // hashcat prints NetNTLM user names upper-cased.
        .map(str::to_ascii_lowercase)
        .collect();
    assert_eq!(
        cracked,
        lines,
        "hashcat -m {mode} must crack every line to the password\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run_ok(cmd: &mut Command) -> String {
    let out = isolated(cmd)
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A throwaway self-signed certificate for `cn`: `dir/cert.pem` and
/// `dir/key.pem`.
fn self_signed(dir: &Path, cn: &str) {
    run_ok(
        Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", &format!("/CN={cn}"), "-keyout"])
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem")),
    );
}

fn wait_port(port: u16) {
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "port {port} never opened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[path = "tpsniff_servers/ftp.rs"]
mod ftp;
#[path = "tpsniff_servers/http_digest.rs"]
mod http_digest;
#[path = "tpsniff_servers/ipfrag.rs"]
mod ipfrag;
#[path = "tpsniff_servers/irc.rs"]
mod irc;
#[path = "tpsniff_servers/kerberos.rs"]
mod kerberos;
#[path = "tpsniff_servers/ldap.rs"]
mod ldap;
#[path = "tpsniff_servers/mail.rs"]
mod mail;
#[path = "tpsniff_servers/mqtt.rs"]
mod mqtt;
#[path = "tpsniff_servers/mssql.rs"]
mod mssql;
#[path = "tpsniff_servers/mysql.rs"]
mod mysql;
#[path = "tpsniff_servers/ntlm.rs"]
mod ntlm;
#[path = "tpsniff_servers/postgres.rs"]
mod postgres;
#[path = "tpsniff_servers/radius.rs"]
mod radius;
#[path = "tpsniff_servers/redis.rs"]
mod redis;
#[path = "tpsniff_servers/sip.rs"]
mod sip;
#[path = "tpsniff_servers/smb.rs"]
mod smb;
#[path = "tpsniff_servers/snmp.rs"]
mod snmp;
#[path = "tpsniff_servers/socks.rs"]
mod socks;
#[path = "tpsniff_servers/vnc.rs"]
mod vnc;
