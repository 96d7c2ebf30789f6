//! The run over inputs: mapped files in chunk batches, streams block by block.

use std::io;
use std::ops::Range;

use rayon::prelude::*;

use std::sync::Arc;

use super::acc::{Acc, BadLine};
use super::rows::{RowBatch, RowBuilder};
use super::scan::{Chunk, Compiled};
use super::{Action, EngineError, EngineOpts, Located};
use crate::cli::progress::Progress;
use crate::log::chunk::{self, InputError, Opened};
use crate::log::format::{w3c, LogFormat, NamedFormat};

/// Where a run's output goes: printed lines ([`Action::Lines`], any
/// `FnMut(&[u8])`) or rows ([`Action::Rows`]).
pub trait Sink {
    fn line(&mut self, line: &[u8]) -> io::Result<()>;
    /// A chunk's rows, in input order.
    fn rows(&mut self, _batch: RowBatch) -> io::Result<()> {
        Err(io::Error::other("this sink takes no rows"))
    }
    /// The first `lines` lines of input `file` are not scanned (a time
    /// window found by binary search): its rows' line numbers start after them.
    fn lines_skipped(&mut self, _file: u32, _lines: u64) {}
}

impl<F: FnMut(&[u8]) -> io::Result<()>> Sink for F {
    fn line(&mut self, line: &[u8]) -> io::Result<()> {
        self(line)
    }
}

pub(super) struct Run<'q, 'o> {
    pub(super) c: Compiled<'q>,
    pub(super) pool: rayon::ThreadPool,
    pub(super) opts: &'o EngineOpts,
    pub(super) global: Acc<'static>,
    pub(super) chunk_file: Vec<u32>,
    pub(super) progress: Progress,
    /// The current file's format, and for W3C the columns in effect at
    /// the end of the chunks cut so far.
    pub(super) format: Arc<NamedFormat>,
    pub(super) w3c: Option<Arc<w3c::Layout>>,
}

impl Run<'_, '_> {
    /// Starts a file read in `format`.
    pub(super) fn start_file(&mut self, format: Arc<NamedFormat>) {
        self.format = format;
        self.w3c = None;
    }

    fn batch<'a, S>(&mut self, chunks: &[Chunk<'a>], sink: &mut S) -> Result<(), EngineError>
    where
        S: Sink,
    {
        let action = self.c.q.action;
        // Once the report's cube outgrew its cap, the workers keep none.
        let cube = self.global.panels.as_ref().is_none_or(|p| p.cube.is_some());
        let new = || Acc::with_cube(action, cube);
        let c = &self.c;
        let progress = &self.progress;
        if action == Action::Lines {
            let parts: Vec<(Acc<'a>, Vec<&'a [u8]>)> = self.pool.install(|| {
                chunks
                    .par_iter()
                    .map(|ch| {
                        let mut acc = Acc::new(action);
                        let mut out = Vec::new();
                        c.scan(ch, &mut acc, &mut out);
                        progress.inc(ch.data.len() as u64);
                        (acc, out)
                    })
                    .collect()
            });
            for (acc, out) in parts {
                for l in out {
                    sink.line(l).map_err(EngineError::Output)?;
                }
                self.global.absorb_owned(acc);
            }
        } else if action == Action::Rows {
            // As for lines: each chunk's rows, handed over in input order.
            let parts: Vec<Acc<'a>> = self.pool.install(|| {
                chunks
                    .par_iter()
                    .map(|ch| {
                        let mut acc = Acc::new(action);
                        acc.rows = Some(Box::new(RowBuilder::new(ch.data)));
                        let mut none = Vec::new();
                        c.scan(ch, &mut acc, &mut none);
                        progress.inc(ch.data.len() as u64);
                        acc
                    })
                    .collect()
            });
            for mut acc in parts {
                let rows = acc.rows.take().expect("a row builder per chunk");
                let &(chunk, lines) = acc.chunk_lines.last().expect("a scanned chunk");
                let file = self.chunk_file[chunk as usize];
                sink.rows(rows.finish(file, lines)).map_err(EngineError::Output)?;
                self.global.absorb_owned(acc);
            }
        } else {
            let acc = self.pool.install(|| {
                chunks
                    .par_iter()
                    .fold(
                        new,
                        |mut acc, ch| {
                            let mut none = Vec::new();
                            c.scan(ch, &mut acc, &mut none);
                            progress.inc(ch.data.len() as u64);
                            acc
                        },
                    )
                    .reduce(new, Acc::merge)
            });
            self.global.absorb_owned(acc);
        }
        Ok(())
    }

    /// The next chunk of `file`, in input order: a W3C chunk gets the
    /// columns of the last `#Fields:` line before it.
    fn new_chunk<'a>(&mut self, file: usize, data: &'a [u8]) -> Chunk<'a> {
        self.chunk_file.push(file as u32);
        let w3c = match self.format.format {
            LogFormat::W3c => {
                let at_start = self.w3c.clone();
                self.w3c = w3c::layout_after(data, at_start.clone());
                at_start
            }
            _ => None,
        };
        Chunk {
            id: (self.chunk_file.len() - 1) as u32,
            data,
            format: self.format.clone(),
            w3c,
        }
    }

    pub(super) fn mapped<S>(
        &mut self,
        file: usize,
        data: &[u8],
        range: Range<usize>,
        sink: &mut S,
    ) -> Result<(), EngineError>
    where
        S: Sink,
    {
        let base = range.start;
        if self.c.q.action == Action::Rows && base > 0 {
            sink.lines_skipped(file as u32, bytecount::count(&data[..base], b'\n') as u64);
        }
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
                + self
                    .global
                    .panels
                    .as_ref()
                    .map_or(0, |p| p.hosts.len() + p.paths.len() + p.agents.len() + p.referers.len())
                < SMALL_ANSWER;
            let ordered = matches!(self.c.q.action, Action::Lines | Action::Rows);
            let n = if at > 0 && !ordered && small_answer {
                ranges.len() - at
            } else {
                step.min(ranges.len() - at)
            };
            let chunks: Vec<Chunk<'_>> = ranges[at..at + n]
                .iter()
                .map(|r| self.new_chunk(file, &data[base + r.start..base + r.end]))
                .collect();
            self.batch(&chunks, sink)?;
            at += n;
        }
        Ok(())
    }

    pub(super) fn stream<S>(
        &mut self,
        file: usize,
        name: &str,
        reader: Box<dyn io::Read + Send>,
        gzip: bool,
        pick: &dyn Fn(&[u8]) -> Arc<NamedFormat>,
        sink: &mut S,
    ) -> Result<(u64, Option<InputError>), EngineError>
    where
        S: Sink,
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
                    if bytes == 0 {
                        // The format is chosen from the stream's first lines.
                        self.start_file(pick(&block));
                    }
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
                let chunks: Vec<Chunk<'_>> = pending.iter().map(|b| self.new_chunk(file, b)).collect();
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
    pub(super) fn locate(&self, names: &[String], b: &BadLine, base: &[u64]) -> Located {
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
pub(super) fn default_threads(opened: &[Result<Opened, InputError>]) -> usize {
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

