//! `cargo xtask bench-sniff`: tpsniff against what the lab would otherwise
//! run, on a capture the project makes; a live replay in the lab's
//! namespaces; memory with a million concurrent flows. Not run in CI.
//!
//! 1. A capture of at least `--size` (1 GiB) of mixed traffic made with the
//!    test generator's building blocks (`tplab::testgen::pcap::Conn`): HTTP
//!    logins (form fields `user` and `password`, one in ten split across
//!    two segments inside the password), HTTP downloads of 20–300 KB, TLS
//!    1.2 and 1.3 sessions with SNI and 10–400 KB of application data, 32
//!    conversations interleaved at a time, every address and port rewritten
//!    per conversation (10.x.y.z clients, a few servers, ports 80, 8080, 443).
//! 2. Whole-process timings, alternated runs, medians: `tpsniff -r`,
//!    `tcpdump -n -A -r | grep -i password=`, `ngrep -q -I FILE password=`,
//!    `tshark -n -r FILE -Y urlencoded-form`; and which passwords each finds.
//! 3. Live: the lab (`lab.rs`) up, tpsniff on br0 in the lab namespace,
//!    `tcpreplay --topspeed` of the capture on the client's eth0.
//! 4. A SYN flood of `--flows` (1,000,000) distinct flows read with the
//!    default limits and with room for all of them: peak RSS, evictions.
//! 5. As many UDP flows and never-completed IP fragments ([`crate::bench_flood`]).
//!
//! The results replace BENCHMARKS.md's tpsniff part (the tplog part is
//! kept).

// `n % k == 0` reads as well and builds on older toolchains.
#![allow(clippy::manual_is_multiple_of)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::bench::{median, time_once};
use anyhow::{bail, Context, Result};
use tplab::sniff::proto::tls::build as tlsb;
use tplab::testgen::pcap::{login_post, Conn, Link, Rng};

use crate::lab::Lab;
use crate::{cargo, root, run as must};

/// `cargo xtask bench-sniff` options.
#[derive(clap::Args, Debug)]
pub struct Opts {
    /// Size of the generated mixed capture (500M, 1G, or bytes).
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = crate::bench::size_arg)]
    size: u64,
    /// Alternated runs of each offline command (the table gives medians).
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,
    /// Distinct flows of the SYN flood.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    flows: u64,
    /// Leave out the live replay in the lab's namespaces (needs root).
    #[arg(long = "no-live", action = clap::ArgAction::SetFalse)]
    live: bool,
    /// Leave out tshark (the slowest comparison).
    #[arg(long = "no-tshark", action = clap::ArgAction::SetFalse)]
    tshark: bool,
    /// Only the UDP and fragment floods: print their table, write nothing.
    #[arg(long = "only-floods")]
    only_floods: bool,
    /// Packets in the small-packet capture (per-packet cost against ngrep).
    #[arg(long, value_name = "N", default_value_t = 600_000)]
    small_packets: u64,
    /// Only tpsniff against ngrep, on the small-packet and the mixed
    /// capture: print the tables, write nothing.
    #[arg(long)]
    speed: bool,
    /// The file whose tpsniff part is rewritten (default: BENCHMARKS.md).
    #[arg(short = 'o', value_name = "FILE")]
    out: Option<PathBuf>,
}

/// A classic pcap file written as it goes (Ethernet, microseconds).
pub(crate) struct PcapOut {
    w: BufWriter<std::fs::File>,
    bytes: u64,
    packets: u64,
}

impl PcapOut {
    pub(crate) fn create(path: &Path) -> Result<PcapOut> {
        let mut w = BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        );
        w.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        w.write_all(&2u16.to_le_bytes())?;
        w.write_all(&4u16.to_le_bytes())?;
        w.write_all(&[0; 8])?;
        w.write_all(&262_144u32.to_le_bytes())?;
        w.write_all(&1u32.to_le_bytes())?;
        Ok(PcapOut {
            w,
            bytes: 24,
            packets: 0,
        })
    }
    pub(crate) fn packet(&mut self, ts: i64, p: &[u8]) -> Result<()> {
        self.w.write_all(&(ts / 1_000_000).to_le_bytes()[..4])?;
        self.w.write_all(&((ts % 1_000_000) as u32).to_le_bytes())?;
        self.w.write_all(&(p.len() as u32).to_le_bytes())?;
        self.w.write_all(&(p.len() as u32).to_le_bytes())?;
        self.w.write_all(p)?;
        self.bytes += 16 + p.len() as u64;
        self.packets += 1;
        Ok(())
    }
    pub(crate) fn finish(mut self) -> Result<(u64, u64)> {
        self.w.flush()?;
        Ok((self.bytes, self.packets))
    }
}

/// What the mixed capture holds.
#[derive(Debug, Default)]
struct Made {
    bytes: u64,
    packets: u64,
    logins: u64,
    split_logins: u64,
    downloads: u64,
    tls: u64,
    passwords: BTreeSet<String>,
}

const MSS: usize = 1448;

fn http_response(len: usize, filler: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nServer: Apache/2.4.71 (Debian)\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {len}\r\n\r\n"
    )
    .into_bytes();
    let mut left = len;
    while left > 0 {
        let n = left.min(filler.len());
        r.extend_from_slice(&filler[..n]);
        left -= n;
    }
    r
}

fn tls_app_records(total: usize, random: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::with_capacity(total + total / 16384 * 5 + 5);
    let mut left = total;
    while left > 0 {
        let n = left.min(16384);
        let off = rng.below(random.len() - n);
        out.extend_from_slice(&[23, 3, 3]);
        out.extend_from_slice(&(n as u16).to_be_bytes());
        out.extend_from_slice(&random[off..off + n]);
        left -= n;
    }
    out
}

/// Writes the mixed capture; deterministic for a size.
fn make_mixed(path: &Path, size: u64) -> Result<Made> {
    let mut rng = Rng::new(5);
    let mut random = vec![0u8; 1 << 20];
    for chunk in random.chunks_mut(8) {
        let v = rng.next_u64().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    let filler: Vec<u8> = b"<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit; the lab's file service lists your files here.</p>\n"
        .iter()
        .copied()
        .cycle()
        .take(64 << 10)
        .collect();
    let login_page = http_response(1500, &filler);
    let welcome = http_response(240, &filler);
    let mut out = PcapOut::create(path)?;
    let mut made = Made::default();
    let mut ts: i64 = 1_764_374_400_000_000; // 2025-11-29T00:00:00Z
    let mut n: u64 = 0;
    while out.bytes < size {
        let mut batch: Vec<(i64, Vec<u8>)> = Vec::new();
        for k in 0..32u64 {
            n += 1;
            let client = client_addr(n);
            let server_ip = format!("192.0.2.{}", 10 + n % 4);
            let kind = rng.below(10);
            let start = ts + (k as i64) * 37;
            match kind {
                // 30 %: a login.
                0..=2 => {
                    let port = if n % 3 == 0 { 8080 } else { 80 };
                    let server: SocketAddr = format!("{server_ip}:{port}").parse()?;
                    let mut c = Conn::open(Link::Ethernet, client, server, &mut rng, start);
                    c.send(
                        true,
                        b"GET /login.html HTTP/1.1\r\nHost: files.lab.test\r\nUser-Agent: Mozilla/5.0\r\n\r\n",
                        MSS,
                    );
                    c.send(false, &login_page, MSS);
                    let user = format!("user{n}");
                    let password = format!(
                        "pw{n}x{}",
                        rng.secret(8)
                            .replace(|c: char| !c.is_ascii_alphanumeric(), "Z")
                    );
                    let req = login_post("files.lab.test", &user, &password);
                    if n % 10 == 0 {
                        // Split inside the password: tcpdump | grep misses it.
                        let at = req.windows(9).position(|w| w == b"password=").unwrap() + 12;
                        let segs = c.segments(true, &req, &[at, MSS]);
                        c.emit(&segs);
                        made.split_logins += 1;
                    } else {
                        c.send(true, &req, MSS);
                    }
                    c.send(false, &welcome, MSS);
                    c.close();
                    made.logins += 1;
                    made.passwords.insert(password);
                    batch.extend(c.packets);
                }
                // 40 %: downloads on a keep-alive connection.
                3..=6 => {
                    let server: SocketAddr = format!("{server_ip}:80").parse()?;
                    let mut c = Conn::open(Link::Ethernet, client, server, &mut rng, start);
                    for r in 0..1 + rng.below(3) {
                        let req = format!("GET /files/doc{n}-{r}.html HTTP/1.1\r\nHost: files.lab.test\r\nUser-Agent: Mozilla/5.0\r\nCookie: lab_session={:016x}\r\n\r\n", rng.next_u64());
                        c.send(true, req.as_bytes(), MSS);
                        let len = 20_000 + rng.below(280_000);
                        c.send(false, &http_response(len, &filler), MSS);
                        made.downloads += 1;
                    }
                    c.close();
                    batch.extend(c.packets);
                }
                // 30 %: TLS 1.3 or 1.2.
                _ => {
                    let server: SocketAddr = format!("{server_ip}:443").parse()?;
                    let mut c = Conn::open(Link::Ethernet, client, server, &mut rng, start);
                    let sni = format!("files{}.lab.test", n % 7);
                    let v13 = rng.below(4) != 0;
                    let versions: &[u16] = if v13 { &[0x0304, 0x0303] } else { &[] };
                    let ch =
                        tlsb::record(1, &tlsb::client_hello(&sni, versions, &["h2", "http/1.1"]));
                    c.send(true, &ch, MSS);
                    let mut sh = tlsb::record(
                        2,
                        &tlsb::server_hello(if v13 { 0x0304 } else { 0x0303 }, Some("http/1.1")),
                    );
                    sh.extend(tls_app_records(3000, &random, &mut rng));
                    c.send(false, &sh, MSS);
                    c.send(true, &tls_app_records(600, &random, &mut rng), MSS);
                    let len = 10_000 + rng.below(390_000);
                    c.send(false, &tls_app_records(len, &random, &mut rng), MSS);
                    c.close();
                    made.tls += 1;
                    batch.extend(c.packets);
                }
            }
        }
        batch.sort_by_key(|p| p.0);
        for (t, p) in &batch {
            out.packet(*t, p)?;
        }
        ts = batch.last().map(|p| p.0).unwrap_or(ts) + 1000;
    }
    let (bytes, packets) = out.finish()?;
    made.bytes = bytes;
    made.packets = packets;
    Ok(made)
}

/// The client of the `n`th conversation: its own 10.x.y.z address and port.
pub(crate) fn client_addr(n: u64) -> SocketAddr {
    let ip = std::net::Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, (n as u8).max(1));
    SocketAddr::new(ip.into(), 20_000 + (n % 40_000) as u16)
}

/// `count` bare SYNs, each from its own client address and port.
fn make_syn_flood(path: &Path, count: u64) -> Result<()> {
    let mut out = PcapOut::create(path)?;
    let mut ts: i64 = 1_764_374_400_000_000;
    for i in 0..count {
        let src = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(src, [192, 0, 2, 10], 64)
            .tcp(
                1024 + (i % 50_000) as u16,
                80,
                (i as u32).wrapping_mul(2_654_435_761),
                64240,
            )
            .syn();
        let mut p = Vec::with_capacity(64);
        b.write(&mut p, &[])?;
        ts += 2;
        out.packet(ts, &p)?;
    }
    out.finish()?;
    Ok(())
}

pub(crate) fn sh_out(script: &str, dir: &Path) -> Result<String> {
    let o = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()?;
    if !(o.status.success() || o.status.code() == Some(1)) {
        bail!("`{script}` failed: {}", o.status);
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// The passwords in tshark's urlencoded-form fields.
fn tshark_passwords(file: &str, dir: &Path) -> Result<BTreeSet<String>> {
    let out = sh_out(
        &format!("tshark -n -r {file} -Y urlencoded-form -T fields -E separator=/t -e urlencoded-form.key -e urlencoded-form.value"),
        dir,
    )?;
    let mut set = BTreeSet::new();
    for l in out.lines() {
        let mut parts = l.split('\t');
        let keys: Vec<&str> = parts.next().unwrap_or("").split(',').collect();
        let vals: Vec<&str> = parts.next().unwrap_or("").split(',').collect();
        for (k, v) in keys.iter().zip(vals) {
            if *k == "password" {
                set.insert(v.to_string());
            }
        }
    }
    Ok(set)
}

/// The passwords tpsniff reports (JSON), and its summary object.
pub(crate) fn tpsniff_passwords(
    tpsniff: &str,
    file: &str,
    dir: &Path,
    extra: &str,
) -> Result<(BTreeSet<String>, serde_json::Value)> {
    let out = sh_out(&format!("{tpsniff} -r {file} --json {extra}"), dir)?;
    let mut set = BTreeSet::new();
    let mut summary = serde_json::Value::Null;
    for l in out.lines() {
        let v: serde_json::Value = serde_json::from_str(l)?;
        if v["kind"] == "credential" {
            if let Some(p) = v["password"].as_str() {
                set.insert(p.to_string());
            }
        } else if v["kind"] == "summary" {
            summary = v;
        }
    }
    Ok((set, summary))
}

/// Peak anonymous memory (RssAnon: the heap, not the mapped capture file)
/// of a command, sampled every 5 ms; its stdout and run time.
/// The summary `tpsniff --json` prints last (an empty object when none).
pub(crate) fn json_summary(out: &str) -> Result<serde_json::Value> {
    Ok(out
        .lines()
        .last()
        .map(serde_json::from_str)
        .transpose()?
        .unwrap_or_default())
}

pub(crate) fn peak_rss(argv: &[&str], dir: &Path) -> Result<(u64, String, Duration)> {
    let t = Instant::now();
    let out_path = dir.join("peak-rss.out");
    let mut child = Command::new(argv[0])
        .args(&argv[1..])
        .current_dir(dir)
        .stdout(std::fs::File::create(&out_path)?)
        .stderr(Stdio::null())
        .spawn()?;
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status) {
            for l in s.lines() {
                if let Some(v) = l.strip_prefix("RssAnon:") {
                    let kib: u64 = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                    peak = peak.max(kib);
                }
            }
        }
        if child.try_wait()?.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let d = t.elapsed();
    Ok((peak, std::fs::read_to_string(&out_path)?, d))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{cpu}, {cores} cores (shared with other builds)")
}

pub fn run(o: &Opts) -> Result<()> {
    let md_file = o
        .out
        .clone()
        .unwrap_or_else(|| root().join("BENCHMARKS.md"));
    let mut pkgs = vec!["tcpdump", "ngrep", "tcpreplay"];
    if o.tshark {
        pkgs.push("tshark");
    }
    if o.live {
        pkgs.extend(crate::lab::PACKAGES);
    }
    crate::sys::ensure_packages(&pkgs)?;
    must(cargo().args(["build", "--quiet", "--release", "--bin", "tpsniff"]))?;
    let tpsniff = root().join("target/release/tpsniff");
    let tp = tpsniff.display().to_string();
    let dir = root().join("target/bench-sniff");
    std::fs::create_dir_all(&dir)?;
    if o.only_floods {
        println!("{}", crate::bench_flood::run(&tp, &dir, o.flows)?);
        return Ok(());
    }
    let small = crate::bench_small::run(&tp, &dir, o.small_packets, o.runs)?;
    let name = format!("mixed-{}.pcap", o.size);
    let file = dir.join(&name);
    eprintln!("bench-sniff: generating {}", file.display());
    let t = Instant::now();
    let made = make_mixed(&file, o.size)?;
    if o.speed {
        let rows =
            crate::bench_small::versus_ngrep(&tp, &name, &dir, o.runs, made.bytes, made.packets)?;
        println!(
            "{small}\n`{name}` ({} packets, {:.2} GiB), {} alternated runs, medians:\n\n{rows}",
            made.packets,
            made.bytes as f64 / (1u64 << 30) as f64,
            o.runs
        );
        return Ok(());
    }
    eprintln!(
        "bench-sniff: {} bytes, {} packets, {} logins ({} split), {} downloads, {} TLS sessions in {:.1} s",
        made.bytes,
        made.packets,
        made.logins,
        made.split_logins,
        made.downloads,
        made.tls,
        t.elapsed().as_secs_f64()
    );
    must(
        Command::new("sh")
            .arg("-c")
            .arg(format!("cat {name} > /dev/null"))
            .current_dir(&dir),
    )?;

    let mut md = String::new();
    let _ = writeln!(md, "{}\n", crate::SNIFF_PART.trim_start());
    let _ = writeln!(
        md,
        "Machine: {}. Capture: `{name}` made by the project ({:.2} GiB, {} packets): {} HTTP logins ({} of them split inside the password), {} HTTP downloads of 20–300 KB, {} TLS sessions (3/4 TLS 1.3) of 10–400 KB, 32 conversations interleaved, addresses and ports rewritten per conversation. Page cache warm; whole processes; {} alternated runs, medians.\n",
        machine(),
        made.bytes as f64 / (1u64 << 30) as f64,
        made.packets,
        made.logins,
        made.split_logins,
        made.downloads,
        made.tls,
        o.runs
    );

    // Who finds what.
    eprintln!("bench-sniff: checking what each tool finds");
    let (tp_pw, tp_sum) = tpsniff_passwords(&tp, &name, &dir, "")?;
    // The password= values each text tool shows, whole or cut.
    let shown = |script: String| -> Result<(usize, usize)> {
        let vals: BTreeSet<String> = sh_out(&script, &dir)?
            .lines()
            .filter_map(|l| l.get(9..).map(str::to_owned))
            .collect();
        let whole = vals.iter().filter(|v| made.passwords.contains(*v)).count();
        Ok((whole, vals.len() - whole))
    };
    let grep_found = shown(format!(
        "tcpdump -n -A -r {name} 2>/dev/null | grep -io 'password=[^&[:space:]]*'"
    ))?;
    let ngrep_found = shown(format!(
        "ngrep -q -I {name} password= | grep -io 'password=[^&[:space:].]*'"
    ))?;
    let ts_pw = if o.tshark {
        Some(tshark_passwords(&name, &dir)?)
    } else {
        None
    };
    let _ = writeln!(
        md,
        "| tool | passwords found (of {} sent) |\n|---|---|",
        made.passwords.len()
    );
    let _ = writeln!(
        md,
        "| tpsniff | {} distinct, all of them: {} ({} TLS sessions reported, no password) |",
        tp_pw.len(),
        tp_pw == made.passwords,
        tp_sum["tls_sessions"]
    );
    let _ = writeln!(
        md,
        "| tcpdump -n -A \\| grep -i password= | {} whole, {} cut short (split across segments) |",
        grep_found.0, grep_found.1
    );
    let _ = writeln!(
        md,
        "| ngrep -q password= | {} whole, {} cut short |",
        ngrep_found.0, ngrep_found.1
    );
    if let Some(ts) = &ts_pw {
        let missing = ts.difference(&tp_pw).count();
        let _ = writeln!(
            md,
            "| tshark urlencoded-form | {} distinct; tshark's that tpsniff lacks: {missing} |",
            ts.len()
        );
    }
    md.push('\n');

    // Timings.
    let mut cmds: Vec<(&str, String)> = vec![
        ("tpsniff -r FILE", format!("{tp} -r {name}")),
        (
            "tcpdump -n -A -r FILE | grep -i password=",
            format!("tcpdump -n -A -r {name} 2>/dev/null | grep -i password="),
        ),
        (
            "ngrep -q -I FILE password=",
            format!("ngrep -q -I {name} password="),
        ),
    ];
    if o.tshark {
        cmds.push((
            "tshark -n -r FILE -Y urlencoded-form",
            format!("tshark -n -r {name} -Y urlencoded-form"),
        ));
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); cmds.len()];
    for r in 0..o.runs {
        for (i, (label, c)) in cmds.iter().enumerate() {
            let d = time_once(c, &dir)?;
            eprintln!(
                "  run {}/{} {:<45} {:>8.3} s",
                r + 1,
                o.runs,
                label,
                d.as_secs_f64()
            );
            times[i].push(d);
        }
    }
    let meds: Vec<Duration> = times.iter_mut().map(|v| median(v)).collect();
    let base = meds[0].as_secs_f64();
    let _ = writeln!(
        md,
        "| command | median | MB/s | time / tpsniff's |\n|---|---:|---:|---:|"
    );
    for ((label, _), m) in cmds.iter().zip(&meds) {
        let s = m.as_secs_f64();
        let _ = writeln!(
            md,
            "| `{label}` | {s:.2} s | {:.0} | {:.1}x |",
            made.bytes as f64 / 1e6 / s,
            s / base
        );
    }
    md.push('\n');
    md.push_str(&small);

    if o.live {
        eprintln!("bench-sniff: live replay in the lab");
        match live(&tp, &file, &dir) {
            Ok(s) => md.push_str(&s),
            Err(e) => {
                let _ = writeln!(md, "Live replay failed: {e:#}\n");
            }
        }
    }

    eprintln!("bench-sniff: SYN flood of {} flows", o.flows);
    let syn = format!("synflood-{}.pcap", o.flows);
    make_syn_flood(&dir.join(&syn), o.flows)?;
    let _ = writeln!(
        md,
        "Memory with {} concurrent flows (a SYN flood, one SYN from each of {} client address/port pairs, `{syn}`):\n\n| run | peak memory (RssAnon) | time | flows | evicted (oldest / memory / idle) |\n|---|---:|---:|---:|---|",
        o.flows, o.flows
    );
    for (label, extra) in [
        ("default limits (--max-flows 65536)", String::new()),
        (
            "room for all: --max-flows 2000000",
            "--max-flows 2000000".to_string(),
        ),
    ] {
        let mut argv = vec![tp.as_str(), "-r", syn.as_str(), "--json"];
        argv.extend(extra.split_whitespace());
        let (kib, out, d) = peak_rss(&argv, &dir)?;
        let sum = json_summary(&out)?;
        let r = &sum["reassembly"];
        let _ = writeln!(
            md,
            "| {label} | {:.0} MiB | {:.2} s | {} | {} / {} / {} |",
            kib as f64 / 1024.0,
            d.as_secs_f64(),
            sum["flows"],
            r["evicted_oldest"],
            r["evicted_memory"],
            r["evicted_idle"]
        );
    }
    md.push('\n');
    md.push_str(&crate::bench_flood::run(&tp, &dir, o.flows)?);
    let _ = writeln!(md, "Reproduce: `cargo xtask bench-sniff` (options: `--size SIZE --runs N --flows N --small-packets N --no-live --no-tshark`; `--only-floods` for the flood tables alone, `--speed` for the two tables against ngrep alone).");

    crate::write_bench_part(&md_file, &md, true)?;
    println!("{md}");
    eprintln!("bench-sniff: written to {}", md_file.display());
    Ok(())
}

/// tcpreplay --topspeed in the client namespace onto its eth0; tpsniff on
/// br0 in the lab namespace: the defaults (32 MiB, whole packets), a
/// 65535-byte snap length, and a 256 MiB buffer.
fn live(tp: &str, file: &Path, dir: &Path) -> Result<String> {
    let lab = Lab::new("benchsniff")?;
    if lab.is_up() {
        lab.down()?;
    }
    lab.up()?;
    let r = (|| -> Result<String> {
        let mut md = String::from("Live: `tcpreplay --topspeed` of the capture in the lab's client namespace onto its eth0, through br0; `tpsniff --iface br0` in the lab namespace (release build, `--json` to a file).\n\n| tpsniff buffer | tcpreplay sent | tcpreplay rate | kernel received | kernel dropped | tpsniff decoded | passwords found |\n|---|---:|---:|---:|---:|---:|---:|\n");
        for (buf, snaplen) in [(32u32, 262_144u32), (32, 65_535), (256, 262_144)] {
            let out = dir.join(format!("live-{buf}-{snaplen}.json"));
            let mut child = lab
                .exec(&lab.ns_lab(), tp)
                .args(["--iface", "br0", "--json"])
                .args(["--buffer-size", &buf.to_string()])
                .args(["--snaplen", &snaplen.to_string()])
                .stdout(std::fs::File::create(&out)?)
                .stderr(Stdio::null())
                .spawn()?;
            std::thread::sleep(Duration::from_millis(1000));
            let rep = crate::lab::output(
                lab.exec(&lab.ns_client(), "tcpreplay")
                    .args(["--topspeed", "-i", "eth0"])
                    .arg(file),
            )?;
            std::thread::sleep(Duration::from_millis(1000));
            must(Command::new("kill").args(["-TERM", &child.id().to_string()]))?;
            child.wait()?;
            let text = std::fs::read_to_string(&out)?;
            let creds = text
                .lines()
                .filter(|l| l.contains("\"kind\":\"credential\""))
                .count();
            let sum: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or("{}"))?;
            let actual = rep
                .lines()
                .find(|l| l.trim_start().starts_with("Actual:"))
                .unwrap_or("")
                .trim()
                .to_string();
            let rated = rep
                .lines()
                .find(|l| l.trim_start().starts_with("Rated:"))
                .unwrap_or("")
                .trim()
                .to_string();
            eprintln!("  buffer {buf} MiB, snaplen {snaplen}: {actual} / {rated}");
            let _ = writeln!(
                md,
                "| {buf} MiB, snaplen {snaplen} | {} | {} | {} | {} | {} | {creds} |",
                actual.trim_start_matches("Actual:").trim(),
                rated.trim_start_matches("Rated:").trim(),
                sum["capture"]["received"],
                sum["capture"]["dropped"],
                sum["packets"]
            );
        }
        md.push('\n');
        Ok(md)
    })();
    lab.down()?;
    r
}
