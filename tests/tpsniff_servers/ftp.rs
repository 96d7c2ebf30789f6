//! FTP against a real Debian vsftpd (standalone, from a config in a temp
//! dir on a loopback port, `ssl_enable` with a throwaway self-signed
//! certificate, TLS allowed but not forced) and a system user that exists
//! for the test only. Clients: curl in clear, curl `--ssl-reqd` (it asks
//! `AUTH SSL`) with the name `ftp.lab.test`, lftp `ftp:ssl-force` (it asks
//! `AUTH TLS`, through GnuTLS) and lftp in clear; and curl `--ssl` against a
//! second vsftpd without TLS, which refuses `AUTH`: curl logs in in clear
//! on that connection. tpsniff must report each clear login as a
//! credential and each STARTTLS control connection as a TLS session on that
//! very flow (its SNI and version), with no credential from it: the login
//! is inside TLS.

use super::*;

const PASSWORD: &str = "Ftp-Pw-31";
const SNI: &str = "ftp.lab.test";

/// A system user for the test only: vsftpd checks logins through PAM, whose
/// `vsftpd` service asks `pam_shells` for a shell from /etc/shells.
struct FtpUser(String);

impl FtpUser {
    fn add(home: &Path) -> FtpUser {
        let name = format!("tpftp{}", std::process::id() % 100_000);
        let _ = Command::new("userdel").arg(&name).output();
        run_ok(
            Command::new("useradd")
                .args(["-M", "-N", "-s", "/bin/sh", "-d"])
                .arg(home)
                .arg(&name),
        );
        let u = FtpUser(name);
        let mut chpasswd = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .spawn()
            .expect("chpasswd");
        writeln!(chpasswd.stdin.take().unwrap(), "{}:{PASSWORD}", u.0).unwrap();
        assert!(chpasswd.wait().unwrap().success());
        run_ok(Command::new("chown").arg(&u.0).arg(home));
        u
    }
}

impl Drop for FtpUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.0).output();
    }
}

/// vsftpd on `port`, its config, certificate and log in `dir`; `tls`:
/// `ssl_enable` (else it refuses `AUTH`).
fn vsftpd(dir: &Path, port: u16, tls: bool) -> Proc {
    use std::os::unix::fs::PermissionsExt;
    let d = dir.display();
    self_signed(dir, SNI);
    // vsftpd's chroot for its unprivileged parts: root's, not writable.
    std::fs::create_dir(dir.join("empty")).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Data connections on a port of their own (not captured: the control
    // connection is what STARTTLS is about).
    let pasv = free_port();
    let conf = format!(
        "listen=YES\n\
         listen_address=127.0.0.1\n\
         listen_port={port}\n\
         background=NO\n\
         anonymous_enable=NO\n\
         local_enable=YES\n\
         write_enable=NO\n\
         pam_service_name=vsftpd\n\
         secure_chroot_dir={d}/empty\n\
         seccomp_sandbox=NO\n\
         isolate=NO\n\
         isolate_network=NO\n\
         pasv_min_port={pasv}\n\
         pasv_max_port={pasv}\n\
         ssl_enable={ssl}\n\
         rsa_cert_file={d}/cert.pem\n\
         rsa_private_key_file={d}/key.pem\n\
         force_local_logins_ssl=NO\n\
         force_local_data_ssl=NO\n\
         vsftpd_log_file={d}/vsftpd.log\n\
         xferlog_enable=YES\n",
        ssl = if tls { "YES" } else { "NO" }
    );
    let path = dir.join("vsftpd.conf");
    std::fs::write(&path, conf).unwrap();
    let p = spawn(
        "vsftpd",
        Command::new("vsftpd")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_port(port);
    p
}

fn lftp(home: &Path, user: &str, port: u16, settings: &str) {
    run_ok(
        Command::new("lftp")
            .env("HOME", home)
            .args(["-u", &format!("{user},{PASSWORD}"), "-e"])
            .arg(format!(
                "set net:max-retries 1; set net:timeout 10; {settings}; ls; quit"
            ))
            .arg(format!("ftp://127.0.0.1:{port}")),
    );
}

#[test]
fn ftp_plain_logins_and_starttls_of_vsftpd() {
    skip_unless!(
        "ftp_plain_logins_and_starttls_of_vsftpd",
        "tcpdump",
        "vsftpd",
        "curl",
        "lftp",
        "openssl",
        "useradd",
        "chpasswd"
    );
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(home.join("readme.txt"), "hello\n").unwrap();
    let user = FtpUser::add(&home);
    let port = free_port();
    let _ftpd = vsftpd(dir.path(), port, true);
    // A server without TLS, for a client that asks for it but goes on in
    // clear when refused.
    let plain_dir = dir.path().join("plain");
    std::fs::create_dir(&plain_dir).unwrap();
    let plain_port = free_port();
    let _plain = vsftpd(&plain_dir, plain_port, false);
    let dump = Tcpdump::start(
        dir.path(),
        &format!("tcp port {port} or tcp port {plain_port}"),
    );
    let up = format!("{}:{PASSWORD}", user.0);
    let curl = |args: &[&str], url: &str| {
        run_ok(
            Command::new("curl")
                .args(["-sS", "--max-time", "20", "-u", &up])
                .args(args)
                .arg(url),
        )
    };
    // In clear: USER and PASS are seen.
    let out = curl(&[], &format!("ftp://127.0.0.1:{port}/readme.txt"));
    assert_eq!(out, "hello\n");
    // AUTH SSL, then the login inside TLS; the name curl asks for is SNI.
    let connect = format!("{SNI}:{port}:127.0.0.1:{port}");
    let out = curl(
        &["--ssl-reqd", "-k", "--connect-to", &connect],
        &format!("ftp://{SNI}:{port}/readme.txt"),
    );
    assert_eq!(out, "hello\n");
    // lftp: FEAT, AUTH TLS, then the login inside TLS (GnuTLS); then once
    // in clear.
    lftp(
        dir.path(),
        &user.0,
        port,
        "set ftp:ssl-force true; set ftp:ssl-protect-data true; set ssl:verify-certificate no",
    );
    lftp(dir.path(), &user.0, port, "set ftp:ssl-allow false");
    // curl --ssl: AUTH SSL and AUTH TLS refused (530), then the login in
    // clear on that same connection.
    let out = isolated(
        Command::new("curl")
            .args(["-sS", "-v", "--max-time", "20", "--ssl", "-u", &up])
            .arg(format!("ftp://127.0.0.1:{plain_port}/readme.txt")),
    )
    .output()
    .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert_eq!(out.stdout, b"hello\n");
    for l in ["> AUTH SSL", "> AUTH TLS", "< 530", "> PASS"] {
        assert!(said.contains(l), "curl --ssl: no {l:?} in\n{said}");
    }
    let pcap = dump.stop();
    let log = std::fs::read_to_string(dir.path().join("vsftpd.log")).unwrap_or_default();
    assert_eq!(log.matches("OK LOGIN").count(), 4, "{log}");
    let log = std::fs::read_to_string(plain_dir.join("vsftpd.log")).unwrap_or_default();
    assert_eq!(log.matches("OK LOGIN").count(), 1, "{log}");

    let s = Sniffed::of("ftp", dir.path(), &pcap);
    assert_eq!(
        s.seen(),
        BTreeSet::from([seen(&user.0, Some(PASSWORD), "")]),
        "{:?}",
        s.creds
    );
    // --all: every sighting; one from each clear login (curl's, lftp's,
    // and curl's after its AUTH was refused).
    assert_eq!(s.creds.len(), 3, "{:?}\n{}", s.creds, s.summary);
    let clients: BTreeSet<String> = s.creds.iter().map(|c| c["client"].to_string()).collect();
    assert_eq!(clients.len(), 3, "{:?}", s.creds);
    let refused: Vec<&Value> = s
        .creds
        .iter()
        .filter(|c| c["server"] == format!("127.0.0.1:{plain_port}"))
        .collect();
    assert_eq!(refused.len(), 1, "{:?}", s.creds);
    assert_eq!(
        s.summary["flows_by_proto"],
        serde_json::json!({"ftp": 5, "tls": 2}),
        "{}",
        s.summary
    );
    // The two STARTTLS flows: their TLS sessions on the FTP port, with the
    // name each client sent (lftp sends the address it was given).
    assert_eq!(s.tls.len(), 2, "{:?}", s.tls);
    let mut snis: Vec<&str> = s.tls.iter().map(|t| t["sni"].as_str().unwrap()).collect();
    snis.sort();
    assert_eq!(snis, ["127.0.0.1", SNI]);
    for t in &s.tls {
        assert_eq!(t["server"], format!("127.0.0.1:{port}"), "{t}");
        assert_eq!(t["version"], "TLS1.3", "{t}");
        assert_eq!(t["negotiated"], true, "{t}");
        assert_eq!(t["alpn"], serde_json::json!([]), "{t}");
        // Nothing of the login inside TLS is reported.
        assert!(
            s.creds.iter().all(|c| c["client"] != t["client"]),
            "a credential from the TLS flow {t}"
        );
    }
}
