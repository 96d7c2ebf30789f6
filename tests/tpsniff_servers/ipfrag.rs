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

/// Runs `f` on a thread that has entered network namespace `ns` (the
/// sockets it makes are that namespace's).
fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        use std::os::fd::AsRawFd;
        // SAFETY: setns(2) on this thread only, with a namespace fd.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
}

/// An HTTP login over TCP whose segments a router fragments: client
/// namespace (MTU 1500, path MTU discovery off on the socket, so no DF
/// bit), a router namespace, and a server namespace behind a link of MTU
/// 576 that advertises an MSS of 1460. The router cuts every 1500-byte
/// segment into fragments; recorded on the server's side.
#[test]
fn http_login_over_tcp_fragmented_by_a_router() {
    skip_unless!(
        "http_login_over_tcp_fragmented_by_a_router",
        "tcpdump",
        "ip"
    );
    use std::io::Read;
    let pid = std::process::id();
    let (a, r, b) = (
        format!("tpsniff-tfa-{pid}"),
        format!("tpsniff-tfr-{pid}"),
        format!("tpsniff-tfb-{pid}"),
    );
    ip(&["netns", "add", &a]);
    let _ns = Netns(vec![a.clone(), r.clone(), b.clone()]);
    ip(&["netns", "add", &r]);
    ip(&["netns", "add", &b]);
    ip(&[
        "-n", &a, "link", "add", "va", "type", "veth", "peer", "name", "ra", "netns", &r,
    ]);
    ip(&[
        "-n", &b, "link", "add", "vb", "type", "veth", "peer", "name", "rb", "netns", &r,
    ]);
    for (ns, dev, addr, mtu) in [
        (&a, "va", "10.78.1.1/24", "1500"),
        (&r, "ra", "10.78.1.2/24", "1500"),
        (&r, "rb", "10.78.2.2/24", "576"),
        (&b, "vb", "10.78.2.1/24", "576"),
    ] {
        ip(&["-n", ns, "link", "set", "lo", "up"]);
        ip(&["-n", ns, "link", "set", dev, "mtu", mtu, "up"]);
        ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
    }
    ip(&["-n", &a, "route", "add", "10.78.2.0/24", "via", "10.78.1.2"]);
    // The server asks for segments bigger than its own link carries.
    ip(&[
        "-n",
        &b,
        "route",
        "add",
        "10.78.1.0/24",
        "via",
        "10.78.2.2",
        "advmss",
        "1460",
    ]);
    run_ok(
        Command::new("ip")
            .args(["netns", "exec", &r, "sh", "-c"])
            .arg("echo 1 > /proc/sys/net/ipv4/ip_forward"),
    );
    let dir = tempfile::tempdir().unwrap();
    let dump = Tcpdump::start_in(dir.path(), Some(&b), "vb", "");

    let user = "frag-user";
    let password = "Fr4gm3nted-pa55";
    // The password at the end: in a fragment that carries no TCP header.
    let body = format!("pad={}&user={user}&password={password}", "x".repeat(2000));
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: 10.78.2.1:8080\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let sent = request.len();
    let (tx, rx) = std::sync::mpsc::channel();
    let server = in_netns(&b, move || {
        let l = TcpListener::bind("10.78.2.1:8080").unwrap();
        tx.send(()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while got.len() < sent {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "client closed early");
            got.extend_from_slice(&buf[..n]);
        }
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            .unwrap();
        got.len()
    });
    rx.recv().unwrap();
    let client = in_netns(&a, move || {
        let mut s = std::net::TcpStream::connect("10.78.2.1:8080").unwrap();
        use std::os::fd::AsRawFd;
        let dont: libc::c_int = libc::IP_PMTUDISC_DONT;
        // SAFETY: setsockopt(2) on this socket with an int option.
        let rc = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_MTU_DISCOVER,
                &dont as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0);
        s.write_all(request.as_bytes()).unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        resp
    });
    assert!(client.join().unwrap().ends_with("ok"));
    assert_eq!(server.join().unwrap(), sent);
    let pcap = dump.stop();
    let text = run_ok(Command::new("tcpdump").args(["-n", "-r"]).arg(&pcap));
    assert!(
        text.contains("IP 10.78.1.1 > 10.78.2.1: ip-proto-6"),
        "no fragments: {text}"
    );

    let s = Sniffed::of("http-form", dir.path(), &pcap);
    assert_eq!(
        s.seen(),
        BTreeSet::from([seen(user, Some(password), "POST 10.78.2.1:8080/login")])
    );
    let g = &s.summary["ipfrag"];
    assert!(g["reassembled"].as_u64().unwrap() >= 2, "{g}");
    assert!(
        g["fragments"].as_u64().unwrap() >= 2 * g["reassembled"].as_u64().unwrap(),
        "{g}"
    );
    assert_eq!(g["dropped_invalid"], 0, "{g}");
    assert_eq!(g["dropped_overlap"], 0, "{g}");
    assert_eq!(s.summary["reassembly"]["gaps_skipped"], 0);
}
