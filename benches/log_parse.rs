//! The line parser on a realistic mix (generated log: IPv4/IPv6, `-`
//! requests, escaped quotes, a few malformed lines), in bytes/s.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tplab::log::parse::parse_line;
use tplab::testgen::log::{write_log, GenOpts};

fn parse(c: &mut Criterion) {
    let mut data = Vec::new();
    write_log(
        &GenOpts {
            seed: 1,
            lines: Some(50_000),
            ..GenOpts::default()
        },
        &mut data,
    )
    .unwrap();
    let lines: Vec<&[u8]> = data
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut g = c.benchmark_group("log_parse");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("parse_line/realistic_mix", |b| {
        b.iter(|| {
            let mut ok = 0usize;
            for l in &lines {
                if let Ok(r) = parse_line(black_box(l)) {
                    ok += r.host.len();
                }
            }
            ok
        })
    });
    g.bench_function("parse_line+path/realistic_mix", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for l in &lines {
                if let Ok(r) = parse_line(black_box(l)) {
                    n += r.path().map_or(0, |p| p.len());
                }
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
