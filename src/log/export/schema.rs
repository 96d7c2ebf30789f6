//! The export's two Parquet schemas: one row per valid line, one row per
//! malformed line. README.md's "Parquet export" section documents them;
//! tests/tplog_export.rs checks them as Spark and DuckDB read them.

use std::sync::Arc;

use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::{ColumnPath, Type};

use crate::log::engine::rows::Str;

/// Where a column's values come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Col {
    Ts,
    TzOffset,
    Str(Str),
    Status,
    Bytes,
    Port,
    Micros,
    File,
    Line,
    Raw,
}

/// The columns of an access-log row, in file order.
pub const COLUMNS: &[(&str, Col)] = &[
    ("ts", Col::Ts),
    ("tz_offset_min", Col::TzOffset),
    ("client", Col::Str(Str::Client)),
    ("ident", Col::Str(Str::Ident)),
    ("user", Col::Str(Str::User)),
    ("method", Col::Str(Str::Method)),
    ("path", Col::Str(Str::Path)),
    ("target", Col::Str(Str::Target)),
    ("query", Col::Str(Str::Query)),
    ("protocol", Col::Str(Str::Protocol)),
    ("status", Col::Status),
    ("bytes", Col::Bytes),
    ("referer", Col::Str(Str::Referer)),
    ("agent", Col::Str(Str::Agent)),
    ("vhost", Col::Str(Str::Vhost)),
    ("port", Col::Port),
    ("request_time_us", Col::Micros),
    ("tls_protocol", Col::Str(Str::TlsProtocol)),
    ("file", Col::File),
    ("line", Col::Line),
    ("raw", Col::Raw),
];

/// The access-log table, as Parquet's schema language writes it.
pub const ACCESS_SCHEMA: &str = "
message tplog_access {
  required int64 ts (TIMESTAMP(MICROS,true));
  required int32 tz_offset_min (INTEGER(16,true));
  required binary client (STRING);
  required binary ident (STRING);
  required binary user (STRING);
  optional binary method (STRING);
  optional binary path (STRING);
  optional binary target (STRING);
  optional binary query (STRING);
  optional binary protocol (STRING);
  required int32 status (INTEGER(16,true));
  optional int64 bytes;
  optional binary referer (STRING);
  optional binary agent (STRING);
  optional binary vhost (STRING);
  optional int32 port;
  optional int64 request_time_us;
  optional binary tls_protocol (STRING);
  required binary file (STRING);
  required int64 line;
  optional binary raw;
}";

/// The malformed-lines table (`--malformed DIR`).
pub const MALFORMED_SCHEMA: &str = "
message tplog_malformed {
  required binary file (STRING);
  required int64 line;
  required binary reason (STRING);
  required int32 col;
  required binary excerpt;
  required binary excerpt_text (STRING);
}";

pub fn access() -> Arc<Type> {
    Arc::new(parse_message_type(ACCESS_SCHEMA).expect("the access schema parses"))
}

pub fn malformed() -> Arc<Type> {
    Arc::new(parse_message_type(MALFORMED_SCHEMA).expect("the malformed schema parses"))
}

/// The codec of the data pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Zstd,
    Snappy,
    None,
}

impl std::str::FromStr for Codec {
    type Err = String;
    fn from_str(s: &str) -> Result<Codec, String> {
        match s {
            "zstd" => Ok(Codec::Zstd),
            "snappy" => Ok(Codec::Snappy),
            "none" | "uncompressed" => Ok(Codec::None),
            _ => Err(format!("unknown compression {s:?}: zstd, snappy or none")),
        }
    }
}

/// Writer settings: times and line numbers delta-encoded (they mostly
/// grow), strings dictionary-encoded (the writer falls back to plain
/// pages for a column chunk whose dictionary outgrows 1 MiB), statistics
/// per page (engines skip row groups and pages by `ts`).
pub fn properties(codec: Codec) -> Arc<WriterProperties> {
    let compression = match codec {
        Codec::Zstd => Compression::ZSTD(ZstdLevel::try_new(1).expect("level 1 is valid")),
        Codec::Snappy => Compression::SNAPPY,
        Codec::None => Compression::UNCOMPRESSED,
    };
    let mut b = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(compression)
        .set_created_by(format!("tplog export {}", env!("CARGO_PKG_VERSION")))
        .set_statistics_enabled(EnabledStatistics::Page)
        // Row groups are cut by the export itself (see writer.rs).
        .set_max_row_group_size(usize::MAX);
    for c in ["ts", "line"] {
        b = b
            .set_column_dictionary_enabled(ColumnPath::from(c), false)
            .set_column_encoding(ColumnPath::from(c), Encoding::DELTA_BINARY_PACKED);
    }
    // Sizes and durations hardly repeat: PLAIN pages compress better
    // (1 GB log: `bytes` 19.8 MB against 27.7 MB in a dictionary) and
    // skip a lookup per row.
    for c in ["bytes", "request_time_us"] {
        b = b.set_column_dictionary_enabled(ColumnPath::from(c), false);
    }
    for c in ["raw", "excerpt", "excerpt_text"] {
        b = b
            .set_column_dictionary_enabled(ColumnPath::from(c), false)
            .set_column_statistics_enabled(ColumnPath::from(c), EnabledStatistics::None);
    }
    // Min/max of free text prunes nothing and costs a compare per value
    // (a seventh of the export's time when it was on).
    for c in [
        "client", "ident", "user", "path", "target", "query", "referer", "agent", "file",
    ] {
        b = b.set_column_statistics_enabled(ColumnPath::from(c), EnabledStatistics::None);
    }
    Arc::new(b.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::basic::{LogicalType, TimeUnit};
    use parquet::schema::types::SchemaDescriptor;

    #[test]
    fn schemas_parse_and_match_the_columns() {
        let d = SchemaDescriptor::new(access());
        assert_eq!(d.num_columns(), COLUMNS.len());
        for (i, (name, _)) in COLUMNS.iter().enumerate() {
            assert_eq!(d.column(i).name(), *name);
        }
        match d.column(0).logical_type() {
            Some(LogicalType::Timestamp {
                is_adjusted_to_u_t_c: true,
                unit: TimeUnit::MICROS(_),
            }) => {}
            t => panic!("ts is {t:?}"),
        }
        assert_eq!(
            d.column(1).logical_type(),
            Some(LogicalType::Integer {
                bit_width: 16,
                is_signed: true
            })
        );
        assert_eq!(d.column(2).logical_type(), Some(LogicalType::String));
        assert_eq!(d.column(20).logical_type(), None, "raw is plain binary");
        SchemaDescriptor::new(malformed());
    }
}
