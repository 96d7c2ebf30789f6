//! `cargo xtask bench`: whole-process timings of tplog against what users
//! would otherwise run, on a generated log in the page cache. Commands of
//! a group are alternated (run 1 of each, then run 2 of each...) so that
//! noise from a shared machine spreads over all of them; medians and
//! ratios to `wc -l` (the cost of just reading the file) and to the lab's
//! pipeline go to BENCHMARKS.md.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::{parse_size, root, run as must};

/// `cargo xtask bench` options.
#[derive(clap::Args, Debug)]
pub struct Opts {
    /// Size of the generated log (500M, 1G, 10G, or bytes).
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = size_arg)]
    size: u64,
    /// Alternated runs of each command (the table gives medians).
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,
    /// Leave out GoAccess (one run takes minutes).
    #[arg(long = "no-goaccess", action = clap::ArgAction::SetFalse)]
    goaccess: bool,
    /// Also measure memory on a 10 GiB log (generated, then removed).
    #[arg(long = "mem-10g")]
    mem10g: bool,
    /// The file whose tplog part is rewritten (default: BENCHMARKS.md).
    #[arg(short = 'o', value_name = "FILE")]
    out: Option<PathBuf>,
}

/// `--size`'s parser: [`parse_size`] with clap's error type.
pub fn size_arg(s: &str) -> std::result::Result<u64, String> {
    parse_size(s).map_err(|e| format!("{e:#}"))
}

/// One command line, run by `sh -c` in the data directory.
struct Cmd {
    label: &'static str,
    sh: String,
}

/// Runs `sh -c SCRIPT` in `dir` once and returns how long it took
/// (stdout and stderr discarded; grep-style exit 1, "no match", is fine).
pub fn time_once(sh: &str, dir: &Path) -> Result<Duration> {
    let t = Instant::now();
    let st = Command::new("sh")
        .arg("-c")
        .arg(sh)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    let d = t.elapsed();
    if !(st.success() || st.code() == Some(1)) {
        bail!("`{sh}` failed: {st}");
    }
    Ok(d)
}

pub fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    }
}

/// Runs the commands alternated `runs` times; returns their medians.
fn measure(cmds: &[Cmd], dir: &Path, runs: usize) -> Result<Vec<Duration>> {
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); cmds.len()];
    for r in 0..runs {
        for (i, c) in cmds.iter().enumerate() {
            let d = time_once(&c.sh, dir)?;
            eprintln!(
                "  run {}/{runs} {:<40} {:>8.3} s",
                r + 1,
                c.label,
                d.as_secs_f64()
            );
            times[i].push(d);
        }
    }
    Ok(times.iter_mut().map(|v| median(v)).collect())
}

/// Peak anonymous memory (RssAnon, not the mapped file) of a command, by
/// sampling /proc every 5 ms.
/// Peak RssAnon of `argv`; with `stdin_from`, its stdin is a pipe fed by
/// `cat FILE` (the streaming path, whose blocks are anonymous memory).
pub(crate) fn peak_anon_kib(argv: &[&str], dir: &Path, stdin_from: Option<&Path>) -> Result<u64> {
    let mut cat = match stdin_from {
        Some(f) => Some(Command::new("cat").arg(f).stdout(Stdio::piped()).spawn()?),
        None => None,
    };
    let stdin = match cat.as_mut().and_then(|c| c.stdout.take()) {
        Some(out) => Stdio::from(out),
        None => Stdio::null(),
    };
    let mut child = Command::new(argv[0])
        .args(&argv[1..])
        .current_dir(dir)
        .stdin(stdin)
        .stdout(Stdio::null())
        .spawn()?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status_path) {
            for l in s.lines() {
                if let Some(v) = l.strip_prefix("RssAnon:") {
                    let kib: u64 = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                    peak = peak.max(kib);
                }
            }
        }
        if child.try_wait()?.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if let Some(mut c) = cat {
        c.wait()?;
    }
    Ok(peak)
}

pub(crate) fn gen(size: u64, path: &Path) -> Result<()> {
    if path.metadata().map(|m| m.len() >= size).unwrap_or(false) {
        return Ok(());
    }
    eprintln!("bench: generating {} ({} bytes)", path.display(), size);
    let opts = tplab::testgen::log::GenOpts {
        lines: None,
        bytes: Some(size),
        seed: 1,
        ..Default::default()
    };
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    tplab::testgen::log::write_log(&opts, &mut w)?;
    std::io::Write::flush(&mut w)?;
    Ok(())
}

pub(crate) fn warm(path: &Path) -> Result<()> {
    must(
        Command::new("sh")
            .arg("-c")
            .arg(format!("cat '{}' > /dev/null", path.display())),
    )
}

pub fn run(o: &Opts) -> Result<()> {
    let runs = o.runs as usize;
    let out = o
        .out
        .clone()
        .unwrap_or_else(|| root().join("BENCHMARKS.md"));
    crate::sys::ensure_packages(&["ripgrep", "mawk", "goaccess"])?;
    let tplog = crate::build_tplog()?;
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let name = format!("access-{}.log", o.size);
    let file = dir.join(&name);
    gen(o.size, &file)?;
    warm(&file)?;
    let t = tplog.display();
    // BENCHMARKS.md shows the command as anyone runs it from the
    // repository, not this machine's absolute path.
    let t_abs = t.to_string();
    let t_shown = tplog
        .strip_prefix(root())
        .unwrap_or(&tplog)
        .display()
        .to_string();
    let lang = std::env::var("LANG").unwrap_or_else(|_| "C.UTF-8".into());
    let f = &name;
    let cut_sort = "cut -d' ' -f1 | sort | uniq -c";
    let groups: Vec<(&str, Vec<Cmd>)> = vec![
        (
            "The lab's first query: who asked for truc.html",
            vec![
                Cmd { label: "wc -l", sh: format!("wc -l {f}") },
                Cmd { label: "tplog ips --page truc.html", sh: format!("{t} ips -q --page truc.html {f}") },
                Cmd { label: "lab pipeline (default locale)", sh: format!("LC_ALL={lang} grep -a truc.html {f} | LC_ALL={lang} {cut_sort}") },
                Cmd { label: "lab pipeline (LC_ALL=C)", sh: format!("export LC_ALL=C; grep -a truc.html {f} | {cut_sort}") },
                Cmd { label: "ripgrep pipeline", sh: format!("export LC_ALL=C; rg -a truc.html {f} | {cut_sort}") },
                Cmd { label: "mawk one-liner", sh: format!("mawk '/truc\\.html/ {{ c[$1]++ }} END {{ for (k in c) print c[k], k }}' {f}") },
                Cmd { label: "tplog, from stdin (cat |)", sh: format!("cat {f} | {t} ips -q --page truc.html") },
            ],
        ),
        (
            "Every line: requests per IP (full parse)",
            vec![
                Cmd { label: "wc -l", sh: format!("wc -l {f}") },
                Cmd { label: "tplog ips", sh: format!("{t} ips -q {f}") },
                Cmd { label: "tplog ips --threads 1", sh: format!("{t} ips -q --threads 1 {f}") },
                Cmd { label: "cut | sort | uniq -c (default locale)", sh: format!("export LC_ALL={lang}; cut -d' ' -f1 {f} | sort | uniq -c") },
                Cmd { label: "cut | sort | uniq -c (LC_ALL=C)", sh: format!("export LC_ALL=C; cut -d' ' -f1 {f} | sort | uniq -c") },
                Cmd { label: "mawk one-liner", sh: format!("mawk '{{ c[$1]++ }} END {{ for (k in c) print c[k], k }}' {f}") },
            ],
        ),
        (
            "A report: tplog report against tplog stats (same parse, every panel)",
            vec![
                Cmd { label: "wc -l", sh: format!("wc -l {f}") },
                Cmd { label: "tplog stats", sh: format!("{t} stats -q {f}") },
                Cmd { label: "tplog report", sh: format!("{t} report -q -o report.html {f}") },
                Cmd { label: "tplog report --format json", sh: format!("{t} report -q --format json -o report.json {f}") },
            ],
        ),
        (
            "A time window: 08/Feb/2014 07:00 to 07:15",
            vec![
                Cmd { label: "wc -l", sh: format!("wc -l {f}") },
                Cmd { label: "tplog ips --from --to", sh: format!("{t} ips -q --from 08/Feb/2014:07:00 --to 08/Feb/2014:07:15 {f}") },
                Cmd { label: "tplog ips --from --to (no seek)", sh: format!("{t} ips -q --no-seek --from 08/Feb/2014:07:00 --to 08/Feb/2014:07:15 {f}") },
                Cmd { label: "lab pipeline (LC_ALL=C)", sh: format!("export LC_ALL=C; grep -a '08/Feb/2014:07:0\\|08/Feb/2014:07:1[0-5]' {f} | {cut_sort}") },
            ],
        ),
        (
            "One client's days: --ip 192.168.11.53",
            vec![
                Cmd { label: "wc -l", sh: format!("wc -l {f}") },
                Cmd { label: "tplog days --ip", sh: format!("{t} days -q --ip 192.168.11.53 {f}") },
                Cmd { label: "tplog days --day 2014-02-09 (seek)", sh: format!("{t} days -q --day 2014-02-09 {f}") },
                Cmd {
                    label: "lab pipeline (LC_ALL=C)",
                    sh: format!("export LC_ALL=C; grep -a 192.168.11.53 {f} | cut -d' ' -f4 | cut -d: -f1 | sort | uniq -c"),
                },
            ],
        ),
    ];

    let mut md = String::new();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_default();
    let date = String::from_utf8(Command::new("date").arg("-u").output()?.stdout)?
        .trim()
        .to_string();
    writeln!(md, "# Benchmarks\n")?;
    writeln!(
        md,
        "Made by `cargo xtask bench --size {} --runs {}` on {date}.\n",
        o.size, o.runs
    )?;
    writeln!(
        md,
        "- Machine: {cpu}, {cores} cores, {}",
        mem.replace("MemTotal:", "memory")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    )?;
    writeln!(
        md,
        "- Input: `cargo xtask gen-log --size {} --seed 1`, {} bytes, in the page cache (read once before timing).",
        o.size,
        file.metadata()?.len()
    )?;
    writeln!(md, "- Each group's commands are alternated, {} runs each; the table gives medians. The machine is shared: compare ratios within a group, measured side by side.", o.runs)?;
    writeln!(md, "- Default locale here: `{lang}`. `grep -a`: the generated log, like real ones after log rotation, holds NUL bytes, and plain `grep` then prints only \"binary file matches\".\n")?;

    let size = file.metadata()?.len() as f64;
    for (title, cmds) in &groups {
        eprintln!("bench: {title}");
        let med = measure(cmds, &dir, runs)?;
        let wc = med[0].as_secs_f64();
        let lab = cmds
            .iter()
            .position(|c| c.label.starts_with("lab pipeline") || c.label.starts_with("cut |"))
            .map(|i| med[i].as_secs_f64());
        writeln!(md, "## {title}\n")?;
        writeln!(
            md,
            "| command | median | throughput | × wc -l | baseline ÷ this |"
        )?;
        writeln!(md, "|---|---:|---:|---:|---:|")?;
        for (c, m) in cmds.iter().zip(&med) {
            let s = m.as_secs_f64();
            let speedup = lab.map_or("".to_string(), |l| format!("{:.1}", l / s));
            writeln!(
                md,
                "| `{}` | {:.3} s | {:.0} MB/s | {:.2} | {} |",
                c.sh.replace(&t_abs, &t_shown).replace('|', "\\|"),
                s,
                size / s / 1e6,
                s / wc,
                speedup
            )?;
        }
        writeln!(
            md,
            "\nBaseline: the first pipeline of the group (`{}`).\n",
            cmds.iter()
                .find(|c| c.label.starts_with("lab pipeline") || c.label.starts_with("cut |"))
                .map_or("", |c| c.label)
        )?;
    }

    if o.goaccess {
        eprintln!("bench: GoAccess (one run: it takes minutes)");
        let d = time_once(&format!("goaccess {f} --log-format=COMBINED --no-progress -o /dev/null --output-format=json"), &dir)
            .or_else(|_| time_once(&format!("goaccess {f} --log-format=COMBINED -o report.json"), &dir))?;
        let g_html = time_once(&format!("goaccess {f} --log-format=COMBINED --no-progress -o goaccess.html"), &dir)?;
        let tp = time_once(&format!("{t} stats -q {f}"), &dir)?;
        let tr = time_once(&format!("{t} report -q -o report.html {f}"), &dir)?;
        let html_size = std::fs::metadata(dir.join("report.html")).map_or(0, |m| m.len());
        writeln!(md, "## A full report: GoAccess against `tplog report`\n")?;
        writeln!(md, "One run each, one after the other (GoAccess takes minutes).\n")?;
        writeln!(md, "| command | time (one run) | GoAccess HTML ÷ this |\n|---|---:|---:|")?;
        let ratio = |x: Duration| g_html.as_secs_f64() / x.as_secs_f64();
        writeln!(md, "| `goaccess {f} --log-format=COMBINED -o goaccess.html` | {:.2} s | 1.0 |", g_html.as_secs_f64())?;
        writeln!(md, "| `goaccess {f} --log-format=COMBINED -o report.json` | {:.2} s | {:.1} |", d.as_secs_f64(), ratio(d))?;
        writeln!(md, "| `tplog report -o report.html {f}` | {:.2} s | {:.0} |", tr.as_secs_f64(), ratio(tr))?;
        writeln!(md, "| `tplog stats {f}` | {:.2} s | {:.0} |", tp.as_secs_f64(), ratio(tp))?;
        writeln!(md, "\ntplog's report.html: {html_size} bytes.\n")?;
    }

    writeln!(md, "## Memory\n")?;
    writeln!(md, "Peak anonymous memory (RssAnon, sampled every 5 ms: the mapped file is page cache, not counted).\n")?;
    writeln!(md, "| input | command | peak RssAnon |\n|---|---|---:|")?;
    let mut mem_rows = vec![(file.clone(), name.clone())];
    let big = dir.join("access-10G.log");
    if o.mem10g {
        gen(10 << 30, &big)?;
        mem_rows.push((big.clone(), "access-10G.log".into()));
    }
    for (p, n) in &mem_rows {
        let ps = p.to_str().unwrap();
        for q in [
            &["ips", "-q"][..],
            &["ips", "-q", "--page", "truc.html"],
            &["stats", "-q"],
            &["report", "-q", "-o", "/dev/null"],
        ] {
            let mut argv = vec![tplog.to_str().unwrap()];
            argv.extend(q);
            argv.push(ps);
            let kib = peak_anon_kib(&argv, &dir, None)?;
            writeln!(
                md,
                "| {n} | `tplog {}` | {:.1} MiB |",
                q.join(" "),
                kib as f64 / 1024.0
            )?;
        }
        // The same query reading a pipe: blocks are anonymous memory here.
        let argv = [tplog.to_str().unwrap(), "ips", "-q", "--page", "truc.html"];
        let kib = peak_anon_kib(&argv, &dir, Some(p))?;
        writeln!(
            md,
            "| {n} | `cat {n} \\| tplog ips -q --page truc.html` | {:.1} MiB |",
            kib as f64 / 1024.0
        )?;
    }
    if o.mem10g {
        std::fs::remove_file(&big)?;
    }
    crate::write_bench_part(&out, &md, false)?;
    eprintln!("bench: wrote {}", out.display());
    print!("{md}");
    Ok(())
}
