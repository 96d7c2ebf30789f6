//! RADIUS (Debian's freeradius on a loopback UDP port, from a minimal
//! radiusd.conf the test writes: one client with a known secret, the pap,
//! chap and files modules, a users file with a Cleartext-Password) with
//! radclient sending a PAP Access-Request, a CHAP one and a PAP one with a
//! wrong password. With `--radius-secret` tpsniff must decode both PAP
//! passwords exactly; without it, report the users and that a password was
//! sent. Each finding must say what freeradius answered (the first two
//! accepted, the wrong password rejected). The CHAP response's hashcat
//! 4800 line must crack to the password.

use super::*;

const SECRET: &str = "rad-s3cret";
const USER: &str = "alice";
const PASSWORD: &str = "rad-Pw-53";
const WRONG_USER: &str = "bob";
const WRONG_PASSWORD: &str = "not-bobs-Pw";

/// radclient with one request, `auth SECRET`; its exit status.
fn radclient(port: u16, attrs: &str) -> std::process::Output {
    let mut c = isolated(Command::new("radclient").args(["-x", "-r", "1", "-t", "2"]))
        .arg(format!("127.0.0.1:{port}"))
        .args(["auth", SECRET])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("radclient");
    writeln!(c.stdin.take().unwrap(), "{attrs}").unwrap();
    c.wait_with_output().unwrap()
}

#[test]
fn radclient_pap_decoded_with_the_secret_and_chap_cracks_with_hashcat_4800() {
    skip_unless!(
        "radclient_pap_decoded_with_the_secret_and_chap_cracks_with_hashcat_4800",
        "tcpdump",
        "freeradius",
        "radclient"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = free_udp_port();
    let conf = d.join("raddb");
    std::fs::create_dir(&conf).unwrap();
    let users = conf.join("users");
    std::fs::write(
        &users,
        format!("{USER}\tCleartext-Password := \"{PASSWORD}\"\n"),
    )
    .unwrap();
    let c = conf.display();
    std::fs::write(
        conf.join("radiusd.conf"),
        format!(
            "prefix = /usr\nexec_prefix = /usr\nsysconfdir = /etc\nlocalstatedir = /var\n\
             sbindir = /usr/sbin\nconfdir = {c}\nraddbdir = {c}\nlogdir = {c}\nrun_dir = {c}\n\
             radacctdir = {c}\nlibdir = /usr/lib/freeradius\ndictdir = /usr/share/freeradius\n\
             name = freeradius\npidfile = {c}/radiusd.pid\nhostname_lookups = no\n\
             log {{\n destination = stdout\n}}\n\
             client localhost {{\n ipaddr = 127.0.0.1\n secret = {SECRET}\n}}\n\
             modules {{\n pap {{\n }}\n chap {{\n }}\n files {{\n  filename = {}\n }}\n}}\n\
             server default {{\n listen {{\n  type = auth\n  ipaddr = 127.0.0.1\n  port = {port}\n }}\n\
              authorize {{\n  chap\n  files\n  pap\n }}\n\
              authenticate {{\n  Auth-Type PAP {{\n   pap\n  }}\n  Auth-Type CHAP {{\n   chap\n  }}\n }}\n}}\n",
            users.display()
        ),
    )
    .unwrap();
    let _server = spawn(
        "freeradius",
        Command::new("freeradius")
            .arg("-X")
            .arg("-d")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    // Ready once it accepts the user (before the capture starts).
    let t = Instant::now();
    let login = format!("User-Name={USER},User-Password={PASSWORD}");
    while !radclient(port, &login).status.success() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "freeradius never answered"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let dump = Tcpdump::start(d, &format!("udp port {port}"));
    for (attrs, accepted) in [
        (login.clone(), true),
        (format!("User-Name={USER},CHAP-Password={PASSWORD}"), true),
        (
            format!("User-Name={WRONG_USER},User-Password={WRONG_PASSWORD}"),
            false,
        ),
    ] {
        let out = radclient(port, &attrs);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let want = if accepted {
            "Received Access-Accept"
        } else {
            "Received Access-Reject"
        };
        assert!(stdout.contains(want), "{attrs}: {stdout}");
    }
    let pcap = dump.stop();
    let s = Sniffed::with_args("radius", d, &pcap, &["--radius-secret", SECRET]);
    assert_eq!(
        s.seen(),
        BTreeSet::from([
            seen(USER, Some(PASSWORD), "Access-Request PAP, accepted"),
            seen(USER, None, "Access-Request CHAP, accepted"),
            seen(
                WRONG_USER,
                Some(WRONG_PASSWORD),
                "Access-Request PAP, rejected"
            ),
        ])
    );
    for c in &s.creds {
        assert_eq!(c["server"], format!("127.0.0.1:{port}"), "{c}");
    }
    assert_eq!(s.summary["flows_by_proto"]["radius"], 3);
    crack_all(&s.hash_dir, 4800, PASSWORD);
    // Without the secret: the users, the outcome, and the remark.
    let plain = d.join("no-secret");
    std::fs::create_dir(&plain).unwrap();
    let s = Sniffed::of("radius", &plain, &pcap);
    let hidden = |outcome: &str| {
        format!("Access-Request PAP, {outcome}; password sent, not decoded (give --radius-secret)")
    };
    assert_eq!(
        s.seen(),
        BTreeSet::from([
            seen(USER, None, &hidden("accepted")),
            seen(USER, None, "Access-Request CHAP, accepted"),
            seen(WRONG_USER, None, &hidden("rejected")),
        ])
    );
    // A wrong secret: the replies do not verify, and that is said.
    let wrong = d.join("wrong-secret");
    std::fs::create_dir(&wrong).unwrap();
    let s = Sniffed::with_args("radius", &wrong, &pcap, &["--radius-secret", "not-it"]);
    let unverified = |d: &str| {
        s.creds
            .iter()
            .filter(|c| {
                c["detail"].as_str()
                    == Some(&*format!(
                        "{d} (Response Authenticator does not match the secret)"
                    ))
            })
            .count()
    };
    assert_eq!(
        unverified("Access-Request PAP, accepted"),
        1,
        "{:?}",
        s.creds
    );
    assert_eq!(
        unverified("Access-Request CHAP, accepted"),
        1,
        "{:?}",
        s.creds
    );
    assert_eq!(
        unverified("Access-Request PAP, rejected"),
        1,
        "{:?}",
        s.creds
    );
}
