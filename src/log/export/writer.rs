//! Rows into Parquet row groups: each column chunk encoded on its own
//! worker into memory (the parquet crate's low-level column writer over an
//! in-memory page writer), then the chunks appended to the file in schema
//! order. A row group's rows stay in the batches they came in (shared,
//! nothing copied) until it is written.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use bytes::Bytes;
use parquet::column::writer::{get_column_writer, ColumnCloseResult, ColumnWriter};
use parquet::data_type::ByteArray;
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use parquet::schema::types::{ColumnDescPtr, SchemaDescriptor, Type};
use rayon::prelude::*;

use super::schema::{Col, COLUMNS};
use super::{chunk, numbers, strings};
use crate::log::engine::rows::{RowBatch, Span};

/// A chunk's rows, shared by the partitions its rows go to.
pub struct Held {
    /// The columns (their text moved into `text`).
    pub b: RowBatch,
    pub text: Bytes,
    /// The input's name, as the `file` column holds it.
    pub file: Bytes,
    /// Lines of the file before this chunk.
    pub first_line: u64,
}

/// Rows of a partition waiting to be written: which rows of which batches.
#[derive(Default)]
pub struct Pending {
    pub parts: Vec<(Arc<Held>, Vec<u32>)>,
    pub rows: usize,
    /// Roughly the memory these rows keep alive.
    pub mem: usize,
}

impl Pending {
    pub fn push(&mut self, held: &Arc<Held>, row: u32, mem: usize) {
        match self.parts.last_mut() {
            Some((h, v)) if Arc::ptr_eq(h, held) => v.push(row),
            _ => self.parts.push((held.clone(), vec![row])),
        }
        self.rows += 1;
        self.mem += mem;
    }

    fn iter(&self) -> impl Iterator<Item = (&Held, usize)> {
        self.parts
            .iter()
            .flat_map(|(h, v)| v.iter().map(move |&i| (&**h, i as usize)))
    }
}

/// Values written per `write_batch` call (bounds the temporary vectors).
const SLICE: usize = 8192;

/// One column chunk, encoded in memory: strings by [`strings`], numbers
/// by the parquet crate's column writer.
fn encode_column(
    desc: ColumnDescPtr,
    props: Arc<WriterProperties>,
    col: Col,
    rows: &Pending,
    high_cardinality: &AtomicBool,
) -> Result<(Bytes, ColumnCloseResult), ParquetError> {
    let path = desc.path();
    let plan = chunk::Plan {
        compression: props.compression(path),
        dictionary: props.dictionary_enabled(path),
        statistics: props.statistics_enabled(path) != EnabledStatistics::None,
        high_cardinality,
    };
    fn span(h: &Held, s: Span) -> Option<&[u8]> {
        (!s.is_null()).then(|| &h.text[s.start as usize..(s.start + s.len) as usize])
    }
    match col {
        Col::Str(s) => {
            return strings::encode(desc, &plan, || {
                rows.iter()
                    .map(move |(h, i)| span(h, h.b.strs[s as usize][i]))
            })
        }
        Col::Raw => {
            return strings::encode(desc, &plan, || {
                rows.iter().map(|(h, i)| span(h, h.b.raw[i]))
            })
        }
        Col::File => {
            return strings::encode(desc, &plan, || rows.iter().map(|(h, _)| Some(&h.file[..])))
        }
        Col::Status => {
            return numbers::encode(desc, &plan, || {
                rows.iter().map(|(h, i)| Some(h.b.status[i] as i64))
            })
        }
        Col::TzOffset => {
            return numbers::encode(desc, &plan, || {
                rows.iter().map(|(h, i)| Some(h.b.tz_offset_min[i] as i64))
            })
        }
        Col::Port => {
            return numbers::encode(desc, &plan, || {
                rows.iter().map(|(h, i)| h.b.port[i].map(i64::from))
            })
        }
        Col::Bytes => {
            return numbers::encode(desc, &plan, || {
                rows.iter()
                    .map(|(h, i)| h.b.bytes[i].map(|b| b.min(i64::MAX as u64) as i64))
            })
        }
        Col::Micros => {
            return numbers::encode(desc, &plan, || {
                rows.iter()
                    .map(|(h, i)| h.b.micros[i].map(|b| b.min(i64::MAX as u64) as i64))
            })
        }
        Col::Ts | Col::Line => {}
    }
    let mut sink = TrackedWrite::new(Vec::new());
    let optional = desc.max_def_level() > 0;
    let result = {
        let pages = SerializedPageWriter::new(&mut sink);
        let mut w = get_column_writer(desc, props, Box::new(pages));
        let mut defs: Vec<i16> = Vec::with_capacity(SLICE);
        macro_rules! write_all {
            ($writer:ident, $ty:ty, |$h:ident, $r:ident| $value:expr) => {{
                let ColumnWriter::$writer(ref mut typed) = w else {
                    unreachable!("the schema's type for {:?}", col)
                };
                let mut vals: Vec<$ty> = Vec::with_capacity(SLICE);
                let mut it = rows.iter().peekable();
                while it.peek().is_some() {
                    vals.clear();
                    defs.clear();
                    for ($h, $r) in it.by_ref().take(SLICE) {
                        let v: Option<$ty> = $value;
                        match v {
                            Some(v) => {
                                vals.push(v);
                                defs.push(1);
                            }
                            None => defs.push(0),
                        }
                    }
                    typed.write_batch(
                        &vals,
                        if optional { Some(&defs[..]) } else { None },
                        None,
                    )?;
                }
            }};
        }
        match col {
            Col::Ts => write_all!(Int64ColumnWriter, i64, |h, i| Some(h.b.ts_us[i])),
            Col::Line => write_all!(Int64ColumnWriter, i64, |h, i| Some(
                (h.first_line + h.b.index[i] + 1) as i64
            )),
            _ => unreachable!("encoded above"),
        }
        w.close()?
    };
    let buf = sink.into_inner()?;
    Ok((Bytes::from(buf), result))
}

/// A Parquet file being written (under its temporary name).
pub struct PartFile {
    w: SerializedFileWriter<BufWriter<File>>,
    schema: Arc<SchemaDescriptor>,
    props: Arc<WriterProperties>,
    /// Per column: its dictionary overflowed once (shared by the export's files).
    high_cardinality: Arc<[AtomicBool]>,
    pub rows: u64,
}

impl PartFile {
    pub fn create(
        file: File,
        schema: Arc<Type>,
        props: Arc<WriterProperties>,
        high_cardinality: Arc<[AtomicBool]>,
    ) -> Result<PartFile, ParquetError> {
        let descr = Arc::new(SchemaDescriptor::new(schema.clone()));
        let w = SerializedFileWriter::new(
            BufWriter::with_capacity(1 << 20, file),
            schema,
            props.clone(),
        )?;
        Ok(PartFile {
            w,
            schema: descr,
            props,
            high_cardinality,
            rows: 0,
        })
    }

    /// Writes the pending rows as one row group, its columns encoded in
    /// parallel on the current rayon pool.
    pub fn write_row_group(&mut self, rows: &Pending) -> Result<(), ParquetError> {
        if rows.rows == 0 {
            return Ok(());
        }
        let chunks: Vec<Result<(Bytes, ColumnCloseResult), ParquetError>> = COLUMNS
            .par_iter()
            .enumerate()
            .map(|(i, &(_, col))| {
                encode_column(
                    self.schema.column(i),
                    self.props.clone(),
                    col,
                    rows,
                    &self.high_cardinality[i],
                )
            })
            .collect();
        let mut rg = self.w.next_row_group()?;
        for c in chunks {
            let (data, close) = c?;
            rg.append_column(&data, close)?;
        }
        rg.close()?;
        self.rows += rows.rows as u64;
        Ok(())
    }

    /// Writes the footer, flushes and syncs the file.
    pub fn finish(self) -> Result<(), ParquetError> {
        let buf = self.w.into_inner()?;
        let file = buf
            .into_inner()
            .map_err(|e| ParquetError::External(Box::new(e.into_error())))?;
        file.sync_all()?;
        Ok(())
    }
}

/// A small file written row group by row group without parallel columns:
/// the malformed lines.
pub struct SimpleFile {
    w: SerializedFileWriter<BufWriter<File>>,
}

/// One malformed line as the table holds it.
pub struct BadOut {
    pub file: Bytes,
    pub line: i64,
    pub reason: String,
    pub col: i32,
    pub excerpt: Vec<u8>,
    pub excerpt_text: Vec<u8>,
}

impl SimpleFile {
    pub fn create(
        file: File,
        schema: Arc<Type>,
        props: Arc<WriterProperties>,
    ) -> Result<SimpleFile, ParquetError> {
        Ok(SimpleFile {
            w: SerializedFileWriter::new(BufWriter::new(file), schema, props)?,
        })
    }

    pub fn write(&mut self, bad: &[BadOut]) -> Result<(), ParquetError> {
        if bad.is_empty() {
            return Ok(());
        }
        let mut rg = self.w.next_row_group()?;
        let mut i = 0;
        while let Some(mut c) = rg.next_column()? {
            match c.untyped() {
                ColumnWriter::Int64ColumnWriter(w) => {
                    let v: Vec<i64> = bad.iter().map(|b| b.line).collect();
                    w.write_batch(&v, None, None)?;
                }
                ColumnWriter::Int32ColumnWriter(w) => {
                    let v: Vec<i32> = bad.iter().map(|b| b.col).collect();
                    w.write_batch(&v, None, None)?;
                }
                ColumnWriter::ByteArrayColumnWriter(w) => {
                    let v: Vec<ByteArray> = bad
                        .iter()
                        .map(|b| match i {
                            0 => ByteArray::from(b.file.clone()),
                            2 => ByteArray::from(b.reason.as_bytes().to_vec()),
                            4 => ByteArray::from(b.excerpt.clone()),
                            _ => ByteArray::from(b.excerpt_text.clone()),
                        })
                        .collect();
                    w.write_batch(&v, None, None)?;
                }
                _ => unreachable!("the malformed schema's types"),
            }
            c.close()?;
            i += 1;
        }
        rg.close()?;
        Ok(())
    }

    pub fn finish(self) -> Result<(), ParquetError> {
        let mut buf = self.w.into_inner()?;
        buf.flush()?;
        let file = buf
            .into_inner()
            .map_err(|e| ParquetError::External(Box::new(e.into_error())))?;
        file.sync_all()?;
        Ok(())
    }
}

/// What the writer thread is asked to do.
pub enum Job {
    /// A new part file, known by `id`; `path` (its final name) names it in errors.
    Open(u64, Box<PartFile>, std::path::PathBuf),
    Write(u64, Pending),
    Close(u64),
}

/// Row groups are encoded on a thread of their own (its columns in
/// parallel on rayon's global pool) while the engine scans the next
/// batch: the two overlap instead of waiting for each other. The channel
/// is a rendezvous: a row group is handed over only when the thread is
/// free, so at most one is being encoded besides those still waiting in
/// their partitions (a queue of one more had the 1 GB export's peak at
/// 236 MiB, 140 MiB without the thread).
pub struct Background {
    tx: Option<std::sync::mpsc::SyncSender<Job>>,
    handle: Option<std::thread::JoinHandle<Result<(), (std::path::PathBuf, ParquetError)>>>,
}

impl Background {
    pub fn start() -> Background {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(0);
        let handle = std::thread::Builder::new()
            .name("tplog-parquet".into())
            .spawn(move || {
                let mut files: std::collections::HashMap<u64, (Box<PartFile>, std::path::PathBuf)> =
                    std::collections::HashMap::new();
                for job in rx {
                    match job {
                        Job::Open(id, f, path) => {
                            files.insert(id, (f, path));
                        }
                        Job::Write(id, rows) => {
                            let (f, path) = files.get_mut(&id).expect("opened before written");
                            f.write_row_group(&rows).map_err(|e| (path.clone(), e))?;
                        }
                        Job::Close(id) => {
                            let (f, path) = files.remove(&id).expect("opened before closed");
                            f.finish().map_err(|e| (path, e))?;
                        }
                    }
                }
                Ok(())
            })
            .expect("a thread can be started");
        Background {
            tx: Some(tx),
            handle: Some(handle),
        }
    }

    /// Hands a job over; false when the thread stopped (then [`Self::join`] says why).
    pub fn send(&self, job: Job) -> bool {
        self.tx.as_ref().expect("not joined").send(job).is_ok()
    }

    /// Waits for every job to be done; the first error, with the file's path.
    pub fn join(&mut self) -> Result<(), (std::path::PathBuf, ParquetError)> {
        self.tx = None;
        match self.handle.take() {
            Some(h) => h.join().unwrap_or_else(|_| {
                Err((
                    std::path::PathBuf::from("(writer thread)"),
                    ParquetError::General("the writer thread panicked".into()),
                ))
            }),
            None => Ok(()),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.join();
    }
}
