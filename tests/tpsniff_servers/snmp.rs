//! SNMP (Debian's snmpd on a loopback UDP port, from a private config) with
//! snmpget asking in v1 and v2c with their communities, and in v3 as a USM
//! user (authPriv: only the user name is visible).

use super::*;

const V1_COMMUNITY: &str = "v1-c0mmunity";
const V2_COMMUNITY: &str = "v2c-c0mmunity";
const V3_USER: &str = "snmpalice";
const V3_PASS: &str = "alice-auth-pass";

#[test]
fn snmp_v1_v2c_communities_and_v3_user() {
    skip_unless!(
        "snmp_v1_v2c_communities_and_v3_user",
        "tcpdump",
        "snmpd",
        "snmpget"
    );
    let port = free_udp_port();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("snmpd.conf");
    std::fs::write(
        &conf,
        format!(
            "agentaddress udp:127.0.0.1:{port}\n\
             rocommunity {V1_COMMUNITY} 127.0.0.1\n\
             rocommunity {V2_COMMUNITY} 127.0.0.1\n\
             createUser {V3_USER} SHA \"{V3_PASS}\" AES \"{V3_PASS}\"\n\
             rouser {V3_USER} priv\n"
        ),
    )
    .unwrap();
    let persist = dir.path().join("persist");
    std::fs::create_dir(&persist).unwrap();
    let _agent = spawn(
        "snmpd",
        Command::new("snmpd")
            .args(["-f", "-Lo", "-C", "-c"])
            .arg(&conf)
            .arg("-I-smux")
            .env("SNMP_PERSISTENT_DIR", &persist)
            .env("MIBS", "")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let target = format!("udp:127.0.0.1:{port}");
    let sys_descr = "1.3.6.1.2.1.1.1.0";
    let get = |args: &[&str]| -> std::process::Output {
        Command::new("snmpget")
            .args(["-On", "-r", "1", "-t", "2"])
            .args(args)
            .args([&target[..], sys_descr])
            .env("MIBS", "")
            .env("SNMP_PERSISTENT_DIR", &persist)
            .output()
            .expect("run snmpget")
    };
    // The agent is ready once it answers.
    let t = Instant::now();
    while !get(&["-v2c", "-c", V2_COMMUNITY]).status.success() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "snmpd never answered"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let dump = Tcpdump::start(dir.path(), &format!("udp port {port}"));
    for args in [
        &["-v1", "-c", V1_COMMUNITY][..],
        &["-v2c", "-c", V2_COMMUNITY],
        &[
            "-v3", "-l", "authPriv", "-u", V3_USER, "-a", "SHA", "-A", V3_PASS, "-x", "AES", "-X",
            V3_PASS,
        ],
    ] {
        let out = get(args);
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains(sys_descr),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let pcap = dump.stop();
    let s = Sniffed::of("snmp", dir.path(), &pcap);
    assert_eq!(
        s.seen(),
        BTreeSet::from([
            seen("-", Some(V1_COMMUNITY), "v1 get-request community"),
            seen("-", Some(V1_COMMUNITY), "v1 response community"),
            seen("-", Some(V2_COMMUNITY), "v2c get-request community"),
            seen("-", Some(V2_COMMUNITY), "v2c response community"),
            seen(V3_USER, None, "v3 user, authPriv"),
        ])
    );
    assert!(s.summary["udp_packets"].as_u64().unwrap() >= 6);
    assert_eq!(s.summary["udp"]["flows"], 3, "one flow per snmpget");
    assert_eq!(s.summary["flows_by_proto"]["snmp"], 3);
}
