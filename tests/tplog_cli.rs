//! The real `tplog` binary on files in a temp dir: the lab's queries
//! against the lab's shell pipelines, exit codes, messages, formats, stdin,
//! gzip, and the real access log in `../shared/logs/`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tplab::log::parse::parse_line;
use tplab::log::record::target_path;
use tplab::testgen::log::{write_log, GenOpts};

fn tplog() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tplog"))
}

fn run(args: &[&str]) -> Output {
    tplog()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("tplog runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn sh(script: &str, dir: &Path) -> Vec<u8> {
    let o = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    assert!(
        o.status.success() || o.status.code() == Some(1),
        "{script}: {}",
        text(&o.stderr)
    );
    o.stdout
}

struct Log {
    dir: tempfile::TempDir,
    path: PathBuf,
    data: Vec<u8>,
}

impl Log {
    fn new(opts: GenOpts) -> Log {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let mut data = Vec::new();
        write_log(&opts, &mut data).unwrap();
        std::fs::write(&path, &data).unwrap();
        Log { dir, path, data }
    }
    fn p(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

const LAB: [(&str, &[&str]); 4] = [
    ("grep truc.html access.log | cut -d' ' -f1 | sort | uniq -c", &["ips", "--page", "truc.html"]),
    (
        "grep '08/Feb/2014:07:0\\|08/Feb/2014:07:1[0-5]' access.log | cut -d' ' -f1 | sort | uniq -c",
        &["ips", "--from", "08/Feb/2014:07:00", "--to", "08/Feb/2014:07:15"],
    ),
    (
        "grep bidule.html access.log | grep '09/Feb/2014:07:0[5-9]\\|09/Feb/2014:07:1[0-5]' | cut -d' ' -f1 | sort | uniq -c",
        &["ips", "--page", "bidule.html", "--from", "09/Feb/2014:07:05", "--to", "09/Feb/2014:07:15"],
    ),
    (
        "grep 192.168.11.53 access.log | cut -d' ' -f4 | cut -d: -f1 | tr -d '[' | sort | uniq -c",
        &["days", "--ip", "192.168.11.53"],
    ),
];

#[test]
fn the_lab_pipelines_and_tplog_agree_where_their_meanings_coincide() {
    let log = Log::new(GenOpts::plain(2014, 40_000));
    for (pipeline, args) in LAB {
        let want = sh(pipeline, log.dir.path());
        let mut a = args.to_vec();
        a.push(log.p());
        let o = run(&a);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o.stderr));
        assert!(!want.is_empty(), "{pipeline} finds something on the sample");
        assert_eq!(text(&o.stdout), text(&want), "{args:?} vs {pipeline}");
        assert_eq!(text(&o.stderr), "", "a plain log has nothing to report");
    }
}

#[test]
fn grep_over_matches_referers_and_lookalikes_and_misses_encoded_paths() {
    let log = Log::new(GenOpts {
        seed: 8,
        lines: Some(30_000),
        ..GenOpts::default()
    });
    let grep: Vec<Vec<u8>> = sh("grep -a truc.html access.log", log.dir.path())
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    let o = run(&["lines", "--page", "truc.html", log.p()]);
    assert_eq!(o.status.code(), Some(0));
    let ours: Vec<Vec<u8>> = o
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    let only_grep: Vec<&Vec<u8>> = grep.iter().filter(|l| !ours.contains(l)).collect();
    let only_ours: Vec<&Vec<u8>> = ours.iter().filter(|l| !grep.contains(l)).collect();
    assert!(
        only_grep.len() > 100,
        "grep over-matches: {}",
        only_grep.len()
    );
    for l in &only_grep {
        // Each is a line whose path is not truc.html: the name is only in
        // the referer, the query string, or a lookalike page; or the line
        // is malformed and grep cannot tell.
        if let Ok(r) = parse_line(l) {
            let path = r.path().map(|p| p.into_owned()).unwrap_or_default();
            assert!(!path.ends_with(b"/truc.html"), "{}", text(l));
        }
    }
    assert!(
        !only_ours.is_empty(),
        "the sample has percent-encoded paths"
    );
    for l in &only_ours {
        // The line a copytruncate NUL run was glued to is printed without
        // the NULs (grep prints both as one line).
        if grep.iter().any(|g| g.first() == Some(&0) && g.ends_with(l)) {
            continue;
        }
        let r = parse_line(l).unwrap();
        let target = r.request_line().unwrap().target;
        assert!(
            target.contains(&b'%') && target_path(target).ends_with(b"/truc.html"),
            "{}",
            text(l)
        );
    }
}

#[test]
fn exit_codes_and_messages() {
    let log = Log::new(GenOpts {
        seed: 4,
        lines: Some(3000),
        ..GenOpts::default()
    });
    // Nothing matched: 1, nothing printed.
    let o = run(&["ips", "--page", "nothing-here.html", "-q", log.p()]);
    assert_eq!((o.status.code(), o.stdout.len()), (Some(1), 0));
    // A missing file among good ones: named, the others still counted, exit 2.
    let missing = log.dir.path().join("nope.log");
    let o = run(&["count", log.p(), missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let n: u64 = text(&o.stdout).trim().parse().unwrap();
    assert!(n > 2900);
    assert!(
        text(&o.stderr).contains(&format!("{}: cannot open", missing.display())),
        "{}",
        text(&o.stderr)
    );
    // A directory.
    let o = run(&["count", log.dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("is a directory"));
    // Bad arguments say what was expected.
    let o = run(&["ips", "--from", "8 Feb", log.p()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("expected 08/Feb/2014"),
        "{}",
        text(&o.stderr)
    );
    let o = run(&["ips", "--status", "4x", log.p()]);
    assert_eq!(o.status.code(), Some(2));
    // Malformed lines: counted on stderr with the first one's place.
    let o = run(&["count", log.p()]);
    let err = text(&o.stderr);
    let bad: Vec<usize> = log
        .data
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.is_empty() && parse_line(l).is_err())
        .map(|(i, _)| i + 1)
        .collect();
    assert!(!bad.is_empty());
    assert!(
        err.contains(&format!("tplog: {} malformed line", bad.len())),
        "{err}"
    );
    assert!(
        err.contains(&format!("(first: {}:{}: ", log.p(), bad[0])),
        "{err}"
    );
    // --strict makes the first one an error.
    let o = run(&["ips", "--strict", log.p()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains(&format!("{}:{}: malformed line", log.p(), bad[0])),
        "{}",
        text(&o.stderr)
    );
    // check lists them all, with line numbers.
    let o = run(&["check", log.p()]);
    assert_eq!(o.status.code(), Some(0));
    let listed: Vec<String> = text(&o.stdout)
        .lines()
        .map(|l| l.split(':').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(
        listed,
        bad.iter().map(|n| n.to_string()).collect::<Vec<_>>()
    );
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let log = Log::new(GenOpts {
        seed: 5,
        lines: Some(200_000),
        ..GenOpts::default()
    });
    let mut child = tplog()
        .args(["lines", log.p()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 100];
    std::io::Read::read_exact(&mut out, &mut first).unwrap();
    drop(out);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(!text(&o.stderr).contains("error"), "{}", text(&o.stderr));
}

#[test]
fn stdin_gzip_and_files_give_the_same_answer() {
    let log = Log::new(GenOpts {
        seed: 6,
        lines: Some(20_000),
        ..GenOpts::default()
    });
    let want = run(&["pages", "-q", log.p()]);
    assert_eq!(want.status.code(), Some(0));
    // A pipe (streamed) and a redirect (mapped).
    let mut child = tplog()
        .args(["pages", "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut sin = child.stdin.take().unwrap();
    let data = log.data.clone();
    let w = std::thread::spawn(move || sin.write_all(&data));
    let o = child.wait_with_output().unwrap();
    w.join().unwrap().unwrap();
    assert_eq!(text(&o.stdout), text(&want.stdout));
    let o = tplog()
        .args(["pages", "-q", "-"])
        .stdin(std::fs::File::open(&log.path).unwrap())
        .output()
        .unwrap();
    assert_eq!(text(&o.stdout), text(&want.stdout));
    let gz = log.dir.path().join("access.log.gz");
    let mut e = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    e.write_all(&log.data).unwrap();
    e.finish().unwrap();
    let o = run(&["pages", "-q", gz.to_str().unwrap()]);
    assert_eq!(text(&o.stdout), text(&want.stdout));
    // A truncated .gz: what was decoded is counted, the error names the file, exit 2.
    let bytes = std::fs::read(&gz).unwrap();
    let cut = log.dir.path().join("cut.log.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let o = run(&["count", cut.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let n: u64 = text(&o.stdout).trim().parse().unwrap();
    assert!(n > 5000 && n < 20_000, "{n}");
    assert!(
        text(&o.stderr).contains("cut.log.gz: gzip stream is truncated"),
        "{}",
        text(&o.stderr)
    );
}

const TINY: &str = "\
10.0.0.1 - - [08/Feb/2014:07:00:01 +0100] \"GET /a.html HTTP/1.1\" 200 100 \"-\" \"x\"
10.0.0.2 - - [08/Feb/2014:07:00:01 +0100] \"GET /b.html HTTP/1.1\" 404 300 \"-\" \"x\"
10.0.0.1 - - [08/Feb/2014:07:00:02 +0100] \"POST /a.html HTTP/1.1\" 200 - \"-\" \"y, \\\"z\\\"\"
2001:db8::1 - - [08/Feb/2014:07:02:30 +0100] \"GET /a.html?x=1 HTTP/1.1\" 200 500 \"-\" \"x\"
10.0.0.1 - - [08/Feb/2014:07:03:00 +0100] \"-\" 408 0 \"-\" \"-\"
";

#[test]
fn formats_sorting_timeline_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tiny.log");
    std::fs::write(&p, TINY).unwrap();
    let p = p.to_str().unwrap();
    let o = run(&["pages", p]);
    assert_eq!(
        text(&o.stdout),
        "      1 -\n      3 /a.html\n      1 /b.html\n"
    );
    let o = run(&["ips", "--sort", "count", p]);
    assert_eq!(
        text(&o.stdout),
        "      3 10.0.0.1\n      1 10.0.0.2\n      1 2001:db8::1\n"
    );
    let o = run(&["ips", "--top", "1", "--format", "tsv", p]);
    assert_eq!(text(&o.stdout), "3\t10.0.0.1\n");
    let o = run(&["agents", "--format", "csv", p]);
    assert_eq!(
        text(&o.stdout),
        "count,key\n1,-\n3,x\n1,\"y, \\\"\"z\\\"\"\"\n"
    );
    let o = run(&["agents", "--format", "json", "--method", "POST", p]);
    assert_eq!(
        text(&o.stdout),
        "[\n  {\"key\": \"y, \\\\\\\"z\\\\\\\"\", \"count\": 1}\n]\n"
    );
    let o = run(&["status", "--status", "2xx", "--format", "json", p]);
    assert_eq!(
        text(&o.stdout),
        "[\n  {\"key\": \"200\", \"count\": 3}\n]\n"
    );
    let o = run(&[
        "count",
        "--ip",
        "10.0.0.0/24",
        "--to",
        "08/Feb/2014:07:00",
        p,
    ]);
    assert_eq!(text(&o.stdout), "3\n");
    let o = run(&["timeline", "--every", "1m", "--format", "tsv", p]);
    assert_eq!(
        text(&o.stdout),
        "3\t08/Feb/2014:07:00\n0\t08/Feb/2014:07:01\n1\t08/Feb/2014:07:02\n1\t08/Feb/2014:07:03\n"
    );
    let o = run(&["timeline", "--every", "1m", "--width", "6", p]);
    let chart = text(&o.stdout);
    assert_eq!(chart.lines().next().unwrap(), "08/Feb/2014:07:00  3 ██████");
    assert_eq!(chart.lines().nth(1).unwrap(), "08/Feb/2014:07:01  0 ");
    let o = run(&["stats", "--format", "json", p]);
    let s = text(&o.stdout);
    for want in [
        "\"lines\": 5",
        "\"malformed\": 0",
        "\"requests\": 5",
        "\"distinct_ips\": 3",
        "\"distinct_pages\": 2",
        "\"first\": \"08/Feb/2014:07:00:01\"",
        "\"last\": \"08/Feb/2014:07:03:00\"",
        "\"total\": 900",
        "\"unknown\": 1",
        "\"max\": 500",
        "\"peak_per_second\": {\"count\": 2, \"at\": \"08/Feb/2014:07:00:01\"}",
        "\"peak_per_minute\": {\"count\": 3, \"at\": \"08/Feb/2014:07:00\"}",
    ] {
        assert!(s.contains(want), "{want} in {s}");
    }
    let o = run(&["days", "--day", "2014-02-09", p]);
    assert_eq!((o.status.code(), o.stdout.len()), (Some(1), 0));
}

#[test]
fn the_real_access_log() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/logs/elastic-apache_logs.log");
    if !path.exists() {
        eprintln!("SKIPPED the_real_access_log: {} is absent", path.display());
        return;
    }
    let p = path.to_str().unwrap();
    // Its one truncated line: found, named, never fatal.
    let o = run(&["check", p]);
    assert_eq!(o.status.code(), Some(0));
    let out = text(&o.stdout);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with(&format!("{p}:8899: unterminated quote in user agent")),
        "{out}"
    );
    let o = run(&["count", p]);
    assert_eq!(text(&o.stdout), "9999\n");
    assert!(text(&o.stderr).contains("1 malformed line skipped (first: "));
    // Status, days, and hosts agree with cut | sort | uniq -c on the valid lines.
    let dir = path.parent().unwrap();
    for (args, pipeline) in [
        (&["status"][..], "sed 8899d elastic-apache_logs.log | cut -d' ' -f9 | sort | uniq -c"),
        (&["ips"][..], "sed 8899d elastic-apache_logs.log | cut -d' ' -f1 | sort | uniq -c"),
        (&["days"][..], "sed 8899d elastic-apache_logs.log | cut -d' ' -f4 | cut -d: -f1 | tr -d '[' | sort | uniq -c"),
    ] {
        let mut a = args.to_vec();
        a.extend(["-q", p]);
        assert_eq!(text(&run(&a).stdout), text(&sh(pipeline, dir)), "{args:?}");
    }
    // The publisher's facts: 669 byte fields and 190 agents are `-`.
    let o = run(&["stats", "--format", "json", p]);
    assert!(
        text(&o.stdout).contains("\"unknown\": 669"),
        "{}",
        text(&o.stdout)
    );
    let o = run(&["agents", "-q", "--format", "tsv", p]);
    assert!(text(&o.stdout).lines().any(|l| l == "190\t-"));
    // Apache's \xhh escapes are kept as written.
    let o = run(&["referers", "-q", p]);
    let esc: Vec<String> = text(&o.stdout)
        .lines()
        .filter(|l| l.contains("\\x"))
        .map(String::from)
        .collect();
    assert_eq!(
        esc.iter()
            .map(|l| l.split_whitespace().next().unwrap().parse::<u64>().unwrap())
            .sum::<u64>(),
        3,
        "{esc:?}"
    );
}

/// After copytruncate the writer goes on at its old offset: a NUL run, then
/// the next line with no newline between. The run is one malformed region
/// and the line after it is parsed and counted, in every command and in
/// `check` (which lists the region, not the line), however the file is cut
/// into chunks and also from a pipe.
#[test]
fn copytruncate_nul_run_then_line_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rotated.log");
    let line = |ip: &str, page: &str| {
        format!("{ip} - - [08/Feb/2014:07:05:03 +0100] \"GET /{page} HTTP/1.1\" 200 5 \"-\" \"curl\"\n")
    };
    let mut data = line("10.0.0.1", "a.html").into_bytes();
    data.extend(std::iter::repeat_n(0u8, 5000));
    data.extend(line("10.0.0.2", "truc.html").as_bytes());
    data.extend(std::iter::repeat_n(0u8, 70));
    data.extend(b"\n");
    data.extend(line("10.0.0.3", "truc.html").as_bytes());
    std::fs::write(&path, &data).unwrap();
    let p = path.to_str().unwrap();
    for chunk in ["1048576", "64", "1"] {
        let o = run(&["ips", "--chunk-size", chunk, p]);
        assert_eq!(text(&o.stdout), "      1 10.0.0.1\n      1 10.0.0.2\n      1 10.0.0.3\n", "chunk {chunk}");
        assert!(text(&o.stderr).contains("2 malformed lines skipped"), "{}", text(&o.stderr));
        let o = run(&["ips", "--page", "truc.html", "--chunk-size", chunk, p]);
        assert_eq!(text(&o.stdout), "      1 10.0.0.2\n      1 10.0.0.3\n", "prefiltered, chunk {chunk}");
    }
    let o = run(&["check", p]);
    let out = text(&o.stdout);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.starts_with(&format!("{p}:2: NUL bytes")), "{out}");
    assert!(out.contains(&format!("{p}:3: NUL bytes")), "{out}");
    assert!(text(&o.stderr).contains("5 lines checked, 2 malformed"), "{}", text(&o.stderr));
    let piped = tplog()
        .args(["count"])
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    assert_eq!(text(&piped.stdout), "3\n");
}

/// A time window found by binary search starts the scan mid-file: the
/// malformed line it reports is still named by its line in the file.
#[test]
fn a_window_found_by_seek_names_malformed_lines_by_their_file_line() {
    let o = run(&["ips", "--from", "08/Feb/2014:07:00", "--to", "08/Feb/2014:07:15", "testdata/access.log"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("testdata/access.log:410: unterminated quote"), "{err}");
    // The same line as `check`, which reads every line.
    let c = run(&["check", "testdata/access.log"]);
    assert!(String::from_utf8_lossy(&c.stdout).starts_with("testdata/access.log:410:"));
}

#[test]
fn real_ip_says_when_the_format_logs_no_proxy_chain() {
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("chain.log");
    std::fs::write(
        &chain,
        "10.0.0.2, 10.0.0.1, 85.181.35.98 - - [08/Feb/2014:07:05:03 +0100] \"GET / HTTP/1.1\" 200 5 \"-\" \"ua\"\n",
    )
    .unwrap();
    let plain = dir.path().join("plain.log");
    std::fs::write(
        &plain,
        "10.0.0.2 - - [08/Feb/2014:07:05:03 +0100] \"GET / HTTP/1.1\" 200 5 \"-\" \"ua\"\n",
    )
    .unwrap();
    let (c, p) = (chain.to_str().unwrap(), plain.to_str().unwrap());
    // The chain's format: the real client, and no warning.
    let o = run(&["ips", "--real-ip", "xff", "--log-format", "xff_combined", c]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).split_whitespace().collect::<Vec<_>>(), ["1", "85.181.35.98"]);
    assert!(!text(&o.stderr).contains("--real-ip"), "{}", text(&o.stderr));
    // Plain combined: the logged address, and stderr says why.
    let o = run(&["ips", "--real-ip", "xff", p]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).split_whitespace().collect::<Vec<_>>(), ["1", "10.0.0.2"]);
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("--real-ip: {p} (read as combined) logs no X-Forwarded-For")),
        "{err}"
    );
    // Without --real-ip there is nothing to say.
    let o = run(&["ips", p]);
    assert!(!text(&o.stderr).contains("X-Forwarded-For"), "{}", text(&o.stderr));
}
