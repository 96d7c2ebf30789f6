//! `tplog export --parquet`: the real binary writes the table, and the real
//! engines read it: Apache Spark (pyspark, local[2]) and DuckDB answer the
//! lab's four queries, `stats`' totals and the per-status and per-day
//! counts exactly as tplog answers them on the log; a one-day window reads
//! one day's files; edge cases survive the round trip; bad output
//! directories fail cleanly. tests/export/engines.py runs the SQL.
//!
//! The engines come from `cargo xtask test` (a venv in target/export-venv
//! with pinned pyspark and duckdb; Debian's Java runtime). Without them the
//! engine test says what it skipped, except under CI, where it fails.
#![cfg(feature = "parquet")]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use parquet::basic::{Encoding, LogicalType, Type as PhysicalType};
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde_json::{json, Value};
use tplab::testgen::log::{write_log, GenOpts};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tplog(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tplog"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .expect("tplog runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// tplog's JSON answer to a query.
fn tplog_json(args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    let o = tplog(&a);
    assert!(o.status.code() != Some(2), "tplog {a:?}: {}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("tplog {a:?}: {e}: {}", text(&o.stdout)))
}

/// A group answer as sorted [key, count] pairs (what engines.py prints).
fn pairs(v: &Value) -> Vec<(String, u64)> {
    let mut p: Vec<(String, u64)> = v
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| (r["key"].as_str().unwrap().to_string(), r["count"].as_u64().unwrap()))
        .collect();
    p.sort();
    p
}

fn engine_pairs(v: &Value) -> Vec<(String, u64)> {
    let mut p: Vec<(String, u64)> = v
        .as_array()
        .unwrap_or_else(|| panic!("an answer, got {v}"))
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_u64().unwrap()))
        .collect();
    p.sort();
    p
}

fn export(log: &[&str], dir: &Path, extra: &[&str]) -> Output {
    let d = dir.to_str().unwrap();
    let mut a = vec!["export", "--parquet", d];
    a.extend(extra);
    a.extend(log);
    tplog(&a)
}

/// Final-named Parquet files under a directory.
fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return v;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            v.extend(parquet_files(&p));
        } else if p.extension().is_some_and(|x| x == "parquet") {
            v.push(p);
        }
    }
    v.sort();
    v
}

/// Every file, temporary ones included.
fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return v;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            v.extend(all_files(&p));
        } else {
            v.push(p);
        }
    }
    v
}

// ---------------------------------------------------------------- schema

#[test]
fn schema_is_the_documented_one() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("t");
    let o = export(&["testdata/access.log"], &out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("exported 3997 rows into 3 files in 3 partitions"), "{err}");
    let files = parquet_files(&out);
    let names: Vec<String> = files
        .iter()
        .map(|p| p.strip_prefix(&out).unwrap().display().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "date=2014-02-07/part-00000.parquet",
            "date=2014-02-08/part-00000.parquet",
            "date=2014-02-09/part-00000.parquet"
        ]
    );
    let r = SerializedFileReader::new(std::fs::File::open(&files[1]).unwrap()).unwrap();
    let md = r.metadata();
    let schema = md.file_metadata().schema_descr();
    let want: &[(&str, PhysicalType, Option<LogicalType>, bool)] = &[
        ("ts", PhysicalType::INT64, Some(LogicalType::Timestamp { is_adjusted_to_u_t_c: true, unit: parquet::basic::TimeUnit::MICROS(Default::default()) }), false),
        ("tz_offset_min", PhysicalType::INT32, Some(LogicalType::Integer { bit_width: 16, is_signed: true }), false),
        ("client", PhysicalType::BYTE_ARRAY, Some(LogicalType::String), false),
        ("ident", PhysicalType::BYTE_ARRAY, Some(LogicalType::String), false),
        ("user", PhysicalType::BYTE_ARRAY, Some(LogicalType::String), false),
        ("method", PhysicalType::BYTE_ARRAY, Some(LogicalType::String), true),
        ("path", PhysicalType::BYTE_ARRAY, Some(LogicalType::String), true),
        ("target", PhysicalType::BYTE_ARRAY, Some(LogicalType::String), true),
        ("query", PhysicalType::BYTE_ARRAY, Some(LogicalType::String), true),
        ("protocol", PhysicalType::BYTE_ARRAY, Some(LogicalType::String), true),
        ("status", PhysicalType::INT32, Some(LogicalType::Integer { bit_width: 16, is_signed: true }), false),
        ("bytes", PhysicalType::INT64, None, true),
        ("referer", PhysicalType::BYTE_ARRAY, Some(LogicalType::String), true),
        ("agent", PhysicalType::BYTE_ARRAY, Some(LogicalType::String), true),
        ("vhost", PhysicalType::BYTE_ARRAY, Some(LogicalType::String), true),
        ("port", PhysicalType::INT32, None, true),
        ("request_time_us", PhysicalType::INT64, None, true),
        ("tls_protocol", PhysicalType::BYTE_ARRAY, Some(LogicalType::String), true),
        ("file", PhysicalType::BYTE_ARRAY, Some(LogicalType::String), false),
        ("line", PhysicalType::INT64, None, false),
        ("raw", PhysicalType::BYTE_ARRAY, None, true),
    ];
    assert_eq!(schema.num_columns(), want.len());
    for (i, (name, phys, logical, optional)) in want.iter().enumerate() {
        let c = schema.column(i);
        assert_eq!(c.name(), *name);
        assert_eq!(c.physical_type(), *phys, "{name}");
        match (c.logical_type(), logical) {
            (Some(LogicalType::Timestamp { is_adjusted_to_u_t_c: a, unit: parquet::basic::TimeUnit::MICROS(_) }), Some(LogicalType::Timestamp { is_adjusted_to_u_t_c: b, .. })) => assert_eq!(a, *b),
            (got, want) => assert_eq!(got, *want, "{name}"),
        }
        assert_eq!(c.max_def_level() > 0, *optional, "{name} nullability");
    }
    // Strings that repeat are dictionary-encoded; times and lines delta-encoded.
    let rg = md.row_group(0);
    assert_eq!(rg.num_rows(), 2030);
    let enc = |name: &str| {
        let i = (0..schema.num_columns()).find(|&i| schema.column(i).name() == name).unwrap();
        rg.column(i).encodings().clone()
    };
    for c in ["client", "method", "path", "status", "agent", "file"] {
        assert!(enc(c).contains(&Encoding::RLE_DICTIONARY) || enc(c).contains(&Encoding::PLAIN_DICTIONARY), "{c}: {:?}", enc(c));
    }
    assert!(enc("ts").contains(&Encoding::DELTA_BINARY_PACKED), "{:?}", enc("ts"));
    assert!(enc("line").contains(&Encoding::DELTA_BINARY_PACKED));
    assert!(format!("{:?}", rg.column(0).compression()).starts_with("ZSTD"));
    // The first row of the day, read back with the parquet crate's rows.
    let row = r.get_row_iter(None).unwrap().next().unwrap().unwrap();
    let s = row.to_string();
    assert!(s.contains("line: 36"), "{s}");
    assert!(s.contains("tz_offset_min: 60"), "{s}");
    assert!(s.contains("file: \"testdata/access.log\""), "{s}");
}

// ------------------------------------------------------- the real engines

/// The Python that has pyspark and duckdb, or why there is none.
fn engines_python() -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = std::env::var_os("TPLAB_EXPORT_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([root().join("target/export-venv/bin/python"), PathBuf::from("python3")])
        .collect();
    let mut why = Vec::new();
    for py in candidates {
        match Command::new(&py).args(["-c", "import pyspark, duckdb"]).output() {
            Ok(o) if o.status.success() => {
                let java = Command::new("java").arg("-version").output();
                if !java.is_ok_and(|o| o.status.success()) {
                    return Err("no Java runtime (`java -version` fails): `cargo xtask test` installs default-jre-headless".into());
                }
                return Ok(py);
            }
            Ok(o) => why.push(format!("{}: {}", py.display(), text(&o.stderr).lines().last().unwrap_or(""))),
            Err(e) => why.push(format!("{}: {e}", py.display())),
        }
    }
    Err(format!(
        "no Python with pyspark and duckdb ({}); `cargo xtask test` installs them into target/export-venv",
        why.join("; ")
    ))
}

fn run_engine(py: &Path, engine: &str, datasets: &Value) -> Value {
    let job = json!({"engine": engine, "datasets": datasets});
    let mut child = Command::new(py)
        .arg(root().join("tests/export/engines.py"))
        .env("PYSPARK_PYTHON", py)
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    child.stdin.take().unwrap().write_all(job.to_string().as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{engine}: {}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{engine}: {e}: {}", text(&o.stderr)))
}

/// `--from` as tplog takes it → engines.py's ISO form (seconds included).
fn iso(t: &str) -> String {
    // 08/Feb/2014:07:15 → 2014-02-08T07:15:00
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (d, rest) = t.split_once('/').unwrap();
    let (m, rest) = rest.split_once('/').unwrap();
    let (y, clock) = rest.split_once(':').unwrap();
    let mm = months.iter().position(|x| *x == m).unwrap() + 1;
    let clock = if clock.len() == 5 { format!("{clock}:00") } else { clock.to_string() };
    format!("{y}-{mm:02}-{d}T{clock}")
}

/// One query as both sides state it.
struct Q {
    name: &'static str,
    tplog: Vec<String>,
    engine: Value,
}

fn q_ips(name: &'static str, page: Option<&str>, from: Option<&str>, to: Option<&str>) -> Q {
    let mut t = vec!["ips".to_string()];
    let mut e = json!({"name": name, "kind": "ips"});
    if let Some(p) = page {
        t.extend(["--page".into(), p.into()]);
        e["page"] = p.into();
    }
    if let (Some(f), Some(to)) = (from, to) {
        t.extend(["--from".into(), f.into(), "--to".into(), to.into()]);
        e["from"] = iso(f).into();
        // --to is inclusive through the end of its minute.
        let end = iso(to);
        e["to"] = if to.len() == 17 { format!("{}:59", &end[..16]) } else { end }.into();
    }
    Q { name, tplog: t, engine: e }
}

fn q_days_ip(name: &'static str, ip: &str) -> Q {
    Q {
        name,
        tplog: vec!["days".into(), "--ip".into(), ip.into()],
        engine: json!({"name": name, "kind": "days", "ip": ip}),
    }
}

fn q_plain(name: &'static str, cmd: &str, kind: &str) -> Q {
    Q {
        name,
        tplog: vec![cmd.into()],
        engine: json!({"name": name, "kind": kind}),
    }
}

struct Dataset {
    name: &'static str,
    log: PathBuf,
    dir: PathBuf,
    malformed: PathBuf,
    queries: Vec<Q>,
    prune_day: &'static str,
    /// `tplog count` bounds of that UTC day in the log's wall-clock time.
    prune_window: (&'static str, &'static str),
}

fn lab_queries() -> Vec<Q> {
    vec![
        q_ips("truc", Some("truc.html"), None, None),
        q_ips("window", None, Some("08/Feb/2014:07:00"), Some("08/Feb/2014:07:15")),
        q_ips("bidule_window", Some("bidule.html"), Some("09/Feb/2014:07:05"), Some("09/Feb/2014:07:15")),
        q_days_ip("days_of_ip", "192.168.11.53"),
        q_plain("status", "status", "status"),
        q_plain("days", "days", "days"),
    ]
}

/// A log of the cases that break naive exports.
const EDGE_LOG: &[&[u8]] = &[
    // Percent-encoded path: `path` is decoded, `target` as written.
    b"192.168.11.12 - - [08/Feb/2014:07:01:00 +0100] \"GET /truc%2Ehtml?x=%41 HTTP/1.1\" 200 12 \"-\" \"curl/7.26.0\"",
    // IPv6 client, `-` bytes.
    b"2001:db8::1 - alice [08/Feb/2014:07:02:00 +0100] \"GET /a%20b.html HTTP/1.0\" 304 - \"-\" \"-\"",
    // Far-apart dates, offsets that move the UTC day.
    b"10.0.0.1 - - [31/Dec/1999:23:30:00 -0800] \"GET /y2k.html HTTP/1.1\" 200 5 \"-\" \"x\"",
    b"10.0.0.2 - - [01/Jan/2099:00:30:00 +0530] \"GET /future.html HTTP/1.1\" 200 7 \"-\" \"x\"",
    // Not UTF-8: a raw byte in the path and the agent, `%FF` decoded, a literal \xff.
    b"10.0.0.3 - - [08/Feb/2014:07:03:00 +0100] \"GET /caf\xe9.html HTTP/1.1\" 200 1 \"http://r/\\xff\" \"agent \xff\xfe\"",
    b"10.0.0.4 - - [08/Feb/2014:07:04:00 +0100] \"GET /p%FF%C3%A9 HTTP/1.1\" 404 2 \"-\" \"ok\"",
    // Junk request, then a malformed line.
    b"10.0.0.5 - - [08/Feb/2014:07:05:00 +0100] \"\\x16\\x03\\x01\" 400 0 \"-\" \"-\"",
    b"10.0.0.6 - - [08/Fev/2014:07:06:00 +0100] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"",
];

#[test]
fn engines_give_tplogs_answers() {
    let py = match engines_python() {
        Ok(p) => p,
        Err(why) => {
            if std::env::var_os("CI").is_some() {
                panic!("CI must run the engines: {why}");
            }
            eprintln!("SKIPPED engines_give_tplogs_answers: {why}");
            return;
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut sets = vec![Dataset {
        name: "sample",
        log: root().join("testdata/access.log"),
        dir: tmp.path().join("sample"),
        malformed: tmp.path().join("sample-bad"),
        queries: lab_queries(),
        prune_day: "2014-02-08",
        prune_window: ("2014-02-08T01:00:00", "2014-02-09T00:59:59"),
    }];
    let shared = root().join("../shared/logs/elastic-apache_logs.log");
    if shared.exists() {
        let mut q = lab_queries();
        q.extend([
            q_ips("real_page", Some("kibana-search.png"), None, None),
            q_ips("real_window", None, Some("18/May/2015:10:00"), Some("18/May/2015:12:59")),
            q_days_ip("real_days_of_ip", "83.149.9.216"),
        ]);
        sets.push(Dataset {
            name: "shared",
            log: shared,
            dir: tmp.path().join("shared"),
            malformed: tmp.path().join("shared-bad"),
            queries: q,
            prune_day: "2015-05-18",
            prune_window: ("2015-05-18T00:00:00", "2015-05-18T23:59:59"),
        });
    } else {
        eprintln!("(../shared/logs/elastic-apache_logs.log absent: the real log's part is skipped)");
    }
    let edge = tmp.path().join("edge.log");
    let mut data = Vec::new();
    for l in EDGE_LOG {
        data.extend_from_slice(l);
        data.push(b'\n');
    }
    std::fs::write(&edge, &data).unwrap();
    let mut eq = vec![q_plain("status", "status", "status"), q_plain("days", "days", "days")];
    eq.push(q_ips("truc", Some("truc.html"), None, None));
    sets.push(Dataset {
        name: "edge",
        log: edge.clone(),
        dir: tmp.path().join("edge"),
        malformed: tmp.path().join("edge-bad"),
        queries: eq,
        prune_day: "2014-02-08",
        prune_window: ("2014-02-08T01:00:00", "2014-02-09T00:59:59"),
    });

    let mut jobs = Vec::new();
    for s in &sets {
        let o = export(
            &[s.log.to_str().unwrap()],
            &s.dir,
            &["--malformed", s.malformed.to_str().unwrap()],
        );
        assert_eq!(o.status.code(), Some(0), "{}: {}", s.name, text(&o.stderr));
        let mut qs: Vec<Value> = s.queries.iter().map(|q| q.engine.clone()).collect();
        qs.push(json!({"name": "stats", "kind": "stats"}));
        qs.push(json!({"name": "prune", "kind": "prune", "day": s.prune_day}));
        if s.name == "edge" {
            qs.push(json!({"name": "rows", "kind": "rows"}));
            qs.push(json!({"name": "bad", "kind": "malformed_rows"}));
        }
        jobs.push(json!({"name": s.name, "dir": s.dir, "malformed": s.malformed, "queries": qs}));
    }
    let jobs = Value::Array(jobs);
    let mut timings = BTreeMap::new();
    let t = Instant::now();
    let duck = run_engine(&py, "duckdb", &jobs);
    timings.insert("duckdb", t.elapsed());
    let t = Instant::now();
    let spark = run_engine(&py, "spark", &jobs);
    timings.insert("spark", t.elapsed());

    for s in &sets {
        let log = s.log.to_str().unwrap();
        for (engine, ans) in [("duckdb", &duck), ("spark", &spark)] {
            let a = &ans[s.name];
            for q in &s.queries {
                let mut args: Vec<&str> = q.tplog.iter().map(String::as_str).collect();
                if s.name == "shared" {
                    // Not in time order: no binary search for windows.
                    args.push("--no-seek");
                }
                args.push(log);
                let want = pairs(&tplog_json(&args));
                let got = engine_pairs(&a[q.name]);
                assert_eq!(got, want, "{engine} on {}: {} (tplog {args:?})", s.name, q.name);
                if s.name == "sample" && q.name != "days" && q.name != "status" {
                    assert!(!want.is_empty(), "{}: the lab's query finds something", q.name);
                }
            }
            // stats' totals.
            let st = tplog_json(&["stats", log]);
            let e = &a["stats"];
            for (k, v) in [
                ("requests", &st["requests"]),
                ("distinct_ips", &st["distinct_ips"]),
                ("distinct_pages", &st["distinct_pages"]),
                ("bytes_total", &st["bytes_sent"]["total"]),
                ("bytes_unknown", &st["bytes_sent"]["unknown"]),
                ("first", &st["first"]),
                ("last", &st["last"]),
                ("malformed", &st["malformed"]),
            ] {
                assert_eq!(&e[k], v, "{engine} on {}: stats {k}", s.name);
            }
            // A one-day filter on the partition column reads that day's file only.
            let p = &a["prune"];
            let count = tplog(&["count", "--no-seek", "--from", s.prune_window.0, "--to", s.prune_window.1, log]);
            let n: u64 = text(&count.stdout).trim().parse().unwrap();
            assert_eq!(p["rows"].as_u64(), Some(n), "{engine} on {}: the day's rows: {p}", s.name);
            assert_eq!(p["files_read"].as_u64(), Some(1), "{engine} on {}: pruning: {p}", s.name);
            assert!(p["files_total"].as_u64().unwrap() > 1, "{p}");
            assert_eq!(p["partition_filters"], true, "{engine}: {p}");
            eprintln!("{engine} on {}: {} of {} files read for date = {}: {}", s.name, p["files_read"], p["files_total"], s.prune_day, p["plan"].as_str().unwrap_or(""));
        }
    }

    // The edge cases, row by row, as both engines read them.
    for (engine, ans) in [("duckdb", &duck), ("spark", &spark)] {
        let rows = ans["edge"]["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 7, "{engine}: every valid edge line");
        let r = |line: u64| rows.iter().find(|r| r["line"] == line).unwrap_or_else(|| panic!("{engine}: line {line}"));
        let l1 = r(1);
        assert_eq!(l1["path"], "/truc.html", "{engine}");
        assert_eq!(l1["target"], "/truc%2Ehtml?x=%41");
        assert_eq!(l1["query"], "x=%41");
        assert_eq!(l1["ts_us"], 1391839260000000i64, "08/Feb/2014:07:01:00 +0100 is 06:01:00 UTC");
        assert_eq!(l1["raw_hex"], Value::Null, "{engine}: valid UTF-8 has no raw copy");
        let l2 = r(2);
        assert_eq!(l2["client"], "2001:db8::1");
        assert_eq!(l2["user"], "alice");
        assert_eq!(l2["bytes"], Value::Null, "{engine}: `-` bytes are null");
        assert_eq!(l2["path"], "/a b.html");
        assert_eq!(l2["protocol"], "HTTP/1.0");
        let l3 = r(3);
        assert_eq!(l3["tz_offset_min"], -480);
        assert_eq!(l3["date"], "2000-01-01", "{engine}: 1999-12-31 23:30 -0800 is 2000-01-01 UTC");
        assert_eq!(l3["ts_us"], 946711800000000i64);
        let l4 = r(4);
        assert_eq!(l4["tz_offset_min"], 330);
        assert_eq!(l4["date"], "2098-12-31");
        // Not UTF-8: \xHH in the text, the exact line in raw.
        let l5 = r(5);
        assert_eq!(l5["path"], r"/caf\xe9.html", "{engine}");
        assert_eq!(l5["agent"], r"agent \xff\xfe");
        assert_eq!(l5["referer"], r"http://r/\xff", "an Apache escape stays as written");
        let raw5 = hex_decode(l5["raw_hex"].as_str().expect("raw is kept"));
        assert_eq!(raw5, EDGE_LOG[4], "{engine}: the exact bytes come back");
        let l6 = r(6);
        assert_eq!(l6["path"], r"/p\xffé", "{engine}: %FF decodes to a byte that is escaped, %C3%A9 to é");
        assert_eq!(hex_decode(l6["raw_hex"].as_str().unwrap()), EDGE_LOG[5]);
        let l7 = r(7);
        assert_eq!(l7["method"], Value::Null);
        assert_eq!(l7["path"], Value::Null);
        assert_eq!(l7["target"], r"\x16\x03\x01", "a junk request is kept whole in target");
        assert_eq!(l7["status"], 400);
        for row in rows {
            assert_eq!(row["file"], edge.to_str().unwrap());
        }
        let bad = ans["edge"]["bad"].as_array().unwrap();
        assert_eq!(bad.len(), 1, "{engine}: {bad:?}");
        assert_eq!(bad[0]["line"], 8);
        assert!(bad[0]["reason"].as_str().unwrap().contains("timestamp"), "{bad:?}");
        assert_eq!(hex_decode(bad[0]["excerpt_hex"].as_str().unwrap()), EDGE_LOG[7]);
    }
    eprintln!(
        "engines: duckdb {:.1?} (start {:.1}s), spark {:.1?} (start {:.1}s); per query: duckdb {}, spark {}",
        timings["duckdb"],
        duck["startup"].as_f64().unwrap(),
        timings["spark"],
        spark["startup"].as_f64().unwrap(),
        duck["times"],
        spark["times"]
    );
    assert!(timings["spark"] < Duration::from_secs(180), "the Spark part stays short");
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// ------------------------------------------------------------- input forms

#[test]
fn several_files_gzip_and_stdin_keep_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a.log");
    let b = tmp.path().join("b.log.gz");
    let la = "1.1.1.1 - - [08/Feb/2014:07:00:00 +0100] \"GET /a HTTP/1.1\" 200 1 \"-\" \"-\"\n\n1.1.1.2 - - [08/Feb/2014:07:00:01 +0100] \"GET /b HTTP/1.1\" 200 1 \"-\" \"-\"\n";
    std::fs::write(&a, la).unwrap();
    let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(&b).unwrap(), flate2::Compression::fast());
    gz.write_all(b"2.2.2.2 - - [09/Feb/2014:07:00:00 +0000] \"GET /c HTTP/1.1\" 200 1 \"-\" \"-\"\n")
        .unwrap();
    gz.finish().unwrap();
    let out = tmp.path().join("t");
    let o = export(&[a.to_str().unwrap(), b.to_str().unwrap()], &out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let mut seen = Vec::new();
    for f in parquet_files(&out) {
        let r = SerializedFileReader::new(std::fs::File::open(&f).unwrap()).unwrap();
        for row in r.get_row_iter(None).unwrap() {
            let s = row.unwrap().to_string();
            let field = |k: &str| {
                let i = s.find(&format!("{k}: ")).unwrap() + k.len() + 2;
                s[i..].split([',', '}']).next().unwrap().trim_matches('"').to_string()
            };
            seen.push((field("file"), field("line"), field("path")));
        }
    }
    seen.sort();
    let an = a.to_str().unwrap().to_string();
    let bn = b.to_str().unwrap().to_string();
    assert_eq!(
        seen,
        [
            (an.clone(), "1".into(), "/a".into()),
            (an, "3".into(), "/b".into()),
            (bn, "1".into(), "/c".into())
        ]
    );
    // stdin.
    let out2 = tmp.path().join("t2");
    let mut c = Command::new(env!("CARGO_BIN_EXE_tplog"))
        .args(["export", "--parquet", out2.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(la.as_bytes()).unwrap();
    let o = c.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(parquet_files(&out2).len(), 1);
    assert!(text(&o.stderr).contains("exported 2 rows"), "{}", text(&o.stderr));
    // Nothing matches: exit 1, nothing written.
    let out3 = tmp.path().join("t3");
    let o = export(&[a.to_str().unwrap()], &out3, &["--status", "500"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(parquet_files(&out3).is_empty());
}

#[test]
fn partition_by_vhost_and_host() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("vh.log");
    std::fs::write(
        &log,
        "www.example.org:443 1.1.1.1 - - [08/Feb/2014:07:00:00 +0100] \"GET /a HTTP/1.1\" 200 1 \"-\" \"-\"\n\
         api.example.org:80 1.1.1.2 - - [08/Feb/2014:07:00:01 +0100] \"GET /b HTTP/1.1\" 200 1 \"-\" \"-\"\n\
         www.example.org:443 1.1.1.3 - - [10/Feb/2014:07:00:00 +0100] \"GET /c HTTP/1.1\" 200 1 \"-\" \"-\"\n",
    )
    .unwrap();
    let out = tmp.path().join("v");
    let l = log.to_str().unwrap();
    let o = export(&[l], &out, &["--partition-by", "vhost", "--log-format", "vhost_combined"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let names: Vec<String> = parquet_files(&out)
        .iter()
        .map(|p| p.strip_prefix(&out).unwrap().display().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "date=2014-02-08/vhost=api.example.org/part-00000.parquet",
            "date=2014-02-08/vhost=www.example.org/part-00000.parquet",
            "date=2014-02-10/vhost=www.example.org/part-00000.parquet"
        ]
    );
    let out = tmp.path().join("h");
    let o = export(&[l], &out, &["--partition-by", "host", "--host", "web-1", "--log-format", "vhost_combined"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(out.join("date=2014-02-08/host=web-1/part-00000.parquet").exists());
    assert!(out.join("date=2014-02-10/host=web-1/part-00000.parquet").exists());
}

// --------------------------------------------------------------- bad input

fn assert_clean(dir: &Path) {
    let left: Vec<PathBuf> = all_files(dir)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains("part-")))
        .collect();
    assert!(left.is_empty(), "no part file, final or temporary, is left: {left:?}");
}

#[test]
fn existing_partition_is_refused_without_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("t");
    assert_eq!(export(&["testdata/access.log"], &out, &[]).status.code(), Some(0));
    let before: Vec<(PathBuf, Vec<u8>)> = parquet_files(&out)
        .into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    let o = export(&["testdata/access.log"], &out, &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains(&format!("{}/date=2014-02-0", out.display())) && err.contains("already exists") && err.contains("--overwrite"), "{err}");
    for (p, b) in &before {
        assert_eq!(&std::fs::read(p).unwrap(), b, "{} untouched", p.display());
    }
    let tmps: Vec<PathBuf> = all_files(&out).into_iter().filter(|p| p.to_string_lossy().ends_with(".tmp")).collect();
    assert!(tmps.is_empty(), "{tmps:?}");
    // --overwrite replaces the day's files (a filtered export writes one day).
    let o = export(&["testdata/access.log"], &out, &["--overwrite", "--day", "2014-02-09"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    // A day of local time (+0100) spans two UTC days: both partitions are
    // replaced, wholly (date=2014-02-08 now holds only 09/Feb's first hour).
    assert!(text(&o.stderr).contains("in 2 partitions"), "{}", text(&o.stderr));
    assert_eq!(parquet_files(&out).len(), 3);
    let day8 = SerializedFileReader::new(std::fs::File::open(out.join("date=2014-02-08/part-00000.parquet")).unwrap()).unwrap();
    let n8 = day8.metadata().file_metadata().num_rows();
    assert!(n8 > 0 && n8 < 200, "only the overwriting export's rows: {n8}");
    let o = export(&["testdata/access.log"], &out, &["--overwrite"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(parquet_files(&out).len(), 3);
}

#[test]
fn unwritable_dir_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    // Under a regular file: no directory can be made there, even by root.
    let file = tmp.path().join("plain");
    std::fs::write(&file, "x").unwrap();
    let out = file.join("export");
    let o = export(&["testdata/access.log"], &out, &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains(&out.display().to_string()), "{err}");
    // A read-only directory (only binding when not root).
    let ro = tmp.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let o = export(&["testdata/access.log"], &ro, &[]);
    let root_user = Command::new("id").arg("-u").output().map(|o| text(&o.stdout).trim() == "0").unwrap_or(false);
    if root_user {
        eprintln!("(root writes into a 0555 directory: the read-only case is only checked as a user)");
    } else {
        assert_eq!(o.status.code(), Some(2));
        assert!(text(&o.stderr).contains(&ro.display().to_string()), "{}", text(&o.stderr));
        assert_clean(&ro);
    }
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
}

struct Mount(PathBuf);
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_disk_is_an_error_and_leaves_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("big.log");
    let mut data = Vec::new();
    write_log(&GenOpts { lines: Some(60_000), ..GenOpts::default() }, &mut data).unwrap();
    std::fs::write(&log, &data).unwrap();
    let mnt = tmp.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tplog-export-test"])
        .arg(&mnt)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED full_disk_is_an_error_and_leaves_no_file: cannot mount a small tmpfs (needs root)");
        return;
    }
    let _m = Mount(mnt.clone());
    let out = mnt.join("t");
    let o = export(&[log.to_str().unwrap()], &out, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains(&out.display().to_string()), "{err}");
    assert_clean(&mnt);
}

#[test]
fn killed_export_leaves_no_file_under_a_final_name() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("big.log");
    let mut data = Vec::new();
    write_log(&GenOpts { lines: Some(300_000), ..GenOpts::default() }, &mut data).unwrap();
    std::fs::write(&log, &data).unwrap();
    let out = tmp.path().join("t");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tplog"))
        .args(["export", "--parquet", out.to_str().unwrap(), "--row-group-rows", "20000", "-j", "1"])
        .arg(&log)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once it has written a first row group.
    let t = Instant::now();
    let mut saw_tmp = false;
    while t.elapsed() < Duration::from_secs(60) {
        if all_files(&out).iter().any(|p| p.to_string_lossy().ends_with(".tmp")) {
            saw_tmp = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let status = child.wait().unwrap();
    assert!(saw_tmp, "the export was caught while writing ({status})");
    assert!(parquet_files(&out).is_empty(), "final names only after success: {:?}", parquet_files(&out));
    // The next export into the table removes what the killed one left.
    let left: Vec<_> = all_files(&out).into_iter().filter(|p| p.to_string_lossy().ends_with(".tmp")).collect();
    let o = export(&[log.to_str().unwrap()], &out, &["--overwrite"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains(&format!("removed {} temporary file(s) an interrupted export had left", left.len())), "{err}");
    let still: Vec<_> = all_files(&out).into_iter().filter(|p| p.to_string_lossy().ends_with(".tmp")).collect();
    assert!(still.is_empty(), "{still:?}");
    assert!(!parquet_files(&out).is_empty());
}

#[test]
fn strict_and_an_existing_malformed_table_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("t");
    let o = export(&["testdata/access.log"], &out, &["--strict"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("testdata/access.log:410: malformed line") && err.contains("nothing was exported"), "{err}");
    assert_clean(&out);
    let bad = tmp.path().join("bad");
    let o = export(&["testdata/access.log"], &out, &["--malformed", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let r = SerializedFileReader::new(std::fs::File::open(bad.join("part-00000.parquet")).unwrap()).unwrap();
    assert_eq!(r.metadata().file_metadata().num_rows(), 3);
    // Another export to a new table, but the same malformed table: refused before reading.
    let o = export(&["testdata/access.log"], &tmp.path().join("t2"), &["--malformed", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains(&bad.join("part-00000.parquet").display().to_string()), "{}", text(&o.stderr));
    assert!(parquet_files(&tmp.path().join("t2")).is_empty());
}

#[test]
fn a_window_found_by_binary_search_keeps_true_line_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("t");
    let o = export(&["testdata/access.log"], &out, &["--from", "09/Feb/2014:07:05", "--to", "09/Feb/2014:07:06"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let log = std::fs::read_to_string(root().join("testdata/access.log")).unwrap();
    let want: Vec<i64> = log
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("[09/Feb/2014:07:05:") || l.contains("[09/Feb/2014:07:06:"))
        .map(|(i, _)| i as i64 + 1)
        .collect();
    assert!(want.len() > 5 && want[0] > 2000, "{want:?}");
    let mut got = Vec::new();
    for f in parquet_files(&out) {
        let r = SerializedFileReader::new(std::fs::File::open(&f).unwrap()).unwrap();
        for row in r.get_row_iter(None).unwrap() {
            let s = row.unwrap().to_string();
            let i = s.find("line: ").unwrap() + 6;
            got.push(s[i..].split([',', '}']).next().unwrap().trim().parse::<i64>().unwrap());
        }
    }
    got.sort();
    assert_eq!(got, want, "the lines of the file, not of the part scanned");
}
