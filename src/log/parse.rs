//! Bytes → [`Record`], or a small `Copy` error naming what was wrong and
//! where.
//!
//! Written by hand on bytes rather than with nom: the format is a fixed
//! sequence of delimited fields, so one forward pass with memchr jumps to
//! each delimiter, validates as it goes and knows the exact column of the
//! first thing that is wrong; quoted fields are scanned with memchr for the
//! next `"` only, looking back for backslashes just at those quotes. nom
//! combinators would test byte classes one byte at a time on the long
//! quoted fields (referer, user agent), which dominate a line. nom is used
//! for the command-line time arguments, where clarity matters more.
//!
//! The engine calls [`parse_fused`] first: it parses a usual line straight
//! from the chunk while finding the line's end, so the line's bytes are
//! read once; for anything else it declines and [`parse_line`] gets the
//! line (and names what is wrong). Both give the same record.
//!
//! Accepted: Apache `common` and `combined`, nginx `combined` and `main`
//! (extra trailing quoted fields, e.g. `"$http_x_forwarded_for"`), CRLF
//! endings, any bytes inside quoted fields (escapes `\"` and `\\` honoured,
//! `\xhh` kept as written), IPv4/IPv6/hostname clients.

use std::fmt;

use super::record::Record;
use super::time::parse_log_clock;

/// Why a line is not a valid log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Empty,
    Nul,
    BadHost,
    Truncated,
    MissingTime,
    BadTime,
    BadZone,
    MissingRequest,
    UnterminatedRequest,
    BadStatus,
    BadBytes,
    MissingReferer,
    UnterminatedReferer,
    MissingAgent,
    UnterminatedAgent,
    BadTrailingField,
    /// A compiled format's field (or text) did not match here.
    Expected(&'static str),
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Empty => "empty line",
            Reason::Nul => "NUL bytes (a region zeroed by log rotation?)",
            Reason::BadHost => "bad client address (control or non-ASCII bytes)",
            Reason::Truncated => "line ends before the request",
            Reason::MissingTime => "no [timestamp] after the user field",
            Reason::BadTime => "bad timestamp (expected [dd/Mon/yyyy:HH:MM:SS +zzzz])",
            Reason::BadZone => "bad time zone offset (expected +hhmm or -hhmm)",
            Reason::MissingRequest => "no quoted request after the timestamp",
            Reason::UnterminatedRequest => "unterminated quote in request",
            Reason::BadStatus => "bad status (expected three digits)",
            Reason::BadBytes => "bad byte count (expected digits or -)",
            Reason::MissingReferer => "expected a quoted referer after the byte count",
            Reason::UnterminatedReferer => "unterminated quote in referer",
            Reason::MissingAgent => "referer without a quoted user agent after it",
            Reason::UnterminatedAgent => "unterminated quote in user agent (truncated line?)",
            Reason::BadTrailingField => "unterminated quote in a trailing field",
            Reason::Expected(what) => what,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Reason::Expected(what) = self {
            return write!(f, "expected {what}");
        }
        f.write_str(self.as_str())
    }
}

/// A malformed line: the reason and the 1-based byte column where the
/// parser stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason} (column {col})")]
pub struct ParseError {
    pub reason: Reason,
    pub col: u32,
}

struct Cur<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    #[inline]
    fn err(&self, reason: Reason) -> ParseError {
        ParseError {
            reason,
            col: self.i.min(u32::MAX as usize - 1) as u32 + 1,
        }
    }

    #[inline]
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// A space-delimited token followed by a space. Tokens are short (`-`,
    /// an address): a plain loop over the first bytes beats a memchr call.
    #[inline]
    fn token(&mut self) -> Result<&'a [u8], ParseError> {
        let rest = &self.s[self.i..];
        let head = &rest[..rest.len().min(48)];
        let found = match head.iter().position(|&b| b == b' ') {
            Some(n) => Some(n),
            None if rest.len() > head.len() => {
                memchr::memchr(b' ', &rest[head.len()..]).map(|k| k + head.len())
            }
            None => None,
        };
        match found {
            Some(n) if n > 0 => {
                self.i += n + 1;
                Ok(&rest[..n])
            }
            _ => Err(self.err(Reason::Truncated)),
        }
    }

    /// A quoted field starting at the cursor; the cursor ends after the
    /// closing quote. A quote preceded by an odd number of backslashes is
    /// part of the field.
    #[inline]
    fn quoted(&mut self, missing: Reason, unterminated: Reason) -> Result<&'a [u8], ParseError> {
        if self.peek() != Some(b'"') {
            return Err(self.err(missing));
        }
        let start = self.i + 1;
        match closing_quote(self.s, start, b'"') {
            Some(q) => {
                self.i = q + 1;
                Ok(&self.s[start..q])
            }
            None => Err(self.err(unterminated)),
        }
    }

    #[inline]
    fn expect(&mut self, b: u8, reason: Reason) -> Result<(), ParseError> {
        if self.peek() == Some(b) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(reason))
        }
    }
}

/// The first `a` or `b` in `s`. Quoted fields are short (a request, a
/// referer, a user agent: tens of bytes): sixteen bytes at a time with
/// SSE2, which every x86-64 has, inlined here, beats a call through
/// memchr's runtime CPU dispatch, whose wide loops only pay off on long
/// haystacks.
#[inline(always)]
fn find_either(s: &[u8], a: u8, b: u8) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        };
        let mut i = 0;
        // SAFETY: SSE2 is part of the x86_64 baseline; each load reads 16
        // bytes at `i`, and `i + 16 <= s.len()` holds for every one.
        unsafe {
            let (va, vb) = (_mm_set1_epi8(a as i8), _mm_set1_epi8(b as i8));
            while i + 16 <= s.len() {
                let v = _mm_loadu_si128(s.as_ptr().add(i).cast());
                let m =
                    _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, va), _mm_cmpeq_epi8(v, vb)))
                        as u32;
                if m != 0 {
                    return Some(i + m.trailing_zeros() as usize);
                }
                i += 16;
            }
        }
        s[i..].iter().position(|&c| c == a || c == b).map(|k| i + k)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        memchr::memchr2(a, b, s)
    }
}

/// The closing quote of a field whose text starts at `s[start]`: the first
/// `"` not escaped by an odd number of backslashes. None when there is
/// none, or when the byte `stop` comes first (`"` for none: a line given
/// whole; `\n` when the line's end is not known yet).
#[inline(always)]
pub(crate) fn closing_quote(s: &[u8], start: usize, stop: u8) -> Option<usize> {
    let mut j = start;
    loop {
        let q = j + find_either(&s[j..], b'"', stop)?;
        if s[q] != b'"' {
            return None;
        }
        let backslashes = s[start..q]
            .iter()
            .rev()
            .take_while(|&&c| c == b'\\')
            .count();
        if backslashes % 2 == 0 {
            return Some(q);
        }
        j = q + 1;
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of every byte of `w` outside 0x21..=0x7e (a space, a
/// control byte, DEL, non-ASCII) is set; exact for the lowest such byte,
/// which is all [`graphic_run`] looks at.
#[inline]
fn outside_graphic(w: u64) -> u64 {
    let below = w.wrapping_sub(0x21 * ONES) & !w & HIGHS;
    let above = ((w & !HIGHS) + ONES) & HIGHS;
    below | above | (w & HIGHS)
}

/// The length of the run of printable ASCII (0x21..=0x7e) at the start of
/// `s`, eight bytes at a time: the client address is checked and its end
/// found in one pass. None when the run reaches the last 8 bytes (the
/// caller then takes the byte-by-byte path).
#[inline]
fn graphic_run(s: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 8 <= s.len() {
        let w = u64::from_le_bytes(s[i..i + 8].try_into().expect("8 bytes"));
        let m = outside_graphic(w);
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    None
}

/// A printable-ASCII token at `s[i..]` ended by a space: its end.
#[inline]
fn fused_token(s: &[u8], i: usize) -> Option<usize> {
    let n = graphic_run(s.get(i..)?)?;
    (n > 0 && s[i + n] == b' ').then_some(i + n)
}

/// A quoted field at `s[i..]` that closes before any newline: the index
/// of its closing quote.
#[inline]
fn fused_quoted(s: &[u8], i: usize) -> Option<usize> {
    if s.get(i) != Some(&b'"') {
        return None;
    }
    closing_quote(s, i + 1, b'\n')
}

/// Parses the line that starts at `data[start]` while finding where it
/// ends, so the bytes of a usual line are scanned once instead of once for
/// its newline and again for its fields. Returns the record and the end of
/// the line (the index of its `\n`, or `data.len()`), exactly what
/// [`parse_line`] gives for `&data[start..end]`; or None for anything but
/// a plain valid `combined` line (an error, `common` format, trailing
/// fields, a short tail): the caller then cuts the line with memchr and
/// calls [`parse_line`], which also names what is wrong.
#[inline(always)]
pub fn parse_fused(data: &[u8], start: usize) -> Option<(Record<'_>, usize)> {
    let s = &data[start..];
    match s.first() {
        None | Some(0) => return None,
        _ => {}
    }
    let (rec, i) = fused_fields(s)?;
    let end = match s.get(i) {
        None => i,
        Some(b'\n') => i,
        Some(b'\r') if s.get(i + 1).is_none_or(|&b| b == b'\n') => i + 1,
        _ => return None,
    };
    Some((rec, start + end))
}

/// The fields of combined from `s[0]` (the host) to the agent's closing
/// quote, checked as [`parse_fused`] checks them; returns the record and
/// the index just after that quote, whatever follows it. A format that
/// writes fields before or after combined's reads its middle with this.
#[inline(always)]
pub(crate) fn fused_fields(s: &[u8]) -> Option<(Record<'_>, usize)> {
    let h = fused_token(s, 0)?;
    let host = &s[..h];
    let u0 = fused_token(s, h + 1)?;
    let ident = &s[h + 1..u0];
    let u1 = fused_token(s, u0 + 1)?;
    let user = &s[u0 + 1..u1];
    let mut i = u1 + 1;
    if s.get(i) != Some(&b'[') {
        return None;
    }
    i += 1;
    let time = parse_log_clock(s.get(i..i + 20)?)?;
    i += 20;
    // " +hhmm] "
    let z = s.get(i..i + 8)?;
    if z[0] != b' '
        || !(z[1] == b'+' || z[1] == b'-')
        || !z[2..6].iter().all(u8::is_ascii_digit)
        || z[6] != b']'
        || z[7] != b' '
    {
        return None;
    }
    let zone = &s[i + 1..i + 6];
    i += 8;
    let rq = fused_quoted(s, i)?;
    let request = &s[i + 1..rq];
    i = rq + 1;
    // ` 200 `
    let st = s.get(i..i + 5)?;
    if st[0] != b' ' || !st[1..4].iter().all(u8::is_ascii_digit) || st[4] != b' ' {
        return None;
    }
    let status = &s[i + 1..i + 4];
    i += 5;
    let be = fused_token(s, i)?;
    let braw = &s[i..be];
    let bytes = if braw == b"-" {
        None
    } else {
        if braw.len() > 19 || !braw.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(braw.iter().fold(0u64, |n, &d| n * 10 + (d - b'0') as u64))
    };
    i = be + 1;
    let re = fused_quoted(s, i)?;
    let referer = &s[i + 1..re];
    i = re + 1;
    if s.get(i) != Some(&b' ') {
        return None;
    }
    i += 1;
    let ae = fused_quoted(s, i)?;
    let agent = &s[i + 1..ae];
    Some((
        Record {
            host,
            ident,
            user,
            time,
            zone,
            request,
            status,
            bytes,
            referer: Some(referer),
            agent: Some(agent),
        },
        ae + 1,
    ))
}

/// Parses one line (without its `\n`; a trailing `\r` is ignored).
#[inline]
pub fn parse_line(line: &[u8]) -> Result<Record<'_>, ParseError> {
    let s = match line.last() {
        Some(b'\r') => &line[..line.len() - 1],
        _ => line,
    };
    let mut c = Cur { s, i: 0 };
    match s.first() {
        None => return Err(c.err(Reason::Empty)),
        Some(0) => return Err(c.err(Reason::Nul)),
        _ => {}
    }
    let host = match graphic_run(s) {
        // The usual case: printable ASCII up to a space, checked already.
        Some(n) if n > 0 && s[n] == b' ' => {
            c.i = n + 1;
            &s[..n]
        }
        // Anything else takes the general path, which names the fault.
        _ => {
            let host = c.token()?;
            if !host.iter().all(|&b| (0x21..0x7f).contains(&b)) {
                c.i = 0;
                return Err(c.err(if host.contains(&0) {
                    Reason::Nul
                } else {
                    Reason::BadHost
                }));
            }
            host
        }
    };
    let ident = c.token()?;
    let user = c.token()?;

    // [dd/Mon/yyyy:HH:MM:SS +zzzz]
    c.expect(b'[', Reason::MissingTime)?;
    let t0 = c.i;
    let time = s
        .get(t0..t0 + 20)
        .and_then(parse_log_clock)
        .ok_or_else(|| c.err(Reason::BadTime))?;
    c.i = t0 + 20;
    let zone: &[u8] = match c.peek() {
        Some(b']') => &s[c.i..c.i],
        Some(b' ') => {
            c.i += 1;
            let z = s.get(c.i..c.i + 5).ok_or_else(|| c.err(Reason::BadZone))?;
            if !(z[0] == b'+' || z[0] == b'-') || !z[1..].iter().all(u8::is_ascii_digit) {
                return Err(c.err(Reason::BadZone));
            }
            c.i += 5;
            z
        }
        _ => return Err(c.err(Reason::BadTime)),
    };
    c.expect(b']', Reason::BadTime)?;
    c.expect(b' ', Reason::MissingRequest)?;
    let request = c.quoted(Reason::MissingRequest, Reason::UnterminatedRequest)?;

    c.expect(b' ', Reason::BadStatus)?;
    let status = s
        .get(c.i..c.i + 3)
        .filter(|d| d.iter().all(u8::is_ascii_digit))
        .ok_or_else(|| c.err(Reason::BadStatus))?;
    c.i += 3;
    c.expect(b' ', Reason::BadStatus)?;

    let b0 = c.i;
    let blen = s[b0..]
        .iter()
        .position(|&b| b == b' ')
        .unwrap_or(s.len() - b0);
    let braw = &s[b0..b0 + blen];
    let bytes = if braw == b"-" {
        None
    } else {
        if braw.is_empty() || braw.len() > 19 || !braw.iter().all(u8::is_ascii_digit) {
            return Err(c.err(Reason::BadBytes));
        }
        Some(braw.iter().fold(0u64, |n, &d| n * 10 + (d - b'0') as u64))
    };
    c.i = b0 + blen;

    let mut rec = Record {
        host,
        ident,
        user,
        time,
        zone,
        request,
        status,
        bytes,
        referer: None,
        agent: None,
    };
    if c.at_end() {
        return Ok(rec); // common format
    }
    c.expect(b' ', Reason::MissingReferer)?;
    rec.referer = Some(c.quoted(Reason::MissingReferer, Reason::UnterminatedReferer)?);
    if c.at_end() {
        return Err(c.err(Reason::MissingAgent));
    }
    c.expect(b' ', Reason::MissingAgent)?;
    rec.agent = Some(c.quoted(Reason::MissingAgent, Reason::UnterminatedAgent)?);
    // Trailing fields (nginx `main`'s "$http_x_forwarded_for", a response
    // time...): quoted ones must be terminated, bare ones are tokens.
    while !c.at_end() {
        c.expect(b' ', Reason::BadTrailingField)?;
        if c.peek() == Some(b'"') {
            c.quoted(Reason::BadTrailingField, Reason::BadTrailingField)?;
        } else {
            c.i += memchr::memchr(b' ', &s[c.i..]).unwrap_or(s.len() - c.i);
        }
    }
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::time::format_clock;

    const COMBINED: &[u8] = b"192.168.11.53 - - [08/Feb/2014:07:05:03 +0100] \"GET /truc.html HTTP/1.1\" 200 1234 \"http://lab/bidule.html\" \"Mozilla/5.0 (X11)\"";

    #[test]
    fn combined() {
        let r = parse_line(COMBINED).unwrap();
        assert_eq!(r.host, b"192.168.11.53");
        assert_eq!(format_clock(r.time), "08/Feb/2014:07:05:03");
        assert_eq!(r.zone, b"+0100");
        assert_eq!(r.request, b"GET /truc.html HTTP/1.1");
        assert_eq!((r.status_code(), r.bytes), (200, Some(1234)));
        assert_eq!(r.referer, Some(&b"http://lab/bidule.html"[..]));
        assert_eq!(r.agent, Some(&b"Mozilla/5.0 (X11)"[..]));
        assert_eq!(&*r.path().unwrap(), b"/truc.html");
    }

    #[test]
    fn common_crlf_ipv6_hostname_dash_bytes() {
        let r = parse_line(
            b"2001:db8::7 - alice [09/Feb/2014:23:59:59 -0500] \"POST /login HTTP/1.0\" 302 -\r",
        )
        .unwrap();
        assert_eq!(
            (r.host, r.user, r.bytes, r.referer, r.agent),
            (&b"2001:db8::7"[..], &b"alice"[..], None, None, None)
        );
        let r =
            parse_line(b"host.example.org - - [09/Feb/2014:00:00:00 +0000] \"-\" 408 0").unwrap();
        assert_eq!((r.host, r.request_line()), (&b"host.example.org"[..], None));
    }

    #[test]
    fn nginx_main_extra_fields_and_escapes() {
        let line = b"10.0.0.1 - - [08/Feb/2014:07:00:00 +0000] \"GET /q?\\\"x\\\" HTTP/1.1\" 200 5 \"-\" \"a \\\\\\\" b\" \"203.0.113.9, 10.0.0.2\" 0.004";
        let r = parse_line(line).unwrap();
        assert_eq!(r.request, b"GET /q?\\\"x\\\" HTTP/1.1");
        assert_eq!(r.agent, Some(&b"a \\\\\\\" b"[..]));
        let tls = b"10.0.0.1 - - [08/Feb/2014:07:00:00 +0000] \"\\x16\\x03\\x01\\x02\\x00\\x01\" 400 226 \"-\" \"-\"";
        let r = parse_line(tls).unwrap();
        assert_eq!((r.request_line(), r.status_code()), (None, 400));
    }

    #[test]
    fn non_utf8_bytes_inside_quotes_are_fine() {
        let r = parse_line(b"1.2.3.4 - - [08/Feb/2014:07:00:00 +0000] \"GET /\xff\xfe HTTP/1.1\" 200 1 \"-\" \"\xe9\"").unwrap();
        assert_eq!(r.agent, Some(&b"\xe9"[..]));
    }

    /// Walks `data` like the engine does and checks that every line
    /// parse_fused accepts is exactly parse_line's answer for it.
    fn fused_agrees(data: &[u8]) -> (usize, usize) {
        let (mut fused, mut lines) = (0, 0);
        let mut start = 0;
        while start < data.len() {
            let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |k| start + k);
            if let Some((r, e)) = parse_fused(data, start) {
                assert_eq!(
                    e,
                    end,
                    "line end at {start}: {:?}",
                    String::from_utf8_lossy(&data[start..end])
                );
                assert_eq!(
                    parse_line(&data[start..end]),
                    Ok(r),
                    "{:?}",
                    String::from_utf8_lossy(&data[start..end])
                );
                fused += 1;
            }
            lines += 1;
            start = end + 1;
        }
        (fused, lines)
    }

    #[test]
    fn parse_fused_is_parse_line_on_generated_logs() {
        use crate::testgen::log::{write_log, GenOpts};
        for seed in 1..4 {
            let mut data = Vec::new();
            let opts = GenOpts {
                seed,
                lines: Some(20_000),
                traps: true,
                malformed: true,
                ..Default::default()
            };
            write_log(&opts, &mut data).unwrap();
            let (fused, lines) = fused_agrees(&data);
            // Nearly every line takes the fast path.
            assert!(fused * 100 > lines * 95, "{fused} of {lines}");
        }
    }

    #[test]
    fn parse_fused_declines_or_agrees_on_edge_cases() {
        let ok = COMBINED;
        let cases: Vec<Vec<u8>> = vec![
            [ok, b"\n"].concat(),
            [ok, b"\r\n", ok].concat(),
            [ok, b"\r"].concat(),
            [ok, b"\r\r\n"].concat(),
            [ok, b" \"x-forwarded\" 0.004\n"].concat(),
            b"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] \"GET / HTTP/1.1\" 200 5\n".to_vec(),
            b"1.2.3.4 - - [08/Feb/2014:07:00:00] \"GET / HTTP/1.1\" 200 5 \"-\" \"-\"\n".to_vec(),
            // An unterminated agent, then a line whose quote must not close it.
            [&b"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] \"GET / HTTP/1.1\" 200 5 \"-\" \"cut\n"[..], ok].concat(),
            [&b"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] \"GET /a\\\" HTTP/1.1\" 200 5 \"-\" \"a\\\\\"\n"[..], ok].concat(),
            b"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] \"GET / HTTP/1.1\" 200 12345678901234567890 \"-\" \"-\"\n".to_vec(),
            b"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] \"GET / HTTP/1.1\" 200 - \"-\" \"-\"".to_vec(),
            b"1.2.3.4  - [08/Feb/2014:07:00:00 +0100] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"\n".to_vec(),
            b"1.2.3.4 - \x01 [08/Feb/2014:07:00:00 +0100] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"\n".to_vec(),
            b"\0\0\0\0\0\0\0\0\0\0\n\n\n".to_vec(),
            b"h".to_vec(),
        ];
        for c in &cases {
            fused_agrees(c);
        }
        // The plain combined line itself takes the fast path.
        assert_eq!(fused_agrees(&cases[0]), (1, 1));
    }

    #[test]
    fn find_either_agrees_with_memchr2() {
        for len in 0..70usize {
            let mut s = vec![b'x'; len];
            assert_eq!(find_either(&s, b'"', b'"'), None, "len {len}");
            for at in (0..len).rev() {
                s[at] = if at % 3 == 0 { b'\n' } else { b'"' };
                assert_eq!(
                    find_either(&s, b'"', b'"'),
                    memchr::memchr(b'"', &s),
                    "len {len} at {at}"
                );
                assert_eq!(
                    find_either(&s, b'"', b'\n'),
                    memchr::memchr2(b'"', b'\n', &s),
                    "len {len} at {at}"
                );
            }
        }
    }

    #[test]
    fn graphic_run_stops_at_the_first_byte_outside_printable_ascii() {
        let slow = |s: &[u8]| s.iter().position(|&b| !(0x21..0x7f).contains(&b));
        for stop in [b' ', 0, b'\t', 0x7f, 0x80, 0xff, 0x20, 0x21, 0x7e] {
            for at in 0..20 {
                let mut s = vec![b'a'; 24];
                s[at] = stop;
                if at + 1 < s.len() {
                    s[at + 1] = 0; // a later byte must not matter
                }
                match graphic_run(&s) {
                    Some(n) => assert_eq!(Some(n), slow(&s), "stop {stop:#x} at {at}"),
                    None => assert!(slow(&s).is_none_or(|n| n + 8 > s.len()), "{stop:#x} {at}"),
                }
            }
        }
        // Every byte value in every position of a word.
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut s = *b"abcdefghijklmnop";
                s[at] = b;
                assert_eq!(graphic_run(&s), slow(&s), "byte {b:#x} at {at}");
            }
        }
    }

    fn reason(line: &[u8]) -> Reason {
        parse_line(line).unwrap_err().reason
    }

    #[test]
    fn malformed_lines_say_why() {
        let good = COMBINED;
        assert_eq!(reason(b""), Reason::Empty);
        assert_eq!(reason(b"\r"), Reason::Empty);
        assert_eq!(reason(b"\0\0\0\0\0\0"), Reason::Nul);
        assert_eq!(reason(&good[..30]), Reason::BadTime);
        assert_eq!(reason(&good[..10]), Reason::Truncated);
        assert_eq!(reason(&good[..60]), Reason::UnterminatedRequest);
        assert_eq!(reason(&good[..good.len() - 1]), Reason::UnterminatedAgent);
        let s = String::from_utf8(good.to_vec()).unwrap();
        assert_eq!(
            reason(s.replace("08/Feb", "32/Feb").as_bytes()),
            Reason::BadTime
        );
        assert_eq!(
            reason(s.replace("+0100", "CET").as_bytes()),
            Reason::BadZone
        );
        assert_eq!(
            reason(s.replace(" 200 ", " 2x0 ").as_bytes()),
            Reason::BadStatus
        );
        assert_eq!(
            reason(s.replace(" 1234 ", " 12a4 ").as_bytes()),
            Reason::BadBytes
        );
        assert_eq!(
            reason(s.replace(" \"Mozilla/5.0 (X11)\"", "").as_bytes()),
            Reason::MissingAgent
        );
        assert_eq!(
            reason(s.replace(" - - [", " - - ").as_bytes()),
            Reason::MissingTime
        );
        assert_eq!(
            reason(format!("{s} \"unterminated").as_bytes()),
            Reason::BadTrailingField
        );
        assert_eq!(
            reason(b"\x01\x02\x03 - - [08/Feb/2014:07:05:03 +0100] \"GET / HTTP/1.1\" 200 1"),
            Reason::BadHost
        );
        let e = parse_line(&good[..60]).unwrap_err();
        assert_eq!(e.col, 48, "column of the opening quote");
        assert_eq!(e.to_string(), "unterminated quote in request (column 48)");
    }

    #[test]
    fn escaped_backslash_before_quote_closes_the_field() {
        // "a\\" is the two characters a and backslash, then the field ends.
        let r = parse_line(b"1.2.3.4 - - [08/Feb/2014:07:00:00 +0000] \"GET /a\\\\ HTTP/1.1\" 200 1 \"r\\\\\" \"u\"").unwrap();
        assert_eq!(r.referer, Some(&b"r\\\\"[..]));
        assert_eq!(r.agent, Some(&b"u"[..]));
    }
}
