//! The accumulators the workers fill and the merge of their tables.

use std::borrow::Cow;

use hdrhistogram::Histogram;
use rustc_hash::{FxHashMap, FxHashSet};

use super::Action;
use crate::log::keys::KeyCounts;
use crate::log::panels::PanelAcc;
use crate::log::parse::ParseError;
use crate::log::record::{target_path, Ext, Record};
use crate::log::time::Secs;

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
/// Whole malformed lines kept for `check`'s format suggestion.
const SAMPLES: usize = 16;

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
    /// Response times in microseconds, for the lines whose format logs one.
    pub micros: Histogram<u64>,
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
            micros: Histogram::new(3).expect("3 significant figures is valid"),
            per_second: FxHashMap::default(),
        }
    }

    #[inline]
    pub(super) fn add(&mut self, r: &Record<'a>, x: &Ext<'a>) {
        if !self.ips.contains(r.host) {
            self.ips.insert(Cow::Borrowed(r.host));
        }
        if let Some(p) = x.request_line(r).map(|q| target_path(q.target)) {
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
        if let Some(us) = x.micros {
            self.micros
                .record(us)
                .expect("an auto-resizing histogram takes any u64");
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
        self.micros.add(&o.micros).expect("auto-resizing histogram");
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
    /// The first malformed lines whole (only for `check`, to suggest a
    /// format that reads them).
    pub samples: Vec<(u32, u64, Vec<u8>)>,
    /// Lines in each chunk, to turn chunk positions into line numbers.
    pub chunk_lines: Vec<(u32, u64)>,
    /// Counts by a byte key (ips, pages, status, methods, referers, agents).
    pub keys: KeyCounts<'a>,
    /// Counts by a number (days, hours, timeline buckets).
    pub nums: FxHashMap<i64, u64>,
    /// The number key of the last lines and how many there were, not yet
    /// in `nums`: consecutive lines nearly always share their day, hour or
    /// bucket, so most lines cost a compare instead of a hash lookup.
    pub(super) num_run: Option<(i64, u64)>,
    pub stats: Option<Box<Stats<'a>>>,
    /// `report`'s tables (only for [`Action::Report`]).
    pub panels: Option<Box<PanelAcc<'a>>>,
    /// The chunk's rows (only for [`Action::Rows`], one chunk per Acc).
    pub(super) rows: Option<Box<super::rows::RowBuilder<'a>>>,
}

impl<'a> Acc<'a> {
    pub fn new(action: Action) -> Self {
        Acc {
            lines: 0,
            matched: 0,
            malformed: 0,
            first_bad: None,
            bad: Vec::new(),
            samples: Vec::new(),
            chunk_lines: Vec::new(),
            keys: KeyCounts::default(),
            nums: FxHashMap::default(),
            num_run: None,
            stats: (action == Action::Stats).then(|| Box::new(Stats::new())),
            panels: (action == Action::Report).then(|| Box::new(PanelAcc::new())),
            rows: None,
        }
    }

    /// For [`Action::Report`]: with or without the cube (none once the
    /// answer outgrew it).
    pub fn with_cube(action: Action, cube: bool) -> Self {
        let mut a = Acc::new(action);
        if let (Some(p), false) = (&mut a.panels, cube) {
            p.cube = None;
        }
        a
    }

    #[inline]
    pub(super) fn count_num(&mut self, k: i64) {
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
    pub(super) fn flush_nums(&mut self) {
        if let Some((k, n)) = self.num_run.take() {
            *self.nums.entry(k).or_insert(0) += n;
        }
    }

    #[cold]
    pub(super) fn bad_line(&mut self, chunk: u32, index: u64, error: ParseError, line: &[u8], keep_all: bool) {
        self.malformed += 1;
        if let Some(rows) = self.rows.as_mut() {
            rows.bad(index, error, line);
        }
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
        if keep_all && self.samples.len() < SAMPLES {
            self.samples.push((chunk, index, line[..line.len().min(8192)].to_vec()));
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
        self.samples.extend(o.samples);
        if self.samples.len() > SAMPLES {
            self.samples.sort_by_key(|s| (s.0, s.1));
            self.samples.truncate(SAMPLES);
        }
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
        if let Some(p) = o.panels {
            self.panels
                .get_or_insert_with(|| Box::new(PanelAcc::new()))
                .absorb(*p, &conv);
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

