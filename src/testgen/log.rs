//! A realistic access log, deterministic for a seed: skewed IPv4 and IPv6
//! clients (192.168.11.53 among the busy ones), the lab's pages and
//! referers that name them, 8–9 Feb 2014 with the slight time disorder of
//! real logs, `-` requests, escaped quotes, TLS bytes sent to the HTTP port
//! and, unless [`GenOpts::plain`], lookalike pages and a few malformed lines.

use std::io::{self, Write};

use super::SplitMix64;
use crate::log::time::{format_clock, parse_log_clock, Secs, DAY};

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenOpts {
    pub seed: u64,
    /// Stop after this many lines...
    pub lines: Option<u64>,
    /// ...or once this many bytes are written.
    pub bytes: Option<u64>,
    /// Lookalikes where `grep` over-matches: referers naming pages,
    /// `/truc.html.bak`, page names in query strings, percent-encoded paths.
    pub traps: bool,
    /// About one line in 1,000 malformed (truncated, bad date, NUL region, junk).
    pub malformed: bool,
    /// Seconds the log covers, from 08/Feb/2014 00:00:00.
    pub span: Secs,
}

impl Default for GenOpts {
    fn default() -> Self {
        GenOpts {
            seed: 1,
            lines: Some(10_000),
            bytes: None,
            traps: true,
            malformed: true,
            span: 2 * DAY - 3600,
        }
    }
}

impl GenOpts {
    /// A log on which the lab's grep pipelines and tplog mean the same thing:
    /// no page names outside request paths, no malformed lines.
    pub fn plain(seed: u64, lines: u64) -> GenOpts {
        GenOpts {
            seed,
            lines: Some(lines),
            traps: false,
            malformed: false,
            ..GenOpts::default()
        }
    }
}

/// What was written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenReport {
    pub lines: u64,
    pub bytes: u64,
    pub malformed: u64,
}

const PAGES: &[&str] = &[
    "/",
    "/index.html",
    "/truc.html",
    "/bidule.html",
    "/docs/truc.html",
    "/heure.php",
    "/login.php",
    "/owncloud/index.php/login",
    "/owncloud/status.php",
    "/css/style.css",
    "/js/app.js",
    "/images/logo.png",
    "/images/fond.jpg",
    "/favicon.ico",
    "/robots.txt",
    "/cours/tp1.html",
    "/cours/tp2.html",
    "/cours/tp3.html",
    "/about.html",
    "/contact.html",
    "/search",
    "/api/v1/items",
    "/download/iso.tar.gz",
    "/wiki/Main_Page",
];
const TRAP_PAGES: &[&str] = &[
    "/truc.html.bak",
    "/old/bidule.html~",
    "/truc%2Ehtml",
    "/caf%C3%A9.html",
    "/a%20b/truc.html",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64; rv:27.0) Gecko/20100101 Firefox/27.0",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.107 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.73.11 (KHTML, like Gecko) Version/7.0.1 Safari/537.73.11",
    "curl/7.26.0",
    "Wget/1.13.4 (linux-gnu)",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; \\\"quoted\\\" agent; +http://example.org/bot)",
    "-",
];
const HOSTS: &[&str] = &[
    "http://192.168.11.10",
    "http://lab.example.org",
    "https://www.google.fr",
];

/// The client pool: index 0 is the busiest.
fn clients(rng: &mut SplitMix64, n: usize) -> Vec<String> {
    let mut v = Vec::with_capacity(n);
    v.push("192.168.11.12".to_string());
    v.push("192.168.11.53".to_string());
    while v.len() < n {
        let r = rng.next_u64();
        let c = match r % 10 {
            0 | 1 => format!("2001:db8:{:x}::{:x}", (r >> 8) & 0xffff, (r >> 24) & 0xfff),
            2..=4 => format!("192.168.{}.{}", (r >> 8) % 4 + 10, (r >> 16) % 250 + 2),
            _ => format!(
                "{}.{}.{}.{}",
                (r >> 8) % 200 + 11,
                (r >> 16) % 256,
                (r >> 24) % 256,
                (r >> 32) % 254 + 1
            ),
        };
        v.push(c);
    }
    v
}

/// A skewed pick in `0..n`: low indexes much more often (about Zipf-like).
fn skewed(rng: &mut SplitMix64, n: usize) -> usize {
    let u = rng.unit();
    ((u * u * u * u) * n as f64) as usize % n
}

/// Writes a log; returns what was written. Streaming: any size.
pub fn write_log(opts: &GenOpts, w: &mut dyn Write) -> io::Result<GenReport> {
    let mut rng = SplitMix64::new(opts.seed);
    let pool = clients(&mut rng, 3000);
    let start = parse_log_clock(b"08/Feb/2014:00:00:00").expect("valid");
    let target_lines = match (opts.lines, opts.bytes) {
        (Some(l), _) => l,
        (None, Some(b)) => b / 190 + 1,
        (None, None) => 10_000,
    };
    let max_bytes = opts.bytes.unwrap_or(u64::MAX);
    let mut rep = GenReport::default();
    let mut buf = Vec::with_capacity(1 << 16);
    let mut line = Vec::with_capacity(512);
    let mut i = 0u64;
    let mut step = opts.span as f64 / target_lines.max(1) as f64;
    let mut clock = 0f64;
    while rep.bytes < max_bytes && (opts.bytes.is_some() || i < target_lines) {
        line.clear();
        // Completion time advances at the day's rate; the stamp is the
        // start, up to a few seconds earlier (rarely a minute): the
        // disorder of real logs.
        let done = start + clock as Secs;
        clock += step * RATE_MEAN / rate(done);
        let dur = if rng.below(100) == 0 {
            rng.below(60)
        } else {
            rng.below(3)
        } as Secs;
        let t = done - dur;
        let ip = &pool[if rng.below(50) == 0 {
            1
        } else {
            skewed(&mut rng, pool.len())
        }];
        if opts.malformed && rng.below(1000) == 0 {
            write_malformed(&mut rng, &mut line, ip, t);
            rep.malformed += 1;
        } else {
            write_valid(opts, &mut rng, &mut line, ip, t);
        }
        buf.extend_from_slice(&line);
        rep.bytes += line.len() as u64;
        rep.lines += 1;
        i += 1;
        if opts.lines.is_none() && i % 1024 == 0 {
            // Size mode: re-aim the clock at the end of the span from the
            // average line length so far.
            let left_lines =
                (max_bytes.saturating_sub(rep.bytes)) as f64 / (rep.bytes as f64 / i as f64);
            let left_time = (opts.span as f64 - clock).max(0.0);
            step = left_time / left_lines.max(1.0);
        }
        if buf.len() >= 1 << 16 {
            w.write_all(&buf)?;
            buf.clear();
        }
    }
    w.write_all(&buf)?;
    Ok(rep)
}

/// Requests per unit of time by time of day: the lab session (07:00–07:30)
/// is busiest, working hours busy, nights quiet.
fn rate(t: Secs) -> f64 {
    match t.rem_euclid(DAY) / 60 {
        420..=449 => 6.0,
        480..=1079 => 2.0,
        _ => 0.5,
    }
}
/// The mean of [`rate`] over a day, so that `span` is kept on average.
const RATE_MEAN: f64 = (0.5 * 6.0 + 10.0 * 2.0 + 13.5 * 0.5) / 24.0;

fn write_valid(opts: &GenOpts, rng: &mut SplitMix64, line: &mut Vec<u8>, ip: &str, t: Secs) {
    let kind = rng.below(1000);
    let (request, status, bytes): (String, u16, Option<u64>) = if kind < 5 {
        ("-".into(), 408, Some(0))
    } else if kind < 7 {
        // TLS ClientHello bytes sent to the HTTP port, as Apache logs them.
        (
            "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xfc\\x03\\x03".into(),
            400,
            Some(226),
        )
    } else {
        let page = if opts.traps && rng.below(40) == 0 {
            TRAP_PAGES[rng.below(TRAP_PAGES.len() as u64) as usize]
        } else {
            PAGES[skewed(rng, PAGES.len())]
        };
        let method = match rng.below(100) {
            0..=84 => "GET",
            85..=94 => "POST",
            95..=98 => "HEAD",
            _ => "OPTIONS",
        };
        let mut target = page.to_string();
        match rng.below(20) {
            0 => target.push_str(&format!("?id={}", rng.below(1000))),
            1 if opts.traps => target.push_str("?next=/truc.html"),
            2 => target.push_str("?q=%22tp%22+cloud"),
            _ => {}
        }
        let status = match rng.below(100) {
            0..=79 => 200,
            80..=88 => 304,
            89..=94 => 404,
            95..=96 => 301,
            97 => 403,
            _ => 500,
        };
        let bytes = match status {
            304 => None,
            404 => Some(209 + rng.below(20)),
            _ => Some((rng.unit().powi(3) * 2_000_000.0) as u64 + 100),
        };
        let version = if rng.below(10) == 0 {
            "HTTP/1.0"
        } else {
            "HTTP/1.1"
        };
        (format!("{method} {target} {version}"), status, bytes)
    };
    let referer = if rng.below(10) < 4 {
        "-".to_string()
    } else {
        let mut p = PAGES[skewed(rng, PAGES.len())];
        if !opts.traps {
            // No page a test filters on may appear outside a request path.
            while p.contains("truc") || p.contains("bidule") {
                p = PAGES[rng.below(PAGES.len() as u64) as usize];
            }
        }
        format!("{}{}", HOSTS[rng.below(HOSTS.len() as u64) as usize], p)
    };
    let agent = AGENTS[skewed(rng, AGENTS.len())];
    let bytes = bytes.map_or("-".to_string(), |b| b.to_string());
    let _ = writeln!(
        line,
        "{ip} - - [{} +0100] \"{request}\" {status} {bytes} \"{referer}\" \"{agent}\"",
        format_clock(t)
    );
}

fn write_malformed(rng: &mut SplitMix64, line: &mut Vec<u8>, ip: &str, t: Secs) {
    let good = format!(
        "{ip} - - [{} +0100] \"GET /truc.html HTTP/1.1\" 200 512 \"http://lab.example.org/\" \"curl/7.26.0\"",
        format_clock(t)
    );
    match rng.below(4) {
        // Cut short (a crash while writing): the agent's quote never closes.
        0 => line.extend_from_slice(&good.as_bytes()[..good.len() - 5]),
        // A date that does not exist.
        1 => line.extend_from_slice(good.replacen("/Feb/", "/Fev/", 1).as_bytes()),
        // A region zeroed by copytruncate log rotation, then the real line.
        2 => {
            line.extend(std::iter::repeat(0u8).take(64 + rng.below(512) as usize));
            line.extend_from_slice(good.as_bytes());
        }
        // Binary junk.
        _ => line.extend((0..40).map(|_| (rng.next_u64() & 0xff) as u8).map(|b| {
            if b == b'\n' {
                b' '
            } else {
                b
            }
        })),
    }
    line.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::parse::parse_line;

    #[test]
    fn deterministic_and_mostly_valid() {
        let opts = GenOpts {
            lines: Some(5000),
            ..GenOpts::default()
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let ra = write_log(&opts, &mut a).unwrap();
        write_log(&opts, &mut b).unwrap();
        assert_eq!(a, b);
        assert_eq!(ra.lines, 5000);
        let bad = a
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .filter(|l| parse_line(l).is_err())
            .count();
        assert_eq!(bad as u64, ra.malformed);
        let other = write_log(&GenOpts { seed: 2, ..opts }, &mut Vec::new()).unwrap();
        assert_eq!(other.lines, 5000);
    }

    #[test]
    fn plain_log_names_pages_only_in_requests() {
        let mut v = Vec::new();
        write_log(&GenOpts::plain(7, 3000), &mut v).unwrap();
        for l in v.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
            let r = parse_line(l).unwrap();
            assert!(!r.referer.unwrap().windows(4).any(|w| w == b"truc"));
        }
    }

    #[test]
    fn size_target() {
        let mut v = Vec::new();
        let r = write_log(
            &GenOpts {
                lines: None,
                bytes: Some(200_000),
                ..GenOpts::default()
            },
            &mut v,
        )
        .unwrap();
        assert!(r.bytes >= 200_000 && r.bytes < 201_000, "{}", r.bytes);
    }
}
