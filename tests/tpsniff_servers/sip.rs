//! SIP Digest: SIPp (Debian's sip-tester) as the registrar, from a
//! scenario that challenges a REGISTER with a 401 and checks the Digest
//! answer with `verifyauth` (200 OK only for the right password), and
//! sipsak as the client, over UDP and over TCP. The `Authorization` header
//! must come out as a hashcat 11400 line that hashcat cracks back to the
//! password.

use super::*;

const USER: &str = "alice";
const PASS: &str = "sip-pa55word";

fn scenario() -> String {
    let reply = |status: &str, extra: &str| {
        format!(
            "<send><![CDATA[\n\nSIP/2.0 {status}\n[last_Via:]\n[last_From:]\n\
             [last_To:];tag=[pid]tplab[call_number]\n[last_Call-ID:]\n[last_CSeq:]\n\
             {extra}Content-Length: 0\n\n]]></send>\n"
        )
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"digest registrar\">\n\
         <recv request=\"REGISTER\" />\n{}\
         <recv request=\"REGISTER\"><action>\
         <verifyauth assign_to=\"ok\" username=\"{USER}\" password=\"{PASS}\" />\
         </action></recv>\n\
         <nop hide=\"true\" test=\"ok\" next=\"good\" />\n{}\
         <label id=\"good\" />\n{}<label id=\"end\" />\n</scenario>\n",
        reply(
            "401 Unauthorized",
            "WWW-Authenticate: Digest realm=\"tplab.test\", nonce=\"[pid]a7f3[call_number]c0de\", qop=\"auth\", algorithm=MD5\n"
        ),
        reply("403 Forbidden", "").replace("<send>", "<send next=\"end\">"),
        reply("200 OK", "[last_Contact:]\n"),
    )
}

/// Waits until something listens on `port` (`ss`, so that no test
/// connection reaches SIPp).
fn wait_listen(proto: &str, port: u16) {
    let t = Instant::now();
    loop {
        let out = Command::new("ss")
            .args([if proto == "udp" { "-Hlun" } else { "-Hltn" }])
            .args(["sport", "=", &format!(":{port}")])
            .output()
            .expect("run ss");
        if !out.stdout.is_empty() {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "sipp never listened on {proto} {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sip_digest_register_over_udp_and_tcp() {
    skip_unless!(
        "sip_digest_register_over_udp_and_tcp",
        "tcpdump",
        "sipp",
        "sipsak",
        "ss"
    );
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("registrar.xml");
    std::fs::write(&xml, scenario()).unwrap();
    let (pu, pt, local) = (free_udp_port(), free_port(), free_udp_port());
    let dump = Tcpdump::start(dir.path(), &format!("udp port {pu} or tcp port {pt}"));
    for (transport, port) in [("udp", pu), ("tcp", pt)] {
        let _registrar = spawn(
            "sipp",
            Command::new("sipp")
                .arg("-sf")
                .arg(&xml)
                .args(["-t", if transport == "udp" { "u1" } else { "t1" }])
                .args(["-i", "127.0.0.1", "-p", &port.to_string()])
                .args(["-m", "1", "-nostdin", "-timeout", "20s"])
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        wait_listen(transport, port);
        let msg = dir.path().join(format!("register-{transport}.txt"));
        std::fs::write(
            &msg,
            format!(
                "REGISTER sip:127.0.0.1:{port} SIP/2.0\r\n\
                 Via: SIP/2.0/{} 127.0.0.1:{local};branch=z9hG4bK.tplab{port};rport\r\n\
                 From: <sip:{USER}@tplab.test>;tag={port}\r\n\
                 To: <sip:{USER}@tplab.test>\r\n\
                 Call-ID: reg-{port}@127.0.0.1\r\n\
                 CSeq: 1 REGISTER\r\n\
                 Contact: <sip:{USER}@127.0.0.1:{local}>\r\n\
                 Max-Forwards: 70\r\nExpires: 60\r\nContent-Length: 0\r\n\r\n",
                transport.to_ascii_uppercase()
            ),
        )
        .unwrap();
        let mut cmd = Command::new("sipsak");
        cmd.args(["-vv", "--transport", transport, "-f"])
            .arg(&msg)
            .args(["-s", &format!("sip:{USER}@127.0.0.1:{port}")])
            .args(["-u", USER, "-a", PASS]);
        if transport == "udp" {
            cmd.args(["-l", &local.to_string()]);
        }
        let out = run_ok(&mut cmd);
        assert!(
            out.contains("SIP/2.0 200 OK"),
            "SIPp accepted the Digest ({transport}): {out}"
        );
    }
    let pcap = dump.stop();
    let s = Sniffed::of("sip", dir.path(), &pcap);
    assert_eq!(
        s.seen(),
        BTreeSet::from([
            seen(USER, None, &format!("REGISTER sip:127.0.0.1:{pu}")),
            seen(USER, None, &format!("REGISTER sip:127.0.0.1:{pt}")),
        ])
    );
    assert_eq!(s.creds.len(), 2, "one per transport");
    for c in &s.creds {
        assert_eq!(c["hashcat_mode"], 11400, "{c}");
        assert!(c["hash"]
            .as_str()
            .unwrap()
            .starts_with("$sip$***alice*tplab.test*REGISTER**sip:127.0.0.1:"));
    }
    assert_eq!(s.summary["flows_by_proto"]["sip"], 2);
    // One hashcat run per line: given both lines at once, hashcat 6.2.6
    // cracks only one of them (each alone cracks, and both are checked
    // right by hand: MD5(HA1:nonce:nc:cnonce:qop:HA2)).
    let lines = std::fs::read_to_string(s.hash_dir.join("11400.txt")).unwrap();
    assert_eq!(lines.lines().count(), 2, "{lines}");
    for (i, line) in lines.lines().enumerate() {
        let one = dir.path().join(format!("line-{i}"));
        std::fs::create_dir(&one).unwrap();
        std::fs::write(one.join("11400.txt"), format!("{line}\n")).unwrap();
        crack_all(&one, 11400, PASS);
    }
}
