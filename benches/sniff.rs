//! Engine throughput on generated traffic (no libpcap): link decoding,
//! reassembly and the parsers. `cargo bench --bench sniff`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

use tplab::sniff::Sniffer;
use tplab::testgen::pcap::{captures, login_post, Conn, Link, Rng};

/// Many HTTP logins with large-ish responses, plus every generated capture.
fn traffic() -> Vec<(tplab::sniff::LinkType, i64, Vec<u8>)> {
    let mut rng = Rng::new(99);
    let mut out = Vec::new();
    let body = vec![b'x'; 20_000];
    let mut resp =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    resp.extend_from_slice(&body);
    for i in 0..200u16 {
        let client = format!("10.2.{}.{}:{}", i / 250, i % 250 + 1, 40000 + i)
            .parse()
            .unwrap();
        let mut c = Conn::open(
            Link::Ethernet,
            client,
            "10.2.255.1:80".parse().unwrap(),
            &mut rng,
            i as i64 * 10_000,
        );
        let pw = rng.secret(10);
        c.send(true, &login_post("bench.lab", "user", &pw), 1460);
        c.send(false, &resp, 1460);
        c.close();
        out.extend(
            c.packets
                .into_iter()
                .map(|(t, p)| (tplab::sniff::LinkType::Ethernet, t, p)),
        );
    }
    for cap in captures(1) {
        out.extend(cap.packets.into_iter().map(|(t, p)| (cap.link, t, p)));
    }
    out
}

fn bench(c: &mut Criterion) {
    let pkts = traffic();
    let bytes: u64 = pkts.iter().map(|p| p.2.len() as u64).sum();
    let mut g = c.benchmark_group("sniff");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("feed", |b| {
        b.iter(|| {
            let mut sn = Sniffer::default();
            let mut n = 0;
            for (link, ts, p) in &pkts {
                n += sn.feed(*link, *ts, black_box(p)).len();
            }
            n += sn.finish().len();
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
