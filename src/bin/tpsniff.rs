//! tpsniff: finds cleartext credentials (and reports TLS sessions) in
//! packet captures. Arguments → checked configuration → library → exit code.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use tplab::cli;
use tplab::sniff::flow::Limits;
use tplab::sniff::proto::http::Fields;
use tplab::sniff::report::{self, Style};
use tplab::sniff::source::{self, SourceError};
use tplab::sniff::{Config, Finding, Sniffer};

/// Find cleartext credentials in a packet capture and report TLS sessions.
///
/// Exit status: 0 when credentials were found, 1 when none, 2 on error.
#[derive(Parser, Debug)]
#[command(name = "tpsniff", version)]
struct Args {
    /// Capture file to read (pcap or pcapng).
    #[arg(short = 'r', long, value_name = "FILE")]
    read: PathBuf,
    /// BPF capture filter (default: none; the engine keeps TCP itself,
    /// VLAN-tagged TCP included).
    #[arg(short = 'f', long, value_name = "BPF")]
    filter: Option<String>,
    /// One JSON object per line; the last one is the summary.
    #[arg(long)]
    json: bool,
    /// Mask all but the first character of passwords and tokens.
    #[arg(long)]
    redact: bool,
    /// Another form/query field name whose value is a secret (repeatable).
    #[arg(long = "field", value_name = "NAME")]
    fields: Vec<String>,
    /// Report every sighting of a credential, not only the first.
    #[arg(long)]
    all: bool,
    /// Flows tracked at once.
    #[arg(long, default_value_t = Limits::default().max_flows, value_name = "N")]
    max_flows: usize,
    /// Bytes buffered per flow direction.
    #[arg(long, default_value_t = Limits::default().max_flow_bytes, value_name = "BYTES")]
    max_flow_bytes: usize,
    /// Bytes buffered by all flows together.
    #[arg(long, default_value_t = Limits::default().max_total_bytes, value_name = "BYTES")]
    max_memory: usize,
    /// Seconds (capture time) after which a silent flow is dropped.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    idle_timeout: u64,
}

fn config(a: &Args) -> anyhow::Result<Config> {
    if a.max_flows == 0 || a.max_flow_bytes == 0 || a.max_memory == 0 {
        anyhow::bail!("--max-flows, --max-flow-bytes and --max-memory must be positive");
    }
    let mut fields = Fields::default();
    for f in &a.fields {
        if f.is_empty() {
            anyhow::bail!("--field needs a name");
        }
        fields.add_secret(f);
    }
    Ok(Config {
        fields,
        limits: Limits {
            max_flows: a.max_flows,
            max_flow_bytes: a.max_flow_bytes,
            max_total_bytes: a.max_memory,
            idle_timeout_us: (a.idle_timeout as i64).saturating_mul(1_000_000),
        },
        dedup: !a.all,
    })
}

fn run(a: &Args) -> anyhow::Result<bool> {
    let cfg = config(a)?;
    let style = Style { redact: a.redact };
    let mut sniffer = Sniffer::new(cfg);
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let json = a.json;
    let result = source::read_file(&a.read, a.filter.as_deref(), &mut sniffer, |f: &Finding| {
        if json {
            out.write_all(&report::json_line(f, style))?;
            out.write_all(b"\n")?;
        } else {
            writeln!(out, "{}", report::text_line(f, style))?;
        }
        // Findings appear as they are found, also through a pipe.
        out.flush()
    });
    match result {
        Err(SourceError::Output(e)) => return Err(e).context("writing output"),
        // Nothing was read: no summary to give.
        Err(e @ (SourceError::Open { .. } | SourceError::Filter { .. })) => return Err(e.into()),
        _ => {}
    }
    let summary = sniffer.summary();
    let err_text = result.as_ref().err().map(|e| e.to_string());
    if json {
        out.write_all(&report::json_summary(&summary, err_text.as_deref()))?;
        out.write_all(b"\n")?;
    } else {
        out.write_all(report::text_summary(&summary).as_bytes())?;
    }
    out.flush()?;
    result?;
    Ok(summary.credentials > 0)
}

fn main() {
    let args = Args::parse();
    cli::exit("tpsniff", run(&args));
}
