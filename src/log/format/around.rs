//! The fields around an embedded combined (`%v:%p ` before it, ` %D`
//! after it), each read by a short loop in the open chunk, written
//! straight into the record's extras.
//!
//! Each field ends at the first occurrence of the literal after it in the
//! line, as in the general program; a number (a port, a whole duration)
//! is read digit by digit and its end is where the digits stop. Nothing
//! here crosses a newline. Where a value is not what the fast loop reads
//! (a fraction, a dash that starts a longer value) the field is cut as
//! the program cuts it and given to the same setter; where anything would
//! be an error the line is declined, and the general program reads it
//! again and names the fault.

use super::fields::{set_extra, Slot, Unit};
use super::program::{lit_at, Item};
use crate::log::record::Ext;
use crate::log::swar::find_either;

/// One step of the reading.
#[derive(Clone, Debug)]
enum Step {
    /// A literal not ended by a field (the text the part starts with).
    Lit(Box<[u8]>),
    /// A field and the literal that ends it (consumed with it); None: the
    /// field runs to the end of the line.
    Field { slot: Slot, term: Option<Box<[u8]>>, read: Read },
}

/// How a field is read first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Read {
    /// Cut at its terminator and given to the setter.
    Cut,
    /// Cut at its terminator and stored as it is (a virtual host).
    Vhost,
    Port,
    Count,
    /// A duration, its whole number times this many microseconds.
    Micros(u64),
}

/// The steps before the embedded combined (ending where its host starts)
/// and after its closing quote (ending at the line's end).
#[derive(Clone, Debug)]
pub(super) struct Around {
    before: Box<[Step]>,
    after: Box<[Step]>,
}

/// How `s` is read first.
fn read_of(s: &Slot) -> Read {
    match s {
        Slot::Port => Read::Port,
        Slot::Count => Read::Count,
        Slot::Micros(Unit::Seconds) => Read::Micros(1_000_000),
        Slot::Micros(Unit::Millis) => Read::Micros(1_000),
        Slot::Micros(Unit::Micros) => Read::Micros(1),
        Slot::Vhost | Slot::HostHeader => Read::Vhost,
        _ => Read::Cut,
    }
}

/// Steps for the items of one part; None where a field is one these loops
/// do not read (quoted, a list, or two fields with nothing between).
fn steps(items: &[Item], at_end: bool) -> Option<Box<[Step]>> {
    let mut out = Vec::with_capacity(items.len());
    let mut k = 0;
    while k < items.len() {
        match &items[k] {
            Item::Lit(l) => {
                if l.contains(&b'\n') || l.contains(&b'\r') {
                    return None;
                }
                out.push(Step::Lit(l.clone().into_boxed_slice()));
                k += 1;
            }
            Item::Field(f) => {
                let quoted = k > 0 && matches!(&items[k - 1], Item::Lit(l) if l.ends_with(b"\""));
                if f.list || quoted {
                    return None;
                }
                let term = match items.get(k + 1) {
                    Some(Item::Lit(t)) if !t.contains(&b'\n') && !t.contains(&b'\r') => Some(t.clone().into_boxed_slice()),
                    None if at_end => None,
                    _ => return None,
                };
                // A number's end is where its digits stop: the literal must
                // not start with a digit or a dash.
                let digits_end = term.as_ref().is_none_or(|t| !t[0].is_ascii_digit() && t[0] != b'-');
                let read = match read_of(&f.slot) {
                    Read::Port | Read::Count | Read::Micros(_) if !digits_end => Read::Cut,
                    r => r,
                };
                k += 1 + usize::from(term.is_some());
                out.push(Step::Field { slot: f.slot.clone(), term, read });
            }
        }
    }
    Some(out.into_boxed_slice())
}

impl Around {
    /// `before`: the items before the middle (ending in a literal);
    /// `after`: the rest of the closing literal then the items after.
    pub(super) fn new(before: &[Item], after: &[Item]) -> Option<Around> {
        Some(Around { before: steps(before, false)?, after: steps(after, true)? })
    }

    /// Reads the part before the middle from `data[0]`; returns where the
    /// middle starts.
    #[inline(always)]
    pub(super) fn before<'a>(&self, data: &'a [u8], ext: &mut Ext<'a>) -> Option<usize> {
        read(&self.before, data, 0, ext)
    }

    /// Reads the part after the middle from `data[i]`; returns the line's
    /// length (the index of its `\n`, or `data.len()`).
    #[inline(always)]
    pub(super) fn after<'a>(&self, data: &'a [u8], i: usize, ext: &mut Ext<'a>) -> Option<usize> {
        let i = read(&self.after, data, i, ext)?;
        line_end(data, i)
    }
}

/// Where the line ends when `data[i..]` is its end (`\n`, `\r\n`, a lone
/// `\r` or nothing): the index of the `\n` or `data.len()`.
#[inline(always)]
fn line_end(data: &[u8], i: usize) -> Option<usize> {
    match data.get(i) {
        None | Some(b'\n') => Some(i),
        Some(b'\r') if data.get(i + 1).is_none_or(|&c| c == b'\n') => Some(i + 1),
        _ => None,
    }
}

#[inline(always)]
fn read<'a>(steps: &[Step], data: &'a [u8], mut i: usize, ext: &mut Ext<'a>) -> Option<usize> {
    for st in steps {
        match st {
            Step::Lit(l) => {
                if !lit_at(data, i, l) {
                    return None;
                }
                i += l.len();
            }
            Step::Field { slot, term, read } => {
                match read {
                    Read::Cut => {}
                    Read::Vhost => {
                        let (e, next) = cut(data, i, term.as_deref())?;
                        ext.vhost = &data[i..e];
                        i = next;
                        continue;
                    }
                    _ => {
                        if let Some(j) = number_at(data, i, *read, term.as_deref(), ext) {
                            i = j;
                            continue;
                        }
                    }
                }
                let (e, next) = cut(data, i, term.as_deref())?;
                set_extra(ext, slot, &data[i..e]).ok()?;
                i = next;
            }
        }
    }
    Some(i)
}

/// The field from `data[i]` up to the first occurrence of `term` in the
/// line (or to the line's end, without one trailing `\r`): its end and
/// where the step after it starts. None when the line ends first.
#[inline(always)]
fn cut(data: &[u8], i: usize, term: Option<&[u8]>) -> Option<(usize, usize)> {
    match term {
        Some(t) => {
            let mut j = i;
            loop {
                j = find_either(data, j, t[0], b'\n', usize::MAX).ok()?;
                if data[j] == b'\n' {
                    return None;
                }
                if lit_at(data, j, t) {
                    return Some((j, j + t.len()));
                }
                j += 1;
            }
        }
        None => {
            let rest = data.get(i..)?;
            let n = memchr::memchr(b'\n', rest).map_or(data.len(), |k| i + k);
            let e = if n > i && data[n - 1] == b'\r' { n - 1 } else { n };
            Some((e, e))
        }
    }
}

/// A number field read digit by digit (or a lone `-`) and stored as the
/// setter would store it; returns where the next step starts. None where
/// the value is anything else: the caller cuts the field and the setter
/// decides.
#[inline(always)]
fn number_at(data: &[u8], i: usize, number: Read, term: Option<&[u8]>, ext: &mut Ext<'_>) -> Option<usize> {
    let ends = |j: usize| match term {
        Some(t) => lit_at(data, j, t).then_some(j + t.len()),
        None => line_end(data, j).map(|_| j),
    };
    if data.get(i) == Some(&b'-') {
        let next = ends(i + 1)?;
        match number {
            Read::Port => ext.port = None,
            Read::Micros(_) => ext.micros = None,
            _ => {}
        }
        return Some(next);
    }
    let mut n = 0u64;
    let mut j = i;
    while let Some(&c) = data.get(j) {
        let d = c.wrapping_sub(b'0');
        if d >= 10 {
            break;
        }
        if j - i == 19 {
            return None;
        }
        n = n * 10 + u64::from(d);
        j += 1;
    }
    if j == i {
        return None;
    }
    let next = ends(j)?;
    match number {
        Read::Port => ext.port = Some(u16::try_from(n).ok()?),
        Read::Micros(scale) => ext.micros = Some(n.saturating_mul(scale)),
        _ => {}
    }
    Some(next)
}

#[cfg(test)]
mod tests {
    use crate::log::format::program::Program;
    use crate::log::format::{compile_string, LogFormat};
    use crate::log::record::{Ext, Rich};

    fn program(f: &str) -> Program {
        match compile_string(f).unwrap() {
            LogFormat::Program(p) => *p,
            other => panic!("{f}: {other:?}"),
        }
    }

    const MIDDLE: &str = r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i""#;

    /// The loops give each line what the general program gives, or leave
    /// it to it; over numbers at their limits, dashes, fractions, CRs,
    /// newlines, separators inside fields and missing parts.
    #[test]
    fn around_agrees_with_the_program() {
        let formats: Vec<(String, bool)> = [
            ("%v:%p ", " %D"),
            ("%v:%p ", ""),
            ("%v ", " %T"),
            ("", " %{ms}T"),
            ("", " %I %O"),
            ("%p|", "|%D|"),
            ("", " %v"),
            ("[%v] ", " %{Host}i %D"),
            ("", " %{SSL_PROTOCOL}x %{SSL_CIPHER}x"),
        ]
        .iter()
        .map(|(b, a)| (format!("{b}{MIDDLE}{a}"), true))
        // nginx's spelling of the middle.
        .chain([(
            r#"$host:$server_port $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time"#.to_string(),
            true,
        )])
        // Quoted fields and lists around: the program's ops read them.
        .chain([
            (format!(r#"{MIDDLE} "%{{X-Forwarded-For}}i" %D"#), false),
            (format!(r#"{MIDDLE} %{{X-Forwarded-For}}i %D"#), false),
        ])
        .collect();
        let ok: &[u8] = br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1" 200 5 "-" "ua""#;
        let middles: [&[u8]; 3] = [ok, br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1" 200 5"#, b""];
        let parts: [&[u8]; 44] = [
            b"123456", b"1234567", b"12345678", b"123456789",
            b"", b"a", b"www.example.org", b"a:443", b"443", b"65535", b"65536", b"0443", b"-", b"-1", b"--",
            b"12345678901234567890", b"9999999999999999999", b"0.004", b"1.5", b"0.010, 0.002", b"1 2", b"12\t",
            b"12\r", b"12\r\r", b"\r", b"a\nb", b"a b", b"a|b", b"[a]", b"a]", b"10.0.0.1, 10.0.0.2", b"x\x01",
            b"\xc3\xa9", b"\xff", b"TLSv1.3", b"\"", b"\"-\"", b"\"a\\\"b\"", b":", b"|", b" ", b"  ", b"12 ", b"0",
        ];
        let seps: [&[u8]; 5] = [b" ", b":", b"|", b"] ", b""];
        // Hostile parts before and after, each with a valid other side.
        let mut befores: Vec<Vec<u8>> = Vec::new();
        let mut afters: Vec<Vec<u8>> = Vec::new();
        for a in parts {
            for sep in seps {
                for b in parts {
                    befores.push([a, sep, b, b" "].concat());
                    befores.push([b"[", a, sep, b, b"] "].concat());
                    afters.push([b" ", a, sep, b].concat());
                }
            }
        }
        let good_befores: [&[u8]; 5] = [b"www.example.org:443 ", b"www.example.org ", b"443|", b"[v] ", b""];
        let good_afters: [&[u8]; 8] =
            [b" 1234", b" 0.5", b" 12 34", b"|12|", b" v.example.org", b" 10.0.0.1 77", b" TLSv1.3 AES", b""];
        let mut lines: Vec<Vec<u8>> = Vec::new();
        for m in middles {
            for b in &befores {
                lines.extend(good_afters.iter().map(|a| [&b[..], m, a].concat()));
            }
            for a in &afters {
                lines.extend(good_befores.iter().map(|b| [b, m, &a[..]].concat()));
            }
        }
        for (f, around) in &formats {
            let p = program(f);
            assert_eq!(p.has_around(), *around, "{f}");
            let mut read = 0;
            for line in &lines {
                let r = p.parse(line);
                assert_eq!(r, p.parse_general(line), "{f}: {:?}", String::from_utf8_lossy(line));
                read += r.is_ok() as usize;
                // In the open data (where a line holds no newline): the
                // same record, the same line end.
                if line.contains(&b'\n') {
                    continue;
                }
                let data = [&line[..], b"\n", ok].concat();
                let mut ext = Ext::NONE;
                if let Some((rec, len)) = p.shortcut(&data, &mut ext) {
                    assert_eq!(Ok(Rich { rec, ext }), r, "{f}: {:?}", String::from_utf8_lossy(line));
                    assert_eq!(len, line.len(), "{f}: {:?}", String::from_utf8_lossy(line));
                }
            }
            assert!(read > 0, "{f}: no line read");
        }
    }
}
