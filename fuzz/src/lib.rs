//! The fuzz targets' bodies, one function per target, so that the same
//! code runs under libFuzzer (`fuzz_targets/*.rs`) and in plain `cargo
//! test`, which replays `testdata/fuzz-regressions/TARGET/*` through them
//! (`tests/fuzz_regressions.rs` includes this file as a module). Each is
//! one call to a pure entry point of tplab plus a cheap invariant; a panic
//! is a finding.

/// The access-log line parser on arbitrary bytes. Invariant: every field
/// of a parsed record is a slice of the input line (zero copy).
pub mod log_parse_line {
    use tplab::log::parse_line;

    fn inside(line: &[u8], field: &[u8]) -> bool {
        let (a, b) = (line.as_ptr() as usize, line.as_ptr() as usize + line.len());
        let (s, e) = (
            field.as_ptr() as usize,
            field.as_ptr() as usize + field.len(),
        );
        field.is_empty() || (a <= s && e <= b)
    }

    pub fn run(line: &[u8]) {
        // The engine's one-pass parser: on the first line of the input it
        // either declines or gives that line's end and parse_line's record.
        if let Some((r, end)) = tplab::log::parse::parse_fused(line, 0) {
            let nl = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
            assert_eq!(end, nl, "parse_fused's line end");
            assert_eq!(
                parse_line(&line[..end]),
                Ok(r),
                "parse_fused differs from parse_line"
            );
        }
        if let Ok(r) = parse_line(line) {
            for f in [r.host, r.ident, r.user, r.zone, r.request, r.status] {
                assert!(inside(line, f), "field outside the line");
            }
            for f in [r.referer, r.agent].into_iter().flatten() {
                assert!(inside(line, f), "field outside the line");
            }
            let _ = (r.request_line(), r.method(), r.path(), r.status_code());
        }
    }
}

/// The command-line argument parsers of tplog: `--from/--to` times,
/// `--day`, `timeline --every`, and the whole filter (`--page --ip --from
/// --to --day --status --method`). The input is cut at NUL bytes into the
/// argument values.
pub mod log_args {
    use tplab::log::filter::{Filter, FilterArgs};
    use tplab::log::time::{parse_day_arg, parse_every, parse_time_arg};

    pub fn run(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let mut parts = text.split('\0').map(str::to_string);
        let first = parts.next().unwrap_or_default();
        if let Ok(t) = parse_time_arg(&first) {
            assert!(t.start <= t.end_inclusive());
        }
        if let Ok((a, b)) = parse_day_arg(&first) {
            assert!(a <= b);
        }
        if let Ok(every) = parse_every(&first) {
            assert!(every > 0, "a zero --every would divide by zero");
        }
        let mut next = || parts.next().filter(|s| !s.is_empty());
        let args = FilterArgs {
            page: Some(first.clone()).filter(|s| !s.is_empty()),
            ip: next(),
            from: next(),
            to: next(),
            day: next(),
            status: next(),
            method: next(),
            vhost: next(),
            slower_than: next(),
            real_ip: next(),
            trusted: next(),
        };
        if let Ok(f) = Filter::from_args(&args) {
            let _ = f.window();
            let _ = f.prefilter();
            let _ = f.is_empty();
        }
    }
}

/// Packets to findings: `Sniffer::feed` on any link type and any bytes,
/// then `finish`. The input is: one byte choosing the link type and the
/// limits, then packets, each a 2-byte length and a 1-byte time step
/// (seconds) before its bytes. Small limits so that eviction, gap skipping
/// and the memory bound are exercised. Invariant: the flow table stays
/// within its limit.
pub mod sniff_feed {
    use tplab::sniff::flow::Limits;
    use tplab::sniff::report::{json_line, text_line, Style};
    use tplab::sniff::{Config, Finding, LinkType, Sniffer};

    /// Findings go through both printers (escaping arbitrary bytes).
    fn show(found: &[Finding], sel: u8) {
        let style = Style {
            redact: sel & 64 != 0,
        };
        for f in found {
            let _ = text_line(f, style);
            let _ = json_line(f, style);
        }
    }

    const LINKS: [LinkType; 8] = [
        LinkType::Ethernet,
        LinkType::Null,
        LinkType::Loop,
        LinkType::Raw,
        LinkType::Ipv4,
        LinkType::Ipv6,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
    ];

    pub fn run(data: &[u8]) {
        let Some((&sel, mut rest)) = data.split_first() else {
            return;
        };
        let link = LINKS[(sel & 7) as usize];
        let mut cfg = Config::default();
        if sel & 8 != 0 {
            cfg.limits = Limits {
                max_flows: 4,
                max_flow_bytes: 512,
                max_total_bytes: 1024,
                idle_timeout_us: 5_000_000,
            };
        }
        cfg.dedup = sel & 16 == 0;
        if sel & 32 != 0 {
            cfg.fields.add_secret("pin");
        }
        let max_flows = cfg.limits.max_flows;
        let mut s = Sniffer::new(cfg);
        let mut ts: i64 = 1_500_000_000_000_000;
        while rest.len() >= 3 {
            let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
            ts += rest[2] as i64 * 1_000_000;
            rest = &rest[3..];
            let (pkt, tail) = rest.split_at(len.min(rest.len()));
            rest = tail;
            show(&s.feed(link, ts, pkt), sel);
            assert!(s.open_flows() <= max_flows);
        }
        show(&s.finish(), sel);
        let _ = s.summary();
    }
}

/// The HTTP request parser: the request head on its own, then the whole
/// client side of a connection (bodies, chunked encoding, pipelining,
/// credentials) fed in two pieces cut where the first two bytes say, and
/// the same bytes as a server's responses.
pub mod http_request {
    use tplab::sniff::proto::http::{
        looks_like_request, parse_request_head, ClientOut, Fields, HttpStream,
    };

    pub fn run(data: &[u8]) {
        let _ = looks_like_request(data);
        if let Ok(Some((head, used))) = parse_request_head(data) {
            assert!(used <= data.len());
            let _ = head.framing(true);
        }
        let (cut, body) = match data {
            [a, b, rest @ ..] => (
                u16::from_be_bytes([*a, *b]) as usize % (rest.len() + 1),
                rest,
            ),
            _ => (0, data),
        };
        let fields = Fields::default();
        let mut out = ClientOut::default();
        let mut st = HttpStream::default();
        let mut buf = body[..cut].to_vec();
        st.client(&mut buf, 1, &fields, &mut out);
        buf.extend_from_slice(&body[cut..]);
        st.client(&mut buf, 2, &fields, &mut out);
        assert!(buf.len() <= body.len());
        let mut srv = body.to_vec();
        let _ = st.server(&mut srv, 3);
    }
}

/// The TLS hello parsers: a ClientHello (and ServerHello) body on its own,
/// and the record reader that reassembles the first handshake message
/// across records, fed in two pieces.
pub mod tls_client_hello {
    use tplab::sniff::proto::tls::{self, HelloReader};

    pub fn run(data: &[u8]) {
        if let Ok(h) = tls::parse_client_hello(data) {
            let _ = tls::version_name(h.max_version());
        }
        let _ = tls::parse_server_hello(data);
        let cut = data.first().map_or(0, |&b| b as usize % (data.len() + 1));
        let mut r = HelloReader::default();
        let mut buf = data[..cut].to_vec();
        let mut got = r.feed(&mut buf);
        if matches!(got, Ok(None)) {
            buf.extend_from_slice(&data[cut..]);
            got = r.feed(&mut buf);
        }
        if let Ok(Some((typ, body))) = got {
            assert!(body.len() <= 65536);
            if typ == 1 {
                let _ = tls::parse_client_hello(&body);
            }
        }
    }
}

/// TCP reassembly (`FlowTable` and `HalfStream`) fed arbitrary segment
/// sequences: any order, duplicates, overlaps, SYN/FIN/RST anywhere,
/// sequence numbers around the 2^32 wrap, snap-length cuts, idle time,
/// more flows than the table holds.
///
/// Each segment is 6 bytes: flags, which connection and direction, a
/// 16-bit sequence offset from that direction's ISN, a length, a time step
/// and a snap-length cut. A segment's payload is the low byte of each
/// byte's own sequence number (what a consistent sender sends), unless the
/// flags ask for arbitrary bytes taken from the input.
///
/// Invariants, after a consumer takes what was delivered (as the engine
/// does): the table holds at most `max_flows` flows; a direction holds at
/// most `max_flow_bytes`; and, until a gap is skipped or the flow is
/// replaced, consistent bytes come out in sequence order with nothing lost,
/// doubled or reordered.
pub mod tcp_reassembly {
    use std::collections::HashMap;
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use tplab::sniff::flow::{FlowTable, Limits};
    use tplab::sniff::link::TcpSegment;

    const LIMITS: Limits = Limits {
        max_flows: 3,
        max_flow_bytes: 600,
        max_total_bytes: 1500,
        idle_timeout_us: 20_000_000,
    };

    fn addr(host: u8, port: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, host)), port)
    }

    /// What the checker remembers of one direction.
    #[derive(Default, Clone, Copy)]
    struct Track {
        /// Low byte of the last byte delivered, while the run is unbroken.
        last: Option<u8>,
        /// Arbitrary bytes were sent: no content check any more.
        tainted: bool,
    }

    pub fn run(data: &[u8]) {
        let mut table: FlowTable<()> = FlowTable::new(LIMITS);
        let mut track: HashMap<(SocketAddr, SocketAddr), Track> = HashMap::new();
        let mut ts: i64 = 0;
        let mut rest = data;
        while rest.len() >= 6 {
            let (h, tail) = rest.split_at(6);
            rest = tail;
            let flags = h[0];
            // Four connections, two of them sharing a server; 80 makes the
            // server side guessable by port, 40000 does not.
            let conn = (h[1] >> 1) & 3;
            let (client, server) = match conn {
                0 => (addr(1, 40001), addr(2, 80)),
                1 => (addr(1, 40002), addr(2, 80)),
                2 => (addr(3, 40003), addr(4, 40000)),
                _ => (addr(5, 40004), addr(6, 443)),
            };
            let to_server = h[1] & 1 == 0;
            let (src, dst) = if to_server {
                (client, server)
            } else {
                (server, client)
            };
            // ISNs near the wrap so that offsets cross it.
            let isn: u32 =
                0xffff_ff00u32.wrapping_add(conn as u32 * 0x10 + to_server as u32 * 0x1000);
            let off = u16::from_be_bytes([h[1] >> 3, h[2]]) as u32;
            let len = (h[3] & 0x7f) as usize * if h[3] & 0x80 != 0 { 4 } else { 1 };
            ts += (h[4] as i64) * 250_000;
            let cut = (h[5] & 0x0f) as usize;
            let syn = flags & 1 != 0;
            let seq = if syn {
                isn
            } else {
                isn.wrapping_add(1).wrapping_add(off)
            };
            let data_seq = if syn { isn.wrapping_add(1) } else { seq };
            let arbitrary = flags & 0x40 != 0;
            let payload: Vec<u8> = if arbitrary {
                let n = len.min(rest.len());
                let (p, tail) = rest.split_at(n);
                rest = tail;
                p.to_vec()
            } else {
                (0..len)
                    .map(|i| data_seq.wrapping_add(i as u32) as u8)
                    .collect()
            };
            let kept = payload.len().saturating_sub(cut);
            let seg = TcpSegment {
                src,
                dst,
                seq,
                syn,
                ack: flags & 2 != 0,
                fin: flags & 4 != 0,
                rst: flags & 8 != 0,
                payload: &payload[..kept],
                truncated: kept < payload.len(),
                wire_len: payload.len(),
            };
            let mut ended = Vec::new();
            let res = table.segment(ts, &seg, &mut ended);
            // Flows that left the table during this call (idle, oldest)
            // are forgotten first: the segment's flow may be a new one
            // with the same addresses (found by the fuzzer: a checker bug).
            for (f, _why) in ended.drain(..) {
                track.remove(&(f.client, f.server));
                track.remove(&(f.server, f.client));
            }
            let mut closed = None;
            if let Some((flow, _dir, before)) = res {
                let (c, s) = (flow.client, flow.server);
                for (i, half) in flow.half.iter_mut().enumerate() {
                    let key = if i == 0 { (c, s) } else { (s, c) };
                    let t = track.entry(key).or_default();
                    if key == (src, dst) && arbitrary {
                        t.tainted = true;
                    }
                    if half.gap {
                        t.last = None;
                        half.gap = false;
                    } else if !t.tainted {
                        for &b in &half.data {
                            if let Some(prev) = t.last {
                                assert_eq!(
                                    b,
                                    prev.wrapping_add(1),
                                    "bytes lost, doubled or reordered"
                                );
                            }
                            t.last = Some(b);
                        }
                    }
                    half.data.clear();
                    assert!(
                        half.held() <= LIMITS.max_flow_bytes,
                        "a direction holds {} bytes",
                        half.held()
                    );
                }
                let after = flow.held();
                if flow.closed() {
                    closed = Some((c, s));
                }
                table.account(before, after);
                table.enforce_memory(&mut ended);
            }
            if let Some((c, s)) = closed {
                if table.remove(c, s).is_some() {
                    track.remove(&(c, s));
                    track.remove(&(s, c));
                }
            }
            for (f, _why) in ended {
                track.remove(&(f.client, f.server));
                track.remove(&(f.server, f.client));
            }
            assert!(table.len() <= LIMITS.max_flows);
            assert!(table.held() <= LIMITS.max_total_bytes);
        }
        for mut f in table.drain_all() {
            for h in &mut f.half {
                h.flush();
            }
        }
    }
}

/// The printers of tplog's answers: day, hour and timeline counts (times
/// anywhere a log line can date, years 0000 to 9999) and byte keys, in
/// every format, sorted and cut either way, and the timeline's bar chart.
/// The input: one byte choosing the query, one the output, then entries of
/// 8 bytes of time (or key) and 2 of count. Times are near 2014 unless the
/// first byte's top bit asks for any year (a timeline of up to 2^20 filled
/// buckets is slow: those inputs are the exception).
pub mod log_report {
    use std::borrow::Cow;

    use tplab::log::engine::Acc;
    use tplab::log::report::{self, Format, OutputOpts, SortBy};
    use tplab::log::time::{DAY, HOUR};
    use tplab::log::{Action, Group, Outcome};

    /// 0000-01-01T00:00:00 and 9999-12-31T23:59:59, in log seconds.
    const FIRST: i64 = -62_167_219_200;
    const LAST: i64 = 253_402_300_799;

    pub fn run(data: &[u8]) {
        let [sel, out, rest @ ..] = data else {
            return;
        };
        let wide = sel & 0x80 != 0;
        // Any year: 1 s or 1 min buckets (so mostly the too-long path; a
        // filled 2^20-bucket timeline takes seconds under ASan).
        let every = if wide {
            [1, 60][(*sel >> 3) as usize & 1]
        } else {
            [1, 60, 900, HOUR, DAY, 7 * DAY][(*sel >> 3) as usize % 6]
        };
        let action = match sel & 7 {
            0 => Action::Group(Group::Day),
            1 => Action::Group(Group::Hour),
            2..=4 => Action::Timeline(every),
            5 => Action::Group(Group::Ip),
            _ => Action::Group(Group::Agent),
        };
        let mut acc: Acc<'static> = Acc::new(action);
        for e in rest.chunks_exact(10) {
            let raw = i64::from_le_bytes(e[..8].try_into().unwrap());
            let n = u16::from_le_bytes([e[8], e[9]]) as u64 + 1;
            // Mostly within 4096 buckets of a date (fast runs); with the
            // top bit of `sel`, anywhere in years 0000-9999.
            let t = if wide {
                FIRST + raw.rem_euclid(LAST - FIRST + 1)
            } else {
                1_391_817_600 + raw.rem_euclid(4096 * every)
            };
            let key = match action {
                Action::Group(Group::Day) => t.div_euclid(DAY),
                Action::Group(Group::Hour) => t.div_euclid(HOUR),
                Action::Timeline(w) => t.div_euclid(w),
                _ => {
                    acc.keys.add_cow(Cow::Owned(e[..8].to_vec()), n);
                    acc.matched += n;
                    continue;
                }
            };
            *acc.nums.entry(key).or_insert(0) += n;
            acc.matched += n;
        }
        let outcome = Outcome {
            acc,
            files: Vec::new(),
            first_bad: None,
            bad: Vec::new(),
            prefiltered: false,
            action,
        };
        let opts = OutputOpts {
            format: [Format::Text, Format::Tsv, Format::Csv, Format::Json][(out & 3) as usize],
            sort: if out & 4 != 0 {
                SortBy::Count
            } else {
                SortBy::Key
            },
            top: (out & 8 != 0).then_some((out >> 4) as usize),
        };
        let rows = report::rows(&outcome, &opts);
        let mut sink = std::io::sink();
        report::write_rows(&mut sink, &rows, opts.format).unwrap();
        if let Action::Timeline(_) = action {
            let _ = report::timeline_too_long(&outcome);
            report::write_timeline_chart(&mut sink, &rows, 1 + (*out as usize) * 4).unwrap();
        }
    }
}

/// The qcow2 header reader of `tpvirt disk info` and the overlay writer of
/// `tpvirt disk overlay` (pure, no libvirt): any bytes parse or fail
/// cleanly, and a header the writer makes reads back as written.
pub mod qcow2_header {
    use tplab::virt::disk::{overlay_bytes, parse_header};

    pub fn run(data: &[u8]) {
        if let Ok(h) = parse_header(data) {
            assert!(h.version == 2 || h.version == 3, "version {}", h.version);
            let _ = format!("{h:?}");
        }
        if data.len() >= 8 {
            let size = u64::from_le_bytes(data[..8].try_into().expect("8 bytes")) % (1 << 40);
            let rest = String::from_utf8_lossy(&data[8..]);
            let (name, fmt) = rest.split_once('\0').unwrap_or((&rest, "qcow2"));
            if let Ok(bytes) = overlay_bytes(size, name, fmt) {
                let h = parse_header(&bytes).expect("the writer's own header reads back");
                assert_eq!(h.virtual_size, size);
                if !name.is_empty() {
                    assert_eq!(h.backing_file.as_deref(), Some(name));
                }
                if !fmt.is_empty() {
                    assert_eq!(h.backing_format.as_deref(), Some(fmt));
                }
            }
        }
    }
}

/// Splits fuzz input into a byte stream fed in pieces: the first byte
/// gives the piece size (1..=256), the rest is the stream. For the parsers
/// fed with both directions, `two_way` deals the pieces out alternately.
pub mod pieces {
    pub fn one_way(data: &[u8]) -> (usize, &[u8]) {
        match data.split_first() {
            Some((&n, rest)) => (n as usize + 1, rest),
            None => (1, data),
        }
    }

    /// Calls `f(to_server, to_client)` after each piece was appended.
    pub fn two_way(data: &[u8], mut f: impl FnMut(&mut Vec<u8>, &mut Vec<u8>)) {
        let (size, rest) = one_way(data);
        let (mut c, mut s) = (Vec::new(), Vec::new());
        for (i, piece) in rest.chunks(size).enumerate() {
            if i % 2 == 0 { &mut c } else { &mut s }.extend_from_slice(piece);
            f(&mut c, &mut s);
            assert!(c.len() + s.len() <= rest.len(), "a parser made bytes up");
        }
    }
}

/// SNMP: one datagram. Invariant: a finding's community is a slice's copy
/// no longer than the datagram.
pub mod snmp_message {
    pub fn run(data: &[u8]) {
        if let Ok(Some(h)) = tplab::sniff::proto::snmp::parse(data) {
            assert!(h.password.map_or(0, |p| p.len()) <= data.len());
        }
        let _ = tplab::sniff::proto::snmp::looks_like(data);
    }
}

/// Kerberos: the data as one message (a datagram), then as a TCP stream
/// in pieces. Invariant: the stream reader never makes bytes up.
pub mod kerberos {
    use tplab::sniff::proto::kerberos;

    pub fn run(data: &[u8]) {
        let _ = kerberos::looks_like(data);
        let _ = kerberos::looks_like_record(data);
        let _ = kerberos::parse(data);
        let (mut half, mut hits) = (kerberos::TcpHalf::default(), Vec::new());
        super::pieces::two_way(data, |c, _| {
            let _ = half.feed(c, &mut hits);
        });
    }
}

/// PostgreSQL authentication fed with both directions in pieces.
pub mod postgres_auth {
    pub fn run(data: &[u8]) {
        let mut p = tplab::sniff::proto::postgres::Postgres::default();
        super::pieces::two_way(data, |c, s| {
            let _ = p.feed(c, s);
        });
        // A login held for its verdict comes out once, at the end.
        if let Some(h) = p.finish() {
            assert!(h.detail.unwrap().ends_with(", (result not seen)"));
        }
        assert!(p.finish().is_none());
    }
}

/// MySQL/MariaDB connection phase fed with both directions in pieces.
pub mod mysql_auth {
    pub fn run(data: &[u8]) {
        let _ = tplab::sniff::proto::mysql::looks_like_greeting(data);
        let mut m = tplab::sniff::proto::mysql::Mysql::default();
        super::pieces::two_way(data, |c, s| {
            let _ = m.feed(c, s);
        });
        // A login held for its verdict comes out once, at the end.
        if let Some(h) = m.finish() {
            assert!(h.detail.unwrap().ends_with(", (result not seen)"));
        }
        assert!(m.finish().is_none());
    }
}

/// VNC (RFB) handshakes fed with both directions in pieces, then the
/// flow's end. Invariant: a finding has a `$vnc$*` line of two 16-byte hex
/// fields, or (VeNCrypt Plain) a user and a password.
pub mod vnc_handshake {
    use tplab::sniff::proto::vnc;

    fn check(h: &tplab::sniff::proto::Hit) {
        match &h.hash {
            Some(c) => assert_eq!(c.line.len(), 6 + 32 + 1 + 32, "{}", c.line),
            None => assert!(h.user.is_some() && h.password.is_some(), "{h:?}"),
        }
    }

    pub fn run(data: &[u8]) {
        let _ = vnc::looks_like_banner(data);
        let mut v = vnc::Vnc::default();
        super::pieces::two_way(data, |c, s| {
            if let Ok(hits) = v.feed(c, s) {
                hits.iter().for_each(check);
            }
        });
        if let Some(h) = v.finish() {
            check(&h);
        }
    }
}

/// MSSQL (TDS) PRELOGIN and LOGIN7 fed with both directions in pieces,
/// and the data as one LOGIN7 payload. Invariant: a decoded password is
/// no longer than the input (UTF-16 → UTF-8 grows by at most half).
pub mod tds_login {
    use tplab::sniff::proto::tds;

    pub fn run(data: &[u8]) {
        let _ = tds::looks_like(data);
        if let Ok(h) = tds::login7(data) {
            assert!(h.password.map_or(0, |p| p.len()) <= data.len() * 3 / 2);
        }
        let mut t = tds::Tds::default();
        super::pieces::two_way(data, |c, s| {
            let _ = t.feed(c, s);
        });
        // A LOGIN7 held for its answer comes out once, at the end.
        if let Some(h) = t.finish() {
            assert!(h.detail.unwrap().ends_with(", (result not seen)"));
        }
        assert!(t.finish().is_none());
        let _ = tds::login_verdict(data);
    }
}

/// SOCKS handshakes fed with both directions in pieces.
pub mod socks_handshake {
    pub fn run(data: &[u8]) {
        let _ = tplab::sniff::proto::socks::looks_like(data, data, 1080);
        let mut p = tplab::sniff::proto::socks::Socks::default();
        super::pieces::two_way(data, |c, s| {
            let _ = p.feed(c, s);
        });
    }
}

/// Redis commands (RESP and inline) fed in pieces. Invariant: what is
/// left in the buffer never grows past what was fed.
pub mod redis_commands {
    pub fn run(data: &[u8]) {
        let (size, rest) = super::pieces::one_way(data);
        let mut r = tplab::sniff::proto::redis::Redis::default();
        let mut buf = Vec::new();
        for piece in rest.chunks(size) {
            buf.extend_from_slice(piece);
            let _ = r.client(&mut buf);
            assert!(buf.len() <= rest.len());
        }
    }
}

/// LDAP messages fed in pieces, and one message on its own.
pub mod ldap_messages {
    pub fn run(data: &[u8]) {
        let _ = tplab::sniff::proto::ldap::message(data);
        let _ = tplab::sniff::proto::ldap::server_challenge(data);
        let _ = tplab::sniff::proto::ldap::looks_like(data);
        let (size, rest) = super::pieces::one_way(data);
        let mut l = tplab::sniff::proto::ldap::Ldap::default();
        let (mut buf, mut back) = (Vec::new(), Vec::new());
        // The same bytes as the server's and as the client's, in turn: a
        // challenge read from one side is used by the other.
        for piece in rest.chunks(size) {
            back.extend_from_slice(piece);
            let _ = l.server(&mut back);
            buf.extend_from_slice(piece);
            let _ = l.client(&mut buf);
        }
    }
}

/// MQTT CONNECT: a packet body on its own, and the client stream in pieces.
pub mod mqtt_connect {
    pub fn run(data: &[u8]) {
        let _ = tplab::sniff::proto::mqtt::connect_body(data);
        let _ = tplab::sniff::proto::mqtt::looks_like(data);
        let (size, rest) = super::pieces::one_way(data);
        let mut m = tplab::sniff::proto::mqtt::Mqtt::default();
        let mut buf = Vec::new();
        for piece in rest.chunks(size) {
            buf.extend_from_slice(piece);
            let _ = m.client(&mut buf);
        }
    }
}

/// NTLMSSP: a CHALLENGE and an AUTHENTICATE message from the same bytes
/// (the challenge taken from the first 8). Invariant: a NetNTLM line has
/// the five fields hashcat splits at ':'.
pub mod ntlm_message {
    use tplab::sniff::finding::Proto;
    use tplab::sniff::proto::ntlm;

    pub fn run(data: &[u8]) {
        let _ = ntlm::challenge(data);
        let _ = ntlm::from_header(data);
        let c = data.get(..8).and_then(|c| c.try_into().ok());
        if let Ok(Some(h)) = ntlm::authenticate(Proto::HttpNtlm, data, c) {
            if let Some(line) = h.hash {
                assert_eq!(line.line.split(':').count(), 6, "{}", line.line);
            }
        }
    }
}

/// Digest parameters to a hashcat 11400 line. Invariant: the line has the
/// 15 `*`-separated fields hashcat's tokenizer expects.
pub mod digest_line {
    pub fn run(data: &[u8]) {
        let (method, params) = match data.iter().position(|&b| b == b' ') {
            Some(i) => (&data[..i], &data[i + 1..]),
            None => (&b"GET"[..], data),
        };
        if let Some(c) = tplab::sniff::proto::digest::hashcat_line(method, params) {
            assert_eq!(c.line.split('*').count(), 15, "{}", c.line);
        }
    }
}

/// The format compiler on any string: `--log-format`'s preset lookup and
/// the Apache/nginx format parsers. Invariant: it compiles or says why,
/// and an error names a column inside the string.
pub mod log_format_compile {
    use tplab::log::format::{from_arg, FormatError};

    pub fn run(data: &[u8]) {
        let s = String::from_utf8_lossy(data);
        match from_arg(&s) {
            Ok(f) => {
                // A compiled format reads its own text without panicking.
                let _ = f.format.parser(None).parse(s.as_bytes());
            }
            Err(FormatError::Unknown { col, .. } | FormatError::Unterminated { col } | FormatError::Adjacent { col, .. }) => {
                assert!(col >= 1 && col <= s.len() + 1, "column {col} outside {} bytes", s.len());
            }
            Err(_) => {}
        }
    }
}

/// A compiled format's line parser: the input's first line picks a format
/// (one byte: a preset; more: a format string) and the rest are lines it
/// reads. Invariant: every field of a record is a slice of its line (or
/// a constant such as `-`), and an error's column is inside the line.
pub mod log_format_line {
    use tplab::log::format::{from_arg, presets::PRESETS, LogFormat};
    use tplab::log::record::{Ext, Rich};

    fn inside(line: &[u8], field: &[u8]) -> bool {
        let (a, b) = (line.as_ptr() as usize, line.as_ptr() as usize + line.len());
        let s = field.as_ptr() as usize;
        field.is_empty() || (a <= s && s + field.len() <= b)
    }

    pub fn run(data: &[u8]) {
        let (head, body) = match data.iter().position(|&b| b == b'\n') {
            Some(i) => (&data[..i], &data[i + 1..]),
            None => (data, &b""[..]),
        };
        let f = match head {
            [n] => PRESETS[*n as usize % PRESETS.len()].format(),
            _ => match from_arg(&String::from_utf8_lossy(head)) {
                Ok(f) => f,
                Err(_) => return,
            },
        };
        if let LogFormat::Program(prog) = &f.format {
            // The shortcuts (combined's fields by the fast path's parser,
            // in the open data, one Ext for all lines as the engine keeps
            // it) read what the general program reads, or decline.
            let mut ext = Ext::NONE;
            let mut start = 0;
            while start < body.len() {
                let end = body[start..].iter().position(|&b| b == b'\n').map_or(body.len(), |k| start + k);
                let line = &body[start..end];
                let general = prog.parse_general(line);
                assert_eq!(prog.parse(line), general, "the shortcut differs from the program");
                if let Some((rec, len)) = prog.shortcut(&body[start..], &mut ext) {
                    assert_eq!(len, line.len(), "the shortcut's line end");
                    assert_eq!(Ok(Rich { rec, ext }), general, "the shortcut differs from the program");
                }
                start = end + 1;
            }
        }
        let mut p = f.format.parser(None);
        for line in body.split(|&b| b == b'\n') {
            match p.parse(line) {
                Ok(Some(r)) => {
                    for x in [r.ident, r.user, r.zone, r.request, r.ext.vhost, r.ext.xff] {
                        assert!(inside(line, x), "field outside the line");
                    }
                    for x in [r.referer, r.agent].into_iter().flatten() {
                        assert!(inside(line, x) || x == b"-", "field outside the line");
                    }
                    assert_eq!(r.status.len(), 3);
                    let _ = (r.request_line(), r.method(), r.path(), r.status_code());
                }
                Ok(None) => {}
                Err(e) => assert!(e.col as usize <= line.len() + 1, "column {} of {}", e.col, line.len()),
            }
        }
    }
}

/// IP fragment reassembly on a sequence of packets. Input: records; a
/// record whose first byte is even is a raw IP packet (`[0, len, bytes]`,
/// through `frag::parse`), else a fragment built from 7 bytes (IPv4 or
/// IPv6, identification, offset, length, more flag, time step) whose bytes
/// follow a pattern of their position. Invariants: memory stays within the
/// bound; a reassembled datagram is at most 65,535 bytes and, when built
/// from patterned fragments, holds the pattern exactly.
pub mod ip_fragments {
    use tplab::sniff::flow::frag::{parse, FragLimits, Reassembler};

    const LIMITS: FragLimits = FragLimits {
        max_total_bytes: 16 * 1024,
        timeout_us: 20_000_000,
        max_pieces: 16,
    };

    fn pattern(id: u8, at: usize) -> u8 {
        (at as u8) ^ id ^ (at >> 8) as u8
    }

    fn build(v6: bool, id: u8, offset: usize, len: usize, more: bool) -> Vec<u8> {
        let data: Vec<u8> = (offset..offset + len).map(|i| pattern(id, i)).collect();
        let mut p;
        if v6 {
            p = vec![0x60, 0, 0, 0];
            p.extend_from_slice(&((8 + len) as u16).to_be_bytes());
            p.extend_from_slice(&[44, 64]);
            p.extend_from_slice(&[0xfd; 16]);
            p.extend_from_slice(&[0xfe; 16]);
            let om = (((offset / 8) as u16) << 3) | more as u16;
            p.extend_from_slice(&[17, 0]);
            p.extend_from_slice(&om.to_be_bytes());
            p.extend_from_slice(&u32::from(id).to_be_bytes());
        } else {
            let fo = (offset / 8) as u16 | if more { 0x2000 } else { 0 };
            p = vec![0x45, 0];
            p.extend_from_slice(&((20 + len) as u16).to_be_bytes());
            p.extend_from_slice(&[0, id]);
            p.extend_from_slice(&fo.to_be_bytes());
            p.extend_from_slice(&[64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        }
        p.extend_from_slice(&data);
        p
    }

    pub fn run(data: &[u8]) {
        let mut r = Reassembler::new(LIMITS);
        let mut ts: i64 = 0;
        let mut rest = data;
        let mut pushed = 0u64;
        let mut raw_keys = std::collections::HashSet::new();
        while !rest.is_empty() {
            let (pkt, patterned, id) = if rest[0] % 2 == 0 {
                let len = usize::from(*rest.get(1).unwrap_or(&0)) * 4;
                let end = (2 + len).min(rest.len());
                let pkt = rest[2.min(rest.len())..end].to_vec();
                rest = &rest[end..];
                (pkt, false, 0)
            } else {
                if rest.len() < 7 {
                    break;
                }
                let h = &rest[..7];
                rest = &rest[7..];
                let v6 = h[0] & 2 != 0;
                let more = h[0] & 4 != 0;
                let id = h[1] & 3;
                // Offsets up to 64 KiB, in 8-byte units; lengths to 2 KiB.
                let offset = usize::from(u16::from_be_bytes([h[2], h[3]]) & 0x1fff) * 8;
                let len = usize::from(u16::from_be_bytes([h[4], h[5]]) & 0x7ff);
                ts += i64::from(h[6]) * 100_000;
                (build(v6, id, offset, len, more), true, id)
            };
            let Ok(Some(f)) = parse(&pkt) else {
                continue;
            };
            pushed += 1;
            if !patterned {
                // Raw packets may join a patterned datagram: not checked.
                raw_keys.insert(((f.key.src, f.key.dst, f.key.proto), f.key.id as u8));
            }
            if let Some(d) = r.push(ts, &f) {
                assert!(d.payload.len() <= 65_535);
                let key = (d.src, d.dst, d.proto);
                if patterned && !raw_keys.contains(&(key, id)) {
                    for (i, b) in d.payload.iter().enumerate() {
                        assert_eq!(*b, pattern(id, i), "byte {i} of a reassembled datagram");
                    }
                }
            }
            assert!(
                r.held() <= LIMITS.max_total_bytes,
                "held {} bytes",
                r.held()
            );
        }
        assert_eq!(r.stats.fragments, pushed);
        r.finish();
        assert_eq!(r.held(), 0);
    }
}

/// The IRC client parser on lines cut from the input. Invariant: every
/// hit is an `irc` one with a password that is a slice of some input line.
pub mod irc_lines {
    use tplab::sniff::proto::irc::{looks_like_client, Irc};

    pub fn run(data: &[u8]) {
        let _ = looks_like_client(data);
        let mut irc = Irc::default();
        for line in data.split(|&c| c == b'\n') {
            if let Some(h) = irc.client_line(line) {
                assert_eq!(h.proto.as_str(), "irc");
                let pw = h.password.expect("IRC hits carry a password");
                // SASL PLAIN decodes base64: its password is not a slice.
                if h.detail.as_deref() != Some("SASL PLAIN") {
                    assert!(
                        data.windows(pw.len().max(1)).any(|w| w == &pw[..]) || pw.is_empty(),
                        "password not from the input"
                    );
                }
            }
        }
    }
}

/// SIP: one message as a UDP datagram, and the same bytes as a TCP stream
/// fed in two pieces. Invariants: every hash line is a `$sip$` one with
/// the 15 fields hashcat expects; the stream never holds more than it was
/// given.
pub mod sip_message {
    use tplab::sniff::proto::sip::{parse, SipStream};

    fn check(hits: &[tplab::sniff::proto::Hit]) {
        for h in hits {
            assert_eq!(h.proto.as_str(), "sip");
            if let Some(c) = &h.hash {
                assert_eq!(c.mode, Some(11400));
                assert!(c.line.starts_with("$sip$"));
                assert_eq!(c.line.split('*').count(), 15, "{}", c.line);
            }
        }
    }

    pub fn run(data: &[u8]) {
        if let Ok(h) = parse(data) {
            check(&h);
        }
        let mut s = SipStream;
        let mut buf = Vec::new();
        let cut = data.len() / 2;
        for piece in [&data[..cut], &data[cut..]] {
            buf.extend_from_slice(piece);
            if let Ok(h) = s.client(&mut buf) {
                check(&h);
            }
            assert!(buf.len() <= data.len());
        }
    }
}

/// The invariants of NetNTLM findings: a hash line has the six
/// `:`-separated fields hashcat reads; one `left` at the flow's end says
/// its verdict was not seen.
pub fn check_netntlm(hits: Vec<tplab::sniff::proto::Hit>, left: bool) {
    for h in hits {
        if let Some(line) = &h.hash {
            assert_eq!(line.line.split(':').count(), 6, "{}", line.line);
        }
        if left {
            assert!(h.detail.as_deref().unwrap_or("").ends_with(", (result not seen)"), "{:?}", h.detail);
        }
    }
}

/// DCE-RPC over TCP: the data as both directions in pieces, then as one
/// PDU. Invariant: a NetNTLM line has the six `:`-separated fields hashcat
/// reads; a finding left at the end says its verdict was not seen, and is
/// reported once.
pub mod dcerpc_session {
    use tplab::sniff::proto::dcerpc;

    pub fn run(data: &[u8]) {
        let mut s = dcerpc::DceRpc::default();
        super::pieces::two_way(data, |c, sc| {
            if let Ok(hits) = s.feed(c, sc) {
                super::check_netntlm(hits, false);
            }
        });
        super::check_netntlm(s.finish(), true);
        assert!(s.finish().is_empty(), "reported once");
        let _ = dcerpc::looks_like(data);
        if let Ok(p) = dcerpc::parse_pdu(data) {
            let _ = dcerpc::client_pdu(&p, Some(*b"ABCDEFGH"));
        }
    }
}

/// SMB session setups (NetBIOS framing, SMB2/SMB1, NTLMSSP inside) fed
/// with both directions in pieces. Invariant: a NetNTLM line has the six
/// `:`-separated fields hashcat reads.
pub mod smb_session {
    use tplab::sniff::proto::smb;

    pub fn run(data: &[u8]) {
        let mut s = smb::Smb::default();
        super::pieces::two_way(data, |c, sc| {
            if let Ok(hits) = s.feed(c, sc) {
                super::check_netntlm(hits, false);
            }
        });
        // Findings still waiting for the server's answer come out at the
        // end, with the same invariant.
        super::check_netntlm(s.finish(), true);
        assert!(s.finish().is_empty(), "reported once");
        let _ = smb::looks_like(data);
        let _ = smb::client_message(data, Some(*b"ABCDEFGH"));
        let _ = smb::setup_outcome(data);
    }
}

/// RADIUS: one datagram, with and without a shared secret. Invariant: a
/// decoded password is no longer than the datagram; a CHAP line has its
/// three fields.
pub mod radius_packet {
    use tplab::sniff::proto::radius;

    pub fn run(data: &[u8]) {
        for secret in [None, Some(&b"s3cret"[..])] {
            if let Ok(Some(h)) = radius::parse(data, secret) {
                assert!(h.password.map_or(0, |p| p.len()) <= data.len());
                if let Some(c) = h.hash {
                    assert_eq!(c.line.split(':').count(), 3, "{}", c.line);
                }
            }
        }
        let _ = radius::looks_like(data);
        // The datagram as a request and back as its reply: a request with
        // a credential is reported once, whatever the reply.
        let c = "10.0.0.1:1000".parse().unwrap();
        let sv = "10.0.0.2:1812".parse().unwrap();
        let mut reply = data.to_vec();
        if let Some(code) = reply.first_mut() {
            *code = 2;
        }
        for secret in [None, Some(&b"s3cret"[..])] {
            let request = matches!(radius::parse(data, secret), Ok(Some(_)));
            let mut x = radius::Exchanges::default();
            let mut out = Vec::new();
            let _ = x.datagram(0, c, sv, data, secret, &mut out);
            let _ = x.datagram(1, sv, c, &reply, secret, &mut out);
            out.extend(x.finish());
            assert_eq!(out.len(), request as usize, "{out:?}");
        }
    }
}

/// SASL exchanges of the line protocols: the input's lines drive one
/// [`Sasl`](tplab::sniff::proto::Sasl) state machine (first byte: the
/// protocol). A line starting `A` is an AUTH command (`AUTH MECH
/// [initial]`, the first word skipped), one starting `S` a server line
/// after the `S` (`+ b64`, `334 b64`), any other the client's next line.
/// The same lines also go to the SMTP, IMAP and POP3 parsers that embed it.
/// Invariants: a hit is the protocol's; an exchange that completed (a hit)
/// or failed (an error) is over; a cancel (`*`) ends it; decoded secrets
/// are no longer than the input; a CRAM-MD5 line is
/// `$cram_md5$CHALLENGE$RESPONSE` in base64 (hashcat 10200), an NTLM one a
/// NetNTLM line; OAuth tokens are never empty.
pub mod sasl_exchange {
    use tplab::sniff::finding::Proto;
    use tplab::sniff::proto::sasl::{oauth, Sasl};
    use tplab::sniff::proto::{b64, imap::Imap, pop3::Pop3, smtp::Smtp, verb, Hit};

    const PROTOS: [Proto; 3] = [Proto::Smtp, Proto::Imap, Proto::Pop3];

    fn check(h: &Hit, proto: Proto, input: usize) {
        assert_eq!(h.proto, proto);
        match &h.hash {
            // NTLM: a NetNTLM line (its names are UTF-16 made UTF-8: they
            // may be longer than their bytes were).
            Some(c) if c.mode == Some(5500) || c.mode == Some(5600) => {
                assert_eq!(c.line.split(':').count(), 6, "{}", c.line);
                return;
            }
            Some(c) => {
                assert_eq!(c.mode, Some(10200), "{}", c.line);
                let fields: Vec<&str> = c.line.split('$').collect();
                assert_eq!(fields.len(), 4, "{}", c.line);
                assert_eq!(fields[1], "cram_md5");
                assert!(b64(fields[2].as_bytes()).is_some(), "{}", c.line);
                assert!(b64(fields[3].as_bytes()).is_some(), "{}", c.line);
                assert!(h.password.is_none(), "CRAM-MD5 shows no password");
            }
            None => {}
        }
        for s in [&h.user, &h.password].into_iter().flatten() {
            assert!(s.len() <= input, "a secret longer than the input");
        }
        if h.detail.as_deref() == Some("OAuth bearer token") {
            assert!(!h.password.as_ref().expect("a token").is_empty());
        }
    }

    pub fn run(data: &[u8]) {
        let Some((&sel, rest)) = data.split_first() else {
            return;
        };
        let proto = PROTOS[sel as usize % PROTOS.len()];
        if let Some((_, token)) = oauth(rest) {
            assert!(!token.is_empty());
        }
        let mut sasl = Sasl::default();
        let (mut smtp, mut imap, mut pop3) = (Smtp::default(), Imap::default(), Pop3::default());
        for line in rest.split(|&c| c == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            match line.first() {
                Some(b'A') => {
                    let (mech, initial) = verb(verb(line).1);
                    match sasl.start_checked(proto, mech, Some(initial)) {
                        Ok(Some(h)) => check(&h, proto, data.len()),
                        Ok(None) => {}
                        Err(_) => assert!(!sasl.active(), "a failed start left it open"),
                    }
                }
                Some(b'S') => {
                    let _ = sasl.server_line(&line[1..]);
                    smtp.server_line(&line[1..]);
                    imap.server_line(&line[1..]);
                    pop3.server_line(&line[1..]);
                    continue;
                }
                _ => {
                    let was = sasl.clone();
                    match sasl.line_checked(proto, line) {
                        Ok(Some(h)) => {
                            check(&h, proto, data.len());
                            assert!(!sasl.active(), "a completed exchange is over");
                        }
                        Ok(None) if line == b"*" => assert!(!sasl.active(), "a cancel ends it"),
                        Ok(None) => {}
                        Err(_) => assert!(!sasl.active(), "a failed exchange is over"),
                    }
                    if was == Sasl::Idle {
                        assert!(!sasl.active(), "a line outside an exchange starts none");
                    }
                }
            }
            for (p, h) in [
                (Proto::Smtp, smtp.client_line(line)),
                (Proto::Imap, imap.client_line(line)),
                (Proto::Pop3, pop3.client_line(line)),
            ] {
                if let Some(h) = h {
                    // IMAP LOGIN and POP3 PASS carry the line's bytes.
                    check(&h, p, data.len() + 2);
                }
            }
        }
    }
}
