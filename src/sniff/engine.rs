//! The engine: packets in, findings out. It never prints.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use hdrhistogram::Histogram;

use super::finding::{Credential, Finding, Latency, Proto, Summary, TlsSession};
use super::flow::frag::{FragLimits, Reassembler};
use super::flow::udp::UdpTable;
use super::flow::{Dir, End, Flow, FlowTable, HalfStream, Limits, WireMap, WireSet};
use super::link::{self, Decoded, LinkType, TcpSegment, UdpDatagram};
use super::proto::{self, http, kerberos, ldap, radius, redis, sip, snmp, tls, Hit, Kind};

/// What the engine looks for and how much it may hold.
#[derive(Debug, Clone)]
pub struct Config {
    pub fields: http::Fields,
    pub limits: Limits,
    /// Report each distinct credential (protocol, server, user, password)
    /// once; repeats are counted in the summary.
    pub dedup: bool,
    /// The RADIUS shared secret: with it a PAP User-Password is decoded
    /// (RFC 2865 §5.2); without it only the user is reported.
    pub radius_secret: Option<Vec<u8>>,
    /// Bounds of IP fragment reassembly.
    pub frag: FragLimits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            fields: http::Fields::default(),
            limits: Limits::default(),
            dedup: true,
            radius_secret: None,
            frag: FragLimits::default(),
        }
    }
}

mod apps;

use apps::{App, UdpApp};

/// Servers whose HTTP latency is timed; responses of any further server
/// are counted in [`Summary::latency_untimed`], not timed (memory bound).
pub const MAX_TIMED_SERVERS: usize = 1024;

/// Which credentials were reported, for `dedup` (and for the merge of a
/// capture read in shards): each as two independently
/// keyed 64-bit hashes of (protocol, server, user, password, hash line),
/// so the set holds 16 bytes a credential rather than copies of its
/// strings, and packets cannot aim at a collision (the keys are random).
#[derive(Debug, Default)]
pub struct Seen {
    keys: (ahash::RandomState, ahash::RandomState),
    set: WireSet<u128>,
}

impl Seen {
    /// True the first time this credential is offered.
    fn first(&mut self, server: SocketAddr, h: &Hit) -> bool {
        self.first_of(h.proto, server, &h.user, &h.password, &h.hash)
    }

    /// True the first time this credential is offered.
    pub fn first_of(
        &mut self,
        proto: Proto,
        server: SocketAddr,
        user: &Option<Vec<u8>>,
        password: &Option<Vec<u8>>,
        hash: &Option<proto::Crackable>,
    ) -> bool {
        let what = (proto, server, user, password, hash);
        let (a, b) = (self.keys.0.hash_one(what), self.keys.1.hash_one(what));
        self.set.insert(((a as u128) << 64) | b as u128)
    }
}

/// Everything but the flow table (so both can be borrowed at once).
#[derive(Debug)]
struct Ctx {
    cfg: Config,
    sum: Summary,
    seen: Seen,
    latency: WireMap<SocketAddr, Histogram<u64>>,
}

/// The sniffer: feed it packets, collect findings.
#[derive(Debug)]
pub struct Sniffer {
    flows: FlowTable<App>,
    udp: UdpTable<UdpApp>,
    frag: Reassembler,
    ctx: Ctx,
    /// RADIUS requests waiting for their Accept or Reject.
    radius: radius::Exchanges,
}

impl Default for Sniffer {
    fn default() -> Self {
        Sniffer::new(Config::default())
    }
}

impl Sniffer {
    pub fn new(cfg: Config) -> Self {
        Sniffer {
            radius: radius::Exchanges::default(),
            flows: FlowTable::new(cfg.limits),
            udp: UdpTable::new(cfg.limits),
            frag: Reassembler::new(cfg.frag),
            ctx: Ctx {
                cfg,
                sum: Summary::default(),
                seen: Seen::default(),
                latency: WireMap::default(),
            },
        }
    }

    /// Other bounds for IP fragment reassembly than the defaults (4 MiB
    /// pending, 30 s timeout).
    pub fn with_frag_limits(mut self, limits: FragLimits) -> Self {
        self.frag = Reassembler::new(limits);
        self
    }

    /// Feeds one captured packet (`ts` in µs since the epoch) and returns
    /// what it completed. Never fails: undecodable packets are counted.
    pub fn feed(&mut self, link: LinkType, ts: i64, bytes: &[u8]) -> Vec<Finding> {
        self.feed_decoded(ts, bytes.len(), link::decode(link, bytes))
    }

    /// [`feed`](Self::feed) for a packet of `len` bytes the caller decoded.
    pub fn feed_decoded(
        &mut self,
        ts: i64,
        len: usize,
        decoded: Result<Decoded<'_>, link::LinkError>,
    ) -> Vec<Finding> {
        let mut out = Vec::new();
        let sum = &mut self.ctx.sum;
        sum.packets += 1;
        sum.bytes += len as u64;
        if !self.frag.is_empty() {
            // Capture time moves on for pending fragments too.
            self.frag.expire(ts);
        }
        match decoded {
            Err(e) => {
                *sum.bad_packets.entry(e.to_string()).or_default() += 1;
            }
            Ok(Decoded::Other) => {
                sum.other_packets += 1;
            }
            Ok(Decoded::Fragment(f)) => {
                sum.fragments += 1;
                if let Some(dg) = self.frag.push(ts, &f) {
                    // The whole datagram goes where an unfragmented one would.
                    match link::transport(dg.src, dg.dst, dg.proto, &dg.payload) {
                        Ok(Decoded::Udp(d)) => self.datagram(ts, &d, &mut out),
                        Ok(Decoded::Tcp(seg)) => self.segment(ts, &seg, &mut out),
                        Ok(_) => self.ctx.sum.other_packets += 1,
                        Err(e) => bump(&mut self.ctx.sum.bad_packets, &e.to_string()),
                    }
                }
            }
            Ok(Decoded::Udp(d)) => self.datagram(ts, &d, &mut out),
            Ok(Decoded::Tcp(seg)) => self.segment(ts, &seg, &mut out),
        }
        out
    }

    /// A TCP segment: reassembled in its flow, then to its protocol.
    fn segment(&mut self, ts: i64, seg: &TcpSegment<'_>, out: &mut Vec<Finding>) {
        let sum = &mut self.ctx.sum;
        sum.tcp_packets += 1;
        sum.truncated_packets += seg.truncated as u64;
        let mut ended = Vec::new();
        let Some((flow, _dir, before)) = self.flows.segment(ts, seg, &mut ended) else {
            self.finish_ended(ended, ts, out);
            return;
        };
        self.ctx.process(flow, ts, out);
        let after = flow.held();
        let (closed, client, server) = (flow.closed(), flow.client, flow.server);
        self.flows.account(before, after);
        self.flows.enforce_memory(&mut ended);
        self.finish_ended(ended, ts, out);
        if closed {
            if let Some(mut f) = self.flows.remove(client, server) {
                self.ctx.process(&mut f, ts, out);
                self.ctx.finish_flow(f, out);
            }
        }
    }

    /// A UDP datagram: to its flow's protocol at once (nothing is held).
    fn datagram(&mut self, ts: i64, d: &UdpDatagram<'_>, out: &mut Vec<Finding>) {
        let sum = &mut self.ctx.sum;
        sum.udp_packets += 1;
        sum.truncated_packets += d.truncated as u64;
        let mut ended = Vec::new();
        let (f, dir) = self
            .udp
            .datagram(ts, d.src, d.dst, d.payload.len(), &mut ended);
        if f.app == UdpApp::Undecided {
            f.app = UdpApp::decide(f, d.payload);
            bump(&mut sum.flows_by_proto, f.app.kind_name());
        }
        let (client, server) = (f.client, f.server);
        match f.app {
            UdpApp::Snmp => match snmp::parse(d.payload) {
                Ok(Some(h)) => self.ctx.credential(client, server, ts, h, out),
                Ok(None) => {}
                Err(e) => bump(&mut self.ctx.sum.parse_errors, &format!("snmp: {e}")),
            },
            // Keep-alive datagrams (CRLF, or empty) are not messages.
            UdpApp::Sip if d.payload.iter().all(|c| matches!(c, b'\r' | b'\n')) => {}
            UdpApp::Sip => match sip::parse(d.payload) {
                Ok(hits) => {
                    for h in hits {
                        self.ctx.credential(client, server, ts, h, out);
                    }
                }
                Err(e) => bump(&mut self.ctx.sum.parse_errors, &format!("sip: {e}")),
            },
            UdpApp::Radius => {
                // A request is reported when its reply comes (or never
                // will); the sender of a request is the client whatever
                // the ports say (the lower port is taken as the service).
                let mut done = Vec::new();
                let ctx = &mut self.ctx;
                let r = self.radius.datagram(
                    ts,
                    d.src,
                    d.dst,
                    d.payload,
                    ctx.cfg.radius_secret.as_deref(),
                    &mut done,
                );
                for (client, server, at, h) in done {
                    ctx.credential(client, server, at, h, out);
                }
                if let Err(e) = r {
                    bump(&mut ctx.sum.parse_errors, &format!("radius: {e}"));
                }
            }
            UdpApp::Kerberos => match kerberos::parse(d.payload) {
                Ok(m) => {
                    if m.kind.is_request() && dir == Dir::ToClient {
                        // The lower port was taken for the KDC's, wrongly:
                        // the sender of a request is the client.
                        (f.client, f.server) = (f.server, f.client);
                    }
                    if let Some(h) = m.hit {
                        self.ctx.credential(f.client, f.server, ts, h, out);
                    }
                }
                Err(e) => bump(&mut self.ctx.sum.parse_errors, &format!("kerberos: {e}")),
            },
            UdpApp::Undecided | UdpApp::Other => {}
        }
    }

    /// A packet another sniffer takes (a capture read in shards): capture
    /// time moves on here as that packet would have moved it, so flows and
    /// fragments time out at the same packet as in one sniffer.
    pub fn pass(
        &mut self,
        ts: i64,
        decoded: &Result<Decoded<'_>, link::LinkError>,
    ) -> Vec<Finding> {
        let mut out = Vec::new();
        if !self.frag.is_empty() {
            self.frag.expire(ts);
        }
        match decoded {
            Ok(Decoded::Tcp(_)) => {
                let mut ended = Vec::new();
                self.flows.tick(ts, &mut ended);
                self.finish_ended(ended, ts, &mut out);
            }
            Ok(Decoded::Udp(_)) => self.udp.tick(ts),
            _ => {}
        }
        out
    }

    /// Adds the counts of another sniffer, which read other flows of the
    /// same capture, to these.
    pub fn absorb(&mut self, o: &Sniffer) {
        self.ctx.sum.merge(&o.ctx.sum);
        self.flows.stats.add(&o.flows.stats);
        self.udp.stats.add(&o.udp.stats);
        self.frag.stats.add(&o.frag.stats);
        for (server, h) in &o.ctx.latency {
            if let Some(mine) = self.ctx.latency.get_mut(server) {
                let _ = mine.add(h);
            } else if self.ctx.latency.len() < MAX_TIMED_SERVERS {
                self.ctx.latency.insert(*server, h.clone());
            } else {
                self.ctx.sum.latency_untimed += h.len();
            }
        }
    }

    fn finish_ended(&mut self, ended: Vec<(Flow<App>, End)>, ts: i64, out: &mut Vec<Finding>) {
        for (mut f, _) in ended {
            self.ctx.process(&mut f, ts, out);
            self.ctx.finish_flow(f, out);
        }
    }

    /// Ends the input: flushes every flow (buffered segments delivered,
    /// gaps skipped) and returns the last findings.
    pub fn finish(&mut self) -> Vec<Finding> {
        let mut out = Vec::new();
        for mut f in self.flows.drain_all() {
            let ts = f.last_ts;
            self.ctx.process(&mut f, ts, &mut out);
            self.ctx.finish_flow(f, &mut out);
        }
        self.udp.drain_all();
        for (client, server, at, h) in self.radius.finish() {
            self.ctx.credential(client, server, at, h, &mut out);
        }
        self.frag.finish();
        out
    }

    /// The totals so far.
    pub fn summary(&self) -> Summary {
        let mut s = self.ctx.sum.clone();
        s.flow = self.flows.stats;
        s.udp = self.udp.stats;
        s.ipfrag = self.frag.stats;
        let mut lat: Vec<Latency> = self
            .ctx
            .latency
            .iter()
            .map(|(server, h)| Latency {
                server: *server,
                count: h.len(),
                p50: h.value_at_quantile(0.50),
                p90: h.value_at_quantile(0.90),
                p99: h.value_at_quantile(0.99),
                max: h.max(),
            })
            .collect();
        lat.sort_by_key(|l| l.server);
        s.latency = lat;
        s
    }

    /// TCP flows currently tracked.
    pub fn open_flows(&self) -> usize {
        self.flows.len()
    }

    /// UDP flows currently tracked.
    pub fn open_udp_flows(&self) -> usize {
        self.udp.len()
    }
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    *map.entry(key.to_string()).or_default() += 1;
}

mod stream;

#[cfg(test)]
mod tests;
