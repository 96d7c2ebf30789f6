//! SOCKS (Debian's dante-server on a loopback port, `socksmethod:
//! username`, which checks the system's password database: the test adds a
//! user for the run and removes it after) with curl `--socks5` logging in to
//! the proxy and, through it, to an HTTP server on loopback with Basic auth:
//! both credentials must be found, the second inside the tunnel.

use super::*;

const PROXY_PW: &str = "socks-Pw-17";
const WEB_USER: &str = "webamy";
const WEB_PW: &str = "web-Pw-23";

/// A system user that exists for the test only.
struct TempUser(String);

impl TempUser {
    fn add(password: &str) -> TempUser {
        let name = format!("tpsx{}", std::process::id() % 100_000);
        run_ok(Command::new("useradd").args(["-M", "-N", "-s", "/usr/sbin/nologin", &name]));
        let u = TempUser(name);
        let mut chpasswd = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .spawn()
            .expect("chpasswd");
        writeln!(chpasswd.stdin.take().unwrap(), "{}:{password}", u.0).unwrap();
        assert!(chpasswd.wait().unwrap().success());
        u
    }
}

impl Drop for TempUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.0).output();
    }
}

/// An HTTP server on loopback answering every request with 200.
fn http_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut s = s;
            let mut buf = [0u8; 4096];
            let _ = std::io::Read::read(&mut s, &mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n",
            );
        }
    });
    port
}

#[test]
fn socks5_user_password_and_the_login_inside_the_tunnel() {
    skip_unless!(
        "socks5_user_password_and_the_login_inside_the_tunnel",
        "tcpdump",
        "danted",
        "curl",
        "useradd",
        "chpasswd"
    );
    let user = TempUser::add(PROXY_PW);
    let port = free_port();
    let web = http_server();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("danted.conf");
    std::fs::write(
        &conf,
        format!(
            "logoutput: stderr\ninternal: 127.0.0.1 port = {port}\nexternal: 127.0.0.1\n\
             socksmethod: username\nclientmethod: none\n\
             user.privileged: root\nuser.unprivileged: nobody\n\
             client pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 }}\n\
             socks pass {{ from: 127.0.0.0/8 to: 127.0.0.0/8 }}\n"
        ),
    )
    .unwrap();
    let _dante = spawn(
        "danted",
        Command::new("danted")
            .args(["-N", "1", "-f"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_port(port);
    let dump = Tcpdump::start(dir.path(), &format!("tcp port {port}"));
    let out = run_ok(
        Command::new("curl")
            .args(["-sS", "--socks5", &format!("127.0.0.1:{port}")])
            .args(["--proxy-user", &format!("{}:{PROXY_PW}", user.0)])
            .args(["-u", &format!("{WEB_USER}:{WEB_PW}")])
            .arg(format!("http://127.0.0.1:{web}/private")),
    );
    assert_eq!(out, "ok\n");
    let refused = Command::new("curl")
        .args(["-sS", "--socks5", &format!("127.0.0.1:{port}")])
        .args(["--proxy-user", &format!("{}:wrong", user.0)])
        .arg(format!("http://127.0.0.1:{web}/"))
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "a wrong proxy password is refused"
    );
    let pcap = dump.stop();
    let s = Sniffed::of("socks5", dir.path(), &pcap);
    assert_eq!(
        s.seen(),
        BTreeSet::from([
            seen(
                &user.0,
                Some(PROXY_PW),
                &format!("RFC 1929 user/password, CONNECT 127.0.0.1:{web}")
            ),
            seen(&user.0, Some("wrong"), "RFC 1929 user/password, refused"),
        ])
    );
    let inner = Sniffed::of("http-basic", dir.path(), &pcap);
    assert_eq!(
        inner.seen(),
        BTreeSet::from([seen(
            WEB_USER,
            Some(WEB_PW),
            &format!("GET 127.0.0.1:{web}/private")
        )])
    );
}
