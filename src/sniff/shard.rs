//! A capture file read by several sniffers at once, each taking the flows
//! of some IP address pairs. Every worker walks the whole mapped file (a
//! record header is a few loads) and decodes each packet far enough to
//! route it; it feeds its own packets to its sniffer and lets the others
//! move its clock on ([`Sniffer::pass`]), so flows and fragments time out
//! at the same packets as in one sniffer. A packet's findings carry its
//! index; the caller's thread merges the workers' streams in that order,
//! drops repeated credentials and writes them out as they come.
//!
//! One IP pair always goes to one worker, so everything the engine pairs
//! up (the two directions of a flow, the fragments of a datagram, a RADIUS
//! request and its reply, Kerberos over UDP) stays in one sniffer. The
//! bounds (flows, memory) are split between the workers.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::path::Path;
use std::sync::mpsc;

use super::engine::{Config, Seen, Sniffer};
use super::finding::{Finding, Summary};
use super::link::{self, Decoded};
use super::source::{FileSource, SourceError};

/// Packets between two messages of a worker.
const BATCH: u64 = 4096;
/// Messages a worker may be ahead of the merge (bounds the memory).
const AHEAD: usize = 8;

/// Index of the findings a sniffer gives when the input ends.
const END: u64 = u64::MAX;

enum Msg {
    /// Findings of packets before `upto` (in order).
    Found {
        upto: u64,
        found: Vec<(u64, Finding)>,
    },
    /// The input ended (with the read error, if one ended it): the last
    /// findings, and the sniffer for its counts.
    Done {
        found: Vec<(u64, Finding)>,
        err: Option<SourceError>,
        sniffer: Box<Sniffer>,
    },
    /// The file could not be read at all.
    Failed(SourceError),
}

/// Opens `path` for [`read_file`]: `None` when it cannot be read in shards
/// (pcapng and filtered reads go through libpcap, one reader), or cannot
/// be opened (the one-thread reader then names the problem).
pub fn open(path: &Path) -> Option<FileSource> {
    FileSource::open(path, None)
        .ok()
        .filter(|s| s.again().is_some())
}

/// Reads `src` (from [`open`]) with `workers` sniffers, calling `sink`
/// with each finding in capture order (repeated credentials dropped when
/// `cfg.dedup`). Returns the merged summary (`None` when nothing could be
/// read) and how the reading ended, as [`super::source::read_file`] does.
pub fn read_file(
    src: FileSource,
    cfg: &Config,
    workers: usize,
    mut sink: impl FnMut(&Finding) -> std::io::Result<()>,
) -> (Option<Summary>, Result<(), SourceError>) {
    let n = workers.max(1);
    let mut shard_cfg = cfg.clone();
    shard_cfg.dedup = false;
    shard_cfg.limits.max_flows = (cfg.limits.max_flows / n).max(1);
    shard_cfg.limits.max_total_bytes = (cfg.limits.max_total_bytes / n).max(1);
    shard_cfg.frag.max_total_bytes = (cfg.frag.max_total_bytes / n).max(1);
    std::thread::scope(|s| {
        let mut rxs = Vec::with_capacity(n);
        for me in 0..n {
            let (tx, rx) = mpsc::sync_channel(AHEAD);
            rxs.push(rx);
            let (c, mine) = (shard_cfg.clone(), src.again());
            s.spawn(move || work(mine, c, me, n, tx));
        }
        merge(rxs, cfg.dedup, &mut sink)
    })
}

/// One worker: the whole file walked, its own packets fed.
fn work(src: Option<FileSource>, cfg: Config, me: usize, n: usize, tx: mpsc::SyncSender<Msg>) {
    let Some(mut src) = src else {
        let e = std::io::Error::other("the capture is not mapped: it cannot be read in shards");
        let _ = tx.send(Msg::Failed(SourceError::Output(e)));
        return;
    };
    let mut sniffer = Box::new(Sniffer::new(cfg));
    let mut found = Vec::new();
    let mut err = None;
    match src.link() {
        Err(e) => err = Some(e),
        Ok(link) => {
            let mut i = 0u64;
            loop {
                let (ts, data) = match src.next_packet() {
                    Ok(Some(p)) => p,
                    Ok(None) => break,
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                };
                let d = link::decode(link, data);
                let got = if owner(&d, n) == me {
                    sniffer.feed_decoded(ts, data.len(), d)
                } else {
                    sniffer.pass(ts, &d)
                };
                found.extend(got.into_iter().map(|f| (i, f)));
                i += 1;
                if i.is_multiple_of(BATCH) {
                    let msg = Msg::Found {
                        upto: i,
                        found: std::mem::take(&mut found),
                    };
                    if tx.send(msg).is_err() {
                        return; // the merge stopped (output closed)
                    }
                }
            }
        }
    }
    found.extend(sniffer.finish().into_iter().map(|f| (END, f)));
    let _ = tx.send(Msg::Done {
        found,
        err,
        sniffer,
    });
}

/// Which worker takes a packet: by its IP pair, either way round; what
/// has none (ARP, undecodable) goes to the first.
fn owner(d: &Result<Decoded<'_>, link::LinkError>, n: usize) -> usize {
    let (a, b) = match d {
        Ok(Decoded::Tcp(s)) => (s.src.ip(), s.dst.ip()),
        Ok(Decoded::Udp(u)) => (u.src.ip(), u.dst.ip()),
        Ok(Decoded::Fragment(f)) => (f.key.src, f.key.dst),
        _ => return 0,
    };
    let h = ip_hash(a) ^ ip_hash(b);
    // The high bits of a multiplicative hash spread a sequential range.
    ((h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) % n as u64) as usize
}

fn ip_hash(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v) => u32::from(v) as u64,
        IpAddr::V6(v) => {
            let x = u128::from(v);
            (x as u64) ^ ((x >> 64) as u64).rotate_left(17)
        }
    }
}

/// The caller's side: findings in packet order, as soon as every worker
/// has passed their packet.
fn merge(
    rxs: Vec<mpsc::Receiver<Msg>>,
    dedup: bool,
    sink: &mut impl FnMut(&Finding) -> std::io::Result<()>,
) -> (Option<Summary>, Result<(), SourceError>) {
    let n = rxs.len();
    let mut queued: Vec<VecDeque<(u64, Finding)>> = (0..n).map(|_| VecDeque::new()).collect();
    let mut upto = vec![0u64; n];
    let mut done: Vec<Option<Box<Sniffer>>> = (0..n).map(|_| None).collect();
    let mut first_err: Option<SourceError> = None;
    let mut seen = Seen::default();
    let (mut reported, mut by_proto) = (0u64, BTreeMap::<String, u64>::new());
    let mut emit = |f: &Finding| -> std::io::Result<()> {
        if let Finding::Credential(c) = f {
            if dedup && !seen.first_of(c.proto, c.server, &c.user, &c.password, &c.hash) {
                return Ok(());
            }
            reported += 1;
            *by_proto.entry(c.proto.as_str().to_string()).or_default() += 1;
        }
        sink(f)
    };
    // Hear from the worker furthest behind (it holds the merge back).
    while let Some(w) = (0..n)
        .filter(|&w| done[w].is_none())
        .min_by_key(|&w| upto[w])
    {
        match rxs[w].recv() {
            Ok(Msg::Found { upto: u, found }) => {
                upto[w] = u;
                queued[w].extend(found);
            }
            Ok(Msg::Done {
                found,
                err,
                sniffer,
            }) => {
                upto[w] = END;
                queued[w].extend(found);
                if w == 0 || first_err.is_none() {
                    first_err = err.or(first_err);
                }
                done[w] = Some(sniffer);
            }
            Ok(Msg::Failed(e)) => return (None, Err(e)),
            Err(_) => {
                let e = std::io::Error::other("a sniffer thread ended without its summary");
                return (None, Err(SourceError::Output(e)));
            }
        }
        // Everything before the slowest worker's mark is complete.
        let safe = *upto.iter().min().expect("at least one worker");
        loop {
            let next = (0..n)
                .filter(|&w| {
                    queued[w]
                        .front()
                        .is_some_and(|(i, _)| *i < safe || safe == END)
                })
                .min_by_key(|&w| queued[w].front().map(|(i, _)| *i));
            let Some(w) = next else { break };
            let (_, f) = queued[w].pop_front().expect("a front");
            if let Err(e) = emit(&f) {
                return (None, Err(SourceError::Output(e)));
            }
        }
    }
    let mut sniffers = done.into_iter().flatten();
    let Some(mut all) = sniffers.next() else {
        return (None, first_err.map_or(Ok(()), Err));
    };
    for s in sniffers {
        all.absorb(&s);
    }
    let mut summary = all.summary();
    summary.credentials = reported;
    summary.credentials_by_proto = by_proto;
    (Some(summary), first_err.map_or(Ok(()), Err))
}
