//! SMB2 (Debian's smbd on a loopback port, from a private smb.conf whose
//! directories are all in the test's temp dir; `ntlm auth = ntlmv2-only`,
//! a user in a test-local tdbsam passdb backed by a Unix user that exists
//! for the run) with smbclient listing a share, once over SMB2 and once
//! over SMB1 (NT1, extended security): NTLMSSP inside SPNEGO in the
//! SESSION_SETUP (SESSION_SETUP_ANDX) exchange. tpsniff must report the user, domain and
//! client host, and the hashcat 5600 line of each (the challenge from the server's
//! response) must crack to the password. Both logins must be reported as
//! accepted; a further one with a wrong password (smbd refuses it) as
//! rejected with STATUS_LOGON_FAILURE, its line cracking to the wrong
//! password.
//!
//! DCE-RPC over TCP: Debian's samba-dcerpcd (its endpoint mapper on
//! loopback port 135, the RPC servers on a loopback port range of the
//! test's) with rpcclient binding with NTLMSSP (`[sign]`): the AUTHENTICATE
//! in the auth3 PDU, its challenge from the bind_ack.

use super::*;

const USER_PREFIX: &str = "tpsmb";
const PASSWORD: &str = "smb-Pw-41";
const WRONG_PASSWORD: &str = "not-smb-Pw-14";
const DOMAIN: &str = "TPLAB";
const CLIENT_HOST: &str = "TPCLIENT";

/// A Unix account for the run (samba maps its passdb users to one).
struct TempUser(String);

impl TempUser {
    fn add() -> TempUser {
        // Unique within the run too: the SMB and DCE-RPC tests run side by side.
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let name = format!("{USER_PREFIX}{}x{n}", std::process::id() % 100_000);
        run_ok(Command::new("useradd").args(["-M", "-N", "-s", "/usr/sbin/nologin", &name]));
        TempUser(name)
    }
}

impl TempUser {
    /// A new account, also in the passdb of the samba config `conf`, with
    /// [`PASSWORD`].
    fn add_to_samba(conf: &Path) -> TempUser {
        let user = TempUser::add();
        let mut add = isolated(Command::new("smbpasswd").arg("-c").arg(conf).args(["-a", "-s", &user.0]))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("smbpasswd");
        writeln!(add.stdin.take().unwrap(), "{PASSWORD}\n{PASSWORD}").unwrap();
        assert!(add.wait().unwrap().success(), "smbpasswd -a");
        user
    }
}

impl Drop for TempUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.0).output();
    }
}

/// The `[global]` lines that keep samba (server or client) inside `dir`,
/// on loopback, with no NetBIOS and no name lookups.
fn private_globals(dir: &Path, prefix: &str) -> String {
    let mut s = String::new();
    for (key, sub) in [
        ("private dir", "private"),
        ("lock directory", "lock"),
        ("state directory", "state"),
        ("cache directory", "cache"),
        ("pid directory", "pid"),
        ("ncalrpc dir", "ncalrpc"),
    ] {
        let d = dir.join(format!("{prefix}{sub}"));
        std::fs::create_dir_all(&d).unwrap();
        s.push_str(&format!("  {key} = {}\n", d.display()));
    }
    s.push_str(&format!(
        "  workgroup = {DOMAIN}\n  disable netbios = yes\n  name resolve order = host\n  \
         load printers = no\n  printcap name = /dev/null\n  disable spoolss = yes\n  \
         kerberos method = secrets only\n"
    ));
    s
}

#[test]
fn smbclient_smb2_and_smb1_ntlmv2_crack_with_hashcat_5600() {
    skip_unless!(
        "smbclient_smb2_and_smb1_ntlmv2_crack_with_hashcat_5600",
        "tcpdump",
        "smbd",
        "smbclient",
        "smbpasswd",
        "useradd"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = free_port();
    let share = d.join("share");
    std::fs::create_dir(&share).unwrap();
    std::fs::write(share.join("hello.txt"), "hello\n").unwrap();
    let conf = d.join("smb.conf");
    std::fs::write(
        &conf,
        format!(
            "[global]\n{}  netbios name = TPLABSRV\n  server role = standalone server\n  \
             smb ports = {port}\n  interfaces = lo\n  bind interfaces only = yes\n  \
             passdb backend = tdbsam:{}\n  log file = {}\n  ntlm auth = ntlmv2-only\n  \
             server min protocol = NT1\n  dns proxy = no\n  wins support = no\n\
             [share]\n  path = {}\n  read only = yes\n",
            private_globals(d, "srv-"),
            d.join("passdb.tdb").display(),
            d.join("smbd.log").display(),
            share.display()
        ),
    )
    .unwrap();
    let user = TempUser::add_to_samba(&conf);
    let _smbd = spawn(
        "smbd",
        Command::new("smbd")
            .args(["--foreground", "--no-process-group", "--debug-stdout", "-s"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_port(port);
    let client_conf = d.join("client.conf");
    std::fs::write(
        &client_conf,
        format!(
            "[global]\n{}  netbios name = {CLIENT_HOST}\n  client min protocol = SMB2\n  \
             client ntlmv2 auth = yes\n",
            private_globals(d, "cli-")
        ),
    )
    .unwrap();
    let dump = Tcpdump::start(d, &format!("tcp port {port}"));
    // SMB2, then SMB1 (NT1, extended security: SESSION_SETUP_ANDX).
    for dialect in ["SMB2", "NT1"] {
        let out = run_ok(
            Command::new("smbclient")
                .arg("-s")
                .arg(&client_conf)
                .args(["//127.0.0.1/share", "-p", &port.to_string()])
                .args(["-U", &format!("{}%{PASSWORD}", user.0)])
                .arg("--use-kerberos=off")
                .arg(format!("--option=client min protocol={dialect}"))
                .arg(format!("--option=client max protocol={dialect}"))
                .args(["-c", "ls"]),
        );
        assert!(out.contains("hello.txt"), "{dialect}: {out}");
    }
    let pcap = dump.stop();
    let s = Sniffed::of("smb", d, &pcap);
    let detail = |v: &str, outcome: &str| {
        format!("{v} session setup: NTLM NetNTLMv2, domain {DOMAIN}, host {CLIENT_HOST}, {outcome}")
    };
    assert_eq!(
        s.seen(),
        BTreeSet::from([
            seen(&user.0, None, &detail("SMB2", "accepted")),
            seen(&user.0, None, &detail("SMB1", "accepted")),
        ])
    );
    assert_eq!(s.creds.len(), 2, "{:?}", s.creds);
    for c in &s.creds {
        assert_eq!(c["hashcat_mode"], 5600);
        assert_eq!(c["server"], format!("127.0.0.1:{port}"));
        let line = c["hash"].as_str().unwrap();
        assert!(
            line.starts_with(&format!("{}::{DOMAIN}:", user.0)),
            "{line}"
        );
    }
    assert_eq!(s.summary["flows_by_proto"]["smb"], 2);
    crack_all(&s.hash_dir, 5600, PASSWORD);

    // The wrong password, in a capture of its own (its line cracks to
    // that password, not to the right one).
    let wrong = d.join("wrong");
    std::fs::create_dir(&wrong).unwrap();
    let dump = Tcpdump::start(&wrong, &format!("tcp port {port}"));
    let out = isolated(
        Command::new("smbclient")
            .arg("-s")
            .arg(&client_conf)
            .args(["//127.0.0.1/share", "-p", &port.to_string()])
            .args(["-U", &format!("{}%{WRONG_PASSWORD}", user.0)])
            .arg("--use-kerberos=off")
            .arg("--option=client min protocol=SMB2")
            .args(["-c", "ls"]),
    )
    .output()
    .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("NT_STATUS_LOGON_FAILURE"),
        "{said}"
    );
    let pcap = dump.stop();
    let s = Sniffed::of("smb", &wrong, &pcap);
    assert_eq!(
        s.seen(),
        BTreeSet::from([seen(
            &user.0,
            None,
            &detail("SMB2", "rejected (STATUS_LOGON_FAILURE)")
        )]),
        "{:?}",
        s.creds
    );
    crack_all(&s.hash_dir, 5600, WRONG_PASSWORD);
}

/// samba-dcerpcd from Debian's samba package (not on PATH).
const DCERPCD: &str = "/usr/libexec/samba/samba-dcerpcd";

#[test]
fn rpcclient_dcerpc_over_tcp_ntlmv2_cracks_with_hashcat_5600() {
    skip_unless!(
        "rpcclient_dcerpc_over_tcp_ntlmv2_cracks_with_hashcat_5600",
        "tcpdump",
        DCERPCD,
        "rpcclient",
        "smbpasswd",
        "useradd"
    );
    if std::net::TcpListener::bind("127.0.0.1:135").is_err() {
        eprintln!("SKIP rpcclient_dcerpc_over_tcp_ntlmv2_cracks_with_hashcat_5600: 127.0.0.1:135 (the endpoint mapper's port) is taken");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let low = free_port();
    let high = low.saturating_add(15);
    let conf = d.join("smb.conf");
    std::fs::write(
        &conf,
        format!(
            "[global]\n{}  netbios name = TPLABSRV\n  server role = standalone server\n  \
             interfaces = lo\n  bind interfaces only = yes\n  \
             passdb backend = tdbsam:{}\n  log file = {}\n  ntlm auth = ntlmv2-only\n  \
             rpc start on demand helpers = no\n  rpc server dynamic port range = {low}-{high}\n",
            private_globals(d, "srv-"),
            d.join("passdb.tdb").display(),
            d.join("dcerpcd.log").display(),
        ),
    )
    .unwrap();
    let user = TempUser::add_to_samba(&conf);
    let _dcerpcd = spawn(
        "samba-dcerpcd",
        Command::new(DCERPCD)
            .args([
                "--libexec-rpcds",
                "--foreground",
                "--no-process-group",
                "-s",
            ])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_port(135);
    wait_port(low);
    let client_conf = d.join("client.conf");
    std::fs::write(
        &client_conf,
        format!(
            "[global]\n{}  netbios name = {CLIENT_HOST}\n  client ntlmv2 auth = yes\n",
            private_globals(d, "cli-")
        ),
    )
    .unwrap();
    let rpcclient = |password: &str| {
        isolated(
            Command::new("rpcclient")
                .arg("-s")
                .arg(&client_conf)
                .args([
                    "-U",
                    &format!("{}%{password}", user.0),
                    "--use-kerberos=off",
                ])
                .args(["ncacn_ip_tcp:127.0.0.1[sign]", "-c", "enumdomusers"]),
        )
        .output()
        .unwrap()
    };
    let filter = format!("tcp port 135 or tcp portrange {low}-{high}");
    let detail = |outcome: &str| {
        format!("auth3: NTLM NetNTLMv2, domain {DOMAIN}, host {CLIENT_HOST}, {outcome}")
    };
    for (name, password, outcome) in [
        ("right", PASSWORD, "accepted"),
        (
            "wrong",
            WRONG_PASSWORD,
            "rejected (fault nca_s_proto_error)",
        ),
    ] {
        let sub = d.join(name);
        std::fs::create_dir(&sub).unwrap();
        let dump = Tcpdump::start(&sub, &filter);
        let out = rpcclient(password);
        let said = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        // The right password lists the user (samr over the authenticated
        // binding); the wrong one is refused.
        assert_eq!(
            said.contains(&format!("user:[{}]", user.0)),
            name == "right",
            "{name}: {said}"
        );
        let pcap = dump.stop();
        let s = Sniffed::of("dcerpc", &sub, &pcap);
        assert_eq!(
            s.seen(),
            BTreeSet::from([seen(&user.0, None, &detail(outcome))]),
            "{name}: {:?}",
            s.creds
        );
        let c = &s.creds[0];
        assert_eq!(c["hashcat_mode"], 5600);
        assert!(
            c["server"].as_str().unwrap().starts_with("127.0.0.1:"),
            "{c}"
        );
        assert_ne!(
            c["server"], "127.0.0.1:135",
            "the login is on the RPC server's port, not the mapper's"
        );
        // The mapper's flow (no authentication) and the RPC server's.
        assert_eq!(
            s.summary["flows_by_proto"]["dcerpc"], 2,
            "{name}: {}",
            s.summary
        );
        crack_all(&s.hash_dir, 5600, password);
    }
}
