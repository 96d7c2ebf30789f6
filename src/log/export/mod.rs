//! `tplog export --parquet DIR`: every valid line as one row of a
//! Hive-partitioned Parquet table (`DIR/date=YYYY-MM-DD/part-NNNNN.parquet`,
//! the day in UTC), so Spark, DuckDB, DataFusion, Trino or ClickHouse run
//! the queries past one machine.
//!
//! The engine's [`Action::Rows`] hands each chunk's rows over in input
//! order; rows wait per partition (shared with their batch, not copied)
//! until a row group's worth is there, or until what waits outgrows the
//! memory budget, and the largest partition is written then. Files are
//! written under hidden temporary names (`.part-00000.parquet.PID.tmp`,
//! which engines skip) and renamed when the whole export has succeeded:
//! an export that fails or is interrupted leaves no file under a final
//! name.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;

use crate::log::chunk::InputSpec;
use crate::log::engine::rows::{escape_into, RowBatch, Str, STRS};
use crate::log::engine::{self, Action, EngineError, EngineOpts, Outcome, Query, Sink};
use crate::log::filter::Filter;
use crate::log::time::civil_from_days;

mod chunk;
pub mod leftovers;
mod numbers;
mod rle;
pub mod schema;
mod strings;
pub mod writer;

use schema::Codec;
use writer::{Background, BadOut, Held, Job, PartFile, Pending, SimpleFile};

/// A second partition level under `date=`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartitionBy {
    /// `host=NAME`: the server whose logs these are (one value per export;
    /// a fleet's servers then write side by side in one table).
    Host(String),
    /// `vhost=NAME`: each line's virtual host.
    Vhost,
}

/// How to export.
#[derive(Clone, Debug)]
pub struct ExportOpts {
    pub dir: PathBuf,
    pub partition_by: Option<PartitionBy>,
    pub overwrite: bool,
    /// Where to write the malformed lines' table.
    pub malformed: Option<PathBuf>,
    pub codec: Codec,
    /// Rows per row group (a partition's rows are written when this many wait).
    pub row_group_rows: usize,
    /// Bytes of rows waiting to be written, over all partitions, before the
    /// largest partition's are written.
    pub memory_budget: usize,
    /// Part files open at once (one per partition being written).
    pub max_open_files: usize,
    /// Make the first malformed line an error.
    pub strict: bool,
}

impl ExportOpts {
    pub fn new(dir: PathBuf) -> ExportOpts {
        ExportOpts {
            dir,
            partition_by: None,
            overwrite: false,
            malformed: None,
            codec: Codec::Zstd,
            row_group_rows: 128 * 1024,
            memory_budget: 64 << 20,
            max_open_files: 32,
            strict: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{}: the partition already exists (give --overwrite to replace its files)", .0.display())]
    Exists(PathBuf),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: writing Parquet: {source}", path.display())]
    Parquet {
        path: PathBuf,
        #[source]
        source: ParquetError,
    },
    #[error("{0}; nothing was exported")]
    Input(String),
    #[error("{file}:{line}: malformed line: {reason} (--strict); nothing was exported")]
    Strict {
        file: String,
        line: u64,
        reason: String,
    },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What was written.
#[derive(Debug)]
pub struct Summary {
    pub outcome: Outcome,
    pub rows: u64,
    /// Partition directories written, relative to the export's DIR.
    pub partitions: Vec<String>,
    pub files: usize,
    /// Bytes of the Parquet files written.
    pub bytes: u64,
    pub malformed_rows: u64,
    /// Temporary files of earlier, interrupted exports removed first.
    pub leftovers_removed: Vec<PathBuf>,
}

/// A partition: its directory relative to DIR (`date=2014-02-08`, `date=…/vhost=…`).
type Key = (i64, Option<Bytes>);

struct Partition {
    rel: String,
    pending: Pending,
    /// The open part file: its id for the writer thread, its index in `parts`.
    open: Option<(u64, usize)>,
    /// Part files written (temporary path, final path).
    parts: Vec<(PathBuf, PathBuf)>,
    last_used: u64,
}

struct Exporter<'a> {
    opts: &'a ExportOpts,
    names: Vec<Bytes>,
    next_line: HashMap<u32, u64>,
    parts: HashMap<Key, Partition>,
    pending_mem: usize,
    open_files: usize,
    next_id: u64,
    bg: Option<Background>,
    clock: u64,
    schema: Arc<parquet::schema::types::Type>,
    props: Arc<WriterProperties>,
    high_cardinality: Arc<[std::sync::atomic::AtomicBool]>,
    tmp_suffix: String,
    bad: Option<BadTable>,
    rows: u64,
    error: Option<ExportError>,
    leftovers_removed: Vec<PathBuf>,
}

struct BadTable {
    tmp: PathBuf,
    path: PathBuf,
    file: Option<SimpleFile>,
    rows: Vec<BadOut>,
    written: u64,
}

/// Memory of a row's fixed-size fields in a batch (its text comes on top).
const ROW_BYTES: usize = 8 + 2 + 2 + 16 + 4 + 16 + 8 + 8 * (STRS + 1) + 4;

/// Hive's escaping of a partition value (what Spark and Hive write).
fn hive_escape(v: &[u8]) -> String {
    if v.is_empty() {
        return "__HIVE_DEFAULT_PARTITION__".into();
    }
    let mut t = Vec::new();
    escape_into(&mut t, v);
    let s = String::from_utf8(t).expect("escaped text is UTF-8");
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || "\"#%'*/:=?\\\x7f{[]^".contains(c) {
            let mut b = [0; 4];
            for byte in c.encode_utf8(&mut b).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `date=YYYY-MM-DD` of a UTC day number.
fn day_dir(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("date={y:04}-{m:02}-{d:02}")
}

impl Exporter<'_> {
    fn fail(&mut self, e: ExportError) -> io::Error {
        let msg = e.to_string();
        self.error = Some(e);
        io::Error::other(msg)
    }

    fn key_rel(&self, key: &Key) -> String {
        let mut rel = day_dir(key.0);
        match &self.opts.partition_by {
            Some(PartitionBy::Host(h)) => {
                rel.push_str("/host=");
                rel.push_str(&hive_escape(h.as_bytes()));
            }
            Some(PartitionBy::Vhost) => {
                rel.push_str("/vhost=");
                rel.push_str(&hive_escape(key.1.as_deref().unwrap_or(b"")));
            }
            None => {}
        }
        rel
    }

    fn take(&mut self, b: RowBatch) -> Result<(), ExportError> {
        let first_line = *self.next_line.entry(b.file).or_insert(0);
        self.next_line.insert(b.file, first_line + b.lines);
        let name = self.names[b.file as usize].clone();
        self.take_bad(&b, &name, first_line)?;
        if b.is_empty() {
            return Ok(());
        }
        let n = b.len();
        let per_row = ROW_BYTES + b.text.len() / n;
        let by_vhost = self.opts.partition_by == Some(PartitionBy::Vhost);
        let mut b = b;
        let text = Bytes::from(std::mem::take(&mut b.text));
        let held = Arc::new(Held {
            b,
            text,
            file: name,
            first_line,
        });
        self.rows += n as u64;
        self.pending_mem += per_row * n;
        const DAY_US: i64 = 86_400_000_000;
        let mut last: Option<Key> = None;
        for i in 0..n {
            let vhost = if by_vhost {
                let s = held.b.strs[Str::Vhost as usize][i];
                (!s.is_null()).then(|| {
                    held.text
                        .slice(s.start as usize..(s.start + s.len) as usize)
                })
            } else {
                None
            };
            let key = (held.b.ts_us[i].div_euclid(DAY_US), vhost);
            if last.as_ref() != Some(&key) {
                if !self.parts.contains_key(&key) {
                    let rel = self.key_rel(&key);
                    self.check_new(&rel)?;
                    self.parts.insert(
                        key.clone(),
                        Partition {
                            rel,
                            pending: Pending::default(),
                            open: None,
                            parts: Vec::new(),
                            last_used: 0,
                        },
                    );
                }
                last = Some(key.clone());
            }
            let p = self.parts.get_mut(&key).expect("inserted above");
            p.pending.push(&held, i as u32, per_row);
        }
        // Full row groups, then the budget.
        let full: Vec<Key> = self
            .parts
            .iter()
            .filter(|(_, p)| p.pending.rows >= self.opts.row_group_rows)
            .map(|(k, _)| k.clone())
            .collect();
        for k in full {
            self.flush(&k)?;
        }
        while self.pending_mem > self.opts.memory_budget {
            let Some(k) = self
                .parts
                .iter()
                .filter(|(_, p)| p.pending.rows > 0)
                .max_by_key(|(_, p)| p.pending.mem)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.flush(&k)?;
        }
        Ok(())
    }

    /// A partition seen for the first time: refused when it exists.
    fn check_new(&self, rel: &str) -> Result<(), ExportError> {
        let dir = self.opts.dir.join(rel);
        match fs::symlink_metadata(&dir) {
            Ok(_) if !self.opts.overwrite => Err(ExportError::Exists(dir)),
            Ok(m) if !m.is_dir() => Err(ExportError::Io {
                path: dir,
                source: io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "exists and is not a directory",
                ),
            }),
            _ => fs::create_dir_all(&dir).map_err(io_err(&dir)),
        }
    }

    /// Writes a partition's waiting rows as a row group of its open file.
    fn flush(&mut self, k: &Key) -> Result<(), ExportError> {
        if self.parts[k].open.is_none() {
            if self.open_files >= self.opts.max_open_files {
                self.close_oldest()?;
            }
            let p = self.parts.get_mut(k).expect("a partition");
            let n = p.parts.len();
            let dir = self.opts.dir.join(&p.rel);
            let tmp = dir.join(format!(".part-{n:05}.parquet{}", self.tmp_suffix));
            let fin = dir.join(format!("part-{n:05}.parquet"));
            let f = File::create(&tmp).map_err(io_err(&tmp))?;
            p.parts.push((tmp, fin.clone()));
            let w =
                PartFile::create(
                f,
                self.schema.clone(),
                self.props.clone(),
                self.high_cardinality.clone(),
            ).map_err(|source| {
                    ExportError::Parquet {
                        path: fin.clone(),
                        source,
                    }
                })?;
            let id = self.next_id;
            self.next_id += 1;
            p.open = Some((id, n));
            self.open_files += 1;
            self.send(Job::Open(id, Box::new(w), fin))?;
        }
        self.clock += 1;
        let p = self.parts.get_mut(k).expect("a partition");
        p.last_used = self.clock;
        let pending = std::mem::take(&mut p.pending);
        let (id, _) = p.open.expect("opened above");
        self.pending_mem -= pending.mem;
        self.send(Job::Write(id, pending))
    }

    /// A job for the writer thread; when it has stopped, its error.
    fn send(&mut self, job: Job) -> Result<(), ExportError> {
        let bg = self
            .bg
            .as_mut()
            .expect("the writer thread runs until the end");
        if bg.send(job) {
            return Ok(());
        }
        self.join_writer()?;
        Err(ExportError::Io {
            path: self.opts.dir.clone(),
            source: io::Error::other("the Parquet writer stopped"),
        })
    }

    /// Waits for the writer thread's last jobs.
    fn join_writer(&mut self) -> Result<(), ExportError> {
        match self.bg.take() {
            Some(mut bg) => bg
                .join()
                .map_err(|(path, source)| parquet_err(path, source)),
            None => Ok(()),
        }
    }

    fn close_oldest(&mut self) -> Result<(), ExportError> {
        let Some(k) = self
            .parts
            .iter()
            .filter(|(_, p)| p.open.is_some())
            .min_by_key(|(_, p)| p.last_used)
            .map(|(k, _)| k.clone())
        else {
            return Ok(());
        };
        self.close(&k)
    }

    fn close(&mut self, k: &Key) -> Result<(), ExportError> {
        let p = self.parts.get_mut(k).expect("a partition");
        if let Some((id, _)) = p.open.take() {
            self.open_files -= 1;
            self.send(Job::Close(id))?;
        }
        Ok(())
    }

    fn take_bad(&mut self, b: &RowBatch, name: &Bytes, first_line: u64) -> Result<(), ExportError> {
        if let (true, Some(first)) = (self.opts.strict, b.bad.first()) {
            return Err(ExportError::Strict {
                file: String::from_utf8_lossy(name).into_owned(),
                line: first_line + first.index + 1,
                reason: first.error.to_string(),
            });
        }
        let Some(t) = self.bad.as_mut() else {
            return Ok(());
        };
        for bad in &b.bad {
            let mut text = Vec::new();
            escape_into(&mut text, &bad.excerpt);
            t.rows.push(BadOut {
                file: name.clone(),
                line: (first_line + bad.index + 1) as i64,
                reason: bad.error.reason.as_str().to_string(),
                col: bad.error.col as i32,
                excerpt: bad.excerpt.clone(),
                excerpt_text: text,
            });
        }
        if t.rows.len() >= 65536 {
            self.flush_bad()?;
        }
        Ok(())
    }

    fn flush_bad(&mut self) -> Result<(), ExportError> {
        let Some(t) = self.bad.as_mut() else {
            return Ok(());
        };
        if t.rows.is_empty() {
            return Ok(());
        }
        if t.file.is_none() {
            let f = File::create(&t.tmp).map_err(io_err(&t.tmp))?;
            t.file = Some(
                SimpleFile::create(f, schema::malformed(), self.props.clone())
                    .map_err(|source| parquet_err(t.path.clone(), source))?,
            );
        }
        let f = t.file.as_mut().expect("created above");
        f.write(&t.rows)
            .map_err(|source| parquet_err(t.path.clone(), source))?;
        t.written += t.rows.len() as u64;
        t.rows.clear();
        Ok(())
    }

    /// Every temporary file of this export (after a failure).
    fn temporaries(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self
            .parts
            .values()
            .flat_map(|p| p.parts.iter().map(|(t, _)| t.clone()))
            .collect();
        if let Some(t) = &self.bad {
            v.push(t.tmp.clone());
        }
        v
    }
}

fn parquet_err(path: PathBuf, source: ParquetError) -> ExportError {
    // A full disk or a failed write is an I/O error: say it as one.
    match source {
        ParquetError::External(e) => match e.downcast::<io::Error>() {
            Ok(io) => ExportError::Io { path, source: *io },
            Err(e) => ExportError::Parquet {
                path,
                source: ParquetError::External(e),
            },
        },
        source => ExportError::Parquet { path, source },
    }
}

impl Sink for &mut Exporter<'_> {
    fn line(&mut self, _line: &[u8]) -> io::Result<()> {
        Ok(())
    }

    fn lines_skipped(&mut self, file: u32, lines: u64) {
        *self.next_line.entry(file).or_insert(0) += lines;
    }

    fn rows(&mut self, batch: RowBatch) -> io::Result<()> {
        match self.take(batch) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail(e)),
        }
    }
}

/// Exports the lines of `inputs` that pass `filter`.
pub fn export(
    filter: &Filter,
    inputs: &[InputSpec],
    engine_opts: &EngineOpts,
    opts: &ExportOpts,
) -> Result<Summary, ExportError> {
    let dir = &opts.dir;
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut leftovers_removed = leftovers::sweep(dir);
    if let Some(m) = &opts.malformed {
        if m.is_dir() {
            leftovers_removed.extend(leftovers::sweep(m));
        }
    }
    // Fail early, before reading anything, when DIR cannot be written.
    let probe = dir.join(format!(".tplog-probe.{}.tmp", std::process::id()));
    File::create(&probe).map_err(io_err(dir))?;
    let _ = fs::remove_file(&probe);
    let bad = match &opts.malformed {
        Some(m) => {
            fs::create_dir_all(m).map_err(io_err(m))?;
            let path = m.join("part-00000.parquet");
            if path.exists() && !opts.overwrite {
                return Err(ExportError::Exists(path));
            }
            let tmp = m.join(format!(".part-00000.parquet.{}.tmp", std::process::id()));
            Some(BadTable {
                tmp,
                path,
                file: None,
                rows: Vec::new(),
                written: 0,
            })
        }
        None => None,
    };
    let mut ex = Exporter {
        opts,
        names: inputs.iter().map(|i| Bytes::from(i.to_string())).collect(),
        next_line: HashMap::new(),
        parts: HashMap::new(),
        pending_mem: 0,
        open_files: 0,
        next_id: 0,
        bg: Some(Background::start()),
        clock: 0,
        schema: schema::access(),
        props: schema::properties(opts.codec),
        high_cardinality: schema::COLUMNS
            .iter()
            .map(|_| std::sync::atomic::AtomicBool::new(false))
            .collect(),
        tmp_suffix: format!(".{}.tmp", std::process::id()),
        bad,
        rows: 0,
        error: None,
        leftovers_removed,
    };
    let query = Query {
        action: Action::Rows,
        filter: filter.clone(),
    };
    // Batches of 16 chunks: what waits in the engine stays small next to
    // the rows waiting per partition.
    let eopts = EngineOpts {
        batch_chunks: engine_opts.batch_chunks.min(16),
        ..engine_opts.clone()
    };
    let result = engine::run_sink(&query, inputs, &eopts, &mut ex);
    let finished = match result {
        Err(_) if ex.error.is_some() => Err(ex.error.take().expect("checked")),
        Err(e) => Err(e.into()),
        Ok(outcome) => finish(&mut ex).map(|()| outcome),
    };
    let outcome = match finished {
        Ok(o) => o,
        Err(e) => {
            // Close what is open (errors ignored: the files go) and remove
            // every temporary file.
            for p in ex.parts.values_mut() {
                p.open = None;
            }
            // The writer thread's files are closed when it ends.
            let _ = ex.join_writer();
            if let Some(t) = ex.bad.as_mut() {
                t.file = None;
            }
            for t in ex.temporaries() {
                let _ = fs::remove_file(t);
            }
            return Err(e);
        }
    };
    if let Some(e) = outcome.errors().next() {
        for t in ex.temporaries() {
            let _ = fs::remove_file(t);
        }
        return Err(ExportError::Input(e.to_string()));
    }
    commit(ex, outcome)
}

/// Writes what still waits and closes every file.
fn finish(ex: &mut Exporter<'_>) -> Result<(), ExportError> {
    let keys: Vec<Key> = ex.parts.keys().cloned().collect();
    for k in &keys {
        if ex.parts[k].pending.rows > 0 {
            ex.flush(k)?;
        }
        ex.close(k)?;
    }
    ex.join_writer()?;
    ex.flush_bad()?;
    if let Some(t) = ex.bad.as_mut() {
        if let Some(f) = t.file.take() {
            f.finish()
                .map_err(|source| parquet_err(t.path.clone(), source))?;
        } else {
            // No malformed line: an empty table still says so.
            let f = File::create(&t.tmp).map_err(io_err(&t.tmp))?;
            SimpleFile::create(f, schema::malformed(), ex.props.clone())
                .and_then(SimpleFile::finish)
                .map_err(|source| parquet_err(t.path.clone(), source))?;
        }
    }
    Ok(())
}

/// Renames the temporary files to their final names (after removing the
/// replaced partitions' `.parquet` files with --overwrite).
fn commit(ex: Exporter<'_>, outcome: Outcome) -> Result<Summary, ExportError> {
    let mut partitions: Vec<String> = Vec::new();
    let mut files = 0;
    let mut bytes = 0;
    for p in ex.parts.values() {
        if p.parts.is_empty() {
            continue;
        }
        let dir = ex.opts.dir.join(&p.rel);
        if ex.opts.overwrite {
            let ours: Vec<&PathBuf> = p.parts.iter().map(|(t, _)| t).collect();
            for e in fs::read_dir(&dir).map_err(io_err(&dir))? {
                let e = e.map_err(io_err(&dir))?;
                let path = e.path();
                let name = e.file_name();
                let name = name.to_string_lossy();
                if name.ends_with(".parquet") && !name.starts_with('.') && !ours.contains(&&path) {
                    fs::remove_file(&path).map_err(io_err(&path))?;
                }
            }
        }
        for (tmp, fin) in &p.parts {
            bytes += fs::metadata(tmp).map_err(io_err(tmp))?.len();
            fs::rename(tmp, fin).map_err(io_err(fin))?;
            files += 1;
        }
        partitions.push(p.rel.clone());
    }
    let mut malformed_rows = 0;
    if let Some(t) = &ex.bad {
        fs::rename(&t.tmp, &t.path).map_err(io_err(&t.path))?;
        malformed_rows = t.written;
    }
    partitions.sort();
    Ok(Summary {
        outcome,
        rows: ex.rows,
        partitions,
        files,
        bytes,
        malformed_rows,
        leftovers_removed: ex.leftovers_removed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names() {
        assert_eq!(day_dir(0), "date=1970-01-01");
        assert_eq!(day_dir(16109), "date=2014-02-08");
        assert_eq!(
            hive_escape(b"www.example.org:8080"),
            "www.example.org%3A8080"
        );
        assert_eq!(hive_escape(b""), "__HIVE_DEFAULT_PARTITION__");
        assert_eq!(hive_escape(b"a/b"), "a%2Fb");
    }
}
