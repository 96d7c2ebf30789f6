//! Flows: the TCP [`FlowTable`] (one [`HalfStream`] per direction, see
//! [`reassembly`]) and the UDP [`udp::UdpTable`]. Both bound the number of
//! flows and what they hold, evicting idle and then least recently seen
//! flows, and count what they did.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};

use super::link::TcpSegment;

/// `add`, which adds another counter struct's fields to these (the shards
/// of one capture). The destructuring names every field: one added later
/// without being listed here does not compile.
macro_rules! add_counts {
    ($t:ident { $($f:ident),* $(,)? }) => {
        impl $t {
            /// Adds another's counts to these.
            pub fn add(&mut self, o: &$t) {
                let $t { $($f),* } = *o;
                $(self.$f += $f;)*
            }
        }
    };
}

pub mod frag;
pub mod reassembly;
pub mod udp;

pub use reassembly::{HalfStream, Pushed};

/// A map whose keys come off the wire: keyed with a per-process random
/// seed (so crafted addresses and ports cannot be made to collide) by a
/// hash far cheaper than std's SipHash.
pub type WireMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;
/// The set of [`WireMap`].
pub type WireSet<K> = std::collections::HashSet<K, ahash::RandomState>;

/// Limits on what reassembly may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Flows tracked at once; beyond it the least recently seen is evicted.
    pub max_flows: usize,
    /// Bytes one direction may hold (out-of-order plus unconsumed data).
    /// Beyond it the oldest gap is skipped.
    pub max_flow_bytes: usize,
    /// Bytes all flows together may hold; beyond it the least recently
    /// seen flows are evicted.
    pub max_total_bytes: usize,
    /// A flow with no packet for this long (capture time, µs) is evicted.
    pub idle_timeout_us: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_flows: 65_536,
            max_flow_bytes: 1 << 20,
            max_total_bytes: 256 << 20,
            idle_timeout_us: 300_000_000,
        }
    }
}

/// Counters of what reassembly did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowStats {
    pub flows: u64,
    pub segments: u64,
    /// Segments of no tracked flow, ignored: bare ACK/FIN/RST, and late
    /// retransmissions of a flow that closed.
    pub no_flow: u64,
    pub retransmitted: u64,
    pub overlaps_trimmed: u64,
    pub out_of_order: u64,
    pub gaps_skipped: u64,
    pub bytes_skipped: u64,
    pub evicted_idle: u64,
    pub evicted_oldest: u64,
    pub evicted_memory: u64,
}

add_counts!(FlowStats {
    flows,
    segments,
    no_flow,
    retransmitted,
    overlaps_trimmed,
    out_of_order,
    gaps_skipped,
    bytes_skipped,
    evicted_idle,
    evicted_oldest,
    evicted_memory,
});
/// Direction of a segment relative to the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    ToServer,
    ToClient,
}

impl Dir {
    pub fn index(self) -> usize {
        match self {
            Dir::ToServer => 0,
            Dir::ToClient => 1,
        }
    }
}

/// One TCP connection and what the application layer keeps for it.
#[derive(Debug)]
pub struct Flow<S> {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub first_ts: i64,
    pub last_ts: i64,
    /// `[to server, to client]`.
    pub half: [HalfStream; 2],
    pub payload_bytes: u64,
    pub rst: bool,
    /// The flags of the first SYN seen (it fixed who is the client).
    pub syn_seen: Option<Flags>,
    pub app: S,
}

/// Application state of a flow, which may hold bytes of its own (a request
/// body being collected): they count against the memory bounds.
pub trait AppState: Default {
    fn held(&self) -> usize {
        0
    }
}

impl AppState for () {}

impl<S: AppState> Flow<S> {
    /// Reset, or FIN both ways with nothing still waiting for a gap to
    /// fill (a FIN can overtake data in a capture).
    pub fn closed(&self) -> bool {
        self.rst || self.half.iter().all(HalfStream::finished)
    }

    /// Exchanges the roles of the two ends (when the guess from the
    /// ports was wrong and no handshake told).
    pub fn swap_ends(&mut self) {
        std::mem::swap(&mut self.client, &mut self.server);
        self.half.swap(0, 1);
    }

    /// Bytes held by reassembly and by the application state.
    pub fn held(&self) -> usize {
        self.half[0].held() + self.half[1].held() + self.app.held()
    }
}

/// Key of a flow, the same in both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key(SocketAddr, SocketAddr);

impl Hash for Key {
    /// Two IPv4 ends are one 96-bit word (one write instead of a dozen);
    /// anything else hashes field by field.
    fn hash<H: Hasher>(&self, h: &mut H) {
        match (self.0.ip(), self.1.ip()) {
            (IpAddr::V4(a), IpAddr::V4(b)) => h.write_u128(
                (u32::from(a) as u128) << 64
                    | (u32::from(b) as u128) << 32
                    | (self.0.port() as u128) << 16
                    | self.1.port() as u128,
            ),
            _ => {
                self.0.hash(h);
                self.1.hash(h);
            }
        }
    }
}

impl Key {
    fn of(a: SocketAddr, b: SocketAddr) -> Key {
        if a <= b {
            Key(a, b)
        } else {
            Key(b, a)
        }
    }
}

/// Why a flow left the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Closed,
    Idle,
    Oldest,
    Memory,
    Finish,
}

/// The flow table. `S` is the application state of a flow.
#[derive(Debug)]
pub struct FlowTable<S> {
    /// Keyed hashing on purpose: the keys are chosen by whoever sends the
    /// packets, and a fixed hash (FxHash) would let a flood of crafted
    /// addresses and ports collide.
    flows: WireMap<Key, Flow<S>>,
    /// Flows in the order they were queued (when created, or re-queued
    /// when found active at eviction time), with the time they were
    /// queued at. Eviction pops the front: a flow seen since is re-queued
    /// at the back, a removed one skipped, so a least recently seen flow
    /// is found in amortized O(1) (scanning the table for the minimum made
    /// a million-flow SYN flood take minutes).
    order: VecDeque<(i64, Key)>,
    /// Recently closed flows and when they closed.
    time_wait: WireMap<Key, i64>,
    limits: Limits,
    held: usize,
    last_sweep: i64,
    pub stats: FlowStats,
}

impl<S: AppState> FlowTable<S> {
    pub fn new(limits: Limits) -> Self {
        FlowTable {
            flows: WireMap::default(),
            order: VecDeque::new(),
            time_wait: WireMap::default(),
            limits,
            held: 0,
            last_sweep: i64::MIN,
            stats: FlowStats::default(),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Adds a segment to its flow (creating it) and returns the flow and
    /// the segment's direction, and the bytes the flow held before (pass
    /// it to [`FlowTable::account`]). Flows pushed out to make room are appended
    /// to `ended`.
    pub fn segment(
        &mut self,
        ts: i64,
        seg: &TcpSegment<'_>,
        ended: &mut Vec<(Flow<S>, End)>,
    ) -> Option<(&mut Flow<S>, Dir, usize)> {
        let (src, dst, seq, payload, wire_len) =
            (seg.src, seg.dst, seg.seq, seg.payload, seg.wire_len);
        let flags = Flags {
            syn: seg.syn,
            ack: seg.ack,
            fin: seg.fin,
            rst: seg.rst,
        };
        self.maintain(ts, ended);
        let key = Key::of(src, dst);
        self.stats.segments += 1;
        if !self.flows.contains_key(&key) {
            if !flags.syn && self.time_wait.contains_key(&key) {
                // A late retransmission of a connection that closed.
                self.stats.no_flow += 1;
                self.stats.retransmitted += !payload.is_empty() as u64;
                return None;
            }
            self.time_wait.remove(&key);
            if !flags.syn && payload.is_empty() {
                // A bare ACK, FIN or RST of a flow that ended (or that
                // started before the capture): nothing to track.
                self.stats.no_flow += 1;
                return None;
            }
            if self.flows.len() >= self.limits.max_flows {
                self.evict_oldest(End::Oldest, ended);
            }
            let (client, server) = orient(src, dst, flags);
            self.stats.flows += 1;
            self.queue(ts, key);
            self.flows.insert(
                key,
                Flow {
                    client,
                    server,
                    first_ts: ts,
                    last_ts: ts,
                    half: Default::default(),
                    payload_bytes: 0,
                    rst: false,
                    syn_seen: None,
                    app: S::default(),
                },
            );
        }
        let flow = self.flows.get_mut(&key).expect("inserted above");
        let dir = if src == flow.client {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        flow.last_ts = flow.last_ts.max(ts);
        let before = flow.held();
        if flags.syn && flow.syn_seen.is_none() {
            flow.syn_seen = Some(flags);
        }
        let half = &mut flow.half[dir.index()];
        if flags.syn {
            half.syn(seq);
        }
        let data_seq = if flags.syn { seq.wrapping_add(1) } else { seq };
        let p = half.push_cut(data_seq, payload, wire_len, self.limits.max_flow_bytes);
        if flags.fin {
            half.fin(data_seq.wrapping_add(wire_len.max(payload.len()) as u32));
        }
        if flags.rst {
            flow.rst = true;
        }
        flow.payload_bytes += wire_len.max(payload.len()) as u64;
        self.stats.retransmitted += p.retransmitted as u64;
        self.stats.overlaps_trimmed += p.overlap as u64;
        self.stats.out_of_order += p.buffered as u64;
        if p.gap_skipped > 0 {
            self.stats.gaps_skipped += 1;
            self.stats.bytes_skipped += p.gap_skipped;
        }
        Some((flow, dir, before))
    }

    /// Accounts for a flow holding `after` bytes instead of `before`
    /// (call after the application consumed what it could).
    pub fn account(&mut self, before: usize, after: usize) {
        self.held = (self.held + after).saturating_sub(before);
    }

    /// Bytes all flows hold.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Removes a flow (after it closed), flushing its buffers. Segments of
    /// it that come later (without a new SYN) are ignored for the idle
    /// timeout.
    pub fn remove(&mut self, client: SocketAddr, server: SocketAddr) -> Option<Flow<S>> {
        let key = Key::of(client, server);
        let mut f = self.flows.remove(&key)?;
        if self.time_wait.len() >= self.limits.max_flows {
            let horizon = f.last_ts.saturating_sub(self.limits.idle_timeout_us);
            self.time_wait.retain(|_, ts| *ts >= horizon);
            if self.time_wait.len() >= self.limits.max_flows {
                self.time_wait.clear();
            }
        }
        self.time_wait.insert(key, f.last_ts);
        self.held = self.held.saturating_sub(f.held());
        self.flush(&mut f);
        Some(f)
    }

    fn flush(&mut self, f: &mut Flow<S>) {
        for h in &mut f.half {
            let s = h.flush();
            if s > 0 {
                self.stats.gaps_skipped += 1;
                self.stats.bytes_skipped += s;
            }
        }
    }

    /// Idle sweep (once a second of capture time) and the memory bound.
    /// What a segment of a flow another table tracks would do here: idle
    /// flows time out.
    pub fn tick(&mut self, ts: i64, ended: &mut Vec<(Flow<S>, End)>) {
        self.maintain(ts, ended);
    }

    fn maintain(&mut self, ts: i64, ended: &mut Vec<(Flow<S>, End)>) {
        if ts >= self.last_sweep.saturating_add(1_000_000) {
            self.last_sweep = ts;
            let idle = self.limits.idle_timeout_us;
            self.time_wait.retain(|_, t| ts.saturating_sub(*t) <= idle);
            let old: Vec<Key> = self
                .flows
                .iter()
                .filter(|(_, f)| ts.saturating_sub(f.last_ts) > idle)
                .map(|(k, _)| *k)
                .collect();
            for k in old {
                if let Some(mut f) = self.flows.remove(&k) {
                    self.held = self.held.saturating_sub(f.held());
                    self.stats.evicted_idle += 1;
                    self.flush(&mut f);
                    ended.push((f, End::Idle));
                }
            }
        }
        self.enforce_memory(ended);
    }

    /// Evicts the least recently seen flows while all flows together hold
    /// more than the limit.
    pub fn enforce_memory(&mut self, ended: &mut Vec<(Flow<S>, End)>) {
        while self.held > self.limits.max_total_bytes && !self.flows.is_empty() {
            self.evict_oldest(End::Memory, ended);
        }
    }

    /// Queues a new flow; rebuilds the queue when entries of flows that
    /// are gone make up most of it (bounds its memory).
    fn queue(&mut self, ts: i64, key: Key) {
        self.order.push_back((ts, key));
        if self.order.len() > 2 * self.flows.len() + 1024 {
            let mut live: Vec<(i64, Key)> =
                self.flows.iter().map(|(k, f)| (f.last_ts, *k)).collect();
            live.push((ts, key));
            live.sort_unstable_by_key(|&(t, _)| t);
            self.order = live.into();
        }
    }

    fn evict_oldest(&mut self, why: End, ended: &mut Vec<(Flow<S>, End)>) {
        let k = loop {
            let Some((t, k)) = self.order.pop_front() else {
                // Not reached while every flow is queued; be safe anyway.
                match self
                    .flows
                    .iter()
                    .min_by_key(|(_, f)| f.last_ts)
                    .map(|(k, _)| *k)
                {
                    Some(k) => break k,
                    None => return,
                }
            };
            match self.flows.get(&k) {
                None => continue,
                Some(f) if f.last_ts > t => self.order.push_back((f.last_ts, k)),
                Some(_) => break k,
            }
        };
        if let Some(mut f) = self.flows.remove(&k) {
            self.held = self.held.saturating_sub(f.held());
            match why {
                End::Memory => self.stats.evicted_memory += 1,
                _ => self.stats.evicted_oldest += 1,
            }
            self.flush(&mut f);
            ended.push((f, why));
        }
    }

    /// Ends every flow (end of input), oldest first.
    pub fn drain_all(&mut self) -> Vec<Flow<S>> {
        self.order.clear();
        let mut all: Vec<Flow<S>> = self.flows.drain().map(|(_, f)| f).collect();
        all.sort_by_key(|f| (f.first_ts, f.client, f.server));
        self.held = 0;
        for f in &mut all {
            self.flush(f);
        }
        all
    }
}

/// The TCP flags that matter to the flow table.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

/// Which end is the client: the sender of a bare SYN, the receiver of a
/// SYN-ACK, else the end with the higher port (ephemeral ports are high).
fn orient(src: SocketAddr, dst: SocketAddr, f: Flags) -> (SocketAddr, SocketAddr) {
    if f.syn && !f.ack {
        (src, dst)
    } else if f.syn && f.ack {
        (dst, src)
    } else if src.port() >= dst.port() {
        (src, dst)
    } else {
        (dst, src)
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn seg<'a>(
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        f: Flags,
        payload: &'a [u8],
    ) -> TcpSegment<'a> {
        TcpSegment {
            src,
            dst,
            seq,
            syn: f.syn,
            ack: f.ack,
            fin: f.fin,
            rst: f.rst,
            payload,
            truncated: false,
            wire_len: payload.len(),
        }
    }

    #[test]
    fn eviction_is_least_recently_seen_and_its_queue_stays_bounded() {
        let lim = Limits {
            max_flows: 100,
            max_flow_bytes: 100,
            max_total_bytes: 1 << 20,
            idle_timeout_us: i64::MAX / 4,
        };
        let mut t: FlowTable<()> = FlowTable::new(lim);
        let mut ended = Vec::new();
        let s: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let syn = Flags {
            syn: true,
            ..Flags::default()
        };
        let keep: SocketAddr = "10.0.0.9:1".parse().unwrap();
        t.segment(0, &seg(keep, s, 0, syn, b""), &mut ended);
        // A flood of 50,000 new flows; one old flow stays active throughout.
        for i in 0..50_000u32 {
            let c = SocketAddr::new(std::net::Ipv4Addr::from(0x0b00_0000 + i).into(), 1000);
            t.segment(1 + 2 * i as i64, &seg(c, s, 0, syn, b""), &mut ended);
            t.segment(
                2 + 2 * i as i64,
                &seg(keep, s, 1, Flags::default(), b"x"),
                &mut ended,
            );
        }
        assert_eq!(t.len(), 100);
        assert_eq!(t.stats.evicted_oldest, 50_001 - 100);
        assert!(
            t.flows.contains_key(&Key::of(keep, s)),
            "the active flow is never the least recently seen"
        );
        assert!(ended.iter().all(|(f, _)| f.client != keep));
        assert!(t.order.len() <= 2 * t.len() + 1025, "{}", t.order.len());
        // Flows that close normally do not pile up in the queue.
        let mut t: FlowTable<()> = FlowTable::new(lim);
        for i in 0..20_000u32 {
            let c = SocketAddr::new(std::net::Ipv4Addr::from(0x0c00_0000 + i).into(), 1000);
            t.segment(i as i64, &seg(c, s, 0, syn, b""), &mut ended);
            t.remove(c, s);
        }
        assert!(t.order.len() <= 1025, "{}", t.order.len());
    }

    #[test]
    fn table_orients_bounds_and_evicts() {
        let lim = Limits {
            max_flows: 2,
            max_flow_bytes: 100,
            max_total_bytes: 1000,
            idle_timeout_us: 10_000_000,
        };
        let mut t: FlowTable<()> = FlowTable::new(lim);
        let mut ended = Vec::new();
        let a: SocketAddr = "10.0.0.1:40000".parse().unwrap();
        let s: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let syn = Flags {
            syn: true,
            ..Flags::default()
        };
        // The SYN-ACK seen first still makes 10.0.0.1 the client.
        let synack = Flags {
            syn: true,
            ack: true,
            ..Flags::default()
        };
        let (f, dir, _) = t
            .segment(0, &seg(s, a, 5, synack, b""), &mut ended)
            .unwrap();
        assert_eq!((f.client, dir), (a, Dir::ToClient));
        for i in 0..3u16 {
            let c = SocketAddr::new(a.ip(), 50000 + i);
            t.segment(1 + i as i64, &seg(c, s, 0, syn, b""), &mut ended);
        }
        assert_eq!(t.len(), 2);
        assert_eq!(t.stats.evicted_oldest, 2);
        assert_eq!(ended[0].0.client, a, "the oldest goes first");
        ended.clear();
        assert!(t
            .segment(20_000_000, &seg(a, s, 1, Flags::default(), b""), &mut ended)
            .is_none());
        assert_eq!(
            t.stats.no_flow, 1,
            "a bare ACK of an unknown flow makes none"
        );
        assert_eq!(t.stats.evicted_idle, 2);
        assert_eq!(t.len(), 0);
    }
}
