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

/// The server lines of a mail flow go to its SASL state machine (CRAM-MD5
/// and NTLM challenges arrive that way); other line protocols need none.
/// A partial line is kept; a TLS record after STARTTLS is left for the TLS
/// parser.
fn mail_server_lines(app: &mut App, data: &mut Vec<u8>, errors: &mut BTreeMap<String, u64>) {
    let starttls = match app {
        App::Pop3(p) => p.starttls,
        App::Imap(p) => p.starttls,
        App::Smtp(p) => p.starttls,
        _ => {
            data.clear();
            return;
        }
    };
    if starttls && data.starts_with(&[0x16, 0x03]) {
        return;
    }
    for line in proto::take_lines(data) {
        match app {
            App::Pop3(p) => p.server_line(&line),
            App::Imap(p) => p.server_line(&line),
            App::Smtp(p) => p.server_line(&line),
            _ => {}
        }
        mail_error(app, errors);
    }
    if data.len() > 64 * 1024 {
        data.clear();
    }
}

/// Counts the malformed SASL line a mail parser noted, by protocol and name.
fn mail_error(app: &mut App, errors: &mut BTreeMap<String, u64>) {
    let e = match app {
        App::Pop3(p) => p.error.take().map(|e| format!("pop3: {e}")),
        App::Imap(p) => p.error.take().map(|e| format!("imap: {e}")),
        App::Smtp(p) => p.error.take().map(|e| format!("smtp: {e}")),
        _ => None,
    };
    if let Some(e) = e {
        bump(errors, &e);
    }
}

/// Tells reassembly which coming bytes no parser will read, so that they
/// are passed over instead of copied: HTTP response bodies of known length
/// (and responses no longer read), a TLS direction once its hello is read,
/// flows of no known protocol.
fn discard_unread(app: &mut App, half: &mut [HalfStream; 2]) {
    let [to_server, to_client] = half;
    match app {
        App::Http(h) if to_client.data.is_empty() => match h.server_unread() {
            0 => {}
            n => to_client.discard(n),
        },
        App::Tls(t) => {
            for (r, half) in [(&t.client, to_server), (&t.server, to_client)] {
                if r.is_done() {
                    half.data.clear();
                    half.discard(u64::MAX);
                }
            }
        }
        App::Other => {
            to_server.discard(u64::MAX);
            to_client.discard(u64::MAX);
        }
        _ => {}
    }
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    *map.entry(key.to_string()).or_default() += 1;
}

impl Ctx {
    /// Runs the flow's protocol parser on what reassembly delivered (both
    /// directions; the server's bytes first, so prompts precede answers).
    fn process(&mut self, flow: &mut Flow<App>, ts: i64, out: &mut Vec<Finding>) {
        if let App::Undecided = flow.app {
            if flow.syn_seen.is_none() && proto::opens_conversation(&flow.half[1].data) {
                // No handshake seen and the ports guessed wrong: the end
                // taken for the server sent a request or a ClientHello.
                flow.swap_ends();
            }
            let (c, s) = (&flow.half[0].data, &flow.half[1].data);
            if c.is_empty() && s.is_empty() {
                return;
            }
            let Some(kind) = proto::detect(c, s, flow.server.port()) else {
                return;
            };
            flow.app = match kind {
                Kind::Http => App::Http(Box::default()),
                Kind::Tls => App::Tls(Box::default()),
                Kind::Ftp => App::Ftp(Default::default()),
                Kind::Pop3 => App::Pop3(Default::default()),
                Kind::Imap => App::Imap(Default::default()),
                Kind::Smtp => App::Smtp(Default::default()),
                Kind::Telnet => App::Telnet(Box::default()),
                Kind::Postgres => App::Postgres(Box::default()),
                Kind::Redis => App::Redis(Default::default()),
                Kind::Ldap => App::Ldap(Default::default()),
                Kind::Mqtt => App::Mqtt(Default::default()),
                Kind::Socks => App::Socks(Box::default()),
                Kind::Mysql => App::Mysql(Box::default()),
                Kind::Irc => App::Irc(Default::default()),
                Kind::Sip => App::Sip(Default::default()),
                Kind::Smb => App::Smb(Box::default()),
                Kind::Kerberos => App::Kerberos(Box::default()),
                Kind::Vnc => App::Vnc(Box::default()),
                Kind::Tds => App::Tds(Box::default()),
                Kind::Other => App::Other,
            };
            bump(&mut self.sum.flows_by_proto, flow.app.kind_name());
        }
        let [to_server, to_client] = &mut flow.half;
        let mut hits: Vec<Hit> = Vec::new();
        let mut now_tls = false;
        let mut tunnel = false;
        match &mut flow.app {
            App::Undecided => return,
            App::Other => {
                to_server.data.clear();
                to_client.data.clear();
            }
            App::Http(h) => {
                if std::mem::take(&mut to_server.gap) {
                    h.client_gap();
                }
                if std::mem::take(&mut to_client.gap) {
                    h.server_gap();
                }
                let mut co = http::ClientOut::default();
                h.client(&mut to_server.data, ts, &self.cfg.fields, &mut co);
                self.sum.http_requests += co.requests;
                for e in co.errors {
                    bump(&mut self.sum.parse_errors, &format!("http: {e}"));
                }
                hits = co.hits;
                for l in h.server(&mut to_client.data, ts) {
                    if self.latency.len() >= MAX_TIMED_SERVERS
                        && !self.latency.contains_key(&flow.server)
                    {
                        self.sum.latency_untimed += 1;
                        continue;
                    }
                    let hist = self.latency.entry(flow.server).or_insert_with(|| {
                        // Sized by the largest latency recorded: 16 KB up to
                        // 2 ms, 190 KB at most (fixed bounds up to an hour
                        // took 190 KB per server: a capture of 5000 small
                        // HTTP exchanges needed 935 MB).
                        let mut h = Histogram::new_with_bounds(1, 2, 3).expect("valid bounds");
                        h.auto(true);
                        h
                    });
                    let _ = hist.record((l as u64).clamp(1, 3_600_000_000));
                }
            }
            App::Tls(t) => {
                match t.client.feed(&mut to_server.data) {
                    Ok(Some((1, body))) => match tls::parse_client_hello(&body) {
                        Ok(ch) => t.hello = Some(ch),
                        Err(e) => bump(&mut self.sum.parse_errors, &format!("tls: {e}")),
                    },
                    Ok(_) => {}
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("tls: {e}")),
                }
                match t.server.feed(&mut to_client.data) {
                    Ok(Some((2, body))) => match tls::parse_server_hello(&body) {
                        Ok(sh) => t.server_hello = Some(sh),
                        Err(e) => bump(&mut self.sum.parse_errors, &format!("tls: {e}")),
                    },
                    Ok(_) => {}
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("tls: {e}")),
                }
            }
            App::Telnet(t) => {
                t.server(&to_client.data);
                to_client.data.clear();
                hits = t.client(&to_server.data);
                to_server.data.clear();
            }
            App::Postgres(p) => {
                to_server.gap = false;
                to_client.gap = false;
                match p.feed(&mut to_server.data, &mut to_client.data) {
                    Ok(h) => hits = h,
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("postgres: {e}")),
                }
                now_tls = p.tls;
            }
            App::Redis(r) => {
                to_client.data.clear();
                if std::mem::take(&mut to_server.gap) {
                    // Resynchronise at the next command.
                    *r = redis::Redis::default();
                    to_server.data.clear();
                }
                match r.client(&mut to_server.data) {
                    Ok(h) => hits = h,
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("redis: {e}")),
                }
            }
            App::Ldap(l) => {
                if std::mem::take(&mut to_server.gap) | std::mem::take(&mut to_client.gap) {
                    *l = ldap::Ldap::default();
                    to_server.data.clear();
                    to_client.data.clear();
                }
                // The server's NTLM challenge first: the client's answer
                // to it may be in the same round.
                if let Err(e) = l.server(&mut to_client.data) {
                    bump(&mut self.sum.parse_errors, &format!("ldap: {e}"));
                }
                match l.client(&mut to_server.data) {
                    Ok(h) => hits = h,
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("ldap: {e}")),
                }
                now_tls = l.tls;
            }
            App::Sip(p) => {
                to_client.data.clear();
                if std::mem::take(&mut to_server.gap) {
                    // Resynchronise at the next message.
                    to_server.data.clear();
                }
                match p.client(&mut to_server.data) {
                    Ok(h) => hits = h,
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("sip: {e}")),
                }
            }
            App::Kerberos(k) => {
                for (half, bytes) in [
                    (&mut k.client, &mut *to_server),
                    (&mut k.server, &mut *to_client),
                ] {
                    if std::mem::take(&mut bytes.gap) {
                        half.gap();
                    }
                    if let Err(e) = half.feed(&mut bytes.data, &mut hits) {
                        bump(&mut self.sum.parse_errors, &format!("kerberos: {e}"));
                    }
                }
            }
            App::Mqtt(m) => {
                to_client.data.clear();
                match m.client(&mut to_server.data) {
                    Ok(h) => hits.extend(h),
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("mqtt: {e}")),
                }
            }
            App::Mysql(m) => {
                to_server.gap = false;
                to_client.gap = false;
                match m.feed(&mut to_server.data, &mut to_client.data) {
                    Ok(h) => hits = h,
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("mysql: {e}")),
                }
                now_tls = m.tls;
            }
            App::Vnc(v) => {
                // A gap loses the handshake's framing: not read further (a
                // response already read is reported when the flow ends).
                if std::mem::take(&mut to_server.gap) | std::mem::take(&mut to_client.gap) {
                    v.gap();
                }
                match v.feed(&mut to_server.data, &mut to_client.data) {
                    Ok(h) => hits = h,
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("vnc: {e}")),
                }
                now_tls = v.tls;
            }
            App::Tds(p) => {
                // A gap loses the packet framing: not read further.
                if std::mem::take(&mut to_server.gap) | std::mem::take(&mut to_client.gap) {
                    p.gap();
                }
                match p.feed(&mut to_server.data, &mut to_client.data) {
                    Ok(h) => hits = h,
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("mssql: {e}")),
                }
            }
            App::Smb(p) => {
                // A gap loses the NetBIOS framing: the flow is not read
                // further (guessing where the next message starts is
                // guesswork).
                if std::mem::take(&mut to_server.gap) | std::mem::take(&mut to_client.gap) {
                    p.gap();
                }
                match p.feed(&mut to_server.data, &mut to_client.data) {
                    Ok(h) => hits = h,
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("smb: {e}")),
                }
            }
            App::Socks(p) => {
                to_server.gap = false;
                to_client.gap = false;
                match p.feed(&mut to_server.data, &mut to_client.data) {
                    Ok(h) => hits = h,
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("socks: {e}")),
                }
                tunnel = p.tunnel;
            }
            App::Ftp(_) | App::Pop3(_) | App::Imap(_) | App::Smtp(_) | App::Irc(_) => {
                to_server.gap = false;
                mail_server_lines(
                    &mut flow.app,
                    &mut to_client.data,
                    &mut self.sum.parse_errors,
                );
                let mut at = 0;
                loop {
                    let rest = &to_server.data[at..];
                    let starttls = match &flow.app {
                        App::Ftp(p) => p.starttls,
                        App::Pop3(p) => p.starttls,
                        App::Imap(p) => p.starttls,
                        App::Smtp(p) => p.starttls,
                        App::Irc(p) => p.starttls,
                        _ => false,
                    };
                    if starttls && rest.starts_with(&[0x16, 0x03]) {
                        // The server agreed: the rest is the TLS session.
                        now_tls = true;
                        break;
                    }
                    let Some(i) = memchr::memchr(b'\n', rest) else {
                        break;
                    };
                    let line = proto::trim_crlf(&rest[..i]);
                    let tls = proto::asks_for_tls(line);
                    let hit = match &mut flow.app {
                        App::Ftp(p) => {
                            p.starttls |= tls;
                            p.client_line(line)
                        }
                        App::Pop3(p) => {
                            p.starttls |= tls;
                            p.client_line(line)
                        }
                        App::Imap(p) => {
                            p.starttls |= tls;
                            p.client_line(line)
                        }
                        App::Smtp(p) => {
                            p.starttls |= tls;
                            p.client_line(line)
                        }
                        App::Irc(p) => {
                            p.starttls |= tls;
                            p.client_line(line)
                        }
                        _ => None,
                    };
                    hits.extend(hit);
                    mail_error(&mut flow.app, &mut self.sum.parse_errors);
                    at += i + 1;
                }
                to_server.data.drain(..at);
                if !now_tls && to_server.data.len() > 64 * 1024 {
                    to_server.data.clear();
                }
            }
        }
        discard_unread(&mut flow.app, &mut flow.half);
        for h in hits {
            self.credential(flow.client, flow.server, ts, h, out);
        }
        if tunnel {
            // The proxy granted the request: what follows is the tunnelled
            // protocol, detected and parsed like any other.
            flow.app = App::Undecided;
            self.process(flow, ts, out);
        }
        if now_tls {
            // Encryption was agreed on inside the protocol: the rest of the
            // flow is a TLS session, reported when the flow ends.
            flow.app = App::Tls(Box::default());
            bump(&mut self.sum.flows_by_proto, "tls");
            self.process(flow, ts, out);
        }
    }

    fn credential(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        ts: i64,
        h: Hit,
        out: &mut Vec<Finding>,
    ) {
        self.sum.credential_sightings += 1;
        if self.cfg.dedup && !self.seen.first(server, &h) {
            return;
        }
        self.sum.credentials += 1;
        bump(&mut self.sum.credentials_by_proto, h.proto.as_str());
        out.push(Finding::Credential(Credential {
            ts,
            client,
            server,
            proto: h.proto,
            user: h.user,
            password: h.password,
            detail: h.detail,
            hash: h.hash,
        }));
    }

    /// A flow left the table: report its TLS session, or a login (VNC,
    /// SMB, PostgreSQL, MySQL, MSSQL) whose result was not seen.
    fn finish_flow(&mut self, mut flow: Flow<App>, out: &mut Vec<Finding>) {
        let late = match &mut flow.app {
            App::Vnc(v) => v.finish().into_iter().collect(),
            App::Smb(p) => p.finish(),
            App::Postgres(p) => p.finish().into_iter().collect(),
            App::Mysql(m) => m.finish().into_iter().collect(),
            App::Tds(p) => p.finish().into_iter().collect(),
            _ => Vec::new(),
        };
        for h in late {
            self.credential(flow.client, flow.server, flow.last_ts, h, out);
        }
        if let App::Undecided = flow.app {
            let what = if flow.payload_bytes == 0 {
                "no-payload"
            } else {
                "undecided"
            };
            bump(&mut self.sum.flows_by_proto, what);
        }
        let App::Tls(t) = flow.app else {
            return;
        };
        let hello = t.hello.unwrap_or_default();
        let offered = if hello.versions.is_empty() && hello.legacy_version != 0 {
            vec![hello.legacy_version]
        } else {
            hello.versions
        };
        let mut alpn = hello.alpn;
        if let Some(chosen) = t.server_hello.as_ref().and_then(|s| s.alpn.clone()) {
            alpn = vec![chosen];
        }
        let s = TlsSession {
            ts: flow.first_ts,
            client: flow.client,
            server: flow.server,
            sni: hello.sni,
            offered,
            chosen: t.server_hello.map(|s| s.version),
            alpn,
            bytes: flow.payload_bytes,
        };
        self.sum.tls_sessions += 1;
        let v = s
            .version()
            .map_or_else(|| "unknown".to_string(), tls::version_name);
        bump(&mut self.sum.tls_by_version, &v);
        bump(
            &mut self.sum.tls_by_sni,
            s.sni.as_deref().unwrap_or("(none)"),
        );
        out.push(Finding::Tls(s));
    }
}

#[cfg(test)]
mod tests;
