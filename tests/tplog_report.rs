//! `tplog report`: its JSON against tplog's own answers on the same log,
//! its page in Chromium (web/tests/report.mjs), hostile values, the size
//! bound, and write errors.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::os::unix::fs::FileTypeExt;
use std::process::{Command, Output};

use serde_json::Value;

const TPLOG: &str = env!("CARGO_BIN_EXE_tplog");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tplog(args: &[&str]) -> Output {
    Command::new(TPLOG).args(args).output().unwrap()
}

fn json(args: &[&str]) -> Value {
    let o = tplog(args);
    assert!(o.status.code().is_some_and(|c| c <= 1), "tplog {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("tplog {args:?}: {e}"))
}

fn report_json(log: &Path, extra: &[&str]) -> Value {
    let mut a = vec!["report", "--format", "json", "-o", "-", "-q"];
    a.extend_from_slice(extra);
    let l = log.to_str().unwrap();
    a.push(l);
    json(&a)
}

/// GoAccess's unique visitors, counted here from the lines themselves:
/// distinct (client, day, user agent).
fn visitors(log: &Path) -> usize {
    let o = tplog(&["lines", "-q", log.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    let mut seen = HashSet::new();
    for line in text.lines() {
        let client = line.split(' ').next().unwrap();
        let day = line.split('[').nth(1).and_then(|r| r.split(':').next()).unwrap();
        // The agent is the last quoted field.
        let agent = line.rsplit('"').nth(1).unwrap_or("-");
        seen.insert((client.to_string(), day.to_string(), agent.to_string()));
    }
    seen.len()
}

fn rows(v: &Value) -> Vec<(String, u64)> {
    v["rows"].as_array().unwrap().iter().map(|r| (r["key"].as_str().unwrap().to_string(), r["hits"].as_u64().unwrap())).collect()
}

fn group(cmd: &str, top: usize, log: &Path, filters: &[&str]) -> Vec<(String, u64)> {
    let t = top.to_string();
    let mut a = vec![cmd, "--sort", "count", "--top", &t, "--format", "json", "-q"];
    a.extend_from_slice(filters);
    a.push(log.to_str().unwrap());
    json(&a).as_array().unwrap().iter().map(|r| (r["key"].as_str().unwrap().to_string(), r["count"].as_u64().unwrap())).collect()
}

fn panel<'v>(r: &'v Value, id: &str) -> &'v Value {
    r["panels"].as_array().unwrap().iter().find(|p| p["id"] == id).unwrap_or_else(|| panic!("no panel {id}"))
}

fn check_against_tplog(log: &Path, filters: &[&str]) {
    let r = report_json(log, filters);
    let mut sa = vec!["stats", "--format", "json", "-q"];
    sa.extend_from_slice(filters);
    sa.push(log.to_str().unwrap());
    let s = json(&sa);
    let o = &r["overview"];
    for k in ["lines", "malformed", "requests", "distinct_ips", "distinct_pages", "first", "last"] {
        assert_eq!(o[k], s[k], "{}: overview {k}", log.display());
    }
    assert_eq!(o["bytes_total"], s["bytes_sent"]["total"]);
    for p in ["p50", "p90", "p99", "max"] {
        assert_eq!(o["bytes"][p], s["bytes_sent"][p], "bytes {p}");
    }
    let top = r["top"].as_u64().unwrap() as usize;
    for (id, cmd) in [("clients", "ips"), ("pages", "pages"), ("status", "status"), ("methods", "methods"), ("referers", "referers"), ("agents", "agents"), ("vhosts", "vhosts")] {
        assert_eq!(rows(panel(&r, id)), group(cmd, top, log, filters), "{}: panel {id} against tplog {cmd} {filters:?}", log.display());
        let p = panel(&r, id);
        let all: Vec<(String, u64)> = group(cmd, usize::MAX >> 1, log, filters);
        assert_eq!(p["keys"].as_u64().unwrap() as usize, all.len(), "panel {id}: distinct keys");
        let rest: u64 = all.iter().skip(top).map(|r| r.1).sum();
        assert_eq!(p["rest_hits"].as_u64().unwrap(), rest, "panel {id}: the rest's requests");
    }
    // The timeline adds up, and the heatmap too.
    let sum = |v: &Value| -> u64 { v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).sum() };
    assert_eq!(sum(&r["timeline"]["counts"]), s["requests"].as_u64().unwrap());
    let heat: u64 = r["heatmap"].as_array().unwrap().iter().map(sum).sum();
    assert_eq!(heat, s["requests"].as_u64().unwrap());
    // Per day: what `tplog days` counts.
    let days: Vec<u64> = r["days"].as_array().unwrap().iter().map(|d| d["requests"].as_u64().unwrap()).collect();
    let mut da = vec!["days", "--format", "json", "-q"];
    da.extend_from_slice(filters);
    da.push(log.to_str().unwrap());
    let want: Vec<u64> = json(&da).as_array().unwrap().iter().map(|d| d["count"].as_u64().unwrap()).collect();
    assert_eq!(days, want, "requests per day");
    // 404s: the pages of `tplog pages --status 404`.
    if !filters.contains(&"--status") {
        let mut nf = filters.to_vec();
        nf.extend(["--status", "404"]);
        assert_eq!(rows(panel(&r, "not_found")), group("pages", top, log, &nf), "404 panel");
    }
    if filters.is_empty() {
        assert_eq!(o["visitors"].as_u64().unwrap() as usize, visitors(log), "unique visitors");
    }
}

#[test]
fn json_equals_tplog_on_the_sample_and_the_real_log() {
    let sample = root().join("testdata/access.log");
    check_against_tplog(&sample, &[]);
    check_against_tplog(&sample, &["--day", "2014-02-08"]);
    check_against_tplog(&sample, &["--page", "truc.html"]);
    let real = root().join("../shared/logs/elastic-apache_logs.log");
    if real.exists() {
        check_against_tplog(&real, &[]);
        check_against_tplog(&real, &["--status", "4xx"]);
    } else {
        eprintln!("SKIP the real log: {} is absent", real.display());
    }
}

#[test]
fn browsers_and_systems_come_from_the_agents() {
    let r = report_json(&root().join("testdata/access.log"), &[]);
    let total: u64 = rows(panel(&r, "browsers")).iter().map(|r| r.1).sum();
    assert_eq!(total, r["overview"]["requests"].as_u64().unwrap());
    let browsers: Vec<String> = rows(panel(&r, "browsers")).into_iter().map(|r| r.0).collect();
    assert!(browsers.iter().any(|b| b.starts_with("Firefox")), "{browsers:?}");
    let os: Vec<String> = rows(panel(&r, "os")).into_iter().map(|r| r.0).collect();
    assert!(os.iter().any(|b| b == "Windows") && os.iter().any(|b| b == "Linux"), "{os:?}");
}

fn node_ready() -> Result<(), String> {
    if !Path::new("/usr/bin/chromium").exists() {
        return Err("no /usr/bin/chromium (Debian package chromium; `cargo xtask test` installs it as root)".into());
    }
    if !root().join("web/node_modules/playwright-core").exists() {
        return Err("web/node_modules has no playwright-core: run `cargo xtask web`".into());
    }
    Ok(())
}

fn page_test(report: &Path, log: &Path, mode: &str, name: &str) {
    let shots = root().join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let o = Command::new("node")
        .arg("tests/report.mjs")
        .current_dir(root().join("web"))
        .env("REPORT", report)
        .env("LOG", log)
        .env("TPLOG", TPLOG)
        .env("SHOTS", &shots)
        .env("MODE", mode)
        .env("NAME", name)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    eprintln!("{text}");
    let _ = std::fs::write(shots.join(format!("report.mjs.{name}.{mode}.txt")), &text);
    assert!(o.status.success(), "web/tests/report.mjs ({mode}) failed:\n{text}");
}

fn write_page(log: &Path, dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(name);
    let o = tplog(&["report", "-q", "-o", out.to_str().unwrap(), log.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn the_page_in_chromium_equals_tplog_and_narrows_like_from_to() {
    if let Err(why) = node_ready() {
        eprintln!("SKIP report browser test: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sample = root().join("testdata/access.log");
    let page = write_page(&sample, dir.path(), "report.html");
    page_test(&page, &sample, "full", "report");
    let real = root().join("../shared/logs/elastic-apache_logs.log");
    if real.exists() {
        let page = write_page(&real, dir.path(), "real.html");
        page_test(&page, &real, "full", "report-real");
    }
}

/// A log of hostile values: markup, script, `</script>`, a javascript:
/// URL, quotes, invalid UTF-8, a 100 kB user agent.
fn hostile_log(path: &Path) {
    let mut log: Vec<u8> = Vec::new();
    let line = |log: &mut Vec<u8>, ip: &str, path: &[u8], referer: &[u8], agent: &[u8]| {
        log.extend_from_slice(format!("{ip} - - [08/Feb/2014:07:0{}:00 +0100] \"GET ", log.len() % 10).as_bytes());
        log.extend_from_slice(path);
        log.extend_from_slice(b" HTTP/1.1\" 200 123 \"");
        log.extend_from_slice(referer);
        log.extend_from_slice(b"\" \"");
        log.extend_from_slice(agent);
        log.extend_from_slice(b"\"\n");
    };
    line(&mut log, "10.0.0.1", b"/index.html", b"-", b"<script>window.__xss=1</script>");
    line(&mut log, "10.0.0.2", b"/a\"b<img src=x onerror=window.__xss=4>", b"javascript:window.__xss=3", b"</script><img src=x onerror=window.__xss=2>");
    line(&mut log, "10.0.0.3", b"/caf\xff\xfe.html", b"http://evil.example/\"><svg onload=window.__xss=5>", b"Mozilla/5.0 \xc3\x28 broken");
    let big = "A".repeat(100_000);
    line(&mut log, "10.0.0.4", b"/big", b"-", big.as_bytes());
    line(&mut log, "::1", b"/%3Cscript%3E", b"-", b"' onmouseover='window.__xss=6");
    std::fs::write(path, log).unwrap();
}

#[test]
fn hostile_values_are_text_in_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("hostile.log");
    hostile_log(&log);
    let r = report_json(&log, &[]);
    assert_eq!(r["overview"]["requests"], 5);
    let page = write_page(&log, dir.path(), "hostile.html");
    let html = std::fs::read_to_string(&page).unwrap();
    // The data block holds no `<`: nothing in it can close the script element.
    let start = html.find("id=\"report-data\">").unwrap();
    let end = start + html[start..].find("</script>").unwrap();
    assert!(!html[start + 17..end].contains('<'), "a raw < in the data block");
    assert!(html.contains("Content-Security-Policy"));
    if let Err(why) = node_ready() {
        eprintln!("SKIP report hostile browser test: {why}");
        return;
    }
    page_test(&page, &log, "hostile", "report");
}

#[test]
fn a_big_log_keeps_the_report_small_and_says_narrowing_needs_from_to() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("big.log");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&log).unwrap());
    let opts = tplab::testgen::log::GenOpts { lines: Some(150_000), ..Default::default() };
    tplab::testgen::log::write_log(&opts, &mut f).unwrap();
    drop(f);
    let r = report_json(&log, &[]);
    assert!(r["cube"].is_null(), "150,000 lines of many clients outgrow the cube");
    assert!(r["cube_note"].as_str().unwrap().contains("--from/--to"));
    let page = write_page(&log, dir.path(), "big.html");
    let size = std::fs::metadata(&page).unwrap().len();
    let log_size = std::fs::metadata(&log).unwrap().len();
    eprintln!("report of a {log_size}-byte log: {size} bytes");
    assert!(size < 1_000_000, "the page is {size} bytes");
    check_against_tplog(&log, &[]);
}

#[test]
fn write_errors_name_the_path_and_leave_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let sample = root().join("testdata/access.log");
    let bad = dir.path().join("no/such/dir/report.html");
    let o = tplog(&["report", "-q", "-o", bad.to_str().unwrap(), sample.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(bad.to_str().unwrap()), "{err}");
    // A report over an existing file replaces it whole; no temporary is left.
    let out = dir.path().join("r.html");
    std::fs::write(&out, "old").unwrap();
    let o = tplog(&["report", "-q", "-o", out.to_str().unwrap(), sample.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(std::fs::read_to_string(&out).unwrap().starts_with("<!doctype html>"));
    let names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.iter().filter(|n| n.contains("tplog-")).count(), 0, "{names:?}");
    // A device is written to, not replaced by a file.
    let o = tplog(&["report", "-q", "-o", "/dev/null", sample.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());
    // Nothing matched: exit 1, and the report still says so.
    let o = tplog(&["report", "-q", "--format", "json", "-o", "-", "--ip", "203.0.113.99", sample.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["overview"]["requests"], 0);
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A process in its own group, killed with it (apache2's workers too).
struct Group(std::process::Child);

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group this test made.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

fn spawn_group(cmd: &mut Command) -> Group {
    use std::os::unix::process::CommandExt;
    Group(cmd.process_group(0).stdin(std::process::Stdio::null()).spawn().unwrap())
}

fn wait_port(port: u16, what: &str) {
    let t0 = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < std::time::Duration::from_secs(20), "{what} does not listen on 127.0.0.1:{port}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn live_report_follows_a_real_apache2_through_rotation() {
    if !Path::new("/usr/sbin/apache2").exists() {
        eprintln!("SKIP live report test: no /usr/sbin/apache2 (Debian package apache2; `cargo xtask test` installs it as root)");
        return;
    }
    if let Err(why) = node_ready() {
        eprintln!("SKIP live report test: {why}");
        return;
    }
    let d = tempfile::Builder::new().prefix("tplog-live").tempdir().unwrap();
    let dir = d.path();
    for sub in ["logs", "www", "run"] {
        std::fs::create_dir(dir.join(sub)).unwrap();
    }
    std::fs::write(dir.join("www/index.html"), "hello\n").unwrap();
    Command::new("chmod").args(["-R", "a+rX"]).arg(dir).status().unwrap();
    let port = free_port();
    let m = "/usr/lib/apache2/modules";
    let user = if is_root() { "User www-data\nGroup www-data\n" } else { "" };
    let conf = dir.join("apache2.conf");
    std::fs::write(
        &conf,
        format!(
            "ServerRoot \"{d}\"\nDefaultRuntimeDir \"{d}/run\"\nPidFile \"{d}/run/apache2.pid\"\nMutex file:{d}/run default\n\
             ErrorLog \"{d}/logs/error.log\"\nLoadModule mpm_event_module {m}/mod_mpm_event.so\n\
             LoadModule authz_core_module {m}/mod_authz_core.so\n{user}\
             Listen 127.0.0.1:{port}\nServerName live.test\nDocumentRoot \"{d}/www\"\n<Directory \"{d}/www\">\n    Require all granted\n</Directory>\n\
             LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b \\\"%{{Referer}}i\\\" \\\"%{{User-Agent}}i\\\"\" combined\n\
             CustomLog \"{d}/logs/access.log\" combined\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let _apache = spawn_group(Command::new("/usr/sbin/apache2").arg("-DFOREGROUND").arg("-f").arg(&conf));
    wait_port(port, "apache2");
    let log = dir.join("logs/access.log");
    let t0 = std::time::Instant::now();
    while !log.exists() {
        assert!(t0.elapsed() < std::time::Duration::from_secs(10), "apache2 made no access.log");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let live_port = free_port();
    let listen = format!("127.0.0.1:{live_port}");
    let mut args = vec!["report", "--follow", "--listen", &listen];
    if is_root() {
        args.extend(["--user", "nobody"]);
    }
    let log_s = log.to_str().unwrap().to_string();
    args.push(&log_s);
    let err_path = dir.join("tplog.err");
    let err_file = std::fs::File::create(&err_path).unwrap();
    let _tplog = spawn_group(Command::new(TPLOG).args(&args).stderr(err_file));
    wait_port(live_port, "tplog report --follow");
    // The port is bound before the URL is printed (the log is read in between).
    let t0 = std::time::Instant::now();
    let mut printed = String::new();
    while !printed.contains("http://") && t0.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(50));
        printed = std::fs::read_to_string(&err_path).unwrap();
    }
    let url = printed
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {printed:?}"))
        .to_string();
    // Without the token, or with another Host: refused.
    let code = |extra: &[&str], u: &str| -> String {
        let o = Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}"]).args(extra).arg(u).output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert_eq!(code(&[], &format!("http://{listen}/")), "403");
    assert_eq!(code(&["-H", "Host: attacker.example"], &url), "403");
    assert_eq!(code(&["-X", "POST"], &url), "405");
    assert_eq!(code(&[], &url), "200");
    // logrotate's way: rename, then a graceful restart that reopens the log.
    let rotate = format!(
        "mv {l} {l}.1 && /usr/sbin/apache2 -f {c} -k graceful",
        l = log.display(),
        c = conf.display()
    );
    let shots = root().join("target/screenshots");
    let o = Command::new("node")
        .arg("tests/report_live.mjs")
        .current_dir(root().join("web"))
        .env("LIVE_URL", &url)
        .env("APACHE_PORT", port.to_string())
        .env("ROTATE", &rotate)
        .env("SHOTS", &shots)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    eprintln!("{text}\ntplog said:\n{}", std::fs::read_to_string(&err_path).unwrap());
    std::fs::create_dir_all(&shots).unwrap();
    let _ = std::fs::write(shots.join("report_live.mjs.txt"), &text);
    assert!(o.status.success(), "web/tests/report_live.mjs failed:\n{text}");
    // The page's count is what both files hold: nothing lost in the rotation.
    let total: u64 = text.lines().find_map(|l| l.strip_prefix("TOTAL ")).unwrap().trim().parse().unwrap();
    let rotated = format!("{}.1", log.display());
    let in_files = json(&["stats", "--format", "json", "-q", &rotated, log.to_str().unwrap()]);
    assert_eq!(in_files["requests"].as_u64().unwrap(), total, "the page against the rotated and the new file");
    let json_now: Value = serde_json::from_slice(
        &Command::new("curl").args(["-s", &url.replace("/?token", "/report.json?token")]).output().unwrap().stdout,
    )
    .unwrap();
    assert_eq!(json_now["overview"]["requests"].as_u64().unwrap(), total);
}

#[test]
fn follow_refuses_unsafe_listens_and_stdin() {
    let sample = root().join("testdata/access.log");
    let s = sample.to_str().unwrap();
    let o = tplog(&["report", "--follow", "--listen", "0.0.0.0:0", s]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--allow-remote"), "{}", String::from_utf8_lossy(&o.stderr));
    if is_root() {
        let o = tplog(&["report", "--follow", "--listen", "127.0.0.1:0", s]);
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains("--user"));
    }
    let o = Command::new(TPLOG)
        .args(["ips", "--follow", "-"])
        .stdin(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not stdin"));
}

#[test]
fn ips_follow_redraws_as_lines_arrive() {
    use std::io::{BufRead, Write};
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("a.log");
    let line = |ip: &str| format!("{ip} - - [08/Feb/2014:07:00:00 +0100] \"GET /truc.html HTTP/1.1\" 200 10 \"-\" \"t\"\n");
    std::fs::write(&log, line("10.0.0.1")).unwrap();
    let mut child = spawn_group(
        Command::new(TPLOG).args(["ips", "--follow", "--page", "truc.html", log.to_str().unwrap()]).stdout(std::process::Stdio::piped()),
    );
    let mut out = std::io::BufReader::new(child.0.stdout.take().unwrap());
    let mut next_block = || {
        let mut block = Vec::new();
        loop {
            let mut l = String::new();
            assert!(out.read_line(&mut l).unwrap() > 0, "tplog ips --follow stopped");
            if l.trim().is_empty() {
                return block;
            }
            block.push(l.trim_end().to_string());
        }
    };
    let first = next_block();
    assert!(first[0].starts_with("tplog ips: 1 lines, 1 matching"), "{first:?}");
    assert_eq!(first[1].trim(), "1 10.0.0.1");
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(format!("{}{}", line("10.0.0.2"), line("10.0.0.2")).as_bytes()).unwrap();
    let second = next_block();
    assert!(second[0].starts_with("tplog ips: 3 lines, 3 matching"), "{second:?}");
    assert_eq!(second[1..].iter().map(|l| l.trim()).collect::<Vec<_>>(), ["2 10.0.0.2", "1 10.0.0.1"]);
}
