//! The engine on generated traffic: bounds, orientation, repeats, STARTTLS.

use super::*;
use crate::testgen::pcap::{Conn, Link, Rng};

fn feed_all(sn: &mut Sniffer, packets: &[(i64, Vec<u8>)]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (ts, p) in packets {
        out.extend(sn.feed(LinkType::Ethernet, *ts, p));
    }
    out
}

#[test]
fn memory_bound_evicts_oldest_flows_and_counts_them() {
    let limits = Limits {
        max_total_bytes: 1500,
        ..Limits::default()
    };
    let mut sn = Sniffer::new(Config {
        limits,
        ..Config::default()
    });
    let mut rng = Rng::new(1);
    for i in 0..4u16 {
        let client = format!("10.9.0.{}:{}", i + 1, 40000 + i).parse().unwrap();
        let mut c = Conn::open(
            Link::Ethernet,
            client,
            "10.9.0.100:80".parse().unwrap(),
            &mut rng,
            i as i64 * 1000,
        );
        let mut segs = c.segments(true, &[b'A'; 1400], &[700]);
        segs.remove(0); // a gap that never fills: the second half waits
        c.emit(&segs);
        feed_all(&mut sn, &c.packets);
    }
    let s = sn.summary();
    assert!(s.flow.evicted_memory >= 2, "{:?}", s.flow);
    assert!(sn.open_flows() <= 2);
    assert_eq!(s.flow.out_of_order, 4);
}

#[test]
fn request_bodies_being_collected_count_against_the_memory_bound() {
    let limits = Limits {
        max_total_bytes: 10_000,
        ..Limits::default()
    };
    let mut sn = Sniffer::new(Config {
        limits,
        ..Config::default()
    });
    let mut rng = Rng::new(3);
    for i in 0..2u16 {
        let client = format!("10.9.2.{}:{}", i + 1, 40000 + i).parse().unwrap();
        let mut c = Conn::open(
            Link::Ethernet,
            client,
            "10.9.2.100:80".parse().unwrap(),
            &mut rng,
            0,
        );
        c.send(
            true,
            b"POST / HTTP/1.1\r\nContent-Length: 8000\r\n\r\n",
            1460,
        );
        c.send(true, &[b'x'; 6000], 1460);
        feed_all(&mut sn, &c.packets);
    }
    // In order, so reassembly holds nothing: the bodies are the parser's.
    assert_eq!(sn.summary().flow.out_of_order, 0);
    assert_eq!(sn.summary().flow.evicted_memory, 1);
}

#[test]
fn ends_guessed_wrong_from_ports_are_swapped_by_content() {
    // No handshake in the capture and the client's port is the lower.
    let mut rng = Rng::new(4);
    let client = "10.9.3.1:1000".parse().unwrap();
    let server = "10.9.3.2:8080".parse().unwrap();
    let mut c = Conn::open(Link::Ethernet, client, server, &mut rng, 0);
    c.packets.clear();
    // The response's first segment is captured before the request.
    let resp = c.segments(
        false,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        &[1460],
    );
    c.emit(&resp);
    c.send(
        true,
        &crate::testgen::pcap::login_post("h", "amy", "pw1"),
        1460,
    );
    let mut sn = Sniffer::default();
    let mut found = feed_all(&mut sn, &c.packets);
    found.extend(sn.finish());
    match &found[..] {
        [Finding::Credential(cr)] => {
            assert_eq!((cr.client, cr.server), (client, server));
            assert_eq!(cr.password.as_deref(), Some(&b"pw1"[..]));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn repeats_are_counted_not_reported_unless_asked() {
    let mut rng = Rng::new(2);
    let mut packets = Vec::new();
    for i in 0..3u16 {
        let client = format!("10.9.1.1:{}", 40000 + i).parse().unwrap();
        let mut c = Conn::open(
            Link::Ethernet,
            client,
            "10.9.1.2:21".parse().unwrap(),
            &mut rng,
            i as i64 * 1000,
        );
        c.send(false, b"220 ftp\r\n", 1460);
        c.send(true, b"USER a\r\nPASS b\r\n", 1460);
        c.close();
        packets.extend(c.packets);
    }
    let mut sn = Sniffer::default();
    assert_eq!(feed_all(&mut sn, &packets).len(), 1);
    assert_eq!(
        (sn.summary().credentials, sn.summary().credential_sightings),
        (1, 3)
    );
    let mut sn = Sniffer::new(Config {
        dedup: false,
        ..Config::default()
    });
    assert_eq!(feed_all(&mut sn, &packets).len(), 3);
}

#[test]
fn starttls_reports_the_login_before_and_the_tls_session_after() {
    use crate::sniff::proto::tls::build as tlsb;
    let mut rng = Rng::new(5);
    let mut packets = Vec::new();
    for (port, greeting, login, starttls) in [
        (
            25u16,
            &b"220 mail ESMTP\r\n"[..],
            &b"EHLO x\r\nAUTH PLAIN AGFteQBwdzE=\r\n"[..],
            &b"STARTTLS\r\n"[..],
        ),
        (
            143,
            b"* OK IMAP4rev1\r\n",
            b"a1 LOGIN amy pw1\r\n",
            b"a2 STARTTLS\r\n",
        ),
        (
            110,
            b"+OK POP3 ready\r\n",
            b"USER amy\r\nPASS pw1\r\n",
            b"STLS\r\n",
        ),
        // A refused AUTH SSL first (a client that goes on in clear when
        // refused, as curl --ssl does), then the login, then AUTH TLS.
        (
            21,
            b"220 (vsFTPd 3.0.3)\r\n",
            b"AUTH SSL\r\nUSER amy\r\nPASS pw1\r\n",
            b"AUTH TLS\r\n",
        ),
    ] {
        let client = format!("10.9.4.1:{}", 40000 + port).parse().unwrap();
        let server = format!("10.9.4.2:{port}").parse().unwrap();
        let mut c = Conn::open(Link::Ethernet, client, server, &mut rng, 0);
        c.send(false, greeting, 1460);
        c.send(true, login, 1460);
        c.send(true, starttls, 1460);
        c.send(false, b"220 go ahead\r\n", 1460);
        let sni = format!("mail{port}.lab");
        c.send(
            true,
            &tlsb::record(1, &tlsb::client_hello(&sni, &[0x0304], &[])),
            1460,
        );
        c.send(
            false,
            &tlsb::record(2, &tlsb::server_hello(0x0304, None)),
            1460,
        );
        c.close();
        packets.extend(c.packets);
    }
    let mut sn = Sniffer::default();
    let mut found = feed_all(&mut sn, &packets);
    found.extend(sn.finish());
    let creds: Vec<_> = found
        .iter()
        .filter_map(|f| match f {
            Finding::Credential(c) => Some((c.proto, c.password.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        creds,
        vec![
            (Proto::Smtp, Some(b"pw1".to_vec())),
            (Proto::Imap, Some(b"pw1".to_vec())),
            (Proto::Pop3, Some(b"pw1".to_vec())),
            (Proto::Ftp, Some(b"pw1".to_vec()))
        ]
    );
    let tls: Vec<_> = found
        .iter()
        .filter_map(|f| match f {
            Finding::Tls(t) => Some((t.sni.clone().unwrap(), t.chosen)),
            _ => None,
        })
        .collect();
    assert_eq!(
        tls,
        vec![
            ("mail25.lab".to_string(), Some(0x0304)),
            ("mail143.lab".to_string(), Some(0x0304)),
            ("mail110.lab".to_string(), Some(0x0304)),
            ("mail21.lab".to_string(), Some(0x0304))
        ]
    );
    assert_eq!(sn.summary().parse_errors, BTreeMap::new());
}

#[test]
fn garbage_packets_are_counted_never_fatal() {
    let mut sn = Sniffer::default();
    assert!(sn.feed(LinkType::Ethernet, 0, &[1, 2, 3]).is_empty());
    assert!(sn.feed(LinkType::Raw, 0, &[0x45, 0, 0, 0]).is_empty());
    assert!(sn.feed(LinkType::LinuxSll, 0, &[0; 16]).is_empty());
    let s = sn.summary();
    assert_eq!(s.packets, 3);
    assert_eq!(s.bad_packets.values().sum::<u64>(), 2);
    assert_eq!(s.other_packets, 1);
}

/// Cuts a raw IPv4 or IPv6 packet into fragments of at most `piece`
/// payload bytes (a multiple of 8), identification `id`.
fn fragment(ip: &[u8], piece: usize, id: u32) -> Vec<Vec<u8>> {
    let v6 = ip[0] >> 4 == 6;
    let hl = if v6 { 40 } else { usize::from(ip[0] & 15) * 4 };
    let payload = &ip[hl..];
    payload
        .chunks(piece)
        .enumerate()
        .map(|(i, chunk)| {
            let off = i * piece;
            let more = off + chunk.len() < payload.len();
            let mut p = ip[..hl].to_vec();
            if v6 {
                p[4..6].copy_from_slice(&((8 + chunk.len()) as u16).to_be_bytes());
                let next = p[6];
                p[6] = 44;
                p.extend_from_slice(&[next, 0]);
                p.extend_from_slice(&(((off / 8) as u16) << 3 | more as u16).to_be_bytes());
                p.extend_from_slice(&id.to_be_bytes());
            } else {
                p[2..4].copy_from_slice(&((hl + chunk.len()) as u16).to_be_bytes());
                p[4..6].copy_from_slice(&(id as u16).to_be_bytes());
                let fo = (off / 8) as u16 | if more { 0x2000 } else { 0 };
                p[6..8].copy_from_slice(&fo.to_be_bytes());
            }
            p.extend_from_slice(chunk);
            p
        })
        .collect()
}

#[test]
fn a_login_in_fragmented_tcp_is_found_in_any_fragment_order() {
    for (server, reverse) in [
        ("10.9.5.2:80", false),
        ("10.9.5.2:80", true),
        ("[2001:db8::2]:80", true),
    ] {
        let client = if server.starts_with('[') {
            "[2001:db8::1]:40000"
        } else {
            "10.9.5.1:40000"
        };
        let mut c = Conn::open(
            Link::Raw,
            client.parse().unwrap(),
            server.parse().unwrap(),
            &mut Rng::new(5),
            0,
        );
        // A big body: the segment is 3 kB, fragments of 552 bytes.
        let body = format!("user=fraguser&password=Fr4g-pass&pad={}", "z".repeat(2500));
        let text = format!(
            "POST /login HTTP/1.1\r\nHost: frag.lab\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        c.send(true, text.as_bytes(), 4000);
        c.close();
        let mut packets = Vec::new();
        for (i, (ts, p)) in c.packets.iter().enumerate() {
            if p.len() < 1000 {
                packets.push((*ts, p.clone()));
                continue;
            }
            let mut frags = fragment(p, 552, 0x100 + i as u32);
            assert!(frags.len() >= 5, "{}", frags.len());
            if reverse {
                frags.reverse();
            }
            packets.extend(frags.into_iter().map(|f| (*ts, f)));
        }
        let mut sn = Sniffer::default();
        let mut out = Vec::new();
        for (ts, p) in &packets {
            out.extend(sn.feed(LinkType::Raw, *ts, p));
        }
        out.extend(sn.finish());
        let creds: Vec<_> = out
            .iter()
            .filter_map(|f| match f {
                Finding::Credential(c) => Some((c.user.clone(), c.password.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            creds,
            vec![(Some(b"fraguser".to_vec()), Some(b"Fr4g-pass".to_vec()))],
            "{server} reversed={reverse}"
        );
        let s = sn.summary();
        assert_eq!(s.ipfrag.reassembled, 1);
        assert_eq!(s.fragments, s.ipfrag.fragments);
        assert!(s.fragments >= 5);
        assert_eq!(s.bad_packets, BTreeMap::new());
    }
}

#[test]
fn snmp_in_fragmented_udp_and_what_is_dropped_is_counted() {
    // An SNMP v2c get-request whose community is 3000 bytes long.
    let community = "c".repeat(3000);
    let pdu = b"\xa0\x1c\x02\x04\x12\x34\x56\x78\x02\x01\x00\x02\x01\x00\x30\x0e\x30\x0c\x06\x08\x2b\x06\x01\x02\x01\x01\x01\x00\x05\x00";
    let mut inner = b"\x02\x01\x01\x04\x82".to_vec();
    inner.extend_from_slice(&(community.len() as u16).to_be_bytes());
    inner.extend_from_slice(community.as_bytes());
    inner.extend_from_slice(pdu);
    let mut msg = b"\x30\x82".to_vec();
    msg.extend_from_slice(&(inner.len() as u16).to_be_bytes());
    msg.extend_from_slice(&inner);
    let mut sn = Sniffer::default();
    for (n, (src, dst)) in [
        ([10, 9, 6, 1], [10, 9, 6, 2]),
        ([10, 9, 6, 3], [10, 9, 6, 2]),
    ]
    .into_iter()
    .enumerate()
    {
        let mut ip = Vec::new();
        etherparse::PacketBuilder::ipv4(src, dst, 64)
            .udp(40000, 161)
            .write(&mut ip, &msg)
            .unwrap();
        let mut frags = fragment(&ip, 1480, 7);
        if n == 1 {
            // The second one's middle piece is lost: it times out.
            frags.remove(1);
        }
        for f in &frags {
            let out = sn.feed(LinkType::Raw, n as i64, f);
            for f in out {
                let Finding::Credential(c) = f else { panic!() };
                assert_eq!(c.password.as_deref(), Some(community.as_bytes()));
                assert_eq!(c.proto, Proto::Snmp);
            }
        }
    }
    // The same datagram in IPv6, with an overlapping piece: dropped.
    let mut ip = Vec::new();
    etherparse::PacketBuilder::ipv6([0x20; 16], [0x21; 16], 64)
        .udp(40000, 161)
        .write(&mut ip, &msg)
        .unwrap();
    let mut frags = fragment(&ip, 1232, 9);
    // 0..1240 overlaps the second piece (1232..2464).
    let overlap = fragment(&ip, 1240, 9).remove(0);
    frags.insert(1, overlap);
    for f in &frags {
        assert!(sn.feed(LinkType::Raw, 2, f).is_empty());
    }
    // 31 s later: the incomplete IPv4 datagram has timed out.
    assert!(sn
        .feed(LinkType::Raw, 31_000_000, &[0x45, 0, 0, 20])
        .is_empty());
    let s = sn.summary();
    assert_eq!(s.credentials, 1);
    assert_eq!(s.ipfrag.reassembled, 1);
    assert_eq!(s.ipfrag.fragments, 3 + 2 + 4);
    assert_eq!(s.ipfrag.dropped_timeout, 2);
    assert_eq!(s.ipfrag.dropped_overlap, 4);
    assert_eq!(s.flows_by_proto.get("snmp"), Some(&1));
    let text = crate::sniff::report::text_summary(&s);
    assert!(
        text.contains("ip fragments: 9 (1 datagrams reassembled; 0 duplicates ignored; dropped: 2 timeout, 4 overlap, 0 memory limit, 0 invalid, 0 incomplete at end)"),
        "{text}"
    );
    let json = String::from_utf8(crate::sniff::report::json_summary(&s, None)).unwrap();
    assert!(
        json.contains("\"ipfrag\":{\"fragments\":9,\"reassembled\":1,"),
        "{json}"
    );
}

#[test]
fn radius_requests_go_by_content_their_sender_is_the_client_and_bad_ones_count() {
    let auth = [0x5a; 16];
    let key = proto::md5::md5(&[b"s3cret", &auth]);
    let mut hidden = *b"pw-pap\0\0\0\0\0\0\0\0\0\0";
    for (c, k) in hidden.iter_mut().zip(key) {
        *c ^= k;
    }
    let mut pkt = vec![1, 9, 0, 0];
    pkt.extend(auth);
    pkt.extend([1, 7]);
    pkt.extend(b"alice");
    pkt.extend([2, 18]);
    pkt.extend(hidden);
    let n = pkt.len() as u16;
    pkt[2..4].copy_from_slice(&n.to_be_bytes());
    let mut sn = Sniffer::new(Config {
        radius_secret: Some(b"s3cret".to_vec()),
        ..Config::default()
    });
    // The client's port is the lower one: by ports it would be the server.
    let udp = |payload: &[u8]| {
        let mut ip = Vec::new();
        etherparse::PacketBuilder::ipv4([10, 9, 7, 1], [10, 9, 7, 2], 64)
            .udp(1000, 41812)
            .write(&mut ip, payload)
            .unwrap();
        ip
    };
    let reply = |payload: &[u8]| {
        let mut ip = Vec::new();
        etherparse::PacketBuilder::ipv4([10, 9, 7, 2], [10, 9, 7, 1], 64)
            .udp(41812, 1000)
            .write(&mut ip, payload)
            .unwrap();
        ip
    };
    // Held until the reply: an Access-Reject with the request's
    // Identifier, signed with the secret.
    assert!(sn.feed(LinkType::Raw, 1, &udp(&pkt)).is_empty());
    let mut reject = vec![3, 9, 0, 20];
    reject.extend(proto::md5::md5(&[&reject, &auth, b"s3cret"]));
    let out = sn.feed(LinkType::Raw, 5, &reply(&reject));
    let [Finding::Credential(c)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(c.proto, Proto::Radius);
    assert_eq!(c.user.as_deref(), Some(&b"alice"[..]));
    assert_eq!(c.password.as_deref(), Some(&b"pw-pap"[..]));
    assert_eq!(c.detail.as_deref(), Some("Access-Request PAP, rejected"));
    assert_eq!(c.ts, 1, "the request's time");
    assert_eq!(c.client, "10.9.7.1:1000".parse().unwrap());
    assert_eq!(c.server, "10.9.7.2:41812".parse().unwrap());
    // Another request (Identifier 10) never answered: at the end.
    let mut again = pkt.clone();
    again[1] = 10;
    again[4] ^= 1;
    assert!(sn.feed(LinkType::Raw, 6, &udp(&again)).is_empty());
    // A User-Password that is not whole blocks, on the same flow.
    let mut bad = pkt.clone();
    bad[28] = 17;
    bad.truncate(bad.len() - 1);
    bad[3] -= 1;
    assert!(sn.feed(LinkType::Raw, 7, &udp(&bad)).is_empty());
    let out = sn.finish();
    let [Finding::Credential(c)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(
        c.detail.as_deref(),
        Some("Access-Request PAP, (reply not seen)")
    );
    assert_eq!(c.ts, 6);
    let s = sn.summary();
    assert_eq!(s.flows_by_proto.get("radius"), Some(&1));
    assert_eq!(
        s.parse_errors
            .get("radius: User-Password not a multiple of 16 bytes"),
        Some(&1)
    );
}

#[test]
fn a_login_whose_verdict_never_came_is_reported_when_its_flow_closes() {
    // PostgreSQL cleartext logins: one the server accepts, one whose
    // connection closes after the password, before any answer.
    let msg = |ty: u8, body: &[u8]| {
        let mut m = vec![ty];
        m.extend(((body.len() + 4) as u32).to_be_bytes());
        m.extend(body);
        m
    };
    let mut startup = 0x0003_0000u32.to_be_bytes().to_vec();
    startup.extend(b"user\0amy\0database\0shop\0\0");
    let mut s = ((startup.len() + 4) as u32).to_be_bytes().to_vec();
    s.extend(startup);
    let startup = s;
    let mut rng = Rng::new(9);
    let mut packets = Vec::new();
    for (port, password, verdict) in [
        (40001u16, &b"pw-ok\0"[..], true),
        (40002, b"pw-cut\0", false),
    ] {
        let client = format!("10.9.8.1:{port}").parse().unwrap();
        let server = "10.9.8.2:5432".parse().unwrap();
        let mut c = Conn::open(Link::Ethernet, client, server, &mut rng, 0);
        c.send(true, &startup, 1460);
        c.send(false, &msg(b'R', &3u32.to_be_bytes()), 1460);
        c.send(true, &msg(b'p', password), 1460);
        if verdict {
            c.send(false, &msg(b'R', &0u32.to_be_bytes()), 1460);
        }
        c.close();
        packets.extend(c.packets);
    }
    let mut sn = Sniffer::default();
    let found = feed_all(&mut sn, &packets);
    assert!(
        sn.finish().is_empty(),
        "both reported as their flows closed"
    );
    let details: Vec<_> = found
        .iter()
        .filter_map(|f| match f {
            Finding::Credential(c) => {
                Some((c.password.clone().unwrap(), c.detail.clone().unwrap()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        details,
        vec![
            (
                b"pw-ok".to_vec(),
                "cleartext password, database shop, accepted".to_string()
            ),
            (
                b"pw-cut".to_vec(),
                "cleartext password, database shop, (result not seen)".to_string()
            ),
        ]
    );
}
