//! `cargo xtask fuzz [--secs N] [TARGET...]`: runs the cargo-fuzz targets
//! of `fuzz/` one after the other, each for N seconds (default 600), niced
//! so that the machine stays usable, then prints executions, coverage,
//! corpus size and crashes per target.
//!
//! cargo-fuzz needs nightly flags (`-Zsanitizer=address`); on a stable
//! toolchain they are allowed with `RUSTC_BOOTSTRAP=1`, as cargo-fuzz
//! users do. cargo-fuzz itself is installed with `cargo install` when
//! missing. Seeds are written to `fuzz/seeds/TARGET` (from the bundled log
//! and the capture generator); the corpus grows in `fuzz/corpus/TARGET`
//! and crashes land in `fuzz/artifacts/TARGET` (all three gitignored;
//! minimized crashes go to `testdata/fuzz-regressions/TARGET/`, which
//! `cargo test` replays).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::{root, run};

/// Every target in `fuzz/Cargo.toml`.
pub const TARGETS: &[&str] = &[
    "log_parse_line",
    "log_args",
    "log_report",
    "log_format_compile",
    "log_format_line",
    "sniff_feed",
    "http_request",
    "tls_client_hello",
    "snmp_message",
    "postgres_auth",
    "mysql_auth",
    "vnc_handshake",
    "tds_login",
    "socks_handshake",
    "redis_commands",
    "ldap_messages",
    "mqtt_connect",
    "ntlm_message",
    "digest_line",
    "tcp_reassembly",
    "ip_fragments",
    "irc_lines",
    "sip_message",
    "kerberos",
    "qcow2_header",
    "smb_session",
    "dcerpc_session",
    "radius_packet",
    "sasl_exchange",
];

/// The figures of one run, from libFuzzer's output.
#[derive(Debug, Default)]
struct Figures {
    execs: Option<u64>,
    cov: Option<u64>,
    ft: Option<u64>,
    corpus: Option<u64>,
    crashes: Vec<PathBuf>,
    ok: bool,
}

/// `cargo xtask fuzz` options.
#[derive(clap::Args, Debug)]
pub struct Opts {
    /// Seconds per target.
    #[arg(long, value_name = "N", default_value_t = 600)]
    secs: u64,
    /// Targets to run, one after the other (default: all).
    #[arg(value_name = "TARGET", value_parser = clap::builder::PossibleValuesParser::new(TARGETS.iter().copied()))]
    targets: Vec<String>,
}

pub fn run_cmd(o: &Opts) -> Result<()> {
    let secs = o.secs;
    let mut targets = o.targets.clone();
    if targets.is_empty() {
        targets = TARGETS.iter().map(|s| s.to_string()).collect();
    }
    // libFuzzer is C++.
    crate::sys::ensure_packages(&["g++"])?;
    ensure_cargo_fuzz()?;
    let fuzz = root().join("fuzz");
    write_seeds(&fuzz.join("seeds"))?;
    // Build all targets once (niced), then run them one at a time.
    // Optimized, with debug assertions: an arithmetic overflow is a crash.
    run(cargo_fuzz().args(["build", "-O", "-a"]))?;
    let logs = fuzz.join("target/logs");
    fs::create_dir_all(&logs)?;
    let mut table = Vec::new();
    for t in &targets {
        eprintln!("xtask: fuzzing {t} for {secs} s (log: fuzz/target/logs/{t}.log)");
        let f = fuzz_one(t, secs, &fuzz, &logs)?;
        table.push((t.clone(), f));
    }
    println!(
        "{:<18} {:>12} {:>7} {:>7} {:>7} {:>8}",
        "target", "execs", "cov", "ft", "corpus", "crashes"
    );
    let show = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
    let mut failed = false;
    for (t, f) in &table {
        println!(
            "{:<18} {:>12} {:>7} {:>7} {:>7} {:>8}",
            t,
            show(f.execs),
            show(f.cov),
            show(f.ft),
            show(f.corpus),
            f.crashes.len()
        );
        for c in &f.crashes {
            println!("    crash: {}", c.display());
        }
        failed |= !f.ok || !f.crashes.is_empty();
    }
    if failed {
        bail!("a fuzz target crashed: minimize it (cargo fuzz tmin TARGET FILE) into testdata/fuzz-regressions/TARGET/, fix, rerun");
    }
    Ok(())
}

fn cargo_fuzz() -> Command {
    let mut c = Command::new("nice");
    c.args(["-n", "19", "cargo", "fuzz"])
        .env("RUSTC_BOOTSTRAP", "1")
        .current_dir(root());
    c
}

fn ensure_cargo_fuzz() -> Result<()> {
    let have = Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        eprintln!("xtask: installing cargo-fuzz");
        run(Command::new("cargo").args(["install", "--locked", "cargo-fuzz"]))?;
    }
    Ok(())
}

fn fuzz_one(target: &str, secs: u64, fuzz: &Path, logs: &Path) -> Result<Figures> {
    let corpus = fuzz.join("corpus").join(target);
    let artifacts = fuzz.join("artifacts").join(target);
    fs::create_dir_all(&corpus)?;
    fs::create_dir_all(&artifacts)?;
    let before: Vec<PathBuf> = list(&artifacts);
    let log = logs.join(format!("{target}.log"));
    let out = fs::File::create(&log)?;
    let status = cargo_fuzz()
        .args(["run", "-O", "-a", target])
        .arg(&corpus)
        .arg(fuzz.join("seeds").join(target))
        .arg("--")
        .arg(format!("-max_total_time={secs}"))
        .args(["-rss_limit_mb=2048", "-timeout=10", "-print_final_stats=1"])
        .stdout(out.try_clone()?)
        .stderr(out)
        .status()
        .context("running cargo fuzz")?;
    let text = fs::read_to_string(&log).unwrap_or_default();
    let mut f = parse_figures(&text);
    f.ok = status.success();
    f.crashes = list(&artifacts)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    if !f.ok && f.crashes.is_empty() {
        eprintln!(
            "xtask: {target} failed without a crash file; see {}",
            log.display()
        );
    }
    Ok(f)
}

fn list(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// `#123 DONE cov: 456 ft: 789 corp: 12/34b ...` and
/// `stat::number_of_executed_units: 123`.
fn parse_figures(text: &str) -> Figures {
    let mut f = Figures::default();
    let field = |line: &str, key: &str| -> Option<u64> {
        let rest = &line[line.find(key)? + key.len()..];
        let num: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        num.parse().ok()
    };
    for line in text.lines() {
        if line.starts_with('#') && line.contains(" cov: ") {
            f.cov = field(line, "cov:").or(f.cov);
            f.ft = field(line, "ft:").or(f.ft);
            f.corpus = field(line, "corp:").or(f.corpus);
            f.execs = field(line, "#").or(f.execs);
        }
        if let Some(v) = field(line, "stat::number_of_executed_units:") {
            f.execs = Some(v);
        }
    }
    f
}

/// Seeds: valid inputs of each target, so the fuzzers start deep.
fn write_seeds(dir: &Path) -> Result<()> {
    use tplab::sniff::proto::tls::build as tlsb;
    use tplab::testgen::pcap::{captures, login_post};
    let put = |target: &str, name: &str, bytes: &[u8]| -> Result<()> {
        let d = dir.join(target);
        fs::create_dir_all(&d)?;
        fs::write(d.join(name), bytes).with_context(|| format!("writing seed {target}/{name}"))
    };
    let log = fs::read(root().join("testdata/access.log")).unwrap_or_default();
    for (i, line) in log.split(|&b| b == b'\n').step_by(97).take(100).enumerate() {
        put("log_parse_line", &format!("line{i}"), line)?;
    }
    for (i, a) in [
        "08/Feb/2014:07:00",
        "2014-02-08T07:00:59",
        "29/Feb/2016",
        "15m",
        "truc.html\u{0}192.168.11.0/24\u{0}08/Feb/2014:07:00\u{0}09/Feb/2014\u{0}\u{0}4xx\u{0}POST",
        "/a b\u{0}::ffff:10.0.0.1\u{0}\u{0}\u{0}2014-02-08\u{0}404\u{0}GET",
    ]
    .iter()
    .enumerate()
    {
        put("log_args", &format!("arg{i}"), a.as_bytes())?;
    }
    // Kerberos: an AS-REQ's start (pvno 5, msg-type 10), bare and as a
    // TCP record.
    let as_req =
        b"\x6a\x12\x30\x10\xa1\x03\x02\x01\x05\xa2\x03\x02\x01\x0a\xa4\x04\x30\x02\xa0\x00";
    put("kerberos", "as-req", as_req)?;
    put(
        "kerberos",
        "as-req-tcp",
        &[&[0, 0, 0, 20][..], as_req].concat(),
    )?;
    // Formats: every preset's name, some format strings; lines for them.
    for (i, p) in tplab::log::format::presets::PRESETS.iter().enumerate() {
        put("log_format_compile", &format!("preset{i}"), p.name().as_bytes())?;
    }
    for (i, f) in [
        r#"%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" %D %{X-Forwarded-For}i"#,
        r#"%{%d/%b/%Y %T}t %{msec}t %400,501{User-agent}i %U%q %{SSL_PROTOCOL}x"#,
        r#"escape=json {"t":"$time_iso8601","ip":"$remote_addr","r":"$request","s":$status,"rt":$request_time}"#,
        r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $upstream_response_time"#,
    ]
    .iter()
    .enumerate()
    {
        put("log_format_compile", &format!("string{i}"), f.as_bytes())?;
        let mut b = f.as_bytes().to_vec();
        b.push(b'\n');
        b.extend_from_slice(br#"www.example.org:443 10.0.0.1 - - [08/Feb/2014:07:05:03 +0100] "GET / HTTP/1.1" 200 5 "-" "ua" 1234 10.0.0.2, 203.0.113.9"#);
        put("log_format_line", &format!("string{i}"), &b)?;
    }
    for (i, _) in tplab::log::format::presets::PRESETS.iter().enumerate() {
        let mut b = vec![i as u8, b'\n'];
        for l in log.split(|&b| b == b'\n').take(4) {
            b.extend_from_slice(l);
            b.push(b'\n');
        }
        put("log_format_line", &format!("preset{i}"), &b)?;
    }
    // Timelines and day counts over a few real dates.
    let mut rep = vec![2u8, 0];
    for (i, t) in [
        1_391_843_000i64,
        1_391_843_500,
        1_391_900_000,
        1_391_990_000,
    ]
    .iter()
    .enumerate()
    {
        // log_report maps 8 bytes onto 4096 buckets from 2014-02-08.
        rep.extend_from_slice(&(t - 1_391_817_600).to_le_bytes());
        rep.extend_from_slice(&(i as u16).to_le_bytes());
    }
    put("log_report", "timeline", &rep)?;
    rep[0] = 0;
    put("log_report", "days", &rep)?;
    rep[0] = 5;
    rep[1] = 0x1d;
    put("log_report", "ips-top-json", &rep)?;
    let links = [1, 0, 108, 101, 228, 229, 113, 276];
    for (i, c) in captures(1).iter().enumerate() {
        let sel = links
            .iter()
            .position(|&l| l == c.link.to_pcap())
            .unwrap_or(0) as u8;
        let mut b = vec![sel];
        let mut last = c.packets.first().map_or(0, |p| p.0);
        for (ts, p) in &c.packets {
            let n = p.len().min(u16::MAX as usize);
            b.extend_from_slice(&(n as u16).to_be_bytes());
            b.push(((ts - last) / 1_000_000).clamp(0, 255) as u8);
            last = *ts;
            b.extend_from_slice(&p[..n]);
        }
        put("sniff_feed", &format!("{i}-{}", c.name), &b)?;
    }
    let post = login_post("cloud.lab", "alice", "s3cret");
    let mut cut = vec![0u8, 40];
    cut.extend_from_slice(&post);
    put("http_request", "post", &cut)?;
    put(
        "http_request",
        "chunked",
        b"\0\x10POST /l HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n9\r\nuser=bob&\r\nb\r\npassword=pw\r\n0\r\n\r\nGET /?pass=x HTTP/1.1\r\nAuthorization: Basic dTpw\r\n\r\n",
    )?;
    let hello = tlsb::client_hello(
        "example.org",
        &[0x0a0a, 0x0304, 0x0303],
        &["h2", "http/1.1"],
    );
    put("tls_client_hello", "body", &hello)?;
    put("tls_client_hello", "record", &tlsb::record(1, &hello))?;
    put(
        "tls_client_hello",
        "server",
        &tlsb::server_hello(0x0304, Some("h2")),
    )?;
    // SYN, data in order, data out of order, FIN both ways.
    put(
        "tcp_reassembly",
        "handshake",
        &[
            1, 0, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 2, 0, 0, 20, 1, 0, 2, 0, 40, 20, 1, 0, 2, 0, 20,
            20, 1, 0, 4, 0, 60, 0, 1, 0, 4, 1, 0, 0, 1, 0,
        ],
    )?;

    // qcow2: a real overlay header (made by qemu-img, kept with the
    // regressions) and one tpvirt's writer makes.
    for f in fs::read_dir(root().join("testdata/fuzz-regressions/qcow2_header"))?.flatten() {
        put(
            "qcow2_header",
            &f.file_name().to_string_lossy(),
            &fs::read(f.path())?,
        )?;
    }
    if let Ok(b) = tplab::virt::disk::overlay_bytes(1 << 30, "base.qcow2", "qcow2") {
        put("qcow2_header", "tpvirt-overlay", &b[..b.len().min(4096)])?;
    }
    // SASL: one exchange of each mechanism (`AUTH` lines, `S` before a server line).
    for (name, seed) in [
        ("plain", &b"\0AUTH PLAIN AGFteQBwdzE=\nAUTH PLAIN\nAGJvYgBwdzI=\n"[..]),
        ("login", b"\x01AUTH LOGIN\nYWxpY2U=\nczNjcmV0\n"),
        (
            "cram-md5",
            b"\x02AUTH CRAM-MD5\nS+ PDEyMzQ1QGxhYj4=\nYWxpY2UgMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n",
        ),
        (
            "xoauth2",
            b"\0AUTH XOAUTH2 dXNlcj1ib2JAbGFiAWF1dGg9QmVhcmVyIHRvay4xMjMBAQ==\n",
        ),
        ("ntlm", b"\x01AUTH NTLM TlRMTVNTUAABAAAAB4IIog==\nS+ TlRMTVNTUAACAAAAAAAAAAAAAAAAAAAAESIzRFVmd4gAAAAAAAAAAAAAAAAAAAAA\n*\n"),
    ] {
        put("sasl_exchange", name, seed)?;
    }
    smb_and_radius_seeds(put)?;
    // LDAP: a simple bind, a Sicily bind response carrying an NTLM
    // CHALLENGE in matchedDN, a Sicily AUTHENTICATE (the fuzz input's first
    // byte is the piece size; the rest feeds both directions).
    let ber = |tag: u8, v: &[u8]| [&[tag, v.len() as u8][..], v].concat();
    let ldap = |id: u8, op: Vec<u8>| ber(0x30, &[ber(0x02, &[id]), op].concat());
    let challenge = [&b"NTLMSSP\0\x02\0\0\0"[..], &[0; 12], b"\x11\x22\x33\x44\x55\x66\x77\x88", &[0; 8]].concat();
    let mut auth = b"NTLMSSP\0\x03\0\0\0".to_vec();
    auth.resize(64, 0);
    for (name, op) in [
        ("simple-bind", ber(0x60, &[ber(0x02, &[3]), ber(0x04, b"cn=admin,dc=lab"), ber(0x80, b"s3cret")].concat())),
        ("sicily-challenge", ber(0x61, &[ber(0x0a, &[0]), ber(0x04, &challenge), ber(0x04, b"")].concat())),
        ("sicily-authenticate", ber(0x60, &[ber(0x02, &[3]), ber(0x04, b""), ber(0x8b, &auth)].concat())),
    ] {
        put("ldap_messages", name, &[&[7u8][..], &ldap(2, op)].concat())?;
    }
    vnc_seed(put)
}

/// VNC: an RFB 3.8 handshake with VNC Authentication, accepted, in pieces
/// of 12 bytes (client, server, ...; each side padded to 36 bytes with
/// what follows the handshake).
fn vnc_seed(put: impl Fn(&str, &str, &[u8]) -> Result<()>) -> Result<()> {
    let mut c = b"RFB 003.008\n\x02".to_vec();
    c.extend([0x5a; 16]);
    c.resize(36, 1);
    let mut s = b"RFB 003.008\n\x01\x02".to_vec();
    s.extend([0xa5; 16]);
    s.extend([0, 0, 0, 0]);
    s.resize(36, 0);
    let mut seed = vec![11];
    for (a, b) in c.chunks(12).zip(s.chunks(12)) {
        seed.extend(a);
        seed.extend(b);
    }
    put("vnc_handshake", "rfb38", &seed)?;
    // VeNCrypt Plain (user amy, password pw), in pieces of 64 bytes.
    let mut c = b"RFB 003.008\n\x13\x00\x02\x00\x00\x01\x00".to_vec();
    c.extend([0, 0, 0, 3, 0, 0, 0, 2]);
    c.extend(b"amypw");
    c.resize(64, 0);
    let mut s = b"RFB 003.008\n\x01\x13\x00\x02\x00\x01\x00\x00\x01\x00".to_vec();
    s.extend([0, 0, 0, 0]);
    s.resize(64, 0);
    put("vnc_handshake", "vencrypt-plain", &[&[63][..], &c, &s].concat())?;
    tds_seed(&put)
}

/// MSSQL: a PRELOGIN each way (the server's ENCRYPT_NOT_SUP) and a TDS 7.4
/// LOGIN7 (user amy, password pw, database shop), in pieces of 256 bytes
/// (client, server); and the LOGIN7 payload alone.
fn tds_seed(put: impl Fn(&str, &str, &[u8]) -> Result<()>) -> Result<()> {
    let pkt = |kind: u8, p: &[u8]| -> Vec<u8> {
        let mut v = vec![kind, 1];
        v.extend(((p.len() + 8) as u16).to_be_bytes());
        v.extend([0, 0, 1, 0]);
        v.extend(p);
        v
    };
    let prelogin = |enc: u8| vec![0, 0, 11, 0, 6, 1, 0, 17, 0, 1, 0xff, 15, 0, 7, 0xd0, 0, 0, enc];
    let ucs2 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    let password: Vec<u8> = ucs2("pw").iter().map(|b| b.rotate_left(4) ^ 0xa5).collect();
    let fields = [ucs2("box"), ucs2("amy"), password, ucs2("tsql"), ucs2("db1"), vec![], vec![], vec![], ucs2("shop")];
    let mut login = vec![0u8; 94];
    login[4..8].copy_from_slice(&0x7400_0004u32.to_le_bytes());
    let mut data: Vec<u8> = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        let at = 36 + 4 * i;
        login[at..at + 2].copy_from_slice(&((94 + data.len()) as u16).to_le_bytes());
        login[at + 2..at + 4].copy_from_slice(&((f.len() / 2) as u16).to_le_bytes());
        data.extend(f);
    }
    login[78..80].copy_from_slice(&((94 + data.len()) as u16).to_le_bytes());
    login.extend(data);
    let n = login.len() as u32;
    login[..4].copy_from_slice(&n.to_le_bytes());
    let mut cs = pkt(0x12, &prelogin(0));
    cs.extend(pkt(0x10, &login));
    cs.resize(256, 0);
    let mut sc = pkt(0x04, &prelogin(2));
    sc.resize(256, 0);
    put("tds_login", "login", &[&[255][..], &cs, &sc].concat())?;
    put("tds_login", "login7-payload", &login)
}

/// SMB: a session setup response carrying an NTLMSSP CHALLENGE (to the
/// client) and a request carrying an AUTHENTICATE (pieces of 256 bytes:
/// client, server, client); RADIUS: an Access-Request with User-Name and
/// User-Password, and one with CHAP-Password.
fn smb_and_radius_seeds(put: impl Fn(&str, &str, &[u8]) -> Result<()>) -> Result<()> {
    let smb2 = |reply: bool, blob: &[u8]| -> Vec<u8> {
        let mut h = b"\xfeSMB\x40\0".to_vec();
        h.resize(12, 0);
        h.extend(1u16.to_le_bytes()); // SESSION_SETUP
        h.resize(16, 0);
        h.extend((reply as u32).to_le_bytes());
        h.resize(64, 0);
        let off: u16 = if reply { 72 } else { 88 };
        h.extend(if reply { 9u16 } else { 25 }.to_le_bytes());
        h.resize(if reply { 68 } else { 76 }, 0);
        h.extend(off.to_le_bytes());
        h.extend((blob.len() as u16).to_le_bytes());
        h.resize(off as usize, 0);
        h.extend(blob);
        let n = h.len() as u32;
        let mut m = vec![0, (n >> 16) as u8, (n >> 8) as u8, n as u8];
        m.extend(h);
        m.resize(256, 0); // NetBIOS keep-alives (type 0x85 would be next)
        m
    };
    let mut challenge = b"NTLMSSP\0\x02\0\0\0".to_vec();
    challenge.resize(24, 0);
    challenge.extend(b"ABCDEFGH");
    challenge.resize(48, 0);
    let mut auth = b"NTLMSSP\0\x03\0\0\0".to_vec();
    // LM, NT, domain, user, host, session key: (len, len, offset) each.
    let fields: [(u16, u32); 6] = [(0, 64), (40, 64), (2, 104), (2, 106), (2, 108), (0, 110)];
    for (len, off) in fields {
        auth.extend(len.to_le_bytes());
        auth.extend(len.to_le_bytes());
        auth.extend(off.to_le_bytes());
    }
    auth.extend(1u32.to_le_bytes());
    auth.extend([0xaa; 40]);
    auth.extend(b"D\0u\0h\0");
    let mut seed = vec![255];
    seed.extend(smb2(false, b"\x60\x48\x06\x06NTLMSSP\0\x01\0\0\0"));
    seed.extend(smb2(true, &challenge));
    seed.extend(smb2(false, &auth));
    put("smb_session", "smb2-login", &seed)?;
    // DCE-RPC: a bind, its bind_ack with the CHALLENGE, the auth3 with the
    // same AUTHENTICATE (verifier: sec_trailer, then the NTLMSSP message),
    // each PDU filling its 256-byte piece.
    let pdu = |ptype: u8, auth: &[u8]| -> Vec<u8> {
        let mut p = vec![5, 0, ptype, 3, 0x10, 0, 0, 0];
        p.extend(256u16.to_le_bytes());
        p.extend((auth.len() as u16).to_le_bytes());
        p.extend(3u32.to_le_bytes());
        p.resize(256 - 8 - auth.len(), 0);
        p.extend([10, 5, 0, 0, 0, 0, 0, 0]);
        p.extend(auth);
        p
    };
    let mut dce = vec![255];
    dce.extend(pdu(11, b"NTLMSSP\0\x01\0\0\0"));
    dce.extend(pdu(12, &challenge));
    dce.extend(pdu(16, &auth));
    put("dcerpc_session", "bind-auth3", &dce)?;
    let mut pap = vec![1, 7, 0, 0];
    pap.extend([0x5a; 16]);
    pap.extend([1, 7]);
    pap.extend(b"alice");
    pap.extend([2, 18]);
    pap.extend([0x33; 16]);
    let n = pap.len() as u16;
    pap[2..4].copy_from_slice(&n.to_be_bytes());
    put("radius_packet", "pap", &pap)?;
    let mut chap = pap[..27].to_vec();
    chap.extend([3, 19, 42]);
    chap.extend([0x44; 16]);
    let n = chap.len() as u16;
    chap[2..4].copy_from_slice(&n.to_be_bytes());
    put("radius_packet", "chap", &chap)
}
