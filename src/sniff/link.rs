//! Link layers → IP → TCP segment, with etherparse's lax slicing so that
//! segmentation-offload packets (IPv4 total length 0) and packets the snap
//! length cut short are decoded as far as they go.

use std::net::{IpAddr, SocketAddr};

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TcpSlice, TransportSlice, UdpSlice};

use super::flow::frag::{self, Fragment};

/// The link types tpsniff decodes (pcap `LINKTYPE_*` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// 1: Ethernet II, with up to three stacked 802.1Q/802.1ad tags.
    Ethernet,
    /// 0: BSD loopback, address family in host byte order.
    Null,
    /// 108: OpenBSD loopback, address family in network byte order.
    Loop,
    /// 101 (and DLT_RAW 12/14): raw IPv4 or IPv6.
    Raw,
    /// 228: raw IPv4 only.
    Ipv4,
    /// 229: raw IPv6 only.
    Ipv6,
    /// 113: Linux cooked capture v1.
    LinuxSll,
    /// 276: Linux cooked capture v2 (`tcpdump -i any`).
    LinuxSll2,
}

impl LinkType {
    /// Maps a pcap link-type number; `None` when tpsniff cannot decode it.
    pub fn from_pcap(linktype: i32) -> Option<LinkType> {
        Some(match linktype {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            12 | 14 | 101 => LinkType::Raw,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            276 => LinkType::LinuxSll2,
            _ => return None,
        })
    }

    /// The pcap link-type number (the canonical one for `Raw`).
    pub fn to_pcap(self) -> i32 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            LinkType::Raw => 101,
            LinkType::Loop => 108,
            LinkType::LinuxSll => 113,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::LinuxSll2 => 276,
        }
    }
}

/// Why a packet could not be decoded (counted, never fatal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("link header truncated")]
    LinkTruncated,
    #[error("IP header malformed or truncated")]
    BadIp,
    #[error("TCP header malformed or truncated")]
    BadTcp,
    #[error("UDP header malformed or truncated")]
    BadUdp,
}

/// One decoded TCP segment; the payload borrows the packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
    pub payload: &'a [u8],
    /// The capture holds less than the IP header announced (snap length).
    pub truncated: bool,
    /// The payload length on the wire (more than `payload.len()` when
    /// truncated): the sequence space the segment covers.
    pub wire_len: usize,
}

/// One decoded UDP datagram; the payload borrows the packet.
#[derive(Debug, Clone)]
pub struct UdpDatagram<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub payload: &'a [u8],
    /// The capture holds less than the IP header announced (snap length).
    pub truncated: bool,
}

/// What a packet turned out to be.
#[derive(Debug, Clone)]
pub enum Decoded<'a> {
    Tcp(TcpSegment<'a>),
    Udp(UdpDatagram<'a>),
    /// A fragment of a fragmented IP datagram, to be reassembled.
    Fragment(Fragment<'a>),
    /// Anything else: ARP, ICMP, other ether types.
    Other,
}

/// Decodes one packet of the given link type.
pub fn decode(link: LinkType, data: &[u8]) -> Result<Decoded<'_>, LinkError> {
    let ip = match link {
        LinkType::Ethernet if data.get(12..14) == Some(&[0x08, 0x00]) => data.get(14..),
        LinkType::Raw | LinkType::Ipv4 => Some(data),
        _ => None,
    };
    if let Some(seg) = ip.and_then(plain_v4_tcp) {
        return Ok(Decoded::Tcp(seg));
    }
    let sliced = match link {
        LinkType::Ethernet => {
            LaxSlicedPacket::from_ethernet(data).map_err(|_| LinkError::LinkTruncated)?
        }
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => {
            LaxSlicedPacket::from_ip(data).map_err(|_| LinkError::BadIp)?
        }
        LinkType::Null | LinkType::Loop => {
            let fam: [u8; 4] = data
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or(LinkError::LinkTruncated)?;
            // NULL is host byte order of the writer: accept both orders.
            let fam = if link == LinkType::Loop {
                u32::from_be_bytes(fam)
            } else {
                let le = u32::from_le_bytes(fam);
                if le < 0x10000 {
                    le
                } else {
                    u32::from_be_bytes(fam)
                }
            };
            match fam {
                2 => from_ether_type(EtherType::IPV4, &data[4..]),
                24 | 28 | 30 => from_ether_type(EtherType::IPV6, &data[4..]),
                _ => return Ok(Decoded::Other),
            }
        }
        LinkType::LinuxSll => {
            if data.len() < 16 {
                return Err(LinkError::LinkTruncated);
            }
            let arphrd = u16::from_be_bytes([data[2], data[3]]);
            let proto = u16::from_be_bytes([data[14], data[15]]);
            sll_payload(arphrd, proto, &data[16..])
        }
        LinkType::LinuxSll2 => {
            if data.len() < 20 {
                return Err(LinkError::LinkTruncated);
            }
            let proto = u16::from_be_bytes([data[0], data[1]]);
            let arphrd = u16::from_be_bytes([data[8], data[9]]);
            sll_payload(arphrd, proto, &data[20..])
        }
    };
    from_sliced(data, sliced)
}

/// The common case read directly: IPv4 without fragmentation, a total
/// length the capture holds whole, TCP in it with a sane header. Anything
/// else (`None`) goes through etherparse, which gives the same answer on
/// what this accepts (tested against it).
fn plain_v4_tcp(ip: &[u8]) -> Option<TcpSegment<'_>> {
    let ihl = match *ip.first()? {
        b @ 0x45..=0x4f => (b & 0x0f) as usize * 4,
        _ => return None,
    };
    let total = u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]) as usize;
    if ip.len() < ihl.max(20)
        || total < ihl + 20
        || total > ip.len()
        || ip[9] != 6
        || u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0
    {
        return None;
    }
    let tcp = &ip[ihl..total];
    let doff = (tcp[12] >> 4) as usize * 4;
    if doff < 20 || doff > tcp.len() {
        return None;
    }
    let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let src = std::net::Ipv4Addr::from(be32(&ip[12..16]));
    let dst = std::net::Ipv4Addr::from(be32(&ip[16..20]));
    let flags = tcp[13];
    let payload = &tcp[doff..];
    Some(TcpSegment {
        src: SocketAddr::new(IpAddr::V4(src), u16::from_be_bytes([tcp[0], tcp[1]])),
        dst: SocketAddr::new(IpAddr::V4(dst), u16::from_be_bytes([tcp[2], tcp[3]])),
        seq: be32(&tcp[4..8]),
        syn: flags & 0x02 != 0,
        ack: flags & 0x10 != 0,
        fin: flags & 0x01 != 0,
        rst: flags & 0x04 != 0,
        payload,
        truncated: false,
        wire_len: payload.len(),
    })
}

fn from_ether_type(et: EtherType, data: &[u8]) -> LaxSlicedPacket<'_> {
    LaxSlicedPacket::from_ether_type(et, data)
}

/// SLL/SLL2 carry an ether type, except for a few ARPHRD types; the ones
/// that carry IP (tunnels: ARPHRD_IPGRE 778, ARPHRD_NONE 0xfffe) still put
/// an ether type in the protocol field, so the field is used as is.
fn sll_payload(_arphrd: u16, proto: u16, data: &[u8]) -> LaxSlicedPacket<'_> {
    from_ether_type(EtherType(proto), data)
}

fn from_sliced<'a>(data: &'a [u8], p: LaxSlicedPacket<'a>) -> Result<Decoded<'a>, LinkError> {
    let Some(net) = &p.net else {
        return match p.stop_err {
            Some((_, layer)) if is_ip_layer(layer) => Err(LinkError::BadIp),
            Some((_, etherparse::err::Layer::VlanHeader)) => Err(LinkError::LinkTruncated),
            _ => Ok(Decoded::Other),
        };
    };
    // `missing`: bytes the IP header announces that the capture lacks.
    let (src, dst, payload, missing, ip_at) = match net {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            let ip_at = h.slice().as_ptr() as usize - data.as_ptr() as usize;
            let auth = v4.extensions().auth.map_or(0, |a| a.slice().len());
            let present = h.slice().len() + auth + v4.payload().payload.len();
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                v4.payload(),
                (h.total_len() as usize).saturating_sub(present),
                ip_at,
            )
        }
        LaxNetSlice::Ipv6(v6) => {
            let h = v6.header();
            let ip_at = h.slice().as_ptr() as usize - data.as_ptr() as usize;
            let present = v6.extensions().slice().len() + v6.payload().payload.len();
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                v6.payload(),
                (h.payload_length() as usize).saturating_sub(present),
                ip_at,
            )
        }
        LaxNetSlice::Arp(_) => return Ok(Decoded::Other),
    };
    if payload.fragmented {
        // Any protocol: the reassembled datagram says what it carries.
        return match data.get(ip_at..).map(frag::parse) {
            Some(Ok(Some(f))) => Ok(Decoded::Fragment(f)),
            Some(Ok(None)) => Ok(Decoded::Other),
            _ => Err(LinkError::BadIp),
        };
    }
    let udp = payload.ip_number == etherparse::IpNumber::UDP;
    if payload.ip_number != etherparse::IpNumber::TCP && !udp {
        return Ok(Decoded::Other);
    }
    if udp {
        return match &p.transport {
            Some(TransportSlice::Udp(u)) => Ok(Decoded::Udp(UdpDatagram {
                src: SocketAddr::new(src, u.source_port()),
                dst: SocketAddr::new(dst, u.destination_port()),
                payload: u.payload(),
                truncated: payload.incomplete,
            })),
            _ => Err(LinkError::BadUdp),
        };
    }
    match &p.transport {
        Some(TransportSlice::Tcp(tcp)) => Ok(Decoded::Tcp(TcpSegment {
            src: SocketAddr::new(src, tcp.source_port()),
            dst: SocketAddr::new(dst, tcp.destination_port()),
            seq: tcp.sequence_number(),
            syn: tcp.syn(),
            ack: tcp.ack(),
            fin: tcp.fin(),
            rst: tcp.rst(),
            payload: tcp.payload(),
            truncated: payload.incomplete,
            wire_len: tcp.payload().len() + if payload.incomplete { missing } else { 0 },
        })),
        _ => Err(LinkError::BadTcp),
    }
}

/// The TCP segment or UDP datagram a reassembled IP datagram carries
/// (after the IPv6 extension headers that open it).
pub fn transport(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    payload: &[u8],
) -> Result<Decoded<'_>, LinkError> {
    let (proto, payload) = frag::skip_v6_extensions(src.is_ipv6(), proto, payload);
    match proto {
        6 => {
            let tcp = TcpSlice::from_slice(payload).map_err(|_| LinkError::BadTcp)?;
            Ok(Decoded::Tcp(TcpSegment {
                src: SocketAddr::new(src, tcp.source_port()),
                dst: SocketAddr::new(dst, tcp.destination_port()),
                seq: tcp.sequence_number(),
                syn: tcp.syn(),
                ack: tcp.ack(),
                fin: tcp.fin(),
                rst: tcp.rst(),
                payload: tcp.payload(),
                truncated: false,
                wire_len: tcp.payload().len(),
            }))
        }
        17 => {
            let u = UdpSlice::from_slice(payload).map_err(|_| LinkError::BadUdp)?;
            Ok(Decoded::Udp(UdpDatagram {
                src: SocketAddr::new(src, u.source_port()),
                dst: SocketAddr::new(dst, u.destination_port()),
                payload: u.payload(),
                truncated: false,
            }))
        }
        _ => Ok(Decoded::Other),
    }
}

fn is_ip_layer(layer: etherparse::err::Layer) -> bool {
    use etherparse::err::Layer as L;
    matches!(
        layer,
        L::IpHeader
            | L::Ipv4Header
            | L::Ipv6Header
            | L::Ipv4Packet
            | L::Ipv6Packet
            | L::IpAuthHeader
            | L::Ipv6ExtHeader
            | L::Ipv6HopByHopHeader
            | L::Ipv6DestOptionsHeader
            | L::Ipv6RouteHeader
            | L::Ipv6FragHeader
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn tcp_v4(payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 80, 1000, 64000);
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    fn seg(d: Result<Decoded<'_>, LinkError>) -> TcpSegment<'_> {
        match d {
            Ok(Decoded::Tcp(s)) => s,
            other => panic!("not tcp: {other:?}"),
        }
    }

    #[test]
    fn ethernet_ipv4_tcp_is_decoded() {
        let p = tcp_v4(b"hello");
        let s = seg(decode(LinkType::Ethernet, &p));
        assert_eq!(s.src.to_string(), "10.0.0.1:40000");
        assert_eq!(s.dst.to_string(), "10.0.0.2:80");
        assert_eq!(s.seq, 1000);
        assert_eq!(s.payload, b"hello");
        assert!(!s.truncated);
    }

    #[test]
    fn zero_total_length_is_decoded_from_the_slice() {
        let mut p = tcp_v4(b"offloaded payload");
        // IPv4 total length field at ethernet(14) + 2.
        p[16] = 0;
        p[17] = 0;
        let s = seg(decode(LinkType::Ethernet, &p));
        assert_eq!(s.payload, b"offloaded payload");
    }

    #[test]
    fn snap_cut_packet_is_marked_truncated() {
        let p = tcp_v4(b"0123456789");
        let s = seg(decode(LinkType::Ethernet, &p[..p.len() - 4]));
        assert_eq!(s.payload, b"012345");
        assert!(s.truncated);
        assert_eq!(s.wire_len, 10);
    }

    #[test]
    fn stacked_vlans_and_sll2_and_null() {
        let b = PacketBuilder::ethernet2([1; 6], [2; 6])
            .double_vlan(
                etherparse::VlanId::try_new(10).unwrap(),
                etherparse::VlanId::try_new(20).unwrap(),
            )
            .ipv6([1; 16], [2; 16], 64)
            .tcp(1, 2, 3, 4);
        let mut p = Vec::new();
        b.write(&mut p, b"x").unwrap();
        let s = seg(decode(LinkType::Ethernet, &p));
        assert_eq!(s.payload, b"x");
        assert!(s.src.is_ipv6());

        // The same IPv6 packet behind SLL2 and NULL headers.
        let ip = &p[14 + 8..];
        let mut sll2 = vec![
            0x86, 0xdd, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0,
        ];
        sll2.extend_from_slice(ip);
        assert_eq!(seg(decode(LinkType::LinuxSll2, &sll2)).payload, b"x");
        let mut null = 30u32.to_le_bytes().to_vec();
        null.extend_from_slice(ip);
        assert_eq!(seg(decode(LinkType::Null, &null)).payload, b"x");
        assert_eq!(seg(decode(LinkType::Raw, ip)).payload, b"x");
        assert!(matches!(
            decode(LinkType::LinuxSll2, &sll2[..10]),
            Err(LinkError::LinkTruncated)
        ));
    }

    /// What etherparse alone makes of a packet (the path before the
    /// direct IPv4/TCP read).
    fn sliced(link: LinkType, p: &[u8]) -> Result<Decoded<'_>, LinkError> {
        let s = match link {
            LinkType::Ethernet => {
                LaxSlicedPacket::from_ethernet(p).map_err(|_| LinkError::LinkTruncated)?
            }
            _ => LaxSlicedPacket::from_ip(p).map_err(|_| LinkError::BadIp)?,
        };
        from_sliced(p, s)
    }

    #[test]
    fn direct_ipv4_tcp_read_agrees_with_etherparse() {
        let mut rng = crate::testgen::pcap::Rng::new(3);
        let mut direct = 0;
        for i in 0..20_000 {
            let payload = vec![b'x'; rng.below(80)];
            let mut p = tcp_v4(&payload);
            // Flags, options-free headers, and mutations of the fields the
            // direct read checks: version/IHL, total length, fragment
            // bits, protocol, data offset; padding and cuts.
            p[14 + 20 + 13] = rng.below(256) as u8;
            for _ in 0..rng.below(3) {
                let at = [14, 16, 17, 20, 21, 23, 14 + 20 + 12][rng.below(7)];
                p[at] = rng.below(256) as u8;
            }
            match i % 4 {
                0 => p.extend_from_slice(&[0; 6]),
                1 => p.truncate(rng.below(p.len() + 1)),
                _ => {}
            }
            for (link, bytes) in [
                (LinkType::Ethernet, &p[..]),
                (LinkType::Raw, p.get(14..).unwrap_or(&[])),
            ] {
                let ip = match link {
                    LinkType::Ethernet => bytes.get(14..).unwrap_or(&[]),
                    _ => bytes,
                };
                if let Some(seg) = plain_v4_tcp(ip) {
                    direct += 1;
                    match sliced(link, bytes) {
                        Ok(Decoded::Tcp(s)) => assert_eq!(s, seg, "{bytes:02x?}"),
                        other => panic!("etherparse: {other:?} for {bytes:02x?}"),
                    }
                }
                assert_eq!(
                    format!("{:?}", decode(link, bytes)),
                    format!("{:?}", sliced(link, bytes))
                );
            }
        }
        assert!(direct > 10_000, "the direct read took {direct}");
    }

    #[test]
    fn garbage_ip_is_an_error_not_a_panic() {
        assert_eq!(
            decode(LinkType::Raw, &[0x45, 0, 0]).unwrap_err(),
            LinkError::BadIp
        );
        let mut p = tcp_v4(b"");
        p.truncate(14 + 20 + 5); // TCP header cut
        assert!(decode(LinkType::Ethernet, &p).is_err());
        assert!(LinkType::from_pcap(147).is_none());
    }
}
