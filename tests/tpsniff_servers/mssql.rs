//! FreeTDS's `tsql` (Debian's freetds-bin) logging in to an MSSQL server
//! with TDS 7.4. Debian has no MSSQL server, so the server is a stand-in
//! this test runs on loopback: it answers the client's PRELOGIN with
//! ENCRYPTION = ENCRYPT_NOT_SUP, which (MS-TDS 2.2.6.5) makes the client
//! send LOGIN7 unencrypted, reads that LOGIN7 and closes. What is judged
//! is the real client's LOGIN7 as tpsniff decodes it from the capture:
//! exactly the user, database and password `tsql` was given.

use super::*;
use std::io::Read;

const USER: &str = "shopadm";
const PASSWORD: &str = "Tds-Pw-7!x";
const DATABASE: &str = "shopdb";

/// One TDS message (its packets until the EOM status bit): (type, payload).
fn read_message(s: &mut std::net::TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut payload = Vec::new();
    loop {
        let mut h = [0u8; 8];
        s.read_exact(&mut h)?;
        let len = u16::from_be_bytes([h[2], h[3]]) as usize;
        let mut p = vec![0; len.saturating_sub(8)];
        s.read_exact(&mut p)?;
        payload.extend(p);
        if h[1] & 1 != 0 {
            return Ok((h[0], payload));
        }
    }
}

/// The stand-in: one connection, PRELOGIN answered with VERSION and
/// ENCRYPT_NOT_SUP, LOGIN7 read; gives the message types it read.
fn stand_in(listener: TcpListener) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("a client");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut seen = Vec::new();
        let Ok((kind, _)) = read_message(&mut s) else {
            return seen;
        };
        seen.push(kind);
        // Options: VERSION at 11 (6 bytes), ENCRYPTION at 17 (1 byte).
        let mut answer = vec![0, 0, 11, 0, 6, 1, 0, 17, 0, 1, 0xff];
        answer.extend([16, 0, 0x07, 0xd0, 0, 0, 2]);
        let mut pkt = vec![0x04, 0x01];
        pkt.extend(((answer.len() + 8) as u16).to_be_bytes());
        pkt.extend([0, 0, 1, 0]);
        pkt.extend(answer);
        s.write_all(&pkt).unwrap();
        if let Ok((kind, _)) = read_message(&mut s) {
            seen.push(kind);
        }
        seen
    })
}

#[test]
fn tsql_login7_password_is_decoded() {
    skip_unless!("tsql_login7_password_is_decoded", "tcpdump", "tsql");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let dump = Tcpdump::start(dir.path(), &format!("tcp port {port}"));
    let server = stand_in(listener);
    let out = isolated(Command::new("timeout").args(["30", "tsql"]))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .args(["-U", USER, "-P", PASSWORD, "-D", DATABASE])
        // One TDS version, no fallback to others; no freetds.conf of the
        // machine's.
        .env("TDSVER", "7.4")
        .env("FREETDSCONF", dir.path().join("none.conf"))
        .stdin(Stdio::null())
        .output()
        .expect("run tsql");
    let seen = server.join().unwrap();
    assert_eq!(seen, [0x12, 0x10], "PRELOGIN then LOGIN7; tsql: {out:?}");
    let pcap = dump.stop();
    let s = Sniffed::of("mssql", dir.path(), &pcap);
    assert_eq!(s.creds.len(), 1, "{:?}", s.creds);
    let c = &s.creds[0];
    assert_eq!(c["user"], USER);
    assert_eq!(c["password"], PASSWORD);
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!(
            "LOGIN7 (TDS 7.4), database {DATABASE}, server 127.0.0.1, app TSQL, host "
        )),
        "{detail}"
    );
    assert_eq!(c["hash"], Value::Null);
    assert_eq!(s.summary["flows_by_proto"]["mssql"], 1);
}
