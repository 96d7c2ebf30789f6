//! Compiled formats against the fast path on the same content, in bytes/s:
//! the combined log read by the one-pass parser, by the compiled Apache
//! `combined` LogFormat string, and with the vhost and a time taken added
//! (vhost_combined + %D); the same requests as Caddy JSON lines; and
//! whole queries (`ips`, 2 threads) over files in each format.

use std::hint::black_box;
use std::io::Write;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tplab::log::chunk::InputSpec;
use tplab::log::engine::{run, Action, EngineOpts, Group, Query};
use tplab::log::format::{compile_string, from_arg, presets, FormatChoice, LogFormat};
use tplab::log::parse::{parse_fused, parse_line};
use tplab::log::record::Ext;
use tplab::testgen::formats::{convert, Layout, VHOST_TIMED};
use tplab::testgen::log::{write_log, GenOpts};

const COMBINED: &str = r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i""#;
const TIMED: &str = VHOST_TIMED;

/// The generated combined log, and the same requests in other formats.
struct Logs {
    combined: Vec<u8>,
    timed: Vec<u8>,
    caddy: Vec<u8>,
}

fn logs(bytes: u64) -> Logs {
    let mut combined = Vec::new();
    write_log(
        &GenOpts {
            seed: 1,
            lines: None,
            bytes: Some(bytes),
            ..GenOpts::default()
        },
        &mut combined,
    )
    .unwrap();
    let (mut timed, mut caddy) = (Vec::new(), Vec::new());
    for (i, l) in combined.split(|&b| b == b'\n').filter(|l| !l.is_empty()).enumerate() {
        if convert(Layout::VhostTimed, i as u64, l, &mut timed) {
            convert(Layout::Caddy, i as u64, l, &mut caddy);
        }
    }
    Logs { combined, timed, caddy }
}

fn lines(data: &[u8]) -> Vec<&[u8]> {
    data.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect()
}

/// Walks a chunk as the engine does for a compiled format: the fast
/// path's parser where the format has combined's fields (finding each
/// line's end as it reads), else the line's end with memchr and the
/// format's parser.
fn walk(f: &LogFormat, data: &[u8]) -> usize {
    let mut p = f.parser(None);
    let prog = match f {
        LogFormat::Program(prog) if prog.has_shortcut() => Some(prog),
        _ => None,
    };
    let (mut start, mut n) = (0, 0);
    // One Ext for the chunk, as the engine keeps it; each line's extras
    // are written to memory (black_box), as the engine hands them on.
    let mut ext = Ext::NONE;
    while start < data.len() {
        if let Some((r, len)) = prog.and_then(|prog| prog.shortcut(black_box(&data[start..]), &mut ext)) {
            black_box(&ext);
            n += r.host.len();
            start += len + 1;
            continue;
        }
        let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |k| start + k);
        if let Ok(Some(r)) = p.parse(black_box(&data[start..end])) {
            n += r.host.len();
        }
        start = end + 1;
    }
    n
}

/// The engine's fast path: parse_fused, parse_line for what it declines.
fn walk_fast(data: &[u8]) -> usize {
    let (mut start, mut n) = (0, 0);
    while start < data.len() {
        match parse_fused(black_box(data), start) {
            Some((r, end)) => {
                n += r.host.len();
                start = end + 1;
            }
            None => {
                let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |k| start + k);
                if let Ok(r) = parse_line(&data[start..end]) {
                    n += r.host.len();
                }
                start = end + 1;
            }
        }
    }
    n
}

fn parsers(c: &mut Criterion) {
    let l = logs(16 << 20);
    let combined = compile_string(COMBINED).unwrap();
    let timed = compile_string(TIMED).unwrap();
    let caddy = from_arg("caddy").unwrap().format;
    // Same answers: the compiled combined format reads what the fast path reads.
    for line in lines(&l.combined) {
        let a = parse_line(line).ok().map(|r| (r.host, r.time, r.status, r.bytes, r.agent));
        let b = combined.parser(None).parse(line).ok().flatten().map(|r| (r.host, r.time, r.status, r.bytes, r.agent));
        assert_eq!(a, b, "{}", String::from_utf8_lossy(line));
    }
    let mut g = c.benchmark_group("log_formats");
    g.throughput(Throughput::Bytes(l.combined.len() as u64));
    g.bench_function("combined/fast path", |b| b.iter(|| walk_fast(&l.combined)));
    g.bench_function("combined/compiled LogFormat", |b| b.iter(|| walk(&combined, &l.combined)));
    g.throughput(Throughput::Bytes(l.timed.len() as u64));
    g.bench_function("vhost_combined+%D/compiled LogFormat", |b| b.iter(|| walk(&timed, &l.timed)));
    g.throughput(Throughput::Bytes(l.caddy.len() as u64));
    g.bench_function("caddy JSON lines/scanner", |b| b.iter(|| walk(&caddy, &l.caddy)));
    g.finish();
}

/// Whole queries over files, 2 threads.
fn queries(c: &mut Criterion) {
    let l = logs(64 << 20);
    let dir = tempfile::tempdir().unwrap();
    let q = Query { action: Action::Group(Group::Ip), filter: Default::default() };
    let mut g = c.benchmark_group("log_formats_query");
    g.sample_size(10);
    for (name, data, fmt) in [
        ("combined (fast path)", &l.combined, "combined"),
        ("combined (compiled LogFormat)", &l.combined, COMBINED),
        ("vhost_combined+%D", &l.timed, TIMED),
        ("caddy JSON", &l.caddy, "caddy"),
    ] {
        let path = dir.path().join(name.replace(' ', "_"));
        std::fs::File::create(&path).unwrap().write_all(data).unwrap();
        let opts = EngineOpts {
            threads: Some(2),
            quiet: true,
            format: FormatChoice::Fixed(std::sync::Arc::new(from_arg(fmt).unwrap())),
            ..EngineOpts::default()
        };
        let inputs = [InputSpec::Path(path)];
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_function(format!("ips {name} [threads=2]"), |b| {
            b.iter(|| {
                let o = run(&q, &inputs, &opts, |_: &[u8]| Ok(())).unwrap();
                assert!(o.acc.malformed * 100 < o.acc.lines.max(1), "{name}: {} malformed", o.acc.malformed);
                o.acc.matched
            })
        });
    }
    g.finish();
}

/// Every preset on its example line (presets::EXAMPLES), repeated to
/// 8 MiB (W3C: its header once, then the entry), against the fast path
/// on the combined line inside the vhost_combined example. One line
/// repeated is kinder to branch prediction than a real log: these rows
/// compare the formats with each other, the generated logs above are
/// the absolute figures.
fn presets(c: &mut Criterion) {
    const SIZE: usize = 8 << 20;
    let repeat = |head: &str, line: &str| {
        let mut d = head.as_bytes().to_vec();
        while d.len() < SIZE {
            d.extend_from_slice(line.as_bytes());
            d.push(b'\n');
        }
        d
    };
    let mut g = c.benchmark_group("log_presets");
    let vhost = presets::example("vhost_combined").unwrap();
    let combined = &vhost[vhost.find(' ').unwrap() + 1..];
    let fast = repeat("", combined);
    g.throughput(Throughput::Bytes(fast.len() as u64));
    g.bench_function("combined (fast path)", |b| b.iter(|| walk_fast(&fast)));
    for (name, ex) in presets::EXAMPLES {
        let (head, line) = match ex.rfind('\n') {
            Some(k) => (&ex[..k + 1], &ex[k + 1..]),
            None => ("", *ex),
        };
        let data = repeat(head, line);
        let f = from_arg(name).unwrap().format;
        let lines = data.split(|&b| b == b'\n').filter(|l| !l.is_empty() && !l.starts_with(b"#")).count();
        assert_eq!(walk(&f, &data), lines * line_host(&f, head, line), "{name}: every line read");
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_function(*name, |b| b.iter(|| walk(&f, &data)));
    }
    g.finish();
}

/// The client address's length in the example's entry, as walk counts it.
fn line_host(f: &LogFormat, head: &str, line: &str) -> usize {
    let mut p = f.parser(None);
    for h in head.lines() {
        let _ = p.parse(h.as_bytes());
    }
    p.parse(line.as_bytes()).unwrap().unwrap().host.len()
}

criterion_group!(benches, parsers, queries, presets);
criterion_main!(benches);
