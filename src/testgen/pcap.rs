//! Deterministic capture generator (`cargo xtask gen-pcap`, the tests and
//! the bench): TCP conversations built with etherparse's `PacketBuilder`,
//! cut into segments, optionally reordered and duplicated, on Ethernet,
//! 802.1Q, Linux SLL2 or raw IP, written with a tiny pcap writer. The same
//! seed gives the same bytes.

use std::io;
use std::net::SocketAddr;
use std::path::Path;

use etherparse::PacketBuilder;

use crate::sniff::finding::Proto;
use crate::sniff::proto::tls::build as tlsb;
use crate::sniff::LinkType;

/// The shared [`SplitMix64`](super::SplitMix64), plus what captures need.
#[derive(Debug, Clone)]
pub struct Rng(super::SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(super::SplitMix64::new(seed))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0.below(n as u64) as usize
    }
    /// A printable secret of `len` characters.
    pub fn secret(&mut self, len: usize) -> String {
        const A: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789!@#";
        (0..len).map(|_| A[self.below(A.len())] as char).collect()
    }
    /// Fisher-Yates.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

/// The link layer the packets are wrapped in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Ethernet,
    /// Ethernet with one 802.1Q tag.
    Vlan(u16),
    LinuxSll2,
    Raw,
}

impl Link {
    pub fn link_type(self) -> LinkType {
        match self {
            Link::Ethernet | Link::Vlan(_) => LinkType::Ethernet,
            Link::LinuxSll2 => LinkType::LinuxSll2,
            Link::Raw => LinkType::Raw,
        }
    }
}

/// One segment of a conversation before it becomes a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seg {
    pub from_client: bool,
    pub seq: u32,
    pub syn: bool,
    pub fin: bool,
    pub payload: Vec<u8>,
}

/// A TCP conversation that appends packets as it goes.
#[derive(Debug, Clone)]
pub struct Conn {
    pub link: Link,
    pub client: SocketAddr,
    pub server: SocketAddr,
    cseq: u32,
    sseq: u32,
    pub ts: i64,
    pub packets: Vec<(i64, Vec<u8>)>,
}

impl Conn {
    /// A connection with the three-way handshake already written.
    pub fn open(
        link: Link,
        client: SocketAddr,
        server: SocketAddr,
        rng: &mut Rng,
        ts: i64,
    ) -> Conn {
        let mut c = Conn {
            link,
            client,
            server,
            cseq: rng.next_u64() as u32,
            sseq: rng.next_u64() as u32,
            ts,
            packets: Vec::new(),
        };
        let syn = Seg {
            from_client: true,
            seq: c.cseq,
            syn: true,
            fin: false,
            payload: vec![],
        };
        let synack = Seg {
            from_client: false,
            seq: c.sseq,
            syn: true,
            fin: false,
            payload: vec![],
        };
        c.cseq = c.cseq.wrapping_add(1);
        c.sseq = c.sseq.wrapping_add(1);
        c.emit(&[syn, synack]);
        let ack = Seg {
            from_client: true,
            seq: c.cseq,
            syn: false,
            fin: false,
            payload: vec![],
        };
        c.emit(&[ack]);
        c
    }

    /// Cuts `data` into segments of the given sizes (the last size repeats)
    /// and advances that side's sequence number; nothing is written yet.
    pub fn segments(&mut self, from_client: bool, data: &[u8], sizes: &[usize]) -> Vec<Seg> {
        let mut out = Vec::new();
        let mut i = 0;
        let mut k = 0;
        while i < data.len() {
            let n = sizes
                .get(k)
                .or(sizes.last())
                .copied()
                .unwrap_or(1460)
                .max(1);
            k += 1;
            let end = (i + n).min(data.len());
            let seq = if from_client {
                &mut self.cseq
            } else {
                &mut self.sseq
            };
            out.push(Seg {
                from_client,
                seq: *seq,
                syn: false,
                fin: false,
                payload: data[i..end].to_vec(),
            });
            *seq = seq.wrapping_add((end - i) as u32);
            i = end;
        }
        out
    }

    /// Writes `data` in order, in segments of at most `mss` bytes.
    pub fn send(&mut self, from_client: bool, data: &[u8], mss: usize) {
        let segs = self.segments(from_client, data, &[mss]);
        self.emit(&segs);
    }

    /// Writes segments as packets, 1 ms apart.
    pub fn emit(&mut self, segs: &[Seg]) {
        for s in segs {
            self.ts += 1000;
            let p = self.packet(s);
            self.packets.push((self.ts, p));
        }
    }

    /// A FIN from one side at its current sequence number (not written).
    pub fn fin_seg(&self, from_client: bool) -> Seg {
        let seq = if from_client { self.cseq } else { self.sseq };
        Seg {
            from_client,
            seq,
            syn: false,
            fin: true,
            payload: vec![],
        }
    }

    /// FIN both ways.
    pub fn close(&mut self) {
        let a = Seg {
            from_client: true,
            seq: self.cseq,
            syn: false,
            fin: true,
            payload: vec![],
        };
        let b = Seg {
            from_client: false,
            seq: self.sseq,
            syn: false,
            fin: true,
            payload: vec![],
        };
        self.emit(&[a, b]);
    }

    /// One segment as a packet of this connection's link type.
    pub fn packet(&self, s: &Seg) -> Vec<u8> {
        let (src, dst) = if s.from_client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        let ack = if s.from_client { self.sseq } else { self.cseq };
        let mut ip = Vec::new();
        macro_rules! tcp {
            ($b:expr) => {{
                let mut t = $b.tcp(src.port(), dst.port(), s.seq, 65535);
                if !(s.syn && s.from_client) {
                    t = t.ack(ack);
                }
                if s.syn {
                    t = t.syn();
                }
                if s.fin {
                    t = t.fin();
                }
                if !s.payload.is_empty() {
                    t = t.psh();
                }
                t.write(&mut ip, &s.payload).expect("write to a Vec");
            }};
        }
        match (src, dst) {
            (SocketAddr::V4(a), SocketAddr::V4(b)) => {
                tcp!(PacketBuilder::ipv4(a.ip().octets(), b.ip().octets(), 64))
            }
            (SocketAddr::V6(a), SocketAddr::V6(b)) => {
                tcp!(PacketBuilder::ipv6(a.ip().octets(), b.ip().octets(), 64))
            }
            _ => panic!("mixed address families"),
        }
        let v6 = src.is_ipv6();
        let et: u16 = if v6 { 0x86dd } else { 0x0800 };
        let mut out = Vec::with_capacity(ip.len() + 24);
        match self.link {
            Link::Raw => {}
            Link::Ethernet | Link::Vlan(_) => {
                let (cm, sm) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
                let (sm_, dm_) = if s.from_client { (cm, sm) } else { (sm, cm) };
                out.extend_from_slice(&dm_);
                out.extend_from_slice(&sm_);
                if let Link::Vlan(id) = self.link {
                    out.extend_from_slice(&0x8100u16.to_be_bytes());
                    out.extend_from_slice(&(id & 0x0fff).to_be_bytes());
                }
                out.extend_from_slice(&et.to_be_bytes());
            }
            Link::LinuxSll2 => {
                out.extend_from_slice(&et.to_be_bytes());
                out.extend_from_slice(&[0, 0]); // reserved
                out.extend_from_slice(&3u32.to_be_bytes()); // interface index
                out.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
                out.push(if s.from_client { 4 } else { 0 }); // outgoing / to us
                out.push(6);
                out.extend_from_slice(&[2, 0, 0, 0, 0, if s.from_client { 1 } else { 2 }, 0, 0]);
            }
        }
        out.extend_from_slice(&ip);
        out
    }
}

/// A credential a generated capture must yield.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExpectCred {
    pub proto: Proto,
    pub user: Option<String>,
    pub password: Option<String>,
}

/// A TLS session a generated capture must yield.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExpectTls {
    pub sni: String,
    pub version: String,
}

/// A generated capture and what it must yield.
#[derive(Debug, Clone)]
pub struct Capture {
    pub name: &'static str,
    pub link: LinkType,
    pub packets: Vec<(i64, Vec<u8>)>,
    pub creds: Vec<ExpectCred>,
    pub tls: Vec<ExpectTls>,
}

impl Capture {
    /// The capture as a pcap file (microsecond timestamps, little-endian).
    pub fn pcap_bytes(&self) -> Vec<u8> {
        pcap_bytes(self.link.to_pcap(), &self.packets)
    }
}

/// A classic pcap file.
pub fn pcap_bytes(linktype: i32, packets: &[(i64, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&(linktype as u32).to_le_bytes());
    for (ts, p) in packets {
        out.extend_from_slice(&(ts.div_euclid(1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(ts.rem_euclid(1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// The same packets as a pcapng file (one interface, microsecond
/// timestamps): section header, interface description, enhanced packets.
pub fn pcapng_bytes(linktype: i32, packets: &[(i64, Vec<u8>)]) -> Vec<u8> {
    fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
        let pad = (4 - body.len() % 4) % 4;
        let len = (12 + body.len() + pad) as u32;
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(&[0; 3][..pad]);
        out.extend_from_slice(&len.to_le_bytes());
    }
    let mut out = Vec::new();
    let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut out, 0x0a0d_0d0a, &shb);
    let mut idb = (linktype as u16).to_le_bytes().to_vec();
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&262_144u32.to_le_bytes());
    block(&mut out, 1, &idb);
    for (ts, p) in packets {
        let ts = *ts as u64;
        let mut epb = 0u32.to_le_bytes().to_vec();
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ts as u32).to_le_bytes());
        epb.extend_from_slice(&(p.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(p.len() as u32).to_le_bytes());
        epb.extend_from_slice(p);
        epb.resize(epb.len() + (4 - p.len() % 4) % 4, 0);
        block(&mut out, 6, &epb);
    }
    out
}

/// Writes every capture of `seed` into `dir` as `NAME.pcap`; returns the paths.
pub fn write_all(dir: &Path, seed: u64) -> io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut paths = Vec::new();
    for c in captures(seed) {
        let p = dir.join(format!("{}.pcap", c.name));
        std::fs::write(&p, c.pcap_bytes())?;
        paths.push(p);
    }
    Ok(paths)
}

fn cred(proto: Proto, user: Option<&str>, password: Option<&str>) -> ExpectCred {
    ExpectCred {
        proto,
        user: user.map(String::from),
        password: password.map(String::from),
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("literal address")
}

const T0: i64 = 1_764_374_400_000_000; // 2025-11-29T00:00:00Z

/// An HTTP login POST whose body carries `user` and `password` form fields.
pub fn login_post(host: &str, user: &str, password: &str) -> Vec<u8> {
    let body = format!(
        "requesttoken=abc%2Bdef&user={user}&password={}&timezone=Europe%2FParis",
        enc(password)
    );
    format!(
        "POST /index.php/login HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Percent-encodes what a browser would in a form value.
pub fn enc(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else if b == b' ' {
            o.push('+');
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// Every generated capture for a seed.
pub fn captures(seed: u64) -> Vec<Capture> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();

    // A password split across two segments, in the middle of its value.
    {
        let pw = rng.secret(12);
        let req = login_post("cloud.lab", "alice", &pw);
        let cut = req.len() - 40;
        let mut c = Conn::open(
            Link::Ethernet,
            addr("10.0.0.1:41000"),
            addr("10.0.0.2:8080"),
            &mut rng,
            T0,
        );
        let segs = c.segments(true, &req, &[cut, 1460]);
        c.emit(&segs);
        c.send(false, OK, 1460);
        c.close();
        out.push(Capture {
            name: "http-split-password",
            link: LinkType::Ethernet,
            packets: c.packets,
            creds: vec![cred(Proto::HttpForm, Some("alice"), Some(&pw))],
            tls: vec![],
        });
    }

    // Small segments, shuffled, some retransmitted, one retransmission
    // that overlaps two originals.
    {
        let pw = rng.secret(10);
        let req = login_post("cloud.lab", "bob", &pw);
        let mut c = Conn::open(
            Link::Ethernet,
            addr("10.0.0.3:41001"),
            addr("10.0.0.2:80"),
            &mut rng,
            T0,
        );
        let mut segs = c.segments(true, &req, &[23]);
        let dups: Vec<Seg> = (0..3)
            .map(|_| segs[rng.below(segs.len())].clone())
            .collect();
        let i = rng.below(segs.len() - 1);
        let mut overlap = segs[i].clone();
        overlap.payload.extend_from_slice(&segs[i + 1].payload);
        segs.extend(dups);
        segs.push(overlap);
        rng.shuffle(&mut segs);
        c.emit(&segs);
        c.send(false, OK, 1460);
        c.close();
        out.push(Capture {
            name: "http-reordered",
            link: LinkType::Ethernet,
            packets: c.packets,
            creds: vec![cred(Proto::HttpForm, Some("bob"), Some(&pw))],
            tls: vec![],
        });
    }

    // A chunked form body, then two pipelined requests (query string and
    // Basic auth) in the same flight; responses pipelined too.
    {
        let (p1, p2, p3) = (rng.secret(8), rng.secret(9), rng.secret(11));
        let body = format!("user=carol&pwd={}", enc(&p1));
        let (a, b) = body.split_at(7);
        let mut req = format!(
            "POST /form HTTP/1.1\r\nHost: app.lab\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x};x=y\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        )
        .into_bytes();
        req.extend_from_slice(
            format!(
                "GET /api?login=dave&passwd={} HTTP/1.1\r\nHost: app.lab\r\n\r\n",
                enc(&p2)
            )
            .as_bytes(),
        );
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("erin:{p3}"));
        req.extend_from_slice(
            format!("GET /admin HTTP/1.1\r\nHost: app.lab\r\nAuthorization: Basic {basic}\r\n\r\n")
                .as_bytes(),
        );
        let mut c = Conn::open(
            Link::Ethernet,
            addr("10.0.0.4:41002"),
            addr("10.0.0.2:3000"),
            &mut rng,
            T0,
        );
        c.send(true, &req, 100);
        let mut resp = Vec::new();
        resp.extend_from_slice(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        );
        resp.extend_from_slice(OK);
        resp.extend_from_slice(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
        c.send(false, &resp, 1460);
        c.close();
        out.push(Capture {
            name: "http-chunked-pipelined",
            link: LinkType::Ethernet,
            packets: c.packets,
            creds: vec![
                cred(Proto::HttpForm, Some("carol"), Some(&p1)),
                cred(Proto::HttpQuery, Some("dave"), Some(&p2)),
                cred(Proto::HttpBasic, Some("erin"), Some(&p3)),
            ],
            tls: vec![],
        });
    }

    // TLS 1.2: no supported_versions; the ClientHello split across segments.
    {
        let ch = tlsb::record(1, &tlsb::client_hello("tls12.lab", &[], &["http/1.1"]));
        let sh = tlsb::record(2, &tlsb::server_hello(0x0303, Some("http/1.1")));
        let mut c = Conn::open(
            Link::Ethernet,
            addr("10.0.0.5:41003"),
            addr("10.0.0.2:443"),
            &mut rng,
            T0,
        );
        let segs = c.segments(true, &ch, &[40, 1460]);
        c.emit(&segs);
        c.send(false, &sh, 1460);
        c.send(true, &[23, 3, 3, 0, 4, 1, 2, 3, 4], 1460);
        c.close();
        out.push(Capture {
            name: "tls12",
            link: LinkType::Ethernet,
            packets: c.packets,
            creds: vec![],
            tls: vec![ExpectTls {
                sni: "tls12.lab".into(),
                version: "TLS1.2".into(),
            }],
        });
    }

    // TLS 1.3 over IPv6: GREASE offered, the ClientHello in two records.
    {
        let body = tlsb::client_hello("tls13.lab", &[0x3a3a, 0x0304, 0x0303], &["h2", "http/1.1"]);
        let mut hs = vec![1];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        let (a, b) = hs.split_at(50);
        let mut ch = Vec::new();
        for part in [a, b] {
            ch.extend_from_slice(&[22, 3, 1]);
            ch.extend_from_slice(&(part.len() as u16).to_be_bytes());
            ch.extend_from_slice(part);
        }
        let sh = tlsb::record(2, &tlsb::server_hello(0x0304, Some("h2")));
        let mut c = Conn::open(
            Link::Ethernet,
            addr("[2001:db8::5]:41004"),
            addr("[2001:db8::2]:443"),
            &mut rng,
            T0,
        );
        c.send(true, &ch, 1460);
        c.send(false, &sh, 1460);
        c.close();
        out.push(Capture {
            name: "tls13",
            link: LinkType::Ethernet,
            packets: c.packets,
            creds: vec![],
            tls: vec![ExpectTls {
                sni: "tls13.lab".into(),
                version: "TLS1.3".into(),
            }],
        });
    }

    // IPv6 inside an 802.1Q tag: HTTP Basic.
    {
        let pw = rng.secret(10);
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("frank:{pw}"));
        let req = format!(
            "GET / HTTP/1.1\r\nHost: [2001:db8::2]\r\nauthorization:   BASIC  {basic}\r\n\r\n"
        );
        let mut c = Conn::open(
            Link::Vlan(42),
            addr("[2001:db8::6]:41005"),
            addr("[2001:db8::2]:80"),
            &mut rng,
            T0,
        );
        c.send(true, req.as_bytes(), 1460);
        c.send(false, OK, 1460);
        c.close();
        out.push(Capture {
            name: "ipv6-vlan",
            link: LinkType::Ethernet,
            packets: c.packets,
            creds: vec![cred(Proto::HttpBasic, Some("frank"), Some(&pw))],
            tls: vec![],
        });
    }

    // Linux SLL2 (tcpdump -i any): FTP.
    {
        let pw = rng.secret(8);
        let mut c = Conn::open(
            Link::LinuxSll2,
            addr("10.0.0.7:41006"),
            addr("10.0.0.2:2121"),
            &mut rng,
            T0,
        );
        c.send(false, b"220 (vsFTPd 3.0.3)\r\n", 1460);
        c.send(true, b"USER grace\r\n", 1460);
        c.send(false, b"331 Please specify the password.\r\n", 1460);
        c.send(true, format!("PASS {pw}\r\n").as_bytes(), 4);
        c.send(false, b"230 Login successful.\r\n", 1460);
        c.close();
        out.push(Capture {
            name: "sll2-ftp",
            link: LinkType::LinuxSll2,
            packets: c.packets,
            creds: vec![cred(Proto::Ftp, Some("grace"), Some(&pw))],
            tls: vec![],
        });
    }

    // Raw IP: POP3 and IMAP on non-standard ports, found by their greetings.
    {
        let (p1, p2) = (rng.secret(8), rng.secret(8));
        let mut c = Conn::open(
            Link::Raw,
            addr("10.0.0.8:41007"),
            addr("10.0.0.2:1110"),
            &mut rng,
            T0,
        );
        c.send(false, b"+OK POP3 ready\r\n", 1460);
        c.send(true, format!("USER heidi\r\nPASS {p1}\r\n").as_bytes(), 5);
        c.close();
        let mut packets = c.packets;
        let mut c = Conn::open(
            Link::Raw,
            addr("10.0.0.8:41008"),
            addr("10.0.0.2:1143"),
            &mut rng,
            T0 + 1_000_000,
        );
        c.send(false, b"* OK IMAP4rev1 ready\r\n", 1460);
        c.send(true, format!("a1 LOGIN ivan \"{p2}\"\r\n").as_bytes(), 1460);
        c.close();
        packets.extend(c.packets);
        out.push(Capture {
            name: "raw-pop3-imap",
            link: LinkType::Raw,
            packets,
            creds: vec![
                cred(Proto::Pop3, Some("heidi"), Some(&p1)),
                cred(Proto::Imap, Some("ivan"), Some(&p2)),
            ],
            tls: vec![],
        });
    }
    out
}
