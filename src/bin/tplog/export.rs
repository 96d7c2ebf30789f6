//! `tplog export`: the lines as a partitioned Parquet table.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use tplab::log::engine::EngineOpts;
use tplab::log::export::schema::Codec;
use tplab::log::export::{self, ExportOpts, PartitionBy};
use tplab::log::report;

use super::{filter, format_choice, inputs_of, FilterOpts, InputArgs};

pub const EXPORT_HELP: &str = "\
Layout (Hive-style: Spark, DuckDB, DataFusion, Trino, ClickHouse read it as one table):
  DIR/date=2014-02-08/part-00000.parquet      the day in UTC (wall-clock time less the logged offset)
  DIR/date=2014-02-08/vhost=www.example.org/part-00000.parquet   with --partition-by vhost
  DIR/date=2014-02-08/host=web1/part-00000.parquet               with --partition-by host
Columns (README.md, \"Parquet export\", says each one's type):
  ts tz_offset_min client ident user method path target query protocol status bytes
  referer agent vhost port request_time_us tls_protocol file line raw
  path is what --page sees (before ?, percent-decoded); file and line lead back to the source.
  Bytes that are not UTF-8 are written as \\xHH in the text columns, and the row's raw
  column then holds the exact line (null otherwise).
Safety: files are written under hidden .tmp names and renamed only when the whole export
succeeded (an export first removes those that killed exports left); an existing partition is refused unless --overwrite (which replaces the .parquet
files of the partitions this export writes, and no others).

Examples:
  tplog export --parquet /srv/export access.log access.log.1 access.log.2.gz
  tplog export --parquet out --malformed out-malformed --from 2014-02-08 access.log
  duckdb -c \"SELECT client, count(*) FROM 'out/**/*.parquet' WHERE path LIKE '%/truc.html' GROUP BY 1\"

Exit status: 0 rows were written, 1 no line matched (nothing written), 2 error (nothing written).";

/// Which second partition level to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    /// The server (this machine's name, or --host): one directory per server.
    Host,
    /// Each line's virtual host.
    Vhost,
}

#[derive(Args, Debug)]
pub struct ExportCmd {
    /// The table's directory (created if needed).
    #[arg(long, value_name = "DIR", required = true)]
    parquet: PathBuf,
    /// A second partition level under date=: host (the server) or vhost (the line's).
    #[arg(long, value_name = "host|vhost")]
    partition_by: Option<By>,
    /// The server's name for --partition-by host (default: this machine's hostname).
    #[arg(long, value_name = "NAME", requires = "partition_by")]
    host: Option<String>,
    /// Replace the files of partitions that already exist.
    #[arg(long)]
    overwrite: bool,
    /// Also write the malformed lines (file, line, reason, column, first bytes)
    /// as a Parquet table in this directory.
    #[arg(long, value_name = "DIR2")]
    malformed: Option<PathBuf>,
    /// Page compression: zstd, snappy or none.
    #[arg(long, value_name = "CODEC", default_value = "zstd")]
    compression: Codec,
    /// Rows per row group (128k to 1M suit the engines; fewer bound memory more).
    #[arg(long, value_name = "N", default_value_t = 128 * 1024,
          value_parser = clap::value_parser!(u64).range(1..=16 * 1024 * 1024))]
    row_group_rows: u64,
    #[command(flatten)]
    filters: FilterOpts,
    #[command(flatten)]
    input: InputArgs,
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

pub fn run(c: ExportCmd) -> Result<bool> {
    let filter = filter(&c.filters)?;
    let input = &c.input;
    let inputs = inputs_of(input, "tplog export --help")?;
    let engine = EngineOpts {
        threads: input.threads.map(|n| n as usize),
        chunk_size: input.chunk_size.max(1),
        seek: !input.no_seek,
        quiet: input.quiet,
        format: format_choice(input)?,
        ..EngineOpts::default()
    };
    let mut opts = ExportOpts::new(c.parquet.clone());
    opts.partition_by = c.partition_by.map(|b| match b {
        By::Host => PartitionBy::Host(c.host.clone().unwrap_or_else(hostname)),
        By::Vhost => PartitionBy::Vhost,
    });
    opts.overwrite = c.overwrite;
    opts.malformed = c.malformed.clone();
    opts.codec = c.compression;
    opts.row_group_rows = c.row_group_rows as usize;
    opts.strict = input.strict;
    let s = export::export(&filter, &inputs, &engine, &opts)?;
    if let Some(first) = s.leftovers_removed.first() {
        eprintln!(
            "tplog: removed {} temporary file(s) an interrupted export had left (first: {})",
            s.leftovers_removed.len(),
            first.display()
        );
    }
    for f in &s.outcome.files {
        if f.detected {
            eprintln!("tplog: {}: read as {} (chosen from its first lines; --log-format to say otherwise)", f.name, f.format);
        }
    }
    for line in report::summary_lines("tplog", &s.outcome) {
        eprintln!("{line}");
    }
    let read: u64 = s.outcome.files.iter().map(|f| f.bytes).sum();
    let skipped = s
        .outcome
        .acc
        .lines
        .saturating_sub(s.outcome.acc.matched + s.outcome.acc.malformed);
    eprintln!(
        "tplog: exported {} rows into {} files in {} partitions of {} ({} of Parquet for {} of log, {:.1}%); {} lines malformed, {} not matching the filters or blank{}",
        s.rows,
        s.files,
        s.partitions.len(),
        c.parquet.display(),
        human(s.bytes),
        human(read),
        if read > 0 { s.bytes as f64 * 100.0 / read as f64 } else { 0.0 },
        s.outcome.acc.malformed,
        skipped,
        match &c.malformed {
            Some(m) => format!("; {} malformed lines in {}", s.malformed_rows, m.display()),
            None => String::new(),
        }
    );
    Ok(s.rows > 0)
}

fn human(b: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}
