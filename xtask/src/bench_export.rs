//! `cargo xtask bench-export`: `tplog export` on a generated log, side by
//! side with `tplog ips` on the same file (alternated runs, medians), the
//! Parquet table's size against the log's, peak anonymous memory, and the
//! lab's queries timed on the table by DuckDB and Spark next to tplog's on
//! the log. Prints a Markdown report (docs/scale-out.md quotes it).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::bench::{gen, median, peak_anon_kib, size_arg, time_once, warm};

#[derive(clap::Args, Debug)]
pub struct Opts {
    /// Size of the generated log.
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = size_arg)]
    size: u64,
    /// Alternated runs of each command (the report gives medians).
    #[arg(long, value_name = "N", default_value_t = 5)]
    runs: usize,
    /// Where the log and the table go (a scratch directory, not the repo).
    #[arg(long, value_name = "DIR", default_value = "/tmp/tplab-bench-export")]
    dir: PathBuf,
    /// Leave out the engines (DuckDB and Spark query times).
    #[arg(long)]
    no_engines: bool,
    /// Also measure peak memory on a 10 GiB log (generated, then removed).
    #[arg(long = "mem-10g")]
    mem10g: bool,
}

fn build(root: &Path) -> Result<PathBuf> {
    crate::run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(root)
            .args([
                "build",
                "--quiet",
                "--release",
                "--no-default-features",
                "--features",
                "parquet",
                "--bin",
                "tplog",
            ]),
    )?;
    Ok(root.join("target/release/tplog"))
}

fn dir_bytes(d: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            let p = e.path();
            n += if p.is_dir() {
                dir_bytes(&p)
            } else {
                p.metadata().map_or(0, |m| m.len())
            };
        }
    }
    n
}

fn mib_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

pub fn run(o: &Opts) -> Result<()> {
    let root = crate::root();
    let tplog = build(&root)?;
    std::fs::create_dir_all(&o.dir)?;
    let log = o.dir.join(format!("access-{}.log", o.size));
    gen(o.size, &log)?;
    warm(&log)?;
    let size = log.metadata()?.len();
    let out = o.dir.join("table");
    let t = tplog.display();
    let l = log.display();
    let od = out.display();
    let cmds = [
        ("tplog ips", format!("{t} ips -q {l}")),
        (
            "tplog ips --page truc.html",
            format!("{t} ips -q --page truc.html {l}"),
        ),
        (
            "tplog export --parquet",
            format!("rm -rf {od} && {t} export -q --parquet {od} {l}"),
        ),
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); cmds.len()];
    for r in 0..o.runs {
        for (i, (label, sh)) in cmds.iter().enumerate() {
            let d = time_once(sh, &o.dir)?;
            eprintln!(
                "  run {}/{} {label:<30} {:>8.3} s",
                r + 1,
                o.runs,
                d.as_secs_f64()
            );
            times[i].push(d);
        }
    }
    let meds: Vec<Duration> = times.iter_mut().map(|v| median(v)).collect();
    let table = dir_bytes(&out);
    let mut md = String::new();
    writeln!(md, "## tplog export (`cargo xtask bench-export`)\n")?;
    writeln!(
        md,
        "- Log: {} ({} bytes, generated, in page cache); {} alternated runs, medians.",
        l, size, o.runs
    )?;
    writeln!(
        md,
        "- Machine: {} cores.\n",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    )?;
    writeln!(md, "| command | median | log MiB/s |\n|---|---:|---:|")?;
    for ((label, _), d) in cmds.iter().zip(&meds) {
        writeln!(
            md,
            "| `{label}` | {:.2} s | {:.0} |",
            d.as_secs_f64(),
            mib_s(size, *d)
        )?;
    }
    writeln!(
        md,
        "\nParquet table: {} bytes, {:.1}% of the log (zstd level 1, dictionary strings).\n",
        table,
        table as f64 * 100.0 / size as f64
    )?;
    // Peak anonymous memory.
    let outs = out.to_str().context("a UTF-8 path")?;
    let _ = std::fs::remove_dir_all(&out);
    let ex = peak_anon_kib(
        &[
            tplog.to_str().unwrap(),
            "export",
            "-q",
            "--parquet",
            outs,
            log.to_str().unwrap(),
        ],
        &o.dir,
        None,
    )?;
    let ips = peak_anon_kib(
        &[tplog.to_str().unwrap(), "ips", "-q", log.to_str().unwrap()],
        &o.dir,
        None,
    )?;
    writeln!(md, "| input | command | peak RssAnon |\n|---|---|---:|")?;
    writeln!(
        md,
        "| {} | `tplog export` | {} MiB |",
        human(size),
        ex / 1024
    )?;
    writeln!(md, "| {} | `tplog ips` | {} MiB |", human(size), ips / 1024)?;
    if o.mem10g {
        let big = o.dir.join("access-10G.log");
        gen(10 << 30, &big)?;
        let out10 = o.dir.join("table-10g");
        let _ = std::fs::remove_dir_all(&out10);
        let ex10 = peak_anon_kib(
            &[
                tplog.to_str().unwrap(),
                "export",
                "-q",
                "--parquet",
                out10.to_str().unwrap(),
                big.to_str().unwrap(),
            ],
            &o.dir,
            None,
        )?;
        writeln!(md, "| 10 GiB | `tplog export` | {} MiB |", ex10 / 1024)?;
        let _ = std::fs::remove_dir_all(&out10);
        let _ = std::fs::remove_file(&big);
    }
    if !o.no_engines {
        engines(&mut md, &root, &tplog, &log, &out)?;
    }
    println!("{md}");
    Ok(())
}

fn human(b: u64) -> String {
    format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)
}

/// The lab's queries: tplog on the log, DuckDB and Spark on the table.
fn engines(md: &mut String, root: &Path, tplog: &Path, log: &Path, table: &Path) -> Result<()> {
    let py = crate::sys::export_engines(root)?;
    let queries: &[(&str, &str, serde_json::Value)] = &[
        (
            "ips --page truc.html",
            "truc",
            serde_json::json!({"kind": "ips", "page": "truc.html"}),
        ),
        (
            "ips --from 08/Feb/2014:07:00 --to 08/Feb/2014:07:15",
            "window",
            serde_json::json!({"kind": "ips", "from": "2014-02-08T07:00:00", "to": "2014-02-08T07:15:59"}),
        ),
        (
            "ips --page bidule.html --from 09/Feb/2014:07:05 --to 09/Feb/2014:07:15",
            "bidule",
            serde_json::json!({"kind": "ips", "page": "bidule.html", "from": "2014-02-09T07:05:00", "to": "2014-02-09T07:15:59"}),
        ),
        (
            "days --ip 192.168.11.53",
            "days_ip",
            serde_json::json!({"kind": "days", "ip": "192.168.11.53"}),
        ),
        ("stats", "stats", serde_json::json!({"kind": "stats"})),
        ("status", "status", serde_json::json!({"kind": "status"})),
    ];
    let mut qs = Vec::new();
    for (_, name, q) in queries {
        let mut q = q.clone();
        q["name"] = (*name).into();
        qs.push(q);
    }
    let job = |engine: &str| serde_json::json!({"engine": engine, "datasets": [{"name": "t", "dir": table, "malformed": null, "queries": qs}]});
    let mut answers = Vec::new();
    for engine in ["duckdb", "spark"] {
        // Twice: the second run's times are the warm ones (files in cache, JIT warm).
        let mut last = serde_json::Value::Null;
        for _ in 0..2 {
            let mut c = Command::new(&py)
                .arg(root.join("tests/export/engines.py"))
                .env("PYSPARK_PYTHON", &py)
                .env("SPARK_LOCAL_IP", "127.0.0.1")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()?;
            std::io::Write::write_all(
                &mut c.stdin.take().unwrap(),
                job(engine).to_string().as_bytes(),
            )?;
            let o = c.wait_with_output()?;
            if !o.status.success() {
                bail!("{engine} failed on the table");
            }
            last = serde_json::from_slice(&o.stdout)?;
        }
        answers.push(last);
    }
    writeln!(md, "\nThe lab's queries: tplog on the log (median of 3), DuckDB 1.3 and Spark 3.5 (local[2]) on the table (second of two runs; Spark's session start {:.1} s not included).\n", answers[1]["startup"].as_f64().unwrap_or(0.0))?;
    writeln!(
        md,
        "| query | tplog on the log | DuckDB on Parquet | Spark on Parquet |\n|---|---:|---:|---:|"
    )?;
    for (cmd, name, _) in queries {
        let sh = format!("{} {cmd} -q {}", tplog.display(), log.display());
        let mut v: Vec<Duration> = (0..3)
            .map(|_| time_once(&sh, root))
            .collect::<Result<_>>()?;
        let tp = median(&mut v);
        let key = format!("t/{name}");
        writeln!(
            md,
            "| `{cmd}` | {:.2} s | {:.2} s | {:.2} s |",
            tp.as_secs_f64(),
            answers[0]["times"][&key].as_f64().unwrap_or(f64::NAN),
            answers[1]["times"][&key].as_f64().unwrap_or(f64::NAN)
        )?;
    }
    Ok(())
}
