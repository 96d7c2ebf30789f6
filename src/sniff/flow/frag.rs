//! IPv4 and IPv6 fragment reassembly, bounded like the flow tables.
//!
//! [`parse`] is a pure function from an IP packet's bytes to the fragment
//! it carries (if it is one); [`Reassembler::push`] collects fragments by
//! (source, destination, identification, protocol) and hands back the
//! whole datagram (its transport payload, the IP header gone) once every
//! piece is there.
//!
//! Bounds: a datagram may not end past 65,535 bytes (IPv4: header
//! included; IPv6: the fragmentable part, there are no jumbo fragments);
//! all pending fragments together hold at most
//! [`FragLimits::max_total_bytes`] (the oldest pending datagrams are
//! dropped to make room); a datagram not complete within
//! [`FragLimits::timeout_us`] of capture time after its first fragment is
//! dropped (Linux's `ipfrag_time`, 30 s); at most
//! [`FragLimits::max_pieces`] fragments per datagram.
//!
//! Overlap policy (both IP versions, as Linux since 4.19 and RFC 5722 for
//! IPv6): an exact duplicate of a fragment already held (same offset and
//! length) is ignored, the first copy kept; any other overlap drops the
//! whole datagram, and the fragments of it that still arrive are dropped
//! too until its timeout. A datagram whose pieces disagree on where it
//! ends (two different last fragments, a piece past the last one) is
//! dropped as invalid. Every fragment dropped is counted in
//! [`FragStats`], by reason.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::WireMap;

/// Why an IP packet's header could not be read (counted by the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FragError {
    #[error("not an IPv4 or IPv6 packet")]
    NotIp,
    #[error("IP header truncated")]
    Truncated,
    #[error("IP header length invalid")]
    BadLength,
    #[error("IPv6 extension header truncated")]
    ExtTruncated,
}

/// What identifies the fragments of one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FragKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4's 16-bit or IPv6's 32-bit identification.
    pub id: u32,
    /// The protocol of the fragmented payload (IPv6: the fragment
    /// header's next header).
    pub proto: u8,
}

/// One fragment; `data` borrows the packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment<'a> {
    pub key: FragKey,
    /// Where `data` starts in the datagram's payload, in bytes.
    pub offset: usize,
    /// More fragments follow (the MF / M flag).
    pub more: bool,
    pub data: &'a [u8],
    /// The capture holds less than the header announced (snap length).
    pub truncated: bool,
    /// The largest end (offset + length) a fragment of this datagram may
    /// have: 65,535 minus the IPv4 header, or 65,535 for IPv6.
    pub max_end: usize,
}

const IPV4_MAX: usize = 65_535;
const IPV6_MAX_PAYLOAD: usize = 65_535;

/// The fragment an IP packet (its first byte the version nibble) carries,
/// or `None` when it is a whole datagram (IPv6 atomic fragments, offset 0
/// without M, included).
pub fn parse(ip: &[u8]) -> Result<Option<Fragment<'_>>, FragError> {
    match ip.first().map(|b| b >> 4) {
        Some(4) => parse_v4(ip),
        Some(6) => parse_v6(ip),
        _ => Err(FragError::NotIp),
    }
}

fn parse_v4(ip: &[u8]) -> Result<Option<Fragment<'_>>, FragError> {
    if ip.len() < 20 {
        return Err(FragError::Truncated);
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    if ihl < 20 {
        return Err(FragError::BadLength);
    }
    if ip.len() < ihl {
        return Err(FragError::Truncated);
    }
    let flags_off = u16::from_be_bytes([ip[6], ip[7]]);
    let more = flags_off & 0x2000 != 0;
    let offset = usize::from(flags_off & 0x1fff) * 8;
    if !more && offset == 0 {
        return Ok(None);
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    // Total length 0: segmentation offload; take what was captured.
    let (end, truncated) = match total {
        0 => (ip.len(), false),
        t if t < ihl => return Err(FragError::BadLength),
        t => (t.min(ip.len()), ip.len() < t),
    };
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    Ok(Some(Fragment {
        key: FragKey {
            src: IpAddr::V4(src),
            dst: IpAddr::V4(dst),
            id: u32::from(u16::from_be_bytes([ip[4], ip[5]])),
            proto: ip[9],
        },
        offset,
        more,
        data: &ip[ihl..end],
        truncated,
        max_end: IPV4_MAX - ihl,
    }))
}

/// IPv6 extension headers that may precede a fragment header or the
/// transport header: their length in bytes from their second byte.
fn v6_ext_len(next: u8, hdr: &[u8]) -> Option<usize> {
    match next {
        // Hop-by-hop, routing, destination options.
        0 | 43 | 60 => hdr.get(1).map(|l| (usize::from(*l) + 1) * 8),
        // Authentication header.
        51 => hdr.get(1).map(|l| (usize::from(*l) + 2) * 4),
        _ => None,
    }
}

fn parse_v6(ip: &[u8]) -> Result<Option<Fragment<'_>>, FragError> {
    if ip.len() < 40 {
        return Err(FragError::Truncated);
    }
    let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    // Payload length 0: a jumbogram (never fragmented) or offload.
    let (end, truncated) = match plen {
        0 => (ip.len(), false),
        p => ((40 + p).min(ip.len()), ip.len() < 40 + p),
    };
    let mut next = ip[6];
    let mut at = 40;
    loop {
        if next == 44 {
            let h = ip.get(at..at + 8).ok_or(FragError::ExtTruncated)?;
            if at + 8 > end {
                return Err(FragError::ExtTruncated);
            }
            let off_m = u16::from_be_bytes([h[2], h[3]]);
            let offset = usize::from(off_m >> 3) * 8;
            let more = off_m & 1 != 0;
            if offset == 0 && !more {
                // An atomic fragment (RFC 6946): the datagram is whole.
                return Ok(None);
            }
            let mut s = [0u8; 16];
            s.copy_from_slice(&ip[8..24]);
            let mut d = [0u8; 16];
            d.copy_from_slice(&ip[24..40]);
            return Ok(Some(Fragment {
                key: FragKey {
                    src: IpAddr::V6(Ipv6Addr::from(s)),
                    dst: IpAddr::V6(Ipv6Addr::from(d)),
                    id: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                    proto: h[0],
                },
                offset,
                more,
                data: &ip[at + 8..end],
                truncated,
                max_end: IPV6_MAX_PAYLOAD,
            }));
        }
        let Some(len) = v6_ext_len(next, &ip[at.min(ip.len())..]) else {
            return Ok(None);
        };
        if at + len > end {
            return Err(FragError::ExtTruncated);
        }
        next = ip[at];
        at += len;
    }
}

/// Skips the IPv6 extension headers (routing, destination options,
/// authentication) that open a reassembled IPv6 payload: the protocol and
/// bytes of what follows them. IPv4 payloads are returned as they are.
pub fn skip_v6_extensions(v6: bool, mut proto: u8, mut payload: &[u8]) -> (u8, &[u8]) {
    if !v6 {
        return (proto, payload);
    }
    while proto != 0 {
        let Some(len) = v6_ext_len(proto, payload) else {
            break;
        };
        if len > payload.len() {
            break;
        }
        proto = payload[0];
        payload = &payload[len..];
    }
    (proto, payload)
}

/// A reassembled datagram: its addresses, protocol and whole payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub payload: Vec<u8>,
}

/// Bounds on what reassembly may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragLimits {
    /// Bytes all pending fragments may hold together (their data plus a
    /// fixed cost per fragment and per datagram); beyond it the oldest
    /// pending datagrams are dropped. Linux's `ipfrag_high_thresh`: 4 MiB.
    pub max_total_bytes: usize,
    /// A datagram still incomplete this long (capture time, µs) after its
    /// first fragment is dropped.
    pub timeout_us: i64,
    /// Fragments one datagram may have (64 KiB in 8-byte pieces would be
    /// 8192); beyond it the datagram is dropped as invalid.
    pub max_pieces: usize,
}

impl Default for FragLimits {
    fn default() -> Self {
        FragLimits {
            max_total_bytes: 4 << 20,
            timeout_us: 30_000_000,
            max_pieces: 1024,
        }
    }
}

/// What reassembly did. Everything but `reassembled` counts fragments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FragStats {
    /// Fragments seen.
    pub fragments: u64,
    /// Datagrams made whole (and handed on).
    pub reassembled: u64,
    /// Exact duplicates ignored (the first copy kept).
    pub duplicates: u64,
    /// Dropped: their datagram was incomplete at its timeout.
    pub dropped_timeout: u64,
    /// Dropped: overlapping fragments (the whole datagram).
    pub dropped_overlap: u64,
    /// Dropped to stay within the memory bound.
    pub dropped_memory: u64,
    /// Dropped as invalid: past the size limit, misaligned, ends that
    /// disagree, too many pieces, cut by the snap length.
    pub dropped_invalid: u64,
    /// Still pending when the input ended.
    pub incomplete_at_end: u64,
}

add_counts!(FragStats {
    fragments,
    reassembled,
    duplicates,
    dropped_timeout,
    dropped_overlap,
    dropped_memory,
    dropped_invalid,
    incomplete_at_end,
});

/// Accounting cost of one held fragment and one pending datagram, beyond
/// the data itself.
const PIECE_COST: usize = 48;
const ENTRY_COST: usize = 128;

#[derive(Debug)]
struct Pending {
    serial: u64,
    first_ts: i64,
    /// Pieces by start offset, never overlapping.
    pieces: BTreeMap<usize, Vec<u8>>,
    /// Bytes of data held (the sum of the pieces' lengths).
    covered: usize,
    /// The end the last fragment (no MF) set.
    end: Option<usize>,
    /// Dropped after an overlap: later fragments are dropped too.
    poisoned: bool,
    held: usize,
}

impl Pending {
    fn max_end(&self) -> usize {
        self.pieces.last_key_value().map_or(0, |(s, d)| s + d.len())
    }
}

/// The pending datagrams and their bounds.
#[derive(Debug)]
pub struct Reassembler {
    /// SipHash on purpose: the keys are the sender's choice.
    pending: WireMap<FragKey, Pending>,
    /// Pending datagrams by creation, oldest first.
    order: BTreeMap<u64, FragKey>,
    serial: u64,
    held: usize,
    limits: FragLimits,
    pub stats: FragStats,
}

impl Default for Reassembler {
    fn default() -> Self {
        Reassembler::new(FragLimits::default())
    }
}

impl Reassembler {
    pub fn new(limits: FragLimits) -> Self {
        Reassembler {
            pending: WireMap::default(),
            order: BTreeMap::new(),
            serial: 0,
            held: 0,
            limits,
            stats: FragStats::default(),
        }
    }

    /// Datagrams pending (dropped ones waiting for their timeout included).
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Bytes held, as counted against [`FragLimits::max_total_bytes`].
    pub fn held(&self) -> usize {
        self.held
    }

    /// Adds one fragment seen at `ts` (µs); the datagram when this
    /// fragment completed it.
    pub fn push(&mut self, ts: i64, f: &Fragment<'_>) -> Option<Datagram> {
        self.expire(ts);
        self.stats.fragments += 1;
        let start = f.offset;
        let end = start + f.data.len();
        if f.truncated
            || end > f.max_end
            || (f.more && (f.data.is_empty() || f.data.len() % 8 != 0))
        {
            self.stats.dropped_invalid += 1;
            return None;
        }
        if !self.pending.contains_key(&f.key) {
            self.serial += 1;
            self.pending.insert(
                f.key,
                Pending {
                    serial: self.serial,
                    first_ts: ts,
                    pieces: BTreeMap::new(),
                    covered: 0,
                    end: None,
                    poisoned: false,
                    held: ENTRY_COST,
                },
            );
            self.order.insert(self.serial, f.key);
            self.held += ENTRY_COST;
        }
        let p = self.pending.get_mut(&f.key).expect("inserted above");
        if p.poisoned {
            self.stats.dropped_overlap += 1;
            return None;
        }
        // Where the datagram ends must be consistent.
        let bad_end = match (f.more, p.end) {
            (false, Some(e)) => e != end,
            (false, None) => end < p.max_end(),
            (true, Some(e)) => end > e,
            (true, None) => false,
        };
        if bad_end {
            let n = p.pieces.len() as u64 + 1;
            self.stats.dropped_invalid += n;
            self.remove(f.key);
            return None;
        }
        // Overlap with the piece before or the piece after.
        let before = p.pieces.range(..=start).next_back();
        let after = p.pieces.range(start..).next();
        let dup = |(s, d): (&usize, &Vec<u8>)| *s == start && s + d.len() == end;
        if before.is_some_and(dup) || after.is_some_and(dup) {
            self.stats.duplicates += 1;
            return None;
        }
        let overlaps = before.is_some_and(|(s, d)| s + d.len() > start)
            || after.is_some_and(|(s, _)| *s < end);
        if overlaps {
            self.stats.dropped_overlap += p.pieces.len() as u64 + 1;
            let freed = p.held - ENTRY_COST;
            p.pieces.clear();
            p.covered = 0;
            p.held = ENTRY_COST;
            p.poisoned = true;
            self.held -= freed;
            return None;
        }
        if p.pieces.len() >= self.limits.max_pieces {
            self.stats.dropped_invalid += p.pieces.len() as u64 + 1;
            self.remove(f.key);
            return None;
        }
        let need = f.data.len() + PIECE_COST;
        let serial = p.serial;
        // Room: drop the oldest pending datagrams (never this one).
        while self.held + need > self.limits.max_total_bytes {
            match self
                .order
                .iter()
                .map(|(s, k)| (*s, *k))
                .find(|(s, _)| *s != serial)
            {
                Some((_, k)) => {
                    let n = self.pending.get(&k).map_or(0, |o| {
                        if o.poisoned {
                            0
                        } else {
                            o.pieces.len() as u64
                        }
                    });
                    self.stats.dropped_memory += n;
                    self.remove(k);
                }
                None => {
                    // This datagram alone is too big for the bound.
                    let n = self
                        .pending
                        .get(&f.key)
                        .map_or(0, |o| o.pieces.len() as u64);
                    self.stats.dropped_memory += n + 1;
                    self.remove(f.key);
                    return None;
                }
            }
        }
        let p = self.pending.get_mut(&f.key).expect("still pending");
        if !f.more {
            p.end = Some(end);
        }
        if !f.data.is_empty() {
            p.pieces.insert(start, f.data.to_vec());
        }
        p.covered += f.data.len();
        p.held += need;
        self.held += need;
        if p.end != Some(p.covered) {
            return None;
        }
        // Complete: the pieces do not overlap and lie within [0, end), so
        // covering `end` bytes means covering all of it.
        let p = self.take(f.key).expect("pending");
        let mut payload = Vec::with_capacity(p.covered);
        for (_, d) in p.pieces {
            payload.extend_from_slice(&d);
        }
        self.stats.reassembled += 1;
        Some(Datagram {
            src: f.key.src,
            dst: f.key.dst,
            proto: f.key.proto,
            payload,
        })
    }

    fn take(&mut self, k: FragKey) -> Option<Pending> {
        let p = self.pending.remove(&k)?;
        self.order.remove(&p.serial);
        self.held -= p.held;
        Some(p)
    }

    fn remove(&mut self, k: FragKey) {
        self.take(k);
    }

    /// Drops the datagrams whose first fragment is older than the timeout
    /// (also done by [`Reassembler::push`]).
    pub fn expire(&mut self, ts: i64) {
        while let Some((_, &k)) = self.order.first_key_value() {
            let p = &self.pending[&k];
            if ts.saturating_sub(p.first_ts) < self.limits.timeout_us {
                break;
            }
            if !p.poisoned {
                self.stats.dropped_timeout += p.pieces.len() as u64;
            }
            self.remove(k);
        }
    }

    /// Ends the input: what is still pending is counted, then dropped.
    pub fn finish(&mut self) {
        for p in self.pending.values() {
            if !p.poisoned {
                self.stats.incomplete_at_end += p.pieces.len() as u64;
            }
        }
        self.pending.clear();
        self.order.clear();
        self.held = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: [u8; 4] = [10, 0, 0, 1];
    const DST: [u8; 4] = [10, 0, 0, 2];

    /// An IPv4 fragment of datagram `id` (UDP) at byte `offset`.
    fn v4(id: u16, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
        assert_eq!(offset % 8, 0);
        let total = 20 + data.len();
        let fo = (offset / 8) as u16 | if more { 0x2000 } else { 0 };
        let mut p = vec![0x45, 0];
        p.extend_from_slice(&(total as u16).to_be_bytes());
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&fo.to_be_bytes());
        p.extend_from_slice(&[64, 17, 0, 0]);
        p.extend_from_slice(&SRC);
        p.extend_from_slice(&DST);
        p.extend_from_slice(data);
        p
    }

    /// An IPv6 fragment (with a destination-options header before the
    /// fragment header, to be skipped).
    fn v6(id: u32, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&((8 + 8 + data.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[60, 64]);
        p.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        // Destination options: next = fragment, length 0 (8 bytes), PadN.
        p.extend_from_slice(&[44, 0, 1, 4, 0, 0, 0, 0]);
        let om = ((offset / 8) as u16) << 3 | more as u16;
        p.extend_from_slice(&[17, 0]);
        p.extend_from_slice(&om.to_be_bytes());
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(data);
        p
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 256) as u8).collect()
    }

    /// Pushes packets in the given order; the datagrams completed.
    fn run(r: &mut Reassembler, pkts: &[(i64, Vec<u8>)]) -> Vec<Datagram> {
        pkts.iter()
            .filter_map(|(ts, p)| {
                let f = parse(p).unwrap().expect("a fragment");
                r.push(*ts, &f)
            })
            .collect()
    }

    fn three(id: u16, d: &[u8]) -> Vec<(i64, Vec<u8>)> {
        vec![
            (0, v4(id, 0, true, &d[..1480])),
            (1, v4(id, 1480, true, &d[1480..2960])),
            (2, v4(id, 2960, false, &d[2960..])),
        ]
    }

    #[test]
    fn whole_packets_are_not_fragments() {
        let mut p = v4(1, 0, false, b"abc");
        assert_eq!(parse(&p).unwrap(), None);
        p[6] = 0x40; // DF
        assert_eq!(parse(&p).unwrap(), None);
        // IPv6 atomic fragment.
        assert_eq!(parse(&v6(1, 0, false, b"abc")).unwrap(), None);
        assert_eq!(parse(&[0x45, 0]).unwrap_err(), FragError::Truncated);
        assert_eq!(parse(&[0x15; 40]).unwrap_err(), FragError::NotIp);
        assert_eq!(parse(&[]).unwrap_err(), FragError::NotIp);
    }

    #[test]
    fn in_order_and_reversed_give_the_datagram_once() {
        let d = data(4000);
        for reversed in [false, true] {
            let mut r = Reassembler::default();
            let mut pkts = three(7, &d);
            if reversed {
                pkts.reverse();
            }
            let out = run(&mut r, &pkts);
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].payload, d);
            assert_eq!(out[0].proto, 17);
            assert_eq!(out[0].src, IpAddr::from(SRC));
            assert_eq!(r.stats.reassembled, 1);
            assert_eq!(r.stats.fragments, 3);
            assert!(r.is_empty());
            assert_eq!(r.held(), 0);
        }
    }

    #[test]
    fn ipv6_after_extension_headers() {
        let d = data(3000);
        let mut r = Reassembler::default();
        let pkts = vec![
            (0, v6(0xdead_beef, 1448, false, &d[1448..])),
            (0, v6(0xdead_beef, 0, true, &d[..1448])),
        ];
        let f = parse(&pkts[0].1).unwrap().unwrap();
        assert_eq!(
            (f.key.id, f.key.proto, f.offset, f.more),
            (0xdead_beef, 17, 1448, false)
        );
        assert_eq!(f.max_end, 65_535);
        let out = run(&mut r, &pkts);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].payload, d);
        assert!(out[0].src.is_ipv6());
        // A destination-options header inside the fragmentable part.
        let mut inner = vec![17, 0, 1, 4, 0, 0, 0, 0];
        inner.extend_from_slice(b"udp");
        assert_eq!(skip_v6_extensions(true, 60, &inner), (17, &b"udp"[..]));
        assert_eq!(skip_v6_extensions(false, 60, &inner).0, 60);
        assert_eq!(skip_v6_extensions(true, 60, &inner[..4]).0, 60);
    }

    #[test]
    fn exact_duplicates_are_ignored_first_copy_kept() {
        let d = data(4000);
        let mut r = Reassembler::default();
        let mut pkts = three(9, &d);
        // A duplicate of the middle piece with other bytes: the first wins.
        let mut other = d[1480..2960].to_vec();
        other[0] ^= 0xff;
        pkts.insert(2, (1, v4(9, 1480, true, &other)));
        pkts.insert(1, (0, pkts[0].1.clone()));
        let out = run(&mut r, &pkts);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].payload, d);
        assert_eq!(r.stats.duplicates, 2);
        assert_eq!(r.stats.dropped_overlap, 0);
    }

    #[test]
    fn an_overlap_drops_the_whole_datagram() {
        let d = data(4000);
        let mut r = Reassembler::default();
        let mut pkts = three(11, &d);
        // Overlaps the first and the second pieces.
        pkts.insert(1, (0, v4(11, 1472, true, &d[1472..1488])));
        assert!(run(&mut r, &pkts).is_empty());
        // 1 held + the overlapping one, then the last two arriving after.
        assert_eq!(r.stats.dropped_overlap, 4);
        assert_eq!(r.stats.reassembled, 0);
        // The dropped datagram holds no data while it waits to expire.
        assert_eq!(r.held(), ENTRY_COST);
        // After the timeout the same id reassembles again.
        let later: Vec<_> = three(11, &d)
            .into_iter()
            .map(|(t, p)| (t + 31_000_000, p))
            .collect();
        assert_eq!(run(&mut r, &later).len(), 1);
        assert_eq!(
            r.stats.dropped_timeout, 0,
            "the dropped one is not counted twice"
        );
    }

    #[test]
    fn a_missing_piece_times_out_and_is_counted() {
        let d = data(4000);
        let mut r = Reassembler::default();
        let mut pkts = three(13, &d);
        pkts.remove(1);
        assert!(run(&mut r, &pkts).is_empty());
        assert_eq!(r.len(), 1);
        assert!(r.held() > 2500);
        // 30 s after the first fragment another datagram's fragment comes.
        let other = v4(14, 0, true, &d[..8]);
        let f = parse(&other).unwrap().unwrap();
        assert!(r.push(29_999_999, &f).is_none());
        assert_eq!(r.stats.dropped_timeout, 0);
        assert!(r.push(30_000_000, &f).is_none());
        assert_eq!(r.stats.dropped_timeout, 2);
        assert_eq!(r.len(), 1, "only the new one pending");
        r.finish();
        assert_eq!(r.stats.incomplete_at_end, 1);
        assert_eq!(r.held(), 0);
    }

    #[test]
    fn invalid_fragments_are_dropped_and_counted() {
        let d = data(4000);
        let mut r = Reassembler::default();
        // Misaligned middle piece.
        let first = v4(1, 0, true, &d[..1480]);
        let mut f = parse(&first).unwrap().unwrap();
        f.data = &d[..1479];
        assert!(r.push(0, &f).is_none());
        // Past 65,535 bytes.
        let big = v4(2, 65_528, false, &d[..16]);
        assert!(r.push(0, &parse(&big).unwrap().unwrap()).is_none());
        // Cut by the snap length.
        let cut = v4(3, 0, true, &d[..1480]);
        assert!(r.push(0, &parse(&cut[..1000]).unwrap().unwrap()).is_none());
        assert_eq!(r.stats.dropped_invalid, 3);
        // Two last fragments that disagree: the datagram goes.
        let pkts = vec![
            (0, v4(4, 0, true, &d[..8])),
            (0, v4(4, 16, false, &d[..8])),
            (0, v4(4, 32, false, &d[..8])),
        ];
        assert!(run(&mut r, &pkts).is_empty());
        assert_eq!(r.stats.dropped_invalid, 3 + 3);
        assert!(r.is_empty());
    }

    #[test]
    fn memory_bound_drops_the_oldest_datagrams() {
        let lim = FragLimits {
            max_total_bytes: 64 * 1024,
            ..FragLimits::default()
        };
        let mut r = Reassembler::new(lim);
        let d = data(1480);
        // A flood of first fragments that never complete.
        for id in 0..10_000u16 {
            let p = v4(id, 0, true, &d);
            r.push(i64::from(id), &parse(&p).unwrap().unwrap());
            assert!(r.held() <= lim.max_total_bytes);
        }
        assert!(r.len() < 64);
        assert!(r.stats.dropped_memory > 9_900);
        // A datagram whose pieces come together still goes through.
        let d = data(4000);
        assert_eq!(run(&mut r, &three(60_000, &d)).len(), 1);
        // One datagram bigger than the bound on its own.
        let mut r = Reassembler::new(FragLimits {
            max_total_bytes: 2000,
            ..FragLimits::default()
        });
        assert!(run(&mut r, &three(1, &d)).is_empty());
        // The first two go; the last starts anew and waits for its timeout.
        assert_eq!(r.stats.dropped_memory, 2);
        assert_eq!(r.len(), 1);
        assert!(r.held() <= 2000);
    }

    proptest::proptest! {
        /// Any cut into 8-byte-aligned pieces, in any order, with exact
        /// duplicates, gives back the datagram exactly once.
        #[test]
        fn any_order_and_duplication_gives_the_datagram(
            len in 9usize..6000,
            cuts in proptest::collection::vec(1usize..750, 1..12),
            order in proptest::collection::vec(0usize..1000, 0..40),
            dups in proptest::collection::vec(0usize..100, 0..4),
        ) {
            let d = data(len);
            let mut bounds = vec![0];
            for c in cuts {
                let next = bounds.last().unwrap() + c * 8;
                if next >= len {
                    break;
                }
                bounds.push(next);
            }
            if bounds.len() == 1 {
                bounds.push(8);
            }
            bounds.push(len);
            let mut pkts: Vec<Vec<u8>> = bounds
                .windows(2)
                .map(|w| v4(5, w[0], w[1] < len, &d[w[0]..w[1]]))
                .collect();
            for x in dups {
                let i = x % pkts.len();
                pkts.push(pkts[i].clone());
            }
            let n = pkts.len();
            for (i, o) in order.into_iter().enumerate() {
                pkts.swap(i % n, o % n);
            }
            let mut r = Reassembler::default();
            let mut out = Vec::new();
            for p in &pkts {
                if let Some(dg) = r.push(0, &parse(p).unwrap().unwrap()) {
                    out.push(dg);
                }
            }
            // A duplicate coming after completion starts a new datagram
            // that never completes; the first one is the datagram.
            proptest::prop_assert!(!out.is_empty());
            proptest::prop_assert_eq!(&out[0].payload, &d);
            proptest::prop_assert_eq!(r.stats.dropped_overlap, 0);
        }
    }
}
