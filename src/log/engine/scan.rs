//! One chunk's scan: lines found, parsed, filtered and counted.

use std::sync::Arc;

use memchr::memmem;

use super::acc::Acc;
use super::{Action, Group, Query};
use crate::log::filter::{Prefilter, PrefilterKind};
use crate::log::format::{w3c, LineParser, LogFormat, NamedFormat};
use crate::log::parse::{parse_fused, parse_line, ParseError, Reason};
use crate::log::record::{target_path, Ext, Record};
use crate::log::time::{DAY, HOUR};

/// A chunk of whole lines, the format its file is read in, and for W3C
/// the columns in effect at its start.
pub(super) struct Chunk<'a> {
    pub(super) id: u32,
    pub(super) data: &'a [u8],
    pub(super) format: Arc<NamedFormat>,
    pub(super) w3c: Option<Arc<w3c::Layout>>,
}

/// A compiled query: the filter's literal ready for memmem.
pub(super) struct Compiled<'q> {
    pub(super) q: &'q Query,
    pub(super) pre: Option<(&'q Prefilter, memmem::Finder<'q>)>,
    /// A filter reads the fields beyond combined's (vhost, time taken,
    /// the real client).
    uses_ext: bool,
}

impl<'q> Compiled<'q> {
    pub(super) fn new(q: &'q Query, pre: &'q Option<Prefilter>) -> Self {
        let pre = match pre {
            Some(p) if q.action != Action::Check => Some((p, memmem::Finder::new(&p.literal))),
            _ => None,
        };
        let f = &q.filter;
        let uses_ext = f.real_ip.is_some() || f.vhost.is_some() || f.slower_than.is_some();
        Compiled { q, pre, uses_ext }
    }

    #[inline]
    fn on_line<'a>(
        &self,
        p: &mut LineParser<'_>,
        line: &'a [u8],
        chunk: u32,
        index: u64,
        acc: &mut Acc<'a>,
        out: &mut Vec<&'a [u8]>,
    ) {
        // The fast path's layouts: the small record straight from
        // parse_line (no wider record built and moved for each line).
        let parsed = if p.is_fast() {
            match parse_line(line) {
                Ok(rec) => return self.on_record(line, rec, &Ext::NONE, acc, out),
                Err(e) => Err(e),
            }
        } else {
            p.parse(line)
        };
        match parsed {
            Ok(Some(r)) => self.on_record(line, r.rec, &r.ext, acc, out),
            Ok(None) => {}
            Err(e) if e.reason == Reason::Nul && line.first() == Some(&0) => {
                self.after_nul_run(p, line, chunk, index, acc, out)
            }
            Err(e) => acc.bad_line(chunk, index, e, line, self.q.action == Action::Check),
        }
    }

    /// A line that starts with NUL bytes: after `copytruncate` the writer
    /// goes on at its old offset, so the file holds a run of NULs and the
    /// next line follows it with no newline between. The run is one
    /// malformed region; the text after it is a line of its own, parsed
    /// and counted (it shares the physical line number of the run).
    #[cold]
    fn after_nul_run<'a>(
        &self,
        p: &mut LineParser<'_>,
        line: &'a [u8],
        chunk: u32,
        index: u64,
        acc: &mut Acc<'a>,
        out: &mut Vec<&'a [u8]>,
    ) {
        let keep_all = self.q.action == Action::Check;
        let run = line.iter().position(|&b| b != 0).unwrap_or(line.len());
        let nul = ParseError { reason: Reason::Nul, col: 1 };
        acc.bad_line(chunk, index, nul, line, keep_all);
        let rest = &line[run..];
        if rest.is_empty() || rest == b"\r" {
            return;
        }
        acc.lines += 1;
        match p.parse(rest) {
            Ok(Some(r)) => self.on_record(rest, r.rec, &r.ext, acc, out),
            Ok(None) => {}
            Err(mut e) => {
                e.col = e.col.saturating_add(run.min(u32::MAX as usize) as u32);
                acc.bad_line(chunk, index, e, rest, keep_all)
            }
        }
    }

    /// What a query does with a valid line.
    #[inline(always)]
    fn on_record<'a>(&self, line: &'a [u8], mut r: Record<'a>, x: &Ext<'a>, acc: &mut Acc<'a>, out: &mut Vec<&'a [u8]>) {
        if self.uses_ext {
            if let Some(real) = &self.q.filter.real_ip {
                r.host = real.client(r.host, x.xff);
            }
        }
        let pass = if self.uses_ext { self.q.filter.matches_ext(&r, x) } else { self.q.filter.matches_core(&r, x) };
        if !pass {
            return;
        }
        acc.matched += 1;
        match self.q.action {
            Action::Group(g) => match g {
                Group::Ip => acc.keys.add(r.host),
                Group::Page => match x.request_line(&r).map(|q| target_path(q.target)) {
                    Some(p) => acc.keys.add_cow(p, 1),
                    None => acc.keys.add(b"-"),
                },
                Group::Day => acc.count_num(r.time.div_euclid(DAY)),
                Group::Hour => acc.count_num(r.time.div_euclid(HOUR)),
                Group::Status => acc.keys.add(r.status),
                Group::Method => acc.keys.add(x.request_line(&r).map_or(&b"-"[..], |q| q.method)),
                Group::Referer => acc.keys.add(r.referer.unwrap_or(b"-")),
                Group::Agent => acc.keys.add(r.agent.unwrap_or(b"-")),
                Group::Vhost => acc.keys.add(if x.vhost.is_empty() { b"-" } else { x.vhost }),
            },
            Action::Timeline(every) => acc.count_num(r.time.div_euclid(every)),
            Action::Lines => out.push(line),
            Action::Count | Action::Check => {}
            Action::Stats => acc.stats.as_mut().expect("stats accumulator").add(&r, x),
            Action::Report => acc.panels.as_mut().expect("report accumulator").add(&r, x),
            Action::Rows => {
                if let Some(rows) = acc.rows.as_mut() {
                    rows.push(line, &r, x);
                }
            }
        }
    }

    /// Scans one chunk (whole lines; the last may lack its `\n`).
    pub(super) fn scan<'a>(&self, ch: &Chunk<'a>, acc: &mut Acc<'a>, out: &mut Vec<&'a [u8]>) {
        let (chunk, data) = (ch.id, ch.data);
        let mut p = ch.format.format.parser(ch.w3c.clone());
        let lines = match (&self.pre, &ch.format.format) {
            (None, LogFormat::Fast) => {
                // Each line is parsed as its end is found (parse_fused);
                // anything unusual is cut with memchr and parse_line names
                // what is wrong.
                let mut start = 0;
                let mut n = 0u64;
                while start < data.len() {
                    let end = match parse_fused(data, start) {
                        Some((r, end)) => {
                            self.on_record(&data[start..end], r, &Ext::NONE, acc, out);
                            end
                        }
                        None => {
                            let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |k| start + k);
                            self.on_line(&mut p, &data[start..end], chunk, n, acc, out);
                            end
                        }
                    };
                    n += 1;
                    start = end + 1;
                }
                n
            }
            (Some((pre, finder)), LogFormat::Fast) => self.scan_candidates(&mut p, pre, finder, chunk, data, acc, out),
            // A compiled format the fast path's parser reads (combined's
            // fields, maybe with extras around them): straight to it,
            // the program only for the lines it declines.
            (None, LogFormat::Program(prog)) if prog.has_shortcut() => {
                let mut start = 0;
                let mut n = 0u64;
                // Each line read writes every extra its format names.
                let mut ext = Ext::NONE;
                while start < data.len() {
                    let end = match prog.shortcut(&data[start..], &mut ext) {
                        Some((rec, len)) => {
                            self.on_record(&data[start..start + len], rec, &ext, acc, out);
                            start + len
                        }
                        None => {
                            let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |k| start + k);
                            self.on_line(&mut p, &data[start..end], chunk, n, acc, out);
                            end
                        }
                    };
                    n += 1;
                    start = end + 1;
                }
                n
            }
            // Any other format: the line's end, then its compiled parser.
            _ => {
                let mut start = 0;
                let mut n = 0u64;
                while start < data.len() {
                    let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |k| start + k);
                    self.on_line(&mut p, &data[start..end], chunk, n, acc, out);
                    n += 1;
                    start = end + 1;
                }
                n
            }
        };
        acc.lines += lines;
        acc.chunk_lines.push((chunk, lines));
        acc.flush_nums();
    }

    /// Parses only the lines that contain the literal (or a `%` when the
    /// page could be percent-encoded) where it could match; returns the
    /// chunk's line count.
    #[allow(clippy::too_many_arguments)]
    fn scan_candidates<'a>(
        &self,
        p: &mut LineParser<'_>,
        pre: &Prefilter,
        finder: &memmem::Finder<'_>,
        chunk: u32,
        data: &'a [u8],
        acc: &mut Acc<'a>,
        out: &mut Vec<&'a [u8]>,
    ) -> u64 {
        let find_lit = |from: usize| finder.find(&data[from..]).map_or(usize::MAX, |i| from + i);
        let or_percent = pre.kind == PrefilterKind::Page;
        let find_pct = |from: usize| {
            if or_percent {
                memchr::memchr(b'%', &data[from..]).map_or(usize::MAX, |i| from + i)
            } else {
                usize::MAX
            }
        };
        let (mut next_lit, mut next_pct) = (find_lit(0), find_pct(0));
        let (mut counted_to, mut lines_before) = (0usize, 0u64);
        loop {
            let hit = next_lit.min(next_pct);
            if hit == usize::MAX {
                break;
            }
            let ls = memchr::memrchr(b'\n', &data[..hit]).map_or(0, |i| i + 1);
            let le = memchr::memchr(b'\n', &data[hit..]).map_or(data.len(), |i| hit + i);
            let line = &data[ls..le];
            if pre.may_match(line, finder) {
                lines_before += count_newlines(&data[counted_to..ls]);
                counted_to = ls;
                self.on_line(p, line, chunk, lines_before, acc, out);
            }
            let next = le + 1;
            if next >= data.len() {
                break;
            }
            if next_lit < next {
                next_lit = find_lit(next);
            }
            if next_pct < next {
                next_pct = find_pct(next);
            }
        }
        let tail = &data[counted_to..];
        lines_before + count_newlines(tail) + u64::from(data.last().is_some_and(|&b| b != b'\n'))
    }
}

/// bytecount's SIMD count (what ripgrep counts lines with): several times
/// faster than iterating memchr hits on short lines.
#[inline]
fn count_newlines(b: &[u8]) -> u64 {
    bytecount::count(b, b'\n') as u64
}

