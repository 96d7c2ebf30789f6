//! Mail protocols against a real Debian dovecot (IMAP, POP3 and SMTP via
//! its submission service), started by this test with its own config in a
//! temp dir on free loopback ports. curl logs in with SASL CRAM-MD5,
//! sends OAuth bearer tokens (XOAUTH2, OAUTHBEARER), and does STARTTLS; tpsniff must
//! report the user, a hashcat line that cracks to the password, the token,
//! and the TLS session on the STARTTLS flow (its SNI and version).

use super::*;

const USER: &str = "mailamy";
const PASSWORD: &str = "Cram-Pw-42";
const TOKEN: &str = "ya29.lab-bearer-token";
const SNI: &str = "mail.lab.test";

struct Dovecot {
    _proc: Proc,
    imap: u16,
    pop3: u16,
    smtp: u16,
}

/// A throwaway self-signed certificate for STARTTLS.
fn cert(dir: &Path) {
    run_ok(
        Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", &format!("/CN={SNI}"), "-keyout"])
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem")),
    );
}

/// The SMTP server dovecot's submission service relays to (it connects
/// once a client has logged in): says yes to everything.
fn relay() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut w = s.try_clone().unwrap();
                let _ = w.write_all(b"220 relay ESMTP\r\n");
                for line in BufReader::new(s).lines() {
                    let Ok(line) = line else { break };
                    let up = line.to_ascii_uppercase();
                    let reply: &[u8] = if up.starts_with("EHLO") {
                        b"250-relay\r\n250 8BITMIME\r\n"
                    } else if up.starts_with("QUIT") {
                        b"221 bye\r\n"
                    } else {
                        b"250 ok\r\n"
                    };
                    if w.write_all(reply).is_err() || up.starts_with("QUIT") {
                        break;
                    }
                }
            });
        }
    });
    port
}

fn dovecot(dir: &Path) -> Dovecot {
    use std::os::unix::fs::PermissionsExt;
    let (imap, pop3, smtp) = (free_port(), free_port(), free_port());
    let relay = relay();
    cert(dir);
    // The login and mail processes run as dovecot's users: they read the
    // passwd file and write the home directories.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = dir.join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777)).unwrap();
    // PLAIN scheme: dovecot derives what CRAM-MD5 needs from it. (Debian's
    // dovecot 2.3 has no NTLM mechanism: `Unknown authentication mechanism`.)
    std::fs::write(dir.join("passwd"), format!("{USER}:{{PLAIN}}{PASSWORD}\n")).unwrap();
    let d = dir.display();
    let conf = format!(
        r#"base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap pop3 submission
listen = 127.0.0.1
hostname = {SNI}
first_valid_uid = 1
ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5 xoauth2 oauthbearer
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/passwd
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={d}/home/%u
}}
mail_location = maildir:~/Maildir
submission_relay_host = 127.0.0.1
submission_relay_port = {relay}
service imap-login {{
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = {smtp}
  }}
}}
"#
    );
    let path = dir.join("dovecot.conf");
    std::fs::write(&path, conf).unwrap();
    let proc = spawn(
        "dovecot",
        Command::new("dovecot").arg("-F").arg("-c").arg(&path),
    );
    for p in [imap, pop3, smtp] {
        wait_port(p);
    }
    Dovecot {
        _proc: proc,
        imap,
        pop3,
        smtp,
    }
}

fn curl(args: &[&str], url: &str) -> std::process::Output {
    isolated(
        Command::new("curl")
            .args(["-sS", "--max-time", "20"])
            .args(args)
            .arg(url),
    )
    .output()
    .expect("run curl")
}

fn curl_ok(args: &[&str], url: &str) {
    let out = curl(args, url);
    assert!(
        out.status.success(),
        "curl {args:?} {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn dovecot_cram_md5_oauth_and_starttls() {
    skip_unless!(
        "dovecot_cram_md5_oauth_and_starttls",
        "tcpdump",
        "curl",
        "dovecot",
        "openssl"
    );
    let dir = tempfile::tempdir().unwrap();
    let dc = dovecot(dir.path());
    let dump = Tcpdump::start(
        dir.path(),
        &format!(
            "tcp port {} or tcp port {} or tcp port {}",
            dc.imap, dc.pop3, dc.smtp
        ),
    );
    let up = format!("{USER}:{PASSWORD}");
    let imap = format!("imap://127.0.0.1:{}/", dc.imap);
    let pop3 = format!("pop3://127.0.0.1:{}/", dc.pop3);
    // SMTP without a message: curl authenticates, then sends NOOP (`-X`).
    let smtp = format!("smtp://127.0.0.1:{}/lab", dc.smtp);
    for (url, extra) in [(&imap, None), (&pop3, None), (&smtp, Some("NOOP"))] {
        let mut args = vec!["-u", &up, "--login-options", "AUTH=CRAM-MD5"];
        if let Some(x) = extra {
            args.extend(["-X", x]);
        }
        curl_ok(&args, url);
    }
    // OAuth: dovecot has no oauth2 passdb here and refuses the token, but
    // curl has sent it.
    for (mech, url) in [("XOAUTH2", &smtp), ("OAUTHBEARER", &imap)] {
        let out = curl(
            &[
                "-u",
                &format!("{USER}:"),
                "--oauth2-bearer",
                TOKEN,
                "--login-options",
                &format!("AUTH={mech}"),
            ],
            url,
        );
        assert_eq!(out.status.code(), Some(67), "{mech}: login denied");
    }
    // STARTTLS before a PLAIN login: the login is inside TLS, the session
    // itself (SNI, version) is what tpsniff reports.
    let connect = format!("{SNI}:{0}:127.0.0.1:{0}", dc.imap);
    curl_ok(
        &["--ssl-reqd", "-k", "--connect-to", &connect, "-u", &up],
        &format!("imap://{SNI}:{}/", dc.imap),
    );
    let pcap = dump.stop();
    let log = std::fs::read_to_string(dir.path().join("dovecot.log")).unwrap_or_default();

    let s = Sniffed::of("imap", dir.path(), &pcap);
    let cram = |s: &Sniffed, what: &str| {
        let c: Vec<&Value> = s
            .creds
            .iter()
            .filter(|c| c["detail"] == "CRAM-MD5")
            .collect();
        assert_eq!(c.len(), 1, "{what}: {:?}\n{log}", s.creds);
        assert_eq!(c[0]["user"], USER);
        assert_eq!(c[0]["hashcat_mode"], 10200);
        assert!(c[0]["password"].is_null());
        assert!(c[0]["hash"].as_str().unwrap().starts_with("$cram_md5$"));
        crack_all(&s.hash_dir, 10200, PASSWORD);
    };
    cram(&s, "imap");
    let oauth = |s: &Sniffed, what: &str| {
        let c: Vec<&Value> = s
            .creds
            .iter()
            .filter(|c| c["detail"] == "OAuth bearer token")
            .collect();
        assert_eq!(c.len(), 1, "{what}: {:?}", s.creds);
        assert_eq!(c[0]["user"], USER);
        assert_eq!(c[0]["password"], TOKEN);
    };
    oauth(&s, "imap OAUTHBEARER");
    assert_eq!(s.creds.len(), 2, "CRAM-MD5 and OAUTHBEARER: {:?}", s.creds);
    // The STARTTLS flow: its TLS session with the name curl asked for.
    let tls: Vec<&Value> = s.tls.iter().filter(|t| t["sni"] == SNI).collect();
    assert_eq!(tls.len(), 1, "{:?}", s.tls);
    assert!(tls[0]["server"]
        .as_str()
        .unwrap()
        .ends_with(&format!(":{}", dc.imap)));
    assert!(
        tls[0]["version"].as_str().unwrap().starts_with("TLS1."),
        "{}",
        tls[0]
    );
    assert_eq!(s.summary["flows_by_proto"]["tls"], 1, "{}", s.summary);

    let dir_pop = dir.path().join("pop3");
    std::fs::create_dir(&dir_pop).unwrap();
    let s = Sniffed::of("pop3", &dir_pop, &pcap);
    cram(&s, "pop3");
    assert_eq!(s.creds.len(), 1, "{:?}", s.creds);
    let dir_smtp = dir.path().join("smtp");
    std::fs::create_dir(&dir_smtp).unwrap();
    let s = Sniffed::of("smtp", &dir_smtp, &pcap);
    cram(&s, "smtp");
    oauth(&s, "smtp XOAUTH2");
    assert_eq!(s.creds.len(), 2, "CRAM-MD5 and XOAUTH2: {:?}", s.creds);
}
