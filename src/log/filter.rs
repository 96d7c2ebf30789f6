//! The compiled filters (AND-ed), and the literal a filter lets the engine
//! look for with memmem before parsing a line at all.

use std::net::IpAddr;

use super::format::realip::{RealIp, RealIpError};
use super::record::{Ext, Record};
use super::time::{parse_day_arg, parse_time_arg, Secs, TimeArgError};

/// `--page`: a whole path (`/docs/truc.html`) or a last segment (`truc.html`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageMatch {
    Path(Vec<u8>),
    Segment(Vec<u8>),
}

impl PageMatch {
    pub fn parse(p: &str) -> PageMatch {
        if p.starts_with('/') {
            PageMatch::Path(p.as_bytes().to_vec())
        } else {
            PageMatch::Segment(p.as_bytes().to_vec())
        }
    }

    /// Does a (decoded) path match?
    #[inline]
    pub fn matches(&self, path: &[u8]) -> bool {
        match self {
            PageMatch::Path(p) => path == p.as_slice(),
            PageMatch::Segment(seg) => {
                path.len() > seg.len()
                    && path.ends_with(seg)
                    && path[path.len() - seg.len() - 1] == b'/'
            }
        }
    }

    fn literal(&self) -> &[u8] {
        match self {
            PageMatch::Path(p) | PageMatch::Segment(p) => p,
        }
    }
}

/// `--ip`: one address, a CIDR block, or a hostname compared as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IpMatch {
    Addr(IpAddr),
    Cidr(IpAddr, u8),
    Host(Vec<u8>),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    #[error(transparent)]
    Time(#[from] TimeArgError),
    #[error("bad --ip {0:?}: expected an address (192.168.11.53, 2001:db8::1), a CIDR block (192.168.11.0/24) or a hostname")]
    Ip(String),
    #[error("bad --status {0:?}: expected a code (404) or a class (4xx)")]
    Status(String),
    #[error("bad --method {0:?}: expected an HTTP method such as GET or POST")]
    Method(String),
    #[error("bad --slower-than {0:?}: expected a duration such as 500ms, 1.5s or 250us")]
    Duration(String),
    #[error("bad --vhost {0:?}: expected a host name such as www.example.org")]
    Vhost(String),
    #[error(transparent)]
    RealIp(#[from] RealIpError),
    #[error("--trusted is only read with --real-ip xff")]
    TrustedAlone,
    #[error("--from {from} is after --to {to}: nothing can match")]
    EmptyWindow { from: String, to: String },
}

fn mask(a: IpAddr, bits: u8) -> Option<IpAddr> {
    Some(match a {
        IpAddr::V4(v) if bits <= 32 => {
            let m = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            IpAddr::V4((u32::from(v) & m).into())
        }
        IpAddr::V6(v) if bits <= 128 => {
            let m = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            IpAddr::V6((u128::from(v) & m).into())
        }
        _ => return None,
    })
}

/// An IPv4-mapped IPv6 client (`::ffff:192.168.11.53`, as a dual-stack
/// Apache logs it) is the IPv4 address.
fn unmap(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v) => v.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    }
}

impl IpMatch {
    pub fn parse(s: &str) -> Result<IpMatch, FilterError> {
        let err = || FilterError::Ip(s.to_string());
        if let Some((a, bits)) = s.split_once('/') {
            let a: IpAddr = a.parse().map_err(|_| err())?;
            let bits: u8 = bits.parse().map_err(|_| err())?;
            let a = unmap(a);
            let net = mask(a, bits).ok_or_else(err)?;
            return Ok(IpMatch::Cidr(net, bits));
        }
        if let Ok(a) = s.parse::<IpAddr>() {
            return Ok(IpMatch::Addr(unmap(a)));
        }
        let ok_host = !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
        if ok_host {
            Ok(IpMatch::Host(s.as_bytes().to_vec()))
        } else {
            Err(err())
        }
    }

    #[inline]
    pub fn matches(&self, host: &[u8]) -> bool {
        match self {
            IpMatch::Host(h) => host.eq_ignore_ascii_case(h),
            IpMatch::Addr(a) => {
                // Fast path: IPv4 as Apache and nginx write it.
                if let IpAddr::V4(v4) = a {
                    if host.first().is_some_and(u8::is_ascii_digit) && !host.contains(&b':') {
                        return parse_host(host) == Some(IpAddr::V4(*v4));
                    }
                }
                parse_host(host) == Some(*a)
            }
            IpMatch::Cidr(net, bits) => parse_host(host).and_then(|h| mask(h, *bits)) == Some(*net),
        }
    }

    /// The text every matching line contains, when there is one (IPv4
    /// as written; IPv6 has several spellings, so it has none).
    fn literal(&self) -> Option<Vec<u8>> {
        match self {
            IpMatch::Addr(IpAddr::V4(v)) => Some(v.to_string().into_bytes()),
            IpMatch::Host(h) if !h.iter().any(u8::is_ascii_alphabetic) => Some(h.clone()),
            _ => None,
        }
    }
}

#[inline]
fn parse_host(host: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(host).ok()?;
    let s = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(s);
    s.parse::<IpAddr>().ok().map(unmap)
}

/// `--status 404` or `--status 4xx`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusMatch {
    Code(u16),
    Class(u8),
}

impl StatusMatch {
    pub fn parse(s: &str) -> Result<StatusMatch, FilterError> {
        let b = s.as_bytes();
        let err = || FilterError::Status(s.to_string());
        if b.len() != 3 || !(b'1'..=b'5').contains(&b[0]) {
            return Err(err());
        }
        if b[1..].eq_ignore_ascii_case(b"xx") {
            return Ok(StatusMatch::Class(b[0] - b'0'));
        }
        s.parse().map(StatusMatch::Code).map_err(|_| err())
    }

    #[inline]
    fn matches(self, status: &[u8]) -> bool {
        match self {
            StatusMatch::Class(c) => status[0] - b'0' == c,
            StatusMatch::Code(n) => {
                (status[0] - b'0') as u16 * 100
                    + (status[1] - b'0') as u16 * 10
                    + (status[2] - b'0') as u16
                    == n
            }
        }
    }
}

/// The filters of one query, checked once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub page: Option<PageMatch>,
    pub ip: Option<IpMatch>,
    /// Inclusive bounds, in wall-clock seconds.
    pub from: Option<Secs>,
    pub to: Option<Secs>,
    pub status: Option<StatusMatch>,
    pub method: Option<Vec<u8>>,
    /// `--vhost`: the virtual host, without a `:port` unless given one.
    pub vhost: Option<Vec<u8>>,
    /// `--slower-than`, in microseconds (lines without a time never match).
    pub slower_than: Option<u64>,
    /// `--real-ip xff`: the client is taken from X-Forwarded-For.
    pub real_ip: Option<RealIp>,
}

/// The filter arguments as given on the command line.
#[derive(Clone, Debug, Default)]
pub struct FilterArgs {
    pub page: Option<String>,
    pub ip: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub day: Option<String>,
    pub status: Option<String>,
    pub method: Option<String>,
    pub vhost: Option<String>,
    pub slower_than: Option<String>,
    pub real_ip: Option<String>,
    pub trusted: Option<String>,
}

/// What a line must contain to possibly match (a memmem prefilter), and
/// where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prefilter {
    pub literal: Vec<u8>,
    pub kind: PrefilterKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefilterKind {
    /// The literal, or a `%`, in the request target: a percent-encoded
    /// path can decode to the page without containing it literally.
    Page,
    /// The literal at the end of the client field (`::ffff:` + IPv4 too).
    Ip,
}

/// The request target of a raw line, found without parsing it: the token
/// after the method that follows the first `"`.
#[inline]
fn raw_target(line: &[u8]) -> Option<&[u8]> {
    let q = memchr::memchr(b'"', line)?;
    let rest = &line[q + 1..];
    let sp = memchr::memchr(b' ', rest)?;
    let t = &rest[sp + 1..];
    Some(&t[..memchr::memchr(b' ', t).unwrap_or(t.len())])
}

impl Prefilter {
    /// A cheap test on a raw line that contains the literal (or a `%`):
    /// false means the line cannot match, so it need not be parsed.
    #[inline]
    pub fn may_match(&self, line: &[u8], finder: &memchr::memmem::Finder<'_>) -> bool {
        match self.kind {
            PrefilterKind::Page => raw_target(line)
                .is_some_and(|t| memchr::memchr(b'%', t).is_some() || finder.find(t).is_some()),
            PrefilterKind::Ip => {
                let host = &line[..memchr::memchr(b' ', line).unwrap_or(line.len())];
                host.ends_with(&self.literal)
            }
        }
    }
}

impl Filter {
    pub fn from_args(a: &FilterArgs) -> Result<Filter, FilterError> {
        let mut f = Filter {
            page: a.page.as_deref().map(PageMatch::parse),
            ip: a.ip.as_deref().map(IpMatch::parse).transpose()?,
            status: a.status.as_deref().map(StatusMatch::parse).transpose()?,
            ..Filter::default()
        };
        if let Some(m) = &a.method {
            if m.is_empty()
                || !m
                    .bytes()
                    .all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_')
            {
                return Err(FilterError::Method(m.clone()));
            }
            f.method = Some(m.to_ascii_uppercase().into_bytes());
        }
        if let Some(v) = &a.vhost {
            if v.is_empty() || v.bytes().any(|b| !(0x21..0x7f).contains(&b)) {
                return Err(FilterError::Vhost(v.clone()));
            }
            f.vhost = Some(v.to_ascii_lowercase().into_bytes());
        }
        if let Some(d) = &a.slower_than {
            f.slower_than = Some(parse_duration(d).ok_or_else(|| FilterError::Duration(d.clone()))?);
        }
        match (&a.real_ip, &a.trusted) {
            (Some(src), t) => f.real_ip = Some(RealIp::parse(src, t.as_deref())?),
            (None, Some(_)) => return Err(FilterError::TrustedAlone),
            (None, None) => {}
        }
        if let Some(d) = &a.day {
            let (s, e) = parse_day_arg(d)?;
            f.from = Some(s);
            f.to = Some(e);
        }
        if let Some(s) = &a.from {
            let t = parse_time_arg(s)?.start;
            f.from = Some(f.from.map_or(t, |x| x.max(t)));
        }
        if let Some(s) = &a.to {
            let t = parse_time_arg(s)?.end_inclusive();
            f.to = Some(f.to.map_or(t, |x| x.min(t)));
        }
        if let (Some(from), Some(to)) = (f.from, f.to) {
            if from > to {
                let show = |o: &Option<String>, d: &Option<String>| {
                    o.clone().or_else(|| d.clone()).unwrap_or_default()
                };
                return Err(FilterError::EmptyWindow {
                    from: show(&a.from, &a.day),
                    to: show(&a.to, &a.day),
                });
            }
        }
        Ok(f)
    }

    /// True when no filter is set (every valid line matches).
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// The time window, when one is set.
    pub fn window(&self) -> Option<(Secs, Secs)> {
        match (self.from, self.to) {
            (None, None) => None,
            (f, t) => Some((f.unwrap_or(Secs::MIN), t.unwrap_or(Secs::MAX))),
        }
    }

    /// The literal to look for before parsing: the IP (no `%` caveat) if
    /// there is one, else the page.
    pub fn prefilter(&self) -> Option<Prefilter> {
        if self.real_ip.is_some() && self.ip.is_some() {
            // The client may come from anywhere in the line.
            return self.page.as_ref().map(|p| Prefilter {
                literal: p.literal().to_vec(),
                kind: PrefilterKind::Page,
            });
        }
        if let Some(lit) = self.ip.as_ref().and_then(IpMatch::literal) {
            return Some(Prefilter {
                literal: lit,
                kind: PrefilterKind::Ip,
            });
        }
        self.page.as_ref().map(|p| Prefilter {
            literal: p.literal().to_vec(),
            kind: PrefilterKind::Page,
        })
    }

    /// Does a parsed combined/common line pass every filter?
    #[inline]
    pub fn matches(&self, r: &Record<'_>) -> bool {
        self.matches_ext(r, &Ext::NONE)
    }

    /// Does a parsed line pass every filter? Cheap tests first.
    #[inline]
    pub fn matches_ext<'a>(&self, r: &Record<'a>, x: &Ext<'a>) -> bool {
        if let Some(min) = self.slower_than {
            if x.micros.map_or(true, |t| t <= min) {
                return false;
            }
        }
        if let Some(v) = &self.vhost {
            if !vhost_matches(v, x.vhost) {
                return false;
            }
        }
        self.matches_core(r, x)
    }

    /// The filters on combined's fields.
    #[inline]
    pub fn matches_core<'a>(&self, r: &Record<'a>, x: &Ext<'a>) -> bool {
        if let Some(f) = self.from {
            if r.time < f {
                return false;
            }
        }
        if let Some(t) = self.to {
            if r.time > t {
                return false;
            }
        }
        if let Some(s) = self.status {
            if !s.matches(r.status) {
                return false;
            }
        }
        if let Some(ip) = &self.ip {
            if !ip.matches(r.host) {
                return false;
            }
        }
        if self.method.is_some() || self.page.is_some() {
            let Some(req) = x.request_line(r) else {
                return false;
            };
            if let Some(m) = &self.method {
                if !req.method.eq_ignore_ascii_case(m) {
                    return false;
                }
            }
            if let Some(p) = &self.page {
                if !p.matches(&super::record::target_path(req.target)) {
                    return false;
                }
            }
        }
        true
    }
}

/// `--vhost example.org` matches `example.org` and `Example.org:8080`;
/// `--vhost example.org:8080` only the latter.
#[inline]
fn vhost_matches(want: &[u8], got: &[u8]) -> bool {
    if got.eq_ignore_ascii_case(want) {
        return true;
    }
    !want.contains(&b':')
        && got.len() > want.len()
        && got[want.len()] == b':'
        && got[..want.len()].eq_ignore_ascii_case(want)
}

/// `500ms`, `1.5s`, `250us`, `2m` in microseconds.
pub fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().ok()?;
    let scale = match unit {
        "us" | "µs" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" | "min" => 6e7,
        _ => return None,
    };
    let us = v * scale;
    (us.is_finite() && us >= 0.0 && us < u64::MAX as f64).then_some(us as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::parse::parse_line;

    fn line(host: &str, req: &str, status: &str, referer: &str) -> Vec<u8> {
        format!(
            "{host} - - [08/Feb/2014:07:05:03 +0100] \"{req}\" {status} 10 \"{referer}\" \"ua\""
        )
        .into_bytes()
    }

    fn args(f: impl FnOnce(&mut FilterArgs)) -> Filter {
        let mut a = FilterArgs::default();
        f(&mut a);
        Filter::from_args(&a).unwrap()
    }

    #[test]
    fn page_segment_and_path() {
        let seg = PageMatch::parse("truc.html");
        assert!(seg.matches(b"/truc.html") && seg.matches(b"/docs/truc.html"));
        assert!(
            !seg.matches(b"/truc.html.bak")
                && !seg.matches(b"/xtruc.html")
                && !seg.matches(b"truc.html")
        );
        let path = PageMatch::parse("/truc.html");
        assert!(path.matches(b"/truc.html") && !path.matches(b"/docs/truc.html"));
    }

    #[test]
    fn page_never_matches_a_referer_or_a_dash_request() {
        let f = args(|a| a.page = Some("truc.html".into()));
        let hit = line("1.1.1.1", "GET /truc.html?x=1 HTTP/1.1", "200", "-");
        let referer_only = line(
            "1.1.1.1",
            "GET /bidule.html HTTP/1.1",
            "200",
            "http://x/truc.html",
        );
        let dash = line("1.1.1.1", "-", "408", "http://x/truc.html");
        let encoded = line("1.1.1.1", "GET /truc%2Ehtml HTTP/1.1", "200", "-");
        assert!(f.matches(&parse_line(&hit).unwrap()));
        assert!(!f.matches(&parse_line(&referer_only).unwrap()));
        assert!(!f.matches(&parse_line(&dash).unwrap()));
        assert!(f.matches(&parse_line(&encoded).unwrap()));
        let pre = f.prefilter().unwrap();
        assert_eq!(
            pre,
            Prefilter {
                literal: b"truc.html".to_vec(),
                kind: PrefilterKind::Page
            }
        );
        let finder = memchr::memmem::Finder::new(&pre.literal);
        for (l, may) in [
            (&hit, true),
            (&referer_only, false),
            (&dash, false),
            (&encoded, true),
        ] {
            assert_eq!(
                pre.may_match(l, &finder),
                may,
                "{}",
                String::from_utf8_lossy(l)
            );
        }
        let ip = args(|a| a.ip = Some("192.168.11.53".into()))
            .prefilter()
            .unwrap();
        let finder = memchr::memmem::Finder::new(&ip.literal);
        assert!(ip.may_match(b"::ffff:192.168.11.53 - -", &finder));
        assert!(!ip.may_match(
            b"10.0.0.1 - - [..] \"GET http://192.168.11.53/ HTTP/1.1\"",
            &finder
        ));
    }

    #[test]
    fn ip_forms() {
        let f = IpMatch::parse("192.168.11.53").unwrap();
        assert!(f.matches(b"192.168.11.53") && f.matches(b"::ffff:192.168.11.53"));
        assert!(!f.matches(b"192.168.11.530") && !f.matches(b"10.192.168.11.53"));
        let c = IpMatch::parse("192.168.11.0/24").unwrap();
        assert!(c.matches(b"192.168.11.200") && !c.matches(b"192.168.12.1") && !c.matches(b"host"));
        let v6 = IpMatch::parse("2001:DB8::1").unwrap();
        assert!(v6.matches(b"2001:db8::1") && v6.matches(b"2001:db8:0:0:0:0:0:1"));
        let c6 = IpMatch::parse("2001:db8::/32").unwrap();
        assert!(c6.matches(b"2001:db8:ff::2") && !c6.matches(b"2001:db9::2"));
        let h = IpMatch::parse("crawler.example.org").unwrap();
        assert!(h.matches(b"Crawler.Example.org") && !h.matches(b"example.org"));
        assert!(IpMatch::parse("1.2.3.4/33").is_err() && IpMatch::parse("a b").is_err());
        assert_eq!(
            args(|a| a.ip = Some("192.168.11.53".into()))
                .prefilter()
                .unwrap()
                .literal,
            b"192.168.11.53"
        );
        assert_eq!(
            args(|a| a.ip = Some("2001:db8::1".into())).prefilter(),
            None
        );
    }

    #[test]
    fn status_method_and_windows() {
        let l = line("1.1.1.1", "post /x HTTP/1.1", "404", "-");
        let r = parse_line(&l).unwrap();
        assert!(args(|a| a.status = Some("4xx".into())).matches(&r));
        assert!(args(|a| a.status = Some("404".into())).matches(&r));
        assert!(!args(|a| a.status = Some("5XX".into())).matches(&r));
        assert!(args(|a| a.method = Some("POST".into())).matches(&r));
        assert!(!args(|a| a.method = Some("GET".into())).matches(&r));
        assert!(args(|a| {
            a.from = Some("08/Feb/2014:07:00".into());
            a.to = Some("08/Feb/2014:07:05".into())
        })
        .matches(&r));
        assert!(!args(|a| a.to = Some("08/Feb/2014:07:04".into())).matches(&r));
        assert!(!args(|a| a.from = Some("08/Feb/2014:07:05:04".into())).matches(&r));
        assert!(args(|a| a.day = Some("2014-02-08".into())).matches(&r));
        assert!(!args(|a| a.day = Some("2014-02-09".into())).matches(&r));
        let e = Filter::from_args(&FilterArgs {
            from: Some("09/Feb/2014".into()),
            to: Some("08/Feb/2014".into()),
            ..Default::default()
        });
        assert!(matches!(e, Err(FilterError::EmptyWindow { .. })));
        assert!(Filter::from_args(&FilterArgs {
            status: Some("600".into()),
            ..Default::default()
        })
        .is_err());
    }
}
