//! `cargo xtask lab up|down|login|status`: the lab's network on one
//! machine, in network namespaces this code makes and nothing else.
//!
//! ```text
//!   NAME-client (eth0 192.0.2.20)            NAME-guest (eth0 192.0.2.10: apache2 :80 :443)
//!        eth0 ── vclient ─┐             ┌─ vguest ── eth0
//!                         └── br0 ──────┘
//!                      NAME-lab (the bridge; sniff here: tpsniff --iface br0)
//! ```
//!
//! The host's network is never touched: the bridge and the veth pairs are
//! made inside the namespaces, and every client runs in `NAME-client` with
//! `ip netns exec`. apache2 is Debian's, started as `apache2 -f CONF -k
//! start` with a private ServerRoot, PidFile, ErrorLog and the default
//! combined CustomLog, all under `/run/tplab/NAME`; mod_ssl uses a
//! certificate made by openssl at set-up. `down` kills every process left in
//! the namespaces, deletes them and the directory, and is safe to run twice.
//!
//! The end-to-end tests include this file (`#[path]`), so it needs only std,
//! anyhow and `crate::sys::ensure_packages`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Where labs keep their files: root-owned, not world-writable.
pub const BASE: &str = "/run/tplab";
pub const GUEST_IP: &str = "192.0.2.10";
pub const CLIENT_IP: &str = "192.0.2.20";
/// The server's name (SNI, certificate, Host); `.test` is reserved.
pub const HOST: &str = "files.lab.test";
pub const APACHE: &str = "/usr/sbin/apache2";
const MODULES: &str = "/usr/lib/apache2/modules";
/// What `lab up` needs (Debian packages).
pub const PACKAGES: &[&str] = &["iproute2", "apache2", "openssl", "curl", "tcpdump"];
/// The programs behind them, for the tests' skip check.
pub const PROGRAMS: &[&str] = &["ip", APACHE, "openssl", "curl", "tcpdump", "ss"];
pub const DEFAULT_USER: &str = "alice";
/// `&` and a space: the form encoding matters.
pub const DEFAULT_PASSWORD: &str = "Tr0ub4dor&3 horse";

/// One lab, by name.
#[derive(Debug, Clone)]
pub struct Lab {
    pub name: String,
    pub dir: PathBuf,
}

/// Runs a command; its stdout, or an error with its stderr.
pub fn output(cmd: &mut Command) -> Result<String> {
    let o: Output = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !o.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

fn ip(args: &[&str]) -> Result<()> {
    output(Command::new("ip").args(args)).map(drop)
}

pub fn is_root() -> bool {
    output(Command::new("id").arg("-u"))
        .map(|s| s.trim() == "0")
        .unwrap_or(false)
}

/// The first of `PROGRAMS` that cannot be found.
pub fn missing_program() -> Option<&'static str> {
    PROGRAMS.iter().copied().find(|p| {
        if p.starts_with('/') {
            !Path::new(p).exists()
        } else {
            !std::env::var_os("PATH")
                .map(|path| std::env::split_paths(&path).any(|d| d.join(p).is_file()))
                .unwrap_or(false)
        }
    })
}

fn namespaces() -> Vec<String> {
    output(Command::new("ip").args(["netns", "list"]))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

impl Lab {
    pub fn new(name: &str) -> Result<Lab> {
        if name.is_empty()
            || name.len() > 24
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            bail!("bad lab name {name:?}: 1 to 24 of a-z, 0-9 and -");
        }
        Ok(Lab {
            name: name.into(),
            dir: Path::new(BASE).join(name),
        })
    }

    /// The namespace holding br0.
    pub fn ns_lab(&self) -> String {
        format!("{}-lab", self.name)
    }
    pub fn ns_guest(&self) -> String {
        format!("{}-guest", self.name)
    }
    pub fn ns_client(&self) -> String {
        format!("{}-client", self.name)
    }
    fn all_ns(&self) -> [String; 3] {
        [self.ns_client(), self.ns_guest(), self.ns_lab()]
    }

    pub fn access_log(&self) -> PathBuf {
        self.dir.join("logs/access.log")
    }
    pub fn error_log(&self) -> PathBuf {
        self.dir.join("logs/error.log")
    }
    pub fn cert(&self) -> PathBuf {
        self.dir.join("tls/cert.pem")
    }
    fn pid_file(&self) -> PathBuf {
        self.dir.join("run/apache2.pid")
    }

    /// A command run inside one of the lab's namespaces.
    pub fn exec(&self, ns: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, program]);
        c
    }

    pub fn is_up(&self) -> bool {
        let ns = namespaces();
        self.dir.exists() || self.all_ns().iter().any(|n| ns.contains(n))
    }

    /// Makes the namespaces, the bridge, the files and starts apache2;
    /// on any failure removes what it made.
    pub fn up(&self) -> Result<()> {
        if !is_root() {
            bail!("the lab needs root (network namespaces, apache2 on ports 80 and 443)");
        }
        if let Some(p) = missing_program() {
            bail!("{p} is missing (Debian packages: {})", PACKAGES.join(" "));
        }
        if self.is_up() {
            bail!(
                "lab {} is already up (or was left half made): cargo xtask lab down --name {}",
                self.name,
                self.name
            );
        }
        let r = self.make();
        if r.is_err() {
            let _ = self.down();
        }
        r
    }

    fn make(&self) -> Result<()> {
        std::fs::create_dir_all(BASE)?;
        std::fs::create_dir(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        self.network()?;
        self.files()?;
        self.certificate()?;
        self.start_apache()
    }

    fn network(&self) -> Result<()> {
        let (lab, guest, client) = (self.ns_lab(), self.ns_guest(), self.ns_client());
        for ns in [&lab, &guest, &client] {
            ip(&["netns", "add", ns])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            // No IPv6 autoconfiguration chatter on the bridge.
            output(
                self.exec(ns, "sysctl")
                    .args(["-qw", "net.ipv6.conf.all.disable_ipv6=1"]),
            )?;
            output(
                self.exec(ns, "sysctl")
                    .args(["-qw", "net.ipv6.conf.default.disable_ipv6=1"]),
            )?;
        }
        ip(&["-n", &lab, "link", "add", "br0", "type", "bridge"])?;
        for (port, ns, addr) in [
            ("vguest", &guest, GUEST_IP),
            ("vclient", &client, CLIENT_IP),
        ] {
            // Both ends are made inside the namespaces: no name on the host.
            ip(&[
                "-n", &lab, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns",
                ns,
            ])?;
            ip(&["-n", &lab, "link", "set", port, "master", "br0", "up"])?;
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", ns, "link", "set", "eth0", "up"])?;
        }
        // Promiscuous, as tcpdump would set it: the bridge then passes up
        // the frames it forwards between its ports, so a capture on br0
        // sees the guest's traffic without --promisc.
        ip(&["-n", &lab, "link", "set", "br0", "promisc", "on", "up"])
    }

    fn files(&self) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let d = &self.dir;
        for sub in ["htdocs", "cgi-bin", "logs", "run", "tls"] {
            std::fs::create_dir(d.join(sub))?;
        }
        // apache2's children (www-data) read the pages and run the scripts.
        for sub in ["", "htdocs", "cgi-bin"] {
            std::fs::set_permissions(d.join(sub), std::fs::Permissions::from_mode(0o755))?;
        }
        std::fs::set_permissions(d.join("tls"), std::fs::Permissions::from_mode(0o700))?;
        let page = |title: &str, body: &str| {
            format!("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body>\n{body}\n</body></html>\n")
        };
        let files: [(&str, String); 5] = [
            ("htdocs/index.html", page("Lab files", "<h1>Lab file service</h1>\n<p><a href=\"/login.html\">Log in</a> · <a href=\"/cgi-bin/clock\">Clock</a> · <a href=\"/truc.html\">truc</a> · <a href=\"/bidule.html\">bidule</a></p>")),
            ("htdocs/login.html", page("Log in", "<h1>Log in</h1>\n<form method=\"post\" action=\"/cgi-bin/login\">\n<p><label>User <input name=\"user\" autocomplete=\"username\"></label></p>\n<p><label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\"></label></p>\n<p><button>Log in</button></p>\n</form>")),
            ("htdocs/truc.html", page("truc", "<h1>truc</h1>\n<p>A page the lab's log queries ask about.</p>")),
            ("htdocs/bidule.html", page("bidule", "<h1>bidule</h1>\n<p>Another page the lab's log queries ask about.</p>")),
            ("apache2.conf", self.apache_conf()),
        ];
        for (f, text) in files {
            std::fs::write(d.join(f), text)?;
        }
        let scripts = [("cgi-bin/login", LOGIN_CGI), ("cgi-bin/clock", CLOCK_CGI)];
        for (f, text) in scripts {
            std::fs::write(d.join(f), text)?;
            std::fs::set_permissions(d.join(f), std::fs::Permissions::from_mode(0o755))?;
        }
        Ok(())
    }

    fn apache_conf(&self) -> String {
        let d = self.dir.display();
        let mut c = String::new();
        let _ = write!(
            c,
            r#"# The lab's apache2, started by `cargo xtask lab up` in {guest}.
ServerRoot "{d}"
ServerName {HOST}
PidFile {d}/run/apache2.pid
DefaultRuntimeDir {d}/run
ErrorLog {d}/logs/error.log
LogLevel warn
Listen 80
Listen 443
User www-data
Group www-data
"#,
            guest = self.ns_guest()
        );
        for m in [
            "mpm_prefork",
            "authz_core",
            "mime",
            "dir",
            "alias",
            "cgi",
            "socache_shmcb",
            "ssl",
        ] {
            let _ = writeln!(c, "LoadModule {m}_module {MODULES}/mod_{m}.so");
        }
        let _ = write!(
            c,
            r#"StartServers 2
MinSpareServers 1
MaxSpareServers 4
MaxRequestWorkers 16
TypesConfig /etc/mime.types
DocumentRoot "{d}/htdocs"
DirectoryIndex index.html
# Debian's default access log format.
LogFormat "%h %l %u %t \"%r\" %>s %O \"%{{Referer}}i\" \"%{{User-Agent}}i\"" combined
CustomLog {d}/logs/access.log combined
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory "{d}/htdocs">
    Require all granted
</Directory>
ScriptAlias /cgi-bin/ "{d}/cgi-bin/"
<Directory "{d}/cgi-bin">
    Options +ExecCGI
    Require all granted
</Directory>
SSLSessionCache shmcb:{d}/run/ssl_scache(512000)
<VirtualHost *:443>
    ServerName {HOST}
    SSLEngine on
    SSLCertificateFile {d}/tls/cert.pem
    SSLCertificateKeyFile {d}/tls/key.pem
</VirtualHost>
"#
        );
        c
    }

    fn certificate(&self) -> Result<()> {
        let tls = self.dir.join("tls");
        output(Command::new("openssl").args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "30",
            "-subj",
            &format!("/CN={HOST}"),
            "-addext",
            &format!("subjectAltName=DNS:{HOST}"),
            "-keyout",
            tls.join("key.pem").to_str().context("path")?,
            "-out",
            tls.join("cert.pem").to_str().context("path")?,
        ]))
        .map(drop)
    }

    fn start_apache(&self) -> Result<()> {
        let conf = self.dir.join("apache2.conf");
        output(
            self.exec(&self.ns_guest(), APACHE)
                .arg("-f")
                .arg(&conf)
                .args(["-k", "start"])
                .env_clear()
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .env("LANG", "C"),
        )
        .context("starting apache2")?;
        // Ready when both ports listen (asked inside the guest: no request
        // is made, so the access log holds only what clients do).
        let t = Instant::now();
        loop {
            let ss = output(self.exec(&self.ns_guest(), "ss").args(["-Hltn"])).unwrap_or_default();
            if ss.contains(":80 ") && ss.contains(":443 ") {
                return Ok(());
            }
            if t.elapsed() > Duration::from_secs(15) {
                let log = std::fs::read_to_string(self.error_log()).unwrap_or_default();
                bail!("apache2 is not listening on 80 and 443 after 15 s; error log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops apache2 and every other process in the namespaces, deletes
    /// the namespaces (and with them br0 and the veths) and the files.
    /// Nothing there: nothing done.
    pub fn down(&self) -> Result<()> {
        let mut errors = Vec::new();
        if let Ok(pid) = std::fs::read_to_string(self.pid_file()) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                let _ = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
        }
        let existing = namespaces();
        let mine: Vec<String> = self
            .all_ns()
            .into_iter()
            .filter(|n| existing.contains(n))
            .collect();
        // Whatever still runs inside (apache2 children, a tpsniff, a
        // tcpdump): TERM, then KILL after 3 s.
        let pids = |ns: &str| -> Vec<String> {
            output(Command::new("ip").args(["netns", "pids", ns]))
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        };
        let t = Instant::now();
        let mut signal = "-TERM";
        loop {
            let left: Vec<String> = mine.iter().flat_map(|n| pids(n)).collect();
            if left.is_empty() {
                break;
            }
            if t.elapsed() > Duration::from_secs(3) {
                signal = "-KILL";
            }
            if t.elapsed() > Duration::from_secs(6) {
                errors.push(format!("processes still running: {}", left.join(" ")));
                break;
            }
            let _ = Command::new("kill")
                .arg(signal)
                .args(&left)
                .stderr(Stdio::null())
                .status();
            std::thread::sleep(Duration::from_millis(100));
        }
        for ns in &mine {
            if let Err(e) = ip(&["netns", "del", ns]) {
                errors.push(e.to_string());
            }
        }
        if self.dir.exists() {
            if let Err(e) = std::fs::remove_dir_all(&self.dir) {
                errors.push(format!("removing {}: {e}", self.dir.display()));
            }
        }
        // The base directory goes when the last lab has gone.
        let _ = std::fs::remove_dir(BASE);
        if !errors.is_empty() {
            bail!("lab down: {}", errors.join("; "));
        }
        Ok(())
    }

    /// The options every curl request of the lab has: the server's name
    /// resolved by `--resolve` (no DNS), the lab's certificate trusted, a
    /// time limit. (`--next` resets options: login repeats them.)
    fn curl_common(&self, https: bool) -> Vec<String> {
        let port = if https { 443 } else { 80 };
        vec![
            "-sS".into(),
            "--max-time".into(),
            "10".into(),
            "--noproxy".into(),
            "*".into(),
            "--resolve".into(),
            format!("{HOST}:{port}:{GUEST_IP}"),
            "--cacert".into(),
            self.cert().display().to_string(),
        ]
    }

    /// curl in the client namespace with these arguments; its output.
    pub fn curl(&self, args: &[String]) -> Result<String> {
        output(self.exec(&self.ns_client(), "curl").args(args))
    }

    pub fn url(https: bool, path: &str) -> String {
        format!("{}://{HOST}{path}", if https { "https" } else { "http" })
    }

    /// GETs one page.
    pub fn get(&self, https: bool, path: &str) -> Result<String> {
        let mut a = self.curl_common(https);
        a.push(Self::url(https, path));
        self.curl(&a)
    }

    /// What a browser does: GET the form, POST `user` and `password` to
    /// the page that answers, on one connection (one TLS session over
    /// HTTPS). Returns the answer.
    pub fn login(&self, https: bool, user: &str, password: &str) -> Result<String> {
        let form = Self::url(https, "/login.html");
        let mut a = self.curl_common(https);
        a.extend([
            "-o".into(),
            "/dev/null".into(),
            form.clone(),
            "--next".into(),
        ]);
        a.extend(self.curl_common(https));
        a.extend([
            "-e".into(),
            form,
            "--data-urlencode".into(),
            format!("user={user}"),
            "--data-urlencode".into(),
            format!("password={password}"),
            Self::url(https, "/cgi-bin/login"),
        ]);
        self.curl(&a)
    }

    /// A few lines about the lab, and the commands to use it.
    pub fn status(&self) -> String {
        let mut s = String::new();
        if !self.is_up() {
            let _ = writeln!(s, "lab {}: down", self.name);
            return s;
        }
        let existing = namespaces();
        let _ = writeln!(s, "lab {}: up ({})", self.name, self.dir.display());
        for ns in self.all_ns() {
            let here = existing.contains(&ns);
            let addrs = if here {
                output(Command::new("ip").args(["-n", &ns, "-br", "addr"])).unwrap_or_default()
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "  namespace {ns}: {}",
                if here { "present" } else { "MISSING" }
            );
            for l in addrs.lines().filter(|l| !l.starts_with("lo ")) {
                let _ = writeln!(
                    s,
                    "    {}",
                    l.split_whitespace().collect::<Vec<_>>().join(" ")
                );
            }
        }
        let pid = std::fs::read_to_string(self.pid_file()).unwrap_or_default();
        let listening =
            output(self.exec(&self.ns_guest(), "ss").args(["-Hltn"])).unwrap_or_default();
        let _ = writeln!(
            s,
            "  apache2: pid {} listening on{}{}",
            if pid.trim().is_empty() {
                "?"
            } else {
                pid.trim()
            },
            if listening.contains(":80 ") {
                " http://"
            } else {
                ""
            },
            if listening.contains(":443 ") {
                " https://"
            } else {
                ""
            },
        );
        let lines = std::fs::read_to_string(self.access_log())
            .map(|t| t.lines().count())
            .unwrap_or(0);
        let _ = writeln!(
            s,
            "  access log: {} ({lines} lines)\n  server: {HOST} = {GUEST_IP}, client {CLIENT_IP}",
            self.access_log().display()
        );
        let n = if self.name == "tplab" {
            String::new()
        } else {
            format!(" --name {}", self.name)
        };
        let _ = write!(
            s,
            "  sniff:  ip netns exec {lab} target/debug/tpsniff --iface br0\n  \
             record: ip netns exec {lab} tcpdump -n -i br0 -w lab.pcap\n  \
             login:  cargo xtask lab login --http{n}   (or --https)\n  \
             stop:   cargo xtask lab down{n}\n",
            lab = self.ns_lab()
        );
        s
    }
}

/// The login handler: reads the form, stores nothing, answers.
const LOGIN_CGI: &str = r#"#!/bin/sh
# The lab's login page: reads the posted form and answers. Stores nothing.
if [ "$REQUEST_METHOD" = POST ]; then
    body=$(head -c "${CONTENT_LENGTH:-0}")
else
    body=$QUERY_STRING
fi
field() { printf '%s' "$body" | tr '&' '\n' | sed -n "s/^$1=//p" | head -n 1; }
user=$(field user | tr -cd 'A-Za-z0-9._@-')
printf 'Content-Type: text/html; charset=utf-8\r\nCache-Control: no-store\r\n'
if [ -n "$user" ] && [ -n "$(field password)" ]; then
    printf 'Set-Cookie: lab_session=%s; HttpOnly\r\n\r\n' "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    printf '<!doctype html><title>Files</title><p>Welcome, %s. You are logged in.</p>\n' "$user"
else
    printf 'Status: 401 Unauthorized\r\n\r\n<!doctype html><title>Log in</title><p>Wrong user or password.</p>\n'
fi
"#;

/// The lab's clock page.
const CLOCK_CGI: &str = r#"#!/bin/sh
# The lab's clock page: the server's time, refreshed every second.
printf 'Content-Type: text/html; charset=utf-8\r\nCache-Control: no-store\r\n\r\n'
printf '<!doctype html><title>Clock</title><meta http-equiv="refresh" content="1"><h1>%s</h1>\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
"#;

/// `cargo xtask lab` (root needed).
#[derive(clap::Args, Debug)]
pub struct Opts {
    /// The lab's name: namespaces NAME-lab, NAME-guest, NAME-client.
    #[arg(long, value_name = "NAME", default_value = "tplab", global = true)]
    name: String,
    #[command(subcommand)]
    cmd: LabCmd,
}

#[derive(clap::Subcommand, Debug)]
enum LabCmd {
    /// Make the namespaces, br0 and apache2 (HTTP and HTTPS).
    Up,
    /// Remove everything the lab made (safe twice).
    Down,
    /// What is up, and the commands to sniff it.
    Status,
    /// Log in from the client namespace with curl.
    Login {
        #[command(flatten)]
        scheme: Scheme,
        /// The user name posted.
        #[arg(long, value_name = "U", default_value = DEFAULT_USER)]
        user: String,
        /// The password posted.
        #[arg(long, value_name = "P", default_value = DEFAULT_PASSWORD)]
        password: String,
    },
    /// Fetch a page from the client namespace (HTTP unless --https).
    Get {
        /// Plain HTTP (the default).
        #[arg(long, conflicts_with = "https")]
        http: bool,
        /// HTTPS.
        #[arg(long)]
        https: bool,
        /// The page, e.g. /cgi-bin/clock.
        path: String,
    },
}

#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
struct Scheme {
    /// Plain HTTP (port 80): the password crosses br0 in cleartext.
    #[arg(long)]
    http: bool,
    /// HTTPS (port 443).
    #[arg(long)]
    https: bool,
}

/// `cargo xtask lab ...`
pub fn run(o: &Opts) -> Result<()> {
    let name = &o.name;
    let lab = Lab::new(name)?;
    match &o.cmd {
        LabCmd::Up => {
            crate::sys::ensure_packages(PACKAGES)?;
            lab.up()?;
            print!("{}", lab.status());
            Ok(())
        }
        LabCmd::Down => {
            lab.down()?;
            println!("lab {name}: down");
            Ok(())
        }
        LabCmd::Status => {
            print!("{}", lab.status());
            Ok(())
        }
        LabCmd::Login {
            scheme,
            user,
            password,
        } => {
            let https = scheme.https;
            let answer = lab.login(https, user, password)?;
            println!(
                "client {CLIENT_IP} posted user={user} password={password} to {}",
                Lab::url(https, "/cgi-bin/login")
            );
            print!("{answer}");
            Ok(())
        }
        LabCmd::Get { https, path, .. } => {
            print!("{}", lab.get(*https, path)?);
            Ok(())
        }
    }
}
