//! `tplog report --follow`: the report served over HTTP and kept up to
//! date while the server writes its log. Updates are pushed as
//! server-sent events, at most once a second.
//!
//! Safe to leave running: it listens on loopback unless told otherwise,
//! answers only requests that carry its random token (printed in the URL),
//! only with a `Host` naming the address it listens on (no DNS rebinding
//! from a page on another site), only GET (nothing can be changed, so
//! there is nothing to forge), and, started as root, only after it became
//! the `--user` it was given.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::html;
use super::model::{Context, Report};
use crate::log::chunk::InputSpec;
use crate::log::engine::{Incremental, Query};
use crate::log::format::FormatChoice;
use crate::log::tail::TailError;

/// How often the files are looked at.
const POLL: Duration = Duration::from_millis(100);
/// The fastest updates go out.
const PUSH_EVERY: Duration = Duration::from_secs(1);
/// A comment line on an idle event stream, so proxies and the browser keep it.
const KEEPALIVE: Duration = Duration::from_secs(15);
const MAX_HEAD: usize = 8192;
const MAX_CLIENTS: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("--listen {0}: not a loopback address; give --allow-remote too to serve it to other machines (anyone who gets the URL reads the log)")]
    NotLoopback(SocketAddr),
    #[error("--listen {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error(transparent)]
    Tail(#[from] TailError),
    #[error("running as root: give --user NAME (the server runs as that user once the log files are open and the port is bound)")]
    Root,
    #[error("{0}")]
    Privileges(#[from] crate::cli::privileges::PrivilegeError),
}

/// How to serve.
pub struct LiveOpts {
    pub listen: SocketAddr,
    pub allow_remote: bool,
    pub user: Option<String>,
    pub cx: Context,
}

/// What the handlers read: the latest report, as JSON, and its version.
struct Shared {
    json: Arc<String>,
    version: u64,
}

struct Server {
    token: String,
    hosts: Vec<String>,
    allow_any_host: bool,
    shared: Mutex<Shared>,
    changed: Condvar,
    clients: Mutex<usize>,
}

/// 128 random bits as hex, from the kernel.
fn token() -> io::Result<String> {
    use std::io::Read;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// Serves until the process is stopped; prints the URL on stderr first.
pub fn serve(query: Query, choice: FormatChoice, inputs: &[InputSpec], opts: LiveOpts) -> Result<(), LiveError> {
    let ip = opts.listen.ip();
    if !ip.is_loopback() && !opts.allow_remote {
        return Err(LiveError::NotLoopback(opts.listen));
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root && opts.user.is_none() {
        return Err(LiveError::Root);
    }
    let mut tails = crate::log::tail::open_all(inputs)?;
    let listener = TcpListener::bind(opts.listen).map_err(|source| LiveError::Bind { addr: opts.listen, source })?;
    let addr = listener.local_addr().map_err(|source| LiveError::Bind { addr: opts.listen, source })?;
    if let Some(u) = &opts.user {
        let done = crate::cli::privileges::drop_privileges(Some(u))?;
        eprintln!("tplog: {done}");
    }
    let port = addr.port();
    let mut hosts = vec![addr.to_string(), format!("localhost:{port}")];
    if ip.is_loopback() {
        hosts.extend([format!("127.0.0.1:{port}"), format!("[::1]:{port}")]);
    }
    let token = token().map_err(|source| LiveError::Bind { addr, source })?;
    let mut inc = Incremental::new(query, choice, inputs);
    // The files as they are now.
    crate::log::tail::drain(&mut tails, |i, data| inc.feed(i, data))?;
    let cx = Context { live: true, ..opts.cx };
    let render = |inc: &mut Incremental| Arc::new(html::json_for_script(&Report::new(&inc.outcome(), &cx)));
    let server = Arc::new(Server {
        token,
        hosts,
        allow_any_host: opts.allow_remote && !ip.is_loopback(),
        shared: Mutex::new(Shared { json: render(&mut inc), version: 0 }),
        changed: Condvar::new(),
        clients: Mutex::new(0),
    });
    let shown = if ip.is_unspecified() { format!("localhost:{port}") } else { addr.to_string() };
    eprintln!("tplog: serving the report on http://{shown}/?token={}", server.token);
    eprintln!("tplog: following {} file(s); updates at most once a second; Ctrl-C to stop", tails.len());
    {
        let s = server.clone();
        std::thread::spawn(move || accept(listener, s));
    }
    let mut published = inc.version;
    let mut last_push = Instant::now();
    loop {
        std::thread::sleep(POLL);
        for (i, t) in tails.iter_mut().enumerate() {
            match t.poll() {
                Ok(data) => inc.feed(i, &data),
                // A file gone for a moment (rotation) is retried at the next look.
                Err(e) => eprintln!("tplog: {e}"),
            }
        }
        if inc.version != published && last_push.elapsed() >= PUSH_EVERY {
            let json = render(&mut inc);
            published = inc.version;
            last_push = Instant::now();
            let mut sh = server.shared.lock().expect("not poisoned");
            sh.json = json;
            sh.version += 1;
            server.changed.notify_all();
        }
    }
}

fn accept(listener: TcpListener, server: Arc<Server>) {
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        {
            let mut n = server.clients.lock().expect("not poisoned");
            if *n >= MAX_CLIENTS {
                let _ = respond(&conn, 503, "text/plain", b"too many clients\n", &[]);
                continue;
            }
            *n += 1;
        }
        let s = server.clone();
        std::thread::spawn(move || {
            let _ = handle(conn, &s);
            *s.clients.lock().expect("not poisoned") -= 1;
        });
    }
}

/// A request's line and the headers that matter here.
struct Request {
    method: String,
    path: String,
    query: String,
    host: Option<String>,
}

fn read_request(conn: &TcpStream) -> io::Result<Option<Request>> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut r = BufReader::new(conn).take(MAX_HEAD as u64);
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else { return Ok(None) };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut req = Request { method: method.to_string(), path: path.to_string(), query: query.to_string(), host: None };
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 {
            return Ok(None);
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("host") {
                req.host = Some(v.trim().to_ascii_lowercase());
            }
        }
    }
    Ok(Some(req))
}

use std::io::Read as _;

fn respond(mut conn: &TcpStream, status: u16, ctype: &str, body: &[u8], extra: &[(&str, String)]) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\
         X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\nX-Frame-Options: DENY\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())?;
    conn.write_all(body)
}

fn handle(conn: TcpStream, s: &Server) -> io::Result<()> {
    let Some(req) = read_request(&conn)? else { return Ok(()) };
    if req.method != "GET" && req.method != "HEAD" {
        return respond(&conn, 405, "text/plain", b"only GET: this server changes nothing\n", &[("Allow", "GET".into())]);
    }
    let host_ok = s.allow_any_host || req.host.as_ref().is_some_and(|h| s.hosts.iter().any(|x| x == h));
    if !host_ok {
        return respond(&conn, 403, "text/plain", b"unexpected Host header (DNS rebinding?)\n", &[]);
    }
    let given = req
        .query
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .unwrap_or("");
    if !ct_eq(given.as_bytes(), s.token.as_bytes()) {
        return respond(&conn, 403, "text/plain", b"no or wrong token: use the URL tplog printed\n", &[]);
    }
    match req.path.as_str() {
        "/" => {
            let json = s.shared.lock().expect("not poisoned").json.clone();
            let mut page = Vec::new();
            html::write_page_json(&mut page, &json, true)?;
            respond(&conn, 200, "text/html; charset=utf-8", &page, &[("Content-Security-Policy", html::csp(true))])
        }
        "/report.json" => {
            let json = s.shared.lock().expect("not poisoned").json.clone();
            respond(&conn, 200, "application/json", json.as_bytes(), &[])
        }
        "/events" => events(conn, s),
        _ => respond(&conn, 404, "text/plain", b"not found\n", &[]),
    }
}

/// The event stream: the report now, then each new version.
fn events(mut conn: TcpStream, s: &Server) -> io::Result<()> {
    conn.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n\
          X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
    )?;
    let mut seen = u64::MAX;
    loop {
        let (json, version) = {
            let mut sh = s.shared.lock().expect("not poisoned");
            if sh.version == seen {
                let (g, t) = s.changed.wait_timeout(sh, KEEPALIVE).expect("not poisoned");
                sh = g;
                if t.timed_out() && sh.version == seen {
                    drop(sh);
                    conn.write_all(b": keepalive\n\n")?;
                    continue;
                }
            }
            (sh.json.clone(), sh.version)
        };
        seen = version;
        conn.write_all(b"event: report\ndata: ")?;
        conn.write_all(json.as_bytes())?;
        conn.write_all(b"\n\n")?;
        conn.flush()?;
    }
}
