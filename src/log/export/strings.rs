//! String columns, encoded here rather than by the parquet crate's column
//! writer: that writer hashes every value through its generic interner and
//! wraps each in a reference-counted `ByteArray`, which was a third of the
//! export's time. Here a column chunk is read straight from the rows'
//! spans: one pass looks each value up in a dictionary whose entries are
//! copied into what becomes the dictionary page (a keyed multiply-fold
//! hash; the previous row's value checked first where that pays), then
//! [`Chunk`] builds the pages (PLAIN dictionary page, RLE_DICTIONARY data
//! pages with RLE/bit-packed definition levels, as the crate writes them).
//!
//! A chunk whose dictionary outgrows [`DICT_LIMIT`] is written PLAIN
//! instead, and the column is remembered as high-cardinality: later row
//! groups go PLAIN at once, without hashing.

use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use bytes::Bytes;
use parquet::basic::Encoding;
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::errors::ParquetError;
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnDescPtr;

use super::chunk::{self, Chunk, Plan, DICT_LIMIT, NULL, PAGE_BYTES, PAGE_ROWS};

/// A process-wide random key, so that crafted log lines cannot aim at
/// one hash slot.
pub(super) fn key() -> u64 {
    static KEY: OnceLock<u64> = OnceLock::new();
    *KEY.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x7470_6c6f_6700);
        h.finish() | 1
    })
}

#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let m = (a as u128).wrapping_mul(b as u128);
    (m as u64) ^ ((m >> 64) as u64)
}

/// A keyed hash of a value, eight bytes at a time.
#[inline]
fn hash(key: u64, v: &[u8]) -> u64 {
    const P: u64 = 0x9E37_79B9_7F4A_7C15;
    const Q: u64 = 0xC2B2_AE3D_27D4_EB4F;
    let word = |w: &[u8]| u64::from_le_bytes(w.try_into().expect("8 bytes"));
    let mut a = fold(key ^ v.len() as u64, P);
    // Two independent lanes over 16-byte blocks: long values (agents,
    // referers) do not wait on one chain of multiplies.
    let mut b = key.rotate_left(32) ^ Q;
    let mut blocks = v.chunks_exact(16);
    for blk in &mut blocks {
        a = fold(a ^ word(&blk[..8]), P ^ key);
        b = fold(b ^ word(&blk[8..]), Q ^ key);
    }
    let rest = blocks.remainder();
    // The tail read as whole words, overlapping what came before, never
    // through a byte copy (a copied tail stalled on store forwarding).
    let n = v.len();
    let tail = if rest.len() > 8 {
        a = fold(a ^ word(&rest[..8]), P ^ key);
        word(&v[n - 8..])
    } else if n >= 8 {
        if rest.is_empty() {
            0
        } else {
            word(&v[n - 8..])
        }
    } else if n >= 4 {
        let w4 = |at: usize| u32::from_le_bytes(v[at..at + 4].try_into().expect("4 bytes")) as u64;
        w4(0) | w4(n - 4) << 32
    } else if n > 0 {
        v[0] as u64 | (v[n / 2] as u64) << 8 | (v[n - 1] as u64) << 16
    } else {
        0
    };
    b = fold(b ^ tail, Q ^ key);
    fold(a ^ b.rotate_left(23), P)
}

/// Byte equality without a call into libc for the short values most
/// columns hold (a method, `-`, `HTTP/1.1`), and without reading at all
/// when both are the same bytes (the `file` column).
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if a.as_ptr() == b.as_ptr() {
        return true;
    }
    let w8 = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"));
    let w4 = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().expect("4 bytes"));
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => w4(a, 0) == w4(b, 0) && w4(a, n - 4) == w4(b, n - 4),
        8..=16 => w8(a, 0) == w8(b, 0) && w8(a, n - 8) == w8(b, n - 8),
        _ => a == b,
    }
}

/// Distinct values in first-seen order, copied into one arena that is
/// already the PLAIN dictionary page (4-byte length, bytes), and an
/// open-addressing table of (high hash bits, entry + 1). A lookup compares
/// against the arena, which stays in cache, not against the row that
/// first had the value, which may be anywhere in the rows held.
struct Dict {
    key: u64,
    /// (offset of the bytes in `arena`, length) per entry.
    entries: Vec<(u32, u32)>,
    arena: Vec<u8>,
    slots: Vec<u64>,
}

impl Dict {
    fn new() -> Dict {
        Dict {
            key: key(),
            entries: Vec::new(),
            arena: Vec::new(),
            slots: vec![0; 1024],
        }
    }

    fn get(&self, e: usize) -> &[u8] {
        let (at, len) = self.entries[e];
        &self.arena[at as usize..(at + len) as usize]
    }

    /// The value's index; None once the dictionary is over [`DICT_LIMIT`].
    #[inline]
    fn intern(&mut self, v: &[u8]) -> Option<u32> {
        const TAG: u64 = 0xFFFF_FFFF_0000_0000;
        let h = hash(self.key, v);
        let mask = self.slots.len() - 1;
        let mut i = (h as usize) & mask;
        loop {
            let s = self.slots[i];
            if s == 0 {
                break;
            }
            if s & TAG == h & TAG {
                let e = (s as u32 - 1) as usize;
                let (at, len) = self.entries[e];
                if len as usize == v.len()
                    && same(&self.arena[at as usize..at as usize + v.len()], v)
                {
                    return Some(e as u32);
                }
            }
            i = (i + 1) & mask;
        }
        if self.arena.len() + 4 + v.len() > DICT_LIMIT {
            return None;
        }
        let e = self.entries.len() as u32;
        self.arena
            .extend_from_slice(&(v.len() as u32).to_le_bytes());
        self.entries.push((self.arena.len() as u32, v.len() as u32));
        self.arena.extend_from_slice(v);
        self.slots[i] = (h & TAG) | (e as u64 + 1);
        if self.entries.len() * 2 > self.slots.len() {
            self.grow();
        }
        Some(e)
    }

    fn grow(&mut self) {
        let mut slots = vec![0u64; self.slots.len() * 2];
        let mask = slots.len() - 1;
        for e in 0..self.entries.len() {
            let h = hash(self.key, self.get(e));
            let mut i = (h as usize) & mask;
            while slots[i] != 0 {
                i = (i + 1) & mask;
            }
            slots[i] = (h & 0xFFFF_FFFF_0000_0000) | (e as u64 + 1);
        }
        self.slots = slots;
    }
}

/// Min and max of the values seen (unsigned byte order, as Parquet orders
/// strings).
#[derive(Default)]
struct MinMax<'a> {
    min: Option<&'a [u8]>,
    max: Option<&'a [u8]>,
}

impl<'a> MinMax<'a> {
    #[inline]
    fn see(&mut self, v: &'a [u8]) {
        if self.min.is_none_or(|m| v < m) {
            self.min = Some(v);
        }
        if self.max.is_none_or(|m| v > m) {
            self.max = Some(v);
        }
    }
}

/// Writes one string column chunk; `values` yields each row's value in
/// row order (None for null) and can be walked more than once.
pub fn encode<'a, I, F>(
    desc: ColumnDescPtr,
    plan: &Plan<'_>,
    values: F,
) -> Result<(Bytes, ColumnCloseResult), ParquetError>
where
    F: Fn() -> I,
    I: Iterator<Item = Option<&'a [u8]>>,
{
    let optional = desc.max_def_level() > 0;
    // Pass 1: dictionary indices, unless the column is known to be too varied.
    let mut dict = Dict::new();
    let mut idx: Vec<u32> = Vec::new();
    let mut nulls = 0u64;
    let mut raw_bytes = 0i64;
    let mut use_dict = plan.dictionary && !plan.high_cardinality.load(Ordering::Relaxed);
    if use_dict {
        let mut prev: Option<(&[u8], u32)> = None;
        let (mut tries, mut hits) = (0u32, 0u32);
        // Internal iteration (try_for_each): the rows' nested iterator
        // folds faster than it steps.
        let full = values().try_for_each(|v| {
            let Some(v) = v else {
                idx.push(NULL);
                nulls += 1;
                return Ok(());
            };
            raw_bytes += v.len() as i64;
            // The previous row's value, where the column repeats often
            // enough (method, protocol, file) for the compare to pay.
            if tries < 1024 || hits * 2 >= tries {
                if let Some((p, i)) = prev {
                    tries += 1;
                    if same(p, v) {
                        hits += 1;
                        idx.push(i);
                        return Ok(());
                    }
                }
            }
            match dict.intern(v) {
                Some(i) => {
                    idx.push(i);
                    prev = Some((v, i));
                    Ok(())
                }
                None => Err(()),
            }
        });
        use_dict = plan.keep_dictionary(full.is_ok(), dict.entries.len());
    }

    let mut chunk = Chunk::new(plan.compression)?;
    let mut minmax = MinMax::default();
    let mut defs: Vec<u32> = Vec::with_capacity(PAGE_ROWS);
    if use_dict {
        if plan.statistics {
            for e in 0..dict.entries.len() {
                minmax.see(dict.get(e));
            }
        }
        chunk.dictionary(&dict.arena, dict.entries.len())?;
        chunk.index_pages(&idx, dict.entries.len(), optional)?;
    } else {
        // PLAIN pages, straight from the rows.
        drop(idx);
        nulls = 0;
        raw_bytes = 0;
        let mut plain: Vec<u8> = Vec::new();
        let mut it = values().peekable();
        while it.peek().is_some() {
            defs.clear();
            plain.clear();
            for v in it.by_ref() {
                match v {
                    Some(v) => {
                        defs.push(1);
                        plain.extend_from_slice(&(v.len() as u32).to_le_bytes());
                        plain.extend_from_slice(v);
                        raw_bytes += v.len() as i64;
                        if plan.statistics {
                            minmax.see(v);
                        }
                    }
                    None => {
                        defs.push(0);
                        nulls += 1;
                    }
                }
                if defs.len() >= PAGE_ROWS || plain.len() >= PAGE_BYTES {
                    break;
                }
            }
            chunk.start_page(optional, &defs);
            chunk.body.extend_from_slice(&plain);
            chunk.data_page(defs.len(), Encoding::PLAIN)?;
        }
    }
    if !optional && nulls > 0 {
        return Err(chunk::required(&desc, nulls));
    }
    let stats = plan.statistics.then(|| {
        Statistics::byte_array(
            minmax.min.map(|m| ByteArray::from(m.to_vec())),
            minmax.max.map(|m| ByteArray::from(m.to_vec())),
            None,
            Some(nulls),
            false,
        )
    });
    chunk.finish(desc, stats, Some(raw_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::writer::SerializedFileWriter;
    use parquet::record::Field;
    use parquet::schema::parser::parse_message_type;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    /// Writes `values` as the one column of a file, with the chunk
    /// encoded here, and reads them back with the parquet crate's reader.
    fn round_trip(
        values: &[Option<Vec<u8>>],
        optional: bool,
        compression: Compression,
        high: &AtomicBool,
    ) -> (Vec<Option<Vec<u8>>>, Vec<Encoding>, Option<Statistics>) {
        let schema = Arc::new(
            parse_message_type(&format!(
                "message t {{ {} binary v; }}",
                if optional { "optional" } else { "required" }
            ))
            .unwrap(),
        );
        let props = Arc::new(WriterProperties::builder().build());
        let mut w = SerializedFileWriter::new(Vec::new(), schema, props).unwrap();
        let desc = rg_desc(&w);
        let mut rg = w.next_row_group().unwrap();
        let plan = Plan {
            compression,
            dictionary: true,
            statistics: true,
            high_cardinality: high,
        };
        let (data, close) = encode(desc, &plan, || values.iter().map(|v| v.as_deref())).unwrap();
        rg.append_column(&data, close).unwrap();
        rg.close().unwrap();
        let file = Bytes::from(w.into_inner().unwrap());
        let r = SerializedFileReader::new(file).unwrap();
        let chunk = r.metadata().row_group(0).column(0).clone();
        let back = r
            .get_row_iter(None)
            .unwrap()
            .map(
                |row| match row.unwrap().get_column_iter().next().unwrap().1 {
                    Field::Bytes(b) => Some(b.data().to_vec()),
                    Field::Null => None,
                    f => panic!("{f:?}"),
                },
            )
            .collect();
        (back, chunk.encodings().clone(), chunk.statistics().cloned())
    }

    fn rg_desc(w: &SerializedFileWriter<Vec<u8>>) -> ColumnDescPtr {
        w.schema_descr().column(0)
    }

    #[test]
    fn pages_of_nulls_repeats_and_long_values_read_back() {
        // Over three pages; runs, nulls, empty strings, a long value.
        let values: Vec<Option<Vec<u8>>> = (0..50_000u32)
            .map(|i| match i % 7 {
                0 => None,
                1 | 2 => Some(b"GET".to_vec()),
                3 => Some(Vec::new()),
                4 => Some(vec![b'x'; 300 + (i % 5) as usize]),
                _ => Some(format!("/page/{}", i % 40).into_bytes()),
            })
            .collect();
        for compression in [
            Compression::UNCOMPRESSED,
            Compression::SNAPPY,
            Compression::ZSTD(ZstdLevel::try_new(1).unwrap()),
        ] {
            let high = AtomicBool::new(false);
            let (back, enc, stats) = round_trip(&values, true, compression, &high);
            assert_eq!(back, values, "{compression:?}");
            assert!(enc.contains(&Encoding::RLE_DICTIONARY), "{enc:?}");
            assert!(!high.load(Ordering::Relaxed));
            let Some(Statistics::ByteArray(s)) = stats else {
                panic!("{stats:?}")
            };
            assert_eq!(s.min_opt().unwrap().data(), b"");
            assert_eq!(s.max_opt().unwrap().data(), vec![b'x'; 304]);
            assert_eq!(s.null_count_opt(), Some(50_000u64.div_ceil(7)));
        }
    }

    #[test]
    fn a_dictionary_past_the_limit_goes_plain_and_is_remembered() {
        let values: Vec<Option<Vec<u8>>> = (0..60_000u32)
            .map(|i| Some(format!("/distinct/{i:08}/{}", "y".repeat(20)).into_bytes()))
            .collect();
        let high = AtomicBool::new(false);
        let (back, enc, _) = round_trip(&values, false, Compression::SNAPPY, &high);
        assert_eq!(back, values);
        assert!(!enc.contains(&Encoding::RLE_DICTIONARY), "{enc:?}");
        assert!(high.load(Ordering::Relaxed));
        // The next chunk of that column goes PLAIN at once, even if small.
        let few: Vec<Option<Vec<u8>>> = vec![Some(b"a".to_vec()); 10];
        let (back, enc, _) = round_trip(&few, false, Compression::UNCOMPRESSED, &high);
        assert_eq!(back, few);
        assert!(!enc.contains(&Encoding::RLE_DICTIONARY), "{enc:?}");
    }

    #[test]
    fn all_nulls_and_a_required_null() {
        let values: Vec<Option<Vec<u8>>> = vec![None; 25_000];
        let high = AtomicBool::new(false);
        let (back, _, _) = round_trip(&values, true, Compression::UNCOMPRESSED, &high);
        assert_eq!(back, values);
        let schema = Arc::new(parse_message_type("message t { required binary v; }").unwrap());
        let w = SerializedFileWriter::new(
            Vec::new(),
            schema,
            Arc::new(WriterProperties::builder().build()),
        )
        .unwrap();
        let plan = Plan {
            compression: Compression::UNCOMPRESSED,
            dictionary: true,
            statistics: false,
            high_cardinality: &high,
        };
        let err = encode(rg_desc(&w), &plan, || [Some(&b"a"[..]), None].into_iter()).unwrap_err();
        assert!(err.to_string().contains("required"), "{err}");
    }

    #[test]
    fn every_byte_of_a_value_changes_its_hash() {
        let k = key();
        for n in 0..70usize {
            let base: Vec<u8> = (0..n as u8).map(|b| b.wrapping_mul(31)).collect();
            let h = hash(k, &base);
            for at in 0..n {
                let mut other = base.clone();
                other[at] ^= 0x20;
                assert_ne!(hash(k, &other), h, "length {n}, byte {at}");
            }
            let mut longer = base.clone();
            longer.push(0);
            assert_ne!(hash(k, &longer), h, "length {n} against a trailing NUL");
        }
    }

    #[test]
    fn short_compares_agree_with_slices() {
        let words: Vec<&[u8]> = vec![
            b"",
            b"a",
            b"b",
            b"ab",
            b"ba",
            b"abc",
            b"abd",
            b"GET",
            b"HEAD",
            b"POST",
            b"HTTP/1.1",
            b"HTTP/1.0",
            b"HTTP/2.0",
            b"0123456789abcdef",
            b"0123456789abcdeg",
            b"1123456789abcdef",
            b"0123456789abcdef0",
            b"0123456789abcdef1",
        ];
        for a in &words {
            for b in &words {
                assert_eq!(same(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }
}
