//! `cargo xtask <task>`: set-up, tests, benchmarks, fuzzing and test data.
//!
//! Every task installs what it needs on a fresh Debian machine that has only
//! the Rust toolchain: Debian packages with apt-get when run as root, or the
//! exact `sudo apt-get install ...` line to run otherwise.

mod bench;
mod bench_export;
mod bench_flood;
mod bench_sniff;
mod bench_small;
mod deb;
mod fuzz;
mod gen_pcap;
mod install_test;
mod lab;
mod sys;
mod virt_lab;
mod web;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

/// Set-up, tests, benchmarks, fuzzing and test data for tplab.
#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    arg_required_else_help = true,
    disable_help_subcommand = true
)]
struct Xtask {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand, Debug)]
enum Task {
    /// Build tplog and run the lab's four log queries on testdata/access.log.
    Demo,
    /// Install what the tests need, then run the whole test suite (and, as
    /// root, the package's install test).
    Test {
        /// Passed to `cargo test` (e.g. a test name, or `-- --nocapture`).
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "CARGO TEST ARGS"
        )]
        args: Vec<String>,
    },
    /// Write a realistic access log (deterministic for a seed).
    GenLog(GenLogOpts),
    /// Write the deterministic test captures and what each must yield.
    GenPcap(gen_pcap::Opts),
    /// Install libvirtd, QEMU and the tiny guest's packages (root; the
    /// real-QEMU test in tests/e2e_virt.rs needs them).
    VirtLabDeps,
    /// `tplog export` on a generated log next to `tplog ips`: throughput,
    /// Parquet size, peak memory, and the lab's queries on DuckDB and Spark.
    BenchExport(bench_export::Opts),
    /// Whole-process comparison of tplog with the lab's pipelines, ripgrep,
    /// mawk and GoAccess on a generated log; writes BENCHMARKS.md.
    Bench(bench::Opts),
    /// The lab network in namespaces (br0, apache2 over HTTP and HTTPS, a
    /// client); root; see docs/lab.md.
    Lab(lab::Opts),
    /// tpsniff against tcpdump|grep, ngrep and tshark on a generated
    /// capture, live replay and a million-flow SYN flood; writes
    /// BENCHMARKS.md's tpsniff part.
    BenchSniff(bench_sniff::Opts),
    /// Run the cargo-fuzz targets of fuzz/ one after the other, niced;
    /// prints executions, coverage, crashes.
    Fuzz(fuzz::Opts),
    /// Build the web console's front end (npm ci, esbuild) into web/dist.
    Web,
    /// Build and start the web console (`tplab serve`), by default on
    /// libvirt's test driver; prints the URL to open.
    Console {
        /// Passed to `tplab serve` (e.g. `-c qemu:///system --log FILE`).
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "SERVE ARGS"
        )]
        args: Vec<String>,
    },
    /// Build the Debian package of every binary (target/debian/*.deb).
    #[command(alias = "dist")]
    Deb,
    /// Build the package, install it with apt-get, use the tools from
    /// /usr/bin, purge it (root; otherwise says what it skipped).
    TestInstall,
}

/// `cargo xtask gen-log` options.
#[derive(clap::Args, Debug)]
struct GenLogOpts {
    /// Output file (default: stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Number of lines [default: 10000].
    #[arg(long, value_name = "N", conflicts_with = "size")]
    lines: Option<u64>,
    /// Stop at this size instead (e.g. 500M, 1G, 10G).
    #[arg(long, value_name = "SIZE", value_parser = bench::size_arg)]
    size: Option<u64>,
    /// Seed.
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    /// No lookalikes or malformed lines (grep and tplog then agree).
    #[arg(long)]
    plain: bool,
    /// The same requests in another format: `vhost-timed` (Apache
    /// `%v:%p <combined> %D`) or `caddy` (Caddy v2 JSON); lines that are
    /// not valid combined are left out (--size and --lines count the
    /// combined log generated first).
    #[arg(long = "as", value_name = "LAYOUT", default_value = "combined",
          value_parser = ["combined", "vhost-timed", "caddy"])]
    layout: String,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is in the workspace")
        .to_path_buf()
}

fn main() {
    // No task: list them (and exit 0, as `cargo xtask help` would).
    if std::env::args_os().len() <= 1 {
        let _ = <Xtask as clap::CommandFactory>::command().print_help();
        return;
    }
    let x = Xtask::parse();
    let result = match x.task {
        Task::Demo => demo(),
        Task::Test { args } => test(&args),
        Task::GenLog(o) => gen_log(&o),
        Task::GenPcap(o) => gen_pcap::run(&o),
        Task::VirtLabDeps => virt_lab::install_deps(),
        Task::Bench(o) => bench::run(&o),
        Task::BenchExport(o) => bench_export::run(&o),
        Task::Lab(o) => lab::run(&o),
        Task::BenchSniff(o) => bench_sniff::run(&o),
        Task::Fuzz(o) => fuzz::run_cmd(&o),
        Task::Web => web::build(),
        Task::Console { args } => console(&args),
        Task::Deb => deb::run_cmd(),
        Task::TestInstall => install_test::run(),
    };
    if let Err(e) = result {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(2);
    }
}

/// Runs a command, failing with its command line when it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// Builds the release tplog and returns its path. tplog needs no C
/// library: it is built without the capture and libvirt features.
pub fn build_tplog() -> Result<PathBuf> {
    run(cargo().args([
        "build",
        "--quiet",
        "--release",
        "--no-default-features",
        "--bin",
        "tplog",
    ]))?;
    Ok(root().join("target/release/tplog"))
}

/// The lab's four queries on the bundled sample, each under a heading.
fn demo() -> Result<()> {
    let tplog = build_tplog()?;
    let log = "testdata/access.log";
    let queries: [(&str, &[&str]); 4] = [
        ("Who asked for truc.html?", &["ips", "--page", "truc.html"]),
        (
            "Who came between 07:00 and 07:15 on 8 February?",
            &[
                "ips",
                "--from",
                "08/Feb/2014:07:00",
                "--to",
                "08/Feb/2014:07:15",
            ],
        ),
        (
            "Who asked for bidule.html between 07:05 and 07:15 on 9 February?",
            &[
                "ips",
                "--page",
                "bidule.html",
                "--from",
                "09/Feb/2014:07:05",
                "--to",
                "09/Feb/2014:07:15",
            ],
        ),
        (
            "On which days did 192.168.11.53 come?",
            &["days", "--ip", "192.168.11.53"],
        ),
    ];
    for (title, q) in queries {
        println!("== {title}\n$ tplog {} testdata/access.log", q.join(" "));
        let status = Command::new(&tplog)
            .args(q)
            .arg(log)
            .current_dir(root())
            .status()
            .context("running tplog")?;
        if status.code() == Some(2) {
            bail!("tplog failed on {q:?}");
        }
        println!();
    }
    report_demo(&tplog, log)
}

/// The report of the sample log, and its screenshots (desktop and phone)
/// where Chromium and the web tests' npm packages are there.
fn report_demo(tplog: &std::path::Path, log: &str) -> Result<()> {
    let out = root().join("target/report.html");
    println!("== The same log as a report to look at\n$ tplog report -o target/report.html {log}");
    let st = Command::new(tplog)
        .args(["report", "-o"])
        .arg(&out)
        .arg(log)
        .current_dir(root())
        .status()
        .context("running tplog report")?;
    if !st.success() {
        bail!("tplog report failed ({st})");
    }
    println!("open {} in a browser (it needs no network)", out.display());
    let shots = root().join("target/screenshots");
    if !std::path::Path::new("/usr/bin/chromium").exists() || !root().join("web/node_modules/playwright-core").exists() {
        println!("(no screenshot: it needs /usr/bin/chromium and `cargo xtask web`; `cargo xtask test` installs both as root)");
        return Ok(());
    }
    let st = Command::new("node")
        .arg("tests/report.mjs")
        .current_dir(root().join("web"))
        .env("REPORT", &out)
        .env("LOG", root().join(log))
        .env("TPLOG", tplog)
        .env("SHOTS", &shots)
        .env("MODE", "shots")
        .env("NAME", "report")
        .status()
        .context("running node for the screenshots")?;
    if !st.success() {
        bail!("web/tests/report.mjs failed ({st})");
    }
    println!("screenshots: {} and {}", shots.join("report.png").display(), shots.join("report-phone.png").display());
    Ok(())
}

/// What a whole `cargo xtask test` run takes on disk from a fresh clone:
/// target/ (debug, fuzz and release builds), the Debian packages, the
/// Python venvs and the npm modules. Measured with `df` every 10 s over a
/// whole run: 3.3 GiB at the peak, 3.0 GiB of it target/; twice that
/// leaves room for the packages of a machine that has none yet.
const TEST_RUN_DISK: u64 = 6 << 30;

/// Installs what the tests need, then runs every test.
fn test(args: &[String]) -> Result<()> {
    sys::report_disk(&root(), TEST_RUN_DISK);
    sys::ensure_packages(sys::TEST_PACKAGES)?;
    // The real libvirtd + QEMU end-to-end test: only root can install and
    // run it; without root the test says what it skipped.
    if sys::is_root() && !sys::all_installed(virt_lab::APT_PACKAGES) {
        sys::apt_update()?;
        virt_lab::install_deps()?;
    }
    if sys::is_root() {
        virt_lab::system_user_for_qemu()?;
    }
    // The web console: its front end (npm) and Debian's Chromium for the
    // browser tests, which drive it with playwright-core.
    web::build()?;
    if sys::is_root() {
        sys::ensure_packages(web::BROWSER_PACKAGES)?;
    }
    // tplog export's tests run the real Spark and DuckDB on its tables.
    let engines = sys::export_engines(&root())?;
    // tpsniff's VNC and MSSQL tests: their PyPI clients and the cracker of
    // VNC's lines.
    let (sniff_py, vncdo, john) = sys::sniff_tools(&root())?;
    let mut c = cargo();
    c.env("TPLAB_EXPORT_PYTHON", &engines);
    c.env("TPLAB_SNIFF_PYTHON", &sniff_py);
    c.env("TPLAB_VNCDO", &vncdo);
    c.env("TPLAB_JOHN", &john);
    c.args([
        "test",
        "--workspace",
        "--all-targets",
        "--features",
        "tplab/console",
    ])
    .args(args);
    run(&mut c)?;
    // tplog must also build without the C libraries.
    run(cargo().args([
        "build",
        "--quiet",
        "--no-default-features",
        "--bin",
        "tplog",
    ]))?;
    // The fuzz targets must build (plain stable build: no sanitizer, no run);
    // libfuzzer-sys compiles libFuzzer, which is C++.
    sys::ensure_packages(&["g++"])?;
    run(cargo().args(["build", "--quiet", "--manifest-path", "fuzz/Cargo.toml"]))?;
    // The doc tests (all-targets leaves them out).
    run(cargo().args(["test", "--quiet", "--doc"]))?;
    // The Debian package, installed, used from /usr/bin and purged (root).
    install_test::run()
}

/// Builds the console and runs `tplab serve` in the foreground.
fn console(args: &[String]) -> Result<()> {
    web::build()?;
    run(cargo().args([
        "build",
        "--quiet",
        "--features",
        "console",
        "--bin",
        "tplab",
    ]))?;
    let mut c = Command::new(root().join("target/debug/tplab"));
    c.arg("serve");
    if !args.iter().any(|a| a == "-c" || a.starts_with("--connect")) {
        c.args(["-c", "test:///default"]);
    }
    if sys::is_root() && !args.iter().any(|a| a == "--user") {
        c.args(["--user", "nobody"]);
    }
    run(c.args(args))
}

/// Where BENCHMARKS.md's tpsniff part starts: `cargo xtask bench` writes
/// what comes before it, `cargo xtask bench-sniff` what comes from it.
pub const SNIFF_PART: &str = "\n# tpsniff (`cargo xtask bench-sniff`)";

/// Writes `text` as the tplog part (`sniff == false`) or the tpsniff part
/// of `file`, keeping the other part as it is.
pub fn write_bench_part(file: &Path, text: &str, sniff: bool) -> Result<()> {
    let old = std::fs::read_to_string(file).unwrap_or_default();
    let (log_part, sniff_part) = match old.find(SNIFF_PART) {
        Some(i) => (old[..i].to_string(), old[i..].to_string()),
        None => (old.clone(), String::new()),
    };
    let new = if sniff {
        format!("{}\n{}", log_part.trim_end(), text.trim_start_matches('\n'))
    } else {
        format!("{}\n{}", text.trim_end(), sniff_part)
    };
    std::fs::write(file, new)?;
    Ok(())
}

/// `500M`, `1G`, `10G`, or bytes.
pub fn parse_size(s: &str) -> Result<u64> {
    let (num, mult) = match s.as_bytes().last() {
        Some(b'K' | b'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some(b'M' | b'm') => (&s[..s.len() - 1], 1 << 20),
        Some(b'G' | b'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let n: f64 = num
        .parse()
        .with_context(|| format!("bad size {s:?}: expected e.g. 500M, 1G"))?;
    Ok((n * mult as f64) as u64)
}

fn gen_log(o: &GenLogOpts) -> Result<()> {
    use tplab::testgen::log::{write_log, GenOpts};
    let mut opts = GenOpts {
        seed: o.seed,
        ..GenOpts::default()
    };
    if let Some(n) = o.lines {
        opts.lines = Some(n);
    }
    if let Some(b) = o.size {
        opts.bytes = Some(b);
        opts.lines = None;
    }
    if o.plain {
        opts.traps = false;
        opts.malformed = false;
    }
    use std::io::Write as _;
    use tplab::testgen::formats::{Converter, Layout};
    let layout = match o.layout.as_str() {
        "vhost-timed" => Layout::VhostTimed,
        "caddy" => Layout::Caddy,
        _ => Layout::Combined,
    };
    let sink: Box<dyn std::io::Write> = match &o.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    if layout == Layout::Combined {
        let mut w = sink;
        let rep = write_log(&opts, &mut w)?;
        w.flush()?;
        eprintln!(
            "gen-log: {} lines, {} bytes, {} malformed",
            rep.lines, rep.bytes, rep.malformed
        );
    } else {
        let mut c = Converter::new(sink, layout);
        let rep = write_log(&opts, &mut c)?;
        let (_, written, dropped, bytes) = c.finish()?;
        eprintln!(
            "gen-log: {} combined lines ({} bytes) as {}: {written} lines, {bytes} bytes, {dropped} left out (not valid combined; for Caddy also a request without a request line)",
            rep.lines, rep.bytes, o.layout
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Task {
        let mut v = vec!["cargo xtask"];
        v.extend(args);
        Xtask::try_parse_from(v).unwrap().task
    }

    #[test]
    fn test_passes_its_arguments_to_cargo_test_as_given() {
        match parse(&["test", "--test", "generate", "--", "--nocapture"]) {
            Task::Test { args } => assert_eq!(args, ["--test", "generate", "--", "--nocapture"]),
            t => panic!("{t:?}"),
        }
        match parse(&["test"]) {
            Task::Test { args } => assert!(args.is_empty()),
            t => panic!("{t:?}"),
        }
    }

    #[test]
    fn task_options_keep_their_defaults() {
        match parse(&["bench"]) {
            Task::Bench(o) => assert_eq!(
                format!("{o:?}"),
                "Opts { size: 1073741824, runs: 5, goaccess: true, mem10g: false, out: None }"
            ),
            t => panic!("{t:?}"),
        }
        match parse(&["bench-sniff", "--size", "500M", "--no-live"]) {
            Task::BenchSniff(o) => assert_eq!(format!("{o:?}"), "Opts { size: 524288000, runs: 3, flows: 1000000, live: false, tshark: true, only_floods: false, small_packets: 600000, speed: false, out: None }"),
            t => panic!("{t:?}"),
        }
        match parse(&["gen-log", "--size", "1G", "--plain"]) {
            Task::GenLog(o) => {
                assert_eq!(
                    (o.size, o.lines, o.seed, o.plain),
                    (Some(1 << 30), None, 1, true)
                )
            }
            t => panic!("{t:?}"),
        }
        assert!(matches!(parse(&["dist"]), Task::Deb));
        assert!(Xtask::try_parse_from(["cargo xtask", "bench", "--runs", "0"]).is_err());
        assert!(Xtask::try_parse_from(["cargo xtask", "fuzz", "no_such_target"]).is_err());
    }

    #[test]
    fn each_bench_rewrites_only_its_part_of_benchmarks_md() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-part-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("BENCHMARKS.md");
        let _ = std::fs::remove_file(&f);
        write_bench_part(&f, "# Benchmarks\nlog v1\n", false).unwrap();
        write_bench_part(
            &f,
            &format!("{}\nsniff v1\n", SNIFF_PART.trim_start()),
            true,
        )
        .unwrap();
        write_bench_part(&f, "# Benchmarks\nlog v2\n", false).unwrap();
        let s = std::fs::read_to_string(&f).unwrap();
        assert!(
            s.contains("log v2") && !s.contains("log v1") && s.contains("sniff v1"),
            "{s}"
        );
        write_bench_part(
            &f,
            &format!("{}\nsniff v2\n", SNIFF_PART.trim_start()),
            true,
        )
        .unwrap();
        let s = std::fs::read_to_string(&f).unwrap();
        assert!(
            s.contains("log v2") && s.contains("sniff v2") && !s.contains("sniff v1"),
            "{s}"
        );
        assert_eq!(s.matches("# tpsniff").count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
