//! The lab's queries through the engine, on a generated log file (32 MiB,
//! mapped and in the page cache), in bytes/s.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tplab::log::chunk::InputSpec;
use tplab::log::engine::{run, Action, EngineOpts, Group, Query};
use tplab::log::filter::{Filter, FilterArgs};
use tplab::testgen::log::{write_log, GenOpts};

fn q(action: Action, f: FilterArgs) -> Query {
    Query {
        action,
        filter: Filter::from_args(&f).unwrap(),
    }
}

fn queries(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let mut data = Vec::new();
    write_log(
        &GenOpts {
            seed: 1,
            lines: None,
            bytes: Some(32 << 20),
            ..GenOpts::default()
        },
        &mut data,
    )
    .unwrap();
    std::fs::write(&path, &data).unwrap();
    let inputs = [InputSpec::Path(path.clone())];
    let lab: Vec<(&str, Query)> = vec![
        (
            "ips --page truc.html",
            q(
                Action::Group(Group::Ip),
                FilterArgs {
                    page: Some("truc.html".into()),
                    ..Default::default()
                },
            ),
        ),
        (
            "ips --from 08/Feb/2014:07:00 --to 08/Feb/2014:07:15",
            q(
                Action::Group(Group::Ip),
                FilterArgs {
                    from: Some("08/Feb/2014:07:00".into()),
                    to: Some("08/Feb/2014:07:15".into()),
                    ..Default::default()
                },
            ),
        ),
        (
            "ips --page bidule.html --from 09/Feb/2014:07:05 --to 09/Feb/2014:07:15",
            q(
                Action::Group(Group::Ip),
                FilterArgs {
                    page: Some("bidule.html".into()),
                    from: Some("09/Feb/2014:07:05".into()),
                    to: Some("09/Feb/2014:07:15".into()),
                    ..Default::default()
                },
            ),
        ),
        (
            "days --ip 192.168.11.53",
            q(
                Action::Group(Group::Day),
                FilterArgs {
                    ip: Some("192.168.11.53".into()),
                    ..Default::default()
                },
            ),
        ),
        (
            "ips (every line)",
            q(Action::Group(Group::Ip), FilterArgs::default()),
        ),
        (
            "pages (every line, decoded paths)",
            q(Action::Group(Group::Page), FilterArgs::default()),
        ),
        ("stats", q(Action::Stats, FilterArgs::default())),
    ];
    let mut g = c.benchmark_group("log_query");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(20);
    for threads in [1usize, 2] {
        let opts = EngineOpts {
            threads: Some(threads),
            quiet: true,
            ..EngineOpts::default()
        };
        for (name, query) in &lab {
            g.bench_function(format!("{name} [threads={threads}]"), |b| {
                b.iter(|| {
                    run(query, &inputs, &opts, |_: &[u8]| Ok(()))
                        .unwrap()
                        .acc
                        .matched
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, queries);
criterion_main!(benches);
