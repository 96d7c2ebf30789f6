//! The parallel engine against a plain sequential reference: the same rows
//! for any chunk size, batch size and thread count, through a mapped file,
//! a gzip stream and with or without the time-window seek.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use proptest::prelude::*;
use tplab::log::chunk::InputSpec;
use tplab::log::engine::{run, Action, EngineOpts, Group, Query};
use tplab::log::filter::{Filter, FilterArgs};
use tplab::log::parse::parse_line;
use tplab::log::report::{rows, OutputOpts};
use tplab::log::time::{format_bucket, format_day, DAY, HOUR};
use tplab::testgen::log::{write_log, GenOpts};

/// The obvious sequential answer: split on newlines, parse, filter, count.
fn reference(data: &[u8], q: &Query) -> (Vec<(Vec<u8>, u64)>, u64, u64) {
    let mut counts: BTreeMap<(i64, Vec<u8>), u64> = BTreeMap::new();
    let (mut matched, mut malformed) = (0, 0);
    let mut lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    if data.last() == Some(&b'\n') || data.is_empty() {
        lines.pop();
    }
    for l in lines {
        // A NUL region left by copytruncate is one malformed region; the
        // line written right after it (no newline between) still counts.
        let l = if l.first() == Some(&0) {
            malformed += 1;
            let rest = &l[l.iter().position(|&b| b != 0).unwrap_or(l.len())..];
            if rest.is_empty() {
                continue;
            }
            rest
        } else {
            l
        };
        let Ok(r) = parse_line(l) else {
            malformed += 1;
            continue;
        };
        if !q.filter.matches(&r) {
            continue;
        }
        matched += 1;
        let key: (i64, Vec<u8>) = match q.action {
            Action::Group(Group::Ip) => (0, r.host.to_vec()),
            Action::Group(Group::Page) => (0, r.path().map_or(b"-".to_vec(), |p| p.into_owned())),
            Action::Group(Group::Status) => (0, r.status.to_vec()),
            Action::Group(Group::Agent) => (0, r.agent.unwrap_or(b"-").to_vec()),
            Action::Group(Group::Day) => (r.time.div_euclid(DAY), format_day(r.time).into_bytes()),
            Action::Group(Group::Hour) => (
                r.time.div_euclid(HOUR),
                format_bucket(r.time.div_euclid(HOUR) * HOUR, HOUR).into_bytes(),
            ),
            Action::Lines => (0, l.to_vec()),
            _ => (0, Vec::new()),
        };
        *counts.entry(key).or_insert(0) += 1;
    }
    (
        counts.into_iter().map(|((_, k), v)| (k, v)).collect(),
        matched,
        malformed,
    )
}

fn engine(path: &Path, q: &Query, opts: &EngineOpts) -> (Vec<(Vec<u8>, u64)>, u64, u64) {
    let mut printed: Vec<Vec<u8>> = Vec::new();
    let o = run(
        q,
        &[InputSpec::Path(path.to_path_buf())],
        opts,
        |l: &[u8]| {
            printed.push(l.to_vec());
            Ok(())
        },
    )
    .expect("engine runs");
    assert!(o.errors().next().is_none());
    let got = if q.action == Action::Lines {
        // Lines come out in input order: count them as the reference does.
        let mut m: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        for l in &printed {
            *m.entry(l.clone()).or_insert(0) += 1;
        }
        m.into_iter().collect()
    } else if q.action == Action::Count {
        vec![(Vec::new(), o.acc.matched)]
            .into_iter()
            .filter(|_| o.acc.matched > 0)
            .collect()
    } else {
        rows(&o, &OutputOpts::default())
            .into_iter()
            .map(|r| (r.key.into_owned(), r.count))
            .collect()
    };
    // A prefiltered or seeking scan parses only some lines, so it cannot
    // count the malformed lines among the others.
    let malformed = if !o.parsed_everything() {
        u64::MAX
    } else {
        o.acc.malformed
    };
    (got, o.acc.matched, malformed)
}

type Answer = (Vec<(Vec<u8>, u64)>, u64, u64);

/// Compares answers, printing only what differs (rows can be thousands).
fn same(got: Answer, want: Answer, what: &str) -> Result<(), String> {
    let show = |k: &[u8]| String::from_utf8_lossy(k).into_owned();
    if got.0 != want.0 {
        let g: BTreeMap<_, _> = got.0.iter().cloned().collect();
        let w: BTreeMap<_, _> = want.0.iter().cloned().collect();
        let diff: Vec<String> = g
            .keys()
            .chain(w.keys())
            .filter(|k| g.get(*k) != w.get(*k))
            .take(5)
            .map(|k| format!("{}: got {:?} want {:?}", show(k), g.get(k), w.get(k)))
            .collect();
        return Err(format!(
            "{what}: rows differ ({} vs {}): {diff:?}",
            got.0.len(),
            want.0.len()
        ));
    }
    if got.1 != want.1 {
        return Err(format!("{what}: matched {} want {}", got.1, want.1));
    }
    if got.2 != u64::MAX && want.2 != u64::MAX && got.2 != want.2 {
        return Err(format!("{what}: malformed {} want {}", got.2, want.2));
    }
    Ok(())
}

fn query(action: Action, f: FilterArgs) -> Query {
    Query {
        action,
        filter: Filter::from_args(&f).unwrap(),
    }
}

fn queries() -> Vec<Query> {
    let page = |p: &str| FilterArgs {
        page: Some(p.into()),
        ..Default::default()
    };
    vec![
        query(Action::Group(Group::Ip), page("truc.html")),
        query(
            Action::Group(Group::Ip),
            FilterArgs {
                from: Some("08/Feb/2014:07:00".into()),
                to: Some("08/Feb/2014:07:15".into()),
                ..Default::default()
            },
        ),
        query(
            Action::Group(Group::Ip),
            FilterArgs {
                page: Some("bidule.html".into()),
                from: Some("09/Feb/2014:07:05".into()),
                to: Some("09/Feb/2014:07:15".into()),
                ..Default::default()
            },
        ),
        query(
            Action::Group(Group::Day),
            FilterArgs {
                ip: Some("192.168.11.53".into()),
                ..Default::default()
            },
        ),
        query(Action::Group(Group::Page), FilterArgs::default()),
        query(
            Action::Group(Group::Hour),
            FilterArgs {
                status: Some("4xx".into()),
                ..Default::default()
            },
        ),
        query(
            Action::Group(Group::Agent),
            FilterArgs {
                ip: Some("2001:db8::/32".into()),
                ..Default::default()
            },
        ),
        query(Action::Lines, page("/truc.html")),
        query(
            Action::Count,
            FilterArgs {
                method: Some("post".into()),
                ..Default::default()
            },
        ),
    ]
}

fn sample(seed: u64, lines: u64) -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let mut data = Vec::new();
    write_log(
        &GenOpts {
            seed,
            lines: Some(lines),
            ..GenOpts::default()
        },
        &mut data,
    )
    .unwrap();
    std::fs::write(&path, &data).unwrap();
    (dir, path, data)
}

#[test]
fn every_query_equals_the_reference_on_a_realistic_log() {
    let (_d, path, data) = sample(11, 20_000);
    for q in queries() {
        let want = reference(&data, &q);
        assert!(want.1 > 0, "{q:?} matches something in the sample");
        for opts in [
            EngineOpts::default(),
            EngineOpts {
                threads: Some(1),
                chunk_size: 4096,
                batch_chunks: 3,
                ..EngineOpts::default()
            },
            EngineOpts {
                threads: Some(3),
                chunk_size: 333,
                batch_chunks: 1,
                seek: false,
                ..EngineOpts::default()
            },
        ] {
            same(
                engine(&path, &q, &opts),
                want.clone(),
                &format!("{q:?} {opts:?}"),
            )
            .unwrap();
        }
    }
}

#[test]
fn gzip_stream_equals_the_mapped_file() {
    let (d, path, data) = sample(5, 5000);
    let gz = d.path().join("access.log.gz");
    let mut e = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    // Two members, as `cat a.gz b.gz` makes: both are read.
    e.write_all(&data[..data.len() / 2]).unwrap();
    e.finish().unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&gz).unwrap();
    let mut e2 = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e2.write_all(&data[data.len() / 2..]).unwrap();
    f.write_all(&e2.finish().unwrap()).unwrap();
    drop(f);
    for q in queries() {
        let opts = EngineOpts {
            chunk_size: 2048,
            batch_chunks: 4,
            ..EngineOpts::default()
        };
        same(
            engine(&gz, &q, &opts),
            engine(&path, &q, &opts),
            &format!("{q:?}"),
        )
        .unwrap();
    }
}

#[test]
fn time_window_seek_equals_a_full_scan_also_when_shuffled() {
    let (d, path, data) = sample(3, 30_000);
    let mut lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
    let q = &queries()[1];
    let seek = EngineOpts {
        seek: true,
        ..EngineOpts::default()
    };
    let full = EngineOpts {
        seek: false,
        ..EngineOpts::default()
    };
    same(
        engine(&path, q, &seek),
        engine(&path, q, &full),
        "seek vs full",
    )
    .unwrap();
    // The seek really skipped most of the file.
    let o = run(
        q,
        &[InputSpec::Path(path.clone())],
        &seek,
        |_: &[u8]| Ok(()),
    )
    .unwrap();
    assert!(
        o.files[0].scanned * 5 < o.files[0].bytes,
        "{:?}",
        o.files[0]
    );
    // Shuffled: detected, whole file scanned, same answer as the reference.
    let mut rng = tplab::testgen::SplitMix64::new(9);
    for i in (1..lines.len()).rev() {
        lines.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let shuffled: Vec<u8> = lines.concat();
    let sp = d.path().join("shuffled.log");
    std::fs::write(&sp, &shuffled).unwrap();
    same(engine(&sp, q, &seek), reference(&shuffled, q), "shuffled").unwrap();
    let o = run(q, &[InputSpec::Path(sp)], &seek, |_: &[u8]| Ok(())).unwrap();
    assert_eq!(o.files[0].scanned, o.files[0].bytes);
    assert!(o.files[0].seek.as_ref().unwrap().fallback.is_some());
}

#[test]
fn line_numbers_of_malformed_lines_do_not_depend_on_chunking() {
    let (_d, path, data) = sample(21, 8000);
    let want: Vec<u64> = data
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.is_empty() && parse_line(l).is_err())
        .map(|(i, _)| i as u64 + 1)
        .collect();
    assert!(want.len() >= 3, "the sample has malformed lines: {want:?}");
    let q = query(Action::Check, FilterArgs::default());
    for (threads, chunk) in [(1, 1 << 20), (2, 100), (4, 7777)] {
        let o = run(
            &q,
            &[InputSpec::Path(path.clone())],
            &EngineOpts {
                threads: Some(threads),
                chunk_size: chunk,
                ..EngineOpts::default()
            },
            |_: &[u8]| Ok(()),
        )
        .unwrap();
        let got: Vec<u64> = o.bad.iter().map(|b| b.line).collect();
        assert_eq!(got, want);
        assert_eq!(o.first_bad.as_ref().unwrap().line, want[0]);
        // With a prefilter, the first malformed candidate still has its true line number.
        let q2 = query(
            Action::Count,
            FilterArgs {
                page: Some("truc.html".into()),
                ..Default::default()
            },
        );
        let o2 = run(
            &q2,
            &[InputSpec::Path(path.clone())],
            &EngineOpts {
                threads: Some(threads),
                chunk_size: chunk,
                ..EngineOpts::default()
            },
            |_: &[u8]| Ok(()),
        )
        .unwrap();
        if let Some(b) = &o2.first_bad {
            assert!(want.contains(&b.line), "{b:?}");
            assert_eq!(
                o2.acc.lines, o.acc.lines,
                "prefiltered scans still count every line"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]
    #[test]
    fn engine_equals_reference_for_any_chunking(
        seed in 0u64..1000,
        lines in 0u64..600,
        chunk in 1usize..5000,
        batch in 1usize..6,
        threads in 1usize..5,
        qi in 0usize..9,
        no_final_newline in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut data = Vec::new();
        write_log(&GenOpts { seed, lines: Some(lines), span: 3 * HOUR + 7 * HOUR, ..GenOpts::default() }, &mut data).unwrap();
        if no_final_newline && data.last() == Some(&b'\n') {
            data.pop();
        }
        std::fs::write(&path, &data).unwrap();
        let q = &queries()[qi];
        let opts = EngineOpts { threads: Some(threads), chunk_size: chunk, batch_chunks: batch, ..EngineOpts::default() };
        if let Err(e) = same(engine(&path, q, &opts), reference(&data, q), &format!("{q:?} {opts:?}")) {
            prop_assert!(false, "{}", e);
        }
    }
}
