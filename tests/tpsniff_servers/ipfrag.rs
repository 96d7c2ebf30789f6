//! IP fragments on a real link: two network namespaces made by the test,
//! joined by a veth pair with an MTU of 1280. snmpd runs in one, snmpget in
//! the other asks for 100 OIDs at once, so that the request (about 1.4 kB)
//! and the answer (about 7 kB) exceed the MTU and the kernel fragments
//! them: over IPv4 (v1 community) and IPv6 (v2c community). Recorded with
//! tcpdump on the client's veth, every packet; tpsniff must reassemble the
//! datagrams and find the communities.

use super::*;

const V1_COMMUNITY: &str = "frag-v1-c0mmunity";
const V2_COMMUNITY: &str = "frag-v2c-c0mmunity";

/// Network namespaces deleted when dropped (with their veth pair).
struct Netns(Vec<String>);

impl Drop for Netns {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn ip(args: &[&str]) {
    run_ok(Command::new("ip").args(args));
}

#[test]
fn snmp_over_fragmented_ipv4_and_ipv6() {
    skip_unless!(
        "snmp_over_fragmented_ipv4_and_ipv6",
        "tcpdump",
        "snmpd",
        "snmpget",
        "ip"
    );
    let pid = std::process::id();
    let (a, b) = (
        format!("tpsniff-frag-a-{pid}"),
        format!("tpsniff-frag-b-{pid}"),
    );
    ip(&["netns", "add", &a]);
    let _ns = Netns(vec![a.clone(), b.clone()]);
    ip(&["netns", "add", &b]);
    ip(&[
        "-n", &a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", &b,
    ]);
    for (ns, dev, v4, v6) in [
        (&a, "va", "10.77.0.1/24", "fd77::1/64"),
        (&b, "vb", "10.77.0.2/24", "fd77::2/64"),
    ] {
        ip(&["-n", ns, "link", "set", "lo", "up"]);
        ip(&["-n", ns, "link", "set", dev, "mtu", "1280", "up"]);
        ip(&["-n", ns, "addr", "add", v4, "dev", dev]);
        ip(&["-n", ns, "addr", "add", v6, "dev", dev, "nodad"]);
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("snmpd.conf");
    std::fs::write(
        &conf,
        format!(
            "agentaddress udp:10.77.0.2:161,udp6:[fd77::2]:161\n\
             rocommunity {V1_COMMUNITY} 10.77.0.0/24\n\
             rocommunity6 {V2_COMMUNITY} fd77::/64\n"
        ),
    )
    .unwrap();
    let persist = dir.path().join("persist");
    std::fs::create_dir(&persist).unwrap();
    let _agent = spawn(
        "snmpd",
        Command::new("ip")
            .args(["netns", "exec", &b, "snmpd", "-f", "-Lo", "-C", "-c"])
            .arg(&conf)
            .arg("-I-smux")
            .env("SNMP_PERSISTENT_DIR", &persist)
            .env("MIBS", "")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let sys_descr = "1.3.6.1.2.1.1.1.0";
    let get = |version: &str, community: &str, target: &str, oids: usize| {
        Command::new("ip")
            .args(["netns", "exec", &a, "snmpget", "-On", "-r", "1", "-t", "3"])
            .args([version, "-c", community, target])
            .args(std::iter::repeat_n(sys_descr, oids))
            .env("MIBS", "")
            .env("SNMP_PERSISTENT_DIR", &persist)
            .output()
            .expect("run snmpget")
    };
    let t = Instant::now();
    while !get("-v1", V1_COMMUNITY, "udp:10.77.0.2:161", 1)
        .status
        .success()
    {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "snmpd never answered"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let dump = Tcpdump::start_in(dir.path(), Some(&a), "va", "");
    for (version, community, target) in [
        ("-v1", V1_COMMUNITY, "udp:10.77.0.2:161"),
        ("-v2c", V2_COMMUNITY, "udp6:[fd77::2]:161"),
    ] {
        let out = get(version, community, target, 100);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.matches(sys_descr).count() == 100,
            "{version}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let pcap = dump.stop();
    // The capture holds fragments indeed (tcpdump's own reading of it).
    let text = run_ok(Command::new("tcpdump").args(["-n", "-r"]).arg(&pcap));
    assert!(text.contains("IP6 fd77::1 > fd77::2: frag (0|"), "{text}");
    assert!(
        text.contains("IP 10.77.0.1 > 10.77.0.2: ip-proto-17"),
        "{text}"
    );
    let s = Sniffed::of("snmp", dir.path(), &pcap);
    assert_eq!(
        s.seen(),
        BTreeSet::from([
            seen("-", Some(V1_COMMUNITY), "v1 get-request community"),
            seen("-", Some(V1_COMMUNITY), "v1 response community"),
            seen("-", Some(V2_COMMUNITY), "v2c get-request community"),
            seen("-", Some(V2_COMMUNITY), "v2c response community"),
        ])
    );
    let g = &s.summary["ipfrag"];
    // Request and answer, both versions: 4 datagrams, each in 2 fragments
    // (request) or more (answer: its size depends on the kernel's name).
    assert_eq!(g["reassembled"], 4, "{g}");
    assert!(g["fragments"].as_u64().unwrap() >= 8, "{g}");
    for k in [
        "duplicates",
        "dropped_timeout",
        "dropped_overlap",
        "dropped_memory",
        "dropped_invalid",
        "incomplete_at_end",
    ] {
        assert_eq!(g[k], 0, "{k}: {g}");
    }
    assert_eq!(s.summary["fragments"], g["fragments"]);
    assert_eq!(s.summary["udp"]["flows"], 2);
    assert_eq!(s.summary["bad_packets"], serde_json::json!({}));
}
