//! TigerVNC's server (Debian's Xtigervnc: a password file made by
//! tigervncpasswd, VNC Authentication only, on a loopback port) with two
//! real clients, each with the right password and a wrong one: vncdotool
//! (PyPI), which speaks RFB 3.8, and vncsnapshot (Debian), which speaks
//! 3.3. Each handshake is one finding with a John the Ripper `vnc` line,
//! and John cracks each back to the password that made it. TigerVNC's own
//! viewer logs in twice more through VeNCrypt: TLSVnc (a TLS session is
//! reported) and Plain (user and password in the clear, for a user the
//! server refuses). hashcat has no
//! VNC mode, and Debian's `john` is the core version, without the `vnc`
//! format: the John is jumbo's static build from the hashcrack-jtr wheel
//! (PyPI), which `cargo xtask test` unpacks and names in `TPLAB_JOHN`.

use super::*;

/// VNC Authentication uses 8 characters at most.
const PASSWORD: &str = "Vnc-pw12";
const WRONG: &str = "wrong-pw";
/// VeNCrypt Plain's password (no length limit).
const PLAIN: &str = "Plain-Pw-99";
const PLAIN_DETAIL: &str =
    "RFB 3.8, VeNCrypt Plain failed: Authentication failure: invalid password or username";

/// A display number no X server holds.
fn free_display() -> u32 {
    (40..200)
        .find(|n| {
            !Path::new(&format!("/tmp/.X{n}-lock")).exists()
                && !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
        })
        .expect("a free X display number")
}

/// A VNC password file (DES-obfuscated, as vncpasswd writes it).
fn passwd_file(dir: &Path, name: &str, password: &str) -> PathBuf {
    let out = Command::new("tigervncpasswd")
        .arg("-f")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin
                .take()
                .expect("piped")
                .write_all(format!("{password}\n").as_bytes())?;
            c.wait_with_output()
        })
        .expect("run tigervncpasswd");
    assert!(out.status.success() && out.stdout.len() == 8, "{out:?}");
    let f = dir.join(name);
    std::fs::write(&f, &out.stdout).unwrap();
    f
}

/// vncdotool with a password: whether it logged in (it exits 0 either
/// way; the screenshot is only written when it did).
fn vncdo(vncdo: &str, dir: &Path, port: u16, password: &str) -> bool {
    let shot = dir.join(format!("vncdo-{password}.png"));
    let out = isolated(Command::new("timeout").args(["30", vncdo]))
        .args(["-s", &format!("127.0.0.1::{port}"), "-p", password])
        .arg("capture")
        .arg(&shot)
        .output()
        .expect("run vncdo");
    assert!(out.status.success(), "{out:?}");
    shot.exists()
}

/// vncsnapshot (RFB 3.3) with a password file: whether it logged in.
fn vncsnapshot(dir: &Path, port: u16, passwd: &Path) -> bool {
    let shot = dir.join("snapshot.jpg");
    let _ = std::fs::remove_file(&shot);
    let st = isolated(Command::new("timeout").args(["30", "vncsnapshot"]))
        // Raw encoding and a blank screen accepted: it saves at once.
        .args(["-quiet", "-allowblank", "-encodings", "raw", "-passwd"])
        .arg(passwd)
        .arg(format!("127.0.0.1::{port}"))
        .arg(&shot)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run vncsnapshot");
    st.success() && shot.exists()
}

/// TigerVNC's viewer with these security types, on the server's own X
/// display (it needs one), `VNC_USERNAME`/`VNC_PASSWORD` for its prompts;
/// stopped after `secs` (it stays connected).
fn viewer(display: u32, port: u16, types: &str, user: &str, password: &str, secs: u32) {
    let _ = isolated(Command::new("timeout").arg(secs.to_string()))
        .arg("xtigervncviewer")
        .args(["-SecurityTypes", types])
        .arg(format!("127.0.0.1::{port}"))
        .env("DISPLAY", format!(":{display}"))
        .env("VNC_USERNAME", user)
        .env("VNC_PASSWORD", password)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run xtigervncviewer");
}

#[test]
fn tigervnc_auth_from_vncdotool_and_vncsnapshot_cracks_with_john() {
    let (vncdo_bin, john) = (
        tool("TPLAB_VNCDO", "sniff-venv/bin/vncdo"),
        tool("TPLAB_JOHN", "john-jumbo/john.exe"),
    );
    skip_unless!(
        "tigervnc_auth_from_vncdotool_and_vncsnapshot_cracks_with_john",
        "tcpdump",
        "Xtigervnc",
        "tigervncpasswd",
        "vncsnapshot",
        "xtigervncviewer",
        vncdo_bin.as_str(),
        john.as_str()
    );
    let dir = tempfile::tempdir().unwrap();
    let (port, display) = (free_port(), free_display());
    let passwd = passwd_file(dir.path(), "passwd", PASSWORD);
    let wrong = passwd_file(dir.path(), "wrong", WRONG);
    let _server = spawn(
        "Xtigervnc",
        Command::new("Xtigervnc")
            .arg(format!(":{display}"))
            .args(["-rfbport", &port.to_string(), "-localhost", "-rfbauth"])
            .arg(&passwd)
            // VeNCrypt's TLSVnc and Plain too, for TigerVNC's own viewer;
            // Plain for a user PAM does not know (refused, but sent).
            .args([
                "-SecurityTypes",
                "VncAuth,TLSVnc,Plain",
                "-PlainUsers",
                "tester",
            ])
            .args(["-geometry", "64x48"])
            .args(["-nolisten", "tcp", "-BlacklistThreshold", "100"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_port(port);
    let dump = Tcpdump::start(dir.path(), &format!("tcp port {port}"));
    assert!(vncdo(&vncdo_bin, dir.path(), port, PASSWORD));
    assert!(!vncdo(&vncdo_bin, dir.path(), port, WRONG), "refused");
    assert!(vncsnapshot(dir.path(), port, &passwd));
    assert!(!vncsnapshot(dir.path(), port, &wrong), "refused");
    viewer(display, port, "TLSVnc", "", PASSWORD, 4);
    viewer(display, port, "Plain", "tester", PLAIN, 10);
    let pcap = dump.stop();
    let john_dir = dir.path().join("john");
    let s = Sniffed::with_args(
        "vnc",
        dir.path(),
        &pcap,
        &["--john", john_dir.to_str().unwrap()],
    );
    assert_eq!(
        s.seen(),
        BTreeSet::from([
            seen("-", None, "RFB 3.8, VNC authentication accepted"),
            seen(
                "-",
                None,
                "RFB 3.8, VNC authentication failed: Authentication failure"
            ),
            seen("-", None, "RFB 3.3, VNC authentication accepted"),
            seen("-", None, "RFB 3.3, VNC authentication failed"),
            seen("tester", Some(PLAIN), PLAIN_DETAIL),
        ])
    );
    assert_eq!(s.creds.len(), 5, "one finding per handshake");
    // The TLSVnc login: a TLS session (the password inside not visible).
    assert_eq!(s.tls.len(), 1, "{:?}", s.tls);
    assert_eq!(s.tls[0]["server"], format!("127.0.0.1:{port}"));
    assert_eq!(s.tls[0]["negotiated"], true, "{}", s.tls[0]);
    // Anonymous Diffie-Hellman, which TLS 1.3 does not have.
    assert_eq!(s.tls[0]["version"], "TLS1.2", "{}", s.tls[0]);
    // The challenge/response findings in capture order: the logins as made.
    let vnc_auth: Vec<&Value> = s.creds.iter().filter(|c| !c["hash"].is_null()).collect();
    for c in &vnc_auth {
        assert_eq!(c["hashcat_mode"], Value::Null, "{c}");
        assert_eq!(c["john_format"], "vnc", "{c}");
    }
    let lines: Vec<&str> = vnc_auth
        .iter()
        .map(|c| c["hash"].as_str().unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        std::fs::read_to_string(john_dir.join("vnc.txt")).unwrap(),
        lines.iter().map(|l| format!("{l}\n")).collect::<String>()
    );
    assert!(!s.hash_dir.join("vnc.txt").exists(), "not a hashcat file");
    for (n, (line, pw)) in lines
        .iter()
        .zip([PASSWORD, WRONG, PASSWORD, WRONG])
        .enumerate()
    {
        john_cracks(&john, "vnc", dir.path(), n, line, "?", pw);
    }
}
