//! A column chunk built page by page in memory: pages compressed with the
//! chunk's codec, framed by the parquet crate's page writer, and the
//! chunk's metadata and offset index made from what was written. The
//! string and integer encoders ([`super::strings`], [`super::numbers`])
//! decide what goes in the pages.

use std::sync::atomic::AtomicBool;

use bytes::Bytes;
use parquet::basic::{Compression, Encoding};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::ParquetError;
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::statistics::Statistics;
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::format::{OffsetIndex, PageLocation};
use parquet::schema::types::ColumnDescPtr;

use super::rle;

/// The largest dictionary (its PLAIN size) a chunk keeps: the parquet
/// crate's default dictionary page limit.
pub const DICT_LIMIT: usize = 1 << 20;
/// Rows per data page (the crate's default row limit).
pub const PAGE_ROWS: usize = 20_000;
/// Bytes of PLAIN values after which a page is cut early.
pub const PAGE_BYTES: usize = 1 << 20;

/// A null row in a chunk's dictionary indices.
pub const NULL: u32 = u32::MAX;

/// How a chunk is written, from the writer's properties.
pub struct Plan<'h> {
    pub compression: Compression,
    pub dictionary: bool,
    pub statistics: bool,
    /// Set once a chunk of this column overflowed its dictionary: later
    /// chunks go PLAIN at once.
    pub high_cardinality: &'h AtomicBool,
}

impl Plan<'_> {
    /// Whether a chunk keeps the dictionary its first pass built: not when
    /// the pass overflowed (then the column is remembered as
    /// high-cardinality), and not for a column of nulls only.
    pub fn keep_dictionary(&self, filled: bool, entries: usize) -> bool {
        if !filled {
            self.high_cardinality
                .store(true, std::sync::atomic::Ordering::Relaxed);
            return false;
        }
        entries > 0
    }
}

/// Compresses one page body with the chunk's codec.
struct Codec {
    compression: Compression,
    zstd: Option<zstd::bulk::Compressor<'static>>,
}

impl Codec {
    fn new(compression: Compression) -> Result<Codec, ParquetError> {
        let zstd = match compression {
            Compression::ZSTD(level) => Some(
                zstd::bulk::Compressor::new(level.compression_level())
                    .map_err(|e| ParquetError::External(Box::new(e)))?,
            ),
            Compression::UNCOMPRESSED | Compression::SNAPPY => None,
            other => return Err(ParquetError::NYI(format!("{other:?} pages"))),
        };
        Ok(Codec { compression, zstd })
    }

    fn compress(&mut self, body: &[u8]) -> Result<Bytes, ParquetError> {
        match self.compression {
            Compression::UNCOMPRESSED => Ok(Bytes::copy_from_slice(body)),
            Compression::SNAPPY => snap::raw::Encoder::new()
                .compress_vec(body)
                .map(Bytes::from)
                .map_err(|e| ParquetError::External(Box::new(e))),
            _ => {
                let z = self.zstd.as_mut().expect("a zstd context");
                z.compress(body)
                    .map(Bytes::from)
                    .map_err(|e| ParquetError::External(Box::new(e)))
            }
        }
    }
}

/// The pages of one chunk, as they are written.
pub struct Chunk {
    sink: TrackedWrite<Vec<u8>>,
    codec: Codec,
    compression: Compression,
    locations: Vec<PageLocation>,
    compressed: i64,
    uncompressed: i64,
    dict_offset: Option<i64>,
    data_offset: Option<i64>,
    rows: usize,
    encodings: Vec<Encoding>,
    /// Page bodies are built here (reused).
    pub body: Vec<u8>,
}

impl Chunk {
    pub fn new(compression: Compression) -> Result<Chunk, ParquetError> {
        Ok(Chunk {
            sink: TrackedWrite::new(Vec::new()),
            codec: Codec::new(compression)?,
            compression,
            locations: Vec::new(),
            compressed: 0,
            uncompressed: 0,
            dict_offset: None,
            data_offset: None,
            rows: 0,
            encodings: vec![Encoding::PLAIN, Encoding::RLE],
            body: Vec::new(),
        })
    }

    fn write(&mut self, page: Page, len: usize) -> Result<u64, ParquetError> {
        let spec =
            SerializedPageWriter::new(&mut self.sink).write_page(CompressedPage::new(page, len))?;
        let header = spec.bytes_written as usize - spec.compressed_size;
        self.compressed += spec.bytes_written as i64;
        self.uncompressed += (spec.uncompressed_size + header) as i64;
        Ok(spec.offset)
    }

    /// The PLAIN dictionary page (written before any data page).
    pub fn dictionary(&mut self, plain: &[u8], entries: usize) -> Result<(), ParquetError> {
        debug_assert!(self.data_offset.is_none());
        let buf = self.codec.compress(plain)?;
        let page = Page::DictionaryPage {
            buf,
            num_values: entries as u32,
            encoding: Encoding::PLAIN,
            is_sorted: false,
        };
        self.dict_offset = Some(self.write(page, plain.len())? as i64);
        self.encodings.push(Encoding::RLE_DICTIONARY);
        Ok(())
    }

    /// Starts a data page's body: the definition levels (a V1 page's
    /// 4-byte length, then RLE) when the column is optional.
    pub fn start_page(&mut self, optional: bool, defs: &[u32]) {
        self.body.clear();
        if optional {
            rle::with_length(&mut self.body, defs, 1);
        }
    }

    /// Writes the data page built in `body`, of `rows` rows.
    pub fn data_page(&mut self, rows: usize, encoding: Encoding) -> Result<(), ParquetError> {
        let body = std::mem::take(&mut self.body);
        let buf = self.codec.compress(&body)?;
        let page = Page::DataPage {
            buf,
            num_values: rows as u32,
            encoding,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        };
        let offset = self.write(page, body.len())?;
        self.body = body;
        self.data_offset.get_or_insert(offset as i64);
        let size = (self.compressed - offset as i64) as i32;
        self.locations
            .push(PageLocation::new(offset as i64, size, self.rows as i64));
        self.rows += rows;
        Ok(())
    }

    /// The RLE_DICTIONARY data pages of a chunk whose rows are `idx`
    /// (dictionary indices, [`NULL`] for a null), after its dictionary page
    /// of `entries` values.
    pub fn index_pages(
        &mut self,
        idx: &[u32],
        entries: usize,
        optional: bool,
    ) -> Result<(), ParquetError> {
        let width = rle::width(entries.saturating_sub(1) as u32).max(1);
        let mut defs: Vec<u32> = Vec::with_capacity(PAGE_ROWS);
        let mut vals: Vec<u32> = Vec::with_capacity(PAGE_ROWS);
        for page in idx.chunks(PAGE_ROWS) {
            defs.clear();
            vals.clear();
            for &i in page {
                defs.push((i != NULL) as u32);
                if i != NULL {
                    vals.push(i);
                }
            }
            self.start_page(optional, &defs);
            self.body.push(width as u8);
            rle::encode(&mut self.body, &vals, width);
            self.data_page(page.len(), Encoding::RLE_DICTIONARY)?;
        }
        Ok(())
    }

    /// The chunk's bytes and what the file writer needs to append it.
    pub fn finish(
        self,
        desc: ColumnDescPtr,
        statistics: Option<Statistics>,
        byte_array_bytes: Option<i64>,
    ) -> Result<(Bytes, ColumnCloseResult), ParquetError> {
        let mut meta = ColumnChunkMetaData::builder(desc)
            .set_compression(self.compression)
            .set_encodings(self.encodings)
            .set_total_compressed_size(self.compressed)
            .set_total_uncompressed_size(self.uncompressed)
            .set_num_values(self.rows as i64)
            .set_data_page_offset(self.data_offset.unwrap_or(0))
            .set_dictionary_page_offset(self.dict_offset)
            .set_unencoded_byte_array_data_bytes(byte_array_bytes);
        if let Some(s) = statistics {
            meta = meta.set_statistics(s);
        }
        let metadata = meta.build()?;
        let buf = self.sink.into_inner()?;
        Ok((
            Bytes::from(buf),
            ColumnCloseResult {
                bytes_written: self.compressed as u64,
                rows_written: self.rows as u64,
                metadata,
                bloom_filter: None,
                column_index: None,
                offset_index: Some(OffsetIndex::new(self.locations, None)),
            },
        ))
    }
}

/// The error for a null in a required column (a bug upstream, caught
/// before it makes a file no reader could read).
pub fn required(desc: &ColumnDescPtr, nulls: u64) -> ParquetError {
    ParquetError::General(format!(
        "{} is required but {nulls} row(s) have no value",
        desc.name()
    ))
}
