//! Per-packet cost: a capture of many small packets (`--small-packets`,
//! 600,000 by default, most of them 100–200 bytes on the wire), HTTP
//! logins whose requests and responses are cut in segments of 40–140
//! bytes, 32 conversations interleaved. `tpsniff -r` and `ngrep -q -I FILE
//! password=` are run alternated; the table gives their medians, and
//! which passwords each saw. With `--speed`, the same two commands on the
//! mixed capture too (bench_sniff.rs makes it).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use tplab::testgen::pcap::{login_post, Conn, Link, Rng};

use crate::bench::{median, time_once};
use crate::bench_sniff::{client_addr, PcapOut};

/// What the small-packet capture holds.
#[derive(Default)]
pub(crate) struct Small {
    pub bytes: u64,
    pub packets: u64,
    pub logins: u64,
    pub passwords: BTreeSet<String>,
    /// Packets whose frame is 100–200 bytes.
    pub in_range: u64,
}

/// Segment sizes for `len` bytes: 40–140 bytes each (rng-chosen).
fn cuts(rng: &mut Rng, len: usize) -> Vec<usize> {
    let mut v = Vec::new();
    let mut left = len;
    while left > 0 {
        let n = (46 + rng.below(95)).min(left);
        v.push(n);
        left -= n;
    }
    v
}

/// Logins in small segments until `packets` packets are written.
pub(crate) fn make_small(path: &Path, packets: u64) -> Result<Small> {
    let mut rng = Rng::new(11);
    let mut out = PcapOut::create(path)?;
    let mut made = Small::default();
    let mut ts: i64 = 1_764_374_400_000_000;
    let mut n: u64 = 0;
    let page = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 212\r\n\r\n<html><body><form method=post action=/index.php/login><input name=user><input name=password type=password><input type=hidden name=requesttoken value=abc></form></body></html>\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n".to_vec();
    let welcome = b"HTTP/1.1 303 See Other\r\nLocation: /index.php/apps/files\r\nSet-Cookie: lab_session=0123456789abcdef; HttpOnly\r\nContent-Length: 0\r\n\r\n".to_vec();
    while made.packets < packets {
        let mut batch: Vec<(i64, Vec<u8>)> = Vec::new();
        for k in 0..32u64 {
            n += 1;
            let client = client_addr(n);
            let server: SocketAddr = format!("192.0.2.{}:80", 10 + n % 4).parse()?;
            let mut c = Conn::open(Link::Ethernet, client, server, &mut rng, ts + k as i64 * 37);
            let get = b"GET /login.html HTTP/1.1\r\nHost: files.lab.test\r\nUser-Agent: Mozilla/5.0\r\n\r\n";
            let sizes = cuts(&mut rng, get.len());
            let segs = c.segments(true, get, &sizes);
            c.emit(&segs);
            let sizes = cuts(&mut rng, page.len());
            let segs = c.segments(false, &page, &sizes);
            c.emit(&segs);
            let user = format!("user{n}");
            let password = format!(
                "pw{n}x{}",
                rng.secret(8)
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "Z")
            );
            let req = login_post("files.lab.test", &user, &password);
            let sizes = cuts(&mut rng, req.len());
            let segs = c.segments(true, &req, &sizes);
            c.emit(&segs);
            let sizes = cuts(&mut rng, welcome.len());
            let segs = c.segments(false, &welcome, &sizes);
            c.emit(&segs);
            c.close();
            made.logins += 1;
            made.passwords.insert(password);
            batch.extend(c.packets);
        }
        batch.sort_by_key(|p| p.0);
        for (t, p) in &batch {
            if (100..=200).contains(&p.len()) {
                made.in_range += 1;
            }
            out.packet(*t, p)?;
            made.packets += 1;
        }
        ts = batch.last().map(|p| p.0).unwrap_or(ts) + 1000;
    }
    let (bytes, _) = out.finish()?;
    made.bytes = bytes;
    Ok(made)
}

/// tpsniff and ngrep alternated `runs` times on `file` (in `dir`): the
/// Markdown rows `| command | median | packets/s | MB/s | ratio |`.
pub(crate) fn versus_ngrep(
    tp: &str,
    file: &str,
    dir: &Path,
    runs: u64,
    bytes: u64,
    packets: u64,
) -> Result<String> {
    let cmds = [
        ("tpsniff -r FILE", format!("{tp} -r {file}")),
        (
            "ngrep -q -I FILE password=",
            format!("ngrep -q -I {file} password="),
        ),
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); cmds.len()];
    for r in 0..runs {
        for (i, (label, c)) in cmds.iter().enumerate() {
            let d = time_once(c, dir)?;
            eprintln!(
                "  run {}/{runs} {label:<30} {:>8.3} s",
                r + 1,
                d.as_secs_f64()
            );
            times[i].push(d);
        }
    }
    let meds: Vec<f64> = times.iter_mut().map(|v| median(v).as_secs_f64()).collect();
    let mut md = String::from(
        "| command | median | packets/s | MB/s | ngrep's time / this one's |\n|---|---:|---:|---:|---:|\n",
    );
    for ((label, _), s) in cmds.iter().zip(&meds) {
        let _ = writeln!(
            md,
            "| `{label}` | {s:.3} s | {:.0} | {:.0} | {:.2}x |",
            packets as f64 / s,
            bytes as f64 / 1e6 / s,
            meds[1] / s
        );
    }
    Ok(md)
}

/// Makes the small-packet capture in `dir`, checks what each tool sees,
/// times both; the Markdown part.
pub(crate) fn run(tp: &str, dir: &Path, packets: u64, runs: u64) -> Result<String> {
    let name = format!("small-{packets}.pcap");
    eprintln!("bench-sniff: small-packet capture of {packets} packets");
    let made = make_small(&dir.join(&name), packets)?;
    let (tp_pw, _) = crate::bench_sniff::tpsniff_passwords(tp, &name, dir, "")?;
    let ngrep: BTreeSet<String> = crate::bench_sniff::sh_out(
        &format!("ngrep -q -I {name} password= | grep -io 'password=[^&[:space:].]*'"),
        dir,
    )?
    .lines()
    .filter_map(|l| l.get(9..).map(str::to_owned))
    .collect();
    let ngrep_whole = ngrep.iter().filter(|v| made.passwords.contains(*v)).count();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Per-packet cost: `{name}` made by the project ({} packets, {:.1} MB; {:.0}% of them 100–200 bytes on the wire): {} HTTP logins, each request and response cut in segments of 46–140 bytes, 32 conversations interleaved. tpsniff found {} of the {} passwords (all: {}); ngrep showed {ngrep_whole} whole (a password cut across segments is not matched). {runs} alternated runs, medians:\n",
        made.packets,
        made.bytes as f64 / 1e6,
        made.in_range as f64 * 100.0 / made.packets as f64,
        made.logins,
        tp_pw.intersection(&made.passwords).count(),
        made.passwords.len(),
        tp_pw == made.passwords,
    );
    md.push_str(&versus_ngrep(
        tp,
        &name,
        dir,
        runs,
        made.bytes,
        made.packets,
    )?);
    md.push('\n');
    Ok(md)
}
