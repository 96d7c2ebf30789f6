//! The parallel scan: inputs cut into newline-aligned chunks, rayon workers
//! each parsing, filtering and aggregating into their own table, tables
//! merged at the end of every batch. Counts do not depend on thread timing;
//! printed lines come out in input order.
//!
//! Records and keys are slices of the input: nothing is allocated per
//! line; a key is copied once, when it is first seen in the merged answer.

use std::borrow::Cow;
use std::io;
use std::ops::Range;

use hdrhistogram::Histogram;
use memchr::memmem;
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use super::chunk::{self, InputError, InputSpec, Opened};
use super::filter::Filter;
use super::keys::KeyCounts;
use super::parse::{parse_fused, parse_line, ParseError};
use super::record::Record;
use super::seek;
use super::time::{Secs, DAY, HOUR};
use crate::cli::progress::Progress;

/// The field a group-and-count command counts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Ip,
    Page,
    Day,
    Hour,
    Status,
    Method,
    Referer,
    Agent,
}

/// What a query does with each matching line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Group(Group),
    /// Requests per bucket of this many seconds.
    Timeline(Secs),
    Lines,
    Count,
    Stats,
    /// List every malformed line.
    Check,
}

/// A checked query.
#[derive(Clone, Debug)]
pub struct Query {
    pub action: Action,
    pub filter: Filter,
}

/// How to run a query.
#[derive(Clone, Debug)]
pub struct EngineOpts {
    /// Worker threads (None: one per core).
    pub threads: Option<usize>,
    /// Bytes per chunk.
    pub chunk_size: usize,
    /// Chunks handed to the workers at a time (bounds memory).
    pub batch_chunks: usize,
    /// Use binary search to find a time window in a time-ordered file.
    pub seek: bool,
    /// No progress bar.
    pub quiet: bool,
}

impl Default for EngineOpts {
    fn default() -> Self {
        EngineOpts {
            threads: None,
            chunk_size: 1 << 20,
            batch_chunks: 64,
            seek: true,
            quiet: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot start {threads} worker threads: {source}")]
    Threads {
        threads: usize,
        source: rayon::ThreadPoolBuildError,
    },
    #[error("writing output: {0}")]
    Output(#[source] io::Error),
}

/// A malformed line, located by chunk until the run ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    pub chunk: u32,
    /// 0-based line index inside the chunk.
    pub index: u64,
    pub error: ParseError,
    /// The line's first bytes.
    pub excerpt: Vec<u8>,
}

const EXCERPT: usize = 120;

/// `stats`: what is needed for the totals, spans, percentiles and peaks.
#[derive(Clone, Debug)]
pub struct Stats<'a> {
    pub ips: FxHashSet<Cow<'a, [u8]>>,
    pub pages: FxHashSet<Cow<'a, [u8]>>,
    pub first: Option<Secs>,
    pub last: Option<Secs>,
    pub bytes_total: u128,
    /// Lines whose byte count is `-`.
    pub bytes_unknown: u64,
    pub bytes: Histogram<u64>,
    pub per_second: FxHashMap<Secs, u64>,
}

impl<'a> Stats<'a> {
    fn new() -> Self {
        Stats {
            ips: FxHashSet::default(),
            pages: FxHashSet::default(),
            first: None,
            last: None,
            bytes_total: 0,
            bytes_unknown: 0,
            bytes: Histogram::new(3).expect("3 significant figures is valid"),
            per_second: FxHashMap::default(),
        }
    }

    #[inline]
    fn add(&mut self, r: &Record<'a>) {
        if !self.ips.contains(r.host) {
            self.ips.insert(Cow::Borrowed(r.host));
        }
        if let Some(p) = r.path() {
            if !self.pages.contains(&*p) {
                self.pages.insert(p);
            }
        }
        self.first = Some(self.first.map_or(r.time, |f| f.min(r.time)));
        self.last = Some(self.last.map_or(r.time, |l| l.max(r.time)));
        match r.bytes {
            Some(b) => {
                self.bytes_total += b as u128;
                self.bytes
                    .record(b)
                    .expect("an auto-resizing histogram takes any u64");
            }
            None => self.bytes_unknown += 1,
        }
        *self.per_second.entry(r.time).or_insert(0) += 1;
    }

    fn absorb<'b>(&mut self, o: Stats<'b>, conv: &impl Fn(Cow<'b, [u8]>) -> Cow<'a, [u8]>) {
        for k in o.ips {
            if !self.ips.contains(&*k) {
                self.ips.insert(conv(k));
            }
        }
        for k in o.pages {
            if !self.pages.contains(&*k) {
                self.pages.insert(conv(k));
            }
        }
        self.first = opt_fold(self.first, o.first, Secs::min);
        self.last = opt_fold(self.last, o.last, Secs::max);
        self.bytes_total += o.bytes_total;
        self.bytes_unknown += o.bytes_unknown;
        self.bytes.add(&o.bytes).expect("auto-resizing histogram");
        for (k, v) in o.per_second {
            *self.per_second.entry(k).or_insert(0) += v;
        }
    }
}

fn opt_fold<T: Copy>(a: Option<T>, b: Option<T>, f: impl Fn(T, T) -> T) -> Option<T> {
    match (a, b) {
        (Some(x), Some(y)) => Some(f(x, y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// What the workers accumulate; merged into one at the end.
#[derive(Clone, Debug)]
pub struct Acc<'a> {
    /// Lines read (valid or not).
    pub lines: u64,
    /// Valid lines that passed the filters.
    pub matched: u64,
    pub malformed: u64,
    /// The earliest malformed line.
    pub first_bad: Option<BadLine>,
    /// Every malformed line (only for `check`).
    pub bad: Vec<BadLine>,
    /// Lines in each chunk, to turn chunk positions into line numbers.
    pub chunk_lines: Vec<(u32, u64)>,
    /// Counts by a byte key (ips, pages, status, methods, referers, agents).
    pub keys: KeyCounts<'a>,
    /// Counts by a number (days, hours, timeline buckets).
    pub nums: FxHashMap<i64, u64>,
    /// The number key of the last lines and how many there were, not yet
    /// in `nums`: consecutive lines nearly always share their day, hour or
    /// bucket, so most lines cost a compare instead of a hash lookup.
    num_run: Option<(i64, u64)>,
    pub stats: Option<Box<Stats<'a>>>,
}

impl<'a> Acc<'a> {
    pub fn new(action: Action) -> Self {
        Acc {
            lines: 0,
            matched: 0,
            malformed: 0,
            first_bad: None,
            bad: Vec::new(),
            chunk_lines: Vec::new(),
            keys: KeyCounts::default(),
            nums: FxHashMap::default(),
            num_run: None,
            stats: (action == Action::Stats).then(|| Box::new(Stats::new())),
        }
    }

    #[inline]
    fn count_num(&mut self, k: i64) {
        match &mut self.num_run {
            Some((last, n)) if *last == k => *n += 1,
            run => {
                if let Some((last, n)) = run.replace((k, 1)) {
                    *self.nums.entry(last).or_insert(0) += n;
                }
            }
        }
    }

    /// Moves the pending run into `nums` (before the counts are read or merged).
    fn flush_nums(&mut self) {
        if let Some((k, n)) = self.num_run.take() {
            *self.nums.entry(k).or_insert(0) += n;
        }
    }

    #[cold]
    fn bad_line(&mut self, chunk: u32, index: u64, error: ParseError, line: &[u8], keep_all: bool) {
        self.malformed += 1;
        let earlier = self
            .first_bad
            .as_ref()
            .map_or(true, |b| (chunk, index) < (b.chunk, b.index));
        if !earlier && !keep_all {
            return;
        }
        let b = BadLine {
            chunk,
            index,
            error,
            excerpt: line[..line.len().min(EXCERPT)].to_vec(),
        };
        if earlier {
            self.first_bad = Some(b.clone());
        }
        if keep_all {
            self.bad.push(b);
        }
    }

    /// Adds another accumulator's counts, converting its keys with `conv`.
    fn absorb<'b>(&mut self, o: Acc<'b>, conv: impl Fn(Cow<'b, [u8]>) -> Cow<'a, [u8]>) {
        self.lines += o.lines;
        self.matched += o.matched;
        self.malformed += o.malformed;
        if let Some(b) = o.first_bad {
            if self
                .first_bad
                .as_ref()
                .map_or(true, |a| (b.chunk, b.index) < (a.chunk, a.index))
            {
                self.first_bad = Some(b);
            }
        }
        self.bad.extend(o.bad);
        self.chunk_lines.extend(o.chunk_lines);
        for (k, v) in o.keys {
            // `conv` (a copy for owned answers) runs only for new keys.
            self.keys.add_with(k, v, &conv);
        }
        self.flush_nums();
        if let Some((k, n)) = o.num_run {
            *self.nums.entry(k).or_insert(0) += n;
        }
        for (k, v) in o.nums {
            *self.nums.entry(k).or_insert(0) += v;
        }
        if let Some(s) = o.stats {
            self.stats
                .get_or_insert_with(|| Box::new(Stats::new()))
                .absorb(*s, &conv);
        }
    }

    /// Merges two accumulators over the same input.
    pub fn merge(mut self, o: Acc<'a>) -> Acc<'a> {
        if o.keys.len() > self.keys.len() {
            let mut o = o;
            std::mem::swap(&mut self, &mut o);
            self.absorb(o, |k| k);
            return self;
        }
        self.absorb(o, |k| k);
        self
    }
}

impl Acc<'static> {
    /// Adds an accumulator that borrows from a buffer about to be freed:
    /// a key is copied only when it is new.
    pub fn absorb_owned(&mut self, o: Acc<'_>) {
        self.absorb(o, |k| Cow::Owned(k.into_owned()));
    }
}

/// A compiled query: the filter's literal ready for memmem.
struct Compiled<'q> {
    q: &'q Query,
    pre: Option<(&'q super::filter::Prefilter, memmem::Finder<'q>)>,
}

impl<'q> Compiled<'q> {
    fn new(q: &'q Query, pre: &'q Option<super::filter::Prefilter>) -> Self {
        let pre = match pre {
            Some(p) if q.action != Action::Check => Some((p, memmem::Finder::new(&p.literal))),
            _ => None,
        };
        Compiled { q, pre }
    }

    #[inline]
    fn on_line<'a>(
        &self,
        line: &'a [u8],
        chunk: u32,
        index: u64,
        acc: &mut Acc<'a>,
        out: &mut Vec<&'a [u8]>,
    ) {
        match parse_line(line) {
            Ok(r) => self.on_record(line, r, acc, out),
            Err(e) => acc.bad_line(chunk, index, e, line, self.q.action == Action::Check),
        }
    }

    /// What a query does with a valid line.
    #[inline]
    fn on_record<'a>(
        &self,
        line: &'a [u8],
        r: Record<'a>,
        acc: &mut Acc<'a>,
        out: &mut Vec<&'a [u8]>,
    ) {
        if !self.q.filter.matches(&r) {
            return;
        }
        acc.matched += 1;
        match self.q.action {
            Action::Group(g) => match g {
                Group::Ip => acc.keys.add(r.host),
                Group::Page => match r.path() {
                    Some(p) => acc.keys.add_cow(p, 1),
                    None => acc.keys.add(b"-"),
                },
                Group::Day => acc.count_num(r.time.div_euclid(DAY)),
                Group::Hour => acc.count_num(r.time.div_euclid(HOUR)),
                Group::Status => acc.keys.add(r.status),
                Group::Method => acc.keys.add(r.method().unwrap_or(b"-")),
                Group::Referer => acc.keys.add(r.referer.unwrap_or(b"-")),
                Group::Agent => acc.keys.add(r.agent.unwrap_or(b"-")),
            },
            Action::Timeline(every) => acc.count_num(r.time.div_euclid(every)),
            Action::Lines => out.push(line),
            Action::Count | Action::Check => {}
            Action::Stats => acc.stats.as_mut().expect("stats accumulator").add(&r),
        }
    }

    /// Scans one chunk (whole lines; the last may lack its `\n`).
    fn scan<'a>(&self, chunk: u32, data: &'a [u8], acc: &mut Acc<'a>, out: &mut Vec<&'a [u8]>) {
        let lines = match &self.pre {
            None => {
                // Each line is parsed as its end is found (parse_fused);
                // anything unusual is cut with memchr and parse_line names
                // what is wrong.
                let mut start = 0;
                let mut n = 0u64;
                while start < data.len() {
                    let end = match parse_fused(data, start) {
                        Some((r, end)) => {
                            self.on_record(&data[start..end], r, acc, out);
                            end
                        }
                        None => {
                            let end = memchr::memchr(b'\n', &data[start..])
                                .map_or(data.len(), |k| start + k);
                            self.on_line(&data[start..end], chunk, n, acc, out);
                            end
                        }
                    };
                    n += 1;
                    start = end + 1;
                }
                n
            }
            Some((pre, finder)) => self.scan_candidates(pre, finder, chunk, data, acc, out),
        };
        acc.lines += lines;
        acc.chunk_lines.push((chunk, lines));
        acc.flush_nums();
    }

    /// Parses only the lines that contain the literal (or a `%` when the
    /// page could be percent-encoded) where it could match; returns the
    /// chunk's line count.
    fn scan_candidates<'a>(
        &self,
        pre: &super::filter::Prefilter,
        finder: &memmem::Finder<'_>,
        chunk: u32,
        data: &'a [u8],
        acc: &mut Acc<'a>,
        out: &mut Vec<&'a [u8]>,
    ) -> u64 {
        let find_lit = |from: usize| finder.find(&data[from..]).map_or(usize::MAX, |i| from + i);
        let or_percent = pre.kind == super::filter::PrefilterKind::Page;
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
                self.on_line(line, chunk, lines_before, acc, out);
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

/// A malformed line with its file and 1-based line number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub file: String,
    pub line: u64,
    pub error: ParseError,
    pub excerpt: Vec<u8>,
}

/// One input's part of the run.
#[derive(Debug)]
pub struct FileReport {
    pub name: String,
    pub bytes: u64,
    /// Bytes actually scanned (less than `bytes` when a time window was
    /// found by binary search).
    pub scanned: u64,
    /// The input could not be (fully) read; what was read is counted.
    pub error: Option<InputError>,
    /// How the time window was found, when one was asked for.
    pub seek: Option<seek::SeekOutcome>,
}

/// The answer to a query.
#[derive(Debug)]
pub struct Outcome {
    pub acc: Acc<'static>,
    pub files: Vec<FileReport>,
    pub first_bad: Option<Located>,
    /// Every malformed line, in input order (only for `check`).
    pub bad: Vec<Located>,
    /// A literal prefilter skipped lines without parsing them, so
    /// `malformed` counts only the lines that were parsed.
    pub prefiltered: bool,
    pub action: Action,
}

impl Outcome {
    /// True when something matched (for `check`: a malformed line was found).
    pub fn found(&self) -> bool {
        match self.action {
            Action::Check => self.acc.malformed > 0,
            _ => self.acc.matched > 0,
        }
    }

    /// True when every line of every input was parsed (no prefilter, no
    /// time-window seek), so `malformed` counts every malformed line.
    pub fn parsed_everything(&self) -> bool {
        !self.prefiltered && self.files.iter().all(|f| f.scanned == f.bytes)
    }

    pub fn errors(&self) -> impl Iterator<Item = &InputError> {
        self.files.iter().filter_map(|f| f.error.as_ref())
    }
}

struct Run<'q, 'o> {
    c: Compiled<'q>,
    pool: rayon::ThreadPool,
    opts: &'o EngineOpts,
    global: Acc<'static>,
    chunk_file: Vec<u32>,
    progress: Progress,
}

impl Run<'_, '_> {
    fn batch<'a, S>(&mut self, chunks: &[(u32, &'a [u8])], sink: &mut S) -> Result<(), EngineError>
    where
        S: FnMut(&[u8]) -> io::Result<()>,
    {
        let action = self.c.q.action;
        let c = &self.c;
        let progress = &self.progress;
        if action == Action::Lines {
            let parts: Vec<(Acc<'a>, Vec<&'a [u8]>)> = self.pool.install(|| {
                chunks
                    .par_iter()
                    .map(|&(id, data)| {
                        let mut acc = Acc::new(action);
                        let mut out = Vec::new();
                        c.scan(id, data, &mut acc, &mut out);
                        progress.inc(data.len() as u64);
                        (acc, out)
                    })
                    .collect()
            });
            for (acc, out) in parts {
                for l in out {
                    sink(l).map_err(EngineError::Output)?;
                }
                self.global.absorb_owned(acc);
            }
        } else {
            let acc = self.pool.install(|| {
                chunks
                    .par_iter()
                    .fold(
                        || Acc::new(action),
                        |mut acc, &(id, data)| {
                            let mut none = Vec::new();
                            c.scan(id, data, &mut acc, &mut none);
                            progress.inc(data.len() as u64);
                            acc
                        },
                    )
                    .reduce(|| Acc::new(action), Acc::merge)
            });
            self.global.absorb_owned(acc);
        }
        Ok(())
    }

    fn new_chunk(&mut self, file: usize) -> u32 {
        self.chunk_file.push(file as u32);
        (self.chunk_file.len() - 1) as u32
    }

    fn mapped<S>(
        &mut self,
        file: usize,
        data: &[u8],
        range: Range<usize>,
        sink: &mut S,
    ) -> Result<(), EngineError>
    where
        S: FnMut(&[u8]) -> io::Result<()>,
    {
        let base = range.start;
        let ranges = chunk::split_chunks(&data[range], self.opts.chunk_size);
        // Printed lines come out in order, so they go in batches that bound
        // what waits to be printed. Counts need no such bound: after a first
        // batch, when the answer is small (few distinct keys), the rest of
        // the file is one parallel job, without a barrier every batch where
        // a worker waits for the other (full `tplog ips` on 1 GB, 7 runs
        // alternated: median 0.44 s in 64-chunk batches, 0.39 s). A large
        // answer keeps the batches: each one's partial tables then stay
        // small (a million distinct clients: 300 MB peak as one job).
        let step = self.opts.batch_chunks.max(1);
        let mut at = 0;
        while at < ranges.len() {
            // Byte keys are what weigh (numbers are 16-byte entries).
            let small_answer = self.global.keys.len()
                + self
                    .global
                    .stats
                    .as_ref()
                    .map_or(0, |s| s.ips.len() + s.pages.len())
                < SMALL_ANSWER;
            let n = if at > 0 && self.c.q.action != Action::Lines && small_answer {
                ranges.len() - at
            } else {
                step.min(ranges.len() - at)
            };
            let chunks: Vec<(u32, &[u8])> = ranges[at..at + n]
                .iter()
                .map(|r| (self.new_chunk(file), &data[base + r.start..base + r.end]))
                .collect();
            self.batch(&chunks, sink)?;
            at += n;
        }
        Ok(())
    }

    fn stream<S>(
        &mut self,
        file: usize,
        name: &str,
        reader: Box<dyn io::Read + Send>,
        gzip: bool,
        sink: &mut S,
    ) -> Result<(u64, Option<InputError>), EngineError>
    where
        S: FnMut(&[u8]) -> io::Result<()>,
    {
        // A stream's batch is a few blocks per worker, not a mapped file's
        // 64: the blocks are anonymous memory (the batch being scanned plus
        // as many being read), and they are reused, so a small batch keeps
        // them in cache and the reader one batch ahead.
        let batch = self
            .opts
            .batch_chunks
            .clamp(1, 4 * self.pool.current_num_threads().max(1));
        let blocks =
            chunk::stream_blocks(reader, name.to_string(), gzip, self.opts.chunk_size, batch);
        let give_back = blocks.give_back;
        let rx = blocks.rx;
        let mut bytes = 0u64;
        let mut pending: Vec<Vec<u8>> = Vec::new();
        let mut error = None;
        let mut rx = rx.into_iter();
        loop {
            let next = rx.next();
            let done = match next {
                Some(Ok(block)) => {
                    bytes += block.len() as u64;
                    pending.push(block);
                    false
                }
                Some(Err(e)) => {
                    error = Some(e);
                    true
                }
                None => true,
            };
            if pending.len() >= batch || (done && !pending.is_empty()) {
                let ids: Vec<u32> = pending.iter().map(|_| self.new_chunk(file)).collect();
                let chunks: Vec<(u32, &[u8])> = ids
                    .into_iter()
                    .zip(pending.iter().map(Vec::as_slice))
                    .collect();
                self.batch(&chunks, sink)?;
                for b in pending.drain(..) {
                    // The reader may have finished: then the buffer is freed.
                    let _ = give_back.send(b);
                }
            }
            if done {
                return Ok((bytes, error));
            }
        }
    }

    /// Turns chunk positions into file names and line numbers.
    fn locate(&self, names: &[String], b: &BadLine, base: &[u64]) -> Located {
        Located {
            file: names[self.chunk_file[b.chunk as usize] as usize].clone(),
            line: base[b.chunk as usize] + b.index + 1,
            error: b.error,
            excerpt: b.excerpt.clone(),
        }
    }
}

/// Below this many distinct keys after a first batch, the rest of a
/// mapped file is scanned as one parallel job.
const SMALL_ANSWER: usize = 1 << 16;

/// Workers when `--threads` is not given: one per core (0 tells rayon
/// so), but one fewer when every input is a stream. A pipe's writer (`cat`,
/// `zcat`, a web server) and the reader thread then need a core of their
/// own: with as many workers as cores, each batch froze the pipe while it
/// was scanned. Measured here, `cat 1GB | tplog ips --page truc.html`, 7
/// runs alternated: median 1.03 s with two workers, 0.61 s with one.
fn default_threads(opened: &[Result<Opened, InputError>]) -> usize {
    let all_streams = !opened.is_empty()
        && opened
            .iter()
            .all(|o| matches!(o, Ok(Opened::Stream { .. })));
    if !all_streams {
        return 0;
    }
    std::thread::available_parallelism()
        .map_or(1, |n| n.get().saturating_sub(1))
        .max(1)
}

/// Runs a query over inputs. `sink` receives each matching line for
/// [`Action::Lines`], in input order. An input that cannot be opened or
/// read is reported in [`Outcome::files`] and the others are still read.
pub fn run<S>(
    query: &Query,
    inputs: &[InputSpec],
    opts: &EngineOpts,
    mut sink: S,
) -> Result<Outcome, EngineError>
where
    S: FnMut(&[u8]) -> io::Result<()>,
{
    let opened: Vec<Result<Opened, InputError>> = inputs.iter().map(chunk::open).collect();
    let threads = opts.threads.unwrap_or_else(|| default_threads(&opened));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|source| EngineError::Threads { threads, source })?;
    let pre = query.filter.prefilter();
    let compiled = Compiled::new(query, &pre);
    let prefiltered = compiled.pre.is_some();
    let total: u64 = opened
        .iter()
        .map(|o| match o {
            Ok(Opened::Mapped(m)) => m.len() as u64,
            _ => 0,
        })
        .sum();
    let mut run = Run {
        c: compiled,
        pool,
        opts,
        global: Acc::new(query.action),
        chunk_file: Vec::new(),
        progress: Progress::bytes(Some(total), opts.quiet),
    };
    let names: Vec<String> = inputs.iter().map(|i| i.to_string()).collect();
    let mut files = Vec::with_capacity(inputs.len());
    for (i, o) in opened.into_iter().enumerate() {
        let mut rep = FileReport {
            name: names[i].clone(),
            bytes: 0,
            scanned: 0,
            error: None,
            seek: None,
        };
        match o {
            Err(e) => rep.error = Some(e),
            Ok(Opened::Empty) => {}
            Ok(Opened::Mapped(map)) => {
                let data: &[u8] = &map;
                rep.bytes = data.len() as u64;
                let mut range = 0..data.len();
                if let (Some(win), true) = (
                    query.filter.window(),
                    opts.seek && query.action != Action::Check,
                ) {
                    let s = seek::find_window(data, win);
                    if let Some(r) = s.range.clone() {
                        range = r;
                    }
                    rep.seek = Some(s);
                }
                rep.scanned = (range.end - range.start) as u64;
                run.mapped(i, data, range, &mut sink)?;
            }
            Ok(Opened::Stream { reader, gzip }) => {
                let (bytes, err) = run.stream(i, &names[i], reader, gzip, &mut sink)?;
                rep.bytes = bytes;
                rep.scanned = bytes;
                rep.error = err;
            }
        }
        files.push(rep);
    }
    run.progress.finish();

    // Line numbers: lines before each chunk within its file.
    let mut per_chunk = vec![0u64; run.chunk_file.len()];
    for &(c, n) in &run.global.chunk_lines {
        per_chunk[c as usize] = n;
    }
    let mut base = vec![0u64; per_chunk.len()];
    let mut acc_lines = 0u64;
    for c in 0..per_chunk.len() {
        if c > 0 && run.chunk_file[c] != run.chunk_file[c - 1] {
            acc_lines = 0;
        }
        base[c] = acc_lines;
        acc_lines += per_chunk[c];
    }
    let first_bad = run
        .global
        .first_bad
        .as_ref()
        .map(|b| run.locate(&names, b, &base));
    let mut bad_sorted = std::mem::take(&mut run.global.bad);
    bad_sorted.sort_by_key(|b| (b.chunk, b.index));
    let bad = bad_sorted
        .iter()
        .map(|b| run.locate(&names, b, &base))
        .collect();
    run.global.chunk_lines = Vec::new();
    Ok(Outcome {
        acc: run.global,
        files,
        first_bad,
        bad,
        prefiltered,
        action: query.action,
    })
}
