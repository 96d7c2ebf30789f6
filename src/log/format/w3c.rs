//! W3C extended logs (IIS, CloudFront): the columns are named by a
//! `#Fields:` directive, which may change within a file, and separated by
//! spaces (IIS) or tabs (CloudFront). A chunk is read with the columns in
//! effect at its start (found by the engine from the chunks before it).

use std::sync::Arc;

use super::fields::{Slot, TimeSpec, Unit};
use super::program::Fill;
use crate::log::parse::{ParseError, Reason};
use crate::log::record::Rich;

/// The columns of one `#Fields:` directive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    cols: Vec<(Slot, &'static str)>,
    has_host: bool,
    has_referer: bool,
    has_agent: bool,
}

fn column(name: &str) -> (Slot, &'static str) {
    match name.to_ascii_lowercase().as_str() {
        "date" => (Slot::Time(TimeSpec::Date), "date"),
        "time" => (Slot::Time(TimeSpec::TimeOfDay), "time"),
        "c-ip" => (Slot::Host, "c-ip (client address)"),
        "cs-username" => (Slot::User, "cs-username"),
        "s-sitename" => (Slot::Vhost, "s-sitename"),
        "cs-host" | "cs(host)" | "x-host-header" => (Slot::HostHeader, "cs-host"),
        "s-port" => (Slot::Port, "s-port"),
        "cs-method" => (Slot::Method, "cs-method"),
        "cs-uri-stem" => (Slot::Path, "cs-uri-stem"),
        "cs-version" | "cs-protocol-version" => (Slot::Version, "cs-version"),
        "sc-status" => (Slot::Status, "sc-status"),
        "sc-bytes" => (Slot::Bytes, "sc-bytes"),
        "time-taken" => (Slot::Micros(Unit::Millis), "time-taken"),
        "cs(user-agent)" => (Slot::Agent, "cs(User-Agent)"),
        "cs(referer)" => (Slot::Referer, "cs(Referer)"),
        "x-forwarded-for" | "cs(x-forwarded-for)" => (Slot::Xff, "x-forwarded-for"),
        "ssl-protocol" => (Slot::TlsProtocol, "ssl-protocol"),
        "ssl-cipher" => (Slot::TlsCipher, "ssl-cipher"),
        _ => (Slot::Skip, "a column"),
    }
}

impl Layout {
    /// From the text after `#Fields:`.
    pub fn parse(fields: &[u8]) -> Option<Layout> {
        let text = std::str::from_utf8(fields).ok()?;
        let mut cols: Vec<(Slot, &'static str)> = text.split_ascii_whitespace().map(column).collect();
        if cols.is_empty() {
            return None;
        }
        // cs-host over s-sitename as the virtual host when both are logged.
        if cols.iter().any(|c| c.0 == Slot::HostHeader) {
            for c in &mut cols {
                if c.0 == Slot::Vhost {
                    c.0 = Slot::Skip;
                }
            }
        }
        let has = |s: Slot| cols.iter().any(|c| c.0 == s);
        Some(Layout {
            has_host: has(Slot::Host),
            has_referer: has(Slot::Referer),
            has_agent: has(Slot::Agent),
            cols,
        })
    }
}

/// The layout a `#Fields:` line sets, if `line` is one.
pub fn fields_line(line: &[u8]) -> Option<Layout> {
    let rest = line.strip_prefix(b"#Fields:")?;
    Layout::parse(rest.strip_suffix(b"\r").unwrap_or(rest))
}

/// The layout in effect after `data`, given the one before it: the last
/// `#Fields:` line in `data` wins.
pub fn layout_after(data: &[u8], before: Option<Arc<Layout>>) -> Option<Arc<Layout>> {
    let finder = memchr::memmem::FinderRev::new(b"#Fields:");
    let mut end = data.len();
    while let Some(k) = finder.rfind(&data[..end]) {
        if k == 0 || data[k - 1] == b'\n' {
            let le = memchr::memchr(b'\n', &data[k..]).map_or(data.len(), |e| k + e);
            if let Some(l) = fields_line(&data[k..le]) {
                return Some(Arc::new(l));
            }
        }
        end = k;
    }
    before
}

/// Parses a data line with `layout`; None for a `#` directive line (the
/// caller handles `#Fields:`).
pub fn parse<'a>(layout: Option<&Layout>, line: &'a [u8]) -> Result<Option<Rich<'a>>, ParseError> {
    let s = line.strip_suffix(b"\r").unwrap_or(line);
    match s.first() {
        None => return Err(ParseError { reason: Reason::Empty, col: 1 }),
        Some(0) => return Err(ParseError { reason: Reason::Nul, col: 1 }),
        Some(b'#') => return Ok(None),
        _ => {}
    }
    let Some(layout) = layout else {
        return Err(ParseError { reason: Reason::Expected("a #Fields: line before the first entry"), col: 1 });
    };
    let sep = if memchr::memchr(b'\t', s).is_some() { b'\t' } else { b' ' };
    let mut fill = Fill::new(s);
    let mut at = 0usize;
    let mut parts = s.split(|&c| c == sep);
    for (slot, name) in &layout.cols {
        let Some(v) = parts.next() else {
            return Err(ParseError { reason: Reason::Expected(name), col: (at.min(s.len()) + 1) as u32 });
        };
        let slot = match slot {
            // IIS writes milliseconds, CloudFront seconds with a fraction.
            Slot::Micros(_) if v.contains(&b'.') => &Slot::Micros(Unit::Seconds),
            s => s,
        };
        fill.set(slot, v, at)
            .map_err(|()| ParseError { reason: Reason::Expected(name), col: (at + 1) as u32 })?;
        at += v.len() + 1;
    }
    if parts.next().is_some() {
        return Err(ParseError { reason: Reason::Expected("no more columns than #Fields: names"), col: at as u32 });
    }
    Ok(Some(fill.finish(layout.has_host, layout.has_referer, layout.has_agent)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iis_and_a_fields_change() {
        let data = b"#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n#Date: 2014-02-08 07:00:00\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n2014-02-08 07:05:03 10.0.0.5 GET /truc.html x=1 443 - 192.168.11.53 Mozilla/5.0+(X11) - 200 0 0 15\n#Fields: date time c-ip cs-method cs-uri-stem sc-status\n2014-02-08 07:06:00 192.168.11.54 POST /b.html 404\n";
        let l0 = layout_after(&data[..300], None);
        assert!(l0.is_some());
        let mut layout: Option<Arc<Layout>> = None;
        let mut got = Vec::new();
        for line in data.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
            if let Some(l) = fields_line(line) {
                layout = Some(Arc::new(l));
                continue;
            }
            if let Some(r) = parse(layout.as_deref(), line).unwrap() {
                got.push((r.host.to_vec(), r.status_code(), r.path().unwrap().into_owned(), r.ext.micros, r.ext.port));
            }
        }
        assert_eq!(
            got,
            vec![
                (b"192.168.11.53".to_vec(), 200, b"/truc.html".to_vec(), Some(15_000), Some(443)),
                (b"192.168.11.54".to_vec(), 404, b"/b.html".to_vec(), None, None),
            ]
        );
        assert_eq!(layout_after(data, None).as_deref(), fields_line(b"#Fields: date time c-ip cs-method cs-uri-stem sc-status").as_ref());
        let l = fields_line(b"#Fields: date time c-ip sc-status").unwrap();
        assert!(parse(Some(&l), b"2014-02-08 07:06:00 1.2.3.4").is_err(), "a missing column");
        assert!(parse(Some(&l), b"2014-02-08 07:06:00 1.2.3.4 200 extra").is_err());
        assert!(parse(Some(&l), b"2014-02-08 25:06:00 1.2.3.4 200").is_err());
        assert!(parse(None, b"2014-02-08 07:06:00 1.2.3.4 200").is_err(), "no #Fields yet");
    }

    #[test]
    fn cloudfront_tabs_and_seconds() {
        let l = fields_line(b"#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken").unwrap();
        let line = b"2014-02-08\t07:05:03\tFRA2\t2390\t192.0.2.10\tGET\td111.cloudfront.net\t/index.html\t200\t-\tMozilla/5.0%20(X11)\t-\t-\tHit\tSOX4xw==\twww.example.com\thttps\t125\t0.002";
        let r = parse(Some(&l), line).unwrap().unwrap();
        assert_eq!((r.host, r.bytes, r.ext.micros, r.ext.vhost), (&b"192.0.2.10"[..], Some(2390), Some(2000), &b"www.example.com"[..]));
    }
}
