//! FreeTDS's `tsql` (Debian's freetds-bin, TDS 7.0 to 7.4) and python-tds
//! (PyPI, its own TDS 7.4 implementation) logging in to an MSSQL server.
//! Debian has no MSSQL server, so the server is a stand-in this test runs
//! on loopback: it answers the client's PRELOGIN with ENCRYPTION =
//! ENCRYPT_NOT_SUP, which (MS-TDS 2.2.6.5) makes the client send LOGIN7
//! unencrypted, reads that LOGIN7 and closes. What is judged is the real
//! client's LOGIN7 as tpsniff decodes it from the capture: exactly the
//! user, database and password the client was given. The stand-in answers
//! no LOGIN7 (it has no verdict to give), so each finding must say its
//! result was not seen, and still come out (at the flow's end).

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

/// The stand-in: `n` connections, one at a time; a PRELOGIN is answered
/// with VERSION and ENCRYPT_NOT_SUP, a LOGIN7 read and the connection
/// closed. Gives the message types each connection sent.
fn stand_in(listener: TcpListener, n: usize) -> std::thread::JoinHandle<Vec<Vec<u8>>> {
    std::thread::spawn(move || {
        let mut all = Vec::new();
        for _ in 0..n {
            let (mut s, _) = listener.accept().expect("a client");
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut seen = Vec::new();
            while let Ok((kind, _)) = read_message(&mut s) {
                seen.push(kind);
                if kind != 0x12 {
                    break;
                }
                // Options: VERSION at 11 (6 bytes), ENCRYPTION at 17.
                let mut answer = vec![0, 0, 11, 0, 6, 1, 0, 17, 0, 1, 0xff];
                answer.extend([16, 0, 0x07, 0xd0, 0, 0, 2]);
                let mut pkt = vec![0x04, 0x01];
                pkt.extend(((answer.len() + 8) as u16).to_be_bytes());
                pkt.extend([0, 0, 1, 0]);
                pkt.extend(answer);
                s.write_all(&pkt).unwrap();
            }
            all.push(seen);
        }
        all
    })
}

/// The TDS versions tsql is run with: 7.0 sends no PRELOGIN.
const VERSIONS: [&str; 5] = ["7.0", "7.1", "7.2", "7.3", "7.4"];

/// The venv `cargo xtask test` puts python-tds in (`TPLAB_SNIFF_PYTHON`).
fn sniff_python() -> String {
    std::env::var("TPLAB_SNIFF_PYTHON").unwrap_or_else(|_| {
        format!(
            "{}/target/sniff-venv/bin/python",
            env!("CARGO_MANIFEST_DIR")
        )
    })
}

/// python-tds (pure Python, its own LOGIN7) logging in once.
fn pytds_login(python: &str, port: u16) -> std::process::Output {
    let script = format!(
        "import pytds\n\
         try:\n    pytds.connect(server='127.0.0.1', port={port}, database='{DATABASE}', \
         user='{USER}', password='{PASSWORD}', login_timeout=10, appname='pytds-test')\n\
         except Exception as e:\n    print(type(e).__name__, e)\n"
    );
    isolated(Command::new("timeout").args(["30", python, "-c", &script]))
        .stdin(Stdio::null())
        .output()
        .expect("run python-tds")
}

#[test]
fn python_tds_login7_password_is_decoded() {
    let python = sniff_python();
    skip_unless!(
        "python_tds_login7_password_is_decoded",
        "tcpdump",
        python.as_str()
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let dump = Tcpdump::start(dir.path(), &format!("tcp port {port}"));
    let server = stand_in(listener, 1);
    let out = pytds_login(&python, port);
    let seen = server.join().unwrap();
    assert_eq!(
        seen,
        [vec![0x12, 0x10]],
        "PRELOGIN then LOGIN7; python: {out:?}"
    );
    let pcap = dump.stop();
    let s = Sniffed::of("mssql", dir.path(), &pcap);
    assert_eq!(s.creds.len(), 1, "{:?}", s.creds);
    let c = &s.creds[0];
    assert_eq!(
        (c["user"].as_str(), c["password"].as_str()),
        (Some(USER), Some(PASSWORD))
    );
    let detail = c["detail"].as_str().unwrap();
    let head =
        format!("LOGIN7 (TDS 7.4), database {DATABASE}, server 127.0.0.1, app pytds-test, host ");
    assert!(detail.starts_with(&head), "{detail}");
    assert!(detail.ends_with(", (result not seen)"), "{detail}");
}

#[test]
fn tsql_login7_password_is_decoded() {
    skip_unless!("tsql_login7_password_is_decoded", "tcpdump", "tsql");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let dump = Tcpdump::start(dir.path(), &format!("tcp port {port}"));
    let server = stand_in(listener, VERSIONS.len());
    let mut outs = Vec::new();
    for v in VERSIONS {
        let out = isolated(Command::new("timeout").args(["30", "tsql"]))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .args(["-U", USER, "-P", PASSWORD, "-D", DATABASE])
            // That TDS version only, no fallback to others; no
            // freetds.conf of the machine's.
            .env("TDSVER", v)
            .env("FREETDSCONF", dir.path().join("none.conf"))
            .stdin(Stdio::null())
            .output()
            .expect("run tsql");
        outs.push(out);
    }
    let seen = server.join().unwrap();
    let mut want = vec![vec![0x10]];
    want.extend(vec![vec![0x12, 0x10]; 4]);
    assert_eq!(seen, want, "PRELOGIN (7.1 on) then LOGIN7; tsql: {outs:?}");
    let pcap = dump.stop();
    let s = Sniffed::of("mssql", dir.path(), &pcap);
    assert_eq!(s.creds.len(), VERSIONS.len(), "{:?}", s.creds);
    for (c, v) in s.creds.iter().zip(VERSIONS) {
        assert_eq!(c["user"], USER);
        assert_eq!(c["password"], PASSWORD);
        let detail = c["detail"].as_str().unwrap();
        let head =
            format!("LOGIN7 (TDS {v}), database {DATABASE}, server 127.0.0.1, app TSQL, host ");
        assert!(detail.starts_with(&head), "{detail}");
        assert!(detail.ends_with(", (result not seen)"), "{detail}");
        assert_eq!(c["hash"], Value::Null);
    }
    assert_eq!(s.summary["flows_by_proto"]["mssql"], 5);
}
