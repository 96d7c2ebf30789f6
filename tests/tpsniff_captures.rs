//! Runs the real `tpsniff` binary on every capture in `../shared/captures/`
//! and checks what that folder's README says each must yield. Skips (with a
//! message) where the folder is absent.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn captures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/captures");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: {} is absent", dir.display());
        None
    }
}

struct Run {
    code: i32,
    objs: Vec<Value>,
    stderr: String,
}

impl Run {
    fn creds(&self) -> Vec<&Value> {
        self.objs
            .iter()
            .filter(|o| o["kind"] == "credential")
            .collect()
    }
    fn summary(&self) -> &Value {
        let last = self.objs.last().expect("output");
        assert_eq!(last["kind"], "summary", "the last object is the summary");
        last
    }
    fn pairs(&self, proto: &str) -> BTreeSet<(String, Option<String>)> {
        self.creds()
            .into_iter()
            .filter(|c| c["proto"] == proto)
            .map(|c| {
                (
                    c["user"].as_str().unwrap_or("").to_string(),
                    c["password"].as_str().map(String::from),
                )
            })
            .collect()
    }
}

fn run(file: &Path, extra: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_tpsniff"))
        .arg("--json")
        .args(extra)
        .arg("--read")
        .arg(file)
        .output()
        .expect("run tpsniff");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
    let objs = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect();
    Run {
        code: out.status.code().expect("exit code"),
        objs,
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

fn pair(u: &str, p: &str) -> (String, Option<String>) {
    (u.to_string(), Some(p.to_string()))
}

fn check_clean(r: &Run, name: &str) {
    let s = r.summary();
    assert!(s["error"].is_null(), "{name}: {}", s["error"]);
    assert_eq!(s["bad_packets"], serde_json::json!({}), "{name}");
    assert!(r.stderr.is_empty(), "{name}: {}", r.stderr);
}

#[test]
fn every_shared_capture_yields_what_its_readme_says() {
    let Some(dir) = captures() else { return };
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".pcap") && !name.ends_with(".pcapng") {
            continue;
        }
        seen += 1;
        let r = run(&path, &[]);
        check_clean(&r, &name);
        let s = r.summary();
        let found = !r.creds().is_empty();
        assert_eq!(r.code, if found { 0 } else { 1 }, "{name}: exit code");
        assert_eq!(
            s["credentials"].as_u64().unwrap() as usize,
            r.creds().len(),
            "{name}"
        );
        match name.as_str() {
            "credslayer-http-post-auth.pcap" => {
                assert_eq!(
                    r.pairs("http-form"),
                    BTreeSet::from([pair("toto", "Str0ngP4ssw0rd")])
                );
                assert!(r.creds()[0]["server"].as_str().unwrap().ends_with(":1337"));
            }
            "credslayer-http-get-auth.pcap" => {
                assert_eq!(
                    r.pairs("http-query"),
                    BTreeSet::from([pair("admin", "qwerty1234")])
                );
            }
            "credslayer-http-basic-auth.pcap" => {
                let want: BTreeSet<_> = ["fail", "fail2", "fail3", "test"]
                    .iter()
                    .map(|p| pair("test", p))
                    .collect();
                assert_eq!(r.pairs("http-basic"), want);
                assert_eq!(r.creds().len(), 4, "repeats are reported once");
                assert!(s["credential_sightings"].as_u64().unwrap() > 4);
            }
            "credslayer-ftp.pcap" => {
                assert_eq!(
                    r.pairs("ftp"),
                    BTreeSet::from([pair("anonymous", "ftp@example.com")])
                )
            }
            "credslayer-imap.pcap" => {
                assert_eq!(
                    r.pairs("imap"),
                    BTreeSet::from([pair("neulingern", "XXXXXX")])
                )
            }
            "credslayer-pop3.pcap" => {
                let u = "digitalinvestigator@networksims.com";
                assert_eq!(
                    r.pairs("pop3"),
                    BTreeSet::from([pair(u, "napier"), pair(u, "napier123")])
                );
            }
            "credslayer-smtp.pcap" => {
                assert_eq!(
                    r.pairs("smtp"),
                    BTreeSet::from([pair("gurpartap@patriots.in", "punjab@123")])
                )
            }
            "credslayer-telnet.pcap" => {
                assert_eq!(
                    r.pairs("telnet"),
                    BTreeSet::from([pair("shellcode", "shellcode")])
                )
            }
            "arkime-http-basicauth.pcap" => {
                assert_eq!(
                    r.pairs("http-basic"),
                    BTreeSet::from([pair("userrrrr", "passworddddd")])
                );
                assert!(r.creds()[0]["server"].as_str().unwrap().ends_with(":2082"));
            }
            "arkime-http-digestauth.pcap" => {
                assert_eq!(
                    r.pairs("http-digest"),
                    BTreeSet::from([("user12345678@domain.xxxx".to_string(), None)])
                );
                assert!(r.creds()[0]["password"].is_null());
            }
            "arkime-http-100-continue.pcap" => {
                assert!(!found);
                assert_eq!(s["http_requests"], 1);
                assert!(s["reassembly"]["retransmitted"].as_u64().unwrap() >= 1);
                // A body appended twice would be parsed as a second, bad request.
                assert_eq!(s["parse_errors"], serde_json::json!({}));
                assert!(
                    s["latency_us"][0]["server"]
                        .as_str()
                        .unwrap()
                        .starts_with('['),
                    "IPv6 in brackets"
                );
            }
            "arkime-tls-split-client-hello.pcap" => {
                let tls: Vec<_> = r.objs.iter().filter(|o| o["kind"] == "tls").collect();
                assert_eq!(tls.len(), 1);
                assert_eq!(tls[0]["sni"], "clients2.google.com");
                assert_eq!(tls[0]["version"], "TLS1.3");
                let offered: Vec<&str> = tls[0]["offered"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                assert!(offered.contains(&"TLS1.3"), "{offered:?}");
                assert!(
                    offered.iter().all(|v| v.starts_with("TLS")),
                    "GREASE ignored: {offered:?}"
                );
                assert!(tls[0]["bytes"].as_u64().unwrap() > 0);
                assert_eq!(s["tls_by_sni"]["clients2.google.com"], 1);
            }
            "arkime-twovlan.pcap"
            | "arkime-v6-http.pcap"
            | "tcpdump-ipv4_tcp_http_xml_tso.pcap" => {
                assert!(!found, "{name}");
                assert_eq!(s["http_requests"], 1, "{name}");
                assert_eq!(s["flows_by_proto"]["http"], 1, "{name}");
            }
            "arkime-dot1ad.pcap" => {
                assert!(!found);
                assert_eq!(s["tcp_packets"], 0);
                assert!(s["other_packets"].as_u64().unwrap() >= 1);
            }
            "lwerdna-simple_http.pcap" | "lwerdna-simple_http_sll2.pcap" => {
                assert!(!found, "{name}");
                assert_eq!(s["http_requests"], 2, "{name}");
                assert!(s["latency_us"][0]["count"].as_u64().unwrap() == 2, "{name}");
            }
            other => panic!("{other}: not in this test's table; add what its README says"),
        }
    }
    assert!(seen >= 18, "only {seen} captures");
}

#[test]
fn text_output_and_redaction() {
    let Some(dir) = captures() else { return };
    let file = dir.join("credslayer-http-post-auth.pcap");
    let out = Command::new(env!("CARGO_BIN_EXE_tpsniff"))
        .arg("-r")
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let first = text.lines().next().unwrap();
    assert!(
        first.contains(" -> 192.168.56.101:1337 http-form user=toto password=Str0ngP4ssw0rd"),
        "{first}"
    );
    assert!(text.contains("credentials in cleartext: 1 distinct"));
    let r = run(&file, &["--redact"]);
    assert_eq!(r.creds()[0]["password"], "S*************");
    assert_eq!(r.code, 0);
}

#[test]
fn a_truncated_file_reports_what_was_decoded_then_names_file_and_packet() {
    let Some(dir) = captures() else { return };
    let data = std::fs::read(dir.join("credslayer-http-basic-auth.pcap")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cut = tmp.path().join("cut.pcap");
    std::fs::write(&cut, &data[..data.len() * 2 / 3]).unwrap();
    let r = run(&cut, &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("cut.pcap") && r.stderr.contains("packet "),
        "{}",
        r.stderr
    );
    let s = r.summary();
    assert!(s["packets"].as_u64().unwrap() > 100);
    assert!(s["error"].as_str().unwrap().contains("cut.pcap"));
    assert!(
        !r.creds().is_empty(),
        "credentials before the cut are reported"
    );
}

#[test]
fn unknown_link_type_and_missing_file_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("usb.pcap");
    let mut hdr = Vec::new();
    hdr.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    hdr.extend_from_slice(&2u16.to_le_bytes());
    hdr.extend_from_slice(&4u16.to_le_bytes());
    for w in [0u32, 0, 65535, 189] {
        hdr.extend_from_slice(&w.to_le_bytes());
    }
    std::fs::write(&f, &hdr).unwrap();
    let r = run(&f, &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("usb.pcap") && r.stderr.contains("packet 1"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("link type 189"), "{}", r.stderr);
    let r = run(&tmp.path().join("nope.pcap"), &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("nope.pcap"), "{}", r.stderr);
}

/// Read in shards (each thread takes the flows of some IP pairs), a
/// capture gives the same lines in the same order as read by one thread:
/// findings, summary, and the error of a truncated file.
#[test]
fn threads_change_nothing_in_the_output() {
    let tmp = tempfile::tempdir().unwrap();
    let mut files = tplab::testgen::pcap::write_all(tmp.path(), 11).unwrap();
    files.push(interleaved(tmp.path()));
    if let Some(dir) = captures() {
        let mut shared: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
            .collect();
        shared.sort();
        let data = std::fs::read(dir.join("credslayer-http-basic-auth.pcap")).unwrap();
        let cut = tmp.path().join("cut.pcap");
        std::fs::write(&cut, &data[..data.len() * 2 / 3]).unwrap();
        files.extend(shared);
        files.push(cut);
    }
    let raw = |f: &Path, threads: &str, json: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tpsniff"));
        if json {
            c.arg("--json");
        }
        let o = c
            .args(["--threads", threads, "-r"])
            .arg(f)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let mut creds = 0;
    for f in &files {
        for json in [true, false] {
            let one = raw(f, "1", json);
            creds += one
                .1
                .lines()
                .filter(|l| l.contains("password=") || l.contains("\"credential\""))
                .count();
            for n in ["2", "3"] {
                assert_eq!(
                    raw(f, n, json),
                    one,
                    "{} with --threads {n} (json: {json})",
                    f.display()
                );
            }
        }
    }
    assert!(creds > 20, "the captures hold credentials: {creds}");
}

/// 60 conversations between 60 address pairs, their small segments
/// interleaved, some logins repeated (dedup across threads), one server
/// reached by several clients (its latency from several threads).
fn interleaved(dir: &Path) -> PathBuf {
    use tplab::testgen::pcap::{login_post, pcap_bytes, Conn, Link, Rng};
    let mut rng = Rng::new(7);
    let mut conns: Vec<Conn> = (0..60u32)
        .map(|i| {
            let client = format!("10.1.{}.{}:{}", i / 200, i % 200 + 1, 40000 + i)
                .parse()
                .unwrap();
            let server = if i % 3 == 0 {
                "10.9.0.1:80".to_string()
            } else {
                format!("10.2.0.{}:80", i + 1)
            };
            let mut c = Conn::open(
                Link::Raw,
                client,
                server.parse().unwrap(),
                &mut rng,
                1_700_000_000_000_000 + i as i64,
            );
            let user = format!("user{}", i % 7);
            c.send(
                true,
                &login_post("files.lab", &user, &format!("pw-{}", i % 7)),
                60,
            );
            c.send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 30);
            c.close();
            c
        })
        .collect();
    let mut packets = Vec::new();
    let mut t = 1_700_000_001_000_000i64;
    while conns.iter().any(|c| !c.packets.is_empty()) {
        for c in conns.iter_mut().filter(|c| !c.packets.is_empty()) {
            let (_, p) = c.packets.remove(0);
            t += 50;
            packets.push((t, p));
        }
    }
    let f = dir.join("interleaved.pcap");
    std::fs::write(&f, pcap_bytes(Link::Raw.link_type().to_pcap(), &packets)).unwrap();
    f
}
