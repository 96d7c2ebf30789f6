//! IRC: Debian's ngircd on a loopback port with a server password (PAM
//! off), a client of a few lines that registers with `PASS`/`NICK`/`USER`,
//! then identifies to NickServ in both forms (ngircd has no services: the
//! messages are on the wire all the same, answered "no such nick"), and a
//! second client whose wrong password ngircd refuses.

use super::*;
use std::net::TcpStream;

const SERVER_PASS: &str = "srv-pa55word";
const NICK: &str = "alice";
const NICKSERV_PASS: &str = "nick-pa55";
const ACCOUNT: &str = "alice-acct";
const ACCOUNT_PASS: &str = "acct-pa55";

/// Sends `lines`, then reads the server's lines until one contains `until`.
fn talk(s: &mut TcpStream, r: &mut BufReader<TcpStream>, lines: &[String], until: &str) -> String {
    for l in lines {
        s.write_all(format!("{l}\r\n").as_bytes()).unwrap();
    }
    let mut all = String::new();
    loop {
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => panic!("no {until:?} from ngircd; got:\n{all}"),
            Ok(_) => {}
        }
        all.push_str(&line);
        if line.contains(until) {
            return all;
        }
    }
}

fn connect(port: u16) -> (TcpStream, BufReader<TcpStream>) {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let r = BufReader::new(s.try_clone().unwrap());
    (s, r)
}

#[test]
fn irc_pass_and_nickserv_identify() {
    skip_unless!("irc_pass_and_nickserv_identify", "tcpdump", "ngircd");
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("ngircd.conf");
    std::fs::write(
        &conf,
        format!(
            "[Global]\nName = irc.tplab.test\nInfo = tplab test\n\
             AdminInfo1 = tplab\nAdminInfo2 = test\nAdminEMail = root@localhost\n\
             Password = {SERVER_PASS}\nListen = 127.0.0.1\nPorts = {port}\n\
             MotdPhrase = hello\nPidFile = {}\n\
             [Options]\nDNS = no\nIdent = no\nPAM = no\n",
            dir.path().join("ngircd.pid").display()
        ),
    )
    .unwrap();
    let _server = spawn(
        "ngircd",
        Command::new("ngircd")
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_port(port);
    let dump = Tcpdump::start(dir.path(), &format!("tcp port {port}"));

    let (mut s, mut r) = connect(port);
    talk(
        &mut s,
        &mut r,
        &[
            format!("PASS {SERVER_PASS}"),
            format!("NICK {NICK}"),
            format!("USER {NICK} 0 * :Alice"),
        ],
        " 001 ",
    );
    let reply = talk(
        &mut s,
        &mut r,
        &[
            format!("PRIVMSG NickServ :IDENTIFY {NICKSERV_PASS}"),
            format!("PRIVMSG NickServ :IDENTIFY {ACCOUNT} {ACCOUNT_PASS}"),
            "PING :done".into(),
        ],
        "PONG",
    );
    assert!(reply.contains(" 401 "), "ngircd has no NickServ: {reply}");
    talk(&mut s, &mut r, &["QUIT :bye".into()], "ERROR");
    // A wrong server password: ngircd refuses it.
    let (mut s, mut r) = connect(port);
    let refused = talk(
        &mut s,
        &mut r,
        &[
            "PASS wrong-pass".into(),
            "NICK bob".into(),
            "USER bob 0 * :Bob".into(),
        ],
        "ERROR",
    );
    assert!(refused.contains("Access denied"), "{refused}");
    drop((s, r));

    let pcap = dump.stop();
    let sn = Sniffed::of("irc", dir.path(), &pcap);
    assert_eq!(
        sn.seen(),
        BTreeSet::from([
            seen(NICK, Some(SERVER_PASS), "PASS (server password)"),
            seen(NICK, Some(NICKSERV_PASS), "NickServ IDENTIFY"),
            seen(ACCOUNT, Some(ACCOUNT_PASS), "NickServ IDENTIFY"),
            seen("bob", Some("wrong-pass"), "PASS (server password)"),
        ])
    );
    assert_eq!(sn.creds.len(), 4, "each once");
    assert_eq!(sn.summary["flows_by_proto"]["irc"], 2);
}
