//! Redis (Debian's redis-server on a loopback port, no persistence) with
//! redis-cli authenticating both ways (`AUTH password` for the default
//! user, `AUTH user password` for an ACL user; with `-3` redis-cli 7 sends
//! AUTH then HELLO), an inline `AUTH` typed as a human would over a raw
//! connection, and `HELLO 3 AUTH user password` as client libraries send it
//! (the server's answer shows it accepted it).

use super::*;

const DEFAULT_PW: &str = "r3dis-default-pw";
const ALICE_PW: &str = "alice-acl-pw";

#[test]
fn redis_auth_resp_acl_hello_and_inline() {
    skip_unless!(
        "redis_auth_resp_acl_hello_and_inline",
        "tcpdump",
        "redis-server",
        "redis-cli"
    );
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("redis.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndaemonize no\n\
             dir {}\nrequirepass {DEFAULT_PW}\nuser alice on >{ALICE_PW} ~* +@all\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let _server = spawn(
        "redis-server",
        Command::new("redis-server")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_port(port);
    let dump = Tcpdump::start(dir.path(), &format!("tcp port {port}"));
    let p = port.to_string();
    let cli = |args: &[&str]| {
        let out = run_ok(
            Command::new("redis-cli")
                .args(["-h", "127.0.0.1", "-p", &p, "--no-auth-warning"])
                .args(args),
        );
        assert!(out.contains("PONG"), "{args:?}: {out}");
    };
    cli(&["-a", DEFAULT_PW, "ping"]);
    cli(&["--user", "alice", "--pass", ALICE_PW, "ping"]);
    cli(&["-3", "--user", "alice", "--pass", ALICE_PW, "ping"]);
    // Inline commands, as typed over telnet or nc.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(format!("AUTH {DEFAULT_PW}\r\nPING\r\nQUIT\r\n").as_bytes())
        .unwrap();
    let mut reply = String::new();
    let _ = std::io::Read::read_to_string(&mut s, &mut reply);
    assert!(reply.contains("+PONG"), "{reply}");
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let hello = ["HELLO", "3", "AUTH", "alice", ALICE_PW];
    let mut cmd = format!("*{}\r\n", hello.len());
    for w in hello {
        cmd.push_str(&format!("${}\r\n{w}\r\n", w.len()));
    }
    cmd.push_str("*1\r\n$4\r\nQUIT\r\n");
    s.write_all(cmd.as_bytes()).unwrap();
    let mut reply = String::new();
    let _ = std::io::Read::read_to_string(&mut s, &mut reply);
    assert!(reply.starts_with('%') && reply.contains("redis"), "{reply}");
    let pcap = dump.stop();
    let got = Sniffed::of("redis", dir.path(), &pcap).seen();
    assert_eq!(
        got,
        BTreeSet::from([
            seen("-", Some(DEFAULT_PW), "AUTH (default user)"),
            seen("alice", Some(ALICE_PW), "AUTH"),
            seen("alice", Some(ALICE_PW), "HELLO AUTH"),
        ])
    );
}
