//! `watch URL`: poll a page (the lab's `heure.php`) over plain HTTP/1.1 and
//! measure, with an HDR histogram, the latency of each answer and the
//! longest gap between two answers — "the service kept running" as a number.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum WatchError {
    #[error("{0:?} is not an http:// URL (only plain HTTP is supported: http://HOST[:PORT]/PATH)")]
    Url(String),
    #[error("cannot resolve {host}: {message}")]
    Resolve { host: String, message: String },
    #[error("{0:?} is not a duration: use a number with ms, s, m or us (10ms, 2s)")]
    Duration(String),
}

/// A parsed `http://host:port/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub host: String,
    pub port: u16,
    pub path: String,
}

/// Parses an `http://` URL (no TLS, no user info).
pub fn parse_url(url: &str) -> Result<HttpUrl, WatchError> {
    let bad = || WatchError::Url(url.to_string());
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    let (host, port) = if let Some(h) = authority.strip_prefix('[') {
        let end = h.find(']').ok_or_else(bad)?;
        let port = match &h[end + 1..] {
            "" => 80,
            p => p
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .ok_or_else(bad)?,
        };
        (h[..end].to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad())?),
            None => (authority.to_string(), 80),
        }
    };
    Ok(HttpUrl {
        host,
        port,
        path: path.to_string(),
    })
}

/// `10ms`, `2s`, `500us`, `1m`; a bare number is milliseconds.
pub fn parse_duration(s: &str) -> Result<Duration, WatchError> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let v: f64 = n.parse().map_err(|_| WatchError::Duration(s.into()))?;
    let secs = match unit {
        "" | "ms" => v / 1000.0,
        "us" | "µs" => v / 1_000_000.0,
        "s" => v,
        "m" | "min" => v * 60.0,
        _ => return Err(WatchError::Duration(s.into())),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(WatchError::Duration(s.into()));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// How to poll.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    pub url: String,
    /// Time between the start of two requests.
    pub every: Duration,
    /// Give up on one request after this long.
    pub timeout: Duration,
    /// Stop after this long (None: until `stop` is set).
    pub duration: Option<Duration>,
    /// Stop after this many requests.
    pub count: Option<u64>,
}

/// The outcome of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// An HTTP status line was read.
    Status(u16),
    /// No answer: refused, reset, timed out.
    Failed(String),
}

/// What `watch` measured.
#[derive(Debug, Clone, Serialize)]
pub struct WatchReport {
    pub url: String,
    pub requests: u64,
    /// 2xx and 3xx answers.
    pub ok: u64,
    pub failed: u64,
    pub latency_us: Percentiles,
    /// Longest time between two good answers (or from the start / to the end).
    pub longest_gap_ms: f64,
    /// When that gap began, in ms from the start.
    pub longest_gap_at_ms: f64,
    pub elapsed_ms: f64,
    /// The last failure seen, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Latency percentiles of good answers, in microseconds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Percentiles {
    pub min: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

/// One GET; the status code or why there was none.
pub fn get_once(addr: &SocketAddr, url: &HttpUrl, timeout: Duration) -> Probe {
    let run = || -> std::io::Result<u16> {
        let mut s = TcpStream::connect_timeout(addr, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        s.set_nodelay(true)?;
        let host = if url.port == 80 {
            url.host.clone()
        } else {
            format!("{}:{}", url.host, url.port)
        };
        write!(s, "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: tpvirt-watch\r\nConnection: close\r\n\r\n", url.path)?;
        let mut buf = Vec::with_capacity(1024);
        let mut chunk = [0u8; 4096];
        // Read the whole answer (the server closes), so the latency
        // includes the body.
        loop {
            match s.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    if buf.len() < 64 * 1024 {
                        buf.extend_from_slice(&chunk[..n]);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !buf.is_empty() => {
                    break
                }
                Err(e) => return Err(e),
            }
        }
        parse_status(&buf)
            .ok_or_else(|| std::io::Error::other("answer without an HTTP status line"))
    };
    match run() {
        Ok(c) => Probe::Status(c),
        Err(e) => Probe::Failed(e.to_string()),
    }
}

/// `HTTP/1.1 200 OK` → 200.
pub fn parse_status(b: &[u8]) -> Option<u16> {
    let line = b.split(|&c| c == b'\n').next()?;
    let mut it = line.split(|&c| c == b' ');
    let proto = it.next()?;
    if !proto.starts_with(b"HTTP/") {
        return None;
    }
    std::str::from_utf8(it.next()?).ok()?.trim().parse().ok()
}

/// Polls until the duration, the count or `stop`; calls `on_probe` after
/// each request (for live output).
pub fn watch(
    cfg: &WatchConfig,
    stop: &AtomicBool,
    mut on_probe: impl FnMut(Duration, &Probe, Duration),
) -> Result<WatchReport, WatchError> {
    let url = parse_url(&cfg.url)?;
    let addr = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| WatchError::Resolve {
            host: url.host.clone(),
            message: e.to_string(),
        })?
        .next()
        .ok_or_else(|| WatchError::Resolve {
            host: url.host.clone(),
            message: "no address".into(),
        })?;
    let mut hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds");
    let t0 = Instant::now();
    let mut last_ok = Duration::ZERO;
    let (mut gap, mut gap_at) = (Duration::ZERO, Duration::ZERO);
    let (mut requests, mut ok, mut failed) = (0u64, 0u64, 0u64);
    let mut last_error = None;
    let mut next = t0;
    loop {
        if stop.load(Ordering::SeqCst)
            || cfg.count.is_some_and(|c| requests >= c)
            || cfg.duration.is_some_and(|d| t0.elapsed() >= d)
        {
            break;
        }
        let now = Instant::now();
        if now < next {
            std::thread::sleep(next - now);
        }
        next += cfg.every;
        if next < Instant::now() {
            // Fell behind (a slow answer): do not burst to catch up.
            next = Instant::now();
        }
        let start = Instant::now();
        let p = get_once(&addr, &url, cfg.timeout);
        let lat = start.elapsed();
        let at = t0.elapsed();
        requests += 1;
        match &p {
            Probe::Status(c) if (200..400).contains(c) => {
                ok += 1;
                hist.saturating_record(lat.as_micros().max(1) as u64);
                if at - last_ok > gap {
                    gap = at - last_ok;
                    gap_at = last_ok;
                }
                last_ok = at;
            }
            Probe::Status(c) => {
                failed += 1;
                last_error = Some(format!("HTTP status {c}"));
            }
            Probe::Failed(e) => {
                failed += 1;
                last_error = Some(e.clone());
            }
        }
        on_probe(at, &p, lat);
    }
    let elapsed = t0.elapsed();
    if elapsed - last_ok > gap {
        gap = elapsed - last_ok;
        gap_at = last_ok;
    }
    let latency_us = if hist.is_empty() {
        Percentiles::default()
    } else {
        Percentiles {
            min: hist.min(),
            p50: hist.value_at_quantile(0.50),
            p90: hist.value_at_quantile(0.90),
            p99: hist.value_at_quantile(0.99),
            p999: hist.value_at_quantile(0.999),
            max: hist.max(),
            mean: hist.mean(),
        }
    };
    Ok(WatchReport {
        url: cfg.url.clone(),
        requests,
        ok,
        failed,
        latency_us,
        longest_gap_ms: gap.as_secs_f64() * 1000.0,
        longest_gap_at_ms: gap_at.as_secs_f64() * 1000.0,
        elapsed_ms: elapsed.as_secs_f64() * 1000.0,
        last_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://10.0.0.2/heure.php").unwrap(),
            HttpUrl {
                host: "10.0.0.2".into(),
                port: 80,
                path: "/heure.php".into()
            }
        );
        assert_eq!(parse_url("http://h:8080").unwrap().path, "/");
        assert_eq!(parse_url("http://[::1]:81/x").unwrap().host, "::1");
        assert!(parse_url("https://h/").is_err());
        assert!(parse_url("http://h:99999/").is_err());
        assert!(parse_url("http:///x").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10ms").unwrap(), Duration::from_millis(10));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("250").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("500us").unwrap(), Duration::from_micros(500));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3h").is_err());
    }

    #[test]
    fn status_lines() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\n\r\n"), Some(200));
        assert_eq!(parse_status(b"HTTP/1.0 503 Busy\r\n"), Some(503));
        assert_eq!(parse_status(b"SSH-2.0\r\n"), None);
        assert_eq!(parse_status(b""), None);
    }
}
