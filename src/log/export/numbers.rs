//! Integer columns that repeat (status, offset, port, bytes, durations),
//! dictionary-encoded here like the strings ([`super::strings`]): an
//! open-addressing table keyed by the value, the previous row checked
//! first. Times and line numbers, which grow, stay DELTA_BINARY_PACKED by
//! the parquet crate's writer.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use parquet::basic::{Encoding, Type as Physical};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::ParquetError;
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnDescPtr;

use super::chunk::{self, Chunk, Plan, DICT_LIMIT, NULL, PAGE_ROWS};
use super::strings::key;

/// Distinct values in first-seen order and a table of (value, entry + 1).
struct Dict {
    key: u64,
    entries: Vec<i64>,
    slots: Vec<(i64, u32)>,
    shift: u32,
}

impl Dict {
    fn new() -> Dict {
        Dict {
            key: key(),
            entries: Vec::new(),
            slots: vec![(0, 0); 1024],
            shift: 64 - 10,
        }
    }

    #[inline]
    fn slot(&self, v: i64) -> usize {
        ((v as u64 ^ self.key).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// The value's index; None past `limit` entries.
    #[inline]
    fn intern(&mut self, v: i64, limit: usize) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut i = self.slot(v);
        loop {
            let (k, e) = self.slots[i];
            if e == 0 {
                break;
            }
            if k == v {
                return Some(e - 1);
            }
            i = (i + 1) & mask;
        }
        if self.entries.len() >= limit {
            return None;
        }
        let e = self.entries.len() as u32;
        self.entries.push(v);
        self.slots[i] = (v, e + 1);
        if self.entries.len() * 2 > self.slots.len() {
            self.slots = vec![(0, 0); self.slots.len() * 2];
            self.shift -= 1;
            let mask = self.slots.len() - 1;
            for (e, &v) in self.entries.iter().enumerate() {
                let mut i = self.slot(v);
                while self.slots[i].1 != 0 {
                    i = (i + 1) & mask;
                }
                self.slots[i] = (v, e as u32 + 1);
            }
        }
        Some(e)
    }
}

fn plain(out: &mut Vec<u8>, v: i64, wide: bool) {
    if wide {
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        out.extend_from_slice(&(v as i32).to_le_bytes());
    }
}

/// Writes one INT32 or INT64 column chunk; `values` yields each row's
/// value (None for null) and can be walked more than once.
pub fn encode<I, F>(
    desc: ColumnDescPtr,
    plan: &Plan<'_>,
    values: F,
) -> Result<(Bytes, ColumnCloseResult), ParquetError>
where
    F: Fn() -> I,
    I: Iterator<Item = Option<i64>>,
{
    let optional = desc.max_def_level() > 0;
    let wide = match desc.physical_type() {
        Physical::INT64 => true,
        Physical::INT32 => false,
        t => {
            return Err(ParquetError::General(format!(
                "{}: {t} is not an integer",
                desc.name()
            )))
        }
    };
    let limit = DICT_LIMIT / if wide { 8 } else { 4 };
    let mut dict = Dict::new();
    let mut idx: Vec<u32> = Vec::new();
    let mut nulls = 0u64;
    let (mut min, mut max) = (i64::MAX, i64::MIN);
    let mut use_dict = plan.dictionary && !plan.high_cardinality.load(Ordering::Relaxed);
    if use_dict {
        let mut prev: Option<(i64, u32)> = None;
        let full = values().try_for_each(|v| -> Result<(), ()> {
            let Some(v) = v else {
                idx.push(NULL);
                nulls += 1;
                return Ok(());
            };
            match prev {
                Some((p, i)) if p == v => idx.push(i),
                _ => {
                    let i = dict.intern(v, limit).ok_or(())?;
                    idx.push(i);
                    prev = Some((v, i));
                }
            }
            Ok(())
        });
        use_dict = plan.keep_dictionary(full.is_ok(), dict.entries.len());
    }

    let mut chunk = Chunk::new(plan.compression)?;
    let mut defs: Vec<u32> = Vec::with_capacity(PAGE_ROWS);
    if use_dict {
        let mut page = Vec::with_capacity(dict.entries.len() * 8);
        for &v in &dict.entries {
            plain(&mut page, v, wide);
            min = min.min(v);
            max = max.max(v);
        }
        chunk.dictionary(&page, dict.entries.len())?;
        chunk.index_pages(&idx, dict.entries.len(), optional)?;
    } else {
        drop(idx);
        nulls = 0;
        let mut body: Vec<u8> = Vec::new();
        let mut it = values().peekable();
        while it.peek().is_some() {
            defs.clear();
            body.clear();
            for v in it.by_ref().take(PAGE_ROWS) {
                match v {
                    Some(v) => {
                        defs.push(1);
                        plain(&mut body, v, wide);
                        min = min.min(v);
                        max = max.max(v);
                    }
                    None => {
                        defs.push(0);
                        nulls += 1;
                    }
                }
            }
            chunk.start_page(optional, &defs);
            chunk.body.extend_from_slice(&body);
            chunk.data_page(defs.len(), Encoding::PLAIN)?;
        }
    }
    if !optional && nulls > 0 {
        return Err(chunk::required(&desc, nulls));
    }
    let seen = min <= max;
    let stats = plan.statistics.then(|| {
        if wide {
            Statistics::int64(
                seen.then_some(min),
                seen.then_some(max),
                None,
                Some(nulls),
                false,
            )
        } else {
            Statistics::int32(
                seen.then_some(min as i32),
                seen.then_some(max as i32),
                None,
                Some(nulls),
                false,
            )
        }
    });
    chunk.finish(desc, stats, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::basic::Compression;
    use parquet::file::properties::WriterProperties;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::writer::SerializedFileWriter;
    use parquet::record::Field;
    use parquet::schema::parser::parse_message_type;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    fn round_trip(
        ty: &str,
        values: &[Option<i64>],
        high: &AtomicBool,
    ) -> (Vec<Option<i64>>, Vec<Encoding>, Option<Statistics>) {
        let schema =
            Arc::new(parse_message_type(&format!("message t {{ optional {ty} v; }}")).unwrap());
        let mut w = SerializedFileWriter::new(
            Vec::new(),
            schema,
            Arc::new(WriterProperties::builder().build()),
        )
        .unwrap();
        let desc = w.schema_descr().column(0);
        let mut rg = w.next_row_group().unwrap();
        let plan = Plan {
            compression: Compression::SNAPPY,
            dictionary: true,
            statistics: true,
            high_cardinality: high,
        };
        let (data, close) = encode(desc, &plan, || values.iter().copied()).unwrap();
        rg.append_column(&data, close).unwrap();
        rg.close().unwrap();
        let r = SerializedFileReader::new(Bytes::from(w.into_inner().unwrap())).unwrap();
        let chunk = r.metadata().row_group(0).column(0).clone();
        let back = r
            .get_row_iter(None)
            .unwrap()
            .map(
                |row| match row.unwrap().get_column_iter().next().unwrap().1 {
                    Field::Int(v) => Some(*v as i64),
                    Field::Long(v) => Some(*v),
                    Field::Null => None,
                    f => panic!("{f:?}"),
                },
            )
            .collect();
        (back, chunk.encodings().clone(), chunk.statistics().cloned())
    }

    #[test]
    fn statuses_and_sizes_read_back_with_their_bounds() {
        let statuses: Vec<Option<i64>> = (0..45_000)
            .map(|i| match i % 11 {
                0 => None,
                1 => Some(404),
                2 => Some(-1),
                _ => Some(200),
            })
            .collect();
        let high = AtomicBool::new(false);
        let (back, enc, stats) = round_trip("int32", &statuses, &high);
        assert_eq!(back, statuses);
        assert!(enc.contains(&Encoding::RLE_DICTIONARY));
        let Some(Statistics::Int32(s)) = stats else {
            panic!("{stats:?}")
        };
        assert_eq!((s.min_opt(), s.max_opt()), (Some(&-1), Some(&404)));
        assert_eq!(s.null_count_opt(), Some(45_000u64.div_ceil(11)));

        let sizes: Vec<Option<i64>> = (0..30_000).map(|i| Some(i64::MAX - i * 3)).collect();
        let (back, _, _) = round_trip("int64", &sizes, &high);
        assert_eq!(back, sizes);
    }

    #[test]
    fn too_many_distinct_integers_go_plain() {
        let values: Vec<Option<i64>> = (0..300_000).map(|i| Some(i * 7)).collect();
        let high = AtomicBool::new(false);
        let (back, enc, stats) = round_trip("int64", &values, &high);
        assert_eq!(back, values);
        assert!(!enc.contains(&Encoding::RLE_DICTIONARY), "{enc:?}");
        assert!(high.load(Ordering::Relaxed));
        let Some(Statistics::Int64(s)) = stats else {
            panic!("{stats:?}")
        };
        assert_eq!((s.min_opt(), s.max_opt()), (Some(&0), Some(&(299_999 * 7))));
    }
}
