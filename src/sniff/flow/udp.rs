//! UDP flows: keyed like TCP ones (the two endpoints, either way round),
//! bounded by the same [`Limits`] (flow count, idle timeout), evicting the
//! least recently seen. A datagram is handed to its flow's protocol at once,
//! so a UDP flow holds no bytes: only its small application state.

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::{orient, Dir, Flags, Key, Limits, WireMap};

/// Counters of the UDP table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpStats {
    pub flows: u64,
    pub datagrams: u64,
    pub evicted_idle: u64,
    pub evicted_oldest: u64,
}

add_counts!(UdpStats { flows, datagrams, evicted_idle, evicted_oldest });

/// One UDP conversation between two endpoints.
#[derive(Debug)]
pub struct UdpFlow<S> {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub first_ts: i64,
    pub last_ts: i64,
    pub datagrams: u64,
    pub bytes: u64,
    pub app: S,
}

/// The UDP flow table. `S` is the application state of a flow.
#[derive(Debug)]
pub struct UdpTable<S> {
    /// SipHash on purpose, as for TCP: the keys are the sender's choice.
    flows: WireMap<Key, UdpFlow<S>>,
    /// Flows in the order they were (re)queued, with the time they were
    /// queued at; eviction pops the front, re-queueing flows seen since.
    order: VecDeque<(i64, Key)>,
    limits: Limits,
    last_sweep: i64,
    pub stats: UdpStats,
}

impl<S: Default> UdpTable<S> {
    pub fn new(limits: Limits) -> Self {
        UdpTable {
            flows: WireMap::default(),
            order: VecDeque::new(),
            limits,
            last_sweep: i64::MIN,
            stats: UdpStats::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// The flow of a datagram (created when new) and its direction. Flows
    /// that had to go (idle, or the oldest when the table is full) are
    /// appended to `ended`.
    pub fn datagram(
        &mut self,
        ts: i64,
        src: SocketAddr,
        dst: SocketAddr,
        len: usize,
        ended: &mut Vec<UdpFlow<S>>,
    ) -> (&mut UdpFlow<S>, Dir) {
        self.sweep(ts, ended);
        self.stats.datagrams += 1;
        let key = Key::of(src, dst);
        if !self.flows.contains_key(&key) {
            if self.flows.len() >= self.limits.max_flows {
                self.evict_oldest(ended);
            }
            // No handshake: the lower port is the service.
            let (client, server) = orient(src, dst, Flags::default());
            self.stats.flows += 1;
            self.order.push_back((ts, key));
            if self.order.len() > 2 * self.flows.len() + 1024 {
                self.rebuild_order(ts, key);
            }
            self.flows.insert(
                key,
                UdpFlow {
                    client,
                    server,
                    first_ts: ts,
                    last_ts: ts,
                    datagrams: 0,
                    bytes: 0,
                    app: S::default(),
                },
            );
        }
        let f = self.flows.get_mut(&key).expect("inserted above");
        f.last_ts = f.last_ts.max(ts);
        f.datagrams += 1;
        f.bytes += len as u64;
        let dir = if src == f.client {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        (f, dir)
    }

    fn rebuild_order(&mut self, ts: i64, key: Key) {
        let mut live: Vec<(i64, Key)> = self.flows.iter().map(|(k, f)| (f.last_ts, *k)).collect();
        live.push((ts, key));
        live.sort_unstable_by_key(|&(t, _)| t);
        self.order = live.into();
    }

    /// Once a second of capture time: ends flows idle past the timeout.
    /// What a datagram of a flow another table tracks would do here: idle
    /// flows time out (they carry nothing more to report).
    pub fn tick(&mut self, ts: i64) {
        self.sweep(ts, &mut Vec::new());
    }

    fn sweep(&mut self, ts: i64, ended: &mut Vec<UdpFlow<S>>) {
        if ts < self.last_sweep.saturating_add(1_000_000) {
            return;
        }
        self.last_sweep = ts;
        let idle = self.limits.idle_timeout_us;
        let old: Vec<Key> = self
            .flows
            .iter()
            .filter(|(_, f)| ts.saturating_sub(f.last_ts) > idle)
            .map(|(k, _)| *k)
            .collect();
        for k in old {
            if let Some(f) = self.flows.remove(&k) {
                self.stats.evicted_idle += 1;
                ended.push(f);
            }
        }
    }

    fn evict_oldest(&mut self, ended: &mut Vec<UdpFlow<S>>) {
        while let Some((t, k)) = self.order.pop_front() {
            match self.flows.get(&k) {
                None => continue,
                Some(f) if f.last_ts > t => self.order.push_back((f.last_ts, k)),
                Some(_) => {
                    let f = self.flows.remove(&k).expect("present");
                    self.stats.evicted_oldest += 1;
                    ended.push(f);
                    return;
                }
            }
        }
    }

    /// Ends every flow (end of input), oldest first.
    pub fn drain_all(&mut self) -> Vec<UdpFlow<S>> {
        self.order.clear();
        let mut all: Vec<UdpFlow<S>> = self.flows.drain().map(|(_, f)| f).collect();
        all.sort_by_key(|f| (f.first_ts, f.client, f.server));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions_are_one_flow_the_lower_port_the_server() {
        let mut t: UdpTable<()> = UdpTable::new(Limits::default());
        let mut ended = Vec::new();
        let c: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let s: SocketAddr = "127.0.0.1:161".parse().unwrap();
        let (f, d) = t.datagram(0, s, c, 10, &mut ended);
        assert_eq!((f.client, f.server, d), (c, s, Dir::ToClient));
        let (f, d) = t.datagram(1, c, s, 20, &mut ended);
        assert_eq!((f.datagrams, f.bytes, d), (2, 30, Dir::ToServer));
        assert_eq!((t.len(), t.stats.flows, t.stats.datagrams), (1, 1, 2));
    }

    #[test]
    fn a_flood_of_flows_stays_bounded_and_counts_its_evictions() {
        let lim = Limits {
            max_flows: 1000,
            idle_timeout_us: 10_000_000,
            ..Limits::default()
        };
        let mut t: UdpTable<()> = UdpTable::new(lim);
        let mut ended = Vec::new();
        let s: SocketAddr = "10.0.0.1:53".parse().unwrap();
        let keep: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        for i in 0..200_000u32 {
            let c = SocketAddr::new(std::net::Ipv4Addr::from(0x0b00_0000 + i).into(), 1000);
            t.datagram(i as i64, c, s, 1, &mut ended);
            t.datagram(i as i64, keep, s, 1, &mut ended);
            ended.clear();
        }
        assert_eq!(t.len(), 1000);
        assert_eq!(t.stats.evicted_oldest, 200_001 - 1000);
        assert!(
            t.flows.contains_key(&Key::of(keep, s)),
            "the active flow stays"
        );
        assert!(t.order.len() <= 2 * t.len() + 1025);
        // Silence past the timeout ends them all.
        t.datagram(100_000_000_000, keep, s, 1, &mut ended);
        assert_eq!(t.stats.evicted_idle, 1000);
        assert_eq!(t.len(), 1);
    }
}
