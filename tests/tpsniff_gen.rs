//! Captures the project makes itself (`tplab::testgen::pcap`, the same
//! generator as `cargo xtask gen-pcap`): each must yield exactly the
//! credentials and TLS sessions it was built with, through the library and
//! through the binary.

use std::collections::BTreeSet;
use std::process::Command;

use tplab::sniff::finding::Finding;
use tplab::sniff::proto::tls::version_name;
use tplab::sniff::Sniffer;
use tplab::testgen::pcap::{captures, pcapng_bytes, write_all, Capture, ExpectCred, ExpectTls};

fn s(b: &Option<Vec<u8>>) -> Option<String> {
    b.as_ref().map(|v| String::from_utf8(v.clone()).unwrap())
}

fn sniff(
    c: &Capture,
) -> (
    BTreeSet<ExpectCred>,
    BTreeSet<ExpectTls>,
    tplab::sniff::Summary,
) {
    let mut sn = Sniffer::default();
    let mut found = Vec::new();
    for (ts, p) in &c.packets {
        found.extend(sn.feed(c.link, *ts, p));
    }
    found.extend(sn.finish());
    let mut creds = BTreeSet::new();
    let mut tls = BTreeSet::new();
    for f in found {
        match f {
            Finding::Credential(cr) => {
                creds.insert(ExpectCred {
                    proto: cr.proto,
                    user: s(&cr.user),
                    password: s(&cr.password),
                });
            }
            Finding::Tls(t) => {
                let version = version_name(t.version().unwrap());
                tls.insert(ExpectTls {
                    sni: t.sni.unwrap_or_default(),
                    version,
                });
            }
        }
    }
    (creds, tls, sn.summary())
}

#[test]
fn generated_captures_yield_what_they_were_built_with() {
    for seed in [1, 2, 3, 42, 0xdead_beef] {
        let all = captures(seed);
        assert!(all.len() >= 8);
        for c in &all {
            let (creds, tls, sum) = sniff(c);
            assert_eq!(
                creds,
                c.creds.iter().cloned().collect(),
                "seed {seed} {}",
                c.name
            );
            assert_eq!(
                tls,
                c.tls.iter().cloned().collect(),
                "seed {seed} {}",
                c.name
            );
            assert!(
                sum.bad_packets.is_empty(),
                "{}: {:?}",
                c.name,
                sum.bad_packets
            );
            assert!(
                sum.parse_errors.is_empty(),
                "{}: {:?}",
                c.name,
                sum.parse_errors
            );
            if c.name == "http-reordered" {
                assert!(
                    sum.flow.out_of_order > 0 && sum.flow.retransmitted > 0,
                    "{:?}",
                    sum.flow
                );
            }
            if c.name == "http-chunked-pipelined" {
                assert_eq!(sum.http_requests, 3);
                assert_eq!(
                    sum.latency[0].count, 3,
                    "three responses matched to three requests"
                );
            }
        }
    }
}

#[test]
fn the_generator_is_deterministic_for_a_seed() {
    let a: Vec<Vec<u8>> = captures(7).iter().map(Capture::pcap_bytes).collect();
    let b: Vec<Vec<u8>> = captures(7).iter().map(Capture::pcap_bytes).collect();
    let c: Vec<Vec<u8>> = captures(8).iter().map(Capture::pcap_bytes).collect();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn the_binary_reads_the_generated_files() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_all(dir.path(), 5).unwrap();
    let caps = captures(5);
    for (p, c) in paths.iter().zip(&caps) {
        let out = Command::new(env!("CARGO_BIN_EXE_tpsniff"))
            .arg("--json")
            .arg("-r")
            .arg(p)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let n = text
            .lines()
            .filter(|l| l.starts_with("{\"kind\":\"credential\""))
            .count();
        assert_eq!(n, c.creds.len(), "{}: {text}", c.name);
        assert_eq!(
            out.status.code(),
            Some(if c.creds.is_empty() { 1 } else { 0 }),
            "{}",
            c.name
        );
        for e in &c.creds {
            let pw = e.password.as_deref().unwrap();
            assert!(
                text.contains(&format!("\"password\":\"{pw}\"")),
                "{}: {pw} in {text}",
                c.name
            );
        }
    }
}

#[test]
fn pcapng_files_are_read_too() {
    let dir = tempfile::tempdir().unwrap();
    let caps = captures(11);
    let c = caps.iter().find(|c| c.name == "sll2-ftp").unwrap();
    let p = dir.path().join("ftp.pcapng");
    std::fs::write(&p, pcapng_bytes(c.link.to_pcap(), &c.packets)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tpsniff"))
        .arg("-r")
        .arg(&p)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let pw = c.creds[0].password.as_deref().unwrap();
    assert!(
        text.contains(&format!("ftp user=grace password={pw}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("packets: {} ", c.packets.len())),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn field_extends_the_secret_names_and_all_reports_repeats() {
    use tplab::testgen::pcap::{pcap_bytes, Conn, Link, Rng};
    let mut rng = Rng::new(21);
    let mut packets = Vec::new();
    for i in 0..2u16 {
        let client = format!("10.3.0.1:{}", 41000 + i).parse().unwrap();
        let mut c = Conn::open(
            Link::Ethernet,
            client,
            "10.3.0.2:80".parse().unwrap(),
            &mut rng,
            i as i64 * 1_000_000,
        );
        let body = "login=kim&pin%20code=0042";
        let req = format!("POST /unlock HTTP/1.1\r\nHost: door\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        c.send(true, req.as_bytes(), 1460);
        c.close();
        packets.extend(c.packets);
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pin.pcap");
    std::fs::write(&p, pcap_bytes(1, &packets)).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tpsniff"))
            .args(args)
            .arg("-r")
            .arg(&p)
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap(),
        )
    };
    let (code, text) = run(&[]);
    assert_eq!(code, 1, "`pin code` is no default field: {text}");
    let (code, text) = run(&["--field", "pin code"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        text.matches("http-form user=kim password=0042").count(),
        1,
        "{text}"
    );
    let (_, text) = run(&["--field", "pin code", "--all"]);
    assert_eq!(
        text.matches("http-form user=kim password=0042").count(),
        2,
        "{text}"
    );
}
