//! Real servers write the logs: Debian's apache2 (vhost_combined and a
//! custom LogFormat with %D and %{X-Forwarded-For}i), nginx (a log_format
//! with $request_time and an escape=json one) and caddy (its JSON access
//! log), each started here on a loopback high port with its config, logs
//! and pid file in a private directory (no system service). curl sends
//! known requests (known Host headers and X-Forwarded-For, a slow endpoint
//! behind a backend this test runs), and tplog, given only the server's
//! config file, must answer exactly what curl sent.
//!
//! Needs root (the servers drop to www-data, as packaged) and the
//! binaries; `cargo xtask test` installs them. Otherwise each test says
//! what it skipped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The slow endpoint's delay.
const SLOW: Duration = Duration::from_millis(300);

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn skip(what: &str, need: &[&str]) -> bool {
    if !is_root() {
        eprintln!("SKIP {what}: needs root (the server drops to www-data as packaged); run as root or via `cargo xtask test`");
        return true;
    }
    for b in need {
        if !Path::new(b).exists() {
            eprintln!("SKIP {what}: {b} is not installed (cargo xtask test installs it)");
            return true;
        }
    }
    false
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A backend on loopback that answers every request after [`SLOW`].
fn slow_backend() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut c = c;
                let mut buf = Vec::new();
                let mut b = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut b) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&b[..n]),
                    }
                }
                std::thread::sleep(SLOW);
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nslow");
            });
        }
    });
    port
}

/// A private directory the server (as www-data) can read.
fn workdir() -> tempfile::TempDir {
    let d = tempfile::Builder::new().prefix("tplog-srv").tempdir().unwrap();
    for sub in ["logs", "www", "run", "sites", "tmp"] {
        std::fs::create_dir(d.path().join(sub)).unwrap();
    }
    std::fs::write(d.path().join("www/index.html"), "hello\n").unwrap();
    Command::new("chmod").args(["-R", "a+rX"]).arg(d.path()).status().unwrap();
    d
}

struct Server {
    child: Child,
    name: &'static str,
}

impl Server {
    fn start(name: &'static str, cmd: &mut Command, port: u16) -> Server {
        let child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().unwrap();
        let mut s = Server { child, name };
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(st)) = s.child.try_wait() {
                panic!("{name} exited at start: {st}");
            }
            assert!(t0.elapsed() < Duration::from_secs(20), "{name} does not listen on 127.0.0.1:{port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        s.name = name;
        s
    }

    /// Stops the server, so that everything it logged is on disk.
    fn stop(mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let t0 = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            if t0.elapsed() > Duration::from_secs(10) {
                eprintln!("{} ignored SIGTERM: killed", self.name);
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.wait();
    }
}

/// curl to `host:port` on loopback (no DNS: --resolve), with headers.
fn curl(host: &str, port: u16, path: &str, headers: &[&str], agent: &str) {
    let mut c = Command::new("curl");
    c.args(["-s", "-o", "/dev/null", "--max-time", "10", "-A", agent]);
    c.arg("--resolve").arg(format!("{host}:{port}:127.0.0.1"));
    for h in headers {
        c.args(["-H", h]);
    }
    let st = c.arg(format!("http://{host}:{port}{path}")).status().unwrap();
    assert!(st.success(), "curl {host}{path}: {st}");
}

fn tplog(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tplog")).args(args).stdin(Stdio::null()).output().unwrap()
}

fn answer(args: &[&str]) -> String {
    let o = tplog(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.code() == Some(0), "tplog {args:?}: {:?} {err}", o.status);
    assert!(!err.contains("malformed"), "tplog {args:?}: {err}");
    String::from_utf8(o.stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `stats --format json`'s response-time object: (count, p50, max) in µs.
fn times(args: &[&str]) -> (u64, u64, u64) {
    let mut a = vec!["stats", "--format", "json"];
    a.extend_from_slice(args);
    let out = answer(&a);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let t = &v["response_time_us"];
    (t["count"].as_u64().unwrap(), t["p50"].as_u64().unwrap(), t["max"].as_u64().unwrap())
}

/// What every server gets, and what tplog must report.
fn send(port: u16) {
    for _ in 0..3 {
        curl("b.test", port, "/index.html", &[], "agent-b");
    }
    curl("c.test", port, "/index.html", &[], "agent-c");
    curl("c.test", port, "/missing.html", &[], "agent-c");
    for xff in ["203.0.113.7, 10.1.2.3", "203.0.113.7", "198.51.100.20, 192.168.0.9"] {
        curl("a.test", port, "/index.html", &[&format!("X-Forwarded-For: {xff}")], "agent-a");
    }
    for _ in 0..2 {
        curl("a.test", port, "/slow", &["X-Forwarded-For: 198.51.100.20"], "agent-a \"quoted\" \\ é");
    }
}

/// Response times of the slow requests: at least the backend's delay,
/// less than a generous bound.
fn assert_slow(max_us: u64) {
    let lo = SLOW.as_micros() as u64;
    assert!(max_us >= lo && max_us < 10_000_000, "slowest {max_us} µs");
}

#[test]
fn apache2_vhost_combined_and_a_custom_logformat() {
    if skip("apache2", &["/usr/sbin/apache2", "/usr/bin/curl"]) {
        return;
    }
    let d = workdir();
    let dir = d.path();
    let (port, backend) = (free_port(), slow_backend());
    let m = "/usr/lib/apache2/modules";
    let conf = dir.join("apache2.conf");
    std::fs::write(
        &conf,
        format!(
            r#"# A private apache2: loopback, its own logs.
ServerRoot "{dir}"
DefaultRuntimeDir "{dir}/run"
PidFile "{dir}/run/apache2.pid"
Mutex file:{dir}/run default
ErrorLog "{dir}/logs/error.log"
LoadModule mpm_event_module {m}/mod_mpm_event.so
LoadModule authz_core_module {m}/mod_authz_core.so
LoadModule proxy_module {m}/mod_proxy.so
LoadModule proxy_http_module {m}/mod_proxy_http.so
User www-data
Group www-data
Listen 127.0.0.1:{port}
ServerName default.test
DocumentRoot "{dir}/www"
<Directory "{dir}/www">
    Require all granted
</Directory>
LogFormat "%v:%p %h %l %u %t \"%r\" %>s %O \"%{{Referer}}i\" \"%{{User-Agent}}i\"" vhost_combined
LogFormat "%h %l %u %t \"%r\" %>s %b \"%{{Referer}}i\" \"%{{User-Agent}}i\" %D \"%{{X-Forwarded-For}}i\"" timed
CustomLog {dir}/logs/other_vhosts_access.log vhost_combined
IncludeOptional sites/*.conf
"#,
            dir = s(dir)
        ),
    )
    .unwrap();
    // The vhosts, through an IncludeOptional glob relative to ServerRoot.
    std::fs::write(
        dir.join("sites/010-b.conf"),
        format!("<VirtualHost 127.0.0.1:{port}>\n    ServerName b.test\n</VirtualHost>\n<VirtualHost 127.0.0.1:{port}>\n    ServerName c.test\n</VirtualHost>\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("sites/020-a.conf"),
        format!(
            "<VirtualHost 127.0.0.1:{port}>\n    ServerName a.test\n    CustomLog \"{}/logs/a_timed.log\" timed\n    ProxyPass /slow http://127.0.0.1:{backend}/slow\n</VirtualHost>\n",
            s(dir)
        ),
    )
    .unwrap();
    let srv = Server::start("apache2", Command::new("/usr/sbin/apache2").arg("-X").arg("-f").arg(&conf), port);
    send(port);
    srv.stop();
    let other = dir.join("logs/other_vhosts_access.log");
    let timed = dir.join("logs/a_timed.log");
    let c = s(&conf);
    assert_eq!(answer(&["vhosts", "--log-config", c, s(&other)]), "      3 b.test\n      2 c.test\n");
    assert_eq!(answer(&["status", "--log-config", c, s(&other)]), "      4 200\n      1 404\n");
    assert_eq!(answer(&["count", "--vhost", "c.test", "--log-config", c, s(&other)]), "2\n");
    assert_eq!(answer(&["agents", "--log-config", c, s(&other)]), "      3 agent-b\n      2 agent-c\n");
    // The custom format: proxy chain, time taken.
    assert_eq!(answer(&["ips", "--log-config", c, s(&timed)]), "      5 127.0.0.1\n");
    assert_eq!(
        answer(&["ips", "--real-ip", "xff", "--log-config", c, s(&timed)]),
        "      3 198.51.100.20\n      2 203.0.113.7\n"
    );
    assert_eq!(answer(&["pages", "--log-config", c, s(&timed)]), "      3 /index.html\n      2 /slow\n");
    assert_eq!(answer(&["count", "--slower-than", "250ms", "--log-config", c, s(&timed)]), "2\n");
    let (n, _, max) = times(&["--log-config", c, s(&timed)]);
    assert_eq!(n, 5);
    assert_slow(max);
    // Both files at once, each in its own format; and by nickname.
    assert_eq!(answer(&["count", "--log-config", c, s(&other), s(&timed)]), "10\n");
    assert_eq!(answer(&["count", "--log-config", c, "--log-format", "timed", s(&timed)]), "5\n");
    // Without any flag the vhost_combined file is recognised.
    let o = tplog(&["vhosts", s(&other)]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "      3 b.test\n      2 c.test\n");
    assert!(String::from_utf8_lossy(&o.stderr).contains("read as vhost_combined"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn nginx_request_time_and_an_escape_json_format() {
    if skip("nginx", &["/usr/sbin/nginx", "/usr/bin/curl"]) {
        return;
    }
    let d = workdir();
    let dir = d.path();
    let (port, backend) = (free_port(), slow_backend());
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            r#"# A private nginx: loopback, its own logs.
daemon off;
user www-data;
worker_processes 1;
pid {dir}/run/nginx.pid;
error_log {dir}/logs/error.log;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    log_format timed '$remote_addr - $remote_user [$time_local] '
                     '"$request" $status $body_bytes_sent '
                     '"$http_referer" "$http_user_agent" $request_time "$http_x_forwarded_for" $host';
    log_format jsonlog escape=json
        '{{"time":"$time_iso8601","ip":"$remote_addr","request":"$request","status":$status,'
        '"bytes":$body_bytes_sent,"rt":$request_time,"urt":"$upstream_response_time",'
        '"host":"$host","ua":"$http_user_agent","xff":"$http_x_forwarded_for"}}';
    include {dir}/sites/*.conf;
}}
"#,
            dir = s(dir)
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("sites/site.conf"),
        format!(
            "server {{\n    listen 127.0.0.1:{port};\n    server_name a.test b.test c.test;\n    root {dir}/www;\n    access_log {dir}/logs/timed.log timed;\n    access_log {dir}/logs/json.log jsonlog;\n    location /slow {{ proxy_pass http://127.0.0.1:{backend}; }}\n}}\n",
            dir = s(dir)
        ),
    )
    .unwrap();
    let srv = Server::start(
        "nginx",
        Command::new("/usr/sbin/nginx").arg("-e").arg(dir.join("logs/error.log")).arg("-p").arg(dir).arg("-c").arg(&conf),
        port,
    );
    send(port);
    srv.stop();
    let c = s(&conf);
    for log in ["timed.log", "json.log"] {
        let l = dir.join("logs").join(log);
        let l = s(&l);
        assert_eq!(answer(&["vhosts", "--log-config", c, l]), "      5 a.test\n      3 b.test\n      2 c.test\n", "{log}");
        assert_eq!(answer(&["status", "--log-config", c, l]), "      9 200\n      1 404\n", "{log}");
        assert_eq!(
            answer(&["ips", "--real-ip", "xff", "--log-config", c, l]),
            "      5 127.0.0.1\n      3 198.51.100.20\n      2 203.0.113.7\n",
            "{log}"
        );
        assert_eq!(answer(&["count", "--slower-than", "250ms", "--log-config", c, l]), "2\n", "{log}");
        assert_eq!(answer(&["pages", "--vhost", "a.test", "--log-config", c, l]), "      3 /index.html\n      2 /slow\n", "{log}");
        let (n, _, max) = times(&["--log-config", c, l]);
        assert_eq!(n, 10, "{log}");
        assert_slow(max);
    }
}

#[test]
fn caddy_json_access_log() {
    if skip("caddy", &["/usr/bin/caddy", "/usr/bin/curl"]) {
        return;
    }
    let d = workdir();
    let dir = d.path();
    let (port, backend) = (free_port(), slow_backend());
    let conf = dir.join("Caddyfile");
    std::fs::write(
        &conf,
        format!(
            "{{\n    admin off\n    auto_https off\n    storage file_system {dir}/run\n}}\nhttp://a.test:{port}, http://b.test:{port}, http://c.test:{port} {{\n    bind 127.0.0.1\n    log {{\n        output file {dir}/logs/access.log\n        format json\n    }}\n    handle /slow {{\n        reverse_proxy 127.0.0.1:{backend}\n    }}\n    handle /missing.html {{\n        respond \"no\" 404\n    }}\n    handle {{\n        respond \"hello\" 200\n    }}\n}}\n",
            dir = s(dir)
        ),
    )
    .unwrap();
    let srv = Server::start(
        "caddy",
        Command::new("/usr/bin/caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&conf)
            .env("HOME", dir)
            .env("XDG_DATA_HOME", dir.join("run"))
            .env("XDG_CONFIG_HOME", dir.join("run")),
        port,
    );
    send(port);
    srv.stop();
    let c = s(&conf);
    let l = dir.join("logs/access.log");
    let l = s(&l);
    let vh = |h: &str, n: u32| format!("      {n} {h}:{port}\n");
    assert_eq!(answer(&["vhosts", "--log-config", c, l]), [vh("a.test", 5), vh("b.test", 3), vh("c.test", 2)].concat());
    assert_eq!(answer(&["status", "--log-config", c, l]), "      9 200\n      1 404\n");
    assert_eq!(
        answer(&["ips", "--real-ip", "xff", "--log-config", c, l]),
        "      5 127.0.0.1\n      3 198.51.100.20\n      2 203.0.113.7\n"
    );
    assert_eq!(answer(&["count", "--slower-than", "250ms", "--log-config", c, l]), "2\n");
    assert_eq!(answer(&["count", "--vhost", "a.test", "--log-config", c, l]), "5\n");
    let (n, _, max) = times(&["--log-config", c, l]);
    assert_eq!(n, 10);
    assert_slow(max);
    // Detected without flags, and named on stderr.
    let o = tplog(&["count", l]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "10\n");
    assert!(String::from_utf8_lossy(&o.stderr).contains("read as caddy"));
}
