//! [`Action::Rows`](super::Action::Rows): every matching line as a typed
//! row, copied out of its chunk (a stream's blocks are reused, a mapped
//! file outlives nothing), for a columnar writer such as `tplog export`.
//!
//! A worker fills one [`RowBuilder`] per chunk; the run hands the chunks'
//! [`RowBatch`]es to the sink in input order, so rows keep the order of
//! the log and each knows its file and line.

use crate::log::parse::ParseError;
use crate::log::record::{target_path, Ext, Record};

/// A string field: a range of [`RowBatch::text`], or null.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub len: u32,
}

impl Span {
    pub const NULL: Span = Span {
        start: 0,
        len: u32::MAX,
    };

    #[inline]
    pub fn is_null(self) -> bool {
        self.len == u32::MAX
    }
}

/// The string fields of a row, in [`RowBatch::strs`] order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Str {
    Client,
    Ident,
    User,
    Method,
    Path,
    Target,
    Query,
    Protocol,
    Referer,
    Agent,
    Vhost,
    TlsProtocol,
}

pub const STRS: usize = 12;

/// A malformed line of the chunk.
#[derive(Clone, Debug)]
pub struct BadRow {
    /// 0-based line index inside the chunk.
    pub index: u64,
    pub error: ParseError,
    /// The line's first bytes (at most [`BAD_EXCERPT`]).
    pub excerpt: Vec<u8>,
}

/// Bytes of a malformed line kept for `--malformed`.
pub const BAD_EXCERPT: usize = 256;

/// A chunk's rows, handed to the sink in input order, column by column
/// (a columnar writer reads one column at a time: each pass then reads
/// only that column's memory).
#[derive(Clone, Debug, Default)]
pub struct RowBatch {
    /// The input's index in the inputs given to the run.
    pub file: u32,
    /// Lines in the chunk (valid, malformed and blank): the next chunk of
    /// the same file starts this many lines further.
    pub lines: u64,
    /// Microseconds since the epoch, UTC (the wall-clock time less the
    /// logged offset; the offset is taken as 0 when the format logs none).
    pub ts_us: Vec<i64>,
    /// The logged offset in minutes (`+0100` is 60).
    pub tz_offset_min: Vec<i16>,
    pub status: Vec<u16>,
    pub bytes: Vec<Option<u64>>,
    pub port: Vec<Option<u16>>,
    pub micros: Vec<Option<u64>>,
    /// 0-based line index inside the chunk.
    pub index: Vec<u64>,
    /// The string fields, by [`Str`]; valid UTF-8 (see [`escape_into`]).
    pub strs: [Vec<Span>; STRS],
    /// The whole line as written, when some field was not valid UTF-8.
    pub raw: Vec<Span>,
    pub text: Vec<u8>,
    pub bad: Vec<BadRow>,
}

impl RowBatch {
    pub fn len(&self) -> usize {
        self.ts_us.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts_us.is_empty()
    }

    /// The bytes of a non-null span.
    #[inline]
    pub fn str(&self, s: Span) -> &[u8] {
        &self.text[s.start as usize..(s.start + s.len) as usize]
    }
}

/// One chunk's rows as they are found.
#[derive(Clone, Debug)]
pub struct RowBuilder<'a> {
    /// The chunk: a line's index is found from where it starts in it.
    data: &'a [u8],
    counted_to: usize,
    lines_before: u64,
    pub(super) batch: RowBatch,
}

impl<'a> RowBuilder<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        RowBuilder {
            data,
            counted_to: 0,
            lines_before: 0,
            batch: RowBatch {
                text: Vec::with_capacity(data.len() + data.len() / 8),
                ..RowBatch::default()
            },
        }
    }

    /// The 0-based index of the line that starts at or contains `line`
    /// (a slice of the chunk): newlines are counted once, as rows come in
    /// order.
    #[inline]
    fn index_of(&mut self, line: &[u8]) -> u64 {
        let at = (line.as_ptr() as usize).wrapping_sub(self.data.as_ptr() as usize);
        if at <= self.data.len() && at >= self.counted_to {
            self.lines_before += bytecount::count(&self.data[self.counted_to..at], b'\n') as u64;
            self.counted_to = at;
        }
        self.lines_before
    }

    /// A valid line that passed the filters.
    #[inline]
    pub fn push(&mut self, line: &[u8], r: &Record<'_>, x: &Ext<'_>) {
        let index = self.index_of(line);
        let b = &mut self.batch;
        let mut ok = true;
        let mut strs = [Span::NULL; STRS];
        // Nearly every line is ASCII: one SIMD check then plain copies
        // (only a percent-decoded path can still be invalid).
        let ascii = line.is_ascii();
        let mut put = |i: Str, v: &[u8], text: &mut Vec<u8>| {
            if ascii && i != Str::Path {
                let start = text.len() as u32;
                text.extend_from_slice(v);
                strs[i as usize] = Span {
                    start,
                    len: v.len() as u32,
                };
                return;
            }
            let (s, valid) = escape_into(text, v);
            ok &= valid;
            strs[i as usize] = s;
        };
        put(Str::Client, r.host, &mut b.text);
        put(Str::Ident, r.ident, &mut b.text);
        put(Str::User, r.user, &mut b.text);
        match x.request_line(r) {
            Some(q) => {
                put(Str::Method, q.method, &mut b.text);
                put(Str::Path, &target_path(q.target), &mut b.text);
                put(Str::Target, q.target, &mut b.text);
                if let Some(i) = memchr::memchr(b'?', q.target) {
                    put(Str::Query, &q.target[i + 1..], &mut b.text);
                }
                put(Str::Protocol, q.version, &mut b.text);
            }
            // Not `METHOD TARGET HTTP/x` (`-`, a scanner's bytes): the
            // request field as written is the target, the rest is null.
            None if !r.request.is_empty() => put(Str::Target, r.request, &mut b.text),
            None => {}
        }
        if let Some(v) = r.referer {
            put(Str::Referer, v, &mut b.text);
        }
        if let Some(v) = r.agent {
            put(Str::Agent, v, &mut b.text);
        }
        if !x.vhost.is_empty() {
            put(Str::Vhost, x.vhost, &mut b.text);
        }
        if !x.tls_protocol.is_empty() {
            put(Str::TlsProtocol, x.tls_protocol, &mut b.text);
        }
        let raw = if ok {
            Span::NULL
        } else {
            let start = b.text.len() as u32;
            b.text.extend_from_slice(line);
            Span {
                start,
                len: line.len() as u32,
            }
        };
        let tz = offset_minutes(r.zone);
        b.ts_us
            .push((r.time - tz as i64 * 60).saturating_mul(1_000_000));
        b.tz_offset_min.push(tz);
        b.status.push(status_code(r.status));
        b.bytes.push(r.bytes);
        b.port.push(x.port);
        b.micros.push(x.micros);
        b.index.push(index);
        for (col, s) in b.strs.iter_mut().zip(strs) {
            col.push(s);
        }
        b.raw.push(raw);
    }

    /// A malformed line (`index` is its 0-based index in the chunk).
    #[cold]
    pub fn bad(&mut self, index: u64, error: ParseError, line: &[u8]) {
        self.batch.bad.push(BadRow {
            index,
            error,
            excerpt: line[..line.len().min(BAD_EXCERPT)].to_vec(),
        });
    }

    pub fn finish(self, file: u32, lines: u64) -> RowBatch {
        let mut b = self.batch;
        b.file = file;
        b.lines = lines;
        b
    }
}

/// `+0100` → 60, `-0430` → -270; 0 when absent or not of that form.
pub fn offset_minutes(z: &[u8]) -> i16 {
    let d = |c: u8| c.wrapping_sub(b'0');
    match z {
        [s @ (b'+' | b'-'), h1, h2, m1, m2]
            if [*h1, *h2, *m1, *m2].iter().all(u8::is_ascii_digit) =>
        {
            let m = (d(*h1) as i16 * 10 + d(*h2) as i16) * 60 + d(*m1) as i16 * 10 + d(*m2) as i16;
            if *s == b'-' {
                -m
            } else {
                m
            }
        }
        // `+01:00` (ISO 8601 as some formats log it).
        [s @ (b'+' | b'-'), h1, h2, b':', m1, m2] => offset_minutes(&[*s, *h1, *h2, *m1, *m2]),
        _ => 0,
    }
}

fn status_code(s: &[u8]) -> u16 {
    s.iter()
        .take(3)
        .fold(0u16, |n, &c| n * 10 + c.wrapping_sub(b'0') as u16 % 10)
}

/// Appends `v` to `text` as valid UTF-8 and returns its span and whether
/// `v` was valid as it was. The escaping rule: valid UTF-8 is copied as
/// it is; each byte of an invalid sequence becomes `\xHH` (lower-case hex,
/// the escape Apache itself writes). The escaped text alone is ambiguous
/// (a log can hold a literal `\xff`), so the caller keeps the exact line
/// too (the `raw` column).
pub fn escape_into(text: &mut Vec<u8>, v: &[u8]) -> (Span, bool) {
    let start = text.len();
    let mut ok = true;
    let mut rest = v;
    loop {
        match std::str::from_utf8(rest) {
            Ok(_) => {
                text.extend_from_slice(rest);
                break;
            }
            Err(e) => {
                ok = false;
                let good = e.valid_up_to();
                text.extend_from_slice(&rest[..good]);
                let bad = e.error_len().unwrap_or(rest.len() - good);
                for &c in &rest[good..good + bad] {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    text.extend_from_slice(&[
                        b'\\',
                        b'x',
                        HEX[(c >> 4) as usize],
                        HEX[(c & 15) as usize],
                    ]);
                }
                rest = &rest[good + bad..];
            }
        }
    }
    (
        Span {
            start: start as u32,
            len: (text.len() - start) as u32,
        },
        ok,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        let mut t = Vec::new();
        let (s, ok) = escape_into(&mut t, "é/a".as_bytes());
        assert!(ok);
        assert_eq!(&t[s.start as usize..], "é/a".as_bytes());
        let mut t = Vec::new();
        let (s, ok) = escape_into(&mut t, b"/caf\xe9 \xff\xfe\\x");
        assert!(!ok);
        assert_eq!(&t[s.start as usize..], br"/caf\xe9 \xff\xfe\x");
        let mut t = Vec::new();
        let (_, ok) = escape_into(&mut t, b"\xc3");
        assert!(!ok);
        assert_eq!(t, br"\xc3");
    }

    #[test]
    fn offsets() {
        assert_eq!(offset_minutes(b"+0100"), 60);
        assert_eq!(offset_minutes(b"-0430"), -270);
        assert_eq!(offset_minutes(b"+05:45"), 345);
        assert_eq!(offset_minutes(b""), 0);
        assert_eq!(offset_minutes(b"Z"), 0);
    }

    #[test]
    fn line_index_from_position() {
        let data = b"a\nb\n\nc\n";
        let mut b = RowBuilder::new(data);
        assert_eq!(b.index_of(&data[0..1]), 0);
        assert_eq!(b.index_of(&data[2..3]), 1);
        assert_eq!(b.index_of(&data[5..6]), 3);
    }
}
