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
            (Proto::Imap, Some(b"pw1".to_vec()))
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
            ("mail143.lab".to_string(), Some(0x0304))
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
