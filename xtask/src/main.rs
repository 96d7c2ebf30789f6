//! `cargo xtask <task>`: set-up, tests, benchmarks, fuzzing and test data.
//!
//! Every task installs what it needs on a fresh Debian machine that has only
//! the Rust toolchain: Debian packages with apt-get when run as root, or the
//! exact `sudo apt-get install ...` line to run otherwise.

mod bench;
mod bench_sniff;
mod deb;
mod fuzz;
mod gen_pcap;
mod install_test;
mod lab;
mod sys;
mod virt_lab;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

const USAGE: &str = "\
usage: cargo xtask <task> [options]

tasks:
  demo                 build tplog and run the lab's four log queries on testdata/access.log
  test                 install what the tests need, then run the whole test suite
  gen-log [options]    write a realistic access log (deterministic for a seed)
      -o FILE            output file (default: stdout)
      --lines N          number of lines (default 10000)
      --size SIZE        stop at this size instead (e.g. 500M, 1G, 10G)
      --seed N           seed (default 1)
      --plain            no lookalikes or malformed lines (grep and tplog then agree)
  gen-pcap [--seed N] [--out DIR]
                       write the deterministic test captures (default testdata/pcap) and
                       what each must yield
  virt-lab-deps        install libvirtd, QEMU and the tiny guest's packages (root; the
                       real-QEMU test in tests/e2e_virt.rs needs them)
  bench [--size SIZE]  whole-process comparison of tplog with the lab's pipelines,
                       ripgrep, mawk and GoAccess on a generated log; writes BENCHMARKS.md
  lab up|down|status [--name NAME]
                       the lab network in namespaces (br0, apache2 over HTTP and HTTPS, a
                       client); root; see docs/lab.md
  lab login --http|--https [--user U] [--password P]
                       log in from the client namespace with curl
  bench-sniff [--size SIZE] [--runs N]
                       tpsniff against tcpdump|grep, ngrep and tshark on a generated capture,
                       live replay and a million-flow SYN flood; writes BENCHMARKS.md's tpsniff part
  fuzz [--secs N] [TARGET...]
                       run the cargo-fuzz targets of fuzz/ one after the other, N seconds
                       each (default 600), niced; prints executions, coverage, crashes
";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is in the workspace")
        .to_path_buf()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(),
        Some("test") => test(&args[1..]),
        Some("gen-log") => gen_log(&args[1..]),
        Some("gen-pcap") => gen_pcap::run(&args[1..]),
        Some("virt-lab-deps") => virt_lab::install_deps(),
        Some("bench") => bench::run(&args[1..]),
        Some("lab") => lab::run(&args[1..]),
        Some("bench-sniff") => bench_sniff::run(&args[1..]),
        Some("fuzz") => fuzz::run_cmd(&args[1..]),
        Some("deb" | "dist") => deb::run_cmd(),
        Some("test-install") => install_test::run(),
        Some("help" | "-h" | "--help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("unknown task {other:?}\n\n{USAGE}")),
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
    Ok(())
}

/// Installs what the tests need, then runs every test.
fn test(args: &[String]) -> Result<()> {
    sys::ensure_packages(sys::TEST_PACKAGES)?;
    // The real libvirtd + QEMU end-to-end test: only root can install and
    // run it; without root the test says what it skipped.
    if sys::is_root() && !sys::all_installed(virt_lab::APT_PACKAGES) {
        sys::apt_update()?;
        virt_lab::install_deps()?;
    }
    let mut c = cargo();
    c.args(["test", "--workspace", "--all-targets"]).args(args);
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

fn gen_log(args: &[String]) -> Result<()> {
    use tplab::testgen::log::{write_log, GenOpts};
    let mut opts = GenOpts::default();
    let mut out: Option<PathBuf> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "-o" | "--output" => out = Some(PathBuf::from(val()?)),
            "--lines" => opts.lines = Some(val()?.parse().context("--lines")?),
            "--size" => {
                opts.bytes = Some(parse_size(val()?)?);
                opts.lines = None;
            }
            "--seed" => opts.seed = val()?.parse().context("--seed")?,
            "--plain" => {
                opts.traps = false;
                opts.malformed = false;
            }
            other => bail!("gen-log: unknown option {other:?}\n\n{USAGE}"),
        }
    }
    let rep = match &out {
        Some(p) => {
            let f =
                std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?;
            let mut w = std::io::BufWriter::new(f);
            let r = write_log(&opts, &mut w)?;
            std::io::Write::flush(&mut w)?;
            r
        }
        None => write_log(&opts, &mut std::io::stdout().lock())?,
    };
    eprintln!(
        "gen-log: {} lines, {} bytes, {} malformed",
        rep.lines, rep.bytes, rep.malformed
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
