//! PostgreSQL (Debian's postgresql, initdb'd in a temporary directory and
//! run as the `postgres` user on a loopback port, with a self-signed
//! certificate) with psql logging in as three roles whose pg_hba.conf lines
//! ask for a cleartext password, an MD5 response and SCRAM-SHA-256, and once
//! with `sslmode=require` (to the name `pg.lab.test`, at 127.0.0.1): the
//! SSLRequest accepted, that flow is a TLS session (reported as such, with
//! that name as SNI, and no credential). Each login's finding must carry
//! the server's verdict: accepted, or for a wrong password the server's
//! own message.

use super::*;

const BIN: &str = "/usr/lib/postgresql/15/bin";
const PASSWORD: &str = "Kx7-pg-Secret";

/// A cluster running as `postgres`; stopped and removed on drop.
struct Cluster {
    data: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--", &format!("{BIN}/pg_ctl"), "-D"])
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

fn as_postgres(program: &str) -> Command {
    let mut c = Command::new("runuser");
    c.args(["-u", "postgres", "--", program]);
    c
}

fn cluster(port: u16) -> Cluster {
    let dir = tempfile::Builder::new()
        .prefix("tpsniff-pg")
        .tempdir()
        .unwrap();
    run_ok(
        Command::new("chown")
            .arg("postgres:postgres")
            .arg(dir.path()),
    );
    let data = dir.path().join("data");
    run_ok(
        as_postgres(&format!("{BIN}/initdb"))
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=reject",
                "-D",
            ])
            .arg(&data),
    );
    let hba = "local all all trust\n\
               host all clear_user 127.0.0.1/32 password\n\
               host all md5_user 127.0.0.1/32 md5\n\
               host all scram_user 127.0.0.1/32 scram-sha-256\n";
    std::fs::write(data.join("pg_hba.conf"), hba).unwrap();
    let (crt, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    run_ok(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=localhost",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&crt),
    );
    run_ok(
        Command::new("chown")
            .arg("postgres:postgres")
            .arg(&crt)
            .arg(&key),
    );
    run_ok(Command::new("chmod").arg("600").arg(&key));
    let opts = format!(
        "-p {port} -k {d} -c listen_addresses=127.0.0.1 -c log_hostname=off \
         -c ssl=on -c ssl_cert_file={d}/server.crt -c ssl_key_file={d}/server.key",
        d = dir.path().display()
    );
    run_ok(
        as_postgres(&format!("{BIN}/pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args(["-o", &opts, "-l"])
            .arg(dir.path().join("log"))
            .args(["-w", "start"]),
    );
    let sql = format!(
        "SET password_encryption = 'md5'; \
         CREATE ROLE clear_user LOGIN PASSWORD '{PASSWORD}'; \
         CREATE ROLE md5_user LOGIN PASSWORD '{PASSWORD}'; \
         SET password_encryption = 'scram-sha-256'; \
         CREATE ROLE scram_user LOGIN PASSWORD '{PASSWORD}';"
    );
    run_ok(as_postgres("psql").args(["-h"]).arg(dir.path()).args([
        "-p",
        &port.to_string(),
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-c",
        &sql,
    ]));
    Cluster { data, _dir: dir }
}

/// The name psql connects to with TLS (`hostaddr` is the address: no
/// lookup); libpq sends it as SNI.
const SNI: &str = "pg.lab.test";

fn psql(port: u16, user: &str, password: &str, sslmode: &str) -> std::process::Output {
    let host = if sslmode == "disable" {
        "127.0.0.1"
    } else {
        SNI
    };
    Command::new("psql")
        .arg(format!(
            "host={host} hostaddr=127.0.0.1 port={port} user={user} dbname=postgres \
             sslmode={sslmode} gssencmode=disable"
        ))
        .args(["-X", "-c", "select current_user"])
        .env("PGPASSWORD", password)
        .env_remove("PGSERVICE")
        .output()
        .expect("run psql")
}

#[test]
fn postgres_cleartext_md5_scram_and_starttls_logins() {
    skip_unless!(
        "postgres_cleartext_md5_scram_and_starttls_logins",
        "tcpdump",
        "psql",
        "runuser",
        "/usr/lib/postgresql/15/bin/initdb",
        "openssl"
    );
    let port = free_port();
    let _cluster = cluster(port);
    let dir = tempfile::tempdir().unwrap();
    let dump = Tcpdump::start(dir.path(), &format!("tcp port {port}"));
    for (user, ssl) in [
        ("clear_user", "disable"),
        ("md5_user", "disable"),
        ("scram_user", "disable"),
        ("clear_user", "require"),
    ] {
        let out = psql(port, user, PASSWORD, ssl);
        assert!(
            out.status.success(),
            "{user}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains(user));
    }
    // A wrong password is a credential too (and its hash cracks to it).
    let wrong = psql(port, "md5_user", "wrong-guess", "disable");
    assert!(!wrong.status.success());
    let pcap = dump.stop();
    let s = Sniffed::of("postgres", dir.path(), &pcap);
    assert_eq!(
        s.seen(),
        BTreeSet::from([
            seen(
                "clear_user",
                Some(PASSWORD),
                "cleartext password, database postgres, accepted"
            ),
            seen(
                "md5_user",
                None,
                "md5 challenge-response, database postgres, accepted"
            ),
            // The server's verdict on the wrong password, its message.
            seen(
                "md5_user",
                None,
                "md5 challenge-response, database postgres, \
                 failed: password authentication failed for user \"md5_user\""
            ),
            seen(
                "scram_user",
                None,
                "SCRAM-SHA-256: password not visible, database postgres, accepted"
            ),
        ]),
    );
    // The sslmode=require login: SSLRequest, `S`, then the ClientHello on
    // the same flow, which becomes a TLS session.
    assert_eq!(
        s.summary["flows_by_proto"],
        serde_json::json!({"postgres": 5, "tls": 1}),
        "{}",
        s.summary
    );
    assert_eq!(s.tls.len(), 1);
    let t = &s.tls[0];
    assert_eq!(t["server"], format!("127.0.0.1:{port}"), "{t}");
    assert_eq!(t["sni"], SNI, "{t}");
    assert_eq!(t["version"], "TLS1.3", "{t}");
    assert_eq!(t["negotiated"], true, "{t}");
    // Its cleartext password went inside TLS: nothing from that flow.
    assert!(
        s.creds.iter().all(|c| c["client"] != t["client"]),
        "{:?}",
        s.creds
    );
    // --all: each clear login once (clear, md5, scram, the wrong md5).
    assert_eq!(s.creds.len(), 4, "{:?}", s.creds);
    let hashes: Vec<&Value> = s.creds.iter().filter(|c| !c["hash"].is_null()).collect();
    assert_eq!(hashes.len(), 2, "the good and the wrong md5 login");
    for h in &hashes {
        assert_eq!(h["hashcat_mode"], 11100);
        assert!(h["hash"]
            .as_str()
            .unwrap()
            .starts_with("$postgres$md5_user*"));
    }
    // Each line cracks to the password it was made with.
    let good = hashes[0]["hash"].as_str().unwrap();
    let bad = hashes[1]["hash"].as_str().unwrap();
    let split = |line: &str, name: &str| {
        let d = s.hash_dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("11100.txt"), format!("{line}\n")).unwrap();
        d
    };
    let file = std::fs::read_to_string(s.hash_dir.join("11100.txt")).unwrap();
    assert_eq!(
        file,
        format!("{good}\n{bad}\n"),
        "--hashcat wrote both, once"
    );
    crack_all(&split(good, "good"), 11100, PASSWORD);
    crack_all(&split(bad, "bad"), 11100, "wrong-guess");
}
