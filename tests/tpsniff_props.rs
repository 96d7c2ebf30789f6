//! Property tests: what reassembly delivers, and what the engine finds,
//! does not depend on how segments are cut, ordered or duplicated (within
//! what TCP allows: any order, any duplicate, retransmissions re-cut
//! across the original boundaries).

use proptest::prelude::*;

use tplab::sniff::finding::Finding;
use tplab::sniff::flow::HalfStream;
use tplab::sniff::proto::tls::build as tlsb;
use tplab::sniff::Sniffer;
use tplab::testgen::pcap::{login_post, Conn, Link, Rng, Seg};

/// Segments covering `data` (cut at `sizes`), plus `extra` ranges
/// retransmitted with other boundaries, in the order `order` gives.
fn scrambled(
    data: &[u8],
    isn: u32,
    sizes: &[usize],
    extra: &[(usize, usize)],
    order_seed: u64,
) -> Vec<(u32, Vec<u8>)> {
    let mut segs = Vec::new();
    let mut i = 0;
    let mut k = 0;
    while i < data.len() {
        let n = sizes[k % sizes.len()];
        k += 1;
        let end = (i + n).min(data.len());
        segs.push((isn.wrapping_add(1 + i as u32), data[i..end].to_vec()));
        i = end;
    }
    for &(a, len) in extra {
        let a = a % data.len();
        let end = (a + len).min(data.len());
        segs.push((isn.wrapping_add(1 + a as u32), data[a..end].to_vec()));
    }
    Rng::new(order_seed).shuffle(&mut segs);
    segs
}

proptest! {
    // 256 cases by default; PROPTEST_CASES=N for a longer run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn reassembly_gives_the_same_stream_for_any_order_and_duplication(
        data in proptest::collection::vec(any::<u8>(), 1..3000),
        isn in any::<u32>(),
        sizes in proptest::collection::vec(1usize..400, 1..8),
        extra in proptest::collection::vec((0usize..3000, 1usize..600), 0..12),
        order_seed in any::<u64>(),
    ) {
        let mut h = HalfStream::default();
        h.syn(isn);
        for (seq, p) in scrambled(&data, isn, &sizes, &extra, order_seed) {
            h.push(seq, &p, 1 << 20);
        }
        prop_assert_eq!(h.flush(), 0, "no gap: every byte was sent");
        prop_assert_eq!(&h.data, &data);
        prop_assert!(!h.gap);
    }

    #[test]
    fn findings_do_not_depend_on_segment_order_or_duplicates(
        seed in any::<u64>(),
        sizes in proptest::collection::vec(1usize..120, 1..6),
        dups in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
        order_seed in any::<u64>(),
    ) {
        let mut rng = Rng::new(seed);
        let pw = rng.secret(14);
        let mut packets = Vec::new();

        // An HTTP login and a TLS ClientHello, each client flight scrambled.
        let mut flights: Vec<(Conn, Vec<u8>)> = Vec::new();
        let http = Conn::open(Link::Ethernet, "10.1.0.1:40000".parse().unwrap(), "10.1.0.2:8080".parse().unwrap(), &mut rng, 1_000_000);
        flights.push((http, login_post("h", "zoe", &pw)));
        let tls = Conn::open(Link::Ethernet, "[2001:db8::1]:40001".parse().unwrap(), "[2001:db8::2]:443".parse().unwrap(), &mut rng, 1_000_000);
        flights.push((tls, tlsb::record(1, &tlsb::client_hello("prop.lab", &[0x0304, 0x0303], &["h2"]))));
        for (mut c, data) in flights {
            let mut segs: Vec<Seg> = c.segments(true, &data, &sizes);
            for d in &dups {
                let s = segs[d.index(segs.len())].clone();
                segs.push(s);
            }
            // Both FINs (the server closes its side first) may overtake
            // the client's data in the capture.
            segs.push(c.fin_seg(true));
            segs.push(c.fin_seg(false));
            Rng::new(order_seed).shuffle(&mut segs);
            c.emit(&segs);
            packets.extend(c.packets);
        }

        let mut sn = Sniffer::default();
        let mut found = Vec::new();
        for (ts, p) in &packets {
            found.extend(sn.feed(tplab::sniff::LinkType::Ethernet, *ts, p));
        }
        found.extend(sn.finish());
        let creds: Vec<_> = found.iter().filter_map(|f| match f {
            Finding::Credential(c) => Some((c.user.clone(), c.password.clone())),
            _ => None,
        }).collect();
        prop_assert_eq!(creds, vec![(Some(b"zoe".to_vec()), Some(pw.into_bytes()))]);
        let snis: Vec<_> = found.iter().filter_map(|f| match f {
            Finding::Tls(t) => Some(t.sni.clone()),
            _ => None,
        }).collect();
        prop_assert_eq!(snis, vec![Some("prop.lab".to_string())]);
        let sum = sn.summary();
        prop_assert!(sum.parse_errors.is_empty(), "{:?}", sum.parse_errors);
        prop_assert_eq!(sum.http_requests, 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    /// A poor man's fuzz run until `cargo fuzz` exists: generated captures
    /// with bytes flipped, packets cut short or fed as the wrong link type
    /// never panic, and every packet is counted.
    #[test]
    fn damaged_packets_are_counted_never_panic(
        seed in any::<u64>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<u8>()), 1..40),
        cut in any::<prop::sample::Index>(),
        wrong_link in 0usize..9,
    ) {
        let links = [
            tplab::sniff::LinkType::Ethernet, tplab::sniff::LinkType::Null, tplab::sniff::LinkType::Loop,
            tplab::sniff::LinkType::Raw, tplab::sniff::LinkType::Ipv4, tplab::sniff::LinkType::Ipv6,
            tplab::sniff::LinkType::LinuxSll, tplab::sniff::LinkType::LinuxSll2, tplab::sniff::LinkType::Ethernet,
        ];
        let mut sn = Sniffer::default();
        let mut n = 0u64;
        for cap in tplab::testgen::pcap::captures(seed) {
            let mut pkts = cap.packets.clone();
            for (p, at, v) in &flips {
                let pkt = &mut pkts[p.index(cap.packets.len())].1;
                let i = at.index(pkt.len());
                pkt[i] ^= v | 1;
            }
            let k = cut.index(pkts.len());
            let len = pkts[k].1.len();
            pkts[k].1.truncate(len / 2);
            let link = if wrong_link == 8 { cap.link } else { links[wrong_link] };
            for (ts, p) in &pkts {
                sn.feed(link, *ts, p);
                n += 1;
            }
        }
        sn.finish();
        prop_assert_eq!(sn.summary().packets, n);
    }
}
