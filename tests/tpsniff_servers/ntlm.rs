//! NTLM from curl (its own NTLMv2): over HTTP (`--ntlm`) against a small
//! server in this test that asks for NTLM, and over IMAP, POP3 and SMTP
//! SASL (`AUTH=NTLM`) against stand-in mail servers. Each sends a
//! CHALLENGE message with a known server challenge and target information;
//! the hashcat 5600 line tpsniff builds (the challenge joined from the
//! server's direction) must crack to the password.

use super::*;
use base64::Engine;
use std::io::Read;

const DOMAIN: &str = "LABDOM";
const USER: &str = "ntamy";
const PASSWORD: &str = "ntlm-Pw-77";

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// A CHALLENGE message: Unicode, NTLM, target info (so curl answers NTLMv2).
fn challenge_message() -> Vec<u8> {
    let target = utf16(DOMAIN);
    let mut info = 2u16.to_le_bytes().to_vec(); // MsvAvNbDomainName
    info.extend((target.len() as u16).to_le_bytes());
    info.extend(&target);
    info.extend([0, 0, 0, 0]); // MsvAvEOL
    let flags: u32 = 0x1 | 0x4 | 0x200 | 0x8000 | 0x1_0000 | 0x8_0000 | 0x80_0000;
    let mut m = b"NTLMSSP\0".to_vec();
    m.extend(2u32.to_le_bytes());
    let payload_at = 48u32;
    m.extend((target.len() as u16).to_le_bytes());
    m.extend((target.len() as u16).to_le_bytes());
    m.extend(payload_at.to_le_bytes());
    m.extend(flags.to_le_bytes());
    m.extend(*b"\x11\x22\x33\x44\x55\x66\x77\x88");
    m.extend([0; 8]);
    m.extend((info.len() as u16).to_le_bytes());
    m.extend((info.len() as u16).to_le_bytes());
    m.extend((payload_at + target.len() as u32).to_le_bytes());
    m.extend(target);
    m.extend(info);
    m
}

/// Serves one keep-alive connection at a time: 401 asking for NTLM, 401
/// with the challenge, then 200.
fn ntlm_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t2 = base64::engine::general_purpose::STANDARD.encode(challenge_message());
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut s = s;
            let mut buf = Vec::new();
            loop {
                let mut chunk = [0u8; 4096];
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    buf.drain(..end + 4);
                    let auth = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Authorization: NTLM "))
                        .map(str::to_string);
                    let reply = match auth {
                        None => "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM\r\nContent-Length: 0\r\n\r\n".to_string(),
                        Some(a) if base64::engine::general_purpose::STANDARD.decode(&a).map(|m| m.get(8) == Some(&1)).unwrap_or(false) => format!(
                            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM {t2}\r\nContent-Length: 0\r\n\r\n"
                        ),
                        Some(_) => "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n".to_string(),
                    };
                    if s.write_all(reply.as_bytes()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    port
}

#[test]
fn curl_ntlm_v2_cracks_with_hashcat_5600() {
    skip_unless!("curl_ntlm_v2_cracks_with_hashcat_5600", "tcpdump", "curl");
    let port = ntlm_server();
    let dir = tempfile::tempdir().unwrap();
    let dump = Tcpdump::start(dir.path(), &format!("tcp port {port}"));
    let out = run_ok(
        Command::new("curl")
            .args([
                "-sS",
                "--fail",
                "--ntlm",
                "-u",
                &format!("{DOMAIN}\\{USER}:{PASSWORD}"),
            ])
            .arg(format!("http://127.0.0.1:{port}/intranet")),
    );
    assert_eq!(out, "ok\n");
    let pcap = dump.stop();
    let s = Sniffed::of("http-ntlm", dir.path(), &pcap);
    assert_eq!(s.creds.len(), 1, "{:?}", s.creds);
    let c = &s.creds[0];
    assert_eq!(c["user"], USER);
    assert_eq!(c["hashcat_mode"], 5600);
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!(
            "GET 127.0.0.1:{port}/intranet: NTLM NetNTLMv2, domain {DOMAIN}"
        )),
        "{detail}"
    );
    let line = c["hash"].as_str().unwrap();
    assert!(
        line.starts_with(&format!("{USER}::{DOMAIN}:1122334455667788:")),
        "{line}"
    );
    crack_all(&s.hash_dir, 5600, PASSWORD);
}

/// SASL NTLM on IMAP, POP3 and SMTP: curl (`--login-options AUTH=NTLM`,
/// its own NTLMv2) against a stand-in server per protocol in this test,
/// since Debian's dovecot has no NTLM mechanism. Each says just enough of
/// its protocol for curl: the capability, the challenge, the success.
fn sasl_ntlm_server(proto: &'static str) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t2 = base64::engine::general_purpose::STANDARD.encode(challenge_message());
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let t2 = t2.clone();
            std::thread::spawn(move || mail_session(proto, s, &t2));
        }
    });
    port
}

fn mail_session(proto: &str, s: std::net::TcpStream, t2: &str) {
    let mut w = s.try_clone().unwrap();
    let greet: &[u8] = match proto {
        "imap" => b"* OK lab IMAP ready\r\n",
        "pop3" => b"+OK lab POP3 ready\r\n",
        _ => b"220 lab ESMTP ready\r\n",
    };
    let _ = w.write_all(greet);
    // The tag of the IMAP command in progress, and how far the SASL
    // exchange is (0: none, 1: NEGOTIATE awaited, 2: AUTHENTICATE awaited).
    let (mut tag, mut step) = (String::new(), 0);
    let challenge = |w: &mut std::net::TcpStream| {
        let p = if proto == "smtp" { "334" } else { "+" };
        w.write_all(format!("{p} {t2}\r\n").as_bytes())
    };
    for line in BufReader::new(s).lines() {
        let Ok(line) = line else { break };
        let r = match step {
            1 => {
                step = 2;
                challenge(&mut w)
            }
            2 => {
                step = 0;
                w.write_all(
                    match proto {
                        "imap" => format!("{tag} OK authenticated\r\n"),
                        "pop3" => "+OK authenticated\r\n".into(),
                        _ => "235 authenticated\r\n".into(),
                    }
                    .as_bytes(),
                )
            }
            _ => {
                let mut words = line.split_whitespace();
                let first = words.next().unwrap_or("").to_string();
                let (cmd, rest): (String, Vec<&str>) = if proto == "imap" {
                    tag = first;
                    (
                        words.next().unwrap_or("").to_ascii_uppercase(),
                        words.collect(),
                    )
                } else {
                    (first.to_ascii_uppercase(), words.collect())
                };
                let reply = match (proto, cmd.as_str()) {
                    (_, "AUTHENTICATE" | "AUTH") => {
                        // With an initial response (NEGOTIATE) the challenge
                        // comes at once.
                        if rest.len() > 1 {
                            step = 2;
                            let _ = challenge(&mut w);
                            continue;
                        }
                        step = 1;
                        if proto == "smtp" {
                            "334 \r\n".to_string()
                        } else {
                            "+ \r\n".to_string()
                        }
                    }
                    ("imap", "CAPABILITY") => {
                        format!("* CAPABILITY IMAP4rev1 AUTH=NTLM\r\n{tag} OK\r\n")
                    }
                    ("imap", "LOGOUT") => format!("* BYE\r\n{tag} OK\r\n"),
                    ("imap", _) => format!("{tag} OK\r\n"),
                    ("pop3", "CAPA") => "+OK\r\nSASL NTLM\r\n.\r\n".into(),
                    ("pop3", "LIST") => "+OK\r\n.\r\n".into(),
                    ("pop3", _) => "+OK\r\n".into(),
                    (_, "EHLO") => "250-lab\r\n250 AUTH NTLM\r\n".into(),
                    (_, "QUIT") => "221 bye\r\n".into(),
                    _ => "250 ok\r\n".into(),
                };
                w.write_all(reply.as_bytes())
            }
        };
        if r.is_err()
            || line.eq_ignore_ascii_case("QUIT")
            || line.to_ascii_uppercase().ends_with(" LOGOUT")
        {
            break;
        }
    }
}

#[test]
fn curl_sasl_ntlm_on_imap_pop3_smtp_cracks_with_hashcat_5600() {
    skip_unless!(
        "curl_sasl_ntlm_on_imap_pop3_smtp_cracks_with_hashcat_5600",
        "tcpdump",
        "curl"
    );
    let ports: Vec<(&str, u16)> = ["imap", "pop3", "smtp"]
        .into_iter()
        .map(|p| (p, sasl_ntlm_server(p)))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let filter = ports
        .iter()
        .map(|(_, p)| format!("tcp port {p}"))
        .collect::<Vec<_>>()
        .join(" or ");
    let dump = Tcpdump::start(dir.path(), &filter);
    let up = format!("{DOMAIN}\\{USER}:{PASSWORD}");
    for (proto, port) in &ports {
        let url = match *proto {
            "smtp" => format!("smtp://127.0.0.1:{port}/lab"),
            p => format!("{p}://127.0.0.1:{port}/"),
        };
        let mut args = vec!["-sS", "-u", &up, "--login-options", "AUTH=NTLM"];
        if *proto == "smtp" {
            args.extend(["-X", "NOOP"]);
        }
        run_ok(Command::new("curl").args(&args).arg(&url));
    }
    let pcap = dump.stop();
    for (proto, port) in &ports {
        let sub = dir.path().join(proto);
        std::fs::create_dir(&sub).unwrap();
        let s = Sniffed::of(proto, &sub, &pcap);
        assert_eq!(s.creds.len(), 1, "{proto}: {:?}\n{}", s.creds, s.summary);
        let c = &s.creds[0];
        assert_eq!(c["user"], USER, "{c}");
        assert_eq!(c["hashcat_mode"], 5600, "{c}");
        assert!(
            c["server"].as_str().unwrap().ends_with(&format!(":{port}")),
            "{c}"
        );
        let line = c["hash"].as_str().unwrap();
        assert!(
            line.starts_with(&format!("{USER}::{DOMAIN}:1122334455667788:")),
            "{line}"
        );
        if *proto == "imap" {
            // The three logins' lines, all in one 5600.txt: each must crack.
            assert_eq!(
                s.summary["credentials_by_proto"],
                serde_json::json!({"imap": 1, "pop3": 1, "smtp": 1})
            );
            assert_eq!(
                std::fs::read_to_string(s.hash_dir.join("5600.txt"))
                    .unwrap()
                    .lines()
                    .count(),
                3
            );
            crack_all(&s.hash_dir, 5600, PASSWORD);
        }
    }
}

/// LDAP NTLM: Python's ldap3 (Debian's python3-ldap3) binds with
/// `authentication=NTLM`, Microsoft's Sicily exchange (package discovery,
/// NEGOTIATE, AUTHENTICATE, the CHALLENGE in the response's matchedDN),
/// against a stand-in server: slapd has no NTLM. ldap3 hashes with MD4,
/// which OpenSSL 3 keeps in its legacy provider: the test enables it.
const LDAP3_NTLM: &str = r#"
import sys
from ldap3 import Server, Connection, NTLM, NONE
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = Connection(Server("127.0.0.1", port=port, get_info=NONE), user=user, password=password, authentication=NTLM)
assert c.bind(), c.result
c.unbind()
"#;

/// One BER element (definite length).
fn ber(tag: u8, v: &[u8]) -> Vec<u8> {
    let mut o = vec![tag];
    if v.len() < 128 {
        o.push(v.len() as u8);
    } else {
        o.extend([0x82, (v.len() >> 8) as u8, v.len() as u8]);
    }
    o.extend_from_slice(v);
    o
}

/// Answers each bind: packages "NTLM", then the CHALLENGE, then success.
fn sicily_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = s.try_clone().unwrap();
                let mut w = s;
                let mut binds = 0;
                loop {
                    // An LDAPMessage: SEQUENCE, its length, then the id.
                    let mut h = [0u8; 2];
                    if r.read_exact(&mut h).is_err() {
                        break;
                    }
                    let len = if h[1] < 128 {
                        h[1] as usize
                    } else {
                        let mut n = vec![0u8; (h[1] & 0x7f) as usize];
                        r.read_exact(&mut n).unwrap();
                        n.iter().fold(0, |a, &b| a << 8 | b as usize)
                    };
                    let mut body = vec![0u8; len];
                    r.read_exact(&mut body).unwrap();
                    let id = &body[..2 + body[1] as usize];
                    let op = body[id.len()];
                    if op != 0x60 {
                        break; // unbind
                    }
                    binds += 1;
                    let (code, matched) = match binds {
                        1 => (0, b"NTLM".to_vec()),
                        2 => {
                            // ldap3 insists on 128-bit (and offers 56-bit).
                            let mut t2 = challenge_message();
                            let f = u32::from_le_bytes(t2[20..24].try_into().unwrap());
                            t2[20..24].copy_from_slice(&(f | 0xa000_0000).to_le_bytes());
                            (0, t2)
                        }
                        _ => (0, Vec::new()),
                    };
                    let mut resp = ber(0x0a, &[code]);
                    resp.extend(ber(0x04, &matched));
                    resp.extend(ber(0x04, b""));
                    let mut m = id.to_vec();
                    m.extend(ber(0x61, &resp));
                    if w.write_all(&ber(0x30, &m)).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

#[test]
fn ldap3_sicily_ntlm_bind_cracks_with_hashcat_5600() {
    const LDAP3: &str = "/usr/lib/python3/dist-packages/ldap3/__init__.py";
    skip_unless!(
        "ldap3_sicily_ntlm_bind_cracks_with_hashcat_5600",
        "tcpdump",
        "/usr/bin/python3",
        LDAP3
    );
    let port = sicily_server();
    let dir = tempfile::tempdir().unwrap();
    let legacy = dir.path().join("openssl-legacy.cnf");
    std::fs::write(
        &legacy,
        "openssl_conf = init\n[init]\nproviders = p\n[p]\ndefault = on\nlegacy = on\n[on]\nactivate = 1\n",
    )
    .unwrap();
    let script = dir.path().join("ntlm_bind.py");
    std::fs::write(&script, LDAP3_NTLM).unwrap();
    let dump = Tcpdump::start(dir.path(), &format!("tcp port {port}"));
    run_ok(
        Command::new("/usr/bin/python3")
            .env("OPENSSL_CONF", &legacy)
            .arg(&script)
            .args([&port.to_string(), &format!("{DOMAIN}\\{USER}"), PASSWORD]),
    );
    let pcap = dump.stop();
    let s = Sniffed::of("ldap", dir.path(), &pcap);
    assert_eq!(s.creds.len(), 1, "{:?}\n{}", s.creds, s.summary);
    let c = &s.creds[0];
    assert_eq!(c["user"], USER);
    assert_eq!(c["hashcat_mode"], 5600);
    assert!(
        c["detail"].as_str().unwrap().starts_with(&format!(
            "Sicily NTLM bind: NTLM NetNTLMv2, domain {DOMAIN}"
        )),
        "{c}"
    );
    crack_all(&s.hash_dir, 5600, PASSWORD);
}
