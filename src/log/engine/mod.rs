//! The parallel scan: inputs cut into newline-aligned chunks, rayon workers
//! each parsing, filtering and aggregating into their own table, tables
//! merged at the end of every batch. Counts do not depend on thread timing;
//! printed lines come out in input order.
//!
//! Records and keys are slices of the input: nothing is allocated per
//! line; a key is copied once, when it is first seen in the merged answer.

use std::io;
use std::sync::Arc;

use super::chunk::{self, InputError, InputSpec, Opened};
use super::format::{FormatChoice, NamedFormat};
use super::filter::Filter;
use super::parse::ParseError;
use super::seek;
use super::time::Secs;
use crate::cli::progress::Progress;

mod acc;
mod incremental;
pub mod rows;
mod run;
mod scan;

pub use acc::{Acc, BadLine, Stats};
pub use incremental::Incremental;
use run::{default_threads, Run};
pub use run::Sink;
use scan::Compiled;

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
    Vhost,
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
    /// Everything `tplog report`'s panels show.
    Report,
    /// List every malformed line.
    Check,
    /// Every matching line as a typed row, to a [`Sink`]'s `rows`, in
    /// input order (`tplog export`).
    Rows,
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
    /// The format of each input.
    pub format: FormatChoice,
}

impl Default for EngineOpts {
    fn default() -> Self {
        EngineOpts {
            threads: None,
            chunk_size: 1 << 20,
            batch_chunks: 64,
            seek: true,
            quiet: false,
            format: FormatChoice::Detect,
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
    /// The name of the format the input was read in.
    pub format: String,
    /// The format was chosen from the input's first lines.
    pub detected: bool,
    /// The format can carry an X-Forwarded-For chain (what `--real-ip`
    /// reads).
    pub logs_xff: bool,
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

/// Runs a query over inputs. `sink` receives each matching line for
/// [`Action::Lines`], in input order. An input that cannot be opened or
/// read is reported in [`Outcome::files`] and the others are still read.
pub fn run<S>(
    query: &Query,
    inputs: &[InputSpec],
    opts: &EngineOpts,
    sink: S,
) -> Result<Outcome, EngineError>
where
    S: FnMut(&[u8]) -> io::Result<()>,
{
    run_sink(query, inputs, opts, sink)
}

/// [`run`] with any [`Sink`]: for [`Action::Rows`], one that takes rows.
pub fn run_sink<S: Sink>(
    query: &Query,
    inputs: &[InputSpec],
    opts: &EngineOpts,
    mut sink: S,
) -> Result<Outcome, EngineError> {
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
        format: Arc::new(NamedFormat::fast()),
        w3c: None,
    };
    let names: Vec<String> = inputs.iter().map(|i| i.to_string()).collect();
    // (file, lines before its scanned window), where that matters.
    let mut skipped: Vec<(u32, u64)> = Vec::new();
    let mut files = Vec::with_capacity(inputs.len());
    for (i, o) in opened.into_iter().enumerate() {
        let mut rep = FileReport {
            name: names[i].clone(),
            bytes: 0,
            scanned: 0,
            error: None,
            seek: None,
            format: "combined".into(),
            detected: false,
            logs_xff: false,
        };
        match o {
            Err(e) => rep.error = Some(e),
            Ok(Opened::Empty) => {}
            Ok(Opened::Mapped(map)) => {
                let data: &[u8] = &map;
                rep.bytes = data.len() as u64;
                let chosen = opts.format.choose(&inputs[i], data);
                rep.format = chosen.format.name.clone();
                rep.detected = chosen.detected;
                rep.logs_xff = chosen.format.format.logs_xff();
                let fast = chosen.format.is_fast();
                run.start_file(chosen.format);
                let mut range = 0..data.len();
                // The binary search reads timestamps as the fast path does.
                if let (Some(win), true) = (
                    query.filter.window(),
                    opts.seek && query.action != Action::Check && fast,
                ) {
                    let s = seek::find_window(data, win);
                    if let Some(r) = s.range.clone() {
                        range = r;
                    }
                    rep.seek = Some(s);
                }
                rep.scanned = (range.end - range.start) as u64;
                let (start, chunks_before) = (range.start, run.chunk_file.len());
                run.mapped(i, data, range, &mut sink)?;
                // A window found by binary search: the lines before it were
                // not scanned, and a malformed line's number must count them
                // (a SIMD newline count, paid only when one was found here).
                let here = |c: u32| c as usize >= chunks_before;
                let bad_here = run.global.first_bad.as_ref().is_some_and(|b| here(b.chunk))
                    || run.global.bad.iter().any(|b| here(b.chunk));
                if start > 0 && bad_here {
                    skipped.push((i as u32, bytecount::count(&data[..start], b'\n') as u64));
                }
            }
            Ok(Opened::Stream { reader, gzip }) => {
                let detected = std::cell::Cell::new(false);
                let pick = |first: &[u8]| {
                    let c = opts.format.choose(&inputs[i], first);
                    detected.set(c.detected);
                    c.format
                };
                let (bytes, err) = run.stream(i, &names[i], reader, gzip, &pick, &mut sink)?;
                rep.format = run.format.name.clone();
                rep.detected = detected.get();
                rep.logs_xff = run.format.format.logs_xff();
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
    let lines_before = |f: u32| skipped.iter().find(|s| s.0 == f).map_or(0, |s| s.1);
    for c in 0..per_chunk.len() {
        if c == 0 || run.chunk_file[c] != run.chunk_file[c - 1] {
            acc_lines = lines_before(run.chunk_file[c]);
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
    if let Some(p) = &mut run.global.panels {
        p.settle();
    }
    Ok(Outcome {
        acc: run.global,
        files,
        first_bad,
        bad,
        prefiltered,
        action: query.action,
    })
}
