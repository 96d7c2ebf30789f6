//! MariaDB (Debian's mariadb-server, a data directory made by
//! mariadb-install-db in a temporary directory, on a loopback port with no
//! name resolution) with the mariadb client logging in with
//! mysql_native_password, with the right password and a wrong one: each
//! response becomes a hashcat 11200 line that cracks to the password that
//! made it, and each finding carries the server's verdict (accepted; the
//! ERR packet's message for the wrong one).

use super::*;

const USER: &str = "dbamy";
const PASSWORD: &str = "maria-Pw-55";

struct Server {
    proc: Option<Proc>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.proc.take();
    }
}

fn server(port: u16) -> (Server, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("tpsniff-maria")
        .tempdir()
        .unwrap();
    run_ok(Command::new("chown").arg("mysql:mysql").arg(dir.path()));
    let data = dir.path().join("data");
    run_ok(
        Command::new("mariadb-install-db")
            .args(["--no-defaults", "--user=mysql", "--skip-test-db"])
            .arg(format!("--datadir={}", data.display())),
    );
    let sock = dir.path().join("sock");
    let proc = spawn(
        "mariadbd",
        Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", sock.display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!("--log-error={}", dir.path().join("err").display()))
            .args([
                "--user=mysql",
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
            ])
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_port(port);
    (
        Server {
            proc: Some(proc),
            _dir: dir,
        },
        sock,
    )
}

fn login(port: u16, password: &str) -> bool {
    Command::new("mariadb")
        .args([
            "--no-defaults",
            "--skip-ssl",
            "-h",
            "127.0.0.1",
            "-P",
            &port.to_string(),
        ])
        .args([
            "-u",
            USER,
            &format!("-p{password}"),
            "-D",
            "mysql",
            "-e",
            "select 1",
        ])
        .output()
        .expect("run mariadb")
        .status
        .success()
}

#[test]
fn mariadb_native_password_cracks_with_hashcat_11200() {
    skip_unless!(
        "mariadb_native_password_cracks_with_hashcat_11200",
        "tcpdump",
        "mariadbd",
        "mariadb-install-db",
        "mariadb"
    );
    let port = free_port();
    let (_server, sock) = server(port);
    run_ok(
        Command::new("mariadb")
            .args(["--no-defaults", "-uroot", "-S"])
            .arg(&sock)
            .args([
                "-e",
                &format!(
                    "CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('{PASSWORD}'); \
                     GRANT SELECT ON mysql.* TO '{USER}'@'127.0.0.1';"
                ),
            ]),
    );
    let dir = tempfile::tempdir().unwrap();
    let dump = Tcpdump::start(dir.path(), &format!("tcp port {port}"));
    assert!(login(port, PASSWORD));
    assert!(!login(port, "wrong-one"), "a wrong password is refused");
    let pcap = dump.stop();
    let s = Sniffed::of("mysql", dir.path(), &pcap);
    // The server's verdict on each: the OK, and the ERR with its message.
    let what = "mysql_native_password challenge-response, database mysql";
    let details: Vec<&str> = s
        .creds
        .iter()
        .map(|c| c["detail"].as_str().unwrap())
        .collect();
    assert_eq!(details.len(), 2, "{details:?}");
    assert_eq!(details[0], format!("{what}, accepted"));
    assert!(
        details[1].starts_with(&format!(
            "{what}, failed: Access denied for user '{USER}'@'"
        )),
        "{details:?}"
    );
    assert!(s.creds.iter().all(|c| c["user"] == USER));
    let lines: Vec<&str> = s
        .creds
        .iter()
        .map(|c| c["hash"].as_str().unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(s.creds.iter().all(|c| c["hashcat_mode"] == 11200));
    for (line, pw) in lines.iter().zip([PASSWORD, "wrong-one"]) {
        let d = dir.path().join(pw);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("11200.txt"), format!("{line}\n")).unwrap();
        crack_all(&d, 11200, pw);
    }
}
