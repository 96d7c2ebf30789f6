//! LDAP (Debian's slapd from a private slapd.conf, an mdb database in a
//! temporary directory, on a loopback port, with a throwaway self-signed
//! certificate for StartTLS) with ldapwhoami and ldapsearch making simple
//! binds (`-x -D DN -w PASSWORD`), and StartTLS: `ldapwhoami -ZZ` (StartTLS,
//! then the bind inside TLS) and Python's ldap3 (a simple bind in clear,
//! then StartTLS on the same connection).
//!
//! SASL NTLM: slapd with Cyrus SASL's NTLM plugin (libsasl2-modules),
//! checking the response against the user entry's cleartext userPassword
//! (slapd's own auxprop, the SASL name mapped to the entry by
//! `authz-regexp`), with `ldapwhoami -Y NTLM`: the NetNTLMv1 line
//! (hashcat 5500, challenge from the server's bind response) must crack.

use super::*;

const ROOT_DN: &str = "cn=admin,dc=lab,dc=test";
const PASSWORD: &str = "ldap-Root-Pw9";
const SNI: &str = "ldap.lab.test";

/// slapd on `port`, its config, database and certificate in `dir`.
fn slapd(dir: &Path, port: u16) -> Proc {
    let db = dir.join("db");
    std::fs::create_dir(&db).unwrap();
    self_signed(dir, SNI);
    let conf = dir.join("slapd.conf");
    std::fs::write(
        &conf,
        format!(
            "include /etc/ldap/schema/core.schema\n\
             pidfile {dir}/slapd.pid\n\
             TLSCertificateFile {dir}/cert.pem\n\
             TLSCertificateKeyFile {dir}/key.pem\n\
             modulepath /usr/lib/ldap\nmoduleload back_mdb\n\
             database mdb\nsuffix \"dc=lab,dc=test\"\nrootdn \"{ROOT_DN}\"\n\
             rootpw {PASSWORD}\ndirectory {db}\n",
            dir = dir.display(),
            db = db.display()
        ),
    )
    .unwrap();
    run_slapd(&conf, port)
}

/// slapd from `conf`, listening on loopback `port`.
fn run_slapd(conf: &Path, port: u16) -> Proc {
    let url = format!("ldap://127.0.0.1:{port}/");
    let p = spawn(
        "slapd",
        Command::new("slapd")
            .args(["-d", "0", "-h", &url, "-f"])
            .arg(conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_port(port);
    p
}

#[test]
fn ldap_simple_binds_good_and_bad() {
    skip_unless!(
        "ldap_simple_binds_good_and_bad",
        "tcpdump",
        "slapd",
        "ldapwhoami",
        "ldapsearch",
        "openssl"
    );
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let _slapd = slapd(dir.path(), port);
    let url = format!("ldap://127.0.0.1:{port}/");
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

/// Python's ldap3 (Debian's python3-ldap3): a simple bind in clear, then
/// StartTLS on the same connection (with `sni` as the server name), a
/// Who am I? inside TLS, and an unbind.
const BIND_THEN_STARTTLS: &str = r#"
import ssl, sys
from ldap3 import Server, Connection, Tls, NONE
port, dn, password, sni = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
tls = Tls(validate=ssl.CERT_NONE, sni=sni)
c = Connection(Server("127.0.0.1", port=port, tls=tls, get_info=NONE), user=dn, password=password)
assert c.bind(), c.result
assert c.start_tls(), c.result
c.extend.standard.who_am_i()
assert c.result["result"] == 0, c.result
c.unbind()
"#;

#[test]
fn ldap_starttls_before_and_after_the_bind() {
    const LDAP3: &str = "/usr/lib/python3/dist-packages/ldap3/__init__.py";
    skip_unless!(
        "ldap_starttls_before_and_after_the_bind",
        "tcpdump",
        "slapd",
        "ldapwhoami",
        "openssl",
        "/usr/bin/python3",
        LDAP3
    );
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let _slapd = slapd(dir.path(), port);
    let url = format!("ldap://127.0.0.1:{port}/");
    let script = dir.path().join("bind_then_starttls.py");
    std::fs::write(&script, BIND_THEN_STARTTLS).unwrap();
    let dump = Tcpdump::start(dir.path(), &format!("tcp port {port}"));
    // StartTLS (-ZZ: required), then the simple bind inside TLS.
    let out = run_ok(
        Command::new("ldapwhoami")
            .env("LDAPTLS_REQCERT", "never")
            .args(["-ZZ", "-x", "-H", &url, "-D", ROOT_DN, "-w", PASSWORD]),
    );
    assert!(out.contains(ROOT_DN), "{out}");
    // The bind in clear, then StartTLS on the same connection.
    run_ok(Command::new("/usr/bin/python3").arg(&script).args([
        &port.to_string(),
        ROOT_DN,
        PASSWORD,
        SNI,
    ]));
    let pcap = dump.stop();
    let s = Sniffed::of("ldap", dir.path(), &pcap);
    assert_eq!(
        s.summary["flows_by_proto"],
        serde_json::json!({"ldap": 2, "tls": 2}),
        "{}",
        s.summary
    );
    // Only the bind sent before StartTLS.
    assert_eq!(s.creds.len(), 1, "{:?}", s.creds);
    assert_eq!(
        s.seen(),
        BTreeSet::from([seen(ROOT_DN, Some(PASSWORD), "simple bind")])
    );
    let bound_in_clear = &s.creds[0]["client"];
    assert_eq!(s.tls.len(), 2, "{:?}", s.tls);
    for t in &s.tls {
        assert_eq!(t["server"], format!("127.0.0.1:{port}"), "{t}");
        assert_eq!(t["version"], "TLS1.3", "{t}");
        assert_eq!(t["negotiated"], true, "{t}");
    }
    // ldap3's connection: the bind, then the TLS session it asked for.
    let after: Vec<&Value> = s
        .tls
        .iter()
        .filter(|t| t["client"] == *bound_in_clear)
        .collect();
    assert_eq!(after.len(), 1, "{bound_in_clear} {:?}", s.tls);
    assert_eq!(after[0]["sni"], SNI);
    // ldapwhoami's: a TLS session to an address (no SNI), nothing else.
    let other: Vec<&Value> = s
        .tls
        .iter()
        .filter(|t| t["client"] != *bound_in_clear)
        .collect();
    assert!(other[0]["sni"].is_null(), "{}", other[0]);
}

/// Cyrus SASL's NTLM mechanism (client and server), from libsasl2-modules.
const SASL_NTLM: &str = "/usr/lib/x86_64-linux-gnu/sasl2/libntlm.so";

#[test]
fn ldap_sasl_ntlm_bind_cracks_with_hashcat_5500() {
    skip_unless!(
        "ldap_sasl_ntlm_bind_cracks_with_hashcat_5500",
        "tcpdump",
        "slapd",
        "slapadd",
        "ldapwhoami",
        SASL_NTLM
    );
    const USER: &str = "amy";
    const USER_PW: &str = "ntlm-Ldap-Pw5";
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("db");
    std::fs::create_dir(&db).unwrap();
    let conf = d.join("slapd.conf");
    std::fs::write(
        &conf,
        format!(
            "include /etc/ldap/schema/core.schema\n\
             pidfile {dir}/slapd.pid\n\
             modulepath /usr/lib/ldap\nmoduleload back_mdb\n\
             authz-regexp \"uid=([^,]*),cn=[^,]*,cn=ntlm,cn=auth\" \"cn=$1,dc=lab,dc=test\"\n\
             authz-regexp \"uid=([^,]*),cn=ntlm,cn=auth\" \"cn=$1,dc=lab,dc=test\"\n\
             database mdb\nsuffix \"dc=lab,dc=test\"\nrootdn \"{ROOT_DN}\"\n\
             rootpw {PASSWORD}\ndirectory {db}\n\
             access to attrs=userPassword by * auth\naccess to * by * read\n",
            dir = d.display(),
            db = db.display()
        ),
    )
    .unwrap();
    let ldif = d.join("init.ldif");
    std::fs::write(
        &ldif,
        format!(
            "dn: dc=lab,dc=test\nobjectClass: dcObject\nobjectClass: organization\no: lab\ndc: lab\n\n\
             dn: cn={USER},dc=lab,dc=test\nobjectClass: person\ncn: {USER}\nsn: {USER}\nuserPassword: {USER_PW}\n"
        ),
    )
    .unwrap();
    run_ok(Command::new("slapadd").arg("-f").arg(&conf).arg("-l").arg(&ldif));
    let url = format!("ldap://127.0.0.1:{port}/");
    let _slapd = run_slapd(&conf, port);
    let whoami = |pw: &str| {
        Command::new("ldapwhoami")
            .args(["-H", &url, "-N", "-Y", "NTLM", "-U", USER, "-w", pw])
            .output()
            .unwrap()
    };
    for (name, pw) in [("right", USER_PW), ("wrong", "not-the-Pw")] {
        let sub = d.join(name);
        std::fs::create_dir(&sub).unwrap();
        let dump = Tcpdump::start(&sub, &format!("tcp port {port}"));
        let out = whoami(pw);
        let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        // The right password binds as the entry; the wrong one is refused.
        assert_eq!(out.status.success(), name == "right", "{name}: {said}");
        if name == "right" {
            assert!(said.contains(&format!("dn:cn={USER},dc=lab,dc=test")), "{said}");
        }
        let pcap = dump.stop();
        let s = Sniffed::of("ldap", &sub, &pcap);
        assert_eq!(s.creds.len(), 1, "{name}: {:?}", s.creds);
        let c = &s.creds[0];
        assert_eq!(c["user"], USER);
        assert!(c["password"].is_null(), "NTLM shows no password: {c}");
        // The domain is the one the server's challenge named (its host).
        let detail = c["detail"].as_str().unwrap();
        assert!(detail.starts_with("SASL NTLM bind: NTLM NetNTLMv1, domain "), "{detail}");
        assert_eq!(c["hashcat_mode"], 5500);
        assert!(c["hash"].as_str().unwrap().starts_with(&format!("{USER}::")), "{c}");
        crack_all(&s.hash_dir, 5500, pw);
    }
}
