//! LDAP (Debian's slapd from a private slapd.conf, an mdb database in a
//! temporary directory, on a loopback port) with ldapwhoami and ldapsearch
//! making simple binds (`-x -D DN -w PASSWORD`).

use super::*;

const ROOT_DN: &str = "cn=admin,dc=lab,dc=test";
const PASSWORD: &str = "ldap-Root-Pw9";

#[test]
fn ldap_simple_binds_good_and_bad() {
    skip_unless!(
        "ldap_simple_binds_good_and_bad",
        "tcpdump",
        "slapd",
        "ldapwhoami",
        "ldapsearch"
    );
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    std::fs::create_dir(&db).unwrap();
    let conf = dir.path().join("slapd.conf");
    std::fs::write(
        &conf,
        format!(
            "include /etc/ldap/schema/core.schema\n\
             pidfile {dir}/slapd.pid\n\
             modulepath /usr/lib/ldap\nmoduleload back_mdb\n\
             database mdb\nsuffix \"dc=lab,dc=test\"\nrootdn \"{ROOT_DN}\"\n\
             rootpw {PASSWORD}\ndirectory {db}\n",
            dir = dir.path().display(),
            db = db.display()
        ),
    )
    .unwrap();
    let url = format!("ldap://127.0.0.1:{port}/");
    let _slapd = spawn(
        "slapd",
        Command::new("slapd")
            .args(["-d", "0", "-h", &url, "-f"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_port(port);
    let dump = Tcpdump::start(dir.path(), &format!("tcp port {port}"));
    let out =
        run_ok(Command::new("ldapwhoami").args(["-x", "-H", &url, "-D", ROOT_DN, "-w", PASSWORD]));
    assert!(out.contains(ROOT_DN), "{out}");
    // A search on the (empty) suffix after the bind: the bind is what counts.
    let _ = Command::new("ldapsearch")
        .args([
            "-x",
            "-H",
            &url,
            "-D",
            ROOT_DN,
            "-w",
            PASSWORD,
            "-b",
            "dc=lab,dc=test",
            "-s",
            "base",
        ])
        .output()
        .unwrap();
    let bad = Command::new("ldapwhoami")
        .args(["-x", "-H", &url, "-D", ROOT_DN, "-w", "not-it"])
        .output()
        .unwrap();
    assert!(!bad.status.success(), "a wrong password is refused");
    // Anonymous: no credential.
    run_ok(Command::new("ldapwhoami").args(["-x", "-H", &url]));
    let pcap = dump.stop();
    let s = Sniffed::of("ldap", dir.path(), &pcap);
    assert_eq!(
        s.seen(),
        BTreeSet::from([
            seen(ROOT_DN, Some(PASSWORD), "simple bind"),
            seen(ROOT_DN, Some("not-it"), "simple bind"),
        ])
    );
    assert_eq!(s.creds.len(), 3, "two good binds, one bad");
    assert_eq!(s.summary["flows_by_proto"]["ldap"], 4);
}
