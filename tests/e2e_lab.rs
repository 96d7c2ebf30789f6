//! End to end, for real (root): the lab's namespaces, bridge br0 and
//! Debian's apache2 (`xtask/src/lab.rs`, included below), the real
//! `tpsniff` capturing live on br0 inside the lab namespace while curl logs
//! in from the client namespace, tcpdump recording the same traffic for
//! `--read`, and `tplog` on the access log apache2 wrote.
//!
//! Each test makes its own lab under a unique name and removes it on the way
//! out, failed or not (`LabGuard`). Without root, or without a program the
//! lab needs, a test prints `SKIPPED <test>: <why>` and passes.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// lab.rs installs packages through `crate::sys`; here `cargo xtask test`
/// has installed them already.
mod sys {
    pub fn ensure_packages(_: &[&str]) -> anyhow::Result<()> {
        Ok(())
    }
}

#[path = "../xtask/src/lab.rs"]
mod lab;

use lab::Lab;

const PASSWORD: &str = "Tr0ub4dor&3 horse";

/// Why this test cannot run here, if it cannot.
fn skip_reason() -> Option<String> {
    if !lab::is_root() {
        return Some("not root (the lab needs network namespaces and ports 80/443)".into());
    }
    if let Some(p) = lab::missing_program() {
        return Some(format!(
            "{p} is missing (cargo xtask test installs: {})",
            lab::PACKAGES.join(" ")
        ));
    }
    // A container may give root no right to make namespaces.
    static PROBE: AtomicUsize = AtomicUsize::new(0);
    let probe = format!(
        "e2eprobe{}-{}",
        std::process::id(),
        PROBE.fetch_add(1, Ordering::Relaxed)
    );
    let made = Command::new("ip").args(["netns", "add", &probe]).output();
    match made {
        Ok(o) if o.status.success() => {
            let _ = Command::new("ip").args(["netns", "del", &probe]).status();
        }
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            return Some(format!(
                "cannot make a network namespace here ({}): a container without CAP_SYS_ADMIN?",
                err.trim()
            ));
        }
        Err(e) => return Some(format!("cannot run ip: {e}")),
    }
    None
}

macro_rules! skip_unless_able {
    ($name:literal) => {
        if let Some(why) = skip_reason() {
            println!("SKIPPED {}: {why}", $name);
            eprintln!("SKIPPED {}: {why}", $name);
            return;
        }
    };
}

/// A lab that goes down when the test ends, however it ends.
struct LabGuard(Lab);

impl LabGuard {
    fn up(tag: &str) -> LabGuard {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "e2e{}{tag}{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let lab = Lab::new(&name).unwrap();
        let guard = LabGuard(lab);
        guard.0.up().expect("lab up");
        guard
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        if let Err(e) = self.0.down() {
            eprintln!("lab {} down: {e:#}", self.0.name);
        }
    }
}

/// A program running in the lab namespace, stopped (TERM, then KILL) on drop.
struct Running {
    child: Option<Child>,
    stderr: mpsc::Receiver<String>,
    stderr_seen: Vec<String>,
}

impl Running {
    /// Starts `program args` in the lab namespace with stdout to `out`, and
    /// waits until a stderr line contains `ready`.
    fn start(lab: &Lab, program: &str, args: &[&str], out: &Path, ready: &str) -> Running {
        let child = lab
            .exec(&lab.ns_lab(), program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(out).unwrap())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        let mut r = Running {
            child: Some(child),
            stderr: mpsc::channel().1,
            stderr_seen: Vec::new(),
        };
        let (tx, rx) = mpsc::channel();
        let err = r.child.as_mut().unwrap().stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        r.stderr = rx;
        let t = Instant::now();
        loop {
            match r.stderr.recv_timeout(Duration::from_millis(200)) {
                Ok(l) => {
                    let found = l.contains(ready);
                    r.stderr_seen.push(l);
                    if found {
                        return r;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("{program} ended before being ready: {:?}", r.stderr_seen)
                }
            }
            assert!(
                t.elapsed() < Duration::from_secs(15),
                "{program} not ready after 15 s: {:?}",
                r.stderr_seen
            );
        }
    }

    /// SIGTERM (what Ctrl-C or `kill` does), then its exit status and the
    /// rest of its stderr.
    fn stop(mut self) -> (ExitStatus, Vec<String>) {
        let mut child = self.child.take().unwrap();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let t = Instant::now();
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if t.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                panic!("did not exit within 10 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = std::mem::take(&mut self.stderr_seen);
        err.extend(self.stderr.try_iter());
        (status, err)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn tpsniff() -> &'static str {
    env!("CARGO_BIN_EXE_tpsniff")
}

fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// (proto, user, password, server) of every credential; (sni, version,
/// server) of every TLS session.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    creds: BTreeSet<(String, String, String, String)>,
    tls: Vec<(String, String, String)>,
    summary: Value,
}

fn seen(lines: &[Value]) -> Seen {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let creds = lines
        .iter()
        .filter(|v| v["kind"] == "credential")
        .map(|v| {
            (
                s(&v["proto"]),
                s(&v["user"]),
                s(&v["password"]),
                s(&v["server"]),
            )
        })
        .collect();
    let tls = lines
        .iter()
        .filter(|v| v["kind"] == "tls")
        .map(|v| (s(&v["sni"]), s(&v["version"]), s(&v["server"])))
        .collect();
    let summary = lines.last().cloned().unwrap_or(Value::Null);
    assert_eq!(summary["kind"], "summary", "the last line is the summary");
    Seen {
        creds,
        tls,
        summary,
    }
}

/// `tpsniff --read FILE --json`.
fn read_capture(file: &Path, dir: &Path) -> (Option<i32>, Seen) {
    let out = dir.join(format!(
        "{}.json",
        file.file_name().unwrap().to_string_lossy()
    ));
    let st = Command::new(tpsniff())
        .arg("--read")
        .arg(file)
        .arg("--json")
        .stdout(std::fs::File::create(&out).unwrap())
        .status()
        .unwrap();
    (st.code(), seen(&json_lines(&out)))
}

/// Live tpsniff (with --write) and tcpdump on br0 while `traffic` runs in
/// the client namespace. Returns (live exit code, live findings, stderr,
/// the tpsniff savefile, the tcpdump file).
fn capture_during(
    lab: &Lab,
    dir: &Path,
    extra: &[&str],
    traffic: impl FnOnce(),
) -> (Option<i32>, Seen, Vec<String>, PathBuf, PathBuf) {
    let live_out = dir.join("live.json");
    let saved = dir.join("tpsniff-write.pcap");
    let dumped = dir.join("tcpdump.pcap");
    let mut args = vec![
        "--iface",
        "br0",
        "--json",
        "--write",
        saved.to_str().unwrap(),
    ];
    args.extend(extra);
    let sniff = Running::start(lab, tpsniff(), &args, &live_out, "listening on br0");
    let dump = Running::start(
        lab,
        "tcpdump",
        &[
            "-n",
            "-U",
            "--immediate-mode",
            "-Z",
            "root",
            "-i",
            "br0",
            "-w",
            dumped.to_str().unwrap(),
            "tcp",
        ],
        &dir.join("tcpdump.out"),
        "listening on br0",
    );
    traffic();
    // Let the last ACKs and FINs reach the captures (both in immediate
    // mode: without it tcpdump holds packets for up to a second).
    std::thread::sleep(Duration::from_millis(300));
    let (st, err) = sniff.stop();
    let _ = dump.stop();
    let live = seen(&json_lines(&live_out));
    (st.code(), live, err, saved, dumped)
}

fn client_prefix() -> String {
    format!("{}:", lab::CLIENT_IP)
}

#[test]
fn live_http_login_shows_user_and_password_and_read_agrees() {
    skip_unless_able!("live_http_login_shows_user_and_password_and_read_agrees");
    let g = LabGuard::up("h");
    let lab = &g.0;
    let dir = tempfile::tempdir().unwrap();
    let (code, live, err, saved, dumped) = capture_during(lab, dir.path(), &[], || {
        let answer = lab.login(false, "alice", PASSWORD).unwrap();
        assert!(answer.contains("Welcome, alice"), "{answer}");
    });
    let want: BTreeSet<_> = [(
        "http-form".to_string(),
        "alice".to_string(),
        PASSWORD.to_string(),
        format!("{}:80", lab::GUEST_IP),
    )]
    .into();
    assert_eq!(live.creds, want, "live findings; stderr: {err:?}");
    assert!(live.tls.is_empty());
    assert_eq!(code, Some(0), "credentials found: exit 0; stderr {err:?}");
    let cap = &live.summary["capture"];
    assert_eq!(cap["iface"], "br0");
    assert!(
        cap["received"].as_u64().unwrap() >= live.summary["packets"].as_u64().unwrap(),
        "{cap}"
    );
    assert_eq!(cap["dropped"], 0, "{cap}");
    assert!(live.summary["http_requests"].as_u64().unwrap() >= 2);
    // The privileges went once the capture was open.
    assert!(
        err.iter().any(|l| l.contains("capabilities dropped")),
        "{err:?}"
    );

    // The same from what tcpdump recorded, and from tpsniff's own --write.
    for file in [&dumped, &saved] {
        let (code, offline) = read_capture(file, dir.path());
        assert_eq!(code, Some(0), "{}", file.display());
        assert_eq!(offline.creds, live.creds, "{}", file.display());
        assert!(offline.tls.is_empty());
        assert_eq!(
            offline.summary["http_requests"],
            live.summary["http_requests"]
        );
    }
    // And the client really was the lab's client.
    let text = std::fs::read_to_string(dir.path().join("live.json")).unwrap();
    assert!(text.contains(&client_prefix()), "{text}");
}

#[test]
fn live_https_login_shows_one_tls_session_and_no_password() {
    skip_unless_able!("live_https_login_shows_one_tls_session_and_no_password");
    let g = LabGuard::up("s");
    let lab = &g.0;
    let dir = tempfile::tempdir().unwrap();
    // This time root is dropped for nobody once the capture is open.
    let user: &[&str] = if lab::output(Command::new("id").arg("nobody")).is_ok() {
        &["--user", "nobody"]
    } else {
        &[]
    };
    let (code, live, err, saved, dumped) = capture_during(lab, dir.path(), user, || {
        let answer = lab.login(true, "alice", PASSWORD).unwrap();
        assert!(answer.contains("Welcome, alice"), "{answer}");
    });
    if !user.is_empty() {
        assert!(err.iter().any(|l| l.contains("now user nobody")), "{err:?}");
    }
    assert!(live.creds.is_empty(), "{:?}", live.creds);
    let server = format!("{}:443", lab::GUEST_IP);
    assert_eq!(
        live.tls,
        vec![(lab::HOST.to_string(), "TLS1.3".to_string(), server)],
        "one TLS session, its SNI and version; stderr {err:?}"
    );
    assert_eq!(code, Some(1), "no credentials: exit 1");
    assert_eq!(live.summary["credentials"], 0);
    assert_eq!(live.summary["tls_sessions"], 1);
    assert_eq!(live.summary["capture"]["dropped"], 0);
    let text = std::fs::read_to_string(dir.path().join("live.json")).unwrap();
    assert!(
        !text.contains("Tr0ub4dor"),
        "the password must not show: {text}"
    );
    for file in [&dumped, &saved] {
        let (code, offline) = read_capture(file, dir.path());
        assert_eq!(code, Some(1), "{}", file.display());
        assert!(offline.creds.is_empty());
        assert_eq!(offline.tls, live.tls, "{}", file.display());
    }
}

/// `sh -c` with LC_ALL=C: the lab's pipelines.
fn sh(script: &str) -> String {
    let o = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn tplog(args: &[&str], log: &Path) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_tplog"))
        .args(args)
        .arg(log)
        .output()
        .unwrap();
    assert!(
        o.status.code() == Some(0),
        "tplog {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn tplog_answers_the_lab_queries_on_the_log_apache2_wrote() {
    skip_unless_able!("tplog_answers_the_lab_queries_on_the_log_apache2_wrote");
    let g = LabGuard::up("l");
    let lab = &g.0;
    for (https, path) in [
        (false, "/"),
        (false, "/truc.html"),
        (true, "/truc.html"),
        (false, "/bidule.html"),
        (false, "/cgi-bin/clock"),
        (true, "/cgi-bin/clock"),
        (false, "/nope.html"),
    ] {
        lab.get(https, path).unwrap();
    }
    lab.login(false, "alice", PASSWORD).unwrap();
    lab.login(true, "bob", PASSWORD).unwrap();
    let log = lab.access_log();
    // apache2 logs a request after answering it: wait for the last line.
    let t = Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        if text.lines().count() >= 11 || t.elapsed() > Duration::from_secs(5) {
            break text;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(text.lines().count(), 11, "{text}");
    let f = log.display();
    // The window: every minute the test's requests were logged in.
    let minutes: BTreeSet<String> = text
        .lines()
        .map(|l| {
            let t = l.split('[').nth(1).unwrap();
            t[..17].to_string() // 29/Nov/2026:01:09
        })
        .collect();
    let (first, last) = (minutes.first().unwrap(), minutes.last().unwrap());
    let grep_minutes = minutes
        .iter()
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join("\\|");
    let ip = lab::CLIENT_IP;
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            format!("grep truc.html {f} | cut -d' ' -f1 | sort | uniq -c"),
            vec!["ips", "--page", "truc.html"],
        ),
        (
            format!(
                "grep bidule.html {f} | grep '{grep_minutes}' | cut -d' ' -f1 | sort | uniq -c"
            ),
            vec![
                "ips",
                "--page",
                "bidule.html",
                "--from",
                first,
                "--to",
                last,
            ],
        ),
        (
            format!("grep '{grep_minutes}' {f} | cut -d' ' -f1 | sort | uniq -c"),
            vec!["ips", "--from", first, "--to", last],
        ),
        (
            format!("grep {ip} {f} | cut -d' ' -f4 | cut -d: -f1 | tr -d '[' | sort | uniq -c"),
            vec!["days", "--ip", ip],
        ),
        (
            format!("cut -d' ' -f9 {f} | sort | uniq -c"),
            vec!["status"],
        ),
        (
            format!("cut -d' ' -f6 {f} | tr -d '\"' | sort | uniq -c"),
            vec!["methods"],
        ),
    ];
    for (pipeline, args) in &cases {
        let want = sh(pipeline);
        assert!(!want.is_empty(), "{pipeline} printed nothing");
        assert_eq!(tplog(args, &log), want, "tplog {args:?} vs {pipeline}");
    }
    // What those mean here.
    assert_eq!(
        tplog(&["ips", "--page", "truc.html"], &log),
        format!("      2 {ip}\n")
    );
    let status = tplog(&["status"], &log);
    assert!(
        status.contains("      1 404\n") && status.contains("     10 200\n"),
        "{status}"
    );
    let methods = tplog(&["methods"], &log);
    assert!(methods.contains("      2 POST\n"), "{methods}");
}

#[test]
fn lab_down_removes_everything_and_is_safe_twice() {
    skip_unless_able!("lab_down_removes_everything_and_is_safe_twice");
    let g = LabGuard::up("d");
    let lab = g.0.clone();
    assert!(lab.is_up());
    assert!(lab.status().contains("https://"), "{}", lab.status());
    // Something of ours running in the lab namespace goes too.
    let out = tempfile::NamedTempFile::new().unwrap();
    let sniff = Running::start(
        &lab,
        tpsniff(),
        &["--iface", "br0"],
        out.path(),
        "listening on br0",
    );
    lab.down().unwrap();
    lab.down().unwrap();
    assert!(!lab.is_up());
    assert!(!lab.dir.exists());
    let ns = lab::output(Command::new("ip").args(["netns", "list"])).unwrap();
    assert!(!ns.contains(&lab.name), "{ns}");
    let (status, _) = sniff.stop();
    // Stopped by the lab's TERM: it printed its summary and exited normally.
    assert_eq!(status.code(), Some(1));
    let text = std::fs::read_to_string(out.path()).unwrap();
    assert!(
        text.contains("-- summary") && text.contains("capture br0:"),
        "{text}"
    );
}

#[test]
fn list_unknown_interface_and_missing_privileges() {
    skip_unless_able!("list_unknown_interface_and_missing_privileges");
    let g = LabGuard::up("e");
    let lab = &g.0;
    let run = |args: &[&str]| {
        let o = lab
            .exec(&lab.ns_lab(), tpsniff())
            .args(args)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, out, _) = run(&["--list"]);
    assert_eq!(code, Some(0));
    for name in ["br0", "vguest", "vclient", "lo"] {
        assert!(
            out.lines().any(|l| l.starts_with(&format!("{name}\t"))),
            "{out}"
        );
    }
    let (code, _, err) = run(&["--iface", "eth9"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no interface named \"eth9\""), "{err}");
    assert!(err.contains("br0") && err.contains("vguest"), "{err}");
    // An unprivileged user: how to get the privileges.
    if Path::new("/usr/bin/setpriv").exists() {
        let (code, _, err) = run(&[]);
        assert_eq!(code, Some(2), "no input is an error: {err}");
        let o = lab
            .exec(&lab.ns_lab(), "setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                tpsniff(),
            ])
            .args(["--iface", "br0"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        if matches!(o.status.code(), Some(126 | 127)) {
            println!(
                "SKIPPED the unprivileged part: nobody cannot run {}: {err}",
                tpsniff()
            );
            return;
        }
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(
            err.contains("run as root") && err.contains("setcap cap_net_raw,cap_net_admin=eip"),
            "{err}"
        );
    }
}
