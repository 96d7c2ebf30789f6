//! Memory under floods that never complete: a million distinct UDP flows
//! (one datagram each, to a port no parser claims) and a million IPv4
//! first fragments whose datagrams never finish. Each capture is read by
//! `tpsniff -r --json` with the default limits; the table gives the peak
//! anonymous memory, the time, and what was evicted or dropped, from the
//! summary tpsniff prints. Part of `cargo xtask bench-sniff`, or alone
//! with `--only-floods`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use etherparse::{IpFragOffset, IpNumber, Ipv4Header};

use crate::bench_sniff::{json_summary, peak_rss, PcapOut};

fn ether(p: &mut Vec<u8>) {
    p.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
}

/// `count` UDP datagrams, each from its own client address and port.
fn make_udp_flood(path: &Path, count: u64) -> Result<()> {
    let mut out = PcapOut::create(path)?;
    let mut ts: i64 = 1_764_374_400_000_000;
    let mut p = Vec::with_capacity(96);
    for i in 0..count {
        let src = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        p.clear();
        etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(src, [192, 0, 2, 10], 64)
            .udp(1024 + (i % 50_000) as u16, 40_000)
            .write(&mut p, b"flood datagram, no protocol here")?;
        ts += 2;
        out.packet(ts, &p)?;
    }
    out.finish()?;
    Ok(())
}

/// `count` first fragments (more-fragments set, offset 0, 1,024 bytes of
/// a UDP datagram), each of its own datagram; none is ever completed.
fn make_frag_flood(path: &Path, count: u64) -> Result<()> {
    let mut out = PcapOut::create(path)?;
    let mut ts: i64 = 1_764_374_400_000_000;
    let payload = vec![0x5a; 1024];
    let mut p = Vec::with_capacity(1100);
    for i in 0..count {
        let src = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        let mut h = Ipv4Header::new(
            payload.len() as u16,
            64,
            IpNumber::UDP,
            src,
            [192, 0, 2, 10],
        )?;
        h.identification = (i as u16) ^ 0x5555;
        h.more_fragments = true;
        h.fragment_offset = IpFragOffset::ZERO;
        h.header_checksum = h.calc_header_checksum();
        p.clear();
        ether(&mut p);
        h.write(&mut p)?;
        p.extend_from_slice(&payload);
        ts += 2;
        out.packet(ts, &p)?;
    }
    out.finish()?;
    Ok(())
}

/// Makes both captures in `dir`, reads them, returns the Markdown part.
pub fn run(tp: &str, dir: &Path, count: u64) -> Result<String> {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Memory under floods of {count} that never complete, read with the default limits (`tpsniff -r FILE --json`; 65,536 flows, 4 MiB of pending fragments, 30 s fragment timeout):\n\n| capture | peak memory (RssAnon) | time | what the summary says |\n|---|---:|---:|---|"
    );
    let udp = format!("udpflood-{count}.pcap");
    eprintln!("bench-sniff: UDP flood of {count} flows");
    make_udp_flood(&dir.join(&udp), count)?;
    let frag = format!("fragflood-{count}.pcap");
    eprintln!("bench-sniff: fragment flood of {count} datagrams");
    make_frag_flood(&dir.join(&frag), count)?;
    for (label, file) in [
        (
            "one datagram from each of that many UDP client address/port pairs",
            &udp,
        ),
        (
            "a first fragment (1 KiB) of that many datagrams, none completed",
            &frag,
        ),
    ] {
        let (kib, out, d) = peak_rss(&[tp, "-r", file, "--json"], dir)?;
        let sum = json_summary(&out)?;
        let said = if file == &udp {
            let u = &sum["udp"];
            format!(
                "{} UDP flows, {} datagrams; evicted {} oldest, {} idle",
                u["flows"], u["datagrams"], u["evicted_oldest"], u["evicted_idle"]
            )
        } else {
            let g = &sum["ipfrag"];
            format!(
                "{} fragments; dropped {} at the memory limit, {} by timeout, {} incomplete at the end; {} reassembled",
                g["fragments"], g["dropped_memory"], g["dropped_timeout"], g["incomplete_at_end"], g["reassembled"]
            )
        };
        let _ = writeln!(
            md,
            "| {label} (`{file}`) | {:.0} MiB | {:.2} s | {said} |",
            kib as f64 / 1024.0,
            d.as_secs_f64()
        );
        std::fs::remove_file(dir.join(file))?;
    }
    md.push('\n');
    Ok(md)
}
