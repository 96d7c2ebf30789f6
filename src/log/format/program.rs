//! A format compiled into a field program: literals to match and fields
//! to cut, each field ended by the literal that follows it (found with
//! memchr; inside quotes a `"` escaped by a backslash does not end it).
//! One forward pass per line, no regex, no allocation: the record borrows
//! every field from the line.

use super::around::Around;
use super::fields::{count_or_dash, read_time, set_extra, Slot, TimeParts};
use super::shape::{as_program, fast_combined, shape_of, window_len, Shape};
use super::FormatError;
use crate::log::parse::{fused_fields, parse_fused, ParseError, Reason};
use crate::log::record::{Ext, Record, RequestLine, Rich};

/// A field of a format as written by the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub slot: Slot,
    /// The directive or variable as a reader knows it: `%>s (status)`.
    pub name: &'static str,
    /// 1-based column of the directive in the format string.
    pub col: usize,
    /// Several values separated by `, ` (an unquoted X-Forwarded-For).
    pub list: bool,
}

/// A format string parsed into literals and fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Lit(Vec<u8>),
    Field(Field),
}

#[derive(Clone, Debug)]
enum Op {
    Lit(Box<[u8]>),
    Field {
        f: Field,
        /// The literal after it; None: the field runs to the end of the line.
        term: Option<Box<[u8]>>,
        /// Opened by a `"`: backslash-escaped quotes are inside.
        quoted: bool,
        /// Ends at the first `?` (a path directly followed by its query).
        stop_at_query: bool,
        /// A quick way to the end tried first (falls back to the general one).
        quick: Quick,
    },
}

/// How a field's end is found before the general search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Quick {
    /// A fixed width (`dd/Mon/yyyy:HH:MM:SS +zzzz`, a status).
    Width(usize),
    /// The closing quote (SIMD search, escapes honoured).
    Quote,
    /// A short run up to the terminator's first byte.
    Token,
    None,
}

/// A compiled format.
#[derive(Clone, Debug)]
pub struct Program {
    ops: Vec<Op>,
    /// Fields after the last one the format names are accepted (AWS logs
    /// gain columns over the years).
    trailing_ok: bool,
    /// A literal space matches a run of spaces (squid pads its columns).
    squeeze: bool,
    has_host: bool,
    has_referer: bool,
    has_agent: bool,
    /// A hand-tuned parser that reads this format's lines first.
    pub(super) shape: Shape,
    /// For an embedded combined: the fields around it, when short loops
    /// read them all.
    around: Option<Around>,
}

/// Merges adjacent literals and drops empty ones.
fn normalize(items: Vec<Item>) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::with_capacity(items.len());
    for it in items {
        match (out.last_mut(), it) {
            (_, Item::Lit(l)) if l.is_empty() => {}
            (Some(Item::Lit(a)), Item::Lit(b)) => a.extend_from_slice(&b),
            (_, it) => out.push(it),
        }
    }
    out
}

impl Program {
    /// Compiles parsed items. Two fields with nothing between them can
    /// only be told apart when the first is a path and the second its
    /// query (`%U%q`).
    pub fn compile(items: Vec<Item>, trailing_ok: bool, squeeze: bool) -> Result<Program, FormatError> {
        let items = normalize(items);
        if !items.iter().any(|i| matches!(i, Item::Field(_))) {
            return Err(FormatError::NoField);
        }
        let mut ops = Vec::with_capacity(items.len());
        for (k, it) in items.iter().enumerate() {
            match it {
                Item::Lit(l) => ops.push(Op::Lit(l.clone().into_boxed_slice())),
                Item::Field(f) => {
                    let prev_quote = k > 0 && matches!(&items[k - 1], Item::Lit(l) if l.ends_with(b"\""));
                    let (term, stop_at_query) = match items.get(k + 1) {
                        None => (None, false),
                        Some(Item::Lit(l)) => (Some(l.clone().into_boxed_slice()), false),
                        Some(Item::Field(g)) => {
                            if f.slot == Slot::Path && g.slot == Slot::Query {
                                let after = match items.get(k + 2) {
                                    Some(Item::Lit(l)) => Some(l.clone().into_boxed_slice()),
                                    _ => None,
                                };
                                (after, true)
                            } else {
                                return Err(FormatError::Adjacent {
                                    first: f.name,
                                    second: g.name,
                                    col: g.col,
                                });
                            }
                        }
                    };
                    let quoted = prev_quote && term.as_ref().is_some_and(|t| t.starts_with(b"\""));
                    let last = k + 2 >= items.len();
                    let quick = match (&f.slot, &term) {
                        (_, None) => Quick::None,
                        _ if stop_at_query || f.list => Quick::None,
                        (Slot::Time(super::fields::TimeSpec::Clf), _) => Quick::Width(26),
                        (Slot::Status, _) => Quick::Width(3),
                        // The last quoted field is anchored at the line's end instead.
                        _ if quoted && (!last || trailing_ok) => Quick::Quote,
                        _ if !quoted => Quick::Token,
                        _ => Quick::None,
                    };
                    ops.push(Op::Field { f: f.clone(), quoted, term, stop_at_query, quick });
                }
            }
        }
        let has = |s: Slot| items.iter().any(|i| matches!(i, Item::Field(f) if f.slot == s));
        let shape = shape_of(&items, trailing_ok, squeeze);
        let around = match shape {
            Shape::Embedded { at, dash } => {
                let len = window_len(dash);
                let Item::Lit(close) = &items[at + len - 1] else {
                    unreachable!("combined's window ends in its closing quote")
                };
                let mut after = vec![Item::Lit(close[1..].to_vec())];
                after.extend_from_slice(&items[at + len..]);
                Around::new(&items[..at], &normalize(after))
            }
            _ => None,
        };
        Ok(Program {
            shape,
            around,
            trailing_ok,
            squeeze,
            has_host: has(Slot::Host) || has(Slot::HostPort),
            has_referer: has(Slot::Referer),
            has_agent: has(Slot::Agent),
            ops,
        })
    }

    /// The fields in order (for a reader's summary of the format).
    pub fn fields(&self) -> impl Iterator<Item = &Field> {
        self.ops.iter().filter_map(|o| match o {
            Op::Field { f, .. } => Some(f),
            Op::Lit(_) => None,
        })
    }

    /// Parses one line (without its `\n`; a trailing `\r` is ignored).
    pub fn parse<'a>(&self, line: &'a [u8]) -> Result<Rich<'a>, ParseError> {
        match self.shape {
            Shape::Combined { dash } => {
                if let Some(r) = fast_combined(line, dash) {
                    return Ok(r);
                }
            }
            Shape::Embedded { at, dash } => {
                if let Some(r) = self.parse_embedded(line, at, dash) {
                    return Ok(r);
                }
            }
            Shape::General => {}
        }
        self.parse_general(line)
    }

    /// Whether the fields around an embedded combined are read by short
    /// loops (else by the program's ops).
    #[cfg(test)]
    pub(super) fn has_around(&self) -> bool {
        self.around.is_some()
    }

    /// Whether [`Program::shortcut`] can read this format's lines.
    pub fn has_shortcut(&self) -> bool {
        self.shape != Shape::General
    }

    /// The record of the line at the start of `data` read by the fast
    /// path's parser (the whole line for combined, its middle for a format
    /// embedding combined's fields), and the line's length (the index of
    /// its `\n`, or `data.len()`): the line's end is found while it is
    /// read, not by a scan before. None where the parser declines or the
    /// format has no such shape; the caller then cuts the line and
    /// [`Program::parse`] reads it and names any fault.
    ///
    /// The fields beyond combined's are written to `ext`: each one the
    /// format names, on every line read, so one `Ext` (first
    /// [`Ext::NONE`]) serves a whole chunk. On None it may hold part of
    /// the declined line's.
    #[inline(always)]
    pub fn shortcut<'a>(&self, data: &'a [u8], ext: &mut Ext<'a>) -> Option<(Record<'a>, usize)> {
        match self.shape {
            Shape::Combined { dash } => parse_fused(data, 0).and_then(|(rec, end)| Some((as_program(rec, dash)?, end))),
            Shape::Embedded { at, dash } => match &self.around {
                Some(a) => embedded_around(a, data, ext, dash),
                None => {
                    let (r, len) = self.embedded_from(data, at, dash)?;
                    *ext = r.ext;
                    Some((r.rec, len))
                }
            },
            Shape::General => None,
        }
    }

    /// A line whose middle is combined (items `at..at + 18`, or 16 in
    /// nginx's spelling), one line (without its `\n`); see
    /// [`Program::embedded_from`].
    #[inline]
    pub(super) fn parse_embedded<'a>(&self, line: &'a [u8], at: usize, dash: bool) -> Option<Rich<'a>> {
        let mut ext = Ext::NONE;
        let r = match &self.around {
            Some(a) => embedded_around(a, line, &mut ext, dash).map(|(rec, len)| (Rich { rec, ext }, len)),
            None => self.embedded_from(line, at, dash),
        };
        match r {
            Some((r, len)) if len == line.len() => Some(r),
            _ => None,
        }
    }

    /// The line at the start of `data`, its middle combined's (items
    /// `at..at + 18`): the fields before it by the program, the middle by
    /// the fast path's field reader, then the line's end (a few bytes on)
    /// and the fields after it by the program. None where either declines;
    /// the general program then reads the line again and names what is
    /// wrong. Fields before the middle are read in the open data: where
    /// they reach past a newline the line is declined.
    #[inline]
    fn embedded_from<'a>(&self, data: &'a [u8], at: usize, dash: bool) -> Option<(Rich<'a>, usize)> {
        if data.first().is_none_or(|&c| c == 0) {
            return None;
        }
        let mut r = Fill::new(data);
        let i = self.run(data, &mut r, 0, 0, at).ok()?;
        if memchr::memchr(b'\n', &data[..i]).is_some() {
            return None;
        }
        // fused_fields stops at any newline: the middle is in this line.
        let (rec, n) = fused_fields(&data[i..])?;
        let rec = as_program(rec, dash)?;
        let mut i = i + n;
        let end = memchr::memchr(b'\n', &data[i..]).map_or(data.len(), |k| i + k);
        let s = without_cr(&data[..end]);
        let len = window_len(dash);
        let Op::Lit(close) = &self.ops[at + len - 1] else {
            return None;
        };
        // The closing quote was the fast path's; the rest of that literal
        // leads into the suffix.
        let tail = &close[1..];
        if i > s.len() || !lit_at(s, i, tail) {
            return None;
        }
        i += tail.len();
        let i = self.run(s, &mut r, i, at + len, self.ops.len()).ok()?;
        (i == s.len()).then_some((Rich { rec, ext: r.ext }, end))
    }

    /// Parses one line by the field program alone.
    pub fn parse_general<'a>(&self, line: &'a [u8]) -> Result<Rich<'a>, ParseError> {
        let s = without_cr(line);
        if s.is_empty() {
            return Err(err(0, Reason::Empty));
        }
        if s[0] == 0 {
            return Err(err(0, Reason::Nul));
        }
        let mut r = Fill::new(s);
        let i = self.run(s, &mut r, 0, 0, self.ops.len())?;
        if i != s.len() && !self.trailing_ok {
            return Err(err(i, Reason::Expected("the end of the line")));
        }
        Ok(r.record(self))
    }

    /// Runs ops `k..to` from `s[i]`, filling `r`; returns where they ended.
    #[inline(always)]
    fn run<'a>(&self, s: &'a [u8], r: &mut Fill<'a>, mut i: usize, mut k: usize, to: usize) -> Result<usize, ParseError> {
        let last = self.ops.len() - 1;
        while k < to {
            match &self.ops[k] {
                Op::Lit(l) => {
                    if !lit_at(s, i, l) {
                        let what = match self.ops.get(k + 1) {
                            Some(Op::Field { f, .. }) => f.name,
                            _ => "the format's text",
                        };
                        return Err(err(i, Reason::Expected(what)));
                    }
                    i += l.len();
                    if self.squeeze && l.ends_with(b" ") {
                        i += s[i..].iter().take_while(|&&c| c == b' ').count();
                    }
                }
                Op::Field { f, term, quoted, stop_at_query, quick } => {
                    if let Some(e) = quick_end(s, i, *quick, term.as_deref()) {
                        // The terminator is there already: it is the next
                        // literal, matched here.
                        r.set(&f.slot, &s[i..e], i).map_err(|()| err(i, Reason::Expected(f.name)))?;
                        let t = term.as_deref().expect("a quick end has a terminator");
                        i = e + t.len();
                        if self.squeeze && t.ends_with(b" ") {
                            i += s[i..].iter().take_while(|&&c| c == b' ').count();
                        }
                        k += 2;
                        continue;
                    }
                    let end = field_end(s, i, f, term.as_deref(), *quoted, *stop_at_query, k + 1 == last, self.trailing_ok)
                        .ok_or_else(|| err(i, Reason::Expected(f.name)))?;
                    r.set(&f.slot, &s[i..end], i).map_err(|()| err(i, Reason::Expected(f.name)))?;
                    i = end;
                }
            }
            k += 1;
        }
        Ok(i)
    }
}

/// The line at the start of `data` with combined in its middle, the
/// fields around it read by `a`'s loops (see [`Program::embedded_from`]
/// for what is declined).
#[inline(always)]
fn embedded_around<'a>(a: &Around, data: &'a [u8], ext: &mut Ext<'a>, dash: bool) -> Option<(Record<'a>, usize)> {
    if data.first().is_none_or(|&c| c == 0) {
        return None;
    }
    let i = a.before(data, ext)?;
    // fused_fields stops at any newline: the middle is in this line.
    let (rec, n) = fused_fields(&data[i..])?;
    let rec = as_program(rec, dash)?;
    let end = a.after(data, i + n, ext)?;
    Some((rec, end))
}

/// The line without one trailing `\r`.
#[inline(always)]
fn without_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[inline]
fn err(i: usize, reason: Reason) -> ParseError {
    ParseError {
        reason,
        col: i.min(u32::MAX as usize - 1) as u32 + 1,
    }
}

/// The field's end by its quick way, when that finds the terminator.
#[inline(always)]
fn quick_end(s: &[u8], i: usize, quick: Quick, term: Option<&[u8]>) -> Option<usize> {
    let t = term?;
    let e = match quick {
        Quick::Width(n) => i + n,
        Quick::Quote => crate::log::parse::closing_quote(s, i, b'"')?,
        Quick::Token => {
            let rest = &s[i..];
            let head = &rest[..rest.len().min(40)];
            i + memchr::memchr(t[0], head)?
        }
        Quick::None => return None,
    };
    lit_at(s, e, t).then_some(e)
}

/// `s[i..]` starts with the literal `l`; literals are a few bytes, so a
/// plain loop beats a `memcmp` call.
#[inline(always)]
pub(super) fn lit_at(s: &[u8], i: usize, l: &[u8]) -> bool {
    match s.get(i..i + l.len()) {
        Some(w) => {
            let mut k = 0;
            while k < l.len() {
                if w[k] != l[k] {
                    return false;
                }
                k += 1;
            }
            true
        }
        None => false,
    }
}

/// Where the field starting at `s[i]` ends.
#[allow(clippy::too_many_arguments)]
#[inline]
fn field_end(
    s: &[u8],
    i: usize,
    f: &Field,
    term: Option<&[u8]>,
    quoted: bool,
    stop_at_query: bool,
    term_is_last: bool,
    trailing_ok: bool,
) -> Option<usize> {
    let rest = &s[i..];
    if stop_at_query {
        let stop = match term {
            Some(t) => find_term(rest, t, false)?,
            None => rest.len(),
        };
        return Some(i + memchr::memchr(b'?', &rest[..stop]).unwrap_or(stop));
    }
    let Some(t) = term else {
        return Some(s.len());
    };
    if f.list {
        // `a, b, c`: items joined by `, `, the whole ended by the term.
        let mut j = 0;
        loop {
            let k = find_term(&rest[j..], t, false)?;
            if rest[j + k..].starts_with(b", ") && !t.starts_with(b",") {
                j += k + 2;
                continue;
            }
            if k > 0 && rest[j + k - 1] == b',' {
                j += k + t.len();
                continue;
            }
            return Some(i + j + k);
        }
    }
    // A closing literal that ends the format anchors at the line's end:
    // an unescaped quote inside the last quoted field then stays inside.
    if term_is_last && !trailing_ok && quoted && s.ends_with(t) && s.len() - t.len() >= i {
        return Some(s.len() - t.len());
    }
    find_term(rest, t, quoted).map(|k| i + k)
}

/// The first occurrence of `t` in `s`; when `quoted`, a `"` preceded by
/// an odd number of backslashes is not a match.
#[inline]
fn find_term(s: &[u8], t: &[u8], quoted: bool) -> Option<usize> {
    let first = t[0];
    let mut from = 0;
    loop {
        let k = from + memchr::memchr(first, &s[from..])?;
        let ok = s[k..].starts_with(t)
            && !(quoted && first == b'"' && s[..k].iter().rev().take_while(|&&c| c == b'\\').count() % 2 == 1);
        if ok {
            return Some(k);
        }
        from = k + 1;
    }
}

/// What a line's fields give, before it is a record.
#[derive(Default)]
pub(super) struct Fill<'a> {
    host: &'a [u8],
    ident: &'a [u8],
    user: &'a [u8],
    time: TimeParts,
    zone: &'a [u8],
    request: &'a [u8],
    method: Option<&'a [u8]>,
    target: Option<(usize, usize)>,
    version: &'a [u8],
    line: &'a [u8],
    status: &'a [u8],
    bytes: Option<u64>,
    referer: &'a [u8],
    agent: &'a [u8],
    ext: Ext<'a>,
}

#[inline]
fn printable(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().fold(true, |ok, &c| ok & (c.wrapping_sub(0x21) < 0x5e))
}

impl<'a> Fill<'a> {
    #[inline(always)]
    pub(super) fn set(&mut self, slot: &Slot, v: &'a [u8], at: usize) -> Result<(), ()> {
        let ok = |c: bool| if c { Ok(()) } else { Err(()) };
        match slot {
            Slot::Host => {
                self.host = v;
                ok(printable(v))
            }
            Slot::HostPort => {
                let (h, p) = match memchr::memrchr(b':', v) {
                    Some(c) if !v[..c].contains(&b':') || v.starts_with(b"[") => (&v[..c], &v[c + 1..]),
                    _ => (v, &v[..0]),
                };
                self.host = h.strip_prefix(b"[").and_then(|h| h.strip_suffix(b"]")).unwrap_or(h);
                let _client_port = p;
                ok(printable(v))
            }
            Slot::Ident => {
                self.ident = v;
                Ok(())
            }
            Slot::User => {
                self.user = v;
                Ok(())
            }
            Slot::Time(spec) => {
                // Several time fields (a date and a time) add up; the first
                // zone written is kept.
                let z = read_time(spec, v, &mut self.time).ok_or(())?;
                if self.zone.is_empty() {
                    self.zone = z;
                }
                Ok(())
            }
            Slot::Request => {
                self.request = v;
                Ok(())
            }
            Slot::Method => {
                self.method = Some(v);
                Ok(())
            }
            Slot::Path | Slot::Target => {
                self.target = Some((at, at + v.len()));
                Ok(())
            }
            Slot::Query => {
                // Right after its path (`%U%q`): one target, zero copy.
                if let Some((_, e)) = &mut self.target {
                    if *e == at {
                        *e = at + v.len();
                    }
                }
                Ok(())
            }
            Slot::Version => {
                self.version = v;
                Ok(())
            }
            Slot::Status => {
                self.status = v;
                ok(v.len() == 3 && v.iter().all(u8::is_ascii_digit))
            }
            Slot::Bytes => {
                self.bytes = count_or_dash(v).ok_or(())?;
                Ok(())
            }
            Slot::Referer => {
                self.referer = v;
                Ok(())
            }
            Slot::Agent => {
                self.agent = v;
                Ok(())
            }
            s => set_extra(&mut self.ext, s, v),
        }
    }

    pub(super) fn new(line: &'a [u8]) -> Fill<'a> {
        Fill { line, ..Fill::default() }
    }

    pub(super) fn record(self, p: &Program) -> Rich<'a> {
        self.finish(p.has_host, p.has_referer, p.has_agent)
    }

    pub(super) fn finish(mut self, has_host: bool, has_referer: bool, has_agent: bool) -> Rich<'a> {
        if self.request.is_empty() {
            if let Some((s, e)) = self.target {
                let target = &self.line[s..e];
                self.ext.split = Some(RequestLine {
                    method: self.method.unwrap_or(b"-"),
                    target,
                    version: self.version,
                });
                self.request = target;
            }
        }
        let host = if has_host || self.ext.xff.is_empty() {
            self.host
        } else {
            // Only the proxy chain is logged: its first address is the
            // client as the first proxy saw it.
            let x = self.ext.xff;
            let c = memchr::memchr(b',', x).unwrap_or(x.len());
            &x[..c]
        };
        let rec = Record {
            host: if host.is_empty() { b"-" } else { host },
            ident: self.ident,
            user: self.user,
            time: self.time.secs(),
            zone: self.zone,
            request: self.request,
            status: if self.status.is_empty() { b"000" } else { self.status },
            bytes: self.bytes,
            referer: has_referer.then_some(self.referer),
            agent: has_agent.then_some(self.agent),
        };
        Rich { rec, ext: self.ext }
    }
}
