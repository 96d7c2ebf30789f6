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
    self_signed(dir, SNI);
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
        wait_greeting(p);
    }
    Dovecot {
        _proc: proc,
        imap,
        pop3,
        smtp,
    }
}

/// Waits until the service on `port` greets a client. A bare connect is not
/// enough: dovecot's login process may greet that probe only later, once a
/// capture has started (a flow without its handshake in the recording).
fn wait_greeting(port: u16) {
    wait_port(port);
    let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    assert!(line.contains("ready"), "port {port} greeted {line:?}");
    // The probe wait_port made was accepted first and is greeted by now.
    std::thread::sleep(Duration::from_millis(200));
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

/// Python's smtplib, imaplib and poplib (the standard library of Debian's
/// python3): on each protocol a login with a wrong password in clear
/// (refused), then STARTTLS (SMTP, IMAP) or STLS (POP3) with `sni` as the
/// server name and one ALPN protocol offered, then the right login inside
/// TLS. Each client is given the name but connects to 127.0.0.1 (no
/// lookup); SMTP's EHLO name is given too (else smtplib looks its own up).
const LOGIN_THEN_STARTTLS: &str = r#"
import imaplib, poplib, smtplib, socket, ssl, sys
imap_port, pop3_port, smtp_port = map(int, sys.argv[1:4])
user, wrong, good, sni = sys.argv[4:8]

def ctx(alpn):
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    c.set_alpn_protocols([alpn])
    return c

def connect(port, timeout):
    return socket.create_connection(("127.0.0.1", port), timeout)

class SMTP(smtplib.SMTP):
    def _get_socket(self, host, port, timeout):
        return connect(port, timeout)

class IMAP(imaplib.IMAP4):
    def _create_socket(self, timeout):
        return connect(self.port, timeout)

class POP3(poplib.POP3):
    def _create_socket(self, timeout):
        return connect(self.port, timeout)

s = SMTP(sni, smtp_port, local_hostname="client.lab", timeout=20)
s.ehlo()
s.user, s.password = user, wrong
try:
    s.auth("PLAIN", s.auth_plain)
    sys.exit("smtp: the wrong password was accepted")
except smtplib.SMTPAuthenticationError:
    pass
s.starttls(context=ctx("smtp"))
s.ehlo()
s.login(user, good)
s.noop()
s.quit()

i = IMAP(sni, imap_port, timeout=20)
try:
    i.login(user, wrong)
    sys.exit("imap: the wrong password was accepted")
except imaplib.IMAP4.error:
    pass
i.starttls(ssl_context=ctx("imap"))
i.login(user, good)
i.logout()

p = POP3(sni, pop3_port, timeout=20)
p.user(user)
try:
    p.pass_(wrong)
    sys.exit("pop3: the wrong password was accepted")
except poplib.error_proto:
    pass
p.stls(context=ctx("pop3"))
p.user(user)
p.pass_(good)
p.quit()
"#;

#[test]
fn dovecot_login_in_clear_then_starttls_on_the_same_flow() {
    skip_unless!(
        "dovecot_login_in_clear_then_starttls_on_the_same_flow",
        "tcpdump",
        "dovecot",
        "openssl",
        "/usr/bin/python3"
    );
    const WRONG: &str = "Clear-Guess-7";
    let dir = tempfile::tempdir().unwrap();
    let dc = dovecot(dir.path());
    let script = dir.path().join("login_then_starttls.py");
    std::fs::write(&script, LOGIN_THEN_STARTTLS).unwrap();
    let dump = Tcpdump::start(
        dir.path(),
        &format!(
            "tcp port {} or tcp port {} or tcp port {}",
            dc.imap, dc.pop3, dc.smtp
        ),
    );
    run_ok(Command::new("/usr/bin/python3").arg(&script).args([
        &dc.imap.to_string(),
        &dc.pop3.to_string(),
        &dc.smtp.to_string(),
        USER,
        WRONG,
        PASSWORD,
        SNI,
    ]));
    let pcap = dump.stop();
    let log = std::fs::read_to_string(dir.path().join("dovecot.log")).unwrap_or_default();
    for (proto, port) in [("smtp", dc.smtp), ("imap", dc.imap), ("pop3", dc.pop3)] {
        let d = dir.path().join(proto);
        std::fs::create_dir(&d).unwrap();
        let s = Sniffed::of(proto, &d, &pcap);
        assert_eq!(
            s.summary["flows_by_proto"],
            serde_json::json!({"imap": 1, "pop3": 1, "smtp": 1, "tls": 3}),
            "{}",
            s.summary
        );
        assert_eq!(s.tls.len(), 3, "{:?}", s.tls);
        // The login sent in clear, once; the one inside TLS not at all.
        assert_eq!(
            s.seen(),
            BTreeSet::from([seen(USER, Some(WRONG), "")]),
            "{proto}: {:?}\n{log}",
            s.creds
        );
        assert_eq!(s.creds.len(), 1, "{proto}: {:?}", s.creds);
        let c = &s.creds[0];
        assert_eq!(c["server"], format!("127.0.0.1:{port}"));
        // Then that same flow (the same client port) is a TLS session: the
        // name and the ALPN protocol the client offered, the version chosen.
        let t: Vec<&Value> = s
            .tls
            .iter()
            .filter(|t| t["client"] == c["client"])
            .collect();
        assert_eq!(t.len(), 1, "{proto}: {c} {:?}", s.tls);
        let t = t[0];
        assert_eq!(t["server"], c["server"], "{t}");
        assert_eq!(t["sni"], SNI, "{t}");
        assert_eq!(t["version"], "TLS1.3", "{t}");
        assert_eq!(t["negotiated"], true, "{t}");
        assert_eq!(t["alpn"], serde_json::json!([proto]), "{t}");
        let (cred_at, tls_at) = (
            s.position("credential", &c["client"]).unwrap(),
            s.position("tls", &c["client"]).unwrap(),
        );
        assert!(cred_at < tls_at, "the credential, then the TLS session");
    }
}
