//! `tplab serve`, the web console: its access rules over real HTTP (curl),
//! and the pages in Debian's Chromium driven by playwright-core
//! (web/tests/*.mjs), against libvirt's test driver. As root the console
//! and `tpvirt` share a private libvirtd serving the test driver, so every
//! click is also read back from outside; otherwise the console uses the
//! in-process driver and the read-back is skipped (said).
#![cfg(feature = "console")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A running `tplab serve`, stopped on drop.
struct Console {
    child: Child,
    url: String,
    base: String,
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(args: &[&str]) -> Console {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tplab"));
    c.arg("serve").args(["--listen", "127.0.0.1:0"]).args(args);
    if is_root() && !args.contains(&"--user") {
        c.args(["--user", "nobody"]);
    }
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_string();
    assert!(url.starts_with("http"), "tplab serve printed {url:?}");
    let base = url.split("/?token=").next().unwrap().to_string();
    Console { child, url, base }
}

/// `tplab serve ARGS` that must fail: its exit code and stderr.
fn serve_fails(args: &[&str]) -> (Option<i32>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_tplab"))
        .arg("serve")
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// curl, returning (status, headers, body).
fn curl(args: &[&str]) -> (u16, String, String) {
    let o = Command::new("curl")
        .args(["-s", "-k", "-D", "-", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl (Debian package curl; cargo xtask test installs it)");
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

fn cookie_of(headers: &str) -> String {
    headers
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string()
}

/// Logs in with the printed token: (cookie header, csrf token).
fn login(c: &Console) -> (String, String) {
    let (st, h, _) = curl(&[&c.url]);
    assert_eq!(st, 303, "{h}");
    let cookie = cookie_of(&h);
    let (st, _, body) = curl(&[
        "-H",
        &format!("Cookie: {cookie}"),
        &format!("{}/api/session", c.base),
    ]);
    assert_eq!(st, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    (cookie, v["csrf"].as_str().unwrap().to_string())
}

#[test]
fn access_rules_over_real_http() {
    let c = serve(&["-c", "test:///default"]);
    let origin = c.base.clone();
    // No token, no session.
    let (st, h, _) = curl(&[&format!("{}/", c.base)]);
    assert_eq!(st, 401, "{h}");
    assert!(
        h.contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{h}"
    );
    let (st, _, body) = curl(&[&format!("{}/api/session", c.base)]);
    assert_eq!(st, 401);
    assert!(body.contains("token"), "{body}");
    // The token gives a cookie that scripts cannot read and other sites do not send.
    let (st, h, _) = curl(&[&c.url]);
    assert_eq!(st, 303);
    let set = h.lines().find(|l| l.starts_with("set-cookie: ")).unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let (cookie, csrf) = login(&c);
    let ck = format!("Cookie: {cookie}");
    let (st, _, _) = curl(&["-H", &ck, &format!("{}/", c.base)]);
    assert_eq!(st, 200);
    // DNS rebinding: the right cookie with another Host is refused.
    let (st, _, body) = curl(&[
        "-H",
        &ck,
        "-H",
        "Host: evil.example:80",
        &format!("{}/api/session", c.base),
    ]);
    assert_eq!(st, 403, "{body}");
    assert!(body.contains("rebinding"), "{body}");
    // A change needs this console's Origin and the session's CSRF token.
    let action = format!("{}/api/hosts/0/domains/test", c.base);
    let post = |extra: &[&str]| {
        let mut a = vec![
            "-H",
            &ck,
            "-H",
            "content-type: application/json",
            "--data",
            r#"{"action":"suspend"}"#,
        ];
        a.extend_from_slice(extra);
        a.push(&action);
        curl(&a)
    };
    let (st, _, body) = post(&["-H", &format!("x-csrf-token: {csrf}")]);
    assert_eq!(st, 403, "no Origin: {body}");
    let (st, _, body) = post(&[
        "-H",
        "Origin: http://evil.example",
        "-H",
        &format!("x-csrf-token: {csrf}"),
    ]);
    assert_eq!(st, 403, "wrong Origin: {body}");
    let (st, _, body) = post(&["-H", &format!("Origin: {origin}")]);
    assert_eq!(st, 403, "no CSRF token: {body}");
    assert!(body.contains("CSRF"), "{body}");
    let (st, _, body) = post(&["-H", &format!("Origin: {origin}"), "-H", "x-csrf-token: 00"]);
    assert_eq!(st, 403, "wrong CSRF token: {body}");
    let (st, _, body) = post(&[
        "-H",
        &format!("Origin: {origin}"),
        "-H",
        &format!("x-csrf-token: {csrf}"),
    ]);
    assert_eq!(st, 200, "{body}");
    assert!(body.contains(r#""state":"paused""#), "{body}");
    // The same action again: the library's error, as tpvirt words it.
    let (st, _, body) = post(&[
        "-H",
        &format!("Origin: {origin}"),
        "-H",
        &format!("x-csrf-token: {csrf}"),
    ]);
    assert_eq!(st, 409, "{body}");
    assert!(body.contains("already paused"), "{body}");
    // A WebSocket needs the Origin too (cross-site WebSocket hijacking).
    let ws = format!("{}/api/hosts/0/domains/test/serial?csrf={csrf}", c.base);
    assert_eq!(ws_upgrade(&cookie, "http://evil.example", &ws).0, 403);
    // Wrong tokens: five, then even the right one waits (429).
    for _ in 0..5 {
        assert_eq!(curl(&[&format!("{}/?token=guess", c.base)]).0, 401);
    }
    let (st, _, body) = curl(&[&c.url]);
    assert_eq!(st, 429, "{body}");
}

/// A WebSocket handshake as a browser starts it, from `origin`.
fn ws_upgrade(cookie: &str, origin: &str, url: &str) -> (u16, String, String) {
    curl(&[
        "-H",
        &format!("Cookie: {cookie}"),
        "-H",
        &format!("Origin: {origin}"),
        "-H",
        "Connection: Upgrade",
        "-H",
        "Upgrade: websocket",
        "-H",
        "Sec-WebSocket-Version: 13",
        "-H",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        url,
    ])
}

/// A POST as the page makes it: session cookie, Origin and CSRF token.
fn post_json(
    c: &Console,
    cookie: &str,
    csrf: &str,
    path: &str,
    body: &str,
) -> (u16, String, String) {
    curl(&[
        "-H",
        &format!("Cookie: {cookie}"),
        "-H",
        &format!("Origin: {}", c.base),
        "-H",
        &format!("x-csrf-token: {csrf}"),
        "-H",
        "content-type: application/json",
        "--data",
        body,
        &format!("{}{path}", c.base),
    ])
}

#[test]
fn read_only_refuses_every_change_and_shows_everything() {
    let c = serve(&["-c", "test:///default", "--read-only"]);
    let (cookie, csrf) = login(&c);
    let ck = format!("Cookie: {cookie}");
    let (st, _, body) = curl(&[
        "-H",
        &ck,
        &format!("{}/api/hosts/0/domains/test/xml", c.base),
    ]);
    assert_eq!(st, 200);
    assert!(body.contains("<name>test</name>"), "{body}");
    for body in [
        r#"{"action":"destroy"}"#,
        r#"{"action":"setmem","size":"1G"}"#,
        r#"{"action":"snapshot-create","name":"s"}"#,
    ] {
        let (st, _, answer) = post_json(&c, &cookie, &csrf, "/api/hosts/0/domains/test", body);
        assert_eq!(st, 403, "{body}: {answer}");
        assert!(answer.contains("read-only"), "{answer}");
    }
    let (st, _, answer) = post_json(
        &c,
        &cookie,
        &csrf,
        "/api/hosts/0",
        r#"{"action":"define","xml":"<domain/>"}"#,
    );
    assert_eq!(st, 403, "{answer}");
    // The graphical console sends keys and clicks: closed too.
    let (st, _, answer) = ws_upgrade(
        &cookie,
        &c.base,
        &format!("{}/api/hosts/0/domains/test/vnc?csrf={csrf}", c.base),
    );
    assert_eq!(st, 403, "{answer}");
    assert!(answer.contains("read-only"), "{answer}");
}

#[test]
fn unsafe_listens_and_root_without_a_user_are_refused() {
    let (code, err) = serve_fails(&["-c", "test:///default", "--listen", "0.0.0.0:0"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("refusing to listen on 0.0.0.0:0 without TLS"),
        "{err}"
    );
    if is_root() {
        let (code, err) = serve_fails(&["-c", "test:///default"]);
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains("does not run as root") && err.contains("--user"),
            "{err}"
        );
    } else {
        eprintln!("SKIP console: the as-root refusal is checked only when run as root");
    }
}

#[test]
fn tls_with_a_self_signed_certificate_prints_its_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr");
    let mut c = Command::new(env!("CARGO_BIN_EXE_tplab"));
    c.args([
        "serve",
        "-c",
        "test:///default",
        "--listen",
        "127.0.0.1:0",
        "--self-signed",
    ]);
    if is_root() {
        c.args(["--user", "nobody"]);
    }
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let console = Console {
        base: url.trim().split("/?token=").next().unwrap().into(),
        url: url.trim().into(),
        child,
    };
    assert!(
        console.url.starts_with("https://127.0.0.1:"),
        "{}",
        console.url
    );
    let (st, h, _) = curl(&[&console.url]);
    assert_eq!(st, 303, "{h}");
    assert!(h.contains("; Secure"), "cookies are Secure under TLS: {h}");
    // The certificate served is the one whose fingerprint was printed.
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo | openssl s_client -connect {} 2>/dev/null | openssl x509 -noout -fingerprint -sha256",
            console.base.trim_start_matches("https://")
        ))
        .output()
        .unwrap();
    let seen = String::from_utf8_lossy(&o.stdout);
    let fp = seen.trim().rsplit('=').next().unwrap_or("").to_string();
    assert_eq!(fp.len(), 95, "openssl printed {seen:?}");
    let printed = std::fs::read_to_string(&log).unwrap();
    assert!(
        printed.contains(&format!("SHA-256 {fp}")),
        "printed {printed:?}, served {fp}"
    );
}

// ------------------------------------------------------------ browser

fn chromium() -> Option<&'static str> {
    Path::new("/usr/bin/chromium")
        .exists()
        .then_some("/usr/bin/chromium")
}

fn node_ready() -> Result<(), String> {
    if chromium().is_none() {
        return Err("no /usr/bin/chromium (Debian package chromium; `cargo xtask test` installs it as root)".into());
    }
    if !root().join("web/node_modules/playwright-core").exists() {
        return Err("web/node_modules has no playwright-core: run `cargo xtask web`".into());
    }
    Ok(())
}

/// Runs a browser script from web/tests with the console's URL.
fn browser(script: &str, c: &Console, env: &[(&str, &str)]) -> Output {
    let shots = root().join("target/screenshots");
    let mut cmd = Command::new("node");
    cmd.arg(format!("tests/{script}"))
        .current_dir(root().join("web"))
        .env("TPLAB_URL", &c.url)
        .env("TPVIRT", env!("CARGO_BIN_EXE_tpvirt"))
        .env("SHOTS", &shots);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    eprintln!("{out}{err}");
    // Kept beside the screenshots: the figures the scripts print.
    let _ = std::fs::write(
        shots.join(format!("{script}.{}.txt", std::process::id())),
        format!("{out}{err}"),
    );
    assert!(
        o.status.success(),
        "web/tests/{script} failed:\n{out}\n{err}"
    );
    o
}

/// A private libvirtd serving the test driver (so that the console and
/// tpvirt share its state), in its own mount namespace.
struct TestDaemon {
    dir: tempfile::TempDir,
}

impl TestDaemon {
    fn start() -> Result<TestDaemon, String> {
        if !Path::new("/usr/sbin/libvirtd").exists() {
            return Err("no /usr/sbin/libvirtd (cargo xtask virt-lab-deps installs it)".into());
        }
        let dir = tempfile::Builder::new()
            .prefix("tplab-console-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let d = dir.path();
        for sub in ["etc", "run", "lib", "cache", "log"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        std::fs::write(
            d.join("etc/libvirtd.conf"),
            "listen_tls = 0\nlisten_tcp = 0\nauth_unix_rw = \"none\"\nauth_unix_ro = \"none\"\nunix_sock_rw_perms = \"0777\"\nunix_sock_ro_perms = \"0777\"\nlog_level = 3\n",
        )
        .unwrap();
        let script = format!(
            "set -e; mkdir -p /etc/libvirt /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt; \
             mount --bind {d}/etc /etc/libvirt; mount --bind {d}/run /run/libvirt; mount --bind {d}/lib /var/lib/libvirt; \
             mount --bind {d}/cache /var/cache/libvirt; mount --bind {d}/log /var/log/libvirt; \
             exec libvirtd --daemon --pid-file {d}/libvirtd.pid",
            d = d.display()
        );
        let o = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .output()
            .unwrap();
        if !o.status.success() {
            return Err(format!(
                "libvirtd did not start: {}",
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        let t = Instant::now();
        while !d.join("run/libvirt-sock").exists() {
            if t.elapsed() > Duration::from_secs(30) {
                return Err("libvirtd made no socket in 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // A driver that fails to start stops the daemon just after it made
        // its socket (and removes it): say why, from its log.
        std::thread::sleep(Duration::from_millis(500));
        if !d.join("run/libvirt-sock").exists() {
            let log = std::fs::read_to_string(d.join("log/libvirtd.log")).unwrap_or_default();
            let errors: Vec<&str> = log.lines().filter(|l| l.contains(" error : ")).collect();
            return Err(format!("libvirtd stopped after it started:\n{}", errors.join("\n")));
        }
        Ok(TestDaemon { dir })
    }

    fn uri(&self) -> String {
        format!(
            "test+unix:///default?socket={}/run/libvirt-sock",
            self.dir.path().display()
        )
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Ok(p) = std::fs::read_to_string(self.dir.path().join("libvirtd.pid")) {
            if let Ok(pid) = p.trim().parse::<i32>() {
                // SAFETY: a signal to the daemon this test started.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
        }
    }
}

#[test]
fn machines_page_every_action_by_clicks() {
    if let Err(why) = node_ready() {
        eprintln!("SKIP console browser test: {why}");
        return;
    }
    let daemon = if is_root() {
        Some(TestDaemon::start().unwrap_or_else(|e| panic!("{e}")))
    } else {
        eprintln!("SKIP part of console browser test: not root, so no private libvirtd: the page is checked, the read-back with tpvirt is not");
        None
    };
    let uri = daemon
        .as_ref()
        .map_or("test:///default".to_string(), TestDaemon::uri);
    let c = serve(&["-c", &uri]);
    let mut env: Vec<(&str, &str)> = match &daemon {
        Some(_) => vec![("TPLAB_URI", uri.as_str())],
        None => vec![],
    };
    // Real qcow2 files for the overlay, backup and linked-clone clicks; the
    // console (nobody, as root) writes them.
    let disks = tempfile::tempdir().unwrap();
    let dir = disks.path().to_str().unwrap().to_string();
    let made = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", &format!("{dir}/base.qcow2"), "16M"])
        .status()
        .is_ok_and(|s| s.success());
    if made {
        use std::os::unix::fs::PermissionsExt;
        for d in [disks.path().to_path_buf(), disks.path().join("backup")] {
            std::fs::create_dir_all(&d).unwrap();
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        env.push(("DISKS", dir.as_str()));
    } else {
        eprintln!("SKIP part of console browser test: no qemu-img (qemu-utils) for the overlay, backup and linked clone");
    }
    let o = browser("machines.mjs", &c, &env);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("machines: every action checked"), "{out}");
    if made {
        assert!(out.contains("disks: overlay"), "{out}");
    }
    if daemon.is_some() {
        assert!(out.contains("terminal resume shown in the page"), "{out}");
    }
}

/// tplog's JSON answer on `file`.
fn tplog_json(args: &[&str], file: &Path) -> serde_json::Value {
    let o = Command::new(env!("CARGO_BIN_EXE_tplog"))
        .args(args)
        .args(["--format", "json"])
        .arg(file)
        .output()
        .unwrap();
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("tplog {args:?}: {e}"))
}

#[test]
fn logs_page_equals_tplog_and_shows_hostile_values_as_text() {
    if let Err(why) = node_ready() {
        eprintln!("SKIP console logs page: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let mut text = std::fs::read_to_string(root().join("testdata/access.log")).unwrap();
    let hostile = [
        "<script>window.__xss=1</script>",
        "\"><img src=x onerror=alert(1)>",
        "javascript:alert(document.cookie)",
    ];
    // As the log holds them (a quote escaped as Apache writes it), which is
    // how tplog reports them and the page must show them.
    let hostile: Vec<String> = hostile.iter().map(|ua| ua.replace('"', "\\\"")).collect();
    for (i, ua) in hostile.iter().enumerate() {
        text.push_str(&format!(
            "10.6.6.{i} - - [09/Feb/2014:23:00:0{i} +0100] \"GET /x.html HTTP/1.1\" 200 10 \"-\" \"{ua}\"\n"
        ));
    }
    std::fs::write(&log, text).unwrap();
    // The page must show what the CLI answers.
    let stats = tplog_json(&["stats"], &log);
    let ips = tplog_json(&["ips", "--sort", "count", "--top", "20"], &log);
    let truc = tplog_json(&["stats", "--page", "truc.html"], &log);
    let expect = serde_json::json!({
        "stats": stats,
        "ips": ips,
        "truc_requests": truc["requests"],
        "hostile": hostile,
    });
    let c = serve(&["-c", "test:///default", "--log", log.to_str().unwrap()]);
    let o = browser(
        "pages.mjs",
        &c,
        &[("MODE", "logs"), ("EXPECT", &expect.to_string()), ("LOG", log.to_str().unwrap())],
    );
    assert!(String::from_utf8_lossy(&o.stdout)
        .contains("logs: overview, IPs and the --page filter equal tplog"));
}

#[test]
fn traffic_page_shows_a_live_login_masked_and_a_tls_session() {
    if let Err(why) = node_ready() {
        eprintln!("SKIP console traffic page: {why}");
        return;
    }
    if !is_root() {
        eprintln!(
            "SKIP console traffic page: capturing lo needs root (the console then drops to nobody)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=files.lab.test",
            "-days",
            "1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let c = serve(&["-c", "test:///default", "--iface", "lo"]);
    let o = browser(
        "pages.mjs",
        &c,
        &[
            ("MODE", "traffic"),
            ("TLS_KEY", key.to_str().unwrap()),
            ("TLS_CERT", cert.to_str().unwrap()),
        ],
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("traffic: HTTP login (masked, then revealed)")
    );
}

#[test]
fn two_hundred_domains_speed_is_measured() {
    if let Err(why) = node_ready() {
        eprintln!("SKIP console speed figures: {why}");
        return;
    }
    let c = serve(&["-c", "test:///default"]);
    let o = browser("speed.mjs", &c, &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    // A figure, not a limit (the machine is shared): printed for the notes.
    assert!(
        out.contains("speed: 201 domains, page interactive"),
        "{out}"
    );
}
