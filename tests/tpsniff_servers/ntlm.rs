//! NTLM over HTTP: curl `--ntlm` (its own NTLMv2 implementation) against a
//! small HTTP server in this test that asks for NTLM and sends a CHALLENGE
//! message with a known server challenge and target information. The
//! hashcat 5600 line tpsniff builds (the challenge joined from the server's
//! direction) must crack to the password.

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
