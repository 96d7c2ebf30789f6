//! The line parser on a realistic mix (generated log: IPv4/IPv6, `-`
//! requests, escaped quotes, a few malformed lines), in bytes/s; and the
//! same grammar written with nom combinators, to show why the engine's
//! parser is written by hand.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tplab::log::parse::parse_line;
use tplab::testgen::log::{write_log, GenOpts};

/// The combined/common grammar with nom 8 combinators, returning the
/// same fields (used only here, for the comparison).
mod with_nom {
    use nom::branch::alt;
    use nom::bytes::complete::{escaped, is_not, tag, take, take_while1, take_while_m_n};
    use nom::combinator::{eof, map_opt, opt, recognize};
    use nom::sequence::{delimited, preceded, terminated};
    use nom::{IResult, Parser};

    pub struct Rec<'a> {
        pub host: &'a [u8],
        pub time: i64,
        pub request: &'a [u8],
        pub status: &'a [u8],
        pub bytes: Option<u64>,
        pub referer: Option<&'a [u8]>,
        pub agent: Option<&'a [u8]>,
    }

    fn token(i: &[u8]) -> IResult<&[u8], &[u8]> {
        terminated(take_while1(|b| b != b' '), tag(" ")).parse(i)
    }

    fn quoted(i: &[u8]) -> IResult<&[u8], &[u8]> {
        delimited(
            tag("\""),
            alt((escaped(is_not("\"\\"), '\\', take(1usize)), tag(""))),
            tag("\""),
        )
        .parse(i)
    }

    fn time(i: &[u8]) -> IResult<&[u8], i64> {
        delimited(
            tag("["),
            terminated(
                map_opt(take(20usize), tplab::log::time::parse_log_clock),
                opt(preceded(
                    tag(" "),
                    recognize((
                        alt((tag("+"), tag("-"))),
                        take_while_m_n(4, 4, |b: u8| b.is_ascii_digit()),
                    )),
                )),
            ),
            tag("]"),
        )
        .parse(i)
    }

    pub fn line(i: &[u8]) -> IResult<&[u8], Rec<'_>> {
        let (i, (host, _ident, _user)) = (token, token, token).parse(i)?;
        let (i, time) = terminated(time, tag(" ")).parse(i)?;
        let (i, request) = terminated(quoted, tag(" ")).parse(i)?;
        let (i, status) =
            terminated(take_while_m_n(3, 3, |b: u8| b.is_ascii_digit()), tag(" ")).parse(i)?;
        let (i, bytes) = alt((
            tag("-").map(|_| None),
            take_while1(|b: u8| b.is_ascii_digit())
                .map(|d: &[u8]| Some(d.iter().fold(0u64, |n, &c| n * 10 + (c - b'0') as u64))),
        ))
        .parse(i)?;
        let (i, ra) = opt((preceded(tag(" "), quoted), preceded(tag(" "), quoted))).parse(i)?;
        let (i, _) = eof(i)?;
        Ok((
            i,
            Rec {
                host,
                time,
                request,
                status,
                bytes,
                referer: ra.map(|r| r.0),
                agent: ra.map(|r| r.1),
            },
        ))
    }
}

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
    g.bench_function("nom_combinators/realistic_mix", |b| {
        b.iter(|| {
            let mut ok = 0usize;
            for l in &lines {
                if let Ok((_, r)) = with_nom::line(black_box(l)) {
                    ok += r.host.len();
                }
            }
            ok
        })
    });
    g.finish();
    // Same answers on the valid lines (the mix has no nginx trailing fields).
    for l in &lines {
        if let (Ok(a), Ok((_, b))) = (parse_line(l), with_nom::line(l)) {
            assert_eq!(
                (a.host, a.time, a.request, a.status, a.bytes, a.referer, a.agent),
                (b.host, b.time, b.request, b.status, b.bytes, b.referer, b.agent)
            );
        }
    }
}

criterion_group!(benches, parse);
criterion_main!(benches);
